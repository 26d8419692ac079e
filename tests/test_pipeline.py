"""make's dependency graph and the pipeline state: a broken city does not stop the others
and is reported; reruns follow content, not dates; a step reruns only when a module it
imports changes; a failed rerun withdraws what was published; two runs in one tree take
turns; temporary files left by an interrupted run are removed.

Runs `make` on scratch copies of the project holding two demo cities and one broken one,
with this checkout's sources first on the path (PYTHONPATH) and the running interpreter's
environment as its .venv. The tests of one copy run in order, on one pytest-xdist worker (their
`xdist_group`); the withdrawal and the incremental-equals-cold checks each have their own copy,
so that `make test` (pytest -n) runs them beside the others.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis.running import pipeline

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


#: Each scratch copy's tests run in order on one worker (`pytest -n --dist loadgroup`).
ON_PROJECT = pytest.mark.xdist_group("pipeline")
ON_WITHDRAW_PROJECT = pytest.mark.xdist_group("pipeline-withdraw")
ON_INCREMENTAL_PROJECT = pytest.mark.xdist_group("pipeline-incremental")


def _scratch_project(tmp_path_factory, name: str) -> Path:
    """A copy of the tracked project: two demo cities and a broken third one (testville)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dest = tmp_path_factory.mktemp(name)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.split()
    keep = ("amiens", "aubervilliers")
    for name in tracked:
        parts = Path(name).parts
        if parts[:2] == ("config", "cities") and name.endswith(".yml") and Path(name).stem not in keep:
            continue
        if parts[:2] == ("data", "raw") and len(parts) > 3 and parts[2] not in keep:
            continue
        if parts[0] in ("tests", "benchmarks") or not (ROOT / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    # the environment running these tests stands for the project's .venv; its stamp must
    # not look older than the copied pyproject.toml, or make would reinstall into it
    os.symlink(Path(sys.prefix), dest / ".venv")
    for name in ("pyproject.toml", "requirements.lock", "requirements-bootstrap.txt"):
        os.utime(dest / name, (0, 0))
    # a tenth city whose residents file is corrupt: same profile, broken bytes
    prof = (dest / "config" / "cities" / "aubervilliers.yml").read_text(encoding="utf-8")
    (dest / "config" / "cities" / "testville.yml").write_text(
        prof.replace("city: aubervilliers", "city: testville"), encoding="utf-8")
    shutil.copytree(dest / "data" / "raw" / "aubervilliers", dest / "data" / "raw" / "testville")
    bad = next((dest / "data" / "raw" / "testville").glob("enquete_habitants*"))
    bad.write_bytes(b"this is not a Stata file")
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _scratch_project(tmp_path_factory, "project")


@pytest.fixture(scope="module")
def withdraw_project(tmp_path_factory):
    return _scratch_project(tmp_path_factory, "withdraw")


@pytest.fixture(scope="module")
def incremental_project(tmp_path_factory):
    return _scratch_project(tmp_path_factory, "incremental")


def _env(project: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != pipeline.LOCK_ENV}
    return {**env, "IMPPULSE_ROOT": str(project), "PYTHONPATH": str(project / "src"),
            "PYTHONDONTWRITEBYTECODE": "1"}


def _make(project: Path, *args: str) -> tuple[int, str, list[tuple[str, str]]]:
    proc = subprocess.run(["make", "--no-print-directory", "-k", "JOBS=2", *args], cwd=project,
                          env=_env(project), capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    runs = re.findall(r"^\[run \] (\S+)\s+(\S+)", proc.stdout, flags=re.M)
    return proc.returncode, out, runs


def _py(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=project, env=_env(project),
                          capture_output=True, text=True, timeout=900)


@ON_PROJECT
def test_broken_city_is_reported_and_others_finish(project):
    rc, out, runs = _make(project, "clean-data")
    assert rc != 0
    assert {c for _, c in runs} == {"amiens", "aubervilliers", "testville"}
    stamps = project / "reports" / ".stamps"
    assert (stamps / "amiens" / "01-clean").is_file()
    assert (stamps / "aubervilliers" / "01-clean").is_file()
    assert not (stamps / "testville" / "01-clean").exists()
    reason = (stamps / "testville" / "01-clean.failed").read_text(encoding="utf-8")
    assert "enquete_habitants" in reason  # names the file
    assert "[FAIL] 01-clean" in out and "testville" in out
    assert (project / "data" / "processed" / "aubervilliers" / "respondents.parquet").is_file()
    status = _py(project, "-m", "analysis.running.pipeline", "status").stdout
    assert re.search(r"testville\s+01-clean: FAILED", status)


@ON_PROJECT
def test_reruns_follow_content_not_dates(project):
    _make(project, "clean-data")  # settle (testville still fails)
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], "only the broken city is retried"
    raw = project / "data" / "raw" / "aubervilliers" / "SYNTHETIC_README.txt"
    os.utime(raw)  # touched, same content: nothing to do
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"]
    old = project / "old-copy.txt"
    shutil.copy2(raw, old)
    os.utime(old, (1e9, 1e9))  # an old copy: dated 2001
    raw.write_text(raw.read_text(encoding="utf-8") + "\nsecond delivery\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["aubervilliers", "testville"]
    assert "[stale] aubervilliers/01-clean" in out
    shutil.copy2(old, raw)  # the older copy comes back, with its older date: content changed
    assert raw.stat().st_mtime < (project / "reports/.stamps/aubervilliers/01-clean").stat().st_mtime
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["aubervilliers", "testville"]


@ON_PROJECT
def test_notebook_dependencies_are_the_modules_it_imports_transitively(project, monkeypatch):
    monkeypatch.setenv("IMPPULSE_ROOT", str(project))
    clean = pipeline.notebook_modules("01-clean")
    nbhd = pipeline.notebook_modules("02-neighbourhoods")
    impact = pipeline.notebook_modules("03-impact")
    assert {"inputs.clean", "inputs.readers", "inputs.profile", "inputs", "config", "__init__"} <= set(clean)
    assert "geography.maps" in nbhd and "geography.geo" in nbhd  # geo through nothing but the notebook's import
    assert not {"geography.maps", "geography.geo", "statistics.synthesis", "publishing.report"} & set(clean)
    assert not {"geography.maps", "geography.geo", "publishing.report"} & set(impact)
    files = [pipeline._rel(p) for p in pipeline.step_inputs("aubervilliers", "02-neighbourhoods")]
    assert "src/analysis/geography/maps.py" in files and "config/cities/aubervilliers.yml" in files
    assert "src/analysis/geography/__init__.py" in files  # a subpackage's __init__ runs on import
    report_files = [pipeline._rel(p) for p in pipeline.step_inputs(pipeline.REPORT, pipeline.REPORT)]
    assert "src/analysis/publishing/locale/report.yml" in report_files  # data files a module reads
    assert "src/analysis/publishing/templates/report.html.j2" in report_files


@ON_PROJECT
def test_editing_one_module_reruns_only_the_steps_that_import_it(project):
    _make(project, "clean-data")
    maps = project / "src" / "analysis" / "geography" / "maps.py"
    maps.write_text(maps.read_text(encoding="utf-8") + "\n# a French label fixed\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], "01-clean does not import maps"
    readers = project / "src" / "analysis" / "inputs" / "readers.py"
    readers.write_text(readers.read_text(encoding="utf-8") + "\n# a reader comment\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["amiens", "aubervilliers", "testville"]


@ON_PROJECT
def test_leftover_temporary_files_are_removed_on_the_next_run(project):
    _make(project, "clean-data")
    left = [project / "data/processed/amiens/.respondents.k2j4x9_a.tmp.parquet",
            project / "reports/tables/amiens/.impact.abcdefgh.tmp.csv",
            project / "reports/notebooks/amiens/.01-clean.zz99yy88.tmp.ipynb"]
    for p in left:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half written")
    keep = project / "data/processed/amiens/.keepme"
    keep.write_text("not a temporary file")
    rc, out, runs = _make(project, "clean-data", "CITY=amiens")
    assert rc == 0 and runs == []
    assert not any(p.exists() for p in left) and keep.exists()
    assert out.count("[tidy] removed") == 3


@ON_PROJECT
def test_two_runs_in_one_tree_take_turns(project):
    _make(project, "clean-data")
    raw = project / "data" / "raw" / "amiens" / "SYNTHETIC_README.txt"
    raw.write_text(raw.read_text(encoding="utf-8") + "\nthird delivery\n", encoding="utf-8")
    results = []

    def run():
        results.append(_make(project, "clean-data", "CITY=amiens"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.5)
    for t in threads:
        t.join()
    assert [rc for rc, _, _ in results] == [0, 0]
    runs = [r for _, _, rr in results for r in rr]
    assert runs == [("01-clean", "amiens")], "the second run waited, then found nothing to do"
    assert any("[wait] another pipeline run" in out for _, out, _ in results)


@ON_PROJECT
def test_lock_serialises_commands(project):
    log = project / "lock.log"
    code = ("import sys, time; f = open(sys.argv[1], 'a'); f.write(f'start {time.time()}\\n'); "
            "f.flush(); time.sleep(1.0); f.write(f'end {time.time()}\\n')")
    procs = [subprocess.Popen([sys.executable, "-m", "analysis.running.pipeline", "locked", "--no-prepare",
                               "--", sys.executable, "-c", code, str(log)],
                              cwd=project, env=_env(project), stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]  # never interleaved
    assert sum("[wait]" in e for e in errs) == 1


@ON_WITHDRAW_PROJECT
def test_failed_rerun_withdraws_published_outputs_and_the_report_says_so(withdraw_project):
    project = withdraw_project
    rc, out, runs = _make(project, "impact", "CITY=aubervilliers")
    assert rc == 0, out[-2000:]
    tables = project / "reports" / "tables" / "aubervilliers"
    published = sorted(p.name for p in tables.glob("*.csv"))
    assert "impact.csv" in published
    stamps = project / "reports" / ".stamps"
    # the city delivers a damaged file: the rerun of 01-clean fails
    raw = next((project / "data" / "raw" / "aubervilliers").glob("enquete_habitants*"))
    good = raw.read_bytes()
    raw.write_bytes(b"this is not a Stata file")
    try:
        rc, out, runs = _make(project, "impact", "CITY=aubervilliers")
        assert rc != 0 and ("01-clean", "aubervilliers") in runs
        assert "withdrawn to data/interim/withdrawn/" in out
        assert not (stamps / "aubervilliers" / "01-clean").exists()
        assert not (stamps / "aubervilliers" / "03-impact").exists(), "downstream stamp invalidated"
        assert not list(tables.glob("*.csv")), "no stale table stays published"
        withdrawn = project / "data" / "interim" / "withdrawn"
        assert not (project / "reports" / "withdrawn").exists(), "nothing withdrawn stays in the published folder"
        assert sorted(p.name for p in (withdrawn / "reports/tables/aubervilliers").glob("*.csv")) == published
        assert "01-clean failed" in (withdrawn / "aubervilliers" / "WITHDRAWN.txt").read_text(encoding="utf-8")
        assert not (project / "data/processed/aubervilliers/respondents.parquet").exists()
        # the report is rebuilt and says the city failed
        proc = _py(project, "-m", "analysis.running.pipeline", "report", "--langs", "en")
        assert proc.returncode == 0, proc.stderr[-2000:]
        html = (project / "reports" / "report.html").read_text(encoding="utf-8")
        assert "the pipeline failed for this city" in html and "enquete_habitants" in html
        status = _py(project, "-m", "analysis.running.pipeline", "status").stdout
        assert re.search(r"aubervilliers\s+01-clean: FAILED\s+02-neighbourhoods: -\s+03-impact: -", status)
    finally:
        raw.write_bytes(good)
    rc, out, runs = _make(project, "impact", "CITY=aubervilliers")
    assert rc == 0 and sorted(runs) == [("01-clean", "aubervilliers"), ("03-impact", "aubervilliers")]
    assert (tables / "impact.csv").is_file() and not (stamps / "aubervilliers" / "01-clean.failed").exists()


def test_a_template_digest_follows_its_cells_not_its_stored_outputs(tmp_path):
    """Refreshing nbval's reference outputs reruns nothing; editing a cell reruns its step."""
    import json

    from analysis.running import pipeline

    def write(path, source, outputs):
        path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": source, "metadata": {},
                                               "outputs": outputs, "execution_count": 1}],
                                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")

    a, b, c = tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "c.ipynb"
    write(a, "print(1)", [{"output_type": "stream", "name": "stdout", "text": "1\n"}])
    write(b, "print(1)", [{"output_type": "stream", "name": "stdout", "text": "2\n"}])
    write(c, "print(2)", [{"output_type": "stream", "name": "stdout", "text": "1\n"}])
    assert pipeline._file_sha(a) == pipeline._file_sha(b)
    assert pipeline._file_sha(a) != pipeline._file_sha(c)
    other = tmp_path / "x.csv"
    other.write_text("a\n1\n")
    before = pipeline._file_sha(other)
    other.write_text("a\n2\n")
    assert pipeline._file_sha(other) != before  # other inputs: every byte counts


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


@ON_INCREMENTAL_PROJECT
def test_an_incremental_run_gives_the_tables_and_figures_of_a_cold_run(incremental_project):
    """What incremental runs leave must be, byte for byte, what a cold run writes: after a
    module was edited (every figure of the steps importing it is rendered again), then
    after a raw file changed (figures whose content did not change are not redrawn)."""
    project = incremental_project
    steps = ("neighbourhoods", "impact", "CITY=amiens")
    rc, out, _ = _make(project, *steps)
    assert rc == 0, out[-2000:]

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


@ON_PROJECT
def test_editing_the_narrative_reruns_the_report_alone(project, monkeypatch):
    """The narratives are inputs of the report step only: no notebook, no figure reruns."""
    monkeypatch.setenv("IMPPULSE_ROOT", str(project))
    narratives = {project / "reports" / "narrative.md", project / "reports" / "narrative.fr.md"}
    for city in ("amiens", "aubervilliers"):
        for name in pipeline.STEPS:
            assert not narratives & set(pipeline.step_inputs(city, name)), (city, name)
    assert not narratives & set(pipeline.step_inputs(pipeline.CROSS_CITY, pipeline.CROSS_STEP))
    assert narratives <= set(pipeline.step_inputs(pipeline.REPORT, pipeline.REPORT))
    if not (project / "reports/.stamps/amiens/01-clean").is_file():
        _make(project, "clean-data")
    pipeline.prepare(quiet=True)
    pipeline.write_stamp(pipeline.REPORT, pipeline.REPORT, pipeline.input_digest(pipeline.REPORT, pipeline.REPORT)[0], [])
    text = (project / "reports" / "narrative.md").read_text(encoding="utf-8")
    try:
        (project / "reports" / "narrative.md").write_text(text + "\nA sentence more.\n", encoding="utf-8")
        assert pipeline.prepare(quiet=True)["stale"] == ["report/report"]
    finally:
        (project / "reports" / "narrative.md").write_text(text, encoding="utf-8")
