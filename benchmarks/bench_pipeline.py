"""Time the feedback loops of issue 14 on a scratch clone of the project, against their targets.

Rows (targets from the issue, for 2 cores; measured, never asserted in tests):

- cold ``make report`` (9 cities, everything)                         ≤ 70 s
- no-op rerun                                                          (no target)
- narrative edited (English and French) → both HTML reports            ≤ 5 s
- … and both PDFs                                                      ≤ 20 s
- one city's raw file changed → updated report HTML                    ≤ 15 s
- a French label fixed in the catalogue → figures redrawn              only those showing it
- fair in-process floor: the same computation split over the same
  number of processes (cities, synthesis, report), and the ratio
  cold ``make report`` ÷ floor                                         ≤ 1.25
- ``make test`` on a fresh clone, environment included (``--make-test``) ≤ 6 min

Everything runs in temporary clones (``git clone`` of this checkout's HEAD, or with
``--uncommitted`` a copy of the tracked files as they are), so the working tree is never
touched. The pipeline runs in this checkout's ``.venv`` (or ``--venv``, default the
running interpreter's environment), linked into the clone; ``--make-test`` builds a
fresh environment from ``requirements.lock`` instead, as a new user would.

Each row prints the wall time, the CPU time of every process it ran (wall time is noisy
on a shared machine; CPU time much less), the target and whether it is met. Run it on a
quiet machine::

    .venv/bin/python benchmarks/bench_pipeline.py [--jobs 2] [--city nantes] [--make-test] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_ENV = "IMPPULSE_PIPELINE_LOCK"
FORK_ENV = ("IMPPULSE_FORKSERVER", "IMPPULSE_FORKSERVER_ROOT")
#: The catalogue word changed by the label row, and its new French text.
LABEL_KEY, LABEL_FR = "map.no_data", "aucune donnée"

TARGETS = {
    "cold": ("cold make report (9 cities, everything)", 70.0),
    "noop": ("no-op rerun", None),
    "narrative_html": ("narrative edited (en+fr) -> both HTML reports", 5.0),
    "narrative_pdf": ("narrative edited (en+fr) -> ... and both PDFs", 20.0),
    "raw_html": ("one city's raw file changed -> report HTML", 15.0),
    "label": ("French label fixed in the catalogue -> redrawn", None),
    "floor": ("fair in-process floor (same computation, same cores)", None),
    "ratio": ("pipeline / floor (cold make report / floor)", 1.25),
    "make_test": ("make test, fresh clone, environment included", 360.0),
}


# ------------------------------------------------------------------ scratch projects
def scratch_project(dest: Path, *, uncommitted: bool, venv: Path | None) -> Path:
    """A clone of this checkout in ``dest`` (HEAD, or the tracked files as they are).

    With ``venv``, that environment is linked as the clone's ``.venv`` and the environment
    stamp is kept fresh (make must not reinstall into it).
    """
    if uncommitted:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True,
                               text=True).stdout.split("\0")
        for name in filter(None, files):
            src = ROOT / name
            if src.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
    else:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    if venv is not None:
        os.symlink(venv, dest / ".venv")
        # the linked environment's stamp must not look older than the clone's pyproject.toml
        for name in ("pyproject.toml", "requirements.lock", "requirements-bootstrap.txt"):
            os.utime(dest / name, (0, 0))
        stamp = venv / ".installed"
        if not stamp.exists():
            sys.exit(f"{venv} has no .installed stamp: build it with `make env` first, or pass --venv")
    return dest


def _only(project: Path, cities: list[str] | None) -> None:
    """Keep only ``cities``' profiles in a scratch project (a smoke run)."""
    if cities:
        for path in (project / "config" / "cities").glob("*.yml"):
            if path.stem not in cities:
                path.unlink()


def _env(project: Path) -> dict:
    # a run under another tree's lock or fork server must not pass them on
    env = {k: v for k, v in os.environ.items() if k not in (LOCK_ENV, *FORK_ENV)}
    env.update(IMPPULSE_ROOT=str(project), PYTHONPATH=str(project / "src"), PYTHONDONTWRITEBYTECODE="1")
    return env


def _adopt_orphans() -> None:
    """Make this process the "subreaper" of what it starts (Linux ``prctl``): the fork server,
    which a step starts and which outlives that step, and the drivers and kernels it forks are
    then adopted here when their parent ends, and their CPU time is counted when reaped."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap_adopted() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _children_cpu() -> float:
    _reap_adopted()  # ended processes adopted from a run count in its CPU time
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str], project: Path, *, env: dict | None = None) -> dict:
    """Run ``cmd`` in ``project``, timing each output line; wall and CPU seconds, exit code."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=project, env=env or _env(project), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))
    proc.wait()
    out = {"wall": time.perf_counter() - t0, "cpu": _children_cpu() - cpu0, "rc": proc.returncode,
           "lines": lines, "runs": [ln for _, ln in lines if ln.startswith("[run ]")]}
    if proc.returncode != 0:
        print("\n".join(ln for _, ln in lines[-40:]), file=sys.stderr)
    return out


def make(project: Path, jobs: int, *targets: str) -> dict:
    return run(["make", "--no-print-directory", f"JOBS={jobs}", *(targets or ("report",))], project)


def when(result: dict, pattern: str) -> float | None:
    """Seconds into the run at which the last line matching ``pattern`` was printed."""
    times = [t for t, ln in result["lines"] if re.search(pattern, ln)]
    if not times:
        print(f"[bench] no output line matched {pattern!r}", file=sys.stderr)
    return max(times) if times else None


def figure_files(project: Path) -> dict[str, tuple[int, str]]:
    """Every saved figure file: (modification time, SHA-256)."""
    out = {}
    folder = project / "reports" / "figures"
    for p in sorted(folder.rglob("*.png")) if folder.is_dir() else []:
        out[p.relative_to(project).as_posix()] = (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


# ------------------------------------------------------------------ edits
def edit_narratives(project: Path) -> None:
    for name, text in (("narrative.md", "\n\nThe committee adds a sentence.\n"),
                       ("narrative.fr.md", "\n\nLe comité ajoute une phrase.\n")):
        path = project / "reports" / name
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def change_raw_answer(project: Path, city: str, every: int = 20) -> str:
    """Change the trust answer of every ``every``-th resident in the city's delimited residents file
    (a correction the city sends: the maps and effects move a little).

    The new file is a demonstration file still: its SHA-256 joins ``DEMO_CHECKSUMS.sha256``
    (the clean step refuses ``synthetic: true`` for other data). Returns the file's name.
    """
    sys.path.insert(0, str(project / "src"))
    os.environ["IMPPULSE_ROOT"] = str(project)
    from analysis.inputs.profile import load_profile

    prof = load_profile(city)
    spec = prof.residents.files[0]
    if spec.format != "csv":
        raise SystemExit(f"--city {city}: its residents file is {spec.format}; pick a city with a CSV (nantes)")
    path = project / "data" / "raw" / city / spec.path
    column = prof.residents.columns["trust_police"]
    sep = spec.delimiter or ","
    lines = path.read_bytes().decode(spec.encoding).split("\n")
    col = lines[0].split(sep).index(column)
    changed = 0
    for i in range(1, len(lines), every):
        cells = lines[i].split(sep)
        if len(cells) > col and cells[col].isdigit() and 0 <= int(cells[col]) <= 9:
            cells[col] = str(int(cells[col]) + 1)
            lines[i] = sep.join(cells)
            changed += 1
    if not changed:
        raise SystemExit(f"{path}: no trust answer to change")
    path.write_bytes("\n".join(lines).encode(spec.encoding))
    sums = project / "data" / "raw" / "DEMO_CHECKSUMS.sha256"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with open(sums, "a", encoding="utf-8") as fh:
        fh.write(f"{digest}  {path.relative_to(project).as_posix()}\n")
    return path.name


def fix_french_label(project: Path) -> tuple[str, str]:
    """Change the French text of :data:`LABEL_KEY` in its catalogue file; (old, new) text."""
    for path in sorted((project / "src" / "analysis" / "publishing" / "locale").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        m = re.search(rf"^{re.escape(LABEL_KEY)}:\s*\{{en: \"[^\"]*\", fr: \"(?P<fr>[^\"]*)\"\}}", text, re.M)
        if m:
            path.write_text(text[:m.start("fr")] + LABEL_FR + text[m.end("fr"):], encoding="utf-8")
            return m.group("fr"), LABEL_FR
    raise SystemExit(f"catalogue key {LABEL_KEY} (one line, en and fr) not found")


# ------------------------------------------------------------------ the fair floor
_WORKER = """
import json, sys, time
from analysis.running import steps
t = {"clean": 0.0, "neighbourhoods": 0.0, "impact": 0.0}
for city in sys.argv[1:]:
    t0 = time.process_time()
    steps.clean(city)
    t1 = time.process_time()
    steps.neighbourhoods(city)
    t2 = time.process_time()
    steps.impact(city)
    t["clean"] += t1 - t0
    t["neighbourhoods"] += t2 - t1
    t["impact"] += time.process_time() - t2
print("STEP-CPU " + json.dumps(t))
"""
_SYNTHESIS = "from analysis.running import steps; steps.compare_cities()"


def in_process(project: Path, jobs: int, cities: list[str], langs: str) -> dict:
    """The pipeline's computation without notebooks, make or stamps, on ``jobs`` processes.

    The cities are shared among ``jobs`` processes (largest raw data first, each to the
    least loaded), then the synthesis, then the report step itself (HTML and PDF per
    language, dashboard, disclosure check), as ``make report`` does after them.
    """
    size = {c: sum(p.stat().st_size for p in (project / "data" / "raw" / c).rglob("*") if p.is_file())
            for c in cities}
    groups: list[list[str]] = [[] for _ in range(jobs)]
    load = [0] * jobs
    for c in sorted(cities, key=lambda c: -size[c]):
        i = load.index(min(load))
        groups[i].append(c)
        load[i] += size[c]
    py = str(project / ".venv" / "bin" / "python")
    env = _env(project)
    cpu0, t0 = _children_cpu(), time.perf_counter()
    procs = [subprocess.Popen([py, "-c", _WORKER, *g], cwd=project, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for g in groups if g]
    steps = {"clean": 0.0, "neighbourhoods": 0.0, "impact": 0.0}
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            print(err[-3000:], file=sys.stderr)
            return {"wall": float("nan")}
        for k, v in json.loads(out.split("STEP-CPU ")[-1]).items():
            steps[k] += v
    cities_wall = time.perf_counter() - t0
    cross = run([py, "-c", _SYNTHESIS], project)
    rep = run([py, "-m", "analysis.running.publish", "report", "--langs", langs, "--jobs", str(jobs)], project)
    return {"wall": time.perf_counter() - t0, "cpu": _children_cpu() - cpu0, "cities_wall": cities_wall,
            "cross_wall": cross["wall"], "report_wall": rep["wall"], "groups": groups, "step_cpu": steps,
            "rc": max(cross["rc"], rep["rc"])}


# ------------------------------------------------------------------ main
def machine_speed(repeat: int = 3) -> float:
    """Seconds a fixed pure-Python workload takes here (the best of ``repeat``): the same on
    every run, so rows of runs on differently loaded machines can be compared."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        sum(i * i % 7 for i in range(3_000_000))
        best = min(best, time.process_time() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="make -j and floor processes")
    parser.add_argument("--city", default="nantes", help="city whose raw residents file changes (a CSV)")
    parser.add_argument("--venv", type=Path, default=None,
                        help="environment to run in (default: this checkout's .venv, else the running one)")
    parser.add_argument("--uncommitted", action="store_true",
                        help="benchmark the tracked files as they are in the working tree, not HEAD")
    parser.add_argument("--make-test", action="store_true", help="also time `make test` on a fresh clone "
                        "with its environment built from requirements.lock (slow, needs the package index)")
    parser.add_argument("--skip-floor", action="store_true", help="leave out the in-process floor")
    parser.add_argument("--cities", nargs="+", help="only these cities (a quick smoke run; the targets are "
                        "for all nine)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch clones (printed)")
    args = parser.parse_args()
    _adopt_orphans()
    venv = args.venv or (ROOT / ".venv" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.prefix))
    venv = venv.resolve() if venv.is_symlink() else venv
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    if dirty and not args.uncommitted:
        print("[note] the working tree has uncommitted changes: benchmarking HEAD (see --uncommitted)")
    langs = "en fr"
    res: dict[str, dict] = {}
    notes: list[str] = []
    speed_before = machine_speed()
    tmp = Path(tempfile.mkdtemp(prefix="imppulse-bench-"))
    try:
        project = scratch_project(tmp / "pipeline", uncommitted=args.uncommitted, venv=venv)
        _only(project, args.cities)
        cities = sorted(p.stem for p in (project / "config" / "cities").glob("*.yml"))
        print(f"[bench] {len(cities)} cities, {args.jobs} jobs, {os.cpu_count()} cores, scratch {tmp}", flush=True)

        r = make(project, args.jobs)
        res["cold"] = {"wall": r["wall"], "cpu": r["cpu"], "rc": r["rc"], "notebooks": len(r["runs"])}
        print(f"[bench] cold: {r['wall']:.1f} s, {len(r['runs'])} notebooks", flush=True)

        r = make(project, args.jobs)
        res["noop"] = {"wall": r["wall"], "cpu": r["cpu"], "rc": r["rc"], "notebooks": len(r["runs"])}

        figs = figure_files(project)
        edit_narratives(project)
        r = make(project, args.jobs)
        html = [when(r, rf"\[ ok \] report \({lang}\)") for lang in langs.split()]
        pdf = [when(r, rf"\[ ok \] report \(pdf, {lang}\)") for lang in langs.split()]
        redrawn = [k for k, v in figure_files(project).items() if figs.get(k) != v]
        res["narrative_html"] = {"wall": max(html) if None not in html else float("nan"), "cpu": None,
                                 "rc": r["rc"]}
        res["narrative_pdf"] = {"wall": max(pdf) if None not in pdf else float("nan"), "cpu": r["cpu"],
                                "rc": r["rc"], "make_wall": r["wall"]}
        notes.append(f"narrative edit: {len(r['runs'])} notebook(s) run, {len(redrawn)} figure(s) redrawn, "
                     f"make finished at {r['wall']:.1f} s")

        figs = figure_files(project)
        name = change_raw_answer(project, args.city)
        r = make(project, args.jobs)
        html = [when(r, rf"\[ ok \] report \({lang}\)") for lang in langs.split()]
        redrawn = [k for k, v in figure_files(project).items() if figs.get(k) != v]
        res["raw_html"] = {"wall": max(html) if None not in html else float("nan"), "cpu": r["cpu"],
                           "rc": r["rc"], "make_wall": r["wall"], "notebooks": len(r["runs"])}
        notes.append(f"raw change ({args.city}/{name}, trust answer of every 20th resident + 1): {len(r['runs'])} notebook(s) run "
                     f"({', '.join(sorted({ln.split()[2] + '/' + ln.split()[3] for ln in r['runs']}))}), "
                     f"{len(redrawn)} figure(s) redrawn, make finished at {r['wall']:.1f} s")

        figs = figure_files(project)
        old, new = fix_french_label(project)
        r = make(project, args.jobs)
        after = figure_files(project)
        redrawn = sorted(k for k, v in after.items() if figs.get(k) != v)
        # the figures that show the label: those whose SVG now holds the new words
        showing = sorted(k for k in after if new in (project / k).with_suffix(".svg").read_text(encoding="utf-8"))
        res["label"] = {"wall": r["wall"], "cpu": r["cpu"], "rc": r["rc"], "redrawn": len(redrawn),
                        "showing": len(showing), "of": len(after), "met": redrawn == showing,
                        "notebooks": len(r["runs"])}
        notes.append(f"label {LABEL_KEY} fr {old!r} -> {new!r}: {len(redrawn)} of {len(after)} figures redrawn, "
                     f"{len(showing)} show the label; {len(r['runs'])} notebook(s) rerun (their modules read "
                     "the catalogue); extra redrawn: "
                     f"{sorted(set(redrawn) - set(showing))[:5]}")

        if not args.skip_floor:
            floor_project = scratch_project(tmp / "floor", uncommitted=args.uncommitted, venv=venv)
            _only(floor_project, args.cities)
            fl = in_process(floor_project, args.jobs, cities, langs)
            res["floor"] = fl
            res["ratio"] = {"wall": res["cold"]["wall"] / fl["wall"], "cpu": res["cold"]["cpu"] / fl["cpu"],
                            "rc": fl.get("rc", 0)}
            notes.append(f"floor: cities {fl['cities_wall']:.1f} s on {args.jobs} processes {fl['groups']}, "
                         f"synthesis {fl['cross_wall']:.1f} s, report step {fl['report_wall']:.1f} s; step CPU "
                         + ", ".join(f"{k} {v:.1f} s" for k, v in fl["step_cpu"].items()))
            notes.append(f"cold make report CPU {res['cold']['cpu']:.0f} s vs floor CPU {fl['cpu']:.0f} s: "
                         f"notebook, kernel and make overhead {res['cold']['cpu'] - fl['cpu']:.0f} CPU s, "
                         f"{(res['cold']['cpu'] - fl['cpu']) / max(res['cold']['notebooks'], 1):.1f} s a notebook "
                         "(the ratio's CPU column: pipeline CPU / floor CPU, the figure to trust on a busy machine)")

        if args.make_test:
            fresh = scratch_project(tmp / "fresh", uncommitted=args.uncommitted, venv=None)
            env = {k: v for k, v in os.environ.items()
                   if k not in (LOCK_ENV, *FORK_ENV, "PYTHONPATH", "IMPPULSE_ROOT")}
            r = run(["make", "--no-print-directory", f"JOBS={args.jobs}", "test"], fresh, env=env)
            res["make_test"] = {"wall": r["wall"], "cpu": r["cpu"], "rc": r["rc"]}
    finally:
        if args.keep:
            print(f"[bench] scratch kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    speed_after = machine_speed()
    notes.append(f"machine: a fixed Python workload (machine_speed) took {speed_before:.3f} s before the "
                 f"rows and {speed_after:.3f} s after; rows of runs whose workload times differ differ by as much")
    res["machine"] = {"before": speed_before, "after": speed_after}
    print(f"\nFeedback loops (issue 14): {args.jobs} jobs, {os.cpu_count()} cores; "
          "CPU = every process the row ran (less noisy than wall time on a shared machine)")
    print(f"{'loop':<56} {'wall s':>8} {'CPU s':>8}  {'target':<22} {'met':<8}")
    for key, (label, target) in TARGETS.items():
        if key not in res:
            print(f"{label:<56} {'—':>8} {'—':>8}  {_target_text(key, target):<22} not run")
            continue
        r = res[key]
        wall = r.get("wall", float("nan"))
        cpu = r.get("cpu")
        if key == "label":
            shown = f"{r['redrawn']} figs"
            met = "met" if r["met"] else "NOT MET"
            print(f"{label:<56} {shown:>8} {'':>8}  {'only the ' + str(r['showing']) + ' showing it':<22} "
                  f"{met:<8}  ({wall:.1f} s)")
            continue
        fail = r.get("rc", 0) != 0
        met = "FAILED" if fail else ("—" if target is None else ("met" if wall <= target else "NOT MET"))
        cpu_text = "" if cpu is None else (f"{cpu:8.2f}" if key == "ratio" else f"{cpu:8.1f}")
        print(f"{label:<56} {wall:8.2f} {cpu_text:>8}  "
              f"{_target_text(key, target):<22} {met:<8}")
    print()
    for n in notes:
        print(f"  - {n}")
    if args.json:
        args.json.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "lines"}
                                         for k, v in res.items()}, indent=1, default=str) + "\n")
    return 0 if all(r.get("rc", 0) == 0 for r in res.values()) else 1


def _target_text(key: str, target: float | None) -> str:
    if target is None:
        return "(none)" if key not in ("label", "floor") else ("(reference)" if key == "floor" else "")
    return f"≤ {target:g}" + ("" if key == "ratio" else " s")


if __name__ == "__main__":
    sys.exit(main())
