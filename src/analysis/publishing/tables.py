"""The results contract: every published table (``reports/tables``) declared as a schema.

Owns each published table's file, columns (types, allowed codes), key and what is required;
producers write through :func:`write`, the report reads through :func:`read`. Must not hold
a statistic or a word (tables carry codes and numbers; words are made at render time by
:mod:`analysis.publishing.text`), nor import anything above analysis.inputs: every stage
writes through it (a contract module).

To publish a new table: declare its :class:`Schema` in :data:`SCHEMAS` (codes with their
allowed values, numbers with their unit), give every code its words in
``locale/contract.yml``, write it with :func:`write` and read it with :func:`read`;
``tests/test_tables.py`` then round-trips the producer's output through the schema.
Written here rather than with pandera: the messages name the file, the column and the line
and never quote a row's content (a sentence where a code belongs is reported as such).
"""

from __future__ import annotations

import functools
import hashlib
import io as io_
import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io
from analysis.config import CROSS_CITY, PATHS

# ===================================================================== declarations
#: Column kinds: ``code`` (an identifier, optionally from a closed list), ``codes`` (several
#: identifiers joined by a separator), ``text`` (a name from a profile or a file name, never a
#: sentence a producer made up), ``int`` (nullable integer), ``float``, ``bool``.
KINDS: tuple[str, ...] = ("code", "codes", "text", "int", "float", "bool")
#: What a code looks like: an identifier (``pre_post``, ``trust_police``, ``AM01``, ``2015-02``).
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class TableError(ValueError):
    """A table that does not match its schema (the message names the file, column and line)."""


@dataclass(frozen=True)
class Column:
    """One column of a published table.

    Parameters
    ----------
    name : str
    kind : str
        One of :data:`KINDS`.
    codes : tuple of str, optional
        The allowed values of a ``code`` / ``codes`` column (None: any identifier).
    required : bool
        A required column must be present; an optional one may be absent (read as empty).
    nullable : bool
        Whether a value may be missing.
    sep : str
        Separator of a ``codes`` column.
    unit : str
        What a number means (e.g. ``share`` 0-1 for I²): declared, never guessed by a reader.
    """

    name: str
    kind: str
    codes: tuple[str, ...] | None = None
    required: bool = True
    nullable: bool = True
    sep: str = ";"
    unit: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Schema:
    """A published table: its name, its file, its columns and its key."""

    name: str
    file: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    cross_city: bool = False
    #: per-row ``data_status`` written by the producer (ESS rows are real data), not by :func:`write`
    own_status: bool = False
    doc: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.file}: no column {name!r} in the schema")

    def path(self, city: str | None = None) -> Path:
        """``reports/tables/<city>/<file>`` (``cross-city`` for a cross-city table)."""
        if self.cross_city:
            return PATHS.tables / CROSS_CITY / self.file
        if not city:
            raise TableError(f"{self.file}: a city table needs a city")
        return PATHS.tables_city(city) / self.file

    @property
    def pattern(self) -> str:
        """Path pattern, relative to the project root."""
        return f"reports/tables/{CROSS_CITY if self.cross_city else '<city>'}/{self.file}"


def C(name, kind, codes=None, **kw) -> Column:  # noqa: N802 (a short constructor keeps the declarations readable)
    return Column(name, kind, tuple(codes) if codes is not None else None, **kw)


# ----------------------------------------------------------------------------- codes
POPULATIONS = ("residents", "officers")
#: Designs, one spelling each (``pre_post``, with its underscore).
DESIGNS = ("did", "pre_post", "did_trained")
WAVES = ("baseline", "follow_up")
AREA_TYPES = ("pilot", "comparison", "other")
STATUSES = ("estimated", "suppressed", "not_estimable", "not_collected")
NOT_ESTIMABLE_REASONS = ("small_cell", "not_collected", "too_few_items", "one_wave_only", "few_clusters",
                         "few_clusters_per_arm", "collinear", "cannot_reject", "ci_wider_than_scale")
#: Codes of ``impact.csv`` ``note_key`` and what ``note_value`` holds for each
#: (the catalogue key is ``note.<code>``, its ``{value}`` placeholder filled with it).
NOTE_KEYS: dict[str, str] = {
    "suppressed": "k, the fewest respondents a design cell needs",
    "few_clusters": "the number of neighbourhoods holding the sample",
    "not_estimable": "(none: the reason is not_estimable_reason)",
    "group_pre_post_fallback": "(none)",
    "diff_suppressed": "k, the fewest respondents a design cell needs",
    "diff_not_estimable": "(none: the reason is diff_not_estimable_reason)",
    "officers_suppressed": "k, the fewest officers a wave needs",
    "partial_panel_clustered": "(none)",
    "independent_samples_clustered": "(none)",
}
#: Codes of ``impact.csv`` ``inference`` (catalogue ``inference.<code>``, ``{B}`` = ``inference_B``).
INFERENCES = ("wcr_webb_enumerated", "wcr_webb_sampled", "wcr_rademacher_enumerated", "wcr_rademacher_sampled",
              "crv1_officer")
EVIDENCE_RATINGS = ("design", "confidence", "effect", "info")
EVIDENCE_CRITERIA = ("design", "clusters", "pilot_units", "comparison_units", "min_cell", "interval_width",
                     "trend_balance", "fidelity", "baseline_gap", "confidence")
CONFIDENCE_CODES = ("high", "moderate", "low")
DIRECTIONS = ("increase", "decrease", "no_detectable_change", "not_collected", "suppressed", "not_estimable")
CONFIDENCE_REASONS = ("few_clusters", "one_pilot_unit", "few_comparison_units", "small_samples", "wide_interval",
                      "trend_imbalance", "low_fidelity", "implementation_undocumented", "not_assessed")
#: ``balance.csv`` ``comparison``: which groups a design compares.
BALANCE_COMPARISONS = ("pilot_vs_comparison_baseline", "follow_up_vs_baseline_pilot")
IMPLEMENTATION_SECTIONS = ("by_type", "reach_pilot", "reach_comparison", "reach_other", "timeline", "fidelity",
                           "total", "none")
#: ``implementation.csv`` keys of the fidelity, total and none sections.
IMPLEMENTATION_KEYS = ("in_pilot_areas", "in_pilot_period", "all", "no_log")
COVERAGE_REASONS = ("step_failed", "no_results")
BENCHMARK_SOURCES = ("ess_r5_belgium", "city_survey")

_CITY = C("city", "code", nullable=False)
_RESULT = (C("estimate", "float"), C("ci_low", "float"), C("ci_high", "float"))

# ----------------------------------------------------------------------------- tables
SCHEMAS: dict[str, Schema] = {s.name: s for s in (
    Schema("impact", "impact.csv", (
        _CITY, C("population", "code", POPULATIONS, nullable=False), C("outcome", "code", nullable=False),
        C("group", "code", nullable=False), C("design", "code", DESIGNS, nullable=False),
        C("estimate", "float"), C("std_error", "float"), C("ci_low", "float"), C("ci_high", "float"),
        C("p_value", "float"), C("inference", "code", INFERENCES), C("inference_B", "int"),
        C("crv_ci_low", "float"), C("crv_ci_high", "float"), C("crv_p_value", "float"),
        C("n", "int"), C("n_clusters", "int"), C("n_clusters_treated", "int"), C("min_cell", "int"),
        C("scale", "code"), C("diff_vs_rest", "float"), C("diff_ci_low", "float"), C("diff_ci_high", "float"),
        C("diff_p_value", "float"), C("note_key", "code", tuple(NOTE_KEYS)), C("note_value", "int"),
        C("status", "code", STATUSES), C("estimable", "bool"),
        C("not_estimable_reason", "code", NOT_ESTIMABLE_REASONS), C("n_clusters_both_waves", "int"),
        C("n_clusters_treated_both_waves", "int"), C("min_p", "float"), C("diff_status", "code", STATUSES),
        C("diff_not_estimable_reason", "code", NOT_ESTIMABLE_REASONS)),
        key=("population", "outcome", "group"),
        doc="Effects on residents (DiD or pre/post, by group) and officers, one row per outcome x group."),
    Schema("evidence", "evidence.csv", (
        _CITY, C("rating", "code", EVIDENCE_RATINGS, nullable=False), C("criterion", "code", nullable=False),
        C("code", "code", DESIGNS + CONFIDENCE_CODES + DIRECTIONS), C("value", "float"), C("threshold", "float"),
        C("met", "bool"), C("level", "int"), C("reason", "codes", CONFIDENCE_REASONS, sep=";"),
        C("ci_low", "float"), C("ci_high", "float"), C("scale", "code")),
        key=("rating", "criterion"),
        doc="Three ratings: design (code, Maryland level), confidence (criteria, reason codes), effects."),
    Schema("implementation", "implementation.csv", (
        _CITY, C("section", "code", IMPLEMENTATION_SECTIONS, nullable=False), C("key", "code", nullable=False),
        C("month", "code"), C("activities", "int"), C("participants", "float"),
        C("participants_police", "float"), C("population", "float"), C("reach_per_1000", "float"),
        C("share", "float", unit="share")),
        key=("section", "key", "month"),
        doc="Activities by type, reach per neighbourhood, timeline per month, fidelity and totals."),
    Schema("balance", "balance.csv", (
        _CITY, C("comparison", "code", BALANCE_COMPARISONS, nullable=False), C("variable", "code", nullable=False),
        C("mean_a", "float"), C("mean_b", "float"), C("n_a", "int"), C("n_b", "int"), C("std_diff", "float"),
        C("imbalanced", "bool", nullable=False), C("used_in_rating", "bool", nullable=False)),
        key=("variable",), doc="Standardised differences between the groups the design compares."),
    Schema("neighbourhoods", "neighbourhoods.csv", (
        _CITY, C("neighbourhood", "code", nullable=False), C("name", "text"),
        C("area_type", "code", AREA_TYPES), C("group", "code", nullable=False),
        C("wave", "code", WAVES + ("change",), nullable=False), C("indicator", "code", nullable=False),
        C("n", "int"), C("n_baseline", "int"), C("n_follow_up", "int"), C("n_eff", "float"), *_RESULT[:1],
        C("se", "float"), *_RESULT[1:], C("shrunk", "float"), C("gamma", "float"), C("suppressed", "bool"),
        C("status", "code", ("published", "suppressed", "no_data", "not_collected"))),
        key=("neighbourhood", "group", "wave", "indicator"),
        doc="Small-area estimates per neighbourhood, group, wave and indicator (suppressed)."),
    Schema("areas", "areas.csv", (
        _CITY, C("area_type", "code", AREA_TYPES, nullable=False), C("group", "code", nullable=False),
        C("wave", "code", WAVES + ("change",), nullable=False), C("indicator", "code", nullable=False),
        C("n", "int"), C("n_baseline", "int"), C("n_follow_up", "int"), C("n_eff", "float"), *_RESULT[:1],
        C("se", "float"), *_RESULT[1:], C("neighbourhoods_baseline", "int"), C("neighbourhoods_follow_up", "int"),
        C("same_neighbourhoods", "bool"), C("weighting", "code"), C("suppressed", "bool")),
        key=("area_type", "group", "wave", "indicator"),
        doc="Area-level estimates (pilot, comparison, rest of the city), the like-for-like trend."),
    Schema("weighting", "weighting.csv", (
        _CITY, C("wave", "code", WAVES, nullable=False), C("weights_method", "code", nullable=False),
        C("n", "int"), C("n_imputed", "int"), C("neighbourhoods_surveyed", "int"), C("neighbourhoods_total", "int"),
        C("population_surveyed", "float"), C("population_share", "float", unit="share"),
        C("max_abs_rel_diff", "float"), C("converged", "bool"), C("cap", "float"),
        C("max_weight_over_base", "float"), C("deff_kish", "float"), C("deff_kish_untrimmed", "float"),
        C("n_eff", "int")),
        key=("wave",), doc="The methods annex: achieved margins and Kish's design effect per wave."),
    Schema("officers_sensitivity", "officers_sensitivity.csv", (
        _CITY, C("outcome", "code", nullable=False), C("design", "code", DESIGNS, nullable=False), C("n", "int"),
        C("n_officers", "int"), C("n_panel_officers", "int"), C("n_units", "int"), C("estimate", "float"),
        C("se_hc1", "float"), C("se_crv1_officer", "float"), C("ci_low", "float"), C("ci_high", "float"),
        C("p_value", "float"), C("unit_p_value", "float"), C("unit_ci_low", "float"), C("unit_ci_high", "float"),
        C("unit_weight_type", "code", ("webb", "rademacher")), C("unit_B", "int"),
        C("status", "code", ("ok", "suppressed", "too_few_units"), nullable=False)),
        key=("outcome",), doc="Officer effects under HC1, CRV1 by officer and the unit-level WCR."),
    Schema("pooled", "pooled.csv", (
        C("outcome", "code", nullable=False), C("group", "code", nullable=False),
        C("designs", "code", DESIGNS, nullable=False), C("headline", "bool", nullable=False),
        C("variance", "code", ("wcr", "crv1")), C("cities", "codes", sep=", "), C("not_pooled", "codes", sep=", "),
        C("k", "int", nullable=False), *_RESULT[:1], C("std_error", "float"), *_RESULT[1:], C("df", "float"),
        C("p_value", "float"), C("pi_low", "float"), C("pi_high", "float"), C("tau2", "float"),
        C("i2", "float", unit="share"), C("q", "float"), C("q_p_value", "float"), C("hksj_q", "float"),
        C("method", "code"), C("ci_method", "code")),
        key=("outcome", "group", "designs"), cross_city=True,
        doc="Random-effects pooled effect per outcome, group and design; I² is a share (0-1)."),
    Schema("pooled_loo", "pooled-loo.csv", (
        C("outcome", "code", nullable=False), C("left_out", "code", nullable=False), C("k", "int", nullable=False),
        *_RESULT, C("tau2", "float"), C("i2", "float", unit="share"), C("shift", "float"),
        C("changes_sign", "bool", nullable=False)),
        key=("outcome", "left_out"), cross_city=True,
        doc="Leave-one-city-out check of the headline pool; I² is a share (0-1)."),
    Schema("coverage", "coverage.csv", (
        _CITY, C("included", "bool", nullable=False), C("reason", "code", COVERAGE_REASONS)),
        key=("city",), cross_city=True, doc="Which cities the synthesis uses, and why others are left out."),
    # the methods annex (issue 12 §5), produced on the annex branch by
    # analysis.statistics.evaluation.annex_tables: declared here so that it publishes through the contract
    Schema("placebo", "placebo.csv", (
        _CITY, C("outcome", "code", nullable=False), C("placebo_pilot_areas", "codes", sep=" "),
        C("placebo_comparison_areas", "codes", sep=" "),
        C("status", "code", STATUSES + ("not_applicable",), nullable=False),
        C("reason", "code", NOT_ESTIMABLE_REASONS + ("no_comparison_areas", "few_comparison_areas")),
        *_RESULT, C("p_value", "float"), C("verdict", "code", ("differential_trend", "no_differential_trend_detected")),
        C("inference", "code", INFERENCES), C("inference_B", "int", required=False), C("n", "int"),
        C("n_clusters", "int"), C("n_clusters_treated", "int"), C("min_cell", "int")),
        key=("outcome",), doc="Placebo DiD on the comparison areas split in two (expected zero)."),
    Schema("reliability", "reliability.csv", (
        _CITY, C("wave", "code", WAVES, nullable=False), C("index", "code", nullable=False), C("items", "int"),
        C("n_complete", "int"), C("alpha", "float")),
        key=("wave", "index"), doc="Cronbach's alpha of each index per wave (blank below k complete answers)."),
    Schema("cost", "cost.csv", (
        _CITY, C("status", "code", ("computed", "no_cost", "no_activity_log", "no_participants"), nullable=False),
        C("amount", "float"), C("currency", "code"), C("start", "code"), C("end", "code"),
        C("participants", "float"), C("cost_per_participant", "float"), C("population_pilot_areas", "float"),
        C("cost_per_resident_pilot_areas", "float")),
        key=("city",), doc="The pilot's cost per resident reached (EMMIE's economic dimension)."),
    Schema("benchmark", "benchmark.csv", (
        C("data_status", "text", nullable=False), C("source", "code", BENCHMARK_SOURCES, nullable=False),
        C("city", "code"), C("wave", "code", WAVES), C("area", "code", ("national", "neighbourhoods")),
        C("period", "code"), C("weighting", "code", ("weighted", "unweighted")),
        C("indicator", "code", nullable=False), C("group", "code"), C("mean", "float"), C("ci_low", "float"),
        C("ci_high", "float"), C("n", "int")),
        key=("source", "wave", "indicator", "group"), cross_city=True, own_status=True,
        doc="National ESS levels beside a city's weighted means by wave and area type."),
)}

#: Tables each city publishes, and those of the cross-city synthesis.
CITY_TABLES: tuple[str, ...] = tuple(n for n, s in SCHEMAS.items() if not s.cross_city)
CROSS_TABLES: tuple[str, ...] = tuple(n for n, s in SCHEMAS.items() if s.cross_city)

#: The cleaning summary the report shows, made from ``data/processed/<city>/cleaning_log.json``
#: (:func:`cleaning_tables`); not CSV files, but held to the same declaration.
CLEANING_SCHEMAS: dict[str, Schema] = {s.name: s for s in (
    Schema("cleaning_files", "cleaning_log.json#files", (
        C("dataset", "code", nullable=False), C("file", "text", nullable=False), C("raw", "int", nullable=False),
        C("kept", "int", nullable=False), C("rejected", "int", nullable=False), C("check", "bool", nullable=False)),
        key=("dataset", "file")),
    Schema("cleaning_reasons", "cleaning_log.json#rejected_by_reason", (
        C("dataset", "code", nullable=False), C("file", "text", nullable=False), C("reason", "code", nullable=False),
        C("rows", "int", nullable=False)), key=("dataset", "file", "reason")),
    Schema("cleaning_missingness", "cleaning_log.json#missingness", (
        C("dataset", "code", nullable=False), C("variable", "code", nullable=False),
        C("missing", "float", nullable=False, unit="share"), C("dont_know", "int"), C("blank", "int")),
        key=("dataset", "variable")),
)}


def schema(name: str) -> Schema:
    """The schema of the table ``name`` (``impact``, ``pooled_loo``…)."""
    try:
        return SCHEMAS[name] if name in SCHEMAS else CLEANING_SCHEMAS[name]
    except KeyError:
        raise KeyError(f"no published table {name!r}; the tables are {sorted(SCHEMAS)}") from None


# ===================================================================== validation
def _shown(code: str) -> str:
    """A bad value in a message: quoted when it is a short identifier, never a row's content."""
    s = str(code)
    return repr(s) if CODE_RE.match(s) and len(s) <= 40 else "a value that is not a code"


def _fail(where: str, col: str, line: str | None, what: str) -> TableError:
    at = f" ({line})" if line is not None else ""
    return TableError(f"{where}: column {col!r}{at} {what}")


def validate(df: pd.DataFrame, name: str, *, where: str | None = None, on_read: bool = False) -> pd.DataFrame:
    """``df`` checked against the schema of ``name`` and typed: columns in schema order.

    Raises
    ------
    TableError
        A required column missing, a column the schema does not declare, a value of the
        wrong type, a code outside the allowed ones, a missing value where none is allowed,
        or a duplicated key; the message names the file, the column and the line (CSV line
        numbers on read, row numbers on write).
    """
    s = schema(name)
    where = where or s.file
    df = df.reset_index(drop=True)  # positions are the rows (and lines) the messages name
    cols = [c for c in df.columns if c != "data_status" or s.own_status]
    unknown = [c for c in cols if c not in s.names]
    if unknown:
        raise TableError(f"{where}: column(s) {unknown} are not in the {s.name!r} schema "
                         f"(analysis.publishing.tables); declare them there first")
    absent = [c.name for c in s.columns if c.required and c.name not in df.columns]
    if absent:
        raise TableError(f"{where}: required column(s) {absent} are missing")
    out = pd.DataFrame(index=df.index)
    if "data_status" in df.columns and not s.own_status:
        out["data_status"] = df["data_status"]
    def line(pos) -> str:
        # on read, the CSV line (the header is line 1); on write, the frame's row
        return f"line {pos + 2}" if on_read else f"row {pos}"

    for c in s.columns:
        if c.name not in df.columns:
            out[c.name] = pd.Series(pd.NA if c.kind not in ("float",) else np.nan, index=df.index,
                                    dtype=_dtype(c))
            continue
        x = df[c.name]
        miss = x.isna()  # None, NaN, pd.NA, NaT (vectorised: a report reads some 100 tables)
        if c.kind in ("code", "codes", "text"):  # an empty string is a missing code
            miss = miss | x.astype("string").fillna("").str.strip().eq("")
        if not c.nullable and miss.any():
            raise _fail(where, c.name, line(miss[miss].index[0]), "has a missing value; none is allowed")
        out[c.name] = _convert(x, miss, c, where, line)
    if s.key:
        dup = out.duplicated(subset=list(s.key), keep=False)
        if dup.any():
            raise TableError(f"{where}: key {list(s.key)} is not unique ({line(dup[dup].index[0])})")
    return out


def _dtype(c: Column):
    return {"int": "Int64", "float": "float64", "bool": "boolean"}.get(c.kind, "object")


def _convert(x: pd.Series, miss: pd.Series, c: Column, where: str, line) -> pd.Series:
    ok = x[~miss]
    if c.kind == "float" or c.kind == "int":
        if ok.dtype == object or str(ok.dtype) in ("string", "str"):
            # text (as read) converts at once; a column holding True/False objects must fail
            # as not a number, not become 1/0
            text_only = pd.api.types.infer_dtype(ok, skipna=True) in ("string", "empty")
            num = pd.to_numeric(ok if text_only else ok.astype("object").map(
                lambda v: v if not isinstance(v, (bool, np.bool_)) else "bool"), errors="coerce")
        else:
            num = pd.to_numeric(ok, errors="coerce")
        if ok.dtype == bool or str(ok.dtype) == "boolean":
            raise _fail(where, c.name, None, f"holds booleans; expected {c.kind}")
        bad = num.isna()
        if bad.any():
            raise _fail(where, c.name, line(bad[bad].index[0]), f"has a value that is not a number; expected {c.kind}")
        full = pd.Series(np.nan, index=x.index, dtype="float64")
        full[~miss] = num.astype("float64")
        if c.unit == "share":  # declared, so checked: a percentage in a share column is an error
            out = full[(full < 0) | (full > 1)]
            if len(out):
                raise _fail(where, c.name, line(out.index[0]), "is a share: expected a number from 0 to 1")
        if c.kind == "float":
            return full
        fin = full.dropna()
        frac = fin[(fin != np.round(fin)) | ~np.isfinite(fin)]
        if len(frac):
            raise _fail(where, c.name, line(frac.index[0]), "has a value that is not a whole number; expected int")
        return pd.array([pd.NA if math.isnan(v) else int(v) for v in full], dtype="Int64")
    if c.kind == "bool":
        def as_bool(v):
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            t = str(v).strip().lower()
            if t in ("true", "1", "1.0"):
                return True
            if t in ("false", "0", "0.0"):
                return False
            return None
        vals = ok.map(as_bool)
        bad = vals.isna()
        if bad.any():
            raise _fail(where, c.name, line(bad[bad].index[0]), "has a value that is not True/False")
        full = pd.Series(pd.NA, index=x.index, dtype="boolean")
        full[~miss] = vals.astype(bool)
        return full
    # code, codes, text: strings
    if pd.api.types.infer_dtype(ok, skipna=True) == "string":
        # text (every table as read, most as written): each distinct value is checked once,
        # at its first line, and the column is kept as it is
        if c.kind in ("code", "codes"):
            first = ok.drop_duplicates()
            for i, v in first.items():
                parts = [v] if c.kind == "code" else [p.strip() for p in v.split(c.sep.strip() or c.sep)]
                for part in filter(None, parts):
                    _check_code(part, c, where, line(i))
        full = pd.Series(pd.NA, index=x.index, dtype="object")
        full[ok.index] = ok.astype("object")
        return full
    values, checked = [], set()
    for i, v in ok.items():
        if isinstance(v, (float, np.floating)) and c.kind != "text" and float(v).is_integer():
            v = int(v)  # a code read as a number ("05" is protected by reading everything as text)
        if c.kind in ("code", "codes") and not isinstance(v, (str, int, np.integer)):
            raise _fail(where, c.name, line(i), f"has {_shown(v)}; expected a code")
        v = str(v)
        if c.kind in ("code", "codes") and v not in checked:  # each distinct value once
            parts = [v] if c.kind == "code" else [p.strip() for p in v.split(c.sep.strip() or c.sep)]
            for part in filter(None, parts):
                _check_code(part, c, where, line(i))
            checked.add(v)
        values.append(v)
    full = pd.Series(pd.NA, index=x.index, dtype="object")
    if values:  # one assignment: setting a Series item by item cost most of a table's check
        full[ok.index] = pd.Series(values, index=ok.index, dtype="object")
    return full


def _check_code(v: str, c: Column, where: str, line: str) -> None:
    if not CODE_RE.match(v):
        raise _fail(where, c.name, line, f"has {_shown(v)}: expected a code (letters, digits, _ - .), "
                                         "not a sentence; words are made at render time")
    if c.codes is not None and v not in c.codes:
        raise _fail(where, c.name, line, f"has code {_shown(v)}, expected one of {list(c.codes)}")


# ===================================================================== write / read
def write(name: str, df: pd.DataFrame, *, city: str | None = None, synthetic: bool,
          path: str | Path | None = None) -> Path:
    """Validate ``df`` against the schema of ``name`` and publish it (:func:`analysis.io.write_table`).

    Parameters
    ----------
    name : str
        A key of :data:`SCHEMAS`.
    city : str, optional
        The city of a city table (its folder under ``reports/tables``).
    synthetic : bool
        Made from the synthetic demonstration data (a ``data_status`` column says so).
    path : path, optional
        Where to write instead of the schema's path (tests).
    """
    s = schema(name)
    path = Path(path) if path is not None else s.path(city)
    typed = validate(df, name, where=_rel(path))
    if not s.own_status:  # the table-wide label is io.write_table's to add, from ``synthetic``
        typed = typed.drop(columns=["data_status"], errors="ignore")
    return io.write_table(typed, path, synthetic=synthetic and not s.own_status)


def read(name: str, city: str | None = None, *, path: str | Path | None = None) -> pd.DataFrame:
    """The published table ``name`` of ``city``, validated and typed.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    TableError
        The file cannot be parsed, or does not match the schema (file, column, line named).
    """
    s = schema(name)
    path = Path(path) if path is not None else s.path(city)
    if not path.is_file():
        raise FileNotFoundError(f"{_rel(path)} does not exist")
    data = path.read_bytes()
    key = hashlib.sha256(b"\0".join([_contract_version().encode(), name.encode(), data])).hexdigest()
    typed = _checked_copy(key)
    if typed is None:
        try:
            # everything as text first: codes ("05", "110601") never become numbers
            raw = pd.read_csv(io_.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise TableError(f"{_rel(path)}: not a readable CSV ({type(exc).__name__})") from None
        typed = validate(raw, name, where=_rel(path), on_read=True)
        _keep_checked(key, typed)
    return _copy(typed)


# A table that passed the contract is kept by content: the same bytes checked by the same
# code give the same typed frame. The report step reads some 90 tables in each language (and
# again for the briefs), in processes of their own; checking them was half of an HTML build.
_CHECKED: dict[str, pd.DataFrame | dict[str, pd.DataFrame]] = {}


@functools.lru_cache(maxsize=1)
def _contract_version() -> str:
    """What decides a checked table besides its bytes: this module's code, pandas and NumPy."""
    return hashlib.sha256(Path(__file__).read_bytes() + f"\0{pd.__version__}\0{np.__version__}".encode()).hexdigest()


def _checked_path(key: str) -> Path:
    return PATHS.root / "data" / "interim" / "tables" / f"{key}.pkl"


def _checked_copy(key: str):
    """The typed table (or dict of tables) kept under ``key`` (this process's, else the folder's), or None.

    A kept file is the SHA-256 of its payload, then the payload (a pickled frame written by
    :func:`_keep_checked` in this tree); one whose checksum does not match is ignored.
    """
    if key in _CHECKED:
        return _CHECKED[key]
    try:
        blob = _checked_path(key).read_bytes()
    except OSError:
        return None
    digest, payload = blob[:32], blob[32:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        typed = pickle.loads(payload)
    except Exception:  # noqa: BLE001 (a damaged file is checked again, never trusted)
        return None
    if not isinstance(typed, pd.DataFrame) and not (
            isinstance(typed, dict) and all(isinstance(v, pd.DataFrame) for v in typed.values())):
        return None
    _CHECKED[key] = typed
    return typed


def _copy(typed):
    """A caller's own copy of a kept table or dict of tables (a change to it is not kept)."""
    return typed.copy() if isinstance(typed, pd.DataFrame) else {k: v.copy() for k, v in typed.items()}


def _keep_checked(key: str, typed) -> None:
    _CHECKED[key] = typed
    payload = pickle.dumps(typed, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        with io.atomic_path(_checked_path(key)) as tmp:
            tmp.write_bytes(hashlib.sha256(payload).digest() + payload)
    except OSError:  # a read-only tree: checked again next time
        pass


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """A typed table with numpy dtypes, for numeric code: integer columns as floats (NaN where
    blank), boolean columns as ``bool`` when complete (else objects)."""
    out = df.copy()
    for c in out.columns:
        dtype = str(out[c].dtype)
        if dtype == "Int64":
            out[c] = out[c].astype("float64")
        elif dtype == "boolean":
            out[c] = out[c].astype(bool) if out[c].notna().all() else out[c].astype(object)
    return out


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PATHS.root.resolve()))
    except ValueError:
        return Path(path).name


def order_columns(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with every column of the schema ``name``, in order (absent ones empty)."""
    df = df.copy()
    for c in schema(name).names:
        if c not in df.columns:
            df[c] = np.nan
    return df[schema(name).names]


# ===================================================================== the cleaning log
def cleaning_tables(log: dict) -> dict[str, pd.DataFrame]:
    """The cleaning summary from the log :mod:`analysis.inputs.clean` writes, validated.

    Reads its one shape: ``files`` (one record per raw file: ``dataset``, ``source_file``,
    ``raw_rows``, ``kept``, ``rejected``, ``rejected_by_reason``) and ``missingness``
    (``{dataset: {variable: {collected, missing_share, dont_know, blank}}}``). Variables a
    city never collected are left out (100 % missing by construction, not a quality signal).

    Returns
    -------
    dict
        ``files``, ``reasons``, ``missingness`` (:data:`CLEANING_SCHEMAS`).

    Raises
    ------
    TableError
        The log is not in that shape (the key that is missing or wrong is named).
    """
    try:
        key = hashlib.sha256(b"\0".join([_contract_version().encode(), b"cleaning_tables", json.dumps(
            log, sort_keys=True, ensure_ascii=False, allow_nan=True).encode()])).hexdigest()
    except (TypeError, ValueError):  # not JSON data: checked (and refused) below
        key = None
    kept = _checked_copy(key) if key is not None else None
    if kept is not None:
        return _copy(kept)
    out = _cleaning_tables(log)
    if key is not None:
        _keep_checked(key, out)
    return _copy(out)


def _cleaning_tables(log: dict) -> dict[str, pd.DataFrame]:
    """:func:`cleaning_tables`, without keeping its result."""
    if not isinstance(log.get("files"), list) or not isinstance(log.get("missingness", {}), dict):
        raise TableError("cleaning_log.json: expected 'files' (a list) and 'missingness' (a mapping), "
                         "as analysis.inputs.clean writes them")
    files, reasons, missing = [], [], []
    for i, f in enumerate(log["files"]):
        try:
            raw, kept, rej = int(f["raw_rows"]), int(f["kept"]), int(f["rejected"])
            ds, name = str(f["dataset"]), str(f["source_file"])
            by = f["rejected_by_reason"]
        except (KeyError, TypeError, ValueError) as exc:
            raise TableError(f"cleaning_log.json: files[{i}] lacks or has a bad {exc.args[0]!r}") from None
        files.append({"dataset": ds, "file": name, "raw": raw, "kept": kept, "rejected": rej,
                      "check": raw == kept + rej})
        reasons += [{"dataset": ds, "file": name, "reason": str(r), "rows": int(n)} for r, n in by.items() if n]
    for ds, by_var in log.get("missingness", {}).items():
        for var, m in by_var.items():
            if m.get("collected") is not True:
                continue
            missing.append({"dataset": str(ds), "variable": str(var), "missing": float(m["missing_share"]),
                            "dont_know": m.get("dont_know"), "blank": m.get("blank")})
    out = {}
    for key, rows in (("files", files), ("reasons", reasons), ("missingness", missing)):
        s = CLEANING_SCHEMAS[f"cleaning_{key}"]
        out[key] = validate(pd.DataFrame(rows, columns=s.names), s.name, where=s.file)
    return out


# ===================================================================== the dashboard's columns
#: Columns of the neighbourhood table the dashboard embeds (all published, suppressed).
DASHBOARD_ROW_COLUMNS: tuple[str, ...] = ("neighbourhood", "wave", "indicator", "group", "n", "estimate",
                                          "ci_low", "ci_high", "shrunk", "status")
#: Columns of the area table the dashboard embeds.
DASHBOARD_AREA_COLUMNS: tuple[str, ...] = ("area_type", "wave", "indicator", "group", "n", "estimate",
                                           "ci_low", "ci_high", "neighbourhoods", "same_neighbourhoods",
                                           "status")

#: Columns of a city's ``impact.csv`` (residents and officers), in order.
IMPACT_COLUMNS: list[str] = SCHEMAS["impact"].names


def order_impact_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column of :data:`IMPACT_COLUMNS`, in order (missing ones empty)."""
    return order_columns(df, "impact")
