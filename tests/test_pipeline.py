"""make's dependency graph and the pipeline state: a broken city does not stop the others
and is reported; reruns follow content, not dates; a step reruns only when a module it
imports changes; two runs in one tree take turns; temporary files left by an interrupted
run are removed. (A failed rerun's withdrawal, and incremental runs equal to a cold one:
tests/test_pipeline_withdrawal.py and tests/test_pipeline_incremental.py.)

Runs `make` on a copy of the session's shared build of the scratch project, which holds two
demo cities and one broken one (tests/pipeline_project.py); the tests of this file run in
order on that copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from analysis.running import pipeline
from pipeline_project import copy_of_build
from pipeline_project import env as _env
from pipeline_project import make as _make
from pipeline_project import py as _py

pytestmark = [pytest.mark.slow, pytest.mark.make_runs]


@pytest.fixture(scope="module")
def project(demo_build, tmp_path_factory):
    return copy_of_build(demo_build, tmp_path_factory, "project")


def _settle(project):
    """The good cities cleaned, whatever a test before left changed: what each test starts from.
    (The broken city is left alone: retrying it costs a run, and the tests retry it themselves.)"""
    for city in ("amiens", "aubervilliers"):
        rc, out, _ = _make(project, "clean-data", f"CITY={city}")
        assert rc == 0, out[-3000:]


def test_broken_city_is_reported_and_others_finish(demo_build, project):
    """The shared build's run (every city from nothing, testville broken), and its copy."""
    rc, out, runs = demo_build.returncode, demo_build.output, demo_build.runs
    assert rc != 0
    assert {c for _, c in runs} == {"amiens", "aubervilliers", "testville"}, out[-3000:]
    stamps = project / "reports" / ".stamps"
    assert (stamps / "amiens" / "01-clean").is_file()
    assert (stamps / "aubervilliers" / "01-clean").is_file()
    assert not (stamps / "testville" / "01-clean").exists()
    reason = (stamps / "testville" / "01-clean.failed").read_text(encoding="utf-8")
    assert "enquete_habitants" in reason  # names the file
    assert "unreadable or corrupt dta file" in reason, reason  # the reader's verdict, not another check's
    assert "[FAIL] 01-clean" in out and "testville" in out
    assert (project / "data" / "processed" / "aubervilliers" / "respondents.parquet").is_file()
    status = _py(project, "-m", "analysis.running.pipeline", "status").stdout
    assert re.search(r"testville\s+01-clean: FAILED", status)


def test_reruns_follow_content_not_dates(project):
    _settle(project)
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], "only the broken city is retried" + "\n" + out[-3000:]
    raw = project / "data" / "raw" / "aubervilliers" / "SYNTHETIC_README.txt"
    os.utime(raw)  # touched, same content: nothing to do
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], out[-3000:]
    old = project / "old-copy.txt"
    shutil.copy2(raw, old)
    os.utime(old, (1e9, 1e9))  # an old copy: dated 2001
    raw.write_text(raw.read_text(encoding="utf-8") + "\nsecond delivery\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["aubervilliers", "testville"], out[-3000:]
    assert "[stale] aubervilliers/01-clean" in out
    shutil.copy2(old, raw)  # the older copy comes back, with its older date: content changed
    assert raw.stat().st_mtime < (project / "reports/.stamps/aubervilliers/01-clean").stat().st_mtime
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["aubervilliers", "testville"], out[-3000:]


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


def test_editing_one_module_reruns_only_the_steps_that_import_it(project):
    _settle(project)
    maps = project / "src" / "analysis" / "geography" / "maps.py"
    maps.write_text(maps.read_text(encoding="utf-8") + "\n# a French label fixed\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], "01-clean does not import maps" + "\n" + out[-3000:]
    readers = project / "src" / "analysis" / "inputs" / "readers.py"
    readers.write_text(readers.read_text(encoding="utf-8") + "\n# a reader comment\n", encoding="utf-8")
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["amiens", "aubervilliers", "testville"], out[-3000:]


def test_leftover_temporary_files_are_removed_on_the_next_run(project):
    _settle(project)
    left = [project / "data/processed/amiens/.respondents.k2j4x9_a.tmp.parquet",
            project / "reports/tables/amiens/.impact.abcdefgh.tmp.csv",
            project / "reports/notebooks/amiens/.01-clean.zz99yy88.tmp.ipynb"]
    for p in left:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half written")
    keep = project / "data/processed/amiens/.keepme"
    keep.write_text("not a temporary file")
    rc, out, runs = _make(project, "clean-data", "CITY=amiens")
    assert rc == 0 and runs == [], out[-3000:]
    assert not any(p.exists() for p in left) and keep.exists()
    assert out.count("[tidy] removed") == 3


def test_two_runs_in_one_tree_take_turns(project):
    _settle(project)
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
    assert runs == [("01-clean", "amiens")], "the second run waited, then found nothing to do" + "\n" + "\n".join(
        o[-1500:] for _, o, _ in results)
    assert any("[wait] another pipeline run" in out for _, out, _ in results)


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
