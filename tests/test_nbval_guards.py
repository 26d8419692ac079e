"""nbval really compares the notebook results: the templates carry outputs, and a changed number fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ["01-clean", "02-neighbourhoods", "03-impact", "04-compare-cities"]


def _load(name):
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))


def _compared_outputs(nb):
    """Outputs nbval compares: text/plain, text/html and streams (never PNG)."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data or "text/plain" in data or out.get("output_type") == "stream":
                found.append(i)
    return found


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_committed_with_comparable_outputs(name):
    nb = _load(name)
    compared = _compared_outputs(nb)
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(set(compared)) >= 3, f"{name}: only {len(set(compared))} cells with outputs nbval compares"
    assert all(c.get("execution_count") for c in code_cells), f"{name}: not fully executed"
    tagged = [c for c in code_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_show_no_run_specific_noise(name):
    text = json.dumps(_compared_outputs_text(_load(name)))
    assert not re.search(r"<(Figure|Axes|matplotlib)[^>]* at 0x", text), "figure reprs in outputs"
    assert "/work/" not in text and "/root/" not in text, "absolute paths in outputs"


def _compared_outputs_text(nb):
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("output_type") != "display_data" or "text/html" in o.get("data", {})]


def test_a_changed_number_fails_nbval(tmp_path):
    """Alter one stored count in the cleaning notebook: nbval must report a mismatch."""
    nb = _load("01-clean")
    changed = None
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or changed:
            continue
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if html:
                text = "".join(html)
                m = re.search(r"<td>(\d{2,})</td>", text)
                if m:
                    new = text[: m.start(1)] + str(int(m.group(1)) + 1) + text[m.end(1):]
                    out["data"]["text/html"] = new
                    changed = m.group(1)
                    break
    assert changed, "no stored count found to alter in 01-clean"
    target = tmp_path / "01-clean.ipynb"
    target.write_text(json.dumps(nb), encoding="utf-8")
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path / "sanitize.cfg")
    # the notebook cleans its city in a scratch project, not in this checkout, whose outputs
    # other tests read meanwhile (make test runs them in parallel)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data" / "raw", project / "data" / "raw")
    shutil.copy(ROOT / "pyproject.toml", project)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--nbval-sanitize-with", str(tmp_path / "sanitize.cfg"), str(target)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "IMPPULSE_ROOT": str(project)},
    )
    assert proc.returncode != 0, "nbval passed a notebook whose stored count was altered"
    assert "mismatch" in proc.stdout.lower() or "mismatch" in proc.stderr.lower(), proc.stdout[-2000:]
