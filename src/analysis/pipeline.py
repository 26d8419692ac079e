"""Run the notebook templates with papermill, keep track of what ran, build the report.

The Makefile calls this module; it holds no analysis. ``python -m analysis.pipeline``:

``run NAME CITY``
    Execute ``notebooks/NAME.ipynb`` with ``city=CITY`` into
    ``reports/notebooks/CITY/NAME.ipynb`` (atomically), print progress, and on success
    touch the stamp ``reports/.stamps/CITY/NAME`` that make uses to skip unchanged work.
    On failure print the notebook, the cell and the error, keep the executed copy for
    inspection, record the reason in ``reports/.stamps/CITY/NAME.failed`` (the report
    shows it) and exit 1 — other cities go on (``make -k``).
``status``
    Print which steps ran, failed or are missing, per city.
``report [--langs "en fr"]``
    Build the figure manifest, the HTML report in each language and the PDF.
``refresh-templates``
    Re-execute the templates in place with their default parameters, so their stored
    outputs (what nbval compares) reflect the current code and demo data.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from .config import PATHS
from .io import atomic_path, write_text

STEPS = ("01-clean", "02-neighbourhoods", "03-impact")
CROSS_CITY = "cross-city"
CROSS_STEP = "04-compare-cities"
TEMPLATES = (*STEPS, CROSS_STEP)
#: Longest a single notebook cell may run (seconds) before the run is failed, not left hanging.
CELL_TIMEOUT = 900


def stamp_path(city: str, name: str) -> Path:
    return PATHS.reports / ".stamps" / city / name


def failure_path(city: str, name: str) -> Path:
    return PATHS.reports / ".stamps" / city / f"{name}.failed"


def failure_reason(city: str, name: str | None = None) -> str | None:
    """Why a city's step failed in the last run (any step when ``name`` is None), or None."""
    names = [name] if name else [*STEPS, CROSS_STEP]
    for n in names:
        path = failure_path(city, n)
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send this process's and the kernel's stderr (kernel start-up chatter) to a log file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w", encoding="utf-8") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _failed(label: str, reason: str, stamp: Path, failed: Path, out: Path) -> bool:
    write_text(failed, reason + "\n")
    stamp.unlink(missing_ok=True)
    where = out.with_suffix(".failed.ipynb")
    hint = f"\n       see {where.relative_to(PATHS.root)}" if where.is_file() else ""
    print(f"[FAIL] {label} {reason}{hint}", file=sys.stderr, flush=True)
    return False


def run_notebook(name: str, city: str, *, quiet: bool = False) -> bool:
    """Execute one template for one city with papermill; True on success.

    An error in the notebook's code fails the step at once (recorded for the report); a
    kernel problem (timeout, dead kernel) is retried once.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    template = PATHS.notebooks / f"{name}.ipynb"
    if not template.is_file():
        raise FileNotFoundError(f"no notebook template {template}")
    out = PATHS.executed_notebooks / city / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {} if city == CROSS_CITY else {"city": city}
    label = f"{name:<18} {city:<14}"
    if not quiet:
        print(f"[run ] {label}", flush=True)
    t0 = time.perf_counter()
    stamp, failed = stamp_path(city, name), failure_path(city, name)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    for attempt in (1, 2):
        try:
            with atomic_path(out) as tmp, _stderr_to(log):
                try:
                    pm.execute_notebook(
                        str(template), str(tmp), parameters=params, kernel_name="python3",
                        progress_bar=False, log_output=False, cwd=str(PATHS.notebooks),
                        report_mode=False, execution_timeout=CELL_TIMEOUT, start_timeout=120,
                    )
                except PapermillExecutionError:
                    # keep the executed copy, with the traceback in it, for inspection
                    import shutil
                    shutil.copyfile(tmp, out.with_suffix(".failed.ipynb"))
                    raise
            break
        except PapermillExecutionError as exc:
            reason = f"{name}, cell {exc.exec_count or exc.cell_index}: {exc.ename}: {exc.evalue}"
            return _failed(label, reason, stamp, failed, out)
        except (CellTimeoutError, DeadKernelError, TimeoutError, RuntimeError) as exc:
            # The kernel, not the notebook's code, went wrong (a lost message, a dead or
            # stuck kernel): run it once more before calling the city broken.
            reason = f"{name}: kernel problem: {type(exc).__name__}: {exc}"
            if attempt == 2:
                return _failed(label, reason, stamp, failed, out)
            print(f"[retry] {label} {reason}", file=sys.stderr, flush=True)
    failed.unlink(missing_ok=True)
    out.with_suffix(".failed.ipynb").unlink(missing_ok=True)
    stamp.touch()
    if not quiet:
        print(f"[ ok ] {label} {time.perf_counter() - t0:5.1f} s", flush=True)
    return True


def status() -> int:
    """Print a per-city table of steps: ok, FAILED (reason) or missing. Returns #failures."""
    from .profile import list_cities

    failures = 0
    rows = [(c, STEPS) for c in list_cities()] + [(CROSS_CITY, (CROSS_STEP,))]
    print("pipeline status:")
    for city, steps in rows:
        cells = []
        for step in steps:
            if failure_path(city, step).is_file():
                cells.append(f"{step}: FAILED")
                failures += 1
            elif stamp_path(city, step).is_file():
                cells.append(f"{step}: ok")
            else:
                cells.append(f"{step}: -")
        print(f"  {city:<14} " + "  ".join(cells))
        reason = failure_reason(city)
        if reason:
            print(f"  {'':<14} reason: {reason}")
    return failures


def build_report(langs: list[str]) -> None:
    """Manifest, HTML report and PDF per language (PDF: WeasyPrint, else Chromium)."""
    from . import manifest, report

    manifest.build_manifest()
    for lang in langs:
        path = report.build_report(lang=lang)
        print(f"[ ok ] report ({lang}) -> {path.relative_to(PATHS.root)}", flush=True)
    report.build_pdfs(langs)


def refresh_templates(names: list[str] | None = None) -> None:
    """Execute the templates in place (default parameters) for nbval's reference outputs."""
    import nbformat
    from nbclient import NotebookClient

    for name in names or TEMPLATES:
        path = PATHS.notebooks / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                       resources={"metadata": {"path": str(PATHS.notebooks)}}).execute()
        for cell in nb.cells:
            # execution timings change every run; keep diffs to what matters
            cell.metadata.pop("execution", None)
        with atomic_path(path) as tmp:
            nbformat.write(nb, tmp)
        print(f"[ ok ] refreshed {path.relative_to(PATHS.root)} in {time.perf_counter() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="execute one template for one city")
    p_run.add_argument("name", choices=TEMPLATES)
    p_run.add_argument("city")
    sub.add_parser("status", help="which steps ran or failed")
    p_rep = sub.add_parser("report", help="manifest, HTML reports and PDF")
    p_rep.add_argument("--langs", default="en fr")
    p_ref = sub.add_parser("refresh-templates", help="re-execute templates in place")
    p_ref.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        return 0 if run_notebook(args.name, args.city) else 1
    if args.cmd == "status":
        status()
        return 0
    if args.cmd == "report":
        build_report(args.langs.split())
        return 0
    if args.cmd == "refresh-templates":
        refresh_templates(args.names or None)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
