"""Statistical disclosure control: the one publication rule every published number obeys.

Owns the threshold, the rounding of counts and secondary suppression; the statistics
stages call it before writing. Must not read or scan artefacts: that is
:mod:`analysis.publishing.disclosure`.

The rule (quoted in the report's methods annex)
------------------------------------------------
Survey results are published only as tables of frequencies (counts of respondents) and of
magnitudes (means, proportions, effects). Following the threshold rule and secondary
suppression of current statistical disclosure control practice for survey tables — ONS,
*Disclosure control guidance for tables produced from surveys* (Government Statistical
Service), and Eurostat / ESSnet, *Handbook on Statistical Disclosure Control* (Hundepool et
al., version 1.2, 2010, ch. 4 "Frequency tables" and ch. 5 "Magnitude tables";
also Hundepool et al., *Statistical Disclosure Control*, Wiley 2012) — every published
artefact obeys:

1. **Threshold on counts.** No count of respondents (residents or officers) from 1 to
   ``K - 1`` = 9 is published anywhere: such a count is shown as ``"<10"`` (notebooks, report)
   or left blank (CSV). Zero is published as 0.
2. **Rounding of every other count** (the documented alternative to secondary suppression
   of *counts*). Every published count of respondents of 10 or more is rounded to the nearest
   multiple of ``ROUNDING_BASE`` = 10 (halves up), in every table, figure, notebook output
   and sentence. Whatever published parts and totals an attacker subtracts — across tables,
   waves and notebooks — each term carries an unknown rounding error of up to ±5, so no
   hidden cell of 1–9 is pinned down (ONS rounds survey counts to base 5 or 10 for the same
   reason). One published total minus one published part leaves every value from 1 to 9
   possible; several parts leave at least three.
   :func:`count_interval` gives the true values consistent with a published count and
   :func:`feasibility_intervals` the audit an attacker would run (linear programming over
   the published constraints, as tau-ARGUS does).
3. **Threshold on statistics.** No statistic (mean, proportion, CI, effect, shrunk estimate,
   standardised difference) is published from fewer than ``K`` = 10 respondents
   (primary suppression), unless it is pooled with at least ``K`` others so that it cannot be
   isolated.
4. **Secondary (complementary) suppression of statistics.** A neighbourhood mean hidden by
   rule 3 must not be recoverable from a published aggregate of the areas it belongs to (the
   pilot areas, the comparison areas, the other areas, the whole city — e.g. the baseline
   balance table or a city-wide mean) minus the other published neighbourhood means, whose
   weights are the public population margins. So within every such aggregate, group, wave
   and indicator, the hidden neighbourhood cells are either none, or together pool every
   primary-suppressed cell with at least ``K`` other respondents
   (:func:`secondary_suppression`, which hides the smallest published cells first). A change
   (follow-up − baseline) is published only when both of its waves are.
5. **Model-based estimates.** The Fay–Herriot model is fitted only on the published cells
   (n ≥ ``K`` and not suppressed), so its per-area outputs (``shrunk``, ``gamma``) are
   functions of published estimates only and reveal nothing about a hidden cell.

6. **No exact count in disguise.** No published column is a count minus a constant (the
   t degrees of freedom ``df`` = n - 1 are not published; the area table's intervals use
   ``df + 1`` rounded down to base 10, so inverting their t quantile gives only the rounded
   count), no pair of columns multiplies back to a count (``n_eff`` is published to base 10
   and ``deff`` to 2 decimals), and the officers' clusters (officers) are rounded counts.

Residual risks, accepted and documented: the t-based confidence interval of a *published*
neighbourhood cell lets its exact n be inferred (df = n - 1); it concerns groups of 10 or
more, and since area totals are known only to ±5 a hidden cell always sits beside at least
one other hidden cell or rounded total, so its count stays uncertain (the audit's
"area total minus published cells" attack is a test over the demo outputs). The shares of missing answers are blanked where their count is from 1 to 9.

Scope: the rule covers counts of survey respondents. Counts of events and attendances from
the pilot's activity log (``activities``, ``participants``), of areas (``n_clusters``, except on
officer rows, where the clusters are officers; ``neighbourhoods``), of cities (``k``) and of table cells are not counts of respondents and
are listed in :data:`NOT_RESPONDENT_COUNTS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.config import K_SUPPRESS

#: Threshold: no count of respondents from 1 to K - 1, no statistic from fewer than K.
K: int = K_SUPPRESS

#: Every published count of respondents >= K is rounded to a multiple of this base.
ROUNDING_BASE: int = 10

#: How a count from 1 to K - 1 is shown in notebooks and the report (CSV: blank).
SMALL_MARKER: str = f"<{K}"

#: Columns that hold counts of respondents (exact names).
COUNT_COLUMNS: frozenset[str] = frozenset({
    "n", "n_a", "n_b", "n_baseline", "n_follow_up", "n_complete", "min_cell", "respondents",
    "residents", "officers", "interviews", "raw_rows", "raw", "rows", "kept", "rejected",
    "blank", "dont_know", "missing", "count", "n_respondents", "n_officers",
    # rejection reasons of the cleaning log (rows = interviews)
    "missing_id", "unmapped_wave", "unknown_label", "missing_required", "duplicate",
    "unknown_neighbourhood", "impossible_age", "invalid_date", "date_outside_wave",
    "invalid_value", "out_of_range",
})

#: Integer columns that are not counts of respondents (areas, cities, cells, events, scales).
NOT_RESPONDENT_COUNTS: frozenset[str] = frozenset({
    "n_eff", "n_clusters", "n_clusters_treated", "n_cities", "k", "df", "cells", "suppressed",
    "published", "neighbourhoods", "items", "activities", "n_activities", "participants",
    "participants_police", "population", "raw_row_number", "reach_per_1000", "year",
})

#: Statistics that must be blank where their row's count is below K (or hidden).
STAT_COLUMNS: frozenset[str] = frozenset({
    "estimate", "se", "std_error", "ci_low", "ci_high", "shrunk", "gamma", "effect", "mean",
    "mean_a", "mean_b", "std_diff", "p_value", "p", "crv_ci_low", "crv_ci_high", "crv_p_value",
    "diff_vs_rest", "diff_ci_low", "diff_ci_high", "diff_p_value", "alpha", "value_mean",
})

_COUNT_RE = (re.compile(r"^n_(?!eff|clusters|cities|activities)[a-z_]+$"), re.compile(r"_n$"),
             re.compile(r"^n_[ab]_"), re.compile(r"^(n_)?(respondents|interviews)\b"))

#: Label columns of long tables whose text says the row's value is a count of respondents.
HIDDEN_TOKENS = {"", "nan", "none", "<na>", "na", "—", "–", "-", SMALL_MARKER.lower(), "suppressed"}


# ============================================================================ publishing
def publish_count(n, *, marker: str | None = SMALL_MARKER, k: int = K, base: int = ROUNDING_BASE):
    """Published form of one count of respondents.

    Parameters
    ----------
    n : int, float or None
        The true count.
    marker : str or None
        What a count from 1 to ``k - 1`` becomes: the text ``"<10"`` (notebooks, report), or
        ``None`` for a missing value (CSV).
    k, base : int
        Threshold and rounding base (:data:`K`, :data:`ROUNDING_BASE`).

    Returns
    -------
    int, str or None
        0 for 0; ``marker`` for 1 to ``k - 1``; else ``n`` rounded to the nearest multiple of
        ``base`` (halves up, in integer arithmetic so no float tie decides). Missing stays missing.
    """
    if n is None or (isinstance(n, float) and math.isnan(n)) or n is pd.NA:
        return None
    if isinstance(n, str):
        return n
    n = int(round(float(n)))
    if n <= 0:
        return 0
    if n < k:
        return marker
    return max(k, ((n + base // 2) // base) * base)


def is_count_column(name: str) -> bool:
    """Whether a column named ``name`` holds counts of respondents (see :data:`COUNT_COLUMNS`)."""
    name = str(name).strip().lower()
    if name in NOT_RESPONDENT_COUNTS:
        return False
    if name in COUNT_COLUMNS:
        return True
    return any(r.search(name) for r in _COUNT_RE)


def publish_counts(df: pd.DataFrame, columns: Iterable[str] | None = None, *,
                   marker: str | None = SMALL_MARKER,
                   dependent: dict[str, str | Sequence[str]] | None = None) -> pd.DataFrame:
    """A copy of ``df`` whose counts of respondents are in published form (:func:`publish_count`).

    Parameters
    ----------
    df : DataFrame
    columns : iterable of str, optional
        Count columns; default every column :func:`is_count_column` recognises.
    marker : str or None
        ``"<10"`` for display (object columns of ints and the marker), ``None`` for CSV
        (nullable integers, small counts missing).
    dependent : dict, optional
        ``{statistic column: count column(s)}``: the statistic is blanked where one of its
        counts is from 1 to K - 1 (e.g. a share of missing answers computed from a small count).
    """
    out = df.copy()
    cols = [c for c in out.columns if (is_count_column(c) if columns is None else c in set(columns))]
    small = {}
    for c in cols:
        if pd.api.types.is_bool_dtype(out[c]):
            continue
        raw = pd.to_numeric(out[c], errors="coerce")
        text = out[c].notna() & raw.isna() & ~out[c].astype(str).str.strip().str.lower().isin(HIDDEN_TOKENS)
        if text.any():
            continue  # words, not counts
        if raw.notna().any() and not np.allclose(raw.dropna(), raw.dropna().round()):
            continue  # not integer counts (e.g. a weighted total): left to the caller
        small[c] = (raw > 0) & (raw < K)
        pub = [publish_count(v, marker=marker) if pd.notna(v)
               else (marker if str(o).strip().lower() == SMALL_MARKER.lower() else None)
               for v, o in zip(raw, out[c])]
        if marker is None:
            out[c] = pd.array(pub, dtype="Int64")
        else:  # display: Python ints, the marker, or None (shown as missing)
            out[c] = pd.Series(pub, index=out.index, dtype=object)
    for stat, cnts in (dependent or {}).items():
        for cnt in ([cnts] if isinstance(cnts, str) else cnts):
            if stat in out.columns and cnt in small:
                out[stat] = out[stat].where(~small[cnt].to_numpy())
    return out


def count_interval(published, *, k: int = K, base: int = ROUNDING_BASE) -> tuple[int, int]:
    """True counts consistent with a published one: ``(low, high)`` inclusive.

    ``"<10"`` or blank-for-small gives (1, 9); 0 gives (0, 0); a rounded ``v`` gives
    ``[max(k, v - base/2), v + base/2 - 1]``; any other integer is exact.
    """
    if isinstance(published, str):
        s = published.strip().replace(",", "").replace("\u202f", "").replace("\u00a0", "")
        if s.lower() in (SMALL_MARKER.lower(), "", "nan", "<na>"):
            return (1, k - 1)
        published = float(s)
    if published is None or (isinstance(published, float) and math.isnan(published)):
        return (1, k - 1)
    v = int(round(float(published)))
    if v == 0:
        return (0, 0)
    if v % base == 0 and v >= k:
        return (max(k, v - base // 2), v + base // 2 - 1)
    return (v, v)


def feasibility_intervals(n_cells: int, constraints: Sequence[tuple[Sequence[int], tuple[int, int]]],
                          targets: Sequence[int] | None = None) -> dict[int, tuple[int, int]]:
    """The attacker's audit: the range of each hidden cell given published sums.

    Cells are non-negative integers ``x_0 … x_{n-1}``; each constraint says the sum of the
    cells whose indices are listed lies in ``[low, high]`` (what a published count tells,
    :func:`count_interval`). For each target cell, integer linear programming (HiGHS) finds
    its smallest and largest feasible values. A cell whose interval is a single value is
    disclosed.

    Returns
    -------
    dict
        ``{cell: (low, high)}``.
    """
    from scipy.optimize import linprog

    A, lo, hi = [], [], []
    for idx, (a, b) in constraints:
        row = np.zeros(n_cells)
        row[list(idx)] = 1.0
        A.append(row)
        lo.append(a)
        hi.append(b)
    A = np.array(A)
    A_ub = np.vstack([A, -A])
    b_ub = np.concatenate([hi, -np.asarray(lo, dtype=float)])
    out = {}
    for t in (range(n_cells) if targets is None else targets):
        c = np.zeros(n_cells)
        c[t] = 1.0
        ends = []
        for sign in (1.0, -1.0):
            res = linprog(sign * c, A_ub=A_ub, b_ub=b_ub, bounds=[(0, None)] * n_cells,
                          integrality=np.ones(n_cells), method="highs")
            if res.status != 0:
                raise ValueError(f"feasibility_intervals: published constraints are inconsistent ({res.message})")
            ends.append(int(round(sign * res.fun)))
        out[t] = (ends[0], ends[1])
    return out


# ============================================================== secondary suppression
def secondary_suppression(table: pd.DataFrame, *, part_col: str = "area_type",
                          by: Sequence[str] = ("group", "wave", "indicator"),
                          n_col: str = "n", flag: str = "suppressed", k: int = K) -> pd.Series:
    """Complementary suppression of neighbourhood cells within each published aggregate.

    Within every part of the city (``part_col``: pilot, comparison, other areas) and every
    combination of ``by``, if a non-empty cell is suppressed, further published cells are
    suppressed, smallest first, until the hidden cells together hold at least ``k``
    respondents besides the largest primary-suppressed one. The aggregate of a part minus
    its published cells then gives at most a statistic pooled over that many respondents.

    Parameters
    ----------
    table : DataFrame
        One row per neighbourhood × ``by``, with ``n_col``, ``flag`` (primary suppression)
        and ``part_col``. Rows of change (``wave == "change"``) are left to the caller.

    Returns
    -------
    pandas.Series of bool
        The new ``suppressed`` flag (primary or secondary), on ``table``'s index.
    """
    sup = table[flag].fillna(True).astype(bool).copy()
    n = pd.to_numeric(table[n_col], errors="coerce").fillna(0)
    part = table[part_col].fillna("other").astype(str)
    part = part.where(part.isin(["pilot", "comparison"]), "other")
    keys = [part, *(table[c] for c in by)]
    for _, idx in table.groupby(keys, sort=False).groups.items():
        idx = list(idx)
        nonempty = [i for i in idx if n[i] > 0]
        hidden = [i for i in nonempty if sup[i]]
        if not hidden:
            continue
        primary_max = max(n[i] for i in hidden if n[i] < k) if any(n[i] < k for i in hidden) else 0
        # Published candidates, smallest first; ties broken by row order (deterministic).
        cand = sorted((i for i in nonempty if not sup[i]), key=lambda i: (n[i], idx.index(i)))
        while sum(n[i] for i in hidden) - primary_max < k and cand:
            nxt = cand.pop(0)
            sup[nxt] = True
            hidden.append(nxt)
    return sup
