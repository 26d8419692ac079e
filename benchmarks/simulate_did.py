"""Monte Carlo check of the impact estimator with few clusters (not part of the test suite).

Many made-up pilots (:func:`analysis.statistics.simulation.simulate_respondents`) with a planted effect,
a common trend and neighbourhood-by-wave shocks (the reason inference must be clustered),
for 4, 6, 10 and 20 neighbourhoods. For each setting it prints the bias and RMSE of the
DiD estimate, the coverage of the nominal 95 % intervals — cluster-robust (CRV1, t with
G-1 df) and wild cluster restricted bootstrap (test inversion) with Webb and with
Rademacher weights (all 2^G sign patterns when 2^G <= B) — their mean width, and the
rejection rate of "no effect" (power).

The bootstrap inside the simulation uses B=199 draws (the published estimates use 9,999)
to keep the run within minutes; B only adds Monte Carlo noise to each p-value and bound.

Pooled coverage (second table): many made-up sets of 5-10 cities with 6-10 neighbourhoods
each (drawn at random per replication) and the *same* true effect everywhere (no real
heterogeneity). Each city is estimated as above (CRV1 and WCR, auto weights, B as given);
the cities are then pooled (:func:`analysis.statistics.synthesis.random_effects`) four ways: the old
default (DerSimonian-Laird, normal interval, CRV1 variances) and the new one (REML, HKSJ
with the max(1, q) floor, variances from each city's WCR interval,
:func:`analysis.statistics.synthesis.within_std_error`), plus plain HKSJ and HKSJ on CRV1 variances.
It prints the coverage of each pooled 95 % interval, its mean width, the coverage of the
95 % prediction interval, the mean I² and the rate at which Cochran's Q rejects
homogeneity at the 10 % level (nominal: 0.10).

Usage::

    .venv/bin/python benchmarks/simulate_did.py [--reps 500] [--B 199] [--clusters 6 10 20]
        [--pool-reps 400] [--no-city] [--no-pool]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.statistics import impact, synthesis  # noqa: E402
from analysis.statistics import simulation
from analysis.config import SEED  # noqa: E402

EFFECT = 0.5
SETTING = dict(n_per_cell=50, trend=0.3, cluster_sd=0.3, shock_sd=0.3, noise_sd=2.0)


def one(args: tuple[int, int, int]) -> dict:
    G, rep, B = args
    df = simulation.simulate_respondents(G, SETTING["n_per_cell"], effect=EFFECT, trend=SETTING["trend"],
                                     cluster_sd=SETTING["cluster_sd"], shock_sd=SETTING["shock_sd"],
                                     noise_sd=SETTING["noise_sd"], seed=SEED + 1000 * G + rep)
    # withhold=False: the raw intervals, unbounded ones included, are what coverage measures
    e = impact.fit_effect(df, "trust_police", B=B, seed=rep, weight_type="webb", withhold=False)
    r = impact.fit_effect(df, "trust_police", B=B, seed=rep, weight_type="rademacher", withhold=False)
    return dict(G=G, rep=rep, estimate=e.estimate, crv_low=e.crv_ci_low, crv_high=e.crv_ci_high,
                crv_p=e.crv_p_value, wb_low=e.ci_low, wb_high=e.ci_high, wb_p=e.p_value,
                rd_low=r.ci_low, rd_high=r.ci_high, rd_p=r.p_value)


def summarise(res: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for G, d in res.groupby("G"):
        err = d["estimate"] - EFFECT
        rows.append({
            "clusters": G, "reps": len(d), "bias": err.mean(), "rmse": np.sqrt((err**2).mean()),
            "sd": d["estimate"].std(ddof=1),
            "cover_crv": ((d["crv_low"] <= EFFECT) & (EFFECT <= d["crv_high"])).mean(),
            "cover_webb": ((d["wb_low"] <= EFFECT) & (EFFECT <= d["wb_high"])).mean(),
            "cover_rad": ((d["rd_low"] <= EFFECT) & (EFFECT <= d["rd_high"])).mean(),
            "width_crv": (d["crv_high"] - d["crv_low"]).mean(),
            "width_webb": (d["wb_high"] - d["wb_low"]).replace(np.inf, np.nan).mean(),
            "width_rad": (d["rd_high"] - d["rd_low"]).replace(np.inf, np.nan).mean(),
            "power_crv": (d["crv_p"] < 0.05).mean(), "power_webb": (d["wb_p"] < 0.05).mean(),
            "power_rad": (d["rd_p"] < 0.05).mean(),
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ pooled coverage
POOL_CITIES = (5, 10)    # cities per meta-analysis, drawn uniformly in this range
POOL_CLUSTERS = (6, 10)  # neighbourhoods per city, drawn uniformly in this range
POOL_METHODS = {
    # name: (tau2 estimator, interval, HKSJ floor, within-city variance)
    "old: DL, normal, CRV1": ("dl", "wald", False, "crv1"),
    "new: REML, HKSJ floor, WCR": ("reml", "hksj", True, "wcr"),
    "REML, plain HKSJ, WCR": ("reml", "hksj", False, "wcr"),
    "REML, HKSJ floor, CRV1": ("reml", "hksj", True, "crv1"),
}


def one_pool(args: tuple[int, int]) -> list[dict]:
    """One made-up meta-analysis: k cities, each with its own number of neighbourhoods."""
    rep, B = args
    rng = np.random.default_rng(SEED + 7_000_000 + rep)
    k = int(rng.integers(POOL_CITIES[0], POOL_CITIES[1] + 1))
    rows = []
    for c in range(k):
        G = int(rng.integers(POOL_CLUSTERS[0], POOL_CLUSTERS[1] + 1))
        df = simulation.simulate_respondents(G, SETTING["n_per_cell"], effect=EFFECT, trend=SETTING["trend"],
                                         cluster_sd=SETTING["cluster_sd"], shock_sd=SETTING["shock_sd"],
                                         noise_sd=SETTING["noise_sd"], seed=SEED + 5_000_000 + 100 * rep + c)
        e = impact.fit_effect(df, "trust_police", B=B, seed=rep * 100 + c)
        rows.append(dict(estimate=e.estimate, std_error=e.std_error, ci_low=e.ci_low, ci_high=e.ci_high,
                         n_clusters=e.n_clusters))
    cities = pd.DataFrame(rows)
    out = []
    for name, (tau, ci, floor, var) in POOL_METHODS.items():
        se = synthesis.within_std_error(cities, var)
        ok = se.notna()
        r = synthesis.random_effects(cities["estimate"][ok], se[ok], method=tau, ci=ci, hksj_floor=floor)
        out.append(dict(method=name, rep=rep, k=k, k_pooled=r["k"], low=r["ci_low"], high=r["ci_high"],
                        pi_low=r["pi_low"], pi_high=r["pi_high"], i2=r["i2"], q_p=r["q_p_value"]))
    return out


def summarise_pool(res: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name in POOL_METHODS:
        d = res[res["method"] == name]
        rows.append({"pooled interval": name, "reps": len(d),
                     "cover": ((d["low"] <= EFFECT) & (EFFECT <= d["high"])).mean(),
                     "width": (d["high"] - d["low"]).mean(),
                     "cover_pi": ((d["pi_low"] <= EFFECT) & (EFFECT <= d["pi_high"])).mean(),
                     "mean_I2": d["i2"].mean(), "Q_reject_10%": (d["q_p"] < 0.10).mean(),
                     "cities_dropped": (d["k"] - d["k_pooled"]).sum()})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--B", type=int, default=199)
    ap.add_argument("--clusters", type=int, nargs="+", default=[4, 6, 10, 20])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pool-reps", type=int, default=400)
    ap.add_argument("--no-city", action="store_true", help="skip the city-level table")
    ap.add_argument("--no-pool", action="store_true", help="skip the pooled-coverage table")
    a = ap.parse_args(argv)
    out = None
    if not a.no_city:
        t0 = time.time()
        jobs = [(G, r, a.B) for G in a.clusters for r in range(a.reps)]
        with ProcessPoolExecutor(a.workers) as pool:
            res = pd.DataFrame(list(pool.map(one, jobs, chunksize=10)))
        out = summarise(res)
        print(f"DiD with few clusters: planted effect {EFFECT}, {SETTING}, half the neighbourhoods "
              f"treated; WCR with B={a.B} inside the simulation.")
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(out.round(3).to_string(index=False))
        print(f"({len(jobs)} replications in {time.time() - t0:.0f} s)")
    if not a.no_pool:
        t0 = time.time()
        jobs = [(r, a.B) for r in range(a.pool_reps)]
        with ProcessPoolExecutor(a.workers) as pool:
            res = pd.DataFrame([row for rows in pool.map(one_pool, jobs, chunksize=5) for row in rows])
        pooled = summarise_pool(res)
        print(f"\nPooled over {POOL_CITIES[0]}-{POOL_CITIES[1]} cities of {POOL_CLUSTERS[0]}-{POOL_CLUSTERS[1]} "
              f"neighbourhoods each, same effect {EFFECT} in every city (no heterogeneity); city WCR with "
              f"auto weights and B={a.B} (published: 9,999). Target coverage 0.93-0.97; Q should reject 10 %.")
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(pooled.round(3).to_string(index=False))
        print(f"({len(jobs)} meta-analyses in {time.time() - t0:.0f} s)")
        out = pooled if out is None else out
    return out


if __name__ == "__main__":
    main()
