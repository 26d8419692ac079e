"""A corpus of damaged raw files: the input, the damage and the expected outcome.

Each :class:`Case` writes one damaged residents file of the test city (``testville`` of
``conftest.py``) and says what cleaning it must give:

``identical``
    the same cleaned respondents as the undamaged file (line numbers may shift when the
    damage adds lines: ``same_lines=False``);
``rejected``
    the same, except the damaged rows, rejected with the stated reason at the stated
    raw row numbers (raw = kept + rejected holds);
``error``
    a :class:`~analysis.inputs.readers.RawDataError` (or ``ProfileError``) whose message names
    the file and contains every string of ``expect`` (a line, a column, a cell, the kind
    of problem).

Every row of every file carries a person's name in an unmapped column (:data:`SECRET`):
no outcome may show it (messages, rejected rows, the cleaning log).

``python tests/damage_corpus.py`` prints the number of cases by outcome.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: A name in an unmapped column of every row; it must never reach an output or a message.
SECRET = "Zoé Kowalczyk-Marchand"
N_ROWS = 24
FILE = "residents.csv"


def base_rows() -> list[dict]:
    """The undamaged raw rows: conftest's residents with a name and a comment column."""
    from conftest import resident_row

    rows = []
    for i in range(N_ROWS):
        r = resident_row(i)
        # every neighbourhood in both waves (3 rows each), so that no area or wave is
        # emptied by the one or two rows a damage rejects
        follow_up = (i // 4) % 2 == 1
        r["VAGUE"], r["DATE"] = ("2015", "20/10/2015") if follow_up else ("2014", "15/10/2014")
        # the name comes second so that an encoding error in it comes first in the file
        rows.append({"ID": r.pop("ID"), "NOM": SECRET, **r, "COMMENTAIRE": "ras"})
    return rows


def csv_text(rows: list[dict], sep: str = ";", header: list[str] | None = None, nl: str = "\n") -> str:
    """Rows as delimited text (no quoting: the values need none)."""
    header = header or list(rows[0])
    lines = [sep.join(header)] + [sep.join(str(r.get(c, "")) for c in header) for r in rows]
    return nl.join(lines) + nl


def lines_of(text: str) -> list[str]:
    return text.split("\n")


@dataclass
class Case:
    """One kind of damage.

    ``make(folder) -> dict``: writes the damaged file(s) into ``folder`` and returns the
    changes to the residents ``files[0]`` entry of the profile (path, format, encoding…).
    """

    name: str
    damage: str
    make: Callable[[Path], dict]
    outcome: str  # identical | rejected | error
    expect: tuple = ()  # error: substrings; rejected: (reason, [raw_row_number, ...])
    same_lines: bool = True
    fmt: str = "csv"
    profile: dict = field(default_factory=dict)  # changes to the residents section


# ----------------------------------------------------------------------------- writers
def write_csv_bytes(folder: Path, data: bytes, **spec) -> dict:
    (folder / FILE).write_bytes(data)
    return spec


def text_case(transform: Callable[[str], str], file_enc: str = "latin-1", **spec) -> Callable[[Path], dict]:
    """A CSV damaged as text, written in ``file_enc``; ``spec``: changes to the file's profile entry."""
    def make(folder: Path) -> dict:
        return write_csv_bytes(folder, transform(csv_text(base_rows())).encode(file_enc), **spec)
    return make


def bytes_case(transform: Callable[[bytes], bytes], **spec) -> Callable[[Path], dict]:
    def make(folder: Path) -> dict:
        return write_csv_bytes(folder, transform(csv_text(base_rows()).encode("latin-1")), **spec)
    return make


def rows_case(change: Callable[[list[dict]], list[dict]], file_enc: str = "latin-1", **spec) -> Callable[[Path], dict]:
    def make(folder: Path) -> dict:
        return write_csv_bytes(folder, csv_text(change(base_rows())).encode(file_enc), **spec)
    return make


def set_cell(i: int, col: str, value: str) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[i][col] = value
        return rows
    return change


def replace_line(n: int, f: Callable[[str], str]) -> Callable[[str], str]:
    """Change editor line ``n`` (1-based) of the text."""
    def t(text: str) -> str:
        ls = lines_of(text)
        ls[n - 1] = f(ls[n - 1])
        return "\n".join(ls)
    return t


def field_of(line: str, k: int, f: Callable[[str], str], sep: str = ";") -> str:
    parts = line.split(sep)
    parts[k] = f(parts[k])
    return sep.join(parts)


# column positions in the CSV (ID, NOM, VAGUE, DATE, QUARTIER, AGE, SEXE, CONFIANCE, ...)
COLS = list(base_rows()[0])
NOM, CONF, COMMENT = COLS.index("NOM"), COLS.index("CONFIANCE"), COLS.index("COMMENTAIRE")


def xlsx_case(edit: Callable | None = None, cell: Callable | None = None, post: Callable | None = None,
              sheet: str | None = "Data", cut: bool = False, **spec) -> Callable[[Path], dict]:
    """An XLSX file of the base rows; ``cell(i, col, value)`` may change a cell value,
    ``edit(wb, ws)`` the workbook, ``post(bytes of sheet XML)`` the saved sheet XML."""
    def make(folder: Path) -> dict:
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Data"
        rows = base_rows()
        ws.append(list(rows[0]))
        for i, r in enumerate(rows):
            ws.append([cell(i, c, v) if cell else v for c, v in r.items()])
        if edit:
            edit(wb, ws)
        path = folder / "residents.xlsx"
        wb.save(path)
        if post:
            _rewrite_part(path, "xl/worksheets/sheet1.xml", post)
        if cut:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return {"path": "residents.xlsx", "format": "xlsx", "sheet": sheet, **spec}
    return make


def _rewrite_part(path: Path, part: str, f: Callable[[bytes], bytes]) -> None:
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, f(data) if item.filename == part else data)


#: SPSS residents: text columns as text, RESPECT coded 1-4 with value labels, CONFIANCE
#: 0-10 with a label on its don't-know code only.
SAV_LABELS = {"RESPECT": {1.0: "Jamais", 2.0: "Rarement", 3.0: "Souvent", 4.0: "Très souvent"},
              "CONFIANCE": {77.0: "NSP"}}


def stat_case(fmt: str = "sav", labels: dict | None = None, codes: Callable | None = None,
              post: Callable[[bytes], bytes] | None = None) -> Callable[[Path], dict]:
    def make(folder: Path) -> dict:
        import pandas as pd
        import pyreadstat

        rows = base_rows()
        df = pd.DataFrame(rows)
        code = {"Jamais": 1.0, "Rarement": 2.0, "Souvent": 3.0, "Très souvent": 4.0}
        df["RESPECT"] = df["RESPECT"].map(code)
        df["CONFIANCE"] = df["CONFIANCE"].astype(float)
        if codes:
            codes(df)
        path = folder / f"residents.{fmt}"
        labs = SAV_LABELS if labels is None else labels
        if fmt == "sav":
            pyreadstat.write_sav(df, str(path), variable_value_labels=labs)
        else:
            df.columns = [c.lower() for c in df.columns]
            pyreadstat.write_dta(df, str(path), variable_value_labels={k.lower(): {int(c): v for c, v in m.items()}
                                                                       for k, m in labs.items()})
        if post:
            path.write_bytes(post(path.read_bytes()))
        return {"path": path.name, "format": fmt, "value_labels": True, "encoding": "utf-8",
                "delimiter": ",", "decimal": "."}
    return make


def _cut_last_row(text: str) -> str:
    """The file cut after the first digit of the last row's AGE."""
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    start = len(text.rstrip("\n")) - len(last)
    keep = len(";".join(last.split(";")[:COLS.index("AGE")])) + 2
    return text[:start + keep]


def _must_replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def f(data: bytes) -> bytes:
        assert old in data, "the damage no longer applies: the writer's XML changed"
        return data.replace(old, new)
    return f


def _sav_ncases(data: bytes, n: int) -> bytes:
    # the SAV file header holds the case count as an int32 at byte 80
    return data[:80] + n.to_bytes(4, "little", signed=True) + data[84:]


def _dta_lower_profile() -> dict:
    from conftest import BASE_PROFILE

    cols = {k: v.lower() for k, v in BASE_PROFILE["residents"]["columns"].items()}
    return {"columns": cols}


# ----------------------------------------------------------------------------- the corpus
def _quote_span(start: int, stop: int) -> Callable[[str], str]:
    """A stray quote opening in the comment of data row ``start`` and one in row ``stop``."""
    def t(text: str) -> str:
        ls = lines_of(text)
        ls[start] = field_of(ls[start], COMMENT, lambda v: '"' + v)
        ls[stop] = field_of(ls[stop], COMMENT, lambda v: v + '"')
        return "\n".join(ls)
    return t


CASES: list[Case] = [
    # --- encodings and bytes
    Case("bom_utf8_declared_utf8", "UTF-8 file with a byte-order mark, declared utf-8",
         text_case(lambda t: "\ufeff" + t, "utf-8", encoding="utf-8"), "identical"),
    Case("bom_utf8_declared_utf8_sig", "UTF-8 file with a byte-order mark, declared utf-8-sig",
         text_case(lambda t: "\ufeff" + t, "utf-8", encoding="utf-8-sig"), "identical"),
    Case("bom_utf8_declared_latin1", "UTF-8 file with a byte-order mark, declared latin-1",
         text_case(lambda t: "\ufeff" + t, "utf-8"), "error", ("row 1", "valid UTF-8", "byte-order mark")),
    Case("utf8_declared_latin1", "UTF-8 file declared latin-1 (would garble é)",
         text_case(lambda t: t, "utf-8"), "error", ("row 2", "valid UTF-8")),
    Case("latin1_declared_utf8", "Latin-1 file declared utf-8; the first bad byte is in a name",
         text_case(lambda t: t, "latin-1", encoding="utf-8"), "error", ("row 2", "byte offset", "not valid utf-8")),
    Case("utf16le_bom_declared_latin1", "UTF-16 (Excel 'Unicode text') declared latin-1",
         text_case(lambda t: "\ufeff" + t, "utf-16-le"), "error", ("UTF-16 little-endian", "encoding: utf-16")),
    Case("utf16be_bom_declared_utf8", "UTF-16 big-endian declared utf-8",
         text_case(lambda t: "\ufeff" + t, "utf-16-be", encoding="utf-8"), "error", ("UTF-16 big-endian",)),
    Case("utf16_declared_utf16", "UTF-16 with a byte-order mark, declared utf-16",
         text_case(lambda t: t, "utf-16", encoding="utf-16"), "identical"),
    Case("utf16le_no_bom", "UTF-16-LE without a byte-order mark, declared latin-1",
         text_case(lambda t: t, "utf-16-le"), "error", ("UTF-16-LE without a byte-order mark",)),
    Case("utf32_bom", "UTF-32 declared latin-1",
         text_case(lambda t: t, "utf-32"), "error", ("UTF-32", "encoding: utf-32")),
    Case("nul_byte", "a NUL byte inside line 6",
         bytes_case(lambda b: b.replace(b"1004;", b"10\x0004;", 1)), "error", ("row 6", "NUL byte")),
    Case("bom_mid_file", "two exports concatenated, each with its byte-order mark",
         text_case(lambda t: "\ufeff" + t + "\ufeff" + t.split("\n", 1)[1], "utf-8", encoding="utf-8"),
         "error", ("row 26", "byte-order mark (U+FEFF) inside the file")),
    Case("mojibake_label", "a label double-encoded (Ã¨ for è) in a mapped column",
         rows_case(set_cell(5, "RESPECT", "TrÃ¨s souvent")), "error", ("row 7", "'RESPECT'", "label not known")),
    # --- line endings and blank lines
    Case("crlf", "Windows line endings", text_case(lambda t: t.replace("\n", "\r\n")), "identical"),
    Case("cr_only", "classic Mac OS line endings (CR only)", text_case(lambda t: t.replace("\n", "\r")), "identical"),
    Case("mixed_crlf_lf", "CRLF on even lines, LF on odd lines",
         text_case(lambda t: "".join(ln + ("\r\n" if i % 2 else "\n") for i, ln in enumerate(t.split("\n")[:-1]))),
         "identical"),
    Case("lone_cr_unquoted", "a CR alone inside an unquoted field of line 5",
         text_case(replace_line(5, lambda ln: field_of(ln, COMMENT, lambda v: "r\ras"))),
         "error", ("row 5", "carriage return")),
    Case("lone_cr_quoted", "a CR inside a quoted comment (unmapped)",
         text_case(replace_line(5, lambda ln: field_of(ln, COMMENT, lambda v: '"r\ras"'))), "identical"),
    Case("blank_lines", "blank lines between rows and at the end",
         text_case(lambda t: t.replace("\n1003;", "\n\n1003;").replace("\n1010;", "\n\n\n1010;") + "\n\n"),
         "identical", same_lines=False),
    Case("whitespace_line", "a line of spaces and a tab between rows",
         text_case(lambda t: t.replace("\n1003;", "\n  \t \n1003;")), "identical", same_lines=False),
    Case("no_final_newline_complete", "the last line has no line break (complete row)",
         text_case(lambda t: t[:-1]), "rejected", ("malformed_row", [N_ROWS + 1])),
    Case("truncated_last_row", "the file is cut inside a number of the last row",
         text_case(lambda t: _cut_last_row(t)),
         "rejected", ("malformed_row", [N_ROWS + 1])),
    # --- fields and delimiters
    Case("trailing_delimiter_all", "a delimiter after the last field of every line, header included",
         text_case(lambda t: t.replace("\n", ";\n")), "identical"),
    Case("trailing_delimiter_data", "a delimiter after the last field of the data lines only",
         text_case(lambda t: t.split("\n", 1)[0] + "\n" + t.split("\n", 1)[1].replace("\n", ";\n")), "identical"),
    Case("row_cut_to_5_fields", "one row cut to 5 of its fields",
         text_case(replace_line(8, lambda ln: ";".join(ln.split(";")[:5]))), "rejected", ("malformed_row", [8])),
    Case("row_extra_field", "one row with an extra non-empty field",
         text_case(replace_line(9, lambda ln: ln + ";surplus")), "rejected", ("malformed_row", [9])),
    Case("row_shifted", "one row with an inserted field (values shifted right)",
         text_case(replace_line(10, lambda ln: ln.replace(";", ";x;", 1))), "rejected", ("malformed_row", [10])),
    Case("tabs_in_some_rows", "two rows separated by tabs instead of semicolons",
         text_case(lambda t: replace_line(12, lambda ln: ln.replace(";", "\t"))(
             replace_line(13, lambda ln: ln.replace(";", "\t"))(t))), "rejected", ("malformed_row", [12, 13])),
    Case("wrong_delimiter", "a comma-separated file declared ';'",
         text_case(lambda t: t.replace(";", ",")), "error", ("delimiter: ','",)),
    Case("tab_file_declared_semicolon", "a tab-separated file declared ';'",
         text_case(lambda t: t.replace(";", "\t")), "error", ("delimiter: '\\t'",)),
    Case("delimiter_in_quoted_field", "a comment holding the delimiter, properly quoted",
         text_case(replace_line(4, lambda ln: field_of(ln, COMMENT, lambda v: '"a;b;c"'))), "identical"),
    Case("doubled_quotes", "a comment with doubled quotes inside a quoted field",
         text_case(replace_line(4, lambda ln: field_of(ln, COMMENT, lambda v: '"il a dit ""non"""'))), "identical"),
    Case("quoted_line_break", "a comment over two lines, properly quoted",
         text_case(replace_line(4, lambda ln: field_of(ln, COMMENT, lambda v: '"deux\nlignes"'))),
         "identical", same_lines=False),
    Case("stray_quotes_merge_many", "two stray quotes in the comment column merge rows 3-20",
         text_case(_quote_span(2, 19)), "error", ("row 3", "stray quote")),
    Case("stray_quotes_merge_two", "stray quotes merge two adjacent rows",
         text_case(_quote_span(6, 7)), "error", ("row 7", "stray quote")),
    Case("unclosed_quote", "a quote opened in the last row, never closed",
         text_case(replace_line(N_ROWS + 1, lambda ln: field_of(ln, COMMENT, lambda v: '"' + v)) ),
         "error", (f"row {N_ROWS + 1}", "never closed")),
    Case("text_after_quote", "a quoted value followed by text before the delimiter",
         text_case(replace_line(6, lambda ln: field_of(ln, COMMENT, lambda v: '"bien" dit'))),
         "error", ("row 6", "stray or unescaped quote")),
    Case("quote_inside_unquoted", "a quote inside an unquoted comment (literal)",
         text_case(replace_line(6, lambda ln: field_of(ln, COMMENT, lambda v: 'dit "ok"'))), "identical"),
    Case("huge_field", "a 200,000-character comment",
         text_case(replace_line(6, lambda ln: field_of(ln, COMMENT, lambda v: '"' + "x" * 200_000 + '"'))),
         "error", ("row 6", "larger than")),
    # --- header
    Case("repeated_column_name", "the column AGE twice (pandas would rename the second AGE.1)",
         text_case(lambda t: t.replace("COMMENTAIRE", "AGE", 1)), "error", ("row 1", "'AGE'", "repeated")),
    Case("repeated_column_case", "a column name repeated in another case",
         text_case(lambda t: t.replace("COMMENTAIRE", "age", 1)), "error", ("'age'", "repeated")),
    Case("header_repeated_mid_file", "two exports concatenated: the header line again in the middle",
         text_case(lambda t: t + t.split("\n", 1)[0] + "\n"), "rejected", ("malformed_row", [N_ROWS + 2])),
    Case("header_other_layout_mid_file", "a second export with columns in another order appended",
         text_case(lambda t: t + ";".join(reversed(t.split("\n", 1)[0].split(";"))) + "\n"),
         "error", (f"row {N_ROWS + 2}", "concatenated")),
    Case("header_trailing_space", "a mapped column name with a trailing space",
         text_case(lambda t: t.replace("CONFIANCE", "CONFIANCE ", 1)), "error", ("'CONFIANCE'", "did you mean")),
    Case("header_nbsp", "a mapped column name with a no-break space",
         text_case(lambda t: t.replace("CONFIANCE", "CONFIANCE\u00a0", 1)), "error", ("'CONFIANCE'", "not found")),
    Case("title_lines_undeclared", "two title lines above the header, skiprows not set",
         text_case(lambda t: "Enquête habitants\nExport du 3/12\n" + t), "error", ("not found",)),
    Case("title_lines_declared", "two title lines above the header, skiprows: 2",
         text_case(lambda t: "Enquête habitants\nExport du 3/12\n" + t, skiprows=2), "identical", same_lines=False),
    Case("columns_reordered", "columns in another order", rows_case(lambda rs: [dict(reversed(r.items())) for r in rs]),
         "identical"),
    Case("empty_file", "0 bytes", bytes_case(lambda b: b""), "error", ("empty",)),
    Case("only_blank_lines", "only line breaks", bytes_case(lambda b: b"\n\n\r\n"), "error", ("blank lines",)),
    Case("header_only", "the header and no data", bytes_case(lambda b: b.split(b"\n", 1)[0] + b"\n"),
         "error", ("no data rows",)),
    # --- values
    Case("exponent_number", "1e1 for 10 in a 0-10 item", rows_case(set_cell(4, "CONFIANCE", "1e1")),
         "error", ("row 6", "'CONFIANCE'", "'1e1'")),
    Case("underscore_number", "1_0 for 10", rows_case(set_cell(4, "CONFIANCE", "1_0")), "error", ("row 6", "'1_0'")),
    Case("unicode_minus", "−3 (U+2212) in a numeric item",
         rows_case(set_cell(4, "CONFIANCE", "\u22123"), "utf-8", encoding="utf-8"),
         "error", ("row 6", "'CONFIANCE'")),
    Case("fullwidth_digit", "a full-width digit ７",
         rows_case(set_cell(4, "CONFIANCE", "\uff17"), "utf-8", encoding="utf-8"),
         "error", ("row 6", "'CONFIANCE'"), profile={}),
    Case("decimal_point_in_comma_file", "34.5 for an age in a file declared decimal ','",
         rows_case(set_cell(4, "AGE", "34.5")), "rejected", ("invalid_value", [6])),
    Case("decimal_comma_in_point_file", "34,5 in a file declared decimal '.'",
         rows_case(set_cell(4, "AGE", "34,5"), decimal="."), "error", ("row 6", "'AGE'")),
    Case("undeclared_thousands", "1.000 in a numeric item, no thousands separator declared",
         rows_case(set_cell(4, "AGE", "1.000"), decimal="."), "rejected", ("impossible_age", [6])),
    Case("nbsp_around_label", "no-break spaces around a label",
         rows_case(set_cell(3, "RESPECT", "\u00a0Très souvent\u00a0")), "identical"),
    Case("nbsp_inside_label", "a no-break space inside a label",
         rows_case(set_cell(3, "RESPECT", "Très\u00a0souvent")), "identical"),
    Case("spaces_around_number", "spaces around a number", rows_case(set_cell(3, "CONFIANCE", "  3 ")), "identical"),
    Case("date_other_format", "an ISO date in a %d/%m/%Y file", rows_case(set_cell(4, "DATE", "2014-10-15")),
         "rejected", ("invalid_date", [6])),
    Case("exact_duplicate_row", "the same respondent twice",
         text_case(lambda t: t + t.split("\n")[3] + "\n"), "rejected", ("duplicate", [N_ROWS + 2])),
    # --- XLSX
    Case("xlsx_clean", "the same rows as a workbook", xlsx_case(), "identical", fmt="xlsx"),
    Case("xlsx_formula_no_value_mapped", "a formula without stored result in a mapped column",
         xlsx_case(cell=lambda i, c, v: "=2+1" if (i, c) == (4, "CONFIANCE") else v), "error",
         ("row 6", "'CONFIANCE'", "cell H6", "formula with no stored value"), fmt="xlsx"),
    Case("xlsx_formula_no_value_unmapped", "a formula without stored result in an unmapped column",
         xlsx_case(cell=lambda i, c, v: "=1+1" if c == "COMMENTAIRE" else v), "identical", fmt="xlsx"),
    Case("xlsx_error_value", "#DIV/0! in a mapped column",
         xlsx_case(cell=lambda i, c, v: "#DIV/0!" if (i, c) == (4, "AGE") else v), "error",
         ("cell F6", "#DIV/0!"), fmt="xlsx"),
    Case("xlsx_merged_cells", "a mapped column's cells merged over three rows",
         xlsx_case(edit=lambda wb, ws: ws.merge_cells("E3:E5")), "error", ("merged cells E3:E5", "'QUARTIER'"),
         fmt="xlsx"),
    Case("xlsx_hidden_first_sheet", "the first sheet is hidden, no sheet named",
         xlsx_case(edit=lambda wb, ws: (wb.create_sheet("Notes"), setattr(ws, "sheet_state", "hidden")), sheet=None),
         "error", ("hidden", "sheet:"), fmt="xlsx"),
    Case("xlsx_wrong_dimension", "the sheet declares A1:C5 as its used range (read-only openpyxl stops there)",
         xlsx_case(post=_must_replace(b'<dimension ref="A1:P25"/>', b'<dimension ref="A1:C5"/>')),
         "identical", fmt="xlsx"),
    Case("xlsx_blank_rows", "blank rows inside the sheet",
         xlsx_case(edit=lambda wb, ws: ws.insert_rows(6, 2)), "identical", fmt="xlsx", same_lines=False),
    Case("xlsx_numbers_as_numbers", "numbers stored as numbers, dates as dates",
         xlsx_case(cell=lambda i, c, v: int(v) if c in ("AGE", "CONFIANCE", "DEVOIR") else
                   dt.datetime.strptime(v, "%d/%m/%Y") if c == "DATE" else v), "identical", fmt="xlsx"),
    Case("xlsx_date_serials", "two dates as Excel serial numbers (cells formatted General)",
         xlsx_case(cell=lambda i, c, v: (dt.datetime.strptime(v, "%d/%m/%Y") - dt.datetime(1899, 12, 30)).days
                   if c == "DATE" and i in (1, 2) else v), "rejected", ("invalid_date", [3, 4]), fmt="xlsx"),
    Case("xlsx_repeated_column", "a repeated column name in the header",
         xlsx_case(edit=lambda wb, ws: setattr(ws.cell(1, COMMENT + 1), "value", "AGE")), "error",
         ("'AGE'", "repeated"), fmt="xlsx"),
    Case("xlsx_value_beyond_header", "a value in a column without a header",
         xlsx_case(edit=lambda wb, ws: setattr(ws.cell(7, len(COLS) + 2), "value", "note")), "rejected",
         ("malformed_row", [7]), fmt="xlsx"),
    Case("xlsx_truncated", "the workbook cut in half",
         xlsx_case(cut=True), "error", ("unreadable or corrupt",), fmt="xlsx"),
    # --- SPSS / Stata
    Case("sav_clean", "the same rows as SPSS: RESPECT coded 1-4 with value labels, CONFIANCE 0-10 labelled only "
         "on its don't-know code 77 (unlabelled codes stay numbers)", stat_case(), "identical", fmt="sav"),
    Case("sav_unlabelled_code_consistent", "RESPECT code 5 without a label (labels map to their own codes)",
         stat_case(codes=lambda df: df.__setitem__("RESPECT", df["RESPECT"].where(df.index != 4, 5.0))),
         "rejected", ("out_of_range", [5]), fmt="sav"),
    Case("sav_unlabelled_code_reversed", "a reversed scale (1 = Très souvent) whose label for 4 is missing",
         stat_case(labels={"RESPECT": {1.0: "Très souvent", 2.0: "Souvent", 3.0: "Rarement"},
                           "CONFIANCE": {77.0: "NSP"}},
                   codes=lambda df: df.__setitem__("RESPECT", 5.0 - df["RESPECT"])),
         "error", ("'RESPECT'", "without value label"), fmt="sav"),
    Case("sav_header_count", "the header declares more cases than the file holds",
         stat_case(post=lambda b: _sav_ncases(b, N_ROWS + 5)), "error", ("expected number of rows",), fmt="sav"),
    Case("sav_truncated", "the SPSS file cut short", stat_case(post=lambda b: b[: len(b) * 2 // 3]), "error",
         ("residents.sav",), fmt="sav"),
    Case("dta_truncated", "the Stata file cut short", stat_case("dta", post=lambda b: b[: len(b) * 2 // 3]),
         "error", ("residents.dta",), fmt="dta", profile=_dta_lower_profile()),
]


def counts() -> Counter:
    """Number of cases by expected outcome."""
    return Counter(c.outcome for c in CASES)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    c = counts()
    for case in CASES:
        print(f"{case.outcome:<9} {case.fmt:<4} {case.name:<34} {case.damage}")
    print(f"{len(CASES)} kinds of damage: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
