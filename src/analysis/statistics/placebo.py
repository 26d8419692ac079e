"""Placebo check of parallel trends on the comparison areas: a pilot effect where there was no pilot.

Owns the fixed split of a city's comparison neighbourhoods into two placebo arms and the placebo
difference-in-differences (the impact estimator, unchanged, on areas the pilot never touched).
Must not read the pilot areas' answers, and publishes only what :mod:`analysis.sdc` allows.

Why. Two survey waves give one before-after difference per area: they cannot show that pilot
and comparison areas were on parallel paths *before* the pilot, which is what a
difference-in-differences assumes. What they can show is whether areas with no pilot at all
move apart from one another between the waves. Half of the comparison neighbourhoods are
labelled "pilot" and the city's own estimator (:func:`analysis.statistics.impact.fit_effect`:
weighted DiD with neighbourhood, wave, age-group and gender terms, wild cluster restricted
bootstrap by neighbourhood) is run on the comparison areas alone. Its true value is zero. An
interval that excludes zero says that neighbourhoods of this city drift apart by that much
without any pilot, so a pilot effect of that size cannot be told from drift; an interval
around zero is reassuring only as far as its width goes, and says nothing about the pilot
areas' own path.

The split is fixed in advance, not chosen from the results: the comparison codes in natural
order (numbers by value, then text codes; :func:`natural_code_order`), the 1st, 3rd, 5th…
labelled "placebo pilot", the 2nd, 4th… "placebo comparison". It runs only with at least
:data:`MIN_COMPARISON_AREAS` comparison neighbourhoods (two per arm, the estimator's own
minimum, :data:`analysis.statistics.impact.MIN_CLUSTERS_PER_ARM`); otherwise the row carries
a reason code (:data:`REASONS`). One fixed split rather than the average over every split:
with equal arms each split has its mirror image (the arms swapped), whose estimate is the same
number with the opposite sign, so that average is zero by construction and tests nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.config import SEED
from analysis.inputs.profile import code_key
from analysis.statistics.bootstrap import B_DEFAULT
from analysis.statistics.design import MIN_COMPARISON_AREAS
from analysis.statistics.evidence import MAIN_INDICATORS
from analysis.statistics.impact import fit_effect

#: Reason codes of a placebo not run (``status`` "not_applicable"); a placebo that was run but
#: withheld carries the impact estimator's own codes (:data:`analysis.statistics.impact.REASONS`).
REASONS: tuple[str, ...] = ("no_comparison_areas", "few_comparison_areas")

#: Columns of ``placebo.csv``.
COLUMNS: tuple[str, ...] = ("city", "outcome", "placebo_pilot_areas", "placebo_comparison_areas", "status",
                            "reason", "estimate", "ci_low", "ci_high", "p_value", "verdict", "inference",
                            "inference_B", "n", "n_clusters", "n_clusters_treated", "min_cell")


def natural_code_order(codes: list[str]) -> list[str]:
    """Codes sorted as a reader expects: all-digit codes by value, then the others as text.

    >>> natural_code_order(["36", "37", "18", "19", "20"])
    ['18', '19', '20', '36', '37']
    >>> natural_code_order(["AU08", "AU02", "AU05"])
    ['AU02', 'AU05', 'AU08']
    """
    def key(c: str):
        k = code_key(c)
        return (0, int(k), k) if k.isdigit() else (1, 0, k)
    return sorted(codes, key=key)


def placebo_split(comparison_areas: list[str]) -> tuple[list[str], list[str]]:
    """The fixed placebo split: ``(placebo pilot, placebo comparison)`` codes.

    In natural code order, alternately: 1st, 3rd, 5th… placebo pilot; 2nd, 4th… placebo
    comparison. Five areas give three and two.

    >>> placebo_split(["36", "37", "18", "19", "20"])
    (['18', '20', '37'], ['19', '36'])
    """
    ordered = natural_code_order(list(comparison_areas))
    return ordered[0::2], ordered[1::2]


def placebo_frame(respondents: pd.DataFrame, comparison_areas: list[str]) -> pd.DataFrame:
    """The comparison areas' respondents only, half of their neighbourhoods relabelled ``"pilot"``.

    ``pilot_area`` becomes ``"pilot"`` for the placebo pilot arm and stays ``"comparison"``
    for the other; every other row (pilot areas, the rest of the city) is dropped, so no
    answer from a pilot area can enter the placebo.
    """
    fake, _ = placebo_split(comparison_areas)
    comp = respondents["pilot_area"].astype("str") == "comparison"
    df = respondents.loc[comp].copy()
    nbh = df["neighbourhood"].astype("str")
    df["pilot_area"] = np.where(nbh.isin(fake), "pilot", "comparison")
    return df


def placebo_effects(respondents: pd.DataFrame, profile, *, indicators: tuple[str, ...] = MAIN_INDICATORS,
                    weights: str | None = "weight", B: int = B_DEFAULT, weight_type: str = "auto",
                    seed: int = SEED, alpha: float = 0.05) -> pd.DataFrame:
    """The placebo DiD of each main indicator on the comparison areas (``placebo.csv``).

    Parameters
    ----------
    respondents : pandas.DataFrame
        Processed residents with ``pilot_area`` and the weight column.
    profile : CityProfile
    indicators : tuple of str
        Outcomes tested (default the evidence rating's main indicators).
    weights, B, weight_type, seed
        As :func:`analysis.statistics.impact.fit_effect` (the city's impact settings).
    alpha : float
        Level of the verdict: ``differential_trend`` when the placebo's WCR p-value is below it
        (the interval itself is always the estimator's 95 % one).

    Returns
    -------
    pandas.DataFrame
        One row per indicator, :data:`COLUMNS`. ``status`` is ``estimated`` or, with
        ``reason``, ``not_applicable`` (:data:`REASONS`: no or fewer than
        :data:`MIN_COMPARISON_AREAS` comparison areas) or the estimator's own status and code
        (``suppressed``/``small_cell``, ``not_estimable``/``few_clusters_per_arm``…).
        ``verdict``: ``differential_trend`` (p < ``alpha``) or ``no_differential_trend_detected``;
        blank when not estimated. ``n`` and ``min_cell`` are counts of respondents (published
        rounded by :func:`analysis.io.write_table`); no degrees of freedom are published.
    """
    comparison = list(profile.pilot.comparison_areas)
    fake, real = placebo_split(comparison)
    base = {"city": profile.city, "placebo_pilot_areas": " ".join(fake), "placebo_comparison_areas": " ".join(real)}
    rows = []
    if not comparison or len(comparison) < MIN_COMPARISON_AREAS:
        reason = "no_comparison_areas" if not comparison else "few_comparison_areas"
        for outcome in indicators:  # no split shown: none was made
            rows.append({"city": profile.city, "outcome": outcome, "status": "not_applicable", "reason": reason})
        return _frame(rows)
    data = placebo_frame(respondents, comparison)
    for outcome in indicators:
        # the published impact settings (95 % interval, withheld when the design cannot support it)
        est = fit_effect(data, outcome, design="did", weights=weights, B=B, weight_type=weight_type, seed=seed)
        row = {**base, "outcome": outcome, "status": est.status, "reason": est.reason,
               "n": est.n, "n_clusters": est.n_clusters, "n_clusters_treated": est.n_clusters_treated,
               "min_cell": est.min_cell}
        if est.status == "estimated":
            row.update(estimate=est.estimate, ci_low=est.ci_low, ci_high=est.ci_high, p_value=est.p_value,
                       inference=est.inference, inference_B=est.inference_B,
                       verdict="differential_trend" if est.p_value < alpha else "no_differential_trend_detected")
        rows.append(row)
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    out = out[list(COLUMNS)]
    for c in ("n", "min_cell", "n_clusters", "n_clusters_treated", "inference_B"):
        out[c] = pd.array(pd.to_numeric(out[c], errors="coerce").round(), dtype="Int64")
    return out
