"""One city's evaluation: every estimator run on its cleaned data, and its tables written.

Owns the order of the estimators (weights, residents, officers, implementation, balance,
evidence, areas) and the tables they publish. Must not hold a statistic of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.config import K_SUPPRESS, SEED
from analysis.sdc import publish_count
from analysis.statistics.bootstrap import B_DEFAULT
from analysis.statistics.impact import balance_table, resident_effects
from analysis.statistics.weights import city_weights, weights_method
from analysis.statistics import evidence as ev
from analysis.statistics import implementation as imp
from analysis.statistics import officers as off
from analysis.io import read_processed
from analysis.publishing import tables
from analysis.inputs.profile import load_profile
from analysis.statistics.areas import write_area_table
from analysis.statistics.weights import weighting_annex

# ========================================================================= one city
def design_summary(respondents: pd.DataFrame, profile) -> pd.DataFrame:
    """Respondents and neighbourhoods by area type and wave, respondents in published form.

    Counts from 1 to k - 1 show as "<k", the others rounded to base 10
    (:func:`analysis.publishing.sdc.publish_count`): exact area totals minus the rounded
    neighbourhood counts of ``01-clean`` gave back hidden neighbourhood counts.
    """
    df = respondents[respondents["pilot_area"].isin(["pilot", "comparison", "other"])]
    tab = (df.groupby(["pilot_area", "wave"], observed=True)
           .agg(respondents=("wave", "size"), neighbourhoods=("neighbourhood", "nunique"))
           .reset_index())
    tab["respondents"] = tab["respondents"].map(lambda n: str(publish_count(n)))
    tab.insert(0, "design", "did" if profile.has_comparison else "pre_post")
    return tab


def with_weights(respondents: pd.DataFrame, profile) -> tuple[pd.DataFrame, str]:
    """Add the survey weight column ``weight`` (:func:`analysis.statistics.weights.city_weights`).

    Returns the frame and the weighting method code (:data:`analysis.statistics.weights.METHODS`:
    ``raked_population``, ``raked_population_approx`` or ``unweighted_no_margins``), so
    that nothing says "raked to population" when it was not. Given weights are kept
    (``"given"``).
    """

    df = respondents.copy()
    if "weight" in df.columns:
        return df, "given"
    w = city_weights(respondents, profile)
    df["weight"] = pd.Series(w["weight"], index=df.index).astype(float)
    df.attrs["weights"] = w
    return df, weights_method(w)


@dataclass
class CityEvaluation:
    """Everything the impact notebook shows for one city."""

    city: str
    synthetic: bool
    design: str
    weighting: str
    summary: pd.DataFrame
    balance: pd.DataFrame
    residents: pd.DataFrame
    officers: pd.DataFrame
    implementation: dict
    evidence: pd.DataFrame
    rating: dict
    impact: pd.DataFrame = field(init=False)

    def __post_init__(self):
        self.impact = pd.concat([self.residents, self.officers], ignore_index=True)


def evaluate_city(city: str, *, B: int = B_DEFAULT, weight_type: str = "auto", seed: int = SEED,
                  write: bool = True) -> CityEvaluation:
    """Run the whole impact evaluation of ``city`` and write its tables.

    Reads the processed respondents, officers and activities, estimates the residents'
    and officers' effects, implementation and balance, rates the evidence, and writes
    ``reports/tables/<city>/{impact,evidence,implementation,balance}.csv``.
    """

    profile = load_profile(city)
    resp, weighting = with_weights(read_processed(city, "respondents"), profile)
    residents = resident_effects(resp, profile, B=B, weight_type=weight_type, seed=seed)
    try:
        officers_df = read_processed(city, "officers")
    except FileNotFoundError:
        officers_df = None
    officers = off.officer_effects(officers_df, profile)
    sensitivity = off.officer_sensitivity(officers_df, profile)
    try:
        activities = read_processed(city, "activities")
    except FileNotFoundError:
        activities = None
    implementation = imp.implementation_summary(activities, profile)
    balance = balance_table(resp, profile)
    evidence, rating = ev.rate_evidence(residents, balance, implementation, profile,
                                        trends=ev.composition_trends(resp, profile))
    result = CityEvaluation(city=city, synthetic=profile.synthetic,
                            design="did" if profile.has_comparison else "pre_post",
                            weighting=weighting, summary=design_summary(resp, profile),
                            balance=balance, residents=residents, officers=officers,
                            implementation=implementation, evidence=evidence, rating=rating)
    if write:
        # every table goes through the contract (analysis.publishing.tables): validated on write
        synth = profile.synthetic
        tables.write("impact", result.impact, city=city, synthetic=synth)
        tables.write("evidence", evidence, city=city, synthetic=synth)
        tables.write("implementation", implementation["table"], city=city, synthetic=synth)
        tables.write("balance", balance, city=city, synthetic=synth)
        tables.write("officers_sensitivity", sensitivity, city=city, synthetic=synth)
        if "weights" in resp.attrs:

            annex = weighting_annex(read_processed(city, "respondents"), resp.attrs["weights"], profile)
            # counts of imputed respondents are small by nature: published only from k up
            annex["n_imputed"] = annex["n_imputed"].where(annex["n_imputed"].eq(0) | annex["n_imputed"].ge(K_SUPPRESS))
            tables.write("weighting", annex, city=city, synthetic=synth)
        # area-level estimates (pilot, comparison, rest of the city), computed the same way
        # in both waves: the like-for-like trend of the exploration and the dashboard

        write_area_table(city)
    return result


