"""One city's evaluation as a result: the design summary, the weights attached, the results object.

Owns the statistics-only parts of a city's evaluation: the respondents-by-area table, the
weight column joined to the respondents, and :class:`CityEvaluation`, the results the impact
step, its notebook and its figures share. Must not read or write files, nor choose the order
of the estimators: :func:`analysis.running.steps.impact` runs the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.sdc import publish_count
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
