"""Atomic writes and reads of processed data and published tables.

Owns atomic file writes, the processed datasets' paths and readers, and the one door published
tables go through. Must not decide what is published: counts follow analysis.sdc, wording is elsewhere.

Every file the pipeline writes goes through :func:`atomic_path` (:mod:`analysis.files`,
kept here as part of this door): written to a temporary file in the same folder and moved
into place with ``os.replace``, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from analysis.config import PATHS
from analysis.files import atomic_path, write_json, write_text  # noqa: F401 (this module's writers too)
from analysis.sdc import publish_counts

#: Text stamped on every output made from the synthetic demonstration data.
SYNTHETIC_NOTE = "SYNTHETIC demonstration data, not real survey results"
SYNTHETIC_NOTE_FR = "Données de démonstration SYNTHÉTIQUES, pas des résultats d'enquête réels"

#: Processed datasets of a city: the cleaning step's outputs, and the survey weights it saves.
PROCESSED_DATASETS = ("respondents", "officers", "activities", "rejected", "weights")


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
