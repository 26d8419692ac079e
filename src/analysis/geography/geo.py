"""Neighbourhood geography: official boundaries, code joins and an approximate fallback map.

Owns reading, checking and projecting boundary files, code joins and the approximate fallback
map. Must not estimate nor draw: maps draw, statistics estimate.

Maps use the cities' official neighbourhood units (DESIGN §5). The project reads them from
``data/external/boundaries/<city>.*`` (GeoJSON, GeoPackage or shapefile, in any CRS), a
folder of the repository: the official files of six cities are committed there with their
attribution, licence and SHA-256 (its ``README.md`` and ``CHECKSUMS.sha256``); a user adds
her own, or ``make boundaries`` downloads one (:mod:`analysis.geography.boundaries_cli`). Every layer is returned in one projected CRS,
:data:`TARGET_CRS` (EPSG:3035, LAEA Europe: equal-area, metres), with the columns
``code``, ``name`` and ``geometry``.

When no boundary file is present (a fresh offline clone), :func:`approximate_boundaries`
draws Voronoi cells around the official centroids carried by the city profile, clipped
to an approximate city outline. Such maps are flagged ``approximate=True`` and their
captions say so (:func:`boundary_note`).

Survey codes are joined to boundary codes as text (:func:`normalise_codes`), and
:func:`join_codes` lists the codes that do not match on either side.

Before a boundary file is used it is checked (:func:`read_boundaries`), and refused with a
:class:`BoundaryError` naming the file, the code and what was expected when:

- it is one of the committed files listed in ``CHECKSUMS.sha256`` beside it and its
  SHA-256 differs (:func:`verify_checksum`);
- the declared CRS does not fit the coordinates' range (degrees declared as metres or the
  reverse, or coordinates outside the CRS's area of use: :func:`check_crs_range`);
- with a profile: a profile code has no polygon, or a profile centroid lies more than
  :data:`CENTROID_TOL_M` from its polygon (a shifted polygon, swapped lon/lat, a wrong CRS:
  :func:`check_against_profile`);
- polygons overlap by more than :data:`OVERLAP_TOL_M2` or leave a gap (a hole in their
  union) larger than :data:`GAP_TOL_M2` (:func:`check_coverage`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.validation import explain_validity, make_valid

from analysis.config import PATHS
from analysis.publishing import text

log = logging.getLogger(__name__)

#: The one projected CRS every layer is drawn and measured in (LAEA Europe, metres).
TARGET_CRS = "EPSG:3035"

#: Boundary file formats, in order of preference when several are present.
BOUNDARY_SUFFIXES: tuple[str, ...] = (".gpkg", ".geojson", ".json", ".shp")

#: Name of the checksum manifest beside the committed boundary files (``sha256sum`` format).
CHECKSUMS_NAME = "CHECKSUMS.sha256"

#: How far (metres) a profile's official centroid may lie outside its polygon. The six
#: committed files need at most 84 m (a Milan NIL whose area centroid falls just outside
#: its concave shape after simplification); 250 m still catches any shifted polygon.
CENTROID_TOL_M = 250.0
#: The same for centroids the profile marks ``approximate`` (no official source).
APPROX_CENTROID_TOL_M = 1_500.0
#: Overlap area (m²) between two polygons that is refused. The committed files' largest
#: overlap is 65 m² (coverage simplification slivers).
OVERLAP_TOL_M2 = 1_000.0
#: Hole (m²) in the union of the polygons that is refused as a gap. Largest committed: 27 m².
GAP_TOL_M2 = 1_000.0


class BoundaryError(ValueError):
    """A boundary file is unreadable or invalid; the message names file, code and problem."""


# --------------------------------------------------------------------------- codes
def normalise_codes(codes: Iterable, reference: Iterable[str] | None = None) -> pd.Series:
    """Neighbourhood codes as clean text.

    Integers and integral floats lose their decimal part (``1``, ``1.0`` → ``"1"``),
    surrounding whitespace is stripped, and leading zeros are kept (Barcelona ``"01"``).
    With ``reference`` (e.g. the profile's codes), a code that matches exactly one
    reference code once leading zeros are ignored is rewritten to that reference code,
    so that a shapefile storing Barcelona's barri ``"01"`` as the integer ``1`` still joins.

    Parameters
    ----------
    codes : iterable
        Codes as read (str, int or float; missing values stay missing).
    reference : iterable of str, optional
        Codes to align to.

    Returns
    -------
    pandas.Series
        dtype ``str``.
    """
    s = pd.Series(list(codes) if not isinstance(codes, pd.Series) else codes, copy=True)

    def _one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return str(v)
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return str(int(v)) if float(v).is_integer() else repr(float(v))
        txt = str(v).strip()
        if re.fullmatch(r"-?\d+\.0+", txt):
            txt = txt.split(".")[0]
        return txt

    out = pd.Series([_one(v) for v in s], index=s.index, dtype="str")
    if reference is not None:
        ref = [str(r) for r in reference]
        refset = set(ref)
        stripped: dict[str, list[str]] = {}
        for r in ref:
            stripped.setdefault(r.lstrip("0") or "0", []).append(r)

        def _align(c):
            if pd.isna(c) or c in refset:
                return c
            hits = stripped.get(c.lstrip("0") or "0", [])
            return hits[0] if len(hits) == 1 else c

        out = out.map(_align).astype("str")
    return out


# ---------------------------------------------------------------------- boundaries
def boundary_file(city: str, folder: str | Path | None = None) -> Path | None:
    """The boundary file of ``city`` in ``data/external/boundaries`` (or ``folder``), if any.

    When several formats are present the first of :data:`BOUNDARY_SUFFIXES` wins.
    """
    folder = Path(folder) if folder is not None else PATHS.boundaries
    for suffix in BOUNDARY_SUFFIXES:
        path = folder / f"{city}{suffix}"
        if path.is_file():
            return path
    return None


def _check_geometries(gdf: gpd.GeoDataFrame, path: Path, repair: bool) -> list[str]:
    """Raise on missing, non-polygonal or invalid geometries (or repair the invalid ones)."""
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        raise BoundaryError(f"{path}: empty or missing geometry for code(s) "
                            f"{gdf.loc[empty, 'code'].tolist()}")
    kinds = gdf.geometry.geom_type
    bad_kind = ~kinds.isin(["Polygon", "MultiPolygon"])
    if bad_kind.any():
        detail = ", ".join(f"{c} ({k})" for c, k in zip(gdf.loc[bad_kind, "code"], kinds[bad_kind]))
        raise BoundaryError(f"{path}: neighbourhoods must be polygons; got {detail}")
    invalid = ~gdf.geometry.is_valid
    repaired: list[str] = []
    if invalid.any():
        problems = [f"code {c}: {explain_validity(g)}"
                    for c, g in zip(gdf.loc[invalid, "code"], gdf.geometry[invalid])]
        if not repair:
            raise BoundaryError(f"{path}: {len(problems)} invalid geometr"
                                f"{'y' if len(problems) == 1 else 'ies'}: " + "; ".join(problems)
                                + " (fix the file, or read it with repair=True to apply make_valid)")
        for idx in gdf.index[invalid]:
            fixed = make_valid(gdf.geometry[idx])
            # make_valid may return a GeometryCollection with stray lines: keep the area.
            polys = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type in ("Polygon", "MultiPolygon")]
            gdf.loc[idx, "geometry"] = shapely.union_all(polys) if polys else fixed
        repaired = problems
        log.warning("%s: repaired with make_valid: %s", path, "; ".join(problems))
    return repaired


# ------------------------------------------------------------------- file checks
def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_checksums(folder: str | Path | None = None) -> dict[str, str]:
    """The checksum manifest ``CHECKSUMS.sha256`` of a boundary folder: file name → SHA-256.

    The manifest is in ``sha256sum`` format (``<hex>  <name>`` per line, ``#`` comments),
    so ``sha256sum -c CHECKSUMS.sha256`` checks it too. It lists exactly the boundary files
    committed to the repository (the privacy guard allows these and no others). An absent
    manifest gives an empty mapping.

    Raises
    ------
    BoundaryError
        A malformed line (named by its number).
    """
    folder = Path(folder) if folder is not None else PATHS.boundaries
    manifest = folder / CHECKSUMS_NAME
    if not manifest.is_file():
        return {}
    out: dict[str, str] = {}
    for lineno, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([0-9a-f]{64}) [ *]([^/\\]+)", line.strip())
        if m is None:
            raise BoundaryError(f"{manifest}, line {lineno}: expected '<64 hex digits>  <file name>'")
        out[m.group(2)] = m.group(1)
    return out


def verify_checksum(path: str | Path) -> str | None:
    """Check a boundary file against the manifest beside it, when the manifest lists it.

    Returns
    -------
    str or None
        The verified SHA-256, or None when the file is not listed (a user's own file).

    Raises
    ------
    BoundaryError
        The file's SHA-256 differs from the manifest's (names file, expected and found).
    """
    path = Path(path)
    expected = read_checksums(path.parent).get(path.name)
    if expected is None:
        return None
    got = file_sha256(path)
    if got != expected:
        raise BoundaryError(f"{path}: SHA-256 {got} differs from {expected} recorded in "
                            f"{CHECKSUMS_NAME}; the committed file was changed or damaged "
                            "(restore it with git, or record the new file's checksum with its source)")
    return got


def _fmt_bounds(b) -> str:
    return f"x {b[0]:.6g}..{b[2]:.6g}, y {b[1]:.6g}..{b[3]:.6g}"


def check_crs_range(gdf: gpd.GeoDataFrame, path: str | Path) -> None:
    """Refuse coordinates that do not fit the declared CRS.

    Degrees declared as metres (a projected CRS whose coordinates span under 10 units),
    metres declared as degrees (outside ±180/±90), or coordinates that fall outside the
    declared CRS's area of use (by more than 5°) — the case that once drew blank maps
    captioned "official boundaries".

    Raises
    ------
    BoundaryError
    """
    crs = gdf.crs
    b = np.asarray(gdf.total_bounds, dtype=float)
    if not np.isfinite(b).all():
        raise BoundaryError(f"{path}: coordinates are not finite numbers")
    name = crs.to_string()
    if crs.is_geographic:
        if b[0] < -180 or b[2] > 180 or b[1] < -90 or b[3] > 90:
            raise BoundaryError(f"{path}: declared CRS {name} is in degrees, but the coordinates "
                                f"range {_fmt_bounds(b)}, outside ±180/±90: the file is probably in a "
                                "projected CRS (metres); write it with its real CRS")
    else:
        extent = max(b[2] - b[0], b[3] - b[1])
        if extent < 10:
            raise BoundaryError(f"{path}: declared CRS {name} is projected (metres), but the "
                                f"coordinates span only {extent:.3g} units ({_fmt_bounds(b)}), like "
                                "degrees: the file is probably in EPSG:4326; write it with its real CRS")
    aou = crs.area_of_use
    if aou is None:
        return
    try:
        lon_lat = gpd.GeoSeries(shapely.points([(b[0], b[1]), (b[2], b[3]), (b[0], b[3]), (b[2], b[1])]),
                                crs=crs).to_crs("EPSG:4326")
        lb = np.asarray(lon_lat.total_bounds, dtype=float)
    except Exception:  # the transform itself fails far outside the CRS's domain
        lb = np.array([np.inf] * 4)
    # UTM-type zones are routinely used a few degrees beyond their nominal zone (Spain in
    # EPSG:25830/25831), so only coordinates well outside the area of use are refused.
    margin = 5.0
    if (not np.isfinite(lb).all() or lb[0] < aou.west - margin or lb[2] > aou.east + margin
            or lb[1] < aou.south - margin or lb[3] > aou.north + margin):
        where = _fmt_bounds(lb) if np.isfinite(lb).all() else "not transformable"
        raise BoundaryError(f"{path}: coordinates ({_fmt_bounds(b)}; lon/lat {where}) fall outside "
                            f"the area of use of the declared CRS {name} ({aou.name.split(':')[0]}: lon "
                            f"{aou.west}..{aou.east}, lat {aou.south}..{aou.north}): wrong CRS declared?")


def check_against_profile(gdf: gpd.GeoDataFrame, profile, path: str | Path,
                          raw: gpd.GeoDataFrame | None = None) -> None:
    """Refuse a file that lacks a profile code or whose polygons miss the profile's centroids.

    Parameters
    ----------
    gdf : GeoDataFrame
        ``code``, ``geometry`` in :data:`TARGET_CRS`.
    profile : CityProfile
        Its neighbourhood codes and official centroids (lon/lat).
    path : str or Path
        For messages.
    raw : GeoDataFrame, optional
        The file in its declared CRS, to test whether swapping lon/lat would fit.

    Raises
    ------
    BoundaryError
        Names the missing codes, or each code whose centroid is farther than
        :data:`CENTROID_TOL_M` (:data:`APPROX_CENTROID_TOL_M` for centroids the profile
        marks approximate) from its polygon, with the distance; says when the whole file is
        elsewhere (lon/lat swapped, or wrong CRS declared).
    """
    have = set(gdf["code"])
    missing = [c for c in profile.codes if c not in have]
    if missing:
        raise BoundaryError(f"{path}: no polygon for profile code(s) {_sort_codes(missing)} "
                            f"(expected the {len(profile.codes)} codes of config/cities/"
                            f"{profile.city}.yml neighbourhoods; the file has {len(have)})")
    pts = _centroids(profile)
    poly = gdf.set_index("code").geometry
    geoms = poly.reindex(pts["code"]).to_numpy()
    dist = shapely.distance(geoms, pts.geometry.to_numpy())
    tol = np.where(pts["approximate"].to_numpy(dtype=bool), APPROX_CENTROID_TOL_M, CENTROID_TOL_M)
    bad = dist > tol
    if not bad.any():
        return
    if bad.mean() > 0.5:
        hint = "wrong CRS declared, or the file is of another place?"
        if raw is not None and raw.crs is not None and raw.crs.is_geographic:
            swapped = raw.geometry.to_numpy()
            swapped = shapely.transform(swapped, lambda xy: xy[:, ::-1])
            try:
                sw = gpd.GeoSeries(swapped, crs=raw.crs).to_crs(TARGET_CRS).to_numpy()
                sw = pd.Series(sw, index=gdf["code"].to_numpy()).reindex(pts["code"]).to_numpy()
                if (shapely.distance(sw, pts.geometry.to_numpy()) <= tol).mean() > 0.5:
                    hint = "longitude and latitude are swapped in the file"
            except Exception:  # swapped coordinates may not even be transformable
                pass
        raise BoundaryError(f"{path}: {int(bad.sum())} of {len(bad)} profile centroids lie outside "
                            f"their polygons (median distance {np.median(dist) / 1000:.1f} km, "
                            f"expected within {CENTROID_TOL_M:.0f} m): {hint}")
    detail = ", ".join(f"code {c}: {d:.0f} m" for c, d in zip(pts["code"][bad], dist[bad]))
    raise BoundaryError(f"{path}: profile centroid(s) outside their polygon by more than "
                        f"{CENTROID_TOL_M:.0f} m ({detail}); a shifted polygon, or a wrong code?")


def check_coverage(gdf: gpd.GeoDataFrame, path: str | Path) -> None:
    """Refuse overlapping polygons and gaps between them.

    An overlap is the intersection of two polygons larger than :data:`OVERLAP_TOL_M2`; a
    gap is a hole in the union of all polygons larger than :data:`GAP_TOL_M2` that is not
    itself a hole of one polygon's own (an enclave of another municipality would be one,
    and is reported too: a city's units should tile it).

    Raises
    ------
    BoundaryError
        Names the pairs of codes and the areas, or the gaps' areas and locations.
    """
    geoms = gdf.geometry.to_numpy()
    codes = gdf["code"].to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    areas = shapely.area(shapely.intersection(geoms[left], geoms[right])) if len(left) else np.array([])
    over = areas > OVERLAP_TOL_M2
    if over.any():
        pairs = ", ".join(f"codes {codes[i]} and {codes[j]}: {a:,.0f} m²"
                          for i, j, a in zip(left[over], right[over], areas[over]))
        raise BoundaryError(f"{path}: polygons overlap ({pairs}; expected at most "
                            f"{OVERLAP_TOL_M2:,.0f} m²)")
    union = shapely.union_all(geoms)
    holes = [shapely.Polygon(ring) for part in getattr(union, "geoms", [union])
             for ring in getattr(part, "interiors", [])]
    gaps = [h for h in holes if h.area > GAP_TOL_M2]
    if gaps:
        where = gpd.GeoSeries([g.representative_point() for g in gaps], crs=gdf.crs).to_crs("EPSG:4326")
        detail = ", ".join(f"{g.area:,.0f} m² at lon {p.x:.5f}, lat {p.y:.5f}" for g, p in zip(gaps, where))
        raise BoundaryError(f"{path}: gap(s) between polygons ({detail}; expected at most "
                            f"{GAP_TOL_M2:,.0f} m²): a missing polygon, or a shifted one?")


def read_boundaries(city: str, profile=None, *, path: str | Path | None = None,
                    repair: bool = False) -> gpd.GeoDataFrame | None:
    """Read and check a city's official neighbourhood boundaries.

    Parameters
    ----------
    city : str
        City slug; the file is ``data/external/boundaries/<city>.{gpkg,geojson,json,shp}``.
    profile : CityProfile, optional
        Gives ``boundaries.code_field`` / ``name_field`` (default ``code`` / ``name``) and
        the codes to align leading zeros to (:func:`normalise_codes`).
    path : str or Path, optional
        Read this file instead of looking in ``data/external/boundaries``.
    repair : bool
        Repair invalid geometries with ``make_valid`` (listed in ``attrs["repaired"]``
        and logged) instead of raising.

    Returns
    -------
    geopandas.GeoDataFrame or None
        Columns ``code`` (str), ``name`` (str), ``geometry``, in :data:`TARGET_CRS`; one
        row per unique code. ``None`` when no boundary file is present.

    Raises
    ------
    BoundaryError
        Unreadable file, checksum differing from ``CHECKSUMS.sha256``, missing CRS or
        field, coordinates that do not fit the declared CRS, empty/non-polygonal/invalid
        geometry (naming each code and ``explain_validity``'s diagnosis), duplicated codes,
        overlaps or gaps; with a profile, a missing code or a centroid outside its polygon
        (see the module docstring).
    """
    path = Path(path) if path is not None else boundary_file(city)
    if path is None:
        return None
    if not path.is_file():
        raise BoundaryError(f"{path}: no such boundary file")
    sha256 = verify_checksum(path)
    code_field = profile.boundaries.code_field if profile is not None else "code"
    name_field = profile.boundaries.name_field if profile is not None else "name"
    try:
        raw = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; all mean "unreadable"
        raise BoundaryError(f"{path}: cannot read as a GeoJSON/GeoPackage/shapefile: {exc}") from exc
    missing = [f for f in (code_field, name_field) if f not in raw.columns]
    if missing:
        fields = [c for c in raw.columns if c != raw.geometry.name]
        raise BoundaryError(f"{path}: field(s) {missing} not found (fields present: {fields}); "
                            "set boundaries.code_field / name_field in the city profile")
    if raw.crs is None:
        raise BoundaryError(f"{path}: no coordinate reference system; add a .prj (shapefile) "
                            "or write the file with its CRS")
    check_crs_range(raw, path)
    reference = profile.codes if profile is not None else None
    gdf = gpd.GeoDataFrame(
        {"code": normalise_codes(raw[code_field], reference).to_numpy(),
         "name": raw[name_field].astype("str").str.strip().to_numpy()},
        geometry=raw.geometry.to_numpy(), crs=raw.crs,
    )
    if gdf["code"].isna().any():
        rows = (np.flatnonzero(gdf["code"].isna().to_numpy()) + 1).tolist()
        raise BoundaryError(f"{path}: missing {code_field!r} in feature(s) {rows[:20]}")
    dup = gdf["code"][gdf["code"].duplicated(keep=False)]
    if len(dup):
        raise BoundaryError(f"{path}: duplicated code(s) {sorted(set(dup))} in field {code_field!r}; "
                            "codes must identify one polygon each")
    repaired = _check_geometries(gdf, path, repair)
    out = gdf.to_crs(TARGET_CRS)
    check_coverage(out, path)
    if profile is not None:
        check_against_profile(out, profile, path, raw=gdf)
    out.attrs = {"source": path.name, "repaired": repaired, "sha256": sha256}
    return out


# ----------------------------------------------------------------------------- join
@dataclass(frozen=True)
class JoinReport:
    """How survey (or profile) codes and boundary codes match.

    Attributes
    ----------
    matched : list of str
        Codes on both sides.
    without_polygon : list of str
        Survey/profile codes with no boundary polygon (cannot be mapped).
    without_data : list of str
        Boundary polygons with no survey/profile code (drawn as "no data").
    """

    matched: list[str]
    without_polygon: list[str] = field(default_factory=list)
    without_data: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every code on one side is on the other."""
        return not self.without_polygon and not self.without_data

    def summary(self) -> str:
        """One line per finding, for notebooks and logs."""
        lines = [f"{len(self.matched)} codes match."]
        if self.without_polygon:
            lines.append(f"{len(self.without_polygon)} survey code(s) without a polygon "
                         f"(not mapped): {self.without_polygon}")
        if self.without_data:
            lines.append(f"{len(self.without_data)} polygon(s) without survey data "
                         f"(drawn as 'no data'): {self.without_data}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The unmatched codes as a table: ``code``, ``problem``."""
        rows = ([{"code": c, "problem": "survey code without polygon"} for c in self.without_polygon]
                + [{"code": c, "problem": "polygon without survey data"} for c in self.without_data])
        return pd.DataFrame(rows, columns=["code", "problem"])

    def __str__(self) -> str:
        return self.summary()


def _sort_codes(codes: Iterable[str]) -> list[str]:
    return sorted(codes, key=lambda c: (0, int(c), c) if c.isdigit() else (1, 0, c))


def join_codes(boundaries: gpd.GeoDataFrame | pd.DataFrame, profile_or_survey_codes) -> JoinReport:
    """Match survey codes (or a profile's neighbourhood codes) with boundary codes.

    Parameters
    ----------
    boundaries : DataFrame
        With a ``code`` column (as returned by :func:`read_boundaries`).
    profile_or_survey_codes : CityProfile, pandas.Series or iterable of codes
        A profile (its neighbourhood codes), or survey codes (e.g. the respondents'
        ``neighbourhood`` column; repeats are fine).

    Returns
    -------
    JoinReport
    """
    if hasattr(profile_or_survey_codes, "codes") and hasattr(profile_or_survey_codes, "neighbourhoods"):
        survey = list(profile_or_survey_codes.codes)
    else:
        survey = normalise_codes(profile_or_survey_codes).dropna().tolist()
    left = set(survey)
    right = set(normalise_codes(boundaries["code"]).dropna())
    return JoinReport(matched=_sort_codes(left & right),
                      without_polygon=_sort_codes(left - right),
                      without_data=_sort_codes(right - left))


# ---------------------------------------------------------------------- approximate
def _centroids(profile) -> gpd.GeoDataFrame:
    nb = profile.neighbourhood_frame()
    pts = gpd.GeoDataFrame(nb, geometry=gpd.points_from_xy(nb["lon"], nb["lat"]), crs="EPSG:4326")
    return pts.to_crs(TARGET_CRS)


def approximate_outline(profile) -> shapely.Geometry:
    """An approximate city outline from the neighbourhood centroids and areas.

    The union of discs around each centroid, of radius 1.1 × the radius of a circle of the
    neighbourhood's area (``area_km2``; 0.6 × the median nearest-centroid distance when
    areas are unknown), closed (buffer out then in by the median radius) so that
    neighbouring discs merge into one shape without the gaps between them.
    """
    pts = _centroids(profile)
    xy = np.column_stack([pts.geometry.x, pts.geometry.y])
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    area = pd.to_numeric(pts["area_km2"], errors="coerce").to_numpy(dtype=float)
    radius = np.where(np.isfinite(area), np.sqrt(np.nan_to_num(area) * 1e6 / np.pi),
                      0.6 * np.median(nearest))
    radius = 1.1 * radius
    discs = shapely.buffer(pts.geometry.to_numpy(), radius)
    r = float(np.median(radius))
    return shapely.union_all(discs).buffer(r).buffer(-r)


def approximate_boundaries(profile) -> gpd.GeoDataFrame:
    """Approximate neighbourhood polygons: Voronoi cells of the official centroids.

    Each neighbourhood gets the part of the city outline (:func:`approximate_outline`)
    closer to its centroid than to any other, so the cells cover the outline without
    overlapping and each contains its own centroid. These are not official boundaries:
    the frame is flagged ``approximate=True`` and captions must say so
    (:func:`boundary_note`).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code``, ``name``, ``approximate`` (True), ``geometry``, in :data:`TARGET_CRS`.
    """
    pts = _centroids(profile)
    outline = approximate_outline(profile)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(pts.geometry.to_numpy()),
                                     extend_to=outline.envelope.buffer(1000), ordered=True)
    cells = list(cells.geoms)
    if len(cells) != len(pts):  # ordered=True keeps one cell per input point
        raise RuntimeError(f"{profile.city}: Voronoi gave {len(cells)} cells for {len(pts)} centroids "
                           "(duplicate centroids in the profile?)")
    clipped = shapely.intersection(np.asarray(cells, dtype=object), outline)
    out = gpd.GeoDataFrame({"code": pts["code"].astype("str").to_numpy(),
                            "name": pts["name"].astype("str").to_numpy(),
                            "approximate": True},
                           geometry=clipped, crs=TARGET_CRS)
    out.attrs = {"source": "approximate", "repaired": []}
    return out


# -------------------------------------------------------------------------- either
@dataclass
class CityGeometry:
    """The neighbourhood polygons a city is mapped with, and where they come from.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        ``code``, ``name``, ``area_type`` ("pilot"/"comparison"/"other"), ``approximate``,
        ``geometry`` in :data:`TARGET_CRS`.
    approximate : bool
        True when drawn by :func:`approximate_boundaries` (no boundary file).
    source : str
        The boundary file name, or ``"approximate"``.
    join : JoinReport
        Profile codes against polygon codes.
    """

    gdf: gpd.GeoDataFrame
    approximate: bool
    source: str
    join: JoinReport

    def note(self, lang: str = "en") -> str:
        """"official boundaries" / "approximate boundaries (...)" in ``lang``."""
        return boundary_note(self.approximate, lang)

    def describe(self) -> str:
        """One paragraph for notebooks: which boundaries, how many polygons, the join."""
        what = (f"Approximate boundaries: Voronoi cells around the {len(self.gdf)} official "
                "centroids of the city profile, clipped to an approximate city outline. "
                "They are NOT official boundaries: put the official file in "
                "data/external/boundaries/ or run `make boundaries`."
                if self.approximate else
                f"Official boundaries from {self.source}: {len(self.gdf)} polygons.")
        return f"{what}\nProfile codes vs polygons: {self.join.summary()}"


def boundary_note(approximate: bool, lang: str = "en") -> str:
    """Caption text saying whether boundaries are official or approximate."""
    return text.tr("boundaries.approximate" if approximate else "boundaries.official", lang)


def city_geometry(city: str, profile, *, repair: bool = False) -> CityGeometry:
    """Official boundaries when a file is present, else the approximate Voronoi map.

    Parameters
    ----------
    city : str
    profile : CityProfile
    repair : bool
        Passed to :func:`read_boundaries`.

    Returns
    -------
    CityGeometry
        Polygons with ``area_type`` from the profile, and the code join report.
    """
    real = read_boundaries(city, profile, repair=repair)
    if real is None:
        gdf = approximate_boundaries(profile)
        approximate, source = True, "approximate"
    else:
        gdf = real.assign(approximate=False)
        approximate, source = False, real.attrs.get("source", "boundaries")
    gdf["area_type"] = gdf["code"].map(profile.area_type).astype("str")
    gdf = gdf[["code", "name", "area_type", "approximate", "geometry"]]
    return CityGeometry(gdf=gdf, approximate=approximate, source=source, join=join_codes(gdf, profile))
