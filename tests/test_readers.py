"""Readers: every format read as raw values, with source_file and raw_row_number."""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from analysis.inputs.profile import FileSpec
from analysis.inputs import readers
from analysis.inputs.readers import RawDataError, UnlabelledCode, check_columns, read_file, row_problems, strict_number


def test_csv_latin1_semicolon_keeps_text_and_counts_editor_lines(tmp_path):
    text = "ID;AGE;NOTE;CONF\n007;34;Très bien;7,5\n008;77; NSP ;\n"
    (tmp_path / "a.csv").write_bytes(text.encode("latin-1"))
    df = read_file(FileSpec(path="a.csv", format="csv", encoding="latin-1", delimiter=";", decimal=","), tmp_path)
    # Nothing coerced: leading zeros, decimal comma, stray spaces and empty cells stay as written.
    assert df["ID"].tolist() == ["007", "008"]
    assert df["CONF"].tolist() == ["7,5", ""]
    assert df["NOTE"].tolist() == ["Très bien", " NSP "]
    # Line 1 is the header, so the first data row is line 2.
    assert df["raw_row_number"].tolist() == [2, 3]
    assert set(df["source_file"]) == {"a.csv"}


def test_csv_skiprows_blank_lines_and_quoted_newlines_keep_true_line_numbers(tmp_path):
    text = ('Survey export\nDate: 2014\nid,comment\n1,"two\nlines"\n\n2,plain\n3,"x"\n')
    (tmp_path / "b.csv").write_text(text, encoding="utf-8")
    df = read_file(FileSpec(path="b.csv", format="csv", skiprows=2), tmp_path)
    assert df["id"].tolist() == ["1", "2", "3"]
    # record 1 starts on line 4 and spans line 5; line 6 is blank.
    assert df["raw_row_number"].tolist() == [4, 7, 8]


def test_csv_utf8_bom_does_not_rename_first_column(tmp_path):
    (tmp_path / "c.csv").write_bytes("\ufeffid,name\n1,Śnieżka\n".encode("utf-8"))
    for enc in ("utf-8", "utf-8-sig"):
        df = read_file(FileSpec(path="c.csv", format="csv", encoding=enc), tmp_path)
        assert list(df.columns[:2]) == ["id", "name"]
        assert df["name"].iloc[0] == "Śnieżka"


def test_xlsx_reads_named_sheet_with_raw_values_and_excel_row_numbers(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["only notes here"])
    ws = wb.create_sheet("Vague 2")
    ws.append(["Titre de l'export"])
    ws.append(["id", "age", "date", "label"])
    ws.append([101, 34, dt.datetime(2015, 10, 3), "Spesso"])
    ws.append([None, None, None, None])  # a blank row in the middle
    ws.append(["102", 45.0, dt.datetime(2015, 10, 4), "  mai "])
    wb.save(tmp_path / "w.xlsx")
    df = read_file(FileSpec(path="w.xlsx", format="xlsx", sheet="Vague 2", skiprows=1), tmp_path)
    assert df["raw_row_number"].tolist() == [3, 5]  # the rows Excel shows
    assert df["id"].tolist() == [101, "102"]  # raw values, not coerced to one type
    assert df["date"].iloc[0] == dt.date(2015, 10, 3)
    assert df["label"].iloc[1] == "  mai "
    assert set(df["source_file"]) == {"w.xlsx[Vague 2]"}


def test_xlsx_missing_sheet_lists_sheets(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Baseline"
    wb.save(tmp_path / "w.xlsx")
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="w.xlsx", format="xlsx", sheet="Follow-up"), tmp_path)
    msg = str(err.value)
    assert "w.xlsx" in msg and "'Follow-up'" in msg and "Baseline" in msg


def test_sav_value_labels_and_case_numbers(tmp_path):
    df = pd.DataFrame({"id": [11.0, 12.0, 13.0], "fiducia": [3.0, 8.0, 77.0], "sesso": [1.0, 2.0, 9.0]})
    pyreadstat.write_sav(df, str(tmp_path / "s.sav"),
                         variable_value_labels={"sesso": {1.0: "Donna", 2.0: "Uomo", 9.0: "Non so"}})
    raw = read_file(FileSpec(path="s.sav", format="sav"), tmp_path)
    assert raw["sesso"].tolist() == [1.0, 2.0, 9.0]
    lab = read_file(FileSpec(path="s.sav", format="sav", value_labels=True), tmp_path)
    assert lab["sesso"].tolist() == ["Donna", "Uomo", "Non so"]
    assert lab["fiducia"].tolist() == [3.0, 8.0, 77.0]  # unlabelled codes stay numbers
    assert lab["raw_row_number"].tolist() == [1, 2, 3]  # SPSS case numbers


def test_dta_reads_values_and_labels(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "zona": [3, 4], "conf": [5.0, np.nan]})
    pyreadstat.write_dta(df, str(tmp_path / "d.dta"),
                         variable_value_labels={"zona": {3: "Centro", 4: "Porto"}})
    raw = read_file(FileSpec(path="d.dta", format="dta", value_labels=True), tmp_path)
    assert raw["zona"].tolist() == ["Centro", "Porto"]
    assert raw["raw_row_number"].tolist() == [1, 2]
    assert pd.isna(raw["conf"].iloc[1])


def test_check_columns_names_missing_column_and_lists_found(tmp_path):
    (tmp_path / "e.csv").write_text("Id,Age\n1,30\n", encoding="utf-8")
    spec = FileSpec(path="e.csv", format="csv")
    df = read_file(spec, tmp_path)
    with pytest.raises(RawDataError) as err:
        check_columns(df, spec, {"respondent_id": "ID", "age": "Age"})
    msg = str(err.value)
    assert "e.csv" in msg and "'ID'" in msg and "respondent_id" in msg
    assert "['Id', 'Age']" in msg and "did you mean 'Id'" in msg


# ----------------------------------------------------------------------------- strictness
@pytest.mark.parametrize("text,decimal,thousands,expected", [
    ("10", ".", None, 10.0), (" 7 ", ".", None, 7.0), ("+3", ".", None, 3.0), ("-2.5", ".", None, -2.5),
    ("7,5", ",", None, 7.5), ("007", ".", None, 7.0),
    ("1e1", ".", None, None), ("1E1", ",", None, None), ("1_0", ".", None, None), ("inf", ".", None, None),
    ("nan", ".", None, None), ("\u22123", ".", None, None), ("\uff17", ".", None, None), ("٣", ".", None, None),
    ("1,000", ".", None, None), ("1 000", ".", None, None), ("1.5", ",", None, None),
    ("1 234,5", ",", " ", 1234.5), ("1\u00a0234,5", ",", " ", 1234.5), ("1\u202f234", ",", " ", 1234.0),
    ("1.234.567", ",", ".", 1234567.0), ("1.23.4", ",", ".", None), ("12.34", ",", ".", None),
    ("1,234.5", ".", ",", 1234.5), ("", ".", None, None), ("-", ".", None, None),
])
def test_strict_number(text, decimal, thousands, expected):
    assert strict_number(text, decimal, thousands) == expected


def test_csv_malformed_rows_are_kept_and_listed_with_their_lines(tmp_path):
    text = ("id;a;b;c\n1;x;y;z\n2;x\n3;x;y;z;extra\n4;x;y;z;\nid;a;b;c\n5;x;y;1")  # last line without \n
    (tmp_path / "m.csv").write_text(text, encoding="utf-8")
    df = read_file(FileSpec(path="m.csv", format="csv", delimiter=";"), tmp_path)
    assert df["raw_row_number"].tolist() == [2, 3, 4, 5, 6, 7]
    problems = row_problems(df)
    assert sorted(problems) == [1, 2, 4, 5]  # positions in the frame
    assert problems[1] == "too few fields: 2 of 4"
    assert problems[2] == "too many fields: 5 for 4 columns"
    assert "repeated header" in problems[4] and "cut" in problems[5]
    assert df["b"].tolist()[1] == ""  # a short row is padded, never filled from the next line


def test_csv_independent_readings_must_agree(tmp_path, monkeypatch):
    """If the parser that builds the frame loses a record, the line-by-line count stops it."""
    (tmp_path / "p.csv").write_text("id,a\n1,x\n2,y\n3,z\n", encoding="utf-8")
    real = pd.read_csv

    def lossy(*args, **kw):
        return real(*args, **kw).iloc[:-1]

    monkeypatch.setattr(readers.pd, "read_csv", lossy)
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="p.csv", format="csv"), tmp_path)
    assert "p.csv" in str(err.value) and "4 records read line by line, 3 by pandas" in str(err.value)


def test_csv_stray_quote_merging_records_names_the_opening_line(tmp_path):
    rows = [f"{i};n{i};ok" for i in range(30)]
    rows[4] = '4;"n4;ok'
    rows[25] = '25;n25";ok'
    (tmp_path / "q.csv").write_text("id;name;c\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="q.csv", format="csv", delimiter=";"), tmp_path)
    msg = str(err.value)
    assert "row 6" in msg and "runs over 22 lines" in msg and "stray quote" in msg
    assert "n4" not in msg  # no row content


def test_csv_cr_only_and_utf16(tmp_path):
    (tmp_path / "cr.csv").write_bytes(b"id,a\r1,x\r\r2,y\r")
    df = read_file(FileSpec(path="cr.csv", format="csv"), tmp_path)
    assert df["a"].tolist() == ["x", "y"] and df["raw_row_number"].tolist() == [2, 4]
    (tmp_path / "u.csv").write_bytes("id,a\r\n1,é\r\n".encode("utf-16"))
    df = read_file(FileSpec(path="u.csv", format="csv", encoding="utf-16"), tmp_path)
    assert df["a"].tolist() == ["é"]
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="u.csv", format="csv", encoding="latin-1"), tmp_path)
    assert "UTF-16 little-endian" in str(err.value) and "`encoding: utf-16`" in str(err.value)


def test_csv_repeated_column_name_is_an_error(tmp_path):
    (tmp_path / "d.csv").write_text("ID,AGE,X,AGE\n1,30,a,31\n", encoding="utf-8")
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="d.csv", format="csv"), tmp_path)
    # without the profile's columns the line may be a data row: positions, no name
    assert "d.csv" in str(err.value) and "columns 2 and 4" in str(err.value) and "'AGE'" not in str(err.value)
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="d.csv", format="csv"), tmp_path, columns=["ID", "AGE"])
    assert "columns 2 and 4" in str(err.value) and "'AGE'" in str(err.value)  # a header: the name is quoted


def test_csv_headerless_repeated_value_is_not_quoted(tmp_path):
    # a headerless file: the "header" is a person's answers, two of them equal
    (tmp_path / "d.csv").write_text("Ada Lovelace,Oui,Oui,37\n2,Non,Oui,40\n", encoding="utf-8")
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="d.csv", format="csv"), tmp_path, columns=["ID", "AGE"])
    assert "columns 2 and 3" in str(err.value)
    assert "Oui" not in str(err.value) and "Lovelace" not in str(err.value) and "Lovelace" not in repr(err.value.args)


def _xlsx(path, n=20):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["id", "v"])
    for i in range(n):
        ws.append([i, i * 2])
    wb.save(path)


def test_xlsx_wrong_declared_dimensions_are_ignored_and_rows_counted_from_cells(tmp_path, monkeypatch):
    _xlsx(tmp_path / "w.xlsx")
    data = zipfile.ZipFile(tmp_path / "w.xlsx")
    parts = {i.filename: data.read(i.filename) for i in data.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert b'<dimension ref="A1:B21"/>' in parts[sheet]
    parts[sheet] = parts[sheet].replace(b'<dimension ref="A1:B21"/>', b'<dimension ref="A1:B5"/>')
    with zipfile.ZipFile(tmp_path / "w.xlsx", "w") as out:
        for name, b in parts.items():
            out.writestr(name, b)
    spec = FileSpec(path="w.xlsx", format="xlsx", sheet="S")
    assert len(read_file(spec, tmp_path)) == 20  # read-only openpyxl alone would stop at row 5
    # without resetting the dimensions, the count from the cells catches the lost rows
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    monkeypatch.setattr(ReadOnlyWorksheet, "reset_dimensions", lambda self: None)
    with pytest.raises(RawDataError) as err:
        read_file(spec, tmp_path)
    msg = str(err.value)
    assert "w.xlsx[S]" in msg and "row 6" in msg and "16 row(s) with values not read" in msg


def test_sav_codes_without_value_label(tmp_path):
    df = pd.DataFrame({"id": [1.0, 2.0, 3.0, 4.0], "safe": [1.0, 4.0, 2.0, 99.0], "trust": [3.0, 7.0, 88.0, 10.0]})
    pyreadstat.write_sav(df, str(tmp_path / "s.sav"),
                         variable_value_labels={"safe": {1.0: "very safe", 2.0: "safe", 3.0: "unsafe"},
                                                "trust": {88.0: "don't know"}},
                         missing_ranges={"safe": [99.0]})
    raw = read_file(FileSpec(path="s.sav", format="sav", value_labels=True), tmp_path)
    assert raw["safe"].tolist()[:3] == ["very safe", UnlabelledCode(4.0), "safe"]
    assert str(raw["safe"].iloc[1]) == "4" and "without value label" in repr(raw["safe"].iloc[1])
    assert raw["safe"].iloc[3] == 99.0  # declared user-missing: stays a number for item_missing
    assert [type(x) for x in raw["trust"]] == [UnlabelledCode, UnlabelledCode, str, UnlabelledCode]
    assert raw["trust"].iloc[2] == "don't know"


def test_sav_header_case_count_is_checked(tmp_path):
    pyreadstat.write_sav(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), str(tmp_path / "h.sav"))
    data = (tmp_path / "h.sav").read_bytes()
    (tmp_path / "h.sav").write_bytes(data[:80] + (5).to_bytes(4, "little") + data[84:])
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="h.sav", format="sav"), tmp_path)
    assert "h.sav" in str(err.value) and "expected number of rows" in str(err.value)


def test_unexpected_reader_exception_is_wrapped_with_the_file(tmp_path, monkeypatch):
    (tmp_path / "x.csv").write_text("id\n1\n", encoding="utf-8")

    def boom(*a, **k):
        raise MemoryError("secret row content")

    monkeypatch.setattr(readers, "_csv_records", boom)
    with pytest.raises(RawDataError) as err:
        read_file(FileSpec(path="x.csv", format="csv"), tmp_path)
    assert "x.csv" in str(err.value) and "MemoryError" in str(err.value)
    assert "secret" not in str(err.value) and err.value.__cause__ is None


def test_csv_quoted_line_breaks_in_a_comment_are_one_record(tmp_path):
    text = 'id,comment,score\n1,"line one\nline two, with a comma\nline three",7\n2,plain,8\n'
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    df = read_file(FileSpec(path="c.csv", format="csv"), tmp_path)
    assert df["score"].tolist() == ["7", "8"] and df["raw_row_number"].tolist() == [2, 5]
    assert row_problems(df) == {}
