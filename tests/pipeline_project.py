"""Scratch copies of the project for the tests that run `make` (tests/test_pipeline*.py,
tests/test_forkserver.py).

Each copy holds the tracked files with two demo cities (amiens, aubervilliers) and a broken
third one (testville: its residents file is not a Stata file), this checkout's sources first
on the path (PYTHONPATH) and the running interpreter's environment as its .venv. A test file
that runs `make` on its own copy can run on its own pytest-xdist worker beside the others.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
