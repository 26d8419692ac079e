"""Shared fixtures: a scratch project root and a small, valid city profile to vary; the
session's one build of the scratch project the `make` tests copy (``demo_build``); and the
order in which `make test` hands the test files to its pytest-xdist workers."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

CODES = ["101", "102", "103", "104"]

#: A small valid profile (French labels, one `;`/decimal-comma Latin-1 CSV). Tests copy
#: it with :func:`make_profile` and change what they exercise.
BASE_PROFILE: dict = {
    "city": "testville",
    "name": "Testville",
    "country": "FR",
    "languages": ["fr"],
    "synthetic": True,
    "boundaries": {"unit": "quartier"},
    "neighbourhoods": [
        {"code": c, "name": f"Quartier {c}", "lon": 2.0 + i / 100, "lat": 48.0 + i / 100}
        for i, c in enumerate(CODES)
    ],
    "pilot": {
        "name": "Test pilot", "kind": "youth-police dialogue", "description": "test",
        "start": "2015-01-01", "end": "2015-06-30",
        "pilot_areas": ["101"], "comparison_areas": ["102"], "targeted_groups": ["young"],
    },
    "waves": {
        "baseline": {"year": 2014, "start": "2014-10-01", "end": "2014-11-30"},
        "follow_up": {"year": 2015, "start": "2015-10-01", "end": "2015-11-30"},
    },
    "margins": {"source": "test", "counts": {c: {"female": [10] * 5, "male": [10] * 5} for c in CODES}},
    "residents": {
        "files": [{"path": "residents.csv", "format": "csv", "encoding": "latin-1", "delimiter": ";",
                   "decimal": ",", "date_format": "%d/%m/%Y"}],
        "columns": {
            "respondent_id": "ID", "wave": "VAGUE", "interview_date": "DATE", "neighbourhood": "QUARTIER",
            "age": "AGE", "gender": "SEXE", "trust_police": "CONFIANCE", "pj_respect": "RESPECT",
            "pj_fair": "JUSTE", "pj_explain": "EXPLIQUE", "eff_violence": "EFF_VIOL",
            "eff_burglary": "EFF_CAMB", "duty_support_police": "DEVOIR", "migrant_background": "IMMIG",
        },
        "values": {
            "wave": {"2014": "baseline", "2015": "follow_up"},
            "gender": {"Femme": "female", "Homme": "male"},
            "migrant_background": {"Oui": True, "Non": False},
            "pj_respect": {"Jamais": 1, "Rarement": 2, "Souvent": 3, "Très souvent": 4},
            "pj_fair": {"Jamais": 1, "Rarement": 2, "Souvent": 3, "Très souvent": 4},
            "pj_explain": {"Jamais": 1, "Rarement": 2, "Souvent": 3, "Très souvent": 4},
        },
        "missing": ["NSP", "Refus", "Ne sait pas"],
        "item_missing": [77, 88, 99],
    },
    # A handful of rows per test, each exercising one rejection, would break the mass-loss
    # thresholds (tests/test_mass_loss.py restores the documented defaults and tests them).
    "quality": {"max_rejected_share": 1.0, "min_kept_per_area": 0, "min_kept_per_group": 0,
                "reason": "unit-test fixtures: a handful of rows, each testing one rejection"},
}

HEADER = ["ID", "VAGUE", "DATE", "QUARTIER", "AGE", "SEXE", "CONFIANCE", "RESPECT", "JUSTE",
          "EXPLIQUE", "EFF_VIOL", "EFF_CAMB", "DEVOIR", "IMMIG"]


def make_profile(**changes) -> dict:
    """A deep copy of :data:`BASE_PROFILE` with top-level keys replaced."""
    p = copy.deepcopy(BASE_PROFILE)
    p.update(copy.deepcopy(changes))
    return p


def resident_row(i: int, **kw) -> dict:
    """One valid raw resident row (raw column names), varied by ``i``; ``kw`` overrides."""
    labels = ["Jamais", "Rarement", "Souvent", "Très souvent"]
    row = {"ID": f"{1000 + i}", "VAGUE": "2014" if i % 2 == 0 else "2015",
           "DATE": "15/10/2014" if i % 2 == 0 else "20/10/2015", "QUARTIER": CODES[i % 4],
           "AGE": str(18 + i % 60), "SEXE": "Femme" if i % 3 else "Homme",
           "CONFIANCE": str(i % 11), "RESPECT": labels[i % 4], "JUSTE": labels[(i + 1) % 4],
           "EXPLIQUE": labels[(i + 2) % 4], "EFF_VIOL": str((i * 3) % 11), "EFF_CAMB": str((i * 7) % 11),
           "DEVOIR": str((i * 5) % 11), "IMMIG": "Oui" if i % 4 == 0 else "Non"}
    row.update(kw)
    return row


def write_csv(path: Path, rows: list[dict], *, sep: str = ";", encoding: str = "latin-1",
              header: list[str] | None = None) -> Path:
    """Write raw rows as a delimited text file (no quoting needed for test values)."""
    header = header or list(rows[0]) if rows else header or HEADER
    lines = [sep.join(header)] + [sep.join(str(r.get(c, "")) for c in header) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A scratch project root (IMPPULSE_ROOT) with empty config/cities and data folders."""
    root = tmp_path / "project"
    (root / "config" / "cities").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    monkeypatch.setenv("IMPPULSE_ROOT", str(root))
    monkeypatch.delenv("IMPPULSE_KEY", raising=False)
    return root


def write_profile(root: Path, profile: dict) -> Path:
    """Write ``profile`` as ``config/cities/<city>.yml`` under ``root``."""
    path = root / "config" / "cities" / f"{profile['city']}.yml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def city(project):
    """A written test profile and its raw folder: returns (root, raw_dir)."""
    write_profile(project, make_profile())
    raw = project / "data" / "raw" / "testville"
    raw.mkdir(parents=True)
    return project, raw


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``pytest -n N --dist loadfile``), the files holding
    slow tests are handed out first.

    With ``--dist loadfile`` a file's tests run in order on one worker, so each module-scoped
    fixture (a demo build, a scratch project) is built once. Handing out the slow files first
    leaves the many quick ones for the end, where they keep every worker busy until the last
    one; xdist keeps this order with ``--no-loadscope-reorder``.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)  # stable: file order kept


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The scratch project with two demo cities built and a broken one failed, built once for
    the session (tests/pipeline_project.py); test files copy it (``copy_of_build``)."""
    from pipeline_project import demo_build as build

    return build(tmp_path_factory)
