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


def clean(city: str):
    """As notebooks/01-clean.ipynb."""
    from . import clean as clean_mod

    result = clean_mod.run_cleaning(city)
    clean_mod.summary_tables(result)
    return result


def neighbourhoods(city: str):
    """As notebooks/02-neighbourhoods.ipynb."""
    from . import estimates, geo, io, maps, weights
    from .profile import load_profile

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
    from . import impact as impact_mod
    from .profile import load_profile

    ev = impact_mod.evaluate_city(city)
    impact_mod.save_impact_figures(ev, load_profile(city))
    plt.close("all")
    return ev


def cross_city(cities: list[str] | None = None):
    """As notebooks/04-compare-cities.ipynb."""
    from . import synthesis

    impacts = synthesis.load_tables("impact", cities)
    included = list(dict.fromkeys(impacts["city"]))
    pooled = synthesis.pooled_table(impacts)
    bench = synthesis.brussels_benchmark() if "brussels" in included else None
    synthesis.write_outputs(impacts, pooled, bench, included)
    plt.close("all")
    return pooled


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.inprocess CITY [CITY…]``: clean, map and evaluate without notebooks."""
    # argparse, so that --help (or any option) is never taken for a city name
    parser = argparse.ArgumentParser(
        prog="python -m analysis.inprocess",
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
