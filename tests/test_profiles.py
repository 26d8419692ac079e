"""The nine shipped city profiles: they load, are complete and consistent, and a broken
profile fails with an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis import codebook
from analysis.config import CITIES, PATHS
from analysis.profile import ProfileError, load_profile

GEO_CSV = Path(__file__).resolve().parents[1] / "data/external/boundaries/neighbourhoods.csv"
WITH_BOUNDARIES = ("nantes", "toulouse", "milan", "barcelona", "brussels", "lisbon")
APPROXIMATE = ("amiens", "aubervilliers", "vilnius")


@pytest.fixture(scope="module")
def profiles():
    return {c: load_profile(c) for c in CITIES}


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


@pytest.mark.parametrize("city", CITIES)
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
    from analysis.profile import Pilot

    p = Pilot(name="x", kind="community policing", description="d", start="2014-09-01", end="2015-02-28",
              pilot_areas=["1"], targeted_groups=["young"])
    assert p.text("kind", "fr") == "community policing" and p.text_lang("kind", "fr") == "en"
    assert p.text("published_context", "fr") is None
    with pytest.raises(ValueError):
        p.text("name", "fr")
