"""Survey weights: raking each city-wave to the population of the neighbourhoods surveyed.

Owns the survey weights (raking, trimming, fallback) and their diagnostics. Must not
estimate outcomes: 01-clean saves the weights once, the later steps read them.

Method (DESIGN §4), for each city and wave separately:

1. **The population described** is that of the neighbourhoods surveyed in the wave (those
   with at least one respondent), not the whole city. Every margin is summed over those
   neighbourhoods only: imposing the city-wide age × gender structure on a few surveyed
   neighbourhoods would make them look like the city (measured: 4 of 8 neighbourhoods
   surveyed, weighted share aged 65+ 0.275 against a true 0.150 in those neighbourhoods;
   0.150 once the margins are restricted, ``tests/test_weights.py``). Weights sum, in each
   wave, to the population of the surveyed neighbourhoods (persons represented per
   respondent).
2. **Raking** (iterative proportional fitting, hand-written in :func:`rake`: samplics is
   archived, and IPF is a dozen lines that the tests check against the margins it must
   reproduce) from the **base weight** ``N_h / n_h`` (population over respondents of the
   respondent's neighbourhood) to two margins: the population of each surveyed
   **neighbourhood**, and the population by **age group × gender** (10 cells) summed over
   the surveyed neighbourhoods. We rake on these rather than on the full
   neighbourhood × age group × gender table because, with 20–60 respondents per
   neighbourhood and wave, most of the 10 cells within a neighbourhood would be empty or
   hold one or two people, and post-stratifying on them would give a few huge weights.
3. **Empty categories are collapsed**: an age × gender cell with no respondent in a wave
   (e.g. no man aged 65+) is dropped and the other cells are scaled up proportionally, so
   that weights still sum to the population described. Such categories are listed in
   ``attrs["collapsed"]``.
4. **Trimming** (bounded raking) relative to each respondent's **base weight**: after
   every IPF cycle, weights are clipped to ``[base / cap, cap × base]`` (default cap 5)
   and raking goes on. A cap relative to the city median failed when neighbourhood
   populations differ 30-fold: the large neighbourhood's respondents legitimately carry
   30 times the weight of the small one's, and a median cap cut them, leaving a margin
   32 % off. Relative to the base weight, the neighbourhood margins are always compatible
   with the bounds (a lone respondent carries exactly her neighbourhood's population, at
   ratio 1), and the cap only limits how far age × gender adjustment moves a weight.
   When the bounds and the age × gender margin are incompatible, raking stops after 1000
   cycles with the margins met as closely as the bounds allow (``weights_method``
   ``raked_population_approx``); :func:`achieved_margins` reports how close.
5. **Missing age group or gender**: such respondents cannot be placed in the
   age × gender margin. They are left out of the raking and then given the mean final
   weight of the raked respondents of *their* neighbourhood (their neighbourhood's base
   weight where no one there was raked); the weights of each neighbourhood are then
   scaled back to its population. Neighbourhood margins stay exact; the age × gender
   margin is met among respondents of known age and gender up to that rescaling
   (:func:`achieved_margins` reports it). They are flagged ``imputed=True``.

**Weighting method codes** (column and ``attrs["weights_method"]`` of
:func:`city_weights`, carried by every output that uses the weights):

``raked_population``
    Raked to the population margins of the surveyed neighbourhoods; every margin met
    within the raking tolerance (1e-10 relative) among respondents of known age and gender.
``raked_population_approx``
    Raked to those margins, but the trimming bounds kept some margin from being met
    exactly; :func:`achieved_margins` gives the achieved values.
``unweighted_no_margins``
    **Fallback**: the city profile gives no population margins (``margins`` omitted).
    Every respondent gets weight 1, so estimates describe the **sample**, with
    neighbourhoods in proportion to their number of respondents. The outputs must not say
    "weighted" or "raked to population" (see :data:`METHODS`).

Plausibility (:func:`check_margins`, run by :func:`city_weights`): every surveyed
neighbourhood has margins with a positive total, no more respondents in a
neighbourhood and wave than its population, and no zero population cell
(neighbourhood × gender × age group) where respondents exist. A failure is a
``ValueError`` naming the city, wave, neighbourhood and cell.

:func:`weight_summary` reports, per city and wave, before and after trimming: weight
range, coefficient of variation, Kish's design effect due to weighting ``1 + CV²`` and the
effective sample size ``n / deff = (Σw)² / Σw²``; :func:`weighting_annex` gives, per city
and wave, the method, the population covered, the largest margin error and the design
effect (the methods-annex table), and :func:`achieved_margins` each margin against its target.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd

from analysis.config import K_SUPPRESS
from analysis.sdc import ROUNDING_BASE
from analysis.io import read_processed
from analysis.inputs.margins import MARGINS_CSV_COLUMNS, check_margins, population_margins, read_margins_csv  # noqa: F401 (part of this module's API)
from analysis.config import list_cities
from analysis.inputs.profile import load_profile

#: Default trimming cap, as a multiple of each respondent's base weight ``N_h / n_h``.
CAP = 5.0

#: Raking dimensions of :func:`city_weights`: neighbourhood, and age group × gender.
DEFAULT_DIMS: tuple[str | tuple[str, ...], ...] = ("neighbourhood", ("age_group", "gender"))

#: Weighting method codes (see the module docstring); values say whether the estimates
#: describe the population (True) or only the sample (False).
METHODS: dict[str, bool] = {
    "raked_population": True,
    "raked_population_approx": True,
    "unweighted_no_margins": False,
}

def _as_tuple(dim) -> tuple[str, ...]:
    return (dim,) if isinstance(dim, str) else tuple(dim)


def _dim_code(dim) -> str:
    """A margin's name as text: ``"neighbourhood"``, ``"age_group:gender"``."""
    return ":".join(_as_tuple(dim))


def _keys(df: pd.DataFrame, dim) -> pd.Series:
    """The category of each row on margin ``dim`` (one column or a tuple of columns)."""
    cols = _as_tuple(dim)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"raking margin {dim!r}: column(s) {missing} not in the data")
    if len(cols) == 1:
        return df[cols[0]].astype("object")
    parts = [df[c].astype("object") for c in cols]
    keys = pd.Series(list(zip(*parts)), index=df.index, dtype="object")
    anyna = pd.concat([p.isna() for p in parts], axis=1).any(axis=1)
    return keys.where(~anyna, None)


def margins_from_frame(frame: pd.DataFrame, dims=DEFAULT_DIMS, value: str = "population") -> dict:
    """Population totals for each raking margin, from a long table of counts.

    Parameters
    ----------
    frame : DataFrame
        One row per cell with the columns of ``dims`` and ``value``
        (``profile.margins_frame()``: neighbourhood, gender, age_group, population).
    dims : sequence of str or tuple of str
        Each a column, or a tuple of columns for a crossed margin.

    Returns
    -------
    dict
        ``{dim: pandas.Series of totals}``, indexed by category (tuples for crossed margins).
    """
    out = {}
    for dim in dims:
        cols = list(_as_tuple(dim))
        totals = frame.groupby(cols, sort=True, observed=True)[value].sum().astype(float)
        if len(cols) > 1:
            totals.index = pd.Index(list(totals.index), dtype="object", tupleize_cols=False)
        out[dim] = totals
    return out


# ============================================================================ raking
def rake(df: pd.DataFrame, margins: Mapping[Hashable, pd.Series] | pd.DataFrame, *,
         base_weight: pd.Series | None = None, dims=None, max_iter: int = 1000,
         tol: float = 1e-10, cap: float | None = None) -> pd.Series:
    """Rake weights to population margins by iterative proportional fitting.

    Parameters
    ----------
    df : DataFrame
        Respondents, with the margin columns; none may be missing.
    margins : dict or DataFrame
        ``{dim: Series of population totals by category}`` where ``dim`` is a column
        name or a tuple of column names (crossed margin, categories as tuples); or a
        long table of counts with a ``population`` column, summed over ``dims``
        (:func:`margins_from_frame`).
    base_weight : Series, optional
        Starting (design) weights; default the uniform weight ``N / n``.
    dims : sequence, optional
        Margins to use when ``margins`` is a table (default :data:`DEFAULT_DIMS`).
    max_iter : int
        Maximum number of full IPF cycles.
    tol : float
        Convergence: every weighted category total within ``tol`` (relative) of its target.
    cap : float, optional
        Bounded raking: after every IPF cycle, each weight is clipped to
        ``[base / cap, cap × base]`` around its own base weight. When margins and bounds
        are compatible this converges to weights that meet both; when not, it stops
        after ``max_iter`` cycles with ``converged=False`` and the remaining margin error
        in ``max_rel_error``.

    Returns
    -------
    pandas.Series
        Weights (float), on ``df.index``, whose weighted totals reproduce every margin.
        ``attrs``: ``iterations``, ``converged``, ``max_rel_error`` and ``collapsed``
        (margin categories without respondents, dropped and their population spread
        proportionally over the other categories of that margin).

    Raises
    ------
    ValueError
        A respondent with a missing value on a margin column, or in a category whose
        population is zero or absent from the margins (naming the category).
    """
    if isinstance(margins, pd.DataFrame):
        margins = margins_from_frame(margins, dims or DEFAULT_DIMS)
    if not margins:
        raise ValueError("rake: no margins given")
    n = len(df)
    if n == 0:
        return pd.Series(dtype=float, index=df.index, name="weight")
    grand = None
    plan = []  # (dim, codes per row, target per code)
    collapsed: dict = {}
    for dim, totals in margins.items():
        totals = pd.Series(totals, dtype=float)
        total = float(totals.sum())
        if grand is None:
            grand = total
        elif not np.isclose(total, grand, rtol=1e-6):
            raise ValueError(f"rake: margin {dim!r} sums to {total:g}, another margin to {grand:g}; "
                             "margins must describe the same population")
        keys = _keys(df, dim)
        if keys.isna().any():
            raise ValueError(f"rake: {int(keys.isna().sum())} respondent(s) with a missing value "
                             f"on margin {dim!r}; rake complete cases only (see city_weights)")
        present = pd.unique(keys)
        unknown = [k for k in present if k not in totals.index or totals.get(k, 0) <= 0]
        if unknown:
            raise ValueError(f"rake: respondents in categor(ies) {unknown} of margin {dim!r}, "
                             "which have no population in the margins")
        empty = [k for k in totals.index if k not in set(present) and totals[k] > 0]
        if empty:
            collapsed[dim] = empty
        target = totals[[k for k in totals.index if k in set(present)]]
        target = target * (grand / target.sum())  # collapse: spread the empty categories' people
        codes = pd.Categorical(keys, categories=list(target.index)).codes
        plan.append((dim, codes, target.to_numpy()))
    if base_weight is None:
        base = np.full(n, grand / n)
    else:
        base = pd.to_numeric(base_weight, errors="coerce").reindex(df.index).to_numpy(dtype=float)
    if not np.all(np.isfinite(base)) or (base <= 0).any():
        raise ValueError("rake: base weights must be finite and positive")
    if cap is not None and not cap >= 1:
        raise ValueError(f"rake: cap must be >= 1, got {cap!r}")
    lo, hi = (None, None) if cap is None else (base / cap, base * cap)
    w = base.copy()
    converged, it, err = False, 0, np.inf
    for it in range(1, max_iter + 1):
        for _, codes, target in plan:
            current = np.bincount(codes, weights=w, minlength=len(target))
            w = w * (target / current)[codes]
        if cap is not None:
            w = np.clip(w, lo, hi)
        err = max(np.max(np.abs(np.bincount(c, weights=w, minlength=len(t)) / t - 1)) for _, c, t in plan)
        if err < tol:
            converged = True
            break
    out = pd.Series(w, index=df.index, name="weight")
    out.attrs = {"iterations": it, "converged": converged, "max_rel_error": float(err),
                 "collapsed": collapsed}
    return out


def trim_and_rake(df: pd.DataFrame, margins, *, cap: float = CAP, **kw) -> tuple[pd.Series, pd.Series]:
    """Rake, and rake again with weights bounded to ``[base / cap, cap × base]``.

    Returns
    -------
    (untrimmed, trimmed) : tuple of Series
        Plain IPF weights, and bounded-IPF weights (:func:`rake` with ``cap``);
        ``trimmed.attrs["cap_met"]`` says whether the bounds hold with the margins met.
    """
    untrimmed = rake(df, margins, **kw)
    trimmed = rake(df, margins, cap=cap, **kw)
    trimmed.attrs = {**trimmed.attrs, "cap_met": bool(trimmed.attrs["converged"])}
    return untrimmed, trimmed


# ========================================================================== one city
def city_weights(respondents: pd.DataFrame, profile, *, cap: float = CAP,
                 dims=DEFAULT_DIMS) -> pd.DataFrame:
    """Weights of a city's respondents, per wave (raked, or the no-margins fallback).

    See the module docstring for the margins, the collapse, trimming, missing-data and
    fallback rules.

    Parameters
    ----------
    respondents : DataFrame
        Codebook residents of one city (``wave``, ``neighbourhood``, ``age_group``, ``gender``).
    profile : CityProfile
        Gives the population margins (:func:`population_margins`); none: fallback.
    cap : float
        Trimming cap as a multiple of each respondent's base weight (``None`` or ``inf``:
        no trimming).
    dims : sequence
        Raking margins (default: neighbourhood; age group × gender), summed over the
        neighbourhoods surveyed in each wave.

    Returns
    -------
    pandas.DataFrame
        On the respondents' index: ``city``, ``wave``, ``neighbourhood``, ``weight`` (final;
        sums to the population of the surveyed neighbourhoods in each wave),
        ``weight_untrimmed``, ``imputed`` (age group or gender missing), ``base_weight``
        (``N_h / n_h``) and ``weights_method`` (code, per wave). ``attrs``:
        ``weights_method`` (one code for the city: the first of ``unweighted_no_margins``,
        ``raked_population_approx``, ``raked_population`` that any wave has),
        ``methods`` (by wave), ``collapsed`` and ``surveyed`` (neighbourhood codes) by wave,
        ``cap``.

    Raises
    ------
    ValueError
        Implausible margins (:func:`check_margins`: unknown neighbourhood codes, a
        population of 0 or smaller than the respondents, a zero cell with respondents).
    """
    if respondents["neighbourhood"].isna().any():
        raise ValueError(f"{profile.city}: {int(respondents['neighbourhood'].isna().sum())} respondent(s) "
                         "without a neighbourhood code; weights need every respondent's neighbourhood")
    out = pd.DataFrame(index=respondents.index)
    out["city"] = respondents["city"].astype("str") if "city" in respondents else profile.city
    out["wave"] = respondents["wave"].astype("str")
    out["neighbourhood"] = respondents["neighbourhood"].astype("str")
    needed = sorted({c for d in dims for c in _as_tuple(d)} - {"neighbourhood"})
    complete = (respondents[needed].notna().all(axis=1) if needed
                else pd.Series(True, index=respondents.index))
    frame = population_margins(profile)
    if frame is None:
        # Fallback: nothing to weight to. Weight 1 describes the sample as it is; the
        # method code says so, so no output can call these estimates population-weighted.
        method = "unweighted_no_margins"
        for col in ("weight", "weight_untrimmed", "base_weight"):
            out[col] = 1.0
        out["imputed"] = False
        out["weights_method"] = method
        waves = sorted(out["wave"].unique())
        out = out[["city", "wave", "neighbourhood", "weight", "weight_untrimmed", "imputed",
                   "base_weight", "weights_method"]]
        out.attrs = {"weights_method": method, "methods": {w: method for w in waves},
                     "collapsed": {}, "surveyed": {}, "cap": None}
        return out
    problems = check_margins(frame, respondents, profile.city)
    if problems:
        raise ValueError(f"{profile.city}: implausible population margins (profile key margins):\n  "
                         + "\n  ".join(problems))
    pop_nb = frame.groupby("neighbourhood")["population"].sum().astype(float)
    out["weight"] = np.nan
    out["weight_untrimmed"] = np.nan
    out["imputed"] = ~complete.to_numpy(dtype=bool)
    out["base_weight"] = np.nan
    out["weights_method"] = ""
    collapsed, surveyed, methods = {}, {}, {}
    for wave, grp in respondents.groupby("wave", sort=True, observed=True):
        nb = grp["neighbourhood"].astype(str)
        ok = grp[complete.loc[grp.index]]
        if ok.empty:
            raise ValueError(f"{profile.city} {wave}: no respondent with both age group and gender")
        nb_ok = ok["neighbourhood"].astype(str)
        # The population described: the neighbourhoods surveyed in this wave. The margins
        # are summed over those with a raked respondent (their people are the ones raking
        # can represent); neighbourhoods with only incomplete respondents get their
        # population below, when every neighbourhood is scaled to its total.
        sub = frame[frame["neighbourhood"].isin(set(nb_ok))]
        margins = margins_from_frame(sub, dims)
        base = nb_ok.map(pop_nb / nb_ok.value_counts()).astype(float)
        if cap is None or not np.isfinite(cap):
            untrimmed = trimmed = rake(ok, margins, base_weight=base)
        else:
            untrimmed, trimmed = trim_and_rake(ok, margins, cap=cap, base_weight=base)
        collapsed[wave] = trimmed.attrs.get("collapsed", {})
        surveyed[wave] = sorted(set(nb))
        methods[wave] = "raked_population" if trimmed.attrs["converged"] else "raked_population_approx"
        base_all = nb.map(pop_nb / nb.value_counts()).astype(float)
        for col, w in (("weight_untrimmed", untrimmed), ("weight", trimmed)):
            full = pd.Series(np.nan, index=grp.index)
            full.loc[ok.index] = w
            nb_mean = full.groupby(nb).transform("mean")
            full = full.fillna(nb_mean).fillna(base_all)
            # Scale each neighbourhood back to its population (imputed respondents took
            # a share of it).
            full = full * nb.map(pop_nb / full.groupby(nb).sum()).astype(float)
            out.loc[grp.index, col] = full.to_numpy()
        out.loc[grp.index, "base_weight"] = base_all.to_numpy()
        out.loc[grp.index, "weights_method"] = methods[wave]
    order = ["unweighted_no_margins", "raked_population_approx", "raked_population"]
    overall = next((m for m in order if m in methods.values()), "raked_population")
    out.attrs = {"weights_method": overall, "methods": methods, "collapsed": collapsed,
                 "surveyed": surveyed, "cap": cap}
    return out


def weights_method(weights: pd.DataFrame | pd.Series) -> str:
    """The weighting method code of :func:`city_weights` output (for notes and captions).

    ``"unweighted_no_margins"`` when the object carries no method (weights of 1 made
    elsewhere must not be reported as raked).
    """
    return (getattr(weights, "attrs", {}) or {}).get("weights_method", "unweighted_no_margins")


# ======================================================================= diagnostics
def _stats(w: np.ndarray) -> dict:
    n = len(w)
    if n == 0:
        return {"n": 0}
    s, s2 = w.sum(), (w ** 2).sum()
    cv = float(np.std(w) / np.mean(w))  # population SD: 1 + CV² = n Σw² / (Σw)²
    return {"n": n, "sum_weight": float(s), "min": float(w.min()), "median": float(np.median(w)),
            "max": float(w.max()), "max_over_median": float(w.max() / np.median(w)),
            "cv": cv, "deff_kish": float(1 + cv ** 2), "n_eff": float(s ** 2 / s2)}


def kish_deff(w) -> float:
    """Kish's design effect due to unequal weights, ``1 + CV² = n Σw² / (Σw)²``."""
    w = np.asarray(w, dtype=float)
    return float(len(w) * (w ** 2).sum() / w.sum() ** 2)


def effective_n(w) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²``."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / (w ** 2).sum())


#: Decimals of published design effects and coefficients of variation.
DEFF_DECIMALS: int = 2


def publish_design(table: pd.DataFrame) -> pd.DataFrame:
    """Published form of a weight summary: ``n_eff`` to base 10, design effects to 2 decimals.

    ``n_eff × deff_kish`` is the exact number of respondents (``n_eff = n / deff``): with
    both exact, a wave's total (or a small group's count) comes back exactly. Rounding
    ``n_eff`` to the base of published counts (error up to ±5) and ``deff``/``cv`` to 2
    decimals leaves their product uncertain by several units, like a rounded count.
    ``sum_weight`` of weights of 1 is the count itself: rounded to base 10 as well.
    """

    out = table.copy()
    base = ROUNDING_BASE
    for col in ("n_eff", "sum_weight"):
        if col in out.columns:
            x = pd.to_numeric(out[col], errors="coerce")
            # integer arithmetic on the rounded value, halves up, so no float tie decides
            out[col] = pd.array([None if pd.isna(v) else int((int(round(v)) + base // 2) // base * base)
                                 for v in x], dtype="Int64")
    for col in ("deff_kish", "deff_kish_untrimmed", "cv"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").round(DEFF_DECIMALS)
    return out


def weight_summary(weights: pd.DataFrame, by: tuple[str, ...] = ("city", "wave"), *,
                   exact: bool = False) -> pd.DataFrame:
    """Design effects and weight ranges, before and after trimming.

    Parameters
    ----------
    weights : DataFrame
        Output of :func:`city_weights` (``weight``, ``weight_untrimmed``, ``imputed``).
    by : tuple of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        One row per group and ``stage`` ("untrimmed", "trimmed"): ``weights_method``
        (code, :func:`city_weights`), ``n``, ``n_imputed``, ``sum_weight``, ``min``,
        ``median``, ``max``, ``max_over_median``, ``cv``, ``deff_kish`` (1 + CV²) and
        ``n_eff`` (n / deff). Published form (:func:`publish_design`) unless ``exact``.
    """
    rows = []
    for key, grp in weights.groupby(list(by), sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        method = (str(grp["weights_method"].iloc[0]) if "weights_method" in grp
                  else weights_method(weights))
        for stage, col in (("untrimmed", "weight_untrimmed"), ("trimmed", "weight")):
            rows.append({**dict(zip(by, key)), "stage": stage, "weights_method": method,
                         "n_imputed": int(grp["imputed"].sum()) if "imputed" in grp else 0,
                         **_stats(grp[col].to_numpy(dtype=float))})
    cols = [*by, "stage", "weights_method", "n", "n_imputed", "sum_weight", "min", "median", "max", "max_over_median",
            "cv", "deff_kish", "n_eff"]
    out = pd.DataFrame(rows)[cols]
    return out if exact else publish_design(out)


def weighted_margins(df: pd.DataFrame, weight: pd.Series, dim) -> pd.Series:
    """Weighted totals of ``df`` by margin ``dim`` (for checking a raking)."""
    keys = _keys(df, dim)
    return pd.Series(weight.to_numpy(dtype=float), index=df.index).groupby(keys.to_numpy()).sum()


def achieved_margins(respondents: pd.DataFrame, weights: pd.DataFrame, profile, *,
                     dims=DEFAULT_DIMS, k: int = K_SUPPRESS) -> pd.DataFrame:
    """Each raking margin's achieved weighted share against its population target.

    Per city, wave, margin and category (neighbourhoods surveyed in the wave; age group ×
    gender over those neighbourhoods). Shares, not totals: respondents of unknown age or
    gender hold part of the weight, so the age × gender shares are taken among respondents
    of known age and gender, as the raking sets them.

    Parameters
    ----------
    respondents : DataFrame
        As given to :func:`city_weights`.
    weights : DataFrame
        :func:`city_weights` output.
    profile : CityProfile
    dims : sequence
        The raking margins.
    k : int
        Cells with fewer respondents get ``respondents`` NA and ``few_respondents`` True
        (no count from 1 to k-1 is published).

    Returns
    -------
    pandas.DataFrame
        ``city, wave, weights_method, margin`` (``neighbourhood``, ``age_group:gender``),
        ``category`` (code; crossed categories joined by ``:``), ``target`` (population),
        ``target_share``, ``achieved_share``, ``diff`` (achieved − target share),
        ``rel_diff`` (achieved / target − 1), ``respondents``, ``few_respondents``.
        Empty (same columns) for the no-margins fallback, which has no target.
    """
    cols = ["city", "wave", "weights_method", "margin", "category", "target", "target_share",
            "achieved_share", "diff", "rel_diff", "respondents", "few_respondents"]
    frame = population_margins(profile)
    if frame is None:
        return pd.DataFrame(columns=cols)
    rows = []
    w_all = weights["weight"].astype(float)
    for wave, grp in respondents.groupby("wave", sort=True, observed=True):
        method = str(weights.loc[grp.index, "weights_method"].iloc[0])
        surveyed = set(grp["neighbourhood"].dropna().astype(str))
        sub = frame[frame["neighbourhood"].isin(surveyed)]
        for dim, target in margins_from_frame(sub, dims).items():
            cols_d = list(_as_tuple(dim))
            d = grp.dropna(subset=cols_d)
            keys = _keys(d.astype({c: "object" for c in cols_d}), dim)
            if len(cols_d) == 1:
                keys = keys.astype(str)
            w = w_all.loc[d.index]
            got = w.groupby(keys.to_numpy()).sum()
            n = keys.value_counts()
            for cat, tgt in target.items():
                a = float(got.get(cat, 0.0)) / float(w.sum())
                t = float(tgt) / float(target.sum())
                cnt = int(n.get(cat, 0))
                rows.append({"city": profile.city, "wave": str(wave), "weights_method": method,
                             "margin": _dim_code(dim),
                             "category": ":".join(map(str, cat)) if isinstance(cat, tuple) else str(cat),
                             "target": float(tgt), "target_share": t, "achieved_share": a,
                             "diff": a - t, "rel_diff": a / t - 1 if t > 0 else np.nan,
                             "respondents": cnt if cnt == 0 or cnt >= k else pd.NA,
                             "few_respondents": 0 < cnt < k})
    out = pd.DataFrame(rows, columns=cols)
    out["respondents"] = out["respondents"].astype("Int64")
    return out


def weighting_annex(respondents: pd.DataFrame, weights: pd.DataFrame, profile, *,
                    dims=DEFAULT_DIMS, exact: bool = False) -> pd.DataFrame:
    """The methods-annex table: one row per city and wave, codes and numbers.

    Parameters
    ----------
    respondents : DataFrame
        As given to :func:`city_weights`.
    weights : DataFrame
        :func:`city_weights` output.
    profile : CityProfile

    Returns
    -------
    pandas.DataFrame
        ``city, wave, weights_method`` (code), ``n`` (respondents), ``n_imputed``,
        ``neighbourhoods_surveyed``, ``neighbourhoods_total``, ``population_surveyed``
        (population of the surveyed neighbourhoods; NA without margins),
        ``population_share`` (of the city's), ``max_abs_rel_diff`` (largest
        ``|achieved / target − 1|`` over every margin category, :func:`achieved_margins`),
        ``converged``, ``cap``, ``max_weight_over_base``, ``deff_kish`` (trimmed weights,
        1 + CV²), ``deff_kish_untrimmed`` and ``n_eff`` (n / deff); published form
        (:func:`publish_design`: ``n_eff`` to base 10, design effects to 2 decimals) unless
        ``exact``.
    """
    frame = population_margins(profile)
    ach = achieved_margins(respondents, weights, profile, dims=dims)
    city_pop = float(frame["population"].sum()) if frame is not None else np.nan
    pop_nb = frame.groupby("neighbourhood")["population"].sum() if frame is not None else None
    cap = weights.attrs.get("cap")
    rows = []
    for wave, grp in weights.groupby("wave", sort=True, observed=True):
        w = grp["weight"].to_numpy(dtype=float)
        surveyed = sorted(set(grp["neighbourhood"].astype(str)))
        pop_s = float(pop_nb.reindex(surveyed).sum()) if pop_nb is not None else np.nan
        a = ach[ach["wave"] == str(wave)]
        method = str(grp["weights_method"].iloc[0])
        rows.append({
            "city": profile.city, "wave": str(wave), "weights_method": method, "n": int(len(grp)),
            "n_imputed": int(grp["imputed"].sum()), "neighbourhoods_surveyed": len(surveyed),
            "neighbourhoods_total": len(profile.codes), "population_surveyed": pop_s,
            "population_share": pop_s / city_pop if frame is not None else np.nan,
            "max_abs_rel_diff": float(a["rel_diff"].abs().max()) if len(a) else np.nan,
            "converged": method == "raked_population",
            "cap": float(cap) if cap is not None else np.nan,
            "max_weight_over_base": float(np.max(w / grp["base_weight"].to_numpy(dtype=float))),
            "deff_kish": kish_deff(w),
            "deff_kish_untrimmed": kish_deff(grp["weight_untrimmed"].to_numpy(dtype=float)),
            "n_eff": effective_n(w),
        })
    out = pd.DataFrame(rows)
    return out if exact else publish_design(out)


def annex_tables(cities: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The methods-annex weighting tables for several cities, from their processed respondents.

    Parameters
    ----------
    cities : list of str, optional
        City slugs; default every profile in ``config/cities`` whose processed
        respondents exist (the others are skipped).

    Returns
    -------
    (annex, margins) : tuple of DataFrame
        :func:`weighting_annex` and :func:`achieved_margins` of every city, stacked.
    """

    annex, margins = [], []
    for city in cities if cities is not None else list_cities():
        try:
            respondents = read_processed(city, "respondents")
        except FileNotFoundError:
            if cities is not None:
                raise
            continue
        profile = load_profile(city)
        w = city_weights(respondents, profile)
        annex.append(weighting_annex(respondents, w, profile))
        margins.append(achieved_margins(respondents, w, profile))
    if not annex:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(annex, ignore_index=True), pd.concat(margins, ignore_index=True)


__all__ = ["CAP", "DEFAULT_DIMS", "METHODS", "rake", "trim_and_rake", "city_weights", "weight_summary",
           "margins_from_frame", "kish_deff", "effective_n", "weighted_margins", "read_margins_csv",
           "population_margins", "check_margins", "weights_method", "achieved_margins",
           "weighting_annex", "annex_tables"]
