"""The figure manifest: which figure comes from which notebook, file and data.

Owns the figure manifest, reports/figures.csv, built from the figures' sidecars. Must not
draw nor place figures: it lists what the steps saved.

Every figure saved with :func:`analysis.publishing.figures.save_figure` leaves a JSON sidecar
``reports/figures/<city>/<id>[.<lang>].json``. :func:`build_manifest` gathers them into
one table, ``reports/figures.csv`` — the "figure → notebook → output file" table of a
replication package (AEA README), with the checksum of the data each figure was drawn from.

``python -m analysis.publishing.manifest`` rebuilds it and prints the problems it found (a sidecar
that is not JSON, lacks a key, points at a missing PNG, or whose PNG or SVG no longer has
the checksum recorded when it was saved). ``python -m analysis.publishing.manifest --check-report
reports/report.html`` also checks every figure embedded in a report against its source
(:func:`check_embedded`): the report embeds a lighter copy, not the saved bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path

import pandas as pd

from analysis.config import CITIES, PATHS
from analysis.io import SYNTHETIC_NOTE, atomic_path
from analysis.publishing.figures import MIN_FONT_PT, sha256_file
from analysis.publishing.figures import embedded_copy

#: Keys every sidecar must carry (written by analysis.publishing.figures.save_figure).
SIDECAR_KEYS: tuple[str, ...] = (
    "figure_id", "city", "lang", "title", "caption", "notebook", "png", "svg",
    "data_checksum", "synthetic", "section",
)

#: Keys written since figures are checked for print (older sidecars lack them: empty).
OPTIONAL_KEYS: tuple[str, ...] = ("png_sha256", "svg_sha256", "width_in", "height_in", "min_font_pt_printed")

#: Columns of the manifest, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "data_status", "city", "figure_id", "lang", "title", "caption", "notebook", "section",
    "png", "svg", "data_checksum", "synthetic", "sidecar", *OPTIONAL_KEYS,
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
            problems.extend(_changed_files(path, data))
            rows.append({
                **{k: data[k] for k in SIDECAR_KEYS},
                **{k: data.get(k, "") for k in OPTIONAL_KEYS},
                "synthetic": bool(data["synthetic"]),
                "data_status": SYNTHETIC_NOTE if data["synthetic"] else "",
                "sidecar": _relative(path),
            })
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if len(df):
        df = df.astype({c: "str" for c in MANIFEST_COLUMNS if c != "synthetic"})
        # sizes as written (3 decimals): "" where an older sidecar has none
        df["synthetic"] = df["synthetic"].astype(bool)
        key = df["city"].map(lambda c: "|".join(map(str, city_order(c))))
        df = (df.assign(_city=key, _lang=(df["lang"] != "en").astype(int))
                .sort_values(["_city", "figure_id", "_lang"], kind="stable")
                .drop(columns=["_city", "_lang"])
                .reset_index(drop=True))
    return df, problems


def _changed_files(sidecar: Path, data: dict) -> list[str]:
    """Problems: a PNG or SVG whose bytes no longer have the checksum its sidecar recorded."""

    out = []
    for kind in ("png", "svg"):
        want = data.get(f"{kind}_sha256")
        f = PATHS.root / str(data[kind])
        if want and f.is_file() and sha256_file(f) != want:
            out.append(f"{sidecar}: its {kind.upper()} {data[kind]} changed since it was saved "
                       f"(checksum differs from key {kind}_sha256)")
    small = data.get("min_font_pt_printed")
    if isinstance(small, (int, float)) and not isinstance(small, bool) and small < MIN_FONT_PT - 0.05:
        out.append(f"{sidecar}: key min_font_pt_printed: its smallest text prints at {small} pt "
                   f"(under {MIN_FONT_PT:g} pt)")
    return out


_IMG = re.compile(r'<img src="data:(?P<mime>[^;"]+);base64,(?P<data>[A-Za-z0-9+/=]*)"(?P<attrs>[^>]*)>')
_ATTR = re.compile(r'data-(source|source-sha256|derivation)="([^"]*)"')


def check_embedded(html_path: Path, manifest: pd.DataFrame | None = None) -> list[str]:
    """Check every figure embedded in a report against the file it was derived from.

    A report embeds :func:`analysis.publishing.figures.embedded_copy` of each figure (the SVG, or a
    downscaled PNG), with ``data-source``, ``data-source-sha256`` and ``data-derivation``
    on the ``<img>``. For each: the source exists, still has that checksum (and the one its
    sidecar recorded, when the manifest has it), and deriving the copy again from the saved
    files gives exactly the embedded bytes.

    Returns
    -------
    list of str
        One message per figure that fails, naming the report, the figure's position and its source.
    """

    html_path = Path(html_path)
    html = html_path.read_text(encoding="utf-8")
    if manifest is None:
        manifest, _ = collect_sidecars()
    recorded = {}
    for row in manifest.itertuples() if len(manifest) else []:
        for kind in ("png", "svg"):
            sha = getattr(row, f"{kind}_sha256", "")
            if isinstance(sha, str) and sha:
                recorded[str(getattr(row, kind))] = sha
    problems = []
    for i, m in enumerate(_IMG.finditer(html), start=1):
        attrs = dict(_ATTR.findall(m.group("attrs")))
        where = f"{_relative(html_path)}: embedded figure {i}"
        src = attrs.get("source")
        if not src or "source-sha256" not in attrs or "derivation" not in attrs:
            problems.append(f"{where}: no data-source, data-source-sha256 or data-derivation attribute")
            continue
        source = PATHS.root / src
        if not source.is_file():
            problems.append(f"{where}: its source {src} does not exist")
            continue
        sha = sha256_file(source)
        if sha != attrs["source-sha256"]:
            problems.append(f"{where}: its source {src} changed since the report was built")
            continue
        if src in recorded and recorded[src] != sha:
            problems.append(f"{where}: its source {src} differs from the checksum in its sidecar")
            continue
        again = embedded_copy(source.with_suffix(".png"), source.with_suffix(".svg"))
        if (_relative(again["source"]) != src or again["derivation"] != attrs["derivation"]
                or again["mime"] != m.group("mime") or base64.b64decode(m.group("data")) != again["data"]):
            problems.append(f"{where}: the embedded copy is not {attrs['derivation']} of {src}")
    return problems


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
    parser = argparse.ArgumentParser(prog="python -m analysis.publishing.manifest",
                                     description="Rebuild reports/figures.csv from the figure sidecars.")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a sidecar has a problem")
    parser.add_argument("--check-report", metavar="HTML", action="append", default=[],
                        help="check the figures embedded in this report against their sources (repeatable)")
    args = parser.parse_args(argv)
    try:
        df = build_manifest(strict=args.strict)
    except ManifestError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"[ ok ] {len(df)} figure(s) -> {_relative(manifest_path())}")
    status = 0
    for html in args.check_report:
        problems = check_embedded(Path(html), df)
        for p in problems:
            print(p, file=sys.stderr)
        status |= bool(problems)
        if not problems:
            print(f"[ ok ] {html}: every embedded figure matches its source")
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main())
