"""The evaluation planner: DiD sample-size arithmetic, variance components, Monte Carlo check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.statistics import planner
from analysis.statistics.simulation import simulate_respondents


def test_standard_error_formula_known_case():
    # icc 0: the DiD of four cell means, each of variance sd^2/m: Var = 4 sd^2 / (m J) for J = J_p = J_c
    se = planner.did_standard_error(4, 4, 50, sd=2.0, icc=0.0)
    assert se == pytest.approx(np.sqrt(2 * 4.0 / 50 * (1 / 4 + 1 / 4)))
    # all variance in the shock: respondents stop mattering
    assert planner.did_standard_error(4, 4, 50, 2.0, 0.99) == pytest.approx(
        planner.did_standard_error(4, 4, 5000, 2.0, 0.99), rel=0.01)
    # the design effect scales the variance
    assert planner.did_standard_error(4, 4, 50, 2.0, 0.1, deff=2.0) == pytest.approx(
        np.sqrt(2) * planner.did_standard_error(4, 4, 50, 2.0, 0.1))


def test_mde_is_where_power_reaches_its_target():
    plan = planner.Plan(5, 5, 60, sd=2.0, icc=0.02, effect=0.6)
    assert planner.power_at(plan.mde, plan.se, plan.df) == pytest.approx(0.8, abs=1e-6)
    # many clusters: the familiar normal-theory multiplier 1.96 + 0.84
    big = planner.minimum_detectable_effect(0.1, df=10_000)
    assert big == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.1, rel=2e-3)
    assert planner.power_at(0.0, 0.1, 9) == pytest.approx(0.05, abs=1e-9)
    assert planner.power_at(100.0, 0.1, 9) == 1.0  # far tail, no NaN


def test_warnings_for_designs_that_cannot_deliver():
    tiny = planner.Plan(1, 1, 100, sd=2.0, icc=0.01)
    # 2 clusters: 36 Webb patterns, smallest p = 2/36 > 0.05
    assert planner.smallest_p_value(2) == pytest.approx(2 / 36)
    assert {"cannot_reject", "few_clusters", "single_pilot_area", "single_comparison_area"} <= set(tiny.warnings)
    assert "cells_below_k" in planner.Plan(6, 6, 8, 2.0, 0.01).warnings
    assert planner.Plan(6, 6, 80, 2.0, 0.01).warnings == []
    assert planner.smallest_p_value(6) == pytest.approx(2 / 64)
    with pytest.raises(ValueError):
        planner.did_standard_error(0, 3, 50, 2.0, 0.1)


def test_variance_components_recover_planted_values():
    # 40 neighbourhoods, 200 respondents per cell, shock sd 0.5, noise sd 2, a planted effect
    df = simulate_respondents(40, 200, effect=0.8, shock_sd=0.5, noise_sd=2.0, cluster_sd=0.6, seed=7)
    vc = planner.variance_components(df, "trust_police")
    assert vc["n_clusters"] == 40 and vc["per_cell"] == 200
    # sigma_e2 includes the simulator's age and gender terms (about 0.03 of variance)
    assert vc["sigma_e2"] == pytest.approx(4.0 + 0.03, rel=0.05)
    # the pilot effect is centred out: it does not inflate the shock variance
    assert vc["sigma_u2"] == pytest.approx(0.25, abs=0.12)
    assert vc["icc_persistent"] > 0.05  # the persistent neighbourhood effect (sd 0.6) is seen
    no_shock = planner.variance_components(
        simulate_respondents(40, 200, shock_sd=0.0, noise_sd=2.0, seed=8), "trust_police")
    assert no_shock["sigma_u2"] < 0.03


@pytest.mark.slow
def test_predicted_power_matches_the_projects_estimator():
    """The planner's power agrees with the rejection rate of the WCR on simulated pilots.

    Measured with 300 draws (benchmarks/design_check.py): predicted 0.35, 0.34, 0.38, 0.37
    against simulated 0.34, 0.37, 0.38, 0.35 at 10, 8, 12 and 6 neighbourhoods.
    """
    plan = planner.Plan(5, 5, 60, sd=2.0, icc=0.02, effect=0.6)
    rate, mc_se = planner.simulate_power(plan, 0.6, reps=200, seed=11)
    assert abs(rate - plan.power) <= 3 * mc_se
    # and with no effect the test holds its size
    null_rate, null_se = planner.simulate_power(plan, 0.0, reps=150, seed=12)
    assert null_rate <= 0.05 + 3 * null_se
