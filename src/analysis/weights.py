"""Survey weights: raking each city-wave to the neighbourhood population margins.

Method (DESIGN §4), for each city and wave separately:

1. **Raking** (iterative proportional fitting, hand-written in :func:`rake`: samplics is
   archived, and IPF is a dozen lines that the tests check against the margins it must
   reproduce). The default margins are two: the population of each **neighbourhood**, and
   the city's population by **age group × gender** (10 cells), both summed from
   ``profile.margins_frame()``. We rake on these rather than on the full
   neighbourhood × age group × gender table because, with 20–60 respondents per
   neighbourhood and wave, most of the 10 cells within a neighbourhood would be empty or
   hold one or two people, and post-stratifying on them would give a few huge weights.
2. **Empty categories are collapsed**: a margin category with no respondent (a
   neighbourhood nobody was interviewed in, or e.g. no man aged 65+ in a wave) is dropped
   and the other categories of that margin are scaled up proportionally, so that weights
   still sum to the city's population. Such categories are listed in
   ``attrs["collapsed"]``.
3. **Trimming** (bounded raking): after every IPF cycle, weights are clipped to
   ``[median / cap, cap × median]`` (default cap 5) and raking goes on — the usual
   "trim, re-rake, iterate" done inside the IPF loop, and bounded below as well, since
   exact margins that cannot be met with positive weights otherwise drive some weights to
   zero. When the bounds and the margins are compatible both hold at convergence; when
   they are not (e.g. a neighbourhood with one respondent, who must carry its whole
   population), raking stops after 1000 cycles with the margins met as closely as the
   bounds allow (``attrs["converged"]`` False). Weights before and after are reported
   by :func:`weight_summary`.
4. **Missing age group or gender**: such respondents cannot be placed in the
   age × gender margin. They are left out of the raking and then given the mean final
   weight of the raked respondents of *their* neighbourhood (the whole city-wave's mean
   where no one in their neighbourhood was raked); the weights of each neighbourhood are
   then scaled back to its population. Neighbourhood margins stay exact; the
   age × gender margin is met only among respondents of known age and gender. They are
   flagged ``imputed=True``.

Weights sum, in each city-wave, to the population total of the margins: they are
expansion weights (persons represented per respondent). :func:`weight_summary` reports,
per city and wave, before and after trimming: weight range, coefficient of variation,
Kish's design effect due to weighting ``1 + CV²`` and the effective sample size
``n / deff = (Σw)² / Σw²``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd


#: Default trimming cap, as a multiple of the median weight of a city-wave.
CAP = 5.0

#: Raking dimensions of :func:`city_weights`: neighbourhood, and age group × gender.
DEFAULT_DIMS: tuple[str | tuple[str, ...], ...] = ("neighbourhood", ("age_group", "gender"))


def _as_tuple(dim) -> tuple[str, ...]:
    return (dim,) if isinstance(dim, str) else tuple(dim)


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
        Starting weights (design or trimmed weights); default 1.
    dims : sequence, optional
        Margins to use when ``margins`` is a table (default :data:`DEFAULT_DIMS`).
    max_iter : int
        Maximum number of full IPF cycles.
    tol : float
        Convergence: every weighted category total within ``tol`` (relative) of its target.
    cap : float, optional
        Bounded raking: after every IPF cycle, weights are clipped to
        ``[median / cap, cap × median]``. When margins and bounds are compatible this
        converges to weights that meet both; when not (a lone respondent who must carry a
        whole neighbourhood), it stops after ``max_iter`` cycles with ``converged=False``
        and the remaining margin error in ``max_rel_error``.

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
    w = (np.ones(n) if base_weight is None
         else pd.to_numeric(base_weight, errors="coerce").reindex(df.index).to_numpy(dtype=float))
    if not np.all(np.isfinite(w)) or (w <= 0).any():
        raise ValueError("rake: base weights must be finite and positive")
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
    converged, it, err = False, 0, np.inf
    for it in range(1, max_iter + 1):
        for _, codes, target in plan:
            current = np.bincount(codes, weights=w, minlength=len(target))
            w = w * (target / current)[codes]
        if cap is not None:
            med = float(np.median(w))
            w = np.clip(w, med / cap, med * cap)
        err = max(np.max(np.abs(np.bincount(c, weights=w, minlength=len(t)) / t - 1)) for _, c, t in plan)
        if err < tol:
            converged = True
            break
    out = pd.Series(w, index=df.index, name="weight")
    out.attrs = {"iterations": it, "converged": converged, "max_rel_error": float(err),
                 "collapsed": collapsed}
    return out


def trim_and_rake(df: pd.DataFrame, margins, *, cap: float = CAP, **kw) -> tuple[pd.Series, pd.Series]:
    """Rake, and rake again with weights bounded to ``[median / cap, cap × median]``.

    Returns
    -------
    (untrimmed, trimmed) : tuple of Series
        Plain IPF weights, and bounded-IPF weights (:func:`rake` with ``cap``);
        ``trimmed.attrs["cap_met"]`` says whether the bounds hold with the margins met.
    """
    untrimmed = rake(df, margins, **kw)
    trimmed = rake(df, margins, cap=cap, **kw)
    ratio = trimmed.max() / np.median(trimmed)
    trimmed.attrs = {**trimmed.attrs, "cap_met": bool(ratio <= cap * 1.01 and trimmed.attrs["converged"])}
    return untrimmed, trimmed


def city_weights(respondents: pd.DataFrame, profile, *, cap: float = CAP,
                 dims=DEFAULT_DIMS) -> pd.DataFrame:
    """Raking weights of a city's respondents, per wave.

    See the module docstring for the margins, the collapse, trimming and missing-data rules.

    Parameters
    ----------
    respondents : DataFrame
        Codebook residents of one city (``wave``, ``neighbourhood``, ``age_group``, ``gender``).
    profile : CityProfile
        Gives the population margins (``profile.margins_frame()``).
    cap : float
        Trimming cap as a multiple of the median weight (``None`` or ``inf``: no trimming).
    dims : sequence
        Raking margins (default: neighbourhood; age group × gender).

    Returns
    -------
    pandas.DataFrame
        On the respondents' index: ``city``, ``wave``, ``neighbourhood``, ``weight`` (final;
        sums to the population total in each wave), ``weight_untrimmed`` and ``imputed``
        (age group or gender missing). ``attrs["collapsed"]`` lists collapsed categories by wave.

    Raises
    ------
    ValueError
        Neighbourhood codes absent from the profile's margins (naming them).
    """
    frame = profile.margins_frame()
    margins = margins_from_frame(frame, dims)
    pop_nb = frame.groupby("neighbourhood")["population"].sum().astype(float)
    total = float(pop_nb.sum())
    unknown = sorted(set(respondents["neighbourhood"].dropna().astype(str)) - set(pop_nb.index))
    if unknown:
        raise ValueError(f"{profile.city}: neighbourhood code(s) {unknown} in the respondents have no "
                         "population margins in the city profile")
    out = pd.DataFrame(index=respondents.index)
    out["city"] = respondents["city"].astype("str") if "city" in respondents else profile.city
    out["wave"] = respondents["wave"].astype("str")
    out["neighbourhood"] = respondents["neighbourhood"].astype("str")
    out["weight"] = np.nan
    out["weight_untrimmed"] = np.nan
    needed = sorted({c for d in dims for c in _as_tuple(d)} - {"neighbourhood"})
    complete = respondents[needed].notna().all(axis=1) if needed else pd.Series(True, index=respondents.index)
    out["imputed"] = ~complete.to_numpy(dtype=bool)
    collapsed = {}
    for wave, grp in respondents.groupby("wave", sort=True, observed=True):
        ok = grp[complete.loc[grp.index]]
        if ok.empty:
            raise ValueError(f"{profile.city} {wave}: no respondent with both age group and gender")
        if cap is None or not np.isfinite(cap):
            untrimmed = trimmed = rake(ok, margins)
        else:
            untrimmed, trimmed = trim_and_rake(ok, margins, cap=cap)
        collapsed[wave] = trimmed.attrs.get("collapsed", {})
        for col, w in (("weight_untrimmed", untrimmed), ("weight", trimmed)):
            full = pd.Series(np.nan, index=grp.index)
            full.loc[ok.index] = w
            nb = grp["neighbourhood"].astype(str)
            nb_mean = full.groupby(nb).transform("mean")
            full = full.fillna(nb_mean).fillna(float(w.mean()))
            # Rescale each neighbourhood to its population (spread over the neighbourhoods
            # that have respondents, the same collapse rule as in rake()).
            present = pop_nb[sorted(set(nb))]
            target = present * (total / present.sum())
            full = full * nb.map(target / full.groupby(nb).sum()).astype(float)
            out.loc[grp.index, col] = full.to_numpy()
    out.attrs = {"collapsed": collapsed, "cap": cap}
    return out


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


def weight_summary(weights: pd.DataFrame, by: tuple[str, ...] = ("city", "wave")) -> pd.DataFrame:
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
        One row per group and ``stage`` ("untrimmed", "trimmed"): ``n``, ``n_imputed``,
        ``sum_weight``, ``min``, ``median``, ``max``, ``max_over_median``, ``cv``,
        ``deff_kish`` (1 + CV²) and ``n_eff`` (n / deff).
    """
    rows = []
    for key, grp in weights.groupby(list(by), sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        for stage, col in (("untrimmed", "weight_untrimmed"), ("trimmed", "weight")):
            rows.append({**dict(zip(by, key)), "stage": stage,
                         "n_imputed": int(grp["imputed"].sum()) if "imputed" in grp else 0,
                         **_stats(grp[col].to_numpy(dtype=float))})
    cols = [*by, "stage", "n", "n_imputed", "sum_weight", "min", "median", "max", "max_over_median",
            "cv", "deff_kish", "n_eff"]
    return pd.DataFrame(rows)[cols]


def weighted_margins(df: pd.DataFrame, weight: pd.Series, dim) -> pd.Series:
    """Weighted totals of ``df`` by margin ``dim`` (for checking a raking)."""
    keys = _keys(df, dim)
    return pd.Series(weight.to_numpy(dtype=float), index=df.index).groupby(keys.to_numpy()).sum()


__all__ = ["CAP", "DEFAULT_DIMS", "rake", "trim_and_rake", "city_weights", "weight_summary",
           "margins_from_frame", "kish_deff", "effective_n", "weighted_margins"]
