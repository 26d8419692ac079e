"""Boundaries: reading in any format/CRS, checks, code join, approximate map, download CLI."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from shapely.geometry import Polygon, box

from analysis.geography import boundaries_cli, geo
from analysis.inputs.profile import CityProfile

#: The committed official boundary files (data/external/boundaries, with CHECKSUMS.sha256).
COMMITTED = Path(__file__).resolve().parents[1] / "data" / "external" / "boundaries"
OFFICIAL = ("nantes", "barcelona", "milan", "lisbon", "toulouse", "brussels")


def _profile_dict(codes, lonlat, city="gridville", areas=None, url=None):
    return dict(
        city=city, name=city.title(), country="FR", languages=["fr"], synthetic=True,
        boundaries=dict(unit="quartier", url=url),
        neighbourhoods=[dict(code=c, name=f"Q{c}", lon=lo, lat=la, area_km2=(areas[i] if areas else None))
                        for i, (c, (lo, la)) in enumerate(zip(codes, lonlat))],
        pilot=dict(name="P", kind="k", description="d", start="2014-06-01", end="2015-03-01",
                   pilot_areas=[codes[0]], comparison_areas=[codes[1]], targeted_groups=["young"]),
        waves=dict(baseline=dict(year=2014, start="2014-03-01", end="2014-05-01"),
                   follow_up=dict(year=2015, start="2015-03-01", end="2015-05-01")),
        margins=dict(source="test", counts={c: {"female": [100] * 5, "male": [100] * 5} for c in codes}),
        residents=dict(files=[dict(path="r.csv", format="csv")], columns={"respondent_id": "id"}),
    )


def grid_city(codes=("01", "02", "03", "04", "05", "06")):
    """A 3 × 2 grid of 1 km squares near Nantes (EPSG:3035), and its profile."""
    x0, y0 = 3_340_000, 2_700_000
    squares = [box(x0 + (i % 3) * 1000, y0 + (i // 3) * 1000, x0 + (i % 3 + 1) * 1000, y0 + (i // 3 + 1) * 1000)
               for i in range(len(codes))]
    gdf = gpd.GeoDataFrame({"code": list(codes), "name": [f"Q{c}" for c in codes]}, geometry=squares,
                           crs=geo.TARGET_CRS)
    cent = gdf.geometry.centroid.to_crs("EPSG:4326")
    prof = CityProfile.model_validate(_profile_dict(list(codes), list(zip(cent.x, cent.y)),
                                                    areas=[1.0] * len(codes)))
    return gdf, prof


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "config" / "cities").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data" / "external" / "boundaries").mkdir(parents=True)
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    return tmp_path


def test_normalise_codes_text_ints_floats_and_leading_zeros():
    out = geo.normalise_codes([1, "2", 3.0, " 04 ", None])
    assert out.tolist()[:4] == ["1", "2", "3", "04"] and out.isna().iloc[4]
    # An integer field for Barcelona-style "01" codes is aligned to the profile's codes.
    assert geo.normalise_codes([1, 12], reference=["01", "12"]).tolist() == ["01", "12"]


def test_geojson_read_projected_with_clean_columns(tmp_path):
    gdf, prof = grid_city()
    path = tmp_path / "gridville.geojson"
    gdf.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    got = geo.read_boundaries("gridville", prof, path=path)
    assert got.crs == geo.TARGET_CRS
    assert list(got.columns) == ["code", "name", "geometry"]
    assert got["code"].tolist() == list(prof.codes)
    assert np.allclose(got.area, 1e6, rtol=1e-3)  # 1 km² squares survive the round trip


@pytest.mark.parametrize("fmt,crs", [("GPKG", "EPSG:25831"), ("ESRI Shapefile", "EPSG:3857"),
                                     ("GeoJSON", "EPSG:4326")])
def test_other_format_and_crs_give_the_same_join(tmp_path, fmt, crs):
    gdf, prof = grid_city()
    ext = {"GPKG": "gpkg", "ESRI Shapefile": "shp", "GeoJSON": "geojson"}[fmt]
    out = gdf.to_crs(crs)
    if fmt == "ESRI Shapefile":  # a shapefile typically stores the codes as integers
        out = out.assign(code=out["code"].astype(int))
    path = tmp_path / f"gridville.{ext}"
    out.to_file(path, driver=fmt)
    got = geo.read_boundaries("gridville", prof, path=path)
    report = geo.join_codes(got, prof)
    assert report.ok and report.matched == list(prof.codes)
    assert got.crs == geo.TARGET_CRS
    assert np.allclose(got.sort_values("code").area.to_numpy(), 1e6, rtol=2e-3)


def test_bow_tie_gives_a_clear_error_or_is_repaired(tmp_path):
    gdf, prof = grid_city()
    bow = Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000), (0, 0)])
    # on square 03's own place, so that the repaired bow tie passes the coverage checks
    gdf.loc[2, "geometry"] = shapely.affinity.translate(bow, 3_342_000, 2_700_000)
    path = tmp_path / "gridville.gpkg"
    gdf.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=r"code 03: Self-intersection"):
        geo.read_boundaries("gridville", prof, path=path)
    fixed = geo.read_boundaries("gridville", prof, path=path, repair=True)
    assert fixed.is_valid.all() and "code 03" in fixed.attrs["repaired"][0]


def test_duplicated_code_is_named(tmp_path):
    gdf, prof = grid_city()
    gdf.loc[5, "code"] = "02"
    path = tmp_path / "gridville.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(geo.BoundaryError, match=r"duplicated code\(s\) \['02'\]"):
        geo.read_boundaries("gridville", prof, path=path)


def test_missing_field_is_named(tmp_path):
    gdf, prof = grid_city()
    path = tmp_path / "gridville.geojson"
    gdf.rename(columns={"code": "ID_NIL"}).to_file(path, driver="GeoJSON")
    with pytest.raises(geo.BoundaryError, match=r"field\(s\) \['code'\] not found.*ID_NIL"):
        geo.read_boundaries("gridville", prof, path=path)


def test_join_reports_unknown_codes_on_both_sides():
    gdf, prof = grid_city()
    gdf.loc[5, "code"] = "99"  # a polygon nobody answered in; "06" has no polygon
    report = geo.join_codes(gdf, ["01", "02", "06", "06"])
    assert report.without_polygon == ["06"]
    assert report.without_data == ["03", "04", "05", "99"]
    assert not report.ok and "06" in report.summary() and "99" in report.summary()
    assert set(report.to_frame()["problem"]) == {"survey code without polygon", "polygon without survey data"}


def test_approximate_map_one_cell_per_unit_inside_outline_no_overlap():
    gdf, prof = grid_city()
    approx = geo.approximate_boundaries(prof)
    outline = geo.approximate_outline(prof)
    assert approx["code"].tolist() == list(prof.codes) and approx["approximate"].all()
    assert approx.crs == geo.TARGET_CRS
    assert approx.is_valid.all() and (approx.area > 0).all()
    assert all(outline.buffer(1e-6).contains(g) for g in approx.geometry)
    total = approx.area.sum()
    assert shapely.union_all(approx.geometry.to_numpy()).area == pytest.approx(total, rel=1e-9)
    # Each cell holds its own centroid, and sits near the true square.
    cent = gpd.GeoSeries(gdf.geometry.centroid, crs=geo.TARGET_CRS)
    assert all(c.contains(p) for c, p in zip(approx.geometry, cent))
    assert total == pytest.approx(6e6, rel=0.5)


def test_city_geometry_falls_back_to_approximate_and_says_so(root):
    gdf, prof = grid_city()
    got = geo.city_geometry("gridville", prof)
    assert got.approximate and got.gdf["approximate"].all()
    assert "approximate" in got.note("en") and "not official" in got.note("en")
    assert "approximatives" in got.note("fr")
    assert got.gdf.set_index("code")["area_type"].to_dict()["01"] == "pilot"
    gdf.to_file(root / "data/external/boundaries/gridville.geojson", driver="GeoJSON")
    real = geo.city_geometry("gridville", prof)
    assert not real.approximate and real.source == "gridville.geojson" and real.join.ok


@pytest.mark.parametrize("city", OFFICIAL)
def test_committed_official_boundaries_pass_every_check_and_rejoin_in_another_crs(city, tmp_path):
    """A fresh clone has the six files: read through the project, with checksum and profile."""
    from analysis.inputs.profile import load_profile

    path = COMMITTED / f"{city}.geojson"
    assert path.is_file(), f"{path} is not in the repository"
    prof = load_profile(city)
    got = geo.read_boundaries(city, prof, path=path)
    assert got.attrs["sha256"] == geo.read_checksums(COMMITTED)[f"{city}.geojson"]
    assert got["code"].is_unique and got.is_valid.all() and got.crs == geo.TARGET_CRS
    assert geo.join_codes(got, prof).ok
    other = tmp_path / f"{city}.gpkg"
    got.to_crs("EPSG:3857").to_file(other, driver="GPKG")
    again = geo.read_boundaries(city, prof, path=other)
    assert geo.join_codes(again, got["code"]).ok
    if city == "barcelona":
        assert got["code"].iloc[0] == "01" and len(got) == 73


def test_checksum_manifest_lists_exactly_the_committed_files_and_they_match():
    listed = geo.read_checksums(COMMITTED)
    assert set(listed) == {f"{c}.geojson" for c in OFFICIAL} | {"neighbourhoods.csv"}
    for name, digest in listed.items():
        assert geo.file_sha256(COMMITTED / name) == digest, name
    readme = (COMMITTED / "README.md").read_text(encoding="utf-8")
    for name, digest in listed.items():  # attribution table carries each checksum
        assert name in readme and digest in readme
    assert readme.count("not stated in the copy used") >= 5


def test_cities_without_boundaries_get_the_labelled_approximate_map():
    from analysis.inputs.profile import load_profile

    for city in ("amiens", "aubervilliers", "vilnius"):
        assert geo.boundary_file(city, COMMITTED) is None
        got = geo.city_geometry(city, load_profile(city))
        assert got.approximate and "not official" in got.note("en")


# -------------------------------------------------------------- planted damage
def _copy_with_manifest(tmp_path, city="nantes"):
    dest = tmp_path / "b"
    dest.mkdir()
    (dest / f"{city}.geojson").write_bytes((COMMITTED / f"{city}.geojson").read_bytes())
    (dest / geo.CHECKSUMS_NAME).write_text(
        f"{geo.read_checksums(COMMITTED)[city + '.geojson']}  {city}.geojson\n", encoding="utf-8")
    return dest / f"{city}.geojson"


def test_damaged_committed_file_is_refused_by_checksum(tmp_path):
    from analysis.inputs.profile import load_profile

    path = _copy_with_manifest(tmp_path)
    assert geo.read_boundaries("nantes", load_profile("nantes"), path=path).attrs["sha256"]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Centre-ville", "Centre ville", 1), encoding="utf-8")
    with pytest.raises(geo.BoundaryError, match=r"nantes\.geojson: SHA-256 [0-9a-f]{64} differs from "
                                                 r"[0-9a-f]{64} recorded in CHECKSUMS\.sha256"):
        geo.read_boundaries("nantes", load_profile("nantes"), path=path)


def test_malformed_checksum_line_is_named(tmp_path):
    (tmp_path / geo.CHECKSUMS_NAME).write_text("abc  nantes.geojson\n", encoding="utf-8")
    with pytest.raises(geo.BoundaryError, match=r"CHECKSUMS\.sha256, line 1: expected"):
        geo.read_checksums(tmp_path)


def test_swapped_lon_lat_is_refused_and_named(tmp_path):
    gdf, prof = grid_city()
    ll = gdf.to_crs("EPSG:4326")
    ll["geometry"] = shapely.transform(ll.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    path = tmp_path / "gridville.geojson"
    ll.to_file(path, driver="GeoJSON")
    with pytest.raises(geo.BoundaryError, match=r"6 of 6 profile centroids lie outside.*"
                                                r"longitude and latitude are swapped"):
        geo.read_boundaries("gridville", prof, path=path)


@pytest.mark.parametrize("real,declared,expect", [
    ("EPSG:25831", "EPSG:4326", r"declared CRS EPSG:4326 is in degrees, but the coordinates range"),
    ("EPSG:4326", "EPSG:3035", r"declared CRS EPSG:3035 is projected \(metres\), but the coordinates "
                               r"span only"),
    ("EPSG:3035", "EPSG:25831", r"outside the area of use of the declared CRS EPSG:25831"),
])
def test_wrong_crs_declared_is_refused_without_a_profile(tmp_path, real, declared, expect):
    """The case that once drew blank maps captioned "official boundaries"."""
    gdf, prof = grid_city()
    wrong = gdf.to_crs(real).set_crs(declared, allow_override=True)
    path = tmp_path / "gridville.gpkg"
    wrong.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=expect):
        geo.read_boundaries("gridville", None, path=path)
    with pytest.raises(geo.BoundaryError):  # and with the profile as well
        geo.read_boundaries("gridville", prof, path=path)


def test_wrong_projected_crs_inside_its_area_is_caught_by_the_centroids(tmp_path):
    gdf, prof = grid_city()  # EPSG:25830 metres read as EPSG:25831: 500 km off, still Europe
    wrong = gdf.to_crs("EPSG:25830").set_crs("EPSG:25831", allow_override=True)
    path = tmp_path / "gridville.gpkg"
    wrong.to_file(path, driver="GPKG")
    geo.read_boundaries("gridville", None, path=path)  # plausible on its own
    with pytest.raises(geo.BoundaryError, match=r"6 of 6 profile centroids lie outside.*wrong CRS declared"):
        geo.read_boundaries("gridville", prof, path=path)


def test_missing_code_is_refused_with_the_code(tmp_path):
    gdf, prof = grid_city()
    path = tmp_path / "gridville.geojson"
    gdf[gdf["code"] != "06"].to_file(path, driver="GeoJSON")
    with pytest.raises(geo.BoundaryError, match=r"no polygon for profile code\(s\) \['06'\] "
                                                r"\(expected the 6 codes of config/cities/gridville\.yml"):
        geo.read_boundaries("gridville", prof, path=path)
    geo.read_boundaries("gridville", None, path=path)  # without a profile nothing to compare


def test_overlapping_polygons_are_refused_with_both_codes(tmp_path):
    gdf, prof = grid_city()
    gdf.loc[0, "geometry"] = gdf.geometry[0].buffer(100, join_style="mitre")  # eats 100 m of 02 and 04
    path = tmp_path / "gridville.gpkg"
    gdf.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=r"polygons overlap \(codes 01 and 02: 100,000 m²"):
        geo.read_boundaries("gridville", prof, path=path)


def test_small_overlap_within_tolerance_is_accepted(tmp_path):
    gdf, prof = grid_city()
    gdf.loc[0, "geometry"] = box(*(np.asarray(gdf.geometry[0].bounds) + [0, 0, 0.5, 0]))  # 500 m²
    path = tmp_path / "gridville.gpkg"
    gdf.to_file(path, driver="GPKG")
    assert len(geo.read_boundaries("gridville", prof, path=path)) == 6


def test_shifted_polygon_is_refused_by_centroid_and_gap(tmp_path):
    gdf, prof = grid_city(codes=[f"{i:02d}" for i in range(1, 10)])  # 3 × 3: 05 is in the middle
    moved = gdf.copy()
    moved.loc[4, "geometry"] = shapely.affinity.translate(gdf.geometry[4], 0, -1000)  # onto 02
    path = tmp_path / "gridville.gpkg"
    moved.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=r"polygons overlap \(codes 02 and 05: 1,000,000 m²"):
        geo.read_boundaries("gridville", prof, path=path)
    # moved into empty space: no overlap, but a hole where it was, and its centroid is 1.5 km off
    moved.loc[4, "geometry"] = shapely.affinity.translate(gdf.geometry[4], 5000, 0)
    moved.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=r"gap\(s\) between polygons \(1,000,000 m² at lon"):
        geo.read_boundaries("gridville", None, path=path)
    # 900 m north, with 02 and 08 absent: no overlap, no hole; only the centroid (400 m off) tells
    moved.loc[4, "geometry"] = shapely.affinity.translate(gdf.geometry[4], 0, 900)
    moved = moved.drop(index=[1, 7])
    prof_missing = prof.model_copy(update={"neighbourhoods": [n for n in prof.neighbourhoods
                                                              if n.code not in ("02", "08")]})
    moved.to_file(path, driver="GPKG")
    with pytest.raises(geo.BoundaryError, match=r"centroid\(s\) outside their polygon by more than "
                                                r"250 m \(code 05: 400 m\)"):
        geo.read_boundaries("gridville", prof_missing, path=path)


# ------------------------------------------------------------------------ CLI
def _write_profile(root, url):
    gdf, prof = grid_city()
    d = _profile_dict(list(prof.codes), [(n.lon, n.lat) for n in prof.neighbourhoods], url=url)
    (root / "config/cities/gridville.yml").write_text(yaml.safe_dump(d), encoding="utf-8")
    return gdf


def test_cli_downloads_from_file_url(root, capsys):
    gdf = _write_profile(root, None)
    src = root / "source.geojson"
    gdf.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    _write_profile(root, src.as_uri())
    assert boundaries_cli.main(["gridville"]) == 0
    out = capsys.readouterr().out
    assert "gridville: ok: 6 polygons" in out and "6 codes match" in out
    assert (root / "data/external/boundaries/gridville.geojson").is_file()


@pytest.mark.parametrize("url,expect", [(None, "no boundaries.url"),
                                        ("http://127.0.0.1:9/none.geojson", "could not download")])
def test_cli_without_url_or_network_is_not_an_error(root, capsys, url, expect):
    _write_profile(root, url)
    assert boundaries_cli.main(["gridville"]) == 0
    out = capsys.readouterr().out
    assert f"gridville: skipped: {expect}" in out and "Traceback" not in out


def test_cli_real_errors_exit_nonzero(root, capsys):
    bad = root / "bad.geojson"
    bad.write_text("this is not geojson")
    _write_profile(root, bad.as_uri())
    assert boundaries_cli.main(["gridville", "atlantis"]) == 1
    out = capsys.readouterr().out
    assert "gridville: error: downloaded" in out and "atlantis: error:" in out
