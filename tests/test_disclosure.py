"""Disclosure control: the four attacks of the audit (issue 9) must recover nothing.

Unit tests plant small tables where each attack works, show that the attack does work on
the old way of publishing, that the check catches it, and that the published form defeats
it. The demo tests run the same attacks on the pipeline's outputs (found through
``analysis.config.PATHS``) and skip, saying why, when the pipeline has not been run.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import sdc
from analysis.publishing import disclosure as D
from analysis.statistics import estimates as E
from analysis.config import K_SUPPRESS, PATHS

# a file of tens of seconds: handed to a worker first under pytest-xdist (tests/conftest.py)
pytestmark = pytest.mark.slow

K = K_SUPPRESS


# ======================================================================== publishing
def test_publish_count_threshold_and_rounding():
    assert sdc.publish_count(0) == 0
    assert [sdc.publish_count(n) for n in range(1, 10)] == ["<10"] * 9
    assert [sdc.publish_count(n, marker=None) for n in range(1, 10)] == [None] * 9
    assert [sdc.publish_count(n) for n in (10, 14, 15, 24, 25, 364, 372, 2379)] == [10, 10, 20, 20, 30, 360, 370, 2380]
    assert sdc.publish_count(np.int64(8)) == "<10" and sdc.publish_count(float("nan")) is None
    assert sdc.publish_count("<10") == "<10"


def test_count_interval_contains_every_true_value_brute_force():
    for n in range(0, 1001):
        lo, hi = sdc.count_interval(sdc.publish_count(n))
        assert lo <= n <= hi
        assert hi - lo <= 9
        lo2, hi2 = sdc.count_interval(sdc.publish_count(n, marker=None))
        assert lo2 <= n <= hi2 or n == 0  # CSV: 0 stays 0, blank means 1-9


def test_publish_counts_only_touches_counts_and_blanks_dependent_shares():
    df = pd.DataFrame({"variable": ["a", "b", "c"], "n": [2379, 2379, 2379], "missing": [0, 7, 143],
                       "missing_share": [0.0, 0.003, 0.06], "n_clusters": [3, 3, 3], "activities": [4, 5, 6],
                       "n_eff": [12.3, 4.2, 99.1]})
    out = sdc.publish_counts(df, dependent={"missing_share": "missing"})
    assert out["n"].tolist() == [2380] * 3
    assert out["missing"].tolist() == [0, "<10", 140]
    assert np.isnan(out.loc[1, "missing_share"]) and out.loc[2, "missing_share"] == 0.06
    assert out["n_clusters"].tolist() == [3, 3, 3] and out["activities"].tolist() == [4, 5, 6]
    assert out["n_eff"].tolist() == [12.3, 4.2, 99.1]
    csv = sdc.publish_counts(df, marker=None)
    assert csv["missing"].isna().tolist() == [False, True, False] and csv.loc[2, "missing"] == 140


def test_count_columns_by_name():
    for c in ("n", "n_a", "n_b", "n_baseline", "n_follow_up", "min_cell", "respondents", "kept",
              "rejected", "duplicate", "trust_police_baseline_n", "n_complete", "n_imputed"):
        assert sdc.is_count_column(c), c
    for c in ("n_eff", "n_clusters", "n_clusters_treated", "k", "df", "activities", "participants",
              "estimate", "neighbourhoods", "cells", "suppressed", "raw_row_number"):
        assert not sdc.is_count_column(c), c


# ================================================== attack 1: counts by subtraction
def _system(parts_pub, total_pub, exact=False):
    """Cells 0..m-1 = parts (last one hidden); one total over all of them.

    ``exact``: integers were published as they are (the old way), not rounded.
    """
    def interval(v):
        return (v, v) if exact and not isinstance(v, str) else sdc.count_interval(v)

    m = len(parts_pub)
    cons = [([i], interval(p)) for i, p in enumerate(parts_pub)]
    cons.append((list(range(m)), interval(total_pub)))
    return sdc.feasibility_intervals(m, cons, targets=[m - 1])[m - 1]


def test_subtraction_attack_works_on_exact_totals_and_fails_on_published_ones():
    # Toulouse neighbourhood 5 at follow-up, as in the audit: area total 372, others 364.
    parts, hidden = [100, 130, 134], 8
    total = sum(parts) + hidden
    # The old publication: parts exact, hidden "<10", total exact -> the count comes back.
    assert _system([*parts, "<10"], total, exact=True) == (hidden, hidden)
    # The checker sees why: an exact (unrounded) count next to hidden cells.
    old = pd.DataFrame({"pilot_area": ["other"], "wave": ["follow_up"], "respondents": [str(total)]})
    assert any("rounded" in f.rule for f in D.check_table(old, "03-impact"))
    # Published form: every count rounded to base 10, small ones "<10".
    lo, hi = _system([sdc.publish_count(p) for p in [*parts, hidden]], sdc.publish_count(total))
    assert (lo, hi) == (1, 9)


def test_subtraction_attack_recovers_nothing_on_many_planted_tables():
    rng = np.random.default_rng(9)
    narrowest = 9
    for _ in range(300):
        m = int(rng.integers(1, 6))
        parts = [int(x) for x in rng.integers(10, 300, size=m)]
        hidden = int(rng.integers(1, 10))
        pub = [sdc.publish_count(p) for p in [*parts, hidden]]
        lo, hi = _system(pub, sdc.publish_count(sum(parts) + hidden))
        assert lo <= hidden <= hi
        assert hi > lo, "a hidden count was pinned down"
        narrowest = min(narrowest, hi - lo + 1)
    # One total and its published parts never narrow a hidden cell below 3 possible values.
    assert narrowest >= 3


def test_area_margin_attack_on_counts_88_minus_40_minus_40():
    assert _system([40, 40, "<10"], 88, exact=True) == (8, 8)
    lo, hi = _system([sdc.publish_count(40), sdc.publish_count(40), "<10"], sdc.publish_count(88))
    assert hi > lo and lo <= 8 <= hi


# ============================================== attack 2: the Fay–Herriot columns
def _fh_case(seed=3):
    rng = np.random.default_rng(seed)
    n = np.array([60, 45, 80, 30, 5, 52, 38])  # area 4 has 5 respondents: hidden
    theta = rng.normal(5.0, 0.6, size=len(n)) + rng.normal(0, 2.0 / np.sqrt(n))
    psi = 4.0 / n
    return n, theta, psi


def _published_fh(n, theta, psi, fit_mask):
    fit = E.fay_herriot(theta[fit_mask], psi[fit_mask])
    t = pd.DataFrame({"group": "all", "wave": "baseline", "indicator": "trust_police", "n": n,
                      "n_eff": n.astype(float), "estimate": theta, "shrunk": np.nan, "gamma": np.nan})
    t.loc[fit_mask, "shrunk"] = fit.shrunk
    t.loc[fit_mask, "gamma"] = fit.gamma
    t["suppressed"] = t["n"] < K
    return E.suppress(t), fit


def _fh_attack(pub: pd.DataFrame, n_hidden: int) -> float:
    """What the auditor did: model mean from published rows, then solve for the hidden θ."""
    ok = pub["shrunk"].notna()
    g, t, s = pub.loc[ok, "gamma"], pub.loc[ok, "estimate"], pub.loc[ok, "shrunk"]
    mu = float(((s - g * t) / (1 - g)).mean())
    # γ_i = 1 / (1 + r / n_eff_i) with one r for all areas: read it from any published row.
    r = float(((1 / g - 1) * pub.loc[ok, "n_eff"]).mean())
    g_h = 1 / (1 + r / n_hidden)  # n_hidden: from attack 1
    return (mu * (g.sum() + g_h) - float((g * t).sum())) / g_h


def test_fay_herriot_attack_works_when_hidden_cells_are_fitted_and_not_when_they_are_not():
    n, theta, psi = _fh_case()
    leaky, _ = _published_fh(n, theta, psi, np.ones(len(n), dtype=bool))
    assert np.isnan(leaky.loc[4, "estimate"])  # the hidden cell's own estimate is blanked…
    assert _fh_attack(leaky, 5) == pytest.approx(theta[4], abs=1e-6)  # …and comes back exactly
    assert any("Fay–Herriot" in f.rule for f in D.check_table(leaky, "neighbourhoods.csv"))
    safe, _ = _published_fh(n, theta, psi, n >= K)
    # Fitted on published cells only, nothing published depends on the hidden cell: moving its
    # mean by 3 points changes no published number (and the same algebra returns the model mean).
    moved = theta.copy()
    moved[4] += 3.0
    pd.testing.assert_frame_equal(safe, _published_fh(n, moved, psi, n >= K)[0])
    assert not _published_fh(n, moved, psi, np.ones(len(n), dtype=bool))[0].equals(leaky)
    assert not [f for f in D.check_table(safe, "neighbourhoods.csv") if "Fay–Herriot" in f.rule]


def test_shrink_fits_only_published_cells():
    n, theta, psi = _fh_case()
    table = pd.DataFrame({"neighbourhood": [f"N{i}" for i in range(len(n))], "group": "all",
                          "wave": "baseline", "indicator": "trust_police", "n": n,
                          "n_eff": n.astype(float), "estimate": theta})
    table["suppressed"] = (table["n"] < K) | (table["neighbourhood"] == "N3")  # N3: secondary
    resp = pd.DataFrame({"neighbourhood": np.repeat(table["neighbourhood"], n).to_numpy(),
                         "wave": "baseline", "trust_police": np.tile([3.0, 7.0], n.sum())[:n.sum()]})
    out = E.shrink(table, resp, pd.Series(1.0, index=resp.index))
    assert out.loc[table["suppressed"], ["shrunk", "gamma"]].isna().all().all()
    pub = out[~table["suppressed"]]
    g, t, s = pub["gamma"], pub["estimate"], pub["shrunk"]
    mu = (s - g * t) / (1 - g)
    assert np.allclose(mu, (g * t).sum() / g.sum(), atol=1e-9)  # a function of published cells only


# ============================================== attack 3: counts printed outright
def test_counts_printed_outright_are_caught_and_published_tables_carry_none(tmp_path):
    impact = pd.DataFrame({"city": ["amiens", "brussels"], "outcome": ["trust_police"] * 2,
                           "group": ["young", "all"], "n": [120, 1], "min_cell": [5, 6], "estimate": [0.1, np.nan]})
    balance = pd.DataFrame({"variable": ["age", "trust_police"], "mean_a": [40.0, np.nan], "mean_b": [41.0, np.nan],
                            "n_a": [9, 5], "n_b": [4, 30]})
    rules = [f.rule for f in D.check_table(impact, "impact.csv") + D.check_table(balance, "balance.csv")]
    assert sum("1 to 9" in r for r in rules) == 6  # n 1, min_cell 5 and 6, n_a 9 and 5, n_b 4
    assert any("fewer than 10" in r for r in rules)  # mean_a on n_a = 9
    from analysis.io import write_table

    for name, df in (("impact.csv", impact), ("balance.csv", balance)):
        path = write_table(df, tmp_path / name, synthetic=True)
        assert not [f for f in D.check_csv(path, name) if "count" in f.rule]


def test_balance_table_publishes_rounded_counts():
    from analysis.statistics import impact
    from analysis.statistics import simulation

    prof = simulation.simulated_profile(n_clusters=6)
    df = simulation.simulate_respondents(n_clusters=6, n_per_cell=13, seed=1)
    bal = impact.balance_table(df, prof, weights=None)
    for c in ("n_a", "n_b"):
        v = bal[c].dropna().astype(int)
        assert ((v == 0) | ((v >= K) & (v % 10 == 0))).all()


def test_text_counts():
    bad = ["kept: 2379 resident interviews, 219 officer questionnaires", "up to n = 7.", "n=1642",
           "2 357 respondents in 20 neighbourhoods", "jusqu'à 8 répondants"]
    good = ["kept: 2380 resident interviews, 220 officer questionnaires, 36 pilot activities",
            "fewer than 10 respondents", "young people 15-24, migrant background", "9,999 draws",
            "n = 2360 respondents in 20 neighbourhoods", "p = 0.034"]
    for s in bad:
        assert D.check_text(s, "t"), s
    for s in good:
        assert not D.check_text(s, "t"), s


def test_findings_name_the_cell_but_not_the_value(tmp_path):
    p = tmp_path / "bad.csv"
    pd.DataFrame({"neighbourhood": ["NX"], "wave": ["baseline"], "n": [7], "estimate": [5.5]}).to_csv(p, index=False)
    found = D.check_paths([p], root=tmp_path)
    assert {f.column for f in found} == {"n", "estimate"}
    for f in found:
        s = str(f)
        assert "bad.csv" in s and "neighbourhood=NX" in s and "7" not in s
    assert D.main([str(p)]) == 1
    good = tmp_path / "good.csv"
    pd.DataFrame({"neighbourhood": ["NX"], "n": [None], "estimate": [None]}).to_csv(good, index=False)
    assert D.main([str(good)]) == 0


def test_french_report_headers_are_checked_like_english_ones():
    html = ("<p>Qualité des données</p><table><thead><tr><th>Jeu de données</th><th>Conservées</th>"
            "<th>Rejetées</th></tr></thead><tbody><tr><td>residents</td><td>1\u202f187</td><td>7</td></tr>"
            "</tbody></table><p>jusqu'à n = 1642.</p>")
    found = D.check_html(html, "report.fr.html")
    assert {f.column for f in found} == {"kept", "rejected", "(text)"}


def test_notebook_outputs_and_json_sidecars_are_checked(tmp_path):
    table = pd.DataFrame({"baseline": ["214", "<10"], "follow_up": ["207", "12"]},
                         index=pd.Index(["9", "5"], name="neighbourhood"))
    nb = {"cells": [{"cell_type": "code", "source": [], "metadata": {}, "outputs": [
        {"output_type": "stream", "name": "stdout", "text": ["kept: 2379 resident interviews\n"]},
        {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
         "data": {"text/html": table.to_html(), "text/plain": table.to_string()}}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "01-clean.ipynb"
    p.write_text(json.dumps(nb))
    found = D.check_notebook(p, "01-clean.ipynb")
    where = {(f.row, f.column) for f in found}
    assert ("text line 1", "(text)") in where
    assert ("neighbourhood=9", "baseline") in where and ("neighbourhood=5", "follow_up") in where
    svg = tmp_path / "fig.svg"
    svg.write_text('<svg><g><text x="1">Trust (0-10)</text><text x="2"> ESS = 6.01 (n = 1701)</text></g></svg>')
    assert len(D.check_svg(svg, "fig.svg")) == 1
    svg.write_text('<svg><g><text x="2"> ESS = 6.01 (n = 1700)</text></g></svg>')
    assert not D.check_svg(svg, "fig.svg")
    side = tmp_path / "fig.json"
    side.write_text(json.dumps({"caption": "up to n = 1642 respondents.", "rows": [{"n": 5, "estimate": 1.0}]}))
    assert len(D.check_json(side, "fig.json")) >= 2


# ======================================== attack 4: an area mean minus the other cells
def _area_case():
    """Pilot areas: three neighbourhoods, one with 8 respondents; means weighted by population."""
    t = pd.DataFrame({"neighbourhood": ["P1", "P2", "P3", "C1", "C2"],
                      "area_type": ["pilot", "pilot", "pilot", "comparison", "comparison"],
                      "group": "all", "wave": "baseline", "indicator": "trust_police",
                      "n": [40, 40, 8, 60, 70], "estimate": [5.0, 6.0, 2.5, 5.5, 5.2]})
    pop = pd.Series([4000, 3000, 2500, 5000, 6000], index=t.index)
    return t, pop


def _margin_attack(pub, pop, area_mean):
    """Area mean × population − the published cells' share, over the single hidden cell."""
    hid = pub["estimate"].isna()
    if hid.sum() != 1:
        return None
    h = hid.idxmax()
    rest = float((pop[~hid] * pub.loc[~hid, "estimate"]).sum())
    return (area_mean * pop.sum() - rest) / pop[h]


def test_area_mean_attack_needs_secondary_suppression():
    t, pop = _area_case()
    pilot = t["area_type"] == "pilot"
    area_mean = float((pop[pilot] * t.loc[pilot, "estimate"]).sum() / pop[pilot].sum())  # balance.csv mean_a
    t["suppressed"] = t["n"] < K
    primary = E.suppress(t)
    assert _margin_attack(primary[pilot], pop[pilot], area_mean) == pytest.approx(2.5)
    assert any("only suppressed cell" in f.rule for f in D.check_table(primary, "neighbourhoods.csv"))
    t["suppressed"] = sdc.secondary_suppression(t)
    secondary = E.suppress(t)
    assert secondary.loc[pilot, "suppressed"].sum() == 2  # P3 and its smallest complement
    assert _margin_attack(secondary[pilot], pop[pilot], area_mean) is None
    assert not [f for f in D.check_table(secondary, "neighbourhoods.csv") if "only suppressed" in f.rule]
    # The comparison areas, with nothing hidden, are untouched.
    assert not secondary.loc[~pilot, "suppressed"].any()
    # What can be derived is a mean pooling the small cell with at least K others.
    hidden_n = t.loc[t["suppressed"] & pilot, "n"]
    assert hidden_n.sum() - hidden_n[hidden_n < K].max() >= K


def test_secondary_suppression_pools_several_small_cells():
    t = pd.DataFrame({"area_type": ["other"] * 5, "group": "all", "wave": "follow_up", "indicator": "x",
                      "n": [3, 4, 11, 12, 200]})
    t["suppressed"] = t["n"] < K
    sup = sdc.secondary_suppression(t)
    # 3 + 4 hidden: the pair's mean would be a statistic of 7; add cells until K besides the largest small one
    assert sup.tolist() == [True, True, True, False, False]
    assert sdc.secondary_suppression(t.assign(n=[0, 40, 50, 60, 70], suppressed=False)).sum() == 0


# ====================================================================== demo outputs
def _demo():
    tables = PATHS.tables
    if not tables.is_dir() or not any(tables.glob("*/neighbourhoods.csv")):
        pytest.skip(f"no pipeline outputs under {PATHS.reports.name}/tables (run make report first)")
    return sorted(p.parent.name for p in tables.glob("*/neighbourhoods.csv"))


def test_demo_artefacts_pass_the_disclosure_check():
    _demo()
    found = D.check_paths(D.published_artefacts())
    assert not found, "\n".join(map(str, found[:20]))


def test_demo_fay_herriot_columns_reveal_nothing():
    for city in _demo():
        t = pd.read_csv(PATHS.tables_city(city) / "neighbourhoods.csv", dtype={"neighbourhood": str})
        for key, g in t[t["suppressed"].astype(str) == "False"].groupby(["group", "wave", "indicator"]):
            g = g.dropna(subset=["estimate", "shrunk", "gamma"])
            g = g[g["gamma"] < 0.98]
            if len(g) < 2 or g["gamma"].sum() == 0:
                continue
            mu = (g["shrunk"] - g["gamma"] * g["estimate"]) / (1 - g["gamma"])
            full = t[(t["group"] == key[0]) & (t["wave"] == key[1]) & (t["indicator"] == key[2])
                     & t["shrunk"].notna()]
            mu_pub = (full["gamma"] * full["estimate"]).sum() / full["gamma"].sum()
            assert np.allclose(mu, mu_pub, atol=5e-3), (city, key)


def test_demo_area_means_cannot_isolate_a_hidden_neighbourhood():
    from analysis.io import read_processed
    from analysis.inputs.profile import load_profile
    from analysis.statistics.weights import city_weights

    for city in _demo():
        t = pd.read_csv(PATHS.tables_city(city) / "neighbourhoods.csv", dtype={"neighbourhood": str})
        assert not [f for f in D.check_table(t, city) if "only suppressed" in f.rule]
        # With the true counts (private data): each hidden set pools its small cells with >= K others.
        try:
            resp = read_processed(city)
        except FileNotFoundError:
            continue
        prof = load_profile(city)
        true = E.neighbourhood_estimates(resp, city_weights(resp, prof), prof,
                                         indicators=("trust_police",))
        true["part"] = true["area_type"].where(true["area_type"].isin(["pilot", "comparison"]), "other")
        for _, g in true[true["wave"] != "change"].groupby(["part", "group", "wave"]):
            hid = g.loc[g["suppressed"] & (g["n"] > 0), "n"]
            small = hid[hid < K]
            if len(small):
                assert hid.sum() - small.max() >= K or len(hid) == (g["n"] > 0).sum(), (city, g.iloc[0].to_dict())


def _coverage_from_notebook(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            for t in D._read_html_tables("".join(html)) if html else []:
                t.columns = [D._innermost(c) for c in t.columns]
                if {"neighbourhood", "baseline", "follow_up"} <= set(t.columns):
                    return t
    return None


def _city_total_from_notebook(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            html = "".join(o.get("data", {}).get("text/html", ""))
            for t in D._read_html_tables(html) if "dont_know" in html else []:
                t.columns = [D._innermost(c) for c in t.columns]
                if {"variable", "n"} <= set(t.columns):
                    row = t[t["variable"].astype(str) == "neighbourhood"]
                    return str(row["n"].iloc[0]) if len(row) else None
    return None


def test_demo_counts_by_subtraction_recover_nothing():
    """Attack 1 on the published demo: respondents by neighbourhood (01-clean) and by area (03-impact)."""
    from analysis.inputs.profile import load_profile

    pinned, audited = [], 0
    for city in _demo():
        nb01 = PATHS.executed_notebooks / city / "01-clean.ipynb"
        nb03 = PATHS.executed_notebooks / city / "03-impact.ipynb"
        if not (nb01.is_file() and nb03.is_file()):
            continue
        cov = _coverage_from_notebook(nb01)
        summ = None
        for cell in json.loads(nb03.read_text(encoding="utf-8"))["cells"]:
            for o in cell.get("outputs", []):
                html = "".join(o.get("data", {}).get("text/html", ""))
                if "pilot_area" in html and "respondents" in html:
                    summ = D._read_html_tables(html)[0]
        if cov is None or summ is None:
            continue
        prof = load_profile(city)
        cov = cov.rename(columns={cov.columns[0]: "neighbourhood"}).astype(str)
        # HTML tables lose leading zeros of codes ("01" reads as 1): map back to the profile's codes.
        canon = {c.lstrip("0") or "0": c for c in prof.codes}
        cov["neighbourhood"] = cov["neighbourhood"].map(lambda c: canon.get(c.lstrip("0") or "0", c))
        cells = [(str(r["neighbourhood"]), w) for _, r in cov.iterrows() for w in ("baseline", "follow_up")]
        index = {c: i for i, c in enumerate(cells)}
        cons = [([index[(str(r["neighbourhood"]), w)]], sdc.count_interval(str(r[w])))
                for _, r in cov.iterrows() for w in ("baseline", "follow_up")]
        for _, r in summ.iterrows():
            members = [index[(nb, str(r["wave"]))] for nb, _ in cells[::2]
                       if prof.area_type(nb) == str(r["pilot_area"])]
            cons.append((members, sdc.count_interval(str(r["respondents"]))))
        total = _city_total_from_notebook(nb01)
        if total is not None:  # "n" of the missingness table: every respondent, both waves
            cons.append((list(range(len(cells))), sdc.count_interval(total)))
        hidden = [index[(str(r["neighbourhood"]), w)] for _, r in cov.iterrows()
                  for w in ("baseline", "follow_up") if str(r[w]) == "<10"]
        for i, (lo, hi) in sdc.feasibility_intervals(len(cells), cons, hidden).items():
            audited += 1
            if lo == hi:
                pinned.append((city, cells[i]))
    if not audited:
        pytest.skip("no executed 01-clean / 03-impact notebooks with hidden cells to attack")
    assert not pinned, f"hidden counts recovered by subtraction: {pinned}"


# ============================================ audit 2: exact n from df, products, rows, dashboard
_NS = np.arange(2, 6000)
_TQ = None


def _n_from_interval(est, lo, se):
    """The attacker's inversion of a 95 % t interval: every n with t(n - 1) = (est - lo) / se,
    within half a unit of the 6 significant digits the CSVs carry."""
    global _TQ
    from scipy import stats

    if _TQ is None:
        _TQ = stats.t.ppf(0.975, _NS - 1)
    if not (np.isfinite(est) and np.isfinite(lo) and np.isfinite(se)) or se <= 0:
        return None
    q = (est - lo) / se
    err = (abs(est) + abs(lo)) * 5e-6 / se + q * 5e-6
    c = _NS[np.abs(_TQ - q) <= err + 1e-12]
    return {int(v) for v in c} or None


def _difference_attack(nb: pd.DataFrame, areas: pd.DataFrame) -> list[tuple]:
    """The audit's recovery (scratch audit/attack/diff_counts.py): each area's total (from ``df``
    when published, else the rounded ``n`` narrowed by inverting its interval) minus its
    neighbourhood cells (exact by interval inversion, else the interval of their published
    count); every solution enumerated; a hidden cell with one feasible value is recovered."""
    import itertools

    pinned = []
    for (part, g, w, ind), cells in nb[nb["wave"] != "change"].groupby(["area_type", "group", "wave", "indicator"]):
        a = areas[(areas["area_type"] == part) & (areas["group"] == g) & (areas["wave"] == w)
                  & (areas["indicator"] == ind)]
        if a.empty:
            continue
        a = a.iloc[0]
        if "df" in areas.columns and np.isfinite(a["df"]):
            totals = {int(round(a["df"])) + 1}
        else:
            lo, hi = sdc.count_interval(a["n"] if np.isfinite(a["n"]) else None)
            totals = set(range(lo, hi + 1))
            c = _n_from_interval(a["estimate"], a["ci_low"], a["se"])
            totals &= c or totals
        ranges = []
        for _, x in cells.iterrows():
            c = _n_from_interval(x["estimate"], x["ci_low"], x["se"])
            if c is None:
                lo, hi = sdc.count_interval(x["n"] if np.isfinite(x["n"]) else None)
                c = set(range(lo, hi + 1))
            ranges.append((x["neighbourhood"], not np.isfinite(x["n"]) or str(x["suppressed"]) == "True", c))
        unknown = [r for r in ranges if len(r[2]) > 1]
        fixed = sum(next(iter(r[2])) for r in ranges if len(r[2]) == 1)
        if not unknown or len(unknown) > 6 or not totals:
            continue
        sols = [s for s in itertools.product(*[sorted(r[2]) for r in unknown]) if sum(s) + fixed in totals]
        for j, (code, hidden, _) in enumerate(unknown):
            if sols and hidden and len({s[j] for s in sols}) == 1:
                pinned.append((part, g, w, ind, code))
    return pinned


def _planted_area(n_pub_cells=(12, 14), hidden=(9, 9, 9), df_published=True, coarse=True):
    """One area: two published cells and three hidden ones of 9 (total minus parts = 27 = 3 × 9)."""
    from scipy import stats

    from analysis.publishing.explore import coarse_df

    rows = []
    for i, n in enumerate(n_pub_cells):
        se = 0.3
        t = stats.t.ppf(0.975, n - 1)
        rows.append({"neighbourhood": f"P{i}", "n": float(sdc.publish_count(n)), "estimate": 5.0, "se": se,
                     "ci_low": float(f"{5.0 - t * se:.6g}"), "suppressed": False})
    for i, _ in enumerate(hidden):
        rows.append({"neighbourhood": f"H{i}", "n": np.nan, "estimate": np.nan, "se": np.nan, "ci_low": np.nan,
                     "suppressed": True})
    nb = pd.DataFrame(rows).assign(area_type="pilot", group="all", wave="baseline", indicator="x")
    N = sum(n_pub_cells) + sum(hidden)
    df = float(coarse_df(np.array([N - 1.0]))[0]) if coarse else N - 1.0
    t = stats.t.ppf(0.975, df)
    area = {"area_type": "pilot", "group": "all", "wave": "baseline", "indicator": "x",
            "n": float(sdc.publish_count(N)), "estimate": 5.0, "se": 0.2, "ci_low": float(f"{5.0 - t * 0.2:.6g}")}
    if df_published:
        area["df"] = N - 1.0
    return nb, pd.DataFrame([area])


def test_difference_attack_pins_hidden_cells_through_df_or_an_exact_interval_and_not_after_the_fix():
    # published df = n - 1 (the old areas.csv): 27 over three hidden cells of 1-9 pins 9, 9, 9
    assert len(_difference_attack(*_planted_area(df_published=True, coarse=False))) == 3
    # df dropped but the interval still built on n - 1: inverting t gives n back, same result
    assert len(_difference_attack(*_planted_area(df_published=False, coarse=False))) == 3
    # the fix: no df, and the interval's df from the count rounded down to base 10
    assert _difference_attack(*_planted_area(df_published=False, coarse=True)) == []


def test_coarse_df_reveals_only_the_rounded_count_and_never_narrows_the_interval():
    from analysis.publishing.explore import coarse_df

    n = np.arange(10, 400)
    d = coarse_df(n - 1.0)
    assert np.all(d <= n - 1) and np.all((d + 1) % sdc.ROUNDING_BASE == 0) and np.all(d + 1 >= sdc.K)
    # every count of the same base-10 block gives the same df: the interval cannot tell them apart
    for lo in range(10, 390, 10):
        assert len(set(coarse_df(np.arange(lo, lo + 10) - 1.0))) == 1
    assert np.isnan(coarse_df(np.array([np.nan]))[0]) and coarse_df(np.array([4.0]))[0] == 4.0


def test_area_table_publishes_no_df():
    from analysis.publishing import explore

    assert "df" not in explore.AREA_COLUMNS
    bad = pd.DataFrame({"area_type": ["pilot", "other"], "n": [30, 80], "estimate": [5.1, 4.9], "df": [26, 81]})
    found = D.check_table(bad, "areas.csv")
    assert {f.column for f in found} == {"df"} and len(found) == 2
    assert not D.check_table(bad.drop(columns="df"), "areas.csv")


def test_df_of_a_pooling_over_cities_is_not_a_count_of_people():
    pooled = pd.DataFrame({"outcome": ["a", "b"], "k": [7, 2], "estimate": [0.4, 0.8], "df": [6, 1]})
    assert not D.check_table(pooled, "pooled.csv")
    fr = pd.DataFrame({"outcome": ["a"], "k (villes)": ["7"], "Estimation": ["0,421"], "ddl": ["6,000"]})
    assert not D.check_table(fr, "report.fr.html table 1")
    assert D.check_table(pooled.assign(df=[40, 1]), "pooled.csv")  # not k - c: a count in disguise


def test_n_eff_times_deff_giving_the_exact_count_is_caught():
    from analysis.statistics import weights as W

    exact = pd.DataFrame({"city": ["x", "x"], "wave": ["baseline", "follow_up"], "n": [800, 790],
                          "deff_kish": [1.41773, 1.39214], "n_eff": [560.754, 567.473]})
    assert (exact["n_eff"] * exact["deff_kish"]).round().tolist() == [795, 790]  # exact counts back
    found = D.check_table(exact, "weighting.csv")
    assert {f.column for f in found} == {"n_eff"} and len(found) == 2
    assert not D.check_table(W.publish_design(exact), "weighting.csv")
    # an unrounded integer n_eff with 2-decimal deff still pins the count within ±3: caught
    assert D.check_table(exact.assign(n_eff=[561, 567], deff_kish=[1.42, 1.39]), "weighting.csv")


def test_officer_rows_publish_rounded_clusters():
    rows = pd.DataFrame({"population": ["residents", "officers", "officers"], "outcome": ["a", "b", "c"],
                         "n": [720, 120, 110], "n_clusters": [3, 85, 83], "estimate": [0.1, 0.2, 0.3]})
    found = D.check_table(rows, "impact.csv")
    assert [f.column for f in found] == ["n_clusters", "n_clusters"]  # the two officer rows, not the 3 areas
    assert not D.check_table(rows.assign(n_clusters=[3, 80, 80]), "impact.csv")


def test_officer_effects_round_the_officer_count():
    from analysis.statistics import officers as O
    rng = np.random.default_rng(5)
    n_off = 83
    ids = np.repeat([f"o{i}" for i in range(n_off)], 2)
    df = pd.DataFrame({"officer_id": ids, "wave": np.tile(["baseline", "follow_up"], n_off),
                       "trained_in_pilot": np.repeat(rng.integers(0, 2, n_off).astype(bool), 2)})
    for ind in O.codebook.OFFICER_INDICATORS:
        df[ind] = rng.integers(1, 6, len(df)).astype(float)
    prof = type("P", (), {"city": "x"})()
    out = O.officer_effects(df, prof)
    got = pd.to_numeric(out["n_clusters"], errors="coerce").dropna()
    assert len(got) and (got % sdc.ROUNDING_BASE == 0).all() and (got == 80).all()


def test_row_totals_in_report_text_are_checked():
    bad = ["Raw rows: 2239; kept: 2209; rejected: 30.", "Lignes brutes : 2239 ; conservées : 2209 ; rejetées : 7.",
           "Rejected: 3", "2239 rows read", "1187 lignes"]
    good = ["Raw rows: 2240; kept: 2210; rejected: 30.", "Lignes brutes : 2\u202f240 ; conservées : 2\u202f210 ; "
            "rejetées : <10.", "Rejected: 0", "Every raw row is accounted for (raw = kept + rejected, per file)."]
    for s in bad:
        assert D.check_text(s, "t"), s
    for s in good:
        assert not D.check_text(s, "t"), s


def test_report_cleaning_sentence_prints_rounded_totals():
    from analysis.publishing import report as R

    view_src = __import__("inspect").getsource(R)
    assert 'v["clean_rows"] = ({k: publish_count(x)' in view_src  # the one place the sentence is fed
    text = R.tr("city.rows", "en", raw=sdc.publish_count(2239), kept=sdc.publish_count(2209),
                rejected=sdc.publish_count(30)) if hasattr(R, "tr") else ""
    assert text and not D.check_text(text, "report.html")
    raw = R.tr("city.rows", "fr", raw=2239, kept=2209, rejected=30)
    assert D.check_text(raw, "report.fr.html")  # the old exact sentence is caught


_DASH = """<!doctype html><html><body><h1>Dashboard</h1><table id="t"></table>
<script id="data" type="application/json">{payload}</script><script>const x = 1;</script></body></html>"""


def test_dashboard_inline_data_is_checked_and_a_table_free_page_does_not_crash():
    from analysis.publishing import dashboard

    cols = dashboard.ROW_COLUMNS

    def row(n, est):
        r = dict(zip(cols, [None] * len(cols)))
        r.update(neighbourhood="A1", wave="baseline", indicator="x", group="all", n=n, estimate=est,
                 ci_low=est, ci_high=est, status="published")
        return [r[c] for c in cols]

    bad = {"cities": {"x": {"rows": [row(7, 5.0), row(23, 4.0)], "areas": []}}}
    found = D.check_dashboard(_DASH.format(payload=json.dumps(bad)), "reports/dashboard.html")
    cols_found = {f.column for f in found}
    assert {"n", "estimate"} <= cols_found and all("dashboard.html" in f.artefact for f in found)
    good = {"cities": {"x": {"rows": [row(None, None), row(20, 4.0)], "areas": []}}}
    assert not D.check_dashboard(_DASH.format(payload=json.dumps(good)), "reports/dashboard.html")
    # no table with cells: no pd.read_html call (its bs4/html5lib fallback is not installed)
    assert D._read_html_tables("<html><table id='t'></table><p>nothing</p></html>") == []


def test_dashboard_and_narratives_are_published_artefacts(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "dashboard.html").write_text(_DASH.format(payload="{}"), encoding="utf-8")
    (reports / "narrative.md").write_text("We kept 2379 resident interviews.\n", encoding="utf-8")
    (reports / "narrative.fr.md").write_text("Nous avons gardé 2380 entretiens.\n", encoding="utf-8")
    found = D.published_artefacts(tmp_path)
    assert {p.name for p in found} >= {"dashboard.html", "narrative.md", "narrative.fr.md"}
    findings = D.check_paths(found, root=tmp_path)
    assert {f.artefact for f in findings} == {"reports/narrative.md"}


def test_demo_difference_attack_recovers_nothing():
    """The audit's recovery on the published demo tables: area totals minus published cells."""
    pinned, audited = [], 0
    for city in _demo():
        areas = PATHS.tables_city(city) / "areas.csv"
        if not areas.is_file():
            continue
        nb = pd.read_csv(PATHS.tables_city(city) / "neighbourhoods.csv", dtype={"neighbourhood": str})
        audited += 1
        pinned += [(city, *p) for p in _difference_attack(nb, pd.read_csv(areas))]
    if not audited:
        pytest.skip("no areas.csv beside the neighbourhood tables to attack")
    assert not pinned, f"hidden counts recovered by area total minus cells: {pinned[:10]}"


def test_demo_weight_summaries_do_not_multiply_back_to_counts():
    cities = _demo()
    for city in cities:
        p = PATHS.tables_city(city) / "weighting.csv"
        if p.is_file():
            assert not D.check_csv(p, f"{city}/weighting.csv"), city


def test_table_row_notes_are_not_counts_of_people():
    from analysis.publishing import report as R

    for lang in ("en", "fr"):
        assert not D.check_text(R.tr("table.more_rows", lang, n=23), "report.html"), lang
    assert D.check_text("37 rejected rows", "t") and D.check_text("2239 lignes brutes", "t")
    assert not D.check_text("30 rejected rows", "t")  # rounded: fine
