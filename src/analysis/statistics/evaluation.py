"""One city's evaluation as a result: the design summary, the weights attached, the results object.

Owns the statistics-only parts of a city's evaluation: the respondents-by-area table, the
weight column joined to the respondents, and :class:`CityEvaluation`, the results the impact
step, its notebook and its figures share. Must not read or write files, nor choose the order
of the estimators: :func:`analysis.running.steps.impact` runs the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.config import K_SUPPRESS, SEED
from analysis.inputs import codebook
from analysis.sdc import publish_count
from analysis.statistics import implementation as imp
from analysis.statistics import placebo
from analysis.statistics.bootstrap import B_DEFAULT
from analysis.statistics.weights import weights_method


# ========================================================================= one city
def design_summary(respondents: pd.DataFrame, profile) -> pd.DataFrame:
    """Respondents and neighbourhoods by area type and wave, respondents in published form.

    Counts from 1 to k - 1 show as "<k", the others rounded to base 10
    (:func:`analysis.sdc.publish_count`): exact area totals minus the rounded
    neighbourhood counts of ``01-clean`` gave back hidden neighbourhood counts.
    """
    df = respondents[respondents["pilot_area"].isin(["pilot", "comparison", "other"])]
    tab = (df.groupby(["pilot_area", "wave"], observed=True)
           .agg(respondents=("wave", "size"), neighbourhoods=("neighbourhood", "nunique"))
           .reset_index())
    tab["respondents"] = tab["respondents"].map(lambda n: str(publish_count(n)))
    tab.insert(0, "design", "did" if profile.has_comparison else "pre_post")
    return tab


def with_weights(respondents: pd.DataFrame, weights: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Add the survey weight column ``weight`` from a city's weights.

    Parameters
    ----------
    respondents : DataFrame
        Processed respondents of one city.
    weights : DataFrame
        :func:`analysis.statistics.weights.city_weights` of those respondents, on their
        index (the ``weights.parquet`` product of ``01-clean``).

    Returns
    -------
    (DataFrame, str)
        The respondents with ``weight``, and the weighting method code
        (:data:`analysis.statistics.weights.METHODS`: ``raked_population``,
        ``raked_population_approx`` or ``unweighted_no_margins``), so that nothing says
        "raked to population" when it was not. Weights delivered with the data are kept
        (``"given"``).
    """

    df = respondents.copy()
    if "weight" in df.columns:
        return df, "given"
    if not weights.index.equals(df.index):
        raise ValueError("the weights are not on the respondents' index: weights and respondents "
                         "must come from the same cleaning run")
    df["weight"] = weights["weight"].astype(float)
    return df, weights_method(weights)


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


def annex_tables(respondents: pd.DataFrame, profile, implementation: dict, *, B: int = B_DEFAULT,
                 weight_type: str = "auto", seed: int = SEED) -> dict[str, pd.DataFrame]:
    """The methods annex's tables of one city (issue 12 §5), in published form, to be written
    beside its other tables.

    ``placebo`` (:func:`analysis.statistics.placebo.placebo_effects`: the impact estimator on
    the comparison areas split in two, expected zero, with the city's bootstrap settings),
    ``reliability`` (Cronbach's α of each index per wave, :func:`analysis.inputs.codebook.reliability`,
    blank below k complete answers: analysis.sdc rule 3) and ``cost``
    (:func:`analysis.statistics.implementation.cost_per_reach`).

    Parameters
    ----------
    respondents : DataFrame
        Processed respondents with the weight column (:func:`with_weights`).
    profile : CityProfile
    implementation : dict
        :func:`analysis.statistics.implementation.implementation_summary` of the city.
    """
    # an index the city never asked has no α (its items are absent or empty: no complete answer)
    absent = [i for ix in codebook.INDICES for i in ix.items if i not in respondents.columns]
    rel = codebook.reliability(respondents.assign(**{i: pd.NA for i in absent}) if absent else respondents)
    if len(rel):
        rel["alpha"] = rel["alpha"].where(rel["n_complete"] >= K_SUPPRESS)
    return {"placebo": placebo.placebo_effects(respondents, profile, B=B, weight_type=weight_type, seed=seed),
            "reliability": rel, "cost": imp.cost_per_reach(implementation, profile)}
