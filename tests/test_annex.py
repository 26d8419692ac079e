"""The methods annex (issue 12 §5): the profile's sampling, response-rate and cost keys, the
placebo check on the comparison areas, the cost per resident reached, the annex in both
languages, and the disclosure rule on the new tables."""

from __future__ import annotations

import html as html_module
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import make_profile, write_profile

from analysis.inputs.newcity import draft_profile
from analysis.inputs.profile import ProfileError, load_profile
from analysis.publishing import report
from analysis.publishing import tables
from analysis.publishing.disclosure import check_table
from analysis.statistics import placebo
from analysis.statistics.implementation import cost_per_reach
from analysis.statistics.simulation import simulate_respondents, simulated_profile

REPO = Path(__file__).resolve().parents[1]

SAMPLING = {"frame": "dwellings of the surveyed quartiers", "frame_fr": "logements des quartiers enquêtés",
            "design": "address_random", "mode": "face_to_face", "response_rate_definition": "AAPOR RR1"}
COST = {"amount": 48000, "currency": "EUR", "start": "2014-09-01", "end": "2015-01-31",
        "covers": "trainers and materials", "covers_fr": "formateurs et supports"}


def _annex_profile(**changes) -> dict:
    prof = make_profile(**changes)
    prof["sampling"] = dict(SAMPLING)
    prof["pilot"]["cost"] = dict(COST)
    prof["waves"]["baseline"]["response_rate"] = 0.38
    prof["waves"]["follow_up"]["response_rate"] = 0.34
    return prof


# ----------------------------------------------------------------- profile validation
def test_profile_accepts_the_annex_keys(project):
    write_profile(project, _annex_profile())
    p = load_profile("testville")
    assert p.sampling.design == "address_random" and p.sampling.mode == "face_to_face"
    assert p.waves["baseline"].response_rate == 0.38 and p.waves["follow_up"].response_rate == 0.34
    assert p.pilot.cost.amount == 48000 and p.pilot.cost.currency == "EUR"
    # all three are optional
    write_profile(project, make_profile())
    p = load_profile("testville")
    assert p.sampling is None and p.pilot.cost is None and p.waves["baseline"].response_rate is None


@pytest.mark.parametrize("change, key", [
    (lambda p: p["sampling"].update(frme="typo"), "sampling.frme"),
    (lambda p: p["sampling"].update(mode="by_pigeon"), "sampling.mode"),
    (lambda p: p["sampling"].update(design="random"), "sampling.design"),
    (lambda p: p["waves"]["baseline"].update(response_rate=38), "waves.baseline.response_rate"),
    (lambda p: p["waves"]["follow_up"].update(response_rate=-0.1), "waves.follow_up.response_rate"),
    (lambda p: p["waves"]["follow_up"].update(responserate=0.3), "waves.follow_up.responserate"),
    (lambda p: p["pilot"]["cost"].update(currency="euro"), "pilot.cost.currency"),
    (lambda p: p["pilot"]["cost"].update(amount=0), "pilot.cost.amount"),
    (lambda p: p["pilot"]["cost"].update(end="2014-01-01"), "pilot.cost"),
    (lambda p: p["pilot"]["cost"].update(covered="typo"), "pilot.cost.covered"),
])
def test_bad_annex_key_names_file_and_key(project, change, key):
    prof = _annex_profile()
    change(prof)
    path = write_profile(project, prof)
    with pytest.raises(ProfileError) as err:
        load_profile("testville")
    msg = str(err.value)
    assert str(path) in msg
    assert re.search(rf"key {re.escape(key)}(:| )", msg), msg


def test_shipped_profiles_show_both_cases():
    """The demo gives the annex keys for some cities (marked synthetic) and not for others."""
    profiles = [load_profile(REPO / "config" / "cities" / f"{c}.yml") for c in
                ("brussels", "milan", "lisbon", "nantes", "barcelona", "amiens", "aubervilliers", "toulouse",
                 "vilnius")]
    with_sampling = [p.city for p in profiles if p.sampling is not None]
    with_cost = [p.city for p in profiles if p.pilot.cost is not None]
    assert with_sampling and len(with_sampling) < len(profiles)
    assert with_cost and len(with_cost) < len(profiles)
    for p in profiles:
        if p.pilot.cost is not None:
            assert p.synthetic and "SYNTHETIC" in (p.pilot.cost.source or "") + p.pilot.cost.covers
        if p.sampling is not None:
            assert p.synthetic and "SYNTHETIC" in p.sampling.frame
    # a quota sample without response rates, and a city giving one wave's rate only
    lisbon = next(p for p in profiles if p.city == "lisbon")
    assert lisbon.sampling.design == "quota" and all(w.response_rate is None for w in lisbon.waves.values())
    nantes = next(p for p in profiles if p.city == "nantes")
    assert nantes.waves["baseline"].response_rate and nantes.waves["follow_up"].response_rate is None


# ----------------------------------------------------------------- the placebo
def test_placebo_split_is_fixed_and_documented():
    assert placebo.placebo_split(["36", "37", "18", "19", "20"]) == (["18", "20", "37"], ["19", "36"])
    assert placebo.placebo_split(["AU08", "AU02", "AU05", "AU11"]) == (["AU02", "AU08"], ["AU05", "AU11"])
    # "010" and 10 are one code: order by value, not as text ("9" before "10")
    assert placebo.natural_code_order(["10", "9", "100"]) == ["9", "10", "100"]


def test_placebo_recovers_zero_without_a_differential_trend():
    """A real pilot effect and a common trend, no differential trend among comparison areas:
    the placebo is zero on average (40 simulated cities), and the pilot's effect never leaks in."""
    prof = simulated_profile(10)
    est, flagged = [], 0
    for seed in range(40):
        df = simulate_respondents(10, 80, effect=1.0, trend=0.3, seed=seed)
        row = placebo.placebo_effects(df, prof, indicators=("trust_police",), B=199).iloc[0]
        assert row["status"] == "estimated"
        est.append(row["estimate"])
        flagged += row["verdict"] == "differential_trend"
    est = np.array(est)
    # sd of one placebo estimate is about 0.4: the mean of 40 is within 3 standard errors of 0
    assert abs(est.mean()) < 3 * est.std(ddof=1) / np.sqrt(len(est))
    assert abs(est.mean()) < 0.25
    # the pilot's effect of 1.0 is nowhere near: pilot areas are not in the placebo
    assert abs(np.median(est)) < 0.3
    assert flagged <= 6  # about 5 % expected; 6 of 40 would be a clear excess


def test_placebo_ignores_the_pilot_areas():
    prof = simulated_profile(10)
    df = simulate_respondents(10, 60, seed=3)
    before = placebo.placebo_effects(df, prof, indicators=("trust_police",), B=199)
    changed = df.copy()
    pilot = changed["pilot_area"] == "pilot"
    changed.loc[pilot, "trust_police"] = changed.loc[pilot, "trust_police"] + 5.0
    after = placebo.placebo_effects(changed, prof, indicators=("trust_police",), B=199)
    pd.testing.assert_frame_equal(before, after)


def test_placebo_flags_a_planted_differential_trend():
    """A trend planted in the placebo-pilot half of the comparison areas moves the placebo by
    exactly that much (the effect term is that regressor) and is flagged."""
    prof = simulated_profile(10)
    fake, _ = placebo.placebo_split(prof.pilot.comparison_areas)
    for seed in (1, 2, 3):
        df = simulate_respondents(10, 80, effect=1.0, seed=seed)
        null = placebo.placebo_effects(df, prof, indicators=("trust_police",), B=999).iloc[0]
        planted = df.copy()
        drift = planted["neighbourhood"].isin(fake) & planted["wave"].eq("follow_up")
        planted.loc[drift, "trust_police"] = planted.loc[drift, "trust_police"] + 1.5
        row = placebo.placebo_effects(planted, prof, indicators=("trust_police",), B=999).iloc[0]
        assert row["estimate"] - null["estimate"] == pytest.approx(1.5, abs=1e-9)
        assert row["verdict"] == "differential_trend" and row["ci_low"] > 0


def test_placebo_needs_four_comparison_areas():
    df = simulate_respondents(6, 60, seed=1)  # 3 pilot, 3 comparison areas
    out = placebo.placebo_effects(df, simulated_profile(6))
    assert set(out["status"]) == {"not_applicable"} and set(out["reason"]) == {"few_comparison_areas"}
    assert out["estimate"].isna().all()
    pre_post = placebo.placebo_effects(simulate_respondents(6, 60, comparison=False),
                                       simulated_profile(6, comparison=False))
    assert set(pre_post["reason"]) == {"no_comparison_areas"}


def test_placebo_table_passes_the_disclosure_check(tmp_path):
    prof = simulated_profile(10)
    df = simulate_respondents(10, 57, seed=4)  # counts that are not multiples of 10
    out = placebo.placebo_effects(df, prof, indicators=("trust_police",), B=199)
    path = tables.write("placebo", out, synthetic=True, path=tmp_path / "placebo.csv")  # the contract holds it
    published = pd.read_csv(path, dtype=str)
    assert check_table(published, "placebo.csv") == []
    assert "df" not in published.columns
    assert all(int(v) % 10 == 0 for v in published["n"].dropna())
    # the check can fail: the exact count is a finding
    raw = out.assign(n=out["n"].astype(int) + 3)
    raw.to_csv(tmp_path / "raw.csv", index=False)
    assert check_table(pd.read_csv(tmp_path / "raw.csv", dtype=str), "raw.csv")


# ----------------------------------------------------------------- cost per resident reached
def test_cost_per_resident_reached_arithmetic():
    prof = simulated_profile(10)
    with_cost = prof.model_copy(update={"pilot": prof.pilot.model_copy(update={"cost": load_cost()})})
    summary = {"available": True, "participants": 640.0}
    row = cost_per_reach(summary, with_cost).iloc[0]
    assert row["status"] == "computed"
    assert row["cost_per_participant"] == pytest.approx(48000 / 640)
    # pilot areas N00-N04: 5 areas x (5 x 500 women + 5 x 480 men) = 24,500 inhabitants
    assert row["population_pilot_areas"] == 24500
    assert row["cost_per_resident_pilot_areas"] == pytest.approx(48000 / 24500)
    assert cost_per_reach(summary, prof).iloc[0]["status"] == "no_cost"
    assert cost_per_reach({"available": False}, with_cost).iloc[0]["status"] == "no_activity_log"
    none = cost_per_reach({"available": True, "participants": 0.0}, with_cost).iloc[0]
    assert none["status"] == "no_participants" and pd.isna(none["cost_per_participant"])


def load_cost():
    from analysis.inputs.profile import Cost

    return Cost.model_validate(COST)


# ----------------------------------------------------------------- the annex in the report
IMPACT = dict(population="residents", design="did", std_error=0.1, p_value=0.01, inference="wcr_webb_enumerated",
              inference_B=4096, n=800, n_clusters=12, n_clusters_treated=6, min_cell=200, scale="0-10",
              group="all", outcome="trust_police", estimate=0.6, ci_low=0.2, ci_high=1.0, status="estimated",
              estimable=True)


def _publish(name: str, rows: list[dict], city: str, synthetic: bool = True) -> None:
    """A table through the results contract (validated as the pipeline's are)."""
    tables.write(name, tables.order_columns(pd.DataFrame(rows), name), city=city, synthetic=synthetic)


def _annex_project(root: Path) -> None:
    """Two cities: Testville gives the annex keys and has its annex tables; Otherville gives none."""
    write_profile(root, _annex_profile())
    write_profile(root, make_profile(city="otherville", name="Otherville"))
    for city in ("testville", "otherville"):
        _publish("impact", [dict(IMPACT, city=city)], city)
    prof = load_profile("testville")
    tables.write("cost", cost_per_reach({"available": True, "participants": 640.0}, prof), city="testville",
                 synthetic=True)
    _publish("placebo", [dict(city="testville", outcome="trust_police", placebo_pilot_areas="102 104",
                              placebo_comparison_areas="103 105", status="estimated", estimate=0.123,
                              ci_low=-0.5, ci_high=0.75, p_value=0.61, verdict="no_differential_trend_detected",
                              inference="wcr_webb_enumerated", inference_B=1296, n=600, n_clusters=4,
                              n_clusters_treated=2, min_cell=120)], "testville")
    _publish("reliability", [dict(city="testville", wave=w, index=ix, items=3, n_complete=300, alpha=a)
                             for w in ("baseline", "follow_up")
                             for ix, a in (("pj_index", 0.812), ("eff_index", 0.55), ("legitimacy_index", 0.61))],
             "testville")
    _publish("placebo", [dict(city="otherville", outcome=o, status="not_applicable", reason="few_comparison_areas")
                         for o in ("trust_police", "pj_index")], "otherville")


def _annex_rows(html: str, anchor: str) -> dict[str, str]:
    """Visible text of each row of the annex table ``anchor``, by its first cell (the city)."""
    start = html.index(f'id="{anchor}"')
    table = html[start:html.index("</table>", start)]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [html_module.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
        # spaces as a reader sees them: the locale's no-break and narrow no-break spaces are spaces
        rows[cells[0]] = re.sub(r"[\u00a0\u202f]", " ", " | ".join(cells[1:]))
    return rows


@pytest.mark.parametrize("lang, not_provided, rate, money, per", [
    ("en", "not provided", "38% (AAPOR RR1)", "€48,000.00", "€75.00"),
    ("fr", "non communiqué", "38 % (AAPOR RR1)", "48 000,00 €", "75,00 €"),
])
def test_annex_shows_not_provided_and_the_given_numbers(project, lang, not_provided, rate, money, per):
    _annex_project(project)
    html = report.render_html(lang)
    sampling = _annex_rows(html, "table-annex-sampling")
    assert not_provided not in sampling["Testville"] and rate in sampling["Testville"]
    assert {"en": "34%", "fr": "34 %"}[lang] in sampling["Testville"]
    assert {"en": "dwellings of the surveyed quartiers",
            "fr": "logements des quartiers enquêtés"}[lang] in sampling["Testville"]
    assert sampling["Otherville"].count(not_provided) >= 5  # frame, design, mode, two response rates
    cost = _annex_rows(html, "table-annex-cost")
    assert money in cost["Testville"] and per in cost["Testville"]  # 48,000 / 640
    assert "640" in cost["Testville"] and not_provided in cost["Otherville"]
    placebo_rows = _annex_rows(html, "table-annex-placebo")
    assert {"en": "+0.12", "fr": "+0,12"}[lang] in placebo_rows["Testville"]
    assert {"en": "fewer than 4 comparison", "fr": "moins de 4 quartiers de comparaison"}[lang] in placebo_rows["Otherville"]
    rel = _annex_rows(html, "table-annex-reliability")
    assert {"en": "0.81", "fr": "0,81"}[lang] in next(v for k, v in rel.items() if k == "Testville")
    # the annex's words come from the catalogue in the report's language
    assert {"en": "Regression to the mean", "fr": "Régression vers la moyenne"}[lang] in html
    assert {"en": "The disclosure rule", "fr": "La règle de confidentialité"}[lang] in html


def test_annex_html_passes_the_disclosure_check(project):
    from analysis.publishing.disclosure import check_html

    _annex_project(project)
    for lang in ("en", "fr"):
        assert check_html(report.render_html(lang), f"report.{lang}.html") == []


# ----------------------------------------------------------------- the new-city drafter
def test_draft_asks_for_the_annex_keys_without_a_metadata_sheet(scratch_root):
    draft = draft_profile("nantes", raw_dir=REPO / "data" / "raw" / "nantes")
    assert {"sampling", "waves.response_rate", "pilot.cost"} <= draft.todo_keys()
    assert draft.profile.sampling is None and draft.profile.pilot.cost is None


def test_draft_takes_the_annex_keys_from_the_metadata_sheet(scratch_root, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(REPO / "data" / "raw" / "nantes", raw)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "imppulse"
    ws.append(["key", "value"])
    for k, v in (("sampling.frame", "tax register of dwellings"), ("sampling.design", "address_random"),
                 ("sampling.mode", "telephone"), ("waves.baseline.response_rate", "0,41"),
                 ("pilot.cost.amount", 12000), ("pilot.cost.currency", "EUR")):
        ws.append([k, v])
    wb.save(raw / "metadata.xlsx")
    draft = draft_profile("nantes", raw_dir=raw)
    p = draft.profile
    assert (p.sampling.frame, p.sampling.design, p.sampling.mode) == ("tax register of dwellings", "address_random",
                                                                      "telephone")
    assert p.waves["baseline"].response_rate == 0.41 and p.waves["follow_up"].response_rate is None
    # half a cost is an open question, not an answer
    assert p.pilot.cost is None and "pilot.cost" in draft.todo_keys()
    assert "sampling" not in draft.todo_keys() and "waves.response_rate" not in draft.todo_keys()


@pytest.fixture()
def scratch_root(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "config" / "cities").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    monkeypatch.setenv("IMPPULSE_ROOT", str(root))
    return root


def test_annex_of_a_real_city_never_says_synthetic(project):
    """Annex values of a real profile are "as given by the city", and the demo note is left out."""
    write_profile(project, _annex_profile(synthetic=False))
    _publish("impact", [dict(IMPACT, city="testville")], "testville", synthetic=False)
    for lang in ("en", "fr"):
        html = report.render_html(lang)
        rows = _annex_rows(html, "table-annex-sampling")
        assert {"en": "as given by the city", "fr": "fournies par la ville"}[lang] in rows["Testville"]
        assert "SYNTHETIC" not in html.upper().replace("SYNTHÉTIQUE", "")


def test_annex_tables_of_a_city_blank_alpha_below_k():
    """evaluation.annex_tables: the three tables, α published only from k complete answers."""
    from analysis.inputs import codebook
    from analysis.statistics.evaluation import annex_tables

    prof = simulated_profile(10)
    df = simulate_respondents(10, 30, seed=5)
    rng = np.random.default_rng(0)
    pj = codebook.INDICES[0]
    assert pj.name == "pj_index"
    base = df["wave"].eq("baseline").to_numpy()
    for i, item in enumerate(pj.items):  # baseline: every item answered; follow-up: 5 complete answers
        values = pd.Series(rng.integers(1, 5, len(df)), index=df.index, dtype="Float64")
        values[~base] = pd.NA
        values[np.flatnonzero(~base)[:5]] = rng.integers(1, 5, 5)
        df[item] = values
    for ix in codebook.INDICES[1:]:  # processed respondents hold every codebook column, asked or not
        for item in ix.items:
            df[item] = pd.array([pd.NA] * len(df), dtype="Float64")
    out = annex_tables(df, prof, {"available": True, "participants": 100.0}, B=99)
    assert set(out) == {"placebo", "reliability", "cost"}
    for name, table in out.items():  # each holds to its declaration in the results contract
        tables.validate(table, name)
    with_cost = prof.model_copy(update={"pilot": prof.pilot.model_copy(update={"cost": load_cost()})})
    tables.validate(annex_tables(df, with_cost, {"available": True, "participants": 100.0}, B=99)["cost"], "cost")
    rel = out["reliability"].set_index(["wave", "index"])
    assert rel.loc[("baseline", "pj_index"), "n_complete"] == base.sum()
    assert np.isfinite(rel.loc[("baseline", "pj_index"), "alpha"])
    assert rel.loc[("follow_up", "pj_index"), "n_complete"] == 5
    assert pd.isna(rel.loc[("follow_up", "pj_index"), "alpha"])
    assert out["cost"].iloc[0]["status"] == "no_cost"
