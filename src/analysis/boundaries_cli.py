"""Download official neighbourhood boundaries (``make boundaries``).

Usage::

    python -m analysis.boundaries_cli [CITY ...]      # default: every city with a profile

For each city, fetches ``boundaries.url`` of its profile into
``data/external/boundaries/<city>.<ext>`` (GeoJSON, GeoPackage, or a zipped shapefile,
whose parts are renamed ``<city>.shp/.shx/.dbf/.prj/.cpg``), then checks the file with
:func:`analysis.geo.read_boundaries` and reports the code join.

It says plainly, per city, when it cannot download — no URL in the profile, or no network
— and the exit code stays 0: the maps then fall back to approximate boundaries. A real
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

from .config import PATHS
from .geo import BOUNDARY_SUFFIXES, BoundaryError, join_codes, read_boundaries
from .profile import ProfileError, list_cities, load_profile

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


def fetch(city: str, *, folder: Path | None = None) -> tuple[str, str]:
    """Download and check one city's boundaries.

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
        try:
            target = _install(download, _suffix(url, content_type), city, folder)
            gdf = read_boundaries(city, profile, path=target)
        except (BoundaryError, zipfile.BadZipFile) as exc:
            return "error", f"downloaded {url}, but it is not usable boundaries: {exc}"
    report = join_codes(gdf, profile)
    msg = f"{len(gdf)} polygons saved to {target.relative_to(PATHS.root) if target.is_relative_to(PATHS.root) else target}. {report.summary()}"
    return "ok", msg


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m analysis.boundaries_cli",
                                     description="Download official neighbourhood boundaries "
                                                 "from the URL in each city profile.")
    parser.add_argument("cities", nargs="*", help="city slugs (default: every city with a profile)")
    args = parser.parse_args(argv)
    cities = args.cities or list_cities()
    if not cities:
        print("no city profiles in config/cities", file=sys.stderr)
        return 1
    worst = 0
    for city in cities:
        status, message = fetch(city)
        print(f"{city}: {status}: {message}")
        if status == "error":
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
