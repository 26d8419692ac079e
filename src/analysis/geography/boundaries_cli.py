"""Download official neighbourhood boundaries (``make boundaries``).

Owns ``make boundaries``: downloading and checking official boundary files. Must not
hold geometry logic of its own (analysis.geography.geo) nor touch survey data.

Usage::

    python -m analysis.geography.boundaries_cli [--force] [CITY ...]   # default: every city with a profile

For each city whose boundary file is already in ``data/external/boundaries`` (the six
committed files), checks it — SHA-256 against ``CHECKSUMS.sha256``, CRS, codes, centroids,
coverage (:func:`analysis.geography.geo.read_boundaries`) — and downloads nothing (``--force``
downloads again). Otherwise fetches ``boundaries.url`` of its profile into
``data/external/boundaries/<city>.<ext>`` (GeoJSON, GeoPackage, or a zipped shapefile,
whose parts are renamed ``<city>.shp/.shx/.dbf/.prj/.cpg``), then checks the file with
:func:`analysis.geography.geo.read_boundaries` and reports the code join.

A download whose SHA-256 differs from the one recorded for ``<city>.<ext>`` in
``CHECKSUMS.sha256`` is refused and not installed. A URL that returns a web page (the
publisher's open-data page, where the profile knows no direct file) is reported as such.

It says plainly, per city, when it cannot download — no URL in the profile, a web page, or
no network — and the exit code stays 0: the maps then fall back to approximate boundaries. A real
error (unknown city, invalid profile, a downloaded file that is not valid boundaries)
gives exit code 1.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from analysis.config import PATHS, list_cities
from analysis.geography.geo import (BOUNDARY_SUFFIXES, CHECKSUMS_NAME, BoundaryError, boundary_file, file_sha256,
                  join_codes, read_boundaries, read_checksums)
from analysis.inputs.profile import ProfileError, load_profile

TIMEOUT_S = 30
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _suffix(url: str, content_type: str | None) -> str:
    path = url.split("?", 1)[0].lower()
    for ext in (".geojson", ".json", ".gpkg", ".zip"):
        if path.endswith(ext):
            return ext
    ct = (content_type or "").lower()
    if "zip" in ct:
        return ".zip"
    if "geopackage" in ct or "sqlite" in ct:
        return ".gpkg"
    return ".geojson"


def _install(download: Path, suffix: str, city: str, folder: Path) -> Path:
    """Move a downloaded file (or a zipped shapefile's parts) to ``folder/<city>.*``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{city}.*"):  # one boundary file per city, whatever its format
        if old.suffix in (*BOUNDARY_SUFFIXES, *_SHP_PARTS):
            old.unlink()
    if suffix != ".zip":
        target = folder / f"{city}{'.geojson' if suffix == '.json' else suffix}"
        shutil.move(download, target)
        return target
    with zipfile.ZipFile(download) as zf:
        shps = [n for n in zf.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
        if len(shps) != 1:
            raise BoundaryError(f"the zip holds {len(shps)} shapefiles ({shps}); expected exactly one")
        stem = shps[0][:-4]
        for part in _SHP_PARTS:
            name = next((n for n in zf.namelist() if n.lower() == (stem + part).lower()), None)
            if name is not None:
                with zf.open(name) as src, open(folder / f"{city}{part}", "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return folder / f"{city}.shp"


def _looks_like_html(path: Path, content_type: str | None) -> bool:
    if "html" in (content_type or "").lower():
        return True
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _rel(path: Path) -> str:
    return str(path.relative_to(PATHS.root)) if path.is_relative_to(PATHS.root) else str(path)


def fetch(city: str, *, folder: Path | None = None, force: bool = False) -> tuple[str, str]:
    """Check one city's boundary file, or download and check it when absent (or ``force``).

    Returns
    -------
    (status, message)
        status ``"ok"``, ``"skipped"`` (no URL, no network: not an error) or ``"error"``.
    """
    folder = folder or PATHS.boundaries
    try:
        profile = load_profile(city)
    except ProfileError as exc:
        return "error", str(exc)
    present = boundary_file(city, folder)
    if present is not None and not force:
        try:
            gdf = read_boundaries(city, profile, path=present)
        except BoundaryError as exc:
            return "error", str(exc)
        how = ("SHA-256 verified against " + CHECKSUMS_NAME if gdf.attrs.get("sha256")
               else f"not listed in {CHECKSUMS_NAME} (a user's file: checksum not verified)")
        return "ok", (f"{_rel(present)} present, {how}, checks passed; {len(gdf)} polygons. "
                      f"{join_codes(gdf, profile).summary()}")
    url = profile.boundaries.url
    if not url:
        return "skipped", ("no boundaries.url in its profile; put the official file in "
                           f"data/external/boundaries/{city}.geojson (or .gpkg/.shp) by hand; "
                           "until then maps use approximate boundaries")
    with tempfile.TemporaryDirectory() as tmpdir:
        download = Path(tmpdir) / "download"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(download, "wb") as out:
                shutil.copyfileobj(resp, out)
                content_type = resp.headers.get("Content-Type") if hasattr(resp, "headers") else None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return "skipped", (f"could not download {url} ({reason}); offline? Maps will use "
                               "approximate boundaries until the file is present")
        if _looks_like_html(download, content_type):
            return "skipped", (f"{url} is a web page (the publisher's open-data page), not a "
                               f"boundary file: download the layer from it by hand into "
                               f"data/external/boundaries/{city}.geojson (or .gpkg/.shp); until "
                               "then maps use approximate boundaries")
        suffix = _suffix(url, content_type)
        name = f"{city}{'.geojson' if suffix == '.json' else suffix}"
        expected = read_checksums(folder).get(name)
        got = file_sha256(download)
        if expected is not None and got != expected:
            return "error", (f"downloaded {url}: SHA-256 {got} differs from {expected} recorded "
                             f"for {name} in {CHECKSUMS_NAME}; not installed (if the publisher "
                             "changed the file, check it and record the new checksum)")
        try:
            target = _install(download, suffix, city, folder)
            gdf = read_boundaries(city, profile, path=target)
        except (BoundaryError, zipfile.BadZipFile) as exc:
            return "error", f"downloaded {url}, but it is not usable boundaries: {exc}"
    report = join_codes(gdf, profile)
    msg = f"{len(gdf)} polygons saved to {_rel(target)} (SHA-256 {got}). {report.summary()}"
    return "ok", msg


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m analysis.geography.boundaries_cli",
                                     description="Download official neighbourhood boundaries "
                                                 "from the URL in each city profile.")
    parser.add_argument("cities", nargs="*", help="city slugs (default: every city with a profile)")
    parser.add_argument("--force", action="store_true",
                        help="download even when the city's boundary file is present")
    args = parser.parse_args(argv)
    cities = args.cities or list_cities()
    if not cities:
        print("no city profiles in config/cities", file=sys.stderr)
        return 1
    worst = 0
    for city in cities:
        status, message = fetch(city, force=args.force)
        print(f"{city}: {status}: {message}")
        if status == "error":
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
