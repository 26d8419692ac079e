"""The report's tables as HTML: cells, headers, notes, and the impact, implementation, balance,
evidence, neighbourhood and weighting tables.

Owns turning a published table into an accessible HTML table in one language. Must not read
files other than through :mod:`analysis.publishing.report_inputs`, nor estimate anything.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS
from analysis.publishing.recommendations import fmt_num, fmt_p, group_label, outcome_label
from analysis.sdc import is_count_column, publish_counts
from analysis.publishing.recommendations import table_anchor
from analysis.publishing.recommendations import city_name
from analysis.publishing import tables
from analysis.publishing.report_inputs import CityData, read_table
from analysis.statistics.evidence import MAX_STD_DIFF
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)


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
    intro = escape(tr("evidence.criteria_intro", lang))
    return (ratings_side_by_side_html(ev, lang) + f'<p class="note">{intro}</p>'
            + table_html(crit, lang, anchor=anchor))


def evidence_reasons(ev: pd.DataFrame, lang: str) -> str:
    """Why confidence is not high: the confidence rating's reasons, worded with their numbers."""
    return "; ".join(reason_text(c, lang, v, t) for c, v, t in evidence_ratings(ev).get("reasons", []))



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
