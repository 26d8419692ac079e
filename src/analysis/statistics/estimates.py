"""Neighbourhood estimates: weighted means with CIs, change, Fay–Herriot shrinkage, suppression.

Owns neighbourhood estimates: weighted means, CIs, change, Fay–Herriot, suppression.
Must not weight (analysis.statistics.weights) nor draw: maps draw its table.

For each neighbourhood × wave, for everyone ("all") and for each targeted group of the
city's pilot, and for every indicator of :data:`analysis.inputs.codebook.INDICATORS`:

- **Direct estimate**: the weighted mean ``ȳ = Σwy / Σw`` (a proportion for 0/1 items),
  with the Taylor-linearisation variance of a ratio estimator under with-replacement
  sampling, ``v(ȳ) = n/(n-1) · Σ w_i² (y_i - ȳ)² / (Σw)²`` (Wolter 2007; what R
  ``survey::svymean`` gives for a one-stage design), and a 95 % CI ``ȳ ± t(n-1) · se``,
  clipped to the item's scale. This equals the HC1 sandwich standard error of an
  intercept-only weighted least squares fit, which the tests use as the reference.
  ``n`` is the unweighted number of respondents who answered; ``n_eff`` Kish's
  effective n within the cell.
- **Change** follow-up − baseline: independent samples, ``se = √(se_b² + se_f²)``,
  Welch–Satterthwaite degrees of freedom; ``n`` of a change is the smaller of the two waves'.
- **Shrinkage** (:func:`fay_herriot`): an area-level Fay–Herriot model per
  group × wave × indicator across the city's neighbourhoods, ``θ̂_i = μ + u_i + e_i``,
  ``u_i ~ N(0, σ²_u)``, ``e_i ~ N(0, ψ_i)``; σ²_u by REML (or Fay–Herriot's moment
  estimator); the empirical-Bayes estimate ``γ_i θ̂_i + (1 - γ_i) μ̂`` with
  ``γ_i = σ²_u / (σ²_u + ψ_i)``. Direct variances of small cells are themselves too
  noisy to plug in (a cell whose few answers happen to agree would get ψ = 0 and no
  shrinkage), so ψ_i is smoothed: the city's pooled within-neighbourhood variance of the
  item divided by the cell's effective n. Shrunk estimates are for maps and rankings;
  the impact analysis uses the respondent-level data, not these. The model is fitted
  **only on the published cells** (n ≥ ``K_SUPPRESS`` and not suppressed by rule 4 below):
  fitted on hidden cells too, its published ``shrunk`` and ``gamma`` would give back a
  hidden cell's mean (the audit did exactly that).
- **Suppression** (:func:`suppress`), following :mod:`analysis.publishing.disclosure`: every cell with
  fewer than ``K_SUPPRESS`` respondents has its estimate, CI and shrunk estimate blanked and
  ``suppressed=True``, in every table and map (primary suppression); then, within the pilot,
  comparison and other areas of each group × wave × indicator, further cells are suppressed
  until no hidden cell can be recovered from a published area-level mean minus the published
  neighbourhood means (:func:`analysis.publishing.sdc.secondary_suppression`); a change is
  suppressed when either wave is. Published counts are blank from 1 to 9 and rounded to
  base 10 above (:func:`blank_small_counts`); the CSV leaves out ``df`` (= n - 1 of a
  direct estimate, an exact count).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.inputs import codebook
from analysis import sdc
from analysis.config import K_SUPPRESS, PATHS
from analysis.io import SYNTHETIC_NOTE, atomic_path
from analysis.publishing import tables

#: Columns blanked by :func:`suppress`.
SUPPRESSED_COLUMNS: tuple[str, ...] = ("estimate", "se", "ci_low", "ci_high", "shrunk", "gamma",
                                       "n_eff", "df")

#: Columns of the published flat table, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "city", "neighbourhood", "name", "area_type", "group", "wave", "indicator", "n",
    "n_baseline", "n_follow_up", "n_eff", "estimate", "se", "ci_low", "ci_high", "df",
    "shrunk", "gamma", "suppressed", "status",
)

#: ``status`` of a row of the neighbourhood table: ``published``; ``suppressed`` (1 to k − 1
#: respondents, or hidden by secondary suppression); ``no_data`` (nobody answered: the
#: neighbourhood was not surveyed or the group is absent, n = 0, for an outcome the city
#: collected); ``not_collected`` (the city never asked the outcome, or too few of an
#: index's items: nothing to estimate, which is not a small cell and is shown differently).
STATUSES: tuple[str, ...] = ("published", "suppressed", "no_data", "not_collected")


def table_outcomes(respondents: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The outcomes of a city's neighbourhood table, and those of them not collected.

    Every main indicator (:data:`analysis.inputs.codebook.INDICATORS`) has rows, marked
    ``not_collected`` when the city did not collect it; every other codebook item the city
    collected (:data:`analysis.inputs.codebook.OUTCOMES`) is estimated on its own scale, so a city
    that asked one procedural-justice item gets that item mapped and tabulated.
    """
    status = {o: codebook.collection_status(respondents, o) for o in codebook.OUTCOMES}
    not_collected = [o for o in codebook.INDICATORS if status[o] in ("not_collected", "too_few_items")]
    outcomes = [o for o in codebook.OUTCOMES
                if o in codebook.INDICATORS or status[o] not in ("not_collected", "too_few_items")]
    return outcomes, not_collected

WAVES_OUT: tuple[str, ...] = ("baseline", "follow_up", "change")


# ------------------------------------------------------------------- direct estimate
def weighted_mean_ci(y, w, alpha: float = 0.05) -> dict:
    """Weighted mean with a linearisation standard error and a t confidence interval.

    Parameters
    ----------
    y, w : array-like
        Values and positive weights; pairs where either is missing are dropped.
    alpha : float
        1 - confidence level.

    Returns
    -------
    dict
        ``n``, ``n_eff`` (Kish), ``estimate``, ``se``, ``df`` (n - 1), ``ci_low``, ``ci_high``.
        With one observation, the SE and CI are NaN; with none, everything is NaN and n = 0.
    """
    if not (isinstance(y, np.ndarray) and y.dtype == float):
        y = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not (isinstance(w, np.ndarray) and w.dtype == float):
        w = pd.to_numeric(pd.Series(w), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    y, w = y[ok], w[ok]
    n = int(len(y))
    out = {"n": n, "n_eff": np.nan, "estimate": np.nan, "se": np.nan, "df": np.nan,
           "ci_low": np.nan, "ci_high": np.nan}
    if n == 0:
        return out
    sw = w.sum()
    mean = float((w * y).sum() / sw)
    out.update(n_eff=float(sw ** 2 / (w ** 2).sum()), estimate=mean)
    if n >= 2:
        var = n / (n - 1) * float((w ** 2 * (y - mean) ** 2).sum()) / sw ** 2
        se = float(np.sqrt(var))
        t = stats.t.ppf(1 - alpha / 2, n - 1)
        out.update(se=se, df=float(n - 1), ci_low=float(mean - t * se), ci_high=float(mean + t * se))
    return out


def _scale(indicator: str) -> tuple[float, float]:
    try:
        return codebook.scale_range(indicator)
    except (KeyError, ValueError):
        return (-np.inf, np.inf)


def group_masks(df: pd.DataFrame, groups: Iterable[str]) -> dict[str, pd.Series]:
    """``{"all": all True, <group>: membership}`` for the targeted groups named."""
    masks = {"all": pd.Series(True, index=df.index)}
    for g in groups:
        masks[g] = codebook.TARGET_GROUPS[g].mask(df).fillna(False).astype(bool)
    return masks


def direct_estimates(respondents: pd.DataFrame, weight: pd.Series, *,
                     indicators: Sequence[str] = codebook.INDICATORS,
                     groups: Sequence[str] = (), alpha: float = 0.05) -> pd.DataFrame:
    """Weighted neighbourhood × wave means of each indicator, for all and for each group.

    Parameters
    ----------
    respondents : DataFrame
        Codebook residents (``neighbourhood``, ``wave``, the indicators, group columns).
    weight : Series
        Weights on the respondents' index (:func:`analysis.statistics.weights.city_weights`).
    indicators : sequence of str
    groups : sequence of str
        Targeted groups (keys of :data:`analysis.inputs.codebook.TARGET_GROUPS`); "all" is always included.

    Returns
    -------
    pandas.DataFrame
        Long: ``neighbourhood``, ``group``, ``wave``, ``indicator``, ``n``, ``n_eff``,
        ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high``; one row per neighbourhood
        present in the data (with n = 0 where a group/indicator has no answer).
    """
    w = pd.to_numeric(weight.reindex(respondents.index), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = {ind: pd.to_numeric(respondents[ind], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
              for ind in indicators}
    masks = group_masks(respondents, groups)
    rows = []
    keys = pd.DataFrame({"nb": respondents["neighbourhood"].astype(str).to_numpy(),
                         "wave": respondents["wave"].astype(str).to_numpy()})
    for gname, mask in masks.items():
        sel = keys[mask.to_numpy(dtype=bool)]
        for (code, wave), pos in sorted(sel.groupby(["nb", "wave"]).indices.items()):
            pos = sel.index.to_numpy()[pos]  # positions in the full frame
            for ind in indicators:
                est = weighted_mean_ci(values[ind][pos], w[pos], alpha)
                lo, hi = _scale(ind)
                if np.isfinite(est["ci_low"]):
                    est["ci_low"], est["ci_high"] = max(est["ci_low"], lo), min(est["ci_high"], hi)
                rows.append({"neighbourhood": code, "group": gname, "wave": wave,
                             "indicator": ind, **est})
    cols = ["neighbourhood", "group", "wave", "indicator", "n", "n_eff", "estimate", "se", "df",
            "ci_low", "ci_high"]
    out = pd.DataFrame(rows, columns=cols)
    out["n"] = out["n"].astype("int64")
    return out


def change_estimates(direct: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Follow-up minus baseline for each neighbourhood × group × indicator.

    Independent cross-sections: ``se = √(se_b² + se_f²)``, Welch–Satterthwaite df.
    ``n`` is the smaller wave's n (the cell is suppressed if either wave is small);
    ``n_baseline`` and ``n_follow_up`` are kept.
    """
    key = ["neighbourhood", "group", "indicator"]
    b = direct[direct["wave"] == "baseline"].set_index(key)
    f = direct[direct["wave"] == "follow_up"].set_index(key)
    both = b.join(f, how="outer", suffixes=("_b", "_f"))
    nb_ = both["n_b"].fillna(0).astype("int64")
    nf_ = both["n_f"].fillna(0).astype("int64")
    est = both["estimate_f"] - both["estimate_b"]
    var_b, var_f = both["se_b"] ** 2, both["se_f"] ** 2
    se = np.sqrt(var_b + var_f)
    dfw = (var_b + var_f) ** 2 / (var_b ** 2 / both["df_b"] + var_f ** 2 / both["df_f"])
    dfw = dfw.where(np.isfinite(dfw), np.minimum(both["df_b"], both["df_f"]))
    t = pd.Series(stats.t.ppf(1 - alpha / 2, dfw.to_numpy(dtype=float)), index=both.index)
    out = pd.DataFrame({
        "wave": "change", "n": np.minimum(nb_, nf_), "n_baseline": nb_, "n_follow_up": nf_,
        "n_eff": np.fmin(both["n_eff_b"], both["n_eff_f"]),
        "estimate": est, "se": se, "df": dfw, "ci_low": est - t * se, "ci_high": est + t * se,
    }, index=both.index).reset_index()
    return out


# -------------------------------------------------------------------- Fay–Herriot
@dataclass(frozen=True)
class FayHerriot:
    """A fitted area-level Fay–Herriot model.

    Attributes
    ----------
    sigma2_u : float
        Between-area variance.
    beta : numpy.ndarray
        Regression coefficients (the city mean when the design is an intercept).
    gamma : numpy.ndarray
        Shrinkage factors ``σ²_u / (σ²_u + ψ_i)``.
    shrunk : numpy.ndarray
        Empirical-Bayes estimates ``γ_i θ̂_i + (1 - γ_i) x_i'β̂``.
    synthetic : numpy.ndarray
        Regression predictions ``x_i'β̂``.
    method : str
    """

    sigma2_u: float
    beta: np.ndarray
    gamma: np.ndarray
    shrunk: np.ndarray
    synthetic: np.ndarray
    method: str


def _gls(theta, psi, X, s2):
    v = s2 + psi
    XtVi = X.T / v
    beta = np.linalg.solve(XtVi @ X, XtVi @ theta)
    return beta, v, XtVi


def _reml_negloglik(s2, theta, psi, X):
    beta, v, XtVi = _gls(theta, psi, X, s2)
    r = theta - X @ beta
    _, logdet = np.linalg.slogdet(XtVi @ X)
    return 0.5 * (np.log(v).sum() + logdet + (r ** 2 / v).sum())


def fay_herriot(direct, psi, X=None, *, method: str = "REML", sigma2_u: float | None = None) -> FayHerriot:
    """Fit a Fay–Herriot area-level model and shrink the direct estimates.

    Parameters
    ----------
    direct : array-like
        Direct estimates θ̂_i of m areas.
    psi : array-like
        Their (known) sampling variances ψ_i > 0.
    X : array-like, optional
        m × p area-level design; default an intercept (shrink toward the mean).
    method : {"REML", "FH"}
        REML, or Fay and Herriot's (1979) moment estimator, for σ²_u (truncated at 0).
    sigma2_u : float, optional
        Use this between-area variance instead of estimating it.

    Returns
    -------
    FayHerriot
    """
    theta = np.asarray(direct, dtype=float)
    psi = np.asarray(psi, dtype=float)
    m = len(theta)
    X = np.ones((m, 1)) if X is None else np.asarray(X, dtype=float).reshape(m, -1)
    p = X.shape[1]
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(psi)) and np.all(psi > 0)):
        raise ValueError("fay_herriot: direct estimates must be finite and variances positive")
    if sigma2_u is None:
        if m <= p:
            raise ValueError(f"fay_herriot: {m} areas cannot identify {p} coefficients and σ²_u")
        upper = max(float(np.var(theta, ddof=0)) * 10, float(psi.max()) * 10, 1e-8)
        if method.upper() == "REML":
            res = optimize.minimize_scalar(_reml_negloglik, bounds=(0.0, upper), method="bounded",
                                           args=(theta, psi, X), options={"xatol": 1e-10})
            s2 = float(res.x)
            # The bounded search never lands exactly on 0: compare with the boundary.
            if _reml_negloglik(0.0, theta, psi, X) <= res.fun:
                s2 = 0.0
        elif method.upper() == "FH":
            def moment(s2):
                beta, v, _ = _gls(theta, psi, X, s2)
                return ((theta - X @ beta) ** 2 / v).sum() - (m - p)
            s2 = 0.0 if moment(0.0) <= 0 else float(optimize.brentq(moment, 0.0, upper * 10, xtol=1e-12))
        else:
            raise ValueError(f"fay_herriot: unknown method {method!r}; use 'REML' or 'FH'")
    else:
        s2 = float(sigma2_u)
    beta, _, _ = _gls(theta, psi, X, s2)
    synth = X @ beta
    gamma = s2 / (s2 + psi)
    return FayHerriot(sigma2_u=s2, beta=beta, gamma=gamma, shrunk=gamma * theta + (1 - gamma) * synth,
                      synthetic=synth, method=method.upper() if sigma2_u is None else "given")


def _pooled_variance(respondents: pd.DataFrame, weight: pd.Series, indicator: str,
                     mask: pd.Series) -> pd.Series:
    """Weighted within-neighbourhood variance of ``indicator``, pooled over neighbourhoods, per wave."""
    d = pd.DataFrame({"y": pd.to_numeric(respondents[indicator], errors="coerce").astype(float),
                      "w": weight.astype(float), "nb": respondents["neighbourhood"].astype(str),
                      "wave": respondents["wave"].astype(str)})[mask.to_numpy()].dropna()
    out = {}
    for wave, g in d.groupby("wave"):
        wy = (g["y"] * g["w"]).groupby(g["nb"]).transform("sum")
        mean = wy / g.groupby("nb")["w"].transform("sum")
        dev2 = (g["y"] - mean) ** 2
        k = g["nb"].nunique()
        # Weighted residual variance, with the degrees of freedom the area means used up.
        s2 = float(np.average(dev2, weights=g["w"])) * len(g) / max(len(g) - k, 1)
        out[wave] = s2
    return pd.Series(out, dtype=float)


def shrink(table: pd.DataFrame, respondents: pd.DataFrame, weight: pd.Series, *,
           groups: Sequence[str] = (), method: str = "REML", min_n: int = K_SUPPRESS,
           min_areas: int = 3) -> pd.DataFrame:
    """Add Fay–Herriot ``shrunk`` and ``gamma`` to a table of direct and change estimates.

    One model per group × wave × indicator, across the neighbourhoods with at least
    ``min_n`` respondents (default the suppression threshold) and, when the table has a
    ``suppressed`` column, not suppressed: the model sees only what is published, so its
    outputs reveal nothing about a hidden cell. ψ_i is the pooled within-neighbourhood
    variance divided by the cell's effective n (summed over the two waves for a change).
    Where fewer than ``min_areas`` areas qualify, ``shrunk`` is NaN.
    """
    out = table.copy()
    out["shrunk"], out["gamma"] = np.nan, np.nan
    masks = group_masks(respondents, groups)
    w = weight.reindex(respondents.index).astype(float)
    for (grp, ind), sub in out.groupby(["group", "indicator"], sort=False):
        pooled = _pooled_variance(respondents, w, ind, masks[grp])
        psi_wave = {}
        for wave in ("baseline", "follow_up"):
            rows = sub[(sub["wave"] == wave)]
            s2 = pooled.get(wave, np.nan)
            psi_wave[wave] = pd.Series(s2 / rows["n_eff"].to_numpy(), index=rows["neighbourhood"].to_numpy())
        for wave in WAVES_OUT:
            rows = sub[(sub["wave"] == wave)]
            if wave == "change":
                psi = (rows["neighbourhood"].map(psi_wave["baseline"]).to_numpy(dtype=float)
                       + rows["neighbourhood"].map(psi_wave["follow_up"]).to_numpy(dtype=float))
            else:
                psi = rows["neighbourhood"].map(psi_wave[wave]).to_numpy(dtype=float)
            ok = ((rows["n"] >= min_n).to_numpy() & np.isfinite(rows["estimate"].to_numpy(dtype=float))
                  & np.isfinite(psi) & (psi > 0))
            if "suppressed" in rows.columns:
                ok &= ~rows["suppressed"].fillna(True).to_numpy(dtype=bool)
            if ok.sum() < min_areas:
                continue
            fit = fay_herriot(rows["estimate"].to_numpy(dtype=float)[ok], psi[ok], method=method)
            idx = rows.index[ok]
            out.loc[idx, "shrunk"] = fit.shrunk
            out.loc[idx, "gamma"] = fit.gamma
    return out


# -------------------------------------------------------------------- suppression
def suppress(table: pd.DataFrame, n_col: str = "n", k: int = K_SUPPRESS,
             columns: Iterable[str] = SUPPRESSED_COLUMNS) -> pd.DataFrame:
    """Blank every cell with fewer than ``k`` respondents.

    The one suppression rule of every published table and figure: where ``n < k``
    (or ``n`` is missing), the estimate, its standard error and CI and the shrunk
    estimate (those of ``columns`` present) become missing and ``suppressed`` is True.
    A ``suppressed`` column already present is kept True where it was (idempotent).

    Parameters
    ----------
    table : DataFrame
    n_col : str
        Column with the unweighted number of respondents behind each row.
    k : int
        Minimum number of respondents (default :data:`analysis.config.K_SUPPRESS`).
    columns : iterable of str
        Value columns to blank.

    Returns
    -------
    pandas.DataFrame
        A copy.
    """
    if n_col not in table.columns:
        raise KeyError(f"suppress: column {n_col!r} (respondents per cell) not in the table "
                       f"(columns: {list(table.columns)})")
    out = table.copy()
    n = pd.to_numeric(out[n_col], errors="coerce")
    small = (n < k) | n.isna()
    if "suppressed" in out.columns:
        small = small | out["suppressed"].fillna(True).astype(bool)
    for col in columns:
        if col in out.columns:
            out[col] = out[col].astype("float64").where(~small.to_numpy(), np.nan)
    out["suppressed"] = small.to_numpy(dtype=bool)
    return out


# ---------------------------------------------------------------------- everything
def neighbourhood_estimates(respondents: pd.DataFrame, weights: pd.DataFrame | pd.Series, profile, *,
                            indicators: Sequence[str] | None = None, method: str = "REML",
                            k: int = K_SUPPRESS) -> pd.DataFrame:
    """The published neighbourhood table: direct, change and shrunk estimates, suppressed.

    Parameters
    ----------
    respondents : DataFrame
        One city's codebook residents.
    weights : DataFrame or Series
        :func:`analysis.statistics.weights.city_weights` output (its ``weight`` column) or a Series.
    profile : CityProfile
        Targeted groups, neighbourhood names and area types.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, one row per neighbourhood of the profile × group ×
        wave ("baseline", "follow_up", "change") × indicator (n = 0 where nobody answered),
        with every cell under ``k`` respondents suppressed. ``indicators`` default:
        :func:`table_outcomes` (main indicators, and every other item collected);
        ``status`` says published, suppressed, no data (n = 0) or not collected.
    """
    not_collected: list[str] = []
    if indicators is None:
        indicators, not_collected = table_outcomes(respondents)
    w = weights["weight"] if isinstance(weights, pd.DataFrame) else weights
    groups = list(profile.pilot.targeted_groups)
    direct = direct_estimates(respondents, w, indicators=indicators, groups=groups)
    table = pd.concat([direct, change_estimates(direct)], ignore_index=True)
    # One row per profile neighbourhood, group, wave and indicator, even where nobody answered.
    full = pd.MultiIndex.from_product([profile.codes, ["all", *groups], list(WAVES_OUT), list(indicators)],
                                      names=["neighbourhood", "group", "wave", "indicator"])
    table = table.set_index(list(full.names)).reindex(full).reset_index()
    table["n"] = table["n"].fillna(0).astype("int64")
    for col, wave in (("n_baseline", "baseline"), ("n_follow_up", "follow_up")):
        per_wave = table[table["wave"] == wave].set_index(["neighbourhood", "group", "indicator"])["n"]
        keyed = pd.MultiIndex.from_frame(table[["neighbourhood", "group", "indicator"]])
        table[col] = per_wave.reindex(keyed).fillna(0).astype("int64").to_numpy()
    nb = profile.neighbourhood_frame().set_index("code")
    table.insert(0, "city", profile.city)
    table["name"] = table["neighbourhood"].map(nb["name"])
    table["area_type"] = table["neighbourhood"].map(nb["area_type"])
    table["suppressed"] = suppression_flags(table, k=k)
    # Fay–Herriot on the published cells only (disclosure rule 5).
    table = shrink(table, respondents, w, groups=groups, method=method, min_n=k)
    order = {c: i for i, c in enumerate(profile.codes)}
    table = table.sort_values(["group", "indicator", "wave", "neighbourhood"],
                              key=lambda s: s.map(order) if s.name == "neighbourhood" else
                              (s.map({g: i for i, g in enumerate(["all", *groups])}) if s.name == "group" else
                               (s.map({x: i for i, x in enumerate(indicators)}) if s.name == "indicator" else
                                s.map({x: i for i, x in enumerate(WAVES_OUT)})))).reset_index(drop=True)
    # n = 0 is "no data", not a small cell (a change row's n is its smaller wave's, so a
    # change with either wave empty is no data too); not_collected wins over both.
    table["status"] = np.select(
        [table["indicator"].isin(not_collected).to_numpy(), (table["n"] == 0).to_numpy(),
         table["suppressed"].astype(bool).to_numpy()],
        ["not_collected", "no_data", "suppressed"], default="published")
    return suppress(table[list(TABLE_COLUMNS)], k=k)[list(TABLE_COLUMNS)]


def suppression_flags(table: pd.DataFrame, k: int = K_SUPPRESS) -> pd.Series:
    """Primary, secondary and change suppression of a neighbourhood table (before blanking).

    Primary: ``n < k``. Secondary: :func:`analysis.publishing.sdc.secondary_suppression`
    within the pilot / comparison / other areas of each group × wave × indicator, for the
    two waves. Change: suppressed when its own n (the smaller wave's) is below ``k`` or
    when either wave's cell is suppressed (else follow-up − change = baseline).

    Returns
    -------
    pandas.Series of bool
        On ``table``'s index.
    """
    n = pd.to_numeric(table["n"], errors="coerce")
    flags = pd.DataFrame({"n": n, "suppressed": (n < k) | n.isna()}, index=table.index)
    for c in ("area_type", "group", "wave", "indicator", "neighbourhood"):
        flags[c] = table[c].to_numpy()
    waves = flags["wave"].isin(["baseline", "follow_up"])
    flags.loc[waves, "suppressed"] = sdc.secondary_suppression(flags[waves], k=k)
    by_wave = flags[waves].set_index(["neighbourhood", "group", "indicator", "wave"])["suppressed"]
    ch = flags.index[flags["wave"] == "change"]
    for wave in ("baseline", "follow_up"):
        key = pd.MultiIndex.from_arrays([flags.loc[ch, "neighbourhood"], flags.loc[ch, "group"],
                                         flags.loc[ch, "indicator"], [wave] * len(ch)])
        other = by_wave.reindex(key).fillna(True).to_numpy(dtype=bool)
        flags.loc[ch, "suppressed"] = flags.loc[ch, "suppressed"].to_numpy(dtype=bool) | other
    return flags["suppressed"].astype(bool)


def wide_estimates(table: pd.DataFrame, group: str = "all") -> pd.DataFrame:
    """One row per neighbourhood, columns ``<indicator>_<wave>[_lo|_hi|_n|_shrunk|_supp]``."""
    sub = table[table["group"] == group]
    parts = {}
    for (ind, wave), g in sub.groupby(["indicator", "wave"], sort=False):
        g = g.set_index("neighbourhood")
        stem = f"{ind}_{wave}"
        parts[stem] = g["estimate"]
        parts[f"{stem}_lo"] = g["ci_low"]
        parts[f"{stem}_hi"] = g["ci_high"]
        parts[f"{stem}_shrunk"] = g["shrunk"]
        parts[f"{stem}_n"] = g["n"]
        parts[f"{stem}_supp"] = g["suppressed"]
    return pd.DataFrame(parts).rename_axis("code").reset_index()


def write_outputs(table: pd.DataFrame, geometry, profile, *, group: str = "all") -> dict:
    """Write ``neighbourhoods.gpkg`` (processed) and ``neighbourhoods.csv`` (published table).

    Parameters
    ----------
    table : DataFrame
        :func:`neighbourhood_estimates` output (suppressed).
    geometry : CityGeometry or GeoDataFrame
        Polygons with ``code`` (:func:`analysis.geography.geo.city_geometry`).
    profile : CityProfile

    Returns
    -------
    dict
        ``{"gpkg": path, "csv": path}``.
    """
    table = suppress(table)  # idempotent: nothing below k leaves this function
    gdf = getattr(geometry, "gdf", geometry)
    wide = gdf.merge(wide_estimates(table, group), on="code", how="left")
    if profile.synthetic:
        # built at once (concat, then the column order), not inserted into a frame of
        # hundreds of columns: an insert there raises a PerformanceWarning that would carry
        # this file's absolute path into the published notebook
        status = pd.DataFrame({"data_status": SYNTHETIC_NOTE}, index=wide.index)
        wide = pd.concat([wide, status], axis=1)[["data_status", *wide.columns]]
    gpkg = PATHS.processed_city(profile.city) / "neighbourhoods.gpkg"
    with atomic_path(gpkg) as tmp:
        # GDAL wants a .gpkg name and a file it creates itself: write beside, then move.
        part = tmp.with_name(tmp.name + ".gpkg")
        try:
            wide.to_file(part, driver="GPKG", layer="neighbourhoods")
            os.replace(part, tmp)
        finally:
            part.unlink(missing_ok=True)
    published = blank_small_counts(table).drop(columns=["df"], errors="ignore")
    csv = tables.write("neighbourhoods", published, city=profile.city, synthetic=profile.synthetic)
    return {"gpkg": gpkg, "csv": csv}


COUNT_COLUMNS = ("n", "n_baseline", "n_follow_up", "n_eff")


def blank_small_counts(table: pd.DataFrame, k: int = K_SUPPRESS,
                       columns: Iterable[str] = COUNT_COLUMNS) -> pd.DataFrame:
    """Published respondent counts: blank from 1 to ``k - 1``, rounded to base 10 above.

    A count of 3 in a published cell says as much about a small group as an estimate
    does, so published tables show neither (the ``suppressed`` flag stays); the other
    counts are rounded (:func:`analysis.publishing.sdc.publish_count`) so that no hidden
    count is their difference. ``n_eff`` (a weighted quantity) is only blanked.
    """
    out = table.copy()
    for col in columns:
        if col in out.columns:
            n = pd.to_numeric(out[col], errors="coerce")
            out[col] = n.where(~((n > 0) & (n < k)))
    counts = [c for c in columns if c in out.columns and c != "n_eff"]
    return sdc.publish_counts(out, counts, marker=None)


def published_view(table: pd.DataFrame, indicators: Sequence[str] = ("trust_police", "pj_index",
                                                                      "legitimacy_index", "feel_safe_dark"),
                   group: str = "all", waves: Sequence[str] = WAVES_OUT,
                   area_types: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """A compact, rounded, suppressed view of the table for notebooks.

    One group, some indicators and waves, optionally only some area types (e.g. pilot and
    comparison areas), rounded to ``digits`` decimals so stored outputs are stable.
    """
    cols = ["neighbourhood", "name", "area_type", "wave", "indicator", "n", "estimate", "ci_low",
            "ci_high", "shrunk", "suppressed"]
    keep = ((table["group"] == group) & table["indicator"].isin(indicators) & table["wave"].isin(waves))
    if area_types is not None:
        keep &= table["area_type"].isin(area_types)
    sub = suppress(table[keep])[cols]
    return sdc.publish_counts(sub.round(digits).reset_index(drop=True), ["n"])


def summary_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Cells published and suppressed, by group and wave (for notebooks)."""
    out = (table.groupby(["group", "wave"], sort=False)["suppressed"]
           .agg(cells="size", suppressed="sum").reset_index())
    out["published"] = out["cells"] - out["suppressed"]
    return out
