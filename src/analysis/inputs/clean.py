"""Clean one city's raw files into the harmonised codebook.

Owns cleaning with row accounting: raw rows to codebook rows, each rejection with its reason.
Must not weight, estimate or publish: it writes data/processed/<city>/ and its log only.

Pipeline (one pass per dataset: residents, officers, activities)::

    read (analysis.inputs.readers) -> map columns -> normalise labels -> map values
      -> don't-know / refusal codes to missing -> validate rows (reject with a reason)
      -> derive age_group, pilot_area, indices -> pseudonymise ids
      -> enforce codebook dtypes -> pandera schema

Decisions, so that nothing happens silently:

- **Labels** are matched after trimming, collapsing inner whitespace, Unicode
  normalisation, case folding and removing accents ("  Très SOUVENT " matches
  "tres souvent"). Values already in codebook form pass through (``female``,
  ``follow_up``, ``true``/``false``/``1``/``0`` for yes/no items, numbers on numeric
  columns).
- **Don't know / refusal**: the profile's ``missing`` labels become missing in every
  mapped column; its numeric ``item_missing`` codes (ESS 77/88/99) only on *rating
  items* (codebook variables with scale labels) and only when the code lies outside the
  item's valid range, so that an age of 77, or a 9 on a 0-10 scale, stays a number.
- **Unknown label** (text the profile does not know in a mapped column) is a profile
  problem: :class:`UnknownLabelError` names the file, row, column, value and the known
  labels. With ``strict=False`` such rows are rejected instead (reason ``unknown_label``).
- **Row-level problems** reject the row, with the first failing reason in this order:
  :data:`REASONS`. Duplicates (same id and wave) keep the first occurrence in file order.
- **Reconciliation**: for every file, raw rows = kept + rejected, checked in code.
- **Mass loss stops the city**: a file, a wave, a pilot or comparison area or a targeted
  group that ends up empty or mostly rejected raises :class:`DataLossError` before any
  output is written (thresholds: the profile's ``quality``, documented in
  ``config/cities/README.md``; every check is logged under ``quality.checks``).
- **Neighbourhood codes** are matched with :func:`analysis.inputs.profile.code_key`, as the
  profile's pilot areas and margins are: a raw ``1`` (or ``1.0``) is the profile's ``"01"``.
- **One table without a city** (:func:`clean_table`, e.g. the ESS national benchmark):
  the same conversion and row checks driven by a :class:`DatasetSpec` alone; the checks
  that need a city (neighbourhood codes, fieldwork windows, pilot areas, margins) and
  pseudonymisation are skipped.
- ``rejected.parquet`` carries, per rejected row, the reason, the offending raw column
  and value, and the row's *mapped* raw values as JSON, the raw id replaced by its
  pseudonym. Unmapped raw columns (names, addresses, free text…) are never copied to
  any output: they may be personal data and the codebook does not need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.inputs import codebook
from analysis.config import K_SUPPRESS, PATHS, list_cities
from analysis.io import SYNTHETIC_NOTE, sha256_file, write_json, write_parquet
from analysis.inputs.profile import (CityProfile, DatasetSpec, FileSpec, ProfileError, Quality, code_key, load_profile,
                      norm_label, unmappable_columns)
from analysis.inputs.pseudonymise import PREFIXES, key_fingerprint, load_key, pseudonymise
from analysis.inputs.readers import (RawDataError, UnlabelledCode, check_columns, read_file, row_problems, source_name,
                      strict_number)
from analysis.sdc import publish_count
from analysis.inputs.readers import finish_frame

#: Rejection reasons, in the order they are tested (a row gets the first that applies).
REASONS: dict[str, str] = {
    "malformed_row": ("the raw record is damaged: too few or too many fields, a repeated header line "
                      "or a last line cut short (found by the reader, analysis.inputs.readers.row_problems)"),
    "missing_id": "no respondent/officer identifier",
    "unmapped_wave": "wave missing or not mapped to baseline/follow_up",
    "unknown_label": "a label the profile does not know (strict=False only)",
    "missing_required": "a required codebook value is missing",
    "duplicate": "same identifier and wave as an earlier row (the first is kept)",
    "unknown_neighbourhood": "neighbourhood code not in the profile",
    "impossible_age": f"age outside {codebook.AGE_MIN}-{codebook.AGE_MAX}",
    "invalid_date": "date not readable with the profile's date_format",
    "date_outside_wave": "interview date outside the wave's fieldwork window",
    "invalid_value": "not a valid number for this column (e.g. a fraction for an integer)",
    "out_of_range": "value outside the codebook range",
}

#: File name of each processed dataset (``respondents`` is the codebook's residents).
OUTPUT_NAMES = {"residents": "respondents", "officers": "officers", "activities": "activities"}
REJECTED_COLUMNS = ("city", "dataset", "source_file", "raw_row_number", "reason", "column",
                    "codebook_column", "value", "detail", "raw_values")

# value status codes of the per-column conversion
OK, BLANK, DK, UNKNOWN, INVALID, BAD_DATE = 0, 1, 2, 3, 4, 5


class UnknownLabelError(RawDataError):
    """A mapped column holds a label the city profile does not know."""


class DataLossError(ValueError):
    """Too many rows were rejected: a file, wave, pilot or comparison area or targeted group
    ended up empty or mostly rejected (thresholds: ``quality`` in the profile)."""


@dataclass
class CleanResult:
    """The cleaned data of one city and the record of how it was made.

    Attributes
    ----------
    city : str
    synthetic : bool
        True when made from the synthetic demonstration data.
    respondents, officers, activities : pandas.DataFrame
        Codebook columns and dtypes exactly (empty frames when the city has no such data).
    rejected : pandas.DataFrame
        One row per rejected raw row, columns :data:`REJECTED_COLUMNS`.
    log : dict
        The cleaning log (written as ``cleaning_log.json``).
    """

    city: str
    synthetic: bool
    respondents: pd.DataFrame
    officers: pd.DataFrame
    activities: pd.DataFrame
    rejected: pd.DataFrame
    log: dict = field(default_factory=dict)

    def dataset(self, name: str) -> pd.DataFrame:
        """Cleaned frame of a codebook dataset name (``residents`` is ``respondents``)."""
        return getattr(self, OUTPUT_NAMES.get(name, name))


# ----------------------------------------------------------------------- normalising
def clean_text(text: str) -> str:
    """Text as stored: Unicode NFC, trimmed, inner whitespace collapsed (case kept)."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def raw_text(v: Any) -> str | None:
    """Text form of a raw value (None when blank); 3.0 from a spreadsheet is "3"."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    text = str(v)
    return text if text.strip() else None


# --------------------------------------------------------------------- profile checks
def _id_column(name: str) -> str | None:
    return codebook.ID_COLUMNS.get(name)


def _is_rating(v: codebook.Var) -> bool:
    return bool(v.scale_labels) and v.kind == "int"


def label_maps(spec: DatasetSpec, name: str, key_prefix: str | None = None) -> dict[str, dict[str, Any]]:
    """``{codebook column: {normalised raw label: codebook value}}``, checked.

    Error keys start with ``key_prefix`` (default ``"<name>."``, as in a city profile).
    """
    prefix = f"{name}." if key_prefix is None else key_prefix
    where = f"{prefix}values"
    maps: dict[str, dict[str, Any]] = {}
    for col, mapping in spec.values.items():
        if col not in spec.columns:
            raise ProfileError(f"key {where}.{col}: values are given for {col!r} but {prefix}columns "
                               f"does not map it to a raw column")
        v = codebook.var(col, name)
        out: dict[str, Any] = {}
        for raw, target in mapping.items():
            key = f"{where}.{col}.{raw!r}"
            target = _check_target(v, target, key)
            k = norm_label(raw)
            if k in out and out[k] != target:
                raise ProfileError(f"key {key}: the labels of {col!r} {[r for r in mapping if norm_label(r) == k]} "
                                   f"match each other once case, accents and spaces are ignored but map to "
                                   f"different values")
            out[k] = target
        maps[col] = out
    return maps


def _check_target(v: codebook.Var, target: Any, key: str) -> Any:
    if target is None:
        return None
    bad = None
    if v.kind == "category":
        if target not in v.categories:
            bad = f"one of {list(v.categories)} (or null for don't know)"
    elif v.kind == "bool":
        if isinstance(target, bool):
            return target
        if target in (0, 1):
            return bool(target)
        bad = "true, false or null"
    elif v.kind in ("int", "float"):
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            bad = f"a number in {v.range}"
        elif v.range is not None and not (v.range[0] <= target <= v.range[1]):
            bad = f"a number in {v.range[0]:g}-{v.range[1]:g}"
        elif v.kind == "int" and not float(target).is_integer():
            bad = "a whole number"
        else:
            return float(target)
    elif v.kind == "str":
        return clean_text(target)
    elif v.kind == "date":
        try:
            return pd.Timestamp(target)
        except (TypeError, ValueError):
            bad = "a date YYYY-MM-DD"
    if bad:
        raise ProfileError(f"key {key}: maps to {target!r}, but {v.name!r} takes {bad}")
    return target


def check_profile(profile: CityProfile) -> None:
    """Check what the cleaning step needs from a profile beyond :mod:`analysis.inputs.profile`.

    Raises
    ------
    ProfileError
        Naming the key: an id, neighbourhood or wave that is not mapped, values for an
        unmapped column, a value mapped to something the codebook does not allow, two
        labels that become the same once normalised but map differently.
    """
    for name in codebook.DATASETS:
        spec = profile.dataset(name)
        if spec is None:
            continue
        need = {v.name for v in codebook.variables(name) if v.required} - {"city", "source_file", "raw_row_number"}
        if all(f.wave is not None for f in spec.files):
            need.discard("wave")
        absent = sorted(need - set(spec.columns))
        if absent:
            hint = " (or set `wave:` on every file)" if "wave" in absent else ""
            raise ProfileError(f"{profile.city}: key {name}.columns: required codebook column(s) {absent} "
                               f"are not mapped to raw columns{hint}")
        label_maps(spec, name)
        for f in spec.files:
            if f.format == "xlsx" and sum(g.path == f.path and g.sheet == f.sheet for g in spec.files) > 1:
                raise ProfileError(f"{profile.city}: key {name}.files: {source_name(f)} is listed twice")
    paths = [(n, source_name(f)) for n in codebook.DATASETS if profile.dataset(n) for f in profile.dataset(n).files]
    seen = [p for _, p in paths]
    dup = sorted({p for p in seen if seen.count(p) > 1})
    if dup:
        raise ProfileError(f"{profile.city}: key files: {dup} listed more than once")


# ------------------------------------------------------------------ column conversion
@dataclass
class _Column:
    values: np.ndarray  # float64 (numbers), datetime64[us] (dates) or object
    status: np.ndarray  # int8 status codes


class _Ctx:
    """What converting one column of one file needs."""

    def __init__(self, profile: CityProfile | None, name: str, spec: DatasetSpec, fs: FileSpec,
                 maps: dict[str, dict[str, Any]]):
        # profile None: a table cleaned without a city (:func:`clean_table`), no neighbourhood codes
        self.profile, self.name, self.spec, self.fs, self.maps = profile, name, spec, fs, maps
        self.missing = {norm_label(m) for m in spec.missing}
        self.item_missing = {float(c) for c in spec.item_missing}
        # raw codes are matched as the profile's codes are: "1" (a spreadsheet's 01) is "01"
        self.codes = {code_key(c): c for c in profile.codes} if profile is not None else {}


def _number(u: Any, text: str, fs: FileSpec) -> tuple[float | None, int]:
    if isinstance(u, (int, float, np.integer, np.floating)) and not isinstance(u, (bool, np.bool_)):
        return float(u), OK
    t = text.strip()
    if fs.decimal != "." and "." in t and not (fs.thousands == "." and "." in t.split(fs.decimal, 1)[0]):
        return None, INVALID  # a '.' in a decimal-comma file is ambiguous (thousands?)
    # strict: float() would also take "1e1", "1_0", "inf" and non-ASCII digits
    x = strict_number(t, fs.decimal, fs.thousands)
    if x is None:
        return None, UNKNOWN
    return x, OK


def _date(u: Any, text: str, fs: FileSpec) -> tuple[Any, int]:
    if isinstance(u, (pd.Timestamp, dt.datetime, dt.date)):
        return pd.Timestamp(u).normalize(), OK
    try:
        if fs.date_format:
            return pd.Timestamp(dt.datetime.strptime(text.strip(), fs.date_format)), OK
        return pd.Timestamp(dt.date.fromisoformat(text.strip()[:10])), OK
    except ValueError:
        return None, BAD_DATE


def _code_is_number(u: UnlabelledCode, v: codebook.Var, ctx: _Ctx) -> bool:
    """Whether a code without a value label may be read as a number on ``v``'s scale.

    Yes when the column's other labels are all don't-know labels (labels on 77/88/99
    only) or are mapped by the profile to their own code (a 0-10 scale labelled at its
    ends); no when the labels carry a coding of their own (a reversed 1-4 scale), where
    an unlabelled 4 could mean anything.
    """
    if v.kind not in ("int", "float"):
        return False
    vmap = ctx.maps.get(v.name, {})
    for code, label in u.labels:
        key = norm_label(label)
        if key in ctx.missing or (key in vmap and vmap[key] is None):
            continue
        if key not in vmap or vmap[key] != code:
            return False
    return True


def _convert_one(u: Any, v: codebook.Var, ctx: _Ctx) -> tuple[Any, int]:
    text = raw_text(u)
    if text is None:
        return None, BLANK
    key = norm_label(text)
    vmap = ctx.maps.get(v.name, {})
    if key in vmap:
        target = vmap[key]
        return (None, DK) if target is None else (target, OK)
    if key in ctx.missing:
        return None, DK
    if isinstance(u, UnlabelledCode) and not _code_is_number(u, v, ctx):
        return (None, DK) if u.code in ctx.item_missing else (None, UNKNOWN)
    if isinstance(u, UnlabelledCode):
        u = u.code
    if v.kind in ("int", "float"):
        x, st = _number(u, text, ctx.fs)
        if st != OK:
            return None, st
        if _is_rating(v) and x in ctx.item_missing and v.range and not (v.range[0] <= x <= v.range[1]):
            return None, DK
        if v.kind == "int" and not float(x).is_integer():
            return x, INVALID
        return x, OK
    if v.kind == "bool":
        if key in ("true", "1"):
            return True, OK
        if key in ("false", "0"):
            return False, OK
        return None, UNKNOWN
    if v.kind == "category":
        for c in v.categories:
            if key == norm_label(c):
                return c, OK
        return None, UNKNOWN
    if v.kind == "date":
        return _date(u, text, ctx.fs)
    if v.name == "neighbourhood":
        return ctx.codes.get(code_key(text), clean_text(text)), OK
    return clean_text(text), OK


def convert_column(raw: pd.Series, v: codebook.Var, ctx: _Ctx) -> _Column:
    """Convert one raw column, value by *distinct* value (fast on a million rows)."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    results = [_convert_one(u, v, ctx) for u in uniques.tolist()]
    status = np.array([s for _, s in results] + [BLANK], dtype="int8")[codes]
    vals = [x for x, _ in results] + [None]
    if v.kind in ("int", "float"):
        arr = np.array([np.nan if x is None else x for x in vals], dtype="float64")
    elif v.kind == "date":
        arr = np.array([np.datetime64("NaT") if x is None else np.datetime64(pd.Timestamp(x).to_datetime64(), "us")
                        for x in vals], dtype="datetime64[us]")
    else:
        arr = np.array(vals, dtype=object)
    return _Column(arr[codes], status)


def _convert_id(raw: pd.Series) -> _Column:
    if pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object:
        text = raw.str.strip()
        blank = (text.isna() | (text == "")).to_numpy()
        vals = text.to_numpy(dtype=object)
    else:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        tx = [raw_text(u) for u in uniques.tolist()]
        tx = [t.strip() if t is not None else None for t in tx] + [None]
        vals = np.array(tx, dtype=object)[codes]
        blank = np.array([t is None or t == "" for t in vals])
    vals = vals.copy()
    vals[blank] = None
    return _Column(vals, np.where(blank, BLANK, OK).astype("int8"))


# ----------------------------------------------------------------------- one dataset
@dataclass
class _FileData:
    spec: FileSpec
    source: str
    path: Path
    raw: pd.DataFrame  # mapped raw columns + provenance (for rejected rows)
    cols: dict[str, _Column]
    malformed: dict[int, str] = field(default_factory=dict)  # row position: reader's problem


def _read_and_convert(profile: CityProfile, name: str, spec: DatasetSpec, fs: FileSpec,
                      maps: dict, folder: Path) -> _FileData:
    return convert_file(profile, name, spec, fs, maps, read_file(fs, folder, columns=spec.columns.values()),
                         folder / fs.path)


def convert_file(profile: CityProfile | None, name: str, spec: DatasetSpec, fs: FileSpec,
                  maps: dict, raw: pd.DataFrame, path: Path) -> _FileData:
    """Convert every mapped column of one raw frame (as :func:`readers.read_file` returns it)."""
    # A file that declares its wave need not carry the wave column.
    check_columns(raw, fs, {cb: rc for cb, rc in spec.columns.items() if not (cb == "wave" and fs.wave)})
    ctx = _Ctx(profile, name, spec, fs, maps)
    id_col = _id_column(name)
    cols: dict[str, _Column] = {}
    for cb, rc in spec.columns.items():
        if cb == "wave" and fs.wave is not None:
            continue  # the file declares its wave; the column is ignored
        v = codebook.var(cb, name)
        cols[cb] = _convert_id(raw[rc]) if cb == id_col else convert_column(raw[rc], v, ctx)
    if fs.wave is not None and "wave" in {v.name for v in codebook.variables(name)}:
        cols["wave"] = _Column(np.full(len(raw), fs.wave, dtype=object), np.zeros(len(raw), dtype="int8"))
    kept_raw = [rc for rc in dict.fromkeys(spec.columns.values()) if rc in raw.columns]
    return _FileData(fs, source_name(fs), path, raw[kept_raw + ["source_file", "raw_row_number"]], cols,
                     row_problems(raw))


def _known_labels(spec: DatasetSpec, cb: str, v: codebook.Var) -> str:
    labels = list(spec.values.get(cb, {}))
    extra = []
    if v.kind == "category":
        extra = list(v.categories)
    elif v.kind == "bool":
        extra = ["true", "false", "1", "0"]
    elif v.kind in ("int", "float") and v.range:
        extra = [f"numbers {v.range[0]:g}-{v.range[1]:g}"]
    return f"{labels + extra}; don't-know labels {list(spec.missing)}"


def _unknown(fd: _FileData, cb: str) -> np.ndarray:
    """Rows of ``cb`` with an unknown label, rows the reader found damaged left out
    (their values are shifted or cut; they are rejected as ``malformed_row``)."""
    mask = fd.cols[cb].status == UNKNOWN
    if fd.malformed:
        mask = mask.copy()
        mask[list(fd.malformed)] = False
    return mask


#: An unknown label is quoted in an error only when this many rows of the column hold it:
#: a recurring value is a label the profile lacks; a one-off is likely personal data
#: (a name typed in an answer column) or a typo, so it is counted, not shown.
MIN_QUOTED_LABEL_ROWS = 10

#: Line numbers listed for unknown values that are not shown.
MAX_LISTED_ROWS = 10

#: A short number-like text ("1e1", "1_0", "-3") cannot be a name and is quoted even when
#: it occurs once; longer digit strings (a phone number, an id) are not.
_NUMBER_LIKE = re.compile(r"[0-9.,_+\-\u2212eE ]{1,6}")


def _quotable(raw: object, n_rows: int) -> bool:
    """Whether an unknown value may be quoted in an error (see :data:`MIN_QUOTED_LABEL_ROWS`)."""
    if n_rows >= MIN_QUOTED_LABEL_ROWS or isinstance(raw, UnlabelledCode):
        return True  # a recurring label, or a stored SPSS/Stata code without a label
    return isinstance(raw, (int, float, np.integer, np.floating)) or bool(_NUMBER_LIKE.fullmatch(str(raw)))


def _raise_unknown(owner: str, name: str, spec: DatasetSpec, fd: _FileData, cb: str) -> None:
    where = np.flatnonzero(_unknown(fd, cb))
    rc = spec.columns[cb]
    values = fd.raw[rc].iloc[where].map(lambda x: "" if x is None else str(x)).to_numpy()
    lines = fd.raw["raw_row_number"].iloc[where].to_numpy()
    counts = pd.Series(values).value_counts()
    raws = fd.raw[rc].iloc[where].tolist()
    frequent = {v for v, x in zip(values, raws) if _quotable(x, int(counts[v]))}
    rare_rows = [int(r) for v, r in zip(values, lines) if v not in frequent]
    n_rare = len({v for v in values if v not in frequent})
    listed = ", ".join(str(r) for r in rare_rows[:MAX_LISTED_ROWS]) + (", ..." if len(rare_rows) > MAX_LISTED_ROWS else "")
    rare = (f"{n_rare} distinct unknown value(s) occurring fewer than {MIN_QUOTED_LABEL_ROWS} times each "
            f"(not shown), on row(s) {listed}") if n_rare else ""
    v = codebook.var(cb, name)
    if frequent:
        i = next(j for j, x in enumerate(values) if x in frequent)
        row, value = int(lines[i]), fd.raw[rc].iloc[int(where[i])]
        n_same = int(counts[values[i]])
        others = len(frequent) - 1
        problem = (f"label not known to {owner} for codebook column {cb!r}, in {n_same} row(s) of this file"
                   + (f"; {others} other unknown label(s) shown in this column's rows" if others else "")
                   + (f"; also {rare}" if rare else ""))
    else:
        # none recurs: quote nothing (a one-off may be a name), point to the lines instead
        row, value = int(rare_rows[0]), None
        problem = f"label not known to {owner} for codebook column {cb!r}: {rare}"
    raise UnknownLabelError(
        fd.source, row=row, column=rc, value=value, problem=problem,
        expected=(f"one of the known labels {_known_labels(spec, cb, v)}; add it under "
                  f"{name}.values.{cb} (or {name}.missing if it means don't know), "
                  f"or clean with strict=False to reject such rows"))


@dataclass
class _Rows:
    """The converted values of a dataset's files, row by row, and the rejection of each row."""

    n: int
    file_idx: np.ndarray
    mapped: list[str]
    values: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    raw_rows: np.ndarray
    reason: np.ndarray
    rcol: np.ndarray
    detail: np.ndarray
    free: np.ndarray  # True: kept

    def astuple(self) -> tuple:
        return (self.n, self.file_idx, self.mapped, self.values, self.status, self.raw_rows,
                self.reason, self.rcol, self.detail, self.free)


def check_rows(profile: CityProfile | None, name: str, spec: DatasetSpec, files: list[_FileData]) -> _Rows:
    """Reject rows, first failing reason of :data:`REASONS` per row.

    ``profile`` None (:func:`clean_table`): no neighbourhood codes and no fieldwork windows
    to check against, so ``unknown_neighbourhood`` and ``date_outside_wave`` are skipped.
    """
    n = sum(len(fd.raw) for fd in files)
    file_idx = np.concatenate([np.full(len(fd.raw), i, dtype="int32") for i, fd in enumerate(files)])
    mapped = [cb for cb in dict.fromkeys(c for fd in files for c in fd.cols)]

    def cat(cb: str, what: str) -> np.ndarray:
        parts = []
        for fd in files:
            col = fd.cols.get(cb)
            if col is None:  # e.g. wave from file spec in some files only
                col = _Column(np.full(len(fd.raw), None, dtype=object), np.full(len(fd.raw), BLANK, dtype="int8"))
            parts.append(getattr(col, what))
        if what == "values" and len({p.dtype for p in parts}) > 1:
            parts = [p.astype(object) for p in parts]
        return np.concatenate(parts)

    values = {cb: cat(cb, "values") for cb in mapped}
    status = {cb: cat(cb, "status") for cb in mapped}
    raw_rows = np.concatenate([fd.raw["raw_row_number"].to_numpy() for fd in files])
    reason = np.full(n, None, dtype=object)
    rcol = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    free = np.ones(n, dtype=bool)  # not rejected yet

    def reject(mask: np.ndarray, why: str, cb: str | None = None, text: Any = None) -> None:
        new = mask & free
        if not new.any():
            return
        free[new] = False
        reason[new] = why
        if cb is not None:
            rcol[new] = cb
        if text is not None:
            detail[new] = text if isinstance(text, str) else text[new]

    if any(fd.malformed for fd in files):
        bad = np.zeros(n, dtype=bool)
        txt = np.full(n, None, dtype=object)
        offset = 0
        for fd in files:
            for pos, what in fd.malformed.items():
                bad[offset + pos], txt[offset + pos] = True, what
            offset += len(fd.raw)
        reject(bad, "malformed_row", None, txt)
    id_col = _id_column(name)
    if id_col:
        reject(status[id_col] == BLANK, "missing_id", id_col)
    if "wave" in status:
        reject(status["wave"] != OK, "unmapped_wave", "wave",
               f"expected one of {list(spec.values.get('wave', {})) or list(codebook.WAVES)}")
    for cb in mapped:
        if cb not in (id_col, "wave"):
            reject(status[cb] == UNKNOWN, "unknown_label", cb, "label not in the profile")
    for v in codebook.variables(name):
        if v.required and v.name in status and v.name not in (id_col, "wave"):
            reject(np.isin(status[v.name], (BLANK, DK)), "missing_required", v.name)
    if id_col and "wave" in values:
        ok = free.copy()
        ids = pd.Series(values[id_col]).where(ok)
        keyframe = pd.DataFrame({"id": ids, "wave": values["wave"]})
        dup = keyframe.duplicated(keep="first").to_numpy() & ok
        if dup.any():
            first = keyframe[ok & ~dup].reset_index().set_index(["id", "wave"])["index"]
            pos = first.reindex(pd.MultiIndex.from_arrays([keyframe["id"][dup], keyframe["wave"][dup]])).to_numpy()
            txt = np.full(n, None, dtype=object)
            txt[dup] = [f"same {id_col} and wave as {files[file_idx[p]].source} row {raw_rows[p]} (kept)"
                        for p in pos]
            reject(dup, "duplicate", id_col, txt)
    if profile is not None and "neighbourhood" in values:
        nb = values["neighbourhood"]
        known = np.isin(nb.astype(object), np.array(profile.codes, dtype=object))
        reject((status["neighbourhood"] == OK) & ~known, "unknown_neighbourhood", "neighbourhood",
               f"expected one of the profile's codes {profile.codes[:12]}{'…' if len(profile.codes) > 12 else ''}")
    if "age" in values:
        age = values["age"]
        with np.errstate(invalid="ignore"):
            bad = (status["age"] == OK) & ((age < codebook.AGE_MIN) | (age > codebook.AGE_MAX))
        reject(bad, "impossible_age", "age", f"expected {codebook.AGE_MIN}-{codebook.AGE_MAX}")
    for cb in mapped:
        if cb in status:
            reject(status[cb] == BAD_DATE, "invalid_date", cb,
                   f"expected a date like {dt.date(2014, 10, 31).strftime(spec.files[0].date_format or '%Y-%m-%d')}")
    if profile is not None and name == "residents" and "interview_date" in values and "wave" in values:
        d = values["interview_date"].astype("datetime64[us]")
        outside = np.zeros(n, dtype=bool)
        for w, win in profile.waves.items():
            lo, hi = np.datetime64(win.start, "us"), np.datetime64(win.end, "us")
            inw = values["wave"] == w
            outside |= inw & (status["interview_date"] == OK) & ((d < lo) | (d > hi))
        texts = np.array([f"{w} fieldwork {win.start}..{win.end}" for w, win in profile.waves.items()], dtype=object)
        txt = np.full(n, None, dtype=object)
        for w, t in zip(profile.waves, texts):
            txt[values["wave"] == w] = t
        reject(outside, "date_outside_wave", "interview_date", txt)
    for cb in mapped:
        reject(status[cb] == INVALID, "invalid_value", cb)
    for v in codebook.variables(name):
        if v.name in values and v.range is not None and v.kind in ("int", "float") and v.name != "age":
            x = values[v.name]
            with np.errstate(invalid="ignore"):
                bad = (status[v.name] == OK) & ((x < v.range[0]) | (x > v.range[1]))
            reject(bad, "out_of_range", v.name, f"expected {v.range[0]:g}-{v.range[1]:g}")
    return _Rows(n, file_idx, mapped, values, status, raw_rows, reason, rcol, detail, free)


def _text_and_bool(kept: pd.DataFrame, name: str) -> pd.DataFrame:
    """Text and category columns as ``str``, yes/no columns as ``boolean`` (before enforce_dtypes)."""
    for v in codebook.variables(name):
        if v.kind == "bool" and v.name in kept:
            kept[v.name] = pd.array(kept[v.name].tolist(), dtype="boolean")
        elif v.kind in ("str", "category") and v.name in kept:
            kept[v.name] = kept[v.name].astype("str")
    return kept


def _rejected_frame(city: str, name: str, spec: DatasetSpec, files: list[_FileData], raw_rows: np.ndarray,
                    reason: np.ndarray, rcol: np.ndarray, detail: np.ndarray, rejected_mask: np.ndarray,
                    id_col: str | None, pseudo_arr: np.ndarray | None) -> pd.DataFrame:
    """One row per rejected raw row (:data:`REJECTED_COLUMNS`), the raw id replaced by ``pseudo_arr``."""
    rej_rows = []
    id_raw = spec.columns.get(id_col) if id_col else None
    offset = 0
    for fd in files:
        local = np.flatnonzero(rejected_mask[offset:offset + len(fd.raw)])
        raw_names = [c for c in fd.raw.columns if c not in ("source_file", "raw_row_number")]
        records = fd.raw.iloc[local][raw_names].to_dict("records")
        for j, rec in zip(local, records):
            i = offset + j
            cb = rcol[i]
            rc = spec.columns.get(cb) if cb else None
            rc = rc if rc in rec else None
            pseudo = pseudo_arr[i] if id_col else None
            raw_vals = {c: raw_text(x) for c, x in rec.items()}
            if id_raw is not None:
                raw_vals[id_raw] = pseudo
            if reason[i] == "malformed_row":
                # a damaged record's fields may be shifted: a mapped column can hold the
                # content of an unmapped one (a name), so none of its values are copied
                raw_vals = {}
            if cb == id_col:
                val = pseudo
            elif cb == "wave" and (rc is None or fd.spec.wave is not None):
                val = fd.spec.wave
            else:
                val = raw_text(rec[rc]) if rc else None
            rej_rows.append({"city": city, "dataset": name, "source_file": fd.source,
                             "raw_row_number": int(raw_rows[i]), "reason": reason[i], "column": rc,
                             "codebook_column": cb, "value": val, "detail": detail[i],
                             "raw_values": json.dumps(raw_vals, ensure_ascii=False, sort_keys=True)})
        offset += len(fd.raw)
    return pd.DataFrame(rej_rows, columns=list(REJECTED_COLUMNS))


def _stop_on_unknown_labels(files, owner: str, name: str, spec: DatasetSpec) -> None:
    """Raise on the first label the mapping does not know (strict mode); wave is checked per row."""
    for fd in files:
        for cb, col in fd.cols.items():
            if cb != "wave" and _unknown(fd, cb).any():
                _raise_unknown(owner, name, spec, fd, cb)


# ------------------------------------------------------------------------ mass loss
#: where to look when most rows of a unit are rejected for one reason (profile keys first)
_LOSS_HINTS = {
    "invalid_date": "the file's date_format against its dates",
    "unknown_neighbourhood": "the file's neighbourhood codes against neighbourhoods and values.neighbourhood",
    "unmapped_wave": "values.wave (or the file's wave:)",
    "date_outside_wave": "the waves' fieldwork windows",
    "missing_required": "the columns mapping and missing labels",
    "missing_id": "the id column in columns",
}


def _over_share(rejected: int, n: int, share: float) -> bool:
    """``rejected / n > share``, exactly: the profile's decimal share, not its nearest float."""
    return n > 0 and Fraction(rejected, n) > Fraction(str(share))


def _loss_checks(profile: CityProfile, name: str, files: list[_FileData], rows: _Rows) -> list[dict]:
    """Kept and rejected rows of every file, and of every wave, pilot or comparison area and
    targeted group of the residents, each with the threshold it breaks (``problem``) or None.

    A unit is counted by the rows whose value places them in it (a row rejected as
    ``unknown_neighbourhood`` belongs to no area), so an area or group whose raw values were
    all unreadable shows as having no row at all.
    """
    q = profile.quality
    free, reason = rows.free, rows.reason
    checks: list[dict] = []

    def add(kind: str, unit: str, mask: np.ndarray, min_kept: int, in_waves: bool = False,
            hint: str | None = None) -> None:
        n = int(mask.sum())
        kept = int((mask & free).sum())
        by_reason = pd.Series(reason[mask & ~free], dtype=object).value_counts()
        by_reason = {str(k): int(c) for k, c in sorted(by_reason.items(), key=lambda kc: (-kc[1], kc[0]))}
        problems = []
        if _over_share(n - kept, n, q.max_rejected_share):
            why = ", ".join(f"{r} {c}" for r, c in by_reason.items())
            top = next(iter(by_reason), None)
            look = f"; check {_LOSS_HINTS[top]}" if top in _LOSS_HINTS else ""
            problems.append(f"{n - kept} of {n} rows rejected ({(n - kept) / n:.0%}, more than "
                            f"{q.max_rejected_share:.0%}; {why}{look})")
        if in_waves and "wave" in rows.values:
            for w in codebook.WAVES:
                k_w = int((mask & free & (rows.values["wave"] == w)).sum())
                if k_w < min_kept:
                    problems.append(f"{k_w} rows kept in wave {w} (at least {min_kept} needed)")
        elif kept < min_kept:
            problems.append(f"{kept} rows kept (at least {min_kept} needed)")
        if problems and n == 0:
            problems.insert(0, "no raw row belongs to it" + (f" ({hint})" if hint else ""))
        checks.append({"dataset": name, "kind": kind, "unit": unit, "raw_rows": n, "kept": kept,
                       "rejected": n - kept, "rejected_by_reason": by_reason,
                       "problem": "; ".join(problems) or None})

    for i, fd in enumerate(files):
        add("file", fd.source, rows.file_idx == i, 1)
    if name != "residents":
        return checks
    values, status = rows.values, rows.status
    if "wave" in values:
        for w in codebook.WAVES:
            add("wave", w, (status["wave"] == OK) & (values["wave"] == w), 1)
    if "neighbourhood" in values:
        n_unknown = int((reason == "unknown_neighbourhood").sum())
        hint = (f"{n_unknown} rows were rejected as unknown_neighbourhood: check the file's codes"
                if n_unknown else "no row of the files names this code")
        nb_ok = status["neighbourhood"] == OK
        for kind, codes in (("pilot area", profile.pilot.pilot_areas),
                            ("comparison area", profile.pilot.comparison_areas)):
            for code in codes:
                add(kind, code, nb_ok & (values["neighbourhood"] == code), q.min_kept_per_area,
                    in_waves=True, hint=hint)
    for g in profile.pilot.targeted_groups:
        tg = codebook.TARGET_GROUPS[g]
        if tg.column == "age_group" and "age" in values:
            age = pd.Series(np.where(status["age"] == OK, values["age"], np.nan), dtype="float64")
            member = (codebook.age_group(age) == tg.value).fillna(False).to_numpy(dtype=bool)
        elif tg.column in values:
            member = (status[tg.column] == OK) & (values[tg.column] == tg.value)
        else:
            member = np.zeros(rows.n, dtype=bool)
        col = "age" if tg.column == "age_group" else tg.column
        hint = None if col in values else f"{name}.columns does not map {col!r}"
        add("targeted group", g, member, q.min_kept_per_group, in_waves=True, hint=hint)
    return checks


def check_losses(city: str, checks: list[dict], quality: Quality) -> None:
    """Stop the city when a file, wave, area or targeted group lost too many rows.

    Parameters
    ----------
    city : str
    checks : list of dict
        The checks of :func:`_loss_checks` (also written to the cleaning log).
    quality : Quality
        The thresholds (``profile.quality``), named in the message.

    Raises
    ------
    DataLossError
        Listing every check with a problem, its counts and rejections by reason.
    """
    bad = [c for c in checks if c["problem"]]
    if not bad:
        return
    lines = [f"{city}: cleaning stopped: {len(bad)} part(s) of the data are empty or mostly rejected "
             f"(thresholds: profile key quality, documented in config/cities/README.md; "
             f"max_rejected_share={quality.max_rejected_share:g}, min_kept_per_area={quality.min_kept_per_area}, "
             f"min_kept_per_group={quality.min_kept_per_group})"]
    for c in bad:
        unit = f"file {c['unit']}" if c["kind"] == "file" else f"{c['kind']} {c['unit']!r}"
        lines.append(f"  {c['dataset']} {unit}: {c['problem']}")
    lines.append("Fix the profile or the files; to accept the loss, change quality.<threshold> and give "
                 "quality.reason in the profile.")
    raise DataLossError("\n".join(lines))


def _clean_dataset(profile: CityProfile, name: str, spec: DatasetSpec, key: bytes, strict: bool,
                   folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[dict], dict, list[dict]]:
    maps = label_maps(spec, name)
    files = [_read_and_convert(profile, name, spec, fs, maps, folder) for fs in spec.files]
    if strict:
        _stop_on_unknown_labels(files, f"the profile of {profile.city}", name, spec)

    rows = check_rows(profile, name, spec, files)
    n, file_idx, mapped, values, status, raw_rows, reason, rcol, detail, free = rows.astuple()
    id_col = _id_column(name)
    losses = _loss_checks(profile, name, files, rows)
    if not free.any():
        # nothing to build a frame from: stop here, before the empty frame meets the schema
        check_losses(profile.city, losses, profile.quality)

    rejected_mask = ~free
    kept_mask = free

    # ---- kept rows in codebook form
    ids_pseudo = None
    if id_col:
        ids_pseudo = pseudonymise(pd.Series(values[id_col], dtype=object), key, profile.city, PREFIXES[name])
    sources = np.array([fd.source for fd in files], dtype=object)[file_idx]
    data: dict[str, Any] = {"city": profile.city, "source_file": sources[kept_mask],
                            "raw_row_number": raw_rows[kept_mask]}
    for cb in mapped:
        data[cb] = ids_pseudo.to_numpy(dtype=object)[kept_mask] if cb == id_col else values[cb][kept_mask]
    kept = pd.DataFrame(data)
    if name == "residents":
        kept["age_group"] = codebook.age_group(kept["age"]) if "age" in kept else pd.NA
        kept["pilot_area"] = kept["neighbourhood"].map({c: profile.area_type(c) for c in profile.codes})
        for v in codebook.variables(name):
            if v.name not in kept and v.kind in ("int", "float"):
                kept[v.name] = pd.Series(np.nan, index=kept.index, dtype="Float64")
        kept = codebook.compute_indices(kept)
    kept = codebook.enforce_dtypes(_text_and_bool(kept, name), name)[codebook.columns(name)]
    try:
        codebook.pandera_schema(name).validate(kept, lazy=True)
    except Exception as exc:  # the row checks above should make this impossible
        raise RuntimeError(f"{profile.city} {name}: cleaned data fail the codebook schema, "
                           f"a bug in the cleaning rules: {exc}") from exc

    # ---- rejected rows (mapped raw columns only, raw id pseudonymised)
    pseudo_arr = ids_pseudo.to_numpy(dtype=object, na_value=None) if id_col else None
    rejected = _rejected_frame(profile.city, name, spec, files, raw_rows, reason, rcol, detail,
                               rejected_mask, id_col, pseudo_arr)

    # ---- reconciliation and log
    logs = []
    for i, fd in enumerate(files):
        in_file = file_idx == i
        n_raw = int(in_file.sum())
        n_kept = int((in_file & kept_mask).sum())
        by_reason = pd.Series(reason[in_file & rejected_mask]).value_counts().sort_index()
        n_rej = int(by_reason.sum())
        if n_raw != len(fd.raw) or n_raw != n_kept + n_rej:
            raise RuntimeError(f"{profile.city} {name} {fd.source}: reconciliation failed: "
                               f"{len(fd.raw)} raw rows, {n_kept} kept + {n_rej} rejected")
        logs.append({"dataset": name, "source_file": fd.source, "path": fd.spec.path, "format": fd.spec.format,
                     "sha256": sha256_file(fd.path, length=64), "raw_rows": n_raw, "kept": n_kept,
                     "rejected": n_rej, "rejected_by_reason": {str(k): int(c) for k, c in by_reason.items()}})
    if len(kept) + len(rejected) != n:
        raise RuntimeError(f"{profile.city} {name}: reconciliation failed: {n} raw rows, "
                           f"{len(kept)} kept + {len(rejected)} rejected")
    missingness = {}
    for v in codebook.variables(name):
        if v.role == "provenance" or v.name in (id_col,):
            continue
        if v.name in status:
            st = status[v.name][kept_mask]
            blank, dk = int((st == BLANK).sum()), int((st == DK).sum())
            missingness[v.name] = {"collected": True, "n": int(kept_mask.sum()), "blank": blank,
                                   "dont_know": dk, "missing": int(kept[v.name].isna().sum()),
                                   "missing_share": round(float(kept[v.name].isna().mean()), 6) if len(kept) else None}
        else:
            derived = v.role == "derived" or v.name in ("age_group", "pilot_area")
            missingness[v.name] = {"collected": "derived" if derived else False,
                                   "n": len(kept), "blank": None, "dont_know": None,
                                   "missing": int(kept[v.name].isna().sum()),
                                   "missing_share": round(float(kept[v.name].isna().mean()), 6) if len(kept) else None}
    return kept, rejected, logs, missingness, losses


# ----------------------------------------------------------------------- one table
def check_table_spec(spec: DatasetSpec, dataset: str = "residents", *, key_prefix: str = "") -> None:
    """Check a :class:`DatasetSpec` used on its own (no city profile) by :func:`clean_table`.

    Raises
    ------
    ProfileError
        Naming the key (``key_prefix`` + ``columns``/``values``…): a column that is not a
        mappable codebook column of ``dataset``, values for an unmapped column, a value the
        codebook does not allow, two labels equal once normalised but mapped differently.
    """
    if dataset not in codebook.DATASETS:
        raise ValueError(f"dataset {dataset!r}: expected one of {list(codebook.DATASETS)}")
    problem = unmappable_columns(spec, dataset)
    if problem:
        raise ProfileError(f"key {key_prefix}{problem}")
    label_maps(spec, dataset, key_prefix=key_prefix)


def clean_table(spec: DatasetSpec, frame_or_folder: pd.DataFrame | str | Path, *, dataset: str = "residents",
                source: str = "ESSBE5", strict: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean one delivered table with a :class:`DatasetSpec`, without a city profile.

    The same code as :func:`clean_city` for a city's dataset: map columns, normalise
    labels, map values, don't-know labels (``spec.missing``) and numeric don't-know codes
    (``spec.item_missing``, rating items only, outside the item's range) to missing,
    types, then the row checks of :data:`REASONS` in order. What needs a city is skipped:
    ``unknown_neighbourhood`` and ``date_outside_wave`` are not tested, no ``pilot_area``,
    no indices, and identifiers are kept as delivered (trimmed text), not pseudonymised.

    Parameters
    ----------
    spec : DatasetSpec
        Columns, values, missing and item_missing as in a city profile.
    frame_or_folder : pandas.DataFrame or path
        A raw frame (one table; ``spec.files`` must hold exactly one entry, whose reading
        options – decimal, thousands, date_format, wave – apply), or the folder holding
        ``spec.files``, read by :func:`analysis.inputs.readers.read_file` as a city's files are.
    dataset : str, default "residents"
        Codebook dataset.
    source : str, default "ESSBE5"
        ``source_file`` of the rows of a frame (files keep their file name); also the
        ``city`` column of the rejected rows.
    strict : bool, default True
        An unknown label raises :class:`UnknownLabelError`; with False the row is
        rejected with reason ``unknown_label``.

    Returns
    -------
    kept : pandas.DataFrame
        The mapped codebook columns (plus ``age_group`` derived from ``age`` for
        residents), ``source_file`` and ``raw_row_number`` (for a frame: 1-based row
        position), in codebook order and dtypes.
    rejected : pandas.DataFrame
        One row per rejected raw row, columns :data:`REJECTED_COLUMNS`.
        raw rows = kept + rejected is checked.
    """
    check_table_spec(spec, dataset)
    maps = label_maps(spec, dataset, key_prefix="")
    if isinstance(frame_or_folder, pd.DataFrame):
        if len(spec.files) != 1:
            raise ProfileError(f"key files: cleaning one frame needs exactly one files entry (its reading "
                               f"options apply), got {len(spec.files)}")
        fs = spec.files[0].model_copy(update={"path": source, "sheet": None})

        raw = finish_frame(frame_or_folder.copy(), fs, np.arange(len(frame_or_folder), dtype="int64") + 1)
        files = [convert_file(None, dataset, spec, fs, maps, raw, Path(source))]
    else:
        folder = Path(frame_or_folder)
        files = [convert_file(None, dataset, spec, fs, maps, read_file(fs, folder), folder / fs.path)
                 for fs in spec.files]
    if strict:
        _stop_on_unknown_labels(files, f"the {source} spec", dataset, spec)

    n, file_idx, mapped, values, status, raw_rows, reason, rcol, detail, free = (
        check_rows(None, dataset, spec, files).astuple())
    sources = np.array([fd.source for fd in files], dtype=object)[file_idx]
    data: dict[str, Any] = {"source_file": sources[free], "raw_row_number": raw_rows[free]}
    for cb in mapped:
        data[cb] = values[cb][free]
    kept = pd.DataFrame(data)
    if dataset == "residents" and "age" in kept:
        kept["age_group"] = codebook.age_group(kept["age"])
    present = [c for c in codebook.columns(dataset) if c in kept.columns]
    kept = codebook.enforce_dtypes(_text_and_bool(kept, dataset), dataset)[present]

    id_col = _id_column(dataset)
    id_col = id_col if id_col in values else None
    rejected = _rejected_frame(source, dataset, spec, files, raw_rows, reason, rcol, detail, ~free, id_col,
                               values[id_col] if id_col else None)
    rejected = (rejected.astype({c: "str" for c in REJECTED_COLUMNS if c != "raw_row_number"})
                .astype({"raw_row_number": "Int64"}))
    for fd in files:
        n_kept = int((kept["source_file"] == fd.source).sum())
        n_rej = int((rejected["source_file"] == fd.source).sum())
        if n_kept + n_rej != len(fd.raw):
            raise RuntimeError(f"{source} {dataset} {fd.source}: reconciliation failed: {len(fd.raw)} raw rows, "
                               f"{n_kept} kept + {n_rej} rejected")
    if len(kept) + len(rejected) != n:
        raise RuntimeError(f"{source} {dataset}: reconciliation failed: {n} raw rows, "
                           f"{len(kept)} kept + {len(rejected)} rejected")
    return kept, rejected


# ----------------------------------------------------------------------------- city
def _profile_checksum(profile: CityProfile) -> dict:
    path = PATHS.profile(profile.city)
    content = hashlib.sha256(profile.model_dump_json().encode("utf-8")).hexdigest()
    return {"file": str(path.relative_to(PATHS.root)) if path.is_file() else None,
            "file_sha256": sha256_file(path, length=64) if path.is_file() else None,
            "content_sha256": content}


def clean_city(profile: CityProfile, *, key: bytes, strict: bool = True,
               raw_dir: str | Path | None = None) -> CleanResult:
    """Clean every raw file of one city into the codebook.

    Parameters
    ----------
    profile : CityProfile
        The city profile (:func:`analysis.inputs.profile.load_profile`).
    key : bytes
        Pseudonymisation key (:func:`analysis.inputs.pseudonymise.load_key`).
    strict : bool, default True
        An unknown label raises :class:`UnknownLabelError`; with False the row is
        rejected with reason ``unknown_label``.
    raw_dir : path, optional
        Folder of the raw files; default ``data/raw/<city>``.

    Returns
    -------
    CleanResult

    Raises
    ------
    ProfileError
        The profile cannot drive the cleaning (see :func:`check_profile`).
    RawDataError
        A file is missing, empty, unreadable, in another encoding or lacks a mapped column.
    UnknownLabelError
        ``strict`` and a label the profile does not know.
    """
    check_profile(profile)
    folder = Path(raw_dir) if raw_dir is not None else profile.raw_dir()
    out: dict[str, pd.DataFrame] = {}
    rejected, files, missingness, losses = [], [], {}, []
    for name in codebook.DATASETS:
        spec = profile.dataset(name)
        if spec is None:
            out[name] = codebook.enforce_dtypes(codebook.empty_frame(name), name)
            continue
        kept, rej, logs, miss, loss = _clean_dataset(profile, name, spec, key, strict, folder)
        out[name] = kept
        rejected.append(rej)
        files.extend(logs)
        missingness[name] = miss
        losses.extend(loss)
    # every dataset first, so that the error lists all the losses of the city at once
    check_losses(profile.city, losses, profile.quality)
    rej = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(columns=list(REJECTED_COLUMNS))
    rej = rej.astype({c: "str" for c in REJECTED_COLUMNS if c != "raw_row_number"}).astype({"raw_row_number": "Int64"})
    totals = {name: {"raw": sum(f["raw_rows"] for f in files if f["dataset"] == name),
                     "kept": sum(f["kept"] for f in files if f["dataset"] == name),
                     "rejected": sum(f["rejected"] for f in files if f["dataset"] == name)}
              for name in codebook.DATASETS if profile.dataset(name) is not None}
    log = {"city": profile.city, "synthetic": profile.synthetic,
           "data_status": SYNTHETIC_NOTE if profile.synthetic else "real data (confidential)",
           "analysis_version": __version__, "strict": strict, "profile": _profile_checksum(profile),
           "key_fingerprint": key_fingerprint(key), "reasons": REASONS,
           "neighbourhoods": list(profile.codes), "files": files,
           "totals": totals, "missingness": missingness,
           "quality": {**profile.quality.model_dump(), "checks": losses},
           "outputs": {OUTPUT_NAMES[n]: int(len(out[n])) for n in out} | {"rejected": int(len(rej))}}
    return CleanResult(profile.city, profile.synthetic, out["residents"], out["officers"], out["activities"],
                       rej, log)


def write_outputs(result: CleanResult, folder: str | Path | None = None) -> dict[str, Path]:
    """Write a :class:`CleanResult` atomically to ``data/processed/<city>/``.

    Returns
    -------
    dict
        ``{output name: path}``; the log gets the output checksums.
    """
    folder = Path(folder) if folder is not None else PATHS.processed_city(result.city)
    paths = {}
    for name, fname in OUTPUT_NAMES.items():
        df = result.dataset(name)
        df.attrs = {"data_status": result.log["data_status"]}
        paths[fname] = write_parquet(df, folder / f"{fname}.parquet")
    paths["rejected"] = write_parquet(result.rejected, folder / "rejected.parquet")
    result.log["output_sha256"] = {k: sha256_file(p, length=64) for k, p in paths.items()}
    paths["cleaning_log"] = write_json(folder / "cleaning_log.json", result.log)
    return paths


def run_cleaning(city: str, *, strict: bool = True) -> CleanResult:
    """Load the profile and key of ``city``, clean it and write the outputs.

    Outputs in ``data/processed/<city>/``: ``respondents.parquet``, ``officers.parquet``,
    ``activities.parquet``, ``rejected.parquet`` and ``cleaning_log.json``.
    """
    profile = load_profile(city)
    result = clean_city(profile, key=load_key(profile), strict=strict)
    write_outputs(result)
    return result


# ----------------------------------------------------------------- notebook tables
def _suppress(counts: pd.DataFrame, k: int) -> pd.DataFrame:
    # Published form (analysis.publishing.disclosure): 1 to k-1 as "<k", the rest rounded to base 10,
    # so that no exact total elsewhere minus these gives back a hidden count.

    return counts.map(lambda c: str(publish_count(c, k=k, marker=f"<{k}")))


def summary_tables(result: CleanResult, k: int = K_SUPPRESS) -> dict[str, pd.DataFrame]:
    """Data-quality tables for the end of the cleaning notebook.

    Returns
    -------
    dict of pandas.DataFrame
        ``rows``: per file, raw rows, kept, rejected and one column per rejection reason;
        ``missingness``: per residents item, blank / don't-know / missing counts and share;
        ``coverage``: respondents by neighbourhood (rows) and wave (columns), counts from
        1 to ``k - 1`` shown as "<k", the others rounded to base 10 (:mod:`analysis.publishing.disclosure`);
        ``reliability``: Cronbach's α of each index per wave (:func:`codebook.reliability`).
    """
    files = pd.DataFrame(result.log["files"])
    if len(files):
        reasons = pd.DataFrame(list(files["rejected_by_reason"])).fillna(0).astype(int)
        reasons = reasons[[r for r in REASONS if r in reasons.columns]]
        rows = pd.concat([files[["dataset", "source_file", "raw_rows", "kept", "rejected"]], reasons], axis=1)
    else:
        rows = pd.DataFrame(columns=["dataset", "source_file", "raw_rows", "kept", "rejected"])
    miss = result.log["missingness"].get("residents", {})
    missingness = pd.DataFrame([{"variable": c, **m} for c, m in miss.items()])
    resp = result.respondents
    nb = [c for c in result.log.get("neighbourhoods", [])] or None
    counts = pd.crosstab(resp["neighbourhood"], resp["wave"]).reindex(columns=list(codebook.WAVES), fill_value=0)
    if nb:
        counts = counts.reindex(nb, fill_value=0)
    coverage = _suppress(counts, k)
    coverage.index.name, coverage.columns.name = "neighbourhood", "wave"
    rel = codebook.reliability(resp) if len(resp) else pd.DataFrame(columns=["city", "wave", "index", "items", "n_complete", "alpha"])
    return {"rows": rows, "missingness": missingness, "coverage": coverage, "reliability": rel}


def rejection_counts(result: CleanResult) -> pd.DataFrame:
    """Rejected rows by dataset, reason and column, in published form (no row-level detail).

    The published notebook shows these counts instead of a sample of rejected rows: a
    sample would show raw values (a name typed in a neighbourhood or date column), raw row
    numbers, interview dates and pseudonyms equal to those of kept respondents.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``reason``, ``column``, ``rejected``; ``rejected`` from 1 to 9
        shown as "<10", the others rounded to base 10 (:func:`analysis.publishing.sdc.publish_count`).
    """

    rej = result.rejected
    cols = ["dataset", "reason", "column"]
    if rej is None or len(rej) == 0:
        return pd.DataFrame(columns=[*cols, "rejected"])
    counts = (rej[cols].astype(object).fillna("").groupby(cols, sort=True).size()
              .rename("rejected").reset_index())
    counts["rejected"] = counts["rejected"].map(publish_count).astype(object)
    return counts


# ------------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.inputs.clean CITY [CITY…]``: clean, write outputs, print a summary."""
    parser = argparse.ArgumentParser(prog="python -m analysis.inputs.clean", description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+", metavar="CITY", help="city slug(s), or 'all'")
    parser.add_argument("--lenient", action="store_true",
                        help="reject rows with unknown labels instead of stopping (strict=False)")
    args = parser.parse_args(argv)

    cities = list_cities() if args.cities == ["all"] else args.cities
    status = 0
    for city in cities:
        try:
            res = run_cleaning(city, strict=not args.lenient)
        except (ProfileError, RawDataError, DataLossError, RuntimeError) as exc:
            print(f"{city}: FAILED: {exc}", file=sys.stderr)
            status = 1
            continue
        tag = " [SYNTHETIC]" if res.synthetic else ""
        print(f"{city}{tag}: " + ", ".join(f"{OUTPUT_NAMES[n]} {t['kept']}/{t['raw']} kept"
                                           for n, t in res.log["totals"].items())
              + f"; {len(res.rejected)} rejected -> {PATHS.processed_city(city)}")
        for f in res.log["files"]:
            reasons = ", ".join(f"{r} {c}" for r, c in f["rejected_by_reason"].items()) or "none"
            print(f"  {f['source_file']}: {f['raw_rows']} raw = {f['kept']} kept + {f['rejected']} rejected ({reasons})")
    return status


if __name__ == "__main__":
    sys.exit(main())
