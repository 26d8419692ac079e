"""`make new-city` (analysis.inputs.newcity) and `make check` (analysis.inputs.check).

A tenth city as a new user brings it: one semicolon-separated cp1252 export with German
labels, decimal commas, dates like 31.10.2014, district names instead of codes, a column of
respondents' names, and a list of the official districts. The draft must read it right,
propose the right mapping, never print a name, validate, and clean with exact row
accounting. The shipped demo cities are the second reference: the draft must find the
column mapping their hand-written profiles have.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.inputs import newcity
from analysis.inputs.check import check_city
from analysis.inputs.clean import clean_city, norm_label
from analysis.inputs.newcity import (DraftError, detect_date_format, detect_delimiter, detect_encoding, draft_profile,
                              scale_value, write_draft)
from analysis.inputs.profile import load_profile

REPO = Path(__file__).resolve().parents[1]
KEY = b"test-key-for-newcity-0123456789"

DISTRICTS = [("901", "Innere Stadt"), ("902", "Leopoldstadt"), ("903", "Landstraße"), ("904", "Wieden"),
             ("905", "Margareten"), ("906", "Mariahilf")]
FREQ_DE = {1: "Nie", 2: "Selten", 3: "Oft", 4: "Sehr oft"}
SAFE_DE = {1: "Sehr unsicher", 2: "Unsicher", 3: "Sicher", 4: "Sehr sicher"}


def _german_city(folder: Path, n_per_wave: int = 120, seed: int = 7) -> dict:
    """Write the tenth city's raw file; return what was planted."""
    rng = np.random.default_rng(seed)
    rows = []
    names = [f"{a} {b}" for a in ("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lena", "Paul", "Julia",
                                   "Elias", "Laura", "Noah", "Hannah", "Ben", "Emma")
             for b in ("Gruber", "Huber", "Bauer", "Wagner", "Müller", "Pichler", "Steiner", "Moser", "Mayer",
                       "Hofer", "Leitner", "Berger")]
    spellings = {"Innere Stadt": ["Innere Stadt", "innere-stadt", "INNERE STADT"], "Landstraße": ["Landstraße"],
                 "Leopoldstadt": ["Leopoldstadt"], "Wieden": ["Wieden"], "Margareten": ["Margareten"],
                 "Mariahilf": ["Mariahilf"]}
    i = 0
    for wave, year in (("Welle 1", 2014), ("Welle 2", 2015)):
        for _ in range(n_per_wave):
            i += 1
            code, district = DISTRICTS[int(rng.integers(0, len(DISTRICTS)))]
            day = dt.date(year, 10, 1) + dt.timedelta(days=int(rng.integers(0, 61)))
            rows.append({
                "Fragebogen-Nr": f"W{year}-{i:04d}", "Welle": wave, "Datum": day.strftime("%d.%m.%Y"),
                "Bezirk": str(rng.choice(spellings[district])), "Alter": str(int(rng.integers(15, 90))),
                "Geschlecht": str(rng.choice(["Frau", "Mann"])),
                "Vertrauen Polizei": str(rng.choice([str(k) for k in range(11)] + ["Weiß nicht"])),
                "Respekt": FREQ_DE[int(rng.integers(1, 5))], "Fairness": FREQ_DE[int(rng.integers(1, 5))],
                "Sicherheit nachts": SAFE_DE[int(rng.integers(1, 5))],
                "Gewicht": f"{rng.uniform(0.5, 2):.2f}".replace(".", ","),
                "Name": names[i % len(names)] + f" {i}",  # personal data: must never reach the draft
                "Interviewer": ["Karin Steiner", "Josef Huber", "Eva Pichler"][i % 3],  # few values, still personal
            })
    # planted: 3 respondents of a district outside the city, 2 keyed twice
    for k in range(3):
        rows[k]["Bezirk"] = "Mödling"
    rows.append(dict(rows[10]))
    rows.append(dict(rows[20]))
    df = pd.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "umfrage_2014_2015.csv", "w", encoding="cp1252", newline="") as fh:
        df.to_csv(fh, sep=";", index=False, lineterminator="\r\n")
    return {"n": len(df), "outside": 3, "duplicates": 2, "names": df["Name"].tolist()}


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    """A scratch project root (IMPPULSE_ROOT) with the repository's pyproject and an empty config/cities."""
    root = tmp_path / "proj"
    (root / "config" / "cities").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    monkeypatch.setenv("IMPPULSE_ROOT", str(root))
    return root


@pytest.fixture()
def wien(scratch):
    planted = _german_city(scratch / "data" / "raw" / "wien")
    units = scratch / "bezirke.csv"
    units.write_text("code;name;lon;lat\n" + "".join(f"{c};{n};16.{i}7;48.2{i}\n"
                                                      for i, (c, n) in enumerate(DISTRICTS)), encoding="utf-8")
    return scratch, planted, units


# ----------------------------------------------------------------- detection
def test_detect_encoding():
    text = "Geschlecht;Straße\nFrau;Größe\n"
    assert detect_encoding(text.encode("utf-16")) == "utf-16"
    assert detect_encoding(b"\xef\xbb\xbf" + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(text.encode("cp1252")) == "cp1252"
    assert detect_encoding(b"a;b\n\x81\x8d;x\n") == "latin-1"  # bytes cp1252 leaves undefined


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_detect_delimiter(sep):
    rows = [["id", "poids", "nom"], ["1", "1,5" if sep != "," else "1.5", "x"], ["2", "0,75" if sep != "," else "2", "y"]]
    assert detect_delimiter("\n".join(sep.join(r) for r in rows)) == sep


def test_detect_date_format():
    assert detect_date_format(["31.10.2014", "01.11.2014"]) == ("%d.%m.%Y", None)
    assert detect_date_format(["2014-10-31", "2015-01-02"]) == ("%Y-%m-%d", None)
    fmt, problem = detect_date_format(["01/02/2014", "03/04/2014"])
    assert fmt == "%d/%m/%Y" and "ambiguous" in problem
    # KoboToolbox start/end: ISO date-times, read without a format
    assert detect_date_format(["2014-03-05T10:12:33.000+01:00"]) == (None, None)


def test_multilingual_scales():
    for label in ("Jamais", "Mai", "Nunca", "Nooit", "Niekada", "Nie", "Never", "  pas du TOUT souvent "):
        assert scale_value("freq4", label)[0] == 1, label
    assert scale_value("safe4", "Tout à fait en sécurité")[0] == 4  # codebook direction, not ESS
    assert scale_value("yesno", "Não") == (False, "pt")
    assert scale_value("freq4", "Toujours") is None
    assert newcity.missing_language("Weiß nicht") == "de"


# ----------------------------------------------------------------- the tenth city
def test_draft_of_a_new_city(wien):
    root, planted, units = wien
    draft = draft_profile("wien", neighbourhoods=units)
    p = draft.profile
    fs = p.residents.files[0]
    assert (fs.format, fs.encoding, fs.delimiter, fs.decimal, fs.date_format) == ("csv", "cp1252", ";", ",",
                                                                                 "%d.%m.%Y")
    assert p.residents.columns == {
        "respondent_id": "Fragebogen-Nr", "wave": "Welle", "interview_date": "Datum", "neighbourhood": "Bezirk",
        "age": "Alter", "gender": "Geschlecht", "trust_police": "Vertrauen Polizei", "pj_respect": "Respekt",
        "pj_fair": "Fairness", "feel_safe_dark": "Sicherheit nachts"}
    v = p.residents.values
    assert v["pj_respect"] == {"Nie": 1, "Selten": 2, "Oft": 3, "Sehr oft": 4}
    assert v["feel_safe_dark"] == {"Sehr unsicher": 1, "Unsicher": 2, "Sicher": 3, "Sehr sicher": 4}
    assert v["gender"] == {"Frau": "female", "Mann": "male"}
    assert v["wave"] == {"Welle 1": "baseline", "Welle 2": "follow_up"}
    # names matched to the list's codes whatever the case, hyphens and accents
    expected = {newcity.norm_name(n): c for c, n in DISTRICTS}
    assert {k: expected[newcity.norm_name(k)] for k in v["neighbourhood"]} == v["neighbourhood"]
    assert set(v["neighbourhood"].values()) == {c for c, _ in DISTRICTS}
    assert {"innere-stadt", "INNERE STADT"} <= set(v["neighbourhood"])
    assert "Weiß nicht" in p.residents.missing
    assert [n.code for n in p.neighbourhoods] == [c for c, _ in DISTRICTS]
    assert p.languages == ["de"]
    # every guess is marked; the district outside the city is an open question
    keys = draft.todo_keys()
    assert {"pilot", "waves", "margins", "country", "residents.values.neighbourhood"} <= keys
    assert "Mödling" in draft.text and "(<10)" in draft.text
    # personal data never reaches the draft: the names column is summarised, not listed
    assert not any(name in draft.text for name in planted["names"])
    assert not any(s in draft.text for s in ("Gruber", "Anna ", "Lukas", "Karin", "Josef", "Pichler"))
    assert "Interviewer: 3 distinct values" in draft.text
    assert "Name: " in draft.text and "not listed" in draft.text.split("Name: ")[1].splitlines()[0]
    assert draft.text.count("# TODO: ") == len(draft.todos)


def test_drafted_profile_cleans_with_exact_row_accounting(wien):
    root, planted, units = wien
    draft = draft_profile("wien", neighbourhoods=units)
    path = write_draft(draft)
    assert path == root / "config" / "cities" / "wien.yml"
    profile = load_profile("wien")
    res = clean_city(profile, key=KEY)
    rej = res.rejected["reason"].value_counts().to_dict()
    assert rej == {"unknown_neighbourhood": planted["outside"], "duplicate": planted["duplicates"]}
    assert len(res.respondents) + len(res.rejected) == planted["n"]
    assert res.log["totals"]["residents"] == {"raw": planted["n"], "kept": planted["n"] - 5, "rejected": 5}
    # German labels landed on the codebook scales
    assert set(res.respondents["pj_respect"].dropna().unique()) == {1, 2, 3, 4}
    assert res.respondents["trust_police"].isna().any()  # "Weiß nicht" is missing, not a number
    # make check: an unreviewed draft does not pass, and says why
    report = check_city("wien")
    assert [f.where for f in report.problems] == ["profile"]
    assert "`# TODO:` line(s) left from make new-city" in report.problems[0].message


def test_draft_never_overwrites(wien, tmp_path):
    root, _, units = wien
    draft = draft_profile("wien", neighbourhoods=units)
    first = write_draft(draft)
    first.write_text(first.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    with pytest.raises(DraftError, match="never overwrites"):
        write_draft(draft)
    assert first.read_text(encoding="utf-8").endswith("# edited by hand\n")
    other = write_draft(draft, tmp_path / "elsewhere" / "wien.yml")  # --out
    assert other.read_text(encoding="utf-8") == draft.text
    assert sorted(p.name for p in (root / "config" / "cities").iterdir()) == ["wien.yml"]


def test_draft_errors_name_the_folder(scratch):
    with pytest.raises(DraftError, match="data/raw/nowhere"):
        draft_profile("nowhere")
    with pytest.raises(DraftError, match="slug"):
        draft_profile("Bad City")


@pytest.mark.parametrize("city", ["nantes", "amiens"])
def test_draft_finds_the_demo_cities_mappings(city):
    """The hand-written profiles of the demo cities are the reference for the proposed mapping."""
    shipped = load_profile(REPO / "config" / "cities" / f"{city}.yml")
    draft = draft_profile(city, raw_dir=REPO / "data" / "raw" / city)
    assert draft.profile.residents.columns == shipped.residents.columns
    fs, ref = draft.profile.residents.files[0], shipped.residents.files[0]
    assert (fs.format, fs.delimiter, fs.decimal, fs.date_format) == (ref.format, ref.delimiter, ref.decimal,
                                                                     ref.date_format)
    # every label the draft maps, it maps as the hand-written profile does (same normalised key)
    for col, mapping in draft.profile.residents.values.items():
        if col == "neighbourhood":
            continue
        ref_map = {norm_label(k): v for k, v in shipped.residents.values.get(col, {}).items()}
        for label, value in mapping.items():
            if norm_label(label) in ref_map:
                assert ref_map[norm_label(label)] == value, (city, col, label)
            else:  # the shipped profile lets it pass through or lists it as missing
                assert value is None or col in ("wave",), (city, col, label)
    assert set(map(norm_label, draft.profile.residents.missing)) == set(map(norm_label, shipped.residents.missing))
    # the officers' survey and the activity log are recognised and mapped too
    for ds in ("officers", "activities"):
        assert draft.profile.dataset(ds).columns == shipped.dataset(ds).columns, ds
        for col, mapping in draft.profile.dataset(ds).values.items():
            ref_map = {norm_label(k): v for k, v in shipped.dataset(ds).values.get(col, {}).items()}
            if col != "neighbourhood":
                assert all(ref_map.get(norm_label(k), v) == v for k, v in mapping.items()), (ds, col)
    assert set(draft.profile.residents.item_missing) <= set(shipped.residents.item_missing)


# ----------------------------------------------------------------- make check
def test_check_passes_on_a_shipped_city():
    report = check_city(REPO / "config" / "cities" / "nantes.yml", raw_dir=REPO / "data" / "raw" / "nantes")
    assert report.ok, [str(f) for f in report.problems]
    assert any("unknown neighbourhood" in f.message for f in report.notes)  # planted faults: notes only


def test_check_lists_every_problem_at_once(wien, capsys):
    root, planted, units = wien
    write_draft(draft_profile("wien", neighbourhoods=units))
    path = root / "config" / "cities" / "wien.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["residents"]["columns"]["age"] = "Alter_jahre"  # a column the file does not have
    del data["residents"]["values"]["gender"]["Mann"]  # a label the profile no longer knows
    data["residents"]["values"]["gender"]["Männlich"] = "male"  # ... beside one no file holds (a note)
    data["neighbourhoods"].append({"code": "907", "name": "Neubau", "lon": 16.35, "lat": 48.2})
    data["pilot"]["pilot_areas"] = ["907"]  # no respondent there
    data["residents"]["values"]["neighbourhood"] = {k: c for k, c in data["residents"]["values"]["neighbourhood"].items()
                                                    if c != "906"}  # Mariahilf now unknown, in many rows
    data["margins"] = {"source": "test", "counts": {n["code"]: {"female": [100 * (n["code"] != "901")] * 5,
                                                                "male": [100 * (n["code"] != "901")] * 5}
                                                    for n in data["neighbourhoods"]}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    report = check_city("wien")
    text = "\n".join(str(f) for f in report.problems)
    assert "'Alter_jahre'" in text and "not found" in text
    assert "labels the profile does not know for gender: 'Mann'" in text
    assert "neighbourhood codes not in the profile" in text and "'Mariahilf'" in text
    assert "area '907' has no respondent in the baseline wave" in text
    assert "neighbourhood 901 has respondents but a population of 0" in text
    assert len(report.problems) >= 6
    assert any(f.where == "residents.values.gender" and "'Männlich'" in f.message for f in report.notes)
    # never a respondent's id or name, only labels and codes of mapped columns
    assert not any(n in text for n in planted["names"]) and "W2014-" not in text
    # the command exits non-zero and names the problems
    from analysis.inputs.check import main

    assert main(["wien"]) == 1
    out = capsys.readouterr()
    assert "PROBLEM" in out.out and "problem(s)" in out.err and "W2014-" not in out.out


def test_units_from_a_boundary_file(wien):
    """Codes, names, centroids and areas come from data/external/boundaries/<city>.geojson."""
    import geopandas as gpd
    from shapely.geometry import box

    root, planted, _ = wien
    # 1 km squares near Vienna, in a metric CRS, with the publisher's field names
    cells = [box(600000 + 1000 * i, 5340000, 601000 + 1000 * i, 5341000) for i in range(len(DISTRICTS))]
    gdf = gpd.GeoDataFrame({"BEZNR": [c for c, _ in DISTRICTS], "NAMEK": [n for _, n in DISTRICTS]},
                           geometry=cells, crs=32633)
    (root / "data" / "external" / "boundaries").mkdir(parents=True)
    gdf.to_file(root / "data" / "external" / "boundaries" / "wien.geojson", driver="GeoJSON")
    draft = draft_profile("wien")
    units = {n.code: n for n in draft.profile.neighbourhoods}
    assert list(units) == [c for c, _ in DISTRICTS]
    assert units["901"].name == "Innere Stadt" and units["901"].area_km2 == pytest.approx(1.0, rel=1e-3)
    assert 16 < units["901"].lon < 17 and 48 < units["901"].lat < 49 and not units["901"].approximate
    assert draft.profile.boundaries.code_field == "BEZNR" and draft.profile.boundaries.name_field == "NAMEK"
    assert set(draft.profile.residents.values["neighbourhood"].values()) == set(units)


def test_spss_value_labels_propose_the_mapping(tmp_path):
    """Numeric codes are kept; their value labels propose the mapping, the units and the missing codes."""
    import pyreadstat
    rng = np.random.default_rng(3)
    n = 200
    df = pd.DataFrame({"ident": np.arange(n, dtype=float), "vague": rng.choice([1.0, 2.0], n),
                       "quartier": rng.choice([1.0, 2.0, 3.0], n), "sexe": rng.choice([1.0, 2.0], n),
                       "confiance": rng.choice([0.0, 5.0, 10.0, 88.0], n), "securite": rng.choice([1.0, 2.0, 3.0, 4.0], n)})
    pyreadstat.write_sav(df, tmp_path / "enquete.sav", variable_value_labels={
        "vague": {1.0: "Vague 1 (2014)", 2.0: "Vague 2 (2015)"},
        "quartier": {1.0: "Centre", 2.0: "Nord", 3.0: "Sud", 9.0: "NSP"},
        "sexe": {1.0: "Homme", 2.0: "Femme"},
        "confiance": {0.0: "Aucune confiance", 10.0: "Confiance totale", 88.0: "Ne sait pas"},
        "securite": {1.0: "Tout à fait en sécurité", 2.0: "En sécurité", 3.0: "Pas en sécurité",
                     4.0: "Pas du tout en sécurité"}})
    draft = draft_profile("savtown", raw_dir=tmp_path, boundaries_dir=tmp_path / "none")
    p = draft.profile
    assert not p.residents.files[0].value_labels
    assert [(u.code, u.name) for u in p.neighbourhoods] == [("1", "Centre"), ("2", "Nord"), ("3", "Sud")]
    assert "neighbourhood" not in p.residents.values  # the codes are the units' codes
    assert p.residents.values["wave"] == {"1": "baseline", "2": "follow_up"}  # years in the labels: no TODO
    assert "residents.values.wave" not in draft.todo_keys()
    assert p.residents.values["gender"] == {"2": "female", "1": "male"}
    # ESS direction (1 = very safe) reversed onto the codebook's (4 = very safe) by the labels
    assert p.residents.values["feel_safe_dark"] == {"4": 1, "3": 2, "2": 3, "1": 4}
    assert p.residents.item_missing == [88] and "trust_police" not in p.residents.values
    assert "# Homme" in draft.text  # the label beside its code
