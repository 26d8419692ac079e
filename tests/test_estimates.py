"""Neighbourhood estimates: CIs against references, Fay–Herriot, change, suppression, outputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.weightstats import DescrStatsW

from analysis.inputs import codebook
from analysis.geography import geo
from analysis.statistics import estimates as E
from analysis.statistics import weights as W
from analysis.config import K_SUPPRESS
from analysis.inputs.profile import CityProfile


def make_profile(n_nb=8, seed=0):
    rng = np.random.default_rng(seed)
    codes = [str(i) for i in range(1, n_nb + 1)]
    return CityProfile.model_validate(dict(
        city="testville", name="Testville", country="FR", languages=["fr"], synthetic=True,
        boundaries=dict(unit="quartier"),
        neighbourhoods=[dict(code=c, name=f"Quartier {c}", lon=-1.60 + 0.012 * (i % 4),
                             lat=47.20 + 0.01 * (i // 4), area_km2=1.2) for i, c in enumerate(codes)],
        pilot=dict(name="P", kind="k", description="d", start="2014-06-01", end="2015-03-01",
                   pilot_areas=codes[:2], comparison_areas=codes[2:4],
                   targeted_groups=["young", "migrant_background"]),
        waves=dict(baseline=dict(year=2014, start="2014-03-01", end="2014-05-01"),
                   follow_up=dict(year=2015, start="2015-03-01", end="2015-05-01")),
        margins=dict(source="test", counts={c: {"female": rng.integers(300, 1500, 5).tolist(),
                                                "male": rng.integers(300, 1500, 5).tolist()} for c in codes}),
        residents=dict(files=[dict(path="r.csv", format="csv")], columns={"respondent_id": "id"}),
    ))


def make_respondents(profile, n=400, seed=2, effect=1.5):
    """Codebook residents; pilot areas gain ``effect`` trust points at follow-up.

    Non-pilot neighbourhoods differ in trust by fixed offsets (true between-area variance).
    """
    rng = np.random.default_rng(seed)
    offset = dict(zip(profile.codes, [0.0, 0.0, 1.0, -1.0, 1.5, -1.5, 0.8, -0.8][: len(profile.codes)]))
    p = np.array([8, 6, 5, 4, 3, 2, 1, 0.3])[: len(profile.codes)]
    frames = []
    for wave in codebook.WAVES:
        df = pd.DataFrame({"city": profile.city, "source_file": "x.csv", "raw_row_number": np.arange(1, n + 1),
                           "respondent_id": [f"{wave[0]}{i}" for i in range(n)], "wave": wave,
                           "neighbourhood": rng.choice(profile.codes, n, p=p / p.sum()),
                           "age": rng.integers(15, 90, n), "gender": rng.choice(["female", "male"], n)})
        df["age_group"] = codebook.age_group(df["age"])
        df["pilot_area"] = df["neighbourhood"].map(profile.area_type)
        lift = effect * ((wave == "follow_up") & (df["pilot_area"] == "pilot"))
        base = 5 + df["neighbourhood"].map(offset).to_numpy()
        df["trust_police"] = np.clip(np.round(rng.normal(base + lift, 2, n)), 0, 10)
        for item in ("pj_respect", "pj_fair", "pj_explain", "willing_report", "feel_safe_dark"):
            df[item] = rng.integers(1, 5, n)
        for item in ("eff_violence", "eff_burglary", "duty_support_police"):
            df[item] = rng.integers(0, 11, n)
        df["migrant_background"] = rng.random(n) < 0.3
        df["police_contact_12m"] = rng.random(n) < 0.3
        df["contact_satisfaction"] = np.where(df["police_contact_12m"], rng.integers(1, 6, n), np.nan)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    return codebook.compute_indices(codebook.enforce_dtypes(df, "residents"))


@pytest.fixture(scope="module")
def city():
    prof = make_profile()
    df = make_respondents(prof)
    w = W.city_weights(df, prof)
    table = E.neighbourhood_estimates(df, w, prof)
    return prof, df, w, table


# ------------------------------------------------------------------ direct CI
def test_weighted_mean_ci_matches_wls_sandwich_reference():
    rng = np.random.default_rng(7)
    y = rng.normal(5, 2, 60)
    w = rng.uniform(0.5, 4, 60)
    got = E.weighted_mean_ci(y, w)
    fit = sm.WLS(y, np.ones_like(y), weights=w).fit(cov_type="HC1", use_t=True)
    assert got["estimate"] == pytest.approx(fit.params[0], rel=1e-12)
    assert got["se"] == pytest.approx(fit.bse[0], rel=1e-10)
    lo, hi = fit.conf_int(alpha=0.05)[0]
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), rel=1e-10)
    assert got["n"] == 60 and got["n_eff"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())


def test_equal_weights_reduce_to_the_textbook_t_interval():
    y = np.array([2.0, 4, 4, 5, 7, 8, 9, 1])
    got = E.weighted_mean_ci(y, np.full(8, 3.0))
    ref = DescrStatsW(y)
    lo, hi = ref.tconfint_mean(alpha=0.05)
    assert got["se"] == pytest.approx(ref.std_mean, rel=1e-12)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)


def test_hand_computed_example():
    # y = 1,2,3,4 with weights 1,1,2,2: mean 17/6; v = 4/3 · Σw²(y-ȳ)² / 36.
    got = E.weighted_mean_ci([1, 2, 3, 4], [1, 1, 2, 2])
    m = 17 / 6
    v = 4 / 3 * ((1 - m) ** 2 + (2 - m) ** 2 + 4 * (3 - m) ** 2 + 4 * (4 - m) ** 2) / 36
    assert got["estimate"] == pytest.approx(m) and got["se"] == pytest.approx(np.sqrt(v))
    assert E.weighted_mean_ci([np.nan, 3.0], [1.0, 1.0])["n"] == 1
    assert np.isnan(E.weighted_mean_ci([3.0], [1.0])["se"])


# ---------------------------------------------------------------- Fay–Herriot
def test_fay_herriot_known_sigma_matches_the_formula():
    theta = np.array([4.0, 6.0, 5.0, 8.0])
    psi = np.array([0.5, 2.0, 0.1, 4.0])
    fit = E.fay_herriot(theta, psi, sigma2_u=1.0)
    gamma = 1.0 / (1.0 + psi)
    mu = np.sum(theta / (1 + psi)) / np.sum(1 / (1 + psi))  # GLS mean
    assert fit.gamma == pytest.approx(gamma)
    assert fit.beta[0] == pytest.approx(mu)
    assert fit.shrunk == pytest.approx(gamma * theta + (1 - gamma) * mu)


@pytest.mark.parametrize("method", ["REML", "FH"])
def test_balanced_case_sigma2_closed_form(method):
    # With equal ψ both REML and the FH moment estimator give σ²_u = S² - ψ (S² with ddof 1).
    theta = np.array([3.0, 5.5, 4.2, 6.8, 5.1, 2.9])
    psi = np.full(6, 0.4)
    fit = E.fay_herriot(theta, psi, method=method)
    assert fit.sigma2_u == pytest.approx(theta.var(ddof=1) - 0.4, rel=1e-6)
    assert E.fay_herriot(np.array([5.0, 5.1, 4.9]), np.full(3, 1.0), method=method).sigma2_u == 0.0


def test_reml_maximises_the_textbook_restricted_likelihood():
    rng = np.random.default_rng(3)
    psi = rng.uniform(0.1, 2.0, 15)
    theta = 5 + rng.normal(0, 1.0, 15) + rng.normal(0, np.sqrt(psi))
    X = np.ones((15, 1))

    def reml(s2):  # -½[log|V| + log|X'V⁻¹X| + y'Py], full matrices
        V = np.diag(s2 + psi)
        Vi = np.linalg.inv(V)
        P = Vi - Vi @ X @ np.linalg.inv(X.T @ Vi @ X) @ X.T @ Vi
        return -0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(X.T @ Vi @ X)[1] + theta @ P @ theta)

    grid = np.linspace(0, 5, 5001)
    best = grid[np.argmax([reml(s) for s in grid])]
    assert E.fay_herriot(theta, psi).sigma2_u == pytest.approx(best, abs=2e-3)


def test_shrinkage_pulls_small_areas_and_leaves_large_ones(city):
    prof, df, w, table = city
    sub = table[(table["group"] == "all") & (table["indicator"] == "trust_police")
                & (table["wave"] == "baseline") & ~table["suppressed"]]
    big, small = sub.loc[sub["n"].idxmax()], sub.loc[sub["n"].idxmin()]
    assert big["n"] > 3 * small["n"]
    assert big["gamma"] > small["gamma"]
    mean = E.weighted_mean_ci(df.loc[df["wave"] == "baseline", "trust_police"],
                              w.loc[df["wave"] == "baseline", "weight"])["estimate"]
    for r in (big, small):
        assert abs(r["shrunk"] - mean) <= abs(r["estimate"] - mean) + 0.05
    assert abs(big["shrunk"] - big["estimate"]) < abs(small["shrunk"] - small["estimate"]) + 1e-9


# ----------------------------------------------------------------- change
def test_change_is_follow_up_minus_baseline_and_recovers_the_effect(city):
    prof, df, w, table = city
    t = table[(table["group"] == "all") & (table["indicator"] == "trust_police")].set_index(["neighbourhood", "wave"])
    for code in ("1", "2"):  # pilot areas, +1.5 points built in
        b, f, c = t.loc[(code, "baseline")], t.loc[(code, "follow_up")], t.loc[(code, "change")]
        assert c["estimate"] == pytest.approx(f["estimate"] - b["estimate"])
        assert c["se"] == pytest.approx(np.hypot(f["se"], b["se"]))
        assert c["ci_low"] < 1.5 < c["ci_high"] and c["ci_low"] > 0
        assert c["n"] == min(b["n"], f["n"]) == min(c["n_baseline"], c["n_follow_up"])


# ---------------------------------------------------------------- suppression
def test_suppress_blanks_small_cells_and_is_idempotent():
    t = pd.DataFrame({"n": [3, 10, 50, np.nan], "estimate": [1.0, 2, 3, 4], "ci_low": [0.0, 1, 2, 3],
                      "ci_high": [2.0, 3, 4, 5], "shrunk": [1.0, 2, 3, 4]})
    s = E.suppress(t)
    assert s["suppressed"].tolist() == [True, False, False, True]
    assert s.loc[[0, 3], ["estimate", "ci_low", "ci_high", "shrunk"]].isna().all().all()
    assert s.loc[1, "estimate"] == 2 and s.equals(E.suppress(s))
    assert E.suppress(t, k=60)["suppressed"].all()
    with pytest.raises(KeyError, match="'n_resp'"):
        E.suppress(t, n_col="n_resp")


def test_table_has_every_cell_and_no_published_cell_under_k(city):
    prof, df, w, table = city
    assert list(table.columns) == list(E.TABLE_COLUMNS)
    groups = ["all", *prof.pilot.targeted_groups]
    # every codebook outcome this city collected: the indicators and their items
    assert len(table) == len(prof.codes) * len(groups) * 3 * len(codebook.OUTCOMES)
    assert set(table["status"]) == {"published", "suppressed", "no_data"}
    assert table["status"].isin(["suppressed", "no_data"]).equals(table["suppressed"].astype(bool))
    # no_data exactly where nobody answered; "suppressed" only for cells with respondents
    assert (table["status"] == "no_data").equals(table["n"] == 0)
    assert (table.loc[table["status"] == "suppressed", "n"] >= 1).all()
    shown = table["estimate"].notna() | table["ci_low"].notna() | table["shrunk"].notna()
    assert (table.loc[shown, "n"] >= K_SUPPRESS).all()
    assert table.loc[table["n"] < K_SUPPRESS, "suppressed"].all()
    # Cells of 10 or more are suppressed only as complements (analysis.publishing.disclosure rule 4):
    # no hidden cell is alone in its areas, and the Fay–Herriot columns use published cells only.
    from analysis.publishing import disclosure

    found = [f.rule for f in disclosure.check_table(table, "table")]
    assert not [r for r in found if "only suppressed cell" in r or "Fay–Herriot" in r]
    assert not [r for r in found if "statistic published" in r]
    assert table["suppressed"].any() and (~table["suppressed"]).any()  # both cases exercised
    assert set(table["wave"]) == {"baseline", "follow_up", "change"}


def test_outcomes_not_collected_are_marked_and_single_items_estimated(city):
    """A city that asked one procedural-justice item: the item is estimated and mapped, the
    index and the outcomes it never asked are `not_collected` (not suppressed small cells)."""
    from analysis.geography import maps

    prof, df, w, _ = city
    df = df.copy()
    df[["pj_fair", "pj_explain", "pj_index", "feel_safe_dark"]] = np.nan
    table = E.neighbourhood_estimates(df, w, prof)
    status = table.groupby("indicator")["status"].agg(set)
    assert status["pj_index"] == {"not_collected"} and status["feel_safe_dark"] == {"not_collected"}
    assert "published" in status["pj_respect"] and "pj_fair" not in status
    nc = table[table["status"] == "not_collected"]
    assert nc["estimate"].isna().all() and nc["shrunk"].isna().all()
    shown = maps.indicators_to_map(table)
    assert "pj_respect" in shown and "pj_index" not in shown and "feel_safe_dark" not in shown
    assert "trust_police" in shown


def test_written_outputs_respect_k(city, tmp_path, monkeypatch):
    prof, df, w, table = city
    (tmp_path / "config" / "cities").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    geom = geo.city_geometry(prof.city, prof)
    # Even an unsuppressed table handed in by mistake is suppressed on the way out.
    raw = table.copy()
    raw.loc[raw["n"].between(1, K_SUPPRESS - 1), "estimate"] = 9.9
    paths = E.write_outputs(raw.drop(columns="suppressed"), geom, prof)
    csv = pd.read_csv(paths["csv"], dtype={"neighbourhood": str})
    assert (csv["data_status"].str.contains("SYNTHETIC")).all()
    for col in ("city", "neighbourhood", "name", "area_type", "group", "wave", "indicator", "n",
                "estimate", "ci_low", "ci_high", "shrunk", "suppressed"):
        assert col in csv.columns
    assert (csv.loc[csv["estimate"].notna(), "n"] >= K_SUPPRESS).all()
    gpkg = gpd.read_file(paths["gpkg"])
    assert gpkg.crs == geo.TARGET_CRS and len(gpkg) == len(prof.codes)
    for ind in codebook.INDICATORS:
        for wave in E.WAVES_OUT:
            est, n = gpkg[f"{ind}_{wave}"], gpkg[f"{ind}_{wave}_n"]
            assert (n[est.notna()] >= K_SUPPRESS).all()
            assert gpkg.loc[n < K_SUPPRESS, f"{ind}_{wave}_shrunk"].isna().all()


def test_published_csv_shows_no_count_below_k():
    from analysis.statistics.estimates import blank_small_counts

    t = pd.DataFrame({"n": [0, 3, 9, 10, 250], "n_baseline": [0, 2, 12, 10, 100], "estimate": [1.0] * 5})
    out = blank_small_counts(t, k=10)
    assert out["n"].isna().tolist() == [False, True, True, False, False]
    assert out["n_baseline"].isna().tolist() == [False, True, False, False, False]
    assert out.loc[4, "n"] == 250 and out.loc[0, "n"] == 0


def test_status_no_data_for_empty_cells_and_suppressed_for_small_or_complement_cells(city):
    """n = 0 (neighbourhood not surveyed) is ``no_data``, 1..k-1 and secondary suppression
    are ``suppressed``: the dashboard and the maps read the same code."""
    prof, df, _, _ = city
    empty, small = prof.codes[0], prof.codes[1]
    keep = df["neighbourhood"] != empty
    # five respondents per wave in `small`: a primary-suppressed cell with respondents
    in_small = df.index[df["neighbourhood"] == small]
    few = df.loc[in_small].groupby("wave").head(5).index
    keep &= ~df.index.isin(in_small.difference(few))
    sub = df[keep]
    table = E.neighbourhood_estimates(sub, W.city_weights(sub, prof), prof)
    allg = table[(table["group"] == "all") & (table["indicator"] == "trust_police")]
    assert set(allg.loc[allg["neighbourhood"] == empty, "status"]) == {"no_data"}
    base = allg[(allg["neighbourhood"] == small) & (allg["wave"] == "baseline")]
    assert not (base["n"] == 0).any()  # respondents there: not "nobody answered"
    assert set(base["status"]) == {"suppressed"}
    # complements of n >= k hidden by secondary suppression stay "suppressed", never "no_data"
    secondary = table[table["suppressed"].astype(bool) & (table["n"] >= K_SUPPRESS)]
    assert (secondary["status"] == "suppressed").all()
    assert set(table["status"]) <= set(E.STATUSES)
