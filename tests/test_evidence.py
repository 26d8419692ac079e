"""Three separate ratings: design strength from the design alone, confidence with reasons, effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.publishing import report_tables
from analysis.statistics import evidence
from analysis.statistics import simulation


def _residents(n_clusters=8, n_treated=4, width=1.0, outcomes=evidence.MAIN_INDICATORS, min_cell=200,
               not_collected=()):
    rows = []
    for o in outcomes:
        scale = "1-4" if o == "feel_safe_dark" else "0-10"
        span = 3 if o == "feel_safe_dark" else 10
        if o in not_collected:
            rows.append(dict(group="all", outcome=o, estimate=np.nan, ci_low=np.nan, ci_high=np.nan,
                             p_value=np.nan, scale=scale, n_clusters=np.nan, n_clusters_treated=np.nan,
                             min_cell=np.nan, status="not_collected"))
            continue
        rows.append(dict(group="all", outcome=o, estimate=0.4, ci_low=0.4 - width * span / 20,
                         ci_high=0.4 + width * span / 20, p_value=0.04, scale=scale, n_clusters=n_clusters,
                         n_clusters_treated=n_treated, min_cell=min_cell, status="estimated"))
    return pd.DataFrame(rows)


def _balance(gap=0.0):
    return pd.DataFrame({"variable": ["age", "female", "migrant", "trust_police", "contact_satisfaction"],
                         "std_diff": [0.1, -0.05, gap, 0.9, -0.786],
                         "used_in_rating": [True, True, True, True, False]})


def _trends(x=0.05):
    return pd.DataFrame({"variable": ["age", "female", "migrant"], "std_trend_diff": [0.01, -0.02, x]})


def test_design_strength_comes_from_the_design_alone():
    did, pre = simulation.simulated_profile(4), simulation.simulated_profile(4, comparison=False)
    # 4 clusters, one pilot neighbourhood, wide intervals, no activity log: still level 3
    t, r = evidence.rate_evidence(_residents(4, 1, width=5), _balance(0.9), {}, did, trends=_trends(0.6))
    assert r["level"] == 3 and r["design"] == "did"
    assert t.loc[t["rating"] == "design", "level"].tolist() == [3]
    assert r["confidence"] == "low"
    assert set(r["reasons"]) == {"few_clusters", "one_pilot_unit", "wide_interval", "trend_imbalance",
                                 "implementation_undocumented"}
    _, r = evidence.rate_evidence(_residents(12, 6), _balance(), {"fidelity": 0.9}, pre)
    assert r["level"] == 2 and r["design"] == "pre_post"


@pytest.mark.parametrize("kw, fidelity, trend, expected, reasons", [
    (dict(n_clusters=12, n_treated=6), 0.9, 0.05, "high", []),
    (dict(n_clusters=8, n_treated=4), 0.9, 0.05, "moderate", ["few_clusters"]),
    (dict(n_clusters=12, n_treated=6, width=3), 0.9, 0.05, "moderate", ["wide_interval"]),
    (dict(n_clusters=8, n_treated=4), 0.5, 0.05, "low", ["few_clusters", "low_fidelity"]),
    (dict(n_clusters=12, n_treated=6), 0.9, 0.4, "low", ["trend_imbalance"]),          # severe alone
    (dict(n_clusters=12, n_treated=11), 0.9, 0.05, "low", ["few_comparison_units"]),    # 1 comparison nbhd
    (dict(n_clusters=12, n_treated=6, min_cell=60), 0.9, 0.05, "moderate", ["small_samples"]),
])
def test_confidence_levels_and_reason_codes(kw, fidelity, trend, expected, reasons):
    t, r = evidence.rate_evidence(_residents(**kw), _balance(), {"fidelity": fidelity},
                                  simulation.simulated_profile(12), trends=_trends(trend))
    assert (r["confidence"], r["reasons"]) == (expected, reasons)
    summary = t[(t["rating"] == "confidence") & (t["criterion"] == "confidence")].iloc[0]
    assert summary["level"] == {"high": 3, "moderate": 2, "low": 1}[expected]
    assert summary["reason"] == ";".join(reasons)


def test_baseline_level_gap_lowers_nothing_but_is_shown():
    prof = simulation.simulated_profile(12)
    t, r = evidence.rate_evidence(_residents(12, 6), _balance(0.9), {"fidelity": 0.9}, prof, trends=_trends())
    assert (r["level"], r["confidence"]) == (3, "high")
    gap = t[t["criterion"] == "baseline_gap"].iloc[0]
    assert gap["rating"] == "info" and gap["value"] == pytest.approx(0.9) and pd.isna(gap["met"])


def test_an_outcome_not_collected_never_lowers_a_rating():
    prof = simulation.simulated_profile(12)
    full = evidence.rate_evidence(_residents(12, 6), _balance(), {"fidelity": 0.9}, prof, trends=_trends())[1]
    some = evidence.rate_evidence(_residents(12, 6, not_collected=("pj_index", "legitimacy_index")), _balance(),
                                  {"fidelity": 0.9}, prof, trends=_trends())
    assert (some[1]["level"], some[1]["confidence"], some[1]["reasons"]) == (full["level"], "high", [])
    assert some[1]["effects"]["pj_index"] == "not_collected"
    # an outcome absent from impact.csv altogether is "not collected" too
    only = _residents(12, 6, outcomes=("trust_police",))
    t, r = evidence.rate_evidence(only, _balance(), {"fidelity": 0.9}, prof, trends=_trends())
    assert r["confidence"] == "high" and r["effects"]["feel_safe_dark"] == "not_collected"
    none = _residents(8, 4, not_collected=evidence.MAIN_INDICATORS)
    _, r = evidence.rate_evidence(none, _balance(), {"fidelity": 0.9}, prof, trends=_trends())
    assert (r["level"], r["reasons"]) == (3, [])


def test_effect_rating_direction_and_interval():
    assert evidence.effect_direction({"estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9}) == "increase"
    assert evidence.effect_direction({"estimate": -0.5, "ci_low": -0.9, "ci_high": -0.1}) == "decrease"
    assert evidence.effect_direction({"estimate": 0.5, "ci_low": -0.1, "ci_high": 0.9}) == "no_detectable_change"
    assert evidence.effect_direction({"estimate": 0.5, "ci_low": -np.inf, "ci_high": np.inf}) == "no_detectable_change"
    # from the impact table's status code, never from a note's wording
    assert evidence.effect_direction({"estimate": np.nan, "status": "suppressed"}) == "suppressed"
    assert evidence.effect_direction({"estimate": np.nan, "status": "not_estimable"}) == "not_estimable"
    assert evidence.effect_direction({"estimate": np.nan, "status": "not_collected"}) == "not_collected"
    assert evidence.effect_direction({"estimate": np.nan, "note": "suppressed: a design cell"}) == "not_estimable"
    t, _ = evidence.rate_evidence(_residents(12, 6), _balance(), {"fidelity": 0.9}, simulation.simulated_profile(12),
                                  trends=_trends())
    e = t[(t["rating"] == "effect") & (t["criterion"] == "trust_police")].iloc[0]
    assert (e["value"], e["ci_low"], e["ci_high"], e["scale"]) == (0.4, pytest.approx(-0.1), pytest.approx(0.9),
                                                                   "0-10")


def test_table_holds_codes_and_numbers_only_and_values_agree_with_met():
    # Amiens' balance.csv (pre/post): outcomes' change is the estimate, not rated
    amiens = pd.DataFrame({"variable": ["age", "female", "migrant", "trust_police"],
                           "std_diff": [-0.161, -0.058, 0.242, 0.426],
                           "used_in_rating": [True, True, True, False]})
    t, _ = evidence.rate_evidence(_residents(8, 4, width=3), amiens, {"fidelity": 0.9},
                                  simulation.simulated_profile(8, comparison=False))
    assert list(t.columns) == list(evidence.EVIDENCE_COLUMNS)
    assert str(t["level"].dtype) == "Int64"
    for col in ("rating", "criterion", "code", "reason"):
        for v in t[col].dropna():
            assert " " not in str(v), (col, v)  # a code, not a sentence
    assert pd.to_numeric(t["value"], errors="coerce").notna().sum() == t["value"].notna().sum()  # numbers only
    assert t.loc[t["rating"] == "design", "code"].tolist() == ["pre_post"]
    # wherever a threshold and a verdict exist, they agree with the value (the Amiens bug:
    # "0.426 <= 0.25 -> met")
    for r in t[t["met"].notna()].to_dict("records"):
        v = float(r["value"]) if pd.notna(r["value"]) else np.nan
        if np.isnan(v):
            continue
        ok = v <= r["threshold"] if r["criterion"] in ("interval_width", "trend_balance") else v >= r["threshold"]
        assert bool(r["met"]) == bool(ok), r
    # pre/post without trends: the rated composition rows of balance give the trend
    tb = t[t["criterion"] == "trend_balance"].iloc[0]
    assert tb["value"] == pytest.approx(0.242) and tb["met"] and tb["reason"] == ""
    amiens.loc[2, "std_diff"] = 0.31
    t, r = evidence.rate_evidence(_residents(8, 4), amiens, {"fidelity": 0.9},
                                  simulation.simulated_profile(8, comparison=False))
    tb = t[t["criterion"] == "trend_balance"].iloc[0]
    assert tb["value"] == pytest.approx(0.31) and not tb["met"] and "trend_imbalance" in r["reasons"]


def test_composition_trends_difference_out_a_constant_gap_and_catch_a_changing_one():
    prof = simulation.simulated_profile(8)
    df = simulation.simulate_respondents(8, 200, seed=4)
    pilot = df["pilot_area"] == "pilot"
    rng = np.random.default_rng(0)
    # a constant gap: pilot areas have many more migrants in both waves
    const = df.copy()
    const.loc[pilot, "migrant_background"] = rng.random(pilot.sum()) < 0.8
    tr = evidence.composition_trends(const, prof).set_index("variable")["std_trend_diff"]
    assert abs(tr["migrant"]) < 0.12
    # a gap that opens: only the follow-up pilot sample changes
    opens = df.copy()
    sel = pilot & (df["wave"] == "follow_up")
    opens.loc[sel, "migrant_background"] = rng.random(sel.sum()) < 0.8
    tr = evidence.composition_trends(opens, prof).set_index("variable")["std_trend_diff"]
    assert tr["migrant"] > 0.8
    # by hand, unweighted: [(p1 - p0) - (c1 - c0)] / sd
    x = opens["migrant_background"].astype(float)
    m = {(a, w): x[(opens["pilot_area"] == a) & (opens["wave"] == w)].mean()
         for a in ("pilot", "comparison") for w in ("baseline", "follow_up")}
    manual = ((m["pilot", "follow_up"] - m["pilot", "baseline"]) - (m["comparison", "follow_up"]
              - m["comparison", "baseline"])) / x.std(ddof=0)
    unweighted = evidence.composition_trends(opens, prof, weights=None).set_index("variable")["std_trend_diff"]
    assert unweighted["migrant"] == pytest.approx(manual, rel=1e-10)


def test_reading_uses_labels_not_variable_names():
    prof = simulation.simulated_profile(8)
    res = _residents(8, 4).assign(diff_p_value=np.nan, group="all")
    res.loc[res["outcome"] == "pj_index", ["estimate", "status"]] = [np.nan, "suppressed"]
    _, rating = evidence.rate_evidence(res, _balance(), {"fidelity": 0.9}, prof, trends=_trends())
    text = evidence.reading(res, pd.DataFrame(), rating, prof)
    for raw in ("pj_index", "trust_police", "legitimacy_index", "few_clusters"):
        assert raw not in text
    assert "Maryland level 3" in text and "Confidence in the estimates: moderate" in text


def test_report_renders_three_ratings_side_by_side_in_both_languages(tmp_path):

    t, _ = evidence.rate_evidence(_residents(8, 4, not_collected=("pj_index",)), _balance(0.9),
                                  {"fidelity": 0.9}, simulation.simulated_profile(8), trends=_trends())
    # as the report reads it: written and read back through the contract
    from analysis.publishing import tables

    tables.write("evidence", t, synthetic=True, path=tmp_path / "evidence.csv")
    csv = tables.read("evidence", path=tmp_path / "evidence.csv")
    en = report_tables.evidence_table_html(csv, "en")
    fr = report_tables.evidence_table_html(csv, "fr")
    assert "Design strength (Maryland scale)" in en and "level 3 of 5" in en
    assert "moderate — few clusters: 8 neighbourhoods, fewer than 10" in en
    assert "not collected by this city" in en and "increase: +0.40 (95 % CI 0.25 to 0.55; 1-4)" in en
    assert "<td>Clusters (neighbourhoods)</td><td>8</td><td>≥ 10</td><td>no</td>" in en
    assert "<td>Quartiers pilotes</td><td>4</td><td>≥ 2</td><td>oui</td>" in fr
    assert "<td class=num>0,900</td><td>≤ 0,25</td><td>—</td><td>pour information" in fr  # gap: no verdict
    assert "Solidité du protocole d&#39;évaluation" in fr and "niveau 3 sur 5" in fr and "moyenne — peu de grappes" in fr
    assert "non recueilli par cette ville" in fr and "few clusters" not in fr
    assert "shown for information: lowers no rating" in en
    assert report_tables.evidence_reasons(csv, "fr").startswith("peu de grappes")


def test_balance_display_marks_what_it_shows():

    from analysis.publishing import tables

    bal = pd.DataFrame({"city": "brussels", "comparison": "pilot_vs_comparison_baseline",
                        "variable": ["contact_satisfaction", "age"], "mean_a": [2.7, 38.0], "mean_b": [3.4, 36.0],
                        "n_a": [86, 327], "n_b": [77, 354], "std_diff": [-0.786, 0.16],
                        "imbalanced": [False, False], "used_in_rating": [False, True]})
    html = report_tables.balance_table_html(tables.validate(bal, "balance"), "en")
    rows = html.split("<tbody>")[1].split("</tr>")
    assert "−0.786" in rows[0] or "-0.786" in rows[0]
    assert rows[0].rstrip().endswith("<td>yes</td>") and rows[1].rstrip().endswith("<td>no</td>")
    assert "differenced out" in html
