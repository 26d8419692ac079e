"""The wild cluster restricted bootstrap (WCR) for few clusters, with its test inversion.

Owns the bootstrap draws, the enumeration of sign patterns, the p-value and the interval;
the regression it bootstraps is :mod:`analysis.statistics.impact`'s. Must not read data
files or write tables. The method and its references are in :mod:`analysis.statistics.impact`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.config import SEED


def one_blas_thread():
    """Run BLAS on one thread: the matrices here are small, and threaded BLAS on a busy
    2-core machine was measured 10x slower on them (thread contention)."""
    return threadpool_limits(limits=1, user_api="blas")


#: Default number of bootstrap draws for published estimates.
B_DEFAULT: int = 9999
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

    @property
    def code(self) -> str:
        """The inference as a code (``impact.csv`` ``inference``; the report words it, with ``B``)."""
        kind = "webb" if self.weight_type == "webb" else "rademacher"
        return f"wcr_{kind}_{'enumerated' if self.enumerated else 'sampled'}"


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


