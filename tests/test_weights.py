"""Raking: margins reproduced, known answers, collapse, missing data, trimming, design effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import codebook
from analysis import weights as W
from analysis.profile import CityProfile


def make_profile(n_nb=6, seed=0, counts=None, margins="default"):
    """A test profile; ``counts`` {code: {gender: [5 counts]}} replaces the random margins,
    ``margins=None`` leaves them out."""
    rng = np.random.default_rng(seed)
    codes = [f"{i:02d}" for i in range(1, n_nb + 1)] if counts is None else list(counts)
    if counts is None:
        counts = {c: {"female": rng.integers(300, 3000, 5).tolist(),
                      "male": rng.integers(300, 3000, 5).tolist()} for c in codes}
    if margins == "default":
        margins = dict(source="test", counts=counts)
    return CityProfile.model_validate(dict(
        city="testville", name="Testville", country="FR", languages=["fr"], synthetic=True,
        boundaries=dict(unit="quartier"),
        neighbourhoods=[dict(code=c, name=f"Q{c}", lon=-1.55 + 0.01 * i, lat=47.2 + 0.005 * (i % 3))
                        for i, c in enumerate(codes)],
        pilot=dict(name="P", kind="k", description="d", start="2014-06-01", end="2015-03-01",
                   pilot_areas=codes[:1], comparison_areas=codes[1:2], targeted_groups=["young"]),
        waves=dict(baseline=dict(year=2014, start="2014-03-01", end="2014-05-01"),
                   follow_up=dict(year=2015, start="2015-03-01", end="2015-05-01")),
        **({} if margins is None else {"margins": margins}),
        residents=dict(files=[dict(path="r.csv", format="csv")], columns={"respondent_id": "id"}),
    ))


def make_respondents(profile, n=300, seed=1):
    rng = np.random.default_rng(seed)
    frames = []
    for wave in codebook.WAVES:
        frames.append(pd.DataFrame({
            "city": profile.city, "wave": wave,
            "neighbourhood": rng.choice(profile.codes, n, p=np.linspace(1, 3, len(profile.codes)) /
                                        np.linspace(1, 3, len(profile.codes)).sum()),
            "age_group": rng.choice(codebook.AGE_GROUPS, n, p=[.1, .15, .3, .25, .2]),
            "gender": rng.choice(codebook.GENDERS, n, p=[.62, .38]),
        }))
    df = pd.concat(frames, ignore_index=True).astype("str")
    df.index = pd.RangeIndex(1000, 1000 + len(df))  # not 0..n-1: the index must be kept
    return df


def test_rake_reproduces_one_way_and_crossed_margins():
    prof = make_profile()
    df = make_respondents(prof)
    df = df[df["wave"] == "baseline"]
    margins = W.margins_from_frame(prof.margins_frame())
    w = W.rake(df, margins)
    assert w.attrs["converged"] and w.index.equals(df.index)
    for dim, target in margins.items():
        got = W.weighted_margins(df, w, dim).reindex(target.index)
        assert np.allclose(got / target, 1, rtol=0, atol=1e-6), dim
    one_way = W.margins_from_frame(prof.margins_frame(), ("neighbourhood", "age_group", "gender"))
    w1 = W.rake(df, one_way)
    for dim, target in one_way.items():
        assert np.allclose(W.weighted_margins(df, w1, dim).reindex(target.index) / target, 1, atol=1e-6)


def test_single_margin_is_post_stratification():
    # Known answer: with one margin, raking gives every respondent N_c / n_c.
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 5})
    w = W.rake(df, {"g": pd.Series({"a": 30.0, "b": 100.0})})
    assert np.allclose(w.to_numpy(), [10] * 3 + [20] * 5)


def test_independent_margins_give_the_product_solution():
    # Known answer: a sample balanced on x × y raked to margins whose joint is the product
    # of the margins gets w = N_x N_y / (N n_xy) in one pass.
    df = pd.DataFrame({"x": list("aabb") * 3, "y": list("cdcd") * 3})
    nx, ny = pd.Series({"a": 600.0, "b": 400.0}), pd.Series({"c": 700.0, "d": 300.0})
    w = W.rake(df, {"x": nx, "y": ny})
    expected = df["x"].map(nx).to_numpy() * df["y"].map(ny).to_numpy() / 1000 / 3
    assert np.allclose(w.to_numpy(), expected, rtol=1e-9)


def test_empty_category_is_collapsed_and_total_kept():
    df = pd.DataFrame({"g": ["a", "a", "b"], "h": ["x", "y", "x"]})
    margins = {"g": pd.Series({"a": 50.0, "b": 30.0, "c": 20.0}), "h": pd.Series({"x": 60.0, "y": 40.0})}
    w = W.rake(df, margins)
    assert w.sum() == pytest.approx(100.0)
    assert w.attrs["collapsed"] == {"g": ["c"]}
    # a and b keep their 50:30 ratio once c's population is spread over them
    got = W.weighted_margins(df, w, "g")
    assert got["a"] / got["b"] == pytest.approx(50 / 30)


def test_unknown_category_and_missing_values_are_named():
    df = pd.DataFrame({"g": ["a", "zz"]})
    with pytest.raises(ValueError, match=r"\['zz'\].*no population"):
        W.rake(df, {"g": pd.Series({"a": 10.0})})
    with pytest.raises(ValueError, match="missing value on margin 'g'"):
        W.rake(pd.DataFrame({"g": ["a", None]}), {"g": pd.Series({"a": 10.0})})


def test_city_weights_sum_to_the_surveyed_population_and_keep_index():
    prof = make_profile()
    df = make_respondents(prof)
    df.loc[df.index[:7], "gender"] = pd.NA
    df.loc[df.index[7:10], "age_group"] = pd.NA
    out = W.city_weights(df, prof)
    assert out.index.equals(df.index) and list(out.columns[:4]) == ["city", "wave", "neighbourhood", "weight"]
    total = prof.margins_frame()["population"].sum()
    for wave in codebook.WAVES:
        assert out.loc[out["wave"] == wave, "weight"].sum() == pytest.approx(total, rel=1e-9)
    assert out["imputed"].sum() == 10 and (out["weight"] > 0).all()
    # Neighbourhood margins stay exact despite the imputed respondents.
    pop_nb = prof.margins_frame().groupby("neighbourhood")["population"].sum()
    got = out[out["wave"] == "baseline"].groupby("neighbourhood")["weight"].sum()
    assert np.allclose(got.reindex(pop_nb.index) / pop_nb, 1, atol=1e-6)


def test_trimming_caps_weights_relative_to_base_keeps_margins_and_lowers_the_design_effect():
    prof = make_profile()
    df = make_respondents(prof, n=400)
    df = df[df["wave"] == "baseline"]
    frame = prof.margins_frame().assign(population=1000)
    margins = W.margins_from_frame(frame)
    base = pd.Series(frame["population"].sum() / len(df), index=df.index)
    untrimmed, trimmed = W.trim_and_rake(df, margins, cap=3.0, base_weight=base)
    assert (untrimmed / base).max() > 4.0                        # there was something to trim
    ratio = trimmed / base
    assert ratio.max() <= 3.0 * (1 + 1e-9) and ratio.min() >= 1 / 3.0 * (1 - 1e-9)  # the cap holds
    assert trimmed.attrs["cap_met"] and trimmed.attrs["converged"]
    assert W.kish_deff(trimmed) < W.kish_deff(untrimmed)
    for dim, target in margins.items():                          # margins still met
        assert np.allclose(W.weighted_margins(df, trimmed, dim).reindex(target.index) / target, 1, atol=1e-6)


def test_lone_respondent_carries_her_neighbourhood_within_the_cap():
    # One respondent in a neighbourhood must carry its whole population. Relative to her
    # base weight (N_h / 1) that is a ratio of 1, so the cap no longer fights the margin.
    counts = make_profile().margins.counts
    counts["01"] = {"female": [60, 50, 40, 50, 50], "male": [50, 60, 50, 40, 50]}  # 500 people
    prof = make_profile(counts=counts)
    df = make_respondents(prof, n=300)
    df = df[(df["wave"] == "baseline")]
    lone = df.index[df["neighbourhood"] == "01"]
    df = df.drop(lone[1:])
    out = W.city_weights(df, prof, cap=8.0)  # the sample has a third of its share of young men
    pop01 = prof.margins_frame().query("neighbourhood == '01'")["population"].sum()
    assert out.loc[lone[0], "weight"] == pytest.approx(pop01)
    assert out.loc[lone[0], "base_weight"] == pytest.approx(pop01)
    assert out.attrs["weights_method"] == "raked_population"
    assert (out["weight"] / out["base_weight"]).max() <= 8.0 * (1 + 1e-9)
    ach = W.achieved_margins(df, out, prof)
    assert ach["rel_diff"].abs().max() < 1e-6


def test_unattainable_cap_is_reported_not_hidden():
    # About 9 young men for 12 % of the population need a factor near 3.7: a cap of 3
    # cannot meet that margin. The method code and the achieved margins say so, and the
    # neighbourhood margins stay exact.
    prof = make_profile()
    df = make_respondents(prof, n=300)
    df = df[(df["wave"] == "baseline")]
    out = W.city_weights(df, prof, cap=3.0)
    assert out.attrs["weights_method"] == "raked_population_approx"
    assert (out["weights_method"] == "raked_population_approx").all()
    ach = W.achieved_margins(df, out, prof)
    nb = ach[ach["margin"] == "neighbourhood"]
    assert nb["rel_diff"].abs().max() < 1e-9
    assert ach["rel_diff"].abs().max() > 0.1
    annex = W.weighting_annex(df, out, prof).iloc[0]
    assert not annex["converged"] and annex["max_abs_rel_diff"] == pytest.approx(ach["rel_diff"].abs().max())


def test_kish_design_effect_and_effective_n():
    w = np.array([1.0, 1.0, 2.0, 4.0])
    cv2 = np.var(w) / np.mean(w) ** 2
    assert W.kish_deff(w) == pytest.approx(1 + cv2)
    assert W.kish_deff(w) == pytest.approx(4 * 22 / 64)   # n Σw² / (Σw)²
    assert W.effective_n(w) == pytest.approx(64 / 22)
    frame = pd.DataFrame({"city": "c", "wave": "baseline", "weight": w, "weight_untrimmed": w,
                          "imputed": False})
    row = W.weight_summary(frame).iloc[0]
    assert row["deff_kish"] == pytest.approx(1 + cv2) and row["n_eff"] == pytest.approx(64 / 22)
    assert row["n"] == 4 and row["min"] == 1 and row["max"] == 4
