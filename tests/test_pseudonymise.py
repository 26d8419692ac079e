"""Pseudonymisation: keyed, stable, not reversible by hashing guesses, key required for real data."""

from __future__ import annotations

import hashlib
import hmac
import types

import pandas as pd
import pytest

from analysis.inputs.pseudonymise import (DEMO_KEY, KEY_FILE, PseudonymisationKeyError, load_key,
                                   pseudonymise)

KEY = b"0123456789abcdef0123"


def test_stable_keyed_and_prefixed():
    ids = pd.Series(["17", "18", "17", None, " 18 "])
    a = pseudonymise(ids, KEY, "milan", "R-")
    b = pseudonymise(ids, KEY, "milan", "R-")
    assert a.tolist() == b.tolist()
    assert a[0] == a[2] and a[1] == a[4] and a[0] != a[1]
    assert pd.isna(a[3]) and str(a.dtype) == "str"
    assert a.dropna().str.fullmatch(r"R-[0-9a-f]{16}").all()
    # a spreadsheet number and its text give one pseudonym
    assert pseudonymise([17.0], KEY, "milan", "R-")[0] == a[0]


def test_known_answer_is_hmac_sha256_of_city_prefix_and_id():
    expected = hmac.new(KEY, b"milan\x1fR-\x1f17", hashlib.sha256).hexdigest()[:16]
    assert pseudonymise(["17"], KEY, "milan", "R-")[0] == "R-" + expected


def test_other_key_city_or_dataset_give_other_ids():
    base = pseudonymise(["17", "18"], KEY, "milan", "R-")
    assert not set(base) & set(pseudonymise(["17", "18"], b"another-key-of-20-bytes", "milan", "R-"))
    assert not set(base) & set(pseudonymise(["17", "18"], KEY, "lisbon", "R-"))
    officers = pseudonymise(["17", "18"], KEY, "milan", "O-")
    assert not {x[2:] for x in base} & {x[2:] for x in officers}


def test_raw_id_not_recoverable_by_unkeyed_hash():
    # Without the key, hashing every candidate id (a dictionary attack on short survey
    # numbers) does not find the pseudonym.
    out = set(pseudonymise([str(i) for i in range(100)], KEY, "milan", "R-").str[2:])
    guesses = {hashlib.sha256(f"{c}{i}".encode()).hexdigest()[:16]
               for c in ("", "milan", "milan\x1fR-\x1f") for i in range(100)}
    guesses |= {hmac.new(b"", f"milan\x1fR-\x1f{i}".encode(), hashlib.sha256).hexdigest()[:16] for i in range(100)}
    assert len(out) == 100 and not out & guesses


def _profile(synthetic):
    return types.SimpleNamespace(city="milan", synthetic=synthetic)


def test_demo_key_only_for_synthetic_profiles(project, monkeypatch):
    assert load_key(_profile(True)) == DEMO_KEY
    with pytest.raises(PseudonymisationKeyError) as err:
        load_key(_profile(False))
    msg = str(err.value)
    assert "IMPPULSE_KEY" in msg and KEY_FILE in msg and "milan" in msg


def test_real_data_key_from_env_or_file(project, monkeypatch):
    (project / KEY_FILE).write_bytes(b"file-secret-of-enough-bytes\n")
    assert load_key(_profile(False)) == b"file-secret-of-enough-bytes"
    monkeypatch.setenv("IMPPULSE_KEY", "env-secret-of-enough-bytes")
    assert load_key(_profile(False)) == b"env-secret-of-enough-bytes"


@pytest.mark.parametrize("bad", ["short", DEMO_KEY.decode()])
def test_weak_or_demo_key_refused_for_real_data(project, monkeypatch, bad):
    monkeypatch.setenv("IMPPULSE_KEY", bad)
    with pytest.raises(PseudonymisationKeyError):
        load_key(_profile(False))


# ---------------------------------------------------------------- synthetic: true over real data
def _write_demo_list(root, *paths):
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}" for p in paths]
    (root / "data" / "raw" / "DEMO_CHECKSUMS.sha256").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_synthetic_true_over_real_files_is_refused_even_with_a_key(city, monkeypatch):
    """The audit's attack: a profile left at synthetic: true over real files, IMPPULSE_KEY set.

    Before, the public demo key was used and every pseudonym could be reversed; now the
    cleaning stops before reading a row, naming the profile, the file and what to do.
    """
    from conftest import resident_row, write_csv

    from analysis.inputs.clean import run_cleaning
    from analysis.inputs.profile import load_profile
    from analysis.inputs.pseudonymise import SyntheticClaimError

    project, raw = city
    monkeypatch.setenv("IMPPULSE_KEY", "a-real-secret-key-of-enough-bytes")
    real = write_csv(raw / "residents.csv", [resident_row(i, ID=f"Zq{i}Durand") for i in range(12)])
    demo = write_csv(project / "data" / "raw" / "demo" / "residents.csv", [resident_row(i) for i in range(13)])
    _write_demo_list(project, demo)
    with pytest.raises(SyntheticClaimError) as err:
        load_key(load_profile("testville"))
    msg = str(err.value)
    assert "data/raw/testville/residents.csv" in msg and "config/cities/testville.yml" in msg
    assert "synthetic: false" in msg and "IMPPULSE_KEY" in msg and "DEMO_CHECKSUMS.sha256" in msg
    assert "Durand" not in msg  # no raw content (ids) in the message
    with pytest.raises(SyntheticClaimError):
        run_cleaning("testville")  # the pipeline's call site
    assert not (project / "data" / "processed" / "testville").exists()
    # the same bytes as a listed demo file are demo data, wherever they sit
    real.write_bytes(demo.read_bytes())
    assert load_key(load_profile("testville")) == DEMO_KEY
    # one byte changed: refused again
    real.write_bytes(demo.read_bytes() + b"\n")
    with pytest.raises(SyntheticClaimError):
        load_key(load_profile("testville"))


def test_synthetic_true_refused_without_a_demo_list(city):
    from conftest import resident_row, write_csv

    from analysis.inputs.profile import load_profile
    from analysis.inputs.pseudonymise import SyntheticClaimError

    project, raw = city
    write_csv(raw / "residents.csv", [resident_row(i) for i in range(12)])
    with pytest.raises(SyntheticClaimError, match="DEMO_CHECKSUMS.sha256 is missing"):
        load_key(load_profile("testville"))


def test_real_profile_over_the_same_files_uses_the_users_key(city, monkeypatch):
    from conftest import make_profile, resident_row, write_csv, write_profile

    from analysis.inputs.profile import load_profile

    project, raw = city
    write_csv(raw / "residents.csv", [resident_row(i) for i in range(12)])
    write_profile(project, make_profile(synthetic=False))
    monkeypatch.setenv("IMPPULSE_KEY", "a-real-secret-key-of-enough-bytes")
    assert load_key(load_profile("testville")) == b"a-real-secret-key-of-enough-bytes"


def test_shipped_demo_profiles_pass_the_synthetic_check():
    from analysis.config import PATHS
    from analysis.config import list_cities
    from analysis.inputs.profile import load_profile
    from analysis.inputs.pseudonymise import check_synthetic_claim

    checked = 0
    for c in list_cities():
        p = load_profile(c)
        if p.synthetic and (PATHS.raw / c / "SYNTHETIC_README.txt").is_file():
            check_synthetic_claim(p)
            checked += 1
    assert checked >= 1
