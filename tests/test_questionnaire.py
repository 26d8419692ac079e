"""The codebook as a questionnaire and an XLSForm, and the KoboToolbox round trip.

A survey fielded with the project's XLSForm, exported from KoboToolbox, must draft a
profile with `make new-city` that has no TODO left (the form's ``imppulse`` sheet says what
no answer can: pilot areas, fieldwork windows, margins), and that profile must clean with
exact row accounting.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis.inputs import codebook
from analysis.inputs.check import check_city
from analysis.inputs.clean import clean_city
from analysis.inputs.newcity import METADATA_ONLY, DraftError, Unit, draft_profile, write_draft
from analysis.inputs.profile import load_profile
from analysis.inputs.questionnaire import (LANG_NAMES, QUESTIONS, choices, export_all, questionnaire_html,
                                    synthetic_kobo_export, write_xlsform, xlsform_sheets)

REPO = Path(__file__).resolve().parents[1]
KEY = b"test-key-for-kobo-round-trip-000"
UNITS = [Unit("101", "Altstadt", 16.37, 48.21, 2.9), Unit("102", "Am Hof", 16.38, 48.22, 1.1),
         Unit("103", "Wieden-Süd", 16.36, 48.19, 1.8), Unit("104", "Favoriten", 16.38, 48.17, 3.2)]
WINDOWS = {"baseline": (dt.date(2014, 10, 1), dt.date(2014, 11, 30)),
           "follow_up": (dt.date(2015, 10, 1), dt.date(2015, 11, 30))}
METADATA = {
    "name": "Kobotown", "name_fr": "Kobotown", "country": "AT", "languages": ["de"],
    "boundaries.unit": "Bezirksteil", "boundaries.source": "test list",
    "pilot.name": "Grätzlpolizei", "pilot.kind": "proximity policing", "pilot.description": "test pilot",
    "pilot.start": dt.date(2015, 1, 1), "pilot.end": dt.date(2015, 6, 30), "pilot.pilot_areas": ["101", "102"],
    "pilot.comparison_areas": ["103", "104"], "pilot.targeted_groups": ["young"],
    "waves.baseline.start": WINDOWS["baseline"][0], "waves.baseline.end": WINDOWS["baseline"][1],
    "waves.follow_up.start": WINDOWS["follow_up"][0], "waves.follow_up.end": WINDOWS["follow_up"][1],
    "margins.source": "test census", "margins.year": 2014, "margins.file": "margins.csv",
}

ESS_EN = {
    "trstplc": "how much you personally trust each of the institutions I read out",
    "plcrspc": "Based on what you have heard or your own experience how often would you say the police generally "
               "treat people in [country] with respect?",
    "plcfrdc": "About how often would you say that the police make fair, impartial decisions in the cases they "
               "deal with?",
    "plcexdc": "When dealing with people in [country], how often would you say the police generally explain their "
               "decisions and actions when asked to do so?",
    "plcpvcr": "how successful do you think the police are at preventing crimes in [country] where violence is "
               "used or threatened?",
    "plccbrg": "How successful do you think the police are at catching people who commit house burglaries in "
               "[country]?",
    "bplcdc": "your duty to back the decisions made by the police even when you disagree with them?",
    "aesfdrk": "How safe do you – or would you – feel walking alone in this area after dark?",
}


@pytest.fixture(scope="module")
def sheets():
    return xlsform_sheets(UNITS, METADATA)


# ----------------------------------------------------------------- the XLSForm
def test_xlsform_structure(sheets):
    survey, chs = sheets["survey"], sheets["choices"]
    assert {"label::English (en)", "label::Français (fr)"} <= set(survey.columns) & set(chs.columns)
    assert set(sheets) == {"survey", "choices", "settings", "imppulse"}
    assert sheets["settings"].loc[0, "form_id"] == "imppulse_residents"
    items = survey[~survey["type"].isin(["begin_group", "end_group", "start", "end", "today"])]
    # the codebook's item names, every collectable residents variable
    collectable = {v.name for v in codebook.RESIDENT_VARS if v.role not in ("provenance", "derived")}
    collectable = (collectable - {"age_group", "pilot_area"}) | {"wave"}  # id and date: Kobo's _uuid and today
    assert set(items["name"]) == collectable
    assert items["label::English (en)"].notna().all() and items["label::Français (fr)"].notna().all()
    # every list a question uses exists, with don't know / refusal as distinct choices
    for t in items["type"]:
        if t.startswith("select_one"):
            names = set(chs.loc[chs["list_name"] == t.split()[1], "name"])
            assert names, t
            if t.split()[1] not in ("wave", "neighbourhood"):
                assert "refusal" in names
    # numeric choice names are codebook values inside the codebook range
    for q in QUESTIONS:
        v = codebook.var(q.name)
        if v.range and q.scale != "integer":
            codes = [n for n, _ in choices(q.scale, "en") if n not in ("dk", "refusal")]
            assert {float(c) for c in codes} == {float(x) for x in range(int(v.range[0]), int(v.range[1]) + 1)}
    by = survey.set_index("name")
    assert by.loc["age", "constraint"] == f". >= {codebook.AGE_MIN} and . <= {codebook.AGE_MAX}"
    assert by.loc["contact_satisfaction", "relevant"] == "${police_contact_12m} = 'yes'"
    assert by.loc["contact_initiated_by", "relevant"] == "${police_contact_12m} = 'yes'"
    assert by.loc["pilot_participated", "relevant"] == "${pilot_aware} = 'yes'"
    # feel_safe_dark: ESS order on the form, codebook codes as names
    safe = chs[chs["list_name"] == "safe4"]
    assert list(safe["name"])[:4] == ["4", "3", "2", "1"] and safe["label::English (en)"].iloc[0] == "Very safe"
    # the neighbourhood list carries what make new-city reads back
    nb = chs[chs["list_name"] == "neighbourhood"]
    assert list(nb["name"]) == [u.code for u in UNITS] and nb["lon"].notna().all()


def test_questionnaire_html():
    en = questionnaire_html("en", UNITS)
    for ess, wording in ESS_EN.items():
        assert wording in en, ess
        assert f"ESS R5 {ess}" in en
    fr = questionnaire_html("fr", UNITS)
    assert "la police traite en général les gens en [pays] avec respect" in fr
    assert "Traduction du projet, à vérifier" in fr
    for lang in set(LANG_NAMES) - {"en", "fr"}:
        page = questionnaire_html(lang)
        assert "Translation to be checked against the national ESS R5 questionnaire" in page, lang
    assert "Nooit" in questionnaire_html("nl") or "Helemaal niet vaak" in questionnaire_html("nl")
    # self-contained: no external resource, and the skip instruction is printed
    assert not re.search(r"(src|href)=", en) and "Ask only if Q8 = Yes" in en


def test_export_all_writes_html_and_form(tmp_path):
    paths = export_all(tmp_path, ["en", "lt"], UNITS)
    names = {p.name for p in paths}
    assert {"questionnaire.en.html", "questionnaire.lt.html", "imppulse_residents_xlsform.xlsx"} <= names
    wb = openpyxl.load_workbook(tmp_path / "imppulse_residents_xlsform.xlsx", read_only=True)
    assert wb.sheetnames == ["survey", "choices", "settings", "imppulse"]


# ----------------------------------------------------------------- round trip
def _project(tmp_path, monkeypatch, metadata, delimiter=";"):
    root = tmp_path / "proj"
    raw = root / "data" / "raw" / "kobotown"
    (root / "config" / "cities").mkdir(parents=True)
    raw.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    monkeypatch.setenv("IMPPULSE_ROOT", str(root))
    form = write_xlsform(raw / "imppulse_residents_xlsform.xlsx", UNITS, metadata)
    export = synthetic_kobo_export(form, raw / "kobotown_residents_2014_2015.csv", n_per_wave=60,
                                   windows=WINDOWS, duplicates=3, delimiter=delimiter)
    rows = [f"{u.code};{g};{a};{1000 + 10 * i}" for i, u in enumerate(UNITS) for g in codebook.GENDERS
            for a in codebook.AGE_GROUPS]
    (raw / "margins.csv").write_text("neighbourhood;gender;age_group;population\n" + "\n".join(rows) + "\n",
                                     encoding="utf-8")
    return root, export


def test_kobo_export_round_trips_into_a_clean_profile(tmp_path, monkeypatch):
    meta = dict(METADATA, **{"margins.delimiter": ";"})
    root, export = _project(tmp_path, monkeypatch, meta)
    # the export has Kobo's shape
    assert {"_id", "_uuid", "_submission_time", "start", "end", "g_police/trust_police"} <= set(export.columns)
    draft = draft_profile("kobotown")
    assert draft.todos == [], draft.todos
    assert not re.search(r"^\s*# TODO: ", draft.text, re.M)
    path = write_draft(draft)
    profile = load_profile("kobotown")
    assert profile.pilot.pilot_areas == ["101", "102"] and profile.margins.file == "margins.csv"
    assert profile.residents.columns["respondent_id"] == "_uuid"
    assert profile.residents.columns["trust_police"] == "g_police/trust_police"
    assert set(profile.residents.missing) == {"dk", "refusal"}
    res = clean_city(profile, key=KEY)
    n = len(export)
    assert res.log["totals"]["residents"] == {"raw": n, "kept": n - 3, "rejected": 3}
    assert res.rejected["reason"].tolist() == ["duplicate"] * 3
    kept = res.respondents
    # answers survive exactly: choice names are codebook values, dk/refusal are missing
    first = export.drop_duplicates("_uuid")
    for col, raw_col in (("trust_police", "g_police/trust_police"), ("feel_safe_dark", "g_safety/feel_safe_dark")):
        raw_num = pd.to_numeric(first[raw_col].where(~first[raw_col].isin(["dk", "refusal"])), errors="coerce")
        assert kept[col].isna().sum() == raw_num.isna().sum()
        assert kept[col].sum() == raw_num.sum()
    # skip logic: no satisfaction without a contact
    assert kept.loc[kept["police_contact_12m"] == False, "contact_satisfaction"].isna().all()  # noqa: E712
    assert (kept["police_contact_12m"] == True).sum() == (first["g_contact/police_contact_12m"] == "yes").sum()  # noqa: E712
    report = check_city("kobotown")
    assert report.ok, [str(f) for f in report.problems]
    assert path.name == "kobotown.yml"


def test_without_metadata_only_what_no_file_can_tell_is_left(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch, metadata=None, delimiter=",")  # Kobo exports either separator
    draft = draft_profile("kobotown")
    assert draft.todo_keys() == set(METADATA_ONLY)
    assert draft.profile.residents.files[0].delimiter == ","
    # and it still validates and cleans once written
    write_draft(draft)
    res = clean_city(load_profile("kobotown"), key=KEY)
    assert len(res.respondents) + len(res.rejected) == 123


def test_odk_central_column_names():
    """ODK Central joins groups with '-' and names its metadata differently; the same mapping follows."""
    from analysis.inputs.newcity import column_info, is_form_export, propose_columns

    frame = pd.DataFrame({"SubmissionDate": ["2014-10-02T10:00:00.000Z"] * 12, "today": ["2014-10-02"] * 12,
                          "g_police-trust_police": [str(k % 11) for k in range(12)],
                          "g_interview-neighbourhood": ["101"] * 12, "meta-instanceID": [f"uuid:{k}" for k in range(12)],
                          "KEY": [f"uuid:{k}" for k in range(12)]})
    assert is_form_export(frame.columns)
    props, why = propose_columns({c: column_info(frame[c]) for c in frame.columns}, ".", kobo=True)
    assert {v: p.column for v, p in props.items()} == {
        "respondent_id": "meta-instanceID", "interview_date": "today", "neighbourhood": "g_interview-neighbourhood",
        "trust_police": "g_police-trust_police"}
    assert why["SubmissionDate"] == why["KEY"] == "KoboToolbox/ODK metadata"


def test_bad_metadata_is_refused_naming_the_key(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch, dict(METADATA, **{"pilot.pilot_areas": ["101", "999"]}))
    with pytest.raises(DraftError, match=r"imppulse\]: key pilot.pilot_areas: \['999'\] are not neighbourhood codes"):
        draft_profile("kobotown")
