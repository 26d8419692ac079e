"""The privacy guard keeps real microdata, built data, keys and non-demo notebook outputs out of git."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis import privacy_guard
from analysis.config import PATHS

ROOT = PATHS.root


def test_tracked_files_pass():
    files = privacy_guard._git_files(staged=False)
    assert any(f.startswith("data/raw/") for f in files)
    assert privacy_guard.check(files) == []


def test_checksum_list_covers_exactly_the_demo_files():
    sums = privacy_guard._demo_checksums(ROOT)
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "data" / "raw").rglob("*")
               if p.is_file() and p.name not in privacy_guard.ALLOWED_ANYWHERE}
    assert set(sums) == on_disk
    for name, digest in sums.items():
        assert privacy_guard._sha256(ROOT / name) == digest, f"{name} changed since it was generated"


@pytest.fixture
def scratch(tmp_path):
    """A minimal project copy: profiles, demo checksums and one demo file."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    demo = sorted(privacy_guard._demo_checksums(ROOT))[0]
    (tmp_path / demo).parent.mkdir(parents=True)
    shutil.copy(ROOT / demo, tmp_path / demo)
    (tmp_path / privacy_guard.CHECKSUMS).write_text(
        (ROOT / privacy_guard.CHECKSUMS).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path, demo


def test_demo_file_passes_and_edited_demo_file_is_refused(scratch):
    root, demo = scratch
    assert privacy_guard.check([demo], root) == []
    with open(root / demo, "ab") as fh:
        fh.write(b"\n")
    problems = privacy_guard.check([demo], root)
    assert len(problems) == 1 and demo in problems[0] and "not a synthetic demo file" in problems[0]


@pytest.mark.parametrize("name", [
    "data/raw/nantes/real_survey_2016.csv",
    "data/raw/newcity/respondents.sav",
    "notes/export.xlsx",
    "data/processed/nantes/respondents.parquet",
    "reports/notebooks/nantes/01-clean.ipynb",
    ".imppulse-key",
    "secrets/city.key",
])
def test_non_demo_data_and_keys_are_refused(scratch, name):
    root, _ = scratch
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(b"id;age\n1;34\n")
    problems = privacy_guard.check([name], root)
    assert len(problems) == 1 and name in problems[0]


def _notebook(text: str, city: str | None = None) -> dict:
    nb = {"cells": [{"cell_type": "code", "source": "x", "metadata": {}, "execution_count": 1,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    if city:
        nb["metadata"]["papermill"] = {"parameters": {"city": city}}
    return nb


def test_notebook_outputs_must_come_from_demo_data(scratch):
    root, _ = scratch
    nb = root / "notebooks" / "x.ipynb"
    nb.parent.mkdir()
    nb.write_text(json.dumps(_notebook("kept 1585 rows")), encoding="utf-8")
    assert "no synthetic-data note" in privacy_guard.check(["notebooks/x.ipynb"], root)[0]
    nb.write_text(json.dumps(_notebook("SYNTHETIC demonstration data; kept 1585 rows")), encoding="utf-8")
    assert privacy_guard.check(["notebooks/x.ipynb"], root) == []
    # a profile switched to real data: outputs made for it are refused even with the note
    prof = root / "config" / "cities" / "nantes.yml"
    prof.write_text(prof.read_text(encoding="utf-8").replace("synthetic: true", "synthetic: false"),
                    encoding="utf-8")
    nb.write_text(json.dumps(_notebook("SYNTHETIC …", city="nantes")), encoding="utf-8")
    assert "not synthetic" in privacy_guard.check(["notebooks/x.ipynb"], root)[0]
    # a notebook without outputs is fine
    nb.write_text(json.dumps({**_notebook(""), "cells": []}), encoding="utf-8")
    assert privacy_guard.check(["notebooks/x.ipynb"], root) == []


def test_pre_commit_mode_refuses_a_staged_raw_file(tmp_path):
    """End to end through git: the hook's --staged mode exits 1 on a staged non-demo file."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "config", repo / "config")
    (repo / "pyproject.toml").write_text("[project]\nname='x'\n", encoding="utf-8")
    (repo / "data" / "raw" / "nantes").mkdir(parents=True)
    (repo / "data" / "raw" / "nantes" / "real.csv").write_text("id;age\n1;34\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "data/raw/nantes/real.csv"], cwd=repo, check=True)
    import os
    import sys

    proc = subprocess.run([sys.executable, "-m", "analysis.privacy_guard", "--staged"], cwd=repo,
                          env={**os.environ, "IMPPULSE_ROOT": str(repo)}, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "data/raw/nantes/real.csv" in proc.stderr
