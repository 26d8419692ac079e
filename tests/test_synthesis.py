"""Random-effects pooling reproduces a published example; the cross-city tables hold together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import impact, synthesis

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
    res = synthesis.random_effects(yi, np.sqrt(vi), method="dl")
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
    res = synthesis.random_effects(yi, np.sqrt(vi))
    assert res["tau2"] == pytest.approx(tau2, rel=1e-10)
    assert res["estimate"] == pytest.approx(mu, rel=1e-10)
    assert res["i2"] == pytest.approx((q - (k - 1)) / q, rel=1e-10)
    assert res["std_error"] == pytest.approx(np.sqrt(1 / wr.sum()), rel=1e-10)


def test_homogeneous_effects_give_zero_tau2_and_edge_cases():
    res = synthesis.random_effects([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    assert res["tau2"] == 0 and res["estimate"] == pytest.approx(0.5)
    one = synthesis.random_effects([0.4, np.nan], [0.1, 0.2])
    assert one["k"] == 1 and one["estimate"] == 0.4 and np.isnan(one["tau2"])
    assert synthesis.random_effects([], [])["k"] == 0


def _impacts():
    rows = []
    for i, city in enumerate(["a", "b", "c", "d"]):
        prof = impact.simulated_profile(8, comparison=city != "d")
        prof = prof.model_copy(update={"city": city})
        df = impact.simulate_respondents(8, 60, effect=0.5, comparison=city != "d", seed=i)
        rows.append(impact.resident_effects(df, prof, indicators=("trust_police",), groups=["young"], B=99))
    return pd.concat(rows, ignore_index=True)


def test_pooled_table_pools_only_did_and_forest_plot():
    imp = _impacts()
    pooled = synthesis.pooled_table(imp, outcomes=("trust_police",))
    row = pooled.iloc[0]
    assert row["k"] == 3 and row["cities"] == "a, b, c"  # d is pre/post: shown, not pooled
    did = imp[(imp["design"] == "did") & (imp["group"] == "all")]
    direct = synthesis.random_effects(did["estimate"], did["std_error"])
    assert row["estimate"] == pytest.approx(direct["estimate"])
    fig = synthesis.forest_plot(imp, pooled, "trust_police")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "a (DiD)" and "d (pre/post)" in labels and labels[-1].startswith("Pooled")
    import matplotlib.pyplot as plt

    plt.close(fig)
