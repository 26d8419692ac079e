"""Table-driven corpus of damaged raw files (tests/damage_corpus.py): each kind of damage
gives a clear error naming the place, a rejection with a reason, or the identical result;
and a name in an unmapped column never reaches a message or an output."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_profile, write_profile
from damage_corpus import CASES, FILE, SECRET, base_rows, counts, csv_text

from analysis.clean import clean_city
from analysis.profile import ProfileError, load_profile
from analysis.readers import RawDataError

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
