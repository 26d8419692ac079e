"""Incremental runs leave, byte for byte, the tables and figures a cold run writes.

Runs `make` on its own copy of the session's shared build of the scratch project
(tests/pipeline_project.py): the incremental runs start from that build; the cold one is the
test's own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline_project import copy_of_build
from pipeline_project import make as _make

pytestmark = [pytest.mark.slow, pytest.mark.make_runs]


@pytest.fixture(scope="module")
def project(demo_build, tmp_path_factory):
    return copy_of_build(demo_build, tmp_path_factory, "incremental")


# ------------------------------------------------------------------ incremental = cold
def _outputs(project: Path, city: str) -> dict[str, str]:
    """SHA-256 of a city's published tables and figures (PNG, SVG, sidecar)."""
    import hashlib

    files = sorted(p for d in (f"reports/figures/{city}", f"reports/tables/{city}")
                   for p in (project / d).rglob("*") if p.is_file())
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _change_officer_answer(project: Path) -> None:
    """One officer answers differently (the file stays demo data: its checksum is listed)."""
    import hashlib

    raw = project / "data" / "raw" / "amiens" / "enquete_policiers.csv"
    lines = raw.read_text(encoding="utf-8").rstrip("\n").split("\n")
    cells = lines[-1].split(",")
    cells[-1] = "4" if cells[-1] != "4" else "2"  # job satisfaction, 1-5
    lines[-1] = ",".join(cells)
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(project / "data" / "raw" / "DEMO_CHECKSUMS.sha256", "a", encoding="utf-8") as fh:
        fh.write(f"{hashlib.sha256(raw.read_bytes()).hexdigest()}  data/raw/amiens/enquete_policiers.csv\n")


def _cold(project: Path) -> None:
    """Remove everything the city's steps published, and their stamps: the next run is cold."""
    for d in ("reports/figures/amiens", "reports/tables/amiens", "reports/notebooks/amiens",
              "data/processed/amiens", "reports/.stamps/amiens"):
        shutil.rmtree(project / d, ignore_errors=True)


def test_an_incremental_run_gives_the_tables_and_figures_of_a_cold_run(project):
    """What incremental runs leave must be, byte for byte, what a cold run writes: after a
    module was edited (every figure of the steps importing it is rendered again), then
    after a raw file changed (figures whose content did not change are not redrawn)."""
    steps = ("neighbourhoods", "impact", "CITY=amiens")
    rc, out, runs = _make(project, *steps)
    assert rc == 0 and runs == [], "the copy of the shared build is up to date\n" + out[-2000:]

    maps = project / "src" / "analysis" / "geography" / "maps.py"
    maps.write_text(maps.read_text(encoding="utf-8") + "\n# a comment: no change of output\n", encoding="utf-8")
    rc, out, runs = _make(project, *steps)
    assert rc == 0, out[-2000:]
    assert ("02-neighbourhoods", "amiens") in runs and ("01-clean", "amiens") not in runs

    maps_png = sorted((project / "reports" / "figures" / "amiens").glob("maps-*.png"))
    assert maps_png
    dates = {p: p.stat().st_mtime_ns for p in maps_png}
    _change_officer_answer(project)  # the officers' answers: not on the maps
    rc, out, runs = _make(project, *steps)
    assert rc == 0, out[-2000:]
    assert {("01-clean", "amiens"), ("02-neighbourhoods", "amiens"), ("03-impact", "amiens")} <= set(runs)
    # the maps' step reran, but their files were left as they were: not redrawn
    assert {p: p.stat().st_mtime_ns for p in maps_png} == dates
    incremental = _outputs(project, "amiens")

    _cold(project)
    rc, out, runs = _make(project, *steps)
    assert rc == 0, out[-2000:]
    assert ("01-clean", "amiens") in runs
    cold = _outputs(project, "amiens")
    assert any(k.endswith(".png") for k in cold) and any(k.endswith("impact.csv") for k in cold)
    assert sorted(cold) == sorted(incremental)
    assert [k for k in cold if cold[k] != incremental[k]] == [], "incremental and cold runs differ"
