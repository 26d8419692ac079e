"""Area-level estimates: pilot, comparison and rest of the city, the same way in both waves.

Owns the like-for-like trend's numbers (``reports/tables/<city>/areas.csv``): the project's
neighbourhood estimator with the area in place of the neighbourhood, survey-weighted, with
intervals whose degrees of freedom are coarsened so that they do not give the exact n back.
It must not draw or word anything: :mod:`analysis.publishing.explore` and :mod:`analysis.publishing.dashboard` show it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS
from analysis.statistics.estimates import blank_small_counts, change_estimates, direct_estimates, suppress
from analysis.io import read_processed
from analysis.publishing import tables
from analysis.inputs.profile import load_profile
from analysis.statistics.weights import weights_method

#: Waves in display order (the change last).
WAVE_ORDER: tuple[str, ...] = ("baseline", "follow_up", "change")
#: Area types in display order.
AREAS: tuple[str, ...] = ("pilot", "comparison", "other")
AREA_COLUMNS: tuple[str, ...] = (
    "city", "area_type", "group", "wave", "indicator", "n", "n_baseline", "n_follow_up", "n_eff",
    "estimate", "se", "ci_low", "ci_high", "neighbourhoods_baseline", "neighbourhoods_follow_up",
    "same_neighbourhoods", "weighting", "suppressed")
# No ``df``: the t degrees of freedom are the exact count minus a constant, and an exact area
# total minus the published neighbourhood cells pinned hidden counts of 1-9 (audit D1).


def area_estimates(respondents: pd.DataFrame, weights, profile, *, indicators=codebook.INDICATORS,
                   k: int = K_SUPPRESS, weighting: str = "given") -> pd.DataFrame:
    """Weighted estimates by area type × group × wave × indicator, the same way in both waves.

    Parameters
    ----------
    respondents : DataFrame
        One city's processed residents (``neighbourhood``, ``wave``, indicators, group columns).
    weights : DataFrame or Series
        :func:`analysis.statistics.weights.city_weights` output (its ``weight`` column) or a Series.
    profile : CityProfile
        Area types of the neighbourhoods and the targeted groups.
    k : int
        Suppression threshold.
    weighting : str
        The weighting method code (:data:`analysis.statistics.weights.METHODS`), published with every row
        so that an unweighted city's table does not pass for a population estimate.

    Returns
    -------
    pandas.DataFrame
        :data:`AREA_COLUMNS`; one row per area type of the profile's design × group × wave
        (baseline, follow-up, change) × indicator, suppressed (estimates blank under k) and
        with counts 1..k-1 blanked. ``neighbourhoods_<wave>`` counts the neighbourhoods with at
        least one answer; ``same_neighbourhoods`` says whether both waves cover the same ones.
    """

    w = weights["weight"] if isinstance(weights, pd.DataFrame) else weights
    codes = respondents["neighbourhood"].astype("str")
    unknown = sorted(set(codes) - set(profile.codes))
    if unknown:
        raise ValueError(f"config/cities/{profile.city}.yml neighbourhoods: respondents' codes "
                         f"{unknown[:5]} are not in the profile")
    area = codes.map({c: profile.area_type(c) for c in profile.codes})
    groups = list(profile.pilot.targeted_groups)
    # the area plays the role of the neighbourhood: the very estimator of the neighbourhood table
    direct = direct_estimates(respondents.assign(neighbourhood=area), w, indicators=indicators, groups=groups)
    table = pd.concat([direct, change_estimates(direct)], ignore_index=True)
    table = table.rename(columns={"neighbourhood": "area_type"})
    design = [a for a in AREAS if a in {profile.area_type(c) for c in profile.codes}]
    full = pd.MultiIndex.from_product([design, ["all", *groups], list(WAVE_ORDER), list(indicators)],
                                      names=["area_type", "group", "wave", "indicator"])
    table = table.set_index(list(full.names)).reindex(full).reset_index()
    table["n"] = table["n"].fillna(0).astype("int64")
    per_wave = table[table["wave"].isin(["baseline", "follow_up"])].set_index(
        ["area_type", "group", "indicator", "wave"])["n"].unstack("wave")
    keyed = pd.MultiIndex.from_frame(table[["area_type", "group", "indicator"]])
    for wave in ("baseline", "follow_up"):
        table[f"n_{wave}"] = per_wave[wave].reindex(keyed).fillna(0).astype("int64").to_numpy()
    # which neighbourhoods each area's cell rests on, in each wave
    masks = {"all": pd.Series(True, index=respondents.index)}
    masks.update({g: codebook.TARGET_GROUPS[g].mask(respondents).fillna(False).astype(bool) for g in groups})
    sets = {}
    for g, m in masks.items():
        for ind in indicators:
            answered = m & pd.to_numeric(respondents[ind], errors="coerce").notna()
            frame = pd.DataFrame({"a": area[answered], "w": respondents.loc[answered, "wave"].astype("str"),
                                  "nb": codes[answered]})
            for (a, wv), nb in frame.groupby(["a", "w"])["nb"]:
                sets[(a, g, ind, wv)] = frozenset(nb)
    keys = list(zip(table["area_type"], table["group"], table["indicator"]))
    nb_b = [sets.get((*key[:3], "baseline"), frozenset()) for key in keys]
    nb_f = [sets.get((*key[:3], "follow_up"), frozenset()) for key in keys]
    table["neighbourhoods_baseline"] = [len(s) for s in nb_b]
    table["neighbourhoods_follow_up"] = [len(s) for s in nb_f]
    table["same_neighbourhoods"] = [b == f for b, f in zip(nb_b, nb_f)]
    table.insert(0, "city", profile.city)
    table["weighting"] = weighting
    table = coarse_intervals(table)
    table = suppress(table, k=k, columns=("estimate", "se", "ci_low", "ci_high", "n_eff", "df"))
    table = blank_small_counts(table, k=k)
    return table[list(AREA_COLUMNS)]


def coarse_df(df, *, base: int = 10, k: int = K_SUPPRESS) -> np.ndarray:
    """Degrees of freedom that reveal only a rounded count: ``df + 1`` rounded *down* to ``base``.

    A t interval's half-width over its standard error is ``t(df)``, so a published interval
    gives its ``df`` (= n - 1) back by inverting the t quantile; with the area's total exact,
    the area minus its published neighbourhood cells pinned hidden counts of 1-9 (audit D1).
    Rounding ``df + 1`` down to a multiple of ``base`` makes the interval reveal the count only
    to the base of published counts, and never narrower than the exact one (a smaller df gives
    a larger t: conservative, by under 1 % of the width from 20 respondents on).
    Values with ``df + 1 < base`` (suppressed cells) are left as they are.
    """
    df = np.asarray(df, dtype=float)
    low = np.floor((df + 1) / base) * base - 1
    return np.where(np.isfinite(df) & (df + 1 >= max(base, k)), low, df)


def coarse_intervals(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``ci_low``/``ci_high`` recomputed with :func:`coarse_df` (and ``df`` replaced by it)."""
    from scipy import stats

    out = table.copy()
    dfc = coarse_df(pd.to_numeric(out["df"], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan))
    ok = np.isfinite(dfc) & (dfc > 0)
    t = np.full(len(out), np.nan)
    t[ok] = stats.t.ppf(1 - alpha / 2, dfc[ok])
    est = pd.to_numeric(out["estimate"], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan)
    se = pd.to_numeric(out["se"], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan)
    for col, sign in (("ci_low", -1.0), ("ci_high", 1.0)):
        old = pd.to_numeric(out[col], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan)
        out[col] = np.where(ok, est + sign * t * se, old)
    out["df"] = dfc
    return out


def write_area_table(city: str) -> Path:
    """Estimate :func:`area_estimates` for ``city`` and publish ``reports/tables/<city>/areas.csv``.

    Uses the weights ``01-clean`` saved (``data/processed/<city>/weights.parquet``).
    """

    profile = load_profile(city)
    respondents = read_processed(city, "respondents")
    w = read_processed(city, "weights")
    table = area_estimates(respondents, w["weight"], profile, weighting=weights_method(w))
    return tables.write("areas", table, city=city, synthetic=profile.synthetic)
