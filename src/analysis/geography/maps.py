"""Choropleth maps of neighbourhood estimates: one function, fixed breaks, honest captions.

Owns the one choropleth, its fixed breaks and captions, and the map panels saved per language.
Must not estimate anything: it draws the published, suppressed neighbourhood table.

Every map goes through :func:`choropleth` (STYLE §9):

- **fixed class breaks per indicator**, the same in all nine cities
  (:data:`BREAKS`, declared once from each indicator's scale): maps of one indicator can be
  compared across cities. Never per-city natural breaks. Changes use symmetric diverging
  breaks around zero (blue = more favourable at follow-up);
- suppressed neighbourhoods (n < k, or hidden by secondary suppression so that a small
  cell cannot be recovered) and neighbourhoods without respondents ("no data") are
  **hatched grey**, each with a legend entry;
- the caption names the weighting actually used (:func:`weighting_words`: raked,
  raked approximately, or unweighted when the city has no population margins);
- pilot areas outlined with a thick dark line, comparison areas with a dashed one, both in
  the legend;
- axes off, drawn in the projected CRS :data:`analysis.geography.geo.TARGET_CRS` (EPSG:3035);
- pilot and comparison areas labelled with their code (or a number when codes are long),
  the key (label → name) in the caption (:func:`area_key`);
- on change maps, the neighbourhoods whose change is distinguishable from zero (95 % CI
  of the change excludes 0) cross-hatched, with a legend entry;
- a caption (:func:`map_caption`) with definition, scale, n, source, "approximate
  boundaries" where so and "synthetic data" where so; labels in English or French. The
  caption is the report's text under the figure, never drawn in the image: searchable,
  translatable, readable aloud, and never printed at 3 pt.

:func:`save_neighbourhood_maps` draws and saves the baseline, follow-up and change maps of
an indicator in both languages with :func:`analysis.publishing.figures.save_figure`
(ids ``map-<indicator>-<baseline|follow_up|change>``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS
from analysis.publishing.figures import apply_style, is_current, save_figure, style_digest
from analysis.publishing.text import tr
from analysis.geography.geo import TARGET_CRS, boundary_note
from analysis.io import sha256_frame
from analysis.sdc import publish_count

# ----------------------------------------------------------------- fixed breaks
#: Level class edges by scale (inclusive range of the indicator): 7 classes each.
_LEVEL_EDGES: dict[tuple[float, float], tuple[float, ...]] = {
    (0, 10): (0, 3, 4, 5, 6, 7, 8, 10),
    (1, 4): (1, 2, 2.25, 2.5, 2.75, 3, 3.25, 4),
    (1, 5): (1, 2, 2.5, 3, 3.5, 4, 4.5, 5),
    (0, 1): (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1),
}
#: Symmetric change class edges (inner steps) by scale: 7 classes, middle = little change.
_CHANGE_STEPS: dict[tuple[float, float], tuple[float, ...]] = {
    (0, 10): (0.25, 0.75, 1.5),
    (1, 4): (0.1, 0.25, 0.5),
    (1, 5): (0.1, 0.3, 0.6),
    (0, 1): (0.02, 0.05, 0.1),
}


def _edges(indicator: str, kind: str) -> tuple[float, ...]:
    lo, hi = (float(x) for x in codebook.scale_range(indicator))
    key = (lo, hi)
    if kind == "level":
        if key not in _LEVEL_EDGES:
            raise KeyError(f"no fixed map breaks for scale {key} of {indicator!r}")
        return tuple(float(e) for e in _LEVEL_EDGES[key])
    if kind == "change":
        steps = _CHANGE_STEPS[key]
        width = hi - lo
        return tuple([-width, *(-s for s in reversed(steps)), *steps, width])
    raise ValueError(f"kind must be 'level' or 'change', got {kind!r}")


#: ``BREAKS[indicator]["level"|"change"]``: the class edges of every mapped indicator,
#: declared once and used for all nine cities.
BREAKS: dict[str, dict[str, tuple[float, ...]]] = {
    ind: {"level": _edges(ind, "level"), "change": _edges(ind, "change")} for ind in codebook.INDICATORS
}

#: The indicators every city's notebook maps (baseline, follow-up and change).
MAIN_INDICATORS: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark")

_CMAP = {"level": "YlGnBu", "change": "RdBu"}


def class_colours(kind: str, ncls: int) -> list[str]:
    """The ``ncls`` class colours of a map of ``kind`` (``"level"`` or ``"change"``), as hex.

    Levels: a sequential map, skipping its palest shade so that the lowest class is not read
    as "no data"; changes: a diverging map centred on no change. The dashboard's maps use the
    same colours.
    """
    cmap = plt.get_cmap(_CMAP[kind], ncls + (2 if kind == "level" else 0))
    return [to_hex(cmap(i + 1)) for i in range(ncls)] if kind == "level" else [to_hex(cmap(i)) for i in range(ncls)]

#: The map words of the catalogue (``locale/maps.yml``, keys ``map.<name>``).
_WORDS: tuple[str, ...] = (
    "suppressed", "no_data", "pilot", "comparison", "change", "scale", "points", "def_level", "def_shrunk",
    "def_change", "n", "supp", "crs", "source", "distinct", "distinct_note", "none", "key", "key_pilot",
    "key_comparison", "areas", "colon", "semi", "panel_note",
)

#: Weighting method codes (:data:`analysis.statistics.weights.METHODS`, and ``"given"`` for
#: weights supplied with the data) a caption words: the catalogue's ``map.mean.<code>`` and
#: ``map.how.<code>`` (``none``: method not stated). The demo profiles' margins are
#: placeholders, so no wording claims census population.
_WEIGHTING_CODES: tuple[str | None, ...] = (
    "raked_population", "raked_population_approx", "unweighted_no_margins", "given", None)


def weighting_words(weights_method: str | None, lang: str = "en") -> tuple[str, str]:
    """The caption's "mean" and its weighting note for a weighting method code.

    Raises
    ------
    ValueError
        For a code that is not a known weighting method (a caption must not guess).
    """
    if weights_method not in _WEIGHTING_CODES:
        raise ValueError(f"map caption: unknown weights_method {weights_method!r}; expected one of "
                         f"{sorted(k for k in _WEIGHTING_CODES if k)}")
    code = weights_method or "none"
    return tr(f"map.mean.{code}", lang), tr(f"map.how.{code}", lang)


def _table_method(table: pd.DataFrame, weights_method: str | None) -> str | None:
    """The method given, else the one the table carries in ``attrs`` or a ``weights_method`` column."""
    if weights_method is not None:
        return weights_method
    method = (getattr(table, "attrs", {}) or {}).get("weights_method")
    if method is None and "weights_method" in getattr(table, "columns", ()):
        codes = table["weights_method"].dropna().unique()
        method = str(codes[0]) if len(codes) == 1 else None
    return method

def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _t(lang: str) -> dict[str, str]:
    """The map words in ``lang``, unformatted (``{k}``, ``{n}``… filled in where used)."""
    return {name: tr(f"map.{name}", lang) for name in _WORDS}


def breaks(indicator: str, kind: str = "level") -> tuple[float, ...]:
    """The fixed class edges of ``indicator`` for a ``"level"`` or ``"change"`` map."""
    if indicator in BREAKS:
        return BREAKS[indicator][kind]
    return _edges(indicator, kind)


def classify(values, edges: Sequence[float]) -> np.ndarray:
    """Class index of each value (``[e_i, e_{i+1})``, the last class closed); -1 if missing."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    cls = np.searchsorted(np.asarray(edges[1:-1], dtype=float), v, side="right")
    return np.where(np.isfinite(v), cls, -1)


def class_labels(edges: Sequence[float], kind: str) -> list[str]:
    """Legend text of each class."""
    e = list(edges)
    labels = [f"{a:g} – {b:g}" for a, b in zip(e[:-1], e[1:])]
    if kind == "change":
        labels[0] = f"< {e[1]:g}"
        labels[-1] = f"≥ {e[-2]:g}"
        labels = [lab.replace("-", "−") for lab in labels]
    return labels


def wave_label(wave: str, lang: str = "en") -> str:
    """"Baseline (2014)", "Follow-up (2015)" or "Change" in ``lang``."""
    if wave == "change":
        return tr("map.change", lang)
    return codebook.var("wave").category_label(wave, lang)


# ------------------------------------------------------------------- the map
def map_caption(indicator: str, kind: str = "level", *, lang: str = "en", n: int | None = None,
                areas: int | None = None, city: str | None = None, approximate: bool = False,
                synthetic: bool = False, value: str = "estimate", k: int = K_SUPPRESS,
                weights_method: str | None = None) -> str:
    """The caption of a neighbourhood map: definition, scale, n, source, boundaries, data status.

    ``weights_method`` is the weighting method code of the estimates
    (:func:`analysis.statistics.weights.weights_method`): the caption says "weighted ... raked" only
    when they were raked, "unweighted" when the city has no margins, and names no method
    when none is given.
    """
    t = _t(lang)
    lo, hi = codebook.scale_range(indicator)
    mean, how = weighting_words(weights_method, lang)
    template = t["def_change"] if kind == "change" else (t["def_shrunk"] if value == "shrunk" else t["def_level"])
    definition = template.format(mean=mean, mean_lc=mean[:1].lower() + mean[1:], how=how)
    parts = [f"{codebook.label(indicator, lang)}: {definition}; {t['scale'].format(lo=f'{lo:g}', hi=f'{hi:g}')}"
             + (f" ({t['points']})" if kind == "change" else "") + "."]
    if n is not None:
        parts.append(t["n"].format(n=publish_count(n), m=areas if areas is not None else "?") + "; "
                     + t["supp"].format(k=k) + ".")
    else:
        parts.append(_upper_first(t["supp"].format(k=k)) + ".")
    if city:
        parts.append(t["source"].format(city=city) + ".")
    parts.append(_upper_first(boundary_note(approximate, lang)) + "; " + t["crs"] + ".")
    if synthetic:
        parts.append(tr("figure.synthetic_note", lang) + ".")
    return " ".join(parts)


def choropleth(gdf: gpd.GeoDataFrame, column: str, *, indicator: str, kind: str = "level",
               lang: str = "en", ax=None, outline_pilot: bool = True, caption: str | None = None,
               title: str | None = None, suppressed_col: str = "suppressed",
               area_type_col: str = "area_type", k: int = K_SUPPRESS, legend: bool = True,
               labels: dict[str, str] | None = None):
    """Draw a neighbourhood choropleth with the project's fixed breaks.

    Parameters
    ----------
    gdf : GeoDataFrame
        One row per polygon, with ``column`` (the value; NaN = no data), optionally
        ``suppressed`` (bool) and ``area_type`` ("pilot"/"comparison"/"other").
        Reprojected to EPSG:3035 when in another CRS; it must have a CRS.
    column : str
        Column to map.
    indicator : str
        Codebook indicator: gives the fixed breaks (:data:`BREAKS`) and the labels.
    kind : {"level", "change"}
        Sequential breaks on the indicator's scale, or symmetric diverging breaks of a change.
    lang : {"en", "fr"}
    ax : matplotlib Axes, optional
        Draw here (no caption drawn); default a new figure.
    outline_pilot : bool
        Outline pilot (solid) and comparison (dashed) areas.
    caption : str, optional
        Not drawn: the caption is the report's text under the figure
        (:func:`map_caption`, saved in the figure's sidecar). Kept for compatibility.
    title : str, optional
    suppressed_col, area_type_col : str
    k : int
        The suppression threshold shown in the legend.
    legend : bool
    labels : dict, optional
        ``{code: label}`` written on those polygons (``code`` column), e.g. from :func:`area_labels`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if gdf.crs is None:
        raise ValueError("choropleth: the GeoDataFrame has no CRS")
    if column not in gdf.columns:
        raise KeyError(f"choropleth: column {column!r} not in {list(gdf.columns)}")
    apply_style()
    t = _t(lang)
    data = gdf.to_crs(TARGET_CRS) if gdf.crs != TARGET_CRS else gdf
    edges = breaks(indicator, kind)
    ncls = len(edges) - 1
    colours = class_colours(kind, ncls)
    supp = (data[suppressed_col].fillna(False).astype(bool).to_numpy() if suppressed_col in data
            else np.zeros(len(data), dtype=bool))
    cls = classify(data[column], edges)
    nodata = (cls < 0) & ~supp
    if ax is None:
        # 6.8 in: printed at its own size in the report's 7-in column, so 8-pt legend text prints at 8 pt
        fig, ax = plt.subplots(figsize=(6.8, 5.2))
    else:
        fig = ax.figure
    ax.set_axis_off()
    _no_ticks(ax)
    with _no_redraw(fig):
        handles = _draw_layers(data, ax, fig, cls, supp, nodata, colours, edges, kind, t, k, indicator, lang,
                               outline_pilot, area_type_col, title, legend)
        if labels:
            label_areas(ax, data, labels)
    # the legend entries, for a figure of several maps that draws one shared legend (map_panel)
    ax.legend_handles_imppulse = handles
    return fig


def _no_ticks(ax) -> None:
    """No tick positions for an axis-less map: matplotlib otherwise still works them out at
    each layout (the title's placement asks for the first tick), though none is drawn."""
    from matplotlib.ticker import NullLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(NullLocator())
        axis.set_minor_locator(NullLocator())


@contextlib.contextmanager
def _no_redraw(fig):
    """Skip the full redraw geopandas asks for after every layer (Agg draws at once).

    Saving the figure draws it once; without this, each map was drawn ~13 times.
    """
    canvas = fig.canvas
    canvas.draw_idle = lambda *args, **kwargs: None
    try:
        yield
    finally:
        del canvas.draw_idle


def _draw_layers(data, ax, fig, cls, supp, nodata, colours, edges, kind, t, k, indicator, lang,
                 outline_pilot, area_type_col, title, legend):
    shown = (cls >= 0) & ~supp
    if shown.any():
        data[shown].plot(ax=ax, color=[colours[c] for c in cls[shown]], edgecolor="white", linewidth=0.4)
    if supp.any():
        data[supp].plot(ax=ax, facecolor="#d9d9d9", edgecolor="#8c8c8c", hatch="////", linewidth=0.4)
    if nodata.any():
        data[nodata].plot(ax=ax, facecolor="#f2f2f2", edgecolor="#8c8c8c", hatch="...", linewidth=0.4)
    handles = [Patch(facecolor=c, edgecolor="none", label=lab)
               for c, lab in zip(colours, class_labels(edges, kind))][::-1]
    handles.append(Patch(facecolor="#d9d9d9", edgecolor="#8c8c8c", hatch="////",
                         label=t["suppressed"].format(k=k)))
    handles.append(Patch(facecolor="#f2f2f2", edgecolor="#8c8c8c", hatch="...", label=t["no_data"]))
    if kind == "change" and "distinct" in data:
        distinct = data["distinct"].fillna(False).astype(bool).to_numpy() & shown
        if distinct.any():
            # thick hatch lines: thin ones vanish on small polygons at 150 dpi
            data[distinct].plot(ax=ax, facecolor="none", edgecolor="#1b1b1b", hatch="xx", linewidth=0)
            if hasattr(ax.collections[-1], "set_hatch_linewidth"):  # matplotlib >= 3.10
                ax.collections[-1].set_hatch_linewidth(1.6)
        handles.append(Patch(facecolor="white", edgecolor="#1b1b1b", hatch="xx", label=t["distinct"]))
    if outline_pilot and area_type_col in data:
        at = data[area_type_col].astype("str")
        if (at == "pilot").any():
            data[at == "pilot"].boundary.plot(ax=ax, color="#111111", linewidth=2.2)
            handles.append(Line2D([], [], color="#111111", linewidth=2.2, label=t["pilot"]))
        if (at == "comparison").any():
            data[at == "comparison"].boundary.plot(ax=ax, color="#111111", linewidth=1.5, linestyle=(0, (4, 2)))
            handles.append(Line2D([], [], color="#111111", linewidth=1.5, linestyle=(0, (4, 2)),
                                  label=t["comparison"]))
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, loc="left")
    if legend:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                  title=(t["points"] if kind == "change" else codebook.label(indicator, lang)),
                  title_fontsize=8, fontsize=8, handlelength=2.2)
    return handles


def area_labels(frame: pd.DataFrame, area_type_col: str = "area_type") -> dict[str, str]:
    """Labels of the pilot and comparison areas on a map: ``{code: label}``, pilot areas first.

    The neighbourhood's own code when every such code is at most 4 characters (the
    report's neighbourhood table shows codes), else 1, 2, 3… in that order.
    """
    if area_type_col not in frame:
        return {}
    at = frame[area_type_col].astype("str")
    rows = frame[at.isin(["pilot", "comparison"])].assign(_o=at.map({"pilot": 0, "comparison": 1}))
    rows = rows.sort_values(["_o", "code"], kind="stable",
                            key=lambda c: c if c.name == "_o" else c.astype("str").str.zfill(8))
    codes = [str(c) for c in rows["code"]]
    short = all(len(c) <= 4 for c in codes)
    return {c: (c if short else str(i)) for i, c in enumerate(codes, start=1)}


def area_key(frame: pd.DataFrame, labels: dict[str, str], lang: str = "en",
             area_type_col: str = "area_type") -> str:
    """The key of the labelled areas, for the caption: "Labelled areas — pilot: 1 Name, …; comparison: …"."""
    t = _t(lang)
    if not labels:
        return ""
    names = frame.set_index(frame["code"].astype("str"))
    parts = []
    for kind in ("pilot", "comparison"):
        items = [f"{lab} {names.loc[c, 'name'] if 'name' in names else c}"
                 for c, lab in labels.items() if str(names.loc[c, area_type_col]) == kind]
        if items:
            parts.append(t["key_" + kind] + t["colon"] + ", ".join(items))
    return f"{t['key']} — " + t["semi"].join(parts) + "."


def distinct_list(frame: pd.DataFrame, labels: dict[str, str], lang: str = "en") -> str:
    """Caption sentence naming the areas whose change is distinguishable from 0 (or saying there are none)."""
    t = _t(lang)
    if "distinct" not in frame:
        return ""
    rows = frame[frame["distinct"]]
    names = [f"{r['name'] if 'name' in frame else r['code']}"
             + (f" ({labels[str(r['code'])]})" if str(r["code"]) in labels else "")
             for _, r in rows.sort_values("code", kind="stable").iterrows()]
    return t["distinct_note"] + t["colon"] + (", ".join(names) if names else t["none"]) + "."


def label_areas(ax, data: gpd.GeoDataFrame, labels: dict[str, str]) -> None:
    """Write each label on its polygon (at a point inside it), dark on a white halo."""
    halo = [patheffects.withStroke(linewidth=1.6, foreground="white")]
    for code, geom in zip(data["code"].astype("str"), data.geometry):
        if code in labels and geom is not None and not geom.is_empty:
            pt = geom.representative_point()  # inside the polygon, unlike the centroid
            ax.annotate(labels[code], (pt.x, pt.y), ha="center", va="center", fontsize=7,
                        fontweight="bold", color="#111111", path_effects=halo)


# --------------------------------------------------------------- from the table
def map_frame(geometry, table: pd.DataFrame, indicator: str, wave: str, *, group: str = "all",
              value: str = "estimate") -> gpd.GeoDataFrame:
    """Polygons joined to one indicator × wave × group of the (suppressed) estimate table.

    Returns
    -------
    GeoDataFrame
        ``code``, ``name``, ``area_type``, ``value``, ``n``, ``suppressed``, ``geometry``, and
        ``distinct`` (the 95 % CI excludes 0; False where suppressed) when the table has
        ``ci_low``/``ci_high``; polygons with no row in the table have ``value`` NaN and
        ``n`` 0 ("no data").
    """
    gdf = getattr(geometry, "gdf", geometry)
    sub = table[(table["indicator"] == indicator) & (table["wave"] == wave) & (table["group"] == group)]
    ci = [c for c in ("ci_low", "ci_high") if c in sub.columns and value == "estimate"]
    sub = sub[["neighbourhood", value, "n", "suppressed", *ci]].rename(columns={"neighbourhood": "code",
                                                                                value: "value"})
    out = gdf.merge(sub, on="code", how="left")
    if len(ci) == 2:
        lo, hi = (pd.to_numeric(out[c], errors="coerce") for c in ci)
        # strict inequalities: an interval touching 0 does not exclude it
        out["distinct"] = ((lo > 0) | (hi < 0)).fillna(False).astype(bool)
        out = out.drop(columns=ci)
    out["n"] = out["n"].fillna(0).astype("int64")
    out["suppressed"] = out["suppressed"].astype("boolean").fillna(False).astype(bool)
    # Suppression holds on the map whatever the table says: no value from fewer than K.
    small = out["n"] < K_SUPPRESS
    out.loc[small & out["value"].notna(), "suppressed"] = True
    out.loc[out["suppressed"], "value"] = np.nan
    if "distinct" in out:
        out.loc[out["suppressed"] | out["value"].isna(), "distinct"] = False
    out["suppressed"] = out["suppressed"] & (out["n"] > 0)  # nobody at all: "no data"
    return out


def save_neighbourhood_maps(geometry, table: pd.DataFrame, profile, indicator: str, *,
                            waves: Sequence[str] = ("baseline", "follow_up", "change"),
                            langs: Sequence[str] = ("en", "fr"), group: str = "all",
                            value: str = "estimate", notebook: str = "02-neighbourhoods.ipynb",
                            weights_method: str | None = None) -> list[dict]:
    """Draw and save the maps of one indicator, per wave and language.

    ``weights_method``: the weighting method code of the estimates, worded in the caption
    (default: the table's ``attrs["weights_method"]`` or ``weights_method`` column, else none).

    Figure ids ``map-<indicator>-<wave>`` (``-<group>`` appended for a targeted group), saved
    to ``reports/figures/<city>/`` as PNG + SVG + JSON sidecar. Figures are closed.

    Returns
    -------
    list of dict
        The paths written, one dict per figure.
    """
    approximate = bool(getattr(geometry, "approximate", False))
    weights_method = _table_method(table, weights_method)
    written = []
    for wave in waves:
        kind = "change" if wave == "change" else "level"
        frame = map_frame(geometry, table, indicator, wave, group=group, value=value)
        shown = frame[~frame["suppressed"] & frame["value"].notna()]
        fig_id = f"map-{indicator}-{wave}" + ("" if group == "all" else f"-{group}")
        checksum = sha256_frame(pd.DataFrame(frame.drop(columns="geometry")))
        for lang in langs:
            title = f"{profile.name} — {codebook.label(indicator, lang)} — {wave_label(wave, lang)}"
            caption = map_caption(indicator, kind, lang=lang, n=int(shown["n"].sum()), areas=len(shown),
                                  city=profile.name, approximate=approximate,
                                  synthetic=profile.synthetic, value=value, weights_method=weights_method)
            labels = area_labels(frame)
            caption = " ".join(x for x in (caption, area_key(frame, labels, lang),
                                             distinct_list(frame, labels, lang) if kind == "change" else "")
                               if x)
            fig = choropleth(frame, "value", indicator=indicator, kind=kind, lang=lang, title=title,
                             labels=labels)
            written.append(save_figure(fig, city=profile.city, fig_id=fig_id, title=title, caption=caption,
                                       notebook=notebook, section="maps", data_checksum=checksum,
                                       synthetic=profile.synthetic, lang=lang))
            plt.close(fig)
    return written


def map_panel(geometry, table: pd.DataFrame, profile, indicator: str, *, lang: str = "en",
              group: str = "all", value: str = "estimate", caption: str | None = None):
    """Baseline, follow-up and change maps of one indicator, with their legends, on one A4 column.

    Layout for print (7 × 5.9 in, printed at its own size so its text is ≥ 7 pt): the two
    level maps side by side with their shared legend, the change map under them with its
    legend and the key of outlines and hatching. The two level maps share the indicator's
    fixed breaks (so they compare with each other and across cities); the change map uses
    the symmetric diverging breaks and cross-hatches changes whose 95 % CI excludes 0.
    Pilot and comparison areas carry their label (:func:`area_labels`). ``caption`` is
    not drawn (the report prints it under the figure).
    """
    apply_style()
    t = _t(lang)
    fig = plt.figure(figsize=(7.0, 5.9))
    gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.78], wspace=0.04, hspace=0.12)
    frames = {w: map_frame(geometry, table, indicator, w, group=group, value=value)
              for w in ("baseline", "follow_up", "change")}
    labels = area_labels(frames["baseline"])
    handles = {}
    for wave, cell in (("baseline", gs[0, 0]), ("follow_up", gs[0, 1]), ("change", gs[1, 0])):
        ax = fig.add_subplot(cell)
        kind = "change" if wave == "change" else "level"
        choropleth(frames[wave], "value", indicator=indicator, kind=kind, lang=lang, ax=ax,
                   title=wave_label(wave, lang), legend=False, labels=labels)
        handles[kind] = ax.legend_handles_imppulse
        ax.title.set_fontsize(9)
    n_cls = {k: len(breaks(indicator, k)) - 1 for k in ("level", "change")}

    def legend(cell, items, title):
        lax = fig.add_subplot(cell)
        lax.set_axis_off()
        _no_ticks(lax)
        lax.legend(handles=items, loc="upper left", frameon=False, title=title, fontsize=7.5,
                   title_fontsize=8, handlelength=1.8, borderaxespad=0.2, labelspacing=0.35,
                   alignment="left")

    level_title = codebook.label(indicator, lang).split(" (")[0]
    legend(gs[0, 2], handles["level"][:n_cls["level"]], level_title)
    legend(gs[1, 1], handles["change"][:n_cls["change"]], t["points"])
    legend(gs[1, 2], handles["change"][n_cls["change"]:], t["areas"])
    return fig


def save_map_panels(geometry, table: pd.DataFrame, profile, indicator: str, *,
                    langs: Sequence[str] = ("en", "fr"), group: str = "all", value: str = "estimate",
                    notebook: str = "02-neighbourhoods.ipynb", weights_method: str | None = None) -> list[dict]:
    """Draw and save the baseline / follow-up / change panel of one indicator, per language.

    ``weights_method``: the weighting method code of the estimates, worded in the caption
    (default: the table's ``attrs["weights_method"]`` or ``weights_method`` column, else none).

    Figure id ``maps-<indicator>`` (``-<group>`` appended for a targeted group) in
    ``reports/figures/<city>/``: the published neighbourhood maps of the report. A panel
    whose saved files were drawn from the same data, polygons, words and code
    (:func:`panel_key`) is not drawn again: its files are what drawing it would write.

    Returns
    -------
    list of dict
        The paths written, one dict per language.
    """
    apply_style()  # before the figures' keys are computed: they include the settings in force
    approximate = bool(getattr(geometry, "approximate", False))
    weights_method = _table_method(table, weights_method)
    frames = {w: map_frame(geometry, table, indicator, w, group=group, value=value)
              for w in ("baseline", "follow_up", "change")}
    shown = {w: f[~f["suppressed"] & f["value"].notna()] for w, f in frames.items()}
    n = int(shown["baseline"]["n"].sum() + shown["follow_up"]["n"].sum())
    areas = len(set(shown["baseline"]["code"]) | set(shown["follow_up"]["code"]))
    checksum = sha256_frame(pd.concat([pd.DataFrame(f.drop(columns="geometry")).assign(wave=w)
                                       for w, f in frames.items()], ignore_index=True))
    fig_id = f"maps-{indicator}" + ("" if group == "all" else f"-{group}")
    shapes = geometry_checksum(geometry)
    written = []
    for lang in langs:
        title = f"{profile.name} — {codebook.label(indicator, lang)}"
        caption = map_caption(indicator, "level", lang=lang, n=n, areas=areas, city=profile.name,
                              approximate=approximate, synthetic=profile.synthetic, value=value,
                              weights_method=weights_method)
        key = area_key(frames["baseline"], area_labels(frames["baseline"]), lang)
        distinct = distinct_list(frames["change"], area_labels(frames["baseline"]), lang)
        caption = " ".join(x for x in (caption, tr("map.panel_note", lang), key, distinct) if x)
        content = panel_key(checksum, shapes, indicator, lang, title=title, caption=caption,
                            synthetic=profile.synthetic, group=group, value=value)
        same = is_current(profile.city, fig_id, lang, content)
        if same is not None:  # drawn from exactly this before: its files are what drawing writes
            written.append(same)
            continue
        fig = map_panel(geometry, table, profile, indicator, lang=lang, group=group, value=value)
        written.append(save_figure(fig, city=profile.city, fig_id=fig_id, title=title, caption=caption,
                                   notebook=notebook, section="maps", data_checksum=checksum,
                                   synthetic=profile.synthetic, lang=lang, content_key=content))
        plt.close(fig)
    return written


def geometry_checksum(geometry) -> str:
    """SHA-256 of the polygons drawn (their WKB, in order) and their CRS."""
    gdf = getattr(geometry, "gdf", geometry)
    h = hashlib.sha256(str(gdf.crs).encode())
    for code, geom in zip(gdf["code"].astype("str"), gdf.geometry):
        h.update(code.encode() + b"\0" + (geom.wkb if geom is not None else b"") + b"\0")
    return h.hexdigest()


def panel_key(checksum: str, shapes: str, indicator: str, lang: str, **facts) -> str:
    """Everything a map panel is drawn from, as one digest: the data (``checksum`` of the
    three frames), the polygons (``shapes``), every word it can show in ``lang`` (the map
    words, the labels of the indicator and waves, the class labels, the stamp), the
    title, caption and other ``facts``, and the code that draws it
    and the settings it is drawn with (:func:`analysis.publishing.figures.style_digest`)."""
    words = {**_t(lang), "indicator": codebook.label(indicator, lang),
             "waves": [wave_label(w, lang) for w in ("baseline", "follow_up", "change")],
             "classes": [class_labels(breaks(indicator, k), k) for k in ("level", "change")],
             "stamp": tr("fig.stamp", lang), "note": tr("figure.synthetic_note", lang)}
    record = {"data": checksum, "shapes": shapes, "indicator": indicator, "lang": lang, "words": words,
              "facts": facts, "code": style_digest()}
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def indicators_to_map(table: pd.DataFrame, main: Sequence[str] = MAIN_INDICATORS) -> list[str]:
    """What a city's maps show: each main indicator it collected, or else its collected items.

    A city that did not collect an index (too few of its items) gets a map of each item it
    did collect, on the item's own scale; an outcome not collected gets no map (its
    neighbourhood rows say ``not_collected``), never an empty one.
    """
    have = set(table["indicator"])
    status = table.groupby("indicator")["status"].agg(lambda s: set(s)) if "status" in table else None
    out = []
    for ind in main:
        collected = ind in have and (status is None or status[ind] != {"not_collected"})
        if collected:
            out.append(ind)
            continue
        items = next((ix.items for ix in codebook.INDICES if ix.name == ind), ())
        out += [i for i in items if i in have and i not in main]
    return out

