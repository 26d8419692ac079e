"""The pipeline's steps in one Python process, without notebooks.

Owns the command line ``python -m analysis.running.inprocess CITY [CITY…]``: the step
functions of :mod:`analysis.running.steps`, the very calls the notebook templates make, run
one after the other, to measure what the notebook layer costs (``benchmarks/bench_pipeline.py``)
and to debug a city quickly. Must not hold a call sequence of its own: ``make report`` runs
the notebooks, which call the same functions and also show and explain the results.
"""

from __future__ import annotations

import argparse
import sys

from analysis.running import steps

#: The steps, under the names the benchmark and older scripts use.
clean = steps.clean
neighbourhoods = steps.neighbourhoods
impact = steps.impact
cross_city = steps.compare_cities


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.running.inprocess CITY [CITY…]``: clean, map and evaluate without notebooks."""
    # argparse, so that --help (or any option) is never taken for a city name
    parser = argparse.ArgumentParser(
        prog="python -m analysis.running.inprocess",
        description="Clean, map and evaluate cities in one process, without the notebooks "
                    "(the step functions of analysis.running.steps that notebooks 01 to 03 call).")
    parser.add_argument("cities", nargs="+", metavar="CITY",
                        help="city profile name, as in config/cities/CITY.yml")
    parser.add_argument("--compare", action="store_true",
                        help="then compare the cities (04-compare-cities) over every city with results")
    args = parser.parse_args(argv)
    for city in args.cities:
        clean(city)
        neighbourhoods(city)
        impact(city)
        print(f"{city}: done")
    if args.compare:
        cross_city()
        print("cross-city: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
