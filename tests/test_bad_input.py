"""Bad input gives a clear error naming file, row, column and value; no row is lost silently."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_profile, resident_row, write_csv, write_profile
from damage_corpus import CASES, SECRET

from analysis.inputs.clean import UnknownLabelError, clean_city
from analysis.inputs.clean import main as clean_main
from analysis.inputs.profile import ProfileError, load_profile
from analysis.inputs.readers import RawDataError

KEY = b"test-key-0123456789abcdef"


def _clean():
    return clean_city(load_profile("testville"), key=KEY)


def test_latin1_file_declared_utf8_names_line_and_byte_offset(city, project):
    _, raw = city
    p = make_profile()
    p["residents"]["files"][0]["encoding"] = "utf-8"
    write_profile(project, p)
    rows = [resident_row(i) for i in range(5)]
    rows[3]["RESPECT"] = "Très souvent"  # è in Latin-1 is byte 0xe8
    rows[:3] = [resident_row(i, RESPECT="Souvent", JUSTE="Jamais", EXPLIQUE="Jamais") for i in range(3)]
    path = write_csv(raw / "residents.csv", rows, encoding="latin-1")
    offset = path.read_bytes().index(b"\xe8")
    with pytest.raises(RawDataError) as err:
        _clean()
    msg = str(err.value)
    assert "residents.csv" in msg and "row 5" in msg and f"byte offset {offset}" in msg
    assert "latin-1" in msg and r"\xe8" in msg


def test_utf8_file_declared_latin1_is_caught_not_garbled(city):
    _, raw = city
    write_csv(raw / "residents.csv", [resident_row(i) for i in range(3)], encoding="utf-8")
    with pytest.raises(RawDataError) as err:
        _clean()
    msg = str(err.value)
    assert "residents.csv" in msg and "valid UTF-8" in msg and "row 3" in msg


def test_missing_column_names_column_and_lists_found(city):
    _, raw = city
    rows = [{k: v for k, v in resident_row(i).items() if k != "CONFIANCE"} for i in range(3)]
    write_csv(raw / "residents.csv", rows)
    with pytest.raises(RawDataError) as err:
        _clean()
    msg = str(err.value)
    assert "residents.csv" in msg and "'CONFIANCE'" in msg and "trust_police" in msg and "'DEVOIR'" in msg


def test_wrong_delimiter_is_explained(city):
    _, raw = city
    write_csv(raw / "residents.csv", [resident_row(i) for i in range(3)], sep=",")
    with pytest.raises(RawDataError) as err:
        _clean()
    assert "residents.csv" in str(err.value) and "delimiter: ','" in str(err.value)


def test_unknown_label_names_file_row_column_value_and_known_labels(city):
    _, raw = city
    # a label in 10 rows or more is a label the profile lacks: quoted
    rows = [resident_row(i) for i in range(16)]
    for i in range(4, 14):
        rows[i]["RESPECT"] = "Parfois"
    write_csv(raw / "residents.csv", rows)
    with pytest.raises(UnknownLabelError) as err:
        _clean()
    e = err.value
    assert (e.file, e.row, e.column, e.value) == ("residents.csv", 6, "RESPECT", "Parfois")
    msg = str(e)
    for part in ("residents.csv", "row 6", "'RESPECT'", "'Parfois'", "in 10 row(s)", "Très souvent", "NSP",
                 "residents.values.pj_respect"):
        assert part in msg, part


def test_one_off_unknown_label_is_counted_not_quoted(city):
    _, raw = city
    rows = [resident_row(i) for i in range(16)]
    for i in range(4, 13):  # 9 rows: below the threshold, could be a name typed 9 times
        rows[i]["RESPECT"] = "Parfois"
    write_csv(raw / "residents.csv", rows)
    with pytest.raises(UnknownLabelError) as err:
        _clean()
    e = err.value
    assert (e.file, e.row, e.column, e.value) == ("residents.csv", 6, "RESPECT", None)
    msg = str(e)
    assert "Parfois" not in msg and "1 distinct unknown value(s) occurring fewer than 10 times" in msg, msg
    assert "row(s) 6, 7, 8, 9, 10, 11, 12, 13, 14" in msg and "residents.values.pj_respect" in msg, msg


def test_out_of_range_value_is_rejected_with_row_column_and_value(city):
    _, raw = city
    rows = [resident_row(i) for i in range(5)]
    rows[1]["DEVOIR"] = "15"
    write_csv(raw / "residents.csv", rows)
    res = _clean()
    rej = res.rejected
    assert rej[["source_file", "raw_row_number", "reason", "column", "value"]].values.tolist() == [
        ["residents.csv", 3, "out_of_range", "DEVOIR", "15"]]
    assert "0-10" in rej["detail"].iloc[0]
    assert len(res.respondents) + len(rej) == 5


def test_empty_file(city):
    _, raw = city
    (raw / "residents.csv").write_bytes(b"")
    with pytest.raises(RawDataError) as err:
        _clean()
    assert "residents.csv" in str(err.value) and "empty" in str(err.value)


def test_header_only_file(city):
    _, raw = city
    write_csv(raw / "residents.csv", [], header=["ID", "AGE"])
    with pytest.raises(RawDataError) as err:
        _clean()
    assert "residents.csv" in str(err.value) and "no data rows" in str(err.value)


def test_missing_file_lists_folder(city):
    _, raw = city
    (raw / "other.csv").write_text("x\n1\n")
    with pytest.raises(RawDataError) as err:
        _clean()
    assert "residents.csv" in str(err.value) and "other.csv" in str(err.value)


@pytest.mark.parametrize("fmt,name", [("xlsx", "r.xlsx"), ("sav", "r.sav"), ("dta", "r.dta")])
def test_unreadable_file(project, fmt, name):
    p = make_profile()
    p["residents"]["files"] = [{"path": name, "format": fmt, "wave": "baseline"}]
    write_profile(project, p)
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True)
    (raw / name).write_bytes(b"this is not a " + fmt.encode() + b" file\x00\x01")
    with pytest.raises(RawDataError) as err:
        _clean()
    assert name in str(err.value) and "unreadable or corrupt" in str(err.value)


def test_broken_profile_yaml_names_file_and_key(project):
    p = make_profile()
    p["residents"]["files"][0]["format"] = "json"
    p["waves"]["baseline"]["end"] = "2014-09-01"
    write_profile(project, p)
    with pytest.raises(ProfileError) as err:
        load_profile("testville")
    msg = str(err.value)
    assert "testville.yml" in msg and "residents.files.0.format" in msg and "waves.baseline" in msg


@pytest.mark.parametrize("change,key", [
    (lambda r: r["columns"].pop("respondent_id"), "respondent_id"),
    (lambda r: r["values"]["gender"].update({"Autre": "other"}), "residents.values.gender"),
    (lambda r: r["values"]["pj_fair"].update({"Toujours": 5}), "residents.values.pj_fair"),
    (lambda r: r["values"].update({"tourist": {"oui": True}}), "residents.values.tourist"),
    (lambda r: r["values"]["gender"].update({"FEMME ": "male"}), "residents.values.gender"),
])
def test_profile_that_cannot_drive_cleaning(city, project, change, key):
    p = make_profile()
    change(p["residents"])
    write_profile(project, p)
    with pytest.raises(ProfileError) as err:
        _clean()
    assert key in str(err.value)


def test_rejections_never_lose_rows(city):
    _, raw = city
    rows = [resident_row(i) for i in range(50)]
    for i in range(0, 50, 7):
        rows[i]["AGE"] = "abc" if i % 2 else "200"
    rows[10]["SEXE"] = "X"
    write_csv(raw / "residents.csv", rows)
    with pytest.raises(UnknownLabelError):
        _clean()  # strict: the profile must learn "abc"/"X" first
    res = clean_city(load_profile("testville"), key=KEY, strict=False)
    assert len(res.respondents) + len(res.rejected) == 50
    assert res.rejected["reason"].notna().all() and (res.rejected["reason"] != "").all()
    assert pd.Index(res.rejected["raw_row_number"]).is_unique


def test_encoding_error_never_quotes_the_row(city, project):
    """A Latin-1 file declared UTF-8 whose first bad byte is in a name (unmapped column):
    the message names file, line, byte offset and the byte, not the text around it."""
    _, raw = city
    p = make_profile()
    p["residents"]["files"][0]["encoding"] = "utf-8"
    write_profile(project, p)
    rows = [{"ID": r["ID"], "NOM": "Zoé Kowalczyk", **{k: v for k, v in r.items() if k != "ID"}}
            for r in (resident_row(i, RESPECT="Souvent", JUSTE="Jamais", EXPLIQUE="Jamais") for i in range(4))]
    write_csv(raw / "residents.csv", rows, encoding="latin-1")
    with pytest.raises(RawDataError) as err:
        _clean()
    msg = str(err.value)
    assert "residents.csv" in msg and "row 2" in msg and "byte offset" in msg and r"\xe9" in msg
    for part in ("Kowalczyk", "Zo", "1000;"):
        assert part not in msg, part


_ERROR_CASES = [c for c in CASES if c.outcome == "error"]


@pytest.mark.parametrize("case", _ERROR_CASES, ids=[c.name for c in _ERROR_CASES])
def test_no_reader_error_carries_a_name_to_the_console(project, case, capsys):
    """Every kind of reader error of the damage corpus, through the cleaning command line:
    the name in the unmapped column of every row is in no output."""
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True)
    p = make_profile()
    p["residents"]["files"][0].update(case.make(raw))
    p["residents"].update(case.profile)
    write_profile(project, p)
    assert clean_main(["testville"]) == 1
    out = capsys.readouterr()
    assert "FAILED" in out.err
    for text in (out.out, out.err):
        assert SECRET not in text and "Kowalczyk" not in text
    assert not (project / "data" / "processed" / "testville").exists()
