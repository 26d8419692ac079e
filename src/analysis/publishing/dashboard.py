"""The offline dashboard: ``reports/dashboard.html``, one file anyone can open.

Owns the offline dashboard, reports/dashboard.html. Must not read respondents nor
estimate: it embeds published, suppressed tables only.

For committee members and city staff who will never start Jupyter: the same choices as
``notebooks/explore.ipynb`` (city, indicator, wave, group, language) and the same three
views (the neighbourhood map, the like-for-like trend by area, the table), in one HTML file
that opens offline — from a USB stick or an e-mail attachment — with nothing fetched from
the network. ``python -m analysis.publishing.dashboard`` writes it (``make report`` should run it after
the tables are published).

What it reads
-------------
Only published, suppressed outputs: ``reports/tables/<city>/neighbourhoods.csv`` and
``areas.csv`` (through :func:`analysis.publishing.explore.load_table` and :func:`~analysis.publishing.explore.load_areas`,
which suppress again whatever the files say) and the polygons of
``data/processed/<city>/neighbourhoods.gpkg`` (official or approximate, with the flag),
simplified to a tolerance of :data:`SIMPLIFY_M` metres. Every respondent count embedded is
blank or at least k; every estimate embedded rests on at least k respondents.

Why plotly.js
-------------
* **Offline, inline**: the plotly Python package ships the complete ``plotly.min.js``
  (``plotly/package_data``); it is pasted into the page, so no CDN is ever asked for — the
  same file ``include_plotlyjs=True`` inlines. Nothing else is needed: the page's own
  script is a few hundred lines of plain JavaScript.
* **Maintained**: plotly.js and plotly.py are released every few weeks under the MIT
  licence by Plotly, with a stable JSON figure format.
* **Choropleth without tiles**: the map is drawn as filled polygons on plain Cartesian
  axes (ETRS89-LAEA kilometres, equal aspect), not with ``choroplethmap`` (which needs tiles)
  or ``geo`` (whose base layers come from a CDN topojson); so no map tile or base layer is
  ever requested.
* **Size**: ``plotly.min.js`` is about 4.8 MB; with the nine demo cities' data the page is
  about 6 MB (measured by ``tests/test_dashboard.py``), which an e-mail can carry. Vega-Lite
  (altair + vl-convert) would be smaller (~1 MB of JS) but needs a second compiled package
  to inline it and makes a dashboard whose every control rewrites the spec; a hand-written
  SVG map would be smallest but would be code of our own to maintain instead of a library.

The plotly *Python* API is not used: the figures are plain JSON built by the page's script,
so the only thing taken from the package is its JavaScript file (pin ``plotly`` in the
requirements; :func:`plotly_js` says how when it is missing).

Words
-----
Every word comes from the one catalogue through :func:`analysis.publishing.text.tr` (and the
labels of :mod:`analysis.publishing.text`), numbers with each language's decimal mark; the
page holds every language of the catalogue and switches between them without reloading. A URL hash selects the view on load, e.g.
``dashboard.html#city=nantes&lang=fr&indicator=trust_police&wave=change&group=young``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.publishing import explore, text
from analysis.publishing.text import tr
from analysis.config import K_SUPPRESS, PATHS
from analysis.publishing.tables import DASHBOARD_AREA_COLUMNS, DASHBOARD_ROW_COLUMNS
from analysis.geography.geo import TARGET_CRS, boundary_note
from analysis.geography.maps import breaks, class_colours
from analysis.inputs.profile import load_profile
from analysis.io import write_text

#: Geometries are simplified to this tolerance (metres): invisible at dashboard size.
SIMPLIFY_M: float = 40.0
# .j2 like the report template (the privacy guard allows templates/*.j2); filled by plain
# replacement of two markers, not by Jinja: plotly.min.js must pass through untouched
TEMPLATE = Path(__file__).resolve().parent / "templates" / "dashboard.html.j2"
#: Columns of the tables the page embeds (all published, suppressed): declared once for the
#: disclosure check too.
ROW_COLUMNS: tuple[str, ...] = DASHBOARD_ROW_COLUMNS
AREA_COLUMNS: tuple[str, ...] = DASHBOARD_AREA_COLUMNS
_UI_KEYS = ("ui.title", "ui.city", "ui.indicator", "ui.wave", "ui.group", "ui.language", "ui.map", "ui.trend",
            "ui.table", "dash.intro", "dash.no_rows", "trend.method", "shrunk.advice", "shrunk.flat",
            "col.name", "col.area_type", "col.n", "col.estimate", "col.ci_low", "col.ci_high", "col.shrunk",
            "col.status", "map.class", "banner.short")


def plotly_js() -> str:
    """The text of ``plotly.min.js`` from the installed plotly package.

    Raises
    ------
    ModuleNotFoundError
        When plotly is not installed, saying which requirement to add.
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the dashboard inlines plotly.min.js from the plotly package: add "
                                  "plotly to requirements.lock (pip install plotly) and rebuild")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly")
    return path.read_text(encoding="utf-8")


def _num(x, digits: int = 3):
    """A JSON number rounded for display, or None (JSON null) for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else round(v, digits)


def _count(x):
    """A respondent count for the page: at least k, or None (blank) — never 1..k-1."""
    v = _num(x, 0)
    if v is None or (0 < v < K_SUPPRESS):
        return None
    return int(v)


def _records(df: pd.DataFrame, columns) -> list[list]:
    out = []
    for row in df[list(columns)].itertuples(index=False):
        rec = []
        for c, v in zip(columns, row):
            if c in ("n", "neighbourhoods"):
                rec.append(_count(v) if c == "n" else int(v))
            elif c in ("estimate", "ci_low", "ci_high", "shrunk"):
                rec.append(_num(v))
            elif c == "same_neighbourhoods":
                rec.append(bool(v))
            else:
                rec.append(str(v))
        out.append(rec)
    return out


def _rings(geom, origin) -> list[list[list[float]]]:
    """Exterior rings of a (multi)polygon in km from ``origin``, rounded to 10 m."""
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    out = []
    for p in polys:
        xy = np.asarray(p.exterior.coords)
        out.append([[round((x - origin[0]) / 1000, 2), round((y - origin[1]) / 1000, 2)] for x, y in xy])
    return out


def legend_labels(edges, kind: str, lang: str) -> list[str]:
    """The map legend's class labels (:func:`analysis.geography.maps.class_labels`) with the
    numbers of ``lang`` ("0,5 – 1" in French)."""
    e = [text.fmt_g(x, lang) for x in edges]
    labels = [f"{a} – {b}" for a, b in zip(e[:-1], e[1:])]
    if kind == "change":
        labels[0], labels[-1] = f"< {e[1]}", f"≥ {e[-2]}"
    return labels


def city_data(city: str) -> dict:
    """Everything the page needs about one city, from published tables and geometry only."""

    profile = load_profile(city)
    table = explore.load_table(city)
    areas = explore.load_areas(city)
    gdf = explore.geometry(city)
    gdf = gdf.to_crs(TARGET_CRS) if gdf.crs is not None and gdf.crs != TARGET_CRS else gdf
    gdf = gdf.assign(geometry=gdf.geometry.simplify(SIMPLIFY_M, preserve_topology=True))
    minx, miny, _, _ = gdf.total_bounds
    origin = (math.floor(minx / 1000) * 1000, math.floor(miny / 1000) * 1000)
    opts = explore.options(table)
    names = dict(zip(table["neighbourhood"], table["name"])) if "name" in table.columns else {}
    atype = dict(zip(gdf["code"].astype(str), gdf["area_type"].astype(str)))
    flat = {}
    notes = {lang: {} for lang in text.LANGS}
    for (ind, wave, group), rows in table.groupby(["indicator", "wave", "group"], sort=False):
        flat[f"{ind}|{wave}|{group}"] = explore.shrinkage_is_flat(rows)
    for ind in opts["indicator"]:
        for group in opts["group"]:
            tr_ = explore.trend(areas, ind, group)
            for lang in text.LANGS:
                notes[lang][f"{ind}|{group}"] = explore.trend_notes(tr_, lang) if areas is not None \
                    else [tr("trend.no_table", lang, city=city)]
    area_rows = []
    if areas is not None:
        a = areas.copy()
        a["neighbourhoods"] = np.where(a["wave"] == "change", 0, np.where(a["wave"] == "baseline",
                                       a["neighbourhoods_baseline"], a["neighbourhoods_follow_up"]))
        area_rows = _records(a, AREA_COLUMNS)
    approximate = bool(gdf.attrs.get("approximate", gdf["approximate"].any()))
    return {
        "name": {lang: text.city_name(profile, lang) for lang in text.LANGS},
        "synthetic": bool(profile.synthetic),
        "approximate": approximate,
        "status_line": {lang: explore.data_status_line(profile, lang) for lang in text.LANGS},
        "boundaries": {lang: boundary_note(approximate, lang) for lang in text.LANGS},
        "options": opts,
        "polygons": {str(c): {"name": str(names.get(str(c), n)), "area": atype.get(str(c), "other"),
                              "rings": _rings(g, origin)}
                     for c, n, g in zip(gdf["code"].astype(str), gdf["name"], gdf.geometry)},
        "rows": _records(table, ROW_COLUMNS),
        "areas": area_rows,
        "flat": flat,
        "notes": notes,
        "breaks": {ind: {kind: {"edges": list(breaks(ind, kind)),
                                "labels": {lang: legend_labels(breaks(ind, kind), kind, lang) for lang in text.LANGS},
                                "colours": class_colours(kind, len(breaks(ind, kind)) - 1)}
                         for kind in ("level", "change")} for ind in opts["indicator"]},
    }


def page_data(cities: list[str] | None = None) -> dict:
    """The page's data: every city with a published neighbourhood table, and the words."""
    cities = cities or sorted(p.parent.name for p in PATHS.tables.glob("*/neighbourhoods.csv"))
    if not cities:
        raise FileNotFoundError(f"no published neighbourhood table under {PATHS.tables}: run the pipeline first")
    data = {c: city_data(c) for c in cities}
    indicators = list(dict.fromkeys(i for d in data.values() for i in d["options"]["indicator"]))
    groups = list(dict.fromkeys(g for d in data.values() for g in d["options"]["group"]))
    words = {}
    for lang in text.LANGS:
        w = {k: tr(k, lang) for k in _UI_KEYS}
        w["dash.k_rule"] = tr("dash.k_rule", lang, k=K_SUPPRESS)
        w["lang.name"] = tr("lang.name", lang)
        w["decimal"] = text.decimal_mark(lang)
        w["separators"] = text.decimal_mark(lang) + text.group_mark(lang)  # plotly's layout.separators
        w["wave"] = {x: explore.wave_label(x, lang) for x in explore.WAVE_ORDER}
        w["area"] = {x: explore.area_label(x, lang) for x in explore.AREAS}
        w["status"] = {x: explore.status_label(x, lang) for x in explore.STATUSES}
        w["indicator"] = {i: explore.indicator_label(i, lang) for i in indicators}
        w["scale"] = {i: tr("scale.line", lang, indicator=explore.indicator_label(i, lang),
                                   scale=explore.scale_note(i, lang)) for i in indicators}
        w["group"] = {g: explore.group_label(g, lang) for g in groups}
        # templates with {placeholders}, filled in by the page (same names in both languages)
        w["tpl"] = {k: tr(k, lang) for k in ("map.title", "trend.title", "trend.axis_full")}
        words[lang] = w
    return {"k": K_SUPPRESS, "langs": list(text.LANGS), "words": words, "cities": data,
            "scales": {i: list(codebook.scale_range(i)) for i in indicators}}


def disclosure_problems(data: dict, k: int = K_SUPPRESS) -> list[str]:
    """Cells of the page data that would break the k rule (empty when the page is safe).

    A count from 1 to k-1, or an estimate, interval or shrunk value shown with a count that is
    blank or under k. Messages name the city, table and row position, never the row content.
    """
    problems = []
    specs = {"rows": (ROW_COLUMNS, ("estimate", "ci_low", "ci_high", "shrunk")),
             "areas": (AREA_COLUMNS, ("estimate", "ci_low", "ci_high"))}
    for city, d in data["cities"].items():
        for name, (cols, values) in specs.items():
            n_i, v_i = cols.index("n"), [cols.index(c) for c in values]
            for pos, r in enumerate(d[name]):
                n = r[n_i]
                if n is not None and 0 < n < k:
                    problems.append(f"{city} {name}[{pos}]: count under {k}")
                if (n is None or n < k) and any(r[i] is not None for i in v_i):
                    problems.append(f"{city} {name}[{pos}]: value shown for a cell under {k} respondents")
    return problems


def render(data: dict, js: str | None = None) -> str:
    """The HTML page: the template with plotly.js and the data inlined."""
    js = plotly_js() if js is None else js
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # "</" inside a <script> element would end it early
    payload = payload.replace("</", "<\\/")
    html = TEMPLATE.read_text(encoding="utf-8")
    return html.replace("/*__PLOTLY_JS__*/", js.replace("</script", "<\\/script")).replace("/*__DATA__*/", payload)


def build(path: Path | None = None, cities: list[str] | None = None) -> Path:
    """Write ``reports/dashboard.html`` (atomically) and return its path."""

    path = PATHS.reports / "dashboard.html" if path is None else Path(path)
    data = page_data(cities)
    problems = disclosure_problems(data)
    if problems:  # cannot happen with suppressed tables: a last guard before anything is written
        raise ValueError(f"{path.name} not written: {len(problems)} cell(s) break the k rule, first: {problems[0]}")
    html = render(data)
    write_text(path, html)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.publishing.dashboard [CITY ...]``: build ``reports/dashboard.html``."""
    args = sys.argv[1:] if argv is None else argv
    path = build(cities=args or None)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
