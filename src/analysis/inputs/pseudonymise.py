"""Keyed pseudonymisation of respondent and officer identifiers.

Owns the keyed pseudonyms of identifiers and the rules for the key. Must not store, print or
log a raw identifier or the key: only pseudonyms and a key fingerprint leave it.

A raw identifier becomes ``<prefix><hex>``: the first :data:`DIGEST_CHARS` hex digits of
HMAC-SHA256(key, city + dataset prefix + raw id). The same person keeps the same
pseudonym in both waves (panel linkage works) and across reruns, but without the key the
raw id cannot be recovered or confirmed by hashing guesses — which a plain hash of a
short survey number would allow.

Where the key comes from (:func:`load_key`):

1. profiles with ``synthetic: true`` (the shipped demonstration data) use the documented,
   non-secret :data:`DEMO_KEY`, so the demo outputs are the same on every machine; but
   only when every raw file the profile reads is byte-identical to a demonstration file
   listed in ``data/raw/DEMO_CHECKSUMS.sha256`` (:func:`check_synthetic_claim`). A profile
   left at ``synthetic: true`` over real files would otherwise give them pseudonyms that
   anyone can reverse with the public key, and ignore the ``IMPPULSE_KEY`` the user set;
2. otherwise the environment variable ``IMPPULSE_KEY``;
3. otherwise the file ``.imppulse-key`` at the project root (listed in ``.gitignore``).

Real data with no key stops with :class:`PseudonymisationKeyError`, explaining how to set
one. Keep the key outside the repository, and keep it: a new key gives new pseudonyms,
which breaks linkage with earlier outputs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import PATHS
from analysis.io import sha256_file
from analysis.inputs.privacy_guard import CHECKSUMS, demo_digests

#: Non-secret key used only for the synthetic demonstration data.
DEMO_KEY: bytes = b"imppulse-demo-key-not-secret"
KEY_ENV = "IMPPULSE_KEY"
KEY_FILE = ".imppulse-key"
#: Hex digits kept from the HMAC (64 bits: collision odds ~3e-8 for a million ids).
DIGEST_CHARS = 16
MIN_KEY_BYTES = 16
PREFIXES = {"residents": "R-", "officers": "O-"}


class PseudonymisationKeyError(RuntimeError):
    """No usable pseudonymisation key for real (non-synthetic) data."""


class SyntheticClaimError(PseudonymisationKeyError):
    """A profile says ``synthetic: true`` but its raw files are not the demonstration files."""


def _how_to() -> str:
    return (f"set the environment variable {KEY_ENV} (e.g. `export {KEY_ENV}=$(openssl rand -hex 32)`) "
            f"or write a secret of at least {MIN_KEY_BYTES} characters to {PATHS.root / KEY_FILE} "
            "(it is git-ignored); keep the same key for every run of a city, outside the repository")


def _checked(key: bytes, origin: str) -> bytes:
    key = key.strip()
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymisationKeyError(f"the pseudonymisation key from {origin} is {len(key)} bytes long; "
                                       f"need at least {MIN_KEY_BYTES}: {_how_to()}")
    if hmac.compare_digest(key, DEMO_KEY):
        raise PseudonymisationKeyError(f"the key from {origin} is the public demo key, which must not be "
                                       f"used for real data: {_how_to()}")
    return key


def load_key(profile) -> bytes:
    """The pseudonymisation key for a city.

    Parameters
    ----------
    profile : CityProfile
        The city profile; ``profile.synthetic`` selects the demo key.

    Returns
    -------
    bytes
        :data:`DEMO_KEY` for synthetic data; otherwise ``$IMPPULSE_KEY`` or the content
        of ``.imppulse-key`` at the project root.

    Raises
    ------
    SyntheticClaimError
        ``synthetic: true`` but a raw file is not a demonstration file.
    PseudonymisationKeyError
        Real data and no key, a key shorter than 16 bytes, or the demo key.
    """
    if getattr(profile, "synthetic", False):
        check_synthetic_claim(profile)
        return DEMO_KEY
    city = getattr(profile, "city", "?")
    env = os.environ.get(KEY_ENV)
    if env:
        return _checked(env.encode("utf-8"), f"${KEY_ENV}")
    path = PATHS.root / KEY_FILE
    if path.is_file():
        return _checked(path.read_bytes(), str(path))
    raise PseudonymisationKeyError(
        f"{city}: the profile is not synthetic (real data) and no pseudonymisation key was found: {_how_to()}")


def _declared_files(profile) -> list[str]:
    out: list[str] = []
    for name in ("residents", "officers", "activities"):
        spec = getattr(profile, name, None)
        for f in (getattr(spec, "files", None) or []):
            if f.path not in out:
                out.append(f.path)
    return out


def check_synthetic_claim(profile) -> None:
    """Refuse ``synthetic: true`` unless every raw file read is a demonstration file.

    The demo key is public, so it may only pseudonymise the synthetic demonstration data.
    A file counts as demonstration data when its SHA-256 is one of those listed in
    ``data/raw/DEMO_CHECKSUMS.sha256`` (a copy of a demo file elsewhere is still demo data).
    Files that do not exist are left to the readers, which name them.

    Parameters
    ----------
    profile : CityProfile
        A profile with ``synthetic: true``.

    Raises
    ------
    SyntheticClaimError
        Naming the profile, the first files that are not demo files and what to do.
    """

    city = getattr(profile, "city", "?")
    root = PATHS.root
    known = demo_digests(root)
    raw_dir = profile.raw_dir() if hasattr(profile, "raw_dir") else PATHS.raw / city
    foreign = []
    for rel in _declared_files(profile):
        path = Path(raw_dir) / rel
        if path.is_file() and sha256_file(path, length=64) not in known:
            foreign.append(_shown(path, root))
    if not foreign:
        return
    listed = f"SHA-256 not in {CHECKSUMS}" if known else f"the list {CHECKSUMS} is missing"
    raise SyntheticClaimError(
        f"{city}: config/cities/{city}.yml says `synthetic: true`, but {', '.join(foreign[:3])}"
        f"{' and %d more' % (len(foreign) - 3) if len(foreign) > 3 else ''} "
        f"{'is' if len(foreign) == 1 else 'are'} not synthetic demonstration data ({listed}). The demo key is public: pseudonyms made with it can be reversed, so "
        f"it is refused. If these are real data, set `synthetic: false` in config/cities/{city}.yml "
        f"and {_how_to()}. If they should be the demo files, restore them "
        f"(`git checkout -- data/raw/{city}` or `make demo-data`).")


def _shown(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of ``key`` for the cleaning log (reveals nothing of it)."""
    return hmac.new(key, b"imppulse key fingerprint", hashlib.sha256).hexdigest()[:8]


def pseudonymise(ids: Iterable | pd.Series, key: bytes, city: str, prefix: str) -> pd.Series:
    """Replace raw identifiers with keyed pseudonyms.

    Parameters
    ----------
    ids : pandas.Series or iterable
        Raw identifiers (text; numbers are used through their text form, so 12 and "12"
        give one pseudonym, as do 12.0 from a spreadsheet). Missing stays missing.
    key : bytes
        Secret key (:func:`load_key`).
    city : str
        City slug; part of the hashed message, so one raw id gives different pseudonyms in
        different cities.
    prefix : str
        Prefix of the pseudonym, e.g. ``"R-"`` for residents and ``"O-"`` for officers;
        also part of the hashed message, so a resident and an officer who share a raw
        number do not share a pseudonym.

    Returns
    -------
    pandas.Series
        dtype ``str``: ``prefix`` + 16 hex digits, same index as ``ids``.

    Raises
    ------
    ValueError
        If two different raw ids would get the same pseudonym (a truncation collision).
    """
    s = ids if isinstance(ids, pd.Series) else pd.Series(list(ids))
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    # Distinct raw values may still share a text form (" 12", 12.0 and "12"): hash texts.
    texts = [_id_text(u) for u in uniques.tolist()]
    base = hmac.new(key, f"{city}\x1f{prefix}\x1f".encode("utf-8"), hashlib.sha256)
    digests: dict[str, str] = {}
    out = []
    for text in texts:
        pseudo = digests.get(text)
        if pseudo is None:
            h = base.copy()
            h.update(text.encode("utf-8"))
            pseudo = digests[text] = prefix + h.hexdigest()[:DIGEST_CHARS]
        out.append(pseudo)
    if len(set(digests.values())) != len(digests):
        raise ValueError(f"{city}: pseudonym collision among {len(digests)} ids; raise DIGEST_CHARS")
    table = np.asarray(out + [None], dtype=object)  # the last slot serves missing ids (code -1)
    return pd.Series(table[codes], index=s.index, dtype="str")


def _id_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()
