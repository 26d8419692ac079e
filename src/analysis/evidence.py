"""How much a city's estimates can be trusted, and what they say, in plain words.

The rating follows the spirit of the Maryland Scientific Methods Scale (Sherman et al.
1997; levels 1-5) and of EMMIE (Johnson, Tilley & Bowers 2015: Effect, Mechanism,
Moderators, Implementation, Economics): a design sets the starting level (3 for a
difference-in-differences against comparison areas, 2 for a before/after comparison in
the pilot areas alone), and each threat found in the data lowers it by one, never below
1. Every criterion is listed with its value, threshold and consequence, so the rating
can be argued with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import codebook
from .disclosure import publish_count

MAIN_INDICATORS: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark")
MIN_CLUSTERS = 10
MIN_CELL = 100
MAX_STD_DIFF = 0.25
MIN_FIDELITY = 0.75
LEVEL_WORDS = {3: "moderate", 2: "weak", 1: "very weak"}
LEVEL_WORDS_FR = {3: "modéré", 2: "faible", 1: "très faible"}


def rate_evidence(residents: pd.DataFrame, balance: pd.DataFrame, implementation: dict,
                  profile) -> tuple[pd.DataFrame, dict]:
    """Rate the strength of a city's evidence and give the reasons.

    Parameters
    ----------
    residents : pandas.DataFrame
        The residents' rows of ``impact.csv`` (:func:`analysis.impact.resident_effects`).
    balance : pandas.DataFrame
        :func:`analysis.impact.balance_table`.
    implementation : dict
        :func:`analysis.implementation.implementation_summary`.
    profile : CityProfile

    Returns
    -------
    (pandas.DataFrame, dict)
        The criteria table (``evidence.csv``: city, criterion, value, threshold, met,
        consequence) and the rating: ``level`` (1-3), ``base_level``, ``design``,
        ``strength`` ("moderate", "weak", "very weak"), ``reasons`` (list) and ``text``.
    """
    did = profile.has_comparison
    base = 3 if did else 2
    design_txt = ("difference-in-differences with comparison areas" if did
                  else "before/after in the pilot areas, no comparison area")
    overall = residents[residents["group"] == "all"]
    main = overall[overall["outcome"].isin(MAIN_INDICATORS)]
    n_clusters = int(overall["n_clusters"].max()) if len(overall) else 0
    n_treated = int(overall["n_clusters_treated"].max()) if len(overall) else 0
    min_cell = int(main["min_cell"].min()) if len(main) else 0
    imbalanced = balance[balance["imbalanced"]]
    worst = float(balance["std_diff"].abs().max()) if balance["std_diff"].notna().any() else float("nan")
    fidelity = implementation.get("fidelity", float("nan"))

    rows = [
        dict(criterion="design", value=design_txt, threshold="comparison areas (level 3) or not (level 2)",
             met=did, consequence=f"starting level {base}"),
        dict(criterion="clusters (neighbourhoods)", value=n_clusters, threshold=f">= {MIN_CLUSTERS}",
             met=n_clusters >= MIN_CLUSTERS,
             consequence="" if n_clusters >= MIN_CLUSTERS else
             "downgrade: few clusters, inference rests on the wild cluster bootstrap and is imprecise"),
        dict(criterion="pilot neighbourhoods", value=n_treated, threshold=">= 2",
             met=n_treated >= 2,
             consequence="" if n_treated >= 2 else
             "downgrade: one pilot neighbourhood, its effect cannot be told from its own shocks"),
        dict(criterion="smallest design cell (area x wave)", value=publish_count(min_cell),  # rounded
             threshold=f">= {MIN_CELL}",
             met=min_cell >= MIN_CELL,
             consequence="" if min_cell >= MIN_CELL else "downgrade: small samples"),
        dict(criterion="baseline balance (max |standardised difference|)" if did else
             "sample composition change in pilot areas (max |standardised difference|)",
             value=round(worst, 3) if np.isfinite(worst) else "n/a", threshold=f"<= {MAX_STD_DIFF}",
             met=len(imbalanced) == 0,
             consequence="" if len(imbalanced) == 0 else
             "downgrade: imbalanced on " + ", ".join(imbalanced["variable"])),
        dict(criterion="implementation fidelity (share of activities in pilot areas)",
             value=round(fidelity, 3) if np.isfinite(fidelity) else "no activity log",
             threshold=f">= {MIN_FIDELITY}",
             met=bool(np.isfinite(fidelity) and fidelity >= MIN_FIDELITY),
             consequence="" if np.isfinite(fidelity) and fidelity >= MIN_FIDELITY else
             ("downgrade: weak implementation" if np.isfinite(fidelity) else
              "downgrade: implementation undocumented")),
    ]
    table = pd.DataFrame(rows)
    table.insert(0, "city", profile.city)
    table["met"] = table["met"].astype(bool)
    reasons = [r["consequence"].removeprefix("downgrade: ") for r in rows[1:] if not r["met"]]
    level = max(1, base - len(reasons))
    table.loc[len(table)] = [profile.city, "rating", f"level {level}", "Maryland SMS-style, 1-5",
                             True, LEVEL_WORDS[level]]
    text = (f"Level {level} ({LEVEL_WORDS[level]} evidence): {design_txt}"
            + (f", downgraded from level {base} for " + "; ".join(reasons) if reasons else "")
            + ".")
    rating = dict(city=profile.city, level=level, base_level=base, design="did" if did else "pre_post",
                  strength=LEVEL_WORDS[level], reasons=reasons, text=text)
    return table, rating


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
        verdict = ("the interval excludes zero (no change)" if sig else "the data are consistent with no change")
        lines.append(f"- {lab}: {change} by {abs(r['estimate']):.2f} points on its {r['scale']} scale in the "
                     f"pilot areas {contrast} (95% CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}, "
                     f"p = {r['p_value']:.3f}); {verdict}.")
    sup = residents[(residents["group"] == "all") & residents["estimate"].isna()]
    if len(sup):
        lines.append("- Not estimated: " + ", ".join(sup["outcome"]) + " (" + sup["note"].iloc[0] + ").")
    grp = residents[(residents["group"] != "all") & residents["diff_p_value"].notna()]
    differ = grp[grp["diff_p_value"] < alpha]
    if len(grp):
        if len(differ):
            items = "; ".join(f"{codebook.TARGET_GROUPS[g].label_en.lower()} on "
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
        lines.append("- Threats to validity found: " + "; ".join(rating["reasons"]) + ".")
    if profile.synthetic:
        lines.append("These figures come from SYNTHETIC demonstration data, not real survey results.")
    return "\n".join(lines)
