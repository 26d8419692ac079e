"""The disclosure check every published artefact passes before anything is released.

Owns the scan of tables, notebooks, figures, reports and the dashboard against the rule of
:mod:`analysis.sdc` (quoted there in full). Must not change any artefact: it only reports.

The check
---------
:func:`check_paths` (``python -m analysis.publishing.disclosure``) reads every published artefact —
every CSV under ``reports/``, the figures' JSON data sidecars, the stored outputs of the
executed notebooks (``reports/notebooks/**``, and their papermill logs) and of the committed
templates (``notebooks/*.ipynb``), the text drawn in the SVG figures (the PNGs are rasters
of the same drawings), the HTML reports and briefs (``reports/report*.html``, ``reports/brief*.html``; the PDFs are printed
from them), the dashboard (``reports/dashboard*.html``, with the JSON data it embeds) and the
narratives (``reports/narrative*.md``) — and reports every breach as a :class:`Finding` naming the artefact, the row
and the column. It detects the generic patterns, not only the known cases:

- a count column (by name, :func:`is_count_column`) or a sentence ("57 officers", "n = 7",
  "Raw rows: 2239; kept: 2209") holding a count from 1 to 9, or a count not rounded to base 10;
- a column that gives an exact count back: ``df`` (unless it is a number of cities or
  clusters minus a constant), ``n_eff`` × ``deff_kish``, ``n_clusters`` of officer rows;
- a statistic published on a row whose count is below ``K`` or hidden, or flagged suppressed;
- a suppressed cell left alone in an aggregate (area type × group × wave × indicator) next to
  published ones: recoverable by differencing;
- Fay–Herriot columns whose implied model mean is not the mean of the published cells
  (the fit used hidden cells).

Messages never quote a small count or any data value. Exit status 1 on any finding, so
that nothing is published (the Makefile stops before the report is written or released).
"""

from __future__ import annotations

import argparse
import html as _html
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import PATHS
from analysis.publishing import text
from analysis.publishing.tables import DASHBOARD_AREA_COLUMNS, DASHBOARD_ROW_COLUMNS
from analysis.sdc import (HIDDEN_TOKENS, K, ROUNDING_BASE, SMALL_MARKER, STAT_COLUMNS,
                          is_count_column)

_LABEL_COLUMNS = ("criterion", "statistic", "metric", "quantity", "item", "key")
_LABEL_COUNT_RE = re.compile(r"\b(cells?|respondents?|interviews?|sample size|répondants?|case)\b", re.I)
_VALUE_COLUMNS = ("value",)

#: A number directly followed by a noun for people (up to two words between), or "n = 7".
_PEOPLE = (r"respondents?|residents?|interviews?|officers?|people|persons|individuals|"
           r"participants?|répondants?|habitants?|personnes|entretiens?|agents?|questionnaires?")
_TEXT_COUNT_RES = (
    re.compile(r"(?<![\w.,-])(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+|\d+)(?![\w.,]\d)\s+(?:[A-Za-zÀ-ÿ'-]+\s+){0,2}?(?:"
               + _PEOPLE + r")\b", re.I),
    re.compile(r"\b[nN]\s*=\s*(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+|\d+)(?!\d|\.\d)"),
    # rows of the survey files are interviews: "2239 rows", "30 rejected rows", "2239 lignes"
    # (not "… and 23 more rows in the published CSV", which counts table rows)
    re.compile(r"(?<![\w.,-])(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+|\d+)(?![\w.,]\d)\s+"
               r"(?:(?:raw|rejected|kept|survey|data|input)\s+)?rows?\b", re.I),
    re.compile(r"(?<![\w.,-])(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+|\d+)(?![\w.,]\d)\s+lignes?\b(?!\s+de\s+plus)",
               re.I),
    # a label then the number: "Raw rows: 2239; kept: 2209; rejected: 30" (rows are interviews)
    re.compile(r"\b(?:rows?|lignes?(?:\s+brutes)?|raw|kept|rejected|conservées?|rejetées?|brutes)"
               r"\s*(?:\(\w+\))?\s*[:=]\s*(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+|\d+)(?![\w.,]\d)", re.I),
)

# ============================================================================ the check
@dataclass(frozen=True)
class Finding:
    """One breach of the rule: where it is and which rule it breaks (never the value)."""

    artefact: str
    row: str
    column: str
    rule: str

    def __str__(self) -> str:
        return f"{self.artefact}: row {self.row}, column {self.column!r}: {self.rule}"


def _as_number(v) -> float | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    s = str(v).strip().replace(",", "").replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    if s.lower() in HIDDEN_TOKENS:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def _hidden(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return str(v).strip().lower() in HIDDEN_TOKENS


def _count_rule(x: float) -> str | None:
    if x != int(x) or x < 0:
        return None  # not a count
    if 0 < x < K:
        return f"count from 1 to {K - 1} published (threshold rule)"
    if x >= K and int(x) % ROUNDING_BASE:
        return (f"count of respondents not rounded to base {ROUNDING_BASE}: with published parts and "
                f"totals it lets a hidden cell be recovered by differencing")
    return None


def _row_key(df: pd.DataFrame, i, key_cols: Sequence[str]) -> str:
    parts = [f"{c}={df.at[i, c]}" for c in key_cols if c in df.columns and not _hidden(df.at[i, c])]
    return ", ".join(parts) if parts else f"#{i}"


_KEY_COLUMNS = ("city", "dataset", "source_file", "neighbourhood", "code", "area_type", "pilot_area",
                "population", "outcome", "group", "wave", "indicator", "variable", "index", "criterion",
                "section", "key", "design")


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes", "✓")


def _header_aliases() -> dict[str, str]:
    """Report headers in every language of the catalogue (``col.*`` keys of every
    ``locale/*.yml``, :func:`analysis.publishing.text.catalogue`) → column names.

    The HTML report shows translated headers ("Conservées", "Estimation"); the check maps
    them back so the French report is checked like the English one.
    """
    global _ALIASES
    if _ALIASES is None:
        aliases: dict[str, str] = {}
        catalogue = text.catalogue()
        names = {str(key)[4:] for key in catalogue if str(key).startswith("col.")}
        for key, labels in catalogue.items():
            if str(key).startswith("col.") and isinstance(labels, dict):
                for label in labels.values():
                    if str(label).strip().lower() not in names:  # a column name is never an alias
                        aliases.setdefault(str(label).strip().lower(), key[4:])
        _ALIASES = aliases
    return _ALIASES


_ALIASES: dict[str, str] | None = None


def _innermost(col) -> str:
    names = [str(x) for x in (col if isinstance(col, tuple) else (col,)) if not str(x).startswith("Unnamed")]
    return names[-1] if names else ""


def check_table(df: pd.DataFrame, artefact: str) -> list[Finding]:
    """Every breach in one published table (any source: CSV, notebook output, HTML, JSON).

    Parameters
    ----------
    df : DataFrame
        The table as published (values may be text).
    artefact : str
        Name used in findings (file, and output or table number).
    """
    df = df.copy()
    if isinstance(df.columns, pd.MultiIndex):
        # pandas' HTML of a crosstab: ("wave", "neighbourhood"), ("baseline", "Unnamed…"): keep the
        # innermost real name of each column
        df.columns = [_innermost(c) for c in df.columns]
    aliases = _header_aliases()
    df.columns = [aliases.get(str(c).strip().lower(), str(c).strip()) for c in df.columns]
    if df.index.name is not None or not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    df = df.loc[:, ~pd.Index(df.columns).duplicated()].reset_index(drop=True)
    keys = [c for c in _KEY_COLUMNS if c in df.columns]
    if not keys and len(df.columns):
        keys = [df.columns[0]]
    out: list[Finding] = []
    low = {c: c.lower() for c in df.columns}
    count_cols = [c for c in df.columns if is_count_column(low[c])]
    # A crosstab of counts (e.g. respondents by neighbourhood × wave): every column a count.
    wave_cols = [c for c in df.columns if low[c] in ("baseline", "follow_up", "follow-up", "total")]
    if wave_cols and not any(low[c] in STAT_COLUMNS for c in df.columns):
        count_cols += [c for c in wave_cols if c not in count_cols]
    for c in count_cols:
        for i, v in df[c].items():
            x = _as_number(v)
            rule = None if x is None else _count_rule(x)
            if rule:
                out.append(Finding(artefact, _row_key(df, i, keys), c, rule))
    # Long tables: "criterion" = "smallest design cell", "value" = a count.
    labels = [c for c in df.columns if low[c] in _LABEL_COLUMNS]
    values = [c for c in df.columns if low[c] in _VALUE_COLUMNS]
    for lab in labels:
        for val in values:
            for i in df.index:
                if _LABEL_COUNT_RE.search(str(df.at[i, lab])):
                    x = _as_number(df.at[i, val])
                    rule = None if x is None else _count_rule(x)
                    if rule:
                        out.append(Finding(artefact, _row_key(df, i, keys), val, rule))
    out += _check_exact_n_columns(df, artefact, keys, low)
    out += _check_statistics(df, artefact, keys, low)
    out += _check_singletons(df, artefact, low)
    out += _check_fay_herriot(df, artefact, keys, low)
    return out


#: Columns that are a count minus a constant (t degrees of freedom: n - 1, n - p).
_DF_RE = re.compile(r"^(df|dof|ddof|degrees_of_freedom|df_[a-z_]+|[a-z_]+_df)$")
#: Counts that are not of respondents and explain a ``df`` (cities, clusters): df = k - c.
_DF_EXPLAINED_BY = ("k", "n_cities", "cities_pooled", "n_clusters", "clusters", "g")
#: Columns whose product is a count: ``n_eff × deff = n`` (Kish).
_PRODUCT_PAIRS = (("n_eff", "deff_kish"), ("n_eff", "deff"), ("n_eff_untrimmed", "deff_kish_untrimmed"))
#: Officer rows (``population`` = officers): their clusters are officers, i.e. respondents.
_OFFICER_CLUSTER_COLUMNS = ("n_clusters", "clusters")


def _check_exact_n_columns(df, artefact, keys, low) -> list[Finding]:
    """Columns that give an exact count back: ``df`` (= n - 1), ``n_eff × deff`` (= n), and
    ``n_clusters`` of officer rows (clusters are officers there)."""
    cols = {low[c]: c for c in df.columns}
    out = []
    for c in df.columns:
        if not _DF_RE.match(low[c]):
            continue
        explain = [cols[e] for e in _DF_EXPLAINED_BY if e in cols]
        for i, v in df[c].items():
            x = _as_number(v)
            if x is None or x <= 0:
                continue
            # "6,000" is six in a French table (decimal comma): read both ways
            reads = {x}
            t = str(v).strip().replace("\u202f", "").replace("\u00a0", "")
            if "," in t and "." not in t:
                try:
                    reads.add(float(t.replace(",", ".")))
                except ValueError:
                    pass
            if not any(r == int(r) for r in reads):
                continue
            ok = False
            for e in explain:  # df of a pooling over k cities or G clusters: not a count of people
                y = _as_number(df.at[i, e])
                if y is not None and any(0 <= y - r <= 2 for r in reads):
                    ok = True
            if not ok:
                out.append(Finding(artefact, _row_key(df, i, keys), c,
                                   "degrees of freedom published: they are the exact count of respondents "
                                   "minus a constant (drop the column; counts are published rounded)"))
    for a, b in _PRODUCT_PAIRS:
        if a not in cols or b not in cols:
            continue
        for i in df.index:
            va, vb = df.at[i, cols[a]], df.at[i, cols[b]]
            x, y = _as_number(va), _as_number(vb)
            if x is None or y is None or x <= 0 or y <= 0:
                continue
            # the attacker's interval for the product, from the precision each was published with
            ea, eb = _half_last_digit(va), _half_last_digit(vb)
            if str(va).strip().lstrip("-").isdigit() and int(x) % ROUNDING_BASE == 0:
                ea = max(ea, ROUNDING_BASE / 2)  # n_eff published rounded to the base of counts
            width = 2 * (ea * y + eb * x + ea * eb)
            if width < ROUNDING_BASE - 1:
                out.append(Finding(artefact, _row_key(df, i, keys), cols[a],
                                   f"{a} × {b} gives the exact count of respondents back: publish {a} "
                                   f"rounded to base {ROUNDING_BASE} and {b} to 2 decimals"))
    if "population" in cols:
        off = df[cols["population"]].astype(str).str.strip().str.lower().isin(["officers", "officer", "agents"])
        for e in _OFFICER_CLUSTER_COLUMNS:
            if e not in cols:
                continue
            for i in df.index[off.to_numpy()]:
                x = _as_number(df.at[i, cols[e]])
                rule = None if x is None else _count_rule(x)
                if rule:
                    out.append(Finding(artefact, _row_key(df, i, keys), cols[e],
                                       rule + " (officer rows: the clusters are officers)"))
    return out


def _check_statistics(df, artefact, keys, low) -> list[Finding]:
    out = []
    stats = [c for c in df.columns if low[c] in STAT_COLUMNS]
    if not stats:
        return out
    sup_col = next((c for c in df.columns if low[c] == "suppressed"), None)
    for c in stats:
        suffix = low[c].rsplit("_", 1)[-1] if low[c] in ("mean_a", "mean_b") else None
        n_col = next((d for d in df.columns if low[d] == (f"n_{suffix}" if suffix else "n")), None)
        for i, v in df[c].items():
            if _hidden(v) or _as_number(v) is None:
                continue
            why = None
            if sup_col is not None and _truthy(df.at[i, sup_col]):
                why = "statistic published on a row flagged suppressed"
            elif n_col is not None:
                nv = df.at[i, n_col]
                x = _as_number(nv)
                if (x is not None and 0 < x < K) or str(nv).strip().lower() == SMALL_MARKER.lower():
                    why = f"statistic published from fewer than {K} respondents"
                elif x is None and _hidden(nv) and str(nv).strip() not in ("", "nan", "None", "<NA>"):
                    why = f"statistic published where the count is hidden (fewer than {K})"
            if why:
                out.append(Finding(artefact, _row_key(df, i, keys), c, why))
    return out


def _check_singletons(df, artefact, low) -> list[Finding]:
    """A lone suppressed cell in an aggregate whose other cells are published."""
    need = {"area_type", "suppressed", "neighbourhood"}
    cols = {low[c]: c for c in df.columns}
    if not need <= set(cols) or "estimate" not in cols:
        return []
    by = [cols[c] for c in ("city", "group", "wave", "indicator") if c in cols]
    part = df[cols["area_type"]].astype(str).where(df[cols["area_type"]].astype(str).isin(["pilot", "comparison"]), "other")
    n = df[cols["n"]] if "n" in cols else pd.Series("", index=df.index)
    sup = df[cols["suppressed"]].map(_truthy)
    empty = n.map(lambda v: _as_number(v) == 0)
    wave = df[cols["wave"]].astype(str) if "wave" in cols else pd.Series("", index=df.index)
    out = []
    for key, idx in df.groupby([part, *(df[b] for b in by)], sort=False).groups.items():
        idx = [i for i in idx if not empty[i] and wave[i] != "change"]
        hidden = [i for i in idx if sup[i]]
        published = [i for i in idx if not sup[i]]
        if len(hidden) == 1 and published:
            i = hidden[0]
            rk = ", ".join(f"{b}={df.at[i, b]}" for b in [*by, cols["neighbourhood"]])
            out.append(Finding(artefact, rk, cols["estimate"],
                               f"the only suppressed cell of the {key[0]} areas: the published aggregate "
                               f"of these areas minus the published cells recovers it (secondary suppression missing)"))
    return out


def _check_fay_herriot(df, artefact, keys, low) -> list[Finding]:
    """Shrunk estimates must come from a model of the published cells only."""
    cols = {low[c]: c for c in df.columns}
    if not {"estimate", "shrunk", "gamma"} <= set(cols):
        return []
    by = [cols[c] for c in ("city", "group", "wave", "indicator") if c in cols]
    est = pd.to_numeric(df[cols["estimate"]], errors="coerce")
    shr = pd.to_numeric(df[cols["shrunk"]], errors="coerce")
    gam = pd.to_numeric(df[cols["gamma"]], errors="coerce")
    # Half a unit of the last digit each value was published with (CSV keeps 6 significant
    # digits, notebooks 3 decimals): the tolerance follows the published precision.
    prec = {c: df[cols[c]].map(_half_last_digit) for c in ("estimate", "shrunk", "gamma")}
    out = []
    groups = df.groupby([df[b] for b in by], sort=False).groups.items() if by else [((), df.index)]
    for key, idx in groups:
        ok = [i for i in idx if np.isfinite(est[i]) and np.isfinite(shr[i]) and np.isfinite(gam[i])]
        if len(ok) < 2:
            continue
        g, t, s = gam[ok].to_numpy(), est[ok].to_numpy(), shr[ok].to_numpy()
        pt, ps, pg = (prec[c][ok].to_numpy() for c in ("estimate", "shrunk", "gamma"))
        inner = g < 0.98  # the implied mean is ill-conditioned as gamma -> 1
        if not inner.any() or g.sum() <= 0:
            continue
        gi, ti, si = g[inner], t[inner], s[inner]
        mu_implied = (si - gi * ti) / (1 - gi)
        mu_published = float((g * t).sum() / g.sum())
        err_implied = ((ps[inner] + gi * pt[inner] + np.abs(ti) * pg[inner]) / (1 - gi)
                       + np.abs(si - gi * ti) * pg[inner] / (1 - gi) ** 2)
        err_published = (float((g * pt + np.abs(t) * pg).sum()) + abs(mu_published) * float(pg.sum())) / g.sum()
        tol = 3 * (err_implied + err_published) + 1e-9
        if np.any(np.abs(mu_implied - mu_published) > tol):
            rk = ", ".join(f"{b}={v}" for b, v in zip(by, key if isinstance(key, tuple) else (key,)))
            out.append(Finding(artefact, rk or "all", cols["shrunk"],
                               "Fay–Herriot model mean is not the mean of the published cells: the model "
                               "used suppressed cells, whose estimates the published shrunk/gamma give back"))
    return out


def _half_last_digit(v) -> float:
    """Half a unit of the last published digit of ``v`` (5e-7 relative for binary floats)."""
    if isinstance(v, (float, np.floating)):
        return abs(float(v)) * 5e-7 + 1e-12
    s = str(v).strip().lower()
    if "e" in s:
        mant, _, exp = s.partition("e")
        dec = len(mant.split(".")[1]) if "." in mant else 0
        try:
            return 0.5 * 10.0 ** (int(exp) - dec)
        except ValueError:
            return 0.0
    dec = len(s.split(".")[1]) if "." in s else 0
    return 0.5 * 10.0 ** (-dec)


def check_text(text: str, artefact: str) -> list[Finding]:
    """Counts of people in sentences ("2379 resident interviews", "n = 7")."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for rx in _TEXT_COUNT_RES:
            for m in rx.finditer(line):
                x = _as_number(m.group(1))
                rule = None if x is None else _count_rule(x)
                if rule:
                    out.append(Finding(artefact, f"text line {lineno}", "(text)", rule))
    return out


# ---------------------------------------------------------------------- artefact readers
def _read_html_tables(html: str) -> list[pd.DataFrame]:
    # scripts and styles hold no table of the page (the dashboard's data is checked as JSON)
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    if not re.search(r"(?is)<table\b.*?<t[dh]\b", html):
        return []  # no table with cells (an empty <table> is filled by script at view time)
    try:
        # lxml only: the bs4/html5lib fallback is not a dependency (ImportError on a table-free page)
        return pd.read_html(StringIO(html), keep_default_na=False, flavor="lxml")
    except (ValueError, ImportError):
        return []


def _html_text(html: str) -> str:
    """Visible text of HTML outside tables (tables are checked as tables)."""
    html = re.sub(r"(?is)<(script|style|table)\b.*?</\1>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</li>|</h\d>|</div>", "\n", html)
    text = re.sub(r"<[^>]+>", " ", html)
    return _html.unescape(text)


def check_html(html: str, artefact: str) -> list[Finding]:
    """Tables and text of an HTML document or fragment."""
    out = []
    for j, t in enumerate(_read_html_tables(html), 1):
        out += check_table(t, f"{artefact} table {j}")
    out += check_text(_html_text(html), artefact)
    return out


#: Tables of the dashboard's inline data given as lists of rows: their column names.
def _dashboard_columns() -> dict[str, tuple[str, ...]]:
    return {"rows": DASHBOARD_ROW_COLUMNS, "areas": DASHBOARD_AREA_COLUMNS}


def _positional_tables(obj, path="$"):
    """Lists of rows (lists) under a key with known column names, anywhere in ``obj``."""
    known = _dashboard_columns()
    if isinstance(obj, dict):
        for k_, v in obj.items():
            cols = known.get(str(k_))
            if (cols and isinstance(v, list) and v and all(isinstance(r, list) for r in v)
                    and all(len(r) == len(cols) for r in v)):
                yield f"{path}.{k_}", pd.DataFrame(v, columns=list(cols))
            elif isinstance(v, (dict, list)):
                yield from _positional_tables(v, f"{path}.{k_}")
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            if isinstance(v, (dict, list)):
                yield from _positional_tables(v, f"{path}[{j}]")


def check_json_data(obj, name: str) -> list[Finding]:
    """A JSON document already parsed: its tables (records, columns, or rows of known columns)
    and its text."""
    out = []
    for where, t in _json_tables(obj):
        out += check_table(t, f"{name} {where}")
    for where, t in _positional_tables(obj):
        out += check_table(t, f"{name} {where}")
    texts = []

    def walk(o):
        if isinstance(o, str):
            texts.append(o)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(obj)
    out += check_text("\n".join(texts), name)
    return out


def check_dashboard(html: str, artefact: str) -> list[Finding]:
    """The dashboard page: its HTML, and the JSON data embedded in ``<script type="application/json">``
    (the numbers the page draws its maps, trends and tables from)."""
    out = check_html(html, artefact)
    blocks = re.findall(r'(?is)<script\b[^>]*type=["\']application/json["\'][^>]*>(.*?)</script>', html)
    for j, block in enumerate(blocks, 1):
        obj = json.loads(block)
        out += check_json_data(obj, f"{artefact} data {j}")
    return out


def check_notebook(path: Path, name: str) -> list[Finding]:
    """The stored outputs of a notebook: HTML tables, plain text, streams."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for ci, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for oi, o in enumerate(cell.get("outputs", [])):
            where = f"{name} cell {ci} output {oi}"
            if "text" in o:
                out += check_text("".join(o["text"]) if isinstance(o["text"], list) else o["text"], where)
            data = o.get("data", {})
            if "text/html" in data:
                h = data["text/html"]
                out += check_html("".join(h) if isinstance(h, list) else h, where)
            elif "text/plain" in data:
                p = data["text/plain"]
                out += check_text("".join(p) if isinstance(p, list) else p, where)
    return out


def _json_tables(obj, path="$"):
    """Every list of records / dict of columns inside a JSON document, and loose scalars."""
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        yield path, pd.DataFrame(obj)
        for j, r in enumerate(obj):
            for k_, v in r.items():
                if isinstance(v, (dict, list)):
                    yield from _json_tables(v, f"{path}[{j}].{k_}")
    elif isinstance(obj, dict):
        lists = {k_: v for k_, v in obj.items() if isinstance(v, list) and v and not isinstance(v[0], (dict, list))}
        if len(lists) >= 2 and len({len(v) for v in lists.values()}) == 1:
            yield path, pd.DataFrame(lists)
        scal = {k_: v for k_, v in obj.items() if not isinstance(v, (dict, list))}
        if scal:
            yield path, pd.DataFrame([scal])
        for k_, v in obj.items():
            if isinstance(v, (dict, list)) and k_ not in lists:
                yield from _json_tables(v, f"{path}.{k_}")
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            yield from _json_tables(v, f"{path}[{j}]")


def check_json(path: Path, name: str) -> list[Finding]:
    """A figure's data sidecar: every table inside it, and its text fields."""
    return check_json_data(json.loads(Path(path).read_text(encoding="utf-8")), name)


def check_svg(path: Path, name: str) -> list[Finding]:
    """Text drawn in an SVG figure (matplotlib writes labels as ``<text>`` elements)."""
    svg = Path(path).read_text(encoding="utf-8")
    texts = [_html.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(r"(?s)<text\b[^>]*>(.*?)</text>", svg)]
    return check_text("\n".join(t.strip() for t in texts), name)


def check_csv(path: Path, name: str) -> list[Finding]:
    """A published CSV table."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return check_table(df, name)


def published_artefacts(root: Path | None = None) -> list[Path]:
    """Every artefact the check covers, under the project ``root``."""
    root = Path(root) if root is not None else PATHS.root
    reports = root / "reports"
    found: list[Path] = []
    if reports.is_dir():
        found += sorted(p for p in reports.rglob("*.csv") if not p.name.startswith("."))
        if (reports / "figures").is_dir():
            found += sorted((reports / "figures").rglob("*.json"))
            found += sorted((reports / "figures").rglob("*.svg"))
        if (reports / "notebooks").is_dir():
            found += sorted((reports / "notebooks").rglob("*.ipynb"))
            found += sorted((reports / "notebooks").rglob("*.log"))  # papermill logs: printed text
        found += sorted(reports.glob("report*.html"))
        found += sorted(reports.glob("cities/*/report*.html"))  # cities' own reports
        found += sorted(reports.glob("brief*.html"))  # the policy briefs (the PDFs are printed from them)
        found += sorted(reports.glob("cities/*/brief*.html"))
        found += sorted(reports.glob("dashboard*.html"))  # HTML and its inline JSON data
        found += sorted(reports.glob("narrative*.md"))  # the narrative summaries (text)
    nbdir = root / "notebooks"
    if nbdir.is_dir():
        found += sorted(nbdir.glob("*.ipynb"))
    return found


def check_paths(paths: Iterable[Path], root: Path | None = None) -> list[Finding]:
    """Check each artefact by its kind (CSV, JSON sidecar, notebook, HTML)."""
    root = Path(root) if root is not None else PATHS.root
    out: list[Finding] = []
    for p in paths:
        p = Path(p)
        try:
            name = str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            name = p.name
        suffix = p.suffix.lower()
        try:
            if suffix == ".csv":
                out += check_csv(p, name)
            elif suffix == ".json":
                out += check_json(p, name)
            elif suffix == ".svg":
                out += check_svg(p, name)
            elif suffix == ".ipynb":
                out += check_notebook(p, name)
            elif suffix in (".log", ".txt", ".md"):
                out += check_text(p.read_text(encoding="utf-8", errors="replace"), name)
            elif suffix in (".html", ".htm") and p.name.startswith("dashboard"):
                out += check_dashboard(p.read_text(encoding="utf-8"), name)
            elif suffix in (".html", ".htm"):
                out += check_html(p.read_text(encoding="utf-8"), name)
        except (ValueError, json.JSONDecodeError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            out.append(Finding(name, "-", "-", f"cannot be read for the disclosure check ({type(exc).__name__})"))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.publishing.disclosure [PATH…]``: check every published artefact; exit 1 on a breach."""
    parser = argparse.ArgumentParser(prog="python -m analysis.publishing.disclosure",
                                     description="Disclosure check of every published artefact.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="files to check (default: every CSV, figure sidecar, notebook and HTML report)")
    parser.add_argument("--max", type=int, default=50, help="findings to print (default 50)")
    args = parser.parse_args(argv)
    paths = args.paths or published_artefacts()
    findings = check_paths(paths)
    if findings:
        print(f"disclosure check FAILED: {len(findings)} breach(es) in "
              f"{len({f.artefact.split(' ')[0] for f in findings})} artefact(s); nothing may be published.",
              file=sys.stderr)
        for f in findings[:args.max]:
            print(f"  {f}", file=sys.stderr)
        if len(findings) > args.max:
            print(f"  … and {len(findings) - args.max} more", file=sys.stderr)
        return 1
    print(f"disclosure check passed: {len(paths)} artefact(s), no count from 1 to {K - 1}, every count "
          f"rounded to base {ROUNDING_BASE}, no statistic from fewer than {K} respondents.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
