"""The final recommendations report: one self-contained HTML file per language, and a PDF.

Owns the report's assembly: HTML per language from the published tables and figures, and
the PDF. Must not estimate nor hold a statistic: it reads what the steps published.

:func:`build_report` assembles what the pipeline published — the figure sidecars (through
the manifest), ``reports/tables/<city>/*.csv``, the cleaning logs, the city profiles and
the committee's narrative (``reports/narrative[.fr].md``) — into ``reports/report.html``
(English) or ``reports/report.fr.html`` (French). Figures are embedded (base64 SVG, or a
PNG downscaled to 150 dpi at printed size, whichever is smaller) and the CSS is inline, so
the file opens anywhere, offline, and prints to PDF (:func:`build_pdf`, WeasyPrint: page
numbers, table of contents with page numbers, bookmarks, running data-status header).
Figures and tables are numbered in document order and cross-referenced
(:func:`number_figures_and_tables`).

The executive summary (:func:`city_summary`) leads each city with what changed, clearest first,
for whom and in plain words (scale and interval), what clearly did not, and the three evidence
ratings side by side; the committee's narrative follows it as "The committee's reading"; the
recommendations are grouped by theme, and the rules behind them are printed in an annex. The
policy brief (:mod:`analysis.publishing.brief`) is built from the same summary.

Every label, heading and generated sentence comes from the catalogue
``analysis/publishing/locale/report.yml`` (``key: {en: …, fr: …}``) through :func:`tr`; figure titles
and captions come from the figures' own sidecars in each language.

A city whose outputs are missing or unreadable does not break the report: its section
says "not available: <reason>", the reason naming the missing file or the failed step.

Command line::

    python -m analysis.publishing.report --lang en|fr   # one language (default: both)
    python -m analysis.publishing.report --pdf          # both HTML reports, then report.pdf and report.fr.pdf
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from babel.numbers import format_currency

from analysis.inputs import codebook
from analysis.config import CROSS_CITY, CROSS_STEP, K_SUPPRESS, PATHS, STEPS, failure_path
from analysis.io import SYNTHETIC_NOTE, atomic_path, write_text
from analysis.publishing.figures import embedded_copy
from analysis.publishing.recommendations import figure_anchor
from analysis.publishing.recommendations import fmt_num, fmt_p, group_label, outcome_label
from analysis.sdc import is_count_column, publish_counts
from analysis.publishing.recommendations import evidence_level
from analysis.publishing.manifest import city_order
from analysis.inputs.profile import list_cities
from analysis.inputs.profile import ProfileError, load_profile
from analysis.publishing.recommendations import overall_rows
from analysis.publishing.recommendations import by_theme, city_findings, plain_bounded, plain_effect, plain_label
from analysis.publishing.recommendations import headline_pooled, plural_key, pooled_plain
from analysis.publishing.recommendations import pooled_recommendations
from analysis.publishing.recommendations import table_anchor
from analysis.publishing.recommendations import city_name
from analysis.publishing.manifest import collect_sidecars
from analysis.publishing.recommendations import build_recommendations
from analysis.publishing import tables, text
from analysis.publishing.manifest import build_manifest
from analysis.statistics.evidence import MAX_STD_DIFF
from analysis.sdc import publish_count
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)
from analysis.publishing.text import fmt_date, fmt_pct, localized
from analysis.sdc import ROUNDING_BASE
from analysis.statistics.evidence import MAIN_INDICATORS
from analysis.statistics.design import MIN_COMPARISON_AREAS

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"

#: Tables of a city the report shows (schemas: :mod:`analysis.publishing.tables`).
CITY_TABLES: tuple[str, ...] = ("impact", "evidence", "implementation", "balance", "neighbourhoods")
#: Tables of the cross-city synthesis the report shows.
CROSS_TABLES: tuple[str, ...] = ("pooled", "benchmark")


# ===================================================================== reading inputs
@dataclass(frozen=True)
class Reason:
    """Why something is not available, as a catalogue key and its values."""

    key: str
    params: dict = field(default_factory=dict, hash=False)

    def text(self, lang: str) -> str:
        return tr(self.key, lang, **self.params)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PATHS.root.resolve()))
    except ValueError:
        return str(path)


def read_table(name: str, city: str | None = None) -> tuple[pd.DataFrame | None, Reason | None]:
    """A published table through the contract (:func:`analysis.publishing.tables.read`):
    ``(typed frame, None)`` or ``(None, reason)`` — never raises. The reason names the file,
    and for a table that breaks its schema the column and line (never a row's content)."""
    if not isinstance(name, str):
        raise TypeError(f"read_table takes a table's name ({sorted(tables.SCHEMAS)}) and a city, "
                        f"e.g. read_table('pooled') or read_table('impact', 'amiens'), not a path")
    path = tables.schema(name).path(city)
    try:
        return tables.read(name, city), None
    except FileNotFoundError:
        return None, Reason("na.missing_file", {"path": _rel(path)})
    except tables.TableError as exc:
        return None, Reason("na.unreadable", {"path": _rel(path), "error": str(exc).splitlines()[0][:300]})


def is_synthetic_table(df: pd.DataFrame | None) -> bool:
    """A published table made from the synthetic demo data (its ``data_status`` says so)."""
    return (df is not None and "data_status" in df.columns
            and df["data_status"].eq(SYNTHETIC_NOTE).any())


def read_cleaning_log(city: str) -> tuple[dict | None, Reason | None]:
    """A city's ``data/processed/<city>/cleaning_log.json``; ``(log, None)`` or ``(None, reason)``."""
    path = PATHS.processed_city(city) / "cleaning_log.json"
    if not path.is_file():
        return None, Reason("na.missing_file", {"path": _rel(path)})
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, Reason("na.unreadable", {"path": _rel(path), "error": str(exc)[:200]})
    if not isinstance(log, dict):
        return None, Reason("na.unreadable", {"path": _rel(path), "error": "not a JSON object"})
    return log, None


def cleaning_summary(log: dict) -> dict[str, pd.DataFrame]:
    """Rows per file, rejections by reason and missingness from the cleaning log, in the one
    shape :mod:`analysis.inputs.clean` writes (:func:`analysis.publishing.tables.cleaning_tables`).

    Raises
    ------
    analysis.publishing.tables.TableError
        The log is not in that shape.
    """
    return tables.cleaning_tables(log)


def failed_step(city: str) -> str | None:
    """Which step failed for ``city`` in its last run, the error's kind and where to look.

    The report names the step, the error kind (e.g. ``RawDataError``) and the local
    ``reports/.stamps/CITY/STEP.failed`` file, never the message itself: a message may
    carry exact small counts or, from a damaged file, raw content that is not for
    publication. The details stay in the .failed file and on the console.
    """
    for name in [*STEPS, CROSS_STEP]:
        path = failure_path(city, name)
        try:
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        return failure_note(name, text, f"reports/.stamps/{city}/{path.name}")
    return None


#: An exception's class name as the pipeline writes it ("01-clean, cell 5: RawDataError: ...").
_ERROR_KIND = re.compile(r"(?:^|:\s)([A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt))\b")


def failure_note(step: str, reason: str, where: str) -> str:
    """The published note for a failed step: step, error kind and the local file to read.

    Parameters
    ----------
    step : str
        The step's name (``01-clean``).
    reason : str
        The failure reason the pipeline wrote (only the error's class name is kept).
    where : str
        The .failed file, relative to the project root.
    """
    m = _ERROR_KIND.search(reason or "")
    kind = m.group(1) if m else "error"
    # no words: the note sits inside the English and the French sentence alike
    return f"{step}: {kind} ({where})"


# ===================================================================== figures
def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def embed_figure(rec: dict) -> dict:
    """What the template needs to embed one figure of the manifest (``rec``).

    The embedded copy is :func:`analysis.publishing.figures.embedded_copy` of the saved files: the SVG
    when smaller, else a PNG downscaled to 150 dpi at the printed width. It is printed at
    that width (``width_in``), so the figure's text prints at the size it was checked at
    (:func:`analysis.publishing.figures.enforce_min_font`). The derivation and the source's checksum go
    into the HTML (``data-*`` attributes) so the copy can be checked against its source.
    """

    png = PATHS.root / rec["png"]
    if not png.is_file():
        return {"uri": None, "missing": Reason("na.missing_file", {"path": rec["png"]})}
    svg = PATHS.root / rec["svg"] if isinstance(rec.get("svg"), str) and rec["svg"] else None
    copy = embedded_copy(png, svg)
    return {"uri": _data_uri(copy["data"], copy["mime"]), "missing": None,
            "derivation": copy["derivation"], "source": _rel(copy["source"]),
            "source_sha256": copy["source_sha256"], "width_in": copy["width_in"]}


def figures_for(manifest: pd.DataFrame, city: str, lang: str) -> list[dict]:
    """The figures of ``city`` in ``lang`` (English where no translation exists), embedded."""

    if manifest is None or manifest.empty:
        return []
    m = manifest[manifest["city"] == city]
    out = []
    for fig_id, grp in m.groupby("figure_id", sort=False):
        row = grp[grp["lang"] == lang]
        fallback = row.empty
        row = (grp[grp["lang"] == "en"] if fallback else row)
        if row.empty:
            row = grp
        rec = row.iloc[0].to_dict()
        rec.update(anchor=figure_anchor(city, fig_id), fallback=fallback and rec["lang"] not in (lang,),  # shown in another language
                   **embed_figure(rec))
        out.append(rec)
    return out


def figure_part(fig: dict) -> str:
    """The part of the report a figure goes in: the ``section`` its sidecar declares
    (:data:`analysis.publishing.figures.SECTIONS`), never guessed from its id."""
    return str(fig["section"])


# ===================================================================== tables as HTML
_P_COLS = {"p_value", "diff_p_value", "crv_p_value", "p", "diff_p"}
_INT_COLS = {"n", "dont_know", "blank", "n_a_did", "n_b_did", "n_a_pre_post", "n_b_pre_post", "participants_police", "n_clusters", "n_clusters_treated", "min_cell", "k", "raw", "kept", "rejected", "rows",
             "n_baseline", "n_follow_up", "participants", "activities", "n_cities"}


def cell_text(col: str, value, lang: str) -> str:
    """One table cell: numbers rounded, codes replaced by their labels in ``lang``."""

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, (bool,)) or col in ("shrunk", "suppressed", "check", "approximate", "met",
                                              "imbalanced"):
        truth = str(value).strip().lower() in ("true", "1", "yes")
        return tr("value.yes" if truth else "value.no", lang)
    if col in ("outcome", "indicator", "variable") and isinstance(value, str):
        return outcome_label(value, lang) if col != "variable" or _known_var(value) else value
    if col == "group" and isinstance(value, str):
        return group_label(value, lang)
    if col in ("design", "designs", "population", "wave", "area_type", "dataset", "source") \
            and isinstance(value, str):
        prefix = {"area_type": "area", "designs": "design", "source": "benchmark.source"}.get(col, col)
        key = f"{prefix}.{value}"
        return tr(key, lang) if has_key(key) else value
    if col == "reason" and isinstance(value, str) and has_key(f"reason.{value}"):
        return tr(f"reason.{value}", lang)
    if col in _P_COLS:
        return fmt_p(float(value), lang)
    if col == "i2" and isinstance(value, (int, float)):
        # the pooled schema declares I² a share (0-1): shown as a percentage
        return fmt_num(100 * float(value), lang, 0)
    if col in ("missing", "share"):
        return fmt_num(100 * float(value), lang, 1) + " %"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if col in _INT_COLS or (float(value).is_integer() and abs(value) >= 100):
            return f"{int(round(float(value))):,}".replace(",", "\u202f")
        return fmt_num(float(value), lang, 3 if abs(float(value)) < 10 else 2)
    return str(value)


def note_text(row: dict, lang: str) -> str:
    """The note of an impact row in ``lang``, from its ``note_key`` code and ``note_value``
    (catalogue ``impact.note.<code>``; "" when the row has none)."""
    key = row.get("note_key")
    if key is None or pd.isna(key) or not str(key):
        return ""
    value = row.get("note_value")
    # a "not estimable" note is worded with the row's reason code (rec.reason.<code>)
    code = row.get("diff_not_estimable_reason" if key == "diff_not_estimable" else "not_estimable_reason")
    reason = tr(f"rec.reason.{code}", lang) if isinstance(code, str) and code else tr("rec.reason.unknown", lang)
    return tr(f"impact.note.{key}", lang, value="?" if value is None or pd.isna(value) else str(int(value)),
              reason=reason)


def inference_text(row: dict, lang: str) -> str:
    """How an impact row's interval was made, in ``lang`` (``inference`` code, ``inference_B``)."""
    code = row.get("inference")
    if code is None or pd.isna(code) or not str(code):
        return ""
    b = row.get("inference_B")
    return tr(f"inference.{code}", lang, B="?" if b is None or pd.isna(b) else str(int(b)))


def benchmark_view(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rows of ``benchmark.csv`` with their codes worded: the city's name, the area and
    weighting codes (``benchmark.area.<code>``, ``benchmark.weighting.<code>``) and the city
    rows' area type (``group``: pilot, comparison, other)."""
    out = df.copy()
    out["city"] = [city_name(c, lang) if isinstance(c, str) else c for c in df["city"]]
    for col in ("area", "weighting"):
        out[col] = [tr(f"benchmark.{col}.{v}", lang) if isinstance(v, str) else v for v in df[col]]
    out["group"] = [(area_label(g, lang) if g in tables.AREA_TYPES else group_label(g, lang))
                    if isinstance(g, str) else g for g in df["group"]]
    return out


def impact_view(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rows of ``impact.csv`` with their codes worded for display: ``note`` (from ``note_key``
    and ``note_value``) and ``inference`` (from its code and ``inference_B``)."""
    out = df.copy()
    records = df.to_dict("records")
    out["note"] = [note_text(r, lang) for r in records]
    out["inference"] = [inference_text(r, lang) for r in records]
    return out


def _known_var(name: str) -> bool:
    try:
        return outcome_label(name) != name
    except KeyError:
        return False


def column_label(col: str, lang: str) -> str:
    """Header of a column: the catalogue's ``col.<name>`` when there is one."""
    key = f"col.{col}"
    return tr(key, lang) if has_key(key) else col


def table_html(df: pd.DataFrame, lang: str, *, columns: list[str] | None = None,
               anchor: str | None = None, caption: str | None = None, max_rows: int | None = None,
               code_cols: tuple[str, ...] = ()) -> str:
    """An HTML table (escaped) with translated headers and formatted cells.

    Columns without a catalogue header, and ``code_cols``, are identifiers: shown as
    ``<code>``, as they are (not labels to translate).
    """
    from markupsafe import Markup, escape

    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    # degrees of freedom tell a reader nothing the interval does not, and next to a count they
    # can give an exact n back: never shown in the report (k and n are)
    df = df.drop(columns=[c for c in ("data_status", "df") if c in df.columns])

    # "missing" is a share here (cleaning log), blanked when it stands on a count from 1 to 9
    df = publish_counts(df, [c for c in df.columns if is_count_column(c) and c not in ("missing", "share")],
                        dependent={"missing": ("blank", "dont_know")})
    more = 0
    if max_rows is not None and len(df) > max_rows:
        more, df = len(df) - max_rows, df.head(max_rows)
    parts = [f'<table class="data"{f" id={chr(34)}{escape(anchor)}{chr(34)}" if anchor else ""}>']
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    unknown = [c for c in df.columns if not has_key(f"col.{c}")]
    parts.append("<thead><tr>" + "".join(
        f'<th class="code"><code>{escape(c)}</code></th>' if c in unknown
        else f"<th>{escape(column_label(c, lang))}</th>" for c in df.columns
    ) + "</tr></thead><tbody>")
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row):
            if isinstance(v, np.generic):  # typed tables (Int64, boolean): plain Python values
                v = v.item()
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            if c in code_cols:  # identifiers: as written, never relabelled
                text = Markup("<code>{}</code>").format("—" if v is None or (not isinstance(v, str) and pd.isna(v))
                                                       else str(v))
            else:
                text = escape(cell_text(c, v, lang))
                if c in unknown and not num:
                    text = f"<code>{text}</code>"
            cells.append(f'<td{" class=num" if num else ""}>{text}</td>')
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if more:
        parts.append(f'<p class="note">{escape(tr("table.more_rows", lang, n=more))}</p>')
    return "".join(parts)


# ===================================================================== implementation
def implementation_table_html(df: pd.DataFrame, lang: str, anchor: str | None = None) -> str:
    """Activities by type, fidelity and totals from ``implementation.csv`` (labels translated).

    The long table (per neighbourhood, per month) stays in the CSV; the report shows the
    rows a reader needs to judge implementation: ``by_type`` rows by their codebook label,
    the ``fidelity``, ``total`` and ``none`` rows by their key code (``implementation.key.<key>``).
    """
    rows = []
    for r in df.to_dict("records"):
        section, key = r["section"], r["key"]
        if section == "by_type":
            label = category_label("activity_type", key, lang, default=key)
        elif section in ("fidelity", "total", "none"):
            label = tr(f"implementation.key.{key}", lang)
        else:
            continue
        rows.append({"activity": label, "activities": r.get("activities"), "participants": r.get("participants"),
                     "participants_police": r.get("participants_police"),
                     "share": r.get("share")})
    out = pd.DataFrame(rows, columns=["activity", "activities", "participants", "participants_police", "share"])
    out = out.dropna(axis=1, how="all")
    return table_html(out, lang, anchor=anchor)


def balance_table_html(df: pd.DataFrame, lang: str, anchor: str | None = None) -> str:
    """Standardised differences of ``balance.csv`` with the groups compared named in ``lang``
    (the ``comparison`` code says which: pilot vs comparison areas, or follow-up vs baseline)."""

    design = "pre_post" if (df["comparison"] == "follow_up_vs_baseline_pilot").any() else "did"
    out = df.drop(columns=["city", "comparison"]).copy()
    names = {"age": codebook.label("age", lang), "female": tr("balance.female", lang),
             "migrant": codebook.label("migrant_background", lang)}
    out["variable"] = [names.get(v, outcome_label(v, lang)) for v in out["variable"]]
    # "Imbalanced" describes the number shown (|d| > 0.25), whatever the rating does
    # with it: a -0.786 is imbalanced even where it is not rated (contact satisfaction,
    # asked of a self-selected few) or where the DiD differences the gap out.
    out["imbalanced"] = [None if pd.isna(x) else bool(abs(x) > MAX_STD_DIFF) for x in out["std_diff"]]
    out = out.drop(columns=["used_in_rating"])
    out = out.rename(columns={"variable": "characteristic", "mean_a": f"mean_a_{design}",
                              "mean_b": f"mean_b_{design}", "n_a": f"n_a_{design}", "n_b": f"n_b_{design}"})
    from markupsafe import escape

    note = f'<p class="note">{escape(tr(f"balance.note_{design}", lang))}</p>'
    return note + table_html(out, lang, anchor=anchor, max_rows=40)


# ===================================================================== evidence
def _threshold_text(key: str, threshold, lang: str) -> str:

    if threshold is None or pd.isna(threshold):
        return "—"
    t = float(threshold)
    if key in ("interval_width",):
        return "≤ " + fmt_num(100 * t, lang, 0) + " %"
    if key in ("trend_balance", "baseline_gap"):
        return "≤ " + fmt_num(t, lang, 2)
    if key == "fidelity":
        return "≥ " + fmt_num(100 * t, lang, 0) + " %"
    return f"≥ {int(t)}"


def reason_text(code: str, lang: str, value=None, threshold=None) -> str:
    """A confidence reason code in ``lang`` (``evidence.reason.<code>``), with its numbers."""

    def num(x, digits):
        if x is None or pd.isna(x):
            return "—"
        x = float(x)
        return str(int(x)) if x.is_integer() else fmt_num(x, lang, digits)

    kw = {"value": num(value, 3), "threshold": num(threshold, 2)}
    if code in ("wide_interval", "low_fidelity"):  # shares: as percentages
        kw = {k: (fmt_num(100 * float(x), lang, 0) + " %") if x is not None and not pd.isna(x) else "—"
              for k, x in (("value", value), ("threshold", threshold))}
    return tr(f"evidence.reason.{code}", lang, **kw)


def evidence_ratings(ev: pd.DataFrame | None) -> dict:
    """The three ratings of a city's ``evidence.csv`` (schema ``evidence``: codes and numbers).

    Returns ``design`` (code), ``sms`` (int), ``confidence`` (code), ``confidence_level``
    (int), ``reasons`` (list of (code, value, threshold)) and ``effects`` (records);
    empty without a table.
    """
    if ev is None or ev.empty:
        return {}
    d = ev[ev["rating"] == "design"]
    c = ev[ev["rating"] == "confidence"]
    summary = c[c["criterion"] == "confidence"]
    out = {"design": d["code"].iloc[0] if len(d) else "unknown",
           "sms": int(d["level"].iloc[0]) if len(d) and pd.notna(d["level"].iloc[0]) else None,
           "confidence": summary["code"].iloc[0] if len(summary) else None,
           "confidence_level": int(summary["level"].iloc[0]) if len(summary) and pd.notna(summary["level"].iloc[0])
           else None, "reasons": [], "effects": ev[ev["rating"] == "effect"].to_dict("records")}
    for r in c[c["criterion"] != "confidence"].to_dict("records"):
        code = r.get("reason")
        if isinstance(code, str) and code and code != "not_assessed":
            out["reasons"].append((code, r.get("value"), r.get("threshold")))
    return out


def _effect_cell(r: dict, lang: str) -> str:

    word = tr(f"direction.{r['code']}", lang)
    est = r.get("value")
    if est is None or pd.isna(est):
        return word
    lo, hi = r.get("ci_low"), r.get("ci_high")
    scale = r.get("scale") if isinstance(r.get("scale"), str) else ""
    return tr("evidence.effect_cell", lang, direction=word, est=fmt_num(float(est), lang, 2, signed=True),
              lo=fmt_num(float(lo), lang, 2) if pd.notna(lo) else "—",
              hi=fmt_num(float(hi), lang, 2) if pd.notna(hi) else "—", scale=scale)


def ratings_side_by_side_html(ev: pd.DataFrame, lang: str) -> str:
    """Design strength | confidence | effect, side by side (one row per main indicator)."""

    r = evidence_ratings(ev)
    if not r:
        return ""
    design = tr("evidence.sms_value", lang, level=r["sms"] if r["sms"] else "?",
                design=tr(f"design.{r['design']}", lang))
    conf = tr(f"confidence.{r['confidence']}", lang) if r["confidence"] else "—"
    if r["reasons"]:
        conf += " — " + "; ".join(reason_text(c, lang, v, t) for c, v, t in r["reasons"])
    rows = [{"design_strength": design if i == 0 else "", "confidence": conf if i == 0 else "",
             "outcome": e["criterion"], "effect": _effect_cell(e, lang)} for i, e in enumerate(r["effects"])]
    if not rows:
        rows = [{"design_strength": design, "confidence": conf, "outcome": "", "effect": ""}]
    df = pd.DataFrame(rows)
    df["outcome"] = [outcome_label(o, lang) if o else "" for o in df["outcome"]]
    return table_html(df, lang)


def evidence_table_html(ev: pd.DataFrame, lang: str, anchor: str | None = None) -> str:
    """The three ratings side by side, then the criteria behind the confidence rating,
    worded from the catalogue (``criterion.<code>``, ``evidence.reason.<code>``)."""
    rows = []
    for r in ev[ev["rating"].isin(["confidence", "info"]) & (ev["criterion"] != "confidence")].to_dict("records"):
        key = r["criterion"]
        num = r.get("value")
        if num is None or pd.isna(num):
            value = tr("evidence.no_value", lang)
        elif key in ("interval_width", "fidelity"):
            value = fmt_num(100 * float(num), lang, 0) + " %"
        elif key in ("clusters", "pilot_units", "comparison_units", "min_cell"):
            value = str(int(num))  # counts
        else:
            value = float(num)
        met = r.get("met")
        met = None if met is None or pd.isna(met) else bool(met)
        code = r.get("reason") if isinstance(r.get("reason"), str) else ""
        if r["rating"] == "info":
            consequence = tr("evidence.info_only", lang)
        elif code == "not_assessed":
            consequence = tr("evidence.reason.not_assessed", lang)
        elif code:
            consequence = reason_text(code, lang, r.get("value"), r.get("threshold"))
        else:
            consequence = "—"
        rows.append({"criterion": tr(f"criterion.{key}", lang), "value": value,
                     "threshold": _threshold_text(key, r.get("threshold"), lang),
                     "met": met, "consequence": consequence})
    crit = pd.DataFrame(rows, columns=["criterion", "value", "threshold", "met", "consequence"])
    crit["met"] = crit["met"].astype("object")  # None stays None: shown as "—"
    from markupsafe import escape

    intro = escape(tr("evidence.criteria_intro", lang))
    return (ratings_side_by_side_html(ev, lang) + f'<p class="note">{intro}</p>'
            + table_html(crit, lang, anchor=anchor))


def evidence_reasons(ev: pd.DataFrame, lang: str) -> str:
    """Why confidence is not high: the confidence rating's reasons, worded with their numbers."""
    return "; ".join(reason_text(c, lang, v, t) for c, v, t in evidence_ratings(ev).get("reasons", []))


# ===================================================================== cities
@dataclass
class CityData:
    """Everything the report says about one city."""

    city: str
    name: str
    profile: object | None = None
    reason: Reason | None = None  # the whole city is not available
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    missing: dict[str, Reason] = field(default_factory=dict)
    cleaning: dict | None = None
    figures: list[dict] = field(default_factory=list)
    synthetic: bool = False
    failed: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None


def report_cities(manifest: pd.DataFrame | None = None) -> list[str]:
    """Cities to report: every profile, and any city with published outputs, in report order."""

    found = set(list_cities())
    for folder in (PATHS.tables, PATHS.figures):
        if folder.is_dir():
            found |= {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if manifest is not None and not manifest.empty:
        found |= set(manifest["city"])
    found.discard(CROSS_CITY)
    return sorted(found, key=city_order)


def load_city(city: str, manifest: pd.DataFrame | None, lang: str) -> CityData:
    """Read one city's profile, tables, cleaning log and figures; never raises."""

    data = CityData(city=city, name=city.capitalize(), failed=failed_step(city))
    try:
        prof = load_profile(city)
        data.profile = prof
        data.name = text.city_name(prof, lang)
        data.synthetic = bool(prof.synthetic)
    except (ProfileError, OSError) as exc:
        data.reason = Reason("na.profile", {"error": str(exc).splitlines()[0][:300]})
    for name in CITY_TABLES:
        df, why = read_table(name, city)
        data.tables[name] = df
        if why is not None:
            data.missing[name] = why
        data.synthetic |= is_synthetic_table(df)
    data.cleaning, why = read_cleaning_log(city)
    if why is not None:
        data.missing["cleaning"] = why
    elif data.cleaning.get("synthetic") is True:
        data.synthetic = True
    data.figures = figures_for(manifest, city, lang) if manifest is not None else []
    if manifest is not None and not manifest.empty:
        data.synthetic |= bool(manifest.loc[manifest["city"] == city, "synthetic"].any())
    # a failed step comes first: its outputs were withdrawn, so "not found" would hide why
    if data.reason is None and data.failed and data.tables.get("impact") is None:
        data.reason = Reason("na.failed", {"error": data.failed[:300]})
    if data.reason is None and data.tables.get("impact") is None and not data.figures \
            and data.cleaning is None:
        data.reason = data.missing.get("impact")
    return data


def data_period(cities: list[CityData]) -> tuple[str, str] | None:
    """First and last fieldwork day over the cities' profiles (ISO dates)."""
    starts, ends = [], []
    for c in cities:
        if c.profile is not None:
            starts.append(min(w.start for w in c.profile.waves.values()))
            ends.append(max(w.end for w in c.profile.waves.values()))
    if not starts:
        return None
    return min(starts).isoformat(), max(ends).isoformat()


# ===================================================================== summary sentences
#: At most this many findings lead a city's summary (the rest are counted, and in the city's section).
SUMMARY_LEAD: int = 3


def _effects_list(rows: list[dict], lang: str, design: str) -> str:
    return tr("plain.sep", lang).join(plain_effect(r, lang, design) for r in rows)


def group_phrase(group: str, lang: str) -> str:
    """A targeted group as prose ("young people aged 15–24"); its label when no phrase is catalogued."""
    key = f"plain.group.{group}"
    return tr(key, lang) if has_key(key) else group_label(group, lang)


def summary_ratings(c: CityData, lang: str) -> dict:
    """The three ratings of a city side by side, as text: design (Maryland level), confidence
    with its reasons, and the direction of each main indicator (``evidence.csv``)."""

    r = evidence_ratings(c.tables.get("evidence"))
    if not r:
        level, _ = evidence_level(c.tables.get("evidence"))
        none = tr("summary.ratings.none", lang)
        return {"design": tr("brief.level", lang, level=level) if level else none,
                "confidence": none, "effect": none}
    design = tr("evidence.sms_value", lang, level=r["sms"] if r["sms"] else "?",
                design=tr(f"design.{r['design']}" if has_key(f"design.{r['design']}") else "design.unknown", lang))
    conf = tr(f"confidence.{r['confidence']}", lang) if r["confidence"] else tr("summary.ratings.none", lang)
    if r["reasons"]:
        conf += " — " + tr("plain.sep", lang).join(reason_text(code, lang, v, t) for code, v, t in r["reasons"])
    by_direction: dict[str, list[str]] = {}
    for e in r["effects"]:
        d = str(e.get("code", ""))  # schema evidence: an effect row's direction code
        by_direction.setdefault(d, []).append(plain_label(str(e["criterion"]), lang))
    effect = tr("plain.sep", lang).join(
        tr("plain.labelled", lang, label=tr(f"direction.{d}", lang) if has_key(f"direction.{d}") else d,
           items=", ".join(labels)) for d, labels in by_direction.items())
    return {"design": design, "confidence": conf, "effect": effect or tr("summary.ratings.none", lang)}


def city_summary(c: CityData, lang: str, n_lead: int = SUMMARY_LEAD, n_group: int = 2, n_flat: int = 2) -> dict:
    """The executive summary of one city: what changed (clearest first, in plain words, with
    its scale and interval), for whom (the pilot's targeted groups), what clearly did not
    change, how far the design lets us attribute it, and the three evidence ratings.

    Returns a dict with ``lead``, ``for_whom`` (list), ``flat``, ``attribution``, ``ratings``
    (design, confidence, effect), ``verdict_kind`` (:attr:`Findings.kind`) and ``text`` (the
    sentences joined), or ``available`` False with a ``reason``. ``n_lead``, ``n_group`` and
    ``n_flat`` cap the findings quoted in each sentence (the brief quotes fewer).
    """

    out = {"city": c.city, "name": c.name, "anchor": f"city-{c.city}", "available": c.available,
           "reason": c.reason.text(lang) if c.reason else None, "text": "", "verdict": "",
           "synthetic": c.synthetic}
    impact = c.tables.get("impact")
    if not c.available or impact is None:
        why = c.reason or c.missing.get("impact")
        out["available"] = False
        out["reason"] = why.text(lang) if why else tr("na.unknown", lang)
        return out
    if overall_rows(impact).empty:
        out["available"] = False
        out["reason"] = tr("na.no_overall", lang)
        return out
    groups = list(c.profile.pilot.targeted_groups) if c.profile is not None else []
    f = city_findings(impact, c.tables.get("evidence"), groups)
    design = f.design
    if f.moved:
        # a deterioration is never hidden behind "and N more": the clearest one takes the last place
        shown = f.moved[:n_lead] if not f.worsened or f.worsened[0] in f.moved[:n_lead] \
            else f.improved[:n_lead - 1] + f.worsened[:1]
        rest = len(f.moved) - len(shown)
        more = tr(plural_key("summary.lead.more", rest, lang), lang, n=rest) if rest > 0 else ""
        lead = tr("summary.lead.moved", lang, effects=_effects_list(shown, lang, design), more=more)
    elif not f.n_estimated:
        lead = tr("summary.lead.none_estimable", lang)
    elif f.leaning_negative:
        lead = tr(f"summary.lead.none_negative.{'pre_post' if design == 'pre_post' else 'did'}", lang,
                  neg=f.n_negative, n=f.n_estimated)
    else:
        # what the intervals still allow on the first headline indicator: a precise null and a
        # wide one do not read alike (nor do two cities)
        order = {o: i for i, o in enumerate(codebook.OUTCOMES)}
        first = min(f.precise + f.unclear, key=lambda r: order.get(r["outcome"], len(order)))
        lead = tr(f"summary.lead.none.{'pre_post' if design == 'pre_post' else 'did'}", lang, n=f.n_estimated,
                  bounded=plain_bounded(first, lang))
    for_whom = []
    for g in groups:
        if g not in f.group_rows:
            continue  # not estimable for the group: its section says why
        phrase = group_phrase(g, lang)
        moved = f.groups.get(g, [])
        if moved:
            for_whom.append(tr("summary.for_whom.moved", lang, group=phrase,
                               effects=_effects_list(moved[:n_group], lang, design)))
        else:
            for_whom.append(tr("summary.for_whom.none", lang, group=phrase))
    flat = tr("summary.flat", lang, effects=tr("plain.sep", lang).join(plain_bounded(r, lang) for r in f.precise[:n_flat])) \
        if f.precise else ""
    reasons = tr("plain.sep", lang).join(reason_text(code, lang, v, t) for code, v, t
                                         in evidence_ratings(c.tables.get("evidence")).get("reasons", [])) \
        or tr("plain.sep", lang).join(f.reasons)
    if design == "did":
        conf = f.confidence if f.confidence in ("high", "moderate", "low") else "unknown"
        attribution = tr(f"summary.attribution.did.{conf}", lang, reasons=reasons)
    elif design == "pre_post":
        attribution = tr("summary.attribution.pre_post", lang)
    else:
        attribution = tr("summary.attribution.unknown", lang)
    out.update(lead=lead, for_whom=for_whom, flat=flat, attribution=attribution,
               ratings=summary_ratings(c, lang), verdict_kind=f.kind,
               tag=tr(f"summary.tag.{f.kind}", lang), findings=f,
               pilot=pilot_names(c.profile, lang)[0] if c.profile is not None else "",
               kind=c.profile.pilot.text("kind", lang) if c.profile is not None else "")
    out["text"] = " ".join(x for x in (lead, *for_whom, flat, attribution) if x)
    return out


def pooled_summary(pooled: pd.DataFrame | None, lang: str) -> list[str]:
    """One sentence per pooled outcome (residents, all): in plain words with the prediction
    interval read for a new city (:func:`pooled_plain`), else the rule's statement."""

    plain = [pooled_plain(r, lang) for r in headline_pooled(pooled)]
    if plain:
        return plain
    return [r.text(lang) for r in pooled_recommendations(pooled) if r.rule != "heterogeneous"] \
        if pooled is not None else []


#: The rules printed in the annex, in the order of :mod:`analysis.publishing.recommendations`,
#: each with the variants that word it to match its evidence.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recommend", ("recommend.moderate", "recommend.single")), ("review", ()),
    ("no_large_effect", ("no_large_effect.rest", "no_large_effect.precise_rest", "no_large_effect.precise",
                         "negative")),
    ("evaluate_first", ("negative",)), ("strengthen_first", ("negative",)), ("not_estimable", ()),
    ("for_whom", ()), ("officers_change", ()), ("pooled_effect", ()), ("heterogeneous", ()),
    ("eval_comparison", ()), ("eval_clusters", ()),
)


def rule_annex(lang: str) -> list[dict]:
    """The rules behind the recommendations, as the annex prints them: tag, condition, variants."""
    return [{"rule": rule, "tag": tr(f"rule.{rule}", lang), "text": tr(f"rule_text.{rule}", lang),
             "variants": [tr(f"variant.{v}", lang) for v in variants]} for rule, variants in RULES]


# ===================================================================== narrative
def narrative_html(lang: str) -> tuple[str | None, str]:
    """The committee's narrative (Markdown) as HTML, and its path; None when absent."""
    import mistune

    path = PATHS.reports / f"narrative{text.file_suffix(lang)}.md"
    if not path.is_file():
        return None, _rel(path)
    # escape=True: raw HTML in the narrative is shown, not executed
    md = mistune.create_markdown(escape=True, plugins=["table"])
    html = md(path.read_text(encoding="utf-8"))
    # headings of the narrative sit under the report's own h2
    html = re.sub(r"<(/?)h([1-4])", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 2, 6)}", html)
    return html, _rel(path)


# ===================================================================== assembly
def _city_view(c: CityData, lang: str, recs: list) -> dict:
    """What the template shows of one city."""

    v = {"c": c, "anchor": f"city-{c.city}", "parts": {}, "na": {}}
    for name, why in c.missing.items():
        v["na"][name] = why.text(lang)
    prof = c.profile
    if prof is not None:
        by_code = {n.code: n.name for n in prof.neighbourhoods}
        name, name_lang, other, other_lang = pilot_names(prof, lang)
        v["pilot"] = {
            "name": name, "name_lang": name_lang, "name_local": other, "other_lang": other_lang,
            # French texts of the profile (kind_fr…) in the French report, English otherwise
            "kind": prof.pilot.text("kind", lang), "kind_lang": prof.pilot.text_lang("kind", lang),
            "description": prof.pilot.text("description", lang),
            "description_lang": prof.pilot.text_lang("description", lang),
            "context": prof.pilot.text("published_context", lang),
            "context_lang": prof.pilot.text_lang("published_context", lang),
            "start": prof.pilot.start.isoformat(), "end": prof.pilot.end.isoformat(),
            "areas": ", ".join(f"{by_code[a]} ({a})" for a in prof.pilot.pilot_areas),
            "comparison": ", ".join(f"{by_code[a]} ({a})" for a in prof.pilot.comparison_areas),
            "groups": ", ".join(group_label(g, lang) for g in prof.pilot.targeted_groups),
            "unit": prof.boundaries.unit, "n_units": len(prof.neighbourhoods),
            "waves": {w: f"{s.start.isoformat()} – {s.end.isoformat()}" for w, s in prof.waves.items()},
            "design": "did" if prof.has_comparison else "pre_post",
        }
    impact = c.tables.get("impact")
    if impact is not None:
        overall = overall_rows(impact)
        cols = ["outcome", "estimate", "ci_low", "ci_high", "p_value", "inference", "n",
                "n_clusters", "scale", "note"]
        v["impact_html"] = table_html(impact_view(overall, lang), lang, columns=cols,
                                      anchor=table_anchor(c.city, "impact"))
        res = impact[impact["population"] == "residents"]
        groups = res[res["group"] != "all"]
        if len(groups):
            v["groups_html"] = table_html(impact_view(groups, lang), lang, columns=[
                "outcome", "group", "estimate", "ci_low", "ci_high", "n", "diff_vs_rest", "diff_p_value", "note"])
        off = impact[impact["population"] == "officers"]
        if len(off):
            v["officers_html"] = table_html(impact_view(off, lang), lang, columns=[
                "outcome", "estimate", "ci_low", "ci_high", "p_value", "inference", "n", "note"])
            v["officers_design"] = "did_trained" if (off["design"] == "did_trained").any() else "pre_post"
        if not overall.empty:
            v["design_kind"] = overall["design"].iloc[0]
    ev = c.tables.get("evidence")
    if ev is not None:
        level, _ = evidence_level(ev)
        reasons = evidence_reasons(ev, lang)
        three = evidence_ratings(ev)
        # the design level stands alone; confidence is a separate rating with its reasons
        conf = tr(f"confidence.{three['confidence']}", lang) if three.get("confidence") else "—"
        said = tr("city.confidence", lang, confidence=conf, reasons=f" ({reasons})" if reasons else "")
        v["evidence"] = {"level": level, "reasons": said,
                         "html": evidence_table_html(ev, lang, anchor=table_anchor(c.city, "evidence"))}
    if c.tables.get("implementation") is not None:
        v["implementation_html"] = implementation_table_html(c.tables["implementation"], lang,
                                                             anchor=table_anchor(c.city, "implementation"))
    if c.tables.get("balance") is not None:
        v["balance_html"] = balance_table_html(c.tables["balance"], lang, anchor=table_anchor(c.city, "balance"))
    nb = c.tables.get("neighbourhoods")
    if nb is not None:
        v["nbhd_html"] = neighbourhood_table_html(nb, c, lang)
        v["nbhd_anchor"] = table_anchor(c.city, "neighbourhoods")
    if c.cleaning is not None:
        try:
            s = cleaning_summary(c.cleaning)
        except tables.TableError:
            s = None
            v["na"]["cleaning"] = tr("na.log_shape", lang)
    if c.cleaning is not None and s is not None:
        v["clean_files_html"] = table_html(s["files"], lang, code_cols=("file",)) if len(s["files"]) else None
        v["clean_reasons_html"] = table_html(s["reasons"], lang, max_rows=30, code_cols=("file",)) \
            if len(s["reasons"]) else None
        miss = s["missingness"]
        if len(miss):
            miss = miss.sort_values("missing", ascending=False, kind="stable").head(12)
            v["clean_missing_html"] = table_html(miss, lang)
        v["clean_ok"] = bool(len(s["files"])) and bool(s["files"]["check"].all())
        # rows are interviews: the totals are published like every count of respondents
        # (rounded to base 10, "<10" for 1-9), never exact (audit D3)

        v["clean_rows"] = ({k: publish_count(x) for k, x in
                            s["files"][["raw", "kept", "rejected"]].sum().to_dict().items()}
                           if len(s["files"]) else None)
        if not len(s["files"]) and not len(miss):
            v["na"]["cleaning"] = tr("na.log_shape", lang)
    # the headline figure of a part first (overall effects before effects by group)
    lead = ("impact-residents", "maps-trust_police")
    for fig in sorted(c.figures, key=lambda f: (f["figure_id"] not in lead, )):
        v["parts"].setdefault(figure_part(fig), []).append(fig)
    v["recs"] = [r for r in recs if r["city"] == c.city]
    return v


def pilot_names(prof, lang: str) -> tuple[str, str, str | None, str]:
    """The pilot's name to show first in ``lang`` and its language, then the other name and its language.

    The first is :meth:`analysis.inputs.profile.Pilot.display_name` (``name_<lang>``, else the
    local name when ``lang`` is one of the city's languages, else the English ``name``); the
    other is the English name when the first is not, else the local name.
    """
    local_lang = prof.languages[0] if prof.languages else text.SOURCE_LANG
    name, name_lang = prof.pilot.display_name(lang, prof.languages)
    if name != prof.pilot.name:
        return name, name_lang, prof.pilot.name, text.SOURCE_LANG
    return name, name_lang, prof.pilot.name_local, local_lang


def neighbourhood_table_html(nb: pd.DataFrame, c: CityData, lang: str) -> str | None:
    """Pilot and comparison areas: the headline indicator by wave (all residents), suppressed cells shown as such."""

    df = nb[nb["group"] == "all"]
    indicators = [i for i in codebook.INDICATORS if i in set(df["indicator"])]
    if not indicators:
        return None
    df = df[df["indicator"] == indicators[0]].copy()
    df = df[df["area_type"].isin(["pilot", "comparison"])]
    if df.empty:
        return None
    sup = df["suppressed"].fillna(False).astype(bool)
    # never show a cell under k, whatever the upstream flag says
    sup |= pd.to_numeric(df["n"], errors="coerce").fillna(0) < K_SUPPRESS
    df.loc[sup, ["estimate", "ci_low", "ci_high", "shrunk"]] = pd.NA
    df.loc[sup, "n"] = pd.NA
    df["estimate"] = df["estimate"].astype("object")
    df.loc[sup, "estimate"] = tr("value.suppressed", lang, k=K_SUPPRESS)
    cols = ["neighbourhood", "name", "area_type", "wave", "n", "estimate", "ci_low", "ci_high"]
    caption = tr("city.nbhd_caption", lang, indicator=codebook.label(indicators[0], lang), k=K_SUPPRESS)
    order = {"pilot": 0, "comparison": 1, "baseline": 0, "follow_up": 1, "change": 2}
    df = df.sort_values([c for c in ("area_type", "neighbourhood", "wave") if c in df.columns], kind="stable",
                        key=lambda s: s.map(order).fillna(9) if s.name != "neighbourhood" else s)
    return table_html(df, lang, columns=cols, caption=caption, anchor=table_anchor(c.city, "neighbourhoods"))


def coverage_sentence(lang: str) -> str | None:
    """Which cities the synthesis uses and which it leaves out, with the reason
    (``reports/tables/cross-city/coverage.csv``, written by :func:`analysis.statistics.synthesis.coverage`)."""

    df, why = read_table("coverage")
    if df is None:
        return None
    used = [city_name(c, lang) for c in df.loc[df["included"].astype(bool), "city"]]
    out = [f"{city_name(c, lang)} ({tr('coverage.' + r, lang)})"
           for c, r in zip(df.loc[~df["included"].astype(bool), "city"], df.loc[~df["included"].astype(bool), "reason"])]
    return tr("coverage.sentence", lang, used=", ".join(used) or "—",
              left_out=", ".join(out) or tr("coverage.none", lang))


#: Columns of the weighting annex table (``reports/tables/<city>/weighting.csv``).
WEIGHTING_COLUMNS: tuple[str, ...] = ("city", "wave", "weights_method", "n", "neighbourhoods_surveyed",
                                      "neighbourhoods_total", "max_abs_rel_diff", "max_weight_over_base",
                                      "deff_kish", "n_eff")


def weighting_table_html(cities: list[str], lang: str) -> str | None:
    """The methods annex's weighting table: achieved margins and Kish's design effect per
    city and wave, from each city's published ``weighting.csv``."""
    frames = []
    for city in cities:
        df, _ = read_table("weighting", city)
        if df is not None:
            frames.append(df)
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    return table_html(df, lang, columns=list(WEIGHTING_COLUMNS), anchor="table-weighting",
                      code_cols=("city", "weights_method"))


# ===================================================================== methods annex (issue 12 §5)
def _annex_table(city: str, name: str) -> tuple[pd.DataFrame | None, Reason | None]:
    return read_table(name, city)


def _annex_money(amount: float, currency: str, lang: str) -> str:
    """An amount of money in ``lang``'s conventions (€48,000.00, 48 000,00 €)."""
    return format_currency(float(amount), currency, locale=lang)


def sampling_rows(cities: list[CityData], lang: str) -> pd.DataFrame:
    """One row per city: sampling frame, design, mode, fieldwork and response rate per wave.

    "not provided" where the profile does not give it; a quota or convenience sample has
    no response rate ("not applicable"). ``annex_values`` says when the values come from a
    synthetic demonstration profile.
    """
    nothing = tr("annex.not_provided", lang)
    rows = []
    for c in cities:
        prof = c.profile
        if prof is None:
            continue
        s = prof.sampling
        row = {"city": c.name,
               "annex_frame": localized(s, "frame", lang) if s else nothing,
               "annex_sample_design": (tr(f"annex.design.{s.design}", lang)
                                       + (f" — {localized(s, 'design_detail', lang)}"
                                          if localized(s, "design_detail", lang) else "")) if s else nothing,
               "annex_mode": tr(f"annex.mode.{s.mode}", lang) if s else nothing}
        given = s is not None
        for wave in codebook.WAVES:
            w = prof.waves[wave]
            row[f"annex_fieldwork_{wave}"] = tr("annex.fieldwork", lang, start=fmt_date(w.start, lang),
                                                end=fmt_date(w.end, lang))
            if w.response_rate is not None:
                given = True
                rate = fmt_pct(w.response_rate, lang)
                definition = s.response_rate_definition if s is not None else None
                row[f"annex_rr_{wave}"] = (tr("annex.rr_value", lang, rate=rate, definition=definition)
                                           if definition else rate)
            elif s is not None and s.design in ("quota", "convenience"):
                row[f"annex_rr_{wave}"] = tr("annex.rr_not_applicable", lang)
            else:
                row[f"annex_rr_{wave}"] = nothing
        row["annex_values"] = ((tr("annex.synthetic_values", lang) if prof.synthetic else tr("annex.given", lang))
                               if given else "—")
        rows.append(row)
    return pd.DataFrame(rows)


def deff_rows(cities: list[CityData], lang: str) -> tuple[pd.DataFrame, list[str]]:
    """Kish's design effect per city and wave (``weighting.csv``), and the cities without the table."""
    frames, missing = [], []
    for c in cities:
        df, why = _annex_table(c.city, "weighting")
        if df is None:
            missing.append(f"{c.name} ({why.text(lang)})")
            continue
        df = df.assign(city=c.name)
        for col in ("deff_kish", "deff_kish_untrimmed"):  # published to 2 decimals (analysis.sdc rule 6)
            if col in df.columns:
                df[col] = [fmt_num(v, lang, 2) for v in pd.to_numeric(df[col], errors="coerce")]
        frames.append(df[[col for col in ("city", "wave", "weights_method", "n", "deff_kish",
                                          "deff_kish_untrimmed", "n_eff") if col in df.columns]])
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), missing


def reliability_rows(cities: list[CityData], lang: str) -> tuple[pd.DataFrame, list[str]]:
    """Cronbach's α per city and wave, one column per index (``reliability.csv``)."""
    rows, missing = [], []
    for c in cities:
        df, why = _annex_table(c.city, "reliability")
        if df is None:
            missing.append(f"{c.name} ({why.text(lang)})")
            continue
        for wave, grp in df.groupby("wave", sort=False):
            alpha = dict(zip(grp["index"], pd.to_numeric(grp["alpha"], errors="coerce")))
            rows.append({"city": c.name, "wave": wave,
                         **{f"alpha_{ix.name}": fmt_num(alpha.get(ix.name), lang, 2) for ix in codebook.INDICES}})
    return pd.DataFrame(rows), missing


def _interval(lo, hi, lang: str) -> str:
    """A 95 % interval in ``lang`` ("−0.20 to 1.11", "−0,20 à 1,11"); "unbounded" sides as ∞."""
    def end(x):
        x = float(x)
        return ("−∞" if x < 0 else "+∞") if not math.isfinite(x) else fmt_num(x, lang, 2)
    return tr("annex.interval", lang, lo=end(lo), hi=end(hi))


def placebo_rows(cities: list[CityData], lang: str) -> tuple[pd.DataFrame, dict, list[str]]:
    """The placebo table (``placebo.csv``), one row per city and indicator run, one per city not run.

    Returns the rows, ``{"n": estimates published, "flagged": of which excluding zero}`` and
    the cities whose table is missing.
    """
    rows, missing = [], []
    tally = {"n": 0, "flagged": 0}
    for c in cities:
        df, why = _annex_table(c.city, "placebo")
        if df is None:
            missing.append(f"{c.name} ({why.text(lang)})")
            continue
        for col in ("placebo_pilot_areas", "placebo_comparison_areas", "reason"):  # codes: text, never NaN
            df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str) if col in df.columns else ""
        not_run = df["status"].astype(str).eq("not_applicable")
        if len(df) and not_run.all():
            reason = str(df["reason"].iloc[0])
            rows.append({"city": c.name, "outcome": "—", "annex_placebo_pilot": "—", "annex_placebo_comparison": "—",
                         "estimate": "—", "annex_ci": "—", "p_value": None,
                         "annex_result": tr(f"annex.placebo.{reason}", lang, m=MIN_COMPARISON_AREAS)
                         if has_key(f"annex.placebo.{reason}") else reason})
            continue
        for r in df.to_dict("records"):
            est = pd.to_numeric(r.get("estimate"), errors="coerce")
            if r["status"] == "estimated" and pd.notna(est):
                tally["n"] += 1
                tally["flagged"] += r.get("verdict") == "differential_trend"
                result = tr(f"annex.placebo.{r['verdict']}", lang)
                cells = {"estimate": fmt_num(est, lang, 2, signed=True), "annex_ci": _interval(r["ci_low"], r["ci_high"], lang),
                         "p_value": r.get("p_value")}
            else:
                code = str(r.get("reason") or r["status"])
                reason = tr(f"rec.reason.{code}", lang) if has_key(f"rec.reason.{code}") else code
                result = tr("annex.placebo.withheld", lang, reason=reason)
                cells = {"estimate": "—", "annex_ci": "—", "p_value": None}
            rows.append({"city": c.name, "outcome": r["outcome"], "annex_placebo_pilot": str(r["placebo_pilot_areas"]),
                         "annex_placebo_comparison": str(r["placebo_comparison_areas"]), **cells,
                         "annex_result": result})
    return pd.DataFrame(rows), tally, missing


def rtm_rows(cities: list[CityData], lang: str) -> tuple[pd.DataFrame, list[str]]:
    """The baseline gap, pilot against comparison areas, on the main indicators (``balance.csv``).

    Returns the rows of the cities with comparison areas and the names of those without
    (before/after only: no protection against regression to the mean).
    """
    rows, pre_post = [], []
    for c in cities:
        if c.profile is not None and not c.profile.has_comparison:
            pre_post.append(c.name)
            continue
        df = c.tables.get("balance")
        if df is None or not {"variable", "mean_a", "mean_b", "std_diff"} <= set(df.columns):
            continue
        for ind in MAIN_INDICATORS:
            sel = df[df["variable"] == ind]
            if sel.empty:
                continue
            r = sel.iloc[0]
            d = pd.to_numeric(r["std_diff"], errors="coerce")
            gap = ("—" if pd.isna(d) else tr("annex.rtm.similar", lang) if abs(d) <= MAX_STD_DIFF
                   else tr("annex.rtm.lower" if d < 0 else "annex.rtm.higher", lang))
            rows.append({"city": c.name, "outcome": ind, "mean_a_did": r["mean_a"], "mean_b_did": r["mean_b"],
                         "std_diff": d, "annex_gap": gap})
    return pd.DataFrame(rows), pre_post


def _rtm_marked(rtm: pd.DataFrame, lang: str) -> str | None:
    """The sentence naming the cities whose pilot areas start markedly lower (d < −0.25)."""
    if rtm.empty:
        return None
    low = rtm[pd.to_numeric(rtm["std_diff"], errors="coerce") < -MAX_STD_DIFF]
    if low.empty:
        return tr("annex.rtm.none_marked", lang)
    return tr("annex.rtm.marked", lang, cities=", ".join(dict.fromkeys(low["city"])))


def officer_sensitivity_rows(cities: list[CityData], lang: str) -> pd.DataFrame:
    """Officer estimates with the interval by officer and by police unit (``officers_sensitivity.csv``)."""
    rows = []
    for c in cities:
        df, _ = _annex_table(c.city, "officers_sensitivity")
        if df is None or df.empty:
            continue
        for r in df.to_dict("records"):
            status = str(r.get("status"))
            ok = status in ("ok", "too_few_units")
            key = f"annex.officers.status.{status}"
            rows.append({"city": c.name, "outcome": r["outcome"], "design": r.get("design"),
                         "estimate": fmt_num(r.get("estimate"), lang, 2, signed=True) if ok else "—",
                         "annex_officer_ci": _interval(r["ci_low"], r["ci_high"], lang) if ok else "—",
                         "annex_unit_ci": _interval(r["unit_ci_low"], r["unit_ci_high"], lang) if status == "ok" else "—",
                         "annex_unit_p": fmt_p(r.get("unit_p_value"), lang) if status == "ok" else "—",
                         "annex_status": tr(key, lang, k=K_SUPPRESS) if has_key(key) else status})
    return pd.DataFrame(rows)


def cost_rows(cities: list[CityData], lang: str) -> pd.DataFrame:
    """The pilot's cost and cost per resident reached per city (profile and ``cost.csv``)."""
    nothing = tr("annex.not_provided", lang)
    rows = []
    for c in cities:
        prof = c.profile
        if prof is None:
            continue
        cost = prof.pilot.cost
        if cost is None:
            rows.append({"city": c.name, "annex_cost": nothing, "period": "—", "annex_cost_covers": "—",
                         "participants": None, "annex_cost_per_participant": nothing,
                         "annex_cost_per_resident": nothing, "annex_values": "—"})
            continue
        row = {"city": c.name, "annex_cost": _annex_money(cost.amount, cost.currency, lang),
               "period": tr("annex.fieldwork", lang, start=fmt_date(cost.start, lang), end=fmt_date(cost.end, lang)),
               "annex_cost_covers": localized(cost, "covers", lang), "participants": None,
               "annex_cost_per_participant": "—", "annex_cost_per_resident": "—",
               "annex_values": tr("annex.synthetic_values", lang) if prof.synthetic else tr("annex.given", lang)}
        df, why = _annex_table(c.city, "cost")
        if df is None or df.empty:
            row["annex_cost_per_participant"] = tr("annex.not_available_table", lang, reason=why.text(lang) if why else "—")
        else:
            r = df.iloc[0]
            status = str(r.get("status"))
            row["participants"] = pd.to_numeric(r.get("participants"), errors="coerce")
            if status == "computed":
                row["annex_cost_per_participant"] = _annex_money(r["cost_per_participant"], cost.currency, lang)
            elif has_key(f"annex.cost.{status}"):
                row["annex_cost_per_participant"] = tr(f"annex.cost.{status}", lang)
            per_resident = pd.to_numeric(r.get("cost_per_resident_pilot_areas"), errors="coerce")
            if pd.notna(per_resident):
                row["annex_cost_per_resident"] = _annex_money(per_resident, cost.currency, lang)
        rows.append(row)
    return pd.DataFrame(rows)


def annex_context(cities: list[CityData], lang: str) -> dict:
    """The methods annex's tables and computed sentences (issue 12 §5), for the template's ``annex``.

    Every city with a profile appears in the sampling and cost tables ("not provided" where
    the profile says nothing); the other tables list the cities that published them.
    """
    def html(df: pd.DataFrame, anchor: str, **kw) -> str | None:
        return table_html(df, lang, anchor=anchor, **kw) if len(df) else None

    def missing_note(names: list[str]) -> str | None:
        return tr("na.prefix", lang, reason="; ".join(names)) if names else None

    avail = [c for c in cities if c.available]
    deff, deff_missing = deff_rows(avail, lang)
    rel, rel_missing = reliability_rows(avail, lang)
    placebo, tally, placebo_missing = placebo_rows(avail, lang)
    rtm, pre_post = rtm_rows(avail, lang)
    out = {
        "sampling_html": html(sampling_rows(cities, lang), "table-annex-sampling"),
        # the annex's own data status: a note only where a profile's annex values are demo values
        "synthetic_values": any(c.profile is not None and c.profile.synthetic
                                and (c.profile.sampling is not None or c.profile.pilot.cost is not None
                                     or any(w.response_rate is not None for w in c.profile.waves.values()))
                                for c in cities),
        "deff_html": html(deff, "table-annex-deff", code_cols=("weights_method",)),
        "deff_missing": missing_note(deff_missing),
        "reliability_html": html(rel, "table-annex-reliability"),
        "reliability_missing": missing_note(rel_missing),
        "placebo_html": html(placebo, "table-annex-placebo"),
        "placebo_missing": missing_note(placebo_missing),
        "placebo_summary": tr("annex.trends.summary", lang, n=tally["n"], flagged=tally["flagged"]) if tally["n"]
        else tr("annex.trends.none", lang),
        "rtm_html": html(rtm, "table-annex-rtm"),
        "rtm_pre_post": tr("annex.rtm.pre_post", lang, cities=", ".join(pre_post)) if pre_post else None,
        "rtm_marked": _rtm_marked(rtm, lang),
        "officers_html": html(officer_sensitivity_rows(avail, lang), "table-annex-officers"),
        "cost_html": html(cost_rows(cities, lang), "table-annex-cost"),
        "sdc_rules": [tr(f"annex.sdc.rule_{r}", lang, k=K_SUPPRESS, base=ROUNDING_BASE, half=ROUNDING_BASE // 2)
                      for r in ("small", "round", "stat", "secondary", "model", "disguise")],
        "min_comparison": MIN_COMPARISON_AREAS,
        "per_arm": MIN_COMPARISON_AREAS // 2,
    }
    return {"annex": out}


def build_context(lang: str = "en", manifest: pd.DataFrame | None = None,
                  cities: list[str] | None = None) -> dict:
    """Everything the template needs for the report in ``lang``.

    ``cities``: a city's own report (those cities only, no cross-city synthesis); default
    the full report of every city.
    """

    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if manifest is None:
        manifest, _ = collect_sidecars()
    only = list(cities) if cities else None
    cities = [load_city(c, manifest, lang) for c in (only or report_cities(manifest))]

    cross = {"tables": {}, "na": {}, "figures": figures_for(manifest, CROSS_CITY, lang)}
    for name in CROSS_TABLES:
        df, why = read_table(name)
        cross["tables"][name] = df
        if why is not None:
            cross["na"][name] = why.text(lang)
        else:
            shown = benchmark_view(df, lang) if name == "benchmark" else df
            cross[f"{name}_html"] = table_html(shown, lang, anchor=table_anchor(CROSS_CITY, name))
    cross["coverage"] = coverage_sentence(lang)
    if only:  # a city's own report: the synthesis across cities belongs to the full report
        cross = {"tables": {name: None for name in CROSS_TABLES}, "na": {}, "figures": []}
    pooled = cross["tables"].get("pooled")
    is_forest = [bool(re.search(r"forest|pooled|heterog", f["figure_id"])) for f in cross["figures"]]
    cross["forest"] = [f for f, k in zip(cross["figures"], is_forest) if k]
    cross["rest"] = [f for f, k in zip(cross["figures"], is_forest) if not k]

    results = {c.city: {"impact": c.tables.get("impact"), "evidence": c.tables.get("evidence")}
               for c in cities if c.available and c.tables.get("impact") is not None}
    pilots = {c.city: pilot_names(c.profile, lang)[0] for c in cities if c.profile is not None}
    themes = {c.city: c.profile.pilot.theme for c in cities if c.profile is not None}
    recs = build_recommendations(results, pooled, manifest, pilots, themes)
    known_anchors = {f["anchor"] for c in cities for f in c.figures} | {f["anchor"] for f in cross["figures"]}
    rec_views = [{
        "city": r.city, "rule": r.rule, "variant": r.variant, "theme": r.theme, "text": r.text(lang),
        # the tag follows the wording: a variant may have its own ("rethink", not "do not expect")
        "tag": tr(f"rule.{r.rule}.{r.variant}", lang) if has_key(f"rule.{r.rule}.{r.variant}")
        else tr(f"rule.{r.rule}", lang),
        "sources": [{"label": s.ref, "anchor": s.anchor, "kind": s.kind,
                     "linked": s.kind == "table" or s.anchor in known_anchors} for s in r.sources],
    } for r in recs]
    views_by_id = {id(r): v for r, v in zip(recs, rec_views)}
    rec_themes = [{"code": theme, "title": tr(f"theme.{theme}", lang),
                   "recs": [views_by_id[id(r)] for r in group]} for theme, group in by_theme(recs)]

    synthetic = any(c.synthetic for c in cities) or bool(manifest["synthetic"].any() if len(manifest) else False) \
        or any(is_synthetic_table(df) for df in cross["tables"].values())
    narrative, narrative_path = narrative_html(lang)
    codebook_df = codebook.codebook_table(lang)
    figs_lang = manifest[manifest["lang"] == lang] if len(manifest) else manifest
    return {
        "lang": lang,
        "t": lambda key, **kw: tr(key, lang, **kw),
        "synthetic": synthetic,
        "city_only": bool(only),
        # the data status belongs to each city: named on the cover when real and demo mix
        "real_cities": [c.name for c in cities if c.available and not c.synthetic],
        "synthetic_cities": [c.name for c in cities if c.available and c.synthetic],
        "period": data_period(cities),
        "cities": [_city_view(c, lang, rec_views) for c in cities],
        "summaries": [city_summary(c, lang) for c in cities],
        "pooled_sentences": pooled_summary(pooled, lang),
        "cross": cross,
        "recs": rec_views,
        "rec_themes": rec_themes,
        "rule_annex": rule_annex(lang),
        "narrative": narrative,
        "narrative_path": narrative_path,
        "codebook_html": table_html(codebook_df, lang, code_cols=("variable", "type", "allowed", "ess")),
        "figure_list_html": table_html(figs_lang, lang, columns=["city", "figure_id", "title", "notebook", "png",
                                                                 "data_checksum"],
                                       code_cols=("figure_id", "notebook", "png", "data_checksum"))
        if len(figs_lang) else None,
        "weighting_html": weighting_table_html([c.city for c in cities if c.available], lang),
        "k": K_SUPPRESS,
        **annex_context(cities, lang),
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
        "other_lang_file": f"report{text.file_suffix(text.other_langs(lang)[0])}.html",
    }


def render_html(lang: str = "en", manifest: pd.DataFrame | None = None,
                cities: list[str] | None = None) -> str:
    """The report in ``lang`` as one HTML string."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    html = env.get_template("report.html.j2").render(**build_context(lang, manifest, cities))
    return number_figures_and_tables(html, lang)


_NUMBERED = re.compile(
    r'<figure id="(?P<fid>[^"]+)"[^>]*>'
    r'|<figcaption>'
    r'|<table class="data"(?: id="(?P<tid>[^"]+)")?>(?P<cap><caption>)?'
    r'|<h(?P<lvl>[234])\b[^>]*>(?P<head>.*?)</h(?P=lvl)>', re.S)
_XREF = re.compile(r'<a class="xref" href="#(?P<id>[^"]+)">(?P<inner>.*?)</a>', re.S)


def number_figures_and_tables(html: str, lang: str = "en") -> str:
    """Number every figure and table of the report in document order, and fill in cross-references.

    Each ``<figcaption>`` starts with "Figure N." and each ``<table class="data">`` gets a
    caption starting with "Table N." (a table without a caption is named after the
    heading it stands under). Every link ``<a class="xref" href="#id">…</a>`` to a numbered
    figure or table then reads "Figure N" / "Table N" (its old text stays as a tooltip), so
    text and recommendations can cite numbers that follow the layout. Numbering in Python,
    not CSS counters: the numbers are the same on screen, in print and in both PDFs.
    """
    from markupsafe import escape

    numbers: dict[str, str] = {}
    out, pos = [], 0
    n_fig = n_tab = 0
    pending_fig: str | None = None
    h2, sub = "", ""
    for m in _NUMBERED.finditer(html):
        out.append(html[pos:m.start()])
        pos = m.end()
        tag = m.group(0)
        if m.group("fid"):
            n_fig += 1
            pending_fig = tr("num.figure", lang, n=n_fig)
            numbers[m.group("fid")] = pending_fig
            out.append(tag)
        elif tag == "<figcaption>":
            out.append(tag)
            if pending_fig:
                out.append(f'<span class="num">{pending_fig}.</span> ')
                pending_fig = None
        elif tag.startswith("<table"):
            n_tab += 1
            label = tr("num.table", lang, n=n_tab)
            if m.group("tid"):
                numbers[m.group("tid")] = label
            head = tag[: -len("<caption>")] if m.group("cap") else tag
            out.append(head)
            if m.group("cap"):
                out.append(f'<caption><span class="num">{label}.</span> ')
            else:
                context = " — ".join(x for x in (sub, h2) if x)
                out.append(f'<caption><span class="num">{label}.</span> {escape(context)}</caption>')
        else:
            text = re.sub(r"<[^>]+>", "", m.group("head")).strip()
            text = html_unescape(text)
            if m.group("lvl") == "2":
                h2, sub = text, ""
            else:
                sub = text
            out.append(tag)
    out.append(html[pos:])
    html = "".join(out)
    # the list of figures: number (a cross-reference, with its page in print) and title
    items = []
    for fid in (k for k in numbers if k.startswith("fig-")):
        m = re.search(rf'<figure id="{re.escape(fid)}"[^>]*>.*?<figcaption><span class="num">[^<]*</span>\s*'
                      r'<strong>(.*?)</strong>', html, re.S)
        title = m.group(1).rstrip(".") if m else ""
        items.append(f'<li data-page="#{fid}"><a class="xref" href="#{fid}">{fid}</a> — {title}</li>')
    html = html.replace('<ol class="figure-index"></ol>', '<ol class="figure-index">' + "".join(items) + "</ol>", 1)

    def xref(m: re.Match) -> str:
        label = numbers.get(m.group("id"))
        if label is None:
            return m.group(0)
        tip = re.sub(r"<[^>]+>", "", m.group("inner")).strip()
        return f'<a class="xref" href="#{m.group("id")}" title="{escape(html_unescape(tip))}">{label}</a>'

    return _XREF.sub(xref, html)


def html_unescape(text: str) -> str:
    import html as html_module

    return html_module.unescape(text)


def report_path(lang: str = "en") -> Path:
    """``reports/report.html`` (English) or ``reports/report.<lang>.html``."""
    return PATHS.reports / f"report{text.file_suffix(lang)}.html"


def build_report(lang: str = "en") -> Path:
    """Write the report in ``lang`` (and refresh ``reports/figures.csv``); return its path."""

    manifest = build_manifest(write=True)
    return write_text(report_path(lang), render_html(lang, manifest))


def city_report_langs(profile) -> list[str]:
    """The report languages of a city: those of its profile the catalogue has, else English."""
    return [lang for lang in LANGS if lang in profile.languages] or ["en"]


def build_city_report(city: str, langs: list[str] | None = None) -> list[Path]:
    """A city's own report, ``reports/cities/<city>/report.<lang>.html``, in its profile's
    languages (:func:`city_report_langs`): the city's sections, its recommendations and the
    annexes, without the other cities or the cross-city synthesis."""

    manifest = build_manifest(write=True)
    langs = langs or city_report_langs(load_profile(city))
    return [write_text(PATHS.reports / "cities" / city / f"report.{lang}.html",
                       render_html(lang, manifest, cities=[city])) for lang in langs]


# ===================================================================== PDF
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
)


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def pdf_path(lang: str = "en") -> Path:
    """``reports/report.pdf`` (English) or ``reports/report.<lang>.pdf``."""
    return PATHS.reports / f"report{text.file_suffix(lang)}.pdf"


def find_weasyprint():
    """The ``weasyprint`` module, or None when it (or the Pango library it needs) is missing."""
    try:
        import weasyprint
    except (ImportError, OSError):  # OSError: the module is there but Pango/HarfBuzz is not
        return None
    return weasyprint


def build_pdf(html: Path | None = None, pdf: Path | None = None, *, lang: str = "en",
              engine: str | None = None) -> Path | None:
    """Print the HTML report in ``lang`` to ``reports/report[.<lang>].pdf``.

    WeasyPrint (a pip dependency) does it: page numbers, a table of contents with page
    numbers, PDF bookmarks from the headings and the running "synthetic demonstration data"
    header come from the report's print CSS. Headless Chromium is the fallback when
    WeasyPrint cannot be imported; it ignores those print features.

    Parameters
    ----------
    html, pdf : Path, optional
        Default :func:`report_path` and :func:`pdf_path` of ``lang``.
    lang : {"en", "fr"}
    engine : {"weasyprint", "chromium"}, optional
        Force one engine; default WeasyPrint, else Chromium.

    Returns
    -------
    Path or None
        The PDF, or None (with a message saying what to install) when no engine is
        available or the HTML report was not built.
    """
    html = Path(html) if html is not None else report_path(lang)
    pdf = Path(pdf) if pdf is not None else pdf_path(lang)
    wp = find_weasyprint() if engine in (None, "weasyprint") else None
    exe = find_chromium() if wp is None and engine in (None, "chromium") else None
    if wp is None and exe is None:
        print("[skip] PDF: neither WeasyPrint nor Chromium is installed. Install WeasyPrint with "
              "`pip install weasyprint` (it needs the Pango library: `brew install pango` on macOS, "
              "`conda install -c conda-forge weasyprint` in conda), or Chromium with `apt-get install chromium`, "
              "then run `python -m analysis.publishing.report --pdf`.", flush=True)
        return None
    if not html.is_file():
        print(f"[skip] PDF: {_rel(html)} does not exist; build it first (python -m analysis.publishing.report --lang {lang})")
        return None
    with atomic_path(pdf) as tmp:
        tmp.unlink()  # an empty file left over would look like a PDF
        if wp is not None:
            # base_url: the report is self-contained; nothing is fetched
            wp.HTML(filename=str(html), base_url=str(html.parent)).write_pdf(str(tmp))
        else:
            cmd = [exe, *CHROMIUM_FLAGS, f"--print-to-pdf={tmp}", html.resolve().as_uri()]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
                raise RuntimeError(f"chromium failed to print {_rel(html)} (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-800:]}")
    print(f"[ ok ] report (pdf, {lang}) -> {_rel(pdf)}", flush=True)
    return pdf


def build_pdfs(langs: tuple[str, ...] | list[str] = LANGS) -> list[Path]:
    """:func:`build_pdf` for each language whose HTML report exists; the PDFs written."""
    out = []
    for lang in langs:
        path = build_pdf(lang=lang)
        if path is not None:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.publishing.report",
                                     description="Build the recommendations report (HTML, PDF).")
    parser.add_argument("--lang", choices=LANGS, action="append",
                        help="language of the HTML report (repeatable; default: en and fr)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print each language's HTML to reports/report[.fr].pdf")
    args = parser.parse_args(argv)
    langs = args.lang or list(LANGS)
    for lang in langs:
        path = build_report(lang)
        print(f"[ ok ] report ({lang}) -> {_rel(path)}", flush=True)
    if args.pdf:
        build_pdfs(langs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
