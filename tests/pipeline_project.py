"""Scratch copies of the project for the tests that run `make` (tests/test_pipeline*.py,
tests/test_forkserver.py).

Each copy holds the tracked files with two demo cities (amiens, aubervilliers) and a broken
third one (testville: its residents file is not a Stata file), this checkout's sources first
on the path (PYTHONPATH) and the running interpreter's environment as its .venv. A test file
that runs `make` on its own copy can run on its own pytest-xdist worker beside the others.

Building the cities from nothing is the slow part, so it is done once per test session
(:func:`demo_build`, the ``demo_build`` fixture of tests/conftest.py; once for all the
pytest-xdist workers): each test file then starts from a copy of that built tree
(:func:`copy_of_build`) and pays only for the runs it checks. The copy is valid as it
stands: stamps record the SHA-256 of their inputs under project-relative names, and the
copy keeps every file's content, date and symbolic link.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.running import forkserver, pipeline

ROOT = Path(__file__).resolve().parents[1]


def scratch_project(tmp_path_factory, label: str) -> Path:
    """A copy of the tracked project in a new temporary folder named after ``label``."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dest = tmp_path_factory.mktemp(label)
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
    # listed as a demonstration file (as `make demo-data` lists its files), so what fails is
    # the Stata reader on the broken bytes, not the check that demo files are the demo's
    sums = dest / "data" / "raw" / "DEMO_CHECKSUMS.sha256"
    with open(sums, "a", encoding="utf-8") as fh:
        fh.write(f"{hashlib.sha256(bad.read_bytes()).hexdigest()}  {bad.relative_to(dest).as_posix()}\n")
    return dest


def env(project: Path) -> dict:
    """This process's environment for a command on ``project`` (outside any pipeline lock)."""
    outer = {k: v for k, v in os.environ.items()
             if k not in (pipeline.LOCK_ENV, forkserver.SERVER_ENV, forkserver.ROOT_ENV, forkserver.OWNER_ENV,
                          forkserver.LOG_ENV)}
    return {**outer, "IMPPULSE_ROOT": str(project), "PYTHONPATH": str(project / "src"),
            "PYTHONDONTWRITEBYTECODE": "1"}


def make(project: Path, *args: str) -> tuple[int, str, list[tuple[str, str]]]:
    """Run ``make args`` in ``project``: (exit status, output, the (step, city) pairs it ran)."""
    proc = subprocess.run(["make", "--no-print-directory", "-k", "JOBS=2", *args], cwd=project,
                          env=env(project), capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    runs = re.findall(r"^\[run \] (\S+)\s+(\S+)", proc.stdout, flags=re.M)
    return proc.returncode, out, runs


def py(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run this interpreter with ``args`` in ``project``."""
    return subprocess.run([sys.executable, *args], cwd=project, env=env(project),
                          capture_output=True, text=True, timeout=900)


#: What the shared build makes: what the test files start from (amiens through both steps,
#: aubervilliers through the impact step) and the broken city's failure.
BUILD_STAMPS = ("reports/.stamps/amiens/02-neighbourhoods", "reports/.stamps/amiens/03-impact",
                "reports/.stamps/aubervilliers/03-impact", "reports/.stamps/testville/01-clean")


@dataclass(frozen=True)
class Build:
    """The shared build: its tree, what its make run returned and printed, and whether a fork
    server logged anything (it must not have: the steps ran as plain papermill runs)."""

    root: Path
    returncode: int
    output: str
    runs: list
    forked: bool


def demo_build(tmp_path_factory) -> Build:
    """The scratch project built once for the whole session, shared by every pytest-xdist
    worker (the first one to ask builds it under a file lock; the others wait for it).

    Built as `make` builds under its lock (``pipeline locked -- make -k -j2 STAMPS``), as plain
    papermill runs (``IMPPULSE_WARM=0``) with the root found from the package's place, not
    given by ``IMPPULSE_ROOT``: tests/test_forkserver.py compares its forked runs with these.
    Nothing may write into this tree: tests use :func:`copy_of_build`.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above every worker's own
    record = base / "demo-build.json"
    with open(base / "demo-build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not record.is_file():
            project = scratch_project(tmp_path_factory, "demo-build")
            forks = base / "demo-build-forks.log"
            run_env = {**env(project), forkserver.ENABLE_ENV: "0", forkserver.LOG_ENV: str(forks)}
            run_env.pop("IMPPULSE_ROOT")
            proc = subprocess.run([sys.executable, "-m", "analysis.running.pipeline", "locked", "--",
                                   "make", "--no-print-directory", "-k", "-j2", *BUILD_STAMPS],
                                  cwd=project, env=run_env, capture_output=True, text=True, timeout=900)
            runs = re.findall(r"^\[run \] (\S+)\s+(\S+)", proc.stdout, flags=re.M)
            record.write_text(json.dumps({"root": str(project), "returncode": proc.returncode,
                                          "output": proc.stdout + proc.stderr, "runs": runs,
                                          "forked": forks.exists()}), encoding="utf-8")
    data = json.loads(record.read_text(encoding="utf-8"))
    build = Build(Path(data["root"]), data["returncode"], data["output"], [tuple(r) for r in data["runs"]],
                  data["forked"])
    for stamp in BUILD_STAMPS[:-1]:
        assert (build.root / stamp).is_file(), f"the shared build did not make {stamp}:\n{build.output[-3000:]}"
    return build


def copy_of_build(build: Build, tmp_path_factory, label: str) -> Path:
    """A copy of the shared build in a new temporary folder named after ``label``: contents,
    dates and symbolic links (the .venv) kept, so every stamp stays valid."""
    dest = tmp_path_factory.mktemp(label)
    shutil.copytree(build.root, dest, symlinks=True, dirs_exist_ok=True)
    return dest
