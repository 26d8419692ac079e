"""One package function per pipeline step: the whole call sequence of a step, in one place.

Owns the order of the package calls of each step — what it reads, which estimators it runs,
which tables, figures and processed products (the survey weights) it writes — and the small
result object the notebook displays. Must not compute a statistic, word a sentence or draw a
figure itself: the stage modules below do; the notebooks only display what a step returns.

:func:`clean` (``01-clean``), :func:`neighbourhoods` (``02-neighbourhoods``), :func:`impact`
(``03-impact``) and :func:`compare_cities` (``04-compare-cities``) are what the notebook
templates, :mod:`analysis.running.inprocess` and ``benchmarks/bench_pipeline.py`` all call,
so the three cannot drift apart. :func:`analysis.running.pipeline.notebook_modules` reads the
body of the function a template calls (``ast``) to know which modules the step depends on.

The survey weights are computed once, by :func:`clean` (both ``02`` and ``03`` follow ``01``),
and saved as ``data/processed/<city>/weights.parquet``; the later steps read that product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis import io
from analysis.config import K_SUPPRESS, SEED
from analysis.geography import geo, maps
from analysis.inputs import clean as cleaning
from analysis.inputs.profile import CityProfile, load_profile
from analysis.publishing import figures, impact_figures, tables
from analysis.statistics import areas, estimates, evaluation, evidence, implementation, synthesis, weights
from analysis.statistics import impact as did
from analysis.statistics import officers as off
from analysis.statistics.bootstrap import B_DEFAULT

#: The processed product holding a city's survey weights (written by :func:`clean`).
WEIGHTS = "weights"


# ======================================================================= 01-clean
@dataclass
class CleanStep:
    """What ``01-clean`` shows: the cleaning result, its quality tables and the weights."""

    profile: CityProfile
    result: cleaning.CleanResult
    #: :func:`analysis.inputs.clean.summary_tables` (``rows``, ``missingness``, ``coverage``,
    #: ``reliability``)
    tables: dict[str, pd.DataFrame]
    #: rejected rows by dataset, reason and column, published form
    rejections: pd.DataFrame
    #: :func:`analysis.statistics.weights.city_weights` of the processed respondents
    weights: pd.DataFrame
    written: list[Path] = field(default_factory=list)


def clean(city: str) -> CleanStep:
    """``01-clean``: clean the raw files, write ``data/processed/<city>/``, weight the respondents.

    Writes the processed datasets and cleaning log (:func:`analysis.inputs.clean.run_cleaning`)
    and the survey weights of the processed respondents, ``weights.parquet`` (on the
    respondents' row order, with the method codes in its metadata), which ``02`` and ``03``
    read instead of raking again.

    Parameters
    ----------
    city : str
        City slug (``config/cities/<city>.yml``).

    Returns
    -------
    CleanStep
    """

    profile = load_profile(city)
    result = cleaning.run_cleaning(city)
    respondents = io.read_processed(city, "respondents")  # as the later steps read them
    w = weights.city_weights(respondents, profile)
    path = io.write_parquet(w, io.processed_path(city, WEIGHTS))
    return CleanStep(profile=profile, result=result, tables=cleaning.summary_tables(result),
                     rejections=cleaning.rejection_counts(result), weights=w, written=[path])


# ============================================================== 02-neighbourhoods
@dataclass
class NeighbourhoodsStep:
    """What ``02-neighbourhoods`` shows: geometry, code join, weights, estimates and maps."""

    profile: CityProfile
    respondents: pd.DataFrame
    geometry: geo.CityGeometry
    survey_join: geo.JoinReport
    weights: pd.DataFrame
    #: :func:`analysis.statistics.weights.weight_summary` of the saved weights
    weight_summary: pd.DataFrame
    #: :func:`analysis.statistics.estimates.neighbourhood_estimates` (suppressed)
    table: pd.DataFrame
    #: ``{"gpkg": path, "csv": path}``
    outputs: dict
    #: indicators mapped (:func:`analysis.geography.maps.indicators_to_map`)
    mapped: list[str]
    #: the map panels written, one dict of paths per indicator and language
    maps: list[dict]

    @property
    def not_collected(self) -> list[str]:
        """Indicators the city did not collect (no map)."""
        return sorted(set(self.table.loc[self.table["status"] == "not_collected", "indicator"]))

    def map_png(self, indicator: str, lang: str = "en") -> Path:
        """The PNG of an indicator's map panel."""
        return figures.figure_paths(self.profile.city, f"maps-{indicator}", lang)["png"]


def neighbourhoods(city: str) -> NeighbourhoodsStep:
    """``02-neighbourhoods``: boundaries, code join, estimates by neighbourhood, maps.

    Reads the processed respondents and the weights ``01-clean`` saved; writes
    ``data/processed/<city>/neighbourhoods.gpkg``, ``reports/tables/<city>/neighbourhoods.csv``
    and the map panels ``reports/figures/<city>/maps-<indicator>[.<lang>].*``.

    Returns
    -------
    NeighbourhoodsStep
    """

    profile = load_profile(city)
    respondents = io.read_processed(city, "respondents")
    w = read_weights(city, respondents)
    geometry = geo.city_geometry(city, profile)
    survey_join = geo.join_codes(geometry.gdf, respondents["neighbourhood"])
    table = estimates.neighbourhood_estimates(respondents, w, profile)
    outputs = estimates.write_outputs(table, geometry, profile)
    mapped = maps.indicators_to_map(table)  # each main indicator collected, or its collected items
    method = weights.weights_method(w)
    panels = [p for ind in mapped
              for p in maps.save_map_panels(geometry, table, profile, ind, weights_method=method)]
    plt.close("all")
    return NeighbourhoodsStep(profile=profile, respondents=respondents, geometry=geometry,
                              survey_join=survey_join, weights=w, weight_summary=weights.weight_summary(w),
                              table=table, outputs=outputs, mapped=mapped, maps=panels)


# ====================================================================== 03-impact
@dataclass
class ImpactStep:
    """What ``03-impact`` shows: the city's evaluation, and what the step wrote."""

    profile: CityProfile
    evaluation: evaluation.CityEvaluation
    #: officers' effects with a wild bootstrap by police unit (``officers_sensitivity.csv``)
    sensitivity: pd.DataFrame
    #: figure ids saved in English and French
    figures: list[str]
    #: tables written, in ``reports/tables/<city>/``
    tables: list[Path]


def impact(city: str, *, B: int = B_DEFAULT, weight_type: str = "auto", seed: int = SEED) -> ImpactStep:
    """``03-impact``: every estimator of a city's evaluation, its tables and its figures.

    Reads the processed respondents, officers and activities and the saved weights;
    estimates the residents' effects (DiD or pre/post, wild cluster bootstrap with ``B``
    draws), the officers' effects and their sensitivity, implementation and balance; rates
    the evidence; writes ``reports/tables/<city>/{impact,evidence,implementation,balance,
    officers_sensitivity,weighting,areas,placebo,reliability,cost}.csv`` and the impact figures (en, fr).

    Parameters
    ----------
    city : str
    B, weight_type, seed
        Of the wild cluster bootstrap (:func:`analysis.statistics.impact.resident_effects`).

    Returns
    -------
    ImpactStep
    """

    profile = load_profile(city)
    respondents = io.read_processed(city, "respondents")
    w = read_weights(city, respondents)
    resp, weighting = evaluation.with_weights(respondents, w)
    officers_df = _read_optional(city, "officers")
    activities = _read_optional(city, "activities")

    residents = did.resident_effects(resp, profile, B=B, weight_type=weight_type, seed=seed)
    officers = off.officer_effects(officers_df, profile)
    sensitivity = off.officer_sensitivity(officers_df, profile)
    implemented = implementation.implementation_summary(activities, profile)
    balance = did.balance_table(resp, profile)
    rated, rating = evidence.rate_evidence(residents, balance, implemented, profile,
                                           trends=evidence.composition_trends(resp, profile))
    ev = evaluation.CityEvaluation(
        city=city, synthetic=profile.synthetic, design="did" if profile.has_comparison else "pre_post",
        weighting=weighting, summary=evaluation.design_summary(resp, profile), balance=balance,
        residents=residents, officers=officers, implementation=implemented, evidence=rated, rating=rating)

    out = {"impact": ev.impact, "evidence": rated, "implementation": implemented["table"],
           "balance": balance, "officers_sensitivity": sensitivity}
    if weighting != "given":
        annex = weights.weighting_annex(respondents, w, profile)
        # counts of imputed respondents are small by nature: published only from k up
        annex["n_imputed"] = annex["n_imputed"].where(annex["n_imputed"].eq(0) | annex["n_imputed"].ge(K_SUPPRESS))
        out["weighting"] = annex
    # area-level estimates (pilot, comparison, rest of the city), computed the same way in
    # both waves: the like-for-like trend of the exploration and the dashboard
    out["areas"] = areas.area_estimates(respondents, w["weight"], profile, weighting=weights.weights_method(w))
    # the methods annex (issue 12 §5): placebo on the comparison areas, Cronbach's α, cost per resident reached
    out.update(evaluation.annex_tables(resp, profile, implemented, B=B, weight_type=weight_type, seed=seed))
    # every table through the contract (analysis.publishing.tables): validated on write
    written = [tables.write(name, df, city=city, synthetic=profile.synthetic) for name, df in out.items()]
    saved = impact_figures.save_impact_figures(ev, profile)
    plt.close("all")
    return ImpactStep(profile=profile, evaluation=ev, sensitivity=sensitivity, figures=saved, tables=written)


# ============================================================= 04-compare-cities
@dataclass
class CompareStep:
    """What ``04-compare-cities`` shows: the cities' tables side by side and the pooled effects."""

    impacts: pd.DataFrame
    evidence: pd.DataFrame
    #: the cities used, in table order
    included: list[str]
    #: every city with a profile: included, or the reason it is not (codes)
    coverage: pd.DataFrame
    pooled: pd.DataFrame
    #: leave one city out: does the headline conclusion rest on one city?
    leave_one_out: pd.DataFrame
    pilot_types: pd.DataFrame
    ratings: pd.DataFrame
    #: ESS R5 Belgium beside Brussels (None when Brussels is not included)
    benchmark: pd.DataFrame | None
    #: tables and figures written (project-relative, under ``reports/``)
    written: list[str]


def compare_cities(cities: list[str] | None = None) -> CompareStep:
    """``04-compare-cities``: read every city's impact and evidence tables, pool, write.

    ``cities``: default (None or empty) every city that has impact tables. Writes
    ``reports/tables/cross-city/`` and the cross-city figures (en, fr).

    Returns
    -------
    CompareStep
    """

    cities = list(cities) if cities else None
    impacts = synthesis.load_tables("impact", cities)
    evid = synthesis.load_tables("evidence", cities)
    included = list(dict.fromkeys(impacts["city"]))
    pooled = synthesis.pooled_table(impacts)
    bench = synthesis.brussels_benchmark() if "brussels" in included else None
    written = synthesis.write_outputs(impacts, pooled, bench, included)
    plt.close("all")
    return CompareStep(impacts=impacts, evidence=evid, included=included, coverage=synthesis.coverage(),
                       pooled=pooled, leave_one_out=synthesis.leave_one_out(impacts),
                       pilot_types=synthesis.pilot_types(impacts, {c: load_profile(c) for c in included}),
                       ratings=synthesis.ratings(evid), benchmark=bench, written=written)


# ========================================================================= inputs
def read_weights(city: str, respondents: pd.DataFrame) -> pd.DataFrame:
    """The weights ``01-clean`` saved for ``city``, checked against its processed respondents.

    Raises
    ------
    FileNotFoundError
        When ``01-clean`` has not saved them (names the file and the step to run).
    ValueError
        When they do not describe these respondents row by row (the respondents were
        cleaned again without the weights: rerun ``01-clean``).
    """

    path = io.processed_path(city, WEIGHTS)
    w = io.read_processed(city, WEIGHTS)
    same = (len(w) == len(respondents)
            and all(w[c].astype(str).tolist() == respondents[c].astype(str).tolist()
                    for c in ("wave", "neighbourhood")))
    if not same:
        raise ValueError(f"{path} does not match data/processed/{city}/respondents.parquet row by row "
                         f"(written by another cleaning run): rerun the cleaning step "
                         f"(make clean-data CITY={city})")
    w.index = respondents.index
    return w


def _read_optional(city: str, dataset: str) -> pd.DataFrame | None:
    """A processed dataset a city may not have delivered (officers, activities), or None."""
    try:
        return io.read_processed(city, dataset)
    except FileNotFoundError:
        return None
