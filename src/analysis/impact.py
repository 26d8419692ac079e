"""Impact of a city's pilot on residents: difference-in-differences with few clusters.

The estimand is the pilot's effect on each indicator of :data:`codebook.INDICATORS`, read
from repeated cross-sections of residents (baseline and follow-up) in pilot and comparison
neighbourhoods::

    y ~ treated:post + C(neighbourhood) + C(wave) + C(age_group) + C(gender)

weighted by the survey weights, with standard errors clustered by neighbourhood. Cities
field 4-12 neighbourhoods, far too few for the usual cluster-robust t test to hold its
size, so the published p-value and interval come from the **wild cluster restricted
bootstrap** (WCR; Cameron, Gelbach & Miller 2008; MacKinnon & Webb 2017), the interval
by test inversion (Roodman et al. 2019, "Fast and wild").

Bootstrap weights (``weight_type="auto"``): Rademacher signs, with all 2^G sign patterns
enumerated when there are no more than B of them (an exact sign-change distribution,
cf. Canay, Santos & Shaikh 2021), from 6 clusters up; Webb's six-point weights below 6
clusters, where 2^G patterns are too few to ever reject at 5 %. The choice is measured,
not assumed: in ``benchmarks/simulate_did.py`` (600 simulated pilots per setting) 95 %
intervals covered the planted effect 94 % of the time with enumerated Rademacher signs
at 6 clusters against 91 % with Webb weights; at 4 clusters Rademacher's 16 patterns
never reject (unbounded intervals) while Webb's covered 94 %; at 10 and 20 clusters both
covered 92-95 % (cluster-robust t intervals: 88 %, 91 %, 92 %, 94 % at 4, 6, 10, 20).

The estimate and its CRV1 standard error are computed by the same closed-form algebra
as the bootstrap; tests check them against statsmodels' WLS with ``cov_type="cluster"``
and the bootstrap p-value against brute-force refits over every sign pattern. (The
library that does WCR, ``wildboottest``, needs numba.)

Where a city has no comparison area the estimate is pre/post within the pilot areas
(``design="pre_post"``), the weaker design: it cannot separate the pilot from a
city-wide trend.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import codebook
from .config import K_SUPPRESS, PATHS, SEED

def _one_thread():
    """Run BLAS on one thread: the matrices here are small, and threaded BLAS on a busy
    2-core machine was measured 10x slower on them (thread contention)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optional speed-up only
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


#: Default number of bootstrap draws for published estimates.
B_DEFAULT: int = 9999
COVARIATES: tuple[str, ...] = ("age_group", "gender")
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
RADEMACHER = np.array([-1.0, 1.0])


# =========================================================================== bootstrap
#: Fewest clusters for which ``weight_type="auto"`` uses Rademacher signs (2^6 = 64 patterns).
MIN_CLUSTERS_RADEMACHER = 6


def resolve_weight_type(weight_type: str, n_clusters: int) -> str:
    """``"auto"``: Rademacher from :data:`MIN_CLUSTERS_RADEMACHER` clusters up, else Webb."""
    if weight_type == "auto":
        return "rademacher" if n_clusters >= MIN_CLUSTERS_RADEMACHER else "webb"
    return weight_type


def _draws(n_clusters: int, B: int, weight_type: str, seed: int) -> tuple[np.ndarray, bool]:
    """Cluster weights (B x G); all sign patterns when there are no more than B of them."""
    weight_type = resolve_weight_type(weight_type, n_clusters)
    if weight_type == "rademacher":
        values = RADEMACHER
    elif weight_type == "webb":
        values = WEBB
    else:
        raise ValueError(f"weight_type must be 'auto', 'rademacher' or 'webb', got {weight_type!r}")
    if len(values) ** n_clusters <= B:
        # Few clusters: the bootstrap distribution can be enumerated exactly.
        return np.array(list(itertools.product(values, repeat=n_clusters))), True
    rng = np.random.default_rng(seed)
    return rng.choice(values, size=(B, n_clusters)), False


@dataclass
class WildBootstrap:
    """Result of a wild cluster restricted bootstrap test of one coefficient."""

    estimate: float
    crv1_se: float
    t_stat: float
    p_value: float
    ci_low: float
    ci_high: float
    B: int
    weight_type: str
    n_clusters: int
    enumerated: bool

    @property
    def label(self) -> str:
        name = "Webb" if self.weight_type == "webb" else "Rademacher"
        b = f"all {self.B} sign patterns" if self.enumerated else f"B={self.B}"
        return f"wild cluster bootstrap (WCR, {name}, {b})"


class _WCR:
    """Closed-form WCR for one coefficient of a (weighted) linear model.

    With cluster weights ``v`` the bootstrap coefficient and its CRV1 score of each
    cluster are linear in ``v``, so every draw costs a G x G product (Roodman et al.
    2019). All quantities are in the sqrt(weight)-transformed space, where weighted
    least squares is ordinary least squares.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, w: np.ndarray, clusters: np.ndarray, j: int):
        sw = np.sqrt(w)
        self.X = X * sw[:, None]
        self.y = y * sw
        self.j = j
        codes, self.cl = np.unique(clusters, return_inverse=True)
        self.G = len(codes)
        if self.G < 2:
            raise ValueError(f"the wild cluster bootstrap needs at least 2 clusters, got {self.G}")
        n, k = X.shape
        self.scale = self.G / (self.G - 1) * (n - 1) / (n - k)
        self.A = np.linalg.inv(self.X.T @ self.X)
        self.a = self.A[j]
        self.beta = self.A @ (self.X.T @ self.y)
        u = self.y - self.X @ self.beta
        s = self._cluster_sum(self.X * u[:, None]) @ self.a
        self.se = float(np.sqrt(self.scale * np.sum(s**2)))
        # Restricted model y - b0 x_j ~ X_{-j}: residuals are linear in b0. Normal
        # equations on the small Gram matrix: far cheaper than lstsq on n x k.
        Xr = np.delete(self.X, j, axis=1)
        xj = self.X[:, j]
        Gr = Xr.T @ Xr
        Mr = lambda z: z - Xr @ np.linalg.solve(Gr, Xr.T @ z)  # noqa: E731
        self.ur0, self.ur1 = Mr(self.y), Mr(xj)
        self.E0 = self._cluster_sum(self.X * self.ur0[:, None])  # G x k
        self.E1 = self._cluster_sum(self.X * self.ur1[:, None])
        self.D = np.stack([self.X[self.cl == g].T @ self.X[self.cl == g] @ self.a for g in range(self.G)])

    def _cluster_sum(self, M: np.ndarray) -> np.ndarray:
        out = np.zeros((self.G, M.shape[1]))
        np.add.at(out, self.cl, M)
        return out

    def t_stats(self, V: np.ndarray, b0: float) -> tuple[float, np.ndarray]:
        """Observed t for H0: beta_j = b0 and the bootstrap t of each row of ``V``."""
        E = self.E0 - b0 * self.E1
        c = E @ self.a
        K = np.diag(c) - self.D @ self.A @ E.T
        num = V @ c
        var = self.scale * np.sum((V @ K.T) ** 2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_boot = np.where(var > 0, num / np.sqrt(var), 0.0)
        return (self.beta[self.j] - b0) / self.se, t_boot

    def p_value(self, V: np.ndarray, b0: float) -> float:
        t, t_boot = self.t_stats(V, b0)
        return float(np.mean(np.abs(t_boot) >= abs(t) - 1e-12))


def wild_cluster_bootstrap(
    X: np.ndarray,
    y: np.ndarray,
    clusters: np.ndarray,
    j: int,
    *,
    weights: np.ndarray | None = None,
    B: int = B_DEFAULT,
    weight_type: str = "auto",
    seed: int = SEED,
    alpha: float = 0.05,
    ci: bool = True,
    b0: float = 0.0,
) -> WildBootstrap:
    """Wild cluster restricted bootstrap test (and interval) for coefficient ``j``.

    Parameters
    ----------
    X : ndarray (n, k)
        Full-rank design matrix (with intercept and fixed-effect dummies).
    y : ndarray (n,)
    clusters : array-like (n,)
        Cluster label of each row.
    j : int
        Column of the coefficient tested.
    weights : ndarray, optional
        Analytic/survey weights (weighted least squares); ones when omitted.
    B : int
        Bootstrap draws. When the weight distribution has no more than ``B`` distinct
        sign patterns over the clusters they are all enumerated (exact p-value).
    weight_type : {"auto", "rademacher", "webb"}
        ``"auto"``: Rademacher signs from 6 clusters up, Webb's six-point weights below
        (see the module docstring for the measured reasons).
    seed : int
        Seed of the draws; the same draws serve every null value of the interval.
    alpha : float
        1 - confidence level of the interval.
    ci : bool
        Compute the interval by inverting the test (else NaN).
    b0 : float
        Null value of the reported p-value.

    Returns
    -------
    WildBootstrap
        Estimate, CRV1 standard error, t, symmetric bootstrap p-value and interval.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    wcr = _WCR(X, y, w, np.asarray(clusters), j)
    weight_type = resolve_weight_type(weight_type, wcr.G)
    V, enumerated = _draws(wcr.G, B, weight_type, seed)
    p = wcr.p_value(V, b0)
    lo = hi = float("nan")
    if ci:
        lo, hi = _invert(wcr, V, alpha)
    return WildBootstrap(
        estimate=float(wcr.beta[j]), crv1_se=wcr.se, t_stat=float((wcr.beta[j] - b0) / wcr.se),
        p_value=p, ci_low=lo, ci_high=hi, B=len(V), weight_type=weight_type,
        n_clusters=wcr.G, enumerated=enumerated,
    )


def _invert(wcr: _WCR, V: np.ndarray, alpha: float) -> tuple[float, float]:
    """Bounds of {b0 : p(b0) > alpha}, found outwards from the estimate then by bisection."""
    beta, se = float(wcr.beta[wcr.j]), wcr.se
    if not np.isfinite(se) or se <= 0:
        return float("nan"), float("nan")

    def bound(direction: int) -> float:
        inside, step = beta, se
        outside = None
        for _ in range(60):
            cand = beta + direction * step
            if wcr.p_value(V, cand) <= alpha:
                outside = cand
                break
            inside, step = cand, step * 1.5
        if outside is None:  # the test never rejects: unbounded interval
            return direction * float("inf")
        for _ in range(50):
            mid = (inside + outside) / 2
            if wcr.p_value(V, mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) < 1e-4 * se:
                break
        return (inside + outside) / 2

    return bound(-1), bound(+1)


# ====================================================================== design matrix
def _dummies(s: pd.Series, prefix: str) -> pd.DataFrame:
    cats = sorted(s.dropna().unique().tolist(), key=str)
    return pd.DataFrame({f"{prefix}[{c}]": (s == c).to_numpy(dtype=float) for c in cats[1:]},
                        index=s.index)


def _drop_collinear(M: pd.DataFrame, keep_first: int) -> pd.DataFrame:
    """Greedy left-to-right: drop each column in the span of the columns kept before it.

    Works on the Gram matrix of the unit-norm columns (k x k), so it costs nothing next
    to the regression: column j is dependent when its residual on the kept columns has
    (squared) norm below a tolerance.
    """
    X = M.to_numpy(dtype=float)
    norms = np.linalg.norm(X, axis=0)
    Xs = X / np.where(norms > 0, norms, 1.0)
    gram = Xs.T @ Xs
    keep = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        kept = np.flatnonzero(keep)
        resid = gram[j, j]
        if len(kept):
            g = gram[np.ix_(kept, [j])]
            resid -= float((g.T @ np.linalg.solve(gram[np.ix_(kept, kept)], g)).item())
        keep[j] = norms[j] > 0 and resid > 1e-9
    if not keep[:keep_first].all():
        bad = [c for c, k in zip(M.columns[:keep_first], keep[:keep_first]) if not k]
        raise ValueError(f"the effect term(s) {bad} cannot be estimated: collinear with the "
                         "fixed effects (is there a pilot and a comparison area in both waves?)")
    return M.loc[:, keep]


def design_matrix(
    df: pd.DataFrame,
    *,
    design: str = "did",
    group: pd.Series | None = None,
    covariates: tuple[str, ...] = COVARIATES,
) -> pd.DataFrame:
    """Regressors of the impact model, effect term(s) first.

    ``did``: treated:post, intercept, neighbourhood, wave and covariate dummies.
    ``pre_post`` (pilot areas only): post, intercept, neighbourhood and covariate dummies.
    With ``group`` (0/1): the effect term is followed by treated:post:group, and every
    fixed effect is also interacted with the group (a full triple difference).
    """
    post = (df["wave"] == "follow_up").to_numpy(dtype=float)
    treated = (df["pilot_area"] == "pilot").to_numpy(dtype=float)
    tp = treated * post if design == "did" else post
    cols = {"treated:post": tp}
    if group is not None:
        cols["treated:post:group"] = tp * group.to_numpy(dtype=float)
    M = pd.DataFrame(cols, index=df.index)
    fe = [pd.Series(1.0, index=df.index, name="Intercept").to_frame(),
          _dummies(df["neighbourhood"], "nbh")]
    if design == "did":
        fe.append(_dummies(df["wave"], "wave"))
    fe_frame = pd.concat(fe, axis=1)
    parts = [M, fe_frame]
    if group is not None:
        g = group.to_numpy(dtype=float)
        parts.append(fe_frame.mul(g, axis=0).add_suffix(":group"))
    for cov in covariates:
        parts.append(_dummies(df[cov].astype("str"), cov))
    return _drop_collinear(pd.concat(parts, axis=1), keep_first=len(cols))


# ========================================================================= estimation
@dataclass
class Estimate:
    """One effect estimate, as published in ``impact.csv``."""

    estimate: float = float("nan")
    std_error: float = float("nan")
    crv_ci_low: float = float("nan")
    crv_ci_high: float = float("nan")
    crv_p_value: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")
    inference: str = ""
    n: int = 0
    n_clusters: int = 0
    n_clusters_treated: int = 0
    min_cell: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)


def estimation_sample(df: pd.DataFrame, outcome: str, *, design: str = "did",
                      weights: str | None = "weight",
                      covariates: tuple[str, ...] = COVARIATES) -> pd.DataFrame:
    """Rows used for ``outcome``: design areas, complete outcome, covariates and weight."""
    areas = ("pilot", "comparison") if design == "did" else ("pilot",)
    need = [outcome, "wave", "neighbourhood", "pilot_area", *covariates]
    if weights is not None:
        if weights not in df.columns:
            raise KeyError(f"weights column {weights!r} is not in the respondents frame "
                           f"(columns: {sorted(df.columns)})")
        need.append(weights)
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise KeyError(f"respondents frame lacks column(s) {missing} needed for {outcome!r}")
    out = df.loc[df["pilot_area"].isin(areas), need].dropna()
    if weights is not None and (out[weights] <= 0).any():
        bad = out.index[out[weights] <= 0][0]
        raise ValueError(f"weights column {weights!r}: non-positive weight {out.at[bad, weights]} at row {bad}")
    return out


def _cells(df: pd.DataFrame, design: str) -> pd.Series:
    keys = ["pilot_area", "wave"] if design == "did" else ["wave"]
    expected = (2 if design == "did" else 1) * 2
    counts = df.groupby(keys, observed=True).size()
    if len(counts) < expected:
        return pd.Series([0])
    return counts


def fit_effect(
    df: pd.DataFrame,
    outcome: str,
    *,
    design: str = "did",
    weights: str | None = "weight",
    group: str | None = None,
    within_group: bool = False,
    B: int = B_DEFAULT,
    weight_type: str = "auto",
    seed: int = SEED,
    covariates: tuple[str, ...] = COVARIATES,
    k_suppress: int = K_SUPPRESS,
) -> Estimate:
    """Estimate the pilot's effect on ``outcome`` with clustered and wild-bootstrap inference.

    Parameters
    ----------
    df : pandas.DataFrame
        Residents (codebook columns; ``weights`` column when given).
    outcome : str
        Codebook indicator.
    design : {"did", "pre_post"}
    weights : str or None
        Weight column (``None``: unweighted).
    group : str, optional
        A :data:`codebook.TARGET_GROUPS` key. With ``within_group=True`` the effect is
        estimated among the group's members only; otherwise the returned estimate is the
        triple-difference term: how much the group's effect differs from the rest's.
    B, weight_type, seed
        Wild cluster bootstrap settings (:func:`wild_cluster_bootstrap`).
    covariates : tuple of str
        Categorical covariates adjusted for.
    k_suppress : int
        Suppress when any design cell (area x wave, and group x area x wave) has fewer
        respondents.

    Returns
    -------
    Estimate
        With ``note`` explaining a suppression or a failure (estimate NaN then).
    """
    if design not in ("did", "pre_post"):
        raise ValueError(f"design must be 'did' or 'pre_post', got {design!r}")
    with _one_thread():
        return _fit_effect(df, outcome, design=design, weights=weights, group=group,
                           within_group=within_group, B=B, weight_type=weight_type, seed=seed,
                           covariates=covariates, k_suppress=k_suppress)


def _fit_effect(df, outcome, *, design, weights, group, within_group, B, weight_type, seed,
                covariates, k_suppress) -> Estimate:
    data = estimation_sample(df, outcome, design=design, weights=weights, covariates=covariates)
    gmask = None
    if group is not None:
        tg = codebook.TARGET_GROUPS[group]
        member = tg.mask(df).reindex(data.index)
        data = data[member.notna()]
        member = member[member.notna()].astype(bool)
        if within_group:
            data = data[member]
        else:
            gmask = member.astype(float)
    res = Estimate(n=len(data), n_clusters=int(data["neighbourhood"].nunique()),
                   n_clusters_treated=int(data.loc[data["pilot_area"] == "pilot", "neighbourhood"].nunique()))
    if gmask is None:
        min_cell = int(_cells(data, design).min()) if len(data) else 0
    else:
        min_cell = min(int(_cells(data[gmask == v], design).min()) if (gmask == v).any() else 0
                       for v in (0.0, 1.0))
    res.min_cell = min_cell
    if min_cell < k_suppress:
        res.note = f"suppressed: a design cell has fewer than {k_suppress} respondents"
        return res
    if res.n_clusters < 3:
        res.note = f"not estimable: {res.n_clusters} neighbourhood(s), clustered inference needs 3 or more"
        return res
    try:
        M = design_matrix(data, design=design, group=gmask, covariates=covariates)
    except ValueError as exc:
        res.note = f"not estimable: {exc}"
        return res
    j = 1 if gmask is not None else 0
    y = data[outcome].to_numpy(dtype=float)
    w = data[weights].to_numpy(dtype=float) if weights is not None else np.ones(len(data))
    clusters = data["neighbourhood"].astype(str).to_numpy()
    # Estimate and CRV1 standard error come with the bootstrap (the same algebra as
    # statsmodels' WLS with cov_type="cluster"; tests check they agree).
    wb = wild_cluster_bootstrap(M.to_numpy(dtype=float), y, clusters, j, weights=w, B=B,
                                weight_type=weight_type, seed=seed)
    G = res.n_clusters
    res.estimate, res.std_error = wb.estimate, wb.crv1_se
    q = stats.t.ppf(0.975, G - 1)
    res.crv_ci_low, res.crv_ci_high = res.estimate - q * res.std_error, res.estimate + q * res.std_error
    res.crv_p_value = float(2 * stats.t.sf(abs(res.estimate / res.std_error), G - 1))
    res.p_value, res.ci_low, res.ci_high = wb.p_value, wb.ci_low, wb.ci_high
    res.inference = wb.label
    return res


def _as_row(e: Estimate) -> dict:
    return {k: v for k, v in e.__dict__.items() if k != "extra"}


def scale_label(outcome: str, dataset: str = "residents") -> str:
    """"0-10", "1-4"… for an indicator."""
    if outcome in {ix.name for ix in codebook.INDICES}:
        return "0-10"
    lo, hi = codebook.scale_range(outcome, dataset)
    return f"{lo:g}-{hi:g}"


def city_groups(profile) -> list[str]:
    """Groups examined for a city: young, migrant background, police contact, then its own."""
    base = ["young", "migrant_background", "police_contact"]
    return base + [g for g in profile.pilot.targeted_groups if g not in base]


def resident_effects(
    respondents: pd.DataFrame,
    profile,
    *,
    weights: str | None = "weight",
    indicators: tuple[str, ...] = codebook.INDICATORS,
    groups: list[str] | None = None,
    B: int = B_DEFAULT,
    weight_type: str = "auto",
    seed: int = SEED,
) -> pd.DataFrame:
    """Every indicator x group effect of a city, one row each (the residents' ``impact.csv``).

    The design follows the profile: DiD with comparison areas, else pre/post. For a group,
    ``estimate`` is the effect within the group and ``diff_vs_rest`` / ``diff_p_value``
    the triple-difference test of whether it differs from the rest.
    """
    design = "did" if profile.has_comparison else "pre_post"
    groups = city_groups(profile) if groups is None else groups
    rows = []
    for outcome in indicators:
        for group in ["all", *groups]:
            kw = dict(design=design, weights=weights, B=B, weight_type=weight_type, seed=seed)
            if group == "all":
                est = fit_effect(respondents, outcome, **kw)
                diff = Estimate()
            else:
                est = fit_effect(respondents, outcome, group=group, within_group=True, **kw)
                diff = fit_effect(respondents, outcome, group=group, **kw)
                if design == "did" and est.note.startswith("suppressed"):
                    # A group found almost only in the pilot areas (tourists in a city
                    # centre) has no comparison: fall back to its pre/post change there.
                    kw["design"] = "pre_post"
                    alt = fit_effect(respondents, outcome, group=group, within_group=True, **kw)
                    if np.isfinite(alt.estimate):
                        est = alt
                        est.note = ("too few group members in the comparison areas: pre/post in the "
                                    "pilot areas (weaker design)")
                        diff = fit_effect(respondents, outcome, group=group, **kw)
            row = {"city": profile.city, "population": "residents", "outcome": outcome,
                   "group": group, "design": kw["design"], **_as_row(est), "scale": scale_label(outcome),
                   "diff_vs_rest": diff.estimate, "diff_ci_low": diff.ci_low,
                   "diff_ci_high": diff.ci_high, "diff_p_value": diff.p_value}
            if group != "all" and diff.note and not est.note:
                row["note"] = f"difference vs rest {diff.note}"
            rows.append(row)
    return _order(pd.DataFrame(rows))


IMPACT_COLUMNS = ["city", "population", "outcome", "group", "design", "estimate", "std_error",
                  "ci_low", "ci_high", "p_value", "inference", "crv_ci_low", "crv_ci_high",
                  "crv_p_value", "n", "n_clusters", "n_clusters_treated", "min_cell", "scale",
                  "diff_vs_rest", "diff_ci_low", "diff_ci_high", "diff_p_value", "note"]


def _order(df: pd.DataFrame) -> pd.DataFrame:
    for c in IMPACT_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    return df[IMPACT_COLUMNS]


# ============================================================================ balance
def _wstats(x: pd.Series, w: pd.Series) -> tuple[float, float, int]:
    ok = x.notna() & w.notna()
    x, w = x[ok].astype(float), w[ok].astype(float)
    if len(x) == 0:
        return float("nan"), float("nan"), 0
    m = float(np.average(x, weights=w))
    v = float(np.average((x - m) ** 2, weights=w))
    return m, v, int(len(x))


def balance_table(respondents: pd.DataFrame, profile, *, weights: str | None = "weight",
                  threshold: float = 0.25) -> pd.DataFrame:
    """Standardised differences between the groups a design compares.

    DiD: pilot vs comparison areas at baseline (are they alike before the pilot?).
    Pre/post: follow-up vs baseline within pilot areas (did the sample's make-up change?).
    Compared: age, share of women, of migrant background, and every indicator. The
    standardised difference is (mean_a - mean_b) / sqrt((var_a + var_b) / 2), weighted.
    ``imbalanced`` (|d| > ``threshold``) counts in the evidence rating only where
    ``used_in_rating``: not for contact satisfaction (asked of a self-selected few), and
    for pre/post not for the outcomes, whose change is the estimate itself.
    """
    df = respondents.copy()
    w = df[weights] if weights is not None else pd.Series(1.0, index=df.index)
    df["_w"] = w
    df["female"] = (df["gender"] == "female").astype("Float64").where(df["gender"].notna())
    df["migrant"] = df["migrant_background"].astype("Float64")
    if profile.has_comparison:
        base = df[df["wave"] == "baseline"]
        a, b = base[base["pilot_area"] == "pilot"], base[base["pilot_area"] == "comparison"]
        comparison = "pilot vs comparison areas, baseline"
    else:
        pil = df[df["pilot_area"] == "pilot"]
        a, b = pil[pil["wave"] == "follow_up"], pil[pil["wave"] == "baseline"]
        comparison = "pilot areas, follow-up vs baseline"
    rows = []
    for var_ in ("age", "female", "migrant", *codebook.INDICATORS):
        if var_ not in df.columns:
            continue
        ma, va, na = _wstats(a[var_].astype("Float64"), a["_w"])
        mb, vb, nb = _wstats(b[var_].astype("Float64"), b["_w"])
        pooled = np.sqrt((va + vb) / 2)
        smd = (ma - mb) / pooled if pooled > 0 else float("nan")
        small = min(na, nb) < K_SUPPRESS
        # contact_satisfaction is asked only of residents who had contact: a small,
        # self-selected subsample whose make-up says little about the areas' comparability.
        # Pre/post: the outcomes' change between waves *is* the estimate, not an imbalance;
        # only the sample's make-up (age, gender, migrant background) is rated.
        rated = var_ != "contact_satisfaction" and (profile.has_comparison or var_ in ("age", "female", "migrant"))
        rows.append({"city": profile.city, "comparison": comparison, "variable": var_,
                     "mean_a": np.nan if small else ma, "mean_b": np.nan if small else mb,
                     "n_a": na, "n_b": nb, "std_diff": np.nan if small else smd,
                     "imbalanced": bool(rated and not small and np.isfinite(smd) and abs(smd) > threshold),
                     "used_in_rating": rated})
    return pd.DataFrame(rows)


# ========================================================================= one city
def design_summary(respondents: pd.DataFrame, profile) -> pd.DataFrame:
    """Respondents and neighbourhoods by area type and wave (cells < k shown as "<k")."""
    df = respondents[respondents["pilot_area"].isin(["pilot", "comparison", "other"])]
    tab = (df.groupby(["pilot_area", "wave"], observed=True)
           .agg(respondents=("wave", "size"), neighbourhoods=("neighbourhood", "nunique"))
           .reset_index())
    tab["respondents"] = tab["respondents"].map(lambda n: f"<{K_SUPPRESS}" if n < K_SUPPRESS else str(n))
    tab.insert(0, "design", "did" if profile.has_comparison else "pre_post")
    return tab


def with_weights(respondents: pd.DataFrame, profile) -> tuple[pd.DataFrame, str]:
    """Add the survey weight column ``weight`` (raked, :mod:`analysis.weights`).

    Returns the frame and a note saying how it was weighted. Until the weighting module
    exists the weights are 1 and the note says so.
    """
    df = respondents.copy()
    if "weight" in df.columns:
        return df, "survey weights (given)"
    try:
        from .weights import city_weights  # another part of the package
    except ImportError:
        df["weight"] = 1.0
        return df, "unweighted (analysis.weights not available)"
    w = city_weights(respondents, profile)
    if isinstance(w, pd.DataFrame):
        w = w["weight"]
    df["weight"] = pd.Series(w, index=df.index).astype(float)
    return df, "raked survey weights (analysis.weights.city_weights)"


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


def evaluate_city(city: str, *, B: int = B_DEFAULT, weight_type: str = "auto", seed: int = SEED,
                  write: bool = True) -> CityEvaluation:
    """Run the whole impact evaluation of ``city`` and write its tables.

    Reads the processed respondents, officers and activities, estimates the residents'
    and officers' effects, implementation and balance, rates the evidence, and writes
    ``reports/tables/<city>/{impact,evidence,implementation,balance}.csv``.
    """
    from . import evidence as ev
    from . import implementation as imp
    from . import officers as off
    from .io import read_processed, write_table
    from .profile import load_profile

    profile = load_profile(city)
    resp, weighting = with_weights(read_processed(city, "respondents"), profile)
    residents = resident_effects(resp, profile, B=B, weight_type=weight_type, seed=seed)
    try:
        officers_df = read_processed(city, "officers")
    except FileNotFoundError:
        officers_df = None
    officers = off.officer_effects(officers_df, profile)
    try:
        activities = read_processed(city, "activities")
    except FileNotFoundError:
        activities = None
    implementation = imp.implementation_summary(activities, profile)
    balance = balance_table(resp, profile)
    evidence, rating = ev.rate_evidence(residents, balance, implementation, profile,
                                        trends=ev.composition_trends(resp, profile))
    result = CityEvaluation(city=city, synthetic=profile.synthetic,
                            design="did" if profile.has_comparison else "pre_post",
                            weighting=weighting, summary=design_summary(resp, profile),
                            balance=balance, residents=residents, officers=officers,
                            implementation=implementation, evidence=evidence, rating=rating)
    if write:
        folder = PATHS.tables_city(city)
        write_table(result.impact, folder / "impact.csv", synthetic=profile.synthetic)
        write_table(evidence, folder / "evidence.csv", synthetic=profile.synthetic)
        write_table(implementation["table"], folder / "implementation.csv", synthetic=profile.synthetic)
        write_table(balance, folder / "balance.csv", synthetic=profile.synthetic)
    return result


def effects_table(impact: pd.DataFrame, *, population: str = "residents", group: str | None = "all",
                  lang: str = "en") -> pd.DataFrame:
    """Readable, rounded view of the effects (for notebooks): 3 decimals, labels."""
    df = impact[impact["population"] == population]
    if group is not None:
        df = df[df["group"] == group]
    dataset = "officers" if population == "officers" else "residents"
    out = pd.DataFrame({
        "indicator": [codebook.label(o, lang, dataset) for o in df["outcome"]],
        "group": df["group"].to_numpy(),
        "scale": df["scale"].to_numpy(),
        "effect": df["estimate"].round(3).to_numpy(),
        "ci_low": df["ci_low"].round(3).to_numpy(),
        "ci_high": df["ci_high"].round(3).to_numpy(),
        "p": df["p_value"].round(3).to_numpy(),
        "n": df["n"].to_numpy(),
        "clusters": pd.array(df["n_clusters"], dtype="Int64"),
        "design": df["design"].to_numpy(),
    })
    if group != "all" and population == "residents":
        out["diff_vs_rest"] = df["diff_vs_rest"].round(3).to_numpy()
        out["diff_p"] = df["diff_p_value"].round(3).to_numpy()
    out["note"] = df["note"].fillna("").to_numpy()
    return out.reset_index(drop=True)


# ========================================================================= validation
def simulate_respondents(
    n_clusters: int = 10,
    n_per_cell: int = 60,
    *,
    effect: float = 0.0,
    trend: float = 0.0,
    cluster_sd: float = 0.3,
    shock_sd: float = 0.2,
    noise_sd: float = 2.0,
    group_effect: float = 0.0,
    comparison: bool = True,
    seed: int = SEED,
) -> pd.DataFrame:
    """Residents of a made-up pilot with a *known* effect, for validating the estimators.

    Half the neighbourhoods (rounded up) are pilot areas, the rest comparison areas (or
    none with ``comparison=False``). Outcome ``trust_police`` on a continuous 0-10-like
    scale::

        y = 5 + a_nbh + trend*post + s_nbh,wave + effect*treated*post
              + group_effect*treated*post*migrant + age/gender terms + e

    ``s_nbh,wave`` (sd ``shock_sd``) is a neighbourhood-by-wave shock, the reason
    inference must be clustered. Weights are drawn in [0.5, 2] independently of y.
    """
    rng = np.random.default_rng(seed)
    codes = [f"N{i:02d}" for i in range(n_clusters)]
    n_pilot = (n_clusters + 1) // 2 if comparison else n_clusters
    area = {c: ("pilot" if i < n_pilot else "comparison") for i, c in enumerate(codes)}
    a = dict(zip(codes, rng.normal(0, cluster_sd, n_clusters)))
    frames = []
    for wave in codebook.WAVES:
        for c in codes:
            n = n_per_cell
            post = float(wave == "follow_up")
            treated = float(area[c] == "pilot")
            ag = rng.choice(codebook.AGE_GROUPS, size=n)
            gender = rng.choice(codebook.GENDERS, size=n)
            migrant = rng.random(n) < 0.3
            y = (5 + a[c] + trend * post + rng.normal(0, shock_sd) + effect * treated * post
                 + group_effect * treated * post * migrant
                 + 0.3 * (ag == "65+") - 0.4 * (ag == "15-24") + 0.2 * (gender == "female")
                 + rng.normal(0, noise_sd, n))
            frames.append(pd.DataFrame({
                "city": "simulated", "wave": wave, "neighbourhood": c, "pilot_area": area[c],
                "age_group": ag, "gender": gender, "migrant_background": migrant,
                "police_contact_12m": rng.random(n) < 0.25, "trust_police": y,
                "weight": rng.uniform(0.5, 2.0, n),
            }))
    df = pd.concat(frames, ignore_index=True)
    for col in ("city", "wave", "neighbourhood", "pilot_area", "age_group", "gender"):
        df[col] = df[col].astype("str")
    for col in ("migrant_background", "police_contact_12m"):
        df[col] = df[col].astype("boolean")
    df["age"] = pd.array([int(s[:2]) + 2 for s in df["age_group"]], dtype="Int64")
    df["trust_police"] = df["trust_police"].astype("Float64")
    return df


def simulated_profile(n_clusters: int = 10, *, comparison: bool = True, synthetic: bool = True,
                      targeted_groups: tuple[str, ...] = ("young", "migrant_background")):
    """A valid :class:`CityProfile` matching :func:`simulate_respondents` (for tests)."""
    from .profile import CityProfile

    codes = [f"N{i:02d}" for i in range(n_clusters)]
    n_pilot = (n_clusters + 1) // 2 if comparison else n_clusters
    return CityProfile.model_validate({
        "city": "simulated", "name": "Simulated city", "country": "FR", "languages": ["fr"],
        "synthetic": synthetic, "boundaries": {"unit": "quartier"},
        "neighbourhoods": [{"code": c, "name": f"Quartier {c}", "lon": 2.0 + i / 100, "lat": 47.0}
                           for i, c in enumerate(codes)],
        "pilot": {"name": "Simulated pilot", "kind": "simulation", "description": "made up",
                  "start": "2014-09-01", "end": "2015-06-30", "pilot_areas": codes[:n_pilot],
                  "comparison_areas": codes[n_pilot:], "targeted_groups": list(targeted_groups)},
        "waves": {"baseline": {"year": 2014, "start": "2014-05-01", "end": "2014-06-30"},
                  "follow_up": {"year": 2015, "start": "2015-09-01", "end": "2015-10-31"}},
        "margins": {"source": "made up", "counts": {c: {"female": [500] * 5, "male": [480] * 5}
                                                    for c in codes}},
        "residents": {"files": [{"path": "x.csv", "format": "csv"}], "columns": {}},
    })


# ============================================================================ figures
_TXT = {
    "effect": ("Effect (points on the indicator's scale), 95% CI", "Effet (points sur l'échelle de l'indicateur), IC 95 %"),
    "did": ("pilot vs comparison areas, follow-up vs baseline", "zones pilotes vs zones de comparaison, suivi vs initial"),
    "pre_post": ("pilot areas, follow-up vs baseline (no comparison area)",
                 "zones pilotes, suivi vs initial (sans zone de comparaison)"),
    "suppressed": ("suppressed (< {k})", "masqué (< {k})"),
    "residents": ("Effects of the pilot on residents", "Effets du pilote sur les habitants"),
    "groups": ("Effects by targeted group", "Effets par groupe ciblé"),
    "officers": ("Change among police officers", "Évolution chez les policiers"),
    "all": ("All residents", "Tous les habitants"),
}


def _t(key: str, lang: str) -> str:
    return _TXT[key][1 if lang == "fr" else 0]


def _group_label(g: str, lang: str) -> str:
    if g == "all":
        return _t("all", lang)
    tg = codebook.TARGET_GROUPS[g]
    return tg.label_fr if lang == "fr" else tg.label_en


def _ci_rows(ax, d: pd.DataFrame, ys, colour="#2166ac", lang="en"):
    for y, (_, r) in zip(ys, d.iterrows()):
        if not np.isfinite(r["estimate"]):
            ax.text(0.02, y, _t("suppressed", lang).format(k=K_SUPPRESS), va="center", fontsize=7,
                    color="0.45", transform=ax.get_yaxis_transform())
            continue
        sig = r["p_value"] < 0.05
        lo, hi = r["ci_low"], r["ci_high"]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            # An unbounded bootstrap interval (too few clusters): drawn dashed to +-4 SE.
            lo = lo if np.isfinite(lo) else r["estimate"] - 4 * r["std_error"]
            hi = hi if np.isfinite(hi) else r["estimate"] + 4 * r["std_error"]
            ax.plot([lo, hi], [y, y], color=colour, lw=1.2, ls="--")
        ax.plot([lo, hi], [y, y], color=colour, lw=1.5)
        ax.plot(r["estimate"], y, "o", color=colour, mfc=colour if sig else "white", ms=5)
    ax.axvline(0, color="0.5", lw=0.8, ls=":")


def plot_effects(impact: pd.DataFrame, *, lang: str = "en"):
    """Coefficient plot of the pilot's effect on every resident indicator (all residents).

    Indicators on 0-10 scales and on short rating scales (1-4, 1-5) are drawn in two
    panels, since a point means different things on them. Filled markers: p < 0.05.
    """
    import matplotlib.pyplot as plt

    d = impact[(impact["population"] == "residents") & (impact["group"] == "all")]
    panels = [d[d["scale"] == "0-10"], d[d["scale"] != "0-10"]]
    panels = [p for p in panels if len(p)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.2, 0.42 * len(d) + 1.6), squeeze=False,
                             height_ratios=[max(len(p), 1) for p in panels])
    for ax, p in zip(axes[:, 0], panels):
        ys = np.arange(len(p))[::-1]
        _ci_rows(ax, p, ys, lang=lang)
        ax.set_yticks(ys)
        ax.set_yticklabels([codebook.label(o, lang) for o in p["outcome"]])
        ax.set_ylim(-0.6, len(p) - 0.4)
    axes[-1, 0].set_xlabel(_t("effect", lang))
    design = d["design"].iloc[0] if len(d) else "did"
    axes[0, 0].set_title(f"{_t('residents', lang)}\n{_t(design, lang)}", loc="left")
    fig.tight_layout()
    return fig


def plot_group_effects(impact: pd.DataFrame, *, lang: str = "en",
                       outcomes: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark")):
    """Effects by targeted group (and for all residents) on the main indicators."""
    import matplotlib.pyplot as plt

    d = impact[(impact["population"] == "residents") & impact["outcome"].isin(outcomes)]
    groups = list(dict.fromkeys(d["group"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(2.3 * len(outcomes) + 1.5, 0.4 * len(groups) + 1.4),
                             sharey=True, squeeze=False)
    ys = np.arange(len(groups))[::-1]
    for ax, o in zip(axes[0], outcomes):
        sub = d[d["outcome"] == o].set_index("group").reindex(groups).reset_index()
        _ci_rows(ax, sub, ys, lang=lang)
        ax.set_title(codebook.label(o, lang).split(" (")[0], fontsize=8)
        scale = sub["scale"].dropna().iloc[0] if sub["scale"].notna().any() else ""
        ax.set_xlabel(scale)
    axes[0, 0].set_yticks(ys)
    axes[0, 0].set_yticklabels([_group_label(g, lang) for g in groups])
    fig.suptitle(_t("groups", lang), x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


def plot_officers(impact: pd.DataFrame, *, lang: str = "en"):
    """Officer-side effects (trained vs untrained DiD, or pre/post), 1-5 scales."""
    import matplotlib.pyplot as plt

    d = impact[impact["population"] == "officers"]
    fig, ax = plt.subplots(figsize=(6.2, 0.45 * max(len(d), 1) + 1.3))
    ys = np.arange(len(d))[::-1]
    _ci_rows(ax, d, ys, colour="#762a83", lang=lang)
    ax.set_yticks(ys)
    ax.set_yticklabels([codebook.label(o, lang, "officers") for o in d["outcome"]])
    design = d["design"].iloc[0] if len(d) else "pre_post"
    how = {"did_trained": ("trained vs untrained, follow-up vs baseline", "formés vs non formés, suivi vs initial"),
           "pre_post": ("follow-up vs baseline", "suivi vs initial")}[design][lang == "fr"]
    ax.set_title(f"{_t('officers', lang)}\n{how}", loc="left")
    ax.set_xlabel(_t("effect", lang))
    fig.tight_layout()
    return fig


def save_impact_figures(ev: "CityEvaluation", profile, notebook: str = "03-impact.ipynb") -> list[str]:
    """Draw and save every impact figure of a city in English and French.

    Returns the figure ids saved (``impact-residents``, ``impact-groups``,
    ``impact-officers``, ``implementation-timeline``).
    """
    import matplotlib.pyplot as plt

    from . import figures, io
    from . import implementation as imp

    figures.apply_style()
    n = int(ev.residents.loc[ev.residents["group"] == "all", "n"].max())
    design = {"did": ("difference-in-differences", "doubles différences"),
              "pre_post": ("pre/post, no comparison area", "avant/après, sans zone de comparaison")}[ev.design]
    specs = [
        ("impact-residents", lambda lang: plot_effects(ev.impact, lang=lang), ev.residents,
         ("Effects of the pilot on residents", "Effets du pilote sur les habitants"),
         (f"Pilot effect per indicator ({design[0]}; weighted, neighbourhood and wave fixed effects, "
          f"age group and gender adjusted); 95% wild cluster bootstrap intervals; up to n = {n} respondents.",
          f"Effet du pilote par indicateur ({design[1]} ; pondéré, effets fixes quartier et vague, "
          f"ajusté sur âge et genre) ; intervalles à 95 % par bootstrap sauvage par grappes ; jusqu'à n = {n}.")),
        ("impact-groups", lambda lang: plot_group_effects(ev.impact, lang=lang), ev.residents,
         ("Effects by targeted group", "Effets par groupe ciblé"),
         ("Pilot effect within each targeted group, main indicators; 95% wild cluster bootstrap intervals; "
          f"estimates on fewer than {K_SUPPRESS} respondents per cell are suppressed.",
          "Effet du pilote dans chaque groupe ciblé, indicateurs principaux ; intervalles à 95 % ; "
          f"estimations masquées sous {K_SUPPRESS} répondants par case.")),
        ("impact-officers", lambda lang: plot_officers(ev.impact, lang=lang), ev.officers,
         ("Change among police officers", "Évolution chez les policiers"),
         ("Officer survey, 1-5 scales; OLS with HC1 standard errors; small samples.",
          "Enquête auprès des policiers, échelles 1-5 ; MCO, erreurs HC1 ; petits effectifs.")),
        ("implementation-timeline", lambda lang: imp.plot_timeline(ev.implementation, profile, lang=lang),
         ev.implementation["table"],
         ("Pilot activities over time", "Activités du pilote dans le temps"),
         ("Activities per month by type from the pilot's activity log; grey: survey fieldwork; dashed: pilot period.",
          "Activités par mois et par type (journal du pilote) ; gris : enquêtes ; tirets : période du pilote.")),
    ]
    saved = []
    for fig_id, draw, data, title, caption in specs:
        if fig_id == "impact-officers" and len(ev.officers) == 0:
            continue
        for lang in figures.LANGS:
            fig = draw(lang)
            figures.save_figure(fig, city=ev.city, fig_id=fig_id, title=title[lang == "fr"],
                                caption=caption[lang == "fr"], notebook=notebook,
                                data_checksum=io.sha256_frame(data.astype(str)), synthetic=ev.synthetic,
                                lang=lang)
            plt.close(fig)
        saved.append(fig_id)
    return saved
