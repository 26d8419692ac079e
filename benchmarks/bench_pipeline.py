"""Time the whole pipeline: cold run, no-op rerun, rerun after one city's input changes,
and the same computation done in one Python process without notebooks.

Runs on a scratch copy of the project (the tracked files, with this checkout's .venv), so
the checkout's own outputs are left alone. Prints a table; writes nothing to the repo.

    .venv/bin/python benchmarks/bench_pipeline.py [--jobs 2] [--city nantes]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    os.symlink(ROOT / ".venv", dest / ".venv")
    boundaries = ROOT / "data" / "external" / "boundaries"
    for f in boundaries.glob("*.*"):
        if f.name != ".gitkeep":
            shutil.copy2(f, dest / "data" / "external" / "boundaries" / f.name)


def timed_make(dest: Path, jobs: int, target: str = "report") -> tuple[float, int, int]:
    env = {**os.environ, "IMPPULSE_ROOT": str(dest)}
    t0 = time.perf_counter()
    proc = subprocess.run(["make", f"JOBS={jobs}", target], cwd=dest, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    runs = len(re.findall(r"^\[run \]", proc.stdout, flags=re.M))
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    return elapsed, runs, proc.returncode


def in_process(dest: Path, cities: list[str]) -> dict[str, float]:
    """The same per-city computation and synthesis in one process, without notebooks."""
    code = f"""
import time, json
t = {{}}
t0 = time.perf_counter()
from analysis.running import steps
t['import'] = time.perf_counter() - t0
t0 = time.perf_counter()
for city in {cities!r}:
    steps.clean(city)
t['clean'] = time.perf_counter() - t0
t0 = time.perf_counter()
for city in {cities!r}:
    steps.neighbourhoods(city)
t['neighbourhoods'] = time.perf_counter() - t0
t0 = time.perf_counter()
for city in {cities!r}:
    steps.impact(city)
t['impact'] = time.perf_counter() - t0
t0 = time.perf_counter()
steps.compare_cities()
t['cross_city'] = time.perf_counter() - t0
print(json.dumps(t))
"""
    env = {**os.environ, "IMPPULSE_ROOT": str(dest)}
    t0 = time.perf_counter()
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=dest, env=env,
                         capture_output=True, text=True)
    total = time.perf_counter() - t0
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"total": float("nan")}
    import json

    return {**json.loads(out.stdout.strip().splitlines()[-1]), "total": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--city", default="nantes", help="city whose raw file is touched")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from analysis.config import CITIES

    with tempfile.TemporaryDirectory(prefix="imppulse-bench-") as tmp:
        dest = Path(tmp)
        copy_project(dest)
        rows = []
        t, n, rc = timed_make(dest, args.jobs)
        rows.append(("cold make report (9 cities, report)", t, n, rc))
        t, n, rc = timed_make(dest, args.jobs)
        rows.append(("no-op rerun", t, n, rc))
        # the city's largest file: its resident survey
        raw = max((dest / "data" / "raw" / args.city).glob("*.*"), key=lambda p: p.stat().st_size)
        raw.touch()
        t, n, rc = timed_make(dest, args.jobs)
        rows.append((f"rerun after touching {args.city}/{raw.name}", t, n, rc))
        ip = in_process(dest, list(CITIES))
    print(f"\nPipeline timings, {args.jobs} parallel jobs, {os.cpu_count()} cores")
    print(f"{'run':<55} {'seconds':>8} {'notebooks':>9} {'exit':>4}")
    for name, t, n, rc in rows:
        print(f"{name:<55} {t:8.1f} {n:9d} {rc:4d}")
    print("\nSame computation in one Python process, no notebooks (sequential):")
    for k, v in ip.items():
        print(f"  {k:<16} {v:8.1f} s")
    cold = rows[0][1]
    if ip.get("total") == ip.get("total"):
        print(f"\nnotebook + kernel overhead (cold make report − in-process, incl. report): "
              f"{cold - ip['total']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
