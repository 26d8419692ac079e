"""What the report reads: published tables through the contract, cleaning logs, failed steps, city data.

Owns reading a city's published outputs into :class:`CityData`, and the reasons ("not
available: …") when something is missing or a step failed. Must not word sentences or lay out HTML.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.config import CROSS_CITY, CROSS_STEP, PATHS, STEPS, failure_path, list_cities
from analysis.io import SYNTHETIC_NOTE
from analysis.publishing.figures import embedded_copy
from analysis.publishing.recommendations import figure_anchor
from analysis.publishing.manifest import city_order
from analysis.inputs.profile import ProfileError, load_profile
from analysis.publishing import tables, text
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)


#: Tables of a city the report shows (schemas: :mod:`analysis.publishing.tables`).
CITY_TABLES: tuple[str, ...] = ("impact", "evidence", "implementation", "balance", "neighbourhoods")
#: Tables of the cross-city synthesis the report shows.
CROSS_TABLES: tuple[str, ...] = ("pooled", "benchmark")


# ===================================================================== reading inputs
@dataclass(frozen=True)
class Reason:
    """Why something is not available, as a catalogue key and its values."""

    key: str
    params: dict = field(default_factory=dict, hash=False)

    def text(self, lang: str) -> str:
        return tr(self.key, lang, **self.params)


def rel_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PATHS.root.resolve()))
    except ValueError:
        return str(path)


def read_table(name: str, city: str | None = None) -> tuple[pd.DataFrame | None, Reason | None]:
    """A published table through the contract (:func:`analysis.publishing.tables.read`):
    ``(typed frame, None)`` or ``(None, reason)`` — never raises. The reason names the file,
    and for a table that breaks its schema the column and line (never a row's content)."""
    if not isinstance(name, str):
        raise TypeError(f"read_table takes a table's name ({sorted(tables.SCHEMAS)}) and a city, "
                        f"e.g. read_table('pooled') or read_table('impact', 'amiens'), not a path")
    path = tables.schema(name).path(city)
    try:
        return tables.read(name, city), None
    except FileNotFoundError:
        return None, Reason("na.missing_file", {"path": rel_path(path)})
    except tables.TableError as exc:
        return None, Reason("na.unreadable", {"path": rel_path(path), "error": str(exc).splitlines()[0][:300]})


def is_synthetic_table(df: pd.DataFrame | None) -> bool:
    """A published table made from the synthetic demo data (its ``data_status`` says so)."""
    return (df is not None and "data_status" in df.columns
            and df["data_status"].eq(SYNTHETIC_NOTE).any())


def read_cleaning_log(city: str) -> tuple[dict | None, Reason | None]:
    """A city's ``data/processed/<city>/cleaning_log.json``; ``(log, None)`` or ``(None, reason)``."""
    path = PATHS.processed_city(city) / "cleaning_log.json"
    if not path.is_file():
        return None, Reason("na.missing_file", {"path": rel_path(path)})
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, Reason("na.unreadable", {"path": rel_path(path), "error": str(exc)[:200]})
    if not isinstance(log, dict):
        return None, Reason("na.unreadable", {"path": rel_path(path), "error": "not a JSON object"})
    return log, None


def cleaning_summary(log: dict) -> dict[str, pd.DataFrame]:
    """Rows per file, rejections by reason and missingness from the cleaning log, in the one
    shape :mod:`analysis.inputs.clean` writes (:func:`analysis.publishing.tables.cleaning_tables`).

    Raises
    ------
    analysis.publishing.tables.TableError
        The log is not in that shape.
    """
    return tables.cleaning_tables(log)


def failed_step(city: str) -> str | None:
    """Which step failed for ``city`` in its last run, the error's kind and where to look.

    The report names the step, the error kind (e.g. ``RawDataError``) and the local
    ``reports/.stamps/CITY/STEP.failed`` file, never the message itself: a message may
    carry exact small counts or, from a damaged file, raw content that is not for
    publication. The details stay in the .failed file and on the console.
    """
    for name in [*STEPS, CROSS_STEP]:
        path = failure_path(city, name)
        try:
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        return failure_note(name, text, f"reports/.stamps/{city}/{path.name}")
    return None


#: An exception's class name as the pipeline writes it ("01-clean, cell 5: RawDataError: ...").
_ERROR_KIND = re.compile(r"(?:^|:\s)([A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt))\b")


def failure_note(step: str, reason: str, where: str) -> str:
    """The published note for a failed step: step, error kind and the local file to read.

    Parameters
    ----------
    step : str
        The step's name (``01-clean``).
    reason : str
        The failure reason the pipeline wrote (only the error's class name is kept).
    where : str
        The .failed file, relative to the project root.
    """
    m = _ERROR_KIND.search(reason or "")
    kind = m.group(1) if m else "error"
    # no words: the note sits inside the English and the French sentence alike
    return f"{step}: {kind} ({where})"



# ===================================================================== cities
@dataclass
class CityData:
    """Everything the report says about one city."""

    city: str
    name: str
    profile: object | None = None
    reason: Reason | None = None  # the whole city is not available
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    missing: dict[str, Reason] = field(default_factory=dict)
    cleaning: dict | None = None
    figures: list[dict] = field(default_factory=list)
    synthetic: bool = False
    failed: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None


def report_cities(manifest: pd.DataFrame | None = None) -> list[str]:
    """Cities to report: every profile, and any city with published outputs, in report order."""

    found = set(list_cities())
    for folder in (PATHS.tables, PATHS.figures):
        if folder.is_dir():
            found |= {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if manifest is not None and not manifest.empty:
        found |= set(manifest["city"])
    found.discard(CROSS_CITY)
    return sorted(found, key=city_order)


def load_city(city: str, manifest: pd.DataFrame | None, lang: str) -> CityData:
    """Read one city's profile, tables, cleaning log and figures; never raises."""

    data = CityData(city=city, name=city.capitalize(), failed=failed_step(city))
    try:
        prof = load_profile(city)
        data.profile = prof
        data.name = text.city_name(prof, lang)
        data.synthetic = bool(prof.synthetic)
    except (ProfileError, OSError) as exc:
        data.reason = Reason("na.profile", {"error": str(exc).splitlines()[0][:300]})
    for name in CITY_TABLES:
        df, why = read_table(name, city)
        data.tables[name] = df
        if why is not None:
            data.missing[name] = why
        data.synthetic |= is_synthetic_table(df)
    data.cleaning, why = read_cleaning_log(city)
    if why is not None:
        data.missing["cleaning"] = why
    elif data.cleaning.get("synthetic") is True:
        data.synthetic = True
    data.figures = figures_for(manifest, city, lang) if manifest is not None else []
    if manifest is not None and not manifest.empty:
        data.synthetic |= bool(manifest.loc[manifest["city"] == city, "synthetic"].any())
    # a failed step comes first: its outputs were withdrawn, so "not found" would hide why
    if data.reason is None and data.failed and data.tables.get("impact") is None:
        data.reason = Reason("na.failed", {"error": data.failed[:300]})
    if data.reason is None and data.tables.get("impact") is None and not data.figures \
            and data.cleaning is None:
        data.reason = data.missing.get("impact")
    return data


def data_period(cities: list[CityData]) -> tuple[str, str] | None:
    """First and last fieldwork day over the cities' profiles (ISO dates)."""
    starts, ends = [], []
    for c in cities:
        if c.profile is not None:
            starts.append(min(w.start for w in c.profile.waves.values()))
            ends.append(max(w.end for w in c.profile.waves.values()))
    if not starts:
        return None
    return min(starts).isoformat(), max(ends).isoformat()


# ===================================================================== figures
def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def embed_figure(rec: dict) -> dict:
    """What the template needs to embed one figure of the manifest (``rec``).

    The embedded copy is :func:`analysis.publishing.figures.embedded_copy` of the saved files: the SVG
    when smaller, else a PNG downscaled to 150 dpi at the printed width. It is printed at
    that width (``width_in``), so the figure's text prints at the size it was checked at
    (:func:`analysis.publishing.figures.enforce_min_font`). The derivation and the source's checksum go
    into the HTML (``data-*`` attributes) so the copy can be checked against its source.
    """

    png = PATHS.root / rec["png"]
    if not png.is_file():
        return {"uri": None, "missing": Reason("na.missing_file", {"path": rec["png"]})}
    svg = PATHS.root / rec["svg"] if isinstance(rec.get("svg"), str) and rec["svg"] else None
    copy = embedded_copy(png, svg)
    return {"uri": _data_uri(copy["data"], copy["mime"]), "missing": None,
            "derivation": copy["derivation"], "source": rel_path(copy["source"]),
            "source_sha256": copy["source_sha256"], "width_in": copy["width_in"]}


def figures_for(manifest: pd.DataFrame, city: str, lang: str) -> list[dict]:
    """The figures of ``city`` in ``lang`` (English where no translation exists), embedded."""

    if manifest is None or manifest.empty:
        return []
    m = manifest[manifest["city"] == city]
    out = []
    for fig_id, grp in m.groupby("figure_id", sort=False):
        row = grp[grp["lang"] == lang]
        fallback = row.empty
        row = (grp[grp["lang"] == "en"] if fallback else row)
        if row.empty:
            row = grp
        rec = row.iloc[0].to_dict()
        rec.update(anchor=figure_anchor(city, fig_id), fallback=fallback and rec["lang"] not in (lang,),  # shown in another language
                   **embed_figure(rec))
        out.append(rec)
    return out


def figure_part(fig: dict) -> str:
    """The part of the report a figure goes in: the ``section`` its sidecar declares
    (:data:`analysis.publishing.figures.SECTIONS`), never guessed from its id."""
    return str(fig["section"])


def report_path(lang: str = "en") -> Path:
    """``reports/report.html`` (English) or ``reports/report.<lang>.html``."""
    return PATHS.reports / f"report{text.file_suffix(lang)}.html"
