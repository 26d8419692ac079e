"""The results contract: every published table has a schema, every producer's output passes
it on write and comes back the same on read, a broken table fails with a clear error, and
the report reads tables through it instead of guessing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_profile, resident_row, write_csv, write_profile

from analysis.publishing import report, tables
from analysis.publishing import report_inputs, report_tables
from analysis.statistics import (areas, estimates, evidence, implementation, impact, officers, simulation,
                                 synthesis, weights)
from analysis.statistics import ess, evaluation

SRC = Path(__file__).resolve().parents[1] / "src" / "analysis"


# ----------------------------------------------------------------------------- producers
@pytest.fixture(scope="module")
def produced() -> dict[str, pd.DataFrame]:
    """Every published table as its producer makes it, from a simulated city (DiD, 8 neighbourhoods)."""
    prof = simulation.simulated_profile(8)
    resp = simulation.simulate_respondents(8, 30, effect=0.5, seed=3)
    w = weights.city_weights(resp, prof)
    residents = impact.resident_effects(resp, prof, indicators=("trust_police",), B=99)
    off = officers.simulate_officers(60, seed=1)
    balance = impact.balance_table(resp, prof)
    impl = implementation.implementation_summary(None, prof)
    ev, _ = evidence.rate_evidence(residents, balance, impl, prof, trends=evidence.composition_trends(resp, prof))
    nb = estimates.neighbourhood_estimates(resp, w, prof, indicators=["trust_police"])
    # three cities from the one: the synthesis needs several
    impacts = pd.concat([residents.assign(city=c, estimate=residents["estimate"] + d,
                                          ci_low=residents["ci_low"] + d, ci_high=residents["ci_high"] + d)
                         for c, d in (("a", 0.0), ("b", 0.3), ("c", -0.2))], ignore_index=True)
    levels = ess.national_levels(pd.DataFrame({"trust_police": [5.0, 6.0, 7.0] * 5}), indicators=("trust_police",))
    return {
        "impact": pd.concat([residents, officers.officer_effects(off, prof, indicators=("off_public_support",))],
                            ignore_index=True),
        "evidence": ev,
        "implementation": impl["table"],
        "balance": balance,
        # as estimates.write_outputs publishes it
        "neighbourhoods": estimates.blank_small_counts(nb).drop(columns=["df"], errors="ignore"),
        "areas": areas.area_estimates(resp, w["weight"], prof, indicators=("trust_police",),
                                      weighting=weights.weights_method(w)),
        "weighting": weights.weighting_annex(resp, w, prof),
        "officers_sensitivity": officers.officer_sensitivity(off, prof, indicators=("off_public_support",), B=99),
        "pooled": synthesis.pooled_table(impacts, outcomes=("trust_police",)),
        "pooled_loo": synthesis.leave_one_out(impacts, outcomes=("trust_police",)),
        "coverage": pd.DataFrame([{"city": "a", "included": True, "reason": ""},
                                  {"city": "d", "included": False, "reason": "no_results"}]),
        "benchmark": synthesis.benchmark_table(levels, resp, "simulated", synthetic=True, period="2014-2015"),
        # the methods annex (placebo, reliability, cost), as analysis.running.steps.impact publishes it
        **evaluation.annex_tables(resp, prof, {"available": True, "participants": 120.0}, B=99),
    }


def test_every_published_table_has_a_schema():
    assert set(tables.SCHEMAS) >= {"impact", "evidence", "implementation", "balance", "neighbourhoods", "areas",
                                   "weighting", "officers_sensitivity", "pooled", "pooled_loo", "coverage",
                                   "benchmark"}
    for s in tables.SCHEMAS.values():
        assert s.pattern.startswith("reports/tables/") and s.pattern.endswith(".csv"), s.name
        assert set(s.key) <= set(s.names), s.name
        for c in s.columns:
            assert c.kind in tables.KINDS


def test_the_pipeline_writes_no_table_without_a_schema():
    """Every file the producers write under reports/tables is a declared one (the producers
    write through tables.write, which knows no other name)."""
    files = {s.file for s in tables.SCHEMAS.values()}
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r'tables\.write\("([a-z_]+)"', text):
            assert name in tables.SCHEMAS, (path.name, name)
        # no producer writes a published CSV around the contract
        if "statistics" in path.parts:
            assert "write_table(" not in text, path.name
    assert files == {"impact.csv", "evidence.csv", "implementation.csv", "balance.csv", "neighbourhoods.csv",
                     "areas.csv", "weighting.csv", "officers_sensitivity.csv", "pooled.csv", "pooled-loo.csv",
                     "coverage.csv", "benchmark.csv", "placebo.csv", "reliability.csv", "cost.csv"}


#: Tables declared for the methods annex, whose producer (evaluation.annex_tables) is on another branch.
ANNEX = ("placebo", "reliability", "cost")


@pytest.mark.parametrize("name", sorted(tables.SCHEMAS))
def test_every_schema_round_trips_its_producers_output(produced, name, tmp_path):
    from analysis.statistics import evaluation

    if name in ANNEX and not hasattr(evaluation, "annex_tables"):
        pytest.skip("the methods annex's producer is not in this tree yet")
    assert name in produced, f"add the output of {name}.csv's producer to the `produced` fixture"
    df = produced[name]
    assert len(df), name
    path = tables.write(name, df, synthetic=True, path=tmp_path / tables.schema(name).file)
    back = tables.read(name, path=path)
    s = tables.schema(name)
    assert [c for c in back.columns if c != "data_status"] == [n for n in s.names if n != "data_status"]
    assert len(back) == len(df)
    typed = tables.validate(df, name)
    for c in s.columns:
        if c.name not in df.columns:
            continue
        if c.kind == "float":  # written with 6 significant digits
            np.testing.assert_allclose(back[c.name].to_numpy(float), typed[c.name].to_numpy(float),
                                       rtol=1e-5, equal_nan=True, err_msg=f"{name}.{c.name}")
        elif c.kind == "int":
            # counts of respondents are published rounded (analysis.sdc): compare what was published
            assert back[c.name].isna().sum() >= typed[c.name].isna().sum(), f"{name}.{c.name}"
        else:
            assert back[c.name].astype(object).fillna("∅").astype(str).tolist() == \
                typed[c.name].astype(object).fillna("∅").astype(str).tolist(), f"{name}.{c.name}"


def test_cleaning_log_round_trips_through_its_schemas(city):
    from analysis.inputs.clean import clean_city
    from analysis.inputs.profile import load_profile

    _, raw = city
    rows = [resident_row(i) for i in range(20)]
    rows[6]["AGE"] = "3"
    write_csv(raw / "residents.csv", rows)
    res = clean_city(load_profile("testville"), key=b"test-key-0123456789abcdef")
    s = tables.cleaning_tables(res.log)
    files = s["files"]
    assert files["check"].all() and int(files["raw"].sum()) == 20 and int(files["rejected"].sum()) >= 1
    assert "impossible_age" in set(s["reasons"]["reason"])
    assert s["missingness"]["missing"].between(0, 1).all() and len(s["missingness"])
    # kept by the log's content, as a table is: the same frames from the kept file, never
    # those of another log, and a log in the wrong shape is refused every time
    tables._CHECKED.clear()
    again = tables.cleaning_tables(res.log)
    assert set(again) == set(s)
    for name, frame in s.items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)
    again["files"].loc[0, "raw"] = 0  # a caller's change to its copy is not kept
    assert int(tables.cleaning_tables(res.log)["files"]["raw"].sum()) == 20
    other = {**res.log, "files": [{**res.log["files"][0], "raw_rows": res.log["files"][0]["raw_rows"] + 1,
                                   "rejected": res.log["files"][0]["rejected"] + 1}]}
    assert int(tables.cleaning_tables(other)["files"]["raw"].sum()) == 21
    with pytest.raises(tables.TableError, match="expected 'files'"):
        tables.cleaning_tables({**res.log, "files": "not a list"})
    with pytest.raises(tables.TableError, match="expected 'files'"):
        tables.cleaning_tables({**res.log, "files": "not a list"})


# ----------------------------------------------------------------------------- codes, not sentences
def test_producers_write_codes_not_sentences(produced):
    imp = tables.validate(produced["impact"], "impact")
    assert set(imp["note_key"].dropna()) <= set(tables.NOTE_KEYS)
    assert set(imp["inference"].dropna()) <= set(tables.INFERENCES)
    ev = produced["evidence"]
    assert ev.loc[ev["rating"] == "design", "code"].tolist() == ["did"]
    assert pd.api.types.is_integer_dtype(ev["level"])
    assert pd.to_numeric(ev["value"], errors="coerce").notna().sum() == ev["value"].notna().sum()
    assert set(produced["balance"]["comparison"]) == {"pilot_vs_comparison_baseline"}
    assert set(produced["benchmark"]["source"]) == {"ess_r5_belgium", "city_survey"}
    assert produced["benchmark"].loc[produced["benchmark"]["source"] == "city_survey", "wave"].notna().all()
    assert set(produced["implementation"]["key"]) == {"no_log"}


def test_every_code_has_words_in_every_language():
    from analysis.publishing import text

    for code in tables.NOTE_KEYS:
        assert text.has_key(f"impact.note.{code}"), code
    for code in tables.INFERENCES:
        assert text.has_key(f"inference.{code}"), code
    for code in tables.DESIGNS:
        assert text.has_key(f"design.{code}"), code
    for code in ("in_pilot_areas", "in_pilot_period", "all", "no_log"):
        assert text.has_key(f"implementation.key.{code}"), code
    for code in tables.BENCHMARK_SOURCES:
        assert text.has_key(f"benchmark.source.{code}"), code
    for code in tables.EVIDENCE_CRITERIA:
        assert text.has_key(f"criterion.{code}"), code
    for code in tables.CONFIDENCE_REASONS:
        assert text.has_key(f"evidence.reason.{code}"), code


def test_notes_are_worded_at_render_time_in_each_language():
    row = {"note_key": "suppressed", "note_value": 10}
    assert report_tables.note_text(row, "en") == "suppressed: a design cell has fewer than 10 respondents"
    assert report_tables.note_text(row, "fr").startswith("masqué : une cellule du protocole compte moins de 10")
    row = {"note_key": "not_estimable", "not_estimable_reason": "ci_wider_than_scale"}
    assert "interval is wider than the outcome's whole scale" in report_tables.note_text(row, "en")
    assert "ci_wider_than_scale" not in report_tables.note_text(row, "fr")
    assert report_tables.note_text({"note_key": float("nan")}, "en") == ""
    assert report_tables.inference_text({"inference": "wcr_webb_enumerated", "inference_B": 216}, "en") \
        == "wild cluster bootstrap (WCR, Webb, all 216 sign patterns)"
    assert "bootstrap sauvage" in report_tables.inference_text({"inference": "crv1_officer"}, "fr") or \
        "MCO" in report_tables.inference_text({"inference": "crv1_officer"}, "fr")


def test_i2_unit_is_declared_and_checked():
    assert tables.schema("pooled").column("i2").unit == "share"
    assert tables.schema("pooled_loo").column("i2").unit == "share"
    assert report_tables.cell_text("i2", 0.64, "en") == "64"
    row = tables.order_columns(pd.DataFrame([dict(outcome="trust_police", group="all", designs="did",
                                                  headline=True, k=3, i2=64.0)]), "pooled")
    with pytest.raises(tables.TableError, match=r"pooled\.csv: column 'i2' \(row 0\) is a share"):
        tables.validate(row, "pooled")


def test_design_has_one_spelling_everywhere():
    found = []
    for path in list(SRC.rglob("*.py")) + list(SRC.rglob("*.yml")) + list(SRC.rglob("*.j2")):
        if "prepost" in path.read_text(encoding="utf-8"):
            found.append(path.name)
    assert found == []


# ----------------------------------------------------------------------------- clear errors
def _impact_row(**kw) -> pd.DataFrame:
    row = dict(city="x", population="residents", outcome="trust_police", group="all", design="did",
               estimate=0.4, ci_low=0.1, ci_high=0.7, n=800, status="estimated")
    row.update(kw)
    return tables.order_columns(pd.DataFrame([row]), "impact")


@pytest.mark.parametrize("change, message", [
    (dict(status="foo"), r"column 'status' \(row 0\) has code 'foo', expected one of \['estimated'"),
    (dict(design="prepost"), r"column 'design' \(row 0\) has code 'prepost', expected one of \['did', 'pre_post'"),
    (dict(n=12.5), r"column 'n' \(row 0\) has a value that is not a whole number; expected int"),
    (dict(estimate="high"), r"column 'estimate' \(row 0\) has a value that is not a number"),
    (dict(note_key="not estimable: the 95 % interval is wider"),
     r"column 'note_key' \(row 0\) has a value that is not a code: expected a code"),
    (dict(outcome=None), r"column 'outcome' \(row 0\) has a missing value"),
])
def test_a_wrong_value_is_a_clear_error_on_write(change, message, tmp_path):
    with pytest.raises(tables.TableError, match=message):
        tables.write("impact", _impact_row(**change), synthetic=True, path=tmp_path / "impact.csv")
    assert not (tmp_path / "impact.csv").exists()  # nothing half-valid is published


def test_a_sentence_is_never_quoted_in_an_error(tmp_path):
    with pytest.raises(tables.TableError) as err:
        tables.write("impact", _impact_row(note_key="suppressed: 7 respondents in AM03"), synthetic=True,
                     path=tmp_path / "impact.csv")
    assert "7 respondents" not in str(err.value) and "AM03" not in str(err.value)


def test_missing_unknown_columns_and_duplicate_keys_on_write(tmp_path):
    df = _impact_row()
    with pytest.raises(tables.TableError, match=r"required column\(s\) \['note_key'\] are missing"):
        tables.write("impact", df.drop(columns="note_key"), synthetic=True, path=tmp_path / "impact.csv")
    with pytest.raises(tables.TableError, match=r"column\(s\) \['note'\] are not in the 'impact' schema"):
        tables.write("impact", df.assign(note="x"), synthetic=True, path=tmp_path / "impact.csv")
    with pytest.raises(tables.TableError, match=r"key \['population', 'outcome', 'group'\] is not unique"):
        tables.write("impact", pd.concat([df, df]), synthetic=True, path=tmp_path / "impact.csv")


def test_a_broken_file_is_a_clear_error_on_read(tmp_path):
    path = tables.write("impact", pd.concat([_impact_row(), _impact_row(group="young")]), synthetic=True,
                        path=tmp_path / "impact.csv")
    good = path.read_text(encoding="utf-8")
    lines = good.splitlines()
    assert len(lines) == 3
    # a code changed by hand on the second data row: CSV line 3
    path.write_text(good.replace(",young,did,", ",young,prepost,"), encoding="utf-8")
    with pytest.raises(tables.TableError, match=r"impact\.csv: column 'design' \(line 3\) has code 'prepost'"):
        tables.read("impact", path=path)
    path.write_text(good.replace(",estimated,", ",foo,", 1), encoding="utf-8")
    with pytest.raises(tables.TableError, match=r"column 'status' \(line 2\) has code 'foo', expected one of"):
        tables.read("impact", path=path)
    header = lines[0].split(",")
    path.write_text("\n".join(",".join(v for h, v in zip(header, ln.split(",")) if h != "status")
                              for ln in lines) + "\n", encoding="utf-8")
    with pytest.raises(tables.TableError, match=r"required column\(s\) \['status'\] are missing"):
        tables.read("impact", path=path)
    path.write_text(good.replace(",800,", ",eight hundred,", 1), encoding="utf-8")
    with pytest.raises(tables.TableError, match=r"column 'n' \(line 2\) has a value that is not a number"):
        tables.read("impact", path=path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tables.read("impact", path=tmp_path / "nowhere.csv")


def test_a_checked_table_is_kept_by_content_and_never_served_stale(project):
    """The report step reads each table in several processes: a table that passed the contract
    is kept (data/interim/tables) under its bytes and the checking code, and comes back exactly
    as checked; new bytes are checked anew, a damaged kept copy is ignored, errors are not kept."""
    path = tables.write("impact", pd.concat([_impact_row(), _impact_row(group="young")]), synthetic=True,
                        path=project / "impact.csv")
    first = tables.read("impact", path=path)
    kept = sorted((project / "data" / "interim" / "tables").glob("*.pkl"))
    assert len(kept) == 1
    first.loc[0, "n"] = 1  # a caller's change to its copy is not kept
    tables._CHECKED.clear()  # as a new process: from the kept file
    again = tables.read("impact", path=path)
    fresh = tables.validate(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]), "impact",
                            on_read=True)
    pd.testing.assert_frame_equal(again, fresh, check_dtype=True, check_exact=True)
    assert list(again.dtypes.astype(str)) == list(fresh.dtypes.astype(str))
    assert again.loc[0, "n"] == 800
    # new bytes: checked anew, never the kept frame of the old ones
    path.write_text(path.read_text(encoding="utf-8").replace(",800,", ",790,", 1), encoding="utf-8")
    assert tables.read("impact", path=path).loc[0, "n"] == 790
    path.write_text(path.read_text(encoding="utf-8").replace(",young,did,", ",young,prepost,"), encoding="utf-8")
    with pytest.raises(tables.TableError, match=r"column 'design' \(line 3\) has code 'prepost'"):
        tables.read("impact", path=path)
    with pytest.raises(tables.TableError, match="has code 'prepost'"):  # the error is not kept either
        tables.read("impact", path=path)
    # a damaged kept file is checked again, not trusted
    blob = kept[0].read_bytes()
    kept[0].write_bytes(blob[:40] + bytes([blob[40] ^ 1]) + blob[41:])
    tables._CHECKED.clear()
    path.write_text(path.read_text(encoding="utf-8").replace(",young,prepost,", ",young,did,").replace(
        ",790,", ",800,", 1), encoding="utf-8")
    assert tables._checked_copy(kept[0].stem) is None
    pd.testing.assert_frame_equal(tables.read("impact", path=path), fresh, check_exact=True)
    assert tables._checked_copy(kept[0].stem) is not None  # rewritten whole


def test_report_turns_a_broken_table_into_a_reason(project):
    write_profile(project, make_profile())
    path = tables.schema("impact").path("testville")
    path.parent.mkdir(parents=True)
    path.write_text("city,population\ntestville,aliens\n", encoding="utf-8")
    df, why = report_inputs.read_table("impact", "testville")
    assert df is None and why.key == "na.unreadable"
    assert "required column(s)" in why.text("en") and "impact.csv" in why.text("en")
    df, why = report_inputs.read_table("evidence", "testville")
    assert df is None and why.key == "na.missing_file"


# ----------------------------------------------------------------------------- no guessing in the report
GUESSING = (
    (re.compile(r"^\s*_[A-Z_]*(KEYS|WORDS|ALIASES)\s*=", re.M), "an alias list (_…_KEYS = …)"),
    (re.compile(r"^\s*_(LEVEL|REASON)_COLUMNS\s*=", re.M), "an alias list of columns"),
    (re.compile(r"\bdef _?col\(|\bdef _first\("), "a column-name guesser"),
    (re.compile(r"_NOTES\b|criterion_key|_cleaning_summary_walk|other shapes"), "a parser of producers' text"),
    (re.compile(r"\.str\.(extract|contains|match|startswith)\("), "a regex over table cells"),
    (re.compile(r"pd\.read_csv\("), "a table read around the contract"),
)
#: words that name the producers' columns: a regex whose pattern or subject mentions one parses a table
TABLE_WORDS = re.compile(r"note|criterion|consequence|reason|evidence|rating|level|value|design|source|wave")


def guessing_in(source: str) -> list[str]:
    """What in ``source`` guesses at a producer's output: alias lists, and regexes applied to
    the text of evidence, notes or other table cells."""
    found = [f"{what}: {m.group(0).strip()!r}" for pat, what in GUESSING for m in pat.finditer(source)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re":
            args = " ".join(ast.unparse(a) for a in node.args)
            if TABLE_WORDS.search(args):
                found.append(f"a regex over table text: re.{node.func.attr}({args[:60]})")
    return found


def test_the_guessing_check_can_fail():
    bad = ('_RAW_KEYS = ("raw", "raw_rows")\n'
           'import re\n'
           'm = re.search(r"^not estimable: (?P<n>\\d+)", note)\n'
           'level = ev["value"].str.extract(r"(\\d+)")\n')
    found = guessing_in(bad)
    assert len(found) == 3, found


@pytest.mark.parametrize("module", ["report.py", "recommendations.py"])
def test_report_and_recommendations_do_not_guess(module):
    source = (SRC / "publishing" / module).read_text(encoding="utf-8")
    assert guessing_in(source) == []


def test_the_report_reads_every_table_through_the_contract(project, monkeypatch):
    from test_report import populate

    populate(project)
    read = []
    real = tables.read

    def spy(name, city=None, **kw):
        read.append((name, city))
        return real(name, city, **kw)

    monkeypatch.setattr(tables, "read", spy)
    report.build_context("en")
    names = {n for n, _ in read}
    assert names >= set(report_inputs.CITY_TABLES) | set(report_inputs.CROSS_TABLES) | {"coverage", "weighting"}
    assert ("impact", "testville") in read and ("impact", "brokenville") in read


def test_benchmark_codes_are_worded_in_the_report(produced):
    df = tables.validate(produced["benchmark"], "benchmark")
    fr = report_tables.benchmark_view(df, "fr")
    assert set(fr["area"]) == {"national", "quartiers de la ville"} and "non pondéré" in set(fr["weighting"])
    html = report_tables.table_html(fr, "fr")
    for code in ("ess_r5_belgium", "city_survey", "neighbourhoods", "unweighted"):
        assert code not in html, code


def test_schema_codes_agree_with_the_producers_own_lists():
    """A code a producer adds must be declared (and worded) before it can be published."""
    assert set(tables.STATUSES) == set(impact.STATUSES)
    assert set(tables.NOT_ESTIMABLE_REASONS) == {c for codes in impact.REASONS.values() for c in codes}
    assert set(tables.CONFIDENCE_REASONS) == set(evidence.REASON_EN) | {"not_assessed"}
    assert set(tables.CONFIDENCE_CODES) == set(evidence.CONFIDENCE.values())
    assert set(evidence.SMS_LEVEL) <= set(tables.DESIGNS)
    assert set(tables.AREA_TYPES) == set(areas.AREAS)
    assert {officers.CAVEAT_PANEL, officers.CAVEAT_INDEPENDENT} <= set(tables.NOTE_KEYS)
    assert officers.INFERENCE in tables.INFERENCES and ess.SOURCE_CODE in tables.BENCHMARK_SOURCES


def test_only_the_contract_reads_published_tables():
    """Outside the input readers, a CSV is read by tables.read (the disclosure check reads every
    published file as text, on purpose: it must see what a reader sees, schema or not)."""
    readers = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
                     if "read_csv(" in p.read_text(encoding="utf-8") and p.parent.name != "inputs")
    assert readers == ["publishing/disclosure.py", "publishing/tables.py"]
