"""environment.yml (conda users), pyproject.toml (pip) and requirements.lock describe one environment."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# conda-forge package names that differ from the PyPI distribution name
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "pytables": "tables"}


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = data["project"]["dependencies"] + [
        r for extra in data["project"]["optional-dependencies"].values() for r in extra
    ]
    pins = {}
    for r in map(Requirement, reqs):
        specs = list(r.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{r} is not pinned with =="
        pins[canonicalize_name(r.name)] = specs[0].version
    return pins


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge"]
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section installs the project itself
            assert dep == {"pip": ["-e ."]}, f"unexpected pip section {dep}"
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*=\s*([^=\s]+)", dep)
        if dep == "pip":
            continue
        assert m, f"environment.yml entry {dep!r} is not pinned as name=version"
        name, version = m.groups()
        if name == "python":
            continue
        pins[canonicalize_name(CONDA_TO_PYPI.get(name, name))] = version
    return pins


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_conda_and_pip_list_the_same_packages_at_the_same_versions():
    pip, conda = _pyproject_pins(), _conda_pins()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not pyproject.toml"
    differ = {n: (pip[n], conda[n]) for n in pip if pip[n] != conda[n]}
    assert differ == {}, f"versions differ (pyproject, environment.yml): {differ}"


def test_lock_file_agrees_with_the_direct_pins():
    pip, lock = _pyproject_pins(), _lock_pins()
    missing = sorted(set(pip) - set(lock))
    assert missing == [], f"direct dependencies missing from requirements.lock: {missing}"
    differ = {n: (pip[n], lock[n]) for n in pip if pip[n] != lock[n]}
    assert differ == {}, f"pyproject pin differs from requirements.lock: {differ}"


@pytest.mark.parametrize("name", sorted(_pyproject_pins()))
def test_installed_environment_matches_the_pins(name):
    assert metadata.version(name) == _pyproject_pins()[name]


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
