"""The recommendations report: complete, translated, honest about synthetic data, robust
to a broken city, self-contained, and with recommendations that cite real sources."""

from __future__ import annotations

import functools
import shutil
import tempfile
import html as html_module
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from conftest import make_profile, write_profile

from analysis.publishing import text as tx
from analysis.publishing import pdf as printing, report_inputs
from analysis.publishing import manifest as manifest_mod
from analysis.publishing import recommendations as rc
from analysis.publishing import report
from analysis.config import PATHS
from analysis.publishing.figures import save_figure
from analysis.io import write_json
from analysis.publishing import tables

# a file of tens of seconds: handed to a worker first under pytest-xdist (tests/conftest.py)
pytestmark = pytest.mark.slow

# ----------------------------------------------------------------------------- fixtures
# Inputs are built through the producers (analysis.statistics.evidence.rate_evidence) or
# validated by the table contract (analysis.publishing.tables.write): a fixture that drifts
# from what the pipeline publishes fails here, not silently in the report.
EFFECT = dict(population="residents", design="did", std_error=0.1, p_value=0.01, inference="wcr_webb_enumerated",
              inference_B=4096, n=800, n_clusters=12, n_clusters_treated=6, min_cell=200, scale="0-10",
              diff_vs_rest=float("nan"), diff_p_value=float("nan"), status="estimated", estimable=True)


def _impact(city: str) -> pd.DataFrame:
    rows = [
        # improved, CI above 0: "recommend"
        dict(EFFECT, city=city, outcome="trust_police", group="all", estimate=0.62, ci_low=0.21, ci_high=1.03),
        # null: "no_large_effect"
        dict(EFFECT, city=city, outcome="pj_index", group="all", estimate=0.05, ci_low=-0.31, ci_high=0.41,
             p_value=0.78),
        # a group whose effect differs from the rest's: "for_whom"
        dict(EFFECT, city=city, outcome="trust_police", group="young", estimate=1.4, ci_low=0.6, ci_high=2.2,
             n=150, diff_vs_rest=0.9, diff_p_value=0.012, diff_status="estimated"),
        dict(EFFECT, city=city, population="officers", outcome="off_public_support", group="all",
             design="pre_post", estimate=0.3, ci_low=0.1, ci_high=0.5, n=60, n_clusters=60, scale="1-5",
             inference="crv1_officer", inference_B=float("nan"), note_key="partial_panel_clustered"),
    ]
    return tables.validate(tables.order_columns(pd.DataFrame(rows), "impact"), "impact")


def _evidence(city: str, design: str = "did", confidence: str = "high") -> pd.DataFrame:
    """``evidence.csv`` as :func:`analysis.statistics.evidence.rate_evidence` makes it.

    ``confidence="low"``: 8 neighbourhoods (few clusters) and weak implementation.
    """
    from types import SimpleNamespace

    from analysis.statistics import evidence

    low = confidence == "low"
    res = _impact(city)
    res = res[res["population"] == "residents"].assign(n_clusters=8 if low else 12)
    balance = pd.DataFrame({"variable": ["age"], "std_diff": [0.05], "used_in_rating": [True]})
    trends = pd.DataFrame({"variable": ["age"], "std_trend_diff": [0.02]})
    prof = SimpleNamespace(city=city, has_comparison=design == "did")
    table, _ = evidence.rate_evidence(res, balance, {"fidelity": 0.5 if low else 0.9}, prof, trends=trends)
    return tables.validate(table, "evidence")


def _neighbourhoods(city: str) -> pd.DataFrame:
    rows = []
    for code, area, n in (("101", "pilot", 120), ("102", "comparison", 7), ("103", "other", 90)):
        for wave in ("baseline", "follow_up"):
            rows.append(dict(city=city, neighbourhood=code, name=f"Quartier {code}", area_type=area, group="all",
                             wave=wave, indicator="trust_police", n=n, n_baseline=n, n_follow_up=n, n_eff=0.8 * n,
                             estimate=5.4321 if n >= 10 else 9.8765, se=0.25, ci_low=4.9, ci_high=5.9, shrunk=5.41,
                             gamma=0.7, suppressed=n < 10, status="suppressed" if n < 10 else "published"))
    return pd.DataFrame(rows)


CLEANING_LOG = {
    "city": "testville", "synthetic": True,
    "files": [{"dataset": "residents", "source_file": "residents.csv", "path": "residents.csv", "format": "csv",
               "raw_rows": 1000, "kept": 990, "rejected": 10,
               "rejected_by_reason": {"duplicate": 4, "impossible_age": 6}}],
    "totals": {"residents": {"raw": 1000, "kept": 990, "rejected": 10}},
    "missingness": {"residents": {
        "trust_police": {"collected": True, "n": 990, "blank": 10, "dont_know": 20, "missing": 30,
                         "missing_share": 0.0303},
        "tourist": {"collected": False, "n": 990, "blank": None, "dont_know": None, "missing": 990,
                    "missing_share": 1.0}}},
}


def _figure(city: str, fig_id: str, notebook: str, synthetic: bool = True) -> None:
    section = ("synthesis" if city == "cross-city" else "maps" if fig_id.startswith("map")
               else "quality" if notebook.startswith("01") else "effects")
    for lang in ("en", "fr"):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 1])
        title = {"en": f"Trust figure {fig_id}", "fr": f"Figure confiance {fig_id}"}[lang]
        save_figure(fig, city=city, fig_id=fig_id, title=title, caption=f"{title}: légende/caption {lang}.",
                    notebook=notebook, data_checksum="abc123", synthetic=synthetic, section=section, lang=lang)
        plt.close(fig)


@functools.lru_cache(maxsize=2)
def _rendered_figures(synthetic: bool) -> Path:
    """The test figures, drawn once per session in a scratch root (drawing is the slow part)."""
    root = Path(tempfile.mkdtemp(prefix="imppulse-figs-"))
    (root / "config" / "cities").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMPPULSE_ROOT", str(root))
        _figure("testville", "map-trust_police-change", "02-neighbourhoods.ipynb", synthetic)
        _figure("testville", "impact-trust_police", "03-impact.ipynb", synthetic)
        _figure("cross-city", "forest-trust_police", "04-compare-cities.ipynb", synthetic)
    return root / "reports" / "figures"


def _publish(name: str, df: pd.DataFrame, **kw) -> None:
    """Publish a hand-made table through the contract: the columns it leaves out are written
    empty, any other column, code or type the schema does not know is an error."""
    tables.write(name, tables.order_columns(df, name), **kw)


def populate(root, *, synthetic: bool = True, broken: bool = True) -> None:
    """A scratch project with one complete city, one broken city and the cross-city outputs."""
    write_profile(root, make_profile(synthetic=synthetic))
    city = "testville"
    tables.write("impact", _impact(city), city=city, synthetic=synthetic)
    tables.write("evidence", _evidence(city), city=city, synthetic=synthetic)
    tables.write("neighbourhoods", _neighbourhoods(city), city=city, synthetic=synthetic)
    _publish("implementation", pd.DataFrame([
        dict(city=city, section="by_type", key="meeting", activities=12, participants=340.0, share=0.6),
        dict(city=city, section="timeline", key="meeting", month="2015-02", activities=3),
        dict(city=city, section="fidelity", key="in_pilot_areas", share=0.8),
        dict(city=city, section="total", key="all", activities=20, participants=400.0),
    ]), city=city, synthetic=synthetic)
    tables.write("balance", pd.DataFrame([
        dict(city=city, comparison="pilot_vs_comparison_baseline", variable=v, mean_a=m, mean_b=m + 0.1,
             n_a=200, n_b=210, std_diff=-0.05, imbalanced=False, used_in_rating=True)
        for v, m in (("age", 44.0), ("female", 0.52), ("trust_police", 5.1))
    ]), city=city, synthetic=synthetic)
    write_json(PATHS.processed_city(city) / "cleaning_log.json", {**CLEANING_LOG, "synthetic": synthetic})
    # sidecars hold paths relative to the root: a copy is valid in any scratch root
    shutil.copytree(_rendered_figures(synthetic), PATHS.figures, dirs_exist_ok=True)
    _publish("pooled", pd.DataFrame([dict(outcome="trust_police", group="all", designs="did", headline=True,
                                              cities="a, b, c", k=3, estimate=0.4, ci_low=0.1, ci_high=0.7,
                                              tau2=0.21, i2=0.64)]), synthetic=synthetic)
    _publish("benchmark", pd.DataFrame([dict(data_status="real data: ESS", source="ess_r5_belgium",
                                                 area="national", indicator="trust_police", group="all",
                                                 mean=5.9)]), synthetic=False)
    if broken:
        write_profile(root, make_profile(city="brokenville", name="Brokenville", synthetic=synthetic))
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "narrative.md").write_text("# Reading\n\nThe committee's first reading.\n")
    (root / "reports" / "narrative.fr.md").write_text("# Lecture\n\nPremière lecture du comité.\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One scratch project and its reports, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("built") / "project"
    (root / "config" / "cities").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMPPULSE_ROOT", str(root))
        populate(root)
        paths = {lang: report.build_report(lang) for lang in ("en", "fr")}
        yield root, paths


class _Text(HTMLParser):
    """Visible text of an HTML page (no tags, attributes, CSS).

    With ``labels_only``, also leaves out identifiers (``<code>``) and data quoted in
    another language (``lang="en"`` inside the French page): what remains are labels.
    """

    VOID = {"img", "br", "meta", "hr", "input", "link"}

    def __init__(self, labels_only: bool = False):
        super().__init__()
        self.parts, self._stack, self.labels_only = [], [], labels_only

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        skip = tag in ("style", "script") or (self.labels_only and (
            tag == "code" or (tag != "html" and dict(attrs).get("lang") not in (None, "fr"))))
        self._stack.append(skip)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    @property
    def _skip(self):
        return any(self._stack)

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str, labels_only: bool = False) -> str:
    p = _Text(labels_only)
    p.feed(html)
    return re.sub(r"\s+", " ", " ".join(p.parts))


# ----------------------------------------------------------------------------- tests
def test_report_contains_every_figure_of_its_language(built):
    root, paths = built
    manifest = pd.read_csv(root / "reports" / "figures.csv")
    assert len(manifest) == 6  # 3 figures x 2 languages
    for lang, path in paths.items():
        html = path.read_text(encoding="utf-8")
        sources = re.findall(r'data-source="([^"]+)"', html)
        for row in manifest[manifest["lang"] == lang].itertuples():
            assert f'id="{rc.figure_anchor(row.city, row.figure_id)}"' in html
            # the embedded copy (SVG or downscaled PNG) of this language's files
            assert {row.png, row.svg} & set(sources), f"{row.png} not embedded in the {lang} report"
            assert row.caption.split(":")[0] in html
        other = "fr" if lang == "en" else "en"
        for row in manifest[manifest["lang"] == other].itertuples():
            assert not {row.png, row.svg} & set(sources)
        # every embedded copy is derived from its source, checked byte for byte
        assert manifest_mod.check_embedded(path) == []


def test_catalogue_complete_in_both_languages():
    cat = tx.catalogue()
    assert len(cat) > 100
    for key, texts in cat.items():
        assert set(texts) >= {"en", "fr"}, key
        assert texts["en"].strip() and texts["fr"].strip(), key
        assert tx.placeholders(texts["en"]) == tx.placeholders(texts["fr"]), key


def test_template_and_code_use_only_catalogue_keys():
    """Every t("…")/tr("…") key in the template and the code exists in the catalogue."""
    cat = tx.catalogue()
    sources = [report.TEMPLATES / "report.html.j2", report.HERE / "report.py", report.HERE / "recommendations.py"]
    used = set()
    for path in sources:
        used |= set(re.findall(r'\btr?\("([a-z_]+\.[a-z_.]+|[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert used, "no key found: the pattern is wrong"
    # a key ending in "." is a prefix completed at run time (t("wave." ~ w)): some key must start with it
    assert sorted(k for k in used if k not in cat and not (k.endswith(".") and any(c.startswith(k) for c in cat))) == []
    assert "city.officers_intro." in used
    for rule in ("recommend", "review", "no_large_effect", "evaluate_first", "strengthen_first", "for_whom",
                 "officers_change",
                 "officers_null", "pooled_effect", "pooled_null", "heterogeneous"):
        assert f"rec.{rule}" in cat and f"rule.{rule}" in cat


def test_french_report_has_no_untranslated_label(built):
    _, paths = built
    fr = visible_text(paths["fr"].read_text(encoding="utf-8"), labels_only=True)
    en = visible_text(paths["en"].read_text(encoding="utf-8"))
    french = " ".join(t["fr"] for t in tx.catalogue().values())
    leaked = []
    for key, texts in tx.catalogue().items():
        # the literal text before the first placeholder, when long enough to be telling
        head = re.split(r"\{[a-z_]+\}", texts["en"])[0].strip(" :;,.(")
        if len(head) < 4 or head in french:  # also a French word ("Sources", "Maryland … Scale")
            continue
        if re.search(rf"(?<![\w./-]){re.escape(head)}(?![\w./-])", fr):
            leaked.append((key, head))
    assert leaked == []
    # the check can fail: the same test on the English report finds English labels
    assert "Executive summary" in en and "Synthèse" in fr
    assert "Not available:" in en and "Non disponible :" in fr
    # French captions come from the .fr.json sidecars
    assert "Figure confiance impact-trust_police" in fr and "Trust figure impact-trust_police" not in fr


def test_synthetic_banner_on_first_page(built):
    _, paths = built
    for lang, path in paths.items():
        html = path.read_text(encoding="utf-8")
        banner = html.find('id="synthetic-banner"')
        assert 0 < banner < html.find('id="summary"') and banner < html.find("</header>")
    assert "SYNTHETIC demonstration data" in paths["en"].read_text(encoding="utf-8")
    assert "SYNTHÉTIQUES" in paths["fr"].read_text(encoding="utf-8")


def test_no_banner_for_real_data(project):
    populate(project, synthetic=False)
    for lang in ("en", "fr"):
        html = report.build_report(lang).read_text(encoding="utf-8")
        assert 'id="synthetic-banner"' not in html
        assert "SYNTHETIC" not in html.upper().replace("SYNTHÉTIQUE", "")


def test_data_status_belongs_to_each_city(project):
    """A real city beside a demo city: the cover names both, each city section says its own."""
    populate(project, synthetic=False, broken=False)
    # a second, complete city made from the demo data
    demo = "demoville"
    write_profile(project, make_profile(city=demo, name="Demoville", synthetic=True))
    for name in ("impact", "evidence", "neighbourhoods", "implementation", "balance"):
        df = tables.read(name, "testville").drop(columns="data_status", errors="ignore")
        tables.write(name, df.assign(city=demo), city=demo, synthetic=True)
    write_json(PATHS.processed_city(demo) / "cleaning_log.json", {**CLEANING_LOG, "synthetic": True})
    for lang, real_word, demo_word in (("en", "real survey data of the city", "synthetic demonstration data"),
                                       ("fr", "données d'enquête réelles de la ville",
                                        "données de démonstration synthétiques")):
        raw = report.build_report(lang).read_text(encoding="utf-8")
        assert ("mixes real and synthetic" if lang == "en" else "mêle données réelles et synthétiques") \
            in visible_text(raw)

        def section(city):
            start = raw.find(f'id="city-{city}"')
            assert start > 0
            return visible_text(raw[start:raw.find("</section>", start)])

        assert real_word in section("testville") and demo_word not in section("testville")
        assert demo_word in section(demo) and real_word not in section(demo)


def test_broken_city_is_reported_not_fatal(built):
    root, paths = built
    en = paths["en"].read_text(encoding="utf-8")
    section = en[en.find('id="city-brokenville"'):en.find("</section>", en.find('id="city-brokenville"'))]
    assert "Not available:" in section and "reports/tables/brokenville/impact.csv" in section
    # the complete city is reported in full
    assert 'id="city-testville"' in en and "Trust in the police" in en
    fr = paths["fr"].read_text(encoding="utf-8")
    assert "Non disponible : reports/tables/brokenville/impact.csv est introuvable" in visible_text(fr)


def test_unreadable_table_and_missing_profile_are_reported(project):
    populate(project)
    (PATHS.tables_city("testville") / "impact.csv").write_text("data_status,city\nx,testville\n")
    (PATHS.tables_city("ghosttown")).mkdir(parents=True)  # outputs, but no profile
    html = visible_text(report.build_report("en").read_text(encoding="utf-8"))
    assert "reports/tables/testville/impact.csv could not be read (reports/tables/testville/impact.csv: " \
           "required column(s) ['population', 'outcome'," in html
    assert "the city profile could not be loaded" in html


def test_recommendations_follow_the_rules_and_cite_existing_sources(built):
    root, paths = built
    impact = tables.read("impact", "testville")
    evidence = tables.read("evidence", "testville")
    manifest = pd.read_csv(root / "reports" / "figures.csv")
    recs = rc.city_recommendations("testville", impact, evidence, manifest, "Test pilot")
    recs += rc.pooled_recommendations(tables.read("pooled"), manifest)
    rules = [r.rule for r in recs]
    assert rules == ["recommend", "no_large_effect", "for_whom", "officers_change", "pooled_effect",
                     "heterogeneous"]
    html = paths["en"].read_text(encoding="utf-8")
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    for r in recs:
        assert r.sources, r.rule
        for s in r.sources:
            if s.kind == "table":
                assert (root / s.ref).is_file(), s.ref
            else:
                assert s.ref in set(manifest.loc[manifest["city"] == s.city, "figure_id"]), s.ref
            assert s.anchor in ids, s.anchor
        assert r.text("en") in html_module.unescape(html)
    assert "impact-trust_police" in [s.ref for s in recs[0].sources]
    # every internal link of the report lands somewhere
    assert {h for h in re.findall(r'href="#([^"]+)"', html)} <= ids
    assert "+0.62 (95 % CI 0.21 to 1.03; 0–10 scale)" in recs[0].text("en")
    assert "+0,62 (IC à 95 % 0,21 à 1,03 ; échelle 0–10)" in recs[0].text("fr")


@pytest.mark.parametrize("ci, level, rule", [
    ((0.2, 1.0), 3, "recommend"),
    ((-1.0, -0.2), 3, "review"),
    ((-0.3, 0.4), 3, "no_large_effect"),
    ((0.2, 1.0), 2, "evaluate_first"),
    ((0.2, 1.0), None, "evaluate_first"),
])
def test_classification_rules(ci, level, rule):
    assert rc.classify({"ci_low": ci[0], "ci_high": ci[1]}, level) == rule


def test_evidence_level_read_from_the_producers_table():
    assert rc.evidence_level(_evidence("x")) == (3, "")
    assert rc.evidence_level(_evidence("x", "pre_post"))[0] == 2
    level, reasons = rc.evidence_level(_evidence("x", confidence="low"))
    assert level == 3 and reasons == "few_clusters; low_fidelity"  # codes: the report words them
    assert rc.evidence_confidence(_evidence("x", confidence="low")) == ("low", ["few_clusters", "low_fidelity"])
    assert rc.evidence_level(None) == (None, "")
    # one spelling per design, nothing guessed from free text
    assert rc.design_kind("pre_post") == "pre_post" and rc.design_kind("did") == "did"
    assert rc.design_kind("before/after in the pilot areas, no comparison area") == "unknown"
    assert rc.design_kind("prepost") == "unknown"


def test_weak_design_city_gets_evaluate_or_strengthen_first(project):
    populate(project, broken=False)
    # a comparison design (level 3) held with low confidence (few clusters, weak implementation):
    # strengthen, naming why
    tables.write("evidence", _evidence("testville", confidence="low"), city="testville", synthetic=True)
    html = visible_text(report.build_report("en").read_text(encoding="utf-8"))
    assert ("Testville: strengthen the evaluation of “Test pilot” before scaling it up — comparison design, "
            "level 3, but not enough to attribute these estimates to the pilot because of: few clusters; "
            "weak implementation") in html
    assert "continue and consider extending" not in html
    fr = visible_text(report.build_report("fr").read_text(encoding="utf-8"))
    assert "mise en œuvre faible" in fr and "peu de grappes" in fr
    # no comparison area: evaluate with one
    tables.write("impact", _impact("testville").assign(design="pre_post"), city="testville", synthetic=True)
    tables.write("evidence", _evidence("testville", "pre_post"), city="testville", synthetic=True)
    html = visible_text(report.build_report("en").read_text(encoding="utf-8"))
    assert "Testville: evaluate “Test pilot” with a comparison group before scaling it up" in html
    assert "strengthen the evaluation" not in html


def test_small_neighbourhood_cells_are_never_shown(built):
    _, paths = built
    for path in paths.values():
        html = path.read_text(encoding="utf-8")
        assert "9.877" not in html and "9,877" not in html  # the n = 7 comparison cell
        assert "5.432" in html or "5,432" in html


def test_cleaning_log_rows_and_reasons(built):
    _, paths = built
    en = visible_text(paths["en"].read_text(encoding="utf-8"))
    assert "Raw rows: 1000; kept: 990; rejected: 10." in en
    assert "Every raw row is accounted for" in en and "impossible age" in en
    assert "Tourist" not in en.split("Items with the most missing answers")[1].split("Neighbourhood maps")[0]
    fr = visible_text(paths["fr"].read_text(encoding="utf-8"))
    assert "âge impossible" in fr


def test_cleaning_summary_reads_the_one_shape_clean_writes():
    s = report_inputs.cleaning_summary(CLEANING_LOG)
    assert s["files"].to_dict("records") == [dict(dataset="residents", file="residents.csv", raw=1000, kept=990,
                                                  rejected=10, check=True)]
    assert s["reasons"]["rows"].tolist() == [4, 6]
    assert s["missingness"]["variable"].tolist() == ["trust_police"]  # "tourist" was never collected
    # any other shape is an error naming what is wrong, not a guess
    with pytest.raises(tables.TableError, match="expected 'files'"):
        report_inputs.cleaning_summary({"residents": {"a.csv": {"raw": 10, "kept": 8}}})
    bad = {**CLEANING_LOG, "files": [{**CLEANING_LOG["files"][0]}]}
    del bad["files"][0]["raw_rows"]
    with pytest.raises(tables.TableError, match=r"files\[0\] lacks or has a bad 'raw_rows'"):
        report_inputs.cleaning_summary(bad)


def test_html_is_self_contained(built):
    _, paths = built
    for path in paths.values():
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html, re.I)
        assert "<script" not in html.lower() and "<link" not in html.lower()
        assert "@import" not in html and "url(" not in html
        assert "<style>" in html and len(re.findall(r'src="data:image/(png|svg\+xml);base64,', html)) == 3
        assert 'font-family: "DejaVu Sans"' in html  # CSS inlined verbatim, not HTML-escaped


def test_narrative_included_and_escaped(project):
    populate(project)
    (project / "reports" / "narrative.md").write_text("## Committee\n\nText <script>alert(1)</script>\n")
    html = report.build_report("en").read_text(encoding="utf-8")
    assert "Committee" in html and "<script>" not in html and "&lt;script&gt;" in html


def test_a_narrative_edit_re_renders_from_the_kept_context(project, monkeypatch):
    """The report's context, narrative aside, is kept under a digest of everything else: an
    edit of the narrative alone gives the report a fresh build gives, without rebuilding
    the context; another digest, or a damaged kept file, builds it again."""
    populate(project)
    frame = manifest_mod.build_manifest(write=False)
    cold = report.render_html("en", frame)
    assert report.render_html("en", frame, keep="k1") == cold
    kept = report.kept_context_path("en")
    assert kept.is_file() and not report.kept_context_path("fr").exists()

    (project / "reports" / "narrative.md").write_text("# Reading\n\nThe committee adds a sentence.\n")
    fresh = report.render_html("en", frame)
    assert "adds a sentence" in fresh and fresh != cold
    build = report._base_context
    monkeypatch.setattr(report, "_base_context", lambda *a, **k: pytest.fail("the kept context was not used"))
    assert report.render_html("en", frame, keep="k1") == fresh  # read back: nothing but the narrative rebuilt
    with pytest.raises(pytest.fail.Exception):
        report.render_html("en", frame, keep="k2")  # another digest: built again
    with pytest.raises(pytest.fail.Exception):
        report.render_html("en", frame.iloc[:-1], keep="k1")  # another manifest: built again

    monkeypatch.setattr(report, "_base_context", build)
    blob = bytearray(kept.read_bytes())
    blob[-40] ^= 0xFF
    kept.write_bytes(bytes(blob))
    assert report.render_html("en", frame, keep="k1") == fresh  # damaged: built again, not trusted
    assert report._read_kept(kept, report._context_key("k1", "en", frame)) is not None  # and kept anew


def test_the_kept_context_s_digest_leaves_out_the_narratives_alone(project):
    from analysis.running import pipeline

    populate(project)
    rep = pipeline.REPORT

    def digests():
        return (pipeline.input_digest(rep, rep)[0],
                pipeline.input_digest(rep, rep, leave_out=pipeline.narrative_files())[0])

    full, keep = digests()
    assert full != keep
    (project / "reports" / "narrative.fr.md").write_text("# Lecture\n\nLe comité ajoute une phrase.\n")
    full2, keep2 = digests()
    assert full2 != full and keep2 == keep
    stamp = project / "reports" / ".stamps" / "nantes" / "03-impact"  # a city's step ran on new inputs
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps({"inputs": "new", "outputs": []}))
    full3, keep3 = digests()
    assert full3 != full2 and keep3 != keep2
    # the report reads the profiles itself: an edited or removed profile is a new report,
    # even run outside make (no prepare) and while the city's old stamps remain
    profiles = sorted((project / "config" / "cities").glob("*.yml"))
    assert profiles
    profiles[0].write_text(profiles[0].read_text() + "# edited\n")
    _, keep4 = digests()
    profiles[0].unlink()
    _, keep5 = digests()
    assert len({keep3, keep4, keep5}) == 3


def test_the_kept_context_follows_the_catalogue_in_force(project, tmp_path):
    """An extra catalogue folder (a trial language) is read by the report but is no step's
    input: the kept context's key follows the catalogue itself."""
    from analysis.publishing import text as txt

    populate(project)
    frame = manifest_mod.build_manifest(write=False)
    before = report._context_key("k", "en", frame)
    folder = tmp_path / "trial"
    folder.mkdir()
    (folder / "it.yml").write_text("coverage.sentence:\n  it: \"Città usate: {used}. Escluse: {left_out}.\"\n")
    txt.use_catalogue_dir(folder)
    try:
        assert report._context_key("k", "en", frame) != before
    finally:
        txt.use_catalogue_dir(None)
    assert report._context_key("k", "en", frame) == before


def test_pdf_without_chromium_says_how_to_get_it(built, monkeypatch, capsys):
    monkeypatch.setattr(printing, "find_chromium", lambda: None)
    monkeypatch.setattr(printing, "find_weasyprint", lambda: None)
    assert printing.build_pdf() is None
    out = capsys.readouterr().out
    assert "pip install weasyprint" in out and "apt-get install chromium" in out
    assert report.main(["--pdf"]) == 0


@pytest.mark.skipif(printing.find_chromium() is None, reason="chromium not installed")
def test_pdf_with_chromium(built):
    root, _ = built
    pdf = printing.build_pdf(engine="chromium")
    assert pdf == root / "reports" / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert not [p for p in pdf.parent.iterdir() if p.name.endswith(".tmp")]


def test_cli_builds_one_language(project):
    populate(project)
    assert report.main(["--lang", "fr"]) == 0
    assert (project / "reports" / "report.fr.html").is_file()
    assert not (project / "reports" / "report.html").exists()
    assert (project / "reports" / "figures.csv").is_file()


def test_same_inputs_same_report(built):
    _, paths = built
    first = paths["en"].read_bytes()
    assert report.build_report("en").read_bytes() == first


def test_empty_project_still_builds(project):
    html = report.build_report("fr").read_text(encoding="utf-8")
    assert "Non disponible" in html and 'id="synthetic-banner"' not in html
    json.dumps(tx.catalogue())  # the catalogue is plain data


# ----------------------------------------------------------------------------- explorer
def test_explore_reads_published_table_and_hides_small_cells(project):
    from analysis.publishing import explore

    tables.write("neighbourhoods", _neighbourhoods("testville"), city="testville", synthetic=True)
    table = explore.load_table("testville")
    small = table[table["neighbourhood"] == "102"]
    assert small["estimate"].isna().all() and small["n"].isna().all() and small["suppressed"].all()
    assert explore.options(table) == {"indicator": ["trust_police"], "wave": ["baseline", "follow_up"],
                                      "group": ["all"]}
    rows = explore.selection(table, "trust_police", "baseline")
    assert rows["estimate"].tolist()[0] == 5.432  # rounded to 3 decimals
    with pytest.raises(ValueError, match="wave='change' is not in the table"):
        explore.selection(table, "trust_police", "change")
    # the trend by area now comes from the published area table (areas.csv), estimated from
    # respondents the same way in both waves: tests/test_dashboard.py checks it against brute force


def test_explore_missing_table_says_which_step(project):
    from analysis.publishing import explore

    with pytest.raises(FileNotFoundError, match="02-neighbourhoods.ipynb"):
        explore.load_table("nowhere")


def test_french_report_uses_the_profiles_french_pilot_texts(project):
    populate(project, broken=False)
    prof = make_profile()
    prof["pilot"] = {**prof["pilot"],
                     "kind": "youth-police dialogue", "kind_fr": "dialogue jeunes-police",
                     "description": "Monthly meetings between officers and young people.",
                     "description_fr": "Réunions mensuelles entre policiers et jeunes.",
                     "published_context": "Published in the project's final report.",
                     "published_context_fr": "Publié dans le rapport final du projet."}
    write_profile(project, prof)
    fr_html = report.build_report("fr").read_text(encoding="utf-8")
    en_html = report.build_report("en").read_text(encoding="utf-8")
    fr, en = visible_text(fr_html), visible_text(en_html)
    for field in ("kind", "description", "published_context"):
        french, english = prof["pilot"][f"{field}_fr"], prof["pilot"][field]
        assert french in fr and english not in fr, field
        assert english in en and french not in en, field
    # French profile text is marked as French, not as quoted English
    assert '<p lang="fr">Réunions mensuelles entre policiers et jeunes.</p>' in fr_html
    assert '<span lang="fr">dialogue jeunes-police</span>' in fr_html
    assert '<p lang="en">Monthly meetings between officers and young people.</p>' in en_html
    # the executive summary names the pilot kind in French too
    summary = fr_html[fr_html.index('id="summary"'):fr_html.index('id="committee-reading"')]
    assert "(dialogue jeunes-police)" in summary and "youth-police dialogue" not in summary


def test_french_report_falls_back_to_english_pilot_texts(project):
    populate(project, broken=False)  # the test profile has no French texts
    html = report.build_report("fr").read_text(encoding="utf-8")
    assert '<span lang="en">youth-police dialogue</span>' in html and '<p lang="en">test</p>' in html


# ----------------------------------------------------------------------------- print: numbering, header, PDF
def _status_by_section(html: str) -> dict[str, str]:
    """The running-header text each part of the report carries, by the part's id."""
    out = {}
    for m in re.finditer(r'<(?:section|header)[^>]* id="([^"]+)">\s*<div class="running-status"[^>]*>(.*?)</div>',
                         html, re.S):
        out[m.group(1)] = m.group(2).strip()
    return out


def test_figures_and_tables_numbered_and_cross_referenced(built):
    _, paths = built
    for lang, word_fig, word_tab in (("en", "Figure", "Table"), ("fr", "Figure", "Tableau")):
        html = paths[lang].read_text(encoding="utf-8")
        figs = re.findall(rf'<figcaption><span class="num">{word_fig} (\d+)\.</span>', html)
        assert figs == [str(i) for i in range(1, 4)]  # 3 figures, numbered in document order
        assert html.count("<figcaption>") == len(figs)
        tabs = re.findall(rf'<caption><span class="num">{word_tab} (\d+)\.</span>', html)
        assert tabs == [str(i) for i in range(1, len(tabs) + 1)] and len(tabs) == html.count('<table class="data"')
        # the link to the neighbourhood table reads that table's number
        anchor = rc.table_anchor("testville", "neighbourhoods")
        number = re.search(rf'<table class="data" id="{anchor}"><caption><span class="num">{word_tab} (\d+)\.', html)
        assert number and f'href="#{anchor}" title="{anchor}">{word_tab} {number.group(1)}</a>' in html
        # recommendations cite numbered figures and tables, not file names
        recs = html[html.index('id="recommendations"'):]
        assert re.search(rf'class="xref" href="#[^"]+" title="[^"]*">({word_fig}|{word_tab}) \d+</a>', recs)
        # figures print at a width that keeps their text >= 7 pt, never wider than the column
        widths = [float(w) for w in re.findall(r'<img [^>]*style="width: ([0-9.]+)in"', html)]
        assert len(widths) == 3 and all(0 < w <= 7.0 for w in widths)


def test_running_header_only_on_parts_made_from_demo_data(project):
    populate(project, broken=False)
    # a real city next to the demo one: its pages carry no "synthetic" header
    write_profile(project, make_profile(city="realville", name="Realville", synthetic=False))
    html = report.render_html("en")
    status = _status_by_section(html)
    assert status["city-testville"] == "synthetic demonstration data"
    assert status["city-realville"] == ""
    assert status["summary"] == "synthetic demonstration data"  # made from both: the demo city is in it
    assert status["annex-codebook"] == ""  # text only, no data
    fr = _status_by_section(report.render_html("fr"))
    assert fr["city-testville"] == "données de démonstration synthétiques" and fr["city-realville"] == ""


def test_no_running_header_for_real_data(project):
    populate(project, synthetic=False, broken=False)
    assert set(_status_by_section(report.render_html("en")).values()) == {""}


@pytest.mark.skipif(printing.find_weasyprint() is None, reason="weasyprint not installed")
def test_pdf_in_both_languages_with_page_numbers_toc_bookmarks_and_header(built):
    root, _ = built
    pdfs = printing.build_pdfs()
    assert pdfs == [root / "reports" / "report.pdf", root / "reports" / "report.fr.pdf"]
    for pdf in pdfs:
        assert pdf.read_bytes()[:5] == b"%PDF-"
    # bookmarks from the headings: the title, each part (h2), each section (h3); not h4
    doc = printing.find_weasyprint().HTML(filename=str(root / "reports" / "report.html")).render()
    tree = doc.make_bookmark_tree()
    labels = [b[0] for b in tree]  # (label, target, children, state)
    assert "Executive summary" in labels and "Testville" in labels and len(labels) >= 8
    sections = [b[0] for b in tree[labels.index("Testville")][2]]
    assert "Effects on residents" in sections and "Cleaning" not in sections
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: page text not checked")
    import subprocess

    for pdf, word, status in ((pdfs[0], "Executive summary", "SYNTHETIC DEMONSTRATION DATA"),
                              (pdfs[1], "Synthèse", "DONNÉES DE DÉMONSTRATION SYNTHÉTIQUES")):
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        pages = text.split("\f")[:-1]
        assert len(pages) > 3
        assert re.search(rf"{word}[ .]+2\b", pages[0])  # table of contents with page numbers
        for i, page in enumerate(pages[1:], start=2):
            assert re.search(rf"\b{i} / {len(pages)}\b", page), f"page {i} has no page number"
        assert status in pages[1]


def test_list_of_figures_gives_every_figure_by_number(built):
    _, paths = built
    html = paths["en"].read_text(encoding="utf-8")
    index = re.search(r'<ol class="figure-index">(.*?)</ol>', html, re.S).group(1)
    entries = re.findall(r'<li data-page="#([^"]+)"><a class="xref" href="#\1" title="[^"]*">Figure (\d+)</a> — ([^<]+)</li>',
                         index)
    assert [n for _, n, _ in entries] == ["1", "2", "3"]
    for anchor, n, title in entries:  # the same number and title as under the figure itself
        assert re.search(rf'<figure id="{anchor}">.*?<span class="num">Figure {n}\.</span> <strong>{re.escape(title)}',
                         html, re.S)


def test_city_report_has_that_city_only_in_its_languages(project):
    """`make report CITY=x`: the city's own report, in its profile's languages, no synthesis."""
    populate(project)  # testville (profile languages: fr) and brokenville
    paths = report.build_city_report("testville")
    assert [p.name for p in paths] == ["report.fr.html"]
    assert paths[0].parent == PATHS.reports / "cities" / "testville"
    html = paths[0].read_text(encoding="utf-8")
    assert 'id="city-testville"' in html and 'id="city-brokenville"' not in html
    assert 'id="cross-city"' not in html and 'href="#cross-city"' not in html
    assert 'lang="fr"' in html and "Annexe A" in html
    # the full report still has both cities and the synthesis
    full = report.build_report("en").read_text(encoding="utf-8")
    assert 'id="city-brokenville"' in full and 'id="cross-city"' in full


@pytest.mark.skipif(printing.find_weasyprint() is None or shutil.which("pdftotext") is None,
                    reason="weasyprint or pdftotext not installed")
def test_print_css_puts_the_header_on_demo_pages_only(tmp_path):
    """The report's own CSS: a real city's pages, continuation pages included, carry no header."""
    import subprocess

    css = (report.TEMPLATES / "report.css").read_text(encoding="utf-8")
    long = "<p>x</p>" * 80  # more than one page
    html = (f"<html><head><style>{css}</style></head><body>"
            f'<section class="city synthetic" id="a"><div class="running-status">synthetic demonstration data</div>'
            f"<h2>Demo city</h2>{long}</section>"
            f'<section class="city real" id="b"><div class="running-status"></div><h2>Real city</h2>{long}</section>'
            f"</body></html>")
    pdf = tmp_path / "r.pdf"
    printing.find_weasyprint().HTML(string=html).write_pdf(str(pdf))
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")[:-1]
    real_from = next(i for i, p in enumerate(pages) if "Real city" in p)
    assert real_from >= 2 and len(pages) >= real_from + 2  # both parts run over several pages
    for i, page in enumerate(pages):
        assert ("SYNTHETIC DEMONSTRATION DATA" in page) == (i < real_from), f"page {i + 1}"


def test_synthesis_names_the_cities_it_leaves_out(project):
    """Every city with a profile is used when it has results; the others are named, with why."""
    from analysis.statistics import synthesis

    populate(project)  # testville has results, brokenville none
    cov = synthesis.coverage()
    assert cov.set_index("city").loc["brokenville", "reason"] == "no_results"
    assert bool(cov.set_index("city").loc["testville", "included"])
    tables.write("coverage", cov, synthetic=True)
    en = visible_text(report.build_report("en").read_text(encoding="utf-8"))
    assert "Cities in this synthesis: Testville. Left out: Brokenville (no impact results yet)." in en
    fr = visible_text(report.build_report("fr").read_text(encoding="utf-8"))
    assert "Laissées de côté : Brokenville (pas encore de résultats d'impact)" in fr


# ------------------------------------------------- labels that tell the truth (audit L1, L3, L4)
def test_not_estimable_cell_is_worded_with_its_reason_never_as_na_numbers():
    rows = pd.DataFrame([
        dict(EFFECT, city="x", outcome="trust_police", group="all", design="pre_post", estimate=0.85,
             ci_low=0.19, ci_high=1.53, status="estimated", not_estimable_reason=""),
        dict(EFFECT, city="x", outcome="contact_satisfaction", group="all", design="pre_post",
             estimate=float("nan"), ci_low=float("nan"), ci_high=float("nan"), status="not_estimable",
             not_estimable_reason="ci_wider_than_scale", scale="1-5"),
    ])
    recs = rc.city_recommendations("x", rows, _evidence("x", "pre_post"))
    assert {r.rule for r in recs} == {"evaluate_first", "not_estimable"}
    for lang in ("en", "fr"):
        text = " ".join(r.text(lang) for r in recs)
        assert "n/a" not in text and "n.d." not in text
    ne = next(r for r in recs if r.rule == "not_estimable")
    assert "not estimable with this design (the 95 % interval is wider than the outcome's whole scale)" \
        in ne.text("en")
    assert "non estimable avec ce protocole d'évaluation (l'intervalle à 95 % est plus large" in ne.text("fr")
    ev = next(r for r in recs if r.rule == "evaluate_first")
    assert "Satisfaction" not in ev.text("en") and "+0.85" in ev.text("en")
    # a missing interval is not "an interval that includes 0": never "no large effect"
    assert rc.classify({"estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}, 3) \
        == "not_estimable"
    assert rc.classify({"status": "not_estimable", "ci_low": -0.2, "ci_high": 0.3}, 3) == "not_estimable"
    # every reason code of impact.csv has words in both languages
    from analysis.statistics import impact

    for code in {c for codes in impact.REASONS.values() for c in codes}:
        assert tx.has_key(f"rec.reason.{code}"), code
        row = {"outcome": "trust_police", "status": "not_estimable", "not_estimable_reason": code}
        assert code not in rc.effect_text(row, "en") and code not in rc.effect_text(row, "fr")


def test_no_large_effect_bounds_each_outcome_on_its_own_scale():
    rows = pd.DataFrame([
        dict(EFFECT, city="x", outcome="trust_police", group="all", estimate=0.7, ci_low=-0.3, ci_high=1.3),
        dict(EFFECT, city="x", outcome="feel_safe_dark", group="all", estimate=0.1, ci_low=-0.14,
             ci_high=0.41, scale="1-4"),
    ])
    rec = next(r for r in rc.city_recommendations("x", rows, _evidence("x")) if r.rule == "no_large_effect")
    en, fr = rec.text("en"), rec.text("fr")
    assert "1.30 points on Trust in the police (0–10 scale)" in en  # the scale once, not "(0-10) (0–10 scale)"
    assert "0.41 points on Feels safe walking alone after dark (1–4 scale)" in en
    assert "0,41 points sur" in fr and "échelle 1–4" in fr
    # the old sentence compared the largest bound across scales: one number for both
    assert "effects larger than 1.30 points are unlikely" not in en


def test_impact_captions_follow_the_weighting_method(monkeypatch):
    from types import SimpleNamespace

    from analysis.publishing import figures, impact_figures
    from analysis.statistics import implementation as imp

    captions = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, **kw: captions.append((kw["fig_id"], kw["caption"])))
    monkeypatch.setattr(impact_figures, "plot_effects", lambda *a, **k: plt.figure())
    monkeypatch.setattr(impact_figures, "plot_group_effects", lambda *a, **k: plt.figure())
    monkeypatch.setattr(imp, "plot_timeline", lambda *a, **k: plt.figure())
    res = pd.DataFrame({"group": ["all"], "n": [800], "estimate": [0.1]})
    for method, en_word, fr_word, absent in (
            ("unweighted_no_margins", "unweighted", "non pondéré", ("raked", "calage")),
            ("raked_population", "raked to the profile's population margins", "calage", ("unweighted",))):
        captions.clear()
        ev = SimpleNamespace(city="x", synthetic=True, design="did", weighting=method, residents=res,
                             officers=pd.DataFrame(), impact=res, implementation={"table": pd.DataFrame()})
        impact_figures.save_impact_figures(ev, profile=None)
        cap_en, cap_fr = [c for f, c in captions if f == "impact-residents"]
        assert en_word in cap_en and fr_word in cap_fr
        for word in absent:
            assert word not in cap_en and word not in cap_fr
        if method == "unweighted_no_margins":
            assert "; weighted" not in cap_en and "; pondéré" not in cap_fr
    plt.close("all")


def test_narrative_says_officers_are_compared_trained_vs_untrained():
    root = Path(__file__).resolve().parents[1] / "reports"
    en = (root / "narrative.md").read_text(encoding="utf-8")
    fr = (root / "narrative.fr.md").read_text(encoding="utf-8")
    assert "without a comparison group of officers" not in en
    assert "sans groupe de comparaison de policiers" not in fr
    assert "untrained" in en and "clustered by officer" in en and "unit level" in en
    assert "non formés" in fr and "grappes de policiers" in fr and "niveau des unités" in fr


def test_interval_width_counts_a_main_indicator_not_estimable_against_confidence():
    import numpy as np

    from analysis.statistics import evidence, simulation

    def residents(not_estimable=()):
        rows = []
        for o in evidence.MAIN_INDICATORS:
            scale, span = ("1-4", 3) if o == "feel_safe_dark" else ("0-10", 10)
            ne = o in not_estimable
            rows.append(dict(group="all", outcome=o, estimate=np.nan if ne else 0.4,
                             ci_low=np.nan if ne else 0.4 - 0.05 * span, ci_high=np.nan if ne else 0.4 + 0.05 * span,
                             p_value=np.nan if ne else 0.04, scale=scale, n_clusters=12, n_clusters_treated=6,
                             min_cell=200, note="", status="not_estimable" if ne else "estimated",
                             not_estimable_reason="ci_wider_than_scale" if ne else ""))
        return pd.DataFrame(rows)

    args = (pd.DataFrame({"variable": ["age"], "std_diff": [0.0], "used_in_rating": [True]}),
            {"fidelity": 0.9}, simulation.simulated_profile(12))
    trends = pd.DataFrame({"variable": ["age"], "std_trend_diff": [0.01]})
    main = list(evidence.MAIN_INDICATORS)
    _, ok = evidence.rate_evidence(residents(), *args, trends=trends)
    assert (ok["confidence"], ok["reasons"]) == ("high", [])  # every interval 10 % of its scale
    # most main indicators not estimable: the median width is infinite, confidence drops
    t, most = evidence.rate_evidence(residents(main[: len(main) // 2 + 1]), *args, trends=trends)
    assert "wide_interval" in most["reasons"] and most["confidence"] != "high"
    assert not t.loc[t["criterion"] == "interval_width", "met"].iloc[0]
    # before the fix they were skipped: the median over the estimated ones alone was 10 %
