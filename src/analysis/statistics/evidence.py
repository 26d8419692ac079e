"""Three separate ratings of a city's evidence, and a plain reading of the estimates.

Owns the three ratings of a city's evidence (design, confidence, effect) and their codes.
Must not estimate effects: it rates the estimates analysis.statistics.impact made.

In the manner of the College of Policing's Crime Reduction Toolkit (EMMIE: Johnson,
Tilley & Bowers 2015), three things are kept apart, because they answer different
questions:

1. **Design strength** on the Maryland Scientific Methods Scale (Sherman et al. 1997;
   Farrington et al. 2002), from the design *alone*: before/after with comparison areas
   (difference-in-differences) is level 3, before/after without comparison areas is
   level 2. Nothing found in the data moves it: few clusters are a precision problem,
   not a weaker design, and a baseline *level* gap between pilot and comparison areas is
   differenced out by the DiD.
2. **Confidence in this estimate**: high, moderate or low, with its reasons (codes):
   few clusters, fewer than 2 pilot or comparison neighbourhoods, small design cells, a
   wide interval, an imbalance in *trends* (the sample's make-up changed differently in
   pilot and comparison areas, or, without comparison areas, changed between waves),
   weak or undocumented implementation. No reason: high; one: moderate; two or more, or
   one pilot or comparison neighbourhood, or a trend imbalance: low. An outcome the city
   never collected is skipped: it never lowers a rating.
3. **The effect**: for each main indicator, its direction (``increase``, ``decrease``,
   ``no_detectable_change``) and size with its 95 % interval, or why there is none
   (``not_collected``, ``suppressed``, ``not_estimable``).

``evidence.csv`` holds codes and numbers only (columns :data:`EVIDENCE_COLUMNS`); the
report renders them in English and French from its catalogue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.sdc import publish_count
from analysis.config import K_SUPPRESS

MAIN_INDICATORS: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark")
MIN_CLUSTERS = 10
MIN_UNITS = 2
MIN_CELL = 100
MAX_STD_DIFF = 0.25
MIN_FIDELITY = 0.75
#: Widest acceptable 95 % interval, as a share of the indicator's scale range (median
#: over the main indicators estimated): 0.2 is 2 points on a 0-10 scale.
MAX_REL_WIDTH = 0.2
#: Design strength (Maryland SMS level) from the design alone.
SMS_LEVEL = {"did": 3, "pre_post": 2}
#: Confidence levels, as integers in the table (3 high, 2 moderate, 1 low).
CONFIDENCE = {3: "high", 2: "moderate", 1: "low"}
#: Reasons that make the confidence low on their own.
SEVERE = ("one_pilot_unit", "few_comparison_units", "trend_imbalance")
#: Columns of ``evidence.csv`` (after ``city``): codes and numbers only (schema
#: :data:`analysis.publishing.tables.SCHEMAS` ``evidence``). ``code`` holds the design code,
#: the confidence code or an effect's direction; ``value`` is always a number.
EVIDENCE_COLUMNS = ("city", "rating", "criterion", "code", "value", "threshold", "met", "level", "reason",
                    "ci_low", "ci_high", "scale")
COVARIATES_RATED = ("age", "female", "migrant")


def _wmean(x: pd.Series, w: pd.Series) -> tuple[float, int]:
    ok = x.notna() & w.notna()
    if not ok.any():
        return float("nan"), 0
    return float(np.average(x[ok].astype(float), weights=w[ok].astype(float))), int(ok.sum())


def composition_trends(respondents: pd.DataFrame, profile, *, weights: str | None = "weight",
                       k: int | None = None) -> pd.DataFrame:
    """How the samples' make-up moved between waves: the "trend" part of balance.

    DiD: for age, share of women and share of migrant background, the standardised
    difference-in-differences [(pilot follow-up - pilot baseline) - (comparison
    follow-up - comparison baseline)] / sd, sd the weighted standard deviation over the
    pilot and comparison respondents of both waves. A level gap that is the same in both
    waves cancels out (the DiD removes it); a gap that opens or closes between waves would
    be read as an effect. Pre/post: (pilot follow-up - pilot baseline) / sd. Cells under
    ``k`` respondents give NaN.

    Returns
    -------
    pandas.DataFrame
        ``variable``, ``std_trend_diff``, ``n_min`` (smallest cell).
    """

    k = K_SUPPRESS if k is None else k
    df = respondents.copy()
    df["_w"] = df[weights].astype(float) if weights is not None else 1.0
    df["female"] = (df["gender"] == "female").astype("Float64").where(df["gender"].notna())
    df["migrant"] = df["migrant_background"].astype("Float64")
    areas = ("pilot", "comparison") if profile.has_comparison else ("pilot",)
    df = df[df["pilot_area"].isin(areas)]
    rows = []
    for var_ in COVARIATES_RATED:
        if var_ not in df.columns:
            continue
        x = df[var_].astype("Float64")
        means, ns = {}, []
        for area in areas:
            for wave in ("baseline", "follow_up"):
                sel = (df["pilot_area"] == area) & (df["wave"] == wave)
                means[area, wave], n = _wmean(x[sel], df.loc[sel, "_w"])
                ns.append(n)
        ok = x.notna()
        m = np.average(x[ok].astype(float), weights=df.loc[ok, "_w"]) if ok.any() else np.nan
        sd = float(np.sqrt(np.average((x[ok].astype(float) - m) ** 2, weights=df.loc[ok, "_w"]))) \
            if ok.any() else np.nan
        change = means["pilot", "follow_up"] - means["pilot", "baseline"]
        if profile.has_comparison:
            change -= means["comparison", "follow_up"] - means["comparison", "baseline"]
        small = min(ns) < k
        rows.append({"variable": var_, "std_trend_diff": np.nan if small or not sd > 0 else change / sd,
                     "n_min": min(ns)})
    return pd.DataFrame(rows, columns=["variable", "std_trend_diff", "n_min"])


def _scale_span(scale) -> float:
    try:
        lo, hi = (float(v) for v in str(scale).split("-"))
        return hi - lo
    except ValueError:
        return float("nan")


def _not_collected(row) -> bool:
    return row.get("status") == "not_collected"  # the impact table's code


def effect_direction(row, alpha: float = 0.05) -> str:
    """Code of an effect: increase / decrease / no_detectable_change, or why none (from the
    impact table's ``status`` code)."""
    if _not_collected(row):
        return "not_collected"
    est = row.get("estimate")
    if est is None or not np.isfinite(float(est)):
        return "suppressed" if row.get("status") == "suppressed" else "not_estimable"
    lo, hi = float(row.get("ci_low", np.nan)), float(row.get("ci_high", np.nan))
    if np.isfinite(lo) and lo > 0:
        return "increase"
    if np.isfinite(hi) and hi < 0:
        return "decrease"
    return "no_detectable_change"


def rate_evidence(residents: pd.DataFrame, balance: pd.DataFrame, implementation: dict,
                  profile, trends: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Rate a city's evidence three ways: design strength, confidence, effect.

    Parameters
    ----------
    residents : pandas.DataFrame
        The residents' rows of ``impact.csv`` (:func:`analysis.statistics.impact.resident_effects`).
    balance : pandas.DataFrame
        :func:`analysis.statistics.impact.balance_table`. DiD: the baseline gap is reported (row
        ``baseline_gap``, never rated). Pre/post: its rated rows are the composition
        change between waves, used as the trend criterion when ``trends`` is None.
    implementation : dict
        :func:`analysis.statistics.implementation.implementation_summary`.
    profile : CityProfile
    trends : pandas.DataFrame, optional
        :func:`composition_trends`. Without it a DiD city's trend criterion is
        ``not_assessed`` (it lowers nothing, and says so).

    Returns
    -------
    (pandas.DataFrame, dict)
        The table (``evidence.csv``, columns :data:`EVIDENCE_COLUMNS`; ``rating`` is
        ``design``, ``confidence``, ``effect`` or ``info``; ``criterion`` a code; ``code``
        the design, confidence or direction code; ``value`` a number; ``level`` an integer
        on the rating rows; ``reason`` codes, ``;``-separated on the summary row) and a dict: ``level`` (the SMS design level, 2 or 3), ``design``,
        ``confidence`` ("high", "moderate", "low"), ``confidence_level`` (3, 2, 1),
        ``reasons`` (confidence reason codes), ``effects`` (outcome -> direction code)
        and ``text`` (English).
    """
    did = profile.has_comparison
    design = "did" if did else "pre_post"
    sms = SMS_LEVEL[design]
    overall = residents[residents["group"] == "all"]
    main = overall[overall["outcome"].isin(MAIN_INDICATORS)]
    collected = main[[not _not_collected(r) for r in main.to_dict("records")]]
    # rows of outcomes not collected carry no counts (NaN): the max skips them
    n_clusters = int(np.nan_to_num(pd.to_numeric(overall["n_clusters"], errors="coerce").max())) \
        if len(overall) else 0
    n_treated = int(np.nan_to_num(pd.to_numeric(overall["n_clusters_treated"], errors="coerce").max())) \
        if len(overall) else 0
    n_comparison = n_clusters - n_treated if did else 0
    estimated = collected[collected["estimate"].notna()]
    min_cell = int(estimated["min_cell"].min()) if len(estimated) else \
        (int(collected["min_cell"].min()) if len(collected) and collected["min_cell"].notna().any() else 0)
    fidelity = implementation.get("fidelity", float("nan"))

    rows: list[dict] = [dict(rating="design", criterion="design", code=design, value=np.nan, threshold=np.nan,
                             met=np.nan, level=sms, reason="")]

    def crit(name, value, threshold, met, reason):
        rows.append(dict(rating="confidence", criterion=name, value=value, threshold=threshold,
                         met=met, level=np.nan, reason="" if met or met is None else reason))

    if pd.to_numeric(overall["n_clusters"], errors="coerce").notna().any():
        # (no counts at all: nothing was collected, and "not collected" lowers nothing)
        crit("clusters", n_clusters, MIN_CLUSTERS, n_clusters >= MIN_CLUSTERS, "few_clusters")
        crit("pilot_units", n_treated, MIN_UNITS, n_treated >= MIN_UNITS, "one_pilot_unit")
        if did:
            crit("comparison_units", n_comparison, MIN_UNITS, n_comparison >= MIN_UNITS, "few_comparison_units")
    if len(collected):
        crit("min_cell", publish_count(min_cell), MIN_CELL, min_cell >= MIN_CELL, "small_samples")
    # interval width, relative to each indicator's scale; median over the main indicators
    # the city collected (an outcome not collected is skipped, never counted against it);
    # a collected main indicator without an interval (not estimable with this design, or
    # suppressed) counts as infinitely wide: it lowers confidence, it is not skipped
    rel = [(r["ci_high"] - r["ci_low"]) / _scale_span(r["scale"]) if pd.notna(r["estimate"]) else np.inf
           for r in collected.to_dict("records")]
    rel = [x if np.isfinite(x) or x == np.inf else np.nan for x in rel]
    rel = [x for x in rel if not np.isnan(x)]
    if rel:
        width = float(np.median(rel))
        crit("interval_width", round(width, 3) if np.isfinite(width) else width, MAX_REL_WIDTH,
             bool(width <= MAX_REL_WIDTH), "wide_interval")
    # imbalance in trends (never a level gap, which the DiD removes)
    if trends is None and not did:
        rated = balance[balance["used_in_rating"].astype(bool)] if "used_in_rating" in balance else balance
        trends = pd.DataFrame({"variable": rated["variable"], "std_trend_diff": rated["std_diff"]})
    if trends is not None and trends["std_trend_diff"].notna().any():
        worst = float(trends["std_trend_diff"].abs().max())
        crit("trend_balance", round(worst, 3), MAX_STD_DIFF, bool(worst <= MAX_STD_DIFF), "trend_imbalance")
    else:
        rows.append(dict(rating="confidence", criterion="trend_balance", value=np.nan, threshold=MAX_STD_DIFF,
                         met=np.nan, level=np.nan, reason="not_assessed"))
    if np.isfinite(fidelity):
        crit("fidelity", round(float(fidelity), 3), MIN_FIDELITY, bool(fidelity >= MIN_FIDELITY), "low_fidelity")
    else:
        crit("fidelity", np.nan, MIN_FIDELITY, False, "implementation_undocumented")
    if did and "used_in_rating" in balance.columns:
        # Reported for transparency: DiD differences a constant gap out, so it lowers nothing.
        rated = balance[balance["used_in_rating"].astype(bool)]
        gap = float(rated["std_diff"].abs().max()) if rated["std_diff"].notna().any() else np.nan
        rows.append(dict(rating="info", criterion="baseline_gap", value=round(gap, 3) if np.isfinite(gap) else gap,
                         threshold=MAX_STD_DIFF, met=np.nan, level=np.nan, reason=""))

    reasons = [r["reason"] for r in rows if r["rating"] == "confidence" and r["reason"]
               and r["reason"] != "not_assessed"]
    conf = 3 if not reasons else (1 if len(reasons) >= 2 or any(r in SEVERE for r in reasons) else 2)
    rows.append(dict(rating="confidence", criterion="confidence", code=CONFIDENCE[conf], value=np.nan,
                     threshold=np.nan, met=np.nan, level=conf, reason=";".join(reasons)))

    effects = {}
    for outcome in MAIN_INDICATORS:
        d = main[main["outcome"] == outcome]
        if d.empty:
            r = {"status": "not_collected", "estimate": np.nan}
            scale = ""
        else:
            r = d.iloc[0].to_dict()
            scale = r.get("scale", "")
        direction = effect_direction(r)
        effects[outcome] = direction
        rows.append(dict(rating="effect", criterion=outcome, code=direction, value=r.get("estimate", np.nan),
                         threshold=np.nan, met=np.nan, level=np.nan, reason="", ci_low=r.get("ci_low", np.nan),
                         ci_high=r.get("ci_high", np.nan), scale=scale))

    table = pd.DataFrame(rows)
    table.insert(0, "city", profile.city)
    table = table.reindex(columns=list(EVIDENCE_COLUMNS))
    table["level"] = pd.array(table["level"], dtype="Int64")
    table["met"] = pd.array([None if pd.isna(m) else bool(m) for m in table["met"]], dtype="boolean")
    design_txt = ("before/after with comparison areas (difference-in-differences)" if did
                  else "before/after in the pilot areas, no comparison area")
    text = (f"Design: Maryland level {sms} ({design_txt}). Confidence in the estimates: {CONFIDENCE[conf]}"
            + (" (" + ", ".join(REASON_EN[r] for r in reasons) + ")" if reasons else "") + ".")
    rating = dict(city=profile.city, level=sms, base_level=sms, design=design, confidence=CONFIDENCE[conf],
                  confidence_level=conf, reasons=reasons, effects=effects, text=text,
                  strength=CONFIDENCE[conf])
    return table, rating


#: English wording of the reason codes, for :func:`reading` (the report has its own catalogue).
REASON_EN = {
    "few_clusters": f"fewer than {MIN_CLUSTERS} neighbourhoods",
    "one_pilot_unit": "one pilot neighbourhood",
    "few_comparison_units": "fewer than 2 comparison neighbourhoods",
    "small_samples": f"a design cell under {MIN_CELL} respondents",
    "wide_interval": "wide intervals",
    "trend_imbalance": "the samples' make-up changed differently over time",
    "low_fidelity": "weak implementation",
    "implementation_undocumented": "implementation undocumented",
}


def _fmt(x: float) -> str:
    if np.isinf(x):
        return "unbounded"
    return f"{x:+.2f}" if np.isfinite(x) else "n/a"


def reading(residents: pd.DataFrame, officers: pd.DataFrame, rating: dict, profile,
            alpha: float = 0.05) -> str:
    """A plain-language reading of the estimates: what they show and what they do not.

    Generated from the numbers (no hand-written per-city text), in English.
    """
    did = rating["design"] == "did"
    lines = []
    contrast = ("relative to the comparison areas" if did else "between the two survey waves")
    lines.append(f"{profile.name}: {rating['text']}")
    overall = residents[(residents["group"] == "all") & residents["estimate"].notna()]
    for _, r in overall.iterrows():
        lab = codebook.label(r["outcome"]).split(" (")[0]
        sig = r["p_value"] < alpha
        change = "rose" if r["estimate"] > 0 else "fell"
        verdict = ("the interval excludes zero" if sig else "the data are consistent with no change")
        lines.append(f"- {lab}: {change} by {abs(r['estimate']):.2f} points on its {r['scale']} scale in the "
                     f"pilot areas {contrast} (95% CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}, "
                     f"p = {r['p_value']:.3f}); {verdict}.")
    sup = residents[(residents["group"] == "all") & residents["estimate"].isna()]
    if len(sup):
        lines.append("- Not estimated: " + ", ".join(codebook.label(o).split(" (")[0] for o in sup["outcome"])
                     + " (" + str(sup["status"].iloc[0]).replace("_", " ") + ").")
    grp = residents[(residents["group"] != "all") & residents["diff_p_value"].notna()]
    differ = grp[grp["diff_p_value"] < alpha]
    if len(grp):
        if len(differ):
            items = "; ".join(f"{codebook.TARGET_GROUPS[g].label('en').lower()} on "
                              f"{codebook.label(o).split(' (')[0].lower()} ({_fmt(d)})"
                              for g, o, d in zip(differ["group"], differ["outcome"], differ["diff_vs_rest"]))
            lines.append(f"- Targeted groups: the effect differed from the rest for {items}.")
        else:
            lines.append("- Targeted groups: no group's effect differed detectably from the rest's.")
    tests = pd.concat([overall["p_value"], grp["diff_p_value"]]).dropna()
    n_sig = int((tests < alpha).sum())
    lines.append(f"- Of {len(tests)} tests, {n_sig} have p < {alpha}; about {len(tests) * alpha:.1f} "
                 "would by chance alone if the pilot had no effect, so single significant results "
                 "should not be over-read.")
    off = officers[officers["estimate"].notna()] if len(officers) else officers
    if len(off):
        sig_off = off[off["p_value"] < alpha]
        lines.append(f"- Officers: {len(sig_off)} of {len(off)} attitude items changed detectably "
                     f"({'trained vs untrained officers' if (off['design'] == 'did_trained').any() else 'before/after'}; "
                     "small samples).")
    lines.append("What the estimates do not show:")
    if did:
        lines.append("- They assume pilot and comparison areas would have moved in parallel without the "
                     "pilot; a local event in either set of neighbourhoods would be read as an effect.")
    else:
        lines.append("- Without a comparison area, a city-wide trend (news, policing elsewhere, the "
                     "season of the survey) cannot be told from the pilot's effect.")
    lines.append("- The surveys are repeated cross-sections (different residents in each wave): they "
                 "measure change in neighbourhoods, not in the people who took part.")
    if rating["reasons"]:
        lines.append("- Confidence lowered by: " + "; ".join(REASON_EN.get(r, r) for r in rating["reasons"]) + ".")
    if profile.synthetic:
        lines.append("These figures come from SYNTHETIC demonstration data, not real survey results.")
    return "\n".join(lines)
