"""The figure manifest: which figure comes from which notebook, file and data.

Every figure saved with :func:`analysis.figures.save_figure` leaves a JSON sidecar
``reports/figures/<city>/<id>[.<lang>].json``. :func:`build_manifest` gathers them into
one table, ``reports/figures.csv`` — the "figure → notebook → output file" table of a
replication package (AEA README), with the checksum of the data each figure was drawn from.

``python -m analysis.manifest`` rebuilds it and prints the problems it found (a sidecar
that is not JSON, lacks a key, or points at a missing PNG).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .config import CITIES, PATHS
from .io import SYNTHETIC_NOTE, atomic_path

#: Keys every sidecar must carry (written by analysis.figures.save_figure).
SIDECAR_KEYS: tuple[str, ...] = (
    "figure_id", "city", "lang", "title", "caption", "notebook", "png", "svg",
    "data_checksum", "synthetic",
)

#: Columns of the manifest, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "data_status", "city", "figure_id", "lang", "title", "caption", "notebook",
    "png", "svg", "data_checksum", "synthetic", "sidecar",
)

CROSS_CITY = "cross-city"


class ManifestError(ValueError):
    """One or more figure sidecars are unreadable or incomplete; the message names them."""


def city_order(city: str) -> tuple[int, str]:
    """Sort key putting the partner cities in report order, others by name, cross-city last."""
    if city in CITIES:
        return (0, f"{CITIES.index(city):03d}")
    if city == CROSS_CITY:
        return (2, "")
    return (1, city)


def _sidecar_files(figures_dir: Path) -> list[Path]:
    # <id>.json and <id>.fr.json; nothing else in reports/figures is JSON.
    return sorted(p for p in figures_dir.glob("*/*.json") if not p.name.startswith("."))


def read_sidecar(path: Path) -> dict:
    """Read and check one sidecar.

    Raises
    ------
    ManifestError
        When the file is not JSON, is not an object, or lacks one of :data:`SIDECAR_KEYS`.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable JSON figure sidecar: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a figure sidecar must be a JSON object, got {type(data).__name__}")
    missing = [k for k in SIDECAR_KEYS if k not in data]
    if missing:
        raise ManifestError(f"{path}: figure sidecar lacks key(s) {missing}")
    if data["lang"] not in ("en", "fr"):
        raise ManifestError(f"{path}: key lang: {data['lang']!r} is not 'en' or 'fr'")
    return data


def collect_sidecars(figures_dir: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read every figure sidecar under ``figures_dir`` (default ``reports/figures``).

    Returns
    -------
    manifest : pandas.DataFrame
        One row per valid sidecar, columns :data:`MANIFEST_COLUMNS`, stably sorted by
        city (report order), figure id and language (English first).
    problems : list of str
        One message per sidecar left out (unreadable, incomplete) or whose PNG is missing.
    """
    figures_dir = Path(figures_dir) if figures_dir is not None else PATHS.figures
    rows, problems = [], []
    if figures_dir.is_dir():
        for path in _sidecar_files(figures_dir):
            try:
                data = read_sidecar(path)
            except ManifestError as exc:
                problems.append(str(exc))
                continue
            png = PATHS.root / data["png"]
            if not png.is_file():
                problems.append(f"{path}: its PNG {data['png']} does not exist")
            rows.append({
                **{k: data[k] for k in SIDECAR_KEYS},
                "synthetic": bool(data["synthetic"]),
                "data_status": SYNTHETIC_NOTE if data["synthetic"] else "",
                "sidecar": _relative(path),
            })
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if len(df):
        df = df.astype({c: "str" for c in MANIFEST_COLUMNS if c != "synthetic"})
        df["synthetic"] = df["synthetic"].astype(bool)
        key = df["city"].map(lambda c: "|".join(map(str, city_order(c))))
        df = (df.assign(_city=key, _lang=(df["lang"] != "en").astype(int))
                .sort_values(["_city", "figure_id", "_lang"], kind="stable")
                .drop(columns=["_city", "_lang"])
                .reset_index(drop=True))
    return df, problems


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PATHS.root.resolve()))
    except ValueError:
        return str(path)


def manifest_path() -> Path:
    """Where the manifest is written: ``reports/figures.csv``."""
    return PATHS.reports / "figures.csv"


def build_manifest(*, write: bool = True, strict: bool = False) -> pd.DataFrame:
    """Assemble the figure manifest from the sidecars and write ``reports/figures.csv``.

    Parameters
    ----------
    write : bool
        Write ``reports/figures.csv`` (atomically).
    strict : bool
        Raise :class:`ManifestError` listing every problem instead of warning.

    Returns
    -------
    pandas.DataFrame
        The manifest; its ``attrs["problems"]`` holds the problems found.

    Notes
    -----
    The first column, ``data_status``, says on every row drawn from the synthetic
    demonstration data that it is synthetic (as every published CSV does); it is empty
    for figures drawn from real data.
    """
    df, problems = collect_sidecars()
    if problems:
        msg = "figure manifest: " + f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)
        if strict:
            raise ManifestError(msg)
        print(f"[warn] {msg}", file=sys.stderr)
    if write:
        with atomic_path(manifest_path()) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
    df.attrs["problems"] = problems
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.manifest",
                                     description="Rebuild reports/figures.csv from the figure sidecars.")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a sidecar has a problem")
    args = parser.parse_args(argv)
    try:
        df = build_manifest(strict=args.strict)
    except ManifestError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"[ ok ] {len(df)} figure(s) -> {_relative(manifest_path())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
