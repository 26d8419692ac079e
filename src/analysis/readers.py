"""Read raw city files (CSV, XLSX, SPSS .sav, Stata .dta) without silent coercion.

Every reader returns the file's columns as raw values: CSV cells as text exactly as
written (decimal commas, leading zeros, "NSP" and stray spaces all kept), XLSX cells as
the value the spreadsheet stores (text, number or date), SPSS/Stata values as stored or,
with ``value_labels: true``, as their value labels. Interpreting those values is the
cleaning step's job (:mod:`analysis.clean`), where every decision is recorded.

Two provenance columns are added to every frame:

``source_file``
    The file name as given in the profile; for a workbook sheet, ``"<file>[<sheet>]"``
    so that two sheets of one workbook never share row numbers.
``raw_row_number``
    Where a person opening the file would find the row:

    - CSV: the **line number** in a text editor (1-based, counting the ``skiprows``
      title lines and the header line, so the first data row of a plain CSV is 2; a
      record with a quoted line break is numbered by its first line);
    - XLSX: the spreadsheet **row number** shown in Excel/LibreOffice (header row
      included; wholly blank rows are not records and are skipped, but keep their number
      from being reused);
    - SPSS / Stata: the **case number** shown in the Data View / Data Editor (1-based,
      the header is not a row).

Problems with the file itself raise :class:`RawDataError`, whose message names the
file, and where they apply the row, column, value and what was expected.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .profile import FileSpec

#: Names of the provenance columns added by :func:`read_file`.
PROVENANCE = ("source_file", "raw_row_number")


class RawDataError(ValueError):
    """A raw file cannot be read or holds a value the profile cannot interpret.

    Parameters
    ----------
    file : str
        File name (as in the profile) or path.
    row : int, optional
        ``raw_row_number`` of the offending row (see the module docstring).
    column : str, optional
        Raw column name.
    value : object, optional
        The offending raw value.
    expected : str, optional
        What was expected instead.
    problem : str, optional
        What is wrong, in words; defaults to "invalid value".
    """

    def __init__(self, file: str | Path, row: int | None = None, column: str | None = None,
                 value: Any = None, expected: str | None = None, problem: str | None = None):
        self.file = str(file)
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        self.problem = problem or "invalid value"
        super().__init__(self._message())

    def _message(self) -> str:
        where = [f"file {self.file}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        msg = ", ".join(where) + f": {self.problem}"
        if self.expected:
            msg += f"; expected {self.expected}"
        return msg


# ----------------------------------------------------------------------------- helpers
def source_name(spec: FileSpec) -> str:
    """The ``source_file`` value of rows read through ``spec``."""
    if spec.format == "xlsx" and spec.sheet is not None:
        return f"{spec.path}[{spec.sheet}]"
    return spec.path


def _check_file(spec: FileSpec, path: Path) -> None:
    if not path.is_file():
        folder = path.parent
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise RawDataError(spec.path, problem=f"no such file {path}",
                           expected=f"one of the files in {folder}: {found}" if found
                           else f"the folder {folder} to hold the city's raw files")
    if path.stat().st_size == 0:
        raise RawDataError(spec.path, problem=f"the file {path} is empty (0 bytes)",
                           expected=f"a {spec.format} file with a header and data rows")


def _no_rows(spec: FileSpec, columns: list[str]) -> RawDataError:
    return RawDataError(source_name(spec), problem=f"the file has no data rows (columns found: {columns})",
                        expected="at least one data row")


def _finish(df: pd.DataFrame, spec: FileSpec, rows: np.ndarray) -> pd.DataFrame:
    if len(df) == 0:
        raise _no_rows(spec, [str(c) for c in df.columns])
    clash = [c for c in PROVENANCE if c in df.columns]
    if clash:
        raise RawDataError(source_name(spec), column=clash[0],
                           problem="the raw file already has a column with this reserved name",
                           expected="raw columns other than " + ", ".join(PROVENANCE))
    df = df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    df["source_file"] = source_name(spec)
    df["raw_row_number"] = np.asarray(rows, dtype="int64")
    return df


def _decode(spec: FileSpec, data: bytes) -> str:
    """Decode CSV bytes with the declared encoding, pointing at the first bad byte."""
    try:
        text = data.decode(spec.encoding)
    except LookupError:
        raise RawDataError(spec.path, value=spec.encoding, problem="unknown encoding in the profile",
                           expected="a Python codec name such as utf-8, utf-8-sig, latin-1, cp1252") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.end]
        context = data[line_start:exc.start + 12].decode(spec.encoding, errors="replace")
        raise RawDataError(
            spec.path, row=line, value=bad,
            problem=(f"byte {bad!r} at byte offset {exc.start} (line {line}, character "
                     f"{exc.start - line_start + 1}, near {context!r}) is not valid {spec.encoding}"),
            expected=("text in the declared encoding; the file is probably Latin-1 or cp1252: "
                      "set `encoding: latin-1` (or cp1252) for this file in the city profile"),
        ) from None
    if spec.encoding.lower().replace("_", "-") in ("latin-1", "latin1", "iso-8859-1", "cp1252", "windows-1252"):
        _check_not_utf8(spec, data)
    # A byte-order mark is harmless; keeping it would rename the first column.
    return text[1:] if text.startswith("\ufeff") else text


def _check_not_utf8(spec: FileSpec, data: bytes) -> None:
    """A file declared Latin-1 that is valid UTF-8 with non-ASCII bytes is UTF-8.

    Decoding UTF-8 as Latin-1 never fails, it silently turns "é" into "Ã©"; genuine
    Latin-1 text practically never forms valid multi-byte UTF-8 sequences.
    """
    if data.isascii():
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    pos = next(i for i, b in enumerate(data) if b >= 0x80)
    line = data.count(b"\n", 0, pos) + 1
    raise RawDataError(spec.path, row=line, value=data[pos:pos + 2],
                       problem=(f"the file is declared {spec.encoding} but is valid UTF-8 "
                                f"(first non-ASCII bytes at byte offset {pos}, line {line}); reading it "
                                f"as {spec.encoding} would garble accented labels"),
                       expected="`encoding: utf-8` (or utf-8-sig) for this file in the city profile")


def _csv_line_numbers(text: str, spec: FileSpec, n_rows: int) -> np.ndarray:
    """Editor line number of the first line of each data record."""
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines - spec.skiprows - 1 == n_rows:
        # One line per record: no blank lines, no quoted line breaks.
        return np.arange(n_rows, dtype="int64") + spec.skiprows + 2
    lines = io.StringIO(text)
    for _ in range(spec.skiprows):
        lines.readline()
    reader = csv.reader(lines, delimiter=spec.delimiter, quotechar='"')
    starts: list[int] = []
    prev = 0
    header_seen = False
    for record in reader:
        start = prev + 1
        prev = reader.line_num
        if not record or all(not c.strip() for c in record) and len(record) == 1:
            continue  # blank line: pandas skips it too
        if not header_seen:
            header_seen = True
            continue
        starts.append(start + spec.skiprows)
    if len(starts) != n_rows:
        raise RawDataError(spec.path, problem=(f"cannot align rows with file lines ({n_rows} records parsed, "
                                               f"{len(starts)} found line by line)"),
                           expected="a well-formed CSV (check quotes and the delimiter)")
    return np.asarray(starts, dtype="int64")


# ----------------------------------------------------------------------------- readers
def _read_csv(spec: FileSpec, path: Path) -> pd.DataFrame:
    text = _decode(spec, path.read_bytes())
    if not text.strip():
        raise RawDataError(spec.path, problem="the file holds only blank lines", expected="a header and data rows")
    try:
        df = pd.read_csv(io.StringIO(text), sep=spec.delimiter, skiprows=spec.skiprows, dtype=str,
                         keep_default_na=False, na_filter=False, quotechar='"', engine="c")
    except pd.errors.EmptyDataError:
        raise RawDataError(spec.path, problem="no header line after the skipped rows",
                           expected=f"a header on line {spec.skiprows + 1}") from None
    except pd.errors.ParserError as exc:
        raise RawDataError(spec.path, problem=f"not a readable CSV file: {exc}",
                           expected=f"fields separated by {spec.delimiter!r}") from None
    rows = _csv_line_numbers(text, spec, len(df)) if len(df) else np.array([], dtype="int64")
    if len(df.columns) == 1 and len(df):
        head = str(df.columns[0])
        guess = next((d for d in (";", ",", "\t", "|") if d != spec.delimiter and d in head), None)
        if guess:
            raise RawDataError(spec.path, row=spec.skiprows + 1, value=head[:80],
                               problem=f"the header has a single column when split on {spec.delimiter!r}",
                               expected=f"`delimiter: {guess!r}` in the city profile")
    return _finish(df, spec, rows)


def _cell(v: Any) -> Any:
    # openpyxl gives datetime for date cells; keep raw but drop a midnight time part.
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    return v


def _read_xlsx(spec: FileSpec, path: Path) -> pd.DataFrame:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise RawDataError(spec.path, problem=f"unreadable or corrupt workbook ({type(exc).__name__}: {exc})",
                           expected="an .xlsx file saved by Excel or LibreOffice") from None
    try:
        names = wb.sheetnames
        sheet = 0 if spec.sheet is None else spec.sheet
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise RawDataError(spec.path, value=sheet, problem="no sheet with this index",
                                   expected=f"an index below {len(names)} (sheets: {names})")
            ws = wb[names[sheet]]
        else:
            if sheet not in names:
                raise RawDataError(spec.path, value=sheet, problem="no sheet with this name",
                                   expected=f"one of the sheets {names}")
            ws = wb[sheet]
        header: list[Any] | None = None
        records: list[tuple] = []
        rows: list[int] = []
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if number <= spec.skiprows:
                continue
            if header is None:
                header = list(values)
                header_row = number
                continue
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            records.append(values)
            rows.append(number)
    finally:
        wb.close()
    if header is None:
        raise RawDataError(source_name(spec), problem="the sheet is empty",
                           expected=f"a header on row {spec.skiprows + 1}")
    # Trailing empty header cells are formatting, not columns.
    while header and header[-1] is None:
        header.pop()
    width = len(header)
    if any(h is None for h in header):
        col = header.index(None) + 1
        raise RawDataError(source_name(spec), row=header_row, column=f"#{col}",
                           problem="a header cell is empty", expected="a name for every column")
    cols = [str(h).strip() if isinstance(h, str) else str(_cell(h)) for h in header]
    data = {c: [(_cell(r[i]) if i < len(r) else None) for r in records] for i, c in enumerate(cols[:width])}
    df = pd.DataFrame(data, dtype=object, columns=cols)
    return _finish(df, spec, np.asarray(rows))


def _read_stat(spec: FileSpec, path: Path) -> pd.DataFrame:
    import pyreadstat

    fn = pyreadstat.read_sav if spec.format == "sav" else pyreadstat.read_dta
    kw: dict[str, Any] = {"apply_value_formats": spec.value_labels, "formats_as_category": False}
    if spec.format == "sav":
        kw["user_missing"] = True  # keep 77/88/99 user-missing codes visible to the cleaning step
    try:
        df, _meta = fn(str(path), **kw)
    except Exception as exc:  # pyreadstat raises its own ReadstatError/PyreadstatError
        raise RawDataError(spec.path, problem=f"unreadable or corrupt {spec.format} file ({type(exc).__name__}: {exc})",
                           expected=f"a valid {'SPSS' if spec.format == 'sav' else 'Stata'} data file") from None
    df = df.astype(object)
    return _finish(df, spec, np.arange(len(df), dtype="int64") + 1)


def read_file(spec: FileSpec, folder: str | Path) -> pd.DataFrame:
    """Read one raw file as raw values, with ``source_file`` and ``raw_row_number``.

    Parameters
    ----------
    spec : FileSpec
        The file's entry in the city profile (format, encoding, delimiter, sheet…).
    folder : str or pathlib.Path
        The city's raw-data folder (``data/raw/<city>``).

    Returns
    -------
    pandas.DataFrame
        One row per data record, every raw column kept with its raw values (CSV: text
        of dtype ``str``, empty cells as ``""``; other formats: object columns of the
        stored values, empty cells as None/NaN), plus ``source_file`` (str) and
        ``raw_row_number`` (int64; see the module docstring for what it counts).

    Raises
    ------
    RawDataError
        Missing, empty, unreadable or corrupt file; wrong encoding (with the byte offset
        and line); missing sheet; a header but no data rows.
    """
    path = Path(folder) / spec.path
    _check_file(spec, path)
    if spec.format == "csv":
        return _read_csv(spec, path)
    if spec.format == "xlsx":
        return _read_xlsx(spec, path)
    return _read_stat(spec, path)


def check_columns(df: pd.DataFrame, spec: FileSpec, required: dict[str, str]) -> None:
    """Raise if a mapped raw column is absent from a file.

    Parameters
    ----------
    df : pandas.DataFrame
        As returned by :func:`read_file`.
    spec : FileSpec
        The file's profile entry.
    required : dict
        ``{codebook column: raw column}`` the profile maps.

    Raises
    ------
    RawDataError
        Naming the first missing raw column, the codebook column it feeds, the columns
        found, and a close match when there is one (case or spacing differences).
    """
    found = [c for c in df.columns if c not in PROVENANCE]
    missing = [(cb, raw) for cb, raw in required.items() if raw not in df.columns]
    if not missing:
        return
    cb, raw = missing[0]
    near = [c for c in found if c.strip().casefold() == raw.strip().casefold()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    others = f"; also missing: {[r for _, r in missing[1:]]}" if len(missing) > 1 else ""
    raise RawDataError(source_name(spec), column=raw,
                       problem=f"mapped column not found (it feeds codebook column {cb!r}){hint}{others}",
                       expected=f"one of the columns found: {found}")


def is_blank(v: Any) -> bool:
    """True for None, NaN, NaT, pandas NA and empty or whitespace-only text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str):
        return not v.strip()
    return False
