"""Random-effects pooling reproduces published and independent answers; the cross-city tables hold together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.statistics import impact, synthesis
from analysis.statistics import simulation

# BCG vaccine trials (Colditz et al. 1994), as in metafor's dat.bcg:
# vaccinated TB+, TB-, control TB+, TB-.
BCG = np.array([
    [4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
    [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892],
    [29, 7470, 45, 7232], [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338],
    [27, 16886, 29, 17825],
], dtype=float)


def _bcg():
    a, b, c, d = BCG.T
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, vi


def test_bcg_dersimonian_laird_matches_metafor():
    """metafor rma(yi, vi, method="DL") on dat.bcg: tau2 = 0.3088, mu = -0.7141, I2 = 92.12%."""
    yi, vi = _bcg()
    res = synthesis.random_effects(yi, np.sqrt(vi), method="dl", ci="wald")
    assert res["k"] == 13
    assert res["tau2"] == pytest.approx(0.3088, abs=5e-5)
    assert res["estimate"] == pytest.approx(-0.7141, abs=5e-5)
    assert res["i2"] == pytest.approx(0.9212, abs=5e-5)
    assert res["std_error"] == pytest.approx(0.1787, abs=5e-4)
    assert res["q"] == pytest.approx(152.23, abs=0.01)


def test_dersimonian_laird_by_hand():
    """The textbook DL formulas, computed here independently of statsmodels."""
    yi, vi = _bcg()
    w = 1 / vi
    mu_fe = np.sum(w * yi) / w.sum()
    q = np.sum(w * (yi - mu_fe) ** 2)
    k = len(yi)
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    wr = 1 / (vi + tau2)
    mu = np.sum(wr * yi) / wr.sum()
    res = synthesis.random_effects(yi, np.sqrt(vi), method="dl", ci="wald")
    assert res["tau2"] == pytest.approx(tau2, rel=1e-10)
    assert res["estimate"] == pytest.approx(mu, rel=1e-10)
    assert res["i2"] == pytest.approx((q - (k - 1)) / q, rel=1e-10)
    assert res["std_error"] == pytest.approx(np.sqrt(1 / wr.sum()), rel=1e-10)


def test_homogeneous_effects_give_zero_tau2_and_edge_cases():
    for method in ("dl", "pm", "reml"):
        res = synthesis.random_effects([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], method=method)
        assert res["tau2"] == 0 and res["estimate"] == pytest.approx(0.5)
        # HKSJ q = 0 here; the floor keeps the interval at least as wide as the t interval
        w = 1 / np.array([0.1, 0.2, 0.3]) ** 2
        assert res["std_error"] == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-12)
    one = synthesis.random_effects([0.4, np.nan], [0.1, 0.2])
    assert one["k"] == 1 and one["estimate"] == 0.4 and np.isnan(one["tau2"])
    assert synthesis.random_effects([], [])["k"] == 0


def _impacts():
    rows = []
    for i, city in enumerate(["a", "b", "c", "d"]):
        prof = simulation.simulated_profile(8, comparison=city != "d")
        prof = prof.model_copy(update={"city": city})
        df = simulation.simulate_respondents(8, 60, effect=0.5, comparison=city != "d", seed=i)
        rows.append(impact.resident_effects(df, prof, indicators=("trust_police",), groups=["young"], B=99))
    return pd.concat(rows, ignore_index=True)


def test_pooled_table_pools_only_did_and_forest_plot():
    imp = _impacts()
    pooled = synthesis.pooled_table(imp, outcomes=("trust_police",))
    row = pooled.iloc[0]
    assert row["k"] == 3 and row["cities"] == "a, b, c"  # d is pre/post: shown, not pooled
    assert bool(row["headline"]) and row["variance"] == "wcr"
    did = imp[(imp["design"] == "did") & (imp["group"] == "all")]
    direct = synthesis.random_effects(did["estimate"], synthesis.within_std_error(did))
    assert row["estimate"] == pytest.approx(direct["estimate"], rel=1e-12)
    assert row["ci_low"] == pytest.approx(direct["ci_low"], rel=1e-12)
    fig = synthesis.forest_plot(imp, pooled, "trust_police")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "a (DiD)" and "d (pre/post)" in labels and labels[-1].startswith("Pooled")
    import matplotlib.pyplot as plt

    plt.close(fig)


# ------------------------------------------------------------------ HKSJ, τ² estimators
def test_bcg_reml_knha_matches_metafor():
    """metafor ``rma(yi, vi, data=dat.bcg, test="knha")`` (REML): estimate -0.7145, se 0.1808,
    95 % CI -1.1084 to -0.3206, p = 0.0019, tau2 = 0.3132 (metafor's documented example)."""
    yi, vi = _bcg()
    res = synthesis.random_effects(yi, np.sqrt(vi), method="reml", ci="hksj", hksj_floor=False)
    assert res["tau2"] == pytest.approx(0.3132, abs=5e-5)
    assert res["estimate"] == pytest.approx(-0.7145, abs=5e-5)
    assert res["std_error"] == pytest.approx(0.1808, abs=5e-5)
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(-1.1084, abs=5e-5), pytest.approx(-0.3206, abs=5e-5))
    assert res["p_value"] == pytest.approx(0.0019, abs=5e-5) and res["df"] == 12
    # q > 1 here: the floor changes nothing
    floor = synthesis.random_effects(yi, np.sqrt(vi))
    assert floor["hksj_q"] > 1 and floor["ci_low"] == pytest.approx(res["ci_low"], rel=1e-12)


def test_hksj_by_hand_and_against_statsmodels():
    """DL + HKSJ from the textbook formulas, and statsmodels' "random effect wls" t interval."""
    from scipy import stats
    from statsmodels.stats.meta_analysis import combine_effects

    yi, vi = _bcg()
    k = len(yi)
    w = 1 / vi
    mu_fe = np.sum(w * yi) / w.sum()
    q = np.sum(w * (yi - mu_fe) ** 2)
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    wr = 1 / (vi + tau2)
    mu = np.sum(wr * yi) / wr.sum()
    se = np.sqrt(np.sum(wr * (yi - mu) ** 2) / ((k - 1) * wr.sum()))
    t = stats.t.ppf(0.975, k - 1)
    res = synthesis.random_effects(yi, np.sqrt(vi), method="dl", hksj_floor=False)
    assert res["std_error"] == pytest.approx(se, rel=1e-10)
    assert res["ci_low"] == pytest.approx(mu - t * se, rel=1e-10)
    assert res["ci_high"] == pytest.approx(mu + t * se, rel=1e-10)
    # prediction interval, Higgins, Thompson & Spiegelhalter (2009), with the HKSJ se
    half = stats.t.ppf(0.975, k - 2) * np.sqrt(tau2 + se**2)
    assert (res["pi_low"], res["pi_high"]) == (pytest.approx(mu - half, rel=1e-10), pytest.approx(mu + half, rel=1e-10))
    sm = combine_effects(yi, vi, method_re="chi2")
    lo, hi = sm.conf_int(use_t=True)[3]  # random effect, WLS (HKSJ) scale, t with k-1 df
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(lo, rel=1e-8), pytest.approx(hi, rel=1e-8))


def test_reml_and_paule_mandel_solve_their_equations():
    """REML τ² maximises the restricted likelihood (checked by a bounded 1-D search); PM τ²
    makes the generalised Q equal k - 1."""
    from scipy.optimize import minimize_scalar

    yi, vi = _bcg()
    k = len(yi)

    def neg_reml(t2):
        w = 1 / (vi + t2)
        mu = np.sum(w * yi) / w.sum()
        return 0.5 * (np.sum(np.log(vi + t2)) + np.log(w.sum()) + np.sum(w * (yi - mu) ** 2))

    best = minimize_scalar(neg_reml, bounds=(0, 5), method="bounded", options={"xatol": 1e-10}).x
    assert synthesis.random_effects(yi, np.sqrt(vi), method="reml")["tau2"] == pytest.approx(best, rel=1e-5)
    t2 = synthesis.random_effects(yi, np.sqrt(vi), method="pm")["tau2"]
    w = 1 / (vi + t2)
    mu = np.sum(w * yi) / w.sum()
    assert np.sum(w * (yi - mu) ** 2) == pytest.approx(k - 1, rel=1e-8)
    with pytest.raises(ValueError, match="unknown τ² method 'xx'"):
        synthesis.random_effects(yi, np.sqrt(vi), method="xx")


def test_hksj_floor_never_narrower_than_the_t_interval():
    """Two nearly equal effects: plain HKSJ is narrower than either study's own interval
    (q << 1); with the floor it is the t interval with weights 1/(v + τ²)."""
    y, se = np.array([0.85, 0.851]), np.array([0.3, 0.35])
    plain = synthesis.random_effects(y, se, hksj_floor=False)
    floor = synthesis.random_effects(y, se)
    assert plain["hksj_q"] < 1e-3
    assert plain["ci_high"] - plain["ci_low"] < 2 * 1.96 * se.min()
    from scipy import stats

    w = 1 / se**2
    assert floor["ci_high"] - floor["ci_low"] == pytest.approx(2 * stats.t.ppf(0.975, 1) / np.sqrt(w.sum()),
                                                               rel=1e-10)
    assert np.isnan(floor["pi_low"])  # a prediction interval needs 3 studies


def test_hksj_coverage_when_variances_are_understated():
    """No heterogeneity, 6 studies whose reported variances are half the true ones (as CRV1
    with few clusters): the old DL normal interval under-covers; HKSJ keeps 95 % (plain) or
    errs on the safe side (with the max(1, q) floor). 2,000 seeded replications, Monte
    Carlo sd about 0.005; measured 0.914, 0.941 and 0.971."""
    rng = np.random.default_rng(20240601)
    true_v = rng.uniform(0.02, 0.2, 6)
    kinds = {"old": dict(method="dl", ci="wald"), "plain": dict(hksj_floor=False), "floor": {}}
    hit = dict.fromkeys(kinds, 0)
    n = 2000
    for _ in range(n):
        y = rng.normal(0.3, np.sqrt(true_v))
        for name, kw in kinds.items():
            r = synthesis.random_effects(y, np.sqrt(0.5 * true_v), **kw)
            hit[name] += r["ci_low"] <= 0.3 <= r["ci_high"]
    assert hit["old"] / n < 0.93
    assert 0.93 <= hit["plain"] / n <= 0.965
    assert 0.95 <= hit["floor"] / n <= 0.985


# ------------------------------------------------------------------ within-city variances, pools
def test_within_std_error_from_the_wcr_interval():
    from scipy import stats

    rows = pd.DataFrame({"estimate": [0.5, 0.2, 0.1], "std_error": [0.1, 0.2, 0.3],
                         "ci_low": [0.5 - stats.t.ppf(0.975, 5) * 0.1, -0.4, -np.inf],
                         "ci_high": [0.5 + stats.t.ppf(0.975, 5) * 0.1, 1.0, 0.9],
                         "n_clusters": [6, 8, 4]})
    se = synthesis.within_std_error(rows)
    assert se.iloc[0] == pytest.approx(0.1, rel=1e-12)  # symmetric t(G-1) interval: the CRV1 se back
    assert se.iloc[1] == pytest.approx(1.4 / (2 * stats.t.ppf(0.975, 7)), rel=1e-12)
    assert np.isnan(se.iloc[2])  # unbounded: not pooled
    assert synthesis.within_std_error(rows, "crv1").tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="variance source"):
        synthesis.within_std_error(rows, "hc1")


def _table(rows):
    base = dict(population="residents", outcome="trust_police", group="all", scale="0-10", n_clusters=8)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_designs_pooled_apart_and_unbounded_city_left_out():
    imp = _table([
        dict(city="a", design="did", estimate=0.5, std_error=0.2, ci_low=0.0, ci_high=1.0),
        dict(city="b", design="did", estimate=0.3, std_error=0.2, ci_low=-0.2, ci_high=0.8),
        dict(city="c", design="did", estimate=0.9, std_error=0.2, ci_low=-np.inf, ci_high=np.inf),
        dict(city="d", design="did", estimate=0.1, std_error=0.2, ci_low=-0.4, ci_high=0.6),
        dict(city="p", design="pre_post", estimate=2.0, std_error=0.1, ci_low=1.5, ci_high=2.5),
        dict(city="q", design="pre_post", estimate=1.0, std_error=0.1, ci_low=0.5, ci_high=1.5),
    ])
    pooled = synthesis.pooled_table(imp, outcomes=("trust_police",))
    head = pooled[pooled["headline"]].iloc[0]
    assert (head["designs"], head["k"], head["cities"], head["not_pooled"]) == ("did", 3, "a, b, d", "c")
    se = synthesis.within_std_error(imp.iloc[[0, 1, 3]])
    direct = synthesis.random_effects(imp["estimate"].iloc[[0, 1, 3]], se)
    assert head["estimate"] == pytest.approx(direct["estimate"], rel=1e-12)
    assert head["ci_low"] == pytest.approx(direct["ci_low"], rel=1e-12)
    pp = pooled[~pooled["headline"]].iloc[0]
    assert (pp["designs"], pp["k"], pp["cities"]) == ("pre_post", 2, "p, q")
    # the headline pool never contains a pre/post estimate
    assert head["estimate"] < 1


def test_leave_one_out_recomputes_without_each_city_and_flags_a_changed_conclusion():
    imp = _table([
        dict(city=c, design="did", estimate=e, std_error=0.1, ci_low=e - 0.25, ci_high=e + 0.25)
        for c, e in (("a", 0.2), ("b", 0.25), ("c", 0.3), ("d", 1.5))
    ])
    loo = synthesis.leave_one_out(imp, outcomes=("trust_police",))
    assert loo["left_out"].tolist() == ["none", "a", "b", "c", "d"]
    assert loo["k"].tolist() == [4, 3, 3, 3, 3]
    se = synthesis.within_std_error(imp)
    keep = imp["city"] != "b"
    direct = synthesis.random_effects(imp["estimate"][keep], se[keep])
    row = loo.set_index("left_out").loc["b"]
    assert row["estimate"] == pytest.approx(direct["estimate"], rel=1e-12)
    assert row["shift"] == pytest.approx(direct["estimate"] - loo["estimate"].iloc[0], rel=1e-12)
    full_excl = loo["ci_low"].iloc[0] > 0 or loo["ci_high"].iloc[0] < 0
    for _, r in loo.iloc[1:].iterrows():
        assert r["changes_sign"] == ((r["ci_low"] > 0 or r["ci_high"] < 0) != full_excl)


def test_pooled_recommendations_use_the_headline_pool_only():
    from analysis.publishing import recommendations as rc

    imp = _table([
        dict(city="a", design="did", estimate=0.5, std_error=0.2, ci_low=0.1, ci_high=0.9),
        dict(city="b", design="did", estimate=0.6, std_error=0.2, ci_low=0.2, ci_high=1.0),
        dict(city="p", design="pre_post", estimate=-2.0, std_error=0.1, ci_low=-2.5, ci_high=-1.5),
        dict(city="q", design="pre_post", estimate=-2.2, std_error=0.1, ci_low=-2.7, ci_high=-1.7),
    ])
    pooled = synthesis.pooled_table(imp, outcomes=("trust_police",))
    recs = rc.pooled_recommendations(pooled)
    assert len(recs) == 1 and recs[0].params["k"] == "2" and recs[0].params["est"] > 0


# ------------------------------------------------------------------ ESS benchmark status
def test_benchmark_rows_carry_their_own_data_status():
    from analysis.statistics import ess
    from analysis.io import SYNTHETIC_NOTE

    levels = pd.DataFrame([{"data_status": ess.DATA_STATUS, "source": ess.SOURCE_CODE,
                            "area": "national", "period": "2010", "weighting": "unweighted",
                            "indicator": "trust_police", "group": "all", "mean": 6.0, "ci_low": 5.9,
                            "ci_high": 6.1, "n": 1701}])
    resp = pd.DataFrame({"wave": ["baseline"] * 12 + ["follow_up"] * 12, "pilot_area": "pilot",
                         "trust_police": np.arange(24, dtype=float) % 10, "weight": 1.0})
    bench = synthesis.benchmark_table(levels, resp, "brussels", synthetic=True, period="2014-2015")
    ess_rows = bench[bench["source"] == ess.SOURCE_CODE]
    city_rows = bench[bench["source"] == "city_survey"]
    # the wave is a column of its own, never written into the source and split back
    assert city_rows["wave"].tolist() == ["baseline", "follow_up"]
    assert (ess_rows["data_status"] == ess.DATA_STATUS).all() and "real data" in ess.DATA_STATUS
    assert (city_rows["data_status"] == SYNTHETIC_NOTE).all()
    assert city_rows["period"].tolist() == ["2014-2015"] * 2 and set(city_rows["weighting"]) == {"weighted"}
    assert ess_rows[["area", "period", "weighting"]].iloc[0].tolist() == ["national", "2010", "unweighted"]
    real = synthesis.benchmark_table(levels, resp, "brussels", synthetic=False, period="2014-2015")
    assert not real["data_status"].str.contains("SYNTH").any()


def test_pooled_sentence_gives_the_prediction_interval():
    from analysis.publishing import recommendations as rc

    imp = _table([dict(city=c, design="did", estimate=e, std_error=0.1, ci_low=e - 0.3, ci_high=e + 0.3)
                  for c, e in (("a", 0.2), ("b", 0.5), ("c", 0.9))])
    pooled = synthesis.pooled_table(imp, outcomes=("trust_police",))
    row = pooled.iloc[0]
    text = rc.pooled_recommendations(pooled)[0].text("en")
    assert f"between {row['pi_low']:.2f} and {row['pi_high']:.2f} (95 % prediction interval)".replace("-", "−") in text
    assert "intervalle de prédiction à 95 %" in rc.pooled_recommendations(pooled)[0].text("fr")
    two = synthesis.pooled_table(imp[imp["city"] != "c"], outcomes=("trust_police",))
    assert "prediction" not in rc.pooled_recommendations(two)[0].text("en")  # k = 2: no PI
