"""The warm fork server: steps forked from one process give what plain papermill runs give.

A demo city's three steps are run by ``make`` as plain papermill runs (``IMPPULSE_WARM=0``: the
session's shared build of the scratch project, tests/pipeline_project.py) and, on a copy of
it, through the fork server (the default under the pipeline lock). Tables, figures, the
processed data and every code cell's output in the executed notebooks must be the same, byte
for byte; the server must really have forked the drivers and the kernels. The small pieces
(the client's choice of server, the pidfd process) are tested on their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_project import copy_of_build, env

from analysis.running import forkserver

CITY = "amiens"


# ------------------------------------------------------------------ small pieces
def test_a_client_uses_only_its_own_trees_server(monkeypatch, tmp_path):
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    monkeypatch.setenv(forkserver.SERVER_ENV, str(tmp_path / "nowhere.sock"))
    monkeypatch.setenv(forkserver.ROOT_ENV, str(tmp_path / "another-tree"))
    assert not forkserver.active()
    assert forkserver._connect(timeout=0) is None
    monkeypatch.setenv(forkserver.ROOT_ENV, str(tmp_path))
    assert forkserver.active()
    assert forkserver._connect(timeout=0, start=False) is None  # announced, but no server listens
    monkeypatch.delenv(forkserver.SERVER_ENV)
    assert not forkserver.active()


def test_a_kernel_command_the_server_cannot_fork_starts_the_usual_way(monkeypatch, tmp_path):
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    monkeypatch.setenv(forkserver.ROOT_ENV, str(tmp_path))
    monkeypatch.setenv(forkserver.SERVER_ENV, str(tmp_path / "s.sock"))
    # another interpreter, another launcher: not forked (None: jupyter_client launches it)
    assert forkserver._fork_kernel(["/usr/bin/python2", "-m", "ipykernel_launcher", "-f", "c.json"], None, None) is None
    assert forkserver._fork_kernel([sys.executable, "-m", "other_kernel", "-f", "c.json"], None, None) is None


def test_a_server_that_ended_without_listening_is_not_waited_for(tmp_path):
    sock = str(tmp_path / "server.sock")
    assert forkserver._server_may_come(sock)  # not started yet: it may come
    (tmp_path / "server.pid").write_text(str(os.getpid()), encoding="utf-8")
    assert forkserver._server_may_come(sock)  # running
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (tmp_path / "server.pid").write_text(str(ended.pid), encoding="utf-8")
    assert not forkserver._server_may_come(sock)
    assert not forkserver._running(ended.pid) and forkserver._running(os.getpid())


def test_the_pidfd_process_waits_signals_and_polls_like_popen():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc = forkserver._PidfdProcess(child.pid, os.pidfd_open(child.pid))
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert proc.poll() == 0
    proc.kill()  # an ended process: nothing to signal, no error
    child.wait()


# ------------------------------------------------------------------ warm = plain
@pytest.fixture(scope="module")
def project(demo_build, tmp_path_factory):
    """A copy of the shared build, whose steps ran as plain papermill runs (with the root found
    from the package's place, as :func:`_run` runs them)."""
    return copy_of_build(demo_build, tmp_path_factory, "warm")


def _run(project: Path, log: Path | None, **extra) -> list[tuple[str, str]]:
    base = {**env(project), **extra}
    # as in a clone: the root found from the package's place (papermill runs the kernel in
    # notebooks/, a folder below it), not given by IMPPULSE_ROOT
    base.pop("IMPPULSE_ROOT")
    if log is not None:
        base[forkserver.LOG_ENV] = str(log)
    proc = subprocess.run(["make", "--no-print-directory", "-k", "JOBS=2", "neighbourhoods", "impact",
                           f"CITY={CITY}"], cwd=project, env=base, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return re.findall(r"^\[run \] (\S+)\s+(\S+)", proc.stdout, flags=re.M)


def _servers(project: Path) -> list[int]:
    """Fork servers still running for ``project`` (their interpreter is the project's)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(project).encode() in args[0] and b"analysis.running.forkserver" in args and b"serve" in args:
            found.append(int(proc.name))
    return found


def _cold(project: Path) -> None:
    for d in (f"reports/figures/{CITY}", f"reports/tables/{CITY}", f"reports/notebooks/{CITY}",
              f"data/processed/{CITY}", f"reports/.stamps/{CITY}"):
        shutil.rmtree(project / d, ignore_errors=True)


def _published(project: Path) -> dict[str, str]:
    """SHA-256 of the city's tables, figures and processed data (the GeoPackage aside: SQLite
    stamps it with the time it was written)."""
    dirs = (f"reports/figures/{CITY}", f"reports/tables/{CITY}", f"data/processed/{CITY}")
    files = sorted(p for d in dirs for p in (project / d).rglob("*") if p.is_file() and p.suffix != ".gpkg")
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _cell_outputs(project: Path) -> dict[str, list]:
    """Each executed notebook's code-cell outputs (execution timings aside). Printed text is
    compared as text: how the kernel happened to split it into stream messages (its flush
    timing) is not what a cell shows."""
    out = {}
    for path in sorted((project / "reports" / "notebooks" / CITY).glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = []
        for c in nb["cells"]:
            if c["cell_type"] != "code":
                continue
            shown = []
            for o in c.get("outputs", []):
                o = {k: v for k, v in o.items() if k != "metadata"}
                if o.get("output_type") == "stream":
                    text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                    if shown and shown[-1].get("output_type") == "stream" and shown[-1]["name"] == o["name"]:
                        shown[-1]["text"] += text
                        continue
                    o["text"] = text
                shown.append(o)
            cells.append(shown)
        out[path.name] = cells
    return out


@pytest.mark.slow
@pytest.mark.make_runs
def test_steps_forked_from_the_server_write_what_plain_runs_write(demo_build, project, tmp_path):
    assert {(s, CITY) for s in ("01-clean", "02-neighbourhoods", "03-impact")} <= set(demo_build.runs)
    assert not demo_build.forked  # no server: plain papermill runs
    plain, plain_cells = _published(project), _cell_outputs(project)
    log = tmp_path / "forks.log"
    _cold(project)
    runs = _run(project, log)
    assert {(s, CITY) for s in ("01-clean", "02-neighbourhoods", "03-impact")} <= set(runs)
    forks = log.read_text(encoding="utf-8").split("\n")
    # a server per locked make run (`neighbourhoods`, then `impact`), started by its first
    # step, never idle; every step's driver and its kernel came from one
    assert forks[0] == "start" and 1 <= forks.count("start") <= 2
    assert all(seg.strip("\n").startswith("run") for seg in "\n".join(forks).split("start")[1:])
    assert sorted(f for f in forks if f.startswith("run")) == [
        f"run 01-clean {CITY}", f"run 02-neighbourhoods {CITY}", f"run 03-impact {CITY}"]
    assert forks.count("kernel") == 3
    warm, warm_cells = _published(project), _cell_outputs(project)
    # nothing to do: no server is started (it would only cost its imports)
    log.unlink()
    assert _run(project, log) == []
    assert not log.exists()
    assert _servers(project) == []  # and the warm run's server ended with its run

    assert any(k.endswith(".png") for k in plain) and any(k.endswith("weights.parquet") for k in plain)
    assert sorted(warm) == sorted(plain)
    assert [k for k in plain if plain[k] != warm[k]] == [], "forked and plain runs wrote different files"
    assert sorted(warm_cells) == sorted(plain_cells) == ["01-clean.ipynb", "02-neighbourhoods.ipynb", "03-impact.ipynb"]
    for name in plain_cells:
        # figures shown inline, tables, printed lines: the same in a forked kernel
        assert warm_cells[name] == plain_cells[name], f"{name}: a cell shows something else when forked"
    assert any("image/png" in o.get("data", {}) for c in plain_cells["03-impact.ipynb"] for o in c)
