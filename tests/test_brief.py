"""The executive summary says what changed, for whom, in plain words; recommendations are grouped
by theme and worded to their evidence; the policy brief fits six pages in both languages and is
built for a city's own report."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import make_profile, write_profile
from test_report import EFFECT

from analysis.config import PATHS
from analysis.inputs.profile import PILOT_THEMES, ProfileError, load_profile
from analysis.publishing import brief
from analysis.publishing import pdf as printing, report_inputs
from analysis.publishing import recommendations as rc
from analysis.publishing import report
from analysis.publishing import tables
from analysis.publishing import text as tx

BASE = dict(population="residents", design="did", std_error=0.1, p_value=0.5, inference="wild cluster bootstrap",
            n=800, n_clusters=12, diff_vs_rest=float("nan"), diff_p_value=float("nan"), status="estimated")
SCALES = {"trust_police": "0-10", "pj_index": "0-10", "eff_index": "0-10", "legitimacy_index": "0-10",
          "contact_satisfaction": "1-5", "feel_safe_dark": "1-4", "willing_report": "1-4"}


def row(outcome, est, lo, hi, group="all", **kw):
    return dict(BASE, outcome=outcome, group=group, estimate=est, ci_low=lo, ci_high=hi, scale=SCALES[outcome], **kw)


def evidence3(level: int = 3, confidence: str = "high", reasons: str = "", design: str = "did") -> pd.DataFrame:
    """An evidence table (schema ``evidence`` of analysis.publishing.tables) with the given ratings."""
    rows = [dict(rating="design", criterion="design", code=design, value=None, threshold=None, met=None, level=level,
                 reason=None),
            dict(rating="confidence", criterion="clusters", code=None, value=6 if "few_clusters" in reasons else 12,
                 threshold=10, met="few_clusters" not in reasons, level=None,
                 reason="few_clusters" if "few_clusters" in reasons else None),
            dict(rating="confidence", criterion="confidence", code=confidence, value=None, threshold=None, met=None,
                 level={"high": 3, "moderate": 2, "low": 1}[confidence], reason=reasons or None)]
    return pd.DataFrame(rows)


def city(name: str, impact: pd.DataFrame, ev: pd.DataFrame, groups=("young",)) -> report_inputs.CityData:
    """A city as the report reads it, without files."""
    pilot = SimpleNamespace(targeted_groups=list(groups), name=f"{name} pilot", name_local=None,
                            text=lambda field, lang="en": "youth-police dialogue", theme="youth_dialogue",
                            display_name=lambda lang="en", languages=(): (f"{name} pilot", "en"))
    prof = SimpleNamespace(languages=["en"], pilot=pilot, synthetic=True)
    return report_inputs.CityData(city=name.lower(), name=name, profile=prof,
                           tables={"impact": pd.DataFrame(impact), "evidence": ev})


# ----------------------------------------------------------------------------- plain language
@pytest.mark.parametrize("est, lo, hi, design, en, fr", [
    (1.04, 0.50, 1.60, "did",
     "Trust in the police: the pilot areas gained about one point more than the comparison areas, on a 0–10 scale "
     "(+1.04; 95 % CI 0.50 to 1.60)",
     "Confiance dans la police : les zones pilotes ont gagné environ un point de plus que les zones de comparaison, "
     "sur une échelle de 0 à 10 (+1,04 ; IC à 95 % 0,50 à 1,60)"),
    (1.46, 1.08, 1.89, "did", "gained about 1.5 points more", "gagné environ 1,5 point de plus"),  # French: singular < 2
    (2.61, 1.20, 3.90, "did", "gained about 2.5 points more", "gagné environ 2,5 points de plus"),
    (0.83, 0.05, 1.44, "pre_post", "about 0.8 points higher after the pilot than before, on a 0–10 scale",
     "environ 0,8 point de plus après le projet qu'avant, sur une échelle de 0 à 10"),
    (-0.41, -0.70, -0.12, "did", "the pilot areas lost about 0.4 points relative to the comparison areas",
     "les zones pilotes ont perdu environ 0,4 point par rapport aux zones de comparaison"),
    (0.30, -0.09, 0.60, "did", "Trust in the police: no detectable change, on a 0–10 scale (+0.30; 95 % CI −0.09 to 0.60)",
     "Confiance dans la police : pas de changement décelable, sur une échelle de 0 à 10 (+0,30 ; IC à 95 % −0,09 à 0,60)"),
])
def test_plain_effect_names_its_scale_in_english_and_french(est, lo, hi, design, en, fr):
    r = row("trust_police", est, lo, hi, design=design)
    assert en in rc.plain_effect(r, "en")
    assert fr in rc.plain_effect(r, "fr")
    # a before/after change is never worded as a gain over comparison areas, nor the reverse
    assert ("comparison" in rc.plain_effect(r, "en")) == (design == "did" and lo * hi > 0)


def test_plain_effect_of_an_unstated_design_claims_no_comparison():
    r = row("trust_police", 0.83, 0.05, 1.44, design="")
    assert rc.plain_effect(r, "en") == "Trust in the police: about 0.8 points higher, on a 0–10 scale (+0.83; 95 % CI 0.05 to 1.44)"
    assert "comparaison" not in rc.plain_effect(r, "fr")


def test_plain_size_rounds_for_a_reader():
    assert rc.plain_size(0.02, "en") == "less than 0.1 points"
    assert rc.plain_size(0.545, "en") == "about 0.5 points"
    assert rc.plain_size(0.97, "en") == "about one point" and rc.plain_size(1.2, "fr") == "environ un point"
    assert rc.plain_size(1.74, "en") == "about 1.5 points" and rc.plain_size(1.76, "en") == "about 2 points"
    assert rc.plain_size(-2.26, "fr") == "environ 2,5 points"


def test_point_agrees_with_the_printed_bound_in_french_and_english():
    """French: singular below 2 ("entre −0,20 et +0,70 point"); English: plural for any printed
    decimal ("+1.00 points")."""
    def bounded(hi, lang):
        return rc.plain_bounded({"outcome": "trust_police", "ci_low": -0.2, "ci_high": hi, "scale": None}, lang)

    assert "+0,70 point," in bounded(0.7, "fr") and "+1,99 point," in bounded(1.99, "fr")
    assert "+2,00 points," in bounded(2.0, "fr") and "−1,50 point," in bounded(-1.5, "fr")
    assert "+0.70 points," in bounded(0.7, "en") and "+1.00 points," in bounded(1.0, "en")
    pooled = {"outcome": "trust_police", "k": 4, "estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5,
              "pi_low": 0.1, "pi_high": 0.7, "scale": None}
    assert "entre 0,1 et 0,7 point (intervalle" in rc.pooled_plain(pooled, "fr")
    assert "between 0.1 and 0.7 points (95 %" in rc.pooled_plain(pooled, "en")
    assert "entre −0,4 et 2,3 points (intervalle" in rc.pooled_plain({**pooled, "pi_low": -0.4, "pi_high": 2.3}, "fr")


# ----------------------------------------------------------------------------- the executive summary
def brussels_like() -> report_inputs.CityData:
    """Satisfaction with contact and procedural justice move; trust and safety do not."""
    return city("Brussels", [
        row("trust_police", 0.20, -0.40, 0.80),
        row("pj_index", 1.61, 0.92, 2.29),
        row("contact_satisfaction", 1.46, 1.08, 1.89),
        row("feel_safe_dark", -0.02, -0.15, 0.13),
        row("pj_index", 2.07, 1.43, 2.63, group="police_contact"),
        row("trust_police", 0.3, -0.9, 1.5, group="police_contact"),
    ], evidence3(), groups=("police_contact",))


def test_summary_leads_with_the_clearest_outcome_not_trust():
    for lang in ("en", "fr"):
        s = report.city_summary(brussels_like(), lang)
        lead = s["lead"]
        sat, pj, trust = (rc.plain_label(o, lang) for o in ("contact_satisfaction", "pj_index", "trust_police"))
        # satisfaction (+1.46 on 1–5, the clearest) first, then procedural justice; trust did not move
        assert lead.index(sat) < lead.index(pj) and trust not in lead
        assert rc.fmt_num(1.46, lang, signed=True) in lead and rc.fmt_num(1.61, lang, signed=True) in lead
        # for whom: the pilot's targeted group, in words
        assert s["for_whom"] and rc.fmt_num(2.07, lang, signed=True) in s["for_whom"][0]
        assert tx.tr("plain.group.police_contact", lang) in s["for_whom"][0]
        # what clearly did not move: feeling safe, a narrow interval around 0
        assert rc.plain_label("feel_safe_dark", lang) in s["flat"]
        assert s["verdict_kind"] == "improved"
    s = report.city_summary(brussels_like(), "en")
    assert s["lead"].startswith("What changed — Satisfaction with contact: the pilot areas gained about 1.5 points "
                                "more than the comparison areas, on a 1–5 scale (+1.46; 95 % CI 1.08 to 1.89)")
    assert "reasonable estimate of the pilot's effect" in s["attribution"]


def test_ratings_side_by_side_in_the_summary():
    c = brussels_like()
    ev = pd.concat([c.tables["evidence"], pd.DataFrame([
        dict(rating="effect", criterion="trust_police", code="no_detectable_change", value=0.2,
             ci_low=-0.4, ci_high=0.8, scale="0-10"),
        dict(rating="effect", criterion="pj_index", code="increase", value=1.61, ci_low=0.92, ci_high=2.29,
             scale="0-10")])], ignore_index=True)
    c.tables["evidence"] = ev
    r = report.city_summary(c, "en")["ratings"]
    assert r["design"].startswith("level 3 of 5") and r["confidence"] == "high"
    assert r["effect"] == "no detectable change: Trust in the police; increase: Procedural justice"
    fr = report.city_summary(c, "fr")["ratings"]
    assert fr["design"].startswith("niveau 3 sur 5") and fr["confidence"] == "élevée"


def cities_with_different_results() -> list[report_inputs.CityData]:
    outcomes = ("trust_police", "pj_index", "eff_index", "legitimacy_index", "feel_safe_dark", "willing_report")
    flat = [row(o, 0.05, -0.30, 0.40) if SCALES[o] == "0-10" else row(o, 0.01, -0.10, 0.12) for o in outcomes]
    negative = [row(o, -0.25, -0.90, 0.30) for o in outcomes]
    return [
        brussels_like(),
        city("Milan", flat, evidence3(confidence="high")),
        city("Toulouse", negative, evidence3(confidence="moderate", reasons="few_clusters")),
        city("Nantes", [row("pj_index", 0.9, 0.1, 1.5), row("eff_index", 0.7, 0.2, 1.2), *flat[2:]],
             evidence3(confidence="moderate", reasons="few_clusters")),
        city("Amiens", [dict(r, design="pre_post") for r in [row("trust_police", 0.85, 0.19, 1.53), *flat[1:]]],
             evidence3(level=2, confidence="low", reasons="few_clusters", design="pre_post")),
        city("Vilnius", [dict(r, design="pre_post") for r in flat], evidence3(level=2, confidence="low",
                                                                               reasons="few_clusters",
                                                                               design="pre_post")),
    ]


def test_no_identical_summary_line_across_cities_with_different_results():
    for lang in ("en", "fr"):
        sums = [report.city_summary(c, lang) for c in cities_with_different_results()]
        leads = [s["lead"] for s in sums]
        assert len(set(leads)) == len(leads), leads
        assert len({s["text"] for s in sums}) == len(sums)
        kinds = {s["name"]: s["verdict_kind"] for s in sums}
        assert kinds == {"Brussels": "improved", "Milan": "null", "Toulouse": "leaning_negative",
                         "Nantes": "improved", "Amiens": "unattributable", "Vilnius": "unattributable"}
        # the design is said in words the design supports: before/after is never "the pilot's effect"
        amiens = next(s for s in sums if s["name"] == "Amiens")
        assert rc.fmt_num(0.85, lang, signed=True) in amiens["lead"]
        assert amiens["attribution"] == tx.tr("summary.attribution.pre_post", lang)
    en = {s["name"]: s for s in (report.city_summary(c, "en") for c in cities_with_different_results())}
    assert en["Toulouse"]["lead"] == ("Nothing improved relative to the comparison areas: 6 of 6 estimates lie "
                                      "below zero, though none is distinguishable from zero.")
    assert en["Milan"]["lead"] == ("No indicator changed detectably relative to the comparison areas (all 6 "
                                   "intervals include zero) — Trust in the police: the change lies between −0.30 "
                                   "and +0.40 points, on a 0–10 scale.")
    assert en["Vilnius"]["lead"].startswith("No indicator changed detectably between the two surveys")
    assert "moderate confidence (few clusters: 6 neighbourhoods, fewer than 10)" in en["Nantes"]["attribution"]


# ----------------------------------------------------------------------------- recommendations
def recs_for(c: report_inputs.CityData) -> list:
    return rc.city_recommendations(c.city, c.tables["impact"], c.tables["evidence"], None, f"{c.name} pilot")


def test_wording_matches_the_evidence():
    cs = {c.name: c for c in cities_with_different_results()}
    milan, toulouse, brussels = recs_for(cs["Milan"]), recs_for(cs["Toulouse"]), recs_for(cs["Brussels"])
    # Milan, the best design, nothing moved: an informative result, not the harshest verdict
    assert [(r.rule, r.variant) for r in milan] == [("no_large_effect", "precise")]
    assert "informative result" in milan[0].text("en") and "rethink" not in milan[0].text("en")
    # the same with one indicator of six passing 5 %: flagged as possibly chance, and what did not
    # move stays a finding (not "the other indicators" in passing)
    one = cs["Milan"].tables["impact"].copy()
    one.loc[one["outcome"] == "willing_report", ["estimate", "ci_low", "ci_high"]] = [0.12, 0.01, 0.24]
    milan1 = rc.city_recommendations("milan", one, evidence3(confidence="high"), None, "M")
    assert [(r.rule, r.variant) for r in milan1] == [("recommend", "single"), ("no_large_effect", "precise_rest")]
    assert "by chance" in milan1[0].text("en") and "informative result" in milan1[1].text("en")
    # Toulouse, estimates leaning negative: "rethink", never Brussels' "continue"/"promising"
    assert [(r.rule, r.variant) for r in toulouse] == [("no_large_effect", "negative")]
    assert "rethink" in toulouse[0].text("en") and "6 of 6 estimates lie below zero" in toulouse[0].text("en")
    assert brussels[0].rule == "recommend" and brussels[0].variant == ""
    texts = {r.text("en").split(": ", 1)[1][:40] for r in (milan[0], toulouse[0], brussels[0])}
    assert len(texts) == 3
    # moderate confidence: promising, extend with an evaluation; never the high-confidence wording
    nantes = recs_for(cs["Nantes"])[0]
    assert (nantes.rule, nantes.variant) == ("recommend", "moderate") and "promising" in nantes.text("en")
    # strengthen-first of a pilot whose estimates lean negative is not "promising but unproven"
    low_neg = rc.city_recommendations("t", cs["Toulouse"].tables["impact"].assign(ci_high=-0.01, estimate=-0.3),
                                      evidence3(confidence="low", reasons="few_clusters"), None, "T")
    assert low_neg[0].rule == "strengthen_first" and low_neg[0].variant == "negative"
    assert "no sign of benefit" in low_neg[0].text("en") and "aucun signe de bénéfice" in low_neg[0].text("fr")


def test_officer_results_are_changes_never_effects():
    impact = pd.DataFrame([row("trust_police", 0.1, -0.2, 0.4),
                           dict(BASE, population="officers", outcome="off_public_support", group="all",
                                design="did_trained", estimate=0.5, ci_low=0.1, ci_high=0.9, scale="1-5")])
    rec = next(r for r in rc.city_recommendations("x", impact, evidence3(), None, "P") if r.rule == "officers_change")
    assert rec.variant == "survey"
    assert "not an effect of “P”" in rec.text("en") and "non un effet de « P »" in rec.text("fr")
    assert "officers' views moved" not in rec.text("en")


def test_every_variant_has_words_in_both_languages():
    cat = tx.catalogue()
    for key in ("recommend.moderate", "recommend.single", "no_large_effect.rest", "no_large_effect.precise",
                "no_large_effect.negative", "no_large_effect.precise_rest", "strengthen_first.negative", "evaluate_first.negative",
                "officers_change.survey", "officers_null.survey", "for_whom.plain", "eval_comparison",
                "eval_clusters"):
        assert set(cat[f"rec.{key}"]) >= {"en", "fr"}, key
    for rule, variants in report.RULES:
        assert tx.has_key(f"rule.{rule}") and tx.has_key(f"rule_text.{rule}"), rule
        assert all(tx.has_key(f"variant.{v}") for v in variants), rule
    for theme in rc.THEMES:
        assert tx.has_key(f"theme.{theme}")
    assert set(PILOT_THEMES) <= set(rc.THEMES)


def test_recommendations_are_grouped_by_theme():
    cs = {c.name: c for c in cities_with_different_results()}
    officers = pd.DataFrame([dict(BASE, population="officers", outcome="off_public_support", group="all",
                                  design="did_trained", estimate=0.5, ci_low=0.1, ci_high=0.9, scale="1-5")])
    results = {c.city: {"impact": pd.concat([c.tables["impact"], officers]), "evidence": c.tables["evidence"]}
               for c in cs.values()}
    pooled = pd.DataFrame([dict(outcome="trust_police", group="all", headline=True, estimate=0.4, ci_low=0.1,
                                ci_high=0.7, k=4, i2=0.70, tau2=0.2, pi_low=-0.5, pi_high=1.3)])
    themes = {"brussels": "reception_contact", "milan": "local_partnership", "toulouse": "neighbourhood_policing",
              "nantes": "youth_dialogue", "amiens": "youth_dialogue"}  # vilnius: none
    recs = rc.build_recommendations(results, pooled, None, None, themes)
    grouped = dict(rc.by_theme(recs))
    assert list(grouped) == ["reception_contact", "youth_dialogue", "local_partnership", "neighbourhood_policing",
                             "other", "officer_training", "across_cities", "evaluation_practice"]
    assert {r.city for r in grouped["youth_dialogue"]} == {"nantes", "amiens"}
    assert {r.city for r in grouped["other"]} == {"vilnius"}
    assert {r.rule for r in grouped["officer_training"]} == {"officers_change"}
    assert {r.rule for r in grouped["across_cities"]} == {"pooled_effect", "heterogeneous"}
    ev = {r.rule: r for r in grouped["evaluation_practice"]}
    assert set(ev) == {"eval_comparison", "eval_clusters"}
    assert ev["eval_comparison"].params["cities"] == ["amiens", "vilnius"]
    assert ev["eval_clusters"].params["cities"] == ["toulouse", "nantes"]


def test_pilot_theme_is_optional_and_checked(project):
    prof = make_profile()
    write_profile(project, prof)
    assert load_profile("testville").pilot.theme is None
    prof["pilot"] = {**prof["pilot"], "theme": "reception_contact"}
    write_profile(project, prof)
    assert load_profile("testville").pilot.theme == "reception_contact"
    prof["pilot"]["theme"] = "youth"
    write_profile(project, prof)
    with pytest.raises(ProfileError, match=r"pilot\.theme"):
        load_profile("testville")


# ----------------------------------------------------------------------------- report: references, narrative
def test_each_recommendation_cites_a_numbered_table_or_figure_of_the_report(project):
    from test_report import populate

    populate(project)
    for lang, word in (("en", "Table|Figure"), ("fr", "Tableau|Figure")):
        html = report.build_report(lang).read_text(encoding="utf-8")
        ids = set(re.findall(r'\sid="([^"]+)"', html))
        recs = html[html.index('id="recommendations"'):html.index('id="annex-methods"')]
        items = re.findall(r'<li data-rule="[^"]+">(.*?)</li>', recs, re.S)
        assert items
        for item in items:
            cited = re.findall(rf'<a class="xref" href="#([^"]+)" title="[^"]*">(?:{word}) \d+</a>', item)
            assert cited, item
            assert set(cited) <= ids
        # grouped by theme, rules in their own annex, the committee's reading after the summary
        assert re.search(r'<h3 id="theme-[a-z_]+">', recs)
        assert 'id="annex-rules"' in html
        order = [html.index(f'id="{a}"') for a in ("summary", "committee-reading", "city-testville",
                                                   "recommendations")]
        assert order == sorted(order)
        reading = html[html.index('id="committee-reading"'):html.index('id="city-testville"')]
        assert ("The committee's first reading." if lang == "en" else "Première lecture du comité.") in reading


# ----------------------------------------------------------------------------- the brief
def nine_cities(root) -> None:
    """Nine scratch cities with long names and full impact tables, and a pooled table."""
    names = ("Nantes", "Amiens", "Aubervilliers", "Toulouse", "Milan", "Barcelona", "Brussels", "Vilnius", "Lisbon")
    outcomes = ("trust_police", "pj_index", "pj_respect", "pj_fair", "pj_explain", "eff_index", "eff_violence",
                "eff_burglary", "legitimacy_index", "duty_support_police", "contact_satisfaction", "feel_safe_dark",
                "willing_report")
    scales = {**SCALES, "pj_respect": "1-4", "pj_fair": "1-4", "pj_explain": "1-4", "eff_violence": "0-10",
              "eff_burglary": "0-10", "duty_support_police": "0-10"}
    for i, name in enumerate(names):
        slug = name.lower()
        prepost = name in ("Amiens", "Vilnius")
        prof = make_profile(city=slug, name=name, languages=["fr", "en"])
        prof["pilot"] = {**prof["pilot"], "name": f"{name}: police and residents, meeting in the neighbourhood",
                         "theme": rc.THEMES[i % 4], "targeted_groups": ["young", "migrant_background"]}
        if prepost:
            prof["pilot"]["comparison_areas"] = []
        write_profile(root, prof)
        rows = []
        for j, o in enumerate(outcomes):
            for g in ("all", "young", "migrant_background", "police_contact"):
                est = ((i + 2 * j) % 7 - 2) * 0.15 * (2 if g != "all" else 1)
                rows.append(dict(EFFECT, city=slug, outcome=o, group=g, estimate=est, ci_low=est - 0.3,
                                 ci_high=est + 0.3, scale=scales[o], design="pre_post" if prepost else "did",
                                 **({} if g == "all" else dict(diff_vs_rest=0.2, diff_status="estimated",
                                                                 diff_p_value=0.03 if j % 5 == 0 else 0.5))))
        rows.append(dict(EFFECT, city=slug, population="officers", outcome="off_public_support", group="all",
                         design="did_trained", estimate=0.4 * (i % 2), ci_low=0.1 * (i % 2) - 0.05, ci_high=0.8,
                         n=60, n_clusters=60, scale="1-5", inference="crv1_officer", inference_B=float("nan"),
                         note_key="partial_panel_clustered"))
        # through the table contract: what the pipeline publishes, or an error
        tables.write("impact", tables.order_columns(pd.DataFrame(rows), "impact"), city=slug, synthetic=True)
        ev = evidence3(level=2 if prepost else 3, confidence=("low" if prepost else ("high", "moderate")[i % 2]),
                       reasons="" if i % 2 == 0 and not prepost else "few_clusters",
                       design="pre_post" if prepost else "did")
        tables.write("evidence", tables.order_columns(ev.assign(city=slug), "evidence"), city=slug, synthetic=True)
    write_profile(root, make_profile(city="ghostville", name="Ghostville"))  # a profile, no results yet
    tables.write("pooled", tables.order_columns(pd.DataFrame([
        dict(outcome=o, group="all", designs="did", headline=True, cities="a, b, c, d, e, f, g", k=7, estimate=e,
             ci_low=e - 0.2, ci_high=e + 0.2, tau2=0.1, i2=0.60, pi_low=e - 0.6, pi_high=e + 0.6)
        for o, e in (("trust_police", 0.42), ("pj_index", 0.55))]), "pooled"), synthetic=True)


@pytest.mark.skipif(printing.find_weasyprint() is None, reason="weasyprint not installed")
def test_brief_fits_six_pages_in_both_languages(project):
    nine_cities(project)
    for lang in ("en", "fr"):
        html = brief.render_html(lang)
        pages = brief.render_pdf(html, project / f"brief.{lang}.pdf")
        assert pages is not None and 2 <= pages <= brief.MAX_PAGES, (lang, pages)
        text = re.sub(r"<[^>]+>", " ", html)
        for name in ("Nantes", "Lisbon", "Vilnius"):
            assert name in text
        # what was tried, what the evidence says, what to do, how sure: the four parts, and the pooled result
        for part in ("brief.tried", "brief.evidence", "brief.todo", "brief.sure"):
            assert tx.tr(part, lang) in text
        assert tx.tr("brief.pooled", lang) in text and tx.tr("brief.msg.synthetic", lang).split(":")[0][:30] in text
        assert 'class="running-status"' in html and tx.tr("running.synthetic", lang) in html
        # a city without results is named, with its reason
        assert "Ghostville" in text and tx.tr("brief.limit.missing", lang, items="")[:12] in text
        # PDF bookmarks from the headings: the title, then the key messages and the four parts
        tree = brief.render_document(html).make_bookmark_tree()
        labels = [b.label if hasattr(b, "label") else b[0] for b in tree]
        assert len(labels) == 6 and tx.tr("brief.sure", lang) in labels[-1], labels


def test_brief_cites_the_report_numbers():
    html = ('<figure id="fig-a-impact"><img><figcaption><span class="num">Figure 3.</span> x</figcaption></figure>'
            '<table class="data" id="tab-a-impact"><caption><span class="num">Tableau 7.</span> y</caption></table>')
    assert brief.report_numbers(html) == {"fig-a-impact": "Figure 3", "tab-a-impact": "Tableau 7"}


def test_city_report_builds_the_city_brief(project, monkeypatch):
    from analysis.running import publish
    from test_report import populate

    populate(project)  # testville: profile languages [fr]
    monkeypatch.setattr(publish, "check_disclosure", lambda: True)  # the check has its own tests
    monkeypatch.setattr(brief, "render_pdf", lambda html, pdf: pdf.write_bytes(b"%PDF-") or 1)
    assert publish.build_city_reports(["testville"])
    folder = PATHS.reports / "cities" / "testville"
    assert sorted(p.name for p in folder.iterdir()) == ["brief.fr.html", "brief.fr.pdf", "report.fr.html"]
    html = (folder / "brief.fr.html").read_text(encoding="utf-8")
    assert "Testville" in html and "Brokenville" not in html and 'lang="fr"' in html
    # its statements cite the city's own report, by number
    assert re.search(r"rapport : (Tableau|Figure) \d+", html)


def test_brief_words_are_catalogued_in_both_languages():
    """Every key the brief's template and code use exists, and brief.yml's English and French
    texts take the same placeholders."""
    import yaml

    cat = tx.catalogue()
    used = set()
    for path in (report.TEMPLATES / "brief.html.j2", report.HERE / "brief.py"):
        used |= set(re.findall(r'\btr?\("([a-z_]+\.[a-z_.]+)"', path.read_text(encoding="utf-8")))
    assert "brief.tried" in used and "brief.officers.caveat" in used
    assert sorted(k for k in used if k not in cat) == []
    own = yaml.safe_load((report.HERE / "locale" / "brief.yml").read_text(encoding="utf-8"))
    for key, texts in own.items():
        assert set(texts) == {"en", "fr"}, key
        assert tx.placeholders(texts["en"]) == tx.placeholders(texts["fr"]), key


def test_officer_results_are_one_item_of_the_brief(project):
    recs = [rc.Recommendation("officers_change", "nantes", {}, (), "survey", "officer_training"),
            rc.Recommendation("officers_change", "amiens", {}, (), "survey", "officer_training")]
    _, item = brief.officers_item(recs, "en", lambda sources: "")
    assert item["text"].startswith("Officers' answers changed between the two officer surveys in Nantes, Amiens. ")
    assert "no change was detected" not in item["text"] and "not effects of the pilots" in item["text"]
    recs.append(rc.Recommendation("officers_null", "milan", {}, (), "survey", "officer_training"))
    _, item = brief.officers_item(recs, "fr", lambda sources: "")
    assert "à Nantes, Amiens ; aucune évolution n'a été détectée à Milan." in item["text"]
    assert brief.officers_item(recs[:0], "en", lambda sources: "") is None


def test_a_deterioration_is_never_hidden_in_the_summary():
    c = city("Mixed", [row("trust_police", 0.9, 0.5, 1.3), row("pj_index", 0.8, 0.4, 1.2),
                       row("eff_index", 0.7, 0.3, 1.1), row("legitimacy_index", 0.6, 0.2, 1.0),
                       row("feel_safe_dark", -0.2, -0.35, -0.05)], evidence3())
    s = report.city_summary(c, "en", n_lead=2)
    assert "Feels safe walking alone after dark: the pilot areas lost about 0.2 points" in s["lead"]
    assert s["lead"].endswith("; and 3 more indicators.") and s["verdict_kind"] == "mixed"
