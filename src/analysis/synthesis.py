"""Cross-city synthesis: forest plots, random-effects pooling, pilot types, benchmarks.

Each city's effect is its DiD (or pre/post) estimate from ``reports/tables/<city>/impact.csv``
with its cluster-robust (CRV1) standard error as the within-city variance. The pooled
effect is a random-effects mean (statsmodels ``combine_effects``; DerSimonian-Laird by
default, Paule-Mandel on request) with the between-city variance τ² and I². Only
difference-in-differences estimates are pooled by default: a pre/post estimate carries
the city's trend and is not an estimate of the same quantity (it is shown, not pooled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.meta_analysis import combine_effects

from . import codebook
from .config import PATHS
from .evidence import MAIN_INDICATORS


def random_effects(estimates, std_errors, *, method: str = "dl", labels=None) -> dict:
    """Random-effects pooled estimate of k effects.

    Parameters
    ----------
    estimates, std_errors : array-like
        Effects and their standard errors (same scale).
    method : {"dl", "pm"}
        DerSimonian-Laird or Paule-Mandel estimator of τ².
    labels : list of str, optional

    Returns
    -------
    dict
        ``k``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (normal, 95 %),
        ``tau2``, ``i2``, ``q`` (Cochran's Q), ``q_p_value``, ``method``.
    """
    y = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    y, se = y[ok], se[ok]
    k = len(y)
    out = dict(k=k, estimate=np.nan, std_error=np.nan, ci_low=np.nan, ci_high=np.nan,
               tau2=np.nan, i2=np.nan, q=np.nan, q_p_value=np.nan, method=method)
    if k == 0:
        return out
    if k == 1:
        out.update(estimate=y[0], std_error=se[0], ci_low=y[0] - 1.96 * se[0], ci_high=y[0] + 1.96 * se[0])
        return out
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        # statsmodels also computes HKSJ variants, which divide by zero when the effects
        # are homogeneous; they are not used here.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(y, se**2, method_re=method, row_names=labels)
    q = float(res.q)
    tau2 = float(res.tau2)
    if tau2 <= 0:
        # statsmodels 0.15 does not truncate the DL moment estimate at zero (it returned
        # tau2 = -0.035 for three equal effects); the estimator is max(0, .), and with
        # tau2 = 0 the random-effects mean is the fixed-effect mean.
        tau2 = 0.0
        w = 1 / se**2
        est, sd = float(np.sum(w * y) / w.sum()), float(np.sqrt(1 / w.sum()))
    else:
        est, sd = float(res.mean_effect_re), float(res.sd_eff_w_re)
    q_crit = stats.norm.ppf(0.975)
    out.update(estimate=est, std_error=sd, ci_low=est - q_crit * sd, ci_high=est + q_crit * sd,
               tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0, q=q,
               q_p_value=float(stats.chi2.sf(q, k - 1)))
    return out


def load_tables(name: str, cities: list[str] | None = None) -> pd.DataFrame:
    """Concatenate ``reports/tables/<city>/<name>.csv`` over the cities that have it."""
    from .config import CITIES

    frames = []
    for city in cities or list(CITIES):
        path = PATHS.tables_city(city) / f"{name}.csv"
        if path.is_file():
            frames.append(pd.read_csv(path, dtype={"neighbourhood": "str"}))
    if not frames:
        raise FileNotFoundError(f"no reports/tables/<city>/{name}.csv found: run notebooks/03-impact.ipynb first")
    return pd.concat(frames, ignore_index=True).drop(columns=["data_status"], errors="ignore")


def pooled_table(impacts: pd.DataFrame, *, outcomes: tuple[str, ...] = MAIN_INDICATORS,
                 groups: tuple[str, ...] = ("all",), designs: tuple[str, ...] = ("did",),
                 method: str = "dl") -> pd.DataFrame:
    """Random-effects pooled effect per outcome (and group) over cities (``pooled.csv``)."""
    rows = []
    res = impacts[impacts["population"] == "residents"]
    for outcome in outcomes:
        for group in groups:
            d = res[(res["outcome"] == outcome) & (res["group"] == group) & res["design"].isin(designs)]
            d = d[d["estimate"].notna()]
            pooled = random_effects(d["estimate"], d["std_error"], method=method, labels=list(d["city"]))
            rows.append({"outcome": outcome, "group": group, "designs": "+".join(designs),
                         "cities": ", ".join(d["city"]), **pooled})
    return pd.DataFrame(rows)


def pilot_types(impacts: pd.DataFrame, profiles: dict, *, outcome: str = "trust_police",
                alpha: float = 0.05) -> pd.DataFrame:
    """Which pilot kinds moved ``outcome`` for which groups: effect (p) per kind x group.

    One row per city; columns per group hold "effect [ci]" with a star when p < alpha.
    """
    res = impacts[(impacts["population"] == "residents") & (impacts["outcome"] == outcome)]
    rows = []
    for city, d in res.groupby("city", sort=False):
        prof = profiles[city]
        row = {"city": city, "kind": prof.pilot.kind, "design": d["design"].iloc[0]}
        for _, r in d.iterrows():
            if np.isfinite(r["estimate"]):
                star = "*" if r["p_value"] < alpha else ""
                row[r["group"]] = f"{r['estimate']:+.2f}{star}"
            else:
                row[r["group"]] = "–"
        rows.append(row)
    out = pd.DataFrame(rows)
    cols = ["city", "kind", "design", "all"] + [g for g in codebook.TARGET_GROUPS if g in out.columns]
    return out[cols].fillna("")


def ratings(evidence: pd.DataFrame) -> pd.DataFrame:
    """Each city's evidence rating and the reasons it was downgraded."""
    rows = []
    for city, d in evidence.groupby("city", sort=False):
        rating = d[d["criterion"] == "rating"].iloc[0]
        reasons = d[(d["criterion"] != "rating") & ~d["met"].astype(bool) & (d["criterion"] != "design")]
        rows.append({"city": city, "design": d[d["criterion"] == "design"]["value"].iloc[0],
                     "rating": rating["value"], "strength": rating["consequence"],
                     "downgraded_for": "; ".join(r.removeprefix("downgrade: ") for r in reasons["consequence"])})
    return pd.DataFrame(rows)


def forest_plot(impacts: pd.DataFrame, pooled: pd.DataFrame, outcome: str, *, lang: str = "en"):
    """Forest plot of the cities' effects on ``outcome`` with the pooled random-effects diamond."""
    import matplotlib.pyplot as plt

    d = impacts[(impacts["population"] == "residents") & (impacts["outcome"] == outcome)
                & (impacts["group"] == "all")].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6, 0.45 * (len(d) + 3) + 0.8))
    ys = np.arange(len(d))[::-1] + 2
    for y, (_, r) in zip(ys, d.iterrows()):
        if not np.isfinite(r["estimate"]):
            ax.text(0, y, "suppressed" if lang == "en" else "masqué", va="center", fontsize=7, color="0.4")
            continue
        colour = "#2166ac" if r["design"] == "did" else "#b2182b"
        ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, lw=1.4)
        ax.plot(r["estimate"], y, "s", color=colour, ms=5)
    p = pooled[(pooled["outcome"] == outcome) & (pooled["group"] == "all")]
    if len(p) and np.isfinite(p["estimate"].iloc[0]):
        p = p.iloc[0]
        ax.fill([p["ci_low"], p["estimate"], p["ci_high"], p["estimate"]], [0.8, 1.1, 0.8, 0.5], color="k")
        i2 = f", I² = {100 * p['i2']:.0f}%" if np.isfinite(p["i2"]) else ""
        tau = f", τ² = {p['tau2']:.3f}" if np.isfinite(p["tau2"]) else ""
        pooled_lab = ("Pooled DiD (random effects" if lang == "en" else "Effet combiné DiD (effets aléatoires") + tau + i2 + ")"
    else:
        pooled_lab = "Pooled: too few cities" if lang == "en" else "Combiné : trop peu de villes"
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_yticks([*ys, 0.8])
    ax.set_yticklabels([f"{c} ({'DiD' if dz == 'did' else 'pre/post'})" for c, dz in zip(d["city"], d["design"])]
                       + [pooled_lab])
    scale = d["scale"].iloc[0] if len(d) else ""
    ax.set_xlabel(("Effect (points, scale " if lang == "en" else "Effet (points, échelle ") + f"{scale}), 95% CI")
    ax.set_title(codebook.label(outcome, lang))
    fig.tight_layout()
    return fig


def benchmark_table(ess_levels: pd.DataFrame, respondents: pd.DataFrame, city: str,
                    *, weights: str | None = "weight", k: int | None = None) -> pd.DataFrame:
    """National ESS levels beside a city's weighted means by wave and area (``benchmark.csv``).

    City cells under ``k`` respondents are suppressed.
    """
    from .config import K_SUPPRESS

    k = K_SUPPRESS if k is None else k
    rows = [ess_levels]
    w = respondents[weights] if weights else pd.Series(1.0, index=respondents.index)
    for ind in ess_levels["indicator"]:
        for (wave, area), d in respondents.groupby(["wave", "pilot_area"], observed=True):
            ok = d[ind].notna()
            x, ww = d.loc[ok, ind].astype(float), w[d.index][ok].astype(float)
            n = int(ok.sum())
            mean = float(np.average(x, weights=ww)) if n >= k else np.nan
            rows.append(pd.DataFrame([{"source": f"{city} survey, {wave} (weighted)", "indicator": ind,
                                       "group": area, "mean": mean, "ci_low": np.nan, "ci_high": np.nan,
                                       "n": n}]))
    return pd.concat(rows, ignore_index=True)
