"""Run the notebook templates with papermill, keep track of what ran, build the report.

Owns the Makefile's entry points: running the templates, stamps and their inputs, failure
withdrawal, the lock and the report build. Must not hold analysis: the steps do.

The Makefile calls this module; it holds no analysis. ``python -m analysis.running.pipeline``:

``run NAME CITY``
    Execute ``notebooks/NAME.ipynb`` with ``city=CITY`` into
    ``reports/notebooks/CITY/NAME.ipynb`` (atomically), print progress, and on success
    write the stamp ``reports/.stamps/CITY/NAME`` that make uses to skip unchanged work:
    it records the SHA-256 of the step's inputs as they were when it started
    (:func:`input_digest`) and the files it wrote. On failure print the notebook, the cell
    and the error, keep the executed copy for inspection, record the reason in
    ``reports/.stamps/CITY/NAME.failed`` (the report shows it), withdraw what the step and
    its downstream steps had published (:func:`withdraw`) and exit 1 — other cities go on
    (``make -k``).
``prepare``
    Remove temporary files an interrupted run left, and retire every stamp whose inputs
    changed in content (:func:`prepare`); make then reruns exactly those steps.
``locked [--no-prepare] -- CMD ...``
    Run CMD (make) under the tree's pipeline lock, after ``prepare``: a second run waits.
``deps NAME [CITY]``
    List the files a step depends on: its notebook, the package modules the notebook
    imports (transitively, found with ``ast``), the data files they read, the profile, the
    raw files or the boundary file.
``status``
    Print which steps ran, failed, are stale or are missing, per city.
``report [--langs "en fr"]``, ``city-report CITY ...``
    Build the figure manifest, the HTML report in each language, the PDFs, the briefs and
    the dashboard: :mod:`analysis.running.publish` (this module hands over to it, so that
    running a notebook never imports the report's stack).
``refresh-templates``
    Re-execute the templates in place with their default parameters, so their stored
    outputs (what nbval compares) reflect the current code and demo data.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from analysis.config import CROSS_CITY, CROSS_STEP, PATHS, STEPS, failure_path, is_hidden, list_cities
from analysis.files import atomic_path, write_text
from analysis.running import forkserver

TEMPLATES = (*STEPS, CROSS_STEP)
#: Longest a single notebook cell may run (seconds) before the run is failed, not left hanging.
CELL_TIMEOUT = 900


def stamp_path(city: str, name: str) -> Path:
    return PATHS.reports / ".stamps" / city / name


def failure_reason(city: str, name: str | None = None) -> str | None:
    """Why a city's step failed in the last run (any step when ``name`` is None), or None."""
    names = [name] if name else [*STEPS, CROSS_STEP]
    for n in names:
        path = failure_path(city, n)
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


# ------------------------------------------------------------------ pipeline state
# make decides what to run from the stamps' presence and their order in time; this module
# makes those stamps tell the truth. `prepare` (run under the lock before make looks at
# anything) removes temporary files left by an interrupted run and deletes every stamp
# whose recorded input digest no longer matches the inputs' content, so make reruns it
# (and, through the stamps' times, what depends on it). A failed step withdraws what it
# and its downstream steps had published. Dates never decide: a raw file replaced by an
# older copy changes the digest; a file touched without change does not.

#: Bump when the digest scheme changes, so every step reruns once.
STATE_VERSION = "2"
PACKAGE = "analysis"
REPORT = "report"
#: Downstream of each step within a city; the cross-city step and the report follow.
_DOWNSTREAM = {"01-clean": ("02-neighbourhoods", "03-impact"),
               "02-neighbourhoods": (), "03-impact": ()}
#: Temporary files of :func:`analysis.io.atomic_path` (``.<stem>.<8 random>.tmp<suffix>``).
_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[^./]+)?$")


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(PATHS.root).as_posix()  # the root is resolved
    except ValueError:
        return path.as_posix()


def relative(path: Path) -> str:
    """``path`` relative to the project root (POSIX), as stamps record it."""
    return _rel(path)


def package_dir() -> Path:
    """The package sources the project's steps depend on (``src/analysis`` of the project)."""
    local = PATHS.root / "src" / PACKAGE
    return local if local.is_dir() else Path(__file__).resolve().parent


def module_path(name: str) -> Path | None:
    """The file of a package module named within the package (``"inputs.profile"``,
    ``"config"``, ``"statistics"`` for a subpackage's ``__init__``), or None."""
    base = package_dir().joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _scan(source: str, module: str | None = None) -> tuple[set[str], set[str]]:
    """Package modules imported anywhere in ``source`` (function-level imports too), as
    names within the package (``"inputs.profile"``), and its short string literals — one
    walk over the syntax tree. The package imports itself absolutely (``from
    analysis.inputs import profile``, ``from analysis.io import write_text``); ``module`` is
    kept for callers and unused.
    """
    found: set[str] = set()
    literals: set[str] = set()

    def add(name: str) -> None:
        # "inputs.profile.load_profile" -> the longest prefix that is a module file; a
        # subpackage counts with its __init__ (and each parent package's too)
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            candidate = ".".join(parts[:i])
            if module_path(candidate) is not None:
                found.add(candidate)
                for j in range(1, i):
                    if module_path(".".join(parts[:j])) is not None:
                        found.add(".".join(parts[:j]))
                return

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and len(node.value) < 200:
                literals.add(node.value)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    add(".".join(parts[1:]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            parts = (node.module or "").split(".")
            if parts[0] != PACKAGE:
                continue
            prefix = ".".join(parts[1:])
            for alias in node.names:  # from analysis.inputs import profile / from analysis.io import x
                add(f"{prefix}.{alias.name}" if prefix else alias.name)
    return found, literals


def _imported_modules(source: str, module: str | None = None) -> set[str]:
    """Package modules imported anywhere in ``source`` (see :func:`_scan`)."""
    return _scan(source, module)[0]


def _notebook_source(path: Path) -> list[str]:
    """The code cells of a notebook, IPython magics and shell lines blanked."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        cells.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                               for line in src.splitlines()))
    return cells


_PARSED: dict[str, tuple[frozenset, frozenset]] = {}
#: What the last runs found in each module, by the SHA-256 of its content, kept beside the
#: stamps: every ``make`` and every notebook run works out the steps' dependencies, and
#: parsing the package's modules again each time cost more than half a second.
_SCAN_CACHE = ".module-scan.json"
_scan_state = {"loaded": None, "dirty": False}


def _scan_cache() -> dict:
    path = PATHS.reports / ".stamps" / _SCAN_CACHE
    if _scan_state["loaded"] != str(path):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                data = {}
        except (OSError, ValueError):
            data = {}
        _PARSED.update({sha: (frozenset(v[0]), frozenset(v[1])) for sha, v in data.get("modules", {}).items()})
        _scan_state.update(loaded=str(path), dirty=False)
    return _PARSED


def _save_scan_cache() -> None:
    """Keep what was parsed (atomically; a run that loses a race only parses again next time)."""
    if not _scan_state["dirty"] or not (PATHS.reports / ".stamps").is_dir():
        return
    with contextlib.suppress(OSError):
        write_text(PATHS.reports / ".stamps" / _SCAN_CACHE, json.dumps(
            {"version": STATE_VERSION,
             "modules": {sha: [sorted(v[0]), sorted(v[1])] for sha, v in list(_PARSED.items())[-400:]}}) + "\n")
    _scan_state["dirty"] = False


def _module_info(path: Path, module: str) -> tuple[frozenset, frozenset]:
    """(package modules imported, string literals) of one module; parsed once per content."""
    cache = _scan_cache()
    key = _file_sha(path)
    if key not in cache:
        found, literals = _scan(path.read_text(encoding="utf-8"), module)
        cache[key] = (frozenset(found), frozenset(literals))
        _scan_state["dirty"] = True
    return cache[key]


def module_closure(modules: Iterable[str]) -> list[str]:
    """``modules`` and every package module they import, transitively (sorted names).

    Static (``ast``): an import inside a function counts, a module named only at run time
    (``importlib``) does not. The package's ``__init__`` is always included.
    """
    todo, seen = list(modules), {"__init__"}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_path(name)
        if path is not None:
            todo.extend(_module_info(path, name)[0] - seen)
    _save_scan_cache()
    return sorted(seen)


def notebook_modules(name: str) -> list[str]:
    """Package modules a notebook template uses, transitively (see :func:`module_closure`).

    A template that calls a step function of :mod:`analysis.running.steps` depends on the
    modules that function uses (:func:`function_modules`), not on every step's: the maps
    changing must not rerun the cleaning of every city.
    """
    direct: set[str] = set()
    cells = _notebook_source(PATHS.notebooks / f"{name}.ipynb")
    for cell in cells:
        if PACKAGE not in cell:
            continue
        try:
            direct |= _imported_modules(cell)
        except SyntaxError:  # a cell that is not plain Python: fall back to a pattern
            for name in re.findall(rf"\b{PACKAGE}\.([\w.]+)", cell):
                parts = name.split(".")
                direct |= {".".join(parts[:i]) for i in range(len(parts), 0, -1)
                           if module_path(".".join(parts[:i])) is not None}
    if STEPS_MODULE in direct:
        called = set(re.findall(r"\bsteps\.(\w+)\s*\(", "\n".join(cells)))
        direct = (direct - {STEPS_MODULE}) | function_modules(STEPS_MODULE, called)
        return sorted(set(module_closure(direct)) | {STEPS_MODULE})
    return module_closure(direct)


#: The module of the step functions the templates call.
STEPS_MODULE = "running.steps"


def function_modules(module: str, names: Iterable[str]) -> set[str]:
    """Package modules the top-level functions ``names`` of ``module`` use (``ast``).

    The modules bound (by the module's imports) to the names their bodies and annotations
    mention, following the module's other top-level definitions they mention (helpers,
    result classes, constants). With no known name, every module the module imports.
    """
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
    bound: dict[str, set[str]] = {}
    defs: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                bound[alias.asname or alias.name] = _imported_modules(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = _imported_modules(f"import {alias.name}")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    defs[target.id] = node
    todo = [n for n in names if n in defs]
    if not todo:
        return set().union(*bound.values())
    found: set[str] = set()
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for sub in ast.walk(defs[name]):
            if isinstance(sub, ast.Name):
                found |= bound.get(sub.id, set())
                if sub.id in defs:
                    todo.append(sub.id)
    return found


def _data_candidates() -> list[tuple[Path, Path]]:
    """The files a module may read as data: the package's non-Python files, ``config/``
    but the city profiles; as (base folder, file). Hidden files and folders (a linter's
    ``.ruff_cache``, an editor's backups) are never data: they would rerun steps for nothing."""
    package = package_dir()
    candidates = [(package, p) for p in package.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and not is_hidden(p, package)]
    candidates += [(PATHS.config, p) for p in PATHS.config.rglob("*")
                   if p.is_file() and p.relative_to(PATHS.config).parts[0] != "cities"
                   and not is_hidden(p, PATHS.config)]
    return candidates


def _data_files_of(module: str, candidates: list[tuple[Path, Path]] | None = None) -> list[Path]:
    """Data files a module reads: those whose name, or whose folder's name, is a string
    literal in the module (``HERE / "templates"``, ``"benchmarks" / "ess-be5.yml"``).

    Looked for among the package's non-Python files and ``config/`` (except the city
    profiles, which are inputs of their own city's steps only): ``candidates``, default
    :func:`_data_candidates` (a caller asking for several modules lists them once).
    """
    path = module_path(module)
    if path is None:
        return []
    literals = set(_module_info(path, module)[1])
    for lit in list(literals):  # "config/benchmarks/ess-be5.yml" names its parts too
        literals.update(p for p in re.split(r"[\\/]", lit) if p)
    out = []
    for base, p in (candidates if candidates is not None else _data_candidates()):
        rel = p.relative_to(base).parts
        if p.name in literals or any(part in literals for part in rel[:-1]):
            out.append(p)
    return out


def data_files_of(module: str) -> list[Path]:
    """Data files a package module reads (see :func:`_data_files_of`)."""
    return _data_files_of(module)


#: Processed products (``data/processed/<city>/``) a step reads that ``01-clean`` writes once:
#: the survey weights (:func:`analysis.running.steps.clean`).
STEP_PRODUCTS: dict[str, tuple[str, ...]] = {"02-neighbourhoods": ("weights.parquet",),
                                             "03-impact": ("weights.parquet",)}


def narrative_files() -> list[Path]:
    """The committee's narratives (every language): inputs of the report step alone."""
    return [PATHS.reports / "narrative.md", *sorted(PATHS.reports.glob("narrative.*.md"))]


def step_inputs(city: str, name: str, *, code: dict[str, tuple[Path, ...]] | None = None) -> list[Path]:
    """The files whose content decides whether a step reruns.

    The notebook template, the package modules it uses (transitively) and the data files
    those modules read; for a city step its profile; for ``01-clean`` every file in
    ``data/raw/<city>/``; for ``02-neighbourhoods`` the city's boundary file(s) and the
    checksum manifest; for ``02`` and ``03`` the weights ``01-clean`` saved
    (:data:`STEP_PRODUCTS`). ``report`` takes the narratives, every city profile and the
    report's own modules.

    ``code``: a dict to keep each step's code inputs in (template, modules, their data files),
    the same for every city: :func:`prepare` works them out once per step, not once per city.
    """
    if code is not None and name in code:
        files = list(code[name])
    else:
        if name == REPORT:
            modules = module_closure(["running.publish", "publishing.manifest", "publishing.report",
                                      "publishing.brief", "publishing.dashboard", "publishing.disclosure"])
            # the report reads every city's profile itself (names, pilot texts), and a city whose
            # profile is gone must leave the report even while its old stamps remain
            files = [*narrative_files(), *sorted(PATHS.cities_config.glob("*.yml"))]
        else:
            modules = notebook_modules(name)
            files = [PATHS.notebooks / f"{name}.ipynb"]
        files += [path for path in map(module_path, modules) if path is not None]
        candidates = _data_candidates()
        for m in modules:
            files += _data_files_of(m, candidates)
        if code is not None:
            code[name] = tuple(files)
    if city not in (CROSS_CITY, REPORT):
        files.append(PATHS.profile(city))
        if name == "01-clean":
            raw = PATHS.raw_city(city)
            files += [p for p in raw.rglob("*") if p.is_file()] if raw.is_dir() else []
        if name == "02-neighbourhoods":
            files += [p for p in PATHS.boundaries.glob(f"{city}.*") if p.is_file()]
            files.append(PATHS.boundaries / "CHECKSUMS.sha256")
        # products of 01-clean the step reads (the survey weights), by content
        files += [PATHS.processed_city(city) / f for f in STEP_PRODUCTS.get(name, ())]
    return sorted(set(files), key=_rel)


_SHA_MEMO: dict[tuple, str] = {}


def _file_sha(path: Path) -> str:
    """SHA-256 of an input's content; of a notebook template, of its cells' code and text only.

    A template's stored outputs are nbval's reference values: refreshing them changes no
    step's behaviour, so it must not rerun every city (only a change of a cell does).
    """
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            h.update(json.dumps([[c.get("cell_type"), "".join(c.get("source", ""))] for c in cells],
                                ensure_ascii=False).encode("utf-8"))
        else:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def _previous_path(city: str, name: str) -> Path:
    """Where a stamp's record is kept while its step is stale or rerunning (make ignores it)."""
    return PATHS.reports / ".stamps" / city / f".{name}.previous"


def _retire_stamp(city: str, name: str) -> None:
    """Take the "ok" away (make reruns the step) but keep the record of what it published."""
    path = stamp_path(city, name)
    if path.is_file():
        os.replace(path, _previous_path(city, name))


def retire_stamp(city: str, name: str) -> None:
    """Take a step's "ok" away, keeping its record (see :func:`_retire_stamp`)."""
    _retire_stamp(city, name)


def read_stamp(city: str, name: str, *, previous: bool = False) -> dict | None:
    """A stamp's record, or None (see :func:`_read_stamp`)."""
    return _read_stamp(city, name, previous=previous)


def _read_stamp(city: str, name: str, *, previous: bool = False) -> dict | None:
    """A stamp's record (``{}`` for an old empty stamp), or None when there is none.

    With ``previous``, a retired record (:func:`_retire_stamp`) is read when there is no stamp.
    """
    path = stamp_path(city, name)
    if not path.is_file() and previous:
        path = _previous_path(city, name)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def input_digest(city: str, name: str, *,
                 code: dict[str, tuple[Path, ...]] | None = None,
                 leave_out: Collection[Path] = ()) -> tuple[str, dict[str, str]]:
    """SHA-256 over a step's inputs (:func:`step_inputs`): names and contents.

    For the cross-city step, the digests recorded by the cities' ``03-impact`` stamps are
    inputs too (a city dropping out reruns it); for the report, every stamp's digest and
    every failure reason. ``leave_out``: inputs not to count (the report step keeps what
    it builds from everything but the narratives under that digest).

    Returns
    -------
    (digest, files)
        The hex digest, and each input's project-relative name with its own SHA-256.
    """
    left_out = {_rel(Path(p)) for p in leave_out}
    files = {}
    for path in step_inputs(city, name, code=code):
        rel = _rel(path)
        if rel not in left_out and path.is_file():
            files[rel] = _file_sha(path)
    upstream: dict[str, str] = {}
    if name in (CROSS_STEP, REPORT):
        stamps = PATHS.reports / ".stamps"
        for p in sorted(stamps.glob("*/*")) if stamps.is_dir() else []:
            if p.name.startswith(".") or p.parent.name == REPORT:
                continue
            if name == CROSS_STEP and p.name != "03-impact":
                continue
            if p.name.endswith(".failed"):
                upstream[_rel(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.parent.name in (CROSS_CITY,) or p.name in STEPS:
                upstream[_rel(p)] = (_read_stamp(p.parent.name, p.name) or {}).get("inputs", "")
    h = hashlib.sha256(f"imppulse-step {STATE_VERSION} {city} {name}\n".encode())
    for rel, sha in sorted({**files, **{f"stamp:{k}": v for k, v in upstream.items()}}.items()):
        h.update(f"{rel}\0{sha}\n".encode())
    return h.hexdigest(), files


def _all_steps() -> list[tuple[str, str]]:

    return ([(c, s) for c in list_cities() for s in STEPS]
            + [(CROSS_CITY, CROSS_STEP), (REPORT, REPORT)])


def cleanup_temp_files() -> list[Path]:
    """Remove temporary files an interrupted run left in the outputs (under the lock only).

    These are :func:`analysis.io.atomic_path`'s ``.<stem>.<random>.tmp<suffix>`` files in
    ``reports/`` and ``data/processed/``.
    """
    removed = []
    for top in (PATHS.reports, PATHS.processed):
        if not top.is_dir():
            continue
        for p in top.rglob(".*"):
            if p.is_file() and _TEMP_RE.match(p.name):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def prepare(*, quiet: bool = False) -> dict[str, list[str]]:
    """Before make runs: clean up, then drop every stamp whose inputs changed in content.

    Returns
    -------
    dict
        ``{"removed_temp": [...], "stale": ["city/step", ...]}``.
    """
    removed = cleanup_temp_files()
    old_report_stamp = PATHS.reports / ".stamps" / REPORT
    if old_report_stamp.is_file():  # before STATE_VERSION 2 the report stamp was this file
        old_report_stamp.unlink()
    stale = []
    code: dict[str, tuple[Path, ...]] = {}  # each step's code inputs, once for all cities
    for city, name in _all_steps():
        record = _read_stamp(city, name)
        if record is None:
            continue
        digest, _ = input_digest(city, name, code=code)
        if record.get("inputs") != digest:
            _retire_stamp(city, name)
            stale.append(f"{city}/{name}")
    if not quiet:
        for p in removed:
            print(f"[tidy] removed {_rel(p)} (left by an interrupted run)", flush=True)
        for s in stale:
            print(f"[stale] {s}: inputs changed since it ran", flush=True)
    return {"removed_temp": [_rel(p) for p in removed], "stale": stale}


def _output_dirs(city: str) -> list[Path]:
    return [PATHS.processed / city, PATHS.tables / city, PATHS.figures / city]


def _snapshot(city: str) -> dict[str, tuple[int, int]]:
    out = {}
    for d in _output_dirs(city):
        if d.is_dir():
            for p in d.rglob("*"):
                if p.is_file() and not _TEMP_RE.match(p.name):
                    st = p.stat()
                    out[_rel(p)] = (st.st_mtime_ns, st.st_size)
    return out


def write_stamp(city: str, name: str, digest: str, outputs: list[str], *, parts: dict | None = None) -> None:
    """Record a successful step: its input digest and the files it published.

    ``parts``: what the step needs to know next time to skip a part whose inputs did not
    change (the report step's PDFs and dashboard, :mod:`analysis.running.publish`).
    """
    record = {"inputs": digest, "outputs": sorted(set(outputs)),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if parts:
        record["parts"] = parts
    write_text(stamp_path(city, name), json.dumps(record, indent=1, sort_keys=True) + "\n")
    _previous_path(city, name).unlink(missing_ok=True)


def _downstream(city: str, name: str) -> list[tuple[str, str]]:
    if name == REPORT:
        return []
    if name == CROSS_STEP:
        return [(REPORT, REPORT)]
    later = [(city, s) for s in _DOWNSTREAM.get(name, ())]
    if name in ("01-clean", "03-impact"):
        later.append((CROSS_CITY, CROSS_STEP))
    return later + [(REPORT, REPORT)]


#: Where withdrawn files go, project-relative: outside ``reports/`` (nothing published).
WITHDRAWN_DIR: str = "data/interim/withdrawn"


def withdrawn_dir() -> Path:
    """The folder withdrawn artefacts are moved to (``data/interim/withdrawn/``, git-ignored)."""
    return PATHS.root / WITHDRAWN_DIR


def withdraw(city: str, name: str, reason: str, written: Iterable[str] = ()) -> list[str]:
    """After ``name`` failed for ``city``: withdraw what it and its downstream steps published.

    Their stamps are deleted (so they rerun once the cause is fixed) and the files their
    last successful runs recorded (tables, figures, processed data) are moved to
    ``data/interim/withdrawn/`` (outside the published folder) with a note of the reason:
    nothing stale stays beside the other cities' results. A step whose own outputs were among those withdrawn loses its
    stamp too. ``written`` are the files the failed attempt itself wrote (half a step's
    outputs are no better than stale ones). An old stamp that recorded no outputs withdraws
    its city's whole output folders.

    Returns
    -------
    list of str
        The withdrawn files (project-relative).
    """
    todo, done, files = [(city, name), *_downstream(city, name)], set(), set(written)
    while todo:
        c, s = todo.pop(0)
        if (c, s) in done:
            continue
        done.add((c, s))
        record = _read_stamp(c, s, previous=True)
        stamp_path(c, s).unlink(missing_ok=True)
        _previous_path(c, s).unlink(missing_ok=True)
        if c == REPORT:
            continue
        if record is not None and "outputs" in record:
            files.update(record["outputs"])
        elif record is not None:
            for d in _output_dirs(c) if c != CROSS_CITY or s == CROSS_STEP else []:
                if d.is_dir():
                    files.update(_rel(p) for p in d.rglob("*") if p.is_file())
        # a step whose published files are withdrawn must rerun as well
        for c2, s2 in _all_steps():
            if (c2, s2) in done or c2 == REPORT:
                continue
            rec = _read_stamp(c2, s2)
            if rec and files & set(rec.get("outputs", [])):
                todo.append((c2, s2))
    moved = []
    # outside reports/: the published folder must hold nothing withdrawn (data/interim is git-ignored)
    dest_root = withdrawn_dir()
    for rel in sorted(files):
        src = PATHS.root / rel
        if not src.is_file():
            continue
        dest = dest_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        moved.append(rel)
    if moved:
        note = dest_root / city / "WITHDRAWN.txt"
        note.parent.mkdir(parents=True, exist_ok=True)
        with open(note, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name} failed: {reason}\n"
                     + "".join(f"  withdrawn: {m}\n" for m in moved))
    return moved


# ------------------------------------------------------------------------ the lock
LOCK_ENV = "IMPPULSE_PIPELINE_LOCK"


def lock_path() -> Path:
    return PATHS.reports / ".stamps" / ".lock"


@contextlib.contextmanager
def run_lock(*, wait: bool = True, quiet: bool = False):
    """One pipeline run at a time in a project tree (``flock`` on ``reports/.stamps/.lock``).

    The kernel releases the lock when the holder exits, however it exits, so an
    interrupted run never leaves a stale lock. Re-entrant through the environment: a make
    started under the lock (``IMPPULSE_PIPELINE_LOCK`` = this tree's lock file) does not
    wait for itself; a run in another tree takes that tree's lock.
    """
    import fcntl

    path = lock_path()
    if os.environ.get(LOCK_ENV) == str(path.resolve()):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            fh.seek(0)
            holder = fh.read().strip() or "?"
            if not quiet:
                print(f"[wait] another pipeline run (pid {holder}) holds {_rel(path)}; waiting for it",
                      file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        os.environ[LOCK_ENV] = str(path.resolve())
        try:
            yield
        finally:
            os.environ.pop(LOCK_ENV, None)
    finally:
        fh.close()  # releases the flock


def locked(cmd: list[str], *, do_prepare: bool = True) -> int:
    """Run ``cmd`` under :func:`run_lock`, after :func:`prepare`; its exit code."""
    with run_lock():
        if do_prepare:
            prepare()
        if not cmd:
            return 0
        # the steps make runs under the lock are forked from one warm process (forkserver)
        with forkserver.started(PATHS.root):
            return subprocess.call(cmd)  # inherits LOCK_ENV: make re-enters


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


def _failed(label: str, reason: str, stamp: Path, failed: Path, out: Path,
            city: str, name: str, before: dict) -> bool:
    write_text(failed, reason + "\n")
    stamp.unlink(missing_ok=True)
    # nothing stale stays published: this step's and its downstream steps' outputs go,
    # with whatever the failed attempt itself wrote
    written = [f for f, sig in _snapshot(city).items() if before.get(f) != sig]
    withdrawn = withdraw(city, name, reason, written)
    where = out.with_suffix(".failed.ipynb")
    hint = f"\n       see {where.relative_to(PATHS.root)}" if where.is_file() else ""
    if withdrawn:
        hint += f"\n       {len(withdrawn)} previously published file(s) withdrawn to {WITHDRAWN_DIR}/"
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
    # the digest of the inputs as they are when the run starts; the "ok" goes while it runs,
    # so an interrupted run leaves no stamp
    digest, _ = input_digest(city, name)
    previous = _read_stamp(city, name, previous=True)
    _retire_stamp(city, name)
    before = _snapshot(city)
    log = out.with_suffix(".log")
    # under a warm fork server (make under the lock) the kernel is forked from it, ready
    warm = {"kernel_manager_class": forkserver.kernel_manager_class()} if forkserver.active() else {}
    for attempt in (1, 2):
        try:
            with atomic_path(out) as tmp, _stderr_to(log):
                try:
                    pm.execute_notebook(
                        str(template), str(tmp), parameters=params, kernel_name="python3",
                        progress_bar=False, log_output=False, cwd=str(PATHS.notebooks),
                        report_mode=False, execution_timeout=CELL_TIMEOUT, start_timeout=120,
                        **warm,
                    )
                except PapermillExecutionError:
                    # keep the executed copy, with the traceback in it, for inspection
                    shutil.copyfile(tmp, out.with_suffix(".failed.ipynb"))
                    raise
            break
        except PapermillExecutionError as exc:
            reason = f"{name}, cell {exc.exec_count or exc.cell_index}: {exc.ename}: {exc.evalue}"
            return _failed(label, reason, stamp, failed, out, city, name, before)
        except (CellTimeoutError, DeadKernelError, TimeoutError, RuntimeError) as exc:
            # The kernel, not the notebook's code, went wrong (a lost message, a dead or
            # stuck kernel): run it once more before calling the city broken.
            reason = f"{name}: kernel problem: {type(exc).__name__}: {exc}"
            if attempt == 2:
                return _failed(label, reason, stamp, failed, out, city, name, before)
            print(f"[retry] {label} {reason}", file=sys.stderr, flush=True)
    failed.unlink(missing_ok=True)
    out.with_suffix(".failed.ipynb").unlink(missing_ok=True)
    after = _snapshot(city)
    # what it wrote, and what its previous run published and it left as it was (a figure
    # whose bytes did not change is not rewritten): a later failure withdraws both
    kept = [f for f in (previous or {}).get("outputs", []) if f in after]
    outputs = [f for f, sig in after.items() if before.get(f) != sig] + kept + [_rel(out)]
    write_stamp(city, name, digest, outputs)
    if not quiet:
        print(f"[ ok ] {label} {time.perf_counter() - t0:5.1f} s", flush=True)
    return True


def status() -> int:
    """Print a per-city table of steps: ok, FAILED (reason), stale (inputs changed, not yet
    rerun) or missing. Returns #failures."""

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
            elif _previous_path(city, step).is_file():
                cells.append(f"{step}: stale")
            else:
                cells.append(f"{step}: -")
        print(f"  {city:<14} " + "  ".join(cells))
        reason = failure_reason(city)
        if reason:
            print(f"  {'':<14} reason: {reason}")
    return failures


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
    parser = argparse.ArgumentParser(prog="python -m analysis.running.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="execute one template for one city")
    p_run.add_argument("name", choices=TEMPLATES)
    p_run.add_argument("city")
    sub.add_parser("status", help="which steps ran or failed")
    sub.add_parser("prepare", help="remove temporary files, retire stamps whose inputs changed")
    p_lock = sub.add_parser("locked", help="run a command under the pipeline lock, after prepare")
    p_lock.add_argument("--no-prepare", action="store_true")
    p_lock.add_argument("command", nargs=argparse.REMAINDER)
    p_dep = sub.add_parser("deps", help="list a step's inputs (what makes it rerun)")
    p_dep.add_argument("name", choices=(*TEMPLATES, REPORT))
    p_dep.add_argument("city", nargs="?", default=CROSS_CITY)
    p_rep = sub.add_parser("report", help="manifest, HTML reports and PDF")
    p_rep.add_argument("--langs", default="en fr")
    p_rep.add_argument("--jobs", type=int, default=0, help="languages built at once (default: the cores)")
    p_city = sub.add_parser("city-report", help="a city's own report, in its profile's languages")
    p_city.add_argument("cities", nargs="+")
    p_ref = sub.add_parser("refresh-templates", help="re-execute templates in place")
    p_ref.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        return 0 if run_notebook(args.name, args.city) else 1
    if args.cmd == "status":
        status()
        return 0
    if args.cmd == "prepare":
        with run_lock():
            prepare()
        return 0
    if args.cmd == "locked":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        return locked(cmd, do_prepare=not args.no_prepare)
    if args.cmd == "deps":
        for path in step_inputs(args.city, args.name):
            print(_rel(path))
        return 0
    if args.cmd in ("report", "city-report"):
        # the report's stack (pandas, WeasyPrint, the publishing modules) is imported by
        # analysis.running.publish alone: this process becomes it
        rest = (["--langs", args.langs] + (["--jobs", str(args.jobs)] if args.jobs else [])
                if args.cmd == "report" else args.cities)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "analysis.running.publish", args.cmd, *rest])
    if args.cmd == "refresh-templates":
        refresh_templates(args.names or None)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
