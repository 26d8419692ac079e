"""Impact of a city's pilot on residents: difference-in-differences with few clusters.

Owns the residents' DiD and pre/post estimates with few-cluster inference, and balance.
Must not read or write files, draw or word: the impact step runs it, publishing shows it.

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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS, SEED
from analysis.sdc import publish_count
from analysis.publishing.tables import order_impact_columns
from analysis.statistics.bootstrap import B_DEFAULT, one_blas_thread, wild_cluster_bootstrap
from analysis.statistics.design import MIN_CLUSTERS, MIN_CLUSTERS_PER_ARM  # noqa: F401 (part of this module's API)

#: Covariates of every model: age group and gender (DESIGN §5).
COVARIATES: tuple[str, ...] = ("age_group", "gender")

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
    note_key: str = ""
    note_value: float = float("nan")
    inference_B: float = float("nan")
    status: str = "estimated"
    reason: str = ""
    n_clusters_both_waves: int = 0
    n_clusters_treated_both_waves: int = 0
    min_p: float = float("nan")
    extra: dict = field(default_factory=dict)

    def withhold(self, status: str, reason: str, note_key: str | None = None,
                 note_value: float = float("nan")) -> "Estimate":
        """Blank every estimate, interval and p-value and record why (codes: ``note_key``
        of :data:`analysis.publishing.tables.NOTE_KEYS` and its number ``note_value``)."""
        for name in ("estimate", "std_error", "crv_ci_low", "crv_ci_high", "crv_p_value",
                     "ci_low", "ci_high", "p_value"):
            setattr(self, name, float("nan"))
        self.status, self.reason = status, reason
        if note_key is not None:
            self.note_key, self.note_value = note_key, note_value
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
    with one_blas_thread():
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
        return res.withhold("suppressed", "small_cell", "suppressed", k_suppress)
    if res.n_clusters < MIN_CLUSTERS:
        return res.withhold("not_estimable", "few_clusters", "few_clusters", res.n_clusters)
    if both < MIN_CLUSTERS:
        return res.withhold("not_estimable", "few_clusters", "not_estimable")
    if design == "did" and min(both_pilot, both_comp) < MIN_CLUSTERS_PER_ARM:
        return res.withhold("not_estimable", "few_clusters_per_arm", "not_estimable")
    try:
        M = design_matrix(data, design=design, group=gmask, covariates=covariates)
    except ValueError:
        return res.withhold("not_estimable", "collinear", "not_estimable")
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
    res.inference, res.inference_B = wb.code, wb.B
    res.min_p = wb.min_p
    # The design cannot support inference here: the test can never reject, or its
    # interval spans more than the whole scale. Nothing is published but the reason.
    if not withhold:
        return res
    if wb.min_p > alpha:
        return res.withhold("not_estimable", "cannot_reject", "not_estimable")
    width = res.ci_high - res.ci_low
    if not np.isfinite(width) or width > outcome_range(outcome):
        return res.withhold("not_estimable", "ci_wider_than_scale", "not_estimable")
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
                                                               "not_estimable")
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
                        est.note_key = "group_pre_post_fallback"
                        diff = fit_effect(respondents, outcome, group=group, **pp)
            row = {"city": profile.city, "population": "residents", "outcome": outcome,
                   "group": group, "design": row_design, **_as_row(est), "scale": codebook.scale_label(outcome),
                   "diff_vs_rest": diff.estimate, "diff_ci_low": diff.ci_low,
                   "diff_ci_high": diff.ci_high, "diff_p_value": diff.p_value,
                   "diff_status": diff.status if group != "all" else "",
                   "diff_not_estimable_reason": diff.reason if group != "all" else ""}
            if group != "all" and diff.note_key and not est.note_key:
                # the group's own estimate stands; its difference from the rest's does not
                row["note_key"] = {"suppressed": "diff_suppressed"}.get(diff.note_key, "diff_not_estimable")
                row["note_value"] = diff.note_value if diff.note_key == "suppressed" else float("nan")
            rows.append(row)
    return order_impact_columns(pd.DataFrame(rows))


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
    for pre/post not for the outcomes, whose change is the estimate itself. ``comparison``
    is a code: ``pilot_vs_comparison_baseline`` or ``follow_up_vs_baseline_pilot``.
    """
    df = respondents.copy()
    w = df[weights] if weights is not None else pd.Series(1.0, index=df.index)
    df["_w"] = w
    df["female"] = (df["gender"] == "female").astype("Float64").where(df["gender"].notna())
    df["migrant"] = df["migrant_background"].astype("Float64")
    if profile.has_comparison:
        base = df[df["wave"] == "baseline"]
        a, b = base[base["pilot_area"] == "pilot"], base[base["pilot_area"] == "comparison"]
        comparison = "pilot_vs_comparison_baseline"
    else:
        pil = df[df["pilot_area"] == "pilot"]
        a, b = pil[pil["wave"] == "follow_up"], pil[pil["wave"] == "baseline"]
        comparison = "follow_up_vs_baseline_pilot"
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
                     # published counts (analysis.publishing.disclosure): 1-9 blank, others rounded to 10
                     "n_a": publish_count(na, marker=None), "n_b": publish_count(nb, marker=None),
                     "std_diff": np.nan if small else smd,
                     "imbalanced": bool(rated and not small and np.isfinite(smd) and abs(smd) > threshold),
                     "used_in_rating": rated})
    out = pd.DataFrame(rows)
    for c in ("n_a", "n_b"):
        out[c] = pd.array(out[c], dtype="Int64")
    return out


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
    out["note_key"] = df["note_key"].fillna("").to_numpy()
    return out.reset_index(drop=True)


