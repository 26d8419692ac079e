"""The pipeline's computations in one Python process, without notebooks.

Each function makes the same package calls, and writes the same outputs, as the matching
notebook template. It exists to measure what the notebook layer costs
(``benchmarks/bench_pipeline.py``) and to debug a city quickly; ``make report`` runs
the notebooks, which also show and explain the results.
"""

from __future__ import annotations

import argparse
import sys

import matplotlib.pyplot as plt
from analysis.inputs import clean as clean_mod
from analysis.statistics import estimates, weights
from analysis.geography import geo, maps
from analysis import io
from analysis.inputs.profile import load_profile
from analysis.publishing import impact_figures
from analysis.statistics import evaluation
from analysis.statistics import synthesis


def clean(city: str):
    """As notebooks/01-clean.ipynb."""

    result = clean_mod.run_cleaning(city)
    clean_mod.summary_tables(result)
    return result


def neighbourhoods(city: str):
    """As notebooks/02-neighbourhoods.ipynb."""

    profile = load_profile(city)
    respondents = io.read_processed(city, "respondents")
    geometry = geo.city_geometry(city, profile)
    w = weights.city_weights(respondents, profile)
    table = estimates.neighbourhood_estimates(respondents, w, profile)
    estimates.write_outputs(table, geometry, profile)
    for ind in maps.MAIN_INDICATORS:
        maps.save_map_panels(geometry, table, profile, ind, weights_method=weights.weights_method(w))
    plt.close("all")
    return table


def impact(city: str):
    """As notebooks/03-impact.ipynb."""

    ev = evaluation.evaluate_city(city)
    impact_figures.save_impact_figures(ev, load_profile(city))
    plt.close("all")
    return ev


def cross_city(cities: list[str] | None = None):
    """As notebooks/04-compare-cities.ipynb."""

    impacts = synthesis.load_tables("impact", cities)
    included = list(dict.fromkeys(impacts["city"]))
    pooled = synthesis.pooled_table(impacts)
    bench = synthesis.brussels_benchmark() if "brussels" in included else None
    synthesis.write_outputs(impacts, pooled, bench, included)
    plt.close("all")
    return pooled


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.running.inprocess CITY [CITY…]``: clean, map and evaluate without notebooks."""
    # argparse, so that --help (or any option) is never taken for a city name
    parser = argparse.ArgumentParser(
        prog="python -m analysis.running.inprocess",
        description="Clean, map and evaluate cities in one process, without the notebooks "
                    "(the same package calls and outputs as notebooks 01 to 03).")
    parser.add_argument("cities", nargs="+", metavar="CITY",
                        help="city profile name, as in config/cities/CITY.yml")
    args = parser.parse_args(argv)
    for city in args.cities:
        clean(city)
        neighbourhoods(city)
        impact(city)
        print(f"{city}: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
