"""The national ESS benchmark goes through the codebook and reproduces the raw numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import codebook, ess


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
