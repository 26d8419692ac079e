"""Explore the published neighbourhood results: one city, indicator, wave and group at once.

Behind ``notebooks/explore.ipynb``, for the support committee's academics. It reads only
published, suppressed outputs — ``reports/tables/<city>/neighbourhoods.csv`` and the
polygons of ``data/processed/<city>/neighbourhoods.gpkg`` — never the respondent file, so
nothing under k = :data:`analysis.config.K_SUPPRESS` respondents can be shown (the
suppression is enforced again here, whatever the table says).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import codebook
from .config import K_SUPPRESS, PATHS

#: Waves in time order, then the change between them.
WAVE_ORDER: tuple[str, ...] = ("baseline", "follow_up", "change")
_AREA_STYLE = {"pilot": ("#b2182b", "-"), "comparison": ("#2166ac", "--"), "other": ("#7f7f7f", ":")}


def load_table(city: str) -> pd.DataFrame:
    """The published neighbourhood table of ``city``, with every cell under k suppressed.

    Raises
    ------
    FileNotFoundError
        Naming the file and the step that writes it, when the city has not been mapped yet.
    """
    path = PATHS.tables_city(city) / "neighbourhoods.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run notebooks/02-neighbourhoods.ipynb for "
                                f"city={city!r} (make neighbourhoods CITY={city})")
    df = pd.read_csv(path, dtype={"neighbourhood": "str"})
    missing = [c for c in ("neighbourhood", "wave", "indicator", "group", "n", "estimate") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    small = pd.to_numeric(df["n"], errors="coerce").fillna(0) < K_SUPPRESS
    flagged = df["suppressed"].astype("str").str.lower().isin(["true", "1"]) if "suppressed" in df.columns \
        else pd.Series(False, index=df.index)
    hide = small | flagged
    for col in ("estimate", "ci_low", "ci_high", "shrunk"):
        if col in df.columns:
            df[col] = df[col].astype("Float64").mask(hide)
    df["suppressed"] = hide
    # a count between 1 and k-1 is itself a small cell: shown as missing, like its estimate
    for col in ("n", "n_baseline", "n_follow_up", "n_eff"):
        if col in df.columns:
            n = pd.to_numeric(df[col], errors="coerce")
            df[col] = n.mask((n > 0) & (n < K_SUPPRESS)).round().astype("Int64") if col != "n_eff" \
                else n.mask((n > 0) & (n < K_SUPPRESS))
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
                        "suppressed") if c in table.columns]
    sub = table[(table["indicator"] == indicator) & (table["wave"] == wave) & (table["group"] == group)][cols]
    num = [c for c in ("estimate", "ci_low", "ci_high", "shrunk") if c in sub.columns]
    sub[num] = sub[num].astype("Float64").round(3)
    return sub.reset_index(drop=True)


def trend(table: pd.DataFrame, indicator: str, group: str = "all") -> pd.DataFrame:
    """Baseline and follow-up by area type: mean of the neighbourhood estimates weighted by n.

    Only published (unsuppressed) cells enter, so the trend is a summary of the table, not
    a re-estimate from respondents (the impact notebook gives the design-based effect).
    """
    sub = table[(table["indicator"] == indicator) & (table["group"] == group)
                & table["wave"].isin(["baseline", "follow_up"]) & table["estimate"].notna()]
    if "area_type" not in sub.columns:
        sub = sub.assign(area_type="other")
    rows = []
    for (area, wave), g in sub.groupby(["area_type", "wave"], sort=False):
        w = pd.to_numeric(g["n"]).astype(float).to_numpy()
        rows.append({"area_type": area, "wave": wave, "neighbourhoods": len(g), "n": int(w.sum()),
                     "mean": float(np.average(g["estimate"].astype(float), weights=w))})
    out = pd.DataFrame(rows, columns=["area_type", "wave", "neighbourhoods", "n", "mean"])
    order = {a: i for i, a in enumerate(("pilot", "comparison", "other"))}
    out = out.sort_values(["area_type", "wave"], key=lambda s: s.map(order) if s.name == "area_type" else
                          s.map({"baseline": 0, "follow_up": 1}), kind="stable")
    out["mean"] = out["mean"].round(3)
    return out.reset_index(drop=True)


def geometry(city: str):
    """Polygons of the neighbourhoods: the processed GeoPackage, else the city geometry."""
    import geopandas as gpd

    gpkg = PATHS.processed_city(city) / "neighbourhoods.gpkg"
    if gpkg.is_file():
        gdf = gpd.read_file(gpkg)
        keep = [c for c in ("code", "name", "area_type", "geometry") if c in gdf.columns]
        return gdf[keep]
    from .geo import city_geometry
    from .profile import load_profile

    return city_geometry(city, load_profile(city)).gdf


@dataclass
class View:
    """What :func:`show` displays: the selected rows, the trend and the figure."""

    table: pd.DataFrame
    trend: pd.DataFrame
    figure: plt.Figure


def draw(city: str, indicator: str, wave: str, group: str = "all", *, lang: str = "en",
         table: pd.DataFrame | None = None) -> View:
    """Map (left) and trend (right) of one selection, and its table."""
    from .maps import choropleth, map_frame

    table = load_table(city) if table is None else table
    rows = selection(table, indicator, wave, group)
    tr_ = trend(table, indicator, group)
    fig, (ax_map, ax_tr) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    # masked small counts (1..k-1) still mean "suppressed" on the map, not "no data"
    n_map = table["n"].astype("Float64").mask(table["n"].isna() & table["suppressed"].astype(bool), 1).fillna(0)
    gdf = map_frame(geometry(city), table.assign(suppressed=table["suppressed"].astype(bool), n=n_map),
                    indicator, wave, group=group)
    choropleth(gdf, "value", indicator=indicator, kind="change" if wave == "change" else "level",
               lang=lang, ax=ax_map, title=f"{codebook.label(indicator, lang)} — {wave}")
    for area, g in tr_.groupby("area_type", sort=False):
        colour, style = _AREA_STYLE.get(area, ("black", "-"))
        x = [0 if w == "baseline" else 1 for w in g["wave"]]
        ax_tr.plot(x, g["mean"], marker="o", color=colour, linestyle=style, label=area)
    ax_tr.set_xticks([0, 1], ["baseline", "follow_up"])
    ax_tr.set_xlim(-0.3, 1.3)
    ax_tr.set_ylabel(codebook.label(indicator, lang))
    who = "all residents" if group == "all" else codebook.TARGET_GROUPS[group].label_en if \
        group in codebook.TARGET_GROUPS else group
    ax_tr.set_title(f"{who}: mean of published neighbourhood\nestimates by area type (weighted by n)", fontsize=9)
    if len(tr_):
        ax_tr.legend(frameon=False)
    fig.tight_layout()
    return View(rows, tr_, fig)


def show(city: str, indicator: str, wave: str, group: str = "all", lang: str = "en") -> None:
    """Display the map, the trend and the table of one selection (notebook output)."""
    import io

    from IPython.display import Image, display

    view = draw(city, indicator, wave, group, lang=lang)
    # a PNG, not plt.show(): analysis.figures forces the Agg backend, which shows nothing inline
    buf = io.BytesIO()
    view.figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(view.figure)
    display(Image(data=buf.getvalue(), format="png"))
    display(view.trend)
    display(view.table)


def widgets(city: str, indicator: str, wave: str, group: str = "all"):
    """Dropdowns for city, indicator, wave and group, redrawing :func:`show` on change.

    Cities are those with a published neighbourhood table. In a headless run (papermill)
    widgets render nothing; the notebook shows a static default view before them.
    """
    import ipywidgets as w
    from IPython.display import display

    cities = sorted(p.parent.name for p in PATHS.tables.glob("*/neighbourhoods.csv"))
    opts = options(load_table(city))
    dd = {
        "city": w.Dropdown(options=cities or [city], value=city, description="City"),
        "indicator": w.Dropdown(options=opts["indicator"], value=indicator, description="Indicator"),
        "wave": w.Dropdown(options=opts["wave"], value=wave, description="Wave"),
        "group": w.Dropdown(options=opts["group"], value=group, description="Group"),
    }

    def _refresh_groups(change):
        # another city may have other targeted groups
        groups = options(load_table(change["new"]))["group"]
        dd["group"].options = groups
        if dd["group"].value not in groups:
            dd["group"].value = "all"

    dd["city"].observe(_refresh_groups, names="value")
    out = w.interactive_output(show, dd)
    display(w.HBox(list(dd.values())), out)
