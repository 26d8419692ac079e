"""Atomic writes and reads of processed data and published tables.

Owns atomic file writes, the processed datasets' paths and readers, and the one door published
tables go through. Must not decide what is published: counts follow analysis.sdc, wording is elsewhere.

Every file the pipeline writes goes through :func:`atomic_path`: it is written to a
temporary file in the same folder and moved into place with ``os.replace``, so an
interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.config import PATHS
from analysis.sdc import publish_counts

#: Text stamped on every output made from the synthetic demonstration data.
SYNTHETIC_NOTE = "SYNTHETIC demonstration data, not real survey results"
SYNTHETIC_NOTE_FR = "Données de démonstration SYNTHÉTIQUES, pas des résultats d'enquête réels"

#: Processed datasets of a city: the cleaning step's outputs, and the survey weights it saves.
PROCESSED_DATASETS = ("respondents", "officers", "activities", "rejected", "weights")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); published outputs are ordinary files
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write JSON (sorted keys, UTF-8, stable across runs)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Atomically write a DataFrame to Parquet (no index)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, synthetic: bool) -> Path:
    """Atomically write a published CSV table.

    Tables made from the synthetic demonstration data carry a first column
    ``data_status`` that says so on every row, so the label survives any copy-paste.
    Every count of respondents is written in published form
    (:func:`analysis.publishing.sdc.publish_counts`: 1-9 blank, the rest rounded to base 10),
    whoever built the table: this is the one door published tables go through.
    """

    out = publish_counts(df, marker=None)
    if synthetic:
        out.insert(0, "data_status", SYNTHETIC_NOTE)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    return Path(path)


def processed_path(city: str, dataset: str) -> Path:
    """Path of a processed dataset (``respondents``, ``officers``, ``activities``, ``rejected``,
    ``weights``)."""
    if dataset not in PROCESSED_DATASETS:
        raise KeyError(f"unknown processed dataset {dataset!r}; expected one of {PROCESSED_DATASETS}")
    return PATHS.processed_city(city) / f"{dataset}.parquet"


def read_processed(city: str, dataset: str = "respondents") -> pd.DataFrame:
    """Read a city's processed dataset, with a clear message when it was not built yet."""
    path = processed_path(city, dataset)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run the cleaning step first (make clean-data CITY={city}, "
            f"or notebooks/01-clean.ipynb with city={city!r})"
        )
    return pd.read_parquet(path)


def sha256_file(path: str | os.PathLike, length: int = 16) -> str:
    """Hex SHA-256 of a file's bytes (first ``length`` characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def sha256_frame(df: pd.DataFrame, length: int = 16) -> str:
    """Checksum of a DataFrame's content (values and column names, order-sensitive)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()[:length]
