"""The impact estimators recover known answers.

- the DiD finds a planted effect (inside its interval) and no effect where none was planted;
- the pre/post estimator is biased by a common trend by exactly the trend;
- the closed-form wild cluster restricted bootstrap equals brute-force refits with
  statsmodels over every Rademacher sign pattern, its t equals statsmodels' CRV1 t, and
  its p-values are uniform-ish under the null;
- group effects, suppression, balance, officers, implementation and the evidence rating.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.publishing import tables
from analysis.inputs import codebook
from analysis.statistics import evidence, impact, implementation, officers
from analysis.statistics import bootstrap, simulation
from analysis.publishing import impact_figures
from analysis.config import K_SUPPRESS


# --------------------------------------------------------------------------- bootstrap
def _toy(G=6, n=240, seed=1):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, G, n)
    x = rng.normal(size=n) + 0.2 * cl
    z = rng.normal(size=n)
    y = 0.3 * x + 0.5 * z + rng.normal(size=n) + rng.normal(size=G)[cl]
    X = np.column_stack([x, np.ones(n), z])
    w = rng.uniform(0.5, 2.0, n)
    return X, y, cl, w


def test_wcr_matches_brute_force_enumeration():
    """Every one of the 2^G Rademacher draws refitted with statsmodels gives the same p."""
    X, y, cl, w = _toy(G=5)
    b0 = 0.25
    wb = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, weights=w, B=999, weight_type="rademacher",
                                       b0=b0, ci=False)
    assert wb.enumerated and wb.B == 2**5
    full = sm.WLS(y, X, weights=w).fit(cov_type="cluster", cov_kwds={"groups": cl})
    t_obs = (full.params[0] - b0) / full.bse[0]
    assert wb.t_stat == pytest.approx(t_obs, rel=1e-10)
    assert wb.crv1_se == pytest.approx(full.bse[0], rel=1e-10)
    restricted = sm.WLS(y - b0 * X[:, 0], X[:, 1:], weights=w).fit()
    fitted = X[:, 1:] @ restricted.params + b0 * X[:, 0]
    resid = y - fitted
    t_boot = []
    for v in itertools.product([-1.0, 1.0], repeat=5):
        ys = fitted + np.array(v)[cl] * resid
        f = sm.WLS(ys, X, weights=w).fit(cov_type="cluster", cov_kwds={"groups": cl})
        t_boot.append((f.params[0] - b0) / f.bse[0])
    p_brute = np.mean(np.abs(t_boot) >= abs(t_obs) - 1e-12)
    assert wb.p_value == pytest.approx(p_brute, abs=1e-12)


def test_wcr_interval_is_the_set_of_unrejected_nulls():
    X, y, cl, w = _toy(G=8, n=400, seed=5)
    wb = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, weights=w, B=999, weight_type="webb", seed=7)
    assert wb.ci_low < wb.estimate < wb.ci_high
    inside = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, weights=w, B=999, seed=7, ci=False,
                                           b0=wb.ci_low + 0.02 * (wb.ci_high - wb.ci_low))
    outside = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, weights=w, B=999, seed=7, ci=False,
                                            b0=wb.ci_low - 0.02 * (wb.ci_high - wb.ci_low))
    assert inside.p_value > 0.05 >= outside.p_value


def test_wcr_p_values_uniform_under_null():
    """200 seeded null datasets with 8 clusters: p-values look uniform, size near 5%."""
    rng = np.random.default_rng(11)
    G, n, ps = 8, 160, []
    for _ in range(200):
        cl = np.repeat(np.arange(G), n // G)
        x = (cl % 2).astype(float) + rng.normal(0, 0.1, n)  # regressor constant-ish within cluster
        y = rng.normal(size=G)[cl] + rng.normal(size=n)
        X = np.column_stack([x, np.ones(n)])
        ps.append(bootstrap.wild_cluster_bootstrap(X, y, cl, 0, B=199, seed=int(rng.integers(1e9)),
                                                ci=False).p_value)
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(ps <= 0.05) <= 0.10


def test_auto_weights_rademacher_enumerated_from_six_clusters_webb_below():
    assert bootstrap.resolve_weight_type("auto", 6) == "rademacher"
    assert bootstrap.resolve_weight_type("auto", 5) == "webb"
    X, y, cl, w = _toy(G=8, n=200)
    wb = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, B=9999, ci=False)
    assert wb.weight_type == "rademacher" and wb.enumerated and wb.B == 256
    assert wb.label == "wild cluster bootstrap (WCR, Rademacher, all 256 sign patterns)"
    X, y, cl, w = _toy(G=4, n=200)
    wb = bootstrap.wild_cluster_bootstrap(X, y, cl, 0, B=9999, ci=False)
    assert wb.weight_type == "webb" and wb.enumerated and wb.B == 6**4


def test_bad_weight_type_and_single_cluster_raise():
    X, y, cl, w = _toy()
    with pytest.raises(ValueError, match="weight_type"):
        bootstrap.wild_cluster_bootstrap(X, y, cl, 0, weight_type="mammen")
    with pytest.raises(ValueError, match="at least 2 clusters"):
        bootstrap.wild_cluster_bootstrap(X, y, np.zeros(len(y)), 0)


# ------------------------------------------------------------------------------- DiD
@pytest.mark.parametrize("planted", [0.0, 0.8])
def test_did_recovers_planted_effect(planted):
    """30 seeded pilots (10 clusters, trend 0.6): unbiased, intervals cover the planted effect."""
    ests, cover_wb, cover_crv, reject = [], [], [], []
    for seed in range(30):
        df = simulation.simulate_respondents(10, 100, effect=planted, trend=0.6, seed=100 + seed)
        est = impact.fit_effect(df, "trust_police", B=199, seed=seed)
        ests.append(est.estimate)
        cover_wb.append(est.ci_low <= planted <= est.ci_high)
        cover_crv.append(est.crv_ci_low <= planted <= est.crv_ci_high)
        reject.append(est.p_value < 0.05)
    assert est.n == 2000 and est.n_clusters == 10 and est.n_clusters_treated == 5
    # B=199 < 2^10: drawn, not enumerated (a code and its B; the report words it)
    assert (est.inference, est.inference_B) == ("wcr_rademacher_sampled", 199)
    sd = np.std(ests, ddof=1)
    assert np.mean(ests) == pytest.approx(planted, abs=3 * sd / np.sqrt(30))
    assert np.mean(cover_wb) >= 0.85 and np.mean(cover_crv) >= 0.8
    if planted == 0.0:
        assert np.mean(reject) <= 0.15
    else:
        assert np.mean(reject) >= 0.7  # 0.8 points on sd 2 with 2,000 respondents: detectable


def test_did_single_dataset_known_answer():
    """One large, low-noise pilot: the estimate lies within 0.05 of the planted 0.5."""
    df = simulation.simulate_respondents(12, 200, effect=0.5, trend=1.0, shock_sd=0.0, noise_sd=0.3, seed=1)
    est = impact.fit_effect(df, "trust_police", B=999)
    assert est.estimate == pytest.approx(0.5, abs=0.05)
    assert est.ci_low <= 0.5 <= est.ci_high and est.p_value < 0.01


def test_did_point_estimate_equals_statsmodels_formula():
    """The hand-built design matrix gives the estimate of the formula the brief states."""
    import statsmodels.formula.api as smf

    df = simulation.simulate_respondents(6, 40, effect=0.5, seed=2)
    est = impact.fit_effect(df, "trust_police", B=99)
    d = df.assign(tp=((df["pilot_area"] == "pilot") & (df["wave"] == "follow_up")).astype(float),
                  y=df["trust_police"].astype(float))
    ref = smf.wls("y ~ tp + C(neighbourhood) + C(wave) + C(age_group) + C(gender)", data=d,
                  weights=d["weight"]).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["neighbourhood"])[0]})
    assert est.estimate == pytest.approx(ref.params["tp"], rel=1e-9)
    assert est.std_error == pytest.approx(ref.bse["tp"], rel=1e-9)


def test_pre_post_is_biased_by_the_common_trend():
    """Without comparison areas the estimate is effect + trend; the DiD removes the trend."""
    effect, trend = 0.4, 1.0
    df = simulation.simulate_respondents(12, 150, effect=effect, trend=trend, shock_sd=0.0,
                                     noise_sd=0.3, seed=4)
    pre_post = impact.fit_effect(df, "trust_police", design="pre_post", B=99)
    did = impact.fit_effect(df, "trust_police", design="did", B=99)
    # tolerances are about 3 standard errors (residual sd ~0.4 with the covariate terms)
    assert pre_post.estimate == pytest.approx(effect + trend, abs=0.1)
    assert did.estimate == pytest.approx(effect, abs=0.1)
    assert pre_post.estimate - did.estimate == pytest.approx(trend, abs=0.1)
    assert pre_post.n == (df["pilot_area"] == "pilot").sum()


def test_group_effect_and_difference_from_rest():
    df = simulation.simulate_respondents(10, 150, effect=0.0, group_effect=1.5, shock_sd=0.0,
                                     noise_sd=0.3, seed=8)
    within = impact.fit_effect(df, "trust_police", group="migrant_background", within_group=True, B=999)
    diff = impact.fit_effect(df, "trust_police", group="migrant_background", B=999)
    rest = impact.fit_effect(df[~df["migrant_background"].astype(bool)], "trust_police", B=999)
    assert within.ci_low <= 1.5 <= within.ci_high
    assert diff.ci_low <= 1.5 <= diff.ci_high and diff.p_value < 0.05
    assert rest.estimate == pytest.approx(0.0, abs=0.12)
    # the triple difference is the group's DiD minus the rest's (same covariates aside)
    assert diff.estimate == pytest.approx(within.estimate - rest.estimate, abs=0.15)


def test_suppression_below_k():
    df = simulation.simulate_respondents(6, 40, seed=1)
    young = df["age_group"] == "15-24"
    # keep only 3 young respondents per neighbourhood-wave: cells of the group fall below k
    keep = ~young | (df.groupby(["neighbourhood", "wave"]).cumcount() < 3)
    est = impact.fit_effect(df[keep & (young | True)], "trust_police", group="young", within_group=True,
                            B=99, k_suppress=K_SUPPRESS)
    sub = df[keep]
    cells = sub[sub["age_group"] == "15-24"].groupby(["pilot_area", "wave"]).size()
    if cells.min() < K_SUPPRESS:
        assert np.isnan(est.estimate) and (est.note_key, est.note_value) == ("suppressed", K_SUPPRESS)
    big = impact.fit_effect(df, "trust_police", B=99, k_suppress=10_000)
    assert np.isnan(big.estimate) and (big.note_key, big.note_value) == ("suppressed", 10_000)


def test_bad_input_errors_name_the_column():
    df = simulation.simulate_respondents(4, 20, seed=1)
    with pytest.raises(KeyError, match="weights column 'w2'"):
        impact.fit_effect(df, "trust_police", weights="w2")
    bad = df.copy()
    bad.loc[5, "weight"] = -1.0
    with pytest.raises(ValueError, match="non-positive weight"):
        impact.fit_effect(bad, "trust_police")
    with pytest.raises(ValueError, match="design"):
        impact.fit_effect(df, "trust_police", design="rct")


def test_resident_effects_table_and_balance():
    prof = simulation.simulated_profile(8)
    df = simulation.simulate_respondents(8, 80, effect=0.5, seed=9)
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), B=199)
    assert list(tab.columns) == tables.IMPACT_COLUMNS
    assert set(tab["group"]) == {"all", "young", "migrant_background", "police_contact"}
    assert (tab["design"] == "did").all() and (tab["scale"] == "0-10").all()
    published = tab[tab["estimate"].notna()]
    assert (published["min_cell"] >= K_SUPPRESS).all()
    assert tab.loc[tab["group"] == "all", "diff_vs_rest"].isna().all()
    assert tab.loc[tab["group"] != "all", "diff_p_value"].notna().all()
    bal = impact.balance_table(df, prof)
    assert set(bal["variable"]) >= {"age", "female", "migrant", "trust_police"}
    assert (bal["std_diff"].abs() < 0.25).all()  # randomised simulation: balanced
    shifted = df.copy()
    pil = (shifted["pilot_area"] == "pilot") & (shifted["wave"] == "baseline")
    shifted.loc[pil, "trust_police"] = shifted.loc[pil, "trust_police"] + 2.0
    bal2 = impact.balance_table(shifted, prof)
    assert bal2.set_index("variable").loc["trust_police", "imbalanced"]


def test_pre_post_city_and_evidence_rating():
    prof = simulation.simulated_profile(6, comparison=False)
    df = simulation.simulate_respondents(6, 60, effect=0.5, comparison=False, seed=3)
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=[], B=199)
    assert tab["design"].tolist() == ["pre_post"]
    bal = impact.balance_table(df, prof)
    table, rating = evidence.rate_evidence(tab, bal, {"fidelity": 0.9}, prof)
    # design strength from the design alone: few clusters lower the confidence, not the level
    assert rating["level"] == 2 and rating["design"] == "pre_post"
    assert "few_clusters" in rating["reasons"] and rating["confidence"] in ("moderate", "low")
    assert "before/after" in rating["text"]
    text = evidence.reading(tab, officers.officer_effects(None, prof), rating, prof)
    assert "city-wide trend" in text and "SYNTHETIC" in text


def test_did_city_rating_starts_at_level_3():
    prof = simulation.simulated_profile(12)
    df = simulation.simulate_respondents(12, 120, seed=3)
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=[], B=99)
    bal = impact.balance_table(df, prof)
    trends = evidence.composition_trends(df, prof)
    _, rating = evidence.rate_evidence(tab, bal, {"fidelity": 0.9}, prof, trends=trends)
    assert (rating["level"], rating["confidence"], rating["reasons"]) == (3, "high", [])
    _, weak = evidence.rate_evidence(tab, bal, {"fidelity": 0.5}, prof, trends=trends)
    assert weak["level"] == 3 and weak["confidence"] == "moderate" and weak["reasons"] == ["low_fidelity"]


# ---------------------------------------------------------------- officers, activities
def _officers(n=40, effect=0.8, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for wave in codebook.WAVES:
        for i in range(n):
            trained = i < n // 2
            y = 3 + 0.2 * trained + effect * trained * (wave == "follow_up") + rng.normal(0, 0.5)
            rows.append({"city": "simulated", "source_file": "o.csv", "raw_row_number": len(rows) + 1,
                         "officer_id": f"o{i}", "wave": wave, "trained_in_pilot": trained and wave == "follow_up",
                         "off_public_support": int(np.clip(round(y), 1, 5)), "off_youth_attitude": y})
    df = pd.DataFrame(rows)
    df["off_youth_attitude"] = df["off_youth_attitude"].round().clip(1, 5)
    return codebook.enforce_dtypes(df, "officers")


def test_officer_did_on_trained_by_wave():
    prof = simulation.simulated_profile(4)
    tab = officers.officer_effects(_officers(effect=1.0), prof)
    row = tab.set_index("outcome").loc["off_youth_attitude"]
    assert row["design"] == "did_trained"  # ids link the waves: baseline of the trained is known
    assert row["ci_low"] <= 1.0 <= row["ci_high"] and row["p_value"] < 0.05
    empty = tab.set_index("outcome").loc["off_job_satisfaction"]
    assert np.isnan(empty["estimate"]) and empty["note_key"] == "officers_suppressed"
    small = officers.officer_effects(_officers(n=12), prof)
    assert (small["design"] == "pre_post").all()  # 6 per trained cell < k: falls back


def test_implementation_summary():
    prof = simulation.simulated_profile(4)
    acts = codebook.enforce_dtypes(pd.DataFrame({
        "city": "simulated", "source_file": "a.csv", "raw_row_number": [1, 2, 3, 4],
        "date": pd.to_datetime(["2014-10-01", "2014-11-15", "2015-01-10", "2016-01-01"]),
        "neighbourhood": ["N00", "N01", "N00", "N03"],
        "activity_type": ["meeting", "school_visit", "meeting", "joint_patrol"],
        "participants": [30, 50, 20, 10], "participants_police": [3, 2, 4, 6]}), "activities")
    s = implementation.implementation_summary(acts, prof)
    assert s["n_activities"] == 4 and s["participants"] == 110
    assert s["fidelity"] == pytest.approx(0.75)  # N03 is a comparison area
    assert s["in_window"] == pytest.approx(0.75)  # 2016 is after the pilot
    reach = s["reach"].set_index("key")
    assert reach.loc["N00", "reach_per_1000"] == pytest.approx(50 / 4900 * 1000)
    assert s["by_type"].set_index("key").loc["meeting", "activities"] == 2
    none = implementation.implementation_summary(None, prof)
    assert not none["available"] and np.isnan(none["fidelity"])


# ------------------------------------------------------------- the demo generator's cities
@pytest.fixture(scope="module")
def demo_cities():
    from analysis.demo import synthetic
    from analysis.inputs.profile import load_profile

    out = {}
    for city in ("nantes", "brussels", "lisbon", "amiens"):
        prof = load_profile(city)
        frames = synthetic.generate_city(prof, faults=False, dont_know=False)
        truth = frames["truth"].query("indicator == 'trust_police' and group == 'all'")
        est = impact.fit_effect(frames["residents"], "trust_police", weights=None, B=399,
                                design="did" if prof.has_comparison else "pre_post")
        out[city] = (prof, est, float(truth["realised"].iloc[0]),
                     synthetic.time_trend(city, "trust_police"))
    return out


def test_demo_did_cities_recover_the_planted_effect(demo_cities):
    """Each DiD city's interval holds the effect the generator planted (realised in the sample)."""
    errors, ses = [], []
    for city, (prof, est, realised, _) in demo_cities.items():
        if not prof.has_comparison:
            continue
        assert est.ci_low <= realised <= est.ci_high, city
        errors.append(est.estimate - realised)
        ses.append(est.std_error)
    assert len(errors) == 3
    # averaged over cities the error is small relative to its standard error
    assert abs(np.mean(errors)) <= 2 * np.sqrt(np.sum(np.square(ses))) / len(ses)


def test_demo_pre_post_city_carries_the_city_trend(demo_cities):
    """Amiens has no comparison area: its pre/post estimate is effect + the planted trend."""
    prof, est, realised, trend = demo_cities["amiens"]
    assert not prof.has_comparison and trend > 0.2
    assert est.ci_low <= realised + trend <= est.ci_high
    assert abs(est.estimate - (realised + trend)) < abs(est.estimate - realised)


def test_pre_post_balance_rates_composition_not_outcomes():
    prof = simulation.simulated_profile(6, comparison=False)
    df = simulation.simulate_respondents(6, 80, effect=2.0, comparison=False, seed=2)
    bal = impact.balance_table(df, prof).set_index("variable")
    assert abs(bal.loc["trust_police", "std_diff"]) > 0.25  # the effect itself...
    assert not bal.loc["trust_police", "imbalanced"]  # ...is not an imbalance
    assert bal.loc["age", "used_in_rating"] and not bal.loc["trust_police", "used_in_rating"]


def test_group_only_in_pilot_areas_falls_back_to_pre_post():
    """Tourists in a city centre: no comparison members, so the group gets a pre/post estimate."""
    prof = simulation.simulated_profile(8)
    df = simulation.simulate_respondents(8, 80, seed=4)
    df.loc[df["pilot_area"] == "comparison", "migrant_background"] = False
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=["migrant_background"], B=99)
    row = tab.set_index("group").loc["migrant_background"]
    assert row["design"] == "pre_post" and row["note_key"] == "group_pre_post_fallback" \
        and np.isfinite(row["estimate"])
    assert tab.set_index("group").loc["all", "design"] == "did"


# ------------------------------------------- cells that cannot support inference (#8 §5)
def _item(df, name, effect=0.0, seed=0, base=2):
    """A 1-4 item with a known DiD effect: base + Bernoulli(0.3 + effect*treated*post)
    + Bernoulli(0.5), so the planted effect on the item's own scale is exactly ``effect``."""
    rng = np.random.default_rng(seed)
    tp = ((df["pilot_area"] == "pilot") & (df["wave"] == "follow_up")).to_numpy()
    y = base + (rng.random(len(df)) < 0.3 + effect * tp) + (rng.random(len(df)) < 0.5)
    return df.assign(**{name: pd.array(y, dtype="Int64")})


def test_wide_interval_is_not_estimable_and_prints_nothing():
    """3 clusters with large neighbourhood shocks: the interval is wider than the 1-4 scale,
    so the row is not estimable and no estimate, interval or p-value is given; with small
    shocks the same design is estimated."""
    df = simulation.simulate_respondents(3, 40, comparison=False, shock_sd=1.5, noise_sd=1.0, seed=0)
    df["feel_safe_dark"] = df["trust_police"] / 3
    est = impact.fit_effect(df, "feel_safe_dark", design="pre_post")
    assert est.status == "not_estimable" and est.reason == "ci_wider_than_scale"
    assert np.isnan([est.estimate, est.std_error, est.ci_low, est.ci_high, est.p_value,
                     est.crv_ci_low, est.crv_p_value]).all()
    assert est.n == 240 and est.n_clusters == 3
    calm = simulation.simulate_respondents(3, 40, comparison=False, shock_sd=0.02, noise_sd=0.3, seed=0)
    calm["feel_safe_dark"] = calm["trust_police"] / 3
    ok = impact.fit_effect(calm, "feel_safe_dark", design="pre_post")
    assert ok.status == "estimated" and ok.reason == "" and ok.ci_high - ok.ci_low < 3


def test_group_in_one_comparison_area_falls_back_to_pre_post():
    """The group lives in the 4 pilot areas and one comparison area: a DiD on one control
    cluster cannot support inference (few_clusters_per_arm), so the row is the pre/post
    change in the pilot areas, labelled so."""
    prof = simulation.simulated_profile(8)
    df = simulation.simulate_respondents(8, 80, seed=4)
    df.loc[(df["pilot_area"] == "comparison") & (df["neighbourhood"] != "N04"), "migrant_background"] = False
    within = impact.fit_effect(df, "trust_police", group="migrant_background", within_group=True, B=99)
    assert within.status == "not_estimable" and within.reason == "few_clusters_per_arm"
    assert (within.n_clusters_both_waves, within.n_clusters_treated_both_waves) == (5, 4)
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=["migrant_background"], B=99)
    row = tab.set_index("group").loc["migrant_background"]
    assert row["design"] == "pre_post" and row["status"] == "estimated" and np.isfinite(row["estimate"])


def test_fallback_label_kept_when_pre_post_is_suppressed():
    """No group member in the comparison areas and only 5 in the pilot areas at follow-up:
    the DiD is suppressed and so is the pre/post fallback. The row keeps the DiD label
    and status; it never carries a DiD result under the pre_post label."""
    prof = simulation.simulated_profile(8)
    df = simulation.simulate_respondents(8, 80, seed=4)
    df.loc[df["pilot_area"] == "comparison", "migrant_background"] = False
    late = (df["pilot_area"] == "pilot") & (df["wave"] == "follow_up")
    members = df.index[late & df["migrant_background"].astype(bool)]
    df.loc[members[5:], "migrant_background"] = False
    pp = impact.fit_effect(df, "trust_police", group="migrant_background", within_group=True,
                           design="pre_post", B=99)
    assert pp.status == "suppressed"
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=["migrant_background"], B=99)
    row = tab.set_index("group").loc["migrant_background"]
    assert row["design"] == "did" and row["status"] == "suppressed" and row["not_estimable_reason"] == "small_cell"
    assert row["note_key"] != "group_pre_post_fallback"
    assert row["diff_status"] == "suppressed" and np.isnan(row["diff_p_value"])
    assert not row["estimable"]


def test_small_counts_are_not_published():
    """A design cell of 5 respondents: the row is suppressed and neither min_cell (5) nor
    any count from 1 to 9 appears in the published row."""
    prof = simulation.simulated_profile(6)
    df = simulation.simulate_respondents(6, 40, seed=1)
    late = df.index[(df["pilot_area"] == "pilot") & (df["wave"] == "follow_up")]
    df.loc[late[5:], "trust_police"] = pd.NA
    tab = impact.resident_effects(df, prof, indicators=("trust_police",), groups=[], B=99)
    row = tab.iloc[0]
    assert row["status"] == "suppressed" and np.isnan(row["min_cell"]) and row["n"] >= K_SUPPRESS
    assert np.isnan(row["estimate"]) and np.isnan(row["p_value"])


# --------------------------------------------------- every collected item is an outcome (§6)
def test_single_pj_item_is_estimated_on_its_own_scale():
    """A city that asked only 'respect' (1-4) of the three procedural-justice items: the
    item is estimated (planted effect 0.4 recovered), the index and the items never
    asked are 'not_collected' (never an estimate), distinct from 'suppressed'; an item
    asked at baseline only is not estimable (one_wave_only)."""
    prof = simulation.simulated_profile(8)
    df = _item(simulation.simulate_respondents(8, 100, seed=2), "pj_respect", effect=0.4, seed=3)
    df = _item(df, "willing_report", seed=4)
    df.loc[df["wave"] == "follow_up", "willing_report"] = pd.NA
    df = codebook.compute_indices(df.assign(pj_fair=pd.NA, pj_explain=pd.NA, eff_violence=pd.NA,
                                            eff_burglary=pd.NA, duty_support_police=pd.NA))
    assert df["pj_index"].isna().all()
    tab = impact.resident_effects(df, prof, groups=["migrant_background"], B=999)
    assert list(tab["outcome"].unique()) == list(codebook.OUTCOMES)
    t = tab.set_index(["outcome", "group"])
    respect = t.loc[("pj_respect", "all")]
    assert respect["status"] == "estimated" and respect["scale"] == "1-4"
    assert respect["ci_low"] <= 0.4 <= respect["ci_high"] and respect["p_value"] < 0.05
    assert t.loc[("pj_respect", "migrant_background"), "status"] == "estimated"
    for outcome, reason in (("pj_index", "too_few_items"), ("pj_fair", "not_collected"),
                            ("eff_index", "not_collected"), ("eff_burglary", "not_collected"),
                            ("contact_satisfaction", "not_collected")):
        for group in ("all", "migrant_background"):
            r = t.loc[(outcome, group)]
            assert r["status"] == "not_collected" and r["not_estimable_reason"] == reason, (outcome, group)
            assert np.isnan([r["estimate"], r["ci_low"], r["p_value"], r["diff_p_value"]]).all()
            assert not r["estimable"] and np.isnan(r["min_cell"])
    wr = t.loc[("willing_report", "all")]
    assert wr["status"] == "not_estimable" and wr["not_estimable_reason"] == "one_wave_only"
    # the legitimacy index is trust + duty: one of two items asked, too few
    assert t.loc[("legitimacy_index", "all"), "status"] == "not_collected"
    assert t.loc[("trust_police", "all"), "status"] == "estimated"


def test_not_collected_outcomes_do_not_change_the_rating():
    """Rows of outcomes a city never asked leave the evidence rating as it is."""
    prof = simulation.simulated_profile(12)
    df = simulation.simulate_respondents(12, 120, seed=3)
    tab = impact.resident_effects(df, prof, indicators=("trust_police", "pj_index", "feel_safe_dark"),
                                  groups=[], B=99)
    assert tab.set_index("outcome").loc["pj_index", "status"] == "not_collected"
    bal = impact.balance_table(df, prof)
    _, with_rows = evidence.rate_evidence(tab, bal, {"fidelity": 0.9}, prof)
    _, without = evidence.rate_evidence(tab[tab["status"] != "not_collected"], bal, {"fidelity": 0.9}, prof)
    assert with_rows["level"] == without["level"] and with_rows["reasons"] == without["reasons"]


def test_collection_status_codes():
    df = pd.DataFrame({"wave": ["baseline", "follow_up"] * 3,
                       "pj_respect": [1, 2, 3, 4, 1, 2], "pj_fair": [1, pd.NA, 2, pd.NA, 3, pd.NA],
                       "pj_explain": [pd.NA] * 6})
    assert codebook.collection_status(df, "pj_respect") == "collected"
    assert codebook.collection_status(df, "pj_fair") == "one_wave_only"
    assert codebook.collection_status(df, "pj_explain") == "not_collected"
    assert codebook.collection_status(df, "eff_violence") == "not_collected"  # column absent
    assert codebook.collection_status(df, "eff_index") == "not_collected"
    assert codebook.collection_status(df, "legitimacy_index") == "not_collected"
    df["pj_index"] = 5.0
    assert codebook.collection_status(df, "pj_index") == "collected"  # 2 of 3 items asked
    assert codebook.collection_status(df.drop(columns="pj_fair"), "pj_index") == "too_few_items"
    assert codebook.OUTCOMES[:5] == ("trust_police", "pj_index", "pj_respect", "pj_fair", "pj_explain")


def test_figure_words_each_status_differently():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prof = simulation.simulated_profile(6)
    df = simulation.simulate_respondents(6, 40, seed=1)
    tab = impact.resident_effects(df, prof, indicators=("trust_police", "pj_index"), groups=[], B=99)
    tab.loc[0, ["estimate", "status"]] = [np.nan, "not_estimable"]
    fig = impact_figures.plot_effects(tab)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert texts == {"not estimable with this design", "not collected"}
    plt.close(fig)
