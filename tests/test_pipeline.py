"""make's dependency graph: a broken city does not stop the others and is reported;
an unchanged rerun runs no notebook; a changed raw file reruns only its city.

Runs `make` on a scratch copy of the project holding two demo cities and one broken one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dest = tmp_path_factory.mktemp("project")
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
    os.symlink(ROOT / ".venv", dest / ".venv")
    # a tenth city whose residents file is corrupt: same profile, broken bytes
    prof = (dest / "config" / "cities" / "aubervilliers.yml").read_text(encoding="utf-8")
    (dest / "config" / "cities" / "testville.yml").write_text(
        prof.replace("city: aubervilliers", "city: testville"), encoding="utf-8")
    shutil.copytree(dest / "data" / "raw" / "aubervilliers", dest / "data" / "raw" / "testville")
    bad = next((dest / "data" / "raw" / "testville").glob("enquete_habitants*"))
    bad.write_bytes(b"this is not a Stata file")
    return dest


def _make(project: Path, *args: str) -> tuple[int, str, list[tuple[str, str]]]:
    env = {**os.environ, "IMPPULSE_ROOT": str(project)}
    proc = subprocess.run(["make", "--no-print-directory", "-k", "JOBS=2", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    runs = re.findall(r"^\[run \] (\S+)\s+(\S+)", proc.stdout, flags=re.M)
    return proc.returncode, out, runs


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
    env = {**os.environ, "IMPPULSE_ROOT": str(project)}
    status = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m", "analysis.pipeline", "status"],
                            cwd=project, env=env, capture_output=True, text=True).stdout
    assert re.search(r"testville\s+01-clean: FAILED", status)


def test_unchanged_rerun_runs_no_notebook_and_a_changed_file_reruns_only_its_city(project):
    _make(project, "clean-data")  # settle (testville still fails)
    rc, out, runs = _make(project, "clean-data")
    assert [c for _, c in runs] == ["testville"], "only the broken city is retried"
    raw = next((project / "data" / "raw" / "aubervilliers").glob("enquete_habitants*"))
    os.utime(raw)  # the city delivers the file again
    rc, out, runs = _make(project, "clean-data")
    assert sorted(c for _, c in runs) == ["aubervilliers", "testville"]


def test_rerunning_a_city_gives_identical_figures_and_tables(project):
    """Reproducibility: the same inputs give byte-identical tables, PNGs and SVGs."""
    import hashlib
    import sys

    stamps = project / "reports" / ".stamps" / "amiens" / "01-clean"
    if not stamps.is_file():
        _make(project, "clean-data")
    code = ("from analysis import inprocess; inprocess.neighbourhoods('amiens'); "
            "inprocess.impact('amiens')")
    env = {**os.environ, "IMPPULSE_ROOT": str(project)}

    def digest():
        files = sorted(p for d in ("reports/figures/amiens", "reports/tables/amiens")
                       for p in (project / d).rglob("*") if p.is_file())
        return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    runs = []
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], cwd=project, env=env, check=True,
                       capture_output=True, timeout=600)
        runs.append(digest())
    assert any(k.endswith(".svg") for k in runs[0]) and any(k.endswith("impact.csv") for k in runs[0])
    changed = [k for k in runs[0] if runs[0][k] != runs[1].get(k)]
    assert changed == [], f"not reproducible: {changed}"
