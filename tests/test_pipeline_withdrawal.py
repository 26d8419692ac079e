"""A failed rerun withdraws what the city had published, downstream stamps included, and
the report says the city failed; once the file is repaired, the city is published again.

Runs `make` on its own copy of the session's shared build of the scratch project
(tests/pipeline_project.py).
"""

from __future__ import annotations

import re
import shutil

import pytest

from pipeline_project import copy_of_build
from pipeline_project import make as _make
from pipeline_project import py as _py

pytestmark = [pytest.mark.slow, pytest.mark.make_runs]


@pytest.fixture(scope="module")
def project(demo_build, tmp_path_factory):
    """A copy of the shared build (amiens and aubervilliers published): the report below has a
    city with published data beside the failed one. The broken city never ran in it, so that
    the one failure the report can show is aubervilliers'."""
    project = copy_of_build(demo_build, tmp_path_factory, "withdraw")
    for d in ("reports/.stamps/testville", "reports/notebooks/testville", "data/interim/withdrawn"):
        shutil.rmtree(project / d, ignore_errors=True)
    return project


def test_failed_rerun_withdraws_published_outputs_and_the_report_says_so(project):
    rc, out, runs = _make(project, "impact", "CITY=aubervilliers")
    assert rc == 0 and runs == [], out[-2000:]
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
