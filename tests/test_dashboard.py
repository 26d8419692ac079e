"""Like-for-like area estimates, honest labels, both languages, and the offline dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.publishing import dashboard
from analysis.publishing import explore
from analysis.publishing import text
from analysis.config import K_SUPPRESS, PATHS


# --------------------------------------------------------------------- catalogue
def test_explore_catalogue_has_both_languages_with_the_same_placeholders():
    from analysis.publishing.report import placeholders

    for key, entry in explore.catalogue().items():
        assert set(entry) == {"en", "fr"}, key
        assert placeholders(entry["en"]) == placeholders(entry["fr"]), key


def test_words_come_from_the_catalogues_in_both_languages():
    assert explore.wave_label("baseline", "fr") == "Enquête initiale"
    assert explore.indicator_label("pj_index", "en") == "Procedural justice"
    assert explore.indicator_label("pj_index", "fr") == "Justice procédurale"
    assert explore.status_label("suppressed", "fr", k=10) == "masqué (n < 10)"
    # the scale states its direction; the item recoded against ESS says so
    note = explore.scale_note("feel_safe_dark", "en")
    assert "1 (Very unsafe) to 4 (Very safe)" in note and "aesfdrk" in note and "other way" in note
    assert "aesfdrk" not in explore.scale_note("trust_police", "en")
    with pytest.raises(KeyError, match="language"):
        explore.t("ui.city", "de")


# --------------------------------------------------------------------- area estimates
def _fake_city(seed: int = 1):
    """Six neighbourhoods (2 pilot, 2 comparison, 2 other), a planted +2 in the pilot follow-up."""
    rng = np.random.default_rng(seed)
    areas = {"01": "pilot", "02": "pilot", "03": "comparison", "04": "comparison", "05": "other", "06": "other"}
    rows = []
    for code, area in areas.items():
        for wave in ("baseline", "follow_up"):
            if code == "06" and wave == "follow_up":
                continue  # not surveyed at follow-up: the area's set changes
            size = 4 if (area == "comparison" and wave == "follow_up") else 40
            for _ in range(size):
                young = rng.random() < 0.3
                y = 5 + (2 if (area == "pilot" and wave == "follow_up") else 0) + rng.normal(0, 1)
                rows.append({"neighbourhood": code, "wave": wave, "age_group": "15-24" if young else "25-34",
                             "trust_police": float(np.clip(np.round(y), 0, 10)),
                             "w": float(rng.uniform(10, 50))})
    df = pd.DataFrame(rows)
    profile = SimpleNamespace(city="testville", codes=list(areas), area_type=areas.get,
                              pilot=SimpleNamespace(targeted_groups=("young",)))
    return df, profile


def test_area_estimates_match_a_brute_force_weighted_mean():
    df, profile = _fake_city()
    out = explore.area_estimates(df, df["w"], profile, indicators=("trust_police",))
    for (area, wave), g in df.assign(area=df["neighbourhood"].map(profile.area_type)).groupby(["area", "wave"]):
        row = out[(out.area_type == area) & (out.wave == wave) & (out.group == "all")].iloc[0]
        if len(g) < K_SUPPRESS:
            assert np.isnan(row["estimate"]) and row["suppressed"] and pd.isna(row["n"])
            continue
        y, w = g["trust_police"].to_numpy(), g["w"].to_numpy()
        mean = (w * y).sum() / w.sum()
        assert row["n"] == len(g)
        assert row["estimate"] == pytest.approx(mean, rel=1e-12)
        assert row["ci_low"] < mean < row["ci_high"]
    change = out[(out.area_type == "pilot") & (out.wave == "change") & (out.group == "all")].iloc[0]
    assert 1.5 < change["estimate"] < 2.5 and change["ci_low"] > 0  # the planted +2
    # the comparison follow-up has 8 respondents: suppressed, and its change with it
    comp = out[(out.area_type == "comparison") & (out.group == "all")].set_index("wave")
    assert comp.loc["follow_up", "suppressed"] and comp.loc["change", "suppressed"]
    # no count from 1 to k-1 in the published table
    for col in ("n", "n_baseline", "n_follow_up"):
        n = pd.to_numeric(out[col], errors="coerce")
        assert not ((n > 0) & (n < K_SUPPRESS)).any(), col
    other = out[(out.area_type == "other") & (out.group == "all")].iloc[0]
    assert other["neighbourhoods_baseline"] == 2 and other["neighbourhoods_follow_up"] == 1
    assert not other["same_neighbourhoods"]


def test_area_estimates_reject_codes_outside_the_profile():
    df, profile = _fake_city()
    df.loc[0, "neighbourhood"] = "99"
    with pytest.raises(ValueError, match="testville.yml neighbourhoods"):
        explore.area_estimates(df, df["w"], profile, indicators=("trust_police",))


def test_trend_notes_say_what_is_missing_or_changed():
    df, profile = _fake_city()
    areas = explore.area_estimates(df, df["w"], profile, indicators=("trust_police",))
    areas["status"] = explore.cell_status(areas)
    tr_ = explore.trend(areas, "trust_police", "all")
    en = explore.trend_notes(tr_, "en")
    assert any("comparison, Follow-up: suppressed (n < 10)" in n for n in en)
    assert any("rest of the city: the neighbourhoods surveyed differ" in n for n in en)
    fr = explore.trend_notes(tr_[tr_.area_type != "comparison"], "fr")
    assert any(n.startswith("comparaison : aucune") for n in fr)


# --------------------------------------------------------------------- status, shrinkage
def test_one_status_vocabulary():
    table = pd.DataFrame({
        "indicator": ["a", "a", "a", "a", "b", "b"],
        "n": [25, pd.NA, 0, 30, 0, 0],
        "estimate": [5.0, np.nan, np.nan, np.nan, np.nan, np.nan],
        "suppressed": [False, True, True, False, True, True],
        "status": ["", "", "", "not_collected", "", ""],
    })
    assert explore.cell_status(table).tolist() == ["published", "suppressed", "no_data", "not_collected",
                                                   "not_collected", "not_collected"]


def test_flat_shrinkage_changes_the_advice():
    flat = pd.DataFrame({"gamma": [0.0, 0.0, 0.0], "shrunk": [5.1, 5.1, 5.1]})
    varied = pd.DataFrame({"gamma": [0.4, 0.8, 0.0], "shrunk": [5.1, 5.6, 4.9]})
    assert explore.shrinkage_is_flat(flat) and not explore.shrinkage_is_flat(varied)
    assert "γ = 0" in explore.shrinkage_advice(flat, "en")
    assert "γ = 0" not in explore.shrinkage_advice(varied, "en")


# --------------------------------------------------------------------- the dashboard
def _cities():
    cities = sorted(p.parent.name for p in PATHS.tables.glob("*/neighbourhoods.csv"))
    if not cities:
        pytest.skip("run the pipeline first (make test does): no published neighbourhood table")
    return cities


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The dashboard of the published tables, with the real plotly.js when installed."""
    cities = _cities()
    data = dashboard.page_data(cities)
    try:
        js = dashboard.plotly_js()
    except ModuleNotFoundError:
        js = None
    html = dashboard.render(data, js if js is not None else "/* plotly.js not installed */")
    path = tmp_path_factory.mktemp("dash") / "dashboard.html"
    path.write_text(html, encoding="utf-8")
    return SimpleNamespace(path=path, html=html, data=data, real_js=js is not None)


def test_dashboard_loads_nothing_from_the_network(page):
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed)\b[^>]*>", page.html, flags=re.I)
    for tag in tags:
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", tag, flags=re.I), tag
    assert not re.search(r"@import\s+url\(\s*['\"]?https?:", page.html)
    assert "/*__PLOTLY_JS__*/" not in page.html and "/*__DATA__*/" not in page.html


def test_dashboard_embeds_no_small_cell(page):
    k = page.data["k"]
    embedded = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page.html,
                                    flags=re.S).group(1).replace("<\\/", "</"))
    assert embedded == json.loads(json.dumps(page.data))
    assert dashboard.disclosure_problems(embedded) == []
    for city, d in embedded["cities"].items():
        n_col, est_cols = dashboard.ROW_COLUMNS.index("n"), [dashboard.ROW_COLUMNS.index(c) for c in
                                                              ("estimate", "ci_low", "ci_high", "shrunk")]
        for rows, n_i, ests in ((d["rows"], n_col, est_cols),
                                (d["areas"], dashboard.AREA_COLUMNS.index("n"),
                                 [dashboard.AREA_COLUMNS.index(c) for c in ("estimate", "ci_low", "ci_high")])):
            for r in rows:
                assert r[n_i] is None or r[n_i] == 0 or r[n_i] >= k, (city, r)
                if r[n_i] is None or r[n_i] < k:
                    assert all(r[i] is None for i in ests), (city, r)


def test_disclosure_check_catches_small_cells():
    row = ["01", "baseline", "trust_police", "all", 7, None, None, None, None, "published"]
    shown = ["02", "baseline", "trust_police", "all", None, 5.0, 4.0, 6.0, 5.0, "suppressed"]
    area = ["pilot", "baseline", "trust_police", "all", 40, 5.0, 4.5, 5.5, 3, True, "published"]
    data = {"cities": {"x": {"rows": [row, shown], "areas": [area]}}}
    problems = dashboard.disclosure_problems(data)
    assert problems == ["x rows[0]: count under 10", "x rows[1]: value shown for a cell under 10 respondents"]


def test_dashboard_labels_are_honest(page):
    for city, d in page.data["cities"].items():
        from analysis.inputs.profile import load_profile

        p = load_profile(city)
        assert d["synthetic"] == bool(p.synthetic)
        assert ("SYNTHETIC" in d["status_line"]["en"]) == bool(p.synthetic)
        assert ("approximate" in d["boundaries"]["en"]) == d["approximate"]
        assert d["name"] == {lang: text.city_name(p, lang) for lang in text.LANGS}  # "Bruxelles" in French
    for lang in ("en", "fr"):
        words = page.data["words"][lang]
        assert words["decimal"] == text.decimal_mark(lang) == words["separators"][0]
        assert set(words["indicator"].values()).isdisjoint(words["indicator"])  # labels, not codes


def test_dashboard_size_is_measured(page):
    size = len(page.html.encode("utf-8"))
    print(f"dashboard.html: {size / 1e6:.2f} MB for {len(page.data['cities'])} cities")
    if page.real_js:
        assert size < 12e6


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_dashboard_in_a_real_browser(page, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): browser check skipped")
    if not page.real_js:
        pytest.skip("plotly is not installed (pip install plotly): the page cannot draw")
    city = "nantes" if "nantes" in page.data["cities"] else sorted(page.data["cities"])[-1]
    base = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--virtual-time-budget=8000", f"--user-data-dir={tmp_path / 'profile'}"]

    def dom(fragment: str) -> str:
        url = page.path.as_uri() + fragment
        out = subprocess.run([browser, *base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    def heading(html: str) -> str:
        # the page's visible title (the embedded data hold both languages, so not the whole DOM)
        return re.search(r'<h1 id="title">(.*?)</h1>', html, flags=re.S).group(1)

    first = sorted(page.data["cities"], key=lambda c: page.data["cities"][c]["name"]["en"])[0]
    default = dom("")
    assert f'data-ready="{first}|en"' in default
    assert heading(default) == "Explore the neighbourhood results — " + page.data["cities"][first]["name"]["en"]
    changed = dom(f"#city={city}&lang=fr&indicator=trust_police&wave=change&group=all")
    assert f'data-ready="{city}|fr"' in changed
    assert heading(changed) == "Explorer les résultats par quartier — " + page.data["cities"][city]["name"]["fr"]
    assert '<html lang="fr"' in changed
    # the French table writes decimal commas, the English one decimal points
    table = lambda html: re.search(r'<table id="table".*?</table>', html, flags=re.S).group(0)  # noqa: E731
    fr_cells = re.findall(r"<td>(−?-?\d+[.,]\d+)</td>", table(changed))
    assert fr_cells and all("," in c for c in fr_cells), fr_cells[:5]
    en_cells = re.findall(r"<td>(−?-?\d+[.,]\d+)</td>", table(dom(f"#city={city}&lang=en&indicator=trust_police&wave=change&group=all")))
    assert en_cells and all("." in c for c in en_cells), en_cells[:5]
    assert 'class="main-svg"' in changed, "plotly drew the figures"
    shot = tmp_path / "dashboard.png"
    out = subprocess.run([browser, *base, "--window-size=1400,1500", f"--screenshot={shot}",
                          page.path.as_uri() + f"#city={city}&lang=fr&indicator=trust_police&wave=follow_up&group=all"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and shot.is_file() and shot.stat().st_size > 20_000, out.stderr[-2000:]
