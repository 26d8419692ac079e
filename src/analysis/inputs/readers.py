"""Read raw city files (CSV, XLSX, SPSS .sav, Stata .dta) without silent coercion.

Owns reading raw files (CSV, XLSX, SAV, DTA) as raw values with independent row counts.
Must not interpret values (decimal marks, labels, codes): the cleaning step does.

Every reader returns the file's columns as raw values: CSV cells as text exactly as
written (decimal commas, leading zeros, "NSP" and stray spaces all kept), XLSX cells as
the value the spreadsheet stores (text, number or date), SPSS/Stata values as stored or,
with ``value_labels: true``, as their value labels. Interpreting those values is the
cleaning step's job (:mod:`analysis.inputs.clean`), where every decision is recorded.

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
      from being reused; blank rows above the header are skipped as in a CSV);
    - SPSS / Stata: the **case number** shown in the Data View / Data Editor (1-based,
      the header is not a row).

Readers that count for themselves
---------------------------------
A parser that goes wrong usually still returns a plausible frame: two stray ``"`` in a
free-text column once merged 400 rows of a CSV into one field and every row count
downstream still added up. So each reader checks its records against a count that does
not come from the parser that built the frame:

- **CSV**: the file is split into physical lines by the reader itself (LF, CRLF, or CR
  alone in a classic Mac OS file), parsed record by record with the standard-library
  :mod:`csv` module (strict quoting) while tracking the lines each record spans, which
  must use up every line, and parsed a second time by pandas' C parser; the two
  readings must agree record for record. A record spanning more than
  :data:`MAX_RECORD_LINES` lines, or swallowing a line that has a whole record's worth
  of delimiters, is a stray quote, not a comment: the reader stops and names the line
  where the quote opened.
- **XLSX**: the used rows are counted from the sheet's XML (every row holding a value)
  and compared with the rows openpyxl returns, after resetting the sheet's declared
  dimensions (read-only openpyxl otherwise trusts them and silently stops early).
- **SAV / DTA**: the case count in the file header must equal the cases read.

Row-level damage (a CSV record with too few fields or too many non-empty fields, a
repeated header line, a last line cut without its line break, an XLSX value beyond the
last named column) does not stop the file: the row is kept in the frame with its
position in ``frame.attrs[ROW_PROBLEMS]`` (:func:`row_problems`), and the cleaning step
rejects it with the reason ``malformed_row``, so raw = kept + rejected still holds.

Problems with the file itself raise :class:`RawDataError`, whose message names the
file, and where they apply the line or row, the column and what was expected. Messages
never quote the content of a row: a wrong byte is shown as its hex code, a cell by its
address; only :mod:`analysis.inputs.clean` shows a (truncated) value of a mapped column.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from analysis.inputs.profile import FileSpec

#: Names of the provenance columns added by :func:`read_file`.
PROVENANCE = ("source_file", "raw_row_number")

#: ``frame.attrs`` key of the row-level problems found by the reader
#: (``{row position in the frame: description}``), see :func:`row_problems`.
ROW_PROBLEMS = "reader_row_problems"

#: A CSV record may span at most this many physical lines. Free-text answers exported
#: from survey tools hold a few line breaks at most; a stray quote swallows hundreds.
MAX_RECORD_LINES = 10

#: Longest raw value shown in an error message (values of mapped columns only).
MAX_VALUE_CHARS = 40


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
        The offending raw value; shown truncated to :data:`MAX_VALUE_CHARS` characters.
        Readers never pass row content here (only bytes, codes or cell errors).
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
            shown = repr(self.value)
            if len(shown) > MAX_VALUE_CHARS:
                shown = shown[:MAX_VALUE_CHARS - 1] + "…"
            where.append(f"value {shown}")
        msg = ", ".join(where) + f": {self.problem}"
        if self.expected:
            msg += f"; expected {self.expected}"
        return msg


class UnlabelledCode:
    """An SPSS/Stata code without a value label in a column that has value labels.

    With ``value_labels: true`` a labelled column is read as labels; a code the file
    gives no label to is not safely a number on the codebook's scale (a file coded
    4 = "very unsafe" whose label for 4 is missing would otherwise pass as 4 = "very
    safe"). The cleaning step decides with the profile (:func:`analysis.inputs.clean`): the code
    is a number only when the column's labels are don't-know labels, or labels the
    profile maps to their own code (a 0-10 scale labelled at its ends); otherwise it is
    an unknown label, unless the profile maps the code itself (``values: {col: {"95": …}}``).
    Its text form is the code (``"95"``), so it can be mapped and reported.

    Attributes
    ----------
    code : float
        The stored code.
    labels : tuple of (float, str)
        The column's value labels, (code, label) pairs.
    """

    __slots__ = ("code", "labels")

    def __init__(self, code: float, labels: tuple[tuple[float, str], ...] = ()):
        self.code = float(code)
        self.labels = labels

    def __str__(self) -> str:
        return str(int(self.code)) if self.code.is_integer() else repr(self.code)

    def __repr__(self) -> str:
        return f"<code {self} without value label>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnlabelledCode) and other.code == self.code

    def __hash__(self) -> int:
        return hash(("UnlabelledCode", self.code))


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
    # The only line may be a data row (a headerless file): count the columns, never quote them.
    return RawDataError(source_name(spec), problem=f"the file has no data rows ({len(columns)} column(s) on the header line)",
                        expected="at least one data row")


#: Longest found column name an error message may quote (a header name, not a line of answers).
MAX_QUOTED_NAME = 40


def describe_found_columns(found: list[str], expected: Iterable[str]) -> str:
    """What an error may say about the columns a file's header line holds.

    When the first line is not the header (a title line the profile does not skip, a
    headerless file, the wrong delimiter), the "names" are a person's answers or a
    title naming someone: they are listed only when at least one expected column is
    among them (so the line is a header) and every name is short; otherwise only
    their number is given.

    Parameters
    ----------
    found : list of str
        The column names read from the header line.
    expected : iterable of str
        The raw column names the profile maps.

    Returns
    -------
    str
        The ``expected`` part of the error, e.g. ``"the mapped columns; 3 column(s) found,
        none of them mapped (names not shown): is the first line the header? ..."``.
    """
    found = [str(c) for c in found]
    keys = {_name_key(c) for c in found}
    present = [e for e in expected if _name_key(e) in keys]
    if present and all(len(c) <= MAX_QUOTED_NAME for c in found):
        return f"one of the columns found: {found}"
    if present:
        return (f"the mapped columns; {len(found)} column(s) found, {len(present)} of them mapped "
                f"(names not shown: some are long)")
    return (f"the mapped columns; {len(found)} column(s) found, none of them mapped (names not shown): is the "
            f"first line the header? check `skiprows` (title lines) and `delimiter` in the city profile")


def finish_frame(df: pd.DataFrame, spec: FileSpec, rows: np.ndarray,
                 problems: dict[int, str] | None = None) -> pd.DataFrame:
    """A reader's raw frame as every reader returns it: string column names, the provenance
    columns ``source_file`` and ``raw_row_number`` (``rows``), the row problems in ``attrs``.

    Raises :class:`RawDataError` when the file has no row, or a column with a reserved name.
    """
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
    df.attrs[ROW_PROBLEMS] = dict(problems or {})
    return df


def row_problems(df: pd.DataFrame) -> dict[int, str]:
    """Row-level problems the reader found: ``{row position in df: description}``.

    The rows are in the frame (so that every raw record is accounted for) and must be
    rejected by the caller; the descriptions name the kind of damage, never the content.
    """
    return dict(df.attrs.get(ROW_PROBLEMS, {}))


def _name_key(name: Any) -> str:
    """Key under which two column names count as the same (spacing, case, NFC, BOM)."""
    return unicodedata.normalize("NFC", str(name)).replace("\ufeff", "").strip().casefold()


class _RepeatedName(RawDataError):
    """A repeated column name; the name is kept out of the message (and of ``args``):
    :func:`read_file` quotes it only when the line is plausibly a header."""

    def __init__(self, *args, names: list[str], repeated: str, **kw):
        super().__init__(*args, **kw)
        self._names, self._repeated = names, repeated


def _check_unique_names(spec: FileSpec, names: list[str], header_row: int) -> None:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        k = _name_key(n)
        if k in seen:
            # no name quoted here: the "header" may be a data row (a headerless file)
            raise _RepeatedName(
                source_name(spec), row=header_row,
                problem=(f"column name repeated: columns {seen[k] + 1} and {i + 1} have the same name "
                         f"(ignoring case and spaces); which one the profile means is ambiguous"),
                expected="unique column names in the header", names=[str(x) for x in names], repeated=str(n))
        seen[k] = i


def _plausible_header(names: list[str], columns: Iterable[str] | None) -> bool:
    """True when ``names`` holds at least one mapped column and every name is short: then
    the line is a header and its names may be quoted (otherwise it may be a person's answers)."""
    if columns is None:
        return False
    keys = {_name_key(c) for c in names}
    return any(_name_key(c) in keys for c in columns) and all(len(c) <= MAX_QUOTED_NAME for c in names)


def _header_repeats(spec: FileSpec, names: list[str], df: pd.DataFrame, rows: np.ndarray,
                    problems: dict[int, str]) -> None:
    """Flag data rows that repeat the header; stop on a header line of another layout.

    ``df``: the records, one column per header name. A row equal to the header
    (concatenated exports) is rejected; a row made mostly of column names in another
    order means the files below it have another layout, so the values would land in the
    wrong columns: stop.
    """
    keys = [_name_key(n) for n in names]
    named = {k for k in keys if k}
    need = max(2, math.ceil(len(keys) / 2))
    if len(keys) < 2 or len(df) == 0:
        return
    # column by column over distinct values: fast on a million rows
    is_name = np.zeros((len(df), len(keys)), dtype=bool)
    same = np.zeros((len(df), len(keys)), dtype=bool)
    for j in range(len(keys)):
        codes, uniques = pd.factorize(df.iloc[:, j], use_na_sentinel=True)
        uk = [_name_key("" if u is None else _cell(u)) for u in uniques.tolist()] + [""]
        hit = np.array([k in named and k != "" for k in uk])
        eq = np.array([k == keys[j] for k in uk])
        is_name[:, j], same[:, j] = hit[codes], eq[codes]
    hits = is_name.sum(axis=1)
    for pos in np.flatnonzero(hits >= need):
        pos = int(pos)
        if same[pos].all():
            problems.setdefault(pos, "a repeated header line (files concatenated?)")
        else:
            row, n_hits = int(rows[pos]), int(hits[pos])
            raise RawDataError(source_name(spec), row=row,
                               problem=(f"this row holds {n_hits} of the column names, in another layout than the "
                                        f"header: files with different columns seem to be concatenated"),
                               expected="one header line, the same columns in every row")


# ----------------------------------------------------------------------------- encodings
_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 little-endian"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 big-endian"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with a byte-order mark"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 little-endian"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 big-endian"),
)


def _codec(spec: FileSpec) -> str:
    try:
        return codecs.lookup(spec.encoding).name
    except LookupError:
        raise RawDataError(spec.path, value=spec.encoding, problem="unknown encoding in the profile",
                           expected="a Python codec name such as utf-8, utf-8-sig, latin-1, cp1252") from None


def _line_of(data: bytes, pos: int, encoding: str) -> int:
    return data[:pos].decode(encoding, errors="replace").count("\n") + 1


def _check_bytes(spec: FileSpec, data: bytes, codec: str) -> None:
    """Refuse UTF-16/32 files read as an 8-bit encoding (and the reverse), and NUL bytes."""
    wide = codec.startswith(("utf-16", "utf-32"))
    for bom, family, label in _BOMS:
        if data.startswith(bom):
            if family == "utf-8" or codec.startswith(family):
                return
            raise RawDataError(spec.path, row=1,
                               problem=(f"the file is {label} (it starts with the byte-order mark "
                                        f"{bom.hex(' ').upper()}) but the profile declares encoding {spec.encoding!r}"),
                               expected=f"`encoding: {family}` for this file in the city profile")
    if wide or b"\x00" not in data:
        return
    head = data[:4000]
    if head.count(b"\x00") > len(head) // 4:
        # ASCII text in UTF-16 has a NUL byte beside every character.
        odd = head[1::2].count(b"\x00") > head[0::2].count(b"\x00")
        enc = "utf-16-le" if odd else "utf-16-be"
        raise RawDataError(spec.path, row=1,
                           problem=(f"the file looks like {enc.upper()} without a byte-order mark (a NUL byte "
                                    f"beside every character) but the profile declares encoding {spec.encoding!r}"),
                           expected=f"`encoding: {enc}` for this file in the city profile")
    pos = data.index(b"\x00")
    raise RawDataError(spec.path, row=data.count(b"\n", 0, pos) + 1,
                       problem=f"a NUL byte (0x00) at byte offset {pos}: not a text file, or a damaged one",
                       expected="a text file (CSV) without NUL bytes")


def _decode(spec: FileSpec, data: bytes) -> str:
    """Decode CSV bytes with the declared encoding, pointing at the first bad byte.

    The error names the byte (hex), its offset, line and character position, never the
    text around it: that text may be a name from an unmapped column.
    """
    codec = _codec(spec)
    _check_bytes(spec, data, codec)
    try:
        text = data.decode(spec.encoding)
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start, spec.encoding)
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.end]
        raise RawDataError(
            spec.path, row=line, value=bad,
            problem=(f"byte {bad!r} at byte offset {exc.start} (line {line}, byte "
                     f"{exc.start - line_start + 1} of the line) is not valid {spec.encoding}"),
            expected=("text in the declared encoding; the file is probably Latin-1 or cp1252: "
                      "set `encoding: latin-1` (or cp1252) for this file in the city profile"),
        ) from None
    if codec in ("iso8859-1", "cp1252", "latin-1"):
        _check_not_utf8(spec, data)
    # A byte-order mark is harmless; keeping it would rename the first column.
    text = text[1:] if text.startswith("\ufeff") else text
    for ch, what, fix in (("\ufeff", "a byte-order mark (U+FEFF) inside the file",
                           "one file per export (a mark inside the file means files were concatenated)"),
                          ("\x00", "a NUL character", "a text file without NUL characters")):
        pos = text.find(ch)
        if pos >= 0:
            line = text.count("\n", 0, pos) + 1
            raise RawDataError(spec.path, row=line, problem=f"{what} on line {line}", expected=fix)
    return text


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
    bom = " (it starts with a UTF-8 byte-order mark)" if data.startswith(codecs.BOM_UTF8) else ""
    raise RawDataError(spec.path, row=line,
                       problem=(f"the file is declared {spec.encoding} but is valid UTF-8{bom} "
                                f"(first non-ASCII byte at byte offset {pos}, line {line}); reading it "
                                f"as {spec.encoding} would garble accented labels"),
                       expected="`encoding: utf-8` (or utf-8-sig) for this file in the city profile")


def _physical_lines(text: str) -> tuple[list[str], bool]:
    """The file's lines as an editor shows them, each ending in "\\n"; and whether the
    last line ended with a line break.

    CRLF and LF (even mixed) end a line; a file with CR alone (classic Mac OS) has its
    CRs read as line ends. A CR alone inside a file with LF line ends is left in place:
    inside quotes it is part of a value, outside quotes the CSV reading stops on it.
    """
    text = text.replace("\r\n", "\n")
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")
    parts = text.split("\n")
    ended = parts[-1] == ""
    if ended:
        parts.pop()
    lines = [p + "\n" for p in parts]
    if not ended and lines:
        lines[-1] = lines[-1][:-1]
    return lines, ended


# ----------------------------------------------------------------------------- CSV
def _csv_records(spec: FileSpec, body: list[str]) -> list[tuple[int, int, list[str]]]:
    """Records of ``body`` as (first line, last line, fields), blank lines skipped.

    Line numbers count the ``skiprows`` lines above ``body`` (editor line numbers).
    Quoting is strict: a quote left open to the end of the file, a quoted field followed
    by other characters, or a CR alone outside quotes stops the reading at its line.
    """
    off = spec.skiprows
    reader = csv.reader(iter(body), delimiter=spec.delimiter, quotechar='"', doublequote=True, strict=True)
    records: list[tuple[int, int, list[str]]] = []
    prev = 0
    try:
        for fields in reader:
            start, prev = prev + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line; pandas skips it too
            records.append((start + off, prev + off, fields))
    except csv.Error as exc:
        start, at = prev + 1 + off, reader.line_num + off
        text = str(exc)
        if "unexpected end of data" in text:
            problem = (f"a quoted field opened on line {start} is never closed (a stray quote "
                       f"character?): the rest of the file would be read as one value")
            row = start
        elif "expected after" in text:
            problem = (f"on line {at} a quoted field is followed by other characters before the "
                       f"delimiter (a stray or unescaped quote character; the record began on line {start})")
            row = at
        elif "new-line character" in text:
            problem = (f"a carriage return (CR) alone inside line {at}, outside quotes "
                       f"(mixed line endings?)")
            row = at
        elif "field larger than field limit" in text:
            problem = (f"a field of the record beginning on line {start} is larger than "
                       f"{csv.field_size_limit()} characters (a quote character that is never closed?)")
            row = start
        else:
            problem = f"not a readable CSV record ({type(exc).__name__})"
            row = start
        raise RawDataError(spec.path, row=row, problem=problem,
                           expected=f"well-formed CSV fields separated by {spec.delimiter!r}, "
                                    f"quotes doubled inside quoted fields") from None
    # the raw line count: records and blank lines must use up every line of the file
    if reader.line_num != len(body):
        raise RawDataError(spec.path, row=reader.line_num + off + 1,
                           problem=(f"the CSV reading stopped after line {reader.line_num + off} of "
                                    f"{len(body) + off}"),
                           expected="a well-formed CSV file")
    return records


def _check_spans(spec: FileSpec, lines: list[str], records: list[tuple[int, int, list[str]]],
                 ncols: int) -> None:
    """Stop on a record that swallowed other records (a stray quote), naming its first line."""
    for start, end, _ in records:
        if end == start:
            continue
        span = end - start + 1
        if span > MAX_RECORD_LINES:
            raise RawDataError(spec.path, row=start,
                               problem=(f"a quoted field opened on line {start} runs over {span} lines, to line "
                                        f"{end}: a stray quote character merges these lines into one record"),
                               expected=f"records of at most {MAX_RECORD_LINES} lines")
        if ncols < 2:
            continue
        for ln in range(start + 1, end + 1):
            if lines[ln - 1].count(spec.delimiter) + 1 >= ncols:
                raise RawDataError(spec.path, row=start,
                                   problem=(f"a quoted field opened on line {start} runs to line {end} and "
                                            f"swallows line {ln}, which has the delimiters of a whole record: "
                                            f"a stray quote character merges records"),
                                   expected="quote characters doubled inside quoted fields")


def _cross_check_pandas(spec: FileSpec, body: list[str], records: list[tuple[int, int, list[str]]]) -> pd.DataFrame:
    """Parse again with pandas' C parser: both readings must agree record for record.

    Returns pandas' reading (header record first, one column per field position, short
    records padded with ""), which builds the frame faster than the line-by-line one.
    """
    width = max(len(f) for _, _, f in records)
    try:
        other = pd.read_csv(io.StringIO("".join(body)), sep=spec.delimiter, header=None, names=range(width),
                            dtype=object, keep_default_na=False, na_filter=False, quotechar='"', engine="c",
                            skip_blank_lines=True, index_col=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise RawDataError(spec.path, problem=f"the second CSV reading (pandas) fails ({type(exc).__name__})",
                           expected="a well-formed CSV file") from None
    if len(other) != len(records):
        first = records[min(len(records), len(other)) - 1][0]
        raise RawDataError(spec.path, problem=(f"two independent readings disagree: {len(records)} records read "
                                               f"line by line, {len(other)} by pandas (first suspect near line "
                                               f"{first}: quotes or line breaks)"),
                           expected="a well-formed CSV file")
    fields = [f for _, _, f in records]
    if any(len(f) != width for f in fields):
        fields = [f + [""] * (width - len(f)) if len(f) < width else f for f in fields]
    theirs = other.to_numpy(dtype=object).tolist()
    if fields != theirs:
        first = next(i for i, (a, b) in enumerate(zip(fields, theirs)) if a != b)
        raise RawDataError(spec.path, row=records[first][0],
                           problem="two independent readings of this record disagree (quotes or line breaks)",
                           expected="a well-formed CSV file")
    return other


def _read_csv(spec: FileSpec, path: Path) -> pd.DataFrame:
    text = _decode(spec, path.read_bytes())
    if not text.strip():
        raise RawDataError(spec.path, problem="the file holds only blank lines", expected="a header and data rows")
    lines, ended = _physical_lines(text)
    body = lines[spec.skiprows:]
    records = _csv_records(spec, body)
    if not records:
        raise RawDataError(spec.path, problem="no header line after the skipped rows",
                           expected=f"a header on line {spec.skiprows + 1}")
    header_row, _, names = records[0]
    data = records[1:]
    # A delimiter after the last column adds an empty, unnamed column: drop it when empty.
    names = list(names)
    while len(names) > 1 and not names[-1].strip() and all(
            len(f) < len(names) or not f[len(names) - 1].strip() for _, _, f in data):
        names.pop()
    names = [n if n.strip() else f"Unnamed: {i}" for i, n in enumerate(names)]
    ncols = len(names)
    if ncols == 1 and data:
        guess = next((d for d in (";", ",", "\t", "|") if d != spec.delimiter and d in names[0]), None)
        if guess:
            # no value quoted: the line may be a data row (a headerless file)
            raise RawDataError(spec.path, row=header_row,
                               problem=f"the header has a single column when split on {spec.delimiter!r}",
                               expected=f"`delimiter: {guess!r}` in the city profile")
    _check_unique_names(spec, names, header_row)
    _check_spans(spec, lines, records, ncols)
    other = _cross_check_pandas(spec, body, records)
    df = other.iloc[1:, :ncols].reset_index(drop=True).astype("str")
    df.columns = names
    rows = np.array([s for s, _, _ in data], dtype="int64")

    problems: dict[int, str] = {}
    for pos, (start, _, f) in enumerate(data):
        if len(f) < ncols:
            problems[pos] = f"too few fields: {len(f)} of {ncols}"
        elif len(f) > ncols and any(x.strip() for x in f[ncols:]):
            problems[pos] = f"too many fields: {len(f)} for {ncols} columns"
    _header_repeats(spec, names, df, rows, problems)
    if data and not ended and data[-1][1] == len(lines):
        problems.setdefault(len(data) - 1, "the file ends inside this line, without a line break: "
                                           "the row may have been cut")
    return finish_frame(df, spec, rows, problems)


# ----------------------------------------------------------------------------- XLSX
def _cell(v: Any) -> Any:
    # openpyxl gives datetime for date cells; keep raw but drop a midnight time part.
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    return v


_CELL_REF = re.compile(r"([A-Z]+)([0-9]+)")


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


class _SheetScan:
    """What the sheet's XML says, read without openpyxl: the independent count."""

    def __init__(self) -> None:
        self.value_rows: set[int] = set()
        self.no_value_formulas: list[tuple[int, int]] = []  # (row, column), 1-based
        self.error_cells: list[tuple[int, int, str]] = []
        self.merged: list[tuple[int, int, int, int]] = []  # min_col, min_row, max_col, max_row


_ROW_RE = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(/?)>")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")
_HAS_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]|<(?:\w+:)?t(?:\s[^>]*)?>[^<]")
_ROW_NUM = re.compile(rb'\br="([0-9]+)"')
_SLOW = re.compile(rb'<(?:\w+:)?f[\s>/]|\bt="e"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*\bref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"')


def _scan_sheet(archive: zipfile.ZipFile, part: str) -> _SheetScan:
    """Rows holding a value, formulas without a stored value, error cells, merged ranges.

    Fast path with regular expressions over the XML; a sheet with formulas or error
    cells is parsed element by element (:func:`_scan_sheet_xml`).
    """
    data = archive.read(part)
    if _SLOW.search(data):
        return _scan_sheet_xml(archive, part)
    scan = _SheetScan()
    row = 0
    pos = 0
    while True:
        m = _ROW_RE.search(data, pos)
        if m is None:
            break
        num = _ROW_NUM.search(m.group(1))
        row = int(num.group(1)) if num else row + 1
        if m.group(2):  # <row .../>: no cells
            pos = m.end()
            continue
        end = _ROW_END.search(data, m.end())
        stop = end.start() if end else len(data)
        if _HAS_VALUE.search(data, m.end(), stop):
            scan.value_rows.add(row)
        pos = end.end() if end else len(data)
    for m in _MERGE.finditer(data):
        c1, r1, c2, r2 = m.group(1), m.group(2), m.group(3) or m.group(1), m.group(4) or m.group(2)
        scan.merged.append((_col_index(c1.decode()), int(r1), _col_index(c2.decode()), int(r2)))
    return scan


def _scan_sheet_xml(archive: zipfile.ZipFile, part: str) -> _SheetScan:
    scan = _SheetScan()
    row = 0
    col = 0
    with archive.open(part) as fh:
        for event, el in ElementTree.iterparse(fh, events=("start", "end")):
            tag = el.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "row":
                    r = el.get("r")
                    row = int(r) if r else row + 1
                    col = 0
                continue
            if tag == "c":
                ref = el.get("r")
                m = _CELL_REF.fullmatch(ref) if ref else None
                col = _col_index(m.group(1)) if m else col + 1
                f = v = None
                inline = False
                for child in el:
                    ctag = child.tag.rsplit("}", 1)[-1]
                    if ctag == "f":
                        f = child
                    elif ctag == "v":
                        v = child
                    elif ctag == "is":
                        inline = any((t.text or "") for t in child.iter() if t.tag.rsplit("}", 1)[-1] == "t")
                has_value = inline or (v is not None and v.text is not None)
                if has_value:
                    scan.value_rows.add(row)
                if f is not None and (v is None or (not v.text and el.get("t") != "str")):
                    scan.no_value_formulas.append((row, col))
                if el.get("t") == "e" and v is not None:
                    scan.error_cells.append((row, col, (v.text or "")[:12]))
                el.clear()
            elif tag == "row":
                el.clear()
            elif tag == "mergeCell":
                ref = el.get("ref", "")
                a, _, b = ref.partition(":")
                ma, mb = _CELL_REF.fullmatch(a), _CELL_REF.fullmatch(b or a)
                if ma and mb:
                    scan.merged.append((_col_index(ma.group(1)), int(ma.group(2)),
                                        _col_index(mb.group(1)), int(mb.group(2))))
    return scan


def _sheet_part(wb: Any, ws: Any) -> str:
    part = getattr(ws, "_worksheet_path", None)
    if not part:  # pragma: no cover - openpyxl internals changed
        raise RuntimeError("openpyxl no longer exposes the worksheet's part name")
    return part.lstrip("/")


def _read_xlsx(spec: FileSpec, path: Path, columns: Iterable[str] | None) -> pd.DataFrame:
    import openpyxl
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import InvalidFileException

    src = source_name(spec)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise RawDataError(spec.path, problem=f"unreadable or corrupt workbook ({type(exc).__name__})",
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
        if spec.sheet is None and ws.sheet_state != "visible":
            visible = [w.title for w in wb.worksheets if w.sheet_state == "visible"]
            raise RawDataError(spec.path, value=ws.title,
                               problem=(f"the first sheet is {ws.sheet_state}: Excel opens on another sheet, "
                                        f"so which sheet holds the data is ambiguous"),
                               expected=f"`sheet:` naming the sheet in the city profile (visible sheets: {visible})")
        # Read-only openpyxl trusts the sheet's declared dimensions, which some writers get
        # wrong (rows beyond them would be dropped silently): count from the cells instead.
        ws.reset_dimensions()
        scan = _scan_sheet(wb._archive, _sheet_part(wb, ws))
        header: list[Any] | None = None
        header_row = 0
        records: list[tuple] = []
        rows: list[int] = []
        blank_rows: set[int] = set()
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if number <= spec.skiprows:
                continue
            if header is None:
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue  # blank lines above the header, as in a CSV
                header = list(values)
                header_row = number
                continue
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                blank_rows.add(number)
                continue
            records.append(values)
            rows.append(number)
    except RawDataError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError, EOFError, OSError) as exc:
        raise RawDataError(src, problem=f"unreadable or corrupt sheet ({type(exc).__name__})",
                           expected="an .xlsx file saved by Excel or LibreOffice") from None
    finally:
        wb.close()
    if header is None:
        raise RawDataError(src, problem="the sheet is empty",
                           expected=f"a header on row {spec.skiprows + 1}")
    # Independent count: every row the XML says holds a value, below the header, is a
    # record or a row of blank text; every record is such a row.
    below = {r for r in scan.value_rows if r > header_row}
    lost = sorted(below - set(rows) - blank_rows)
    extra = sorted(set(rows) - scan.value_rows)
    if lost or extra:
        bad = (lost or extra)[0]
        raise RawDataError(src, row=bad,
                           problem=(f"the sheet's cells and the rows read disagree ({len(rows)} records read; "
                                    f"{len(lost)} row(s) with values not read, {len(extra)} read without values)"),
                           expected="a well-formed worksheet (re-save it in Excel or LibreOffice)")
    # Trailing empty header cells are formatting, not columns.
    while header and header[-1] is None:
        header.pop()
    width = len(header)
    if any(h is None for h in header):
        col = header.index(None) + 1
        raise RawDataError(src, row=header_row, column=f"#{col}",
                           problem="a header cell is empty", expected="a name for every column")
    cols = [str(h).strip() if isinstance(h, str) else str(_cell(h)) for h in header]
    _check_unique_names(spec, cols, header_row)

    # Cells whose value is not what the sheet shows: stop when a mapped column has one.
    wanted = set(cols) if columns is None else set(columns)
    def _stop_cell(r: int, c: int, problem: str, expected: str) -> None:
        if c <= width and cols[c - 1] in wanted and r > header_row:
            raise RawDataError(src, row=r, column=cols[c - 1],
                               problem=f"cell {get_column_letter(c)}{r}: {problem}", expected=expected)
    for r, c in scan.no_value_formulas:
        _stop_cell(r, c, "a formula with no stored value (the workbook was saved without calculating it)",
                   "stored formula results: open and save the workbook in Excel or LibreOffice")
    for r, c, code in scan.error_cells:
        _stop_cell(r, c, f"the spreadsheet error {code}", "a value, not a formula error")
    for c1, r1, c2, r2 in scan.merged:
        if r2 > r1 and r2 > header_row:
            for c in range(c1, c2 + 1):
                _stop_cell(max(r1, header_row + 1), c,
                           f"merged cells {get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2} "
                           f"(only the first row holds the value; the others would read as blank)",
                           "unmerged cells, one value per row")

    problems: dict[int, str] = {}
    for pos, rec in enumerate(records):
        beyond = [v for v in rec[width:] if not (v is None or (isinstance(v, str) and not v.strip()))]
        if beyond:
            problems[pos] = f"value(s) beyond the last named column ({width} columns)"
    data = {c: [(_cell(r[i]) if i < len(r) else None) for r in records] for i, c in enumerate(cols[:width])}
    df = pd.DataFrame(data, dtype=object, columns=cols)
    _header_repeats(spec, cols, df, np.asarray(rows), problems)
    return finish_frame(df, spec, np.asarray(rows), problems)


# ----------------------------------------------------------------------------- SAV / DTA
def _user_missing(meta: Any, col: str) -> tuple[set, list]:
    values = set(getattr(meta, "missing_user_values", {}).get(col, []) or [])
    ranges = list(getattr(meta, "missing_ranges", {}).get(col, []) or [])
    return values, ranges


def _apply_labels(df: pd.DataFrame, meta: Any) -> pd.DataFrame:
    """Value labels applied by hand so that a code without a label is never a number.

    A labelled code becomes its label; a code the file declares user-missing keeps its
    number when it has no label (the profile's ``item_missing`` handles it, as before);
    any other code without a label becomes :class:`UnlabelledCode`.
    """
    out = df.copy()
    for col, labels in (meta.variable_value_labels or {}).items():
        if col not in out.columns or not labels:
            continue
        miss_values, miss_ranges = _user_missing(meta, col)
        pairs = tuple((float(k), str(lab)) for k, lab in labels.items() if isinstance(k, (int, float)))

        def one(v: Any, labels: dict = labels, miss_values: set = miss_values, miss_ranges: list = miss_ranges,
                pairs: tuple = pairs) -> Any:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return v
            if v in labels:
                return labels[v]
            if v in miss_values or any(r.get("lo") <= v <= r.get("hi") for r in miss_ranges
                                       if isinstance(v, (int, float)) and r.get("lo") is not None):
                return v
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                return UnlabelledCode(float(v), pairs)
            return v

        codes, uniques = pd.factorize(out[col], use_na_sentinel=True)
        mapped = [one(u) for u in uniques.tolist()] + [None]
        out[col] = pd.Series(np.array(mapped, dtype=object)[codes], index=out.index, dtype=object)
    return out


def _read_stat(spec: FileSpec, path: Path) -> pd.DataFrame:
    import pyreadstat

    fn = pyreadstat.read_sav if spec.format == "sav" else pyreadstat.read_dta
    kw: dict[str, Any] = {"apply_value_formats": False, "formats_as_category": False}
    if spec.format == "sav":
        kw["user_missing"] = True  # keep 77/88/99 user-missing codes visible to the cleaning step
    kind = "SPSS" if spec.format == "sav" else "Stata"
    try:
        df, meta = fn(str(path), **kw)
        _, head = fn(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError/PyreadstatError
        # readstat's messages come from a fixed table ("File did not contain the expected
        # number of rows"), never from the data; other libraries' messages are not shown
        said = f": {str(exc)[:100]}" if type(exc).__name__ in ("ReadstatError", "PyreadstatError") else ""
        raise RawDataError(spec.path, problem=f"unreadable or corrupt {spec.format} file "
                                              f"({type(exc).__name__}{said})",
                           expected=f"a valid {kind} data file") from None
    declared = getattr(head, "number_rows", None)
    # The header's case count, when the writer filled it in (SPSS allows "unknown").
    if declared is not None and declared >= 0 and declared != len(df):
        raise RawDataError(spec.path, row=min(declared, len(df)) + 1,
                           problem=(f"the file header declares {declared} cases but {len(df)} were read "
                                    f"(a truncated or damaged file)"),
                           expected=f"a complete {kind} data file")
    if spec.value_labels:
        df = _apply_labels(df, meta)
    df = df.astype(object)
    return finish_frame(df, spec, np.arange(len(df), dtype="int64") + 1)


# ----------------------------------------------------------------------------- numbers
_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SPACES = ("\u00a0", "\u202f", "\u2007")  # no-break, narrow no-break, figure spaces


def strict_number(text: str, decimal: str = ".", thousands: str | None = None) -> float | None:
    """A number written plainly, else None.

    Accepted: optional sign, ASCII digits, the declared decimal mark, and the declared
    thousands separator only between groups of three digits. Refused (None): exponents
    (``1e1``), underscores (``1_0``), undeclared thousands separators, other digits
    than 0-9, ``inf``/``nan``: Python's ``float`` accepts all of these silently.

    >>> strict_number("7,5", decimal=",")
    7.5
    >>> strict_number("1e1") is None, strict_number("1_0") is None
    (True, True)
    >>> strict_number("1 234,5", decimal=",", thousands=" ")
    1234.5
    """
    t = text.strip()
    if thousands is not None and thousands.strip() == "":
        for sp in _SPACES:  # a space separator is often written as a no-break space
            t = t.replace(sp, thousands)
    if thousands:
        int_part = t.split(decimal, 1)[0].lstrip("+-")
        if thousands in int_part:
            if not re.fullmatch(r"[0-9]{1,3}(?:" + re.escape(thousands) + r"[0-9]{3})+", int_part):
                return None
            t = t.replace(thousands, "")
    if decimal != ".":
        if "." in t:
            return None
        t = t.replace(decimal, ".")
    if not _PLAIN.fullmatch(t):
        return None
    return float(t)


def read_file(spec: FileSpec, folder: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read one raw file as raw values, with ``source_file`` and ``raw_row_number``.

    Parameters
    ----------
    spec : FileSpec
        The file's entry in the city profile (format, encoding, delimiter, sheet…).
    folder : str or pathlib.Path
        The city's raw-data folder (``data/raw/<city>``).
    columns : iterable of str, optional
        The raw columns the profile maps. XLSX cells whose value cannot be trusted (a
        formula without a stored result, a spreadsheet error, merged cells) stop the
        reading only in these columns; default: in every column.

    Returns
    -------
    pandas.DataFrame
        One row per data record, every raw column kept with its raw values (CSV: text
        of dtype ``str``, empty cells as ``""``; other formats: object columns of the
        stored values, empty cells as None/NaN; with ``value_labels`` a code without
        a label as :class:`UnlabelledCode`), plus ``source_file`` (str) and
        ``raw_row_number`` (int64; see the module docstring for what it counts).
        Malformed rows are in the frame and listed by :func:`row_problems`.

    Raises
    ------
    RawDataError
        Missing, empty, unreadable or corrupt file; wrong encoding (with the byte offset
        and line); a stray quote merging records; readings that disagree with the
        independent count; a repeated column name; missing sheet; a header but no data
        rows. Any other exception of a reader is wrapped in one naming the file.
    """
    path = Path(folder) / spec.path
    _check_file(spec, path)
    columns = None if columns is None else list(columns)
    try:
        if spec.format == "csv":
            return _read_csv(spec, path)
        if spec.format == "xlsx":
            return _read_xlsx(spec, path, columns)
        return _read_stat(spec, path)
    except _RepeatedName as exc:
        if _plausible_header(exc._names, columns):
            raise RawDataError(exc.file, row=exc.row, column=exc._repeated, problem=exc.problem,
                               expected=exc.expected) from None
        raise RawDataError(exc.file, row=exc.row, problem=exc.problem, expected=exc.expected) from None
    except RawDataError:
        raise
    except Exception as exc:
        # The library's message may quote file content; the type names the failure.
        raise RawDataError(source_name(spec), problem=f"the {spec.format} reader failed ({type(exc).__name__})",
                           expected=f"a readable {spec.format} file") from None


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
                       expected=describe_found_columns(found, required.values()))


def is_blank(v: Any) -> bool:
    """True for None, NaN, NaT, pandas NA and empty or whitespace-only text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str):
        return not v.strip()
    return False
