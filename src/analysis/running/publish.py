"""The report step of ``make report``: manifest, HTML and PDF per language, briefs, dashboard, disclosure check.

Owns the order of the report step, its parallelism and what it may skip because it is
unchanged; must not estimate or draw anything, nor import the statistics stack (the
dashboard, which needs the geometry, is built in a child process).

``python -m analysis.running.publish report [--langs "en fr"] [--jobs N]``
    The figure manifest is built once and passed to each language. The languages are
    built in parallel (worker processes, when ``--jobs`` > 1 and the platform forks): each
    writes its HTML, then its brief (which cites that HTML's figure and table numbers);
    then each prints its PDF when the HTML changed or the PDF is missing. The dashboard is
    rebuilt, in a child process beside the PDFs (not beside the HTML, which an edit waits
    for), only when its inputs changed (:func:`dashboard_digest`). The disclosure check
    then reads every published artefact whose content it has not already passed with the
    same checking code (:func:`disclosure_todo`); on a breach the reports just written are
    withdrawn.
``python -m analysis.running.publish city-report CITY ...``
    Each city's own report, then the disclosure check.

Editing ``reports/narrative.md`` thus rebuilds the English HTML (and its PDF) only: the
notebooks, figures and tables do not depend on it (:func:`analysis.running.pipeline.step_inputs`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analysis.config import CROSS_CITY, PATHS, STEPS
from analysis import io
from analysis.io import write_text
from analysis.publishing import brief, disclosure, manifest, report
from analysis.publishing import pdf as printing, report_inputs
from analysis.running import pipeline

REPORT = pipeline.REPORT
#: Where the report step keeps what the disclosure check passed (hidden: not a stamp).
PASSED_NAME = ".disclosure-passed.json"
#: Modules whose code decides the dashboard (run as ``python -m analysis.publishing.dashboard``).
DASHBOARD_MODULE = "publishing.dashboard"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, whole (:func:`analysis.io.sha256_file` keeps 16 characters by default)."""
    return io.sha256_file(path, 64)


def _code_digest(modules: list[str]) -> str:
    """SHA-256 over the files of ``modules`` (and what they import) and the data files they read."""
    names = pipeline.module_closure(modules)
    files = [p for p in map(pipeline.module_path, names) if p is not None]
    for name in names:
        files += pipeline.data_files_of(name)
    h = hashlib.sha256()
    for path in sorted(set(files), key=pipeline.relative):
        h.update(f"{pipeline.relative(path)}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def dashboard_digest() -> str:
    """What the dashboard is made of: its code, every city's profile, boundaries and
    recorded step inputs (the raw data through them), and the published neighbourhood tables."""
    h = hashlib.sha256(_code_digest([DASHBOARD_MODULE]).encode())
    files = sorted(PATHS.tables.glob("*/neighbourhoods.csv")) if PATHS.tables.is_dir() else []
    files += sorted(PATHS.config.glob("cities/*.yml")) + sorted(p for p in PATHS.boundaries.glob("*") if p.is_file())
    for path in files:
        h.update(f"{pipeline.relative(path)}\0{sha256_file(path)}\n".encode())
    stamps = PATHS.reports / ".stamps"
    for path in sorted(stamps.glob("*/*")) if stamps.is_dir() else []:
        if path.parent.name not in (REPORT, CROSS_CITY) and path.name in STEPS:
            record = pipeline.read_stamp(path.parent.name, path.name) or {}
            h.update(f"{pipeline.relative(path)}\0{record.get('inputs', '')}\n".encode())
    return h.hexdigest()


# ------------------------------------------------------------------ disclosure, incrementally
def _passed_path() -> Path:
    return pipeline.stamp_path(REPORT, PASSED_NAME)


def disclosure_todo(artefacts: list[Path]) -> tuple[list[Path], dict[str, str], str]:
    """The artefacts the disclosure check must read: those whose content it has not passed.

    The check's verdict on a file is a function of the file's bytes and the checking code
    (its modules and the data files they read), so a file it passed before, unchanged,
    checked by unchanged code, passes again.

    Returns
    -------
    (to_check, shas, code)
        The artefacts to read, the SHA-256 of every artefact (project-relative name), and
        the digest of the checking code.
    """
    code = _code_digest(["publishing.disclosure"])
    shas = {pipeline.relative(p): sha256_file(p) for p in artefacts}
    try:
        passed = json.loads(_passed_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        passed = {}
    known = passed.get("files", {}) if isinstance(passed, dict) and passed.get("code") == code else {}
    return [p for p in artefacts if known.get(pipeline.relative(p)) != shas[pipeline.relative(p)]], shas, code


def check_disclosure() -> bool:
    """The disclosure check of every published artefact not already passed unchanged; True when it passes."""
    artefacts = disclosure.published_artefacts()
    todo, shas, code = disclosure_todo(artefacts)
    if todo:
        ok = disclosure.main([str(p) for p in todo]) == 0
    else:
        ok = True
    if ok:
        print(f"[ ok ] disclosure: {len(artefacts) - len(todo)} of {len(artefacts)} artefact(s) unchanged "
              "since they passed with the same checking code", flush=True)
        write_text(_passed_path(), json.dumps({"code": code, "files": shas}, indent=0, sort_keys=True) + "\n")
    return ok


# ------------------------------------------------------------------ one language
def _same_bytes(path: Path, text: str) -> bool:
    data = text.encode("utf-8")
    return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data


def _recorded_pdf(pdf_path: Path, previous: dict, html_sha256: str, part: str = "") -> bool:
    """Whether ``pdf_path`` is the PDF ``previous`` recorded (``<part>pdf_sha256``) for this very
    HTML (``<part>html_sha256``): then printing it again would write what is there."""
    return (pdf_path.is_file() and previous.get(f"{part}html_sha256") == html_sha256
            and previous.get(f"{part}pdf_sha256") == sha256_file(pdf_path))


def build_brief(lang: str, frame, pdf: bool, previous: dict) -> tuple[list[Path], dict]:
    """The brief in ``lang`` (HTML, and PDF when ``pdf``), citing the report's numbers.

    The PDF is printed again only when the brief's HTML changed or the PDF is not the one
    recorded for that HTML (``previous``: the last record of this language), as the
    report's own PDF (:func:`build_pdf`). Returns the paths and what to record.
    """
    html = brief.render_html(lang, frame, numbers=brief.read_report_numbers(lang))
    html_path = brief.brief_path(lang)
    if not _same_bytes(html_path, html):
        write_text(html_path, html)
    paths, record = [html_path], {"brief_html_sha256": sha256_file(html_path)}
    if pdf:
        pdf_path = brief.brief_pdf_path(lang)
        if (_recorded_pdf(pdf_path, previous, record["brief_html_sha256"], "brief_")
                or brief.render_pdf(html, pdf_path) is not None):
            paths.append(pdf_path)
            record["brief_pdf_sha256"] = sha256_file(pdf_path)
    return paths, record


def build_html(lang: str, frame, pdf: bool = True, keep: str | None = None, previous: dict | None = None) -> dict:
    """Write the HTML report in ``lang`` from the manifest ``frame``, then its brief (HTML, and PDF when ``pdf``).

    ``keep``: the report step's input digest without the narratives, under which the
    report's context is kept (:func:`analysis.publishing.report.build_context`).
    ``previous``: the last record of this language (:func:`build_brief`).

    Returns
    -------
    dict
        ``html``, ``html_sha256``, ``brief`` (the brief's files), the seconds each took and
        whether the HTML was rebuilt; ``pdf`` (None), ``pdf_sha256`` and ``pdf_rebuilt``
        for :func:`build_pdf` to fill.
    """
    t0 = time.perf_counter()
    html_path = report_inputs.report_path(lang)
    html = report.render_html(lang, frame, keep=keep)
    changed = not _same_bytes(html_path, html)
    if changed:
        write_text(html_path, html)
    out = {"lang": lang, "html": str(html_path), "html_sha256": sha256_file(html_path),
           "html_rebuilt": changed, "html_seconds": round(time.perf_counter() - t0, 2),
           "pdf": None, "pdf_sha256": None, "pdf_rebuilt": False, "pdf_seconds": 0.0}
    print(f"[ ok ] report ({lang}) -> {pipeline.relative(html_path)}"
          + ("" if changed else " (unchanged)"), flush=True)
    # the brief cites this report's figure and table numbers: right after its HTML, before
    # the long print of the report's PDF
    t_brief = time.perf_counter()
    paths, record = build_brief(lang, frame, pdf, previous or {})
    for path in paths:
        print(f"[ ok ] brief ({lang}) -> {pipeline.relative(path)}", flush=True)
    out.update(record, brief=[str(p) for p in paths])
    out["brief_seconds"] = round(time.perf_counter() - t_brief, 2)
    return out


def build_pdf(out: dict, previous: dict) -> dict:
    """Print the report whose :func:`build_html` record is ``out``, when needed; ``out`` completed.

    The PDF is printed again only when the HTML changed, the PDF is missing, or it is not
    the one recorded for that HTML (``previous``: the last record of this language).
    """
    out = dict(out)
    lang = out["lang"]
    t1 = time.perf_counter()
    pdf_path = printing.pdf_path(lang)
    if _recorded_pdf(pdf_path, previous, out["html_sha256"]):
        print(f"[ ok ] report (pdf, {lang}) -> {pipeline.relative(pdf_path)} (its HTML is unchanged)", flush=True)
        written = pdf_path
    else:
        written = printing.build_pdf(lang=lang)
        out["pdf_rebuilt"] = written is not None
    if written is not None:
        out.update(pdf=str(written), pdf_sha256=sha256_file(written))
    out["pdf_seconds"] = round(time.perf_counter() - t1, 2)
    return out


def _each(pool, fn, calls: list[tuple]) -> list:
    """``fn(*args)`` for each ``args`` of ``calls``, on ``pool``'s workers at once (None: here, in turn)."""
    if pool is None:
        return [fn(*args) for args in calls]
    return [f.result() for f in [pool.submit(fn, *args) for args in calls]]


def _pool(jobs: int, n: int):
    """A process pool of ``min(jobs, n)`` forked workers, or None to work in this process."""
    if jobs < 2 or n < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=min(jobs, n), mp_context=multiprocessing.get_context("fork"))


# ------------------------------------------------------------------ the step
def build_report(langs: list[str], *, jobs: int = 2, pdf: bool = True) -> bool:
    """The report step: manifest, HTML and PDF per language, dashboard, disclosure check, stamp.

    Every published artefact (tables, figure data, notebooks, the reports) passes
    :mod:`analysis.publishing.disclosure` before the report counts as built. On a breach the
    reports just written are withdrawn (``data/interim/withdrawn/``), no stamp is written,
    and the breaches are listed by artefact and cell.
    """
    t0 = time.perf_counter()
    code: dict = {}  # the report's code inputs, worked out once for both digests
    digest, _ = pipeline.input_digest(REPORT, REPORT, code=code)
    # everything but the narratives: an edit of a narrative alone re-renders from the kept context
    keep, _ = pipeline.input_digest(REPORT, REPORT, code=code, leave_out=pipeline.narrative_files())
    previous = pipeline.read_stamp(REPORT, REPORT, previous=True) or {}
    parts_before = previous.get("parts", {}) if isinstance(previous.get("parts"), dict) else {}
    pipeline.retire_stamp(REPORT, REPORT)
    frame = manifest.build_manifest(write=True)  # once for every language
    outputs = [pipeline.relative(PATHS.reports / "figures.csv")]
    parts: dict[str, dict] = {}

    # the languages' HTML and briefs first (what an edit waits for), on the workers; then the
    # dashboard, when its inputs changed, in a child process beside the PDFs
    pool = _pool(jobs, len(langs))
    with pool if pool is not None else contextlib.nullcontext():
        htmls = _each(pool, build_html, [(lang, frame, pdf, keep, parts_before.get(f"lang.{lang}", {}))
                                         for lang in langs])
        board = PATHS.reports / "dashboard.html"
        board_proc, board_digest = None, None
        has_areas = any(PATHS.tables.glob("*/neighbourhoods.csv")) if PATHS.tables.is_dir() else False
        if has_areas:
            board_digest = dashboard_digest()
            before = parts_before.get("dashboard", {})
            if board.is_file() and before.get("inputs") == board_digest and before.get("sha256") == sha256_file(board):
                print(f"[ ok ] dashboard -> {pipeline.relative(board)} (its inputs are unchanged)", flush=True)
            else:
                board_proc = subprocess.Popen([sys.executable, "-m", "analysis.publishing.dashboard"],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        else:
            board.unlink(missing_ok=True)
            print("[skip] dashboard: no city has a published neighbourhood table", flush=True)
        results = htmls if not pdf else _each(
            pool, build_pdf, [(out, parts_before.get(f"lang.{out['lang']}", {})) for out in htmls])
    for res in results:
        res = {**res, "html": pipeline.relative(Path(res["html"])),
               "pdf": pipeline.relative(Path(res["pdf"])) if res["pdf"] else None,
               "brief": [pipeline.relative(Path(p)) for p in res["brief"]]}
        parts[f"lang.{res['lang']}"] = res
        outputs += [res["html"]] + ([res["pdf"]] if res["pdf"] else []) + res["brief"]

    ok = True
    if board_proc is not None:
        out, err = board_proc.communicate()
        if board_proc.returncode != 0:
            sys.stderr.write(err[-3000:])
            print("[FAIL] dashboard: its build failed (see above)", file=sys.stderr, flush=True)
            ok = False
        else:
            print(f"[ ok ] dashboard -> {pipeline.relative(board)} ({board.stat().st_size / 1e6:.1f} MB)",
                  flush=True)
    if has_areas and board.is_file() and ok:
        parts["dashboard"] = {"inputs": board_digest, "sha256": sha256_file(board)}
        outputs.append(pipeline.relative(board))
    if not ok:
        pipeline.withdraw(REPORT, REPORT, "the dashboard could not be built", written=outputs)
        return False
    if not check_disclosure():
        pipeline.withdraw(REPORT, REPORT, "the disclosure check failed (see the list above)", written=outputs)
        print("[FAIL] report: the disclosure check failed; the reports were withdrawn, nothing is "
              "published", file=sys.stderr, flush=True)
        return False
    if not pdf:
        # HTML only: the step is not complete, so no stamp (make report prints the PDFs)
        print(f"[ ok ] HTML reports only, {time.perf_counter() - t0:.1f} s (no PDF, no stamp)", flush=True)
        return True
    pipeline.write_stamp(REPORT, REPORT, digest, outputs, parts=parts)
    print(f"[ ok ] report step {time.perf_counter() - t0:.1f} s", flush=True)
    return True


def build_city_reports(cities: list[str]) -> bool:
    """Each city's own report (``reports/cities/<city>/``), then the disclosure check.

    On a breach the cities' reports are deleted and nothing is published.
    """
    written = []
    for city in cities:
        for path in [*report.build_city_report(city), *brief.build_city_brief(city)]:
            written.append(path)
            print(f"[ ok ] {city} report -> {path.relative_to(PATHS.root)}", flush=True)
    if not check_disclosure():
        for path in written:
            path.unlink(missing_ok=True)
        print("[FAIL] city report: the disclosure check failed; nothing is published", file=sys.stderr, flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.running.publish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_rep = sub.add_parser("report", help="manifest, HTML reports, PDFs, dashboard, disclosure check")
    p_rep.add_argument("--langs", default="en fr")
    p_rep.add_argument("--jobs", type=int, default=int(os.environ.get("IMPPULSE_JOBS", "0") or 0) or (os.cpu_count() or 1),
                       help="languages built at once (default: the number of cores)")
    p_rep.add_argument("--no-pdf", action="store_true", help="HTML only (the quick loop while editing text)")
    p_city = sub.add_parser("city-report", help="a city's own report, in its profile's languages")
    p_city.add_argument("cities", nargs="+")
    args = parser.parse_args(argv)
    if args.cmd == "report":
        return 0 if build_report(args.langs.split(), jobs=args.jobs, pdf=not args.no_pdf) else 1
    if args.cmd == "city-report":
        return 0 if build_city_reports(args.cities) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
