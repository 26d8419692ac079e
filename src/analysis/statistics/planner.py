"""Planning the next evaluation: how many neighbourhoods and respondents a DiD needs.

Owns the sample-size arithmetic of a two-wave difference-in-differences in repeated
cross-sections (pilot vs comparison neighbourhoods, baseline vs follow-up), the variance
components it needs (estimated from cleaned survey data, with their source), and a Monte
Carlo check of the arithmetic with the project's own estimator. It must not read raw data
or publish anything below the disclosure threshold: it prints and returns aggregates only.

The model behind the arithmetic is the one :mod:`analysis.statistics.impact` estimates::

    y_ijt = a_j + l_t + delta * pilot_j * post_t + u_jt + e_ijt

Neighbourhood fixed effects absorb the persistent ``a_j``; what is left to blur the
estimate is the neighbourhood-by-wave shock ``u_jt`` (variance ``sigma_u2``) and the
respondents' own variation ``e_ijt`` (``sigma_e2``). With ``m`` respondents per
neighbourhood and wave, every neighbourhood's change between waves has variance
``2 sigma_u2 + 2 sigma_e2 / m``, so the DiD of the two area means has variance::

    Var = (2 sigma_u2 + 2 sigma_e2 / m) (1 / J_pilot + 1 / J_comparison) * deff

Written with the outcome's within-wave standard deviation ``sd`` (``sd**2 = sigma_u2 +
sigma_e2``) and the intra-cluster correlation of the shock, ``icc = sigma_u2 / sd**2``::

    Var = 2 sd**2 (icc + (1 - icc) / m) (1 / J_pilot + 1 / J_comparison) * deff

``deff`` is Kish's design effect of the survey weights (1 + CV² of the weights). Tests use
a t distribution with ``G - 1`` degrees of freedom (``G`` neighbourhoods), as the
project's cluster-robust interval does; power is the two-sided rejection probability
under a non-central t. Note the intra-cluster correlation that matters is that of the
*time-varying* shock, not the usual (persistent) one: the persistent part is differenced
out by the design. Both are estimated by :func:`variance_components` and shown.

:func:`simulate_power` refits the project's estimator (:func:`analysis.statistics.impact.fit_effect`'s
design matrix and wild cluster bootstrap) on simulated pilots; ``tests/test_planner.py`` and
``benchmarks/design_check.py`` check that the predicted power matches the simulated one
within simulation error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.config import K_SUPPRESS, PATHS, SEED
from analysis.statistics.bootstrap import resolve_weight_type
from analysis.io import read_processed
from analysis.inputs.profile import load_profile
from analysis.statistics import ess
from analysis.statistics.bootstrap import one_blas_thread, wild_cluster_bootstrap
from analysis.statistics.impact import design_matrix
from analysis.statistics.simulation import simulate_respondents

#: Fewest neighbourhoods for which cluster-robust intervals held their coverage in the
#: project's Monte Carlo (``make simulate``: 92-95 % from 10 clusters, 88-91 % below).
MIN_CLUSTERS_RELIABLE = 10


# ======================================================================= arithmetic
def did_standard_error(n_pilot: int, n_comparison: int, per_cell: float, sd: float, icc: float,
                       deff: float = 1.0) -> float:
    """Standard error of the two-wave DiD estimate (see the module docstring).

    Parameters
    ----------
    n_pilot, n_comparison : int
        Pilot and comparison neighbourhoods (each surveyed in both waves).
    per_cell : float
        Respondents per neighbourhood and wave.
    sd : float
        Within-wave standard deviation of the outcome, on its own scale.
    icc : float
        Intra-cluster correlation of the neighbourhood-by-wave shock, in [0, 1).
    deff : float
        Design effect of the survey weights (1 when unweighted).
    """
    if n_pilot < 1 or n_comparison < 1:
        raise ValueError("a DiD needs at least one pilot and one comparison neighbourhood")
    if per_cell <= 0 or sd <= 0 or not 0 <= icc < 1 or deff < 1:
        raise ValueError("need per_cell > 0, sd > 0, 0 <= icc < 1 and deff >= 1")
    var = 2 * sd**2 * (icc + (1 - icc) / per_cell) * (1 / n_pilot + 1 / n_comparison) * deff
    return float(np.sqrt(var))


def power_at(effect: float, se: float, df: int, alpha: float = 0.05) -> float:
    """Two-sided power of a t test (``df`` degrees of freedom) for a true ``effect``."""
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = abs(effect) / se
    p = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    # scipy's non-central t returns NaN far in the tail, where the power is 1 to print.
    return 1.0 if not np.isfinite(p) else min(p, 1.0)


def minimum_detectable_effect(se: float, df: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true effect detected with probability ``power`` (two-sided, level ``alpha``)."""
    if power_at(0.0, se, df, alpha) >= power:
        return 0.0
    hi = se * (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df))
    while power_at(hi, se, df, alpha) < power:
        hi *= 2
    return float(optimize.brentq(lambda d: power_at(d, se, df, alpha) - power, 0.0, hi, xtol=1e-10))


def smallest_p_value(n_clusters: int, weight_type: str = "auto", B: int = 9999) -> float:
    """Smallest p-value the project's wild cluster bootstrap can reach with ``n_clusters``.

    With every sign pattern enumerated (few clusters) the two patterns that reproduce the
    observed statistic always count, so p >= 2 / (number of patterns).
    """

    kind = resolve_weight_type(weight_type, n_clusters)
    patterns = (2 if kind == "rademacher" else 6) ** n_clusters
    return 2 / patterns if patterns <= B else 1 / (B + 1)


@dataclass
class Plan:
    """A planned evaluation and what it can detect. Warnings are codes, not sentences."""

    n_pilot: int
    n_comparison: int
    per_cell: float
    sd: float
    icc: float
    deff: float = 1.0
    alpha: float = 0.05
    target_power: float = 0.8
    effect: float | None = None
    se: float = field(init=False)
    df: int = field(init=False)
    mde: float = field(init=False)
    power: float | None = field(init=False)
    warnings: list[str] = field(init=False)

    def __post_init__(self):
        self.se = did_standard_error(self.n_pilot, self.n_comparison, self.per_cell, self.sd,
                                     self.icc, self.deff)
        G = self.n_pilot + self.n_comparison
        self.df = G - 1
        self.mde = minimum_detectable_effect(self.se, self.df, self.alpha, self.target_power)
        self.power = None if self.effect is None else power_at(self.effect, self.se, self.df, self.alpha)
        w = []
        if smallest_p_value(G) > self.alpha:
            w.append("cannot_reject")  # the bootstrap cannot reach the level at all
        if G < MIN_CLUSTERS_RELIABLE:
            w.append("few_clusters")
        if self.n_pilot < 2:
            w.append("single_pilot_area")
        if self.n_comparison < 2:
            w.append("single_comparison_area")
        if self.per_cell < K_SUPPRESS:
            w.append("cells_below_k")
        self.warnings = w

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in (
            "n_pilot", "n_comparison", "per_cell", "sd", "icc", "deff", "alpha", "target_power",
            "effect", "se", "df", "mde", "power")} | {"warnings": ",".join(self.warnings)}


WARNING_TEXT = {
    "cannot_reject": "with this few neighbourhoods the wild cluster bootstrap cannot reach "
                     "the chosen level at all: no effect could ever be declared",
    "few_clusters": f"fewer than {MIN_CLUSTERS_RELIABLE} neighbourhoods: cluster-robust "
                    "intervals under-cover (88-92 % for a nominal 95 % in the project's "
                    "simulations); the power shown is optimistic",
    "single_pilot_area": "one pilot neighbourhood: its own shocks cannot be told from the pilot",
    "single_comparison_area": "fewer than 2 comparison neighbourhoods: confidence in the "
                              "estimate is rated low whatever its interval",
    "cells_below_k": f"fewer than {K_SUPPRESS} respondents per neighbourhood and wave: "
                     "those cells are suppressed in every published table",
}


# ================================================================= variance components
def variance_components(df: pd.DataFrame, outcome: str, *, area: str = "pilot_area") -> dict:
    """Moment estimates of ``sigma_e2``, ``sigma_u2`` and the persistent ICC from survey data.

    ``sigma_e2`` is the pooled within neighbourhood-and-wave variance. ``sigma_u2`` comes
    from the neighbourhoods' changes between waves, centred within each area type (pilot,
    comparison, other) so that a pilot effect does not count as noise::

        E[s2(change)] = 2 sigma_u2 + sigma_e2 * mean(1/n_j0 + 1/n_j1)

    truncated at 0. Unweighted (design effects are a separate input of the planner).

    Returns
    -------
    dict
        ``sd``, ``icc`` (of the time-varying shock), ``icc_persistent`` (one-way ANOVA at
        baseline), ``sigma_e2``, ``sigma_u2``, ``n_clusters`` (in both waves),
        ``per_cell`` (mean respondents per neighbourhood and wave), ``n``.
    """
    d = df[["neighbourhood", "wave", area, outcome]].dropna()
    d = d.assign(y=d[outcome].astype(float))
    cells = d.groupby(["neighbourhood", "wave"], observed=True)["y"].agg(["mean", "var", "size"])
    cells = cells[cells["size"] >= 2]
    sigma_e2 = float(((cells["size"] - 1) * cells["var"]).sum() / (cells["size"] - 1).sum())
    wide = cells.unstack("wave")
    both = wide.dropna(subset=[("mean", "baseline"), ("mean", "follow_up")])
    areas = d.groupby("neighbourhood", observed=True)[area].first().reindex(both.index)
    change = both[("mean", "follow_up")] - both[("mean", "baseline")]
    centred = change - change.groupby(areas).transform("mean")
    dof = len(centred) - areas.nunique()
    sigma_u2 = float("nan")
    if dof > 0:
        s2 = float((centred**2).sum() / dof)
        inv = (1 / both[("size", "baseline")] + 1 / both[("size", "follow_up")]).mean()
        sigma_u2 = max(0.0, (s2 - sigma_e2 * float(inv)) / 2)
    base = cells.xs("baseline", level="wave") if "baseline" in cells.index.get_level_values("wave") else cells
    k, n_bar = len(base), float(base["size"].mean()) if len(base) else 0.0
    icc_p = float("nan")
    if k >= 2:
        grand = float((base["mean"] * base["size"]).sum() / base["size"].sum())
        msb = float((base["size"] * (base["mean"] - grand) ** 2).sum() / (k - 1))
        msw = float(((base["size"] - 1) * base["var"]).sum() / (base["size"] - 1).sum())
        n0 = (base["size"].sum() - (base["size"] ** 2).sum() / base["size"].sum()) / (k - 1)
        s2a = max(0.0, (msb - msw) / n0)
        icc_p = s2a / (s2a + msw)
    total = sigma_e2 + (sigma_u2 if np.isfinite(sigma_u2) else 0.0)
    return {
        "sd": float(np.sqrt(total)), "icc": (sigma_u2 / total) if np.isfinite(sigma_u2) else float("nan"),
        "icc_persistent": icc_p, "sigma_e2": sigma_e2, "sigma_u2": sigma_u2,
        "n_clusters": int(len(both)), "per_cell": n_bar, "n": int(len(d)),
    }


def city_parameters(outcomes: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index"),
                    cities: list[str] | None = None) -> pd.DataFrame:
    """Variance components of each city's cleaned respondents (``data/processed``).

    Cities without cleaned data are skipped. ``data_status`` follows each city's profile
    (``synthetic`` or ``real``): on the shipped demo data these figures describe the
    generator, not a city.
    """

    rows = []
    for city in cities or [p.stem for p in sorted(PATHS.cities_config.glob("*.yml"))]:
        try:
            df = read_processed(city, "respondents")
        except FileNotFoundError:
            continue
        status = "synthetic" if load_profile(city).synthetic else "real"
        for outcome in outcomes:
            if outcome not in df or df[outcome].notna().sum() < K_SUPPRESS:
                continue
            vc = variance_components(df, outcome)
            rows.append({"source": city, "data_status": status, "outcome": outcome, **vc})
    return pd.DataFrame(rows)


def ess_parameters() -> pd.DataFrame:
    """Outcome standard deviations from the ESS Round 5 Belgian benchmark (real data).

    The extract has no region or neighbourhood, so it gives the outcome's spread, not an
    intra-cluster correlation.
    """

    df = ess.ess_to_codebook(ess.load_essbe5())
    rows = []
    for outcome in ("trust_police", "eff_violence"):
        x = df[outcome].dropna().astype(float)
        rows.append({"source": "ESS R5 Belgium 2010", "data_status": "real", "outcome": outcome,
                     "sd": float(x.std(ddof=1)), "n": int(len(x))})
    return pd.DataFrame(rows)


# ================================================================ Monte Carlo check
def simulate_power(plan: Plan, effect: float, *, reps: int = 200, seed: int = SEED,
                   weight_type: str = "auto") -> tuple[float, float]:
    """Rejection rate of the project's estimator on pilots simulated to ``plan``.

    Residents are drawn by :func:`analysis.statistics.simulation.simulate_respondents` with the plan's
    neighbourhoods, respondents, shock and noise (``sd``, ``icc``), unweighted, and fitted
    with the project's design matrix (neighbourhood and wave fixed effects, age group and
    gender) and wild cluster bootstrap p-value at level ``plan.alpha``.

    Returns
    -------
    (float, float)
        The rejection rate and its Monte Carlo standard error.
    """

    if plan.n_pilot != plan.n_comparison + (plan.n_pilot + plan.n_comparison) % 2:
        raise ValueError("the simulator splits neighbourhoods half pilot, half comparison "
                         "(pilot rounded up)")
    G = plan.n_pilot + plan.n_comparison
    shock_sd = float(np.sqrt(plan.icc) * plan.sd)
    noise_sd = float(np.sqrt(1 - plan.icc) * plan.sd)
    rng = np.random.default_rng(seed)
    hits = 0
    with one_blas_thread():
        for _ in range(reps):
            df = simulate_respondents(G, int(plan.per_cell), effect=effect, shock_sd=shock_sd,
                                      noise_sd=noise_sd, seed=int(rng.integers(2**31)))
            M = design_matrix(df, design="did")
            wb = wild_cluster_bootstrap(M.to_numpy(dtype=float), df["trust_police"].to_numpy(dtype=float),
                                        df["neighbourhood"].to_numpy(), 0, B=999,
                                        weight_type=weight_type, seed=int(rng.integers(2**31)),
                                        ci=False)
            hits += wb.p_value <= plan.alpha
    rate = hits / reps
    return rate, float(np.sqrt(max(rate * (1 - rate), 1e-12) / reps))


# ============================================================================== CLI
def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m analysis.statistics.planner",
        description="Minimum detectable effect and power of a planned two-wave DiD "
                    "(pilot vs comparison neighbourhoods).")
    ap.add_argument("--pilot", type=int, required=True, help="pilot neighbourhoods")
    ap.add_argument("--comparison", type=int, required=True, help="comparison neighbourhoods")
    ap.add_argument("--per-cell", type=float, required=True,
                    help="respondents per neighbourhood and wave")
    ap.add_argument("--outcome", default="trust_police",
                    help="indicator whose spread and ICC are used (default trust_police)")
    ap.add_argument("--sd", type=float, help="outcome standard deviation (default: ESS R5 Belgium)")
    ap.add_argument("--icc", type=float,
                    help="ICC of the neighbourhood-by-wave shock (default: median over the cities' data)")
    ap.add_argument("--deff", type=float, default=1.0, help="design effect of the weights (default 1)")
    ap.add_argument("--effect", type=float, help="a stated effect: print the power to detect it")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--power", type=float, default=0.8, help="target power of the MDE (default 0.8)")
    args = ap.parse_args(argv)

    sources = []
    sd, icc = args.sd, args.icc
    if sd is not None:
        sources.append(f"sd {sd:g} (given)")
    if icc is not None:
        sources.append(f"icc {icc:g} (given)")
    if sd is None or icc is None:
        cities = city_parameters((args.outcome,))
        if sd is None:
            ess_rows = ess_parameters() if args.outcome in ("trust_police", "eff_violence") else pd.DataFrame()
            if len(ess_rows):
                sd = float(ess_rows.loc[ess_rows["outcome"] == args.outcome, "sd"].iloc[0])
                sources.append(f"sd {sd:.2f} from ESS R5 Belgium 2010 (real data, unweighted)")
            elif len(cities):
                sd = float(cities["sd"].median())
                sources.append(f"sd {sd:.2f}: median over {len(cities)} cities")
        if icc is None and len(cities):
            icc = float(cities["icc"].dropna().median())
            status = ", ".join(sorted(set(cities["data_status"])))
            sources.append(f"icc {icc:.3f}: median over {cities['icc'].notna().sum()} cities "
                           f"({status} data)")
        if len(cities):
            print("Variance components by source (icc: time-varying neighbourhood shock; "
                  "icc_persistent: baseline one-way ANOVA):")
            cols = ["source", "data_status", "outcome", "sd", "icc", "icc_persistent", "n_clusters", "per_cell", "n"]
            print(cities[cols].round(3).to_string(index=False))
            print()
    if sd is None or icc is None:
        print("no data to take sd/icc from: pass --sd and --icc", file=sys.stderr)
        return 2
    plan = Plan(args.pilot, args.comparison, args.per_cell, sd, icc, args.deff, args.alpha,
                args.power, args.effect)
    print(f"Planned DiD: {plan.n_pilot} pilot + {plan.n_comparison} comparison neighbourhoods, "
          f"{plan.per_cell:g} respondents per neighbourhood and wave ({args.outcome})")
    for s in sources:
        print(f"  {s}")
    print(f"  standard error of the effect: {_fmt(plan.se, 3)} (t with {plan.df} df)")
    print(f"  minimum detectable effect (power {plan.target_power:.0%}, alpha {plan.alpha:g}): "
          f"{_fmt(plan.mde)} points")
    if plan.power is not None:
        print(f"  power to detect {plan.effect:g} points: {plan.power:.0%}")
    for w in plan.warnings:
        print(f"  WARNING: {WARNING_TEXT[w]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
