"""The report's methods annex: sampling and response, design effects, reliability, placebo,
regression to the mean, the officer design, cost and the disclosure rule.

Owns the annex's rows and sentences from the published tables and profiles. Must not estimate
anything: the numbers come from the steps' tables.
"""

from __future__ import annotations

import math

import pandas as pd
from babel.numbers import format_currency

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS
from analysis.publishing.recommendations import fmt_num, fmt_p
from analysis.publishing.report_inputs import CityData, Reason, read_table
from analysis.publishing.report_tables import table_html
from analysis.statistics.evidence import MAX_STD_DIFF
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)
from analysis.publishing.text import fmt_date, fmt_pct, localized
from analysis.sdc import ROUNDING_BASE
from analysis.statistics.evidence import MAIN_INDICATORS
from analysis.statistics.design import MIN_COMPARISON_AREAS


# ===================================================================== methods annex (issue 12 §5)
def _annex_table(city: str, name: str) -> tuple[pd.DataFrame | None, Reason | None]:
    return read_table(name, city)


def _city_tables(cities: list[CityData], name: str, lang: str, missing: list[str]):
    """``(city, table)`` for each city that published the table ``name``; the others go to
    ``missing``, with the reason ("Amiens (… missing)")."""
    for c in cities:
        df, why = _annex_table(c.city, name)
        if df is None:
            missing.append(f"{c.name} ({why.text(lang)})")
            continue
        yield c, df


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
    for c, df in _city_tables(cities, "weighting", lang, missing):
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
    for c, df in _city_tables(cities, "reliability", lang, missing):
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
    for c, df in _city_tables(cities, "placebo", lang, missing):
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
