"""Table-driven corpus of damaged raw files (tests/damage_corpus.py): each kind of damage
gives a clear error naming the place, a rejection with a reason, or the identical result;
and a name in an unmapped column never reaches a message or an output."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_profile, write_profile
from damage_corpus import CASES, FILE, SECRET, base_rows, counts, csv_text

from analysis.publishing import report_inputs
from analysis.inputs.clean import clean_city
from analysis.inputs.profile import ProfileError, load_profile
from analysis.inputs.readers import RawDataError

KEY = b"test-key-0123456789abcdef"
_BASELINE: dict[str, pd.DataFrame] = {}


def _setup(project, case=None):
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True, exist_ok=True)
    p = make_profile()
    if case is None:
        (raw / FILE).write_bytes(csv_text(base_rows()).encode("latin-1"))
    else:
        p["residents"]["files"][0].update(case.make(raw))
        p["residents"].update(case.profile)
    write_profile(project, p)
    return clean_city(load_profile("testville"), key=KEY)


def _baseline(project) -> pd.DataFrame:
    if "respondents" not in _BASELINE:
        res = _setup(project)
        assert len(res.rejected) == 0 and len(res.respondents) == len(base_rows())
        _BASELINE["respondents"] = res.respondents
    return _BASELINE["respondents"]


def _comparable(df: pd.DataFrame, same_lines: bool) -> pd.DataFrame:
    drop = ["source_file"] + ([] if same_lines else ["raw_row_number"])
    return df.drop(columns=drop).reset_index(drop=True)


def _no_secret(*texts: str) -> None:
    for t in texts:
        assert SECRET not in t and "Kowalczyk" not in t, "a name from an unmapped column leaked"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damaged_input(project, case):
    base = _baseline(project)
    if case.outcome == "error":
        with pytest.raises((RawDataError, ProfileError)) as err:
            _setup(project, case)
        msg = str(err.value)
        _no_secret(msg, repr(err.value), repr(err.value.args))
        assert any(name in msg for name in ("residents.csv", "residents.xlsx", "residents.sav",
                                            "residents.dta")), msg
        for part in case.expect:
            assert part in msg, (part, msg)
        return
    res = _setup(project, case)
    _no_secret(res.rejected.to_json(date_format="iso"), json.dumps(res.log, default=str),
               res.respondents.to_json(date_format="iso"))
    kept = res.respondents.copy()
    if case.fmt in ("sav", "dta"):
        kept["raw_row_number"] = kept["raw_row_number"] + 1  # case number -> line of the CSV baseline
    if case.outcome == "identical":
        assert len(res.rejected) == 0, res.rejected[["raw_row_number", "reason", "detail"]]
        pd.testing.assert_frame_equal(_comparable(kept, case.same_lines), _comparable(base, case.same_lines))
        return
    assert case.outcome == "rejected"
    reason, rows = case.expect
    rej = res.rejected
    assert sorted(rej["raw_row_number"].astype(int)) == sorted(rows), rej[["raw_row_number", "reason", "detail"]]
    assert set(rej["reason"]) == {reason}, rej[["raw_row_number", "reason", "detail"]]
    assert rej["detail"].notna().all() or reason != "malformed_row"
    lines = [r + 1 for r in rows] if case.fmt in ("sav", "dta") else rows
    expected = base[~base["raw_row_number"].isin(lines)]
    pd.testing.assert_frame_equal(_comparable(kept, True), _comparable(expected, True))


def test_corpus_size_and_counts_by_outcome(capsys):
    c = counts()
    assert len(CASES) >= 40 and len({x.name for x in CASES}) == len(CASES)
    assert set(c) == {"identical", "rejected", "error"}
    with capsys.disabled():
        print(f"\n[damage corpus] {len(CASES)} kinds of damage: "
              + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))


# ---------------------------------------------------------------- personal data in failures
# A name planted where an error or the published notebook could quote it: the first line
# (a title line the profile does not skip; a headerless file read with the wrong
# delimiter), a mapped Likert column, the neighbourhood / date / wave columns. It must reach
# no exception message, no .failed file, no `pipeline status` line and no report note.
PLANTED = "Zéphyrine Quabblewick"


def _title_line(folder):
    rows = base_rows()
    (folder / FILE).write_bytes((f"Enquete habitants - saisie {PLANTED}\n" + csv_text(rows)).encode("latin-1"))
    return {}


def _headerless_wrong_delimiter(folder):
    rows = base_rows()
    rows[0]["NOM"] = PLANTED
    text = csv_text(rows).split("\n", 1)[1]  # no header line: the first line is a person's answers
    (folder / FILE).write_bytes(text.encode("latin-1"))
    return {"delimiter": ","}


def _likert_name(folder):
    rows = base_rows()
    rows[5]["RESPECT"] = PLANTED
    (folder / FILE).write_bytes(csv_text(rows).encode("latin-1"))
    return {}


LEAK_CASES = {"title_line_not_skipped": _title_line,
              "headerless_wrong_delimiter": _headerless_wrong_delimiter,
              "name_in_likert_column": _likert_name}


def _as_pipeline_failure(project, exc: BaseException) -> str:
    """Write the .failed file as the pipeline does for a failed 01-clean cell, return
    `pipeline status` and the report's failure note."""
    import contextlib
    import io

    from analysis.running import pipeline

    path = pipeline.failure_path("testville", "01-clean")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"01-clean, cell 5: {type(exc).__name__}: {exc}\n", encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        pipeline.status()
    note = report_inputs.failed_step("testville")
    assert note and "01-clean" in note and type(exc).__name__ in note and "01-clean.failed" in note
    return "\n".join([path.read_text(encoding="utf-8"), out.getvalue(), note])


@pytest.mark.parametrize("name", list(LEAK_CASES))
def test_planted_name_reaches_no_error_failed_file_status_or_report(project, name):
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True, exist_ok=True)
    p = make_profile()
    p["residents"]["files"][0].update(LEAK_CASES[name](raw))
    write_profile(project, p)
    with pytest.raises(RawDataError) as err:
        clean_city(load_profile("testville"), key=KEY)
    e = err.value
    texts = [str(e), repr(e), repr(e.args), repr(getattr(e, "value", None)), _as_pipeline_failure(project, e)]
    for t in texts:
        assert PLANTED not in t and "Quabblewick" not in t, t
    assert FILE in str(e)
    if name != "name_in_likert_column":
        assert "skiprows" in str(e) or "delimiter" in str(e), str(e)
    else:  # the column and the line are named; the value is counted, not shown
        assert "RESPECT" in str(e) and "row(s) 7" in str(e) and "1 distinct unknown value(s)" in str(e), str(e)


def test_recurring_unknown_label_is_quoted(project):
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True, exist_ok=True)
    rows = base_rows()
    for i in range(12):
        rows[i]["RESPECT"] = "Parfois"
    rows[20]["RESPECT"] = PLANTED
    (raw / FILE).write_bytes(csv_text(rows).encode("latin-1"))
    write_profile(project, make_profile())
    with pytest.raises(RawDataError) as err:
        clean_city(load_profile("testville"), key=KEY)
    msg = str(err.value)
    assert "'Parfois'" in msg and "in 12 row(s)" in msg and "row 2" in msg, msg
    assert "1 distinct unknown value(s)" in msg and "row(s) 22" in msg and "Quabblewick" not in msg, msg


@pytest.mark.parametrize("col", ["QUARTIER", "DATE", "VAGUE"])
def test_name_in_rejected_column_not_in_published_rejections(project, col):
    from analysis.inputs.clean import rejection_counts

    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True, exist_ok=True)
    rows = base_rows()
    rows[3][col] = PLANTED
    (raw / FILE).write_bytes(csv_text(rows).encode("latin-1"))
    write_profile(project, make_profile())
    try:
        res = clean_city(load_profile("testville"), key=KEY, strict=False)
    except RawDataError as e:  # a column the profile maps to labels may stop instead
        for t in (str(e), repr(e), repr(e.args), _as_pipeline_failure(project, e)):
            assert "Quabblewick" not in t, t
        return
    assert len(res.rejected) == 1
    pub = rejection_counts(res)
    assert list(pub.columns) == ["dataset", "reason", "column", "rejected"]
    assert pub["rejected"].tolist() == ["<10"]  # 1 rejected row: published as "<10"
    assert "Quabblewick" not in pub.to_json(force_ascii=False)


def test_report_failure_note_has_no_message_counts(project):
    """P4: a DataLossError's exact small counts stay in the .failed file, not the report."""
    from analysis.running import pipeline

    path = pipeline.failure_path("testville", "01-clean")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("01-clean, cell 5: DataLossError: residents.csv: 303 of 306 rows rejected "
                    "(unknown_neighbourhood 300; impossible_age 2, duplicate 1)\n", encoding="utf-8")
    note = report_inputs.failed_step("testville")
    assert note == "01-clean: DataLossError (reports/.stamps/testville/01-clean.failed)"
    assert "303" in pipeline.failure_reason("testville")  # the local file keeps the details
