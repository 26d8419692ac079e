"""Keep personal data out of git.

Survey microdata are personal data. This guard refuses, among the files git tracks (or,
with ``--staged``, the files about to be committed):

1. data files anywhere in the repository (CSV, Excel, SPSS, Stata, Parquet, GeoPackage,
   GeoJSON, shapefiles…) unless they are the synthetic demonstration files listed, with
   their SHA-256, in ``data/raw/DEMO_CHECKSUMS.sha256`` — a raw file that is not
   byte-identical to a demo file is refused (the generator writes that list, and a test
   checks the list against a fresh regeneration);
2. anything under ``data/processed``, ``data/interim``, ``reports/notebooks`` or
   ``data/external/boundaries`` (built or downloaded, never committed);
3. notebooks whose stored outputs were not made from the demo data: a notebook with
   outputs must show the synthetic-data note and must not name a city whose profile is not
   ``synthetic: true``;
4. key files (``.imppulse-key``, ``*.key``, ``.env``).

Run by ``make test`` and usable as a git pre-commit hook (``make hooks``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from .config import PATHS

DATA_SUFFIXES = {
    ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods", ".sav", ".zsav", ".por", ".dta", ".sas7bdat",
    ".parquet", ".feather", ".arrow", ".pkl", ".pickle", ".rds", ".rdata", ".gpkg", ".geojson",
    ".shp", ".dbf", ".shx", ".json", ".jsonl", ".sqlite", ".db", ".h5", ".hdf5",
}
# Text and configuration files that may live in data folders or carry data-like suffixes.
ALLOWED_ANYWHERE = {"README.md", ".gitkeep", "DEMO_CHECKSUMS.sha256"}
NEVER_COMMIT_DIRS = ("data/processed/", "data/interim/", "reports/notebooks/", "data/external/boundaries/",
                     "reports/.stamps/")
SECRET_NAMES = {".imppulse-key", ".env"}
CHECKSUMS = "data/raw/DEMO_CHECKSUMS.sha256"
SYNTHETIC_MARKERS = ("SYNTHETIC", "synthetic")


def _git_files(staged: bool) -> list[str]:
    cmd = (["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR"] if staged
           else ["git", "ls-files"])
    out = subprocess.run(cmd, cwd=PATHS.root, check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def _demo_checksums(root: Path) -> dict[str, str]:
    path = root / CHECKSUMS
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _synthetic_cities(root: Path) -> set[str]:
    import yaml

    cities = set()
    for p in (root / "config" / "cities").glob("*.yml"):
        try:
            if (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("synthetic") is True:
                cities.add(p.stem)
        except yaml.YAMLError:
            pass
    return cities


def _notebook_problem(path: Path, synthetic: set[str], all_cities: set[str]) -> str | None:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return f"unreadable notebook ({exc})"
    outputs = [o for c in nb.get("cells", []) if c.get("cell_type") == "code" for o in c.get("outputs", [])]
    if not outputs:
        return None
    text = json.dumps(outputs, ensure_ascii=False)
    if not any(m in text for m in SYNTHETIC_MARKERS):
        return "has outputs but no synthetic-data note: outputs must come from the demo data only"
    params = nb.get("metadata", {}).get("papermill", {}).get("parameters", {})
    city = params.get("city")
    if city and city in all_cities and city not in synthetic:
        return f"outputs were made for city {city!r}, whose profile is not synthetic"
    return None


def check(files: list[str], root: Path | None = None) -> list[str]:
    """Return one message per refused file (empty list: all clear)."""
    root = root or PATHS.root
    sums = _demo_checksums(root)
    synthetic = _synthetic_cities(root)
    all_cities = {p.stem for p in (root / "config" / "cities").glob("*.yml")}
    problems = []
    for name in files:
        path = root / name
        base = Path(name).name
        if not path.is_file():
            continue
        if base in SECRET_NAMES or base.endswith(".key"):
            problems.append(f"{name}: key or secret file; keep it out of git")
            continue
        if any(name.startswith(d) for d in NEVER_COMMIT_DIRS) and base != ".gitkeep":
            problems.append(f"{name}: generated or downloaded data; never commit "
                            f"{'/'.join(name.split('/')[:2])}/")
            continue
        if base in ALLOWED_ANYWHERE:
            continue
        if name.endswith(".ipynb"):
            problem = _notebook_problem(path, synthetic, all_cities)
            if problem:
                problems.append(f"{name}: {problem}")
            continue
        suffix = path.suffix.lower()
        in_data = name.startswith("data/")
        if suffix in DATA_SUFFIXES or in_data:
            if name.startswith("data/raw/") and sums.get(name) == _sha256(path):
                continue
            # Small project metadata outside data/ (locale catalogues, config, test fixtures
            # written by code) is allowed only in these folders.
            if not in_data and name.startswith(("src/", "config/", ".ci/", "tests/", "benchmarks/")) and \
                    suffix in {".json", ".txt", ".csv"} and path.stat().st_size < 200_000:
                continue
            if name.startswith("data/raw/"):
                reason = ("not a synthetic demo file (not listed in data/raw/DEMO_CHECKSUMS.sha256, "
                          "or changed since it was generated)")
            else:
                reason = "looks like a data file; data files belong in data/raw (demo only) or are built"
            problems.append(f"{name}: {reason}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.privacy_guard",
                                     description="Refuse personal data in git.")
    parser.add_argument("--staged", action="store_true", help="check the files staged for commit")
    parser.add_argument("files", nargs="*", help="check these paths instead (relative to the root)")
    args = parser.parse_args(argv)
    files = args.files or _git_files(args.staged)
    problems = check(files)
    if problems:
        print("privacy guard: refused", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print("Real survey microdata and outputs made from them must stay out of git "
              "(see README, 'Data availability').", file=sys.stderr)
        return 1
    print(f"privacy guard: {len(files)} file(s) checked, nothing refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def write_demo_checksums(root: Path | None = None) -> Path:
    """List the SHA-256 of every demo file under data/raw (run after regenerating them)."""
    root = root or PATHS.root
    raw = root / "data" / "raw"
    lines = ["# SHA-256 of the synthetic demonstration files (written by `make demo-data`).",
             "# The privacy guard refuses any other raw data file."]
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.name in ALLOWED_ANYWHERE:
            continue
        lines.append(f"{_sha256(path)}  {rel}")
    out = raw / "DEMO_CHECKSUMS.sha256"
    from .io import write_text

    write_text(out, "\n".join(lines) + "\n")
    return out
