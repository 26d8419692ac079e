"""Choropleths: fixed breaks, hatched suppressed/no-data areas, outlines, captions, saving."""

from __future__ import annotations

import json
import types

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from shapely.geometry import box  # noqa: E402

from analysis.inputs import codebook  # noqa: E402
from analysis.geography import geo, maps
from analysis.config import K_SUPPRESS  # noqa: E402
from analysis.inputs.profile import CityProfile  # noqa: E402


def grid(values, n=None, suppressed=None, area_type=None, crs=geo.TARGET_CRS):
    m = len(values)
    g = gpd.GeoDataFrame({
        "code": [str(i + 1) for i in range(m)], "value": values,
        "n": n if n is not None else [50] * m,
        "suppressed": suppressed if suppressed is not None else [False] * m,
        "area_type": area_type if area_type is not None else ["pilot", "comparison"] + ["other"] * (m - 2),
    }, geometry=[box(3_340_000 + 1000 * i, 2_700_000, 3_341_000 + 1000 * i, 2_701_000) for i in range(m)],
        crs=geo.TARGET_CRS)
    return g.to_crs(crs)


def _facecolors(ax):
    cols = [c for c in ax.collections if isinstance(c, PatchCollection)]
    return [tuple(np.round(fc, 4)) for c in cols for fc in c.get_facecolors()]


def test_breaks_are_fixed_by_scale_and_symmetric_for_change():
    assert maps.breaks("trust_police") == maps.breaks("legitimacy_index") == (0, 3, 4, 5, 6, 7, 8, 10)
    assert maps.breaks("feel_safe_dark")[0] == 1 and maps.breaks("feel_safe_dark")[-1] == 4
    assert maps.breaks("contact_satisfaction")[-1] == 5
    for ind in codebook.INDICATORS:
        ch = np.array(maps.breaks(ind, "change"))
        assert np.allclose(ch, -ch[::-1])  # symmetric around 0
        lv = np.array(maps.breaks(ind, "level"))
        lo, hi = codebook.scale_range(ind)
        assert lv[0] == lo and lv[-1] == hi and np.all(np.diff(lv) > 0)


def test_same_value_gets_the_same_colour_whatever_the_other_cities():
    # Natural breaks would recolour 5.5 when the rest of the data move; fixed breaks do not.
    f1 = maps.choropleth(grid([5.5, 1.0, 2.0]), "value", indicator="trust_police")
    f2 = maps.choropleth(grid([5.5, 9.0, 9.5]), "value", indicator="trust_police")
    assert _facecolors(f1.axes[0])[0] == _facecolors(f2.axes[0])[0]
    assert maps.classify([5.5, 0, 10, np.nan], maps.breaks("trust_police")).tolist() == [3, 0, 6, -1]
    plt.close("all")


def test_suppressed_and_missing_hatched_with_legend_and_outlines():
    g = grid([6.0, np.nan, 7.0, np.nan], n=[40, 4, 40, 0], suppressed=[False, True, False, False])
    fig = maps.choropleth(g, "value", indicator="trust_police", caption="cap")
    ax = fig.axes[0]
    assert not ax.axison
    hatches = {c.get_hatch() for c in ax.collections if isinstance(c, PatchCollection)}
    assert {"////", "..."} <= hatches
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # secondary suppression hides cells of n >= k too: the legend must not say only "n < k"
    assert f"suppressed (n < {K_SUPPRESS}, or hidden\nso that a small cell\ncannot be recovered)" in labels
    assert "no data" in labels
    assert "pilot area" in labels and "comparison area" in labels
    styles = [c.get_linestyle() for c in ax.collections if c.get_linewidth()[0] in (2.2, 1.5)]
    assert len(styles) == 2 and styles[0] != styles[1]  # solid pilot, dashed comparison
    fr = maps.choropleth(g, "value", indicator="trust_police", lang="fr")
    fr_labels = [t.get_text() for t in fr.axes[0].get_legend().get_texts()]
    assert "pas de données" in fr_labels and "zone pilote" in fr_labels and any("masqué" in t for t in fr_labels)
    plt.close("all")


def test_input_in_another_crs_is_drawn_in_laea():
    fig = maps.choropleth(grid([6.0, 7.0, 8.0], crs="EPSG:4326"), "value", indicator="trust_police")
    x0, x1 = fig.axes[0].get_xlim()
    assert 3_339_000 < x0 < x1 < 3_345_000  # metres of EPSG:3035, not degrees
    with pytest.raises(ValueError, match="no CRS"):
        maps.choropleth(grid([6.0, 7.0]).set_crs(None, allow_override=True), "value", indicator="trust_police")
    plt.close("all")


def test_caption_says_definition_scale_n_source_boundaries_and_synthetic():
    cap = maps.map_caption("feel_safe_dark", "change", n=321, areas=9, city="Nantes", approximate=True,
                           synthetic=True)
    for bit in ("Feels safe", "scale 1–4", "n = 320", "9 neighbourhoods", "Nantes", "fewer than 10",
                "Approximate boundaries", "not official", "EPSG:3035", "Synthetic data"):
        assert bit in cap, bit
    fr = maps.map_caption("trust_police", lang="fr", approximate=False)
    assert "Limites officielles" in fr and "Synthétiques" not in fr


def test_map_frame_never_shows_a_cell_under_k():
    geom = grid([0, 0, 0, 0])[["code", "area_type", "geometry"]]
    table = pd.DataFrame({"neighbourhood": ["1", "2", "3"], "indicator": "trust_police", "wave": "baseline",
                          "group": "all", "estimate": [6.0, 5.0, 4.0], "n": [30, 3, 12],
                          "suppressed": [False, False, False]})  # "2" wrongly unsuppressed
    f = maps.map_frame(geom, table, "trust_police", "baseline").set_index("code")
    assert f.loc["1", "value"] == 6.0 and f.loc["3", "value"] == 4.0
    assert np.isnan(f.loc["2", "value"]) and f.loc["2", "suppressed"]
    assert np.isnan(f.loc["4", "value"]) and not f.loc["4", "suppressed"] and f.loc["4", "n"] == 0


def _testville(tmp_path, monkeypatch):
    (tmp_path / "config" / "cities").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    codes = ["1", "2", "3", "4"]
    prof = CityProfile.model_validate(dict(
        city="testville", name="Testville", country="FR", languages=["fr"], synthetic=True,
        boundaries=dict(unit="quartier"),
        neighbourhoods=[dict(code=c, name=f"Q{c}", lon=-1.6 + 0.01 * i, lat=47.2, area_km2=1.0)
                        for i, c in enumerate(codes)],
        pilot=dict(name="P", kind="k", description="d", start="2014-06-01", end="2015-03-01",
                   pilot_areas=["1"], comparison_areas=["2"], targeted_groups=["young"]),
        waves=dict(baseline=dict(year=2014, start="2014-03-01", end="2014-05-01"),
                   follow_up=dict(year=2015, start="2015-03-01", end="2015-05-01")),
        margins=dict(source="t", counts={c: {"female": [10] * 5, "male": [10] * 5} for c in codes}),
        residents=dict(files=[dict(path="r.csv", format="csv")], columns={"respondent_id": "id"})))
    geom = geo.city_geometry("testville", prof)
    assert geom.approximate
    table = pd.DataFrame([{"neighbourhood": c, "indicator": "trust_police", "wave": w, "group": "all",
                           "estimate": e, "n": n, "suppressed": n < K_SUPPRESS}
                          for c, n in zip(codes, [30, 25, 5, 40])
                          for w, e in (("baseline", 5.0), ("follow_up", 6.0), ("change", 1.0))])
    return geom, table, prof


def test_save_neighbourhood_maps_writes_both_languages(tmp_path, monkeypatch):
    geom, table, prof = _testville(tmp_path, monkeypatch)
    written = maps.save_neighbourhood_maps(geom, table, prof, "trust_police", waves=("baseline", "change"))
    assert len(written) == 4
    folder = tmp_path / "reports/figures/testville"
    for wave in ("baseline", "change"):
        for suffix in ("", ".fr"):
            for ext in ("png", "svg", "json"):
                assert (folder / f"map-trust_police-{wave}{suffix}.{ext}").is_file()
    meta = json.loads((folder / "map-trust_police-change.json").read_text())
    assert "approximate boundaries" in meta["caption"].lower() and "Synthetic data" in meta["caption"]
    assert "n = 100 respondents in 3 neighbourhoods" in meta["caption"]  # 95, rounded; the suppressed cell is not counted
    from PIL import Image
    with Image.open(folder / "map-trust_police-baseline.png") as im:
        dpi = im.info.get("dpi", (0, 0))[0]
    from analysis.publishing import figures
    assert dpi == pytest.approx(figures.DPI, abs=1) and figures.DPI >= figures.EMBED_DPI  # the report's resolution


def test_map_panels_are_the_published_maps(tmp_path, monkeypatch):
    geom, table, prof = _testville(tmp_path, monkeypatch)
    written = maps.save_map_panels(geom, table, prof, "trust_police")
    assert len(written) == 2
    folder = tmp_path / "reports/figures/testville"
    for suffix in ("", ".fr"):
        for ext in ("png", "svg", "json"):
            assert (folder / f"maps-trust_police{suffix}.{ext}").is_file()
    meta = json.loads((folder / "maps-trust_police.json").read_text())
    # both waves' unsuppressed cells: (30 + 25 + 40) x 2
    assert "n = 190 respondents in 3 neighbourhoods" in meta["caption"]
    assert "bottom: change, follow-up minus baseline" in meta["caption"] and "Synthetic data" in meta["caption"]
    fr = json.loads((folder / "maps-trust_police.fr.json").read_text())
    assert "suivi moins enquête initiale" in fr["caption"] and fr["lang"] == "fr"


def _panel_table(codes, ci):
    rows = []
    for c, (lo, hi) in zip(codes, ci):
        for w, e in (("baseline", 5.0), ("follow_up", 6.0)):
            rows.append({"neighbourhood": c, "indicator": "trust_police", "wave": w, "group": "all",
                         "estimate": e, "n": 40, "suppressed": False, "ci_low": e - 1, "ci_high": e + 1})
        rows.append({"neighbourhood": c, "indicator": "trust_police", "wave": "change", "group": "all",
                     "estimate": (lo + hi) / 2, "n": 40, "suppressed": False, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def test_change_distinguishable_from_zero_is_marked():
    geom = grid([0, 0, 0, 0])[["code", "area_type", "geometry"]]
    # CI above 0, CI across 0, CI touching 0 (does not exclude it), CI below 0
    table = _panel_table(["1", "2", "3", "4"], [(0.2, 1.0), (-0.5, 0.5), (0.0, 0.8), (-1.2, -0.1)])
    f = maps.map_frame(geom, table, "trust_police", "change").set_index("code")
    assert f["distinct"].tolist() == [True, False, False, True]
    fig = maps.choropleth(f.reset_index(), "value", indicator="trust_police", kind="change")
    hatched = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection) and c.get_hatch() == "xx"]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == 2
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("distinguishable" in lab for lab in labels)
    named = f.reset_index().assign(name=["A", "B", "C", "D"])
    assert maps.distinct_list(named, {"1": "1"}, "en").endswith("excludes 0): A (1), D.")
    assert maps.distinct_list(named.assign(distinct=False), {}, "fr").endswith("exclut 0)\u00a0: aucune.")
    plt.close("all")


def test_pilot_and_comparison_areas_are_labelled_with_a_key():
    g = grid([6.0, 7.0, 5.0, 6.5], area_type=["comparison", "pilot", "other", "pilot"])
    g["name"] = ["Alpha", "Beta", "Gamma", "Delta"]
    labels = maps.area_labels(g)
    assert labels == {"2": "2", "4": "4", "1": "1"}  # pilot first; short codes are their own label
    fig = maps.choropleth(g, "value", indicator="trust_police", labels=labels)
    drawn = sorted(t.get_text() for t in fig.axes[0].texts)
    assert drawn == ["1", "2", "4"]
    key = maps.area_key(g, labels, "en")
    assert key == "Labelled areas — pilot: 2 Beta, 4 Delta; comparison: 1 Alpha."
    long = g.assign(code=["110656", "110658", "110660", "110661"])
    assert maps.area_labels(long) == {"110658": "1", "110661": "2", "110656": "3"}
    assert maps.area_key(g, labels, "fr") == "Zones repérées — pilote\u00a0: 2 Beta, 4 Delta\u00a0; comparaison\u00a0: 1 Alpha."
    plt.close("all")


def test_map_axes_work_out_no_ticks_and_titles_sit_on_their_maps(tmp_path, monkeypatch):
    """A map has no axis: matplotlib still worked out tick positions (in metres) at each of
    the three layouts of a save (a quarter of a map panel's saving time), and placed each title
    above the ticks it would have drawn. No axis of a panel has tick positions to find."""
    from matplotlib.ticker import NullLocator

    geom, table, prof = _testville(tmp_path, monkeypatch)
    fig = maps.map_panel(geom, table, prof, "trust_police", lang="en")
    fig.draw_without_rendering()
    for ax in fig.axes:
        assert not ax.axison
        for axis in (ax.xaxis, ax.yaxis):
            assert isinstance(axis.get_major_locator(), NullLocator)
            assert isinstance(axis.get_minor_locator(), NullLocator)
            assert len(axis.get_majorticklocs()) == 0
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[:3]:  # the three maps: each title just above its own map (pad 6 pt), not higher
        gap_pt = (ax.title.get_window_extent(renderer).y0 - ax.get_window_extent(renderer).y1) * 72 / fig.dpi
        assert 0 <= gap_pt <= 8
    plt.close(fig)


def test_map_panel_text_prints_at_7pt_without_enlarging(tmp_path, monkeypatch):
    from analysis.publishing import figures

    geom, table, prof = _testville(tmp_path, monkeypatch)
    for lang in ("en", "fr"):
        fig = maps.map_panel(geom, table, prof, "trust_police", lang=lang)
        figures.stamp_synthetic(fig, lang)
        smallest, scale = figures.smallest_printed_font(fig)
        # the layout itself is readable in print: the save-time safety net has nothing to do
        assert smallest >= figures.MIN_FONT_PT and scale == pytest.approx(1.0)
        texts = [t.get_text() for t in figures._texts(fig)]
        assert not any("Source" in t or "EPSG" in t for t in texts)  # the caption is not in the image
        assert "1" in texts and "2" in texts  # pilot and comparison areas labelled
        plt.close(fig)


def test_committed_official_boundaries_draw_a_filled_map_captioned_official():
    """A fresh clone maps Nantes with its official quartiers (not blank, not approximate)."""
    from analysis.inputs.profile import load_profile

    prof = load_profile("nantes")
    geom = geo.city_geometry("nantes", prof)
    assert not geom.approximate and geom.source == "nantes.geojson" and len(geom.gdf) == 11
    codes = geom.gdf["code"].tolist()
    table = pd.DataFrame({"neighbourhood": codes, "indicator": "trust_police", "wave": "baseline",
                          "group": "all", "estimate": np.linspace(3, 8, len(codes)), "n": 50,
                          "suppressed": False})
    frame = maps.map_frame(geom, table, "trust_police", "baseline")
    fig = maps.choropleth(frame, "value", indicator="trust_police")
    ax = fig.axes[0]
    colours = _facecolors(ax)
    assert len(colours) >= 11 and len(set(colours)) >= 4  # every quartier filled, several classes
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    b = frame.to_crs(geo.TARGET_CRS).total_bounds
    assert x0 <= b[0] and x1 >= b[2] and y0 <= b[1] and y1 >= b[3]  # the city is in view
    cap = maps.map_caption("trust_police", approximate=geom.approximate)
    assert "Official boundaries" in cap and "pproximate" not in cap
    plt.close("all")


@pytest.mark.parametrize("method, en_bits, fr_bits, en_absent", [
    ("raked_population", ("Weighted mean", "raked to the profile's population margins"),
     ("Moyenne pondérée", "calage sur les marges de population du profil"), ("approximately", "Unweighted")),
    ("raked_population_approx", ("Weighted mean", "raked", "approximately"),
     ("Moyenne pondérée", "approximativement"), ("Unweighted",)),
    ("unweighted_no_margins", ("Unweighted mean", "no population margins"),
     ("Moyenne non pondérée", "pas de marges de population"), ("raked", "Weighted mean")),
])
def test_caption_follows_the_weighting_method(method, en_bits, fr_bits, en_absent):
    for kind in ("level", "change"):
        en = maps.map_caption("trust_police", kind, weights_method=method)
        fr = maps.map_caption("trust_police", kind, lang="fr", weights_method=method)
        for bit in en_bits:
            assert bit.lower() in en.lower(), (kind, bit)
        for bit in fr_bits:
            assert bit.lower() in fr.lower(), (kind, bit)
        for bit in en_absent:
            assert bit not in en, (kind, bit)
        assert "census" not in en and "raked to population" not in en
    # no method given: the caption claims no weighting at all
    none = maps.map_caption("trust_police")
    assert "raked" not in none and "eighted" not in none and "not stated" in none
    with pytest.raises(ValueError, match="weights_method 'raking'"):
        maps.map_caption("trust_police", weights_method="raking")


def test_saved_panel_caption_says_unweighted_for_a_city_without_margins(tmp_path, monkeypatch):
    """The caption written next to the map (EN and FR) takes the method from the call or
    from the table's attrs: a city without margins is never captioned "raked"."""
    captured = []
    monkeypatch.setattr(maps, "save_figure", lambda fig, **kw: captured.append(kw) or kw)
    monkeypatch.setattr(maps, "map_panel", lambda *a, **k: plt.figure())
    g = grid([6.0, 7.0, 8.0, 5.0], n=[40, 40, 40, 40], suppressed=[False] * 4)
    rows = []
    for wave in ("baseline", "follow_up", "change"):
        for code, v in zip(g["code"], (6.0, 7.0, 8.0, 5.0)):
            rows.append({"neighbourhood": code, "indicator": "trust_police", "wave": wave, "group": "all",
                         "estimate": v, "n": 40, "suppressed": False, "ci_low": v - 1, "ci_high": v + 1})
    table = pd.DataFrame(rows)
    prof = types.SimpleNamespace(name="Testville", city="testville", synthetic=True)
    geom = g[["code", "area_type", "geometry"]]
    maps.save_map_panels(geom, table, prof, "trust_police", weights_method="unweighted_no_margins")
    table.attrs["weights_method"] = "unweighted_no_margins"
    maps.save_map_panels(geom, table, prof, "trust_police")
    caps = [c["caption"] for c in captured]
    assert len(caps) == 4
    for cap in caps:
        assert "raked" not in cap and "calage" not in cap
        assert ("Unweighted mean" in cap) or ("Moyenne non pondérée" in cap)
    plt.close("all")
