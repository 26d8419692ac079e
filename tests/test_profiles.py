"""The nine shipped city profiles: they load, are complete and consistent, and a broken
profile fails with an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.inputs import codebook
from analysis.config import CITIES, PATHS
from analysis.inputs.profile import ProfileError, load_profile

GEO_CSV = Path(__file__).resolve().parents[1] / "data/external/boundaries/neighbourhoods.csv"
WITH_BOUNDARIES = ("nantes", "toulouse", "milan", "barcelona", "brussels", "lisbon")
APPROXIMATE = ("amiens", "aubervilliers", "vilnius")


#: Every profile in config/cities, the nine partners' and any city a user added.
ALL_PROFILES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "config" / "cities").glob("*.yml"))


@pytest.fixture(scope="module")
def profiles():
    return {c: load_profile(c) for c in ALL_PROFILES}


def test_every_profile_is_checked():
    assert set(CITIES) <= set(ALL_PROFILES)


@pytest.mark.parametrize("city", ALL_PROFILES)
def test_every_profile_loads_with_a_coherent_design(city, profiles):
    """Whatever city it is: the profile validates, and its areas are declared units."""
    p = profiles[city]
    assert p.city == city and p.codes
    assert set(p.pilot.pilot_areas) <= set(p.codes) and set(p.pilot.comparison_areas) <= set(p.codes)
    assert p.waves["baseline"].end < p.waves["follow_up"].start


@pytest.mark.parametrize("city", CITIES)
def test_profile_loads_and_is_synthetic(city, profiles):
    p = profiles[city]
    assert p.city == city
    assert p.synthetic is True
    assert "synthetic" in p.margins.source
    assert p.officers is not None and p.activities is not None


@pytest.mark.parametrize("city", CITIES)
def test_pilot_design(city, profiles):
    p = profiles[city]
    codes = set(p.codes)
    assert 2 <= len(p.pilot.pilot_areas) <= 6
    assert set(p.pilot.pilot_areas) <= codes and set(p.pilot.comparison_areas) <= codes
    if p.has_comparison:
        assert abs(len(p.pilot.comparison_areas) - len(p.pilot.pilot_areas)) <= 1
    assert p.waves["baseline"].year == 2014 and p.waves["follow_up"].year == 2015
    # the pilot runs between the two waves of fieldwork
    assert p.waves["baseline"].end < p.pilot.start <= p.pilot.end < p.waves["follow_up"].start


def test_designs_differ(profiles):
    profiles = {c: p for c, p in profiles.items() if c in CITIES}
    without = sorted(c for c, p in profiles.items() if not p.has_comparison)
    assert without == ["amiens", "vilnius"]
    assert {tuple(p.pilot.targeted_groups) for p in profiles.values()} >= {
        ("young",), ("police_contact",), ("shopkeeper", "tourist")}


@pytest.mark.parametrize("city", CITIES)
def test_margins_cover_every_unit(city, profiles):
    p = profiles[city]
    m = p.margins_frame()
    assert set(m["neighbourhood"]) == set(p.codes)
    assert len(m) == len(p.codes) * 2 * len(codebook.AGE_GROUPS)
    assert m["population"].sum() > 10_000


@pytest.mark.parametrize("city", WITH_BOUNDARIES)
def test_codes_match_official_boundaries(city, profiles):
    if not GEO_CSV.is_file():
        pytest.skip(f"{GEO_CSV} is absent (shared boundary reference only exists on the build machine)")
    geo = pd.read_csv(GEO_CSV, dtype={"code": str})
    geo = geo[geo["city"] == city]
    p = profiles[city]
    assert sorted(p.codes) == sorted(geo["code"])
    names = dict(zip(geo["code"], geo["name"]))
    assert all(n.name == names[n.code] for n in p.neighbourhoods)
    assert not any(n.approximate for n in p.neighbourhoods)


@pytest.mark.parametrize("city", APPROXIMATE)
def test_approximate_units_are_flagged(city, profiles):
    p = profiles[city]
    assert all(n.approximate for n in p.neighbourhoods)
    assert "approximate" in p.notes and "project codes" in p.notes


def test_vilnius_has_the_21_elderships(profiles):
    names = [n.name for n in profiles["vilnius"].neighbourhoods]
    assert len(names) == 21 and all(n.endswith("seniūnija") for n in names)
    assert "Senamiesčio seniūnija" in names and "Žvėryno seniūnija" in names


@pytest.mark.parametrize("city", ALL_PROFILES)
def test_value_maps_land_in_the_codebook(city, profiles):
    """Every mapped label gives a value the codebook allows (range or categories)."""
    p = profiles[city]
    for ds in ("residents", "officers", "activities"):
        spec = p.dataset(ds)
        for col, mapping in spec.values.items():
            v = codebook.var(col, ds)
            for raw, val in mapping.items():
                if col == "neighbourhood":
                    assert val in p.codes, (city, ds, raw, val)
                elif v.kind == "bool":
                    assert isinstance(val, bool), (city, ds, col, raw, val)
                elif v.categories is not None:
                    assert val in v.categories, (city, ds, col, raw, val)
                elif v.range is not None:
                    assert v.range[0] <= val <= v.range[1], (city, ds, col, raw, val)


def test_feel_safe_reversed_where_coded_as_ess(profiles):
    """Amiens and Vilnius code feel_safe_dark 1 = very safe (ESS aesfdrk): mapped reversed."""
    for city in ("amiens", "vilnius"):
        m = profiles[city].residents.values["feel_safe_dark"]
        assert m == {"1": 4, "2": 3, "3": 2, "4": 1}
    assert profiles["nantes"].residents.values["feel_safe_dark"]["Tout à fait en sécurité"] == 4


# ------------------------------------------------------------------ broken profiles
def _broken(tmp_path, edit) -> Path:
    data = yaml.safe_load(PATHS.profile("nantes").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "nantes.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_typo_in_key_names_file_and_key(tmp_path):
    def edit(d):
        d["pilot"]["comparision_areas"] = d["pilot"].pop("comparison_areas")
    path = _broken(tmp_path, edit)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and "pilot.comparision_areas" in msg


def test_bad_format_value_names_key(tmp_path):
    def edit(d):
        d["residents"]["files"][0]["format"] = "xls"
    path = _broken(tmp_path, edit)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and "residents.files.0.format" in msg and "'xls'" in msg


def test_pilot_area_not_a_neighbourhood(tmp_path):
    def edit(d):
        d["pilot"]["pilot_areas"].append("42")
    path = _broken(tmp_path, edit)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and "pilot.pilot_areas" in msg and "42" in msg


# ------------------------------------------------------------------ French pilot texts
@pytest.mark.parametrize("city", CITIES)
def test_pilot_texts_have_french_versions(city, profiles):
    pilot = profiles[city].pilot
    for field in ("kind", "description", "published_context"):
        english, french = getattr(pilot, field), getattr(pilot, f"{field}_fr")
        if english is None:
            assert french is None, f"{city}: pilot.{field}_fr without pilot.{field}"
            continue
        assert french and french.strip() and french != english, f"{city}: pilot.{field}_fr missing"
        assert pilot.text(field, "fr") == french and pilot.text(field, "en") == english


def test_pilot_text_falls_back_to_english():
    from analysis.inputs.profile import Pilot

    p = Pilot(name="x", kind="community policing", description="d", start="2014-09-01", end="2015-02-28",
              pilot_areas=["1"], targeted_groups=["young"])
    assert p.text("kind", "fr") == "community policing" and p.text_lang("kind", "fr") == "en"
    assert p.text("published_context", "fr") is None
    with pytest.raises(ValueError):
        p.text("name", "fr")


# ------------------------------------------------------------ checked before anything runs
def _profile_text(tmp_path, edit_text=None, **changes) -> Path:
    """The small test profile (conftest) as YAML text, edited as text, written as testville.yml."""
    from conftest import make_profile

    text = yaml.safe_dump(make_profile(**changes), allow_unicode=True, sort_keys=False)
    if edit_text is not None:
        text = edit_text(text)
    path = tmp_path / "testville.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()) if line == needle]
    return hits[nth - 1]


def test_small_test_profile_loads(tmp_path):
    assert load_profile(_profile_text(tmp_path)).city == "testville"


def test_duplicate_key_at_top_level_names_file_key_and_both_lines(tmp_path):
    path = _profile_text(tmp_path, lambda t: t + "name: Autre ville\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    first, second = _line_of(path, "name: Testville"), _line_of(path, "name: Autre ville")
    assert str(path) in msg and "key name is written twice" in msg
    assert f"line {first} and line {second}" in msg


def test_duplicate_label_in_a_value_mapping_is_an_error_not_a_reversed_scale(tmp_path):
    # the audit's case: a label mapped twice, the second (reversed) silently won
    path = _profile_text(tmp_path, lambda t: t.replace("      Jamais: 1\n", "      Jamais: 1\n      Jamais: 4\n", 1))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    first, second = _line_of(path, "      Jamais: 1"), _line_of(path, "      Jamais: 4")
    assert "key residents.values.pj_respect.Jamais is written twice" in msg
    assert f"line {first} and line {second}" in msg and str(path) in msg


def test_duplicate_key_in_a_list_item_and_number_vs_text_key(tmp_path):
    path = _profile_text(tmp_path, lambda t: t.replace("- code: '102'\n", "- code: '102'\n  code: '109'\n", 1))
    with pytest.raises(ProfileError, match=r"key neighbourhoods\.1\.code is written twice"):
        load_profile(path)
    # 1 and '1' are one key once profiles read keys as text
    path = _profile_text(tmp_path, lambda t: t.replace("      '2014': baseline\n",
                                                       "      '2014': baseline\n      2014: follow_up\n"))
    with pytest.raises(ProfileError, match=r"key residents\.values\.wave\.2014 is written twice"):
        load_profile(path)


def test_ess_spec_reader_refuses_duplicate_keys_too(tmp_path):
    from analysis.inputs.profile import read_yaml_mapping

    path = tmp_path / "spec.yml"
    path.write_text("a: 1\nb:\n  c: 1\n  c: 2\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"key b\.c is written twice, at line 3 and line 4"):
        read_yaml_mapping(path, "a spec")


def test_leading_zero_numbers_stay_codes(tmp_path):
    from analysis.inputs.profile import load_yaml_strict

    path = tmp_path / "x.yml"
    path.write_text("areas: [01, 010, 8, 0]\nn: 12\n", encoding="utf-8")
    # YAML 1.1 would give [1, 8, 8, 0]: 010 is octal
    assert load_yaml_strict(path) == {"areas": ["01", "010", 8, 0], "n": 12}


@pytest.mark.parametrize("key, value, expected", [
    ("encoding", "utf8x", "unknown encoding 'utf8x'"),
    ("encoding", "iso-8859-15", None),  # a real codec, accepted
    ("delimiter", ";;", "expected one character"),
    ("delimiter", "", "expected one character"),
    ("delimiter", "a", "expected one character"),
    ("delimiter", "\t", None),
    ("decimal", ";", "expected '.' or ','"),
    ("thousands", ",", "also the decimal mark"),  # the test file has decimal ','
    ("date_format", "%d/%M/%Y", "does not give the month"),  # %M is minutes
    ("date_format", "%d/%m/%Q", "unknown directive(s) ['%Q']"),
    ("date_format", "%d/%m", "does not give the year"),
    ("date_format", "%d/%m/%Y%", "lone '%'"),
    ("date_format", "d/m/Y", "does not give the day (%d), month (%m or %b), year (%Y or %y)"),
    ("date_format", "%d/%m/%Y %d", "cannot read back the dates it writes"),  # the day twice
    ("date_format", "%Y-%m-%d", None),
    ("date_format", "%d %B %Y", None),
])
def test_reading_options_are_checked(tmp_path, key, value, expected):
    from conftest import make_profile

    p = make_profile()
    p["residents"]["files"][0][key] = value
    path = tmp_path / "testville.yml"
    path.write_text(yaml.safe_dump(p, allow_unicode=True), encoding="utf-8")
    if expected is None:
        assert getattr(load_profile(path).residents.files[0], key) == value
        return
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and f"key residents.files.0.{key}" in msg and expected in msg


def test_neighbourhood_value_mapping_must_point_at_declared_codes(tmp_path):
    from conftest import make_profile

    p = make_profile()
    p["residents"]["values"]["neighbourhood"] = {"Quartier 101": "101", "Quartier 105": "105"}
    path = tmp_path / "testville.yml"
    path.write_text(yaml.safe_dump(p, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert "residents.values.neighbourhood" in msg and "'Quartier 105': '105'" in msg
    assert "Quartier 101" not in msg


def test_codes_that_lost_their_leading_zero_are_the_declared_codes(tmp_path):
    """'01' declared; 1 (or '1', 1.0) in pilot areas, margins and mappings is that code."""
    from analysis.inputs.profile import code_key

    text = """\
neighbourhoods:
- {code: '01', name: A, lon: 2.0, lat: 41.0}
- {code: '02', name: B, lon: 2.1, lat: 41.1}
- {code: '10', name: C, lon: 2.2, lat: 41.2}
pilot: {name: P, kind: k, description: d, start: 2015-01-01, end: 2015-06-30,
        pilot_areas: [1, '10'], comparison_areas: ['2'], targeted_groups: [young]}
margins:
  source: test
  counts:
    1: {female: [1, 1, 1, 1, 1], male: [1, 1, 1, 1, 1]}
    '002': {female: [1, 1, 1, 1, 1], male: [1, 1, 1, 1, 1]}
    10: {female: [1, 1, 1, 1, 1], male: [1, 1, 1, 1, 1]}
"""
    from conftest import make_profile

    base = make_profile()
    for k in ("neighbourhoods", "pilot", "margins"):
        base.pop(k)
    base["residents"]["values"]["neighbourhood"] = {"Barri A": 1, "Barri B": "2"}
    path = tmp_path / "testville.yml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True) + text, encoding="utf-8")
    p = load_profile(path)
    assert p.codes == ["01", "02", "10"]
    assert p.pilot.pilot_areas == ["01", "10"] and p.pilot.comparison_areas == ["02"]
    assert sorted(p.margins.counts) == ["01", "02", "10"]
    assert set(p.margins_frame()["neighbourhood"]) == {"01", "02", "10"}
    assert p.residents.values["neighbourhood"] == {"Barri A": "01", "Barri B": "02"}
    assert p.area_type("01") == "pilot" and p.declared_code(1.0) == "01" and p.declared_code("3") is None
    assert code_key("01") == code_key(1) == code_key(1.0) == code_key("1.0") == code_key(" 1 ") == "1"
    assert code_key("0") == code_key("00") == "0" and code_key("10") != code_key("1")
    assert code_key("1.5") == "1.5" and code_key("AM01") == "am01" != code_key("AM1")

    # two declared codes that are one code once the zeros are gone
    path.write_text(path.read_text(encoding="utf-8").replace("code: '10'", "code: '001'"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"codes \[\['01', '001'\]\] are the same code"):
        load_profile(path)


def test_margins_with_one_code_written_twice(tmp_path):
    from conftest import make_profile

    p = make_profile()
    p["margins"]["counts"]["0101"] = p["margins"]["counts"]["101"]
    path = tmp_path / "testville.yml"
    path.write_text(yaml.safe_dump(p, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"margins.counts: two entries for neighbourhood '101'"):
        load_profile(path)
