"""The synthetic data generator: reproducible, faults as recorded, raw files readable
through the profile, a sample that needs weighting, coherent items, and planted effects
that a difference-in-differences recovers."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from scipy import stats

from analysis.inputs import codebook
from analysis.demo import synthetic as S
from analysis.config import CITIES, PATHS
from analysis.inputs.profile import load_profile

ITEMS = list(S.DK_RATE)


@pytest.fixture(scope="module")
def nantes():
    return load_profile("nantes")


@pytest.fixture(scope="module")
def frames(nantes):
    return S.generate_city(nantes, n_per_wave=1500)


def test_same_seed_same_frames(nantes, frames):
    again = S.generate_city(nantes, n_per_wave=1500)
    for name in ("residents", "officers", "activities", "faults", "truth"):
        pd.testing.assert_frame_equal(frames[name], again[name])
    other = S.generate_city(nantes, n_per_wave=1500, seed=1)
    assert not frames["residents"]["trust_police"].equals(other["residents"]["trust_police"])


def test_frames_follow_the_codebook(frames):
    res = frames["residents"]
    for v in codebook.RESIDENT_VARS:
        assert str(res[v.name].dtype) == codebook.PANDAS_DTYPES[v.kind], v.name
    assert res["respondent_id"].str.fullmatch(r"NA-1[45]-\d{5}").all()
    for name in ("officers", "activities"):
        cols = codebook.columns(name)
        assert list(frames[name].columns[: len(cols)]) == cols


def test_fault_counts_are_as_recorded(nantes, frames):
    res, log = frames["residents"], frames["faults"]
    rlog = log[log["dataset"] == "residents"]
    count = rlog["kind"].value_counts()
    n = len(res)
    assert res.duplicated(["respondent_id", "wave"]).sum() == count["duplicate"]
    bad_age = ~res["age"].between(codebook.AGE_MIN, codebook.AGE_MAX)
    assert bad_age.sum() == count["bad_age"]
    assert set(res.loc[bad_age, "age"]) <= set(S.BAD_AGES)
    assert (~res["neighbourhood"].isin(nantes.codes)).sum() == count["unknown_neighbourhood"]
    outside = pd.Series(False, index=res.index)
    for wave, w in nantes.waves.items():
        in_wave = res["wave"] == wave
        d = res["interview_date"].dt.date
        outside |= in_wave & ((d < w.start) | (d > w.end))
    assert outside.sum() == count["date_outside_window"]
    for item in ITEMS:
        assert res[item].isna().sum() == (rlog[(rlog["kind"] == "dont_know")
                                               & (rlog["column"] == item)]).shape[0], item
    faulty_rows = rlog[rlog["kind"] != "dont_know"]["row"].nunique()
    assert 0.01 <= faulty_rows / n <= 0.03  # "a small share (~1-3 %) of rows"
    off = frames["officers"]
    assert off.duplicated(["officer_id", "wave"]).sum() == 1
    assert (off["years_service"] > 45).sum() == 1


def test_no_faults_when_asked(nantes):
    clean = S.generate_city(nantes, n_per_wave=400, faults=False, dont_know=False)
    res = clean["residents"]
    assert clean["faults"].empty
    assert not res.duplicated(["respondent_id", "wave"]).any()
    assert res["neighbourhood"].isin(nantes.codes).all()
    assert res["age"].between(15, 110).all()
    assert res[[i for i in ITEMS if i != "contact_satisfaction"]].notna().all().all()


def test_label_faults_reach_the_raw_file(nantes, frames, tmp_path):
    S.write_raw(nantes, frames, tmp_path)
    raw = pd.read_csv(tmp_path / "enquete_habitants_2014_2015.csv", sep=";", encoding="latin-1",
                      dtype=str, keep_default_na=False)
    assert len(raw) == len(frames["residents"])
    odd = ~raw["SEXE"].isin(["Homme", "Femme"])
    log = frames["faults"]
    assert odd.sum() == (log["kind"] == "label_whitespace").sum()
    assert (raw.loc[odd, "SEXE"].str.strip().str.casefold().isin(["homme", "femme"])).all()
    # decimal commas in the fieldwork weight
    assert raw["POIDS_TERRAIN"].str.contains(",").mean() > 0.9
    assert (tmp_path / "SYNTHETIC_README.txt").read_text(encoding="utf-8").startswith("SYNTHETIC")


def test_sample_is_not_the_population(nantes, frames):
    """Respondents' age x gender shares differ from the margins (young men too few)."""
    res = frames["residents"]
    res = res[(res["wave"] == "baseline") & res["age_group"].notna()]
    sample = res.groupby(["gender", "age_group"]).size()
    pop = nantes.margins_frame().groupby(["gender", "age_group"])["population"].sum()
    share_s, share_p = sample / sample.sum(), pop / pop.sum()
    assert share_s[("male", "15-24")] < 0.8 * share_p[("male", "15-24")]
    assert share_s[("female", "65+")] > 1.1 * share_p[("female", "65+")]
    chi2 = stats.chisquare(sample.to_numpy(), share_p.reindex(sample.index).to_numpy() * sample.sum())
    assert chi2.pvalue < 1e-6


@pytest.mark.parametrize("city", ["nantes", "brussels", "lisbon"])
def test_items_cohere(city):
    frames = S.generate_city(load_profile(city), n_per_wave=2000, faults=False)
    res = frames["residents"]
    for wave, grp in res.groupby("wave"):
        alpha = codebook.cronbach_alpha(grp[["pj_respect", "pj_fair", "pj_explain"]])
        assert 0.7 <= alpha <= 0.85, (city, wave, alpha)
    assert res["trust_police"].astype(float).corr(res["pj_index"].astype(float)) > 0.4


def test_true_effect_api_returns_planted_values():
    assert S.true_effect("nantes", "trust_police") == S.TRUE_EFFECTS["nantes"]["trust_police"] == 0.5
    assert S.true_effect("nantes", "trust_police", "young") == pytest.approx(1.0)
    # pj_index: mean of the three 1-4 item effects rescaled to 0-10
    pj = np.mean([S.TRUE_EFFECTS["nantes"][i] for i in ("pj_respect", "pj_fair", "pj_explain")]) * 10 / 3
    assert S.true_effect("nantes", "pj_index") == pytest.approx(pj)
    assert S.true_effect("brussels", "contact_satisfaction", "police_contact") == pytest.approx(1.0)
    assert S.true_effect("lisbon", "feel_safe_dark", "shopkeeper") == pytest.approx(0.5)
    for ind in ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark", "willing_report",
                "off_youth_attitude"):
        assert S.true_effect("toulouse", ind) == 0.0  # the pilot that did not work
    assert S.time_trend("toulouse", "trust_police") > 0
    with pytest.raises(KeyError, match="nowhere"):
        S.true_effect("nowhere", "trust_police")


@pytest.mark.parametrize("city", CITIES)
def test_every_targeted_group_is_boosted(city):
    p = load_profile(city)
    assert set(p.pilot.targeted_groups) == set(S.CITY_SETTINGS[city].boosts)


def test_did_recovers_the_planted_effect_and_pre_post_does_not(nantes):
    """Known answer: with a large clean sample, DiD of trust_police is the planted effect
    (averaged over boosted and other residents); a naive pre/post adds the time trend."""
    fr = S.generate_city(nantes, n_per_wave=20_000, faults=False, dont_know=False)
    res = fr["residents"]
    m = res.groupby(["pilot_area", "wave"])["trust_police"].mean().astype(float)
    did = (m["pilot", "follow_up"] - m["pilot", "baseline"]) - (
        m["comparison", "follow_up"] - m["comparison", "baseline"])
    pre_post = m["pilot", "follow_up"] - m["pilot", "baseline"]
    truth = fr["truth"].set_index(["indicator", "group"])
    planted = truth.loc[("trust_police", "all"), "planted"]
    assert planted == pytest.approx(0.5 * 1.1, abs=0.06)  # ~10 % of residents are boosted young
    assert did == pytest.approx(planted, abs=0.12)
    assert pre_post - did == pytest.approx(S.time_trend("nantes", "trust_police"), abs=0.12)
    # realised effects on the rounded, bounded items stay close to the planted ones
    items = truth.loc[[(i, "all") for i in ITEMS]]
    assert (items["realised"] - items["planted"]).abs().max() < 0.05


def test_officer_effect_is_planted(nantes, frames):
    t = frames["truth"].set_index(["dataset", "indicator"]).loc["officers"]
    assert t.loc["off_youth_attitude", "planted"] == S.true_effect("nantes", "off_youth_attitude") == 0.4
    off = frames["officers"]
    both = off.groupby("officer_id")["wave"].nunique()
    assert (both == 2).sum() > 0.3 * off["officer_id"].nunique() / 2  # a panel part


def test_scales_to_large_samples():
    fr = S.generate_city(load_profile("milan"), n_per_wave=25_000)
    res = fr["residents"]
    assert len(res) > 50_000 and res["respondent_id"].is_unique is False
    assert res["trust_police"].between(0, 10).all()


# ------------------------------------------------------------------ shipped raw data
@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Every city generated afresh and written to a scratch folder (once per module)."""
    root = tmp_path_factory.mktemp("raw")
    out = {}
    for city in CITIES:
        p = load_profile(city)
        fr = S.generate_city(p)
        out[city] = (p, fr, S.write_raw(p, fr, root / city))
    return out

def _read(spec_file, path):
    """Minimal reading of a raw file as a careful reader following the profile would."""
    if spec_file.format == "csv":
        return pd.read_csv(path, sep=spec_file.delimiter, encoding=spec_file.encoding, dtype=str,
                           keep_default_na=False, skiprows=spec_file.skiprows)
    if spec_file.format == "xlsx":
        return pd.read_excel(path, sheet_name=spec_file.sheet or 0, skiprows=spec_file.skiprows,
                             dtype=str).fillna("")
    reader = pyreadstat.read_sav if spec_file.format == "sav" else pyreadstat.read_dta
    df, _ = reader(path, apply_value_formats=spec_file.value_labels)
    return df.astype(str)


def _norm(x: str) -> str:
    x = str(x).strip().casefold()
    return x[:-2] if x.endswith(".0") else x


@pytest.mark.parametrize("city", CITIES)
@pytest.mark.slow
def test_shipped_raw_files_read_back_through_the_profile(city, regenerated):
    """Gender, a rating item and the wave in every shipped residents file map back,
    through the profile's column names and labels, to the generator's codebook values."""
    p, fr, _ = regenerated[city]
    res = fr["residents"]
    spec = p.residents
    for f in spec.files:
        raw = _read(f, PATHS.raw_city(city) / f.path)
        mine = res[res["source_file"] == (f"{f.path}[{f.sheet}]" if f.sheet else f.path)]
        if f.wave is not None:
            mine = mine[mine["wave"] == f.wave]
        assert len(raw) == len(mine), f.path
        for col in ("gender", "pj_respect", "wave"):
            if col not in spec.columns:
                continue
            mapping = {_norm(k): v for k, v in spec.values.get(col, {}).items()}
            got = raw[spec.columns[col]].map(_norm)
            got = got.map(lambda x: mapping.get(x, x)) if mapping else got
            missing = {_norm(m) for m in spec.missing} | {str(c) for c in spec.item_missing} | {"", "nan"}
            keep = ~got.isin(missing).to_numpy()
            want = mine[col].astype(str).to_numpy()
            assert (got.astype(str).to_numpy()[keep] == want[keep]).all(), (city, f.path, col)


@pytest.mark.slow
def test_shipped_raw_data_equal_a_fresh_regeneration(regenerated):
    """Nobody hand-edits raw data: the shipped files are byte-identical to a regeneration."""
    for city, (_, _, paths) in regenerated.items():
        shipped = PATHS.raw_city(city)
        names = sorted(p.name for p in paths)
        assert sorted(x.name for x in shipped.iterdir() if x.is_file()) == names, city
        for path in paths:
            assert filecmp.cmp(path, shipped / path.name, shallow=False), f"{city}/{path.name} differs"


@pytest.mark.slow
@pytest.mark.parametrize("city", ["nantes", "lisbon"])
def test_cleaning_recovers_the_generated_values(city):
    """Contract with analysis.inputs.clean: every kept row, cleaned from the shipped raw files
    through the profile, equals the generator's codebook values."""
    from analysis.inputs import clean
    p = load_profile(city)
    cleaned = clean.clean_city(p, key=b"contract-test-key").respondents
    gen = S.generate_city(p)["residents"]
    m = cleaned.merge(gen, on=["source_file", "raw_row_number"], suffixes=("_c", "_g"))
    assert len(m) == len(cleaned) > 0.95 * len(gen)
    for col in ("wave", "interview_date", "neighbourhood", "age", "gender", "trust_police",
                "pj_respect", "feel_safe_dark", "willing_report", "pilot_aware", "legitimacy_index"):
        a, b = m[f"{col}_c"], m[f"{col}_g"]
        same = (a.astype(str) == b.astype(str)) | (a.isna() & b.isna())
        assert same.all(), (city, col, int((~same).sum()))
