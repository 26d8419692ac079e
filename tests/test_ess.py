"""The national ESS benchmark goes through the codebook and reproduces the raw numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.inputs import codebook
from analysis.statistics import ess


@pytest.fixture(scope="module")
def raw():
    return ess.load_essbe5()


def test_trust_in_police_mean_reproduced_exactly(raw):
    """Mean of the valid trstplc answers, computed independently from the raw frame."""
    valid = raw["trstplc"][raw["trstplc"].between(0, 10)]
    assert len(valid) == 1701
    harmonised = ess.ess_to_codebook(raw)
    levels = ess.national_levels(harmonised).set_index("indicator")
    assert levels.loc["trust_police", "n"] == 1701
    assert levels.loc["trust_police", "mean"] == pytest.approx(float(valid.sum()) / 1701, rel=1e-12)
    assert levels.loc["trust_police", "mean"] == pytest.approx(6.00588, abs=5e-6)
    eff = raw["plcpvcr"][raw["plcpvcr"].between(0, 10)]
    assert levels.loc["eff_violence", "n"] == len(eff)
    assert levels.loc["eff_violence", "mean"] == pytest.approx(eff.mean(), rel=1e-12)


def test_harmonised_frame_follows_the_codebook(raw):
    df = ess.ess_to_codebook(raw)
    codebook.pandera_schema("residents").validate(df)
    assert df["trust_police"].dtype == "Int64" and df["gender"].dtype == "str"
    assert (df["gender"] == "female").sum() == (raw["female"] == 1).sum()
    assert df["age_group"].notna().equals(df["age"].notna())
    # legitimacy needs duty_support_police, which ESSBE5 lacks: never computed from one item
    assert df["legitimacy_index"].isna().all()


def test_ess_missing_codes_become_missing_and_bad_values_raise(raw):
    fake = raw.head(5).copy()
    fake.loc[fake.index[0], "trstplc"] = 88
    fake.loc[fake.index[1], "trstplc"] = 77
    fake.loc[fake.index[2], "agea"] = 999
    df = ess.ess_to_codebook(fake)
    assert df["trust_police"].isna().sum() == 2 and pd.isna(df["age"].iloc[2])
    fake.loc[fake.index[3], "plcpvcr"] = 12
    with pytest.raises(ValueError, match=r"column 'plcpvcr'.*value 12"):
        ess.ess_to_codebook(fake)
    with pytest.raises(KeyError, match="trstplc"):
        ess.ess_to_codebook(raw.drop(columns="trstplc"))


def test_ess_goes_through_the_city_cleaning_code(raw, monkeypatch):
    """The benchmark calls clean.clean_table with the shipped spec: same DK and range rules."""
    from analysis.inputs import clean

    calls = []
    real = clean.clean_table

    def spy(spec, frame, **kw):
        calls.append((spec, kw))
        return real(spec, frame, **kw)

    monkeypatch.setattr(clean, "clean_table", spy)
    tiny = raw.head(4).copy()
    tiny.loc[tiny.index[0], "trstplc"] = 88   # ESS don't know -> missing
    tiny.loc[tiny.index[1], "trstplc"] = 12   # not a 0-10 answer, not a DK code -> rejected
    tiny.loc[tiny.index[2], "agea"] = 88      # an age of 88 stays 88 (DK codes only on rating items)
    kept, rejected = ess.clean_essbe5(tiny)
    assert len(calls) == 1 and calls[0][0] == ess.load_spec() and calls[0][1]["dataset"] == "residents"
    assert len(kept) + len(rejected) == len(tiny) == 4
    assert pd.isna(kept.set_index("raw_row_number").loc[1, "trust_police"])
    assert kept.set_index("raw_row_number").loc[3, "age"] == 88
    r = rejected.iloc[0]
    assert (len(rejected), r["raw_row_number"], r["reason"], r["column"], r["codebook_column"], r["value"]) == (
        1, 2, "out_of_range", "trstplc", "trust_police", "12")
    assert r["detail"] == "expected 0-10"
    with pytest.raises(ValueError, match=r"row 2, column 'trstplc'.*value 12 \(out_of_range"):
        ess.ess_to_codebook(tiny)


def test_ess_spec_is_data_and_a_broken_one_names_file_and_key(tmp_path):
    from analysis.inputs.profile import ProfileError

    spec = ess.load_spec()
    assert spec.columns["trust_police"] == "trstplc" and spec.item_missing == [77, 88, 99]
    text = ess.spec_path().read_text(encoding="utf-8")
    bad = tmp_path / "ess.yml"
    bad.write_text(text.replace("item_missing:", "item_misssing:"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"ess\.yml: invalid benchmark spec.*\n.*key item_misssing"):
        ess.load_spec(bad)
    bad.write_text(text.replace("1: female", "1: woman"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"ess\.yml: key values\.gender\.'1'"):
        ess.load_spec(bad)


def test_national_levels_say_they_are_real_national_unweighted_2010(raw):
    """The ESS rows are real microdata: their own data_status says so, whatever the cities' data."""
    levels = ess.national_levels(ess.ess_to_codebook(raw))
    assert (levels["data_status"] == ess.DATA_STATUS).all()
    assert ess.DATA_STATUS.startswith("real data") and "SYNTHETIC" not in ess.DATA_STATUS.upper()
    assert set(levels["area"]) == {"national"} and set(levels["weighting"]) == {"unweighted"}
    assert set(levels["period"]) == {"2010"}


def test_benchmark_csv_keeps_real_status_on_ess_rows(tmp_path):
    """Written as the pipeline writes it: the table-wide synthetic label must not overwrite the ESS rows."""
    from analysis.statistics import synthesis
    from analysis.io import SYNTHETIC_NOTE
    from analysis.publishing import tables

    levels = ess.national_levels(pd.DataFrame({"trust_police": [5.0, 6.0, 7.0] * 5, "eff_violence": 5.0}))
    resp = pd.DataFrame({"wave": ["baseline"] * 12, "pilot_area": "pilot", "trust_police": 4.0,
                         "eff_violence": 5.0, "weight": 1.0})
    bench = synthesis.benchmark_table(levels, resp, "brussels", synthetic=True, period="2014-2015")
    tables.write("benchmark", bench, synthetic=False, path=tmp_path / "benchmark.csv")
    back = tables.read("benchmark", path=tmp_path / "benchmark.csv")
    assert back.columns[0] == "data_status"
    is_ess = back["source"] == ess.SOURCE_CODE  # a code: nothing is parsed out of a sentence
    assert back.loc[~is_ess, "wave"].tolist() == ["baseline"] * 2 and back.loc[is_ess, "wave"].isna().all()
    assert (back.loc[is_ess, "data_status"] == ess.DATA_STATUS).all()
    assert (back.loc[~is_ess, "data_status"] == SYNTHETIC_NOTE).all()
    assert np.isfinite(back["mean"]).all()
