"""The harmonised codebook: indices, reliability, types and the pandera schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from analysis.inputs import codebook


def _items(**cols):
    n = len(next(iter(cols.values())))
    base = {c: [pd.NA] * n for ix in codebook.INDICES for c in ix.items}
    base.update(cols)
    return pd.DataFrame(base).astype("Float64")


def test_index_is_mean_of_answered_items_rescaled_to_0_10():
    df = _items(pj_respect=[4, 1, 4], pj_fair=[4, 1, 2], pj_explain=[1, pd.NA, pd.NA])
    out = codebook.compute_indices(df)["pj_index"]
    # (10 + 10 + 0) / 3 ; (0 + 0) / 2 ; (10 + 3.333) / 2
    assert out.tolist() == pytest.approx([20 / 3, 0.0, (10 + 10 / 3) / 2])


def test_missing_items_never_count_as_zero():
    # one answer out of three is not "more than half": the index is missing, not 10/3
    df = _items(pj_respect=[4, pd.NA], pj_fair=[pd.NA, pd.NA], pj_explain=[pd.NA, pd.NA])
    out = codebook.compute_indices(df)["pj_index"]
    assert out.isna().all()
    # a respondent answering 2 of 3 gets the mean of those two, never a sum with zeros
    df = _items(pj_respect=[4], pj_fair=[4], pj_explain=[pd.NA])
    assert codebook.compute_indices(df)["pj_index"].iloc[0] == pytest.approx(10.0)


def test_two_item_index_needs_both_items():
    df = _items(trust_police=[8, 8], duty_support_police=[6, pd.NA])
    out = codebook.compute_indices(df)["legitimacy_index"]
    assert out.iloc[0] == pytest.approx(7.0)
    assert pd.isna(out.iloc[1])


def test_cronbach_alpha_known_answers():
    x = [1, 2, 3, 4]
    assert codebook.cronbach_alpha(pd.DataFrame({"a": x, "b": x})) == pytest.approx(1.0)
    # var(a) = var(b) = 5/3, cov = 1: alpha = 2 (1 - (10/3) / (10/3 + 2)) = 0.75
    assert codebook.cronbach_alpha(pd.DataFrame({"a": x, "b": [2, 1, 4, 3]})) == pytest.approx(0.75)
    # listwise deletion: a row with a missing item is ignored
    df = pd.DataFrame({"a": [1, 2, 3, 4, 9], "b": [2, 1, 4, 3, None]})
    assert codebook.cronbach_alpha(df) == pytest.approx(0.75)


def test_cronbach_alpha_matches_variance_formula_on_random_data():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=20_000)
    items = pd.DataFrame({f"i{k}": latent + rng.normal(scale=1.0, size=20_000) for k in range(4)})
    k = 4
    expected = k / (k - 1) * (1 - items.var().sum() / items.sum(axis=1).var())
    assert codebook.cronbach_alpha(items) == pytest.approx(expected)
    # four items with unit loading and unit noise: population alpha = 4*0.5/(1+3*0.5) = 0.8
    assert codebook.cronbach_alpha(items) == pytest.approx(0.8, abs=0.01)


def test_age_groups_bounds():
    ages = pd.Series([15, 24, 25, 34, 35, 49, 50, 64, 65, 110, 14, 111, None])
    got = codebook.age_group(ages).tolist()
    assert got[:10] == ["15-24", "15-24", "25-34", "25-34", "35-49", "35-49", "50-64", "50-64", "65+", "65+"]
    assert all(pd.isna(g) for g in got[10:])


def _valid_residents(n=3):
    df = codebook.empty_frame("residents")
    row = {"city": "x", "source_file": "f.csv", "raw_row_number": 2, "respondent_id": "R-1",
           "wave": "baseline", "neighbourhood": "1", "pilot_area": "pilot", "age": 30,
           "age_group": "25-34", "gender": "female", "trust_police": 7}
    df = pd.DataFrame([{**row, "respondent_id": f"R-{i}", "raw_row_number": i + 2} for i in range(n)])
    return codebook.enforce_dtypes(df, "residents")


def test_schema_accepts_valid_and_rejects_out_of_range():
    schema = codebook.pandera_schema("residents")
    good = _valid_residents()
    schema.validate(good)
    bad = good.copy()
    bad.loc[1, "trust_police"] = 11
    with pytest.raises(pandera.errors.SchemaError, match="trust_police"):
        schema.validate(bad)
    bad = good.copy()
    bad.loc[0, "wave"] = "wave3"
    with pytest.raises(pandera.errors.SchemaError, match="wave"):
        schema.validate(bad)


def test_schema_rejects_duplicate_respondent_in_a_wave():
    schema = codebook.pandera_schema("residents")
    df = _valid_residents()
    df.loc[2, "respondent_id"] = df.loc[0, "respondent_id"]
    with pytest.raises(pandera.errors.SchemaError):
        schema.validate(df)


def test_enforce_dtypes_refuses_fractional_integers():
    df = _valid_residents()
    df["age"] = df["age"].astype("Float64")
    df.loc[0, "age"] = 30.5
    with pytest.raises(TypeError, match="age"):
        codebook.enforce_dtypes(df, "residents")


def test_every_variable_is_labelled_in_every_language():
    from analysis.publishing import text

    for lang in text.LANGS:
        for ds, vs in codebook.DATASETS.items():
            for v in vs:
                assert v.label(lang), (ds, v.name, lang)
                for value in v.categories or ():
                    if v.name in ("wave", "pilot_area", "gender", "contact_initiated_by", "activity_type"):
                        assert v.category_label(value, lang) != value, (v.name, value, lang)
                for point in v.scale_labels:
                    assert v.point_label(point, lang), (v.name, point, lang)
        for ix in codebook.INDICES:
            assert ix.label(lang) and codebook.label(ix.name, lang) == ix.label(lang)
        for g in codebook.TARGET_GROUPS.values():
            assert g.label(lang) != g.name
    # the words are the catalogue's, not the codebook's
    assert codebook.label("pj_index", "fr") == "Justice procédurale"
    assert codebook.var("wave").category_label("baseline", "fr") == "Enquête initiale (2014)"
    with pytest.raises(KeyError):
        codebook.label("no_such_item", "en")
    table = codebook.codebook_table("fr")
    assert {"pj_index", "trust_police", "officer_id", "activity_type"} <= set(table["variable"])


def test_targeted_group_masks():
    df = pd.DataFrame({"age_group": ["15-24", "65+", None], "shopkeeper": pd.array([True, False, pd.NA])})
    young = codebook.TARGET_GROUPS["young"].mask(df)
    assert young.tolist()[:2] == [True, False] and pd.isna(young.iloc[2])
    shop = codebook.TARGET_GROUPS["shopkeeper"].mask(df)
    assert shop.tolist()[:2] == [True, False] and pd.isna(shop.iloc[2])
