"""The privacy guard is an allow-list: real microdata, built outputs, keys and notebooks run on
real data stay out of git, and a user's own data under data/raw/<city>/ neither reach git nor
break the tests."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.inputs import privacy_guard
from analysis.config import PATHS

ROOT = PATHS.root
#: the git-based tests need git and a checkout (not a source archive)
needs_git = pytest.mark.skipif(
    shutil.which("git") is None or subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT,
                                                  capture_output=True).returncode != 0,
    reason="git or a git checkout is not available")


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, check=check, capture_output=True, text=True)


# ---------------------------------------------------------------- the project's own tree
@needs_git
def test_tracked_files_pass():
    refused, _warnings, n = privacy_guard.check_worktree(ROOT)
    assert n > 50
    assert [str(p) for p in refused] == []


def test_checksum_list_covers_exactly_the_demo_files():
    """The list names exactly the files the generator writes, whatever else sits in data/raw."""
    sums = privacy_guard._demo_checksums(ROOT)
    assert set(sums) == set(privacy_guard.demo_files_expected(ROOT))
    for name, digest in sums.items():
        assert privacy_guard._sha256(ROOT / name) == digest, f"{name} changed since it was generated"


@needs_git
def test_gitignore_keeps_the_demo_files_and_ignores_everything_else_in_data_raw():
    demo = sorted(privacy_guard._demo_checksums(ROOT)) + [privacy_guard.CHECKSUMS, privacy_guard.DEMO_README]
    out = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT,
                         input="\n".join(demo), capture_output=True, text=True)
    assert out.stdout.split() == [], "demo files must not be ignored"
    others = ["data/raw/newcity/survey.csv", "data/raw/newcity/README.md", "data/raw/nantes/real_2016.sav",
              "data/raw/nantes/enquete_policiers.csv.bak", "data/raw/notes.txt",
              "reports/report.html", "reports/figures/nantes/map.png", "reports/tables/nantes/impact.csv",
              ".imppulse-key", ".imppulse-key.bak", "config/city.key", ".env"]
    out = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT,
                         input="\n".join(others), capture_output=True, text=True)
    assert sorted(out.stdout.split()) == sorted(others)


# ---------------------------------------------------------------- each bypass of the audit
def _hex_key() -> str:
    return secrets.token_hex(32)


def _b64_key() -> str:
    while True:  # a mixed-case base64 key with a digit (almost always the first draw)
        k = base64.b64encode(secrets.token_bytes(32)).decode()
        if any(c.isdigit() for c in k) and k.lower() != k and k.upper() != k:
            return k


CSV = b"id;age;quartier;confiance\n" + b"".join(b"%d;%d;10%d;%d\n" % (i, 20 + i, i % 4, i % 11)
                                                for i in range(40))
# (path, content, rule): every way the audit got real data or a key past the old guard
BYPASSES = [
    ("data/raw/README.md", CSV, "documentation"),                      # a real file named README.md
    ("data/raw/nantes/README.md", b"# notes\n", "data"),               # only data/raw/README.md is docs
    ("tests/fixtures/small.csv", CSV, "allow-list"),                   # CSVs under 200 KB in tests/
    ("config/cities/notes.txt", b"Quartier Nord: 12 repondants\n", "allow-list"),  # text under config/
    ("config/margins.csv", CSV, "allow-list"),
    ("data/raw/nantes/export.dat", CSV, "data"),                       # renamed data files
    ("notes/export.gz", b"\x1f\x8b\x08\x00rest", "allow-list"),
    ("tests/data.zip", b"PK\x03\x04rest", "allow-list"),
    ("config/enquete.bak", CSV, "allow-list"),
    ("data/raw/nantes/enquete_policiers.csv.bak", CSV, "data"),
    ("analysis/survey.xlsm", b"PK\x03\x04rest", "allow-list"),
    ("src/analysis/blob.bin", b"\x00\x01", "allow-list"),
    ("docs/renamed.md", b"PK\x03\x04\x00\x00binary", "binary"),        # a data file renamed to .md
    ("reports/report.html", b"<html>Nantes</html>", "generated"),      # report outputs
    ("reports/figures/nantes/trust_map.png", b"\x89PNG\r\n", "generated"),
    ("reports/tables/nantes/impact.csv", b"a,b\n1,2\n", "generated"),
    ("reports/report.pdf", b"%PDF-1.7", "generated"),
    ("data/processed/nantes/respondents.parquet", b"PAR1", "generated"),
    (".imppulse-key", _hex_key().encode(), "key-name"),                # keys
    (".imppulse-key.bak", _hex_key().encode(), "key-name"),
    ("config/city.key", b"x" * 20, "key-name"),
    ("config/key.txt", _hex_key().encode(), "key-name"),
    ("config/imppulse.txt", _hex_key().encode() + b"\n", "key-content"),
    ("config/cities/extra.yml", f"secret: {_hex_key()}\n".encode(), "key-content"),
    ("README.md", f"# Setup\n\nexport IMPPULSE_KEY={_hex_key()}\n".encode(), "key-content"),
    ("src/analysis/settings.py", f'IMPPULSE_KEY = "{_b64_key()}"\n'.encode(), "key-content"),
    ("docs/notes.md", f"the key:\n\n    {_b64_key()}\n".encode(), "key-content"),
    ("tools/setup.sh", b"-----BEGIN OPENSSH " + b"PRIVATE KEY-----\nabc\n", "key-content"),  # split: this file passes
    ("data/interim/x.csv", CSV, "generated"),
    ("data/external/census.csv", CSV, "data"),                         # anything else under data/
    ("data/external/boundaries/nantes.geojson", b'{"type": "FeatureCollection"}', "data"),
]


@pytest.fixture
def scratch(tmp_path):
    """A minimal project copy: profiles, the demo list and one demo file."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    demo = sorted(privacy_guard._demo_checksums(ROOT))[0]
    (tmp_path / demo).parent.mkdir(parents=True)
    shutil.copy(ROOT / demo, tmp_path / demo)
    shutil.copy(ROOT / privacy_guard.CHECKSUMS, tmp_path / privacy_guard.CHECKSUMS)
    return tmp_path, demo


@pytest.mark.parametrize("name,content,rule", BYPASSES, ids=[b[0] for b in BYPASSES])
def test_each_bypass_is_refused_naming_the_path_and_the_rule(scratch, name, content, rule):
    root, _ = scratch
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(content)
    problems = privacy_guard.check([name], root)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{name}: [{rule}] ")
    # the message never quotes the file's content
    assert "repondants" not in problems[0] and ";20;" not in problems[0]
    key = content.decode("utf-8", "replace").split()[-1].strip('"')
    assert len(key) < 16 or key not in problems[0]


def test_key_detector_catches_random_keys_in_every_context_and_spares_checksums():
    """Random keys (300 of each kind) in every way one gets pasted; digests and docs pass."""
    contexts = ["{k}", "{k}\n", "notes\n\n    {k}\n", "export IMPPULSE_KEY={k}\n", "MY_KEY='{k}'\n",
                'IMPPULSE_KEY = "{k}"\n', "imppulse_key: {k}\n", "secret: {k}\n", '  "{k}",\n']
    for _ in range(300):
        for k in (_hex_key(), _b64_key()):
            for c in contexts:
                assert privacy_guard._key_in_text(c.format(k=k)), c.format(k=k)
    h = _hex_key()
    for ok in [f"{h}  data/raw/nantes/x.csv\n", f"pandas==2.2 --hash=sha256:{h}\n", f"| nantes | {h[:8]} |\n",
               f"data_checksum: {h}\n", 'DEMO_KEY: bytes = b"imppulse-demo-key-not-secret"\n',
               'KEY_ENV = "IMPPULSE_KEY"\n', "export IMPPULSE_KEY=$(openssl rand -hex 32)\n",
               (ROOT / "README.md").read_text(encoding="utf-8")]:
        assert privacy_guard._key_in_text(ok) is None, ok[:80]


def test_demo_file_passes_and_edited_demo_file_is_refused(scratch):
    root, demo = scratch
    assert privacy_guard.check([demo], root) == []
    with open(root / demo, "ab") as fh:
        fh.write(b"\n")
    problems = privacy_guard.check([demo], root)
    assert len(problems) == 1 and problems[0].startswith(f"{demo}: [data] ")
    assert "changed since it was generated" in problems[0]


@pytest.mark.parametrize("name,content", [
    ("src/analysis/new_module.py", b'"""Docs."""\nDIGEST = "sha256"\n'),
    ("docs/methods.md", b"# Methods\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"),
    ("config/cities/newcity.yml", b"city: newcity\nsynthetic: false\n"),
    ("data/raw/README.md", (ROOT / "data/raw/README.md").read_bytes()),
    ("data/external/boundaries/.gitkeep", b""),
    ("docs/pseudonymisation-key.md", b"# Keys\n\nSet IMPPULSE_KEY outside the repository.\n"),
    ("src/analysis/publishing/templates/key-figures.html.j2", b"<p>{{ value }}</p>\n"),
])
def test_source_docs_and_profiles_pass(scratch, name, content):
    root, _ = scratch
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(content)
    assert privacy_guard.check([name], root) == []


def test_boundary_files_pass_only_when_listed_with_their_checksum(scratch):
    root, _ = scratch
    folder = root / "data" / "external" / "boundaries"
    folder.mkdir(parents=True)
    geo = folder / "nantes.geojson"
    geo.write_text('{"type": "FeatureCollection", "features": []}\n', encoding="utf-8")
    (folder / "SOURCES.md").write_text("# Sources\n\nNantes: Nantes Métropole, ODbL.\n", encoding="utf-8")
    names = ["data/external/boundaries/nantes.geojson", "data/external/boundaries/SOURCES.md"]
    assert "not listed" in privacy_guard.check(names, root)[0]
    digest = privacy_guard._sha256(geo)
    (folder / "CHECKSUMS.sha256").write_text(f"# official boundaries\n{digest}  nantes.geojson\n")
    assert privacy_guard.check(names + [privacy_guard.BOUNDARY_MANIFEST], root) == []
    geo.write_text('{"type": "FeatureCollection", "features": [1]}\n', encoding="utf-8")
    assert "changed since it was listed" in privacy_guard.check(names, root)[0]
    # a manifest that smuggles anything but checksum lines is refused
    (folder / "CHECKSUMS.sha256").write_text(f"{digest}  nantes.geojson\nid;age\n")
    assert "[data] line 2" in privacy_guard.check([privacy_guard.BOUNDARY_MANIFEST], root)[0]
    (folder / "CHECKSUMS.sha256").write_text(f"{digest}  ../../raw/nantes/real.csv\n")
    assert "[data] line 1" in privacy_guard.check([privacy_guard.BOUNDARY_MANIFEST], root)[0]
    demo_list = root / privacy_guard.CHECKSUMS
    demo_list.write_text(demo_list.read_text(encoding="utf-8") + f"{digest}  reports/x.csv\n", encoding="utf-8")
    assert "[data] line" in privacy_guard.check([privacy_guard.CHECKSUMS], root)[0]


# ---------------------------------------------------------------- notebooks
def _notebook(text: str, city: str | None = None, param_cell: str | None = None) -> dict:
    cells = [{"cell_type": "code", "source": "x", "metadata": {}, "execution_count": 1,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}]
    if param_cell is not None:
        cells.insert(0, {"cell_type": "code", "source": param_cell, "metadata": {"tags": ["parameters"]},
                         "execution_count": 1, "outputs": []})
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    if city:
        nb["metadata"]["papermill"] = {"parameters": {"city": city}}
    return nb


def _make_real(root: Path, city: str) -> None:
    prof = root / "config" / "cities" / f"{city}.yml"
    prof.write_text(prof.read_text(encoding="utf-8").replace("synthetic: true", "synthetic: false"),
                    encoding="utf-8")


def _nb_check(root: Path, nb: dict, name: str = "notebooks/x.ipynb") -> list[str]:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(json.dumps(nb), encoding="utf-8")
    return privacy_guard.check([name], root)


def test_notebook_outputs_must_come_from_demo_data(scratch):
    root, _ = scratch
    assert "no synthetic-data marker" in _nb_check(root, _notebook("kept 1585 rows"))[0]
    assert _nb_check(root, _notebook("SYNTHETIC demonstration data; kept 1585 rows", city="nantes")) == []
    # a notebook without outputs is fine
    assert _nb_check(root, {**_notebook(""), "cells": []}) == []
    # a real-data status in the outputs
    assert "real-data status" in _nb_check(root, _notebook("SYNTHETIC …\ndata_status: real data (confidential)",
                                                           city="nantes"))[0]
    # outputs with no parameters at all: nothing says which data made them
    assert "no parameters" in _nb_check(root, _notebook("SYNTHETIC demonstration data; kept 1585 rows"))[0]
    # a profile switched to real data: outputs made for it are refused even with the marker
    _make_real(root, "nantes")
    msg = _nb_check(root, _notebook("SYNTHETIC …", city="nantes"))[0]
    assert msg.startswith("notebooks/x.ipynb: [notebook] ") and "'nantes'" in msg
    # the same through the template's parameters cell (no papermill metadata)
    assert "'nantes'" in _nb_check(root, _notebook("SYNTHETIC …", param_cell='city = "nantes"'))[0]
    # a city with no profile at all cannot be vouched for
    assert "'graz'" in _nb_check(root, _notebook("SYNTHETIC …", param_cell='city = "graz"'))[0]


def test_cross_city_notebook_with_real_nantes_results_is_refused(scratch):
    """The audit: 04-compare-cities run with real Nantes results beside the demo cities."""
    root, _ = scratch
    name = "notebooks/04-compare-cities.ipynb"
    out = "SYNTHETIC demonstration data\ncity      effect\nAmiens    0.31\nNantes    0.12\n"
    nb = _notebook(out, param_cell="cities = []  # empty: every city that has impact tables")
    assert _nb_check(root, nb, name) == []  # every city synthetic: fine
    _make_real(root, "nantes")
    msg = _nb_check(root, nb, name)
    assert len(msg) == 1 and msg[0].startswith(f"{name}: [notebook] ") and "'Nantes'" in msg[0]
    nb = _notebook(out, param_cell='cities = ["amiens", "nantes"]')
    assert "'nantes'" in _nb_check(root, nb, name)[0]


# ---------------------------------------------------------------- git: a user's city, staged files, history
@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A scratch git repository holding the demo tree (profiles, demo files, .gitignore)."""
    repo = tmp_path / "repo"
    tracked = [n for n in _git(ROOT, "ls-files").stdout.split()
               if n.startswith(("config/", "data/")) or n in (".gitignore", "pyproject.toml",
                                                               "notebooks/04-compare-cities.ipynb")]
    for name in tracked:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.org")
    _git(repo, "config", "user.name", "test")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "demo tree")
    monkeypatch.setenv("IMPPULSE_ROOT", str(repo))
    return repo


def _add_user_city(repo: Path) -> Path:
    raw = repo / "data" / "raw" / "graz"
    raw.mkdir(parents=True)
    (raw / "umfrage_2014_2015.csv").write_bytes(CSV)
    (raw / "README.md").write_text("# Graz: real survey export\n", encoding="utf-8")
    prof = (repo / "config" / "cities" / "nantes.yml").read_text(encoding="utf-8")
    (repo / "config" / "cities" / "graz.yml").write_text(
        prof.replace("city: nantes", "city: graz").replace("synthetic: true", "synthetic: false"), encoding="utf-8")
    return raw


@needs_git
def test_users_city_is_ignored_and_breaks_no_test(repo):
    """Issue 13: real files under data/raw/<newcity>/ with a profile; tests still pass."""
    _add_user_city(repo)
    _git(repo, "add", "-A")  # what a user might type
    staged = _git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert staged == ["config/cities/graz.yml"], "git add -A must not take the raw files"
    refused, warnings, _ = privacy_guard.check_worktree(repo)
    assert refused == [] and warnings == []
    # the checksum-list test's logic still holds with the user's city present
    assert set(privacy_guard._demo_checksums(repo)) == set(privacy_guard.demo_files_expected(repo))
    # and `make demo-data` would not list her files as demo files
    privacy_guard.write_demo_checksums(repo)
    assert not any("graz" in n for n in privacy_guard._demo_checksums(repo))


@needs_git
def test_profile_switched_to_real_keeps_shipped_notebooks_but_refuses_a_rerun(repo):
    """A user reuses the Nantes profile for real Nantes data: the committed demo notebooks
    (made before, unchanged) do not fail her tests; re-running the cross-city notebook on her
    results and keeping the outputs is refused."""
    _make_real(repo, "nantes")
    refused, _, _ = privacy_guard.check_worktree(repo)
    assert refused == []
    name = "notebooks/04-compare-cities.ipynb"
    nb = json.loads((repo / name).read_text(encoding="utf-8"))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code" and c.get("outputs"))
    code["outputs"].append({"output_type": "stream", "name": "stdout", "text": "Nantes    0.12\n"})
    (repo / name).write_text(json.dumps(nb), encoding="utf-8")
    refused, _, _ = privacy_guard.check_worktree(repo)
    assert [(p.path, p.rule) for p in refused] == [(name, "notebook")] and "Nantes" in refused[0].message


@needs_git
def test_users_city_forced_into_git_is_refused(repo):
    _add_user_city(repo)
    _git(repo, "add", "-f", "data/raw/graz/umfrage_2014_2015.csv")
    refused, _, _ = privacy_guard.check_worktree(repo)
    assert [p.path for p in refused] == ["data/raw/graz/umfrage_2014_2015.csv"]
    proc = subprocess.run([sys.executable, "-m", "analysis.inputs.privacy_guard", "--staged"], cwd=repo,
                          env={**os.environ, "IMPPULSE_ROOT": str(repo)}, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "data/raw/graz/umfrage_2014_2015.csv: [data] " in proc.stderr


@needs_git
def test_staged_mode_reads_the_staged_version_not_the_working_tree(repo):
    demo = sorted(privacy_guard._demo_checksums(repo))[1]
    good = (repo / demo).read_bytes()
    (repo / demo).write_bytes(good + b"\nreal row\n")
    _git(repo, "add", demo)
    (repo / demo).write_bytes(good)  # the working tree looks clean again
    problems, n = privacy_guard.check_staged(repo)
    assert n == 1 and [p.path for p in problems] == [demo]


@needs_git
def test_untracked_unignored_files_are_warnings_not_failures(repo):
    (repo / "notes").mkdir()
    (repo / "notes" / "export.xlsx").write_bytes(b"PK\x03\x04")
    refused, warnings, _ = privacy_guard.check_worktree(repo)
    assert refused == [] and [w.path for w in warnings] == ["notes/export.xlsx"]
    proc = subprocess.run([sys.executable, "-m", "analysis.inputs.privacy_guard"], cwd=repo,
                          env={**os.environ, "IMPPULSE_ROOT": str(repo)}, capture_output=True, text=True)
    assert proc.returncode == 0 and "warning: untracked, not ignored: notes/export.xlsx: [allow-list]" in proc.stderr


@needs_git
def test_audit_history_finds_a_planted_bad_commit(repo):
    (repo / "config" / "imppulse.txt").write_text(_hex_key() + "\n", encoding="utf-8")
    _git(repo, "add", "config/imppulse.txt")
    _git(repo, "commit", "-qm", "a key slips in")
    bad_key = _git(repo, "rev-parse", "HEAD").stdout.strip()
    raw = _add_user_city(repo)
    _git(repo, "add", "-f", str(raw / "umfrage_2014_2015.csv"))
    _git(repo, "commit", "-qm", "real data slips in")
    bad_data = _git(repo, "rev-parse", "HEAD").stdout.strip()
    _git(repo, "rm", "-q", "--cached", "data/raw/graz/umfrage_2014_2015.csv", "config/imppulse.txt")
    _git(repo, "commit", "-qm", "removed again (but still in the history)")
    assert privacy_guard.check_worktree(repo)[0] == []  # today's tree is clean
    findings, n = privacy_guard.audit_history(repo)
    assert n == 4
    got = {(p.path, p.rule, commit, count) for p, commit, count in findings}
    assert got == {("config/imppulse.txt", "key-content", bad_key, 2),
                   ("data/raw/graz/umfrage_2014_2015.csv", "data", bad_data, 1)}
    proc = subprocess.run([sys.executable, "-m", "analysis.inputs.privacy_guard", "--history"], cwd=repo,
                          env={**os.environ, "IMPPULSE_ROOT": str(repo)}, capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"data/raw/graz/umfrage_2014_2015.csv@{bad_data[:12]}: [data]" in proc.stderr
    assert f"config/imppulse.txt@{bad_key[:12]} (and 1 later commit(s)): [key-content]" in proc.stderr


@needs_git
def test_audit_history_of_a_clean_history_passes(repo):
    findings, n = privacy_guard.audit_history(repo)
    assert n == 1 and findings == []


def test_make_audit_history_target_runs_the_history_mode():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "audit-history:" in text and "analysis.inputs.privacy_guard --history" in text
