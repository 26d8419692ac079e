"""Keep personal data, keys and outputs made from real data out of git: an allow-list.

Owns the allow-list of what may be committed (no personal data, keys or real-data outputs).
Must not read survey contents beyond checksums and markers: it judges files, not rows.

Survey microdata are personal data. The guard does not look for known bad files: a file may
be committed only when a rule below allows it, and a refusal names the file and the rule.

Under ``data/`` (rule ``data``) exactly these may be committed:

* the synthetic demonstration files listed, with their SHA-256, in
  ``data/raw/DEMO_CHECKSUMS.sha256`` (written by ``make demo-data``), byte-identical;
* that list itself, whose every line must be ``<sha256>  data/raw/<city>/<file>``, and
  ``data/raw/DEMO_HISTORY.sha256`` (same format: demo files committed before the list
  existed, verified by regenerating them; read only by the history audit);
* ``data/raw/README.md``, a documentation file whose content is checked (rule
  ``documentation``: UTF-8 text, at most :data:`MAX_DOC_BYTES`, no run of
  :data:`MAX_TABLE_LINES` delimited lines that looks like a data table, no key);
* official boundary files under ``data/external/boundaries/`` listed with their SHA-256 in
  that folder's manifest :data:`BOUNDARY_MANIFEST` (same format as the demo list, names
  relative to the folder or to the project root), and that folder's documentation
  (``*.md``, ``LICENSE*``), checked as above;
* empty ``.gitkeep`` files.

Elsewhere a file must match one of :data:`ALLOWED` (source, tests, profiles, notebooks,
documentation, project files; rule ``allow-list``). Files renamed to ``.dat``, ``.gz``,
``.zip``, ``.bak``, ``.xlsm``, ``.bin``…, data files in ``tests/`` or ``config/``, images and
anything not listed are refused. Allowed files must be UTF-8 text (rule ``binary``), and
documentation and configuration files must not hold a data table (rule ``documentation``).

Refused everywhere:

* ``generated``: report outputs and built data (``reports/*.html``, ``reports/figures/``,
  ``reports/tables/``, ``data/processed/`` …), rebuilt by ``make report``;
* ``key-name``: files named like keys or secrets (``.imppulse-key``, ``.imppulse-key.bak``,
  ``*.key``, ``*.pem``, ``.env``, ``key.txt``, ``secrets.yml`` …);
* ``key-content``: text that looks like a key: a private-key block, ``IMPPULSE_KEY=<value>``
  or ``secret: <value>`` with a literal value, a line that is nothing but a long hex or
  base64 token, or a file that is one token of at least 16 characters;
* ``notebook``: a notebook with stored outputs not made from the demo data. Its outputs
  must carry the synthetic-data marker (:data:`analysis.io.SYNTHETIC_NOTE`), it must have
  parameters (papermill metadata, or the cell tagged ``parameters``) and they may name only
  cities whose profile is ``synthetic: true``, and its outputs may not name a city whose profile is not
  synthetic nor carry a real-data status. This covers the cross-city notebook, which
  reads every city with results.

Modes (``python -m analysis.inputs.privacy_guard``):

* default (``make test``): the tracked files as they are in the working tree, and the staged
  versions. Files that are untracked *and ignored* (a user's city under ``data/raw/<city>/``)
  are fine; untracked files that git does not ignore are reported as warnings (``git add
  -A`` would take them) but do not fail;
* ``--staged`` (pre-commit hook, ``make hooks``): the staged versions (git's index), with
  the demo list and profiles as staged;
* ``--history`` (``make audit-history``): every commit reachable from any ref, each tree
  judged with its own demo list and profiles; lists ``path@commit``.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from analysis.config import PATHS
from analysis.inputs.profile import load_profile
from analysis.demo.synthetic import CITY_SETTINGS
from analysis.io import write_text

CHECKSUMS = "data/raw/DEMO_CHECKSUMS.sha256"
#: Digests of demo files committed before the demo list existed, each verified by regenerating
#: it with its commit's generator; read by the history audit only.
HISTORY_CHECKSUMS = "data/raw/DEMO_HISTORY.sha256"
DEMO_README = "data/raw/README.md"
BOUNDARIES = "data/external/boundaries/"
#: Manifest of the official boundary files that may be committed (sha256sum format).
BOUNDARY_MANIFEST = BOUNDARIES + "CHECKSUMS.sha256"

#: Built or generated: never committed (rebuilt by ``make report`` or ``make demo-data``).
GENERATED = (
    "data/processed/*", "data/interim/*", "reports/notebooks/*", "reports/figures/*",
    "reports/tables/*", "reports/.stamps/*", "reports/*.html", "reports/*.pdf", "reports/*.csv",
    "reports/*.png", "reports/*.svg", "reports/*.json", "benchmarks/results/*",
)

#: Files that may be committed outside ``data/`` (fnmatch patterns on the path; ``*`` also
#: crosses ``/``). Anything else is refused: add a pattern here for a new kind of source or
#: documentation file, never for data.
ALLOWED = (
    # project files
    "Makefile", "README.md", "LICENSE", "LICENSE.md", "LICENSE.txt", "CITATION.cff",
    "CHANGELOG.md", "CONTRIBUTING.md", "pyproject.toml", "requirements.lock",
    "requirements*.txt", "environment.yml", ".gitignore", ".gitattributes", ".editorconfig",
    ".pre-commit-config.yaml", ".ci/*", ".github/*.yml", ".github/*.yaml", ".github/*.md",
    # package
    "src/*.py", "src/*/py.typed", "src/analysis/publishing/templates/*.j2", "src/analysis/publishing/templates/*.css",
    "src/analysis/publishing/locale/*.yml", "src/analysis/publishing/locale/*.yaml",
    # the fielding data of the questionnaire (wording and answer labels in the partners' languages)
    "src/analysis/inputs/fielding.yml",
    # tests, benchmarks, tools: code only (test data are written by the tests)
    "tests/*.py", "tests/*.cfg", "tests/*.md", "benchmarks/*.py", "benchmarks/*.md",
    "tools/*.py", "tools/*.sh", "tools/*.md",
    # profiles and other configuration: YAML and documentation only
    "config/*.yml", "config/*.yaml", "config/*.md",
    # notebooks (outputs checked) and report texts
    "notebooks/*.ipynb", "notebooks/*.md", "reports/*.md",
    "docs/*.md", "docs/*.rst", "docs/*.bib",
)
#: Suffixes whose content is prose or configuration: checked for data tables.
DOC_SUFFIXES = {".md", ".rst", ".txt", ".cfg", ".bib", ".cff", ""}
MAX_DOC_BYTES = 64_000
#: This many consecutive lines with the same number (>= 2) of one delimiter look like a table.
MAX_TABLE_LINES = 25

_KEY_NAME = re.compile(
    r"(?i)^(\.imppulse-key.*|.*\.(key|pem|p12|pfx|keystore|jks)(\..*)?|\.env(\..*)?|id_(rsa|dsa|ecdsa|ed25519).*"
    r"|(.*[._-])?(keys?|secrets?|passwords?|passwd|credentials?|tokens?)([._-].*)?)$")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_ASSIGNED = re.compile(
    r"(?i)(imppulse[_-]?key|secret(?:[_-]?key)?|passw(?:or)?d|api[_-]?key|private[_-]?key|access[_-]?key"
    r"|auth[_-]?token)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9+/_\-]{16,}={0,2})[\"']?\s*,?\s*$")
# Keys are 16 to a few hundred characters; longer tokens are embedded images or blobs.
_HEX = re.compile(r"[0-9a-fA-F]{32,512}")
_B64 = re.compile(r"[A-Za-z0-9+/_\-]{32,512}={0,2}")
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{16,512}={0,2}")
_CHECKSUM_LINE = re.compile(r"[0-9a-f]{64} [ *]\S.*")
SYNTHETIC_MARKERS = ("SYNTHETIC",)
REAL_MARKERS = ("real data (confidential)", "données réelles")


@dataclass(frozen=True)
class Problem:
    """One refused file: its path, the rule that refused it and what to do."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


@dataclass
class Snapshot:
    """A set of files and a way to read them: the working tree, git's index or a commit."""

    paths: list[str]
    read: Callable[[str], bytes | None]

    def text(self, path: str) -> str | None:
        data = self.read(path)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None


# ------------------------------------------------------------------------ context
def _parse_checksums(text: str | None) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.strip() and not line.startswith("#") and _CHECKSUM_LINE.fullmatch(line.strip()):
            digest, name = line.strip().split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def _demo_checksums(root: Path) -> dict[str, str]:
    """``{path relative to the root: sha256}`` of the demo files listed in :data:`CHECKSUMS`."""
    path = root / CHECKSUMS
    return _parse_checksums(path.read_text(encoding="utf-8") if path.is_file() else None)


def demo_digests(root: Path | None = None) -> set[str]:
    """The SHA-256 digests of every synthetic demonstration file (empty if the list is missing)."""
    return set(_demo_checksums(root or PATHS.root).values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class _Context:
    demo: dict[str, str]
    boundaries: dict[str, str]
    synthetic: set[str]
    real: dict[str, set[str]]  # non-synthetic city slug -> its names
    #: history audit: digests listed in any commit's demo list (a demo file committed before
    #: the list existed, or in a commit whose list lagged behind, is still demo content)
    history_demo: frozenset = frozenset()


def _context(snap: Snapshot) -> _Context:
    demo = _parse_checksums(snap.text(CHECKSUMS))
    boundaries = {}
    for name, digest in _parse_checksums(snap.text(BOUNDARY_MANIFEST)).items():
        boundaries[name if name.startswith(BOUNDARIES) else BOUNDARIES + name] = digest
    synthetic, real = set(), {}
    for path in snap.paths:
        if fnmatch.fnmatch(path, "config/cities/*.yml") and "/" not in path[len("config/cities/"):]:
            city = PurePosixPath(path).stem
            try:  # the C loader: the pure-Python one takes ~0.15 s per profile
                prof = yaml.load(snap.text(path) or "", Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
            except yaml.YAMLError:
                prof = {}
            if not isinstance(prof, dict):
                prof = {}
            if prof.get("synthetic") is True:
                synthetic.add(city)
            else:
                real[city] = {str(n) for n in (city, prof.get("city"), prof.get("name"), prof.get("name_fr")) if n}
    return _Context(demo, boundaries, synthetic, real)


# ------------------------------------------------------------------------ content rules
def _key_in_text(text: str) -> str | None:
    stripped = text.strip()
    if _PEM.search(text):
        return "holds a private-key block"
    if stripped and "\n" not in stripped and _TOKEN.fullmatch(stripped):
        return "is a single token of %d characters, which looks like a key" % len(stripped)
    for n, line in enumerate(text.splitlines(), 1):
        m = _ASSIGNED.search(line)
        if m and not m.group(2).startswith("$"):
            return f"line {n} assigns a literal value to {m.group(1)!r}, which looks like a key"
        s = line.strip().strip("\"',").strip()
        # the line itself, or the value of `NAME=value` / `export NAME=value`
        m = re.fullmatch(r"(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*[\"']?(.+?)[\"']?", s)
        for tok in (s, m.group(1) if m else ""):
            if _HEX.fullmatch(tok) or (_B64.fullmatch(tok) and re.search(r"\d", tok) and re.search(r"[A-Z]", tok)
                                       and re.search(r"[a-z]", tok)):
                return f"line {n} is a {len(tok)}-character hex or base64 token, which looks like a key"
    return None


def _table_run(text: str) -> int:
    """Longest run of consecutive lines with the same count (>= 2) of one delimiter."""
    best = 0
    lines = text.splitlines()
    for delim in (",", ";", "\t", "|"):
        run, prev = 0, None
        for line in lines:
            c = line.count(delim)
            run = run + 1 if c >= 2 and c == prev else (1 if c >= 2 else 0)
            prev = c if c >= 2 else None
            best = max(best, run)
    return best


def _doc_problem(data: bytes) -> str | None:
    if b"\x00" in data:
        return "is binary, not a text document"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    if len(data) > MAX_DOC_BYTES:
        return f"is {len(data)} bytes long, more than a documentation file may be ({MAX_DOC_BYTES})"
    run = _table_run(text)
    if run >= MAX_TABLE_LINES:
        return f"holds {run} consecutive delimited lines: it looks like a data table, not documentation"
    return None


def _notebook_parameters(nb: dict) -> dict | None:
    """Papermill's parameters, else the literals of the cell tagged ``parameters`` (None: neither)."""
    params = dict(nb.get("metadata", {}).get("papermill", {}).get("parameters") or {})
    if params:
        return params
    found = False
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and ({"parameters", "injected-parameters"} & set(tags)):
            found = True
            src = "".join(cell.get("source", ""))
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        params[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
    return params if found else None


def _notebook_problem(data: bytes, ctx: _Context) -> str | None:
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unreadable notebook ({type(exc).__name__})"
    outputs = [o for c in nb.get("cells", []) if c.get("cell_type") == "code" for o in c.get("outputs", [])]
    if not outputs:
        return None
    text = _outputs_text(outputs)
    if not any(m in text for m in SYNTHETIC_MARKERS):
        return ("has outputs but no synthetic-data marker: committed outputs must come from the demo "
                "data only (clear the outputs, or run it on a demo city)")
    params = _notebook_parameters(nb)
    if params is None:
        return ("has outputs but no parameters (papermill metadata or a cell tagged `parameters`), "
                "so nothing tells which city's data made them: clear the outputs before committing")
    cities = []
    for key in ("city", "cities"):
        v = params.get(key)
        cities += [v] if isinstance(v, str) else [str(c) for c in v] if isinstance(v, (list, tuple)) else []
    for city in cities:
        if city not in ctx.synthetic:
            return (f"its parameters name city {city!r}, whose profile is not `synthetic: true`: "
                    "clear the outputs before committing")
    low = text.lower()
    for m in REAL_MARKERS:
        if m.lower() in low:
            return f"its outputs carry the real-data status {m!r}: clear the outputs before committing"
    for city, names in sorted(ctx.real.items()):
        for name in sorted(names):
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, flags=re.IGNORECASE):
                return (f"its outputs name {name!r}, and the profile of {city!r} is not `synthetic: true` "
                        "(results from real data): clear the outputs before committing")
    return None


def _outputs_text(outputs: list[dict]) -> str:
    """The text a reader sees in notebook outputs: streams, errors and text/* (HTML, plain, …)."""
    parts = []
    for o in outputs:
        if "text" in o:
            parts.append("".join(o["text"]) if isinstance(o["text"], list) else str(o["text"]))
        if o.get("output_type") == "error":
            parts += [str(o.get("evalue", ""))] + [str(t) for t in o.get("traceback", [])]
        for mime, v in (o.get("data") or {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                parts.append("".join(v) if isinstance(v, list) else v if isinstance(v, str) else json.dumps(v))
    return "\n".join(parts)


def _notebook_text(data: bytes) -> str:
    """Sources and outputs of a notebook as plain lines (for the key check)."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    parts = []
    for cell in nb.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for o in cell.get("outputs", []):
            if "text" in o:
                parts.append("".join(o["text"]))
            for mime, v in (o.get("data") or {}).items():
                if mime.startswith("text/") and isinstance(v, (str, list)):  # not base64 images
                    parts.append("".join(v) if isinstance(v, list) else v)
    return "\n".join(p for p in parts if len(p) < 2_000_000)


# ------------------------------------------------------------------------ the rules
def _match(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _judge(path: str, data: bytes, ctx: _Context) -> Problem | None:
    base = PurePosixPath(path).name
    suffix = PurePosixPath(path).suffix.lower()
    if base == ".gitkeep":
        return None if not data.strip() else Problem(path, "allow-list", ".gitkeep must be empty")
    # code and prose may be about keys (key-figures.html.j2, pseudonymisation-key.md); their
    # content is still checked for keys below
    if _KEY_NAME.match(base) and suffix not in {".py", ".ipynb", ".md", ".rst", ".j2", ".css"}:
        return Problem(path, "key-name", "named like a key or secret file; keys stay outside the repository "
                                         "(IMPPULSE_KEY or a git-ignored .imppulse-key)")
    if _match(path, GENERATED):
        return Problem(path, "generated", "generated output or built data; rebuilt by `make report` "
                                          "(or the pipeline), never committed")
    text = None if b"\x00" in data else _decode(data)
    if text is not None:
        why = _key_in_text(_notebook_text(data) if suffix == ".ipynb" else text)
        if why:
            return Problem(path, "key-content", f"{why}; keys stay outside the repository")
    if path.startswith("data/"):
        return _judge_data(path, data, ctx)
    if not _match(path, ALLOWED):
        return Problem(path, "allow-list", f"not on the privacy guard's allow-list (a {suffix or 'suffix-less'} "
                                           "file here); data belong in git-ignored data/raw/<city>/; if this is "
                                           "source or documentation, add a pattern to privacy_guard.ALLOWED")
    if text is None:
        return Problem(path, "binary", "allowed folder and suffix, but not UTF-8 text: a renamed data file?")
    if suffix == ".ipynb":
        why = _notebook_problem(data, ctx)
        return Problem(path, "notebook", why) if why else None
    if suffix in DOC_SUFFIXES and not path.startswith(".ci/"):
        why = _doc_problem(data)
        if why:
            return Problem(path, "documentation", why)
    return None


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _judge_data(path: str, data: bytes, ctx: _Context) -> Problem | None:
    digest = hashlib.sha256(data).hexdigest()
    if path in (CHECKSUMS, HISTORY_CHECKSUMS, BOUNDARY_MANIFEST):
        # a list may hold checksum lines and comments only, each naming a file of its own folder
        prefix = "data/raw/" if path != BOUNDARY_MANIFEST else ""
        bad = [n for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1)
               if line.strip() and not line.startswith("#")
               and not (_CHECKSUM_LINE.fullmatch(line.strip()) and ".." not in line
                        and line.split(maxsplit=1)[1].lstrip("*").startswith(prefix))]
        return Problem(path, "data", f"line {bad[0]} is not `<sha256>  <path>` for a file of its "
                                     "folder") if bad else None
    if path.startswith("data/raw/"):
        if path == DEMO_README:
            why = _doc_problem(data)
            return Problem(path, "documentation", why) if why else None
        if ctx.demo.get(path) == digest or digest in ctx.history_demo:
            return None
        reason = ("changed since it was generated" if path in ctx.demo
                  else f"not listed in {CHECKSUMS}" if ctx.demo
                  else f"no {CHECKSUMS} in this commit and not listed in any later one")
        return Problem(path, "data", f"not a synthetic demonstration file ({reason}); real data stay in "
                                     "git-ignored data/raw/<city>/ and are never committed")
    if path.startswith(BOUNDARIES):
        rest = path[len(BOUNDARIES):]
        if "/" not in rest and (rest.lower().endswith(".md") or rest.upper().startswith("LICENSE")):
            why = _doc_problem(data)
            return Problem(path, "documentation", why) if why else None
        if ctx.boundaries.get(path) == digest:
            return None
        reason = "changed since it was listed" if path in ctx.boundaries else f"not listed in {BOUNDARY_MANIFEST}"
        return Problem(path, "data", f"not an official boundary file ({reason})")
    return Problem(path, "data", "only the synthetic demo files (by checksum), official boundary files "
                                 "(by checksum) and their documentation may be committed under data/")


def check_snapshot(snap: Snapshot, paths: Iterable[str] | None = None) -> list[Problem]:
    """Judge ``paths`` (default: every path) of a snapshot; one :class:`Problem` per refused file."""
    ctx = _context(snap)
    problems = []
    for path in (snap.paths if paths is None else paths):
        data = snap.read(path)
        if data is None:
            continue
        problem = _judge(path, data, ctx)
        if problem:
            problems.append(problem)
    return problems


def check(files: list[str], root: Path | None = None) -> list[str]:
    """Judge working-tree files (paths relative to ``root``); one message per refused file."""
    root = root or PATHS.root
    snap = worktree_snapshot(root, files)
    return [str(p) for p in check_snapshot(snap, files)]


# ------------------------------------------------------------------------ snapshots
def _git(root: Path, *args: str, text: bool = True) -> str | bytes:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=text).stdout


def _read_file(root: Path) -> Callable[[str], bytes | None]:
    def read(path: str) -> bytes | None:
        p = root / path
        return p.read_bytes() if p.is_file() else None
    return read


def worktree_snapshot(root: Path, files: Iterable[str]) -> Snapshot:
    """The working tree: ``files`` plus the demo list, the boundary manifest and the profiles."""
    extra = [CHECKSUMS, BOUNDARY_MANIFEST] + [p.relative_to(root).as_posix()
                                              for p in (root / "config" / "cities").glob("*.yml")]
    return Snapshot(sorted(set(files) | {e for e in extra if (root / e).is_file()}), _read_file(root))


class _Blobs:
    """Read git blobs through one ``git cat-file --batch`` process."""

    def __init__(self, root: Path):
        self.proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=root, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def __call__(self, spec: str) -> bytes | None:
        self.proc.stdin.write(spec.encode("utf-8") + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
        return data

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _ls(root: Path, *args: str) -> list[str]:
    return [p for p in _git(root, *args, "-z").split("\0") if p]


def _index_snapshot(root: Path, blobs: _Blobs) -> Snapshot:
    return Snapshot(_ls(root, "ls-files", "--cached"), lambda p: blobs(f":{p}"))


def check_worktree(root: Path | None = None) -> tuple[list[Problem], list[Problem], int]:
    """Tracked files (working tree and staged versions) and untracked, not ignored files.

    Returns
    -------
    (refused, warnings, n_checked)
        ``refused``: tracked or staged files that break a rule; ``warnings``: untracked files
        that git does not ignore and that break a rule (``git add -A`` would take them).
        Untracked ignored files (a user's raw data) are not looked at.
    """
    root = root or PATHS.root
    tracked = _ls(root, "ls-files", "--cached")
    has_head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root,
                              capture_output=True).returncode == 0
    changed = set(_ls(root, "diff", "--name-only", "HEAD")) if has_head else set(tracked)
    blobs = _Blobs(root)
    try:
        # A tracked file identical to its committed version is judged as committed, with the
        # committed profiles: a user who switches a profile to `synthetic: false` for her
        # real data must not see the shipped demo notebooks refused (they were made before).
        # A changed file is judged with the working tree's profiles and demo list.
        same = [p for p in tracked if p not in changed]
        head = Snapshot(_ls(root, "ls-tree", "-r", "--name-only", "HEAD") if has_head else [],
                        lambda p: blobs(f"HEAD:{p}"))
        refused = check_snapshot(head, same) if same else []
        refused += check_snapshot(worktree_snapshot(root, tracked), [p for p in tracked if p in changed])
        staged = _ls(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR")
        if staged:
            seen = {(p.path, p.rule) for p in refused}
            for p in check_snapshot(_index_snapshot(root, blobs), staged):
                if (p.path, p.rule) not in seen:
                    refused.append(Problem(p.path, p.rule, p.message + " (staged version)"))
    finally:
        blobs.close()
    untracked = _ls(root, "ls-files", "--others", "--exclude-standard")
    warnings = check_snapshot(worktree_snapshot(root, tracked + untracked), untracked)
    return refused, warnings, len(tracked)


def check_staged(root: Path | None = None) -> tuple[list[Problem], int]:
    """The staged versions of added or changed files, judged with the staged demo list and profiles."""
    root = root or PATHS.root
    staged = _ls(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR")
    blobs = _Blobs(root)
    try:
        return check_snapshot(_index_snapshot(root, blobs), staged), len(staged)
    finally:
        blobs.close()


def audit_history(root: Path | None = None) -> tuple[list[tuple[Problem, str, int]], int]:
    """Judge every file of every commit reachable from any ref.

    Each commit's tree is judged with that commit's own demo list and profiles; a raw file
    whose digest is listed in the demo list of any commit, or in :data:`HISTORY_CHECKSUMS`
    (demo files committed before the list existed, verified by regeneration), also passes. A file version (path and blob) judged under the
    same context is judged once.

    Returns
    -------
    (findings, n_commits)
        ``findings``: ``(problem, first commit, number of commits holding it)``, oldest first.
    """
    root = root or PATHS.root
    commits = [c for c in _git(root, "rev-list", "--all", "--reverse", "--topo-order").split() if c]
    blobs = _Blobs(root)
    verdicts: dict[tuple, Problem | None] = {}
    contexts: dict[tuple, _Context] = {}
    found: dict[tuple[str, str], list] = {}
    try:
        listed = frozenset(
            line.split()[0] for name in (CHECKSUMS, HISTORY_CHECKSUMS)
            for c in _git(root, "log", "--all", "--format=%H", "--", name).split()
            for line in (_decode(blobs(f"{c}:{name}") or b"") or "").splitlines()
            if _CHECKSUM_LINE.fullmatch(line.strip()))
        for commit in commits:
            entries = {}
            for rec in _git(root, "ls-tree", "-r", "-z", commit).split("\0"):
                if rec:
                    meta, path = rec.split("\t", 1)
                    mode, kind, sha = meta.split()
                    if kind == "blob":
                        entries[path] = sha
            snap = Snapshot(sorted(entries), lambda p, e=entries: blobs(e[p]) if p in e else None)
            ctx_key = tuple(sorted((p, s) for p, s in entries.items()
                                   if p in (CHECKSUMS, BOUNDARY_MANIFEST) or p.startswith("config/cities/")))
            for path, sha in entries.items():
                key = (path, sha, ctx_key)
                if key not in verdicts:
                    if ctx_key not in contexts:
                        contexts[ctx_key] = _context(snap)
                        contexts[ctx_key].history_demo = listed
                    ctx = contexts[ctx_key]
                    data = blobs(sha)
                    verdicts[key] = _judge(path, data, ctx) if data is not None else None
                problem = verdicts[key]
                if problem:
                    hit = found.setdefault((path, sha), [problem, commit, 0])
                    hit[2] += 1
    finally:
        blobs.close()
    return [tuple(v) for v in found.values()], len(commits)


# ------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.inputs.privacy_guard",
                                     description="Refuse personal data, keys and real-data outputs in git "
                                                 "(an allow-list).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--staged", action="store_true", help="check the files staged for commit (pre-commit hook)")
    mode.add_argument("--history", action="store_true", help="check every commit of the history")
    parser.add_argument("files", nargs="*", help="check these working-tree paths (relative to the root)")
    args = parser.parse_args(argv)
    root = PATHS.root
    warnings: list[Problem] = []
    try:
        if args.history:
            findings, n = audit_history(root)
            if findings:
                print(f"privacy guard: {len(findings)} refused file version(s) in the history "
                      f"({n} commits)", file=sys.stderr)
                for problem, commit, count in findings:
                    more = f" (and {count - 1} later commit(s))" if count > 1 else ""
                    print(f"  {problem.path}@{commit[:12]}{more}: [{problem.rule}] {problem.message}",
                          file=sys.stderr)
                print("Removing them needs a history rewrite (git filter-repo) and a forced push; "
                      "a leaked key must be replaced.", file=sys.stderr)
                return 1
            print(f"privacy guard: {n} commit(s) checked, nothing refused")
            return 0
        if args.files:
            problems = check_snapshot(worktree_snapshot(root, args.files), args.files)
            n = len(args.files)
        elif args.staged:
            problems, n = check_staged(root)
        else:
            problems, warnings, n = check_worktree(root)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"privacy guard: git is not available here ({type(exc).__name__}); nothing can be "
              "committed, nothing checked", file=sys.stderr)
        return 0
    for w in warnings:
        print(f"privacy guard: warning: untracked, not ignored: {w}", file=sys.stderr)
    if problems:
        print("privacy guard: refused", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print("Real survey microdata, keys and outputs made from real data stay out of git "
              "(see README, 'Data availability').", file=sys.stderr)
        return 1
    print(f"privacy guard: {n} file(s) checked, nothing refused")
    return 0


def demo_files_expected(root: Path | None = None) -> list[str]:
    """The files the generator writes: each demo city's declared raw files and its README.

    Demo cities are those the generator knows (:data:`analysis.demo.synthetic.CITY_SETTINGS`) whose
    profile is ``synthetic: true``. A user's own city, or her extra files in a demo folder,
    are never listed.
    """

    root = root or PATHS.root
    out = set()
    for city in CITY_SETTINGS:
        if not (root / "config" / "cities" / f"{city}.yml").is_file():
            continue
        profile = load_profile(city)
        if not profile.synthetic:
            continue
        for name in ("residents", "officers", "activities"):
            spec = profile.dataset(name)
            for f in (spec.files if spec else []):
                out.add(f"data/raw/{city}/{f.path}")
        out.add(f"data/raw/{city}/SYNTHETIC_README.txt")
    return sorted(out)


def write_demo_checksums(root: Path | None = None) -> Path:
    """List the SHA-256 of the demo files (run after regenerating them: ``make demo-data``).

    Only the files the generator writes are listed (:func:`demo_files_expected`), never
    whatever else sits under ``data/raw``: a user's real files must not become "demo" files.
    """
    root = root or PATHS.root
    lines = ["# SHA-256 of the synthetic demonstration files (written by `make demo-data`).",
             "# The privacy guard refuses any other raw data file; `synthetic: true` is refused",
             "# for a city whose raw files are not listed here."]
    for rel in demo_files_expected(root):
        if (root / rel).is_file():
            lines.append(f"{_sha256(root / rel)}  {rel}")
    out = root / CHECKSUMS

    write_text(out, "\n".join(lines) + "\n")
    listed = [ln.split(maxsplit=1)[1] for ln in lines if not ln.startswith("#")]
    try:  # data/raw is git-ignored except the demo files: a new demo file needs its line there
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=root, input="\n".join(listed),
                                 capture_output=True, text=True).stdout.split()
    except OSError:
        ignored = []
    if ignored:
        print("warning: these demo files are git-ignored; add these lines to .gitignore:\n"
              + "\n".join(f"!{p}" for p in ignored), file=sys.stderr)
    return out


if __name__ == "__main__":
    sys.exit(main())
