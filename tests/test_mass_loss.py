"""Mass loss stops the city: a file, a wave, a pilot or comparison area or a targeted group
that ends up empty or mostly rejected is a clear error at the cleaning step, never an "ok" run.

The shapes are those of the audit (issue 10, section 3), each on a small city whose every area
has rows in both waves, with the documented default thresholds of ``quality``.
"""

from __future__ import annotations

import json

import pytest
from conftest import CODES, make_profile, resident_row, write_csv, write_profile

from analysis.inputs.clean import DataLossError, clean_city, main, run_cleaning
from analysis.config import PATHS
from analysis.inputs.profile import ProfileError, Quality, load_profile

KEY = b"test-key-0123456789abcdef"
N = 40  # rows per file: 10 per area, 5 per area and wave, 7 young (15-24) in each file


def _row(i: int, **kw) -> dict:
    # areas 101..104 each get rows of both waves (resident_row alternates the wave with i)
    return resident_row(i, QUARTIER=CODES[(i // 2) % 4], **kw)


def _rows(n: int = N, start: int = 0) -> list[dict]:
    return [_row(i) for i in range(start, start + n)]


@pytest.fixture(autouse=True)
def _scratch_files_count_as_demo(monkeypatch):
    """These tests are about data loss, on scratch files under ``synthetic: true``; the
    refusal of the public demo key over non-demo files is tested in test_pseudonymise."""
    import analysis.inputs.pseudonymise as pseudonymise

    monkeypatch.setattr(pseudonymise, "check_synthetic_claim", lambda profile: None)


@pytest.fixture
def strict_city(project):
    """The test city with the documented default thresholds (no ``quality`` key)."""
    p = make_profile()
    p.pop("quality")
    write_profile(project, p)
    return project, p


def _clean(rows, name: str = "residents.csv", **kw):
    write_csv(PATHS.raw_city("testville") / name, rows)
    return clean_city(load_profile("testville"), key=KEY, **kw)


def _two_files(project, p, waves: bool = False, date_format_2: str | None = None):
    """Two residents files; ``waves``: one file per wave (baseline, follow_up)."""
    f0 = dict(p["residents"]["files"][0])
    f1 = dict(f0, path="residents_2.csv")
    if waves:
        f0["wave"], f1["wave"] = "baseline", "follow_up"
    if date_format_2 is not None:
        f1["date_format"] = date_format_2
    p["residents"]["files"] = [f0, f1]
    write_profile(project, p)


def test_defaults_are_documented_values():
    q = Quality()
    assert (q.max_rejected_share, q.min_kept_per_area, q.min_kept_per_group) == (0.5, 1, 1)
    assert Quality.DEFAULTS == {"max_rejected_share": 0.5, "min_kept_per_area": 1, "min_kept_per_group": 1}


def test_clean_city_passes_and_logs_every_check(strict_city):
    rows = _rows()
    rows[0]["AGE"] = "7"  # one ordinary rejection
    res = _clean(rows)
    q = res.log["quality"]
    assert q["max_rejected_share"] == 0.5 and q["reason"] is None
    kinds = {(c["kind"], c["unit"]) for c in q["checks"]}
    assert {("file", "residents.csv"), ("wave", "baseline"), ("wave", "follow_up"), ("pilot area", "101"),
            ("comparison area", "102"), ("targeted group", "young")} <= kinds
    assert all(c["problem"] is None for c in q["checks"])
    young = next(c for c in q["checks"] if c["kind"] == "targeted group")
    assert (young["raw_rows"], young["kept"]) == (6, 6)  # 18-24 year-olds but row 0 (age 7)
    file_check = next(c for c in q["checks"] if c["kind"] == "file" and c["dataset"] == "residents")
    assert (file_check["raw_rows"], file_check["kept"], file_check["rejected"]) == (N, N - 1, 1)
    json.dumps(res.log)  # the log stays writable


def test_whole_wave_rejected_by_a_date_format_typo(strict_city):
    project, p = strict_city
    # the second wave's file says two-digit years, its dates have four: every row invalid_date
    _two_files(project, p, waves=True, date_format_2="%d/%m/%y")
    write_csv(PATHS.raw_city("testville") / "residents_2.csv",
              [_row(i, DATE="20/10/2015") for i in range(N, 2 * N)])
    with pytest.raises(DataLossError) as err:
        _clean([_row(i, DATE="15/10/2014") for i in range(N)])
    msg = str(err.value)
    assert "testville" in msg and "quality" in msg
    assert f"file residents_2.csv: {N} of {N} rows rejected (100%" in msg and "invalid_date" in msg
    assert "check the file's date_format" in msg
    assert "wave 'follow_up'" in msg
    assert "file residents.csv:" not in msg and "wave 'baseline'" not in msg


def test_whole_pilot_area_lost(strict_city):
    # the pilot area's code is written differently in the file: every row unknown_neighbourhood
    rows = [dict(r, QUARTIER="1O1") if r["QUARTIER"] == "101" else r for r in _rows()]
    with pytest.raises(DataLossError) as err:
        _clean(rows)
    msg = str(err.value)
    assert "pilot area '101': no raw row belongs to it" in msg
    assert "10 rows were rejected as unknown_neighbourhood" in msg
    assert "0 rows kept in wave baseline" in msg and "0 rows kept in wave follow_up" in msg
    assert "comparison area" not in msg and "file residents.csv" not in msg  # 25 % of the file only


def test_whole_comparison_area_lost(strict_city):
    # every row of the comparison area has an impossible age
    rows = [dict(r, AGE="150") if r["QUARTIER"] == "102" else r for r in _rows()]
    with pytest.raises(DataLossError) as err:
        _clean(rows)
    msg = str(err.value)
    assert "comparison area '102': 10 of 10 rows rejected (100%" in msg and "impossible_age 10" in msg
    assert "pilot area" not in msg


def test_comparison_area_empty_in_one_wave_only(strict_city):
    rows = [r for r in _rows() if not (r["QUARTIER"] == "102" and r["VAGUE"] == "2015")]
    with pytest.raises(DataLossError) as err:
        _clean(rows)
    msg = str(err.value)
    assert "comparison area '102': 0 rows kept in wave follow_up" in msg and "wave baseline" not in msg


def test_targeted_group_empty(strict_city):
    # nobody of 15-24 in the data: the young people the pilot targets are absent
    with pytest.raises(DataLossError) as err:
        _clean([_row(i, AGE=str(30 + i % 40)) for i in range(N)])
    msg = str(err.value)
    assert "targeted group 'young'" in msg and "0 rows kept in wave baseline" in msg


def test_targeted_group_whose_column_is_not_mapped(project):
    p = make_profile()
    p.pop("quality")
    p["pilot"]["targeted_groups"] = ["young", "police_contact"]
    write_profile(project, p)
    with pytest.raises(DataLossError) as err:
        _clean(_rows())
    msg = str(err.value)
    assert "targeted group 'police_contact': no raw row belongs to it" in msg
    assert "does not map 'police_contact_12m'" in msg and "'young'" not in msg


def test_one_file_of_two_mostly_rejected(strict_city):
    project, p = strict_city
    _two_files(project, p)
    second = _rows(start=N)
    for r in second[: 24]:  # 60 % of the second file, 30 % of the city
        r["AGE"] = "3"
    write_csv(PATHS.raw_city("testville") / "residents_2.csv", second)
    with pytest.raises(DataLossError) as err:
        _clean(_rows())
    msg = str(err.value)
    assert f"file residents_2.csv: 24 of {N} rows rejected (60%, more than 50%; impossible_age 24)" in msg
    assert "file residents.csv" not in msg and "wave" not in msg.split("\n", 1)[1]


def test_threshold_changed_with_a_reason_lets_the_city_through(project):
    p = make_profile(quality={"max_rejected_share": 0.7, "reason": "second delivery re-keyed by hand"})
    _two_files(project, p)
    second = _rows(start=N)
    for r in second[: 24]:
        r["AGE"] = "3"
    write_csv(PATHS.raw_city("testville") / "residents_2.csv", second)
    res = _clean(_rows())
    assert len(res.respondents) == 2 * N - 24
    assert res.log["quality"]["reason"] == "second delivery re-keyed by hand"
    assert res.log["quality"]["max_rejected_share"] == 0.7


@pytest.mark.parametrize("quality", [{"max_rejected_share": 0.7}, {"min_kept_per_area": 0, "reason": "  "}])
def test_threshold_changed_without_a_reason_is_refused(project, quality):
    write_profile(project, make_profile(quality=quality))
    with pytest.raises(ProfileError) as err:
        load_profile("testville")
    msg = str(err.value)
    assert "testville.yml" in msg and "key quality" in msg and "quality.reason" in msg


def test_zero_kept_rows_stop_at_the_cleaning_step_not_later(strict_city):
    """Every row rejected: a clear error at step 01 (no TypeError, no empty outputs written)."""
    write_csv(PATHS.raw_city("testville") / "residents.csv", [_row(i, AGE="200") for i in range(N)])
    with pytest.raises(DataLossError) as err:
        run_cleaning("testville")
    msg = str(err.value)
    assert f"file residents.csv: {N} of {N} rows rejected (100%" in msg and "0 rows kept" in msg
    assert not (PATHS.processed_city("testville") / "respondents.parquet").exists()


def test_zero_kept_rows_even_when_every_loss_is_allowed(project):
    p = make_profile(quality={"max_rejected_share": 1.0, "min_kept_per_area": 0, "min_kept_per_group": 0,
                              "reason": "test"})
    write_profile(project, p)
    with pytest.raises(DataLossError, match="0 rows kept .at least 1 needed"):
        _clean([_row(i, AGE="200") for i in range(N)])


def test_cli_reports_the_loss_and_fails(strict_city, capsys):
    rows = [dict(r, AGE="150") if r["QUARTIER"] == "102" else r for r in _rows()]
    write_csv(PATHS.raw_city("testville") / "residents.csv", rows)
    assert main(["testville"]) == 1
    err = capsys.readouterr().err
    assert "testville: FAILED" in err and "comparison area '102'" in err


def test_lost_officers_file_stops_the_city(strict_city):
    project, p = strict_city
    p["officers"] = {
        "files": [{"path": "officers.csv", "format": "csv", "delimiter": ";"}],
        "columns": {"officer_id": "ID", "wave": "VAGUE"},
        "values": {"wave": {"2014": "baseline", "2015": "follow_up"}},
    }
    write_profile(project, p)
    write_csv(PATHS.raw_city("testville") / "officers.csv",
              [{"ID": f"P{i}", "VAGUE": "2016"} for i in range(12)], encoding="utf-8")
    with pytest.raises(DataLossError) as err:
        _clean(_rows())
    msg = str(err.value)
    assert ("officers file officers.csv: 12 of 12 rows rejected (100%, more than 50%; unmapped_wave 12; "
            "check values.wave") in msg
    assert "residents" not in msg


def test_share_is_compared_exactly():
    from analysis.inputs.clean import _over_share

    assert not _over_share(3, 5, 0.6) and _over_share(4, 5, 0.6)
    assert not _over_share(1, 2, 0.5) and _over_share(501, 1000, 0.5)
    assert not _over_share(0, 0, 0.5)  # an empty unit is judged by its kept rows, not a share
    # 0.1 * 3 is 0.30000000000000004 in floats; 3 of 10 rejected is not more than 0.3
    assert not _over_share(3, 10, 0.3) and _over_share(3, 10, 0.1 + 0.2 - 0.00001)


# ------------------------------------------------------------------ the demonstration data
#: (raw, kept, rejected) per residents file, as cleaned before the mass-loss checks existed
DEMO_RESIDENTS = {
    "toulouse": {"habitants_vague1_2014.csv": (1206, 1187, 19), "habitants_vague2_2015.csv": (1206, 1192, 14)},
    "lisbon": {"inquerito_residentes_2014_2015.sav": (2814, 2776, 38)},
}


@pytest.mark.parametrize("city", sorted(DEMO_RESIDENTS))
def test_demo_city_passes_every_check_with_unchanged_counts(city):
    from analysis.inputs.pseudonymise import load_key

    profile = load_profile(city)
    res = clean_city(profile, key=load_key(profile))
    got = {f["source_file"]: (f["raw_rows"], f["kept"], f["rejected"])
           for f in res.log["files"] if f["dataset"] == "residents"}
    assert got == DEMO_RESIDENTS[city]
    checks = res.log["quality"]["checks"]
    assert [c for c in checks if c["problem"]] == []
    kinds = [c["kind"] for c in checks if c["dataset"] == "residents"]
    assert kinds.count("pilot area") == len(profile.pilot.pilot_areas)
    assert kinds.count("targeted group") == len(profile.pilot.targeted_groups)


def test_demo_toulouse_with_a_date_format_typo_stops(tmp_path):
    """The audit's case on the demonstration data: a two-digit year on the 2015 file."""
    from analysis.inputs.pseudonymise import load_key

    text = PATHS.profile("toulouse").read_text(encoding="utf-8")
    assert text.count("date_format: '%d-%m-%Y'") == 2
    head, tail = text.rsplit("date_format: '%d-%m-%Y'", 1)  # the second residents file
    path = tmp_path / "toulouse.yml"
    path.write_text(head + "date_format: '%d-%m-%y'" + tail, encoding="utf-8")
    profile = load_profile(path)
    assert [f.date_format for f in profile.residents.files] == ["%d-%m-%Y", "%d-%m-%y"]
    with pytest.raises(DataLossError) as err:
        clean_city(profile, key=load_key(profile))
    msg = str(err.value)
    assert "residents file habitants_vague2_2015.csv: 1206 of 1206 rows rejected (100%" in msg
    assert "residents wave 'follow_up'" in msg and "habitants_vague1_2014.csv" not in msg
