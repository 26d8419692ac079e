"""Explore the published neighbourhood results: one city, indicator, wave, group and language.

Owns the exploration views of published results (notebook and dashboard data). Must not
read the respondent file: published, suppressed tables and polygons only.

Behind ``notebooks/explore.ipynb`` (for the support committee's academics) and the offline
dashboard (:mod:`analysis.publishing.dashboard`). Both read only published, suppressed outputs —
``reports/tables/<city>/neighbourhoods.csv``, ``reports/tables/<city>/areas.csv`` and the
polygons of ``data/processed/<city>/neighbourhoods.gpkg`` — never the respondent file, so
nothing under k = :data:`analysis.config.K_SUPPRESS` respondents can be shown (the
suppression is enforced again here, whatever the table says).

Like-for-like trend
-------------------
The trend by area (pilot, comparison, rest of the city) is **not** an average of the
neighbourhoods published in each wave: suppression removes different neighbourhoods in
different waves (in the demo run the set changes between waves in 63 of 82 young-group
lines), so such an average compares different places. Nor can it be rebuilt from the
published table: the suppressed neighbourhoods are missing from it, so a population-weighted
combination would cover only part of an area, and a different part for each group. It is
therefore estimated once, from the processed respondents with the survey weights, by
:func:`area_estimates` — the estimator of the neighbourhood table
(:func:`analysis.statistics.estimates.direct_estimates`, weighted mean with a linearisation SE and a
t interval) applied with the *area* in place of the neighbourhood, in both waves alike —
and published, suppressed, as ``reports/tables/<city>/areas.csv`` (:func:`write_area_table`,
``python -m analysis.publishing.explore``). The weights sum, in each wave, to the population of the
surveyed neighbourhoods, so an area estimate is the population-weighted mean over all its
surveyed neighbourhoods. The SE treats an area as one sample and ignores the stratification
by neighbourhood, which can only widen the interval. When the neighbourhoods surveyed in an
area differ between waves, the table says so (``same_neighbourhoods``) and the views print it.

Words
-----
Every word shown comes from the one catalogue of :mod:`analysis.publishing.text` (the
exploration's own keys are in ``locale/explore.yml``, the labels in ``locale/codebook.yml``);
:func:`t` is :func:`analysis.publishing.text.tr`. There is no language branching in this
module: a language is a catalogue column.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS, PATHS
# area-level estimates live with the statistics; the exploration shows them
from analysis.statistics.areas import AREA_COLUMNS, AREAS, WAVE_ORDER, area_estimates, coarse_df, coarse_intervals, write_area_table  # noqa: F401
from analysis.geography.geo import boundary_note
from analysis.geography.maps import choropleth, map_frame
from analysis.inputs.profile import load_profile
from analysis.publishing import tables, text
from analysis.publishing.text import LANGS, catalogue, tr  # noqa: F401 (the exploration's words are the catalogue's)
from analysis.geography.geo import city_geometry

#: One vocabulary for a cell that shows no number (plus "published" for one that does).
STATUSES: tuple[str, ...] = ("published", "suppressed", "not_collected", "no_data")
#: Columns of the published area table, in order (``data_status`` is added first for synthetic data).
#: Distance (x units, a wave is 1 apart) between a wave's column of points and its n labels.
N_LABEL_GAP = 0.12
#: Smallest vertical distance between two n labels of one wave, as a share of the scale.
N_LABEL_SEP = 0.045
AREA_STYLE = {"pilot": ("#b2182b", "-"), "comparison": ("#2166ac", "--"), "other": ("#7f7f7f", ":")}


# ===================================================================== words
#: The exploration's words: the one catalogue's ``tr`` (kept under its old name for the notebook).
t = tr


def indicator_label(indicator: str, lang: str = "en") -> str:
    """Codebook label of an indicator (never its code, unless the codebook lacks it)."""
    try:
        return codebook.label(indicator, lang)
    except KeyError:
        return indicator


def group_label(group: str, lang: str = "en") -> str:
    """"all residents" or the targeted group's codebook label."""
    return text.group_label(group, lang)


def wave_label(wave: str, lang: str = "en") -> str:
    """Baseline / follow-up / change, from the report's catalogue."""
    return text.wave_label(wave, lang)


def area_label(area: str, lang: str = "en") -> str:
    """pilot / comparison / rest of the city."""
    return text.area_label(area, lang, long=True)


def status_label(status: str, lang: str = "en", k: int = K_SUPPRESS) -> str:
    """The one vocabulary of :data:`STATUSES` in ``lang``."""
    if status == "suppressed":
        return t("value.suppressed", lang, k=k)
    return t(f"status.{status}", lang)


def scale_note(indicator: str, lang: str = "en") -> str:
    """Scale and direction of an indicator, e.g. "scale 1 (Very unsafe) to 4 (Very safe); …".

    Items recoded against their ESS source (codebook ``ess`` ending in "(reversed)") say so,
    since a reader who knows the questionnaire expects the other direction.
    """
    lo, hi = codebook.scale_range(indicator)
    ends = {}
    try:
        v = codebook.var(indicator)
        ends = v.scale_labels
    except KeyError:
        v = None
    if lo in ends and hi in ends:
        note = t("scale.range", lang, lo=lo, hi=hi, lo_label=v.point_label(lo, lang), hi_label=v.point_label(hi, lang))
    else:
        note = t("scale.plain", lang, lo=lo, hi=hi)
    if v is not None and v.ess and "reversed" in v.ess:
        note = t("scale.with_note", lang, scale=note,
                 note=t("scale.reversed", lang, item=v.ess.replace("(reversed)", "").strip()))
    return note


def data_status_line(profile, lang: str = "en") -> str:
    """Synthetic or real, following the city's profile (``profile.synthetic``)."""
    return t("data.synthetic" if profile.synthetic else "data.real", lang, city=text.city_name(profile, lang))


# ===================================================================== the tables
def _mask_small(df: pd.DataFrame, values: tuple[str, ...], counts: tuple[str, ...]) -> pd.DataFrame:
    """Blank values of cells under k and counts from 1 to k-1, whatever the file says."""
    small = pd.to_numeric(df["n"], errors="coerce").fillna(0) < K_SUPPRESS
    flagged = df["suppressed"].astype("str").str.lower().isin(["true", "1"]) if "suppressed" in df.columns \
        else pd.Series(False, index=df.index)
    hide = small | flagged
    for col in values:
        if col in df.columns:
            df[col] = df[col].astype("Float64").mask(hide)
    df["suppressed"] = hide
    # a count between 1 and k-1 is itself a small cell: shown as missing, like its estimate
    for col in counts:
        if col in df.columns:
            n = pd.to_numeric(df[col], errors="coerce")
            df[col] = n.mask((n > 0) & (n < K_SUPPRESS)).round().astype("Int64") if col != "n_eff" \
                else n.mask((n > 0) & (n < K_SUPPRESS))
    return df


def cell_status(df: pd.DataFrame) -> pd.Series:
    """:data:`STATUSES` code of each row of a published table.

    ``not_collected`` where the table's ``status`` column says so, or where an indicator has
    no respondent in any row of the city (never asked); ``no_data`` where nobody in the cell
    answered (n = 0); ``suppressed`` where the cell has 1 to k-1 respondents (its count is
    blanked too) or is flagged; ``published`` otherwise.
    """
    n = pd.to_numeric(df["n"], errors="coerce").astype(float)
    supp = df["suppressed"].astype(bool) if "suppressed" in df.columns else pd.Series(False, index=df.index)
    est = pd.to_numeric(df["estimate"], errors="coerce").astype(float) if "estimate" in df.columns \
        else pd.Series(np.nan, index=df.index)
    out = pd.Series("published", index=df.index, dtype="str")
    # nullable comparisons would leave NA in a mask: plain floats and bools only
    out = out.mask(est.isna().to_numpy(), "no_data")
    out = out.mask((supp | (n.isna() & est.isna())).to_numpy(dtype=bool), "suppressed")
    out = out.mask(n.eq(0).to_numpy(dtype=bool), "no_data")
    never = df.groupby("indicator")["n"].transform(lambda s: pd.to_numeric(s, errors="coerce").fillna(0).eq(0).all()) \
        if "indicator" in df.columns else pd.Series(False, index=df.index)
    out = out.mask(never.astype(bool), "not_collected")
    if "status" in df.columns:
        out = out.mask(df["status"].astype("str").eq("not_collected"), "not_collected")
    return out


def load_table(city: str) -> pd.DataFrame:
    """The published neighbourhood table of ``city``, every cell under k suppressed, with ``status``.

    Raises
    ------
    FileNotFoundError
        Naming the file and the step that writes it, when the city has not been mapped yet.
    """
    path = tables.schema("neighbourhoods").path(city)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run notebooks/02-neighbourhoods.ipynb for "
                                f"city={city!r} (make neighbourhoods CITY={city})")
    df = tables.plain(tables.read("neighbourhoods", city))  # validated by the contract
    df = _mask_small(df, ("estimate", "se", "ci_low", "ci_high", "shrunk"), ("n", "n_baseline", "n_follow_up", "n_eff"))
    df["status"] = cell_status(df)
    return df


def load_areas(city: str) -> pd.DataFrame | None:
    """The published area table (``areas.csv``) of ``city``, suppressed again; None when absent."""
    if not tables.schema("areas").path(city).is_file():
        return None
    df = tables.plain(tables.read("areas", city))  # validated by the contract
    df = _mask_small(df, ("estimate", "se", "ci_low", "ci_high"), ("n", "n_baseline", "n_follow_up", "n_eff"))
    df["status"] = cell_status(df)
    return df


def options(table: pd.DataFrame) -> dict[str, list[str]]:
    """Indicators, waves and groups present in a table (codebook order first)."""
    def ordered(values, order):
        present = list(dict.fromkeys(values))
        return [v for v in order if v in present] + sorted(v for v in present if v not in order)

    return {
        "indicator": ordered(table["indicator"], codebook.INDICATORS),
        "wave": ordered(table["wave"], WAVE_ORDER),
        "group": ordered(table["group"], ("all", *codebook.TARGET_GROUPS)),
    }


def selection(table: pd.DataFrame, indicator: str, wave: str, group: str = "all") -> pd.DataFrame:
    """Rows of one indicator × wave × group, rounded to 3 decimals (stable display)."""
    for name, value in (("indicator", indicator), ("wave", wave), ("group", group)):
        if value not in set(table[name]):
            raise ValueError(f"{name}={value!r} is not in the table; available: {options(table)[name]}")
    cols = [c for c in ("neighbourhood", "name", "area_type", "n", "estimate", "ci_low", "ci_high", "shrunk",
                        "gamma", "status") if c in table.columns]
    sub = table[(table["indicator"] == indicator) & (table["wave"] == wave) & (table["group"] == group)][cols]
    num = [c for c in ("estimate", "ci_low", "ci_high", "shrunk", "gamma") if c in sub.columns]
    sub[num] = sub[num].astype("Float64").round(3)
    return sub.reset_index(drop=True)


def shrinkage_is_flat(rows: pd.DataFrame) -> bool:
    """True when the Fay–Herriot model put no weight on the neighbourhoods (γ ≈ 0 everywhere).

    Then every shrunk estimate is the city mean (the REML variance between neighbourhoods
    hit zero), and preferring it would hide every difference. Judged on γ < 0.01 rather than
    on equal shrunk values, so that the answer does not rest on the last bits of a float.
    """
    if "gamma" not in rows.columns:
        return False
    g = pd.to_numeric(rows["gamma"], errors="coerce").dropna()
    return bool(len(g) >= 2 and (g < 0.01).all())


def shrinkage_advice(rows: pd.DataFrame, lang: str = "en") -> str:
    """How to read the shrunk column of this selection."""
    return t("shrunk.flat" if shrinkage_is_flat(rows) else "shrunk.advice", lang)


def _blank_missing(df: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Numbers as text in ``lang`` (decimal comma in French), missing ones blank: a cell without
    a number says why in ``status``, not "<NA>"."""
    out = df.copy()
    for c in ("n", "neighbourhoods"):
        if c in out.columns:
            out[c] = [("" if pd.isna(v) else str(int(v))) for v in out[c]]
    for c in ("estimate", "ci_low", "ci_high", "shrunk"):
        if c in out.columns:
            out[c] = [("" if pd.isna(v) else text.fmt_num(float(v), lang, 3)) for v in out[c]]
    return out


def display_table(rows: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """A selection with translated headers, area names and the one status vocabulary."""
    out = _blank_missing(rows.drop(columns=[c for c in ("gamma",) if c in rows.columns]), lang)
    if "area_type" in out.columns:
        out["area_type"] = [area_label(a, lang) for a in out["area_type"]]
    out["status"] = [status_label(s, lang) for s in out["status"]]
    return out.rename(columns={c: t(f"col.{c}", lang) for c in out.columns})


# ===================================================================== area estimates
def trend(areas: pd.DataFrame | None, indicator: str, group: str = "all") -> pd.DataFrame:
    """Baseline and follow-up of each area: estimate, 95 % CI, n, status (from ``areas.csv``)."""
    cols = ["area_type", "wave", "n", "estimate", "ci_low", "ci_high", "neighbourhoods", "same_neighbourhoods",
            "status"]
    if areas is None:
        return pd.DataFrame(columns=cols)
    sub = areas[(areas["indicator"] == indicator) & (areas["group"] == group)
                & areas["wave"].isin(["baseline", "follow_up"])].copy()
    sub["neighbourhoods"] = np.where(sub["wave"] == "baseline", sub["neighbourhoods_baseline"],
                                     sub["neighbourhoods_follow_up"])
    order = {a: i for i, a in enumerate(AREAS)}
    sub = sub.sort_values(["area_type", "wave"], key=lambda s: s.map(order) if s.name == "area_type" else
                          s.map({"baseline": 0, "follow_up": 1}), kind="stable")
    for c in ("estimate", "ci_low", "ci_high"):
        sub[c] = sub[c].astype("Float64").round(3)
    return sub[cols].reset_index(drop=True)


def trend_notes(tr_: pd.DataFrame, lang: str = "en") -> list[str]:
    """What a reader of the trend must know: areas absent, waves missing, sets that changed."""
    notes = []
    present = list(dict.fromkeys(tr_["area_type"]))
    for area in ("pilot", "comparison"):
        if area not in present:
            notes.append(t("trend.no_area", lang, area=area_label(area, lang)))
    for area in present:
        g = tr_[tr_["area_type"] == area]
        for _, row in g.iterrows():
            if row["status"] != "published":
                status = t("trend.not_surveyed", lang) if row["status"] == "no_data" and row["neighbourhoods"] == 0 \
                    else status_label(row["status"], lang)
                notes.append(t("trend.wave_missing", lang, area=area_label(area, lang),
                               wave=wave_label(row["wave"], lang), status=status))
        if not g["same_neighbourhoods"].astype(bool).all():
            nb = dict(zip(g["wave"], g["neighbourhoods"]))
            notes.append(t("trend.set_changed", lang, area=area_label(area, lang),
                           nb=int(nb.get("baseline", 0)), nf=int(nb.get("follow_up", 0))))
    return notes


# ===================================================================== geometry
def geometry(city: str):
    """Polygons of the neighbourhoods with the ``approximate`` flag of :mod:`analysis.geography.geo`.

    The processed GeoPackage when present (it carries ``approximate``), else
    :func:`analysis.geography.geo.city_geometry`. ``gdf.attrs["approximate"]`` is True when any polygon
    is an approximate Voronoi cell.
    """
    import geopandas as gpd

    gpkg = PATHS.processed_city(city) / "neighbourhoods.gpkg"
    if gpkg.is_file():
        gdf = gpd.read_file(gpkg)
        if "approximate" not in gdf.columns:
            raise ValueError(f"{gpkg}: no 'approximate' column (rebuild it with make neighbourhoods CITY={city})")
        gdf = gdf[[c for c in ("code", "name", "area_type", "approximate", "geometry") if c in gdf.columns]]
    else:

        gdf = city_geometry(city, load_profile(city)).gdf
    gdf["approximate"] = gdf["approximate"].astype(str).str.lower().isin(["true", "1"])
    gdf.attrs["approximate"] = bool(gdf["approximate"].any())
    return gdf


# ===================================================================== the view
@dataclass
class View:
    """What :func:`show` displays: the selected rows, the trend, the notes and the figure."""

    table: pd.DataFrame
    trend: pd.DataFrame
    figure: plt.Figure
    notes: list[str] = field(default_factory=list)


def spread(values: list[float], sep: float) -> list[float]:
    """Sorted ``values`` pushed up where needed so that any two are at least ``sep`` apart."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else max(v, out[-1] + sep))
    return out


def plot_trend(ax, tr_: pd.DataFrame, indicator: str, group: str, lang: str = "en") -> None:
    """Baseline and follow-up of each area with 95 % CIs, on the indicator's whole scale."""
    lo, hi = codebook.scale_range(indicator)
    offsets = {"pilot": -0.06, "comparison": 0.0, "other": 0.06}  # side by side, intervals readable
    labels = []
    for area in dict.fromkeys(tr_["area_type"]):
        g = tr_[(tr_["area_type"] == area) & (tr_["status"] == "published")]
        colour, style = AREA_STYLE.get(area, ("black", "-"))
        x = np.array([0 if w == "baseline" else 1 for w in g["wave"]], dtype=float) + offsets.get(area, 0)
        y = g["estimate"].astype(float).to_numpy()
        err = np.vstack([y - g["ci_low"].astype(float).to_numpy(), g["ci_high"].astype(float).to_numpy() - y])
        ax.errorbar(x, y, yerr=err, marker="o", color=colour, linestyle=style, capsize=3,
                    label=area_label(area, lang))
        labels += [(w, yi, f"n = {n}", colour) for yi, n, w in zip(y, g["n"], g["wave"])]
    # n outside the column of points (left of the baseline's, right of the follow-up's), so
    # that no label sits on a point or an interval; labels of one wave spread apart
    for wave, side in (("baseline", -1), ("follow_up", 1)):
        col = sorted((lab for lab in labels if lab[0] == wave), key=lambda lab: lab[1])
        for (_, _, txt, colour), yl in zip(col, spread([lab[1] for lab in col], N_LABEL_SEP * (hi - lo))):
            ax.annotate(txt, ((0 if wave == "baseline" else 1) + side * N_LABEL_GAP, yl),
                        ha="right" if side < 0 else "left", va="center", fontsize=7, color=colour)
    ax.set_xticks([0, 1], [wave_label("baseline", lang), wave_label("follow_up", lang)])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(lo, hi)  # the whole scale: no cut axis to exaggerate a change
    ax.set_ylabel(f"{indicator_label(indicator, lang)}\n({t('trend.axis_full', lang, lo=lo, hi=hi)})", fontsize=8)
    ax.set_title(t("trend.title", lang, group=group_label(group, lang), indicator=indicator_label(indicator, lang)),
                 fontsize=9)
    if len(tr_):
        ax.legend(frameon=False, fontsize=8)


def draw(city: str, indicator: str, wave: str, group: str = "all", *, lang: str = "en",
         table: pd.DataFrame | None = None, areas: pd.DataFrame | None = None) -> View:
    """Map (left) and like-for-like trend (right) of one selection, its table and notes."""

    profile = load_profile(city)
    table = load_table(city) if table is None else table
    areas = load_areas(city) if areas is None else areas
    rows = selection(table, indicator, wave, group)
    tr_ = trend(areas, indicator, group)
    geo = geometry(city)
    fig, (ax_map, ax_tr) = plt.subplots(1, 2, figsize=(10, 4.4), gridspec_kw={"width_ratios": [1.3, 1]})
    # masked small counts (1..k-1) still mean "suppressed" on the map; n = 0 is "no data" on
    # both the map and the table (one vocabulary, :func:`cell_status`)
    n_map = table["n"].astype("Float64").mask(table["n"].isna() & table["suppressed"].astype(bool), 1).fillna(0)
    gdf = map_frame(geo, table.assign(suppressed=table["suppressed"].astype(bool), n=n_map), indicator, wave,
                    group=group)
    choropleth(gdf, "value", indicator=indicator, kind="change" if wave == "change" else "level",
               lang=lang, ax=ax_map, title=t("map.title", lang, indicator=indicator_label(indicator, lang),
                                             wave=wave_label(wave, lang)))
    ax_map.text(0, -0.02, boundary_note(geo.attrs["approximate"], lang), transform=ax_map.transAxes,
                fontsize=7, va="top", style="italic")
    plot_trend(ax_tr, tr_, indicator, group, lang)
    text.localise_axes(fig, lang)
    fig.tight_layout()
    notes = [data_status_line(profile, lang), boundary_note(geo.attrs["approximate"], lang),
             t("scale.line", lang, indicator=indicator_label(indicator, lang), scale=scale_note(indicator, lang))]
    notes += [t("trend.method", lang)] if areas is not None else [t("trend.no_table", lang, city=city)]
    notes += trend_notes(tr_, lang) + [shrinkage_advice(rows, lang)]
    return View(rows, tr_, fig, notes)


def show(city: str, indicator: str, wave: str, group: str = "all", lang: str = "en") -> None:
    """Display the map, the trend, the notes and the table of one selection (notebook output)."""

    from IPython.display import Image, display

    view = draw(city, indicator, wave, group, lang=lang)
    # a PNG, not plt.show(): analysis.publishing.figures forces the Agg backend, which shows nothing inline
    buf = io.BytesIO()
    view.figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(view.figure)
    print("\n".join(view.notes))
    display(Image(data=buf.getvalue(), format="png"))
    tr_ = _blank_missing(view.trend, lang).assign(area_type=[area_label(a, lang) for a in view.trend["area_type"]],
                            wave=[wave_label(w, lang) for w in view.trend["wave"]],
                            status=[status_label(s, lang) for s in view.trend["status"]])
    display(tr_.drop(columns=["same_neighbourhoods"]).rename(
        columns={c: t(f"col.{c}", lang) for c in ("area_type", "wave", "n", "estimate", "ci_low", "ci_high",
                                                  "neighbourhoods", "status")}))
    display(display_table(view.table, lang))


def view_outputs(city: str, indicator: str, wave: str, group: str = "all", lang: str = "en") -> tuple[dict, ...]:
    """What :func:`show` displays, as the outputs of an ``ipywidgets.Output`` (notes, map and trend, tables).

    The widgets set their output area's content from the kernel, as ``Output.append_display_data``
    does, rather than capturing :func:`show` in it (``with out:``): a captured output is routed
    by the front end, and nbclient, which stands in for one in a headless run, acknowledges
    each one on the kernel's shell channel while it waits for the cell's reply on that same
    channel; the reply was then missed until the cell's time limit (one run in three, measured:
    the notebook took 46 s instead of 7 with a 40-s limit, 305 s with papermill's 300).
    """
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        show(city, indicator, wave, group, lang)
    outputs = [{"output_type": "stream", "name": name, "text": txt}
               for name, txt in (("stdout", cap.stdout), ("stderr", cap.stderr)) if txt]
    outputs += [{"output_type": "display_data", "data": o.data, "metadata": o.metadata or {}} for o in cap.outputs]
    return tuple(outputs)


def _choices(values, label, lang):
    return [(label(v, lang), v) for v in values]


def widgets(city: str, indicator: str, wave: str, group: str = "all", lang: str = "en"):
    """Dropdowns for city, indicator, wave, group and language, redrawing :func:`show` on change.

    Dropdowns show labels from the catalogues (codes are the values). Cities are those with a
    published neighbourhood table. In a headless run (papermill) widgets render nothing; the
    notebook shows a static default view before them.
    """
    import ipywidgets as w
    from IPython.display import display


    cities = sorted(p.parent.name for p in PATHS.tables.glob("*/neighbourhoods.csv")) or [city]
    names = {c: text.city_name(load_profile(c), lang) for c in cities}
    opts = options(load_table(city))
    labellers = {"indicator": indicator_label, "wave": wave_label, "group": group_label}
    dd = {
        "city": w.Dropdown(options=[(names[c], c) for c in cities], value=city),
        "indicator": w.Dropdown(options=_choices(opts["indicator"], indicator_label, lang), value=indicator),
        "wave": w.Dropdown(options=_choices(opts["wave"], wave_label, lang), value=wave),
        "group": w.Dropdown(options=_choices(opts["group"], group_label, lang), value=group),
        "lang": w.Dropdown(options=[(t("lang.name", x), x) for x in LANGS], value=lang),
    }

    out = w.Output()
    busy = [False]  # relabelling sets several dropdowns: draw once, at the end

    def _redraw(*_):
        if busy[0]:
            return
        out.outputs = view_outputs(**{k: d.value for k, d in dd.items()})

    def _relabel(*_):
        # another city may have other targeted groups; another language other labels
        busy[0] = True
        try:
            current = {k: d.value for k, d in dd.items()}
            o = options(load_table(current["city"]))
            for name, labeller in labellers.items():
                keep = current[name] if current[name] in o[name] else ("all" if name == "group" else o[name][0])
                # not under hold_trait_notifications: the value would be validated against the old options
                dd[name].options = _choices(o[name], labeller, current["lang"])
                dd[name].value = keep
            for name, d in dd.items():
                d.description = t(f"ui.{'language' if name == 'lang' else name}", current["lang"])
        finally:
            busy[0] = False

    def _on_change(change):
        if busy[0]:
            return
        if change["owner"] in (dd["city"], dd["lang"]):
            _relabel()
        _redraw()

    _relabel()
    for d in dd.values():
        d.observe(_on_change, names="value")
    display(w.VBox([w.HBox([dd["city"], dd["indicator"], dd["wave"]]), w.HBox([dd["group"], dd["lang"]])]), out)
    _redraw()


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.publishing.explore [CITY ...]``: publish ``areas.csv`` for the cities given.

    Without arguments, every city with processed respondents.
    """
    args = sys.argv[1:] if argv is None else argv
    cities = args or sorted(p.parent.name for p in PATHS.processed.glob("*/respondents.parquet"))
    for city in cities:
        print(write_area_table(city))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
