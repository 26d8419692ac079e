"""Cleaning: label mapping, don't-know codes, indices, rejections, reconciliation, outputs."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from conftest import make_profile, resident_row, write_csv, write_profile

from analysis.inputs import codebook
from analysis.inputs.clean import REASONS, clean_city, main, norm_label, run_cleaning, summary_tables
from analysis.inputs.profile import load_profile
from analysis.inputs.pseudonymise import DEMO_KEY

KEY = b"test-key-0123456789abcdef"


def _clean(rows, **kw):
    """Write rows as the test city's residents.csv and clean it."""
    from analysis.config import PATHS

    write_csv(PATHS.raw_city("testville") / "residents.csv", rows)
    return clean_city(load_profile("testville"), key=KEY, **kw)


def _by_row(df, n):
    return df.set_index("raw_row_number").loc[n]


def test_norm_label_ignores_case_accents_and_spacing():
    assert norm_label("  Très   SOUVENT ") == norm_label("tres souvent") == "tres souvent"
    assert norm_label("Se\u0301nior") == norm_label("Sénior")  # decomposed vs composed é
    assert norm_label("NO SAP") == norm_label("no sap")


def test_labels_map_despite_whitespace_case_and_accents(city):
    rows = [resident_row(i) for i in range(8)]
    rows[0].update(RESPECT="  très SOUVENT ", SEXE=" FEMME", IMMIG="oui ")
    rows[1].update(RESPECT="Tres souvent", SEXE="homme")
    res = _clean(rows)
    r = _by_row(res.respondents, 2)
    assert (r["pj_respect"], r["gender"], r["migrant_background"]) == (4, "female", True)
    assert _by_row(res.respondents, 3)["pj_respect"] == 4
    assert len(res.rejected) == 0


def test_dont_know_codes_become_missing_but_age_77_stays(city):
    rows = [resident_row(i) for i in range(6)]
    rows[0].update(AGE="77", CONFIANCE="77", RESPECT="NSP", EFF_VIOL="99", DEVOIR="Ne sait pas")
    rows[1].update(AGE="88", CONFIANCE="  refus ")
    res = _clean(rows)
    r0, r1 = _by_row(res.respondents, 2), _by_row(res.respondents, 3)
    assert r0["age"] == 77 and r0["age_group"] == "65+"
    assert r1["age"] == 88
    for col in ("trust_police", "pj_respect", "eff_violence", "duty_support_police"):
        assert pd.isna(r0[col]), col
    assert pd.isna(r1["trust_police"])
    # never stored as numbers anywhere
    items = res.respondents[["trust_police", "eff_violence", "eff_burglary", "duty_support_police"]]
    assert not items.isin([77, 88, 99]).any().any()
    miss = res.log["missingness"]["residents"]
    assert miss["trust_police"]["dont_know"] == 2 and miss["pj_respect"]["dont_know"] == 1


def test_item_missing_code_inside_an_item_range_is_a_value(city, project):
    # 9 = "don't know" on 1-4 items must not blank a 9 on the 0-10 trust scale.
    p = make_profile()
    p["residents"]["item_missing"] = [9, 99]
    p["residents"]["values"].pop("pj_respect")
    write_profile(project, p)
    rows = [resident_row(i, RESPECT=str(1 + i % 4)) for i in range(4)]
    rows[0].update(CONFIANCE="9", RESPECT="9")
    res = _clean(rows)
    r = _by_row(res.respondents, 2)
    assert r["trust_police"] == 9 and pd.isna(r["pj_respect"])


def test_indices_are_means_of_answered_items_never_zero_for_missing(city):
    rows = [resident_row(i) for i in range(4)]
    # all three PJ items missing -> index missing, not 0
    rows[0].update(RESPECT="NSP", JUSTE="Refus", EXPLIQUE="", EFF_VIOL="10", EFF_CAMB="NSP",
                   CONFIANCE="8", DEVOIR="6")
    # two of three answered: mean of rescaled answered items (10 and 3.33) = 6.67
    rows[1].update(RESPECT="Très souvent", JUSTE="Rarement", EXPLIQUE="NSP", EFF_VIOL="4", EFF_CAMB="6",
                   CONFIANCE="88", DEVOIR="2")
    res = _clean(rows)
    r0, r1 = _by_row(res.respondents, 2), _by_row(res.respondents, 3)
    assert pd.isna(r0["pj_index"])
    assert pd.isna(r0["eff_index"])  # 1 of 2 is not more than half
    assert r0["legitimacy_index"] == pytest.approx(7.0)
    assert r1["pj_index"] == pytest.approx((10 + 10 / 3) / 2)
    assert r1["eff_index"] == pytest.approx(5.0)
    assert pd.isna(r1["legitimacy_index"])
    assert not (res.respondents["pj_index"] == 0).any()


def test_rejections_have_reasons_and_every_row_is_accounted_for(city):
    rows = [resident_row(i) for i in range(30)]
    rows[3]["ID"] = "  "                       # missing id
    rows[4]["VAGUE"] = "2016"                  # unmapped wave
    rows[5]["ID"] = rows[1]["ID"]              # duplicate of row 3 (same wave: both odd)
    rows[6]["AGE"] = "7"                       # impossible age
    rows[7]["AGE"] = "131"
    rows[8]["QUARTIER"] = "999"                # unknown neighbourhood
    rows[9]["DATE"] = "01/03/2015"             # outside the follow-up window (row 9 is odd: 2015)
    rows[10]["CONFIANCE"] = "11"               # out of range
    rows[11]["EFF_VIOL"] = "7,5"               # not a whole number
    rows[12]["QUARTIER"] = ""                  # missing required neighbourhood
    res = _clean(rows)
    rej = res.rejected.set_index("raw_row_number")
    expected = {5: "missing_id", 6: "unmapped_wave", 7: "duplicate", 8: "impossible_age",
                9: "impossible_age", 10: "unknown_neighbourhood", 11: "date_outside_wave",
                12: "out_of_range", 13: "invalid_value", 14: "missing_required"}
    assert rej["reason"].to_dict() == expected
    assert rej.loc[10, "column"] == "QUARTIER" and rej.loc[10, "value"] == "999"
    assert rej.loc[12, "column"] == "CONFIANCE" and rej.loc[12, "value"] == "11"
    assert "residents.csv row 3" in rej.loc[7, "detail"]
    assert set(res.rejected["reason"]) <= set(REASONS)
    f = res.log["files"][0]
    assert f["raw_rows"] == 30 and f["kept"] == 20 and f["rejected"] == 10
    assert f["raw_rows"] == f["kept"] + sum(f["rejected_by_reason"].values())
    # kept + rejected rows are exactly the raw rows, none twice
    seen = sorted(res.respondents["raw_row_number"].tolist() + res.rejected["raw_row_number"].tolist())
    assert seen == list(range(2, 32))


def test_duplicates_keep_the_first_and_allow_same_id_in_other_wave(city):
    rows = [resident_row(0), resident_row(1), resident_row(2, ID="1000"), resident_row(3, ID="1000")]
    res = _clean(rows)
    # row 4 (2nd data row... raw line 4) repeats id 1000 in the baseline wave; line 5 is follow-up
    assert res.rejected["raw_row_number"].tolist() == [4]
    kept = res.respondents[res.respondents["raw_row_number"].isin([2, 5])]
    assert kept["respondent_id"].nunique() == 1  # panel: same person, same pseudonym, both waves
    assert sorted(kept["wave"]) == ["baseline", "follow_up"]


def test_unknown_label_lenient_rejects_row(city):
    rows = [resident_row(i) for i in range(4)]
    rows[2]["SEXE"] = "Autre"
    res = _clean(rows, strict=False)
    assert res.rejected["reason"].tolist() == ["unknown_label"]
    assert res.rejected["value"].tolist() == ["Autre"] and res.rejected["column"].tolist() == ["SEXE"]
    assert len(res.respondents) == 3


def test_outputs_follow_codebook_and_schema(city):
    res = _clean([resident_row(i) for i in range(12)])
    for name in ("residents", "officers", "activities"):
        df = res.dataset(name)
        assert list(df.columns) == codebook.columns(name)
        for v in codebook.variables(name):
            assert str(df[v.name].dtype) == codebook.PANDAS_DTYPES[v.kind], v.name
        codebook.pandera_schema(name).validate(df)
    r = res.respondents
    assert r.loc[r["neighbourhood"] == "101", "pilot_area"].eq("pilot").all()
    assert r.loc[r["neighbourhood"] == "102", "pilot_area"].eq("comparison").all()
    assert r.loc[r["neighbourhood"].isin(["103", "104"]), "pilot_area"].eq("other").all()
    assert r["city"].eq("testville").all()


def test_multi_file_city_xlsx_sheets_and_sav(project):
    p = make_profile()
    p["residents"] = {
        "files": [{"path": "enquete.xlsx", "format": "xlsx", "sheet": "2014", "wave": "baseline"},
                  {"path": "enquete.xlsx", "format": "xlsx", "sheet": "2015", "wave": "follow_up"}],
        "columns": {"respondent_id": "id", "neighbourhood": "zona", "age": "eta", "gender": "sesso",
                    "trust_police": "fiducia", "interview_date": "data"},
        "values": {"gender": {"Donna": "female", "Uomo": "male"}},
        "missing": ["non so"], "item_missing": [77, 88, 99],
    }
    p["officers"] = {
        "files": [{"path": "agenti.sav", "format": "sav", "value_labels": True}],
        "columns": {"officer_id": "matricola", "wave": "ondata", "years_service": "anni",
                    "off_job_satisfaction": "soddisf", "trained_in_pilot": "formato"},
        "values": {"wave": {"Prima": "baseline", "Dopo": "follow_up"},
                   "trained_in_pilot": {"Sì": True, "No": False}},
        "missing": ["Non so"],
    }
    write_profile(project, p)
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet, year in (("2014", 2014), ("2015", 2015)):
        ws = wb.create_sheet(sheet)
        ws.append(["id", "zona", "eta", "sesso", "fiducia", "data"])
        for i in range(5):
            ws.append([100 + i, int(101 + i % 4), 20 + i, "donna" if i % 2 else " UOMO", 77 if i == 0 else i,
                       pd.Timestamp(year, 10, 10 + i).to_pydatetime()])
    wb.save(raw / "enquete.xlsx")
    off = pd.DataFrame({"matricola": [1.0, 2.0, 3.0, 1.0], "ondata": [1.0, 1.0, 2.0, 2.0],
                        "anni": [3.0, 50.0, 7.0, 4.0], "soddisf": [4.0, 2.0, 9.0, 5.0],
                        "formato": [1.0, 2.0, 1.0, 1.0]})
    pyreadstat.write_sav(off, str(raw / "agenti.sav"), variable_value_labels={
        "ondata": {1.0: "Prima", 2.0: "Dopo"}, "formato": {1.0: "Sì", 2.0: "No"}, "soddisf": {9.0: "Non so"}})
    res = clean_city(load_profile("testville"), key=KEY)
    r = res.respondents
    assert len(r) == 10 and set(r["source_file"]) == {"enquete.xlsx[2014]", "enquete.xlsx[2015]"}
    assert r["trust_police"].isna().sum() == 2  # the two 77s
    assert r["gender"].value_counts().to_dict() == {"male": 6, "female": 4}
    assert r["interview_date"].dt.year.tolist() == [2014] * 5 + [2015] * 5
    o = res.officers
    assert len(o) == 3 and o["officer_id"].str.startswith("O-").all()
    assert res.rejected.set_index("raw_row_number").loc[2, "reason"] == "out_of_range"  # 50 years of service
    assert pd.isna(o.loc[o["raw_row_number"] == 3, "off_job_satisfaction"]).all()  # "Non so"
    assert o["trained_in_pilot"].tolist() == [True, True, True]
    assert {f["source_file"]: f["kept"] for f in res.log["files"]} == {
        "enquete.xlsx[2014]": 5, "enquete.xlsx[2015]": 5, "agenti.sav": 3}


def _list_as_demo(project, path):
    """synthetic: true needs listed demo files (the demo key is public): list a scratch file."""
    (project / "data" / "raw" / "DEMO_CHECKSUMS.sha256").write_text(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(project).as_posix()}\n")


def test_run_cleaning_writes_outputs_log_and_no_raw_ids(city):
    project, raw = city
    rows = [resident_row(i) for i in range(20)]
    rows[5]["ID"] = rows[3]["ID"]
    rows[6]["AGE"] = "3"
    write_csv(raw / "residents.csv", rows)
    _list_as_demo(project, raw / "residents.csv")
    res = run_cleaning("testville")
    out = project / "data" / "processed" / "testville"
    for name in ("respondents", "officers", "activities", "rejected"):
        assert (out / f"{name}.parquet").is_file()
    back = pd.read_parquet(out / "respondents.parquet")
    pd.testing.assert_frame_equal(back, res.respondents)
    log = json.loads((out / "cleaning_log.json").read_text())
    assert log["synthetic"] is True and "SYNTHETIC" in log["data_status"]
    assert len(log["files"][0]["sha256"]) == 64 and len(log["profile"]["file_sha256"]) == 64
    assert log["files"][0]["rejected_by_reason"] == {"duplicate": 1, "impossible_age": 1}
    # raw ids appear in no output file (rejected rows included)
    raw_ids = {r["ID"] for r in rows}
    for f in out.iterdir():
        text = f.read_bytes()
        for rid in raw_ids:
            assert f'"{rid}"'.encode() not in text and f"ID:{rid}".encode() not in text
    rej = pd.read_parquet(out / "rejected.parquet")
    for blob in rej["raw_values"]:
        assert json.loads(blob)["ID"].startswith("R-")
    assert rej.loc[rej["reason"] == "duplicate", "value"].str.startswith("R-").all()
    # the demo key was used: pseudonyms are reproducible on every machine
    assert res.log["key_fingerprint"] == __import__("analysis.inputs.pseudonymise", fromlist=["x"]).key_fingerprint(DEMO_KEY)


def test_summary_tables_suppress_small_cells(city):
    rows = [resident_row(i, QUARTIER="101") for i in range(24)]
    rows += [resident_row(100 + i, QUARTIER="102", VAGUE="2014", DATE="10/10/2014") for i in range(3)]
    res = _clean(rows)
    t = summary_tables(res)
    cov = t["coverage"]
    # published form (analysis.publishing.disclosure): 12 is shown rounded to base 10
    assert cov.loc["101", "baseline"] == "10" and cov.loc["101", "follow_up"] == "10"
    assert cov.loc["102", "baseline"] == "<10" and cov.loc["103", "baseline"] == "0"
    assert t["rows"]["raw_rows"].tolist() == [27]
    assert set(t["reliability"]["index"]) == {"pj_index", "eff_index", "legitimacy_index"}
    assert "trust_police" in set(t["missingness"]["variable"])


def test_cli_prints_summary_without_ids(city, capsys):
    project, raw = city
    rows = [resident_row(i) for i in range(10)]
    write_csv(raw / "residents.csv", rows)
    _list_as_demo(project, raw / "residents.csv")
    assert main(["testville"]) == 0
    out = capsys.readouterr().out
    assert "testville [SYNTHETIC]" in out and "10 raw = 10 kept + 0 rejected" in out
    assert not any(r["ID"] in out for r in rows)
    assert main(["nowhere"]) == 1


def test_large_city_vectorised_matches_small_rules(city):
    rng = np.random.default_rng(1)
    rows = [resident_row(int(i)) for i in rng.integers(0, 10_000, 3000)]
    res = _clean(rows)
    f = res.log["files"][0]
    assert f["raw_rows"] == 3000 == f["kept"] + f["rejected"]
    assert set(res.rejected["reason"]) == {"duplicate"}  # only repeats of the same i
    assert res.respondents.groupby(["respondent_id", "wave"]).size().max() == 1


@pytest.mark.parametrize("city_slug", ["nantes", "amiens", "aubervilliers", "milan"])
def test_synthetic_city_round_trip_recovers_generated_values(city_slug, tmp_path):
    """Generated data -> raw files (csv / sav / dta / xlsx sheets) -> cleaning gives back the
    generator's codebook values for every clean row, and rejects exactly its planted faults."""
    from analysis.demo import synthetic
    from analysis.inputs.pseudonymise import pseudonymise

    from analysis.inputs.profile import Quality

    # 60 rows per wave spread over up to 88 units may leave a comparison area empty in a wave
    profile = load_profile(city_slug).model_copy(update={"quality": Quality(
        min_kept_per_area=0, min_kept_per_group=0, reason="small generated sample")})
    frames = synthetic.generate_city(profile, n_per_wave=60)
    synthetic.write_raw(profile, frames, tmp_path)
    res = clean_city(profile, key=DEMO_KEY, raw_dir=tmp_path)
    faults = frames["faults"]
    planted = {"duplicate": "duplicate", "bad_age": "impossible_age",
               "unknown_neighbourhood": "unknown_neighbourhood", "date_outside_window": "date_outside_wave"}
    res_faults = faults[(faults["dataset"] == "residents") & faults["kind"].isin(planted)]
    got = res.rejected[res.rejected["dataset"] == "residents"]["reason"].value_counts().to_dict()
    assert got == res_faults["kind"].map(planted).value_counts().to_dict()
    truth = frames["residents"].drop(index=res_faults["row"]).copy()
    truth["respondent_id"] = pseudonymise(truth["respondent_id"], DEMO_KEY, city_slug, "R-")
    m = res.respondents.merge(truth, on=["respondent_id", "wave"], suffixes=("", "_t"), validate="1:1")
    assert len(m) == len(truth) == len(res.respondents)
    for v in codebook.variables("residents"):
        if v.name in ("respondent_id", "wave", "city", "source_file", "raw_row_number"):
            continue
        a, b = m[v.name].astype(object), m[v.name + "_t"].astype(object)
        same = (a.isna() & b.isna()) | (a == b).fillna(False).astype(bool)
        if v.kind == "float":
            same |= (m[v.name].astype(float) - m[v.name + "_t"].astype(float)).abs().lt(1e-9).fillna(False)
        assert same.all(), (v.name, a[~same].head(3).tolist(), b[~same].head(3).tolist())


def test_two_files_file_level_wave_and_cross_file_duplicates(project):
    p = make_profile()
    f0 = dict(p["residents"]["files"][0])
    p["residents"]["files"] = [f0, {**f0, "path": "vague2.csv", "wave": "follow_up"}]
    write_profile(project, p)
    raw = project / "data" / "raw" / "testville"
    write_csv(raw / "residents.csv", [resident_row(0), resident_row(1)])  # ids 1000 baseline, 1001 follow-up
    rows2 = [{k: v for k, v in resident_row(i, DATE="12/10/2015").items() if k != "VAGUE"} for i in (0, 1, 2)]
    write_csv(raw / "vague2.csv", rows2)  # 1000 again (other wave: kept), 1001 again (same wave: rejected)
    res = clean_city(load_profile("testville"), key=KEY)
    assert sorted(zip(res.respondents["source_file"], res.respondents["wave"])) == [
        ("residents.csv", "baseline"), ("residents.csv", "follow_up"),
        ("vague2.csv", "follow_up"), ("vague2.csv", "follow_up")]
    rej = res.rejected
    assert rej[["source_file", "raw_row_number", "reason"]].values.tolist() == [["vague2.csv", 3, "duplicate"]]
    assert "residents.csv row 3" in rej["detail"].iloc[0]
    assert {f["source_file"]: (f["raw_rows"], f["kept"]) for f in res.log["files"]} == {
        "residents.csv": (2, 2), "vague2.csv": (3, 2)}


# ------------------------------------------------------------------ clean_table (no city)
def _table_spec(**kw):
    from analysis.inputs.profile import DatasetSpec

    base = {"files": [{"path": "t.csv", "format": "csv", "wave": "baseline"}],
            "columns": {"respondent_id": "ID", "neighbourhood": "NB", "age": "AGE", "gender": "SEX",
                        "trust_police": "TRUST", "pj_respect": "RESP", "interview_date": "DATE"},
            "values": {"gender": {"F": "female", "M": "male"},
                       "pj_respect": {"Jamais": 1, "Rarement": 2, "Souvent": 3, "Très souvent": 4}},
            "missing": ["NSP"], "item_missing": [77, 88, 99]}
    base.update(kw)
    return DatasetSpec.model_validate(base)


def test_clean_table_applies_the_city_rules_without_a_city():
    from analysis.inputs.clean import clean_table

    frame = pd.DataFrame({
        "ID": ["a1", "a2", "a3", "a4", " ", "a1", "a7", "a8"],
        "NB": ["anywhere", "X", "X", "X", "X", "X", "X", "X"],  # no neighbourhood check
        "AGE": [77, 30, 40, 12, 50, 60, 70, 80],                # 77 stays an age; 12 impossible
        "SEX": [" f ", "M", "NSP", "F", "F", "F", "F", "F"],     # labels normalised, NSP -> missing
        "TRUST": [5, 88, 12, 3, 3, 3, 3.5, 10],                  # 88 DK, 12 out of range, 3.5 invalid
        "RESP": ["  TRES souvent", "jamais", "Souvent", "Souvent", "Souvent", "Souvent", "Souvent", "NSP"],
        "DATE": ["2001-01-01"] * 8,                              # no fieldwork window to check
        "NAME": ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"],
    })
    kept, rejected = clean_table(_table_spec(), frame, source="hand-made")
    assert len(kept) + len(rejected) == len(frame)
    assert kept["raw_row_number"].tolist() == [1, 2, 8]
    assert kept["respondent_id"].tolist() == ["a1", "a2", "a8"]  # not pseudonymised
    assert kept["neighbourhood"].iloc[0] == "anywhere" and "pilot_area" not in kept
    assert kept["age"].tolist() == [77, 30, 80] and kept["age_group"].iloc[0] == "65+"
    assert kept["gender"].tolist() == ["female", "male", "female"]
    assert kept["trust_police"].dtype == "Int64" and pd.isna(kept["trust_police"].iloc[1])
    assert kept["pj_respect"].iloc[0] == 4 and pd.isna(kept["pj_respect"].iloc[2])
    assert (kept["source_file"] == "hand-made").all() and (kept["wave"] == "baseline").all()
    assert "NAME" not in kept.columns
    why = rejected.set_index("raw_row_number")[["reason", "column", "value"]]
    assert why.loc[3].tolist() == ["out_of_range", "TRUST", "12"]
    assert why.loc[4].tolist() == ["impossible_age", "AGE", "12"]
    assert why.loc[5, "reason"] == "missing_id"
    assert why.loc[6, "reason"] == "duplicate"
    assert why.loc[7].tolist() == ["invalid_value", "TRUST", "3.5"]
    assert rejected["detail"][rejected["reason"] == "out_of_range"].iloc[0] == "expected 0-10"
    assert not rejected["raw_values"].str.contains("Ann|Cy|Di").any()  # unmapped columns never copied


def test_clean_table_reads_a_folder_and_checks_the_spec(tmp_path):
    from analysis.inputs.clean import UnknownLabelError, check_table_spec, clean_table
    from analysis.inputs.profile import ProfileError

    (tmp_path / "t.csv").write_text("ID,NB,AGE,SEX,TRUST,RESP,DATE\nb1,Z,33,F,7,Jamais,2020-05-01\n"
                                    "b2,Z,44,?,7,Jamais,2020-05-01\n", encoding="utf-8")
    with pytest.raises(UnknownLabelError, match=r"row 3.*'SEX'.*the hand-made spec"):
        clean_table(_table_spec(), tmp_path, source="hand-made")
    kept, rejected = clean_table(_table_spec(), tmp_path, source="hand-made", strict=False)
    assert kept["raw_row_number"].tolist() == [2] and kept["source_file"].tolist() == ["t.csv"]
    assert rejected["reason"].tolist() == ["unknown_label"]
    with pytest.raises(ProfileError, match=r"key columns: \['pilot_area'\]"):
        check_table_spec(_table_spec(columns={"pilot_area": "NB"}))
    with pytest.raises(ProfileError, match=r"key values\.gender\.'F'"):
        check_table_spec(_table_spec(values={"gender": {"F": "woman"}}))


def test_codes_that_lost_their_leading_zero_match_everywhere(project):
    """Barcelona's shape: codes '01'-'04' declared, a spreadsheet wrote 1, 2… (text or number).

    Before, every such row was rejected as unknown_neighbourhood and pilot area 01 vanished.
    """
    p = make_profile()
    p.pop("quality")  # documented thresholds: losing area 01 would stop the city
    codes = ["01", "02", "03", "10"]
    for n, c in zip(p["neighbourhoods"], codes):
        n["code"] = c
    p["margins"]["counts"] = {str(int(c)): v for c, v in zip(codes, p["margins"]["counts"].values())}
    p["pilot"]["pilot_areas"], p["pilot"]["comparison_areas"] = ["01"], ["2"]
    p["residents"]["files"].append({"path": "extra.xlsx", "format": "xlsx", "wave": "follow_up",
                                    "date_format": "%d/%m/%Y"})
    write_profile(project, p)
    raw = project / "data" / "raw" / "testville"
    raw_codes = ["1", "02", " 3 ", "10", "001", "4", "0"]  # 4 and 0 are not codes of the city
    rows = [resident_row(i, QUARTIER=raw_codes[(i // 2) % 7]) for i in range(28)]
    write_csv(raw / "residents.csv", rows)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "DATE", "QUARTIER", "AGE", "SEXE", "CONFIANCE", "RESPECT", "JUSTE", "EXPLIQUE",
               "EFF_VIOL", "EFF_CAMB", "DEVOIR", "IMMIG", "VAGUE"])
    for i, code in enumerate([1, 1.0, 2, 10]):  # numbers, as Excel stores a code it took for one
        ws.append([f"X{i}", "21/10/2015", code, 20 + i, "Femme", 5, "Jamais", "Jamais", "Jamais", 5, 5, 5,
                   "Non", "2015"])
    wb.save(raw / "extra.xlsx")
    res = clean_city(load_profile("testville"), key=KEY)
    r = res.respondents
    csv_rows = r[r["source_file"] == "residents.csv"]
    assert csv_rows["neighbourhood"].value_counts().to_dict() == {"01": 8, "02": 4, "03": 4, "10": 4}
    assert set(r.loc[r["neighbourhood"] == "01", "pilot_area"]) == {"pilot"}
    assert set(r.loc[r["neighbourhood"] == "02", "pilot_area"]) == {"comparison"}
    xl = r[r["source_file"] == "extra.xlsx"]
    assert xl["neighbourhood"].tolist() == ["01", "01", "02", "10"]
    rej = res.rejected
    assert rej["reason"].tolist() == ["unknown_neighbourhood"] * 8
    assert sorted(set(rej["value"])) == ["0", "4"]
