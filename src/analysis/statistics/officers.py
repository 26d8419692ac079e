"""The pilot's effect on police officers (officer survey, baseline and follow-up).

Owns the officers' effects, clustered by officer, and their unit-bootstrap sensitivity.
Must not read or write files: the impact step runs it.

Where both waves hold enough trained and untrained officers, the effect on each
:data:`codebook.OFFICER_INDICATORS` item is a difference-in-differences, trained x wave
(``y ~ trained + post + trained:post``); otherwise a pre/post change over all officers.
Cells under ``K_SUPPRESS`` officers are suppressed.

**Inference.** The officer survey is a *partial panel*: the same officer can answer in
both waves (ids link them). Her two answers are correlated, so OLS with HC1 standard
errors, which treats every row as independent, is wrong in a direction that depends on
the data: with the officer's own level differenced out by the DiD, HC1 overstates the
spread; with shocks shared by a unit's officers, it understates it. The published
interval uses **CRV1 standard errors clustered by officer** (each officer a cluster, t
with G - 1 degrees of freedom), checked against statsmodels' ``cov_type="cluster"`` in
``tests/test_officers.py``. Officers of the same police **unit** share a chief, a beat and
its events, which officer clustering cannot see; a **wild cluster restricted bootstrap
with the unit as cluster** (:mod:`analysis.statistics.impact`, Webb weights below 6 units) is the
sensitivity check (:func:`officer_sensitivity`).

Measured with :func:`simulate_coverage` (90 officers a wave, half of them in both waves):

* officer effects only (sd 0.8, noise 0.5; 600 surveys): true spread of the DiD 0.231,
  mean HC1 SE 0.288, mean CRV1-by-officer SE 0.232; 95 % coverage 0.98 (HC1), 0.95 (CRV1);
* training given to whole units and unit × wave shocks (sd 0.3), 4 units (300 surveys):
  true spread 0.368, HC1 0.292, CRV1 by officer 0.239; coverage 0.89 (HC1), 0.81 (CRV1),
  0.97 (unit-level wild bootstrap). Where the sensitivity check and the published interval
  disagree, the unit-level one is the safer reading.

**Caveat codes** (``note_key`` column; the report words them, tables hold no sentence):

``partial_panel_clustered``
    Some officers answered both waves; standard errors clustered by officer.
``independent_samples_clustered``
    No officer answered twice; clustering by officer is then HC1 up to G / (G - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS, SEED
from analysis.sdc import publish_count
from analysis.publishing.tables import order_impact_columns
from analysis.statistics.bootstrap import wild_cluster_bootstrap
from analysis.statistics.areas import coarse_df

#: Caveat code of rows from a partial panel (some officers in both waves).
CAVEAT_PANEL = "partial_panel_clustered"
#: Caveat code when no officer answered in both waves.
CAVEAT_INDEPENDENT = "independent_samples_clustered"
#: Code of the published inference (``inference`` column; catalogue ``inference.crv1_officer``:
#: OLS, CRV1 standard errors clustered by officer, t with the officers rounded down to base 10, minus 1, df).
INFERENCE = "crv1_officer"
#: Fewest police units for the unit-level wild bootstrap.
MIN_UNITS = 3


def _trained(officers: pd.DataFrame) -> pd.Series:
    """Trained in the pilot, per officer when ids link the waves, else as answered."""
    per_row = officers["trained_in_pilot"].astype("boolean")
    ids = officers["officer_id"]
    if ids.duplicated().any():  # a panel: an officer trained by follow-up is "trained" at baseline too
        ever = per_row.fillna(False).groupby(ids).transform("max").astype("boolean")
        return ever.where(per_row.groupby(ids).transform("count") > 0, pd.NA)
    return per_row


@dataclass
class ClusterFit:
    """OLS coefficient ``j`` with HC1 and CRV1 standard errors."""

    estimate: float
    se_hc1: float
    se_crv1: float
    n: int
    n_clusters: int
    df: int  # degrees of freedom of the CRV1 t test (G - 1)

    @property
    def published_df(self) -> int:
        """Degrees of freedom of published intervals and p-values: ``G`` rounded *down* to
        base 10, minus 1 (:func:`analysis.statistics.areas.coarse_df`). An exact ``G - 1`` lets a
        published interval give the exact number of officers back, and two outcomes' counts
        then differ by the few officers who skipped an item (audit D2); the coarser df is
        conservative (a wider interval), by under 1 % of the width from 20 officers on."""

        return int(coarse_df(self.df))

    def ci(self, alpha: float = 0.05, df: int | None = None) -> tuple[float, float]:
        """CRV1 t interval with ``df`` (default ``G - 1``) degrees of freedom."""
        q = stats.t.ppf(1 - alpha / 2, self.df if df is None else df)
        return self.estimate - q * self.se_crv1, self.estimate + q * self.se_crv1

    def p_value(self, b0: float = 0.0, df: int | None = None) -> float:
        """Two-sided CRV1 t test of ``beta_j = b0`` (``df`` default ``G - 1``)."""
        return float(2 * stats.t.sf(abs((self.estimate - b0) / self.se_crv1), self.df if df is None else df))


def cluster_fit(X: np.ndarray, y: np.ndarray, clusters, j: int = 0) -> ClusterFit:
    """OLS of ``y`` on ``X``: coefficient ``j``, its HC1 and its CRV1 standard error.

    CRV1 (Liang-Zeger with the small-sample factor ``G/(G-1) (n-1)/(n-k)``, statsmodels'
    ``cov_type="cluster"`` default) and HC1 (``n/(n-k)``), by the sandwich
    ``(X'X)^-1 (Σ_g s_g s_g') (X'X)^-1`` on the row of coefficient ``j`` only.

    Parameters
    ----------
    X : ndarray (n, k)
        Full-rank design matrix.
    y : ndarray (n,)
    clusters : array-like (n,)
        Cluster of each row (officer id).
    j : int
        Coefficient reported.

    Returns
    -------
    ClusterFit
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    _, cl = np.unique(np.asarray(clusters), return_inverse=True)
    G = int(cl.max()) + 1
    A = np.linalg.inv(X.T @ X)
    beta = A @ (X.T @ y)
    u = y - X @ beta
    a = X @ A[j]  # influence of each row on beta_j: beta_j - b = Σ a_i u_i
    se_hc1 = float(np.sqrt(n / (n - k) * np.sum((a * u) ** 2)))
    s = np.bincount(cl, weights=a * u, minlength=G)
    se_crv1 = float(np.sqrt(G / (G - 1) * (n - 1) / (n - k) * np.sum(s**2))) if G > 1 else float("nan")
    return ClusterFit(float(beta[j]), se_hc1, se_crv1, n, G, G - 1)


def _design(d: pd.DataFrame, did: bool) -> np.ndarray:
    """Design matrix, the effect in column 0 (trained x post, or post)."""
    post = d["post"].to_numpy(dtype=float)
    if did:
        t = d["trained"].astype(float).to_numpy()
        return np.column_stack([t * post, np.ones(len(d)), t, post])
    return np.column_stack([post, np.ones(len(d))])


def _samples(officers: pd.DataFrame, k_suppress: int, indicators):
    """For each indicator: (outcome, estimation sample, design, min_cell)."""
    df = officers.copy()
    df["post"] = (df["wave"].astype(str) == "follow_up").astype(float)
    df["trained"] = _trained(df)
    for outcome in indicators:
        d = df[df[outcome].notna()]
        cells = d.dropna(subset=["trained"]).groupby(["trained", "wave"], observed=True).size()
        if len(cells) == 4 and cells.min() >= k_suppress:
            yield outcome, d.dropna(subset=["trained"]), "did_trained", int(cells.min())
        else:
            per_wave = d.groupby("wave", observed=True).size()
            yield outcome, d, "pre_post", int(per_wave.min()) if len(per_wave) == 2 else 0


def officer_effects(officers: pd.DataFrame | None, profile, *, k_suppress: int = K_SUPPRESS,
                    indicators: tuple[str, ...] = codebook.OFFICER_INDICATORS) -> pd.DataFrame:
    """Officer-side effects, one row per indicator, in the columns of ``impact.csv``.

    Parameters
    ----------
    officers : pandas.DataFrame or None
        Processed officers (codebook.OFFICER_VARS); ``None`` when the city has no
        officer survey (an empty table is returned).
    profile : CityProfile
    k_suppress : int
        Minimum officers in every design cell.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`analysis.publishing.tables.IMPACT_COLUMNS`; ``design`` is
        ``"did_trained"`` or ``"pre_post"``; ``std_error``, ``ci_*`` and ``p_value``
        are CRV1 clustered by officer (t, G - 1 df), ``n_clusters`` the number of
        officers; ``note_key`` the caveat code (module docstring) or ``officers_suppressed``
        (``note_value`` = ``k_suppress``).
    """

    if officers is None or len(officers) == 0:
        return order_impact_columns(pd.DataFrame(columns=["city"]))
    panel = bool(officers["officer_id"].duplicated().any())
    caveat = CAVEAT_PANEL if panel else CAVEAT_INDEPENDENT
    rows = []
    for outcome, d, design, min_cell in _samples(officers, k_suppress, indicators):
        row = {"city": profile.city, "population": "officers", "outcome": outcome, "group": "all",
               "scale": codebook.scale_label(outcome, "officers"), "n_clusters": np.nan,
               "design": design, "n": len(d), "min_cell": min_cell}
        if min_cell < k_suppress:
            row.update(note_key="officers_suppressed", note_value=k_suppress)
            rows.append(row)
            continue
        fit = cluster_fit(_design(d, design == "did_trained"), d[outcome].to_numpy(dtype=float),
                          d["officer_id"].astype(str).to_numpy())
        lo, hi = fit.ci(df=fit.published_df)
        row.update(estimate=fit.estimate, std_error=fit.se_crv1, ci_low=lo, ci_high=hi,
                   p_value=fit.p_value(df=fit.published_df), crv_ci_low=np.nan, crv_ci_high=np.nan,
                   # the clusters are officers, i.e. respondents: published rounded to base 10
                   # like every count of respondents (outcome minus outcome gave 1-9, audit D2)
                   n_clusters=publish_count(fit.n_clusters, marker=None), inference=INFERENCE,
                   note_key=caveat)
        rows.append(row)
    return order_impact_columns(pd.DataFrame(rows))


def officer_sensitivity(officers: pd.DataFrame | None, profile, *, k_suppress: int = K_SUPPRESS,
                        indicators: tuple[str, ...] = codebook.OFFICER_INDICATORS,
                        B: int = 9999, seed: int = SEED, alpha: float = 0.05) -> pd.DataFrame:
    """Officer effects under three inferences: HC1, CRV1 by officer, and unit-level WCR.

    The methods-annex sensitivity table. The unit-level wild cluster restricted bootstrap
    (:func:`analysis.statistics.bootstrap.wild_cluster_bootstrap`, Webb weights below 6 units, all
    patterns enumerated when they are no more than ``B``) allows for any correlation
    between officers of the same police unit; with 3-5 units its interval is wide or
    unbounded, which is itself the finding.

    Returns
    -------
    pandas.DataFrame
        ``city, outcome, design, n, n_officers, n_panel_officers, n_units, estimate,
        se_hc1, se_crv1_officer, ci_low, ci_high, p_value`` (CRV1 by officer),
        ``unit_p_value, unit_ci_low, unit_ci_high, unit_weight_type, unit_B`` (the WCR by
        unit) and ``status`` (``ok``, ``suppressed``, ``too_few_units`` when fewer than
        :data:`MIN_UNITS` units or no ``unit`` column). Counts of panel officers from 1
        to 9 are left NA.
    """

    cols = ["city", "outcome", "design", "n", "n_officers", "n_panel_officers", "n_units", "estimate",
            "se_hc1", "se_crv1_officer", "ci_low", "ci_high", "p_value", "unit_p_value", "unit_ci_low",
            "unit_ci_high", "unit_weight_type", "unit_B", "status"]
    if officers is None or len(officers) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for outcome, d, design, min_cell in _samples(officers, k_suppress, indicators):
        row = {"city": profile.city, "outcome": outcome, "design": design, "n": len(d)}
        if min_cell < k_suppress:
            rows.append({**row, "status": "suppressed"})
            continue
        ids = d["officer_id"].astype(str)
        n_panel = int((ids.groupby(ids).transform("size") > 1).groupby(ids).first().sum())
        X, y = _design(d, design == "did_trained"), d[outcome].to_numpy(dtype=float)
        fit = cluster_fit(X, y, ids.to_numpy())
        lo, hi = fit.ci(alpha, df=fit.published_df)
        units = d["unit"] if "unit" in d.columns else pd.Series(pd.NA, index=d.index)
        n_units = int(units.nunique(dropna=True))
        row.update(n_officers=fit.n_clusters,
                   n_panel_officers=n_panel if n_panel == 0 or n_panel >= k_suppress else pd.NA,
                   n_units=n_units, estimate=fit.estimate, se_hc1=fit.se_hc1,
                   se_crv1_officer=fit.se_crv1, ci_low=lo, ci_high=hi,
                   p_value=fit.p_value(df=fit.published_df))
        if n_units < MIN_UNITS or units.isna().any():
            rows.append({**row, "status": "too_few_units"})
            continue
        wb = wild_cluster_bootstrap(X, y, units.astype(str).to_numpy(), 0, B=B, seed=seed, alpha=alpha)
        row.update(unit_p_value=wb.p_value, unit_ci_low=wb.ci_low, unit_ci_high=wb.ci_high,
                   unit_weight_type=wb.weight_type, unit_B=wb.B, status="ok")
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in cols:
        if c not in out.columns:
            out[c] = np.nan
    out["n_panel_officers"] = out["n_panel_officers"].astype("Int64")
    return out[cols]


# ========================================================================= validation
def _simulate(n_per_wave, share_both, effect, officer_sd, noise_sd, unit_wave_sd, n_units,
              share_trained, trained_by_unit, rng):
    """Arrays of one simulated survey: ids, wave (0/1), unit, trained, y (see simulate_officers)."""
    n_both = int(round(share_both * n_per_wave))
    n_ids = 2 * n_per_wave - n_both
    unit = rng.integers(0, n_units, n_ids)
    if trained_by_unit:  # the pilot trains whole units: most of half the units, few elsewhere
        p = np.where(unit < n_units // 2, 0.8, 0.1)
    else:
        p = np.full(n_ids, share_trained)
    trained = rng.random(n_ids) < p
    a = rng.normal(0, officer_sd, n_ids)
    shock = rng.normal(0, unit_wave_sd, (n_units, 2))
    idx = np.concatenate([np.arange(n_per_wave), np.arange(n_both), np.arange(n_per_wave, n_ids)])
    wave = np.repeat([0, 1], n_per_wave)
    y = (3 + a[idx] + shock[unit[idx], wave] + 0.2 * wave + 0.3 * trained[idx]
         + effect * trained[idx] * wave + rng.normal(0, noise_sd, len(idx)))
    return idx, wave, unit[idx], trained[idx], y


def simulate_officers(n_per_wave: int = 90, *, share_both: float = 0.5, effect: float = 0.0,
                      officer_sd: float = 0.8, noise_sd: float = 0.5, unit_wave_sd: float = 0.0,
                      n_units: int = 4, share_trained: float = 0.4, trained_by_unit: bool = False,
                      seed: int = SEED) -> pd.DataFrame:
    """A partial-panel officer survey with a *known* effect, for validating the inference.

    ``n_per_wave`` officers answer in each wave; a share ``share_both`` of the baseline
    officers answer again at follow-up, the rest of the follow-up sample are new
    officers. Each officer belongs to one of ``n_units`` units and is trained or not,
    fixed per officer: with probability ``share_trained``, or, with
    ``trained_by_unit``, 0.8 in the first half of the units and 0.1 in the others (the
    pilot trained whole units)::

        y = 3 + a_officer + s_unit,wave + 0.2 post + 0.3 trained + effect trained post + e

    ``a_officer`` (sd ``officer_sd``) makes an officer's two answers correlated;
    ``s_unit,wave`` (sd ``unit_wave_sd``) is a shock shared by a unit's officers in a wave.
    Outcome ``off_public_support`` on a continuous scale around 3.
    """
    rng = np.random.default_rng(seed)
    idx, wave, unit, trained, y = _simulate(n_per_wave, share_both, effect, officer_sd, noise_sd,
                                            unit_wave_sd, n_units, share_trained, trained_by_unit, rng)
    df = pd.DataFrame({"city": "simulated", "officer_id": [f"O{i:04d}" for i in idx],
                       "wave": np.where(wave == 1, "follow_up", "baseline"),
                       "unit": [f"U{u}" for u in unit], "trained_in_pilot": trained,
                       "off_public_support": y})
    df["trained_in_pilot"] = df["trained_in_pilot"].astype("boolean")
    return df


def simulate_coverage(R: int = 500, *, seed: int = SEED, alpha: float = 0.05, unit_bootstrap: bool = False,
                      B: int = 999, n_per_wave: int = 90, share_both: float = 0.5, effect: float = 0.0,
                      officer_sd: float = 0.8, noise_sd: float = 0.5, unit_wave_sd: float = 0.0,
                      n_units: int = 4, share_trained: float = 0.4, trained_by_unit: bool = False) -> dict:
    """Monte Carlo of the officer DiD: the true spread of the estimate against its SEs.

    Parameters
    ----------
    R : int
        Simulated surveys (settings as :func:`simulate_officers`).
    unit_bootstrap : bool
        Also run the unit-level WCR test of the planted effect (``B`` draws; slower).

    Returns
    -------
    dict
        ``true_sd`` (SD of the R estimates), ``mean_se_hc1``, ``mean_se_crv1``,
        ``coverage_hc1``, ``coverage_crv1`` (95 % intervals covering the planted effect)
        and, with ``unit_bootstrap``, ``coverage_unit_wcr``.
    """

    rng = np.random.default_rng(seed)
    est, hc1, crv1, cov_h, cov_c, cov_u = [], [], [], [], [], []
    for r in range(R):
        ids, wave, unit, trained, y = _simulate(n_per_wave, share_both, effect, officer_sd, noise_sd,
                                                unit_wave_sd, n_units, share_trained, trained_by_unit, rng)
        t, post = trained.astype(float), wave.astype(float)
        X = np.column_stack([t * post, np.ones(len(y)), t, post])
        fit = cluster_fit(X, y, ids)
        est.append(fit.estimate)
        hc1.append(fit.se_hc1)
        crv1.append(fit.se_crv1)
        q_h = stats.t.ppf(1 - alpha / 2, fit.n - X.shape[1])
        cov_h.append(abs(fit.estimate - effect) <= q_h * fit.se_hc1)
        cov_c.append(fit.p_value(effect) > alpha)
        if unit_bootstrap:
            wb = wild_cluster_bootstrap(X, y, unit, 0, B=B, seed=seed + r, ci=False, b0=effect)
            cov_u.append(wb.p_value > alpha)
    out = {"R": R, "true_sd": float(np.std(est, ddof=1)), "mean_se_hc1": float(np.mean(hc1)),
           "mean_se_crv1": float(np.mean(crv1)), "coverage_hc1": float(np.mean(cov_h)),
           "coverage_crv1": float(np.mean(cov_c))}
    if unit_bootstrap:
        out["coverage_unit_wcr"] = float(np.mean(cov_u))
    return out


__all__ = ["officer_effects", "officer_sensitivity", "cluster_fit", "ClusterFit", "simulate_officers",
           "simulate_coverage", "CAVEAT_PANEL", "CAVEAT_INDEPENDENT", "INFERENCE"]
