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

The same result on every machine: the bootstrap p-value counts the sign patterns that
reproduce the observed statistic exactly *by construction* (those with equal weights on
every influential cluster) and compares the others with a relative tolerance, never an
absolute one (:class:`_WCR`); ``tests/test_determinism.py`` checks published values under
1e-12 perturbations, 1 and 2 BLAS threads and two OpenBLAS core types.

What is published: every codebook outcome a city collected (:data:`codebook.OUTCOMES`,
each index item on its own scale), one row per outcome x group with a ``status``
(:data:`STATUSES`) and, when it is not ``"estimated"``, a reason code
(:data:`REASONS`): an outcome never asked is ``not_collected``, a design cell under
k respondents ``suppressed``, and a cell the design cannot support (too few
neighbourhoods holding the group, a test that cannot reject, an interval wider than the
scale) ``not_estimable``. Only ``"estimated"`` rows carry an estimate, interval or p.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import codebook
from .config import K_SUPPRESS, PATHS, SEED
from .disclosure import publish_count

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
    min_p: float = float("nan")

    @property
    def label(self) -> str:
        name = "Webb" if self.weight_type == "webb" else "Rademacher"
        b = f"all {self.B} sign patterns" if self.enumerated else f"B={self.B}"
        return f"wild cluster bootstrap (WCR, {name}, {b})"


#: Relative tolerance of the bootstrap comparisons: a cluster whose influence on the tested
#: coefficient is below ``TIE_RTOL`` times the largest cluster's is treated as having none,
#: and a bootstrap ``|t*|`` within ``TIE_RTOL`` (relative) of ``|t|`` counts as reaching it.
#: Rounding differences between CPUs, BLAS kernels and thread counts are ~1e-13 relative
#: (measured: 1.5e-13 on one triple difference across OpenBLAS core types), four orders
#: below it; a genuine difference that small between two t statistics is not a result.
TIE_RTOL: float = 1e-9


class _WCR:
    """Closed-form WCR for one coefficient of a (weighted) linear model.

    With cluster weights ``v`` the bootstrap coefficient and its CRV1 score of each
    cluster are linear in ``v``, so every draw costs a G x G product (Roodman et al.
    2019). All quantities are in the sqrt(weight)-transformed space, where weighted
    least squares is ordinary least squares.

    **Ties are counted by construction, not found by float comparison.** The bootstrap
    t is invariant to rescaling ``v`` (``t*(λv) = sign(λ) t*(v)``) and the pattern
    ``v = 1`` rebuilds the data, so every pattern whose weights are *equal on all
    clusters* reproduces ``|t|`` exactly (Rademacher: ``v = ±1``; Webb: the six constant
    patterns). A cluster whose restricted scores give it no influence on the tested
    coefficient (its column of the score map and its share of the numerator are zero,
    e.g. a cluster observed in one wave only, whose level its fixed effect absorbs)
    does not change ``t*`` whatever its weight, so patterns that are equal on the
    *influential* clusters also tie exactly. Such clusters are found by a relative test
    (influence below :data:`TIE_RTOL` times the largest), their contributions set to
    zero, and every tying pattern is counted as ``|t*| >= |t|``. The remaining
    patterns are compared with the relative tolerance :data:`TIE_RTOL`, never an
    absolute one: the p-value is then the same on every CPU, BLAS kernel and thread
    count, and under perturbations of the data far larger than rounding.
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

    def _score_map(self, b0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Numerator weights ``c`` (G), score map ``K`` (G x G) and the influential clusters.

        ``t*(v) = v'c / sqrt(scale * |K v|^2)``; cluster g influences ``t*`` only through
        ``c[g]`` and column ``K[:, g]``. Clusters whose influence is below
        :data:`TIE_RTOL` times the largest are zeroed out (see the class docstring).
        """
        E = self.E0 - b0 * self.E1
        c = E @ self.a
        K = np.diag(c) - self.D @ self.A @ E.T
        influence = np.sqrt(c**2 + np.sum(K**2, axis=0))
        active = influence > TIE_RTOL * influence.max() if influence.max() > 0 else np.zeros(self.G, bool)
        c = np.where(active, c, 0.0)
        K = K * active[None, :]
        return c, K, active

    def t_stats(self, V: np.ndarray, b0: float) -> tuple[float, np.ndarray, np.ndarray]:
        """Observed t for H0: beta_j = b0, the bootstrap t of each row of ``V``, and which
        rows tie with the observed statistic by construction (equal weights on every
        influential cluster)."""
        c, K, active = self._score_map(b0)
        num = V @ c
        var = self.scale * np.sum((V @ K.T) ** 2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_boot = np.where(var > 0, num / np.sqrt(var), 0.0)
        Va = V[:, active]
        tie = (Va == Va[:, :1]).all(axis=1) if Va.shape[1] else np.ones(len(V), bool)
        return (self.beta[self.j] - b0) / self.se, t_boot, tie

    def p_value(self, V: np.ndarray, b0: float) -> float:
        """Symmetric bootstrap p-value: share of patterns with ``|t*| >= |t|`` (ties counted)."""
        t, t_boot, tie = self.t_stats(V, b0)
        reach = np.abs(t_boot) >= abs(t) * (1.0 - TIE_RTOL)
        return float(np.mean(tie | reach))

    def min_p(self, V: np.ndarray, b0: float) -> float:
        """Smallest p-value the test can give at ``b0``: the share of patterns that tie
        with any observed statistic by construction. Above ``alpha`` the test can never
        reject and its interval is unbounded."""
        return float(np.mean(self.t_stats(V, b0)[2]))


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
        Estimate, CRV1 standard error, t, symmetric bootstrap p-value and interval, and
        ``min_p``, the smallest p-value the test can attain (``> alpha``: it can never
        reject, and the interval is unbounded).

    Notes
    -----
    The p-value counts the patterns that reproduce the observed statistic exactly by
    construction and compares the others with a relative tolerance (see :class:`_WCR`),
    so it does not depend on the CPU, the BLAS kernel or the number of threads.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    wcr = _WCR(X, y, w, np.asarray(clusters), j)
    weight_type = resolve_weight_type(weight_type, wcr.G)
    V, enumerated = _draws(wcr.G, B, weight_type, seed)
    p = wcr.p_value(V, b0)
    min_p = wcr.min_p(V, b0)
    lo = hi = float("nan")
    if ci:
        lo, hi = _invert(wcr, V, alpha)
    return WildBootstrap(
        estimate=float(wcr.beta[j]), crv1_se=wcr.se, t_stat=float((wcr.beta[j] - b0) / wcr.se),
        p_value=p, ci_low=lo, ci_high=hi, B=len(V), weight_type=weight_type,
        n_clusters=wcr.G, enumerated=enumerated, min_p=min_p,
    )


def _invert(wcr: _WCR, V: np.ndarray, alpha: float) -> tuple[float, float]:
    """Bounds of {b0 : p(b0) > alpha}, found outwards from the estimate then by bisection.

    When the test cannot reject at all (the patterns that tie with the observed
    statistic by construction already make up more than ``alpha`` of them, e.g.
    Rademacher signs on 4 clusters: 2/16), the interval is unbounded, (-inf, inf). The
    outward search relies on the same tie counting, so far from the estimate p(b0) tends
    to that share and never drops below ``alpha`` by rounding.
    """
    beta, se = float(wcr.beta[wcr.j]), wcr.se
    if not np.isfinite(se) or se <= 0:
        return float("nan"), float("nan")
    if wcr.min_p(V, beta) > alpha:
        return -float("inf"), float("inf")

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
#: Status of an effect row (column ``status`` of ``impact.csv``).
STATUSES: tuple[str, ...] = ("estimated", "suppressed", "not_estimable", "not_collected")

#: Codes of ``not_estimable_reason`` (never sentences: the report words them), by status.
#: ``suppressed``: ``small_cell`` (a design cell - area x wave, and group x area x wave
#: for a difference - has fewer than ``K_SUPPRESS`` respondents).
#: ``not_collected``: ``not_collected`` (the city never asked it) or ``too_few_items``
#: (an index whose collected items are fewer than it needs).
#: ``not_estimable``: the design cannot support inference for this cell:
#: ``one_wave_only`` (asked in one wave only), ``few_clusters`` (fewer than
#: :data:`MIN_CLUSTERS` neighbourhoods hold the sample - or the group - in both waves),
#: ``few_clusters_per_arm`` (a DiD with fewer than :data:`MIN_CLUSTERS_PER_ARM` pilot or
#: comparison neighbourhoods holding it in both waves), ``collinear`` (the effect term is
#: confounded with the fixed effects), ``cannot_reject`` (the bootstrap test cannot
#: reject at 5 % whatever the data: :attr:`WildBootstrap.min_p` > 0.05),
#: ``ci_wider_than_scale`` (the 95 % interval, possibly unbounded, is wider than the
#: outcome's whole scale: it excludes no possible effect worth the name).
REASONS: dict[str, tuple[str, ...]] = {
    "suppressed": ("small_cell",),
    "not_collected": ("not_collected", "too_few_items"),
    "not_estimable": ("one_wave_only", "few_clusters", "few_clusters_per_arm", "collinear",
                      "cannot_reject", "ci_wider_than_scale"),
}

#: Fewest neighbourhoods holding the sample (or the group) in both waves for clustered
#: inference (below it the CRV1 variance has at most one degree of freedom).
MIN_CLUSTERS: int = 3
#: Fewest pilot and fewest comparison neighbourhoods (holding the sample in both waves)
#: for a DiD: with a single treated or control cluster the wild cluster bootstrap is
#: known to fail (MacKinnon & Webb 2017), and the effect cannot be told from that one
#: neighbourhood's own shock.
MIN_CLUSTERS_PER_ARM: int = 2


@dataclass
class Estimate:
    """One effect estimate, as published in ``impact.csv``.

    ``status`` is one of :data:`STATUSES` and ``reason`` (published as
    ``not_estimable_reason``) a code of :data:`REASONS`; every estimate, interval and
    p-value is missing unless the status is ``"estimated"``.
    """

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
    status: str = "estimated"
    reason: str = ""
    n_clusters_both_waves: int = 0
    n_clusters_treated_both_waves: int = 0
    min_p: float = float("nan")
    extra: dict = field(default_factory=dict)

    def withhold(self, status: str, reason: str, note: str | None = None) -> "Estimate":
        """Blank every estimate, interval and p-value and record why (codes)."""
        for name in ("estimate", "std_error", "crv_ci_low", "crv_ci_high", "crv_p_value",
                     "ci_low", "ci_high", "p_value"):
            setattr(self, name, float("nan"))
        self.status, self.reason = status, reason
        if note is not None:
            self.note = note
        return self


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
    withhold: bool = True,
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
    withhold : bool
        Withhold a fitted estimate whose inference the design cannot support (a test
        that cannot reject, an interval wider than the scale). ``False`` keeps the
        bootstrap's raw interval (status "estimated"), for simulations that measure the
        estimator's coverage (``benchmarks/simulate_did.py``); published tables never
        use it.

    Returns
    -------
    Estimate
        ``status`` "estimated", or "suppressed", "not_estimable", "not_collected" with a
        ``reason`` code (:data:`REASONS`) and every estimate, interval and p-value NaN.
        Not estimable (in this order): fewer than :data:`MIN_CLUSTERS` neighbourhoods
        holding the sample (for a difference: the group) in both waves; for a DiD fewer
        than :data:`MIN_CLUSTERS_PER_ARM` of them on either side; an effect term
        confounded with the fixed effects; a bootstrap test that cannot reject at 5 %
        whatever the data; an interval wider than the outcome's scale.
    """
    if design not in ("did", "pre_post"):
        raise ValueError(f"design must be 'did' or 'pre_post', got {design!r}")
    with _one_thread():
        return _fit_effect(df, outcome, design=design, weights=weights, group=group,
                           within_group=within_group, B=B, weight_type=weight_type, seed=seed,
                           covariates=covariates, k_suppress=k_suppress, withhold=withhold)


def _cluster_counts(data: pd.DataFrame) -> tuple[int, int, int]:
    """Neighbourhoods holding ``data`` in both waves: all, pilot, comparison."""
    waves = data.groupby("neighbourhood", observed=True)["wave"].nunique()
    both = waves.index[waves >= len(codebook.WAVES)]
    area = data.drop_duplicates("neighbourhood").set_index("neighbourhood")["pilot_area"]
    pilot = int((area.reindex(both) == "pilot").sum())
    return len(both), pilot, len(both) - pilot


def outcome_range(outcome: str) -> float:
    """Width of an outcome's scale (10 on 0-10, 3 on 1-4); NaN for a non-codebook outcome."""
    try:
        lo, hi = codebook.scale_range(outcome)
    except (KeyError, ValueError):
        return float("nan")
    return float(hi - lo)


def _fit_effect(df, outcome, *, design, weights, group, within_group, B, weight_type, seed,
                covariates, k_suppress, withhold=True, alpha=0.05) -> Estimate:
    if outcome not in df.columns or not df[outcome].notna().any():
        return Estimate(min_cell=float("nan")).withhold("not_collected", "not_collected")
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
    # Clusters that identify the effect: those holding the sample (for a difference, the
    # group's members) in both waves. A neighbourhood seen in one wave only adds nothing
    # its fixed effect does not absorb.
    holding = data if gmask is None else data[gmask == 1.0]
    both, both_pilot, both_comp = _cluster_counts(holding)
    res.n_clusters_both_waves, res.n_clusters_treated_both_waves = both, both_pilot
    if min_cell < k_suppress:
        return res.withhold("suppressed", "small_cell",
                            f"suppressed: a design cell has fewer than {k_suppress} respondents")
    if res.n_clusters < MIN_CLUSTERS:
        return res.withhold("not_estimable", "few_clusters",
                            f"not estimable: {res.n_clusters} neighbourhood(s), clustered inference "
                            f"needs {MIN_CLUSTERS} or more")
    if both < MIN_CLUSTERS:
        return res.withhold("not_estimable", "few_clusters", "not estimable: few_clusters")
    if design == "did" and min(both_pilot, both_comp) < MIN_CLUSTERS_PER_ARM:
        return res.withhold("not_estimable", "few_clusters_per_arm", "not estimable: few_clusters_per_arm")
    try:
        M = design_matrix(data, design=design, group=gmask, covariates=covariates)
    except ValueError as exc:
        return res.withhold("not_estimable", "collinear", f"not estimable: {exc}")
    j = 1 if gmask is not None else 0
    y = data[outcome].to_numpy(dtype=float)
    w = data[weights].to_numpy(dtype=float) if weights is not None else np.ones(len(data))
    clusters = data["neighbourhood"].astype(str).to_numpy()
    # Estimate and CRV1 standard error come with the bootstrap (the same algebra as
    # statsmodels' WLS with cov_type="cluster"; tests check they agree).
    wb = wild_cluster_bootstrap(M.to_numpy(dtype=float), y, clusters, j, weights=w, B=B,
                                weight_type=weight_type, seed=seed, alpha=alpha)
    G = res.n_clusters
    res.estimate, res.std_error = wb.estimate, wb.crv1_se
    q = stats.t.ppf(1 - alpha / 2, G - 1)
    res.crv_ci_low, res.crv_ci_high = res.estimate - q * res.std_error, res.estimate + q * res.std_error
    res.crv_p_value = float(2 * stats.t.sf(abs(res.estimate / res.std_error), G - 1))
    res.p_value, res.ci_low, res.ci_high = wb.p_value, wb.ci_low, wb.ci_high
    res.inference = wb.label
    res.min_p = wb.min_p
    # The design cannot support inference here: the test can never reject, or its
    # interval spans more than the whole scale. Nothing is published but the reason.
    if not withhold:
        return res
    if wb.min_p > alpha:
        return res.withhold("not_estimable", "cannot_reject", "not estimable: cannot_reject")
    width = res.ci_high - res.ci_low
    if not np.isfinite(width) or width > outcome_range(outcome):
        return res.withhold("not_estimable", "ci_wider_than_scale", "not estimable: ci_wider_than_scale")
    return res


def _published_count(x) -> float:
    """A count as published: 1 to k-1 is never shown (it would disclose a small cell)."""
    return float("nan") if 0 < x < K_SUPPRESS else x


def _as_row(e: Estimate) -> dict:
    row = {k: v for k, v in e.__dict__.items() if k not in ("extra", "reason")}
    row["n"], row["min_cell"] = _published_count(e.n), _published_count(e.min_cell)
    row["estimable"] = e.status == "estimated"
    row["not_estimable_reason"] = e.reason
    return row


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
    indicators: tuple[str, ...] = codebook.OUTCOMES,
    groups: list[str] | None = None,
    B: int = B_DEFAULT,
    weight_type: str = "auto",
    seed: int = SEED,
) -> pd.DataFrame:
    """Every outcome x group effect of a city, one row each (the residents' ``impact.csv``).

    The design follows the profile: DiD with comparison areas, else pre/post. For a group,
    ``estimate`` is the effect within the group and ``diff_vs_rest`` / ``diff_p_value``
    the triple-difference test of whether it differs from the rest.

    Every codebook outcome (:data:`codebook.OUTCOMES`: the indices and each of their
    items, on the item's own scale) is a row. One the city never asked (or an index with
    too few of its items asked) has ``status="not_collected"``, is never fitted and has
    no estimate; that is distinct from ``"suppressed"`` (a design cell under k) and from
    ``"not_estimable"`` (the design cannot support inference, with a reason code).

    A group row with too few members in the comparison areas (suppressed, or fewer than
    :data:`MIN_CLUSTERS_PER_ARM` comparison neighbourhoods) falls back to the pre/post
    change in the pilot areas; ``design`` says ``pre_post`` only when that fallback gave
    the published estimate, otherwise the row keeps the DiD and its status.
    """
    design = "did" if profile.has_comparison else "pre_post"
    groups = city_groups(profile) if groups is None else groups
    rows = []
    for outcome in indicators:
        collection = codebook.collection_status(respondents, outcome)
        for group in ["all", *groups]:
            kw = dict(design=design, weights=weights, B=B, weight_type=weight_type, seed=seed)
            row_design = design
            if collection in ("not_collected", "too_few_items"):
                est = Estimate(min_cell=float("nan")).withhold("not_collected", collection)
                diff = Estimate().withhold("not_collected", collection) if group != "all" else Estimate()
            elif collection == "one_wave_only":
                est = Estimate(min_cell=float("nan")).withhold("not_estimable", "one_wave_only",
                                                               "not estimable: one_wave_only")
                diff = Estimate().withhold("not_estimable", "one_wave_only") if group != "all" else Estimate()
            elif group == "all":
                est = fit_effect(respondents, outcome, **kw)
                diff = Estimate()
            else:
                est = fit_effect(respondents, outcome, group=group, within_group=True, **kw)
                diff = fit_effect(respondents, outcome, group=group, **kw)
                if design == "did" and (est.status == "suppressed" or est.reason == "few_clusters_per_arm"):
                    # A group found almost only in the pilot areas (tourists in a city
                    # centre) has no comparison: fall back to its pre/post change there.
                    # The row is relabelled only if that fit is published.
                    pp = {**kw, "design": "pre_post"}
                    alt = fit_effect(respondents, outcome, group=group, within_group=True, **pp)
                    if alt.status == "estimated":
                        est, row_design = alt, "pre_post"
                        est.note = ("too few group members in the comparison areas: pre/post in the "
                                    "pilot areas (weaker design)")
                        diff = fit_effect(respondents, outcome, group=group, **pp)
            row = {"city": profile.city, "population": "residents", "outcome": outcome,
                   "group": group, "design": row_design, **_as_row(est), "scale": scale_label(outcome),
                   "diff_vs_rest": diff.estimate, "diff_ci_low": diff.ci_low,
                   "diff_ci_high": diff.ci_high, "diff_p_value": diff.p_value,
                   "diff_status": diff.status if group != "all" else "",
                   "diff_not_estimable_reason": diff.reason if group != "all" else ""}
            if group != "all" and diff.note and not est.note:
                row["note"] = f"difference vs rest {diff.note}"
            rows.append(row)
    return _order(pd.DataFrame(rows))


IMPACT_COLUMNS = ["city", "population", "outcome", "group", "design", "estimate", "std_error",
                  "ci_low", "ci_high", "p_value", "inference", "crv_ci_low", "crv_ci_high",
                  "crv_p_value", "n", "n_clusters", "n_clusters_treated", "min_cell", "scale",
                  "diff_vs_rest", "diff_ci_low", "diff_ci_high", "diff_p_value", "note",
                  # codes (section "groups and designs that cannot support inference")
                  "status", "estimable", "not_estimable_reason", "n_clusters_both_waves",
                  "n_clusters_treated_both_waves", "min_p", "diff_status", "diff_not_estimable_reason"]


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
                     # published counts (analysis.disclosure): 1-9 blank, others rounded to 10
                     "n_a": publish_count(na, marker=None), "n_b": publish_count(nb, marker=None),
                     "std_diff": np.nan if small else smd,
                     "imbalanced": bool(rated and not small and np.isfinite(smd) and abs(smd) > threshold),
                     "used_in_rating": rated})
    out = pd.DataFrame(rows)
    for c in ("n_a", "n_b"):
        out[c] = pd.array(out[c], dtype="Int64")
    return out


# ========================================================================= one city
def design_summary(respondents: pd.DataFrame, profile) -> pd.DataFrame:
    """Respondents and neighbourhoods by area type and wave, respondents in published form.

    Counts from 1 to k - 1 show as "<k", the others rounded to base 10
    (:func:`analysis.disclosure.publish_count`): exact area totals minus the rounded
    neighbourhood counts of ``01-clean`` gave back hidden neighbourhood counts.
    """
    df = respondents[respondents["pilot_area"].isin(["pilot", "comparison", "other"])]
    tab = (df.groupby(["pilot_area", "wave"], observed=True)
           .agg(respondents=("wave", "size"), neighbourhoods=("neighbourhood", "nunique"))
           .reset_index())
    tab["respondents"] = tab["respondents"].map(lambda n: str(publish_count(n)))
    tab.insert(0, "design", "did" if profile.has_comparison else "pre_post")
    return tab


def with_weights(respondents: pd.DataFrame, profile) -> tuple[pd.DataFrame, str]:
    """Add the survey weight column ``weight`` (:func:`analysis.weights.city_weights`).

    Returns the frame and the weighting method code (:data:`analysis.weights.METHODS`:
    ``raked_population``, ``raked_population_approx`` or ``unweighted_no_margins``), so
    that nothing says "raked to population" when it was not. Given weights are kept
    (``"given"``).
    """
    from .weights import city_weights, weights_method

    df = respondents.copy()
    if "weight" in df.columns:
        return df, "given"
    w = city_weights(respondents, profile)
    df["weight"] = pd.Series(w["weight"], index=df.index).astype(float)
    df.attrs["weights"] = w
    return df, weights_method(w)


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
    sensitivity = off.officer_sensitivity(officers_df, profile)
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
        write_table(sensitivity, folder / "officers_sensitivity.csv", synthetic=profile.synthetic)
        if "weights" in resp.attrs:
            from .weights import weighting_annex

            annex = weighting_annex(read_processed(city, "respondents"), resp.attrs["weights"], profile)
            # counts of imputed respondents are small by nature: published only from k up
            annex["n_imputed"] = annex["n_imputed"].where(annex["n_imputed"].eq(0) | annex["n_imputed"].ge(K_SUPPRESS))
            write_table(annex, folder / "weighting.csv", synthetic=profile.synthetic)
        # area-level estimates (pilot, comparison, rest of the city), computed the same way
        # in both waves: the like-for-like trend of the exploration and the dashboard
        from .areas import write_area_table

        write_area_table(city)
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
        "n": [str(publish_count(v)) if pd.notna(v) else "" for v in df["n"]],  # published form
        "clusters": pd.array(df["n_clusters"], dtype="Int64"),
        "design": df["design"].to_numpy(),
    })
    if "status" in df.columns and population == "residents":
        out["status"] = df["status"].to_numpy()
        out["reason"] = df["not_estimable_reason"].fillna("").to_numpy()
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
    "not_estimable": ("not estimable with this design", "non estimable avec ce dispositif"),
    "not_collected": ("not collected", "non collecté"),
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
            # Each status is worded differently: "not collected" is not a suppression.
            status = r.get("status", "suppressed")
            key = status if status in ("not_estimable", "not_collected") else "suppressed"
            ax.text(0.02, y, _t(key, lang).format(k=K_SUPPRESS), va="center", fontsize=7,
                    color="0.45", style="italic" if key == "not_collected" else "normal",
                    transform=ax.get_yaxis_transform())
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
    n = publish_count(int(ev.residents.loc[ev.residents["group"] == "all", "n"].max()))
    design = {"did": ("difference-in-differences", "doubles différences"),
              "pre_post": ("pre/post, no comparison area", "avant/après, sans zone de comparaison")}[ev.design]
    # the caption says what the weights were (analysis.weights method codes), never "weighted"
    # for a city without margins
    weighting = {"raked_population": ("weighted, raked to the profile's population margins",
                                      "pondéré, calage sur les marges de population du profil"),
                 "raked_population_approx": ("weighted, raked to the profile's population margins "
                                             "(met approximately)",
                                             "pondéré, calage approché sur les marges de population du profil"),
                 "unweighted_no_margins": ("unweighted: no population margins for this city",
                                           "non pondéré : pas de marges de population pour cette ville"),
                 "given": ("weighted with the weights supplied with the data",
                           "pondéré par les poids fournis avec les données")}.get(
        getattr(ev, "weighting", None), ("weighting method not stated", "méthode de pondération non indiquée"))
    specs = [
        ("impact-residents", lambda lang: plot_effects(ev.impact, lang=lang), ev.residents,
         ("Effects of the pilot on residents", "Effets du pilote sur les habitants"),
         (f"Pilot effect per indicator ({design[0]}; {weighting[0]}; neighbourhood and wave fixed effects, "
          f"age group and gender adjusted); 95% wild cluster bootstrap intervals; up to n = {n} respondents.",
          f"Effet du pilote par indicateur ({design[1]} ; {weighting[1]} ; effets fixes quartier et vague, "
          f"ajusté sur âge et genre) ; intervalles à 95 % par bootstrap sauvage par grappes ; jusqu'à n = {n}.")),
        ("impact-groups", lambda lang: plot_group_effects(ev.impact, lang=lang), ev.residents,
         ("Effects by targeted group", "Effets par groupe ciblé"),
         ("Pilot effect within each targeted group, main indicators; 95% wild cluster bootstrap intervals; "
          f"estimates on fewer than {K_SUPPRESS} respondents per cell are suppressed.",
          "Effet du pilote dans chaque groupe ciblé, indicateurs principaux ; intervalles à 95 % ; "
          f"estimations masquées sous {K_SUPPRESS} répondants par case.")),
        ("impact-officers", lambda lang: plot_officers(ev.impact, lang=lang), ev.officers,
         ("Change among police officers", "Évolution chez les policiers"),
         ("Officer survey, 1-5 scales; standard errors clustered by officer (CRV1), some officers "
          "answered in both waves; small samples.",
          "Enquête auprès des policiers, échelles 1-5 ; erreurs types par grappes de policiers (CRV1), "
          "certains ont répondu aux deux vagues ; petits effectifs.")),
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
