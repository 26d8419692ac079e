"""Readers: every format read as raw values, with source_file and raw_row_number."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from analysis.profile import FileSpec
from analysis.readers import RawDataError, check_columns, read_file


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
