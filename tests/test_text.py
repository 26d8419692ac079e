"""The text layer: one catalogue, labels, numbers and dates per locale, no language branching elsewhere.

A third language proves itself here: a small Italian catalogue in a temporary directory,
selected through :func:`analysis.publishing.text.use_catalogue_dir`, renders a figure, a
caption, numbers and dates in Italian without any change to the code.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis.inputs import codebook  # noqa: E402
from analysis.publishing import text  # noqa: E402

SRC = Path(text.__file__).resolve().parents[1]  # src/analysis

# ---------------------------------------------------------------- no language branching
#: Language branching and home-made number formatting outside the text layer.
FORBIDDEN = re.compile(
    r"""\blang\s*[!=]="""                      # lang == "fr", lang != "en", [lang == "fr"] indexing
    r"""|==\s*["']fr["']"""                    # x == "fr"
    r"""|["']fr["']\s*:"""                     # {"en": …, "fr": …} dicts of words
    r"""|label_fr"""                           # label_fr attributes and keys
    r"""|\.replace\(\s*["']\.["']\s*,\s*["'],["']\s*\)"""  # decimal commas by string replacement
)

def forbidden_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of every line of ``source`` that branches on a language."""
    return [(i, line.strip()) for i, line in enumerate(source.splitlines(), 1) if FORBIDDEN.search(line)]


def test_the_check_bites():
    bad = '\n'.join(['x = 1 if lang == "fr" else 0', 'y = pair[lang == "fr"]', 'if lang != "en": pass',
                     'd = {"en": "a", "fr": "b"}', 'g.label_fr', 's = f"{v:.2f}".replace(".", ",")',
                     'if lg == "fr": pass'])
    assert [i for i, _ in forbidden_lines(bad)] == [1, 2, 3, 4, 5, 6, 7]
    assert forbidden_lines('text.tr("wave.baseline", lang)\nlangs = text.LANGS\nx.replace(".", "_")') == []


def test_no_language_branching_outside_the_text_layer():
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "publishing/text.py":
            continue
        lines = forbidden_lines(path.read_text(encoding="utf-8"))
        if lines:
            found[rel] = lines
    assert found == {}, "language branching outside analysis.publishing.text: " + repr(found)


# ---------------------------------------------------------------- the one catalogue
def test_one_catalogue_with_the_exploration_and_the_codebook_in_it():
    cat = text.catalogue()
    names = {p.name for p in text.catalogue_files()}
    assert {"report.yml", "explore.yml", "codebook.yml", "figures.yml"} <= names
    assert "ui.city" in cat and "var.trust_police" in cat and "fig.effect_axis" in cat
    assert text.LANGS == text.langs() == ("en", "fr")
    for key, texts in cat.items():
        assert set(texts) == set(text.LANGS), key
        assert text.placeholders(texts["en"]) == text.placeholders(texts["fr"]), key


def test_a_key_defined_twice_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "report.yml").write_text('a.key: {en: "A", fr: "A"}\n', encoding="utf-8")
    (tmp_path / "other.yml").write_text('a.key: {en: "B", fr: "B"}\n', encoding="utf-8")
    monkeypatch.setattr(text, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(text, "CATALOGUE", tmp_path / "report.yml")
    text.catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match="other.yml: key 'a.key' is already defined in report.yml"):
            text.catalogue()
    finally:
        monkeypatch.undo()
        text.catalogue.cache_clear()


def test_unknown_language_and_key_are_errors():
    with pytest.raises(KeyError, match="language 'de'"):
        text.tr("ui.city", "de")
    with pytest.raises(KeyError, match="no 'fr' text for key 'no.such.key'"):
        text.tr("no.such.key", "fr")


# ---------------------------------------------------------------- French wording
def test_french_reads_as_french():
    french = {k: v["fr"] for k, v in text.catalogue().items()}
    bad = {
        "dispositif": "a weak design is a 'protocole d'évaluation', not a 'dispositif' (a programme)",
        "agrégé": "clustered standard errors are 'robustes aux grappes', not 'agrégées'",
        "au début": "baseline is 'l'enquête initiale'",
        "Début": "baseline is 'l'enquête initiale'",
        "(début)": "baseline is 'l'enquête initiale'",
        "difference vs": "English left in French",
        "Brussels": "Bruxelles in French",
        "baseline": "English left in French",
    }
    leaks = [(k, word) for k, v in french.items() for word in bad if word in v]
    assert leaks == []
    assert text.tr("verdict_tag.weak", "fr") == "protocole d'évaluation peu robuste"
    assert text.wave_label("baseline", "fr") == "Enquête initiale"
    assert "robustes aux grappes (par policier)" in text.tr("note.officers_caveat", "fr")
    assert "Bruxelles" in text.tr("bench.title", "fr", city=text.city_name(
        SimpleNamespace(name="Brussels", name_fr="Bruxelles"), "fr"))


# ---------------------------------------------------------------- labels
def test_labels_come_from_the_catalogue():
    assert text.outcome_label("pj_index", "fr") == "Justice procédurale"  # the index's short label first
    assert text.outcome_label("trust_police", "en") == "Trust in the police (0-10)"
    assert codebook.label("off_job_satisfaction", "fr", "officers") == "Satisfaction au travail (1-5)"
    assert text.group_label("young", "fr") == "Jeunes (15-24 ans)"
    assert text.group_label("all", "en") == "all residents"
    assert text.group_label("all", "en", capital=True) == "All residents"
    assert text.group_label("not_a_group", "fr") == "not_a_group"
    assert text.wave_label("follow_up", "fr") == "Enquête de suivi"
    assert text.area_label("other", "fr", long=True) == "reste de la ville"
    assert text.area_label("other", "fr") == "autre"
    assert text.category_label("activity_type", "mediation", "fr") == "Médiation"
    assert text.category_label("activity_type", "unknown_kind", "fr", default="unknown_kind") == "unknown_kind"
    assert codebook.var("feel_safe_dark").point_label(1, "fr") == "Pas du tout en sécurité"
    with pytest.raises(KeyError):
        text.outcome_label("no_such_outcome", "en")


def test_city_and_pilot_names_per_language():
    prof = SimpleNamespace(name="Brussels", name_fr="Bruxelles")
    assert text.city_name(prof, "fr") == "Bruxelles"
    assert text.city_name(prof, "en") == "Brussels"
    assert text.city_name(SimpleNamespace(name="Milan"), "fr") == "Milan"  # no French name: the name
    from analysis.inputs.profile import load_profile

    milan = load_profile("milan")
    assert milan.pilot.display_name("fr", milan.languages)[1] == "fr"
    assert milan.pilot.display_name("it", milan.languages) == (milan.pilot.name_local, "it")
    assert milan.pilot.display_name("en", milan.languages) == (milan.pilot.name, "en")
    assert text.city_name(load_profile("brussels"), "fr") == "Bruxelles"


def test_pairs_and_files_per_language():
    assert text.by_lang("wave.baseline") == {"en": "Baseline", "fr": "Enquête initiale"}
    assert text.pick(("a", "b"), "fr") == "b" and text.pick(("a", "b"), "en") == "a"
    assert text.pick({"en": "a", "fr": "b"}, "fr") == "b" and text.pick({"en": "a"}, "fr") == "a"
    assert text.file_suffix("en") == "" and text.file_suffix("fr") == ".fr"
    assert text.other_langs("fr") == ("en",)


# ---------------------------------------------------------------- French numbers and dates
def test_french_numbers():
    assert text.fmt_num(-0.412, "fr") == "−0,41"
    assert text.fmt_num(0.5, "en", 1, signed=True) == "+0.5"
    assert text.fmt_num(float("nan"), "fr") == "n.d." and text.fmt_num(None, "en") == "n/a"
    assert text.fmt_int(12345, "fr") == "12\u202f345"
    assert text.fmt_int(12345, "en") == "12,345"
    assert text.fmt_int(12345, "en", grouping=False) == "12345"
    assert text.fmt_pct(0.412, "fr") == "41\u00a0%"
    assert text.fmt_pct(0.412, "en", 1) == "41.2%"
    assert text.fmt_p(0.0004, "fr") == "< 0,001"
    assert text.decimal_mark("fr") == "," and text.decimal_mark("en") == "."


def test_french_dates_never_iso():
    assert text.fmt_date(dt.date(2015, 3, 15), "fr") == "15 mars 2015"
    assert text.fmt_date("2015-03-15", "en") == "March 15, 2015"
    assert text.fmt_date(pd.Timestamp("2014-10-01"), "fr", "month") == "octobre 2014"


def _tick_labels(fig, axis="y"):
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


def test_tick_formatter_gives_french_decimal_commas():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.0, 1.5])
    text.localise_axes(fig, "fr")
    labels = _tick_labels(fig)
    plt.close(fig)
    assert any("," in t for t in labels) and not any("." in t for t in labels), labels
    # the same ticks as matplotlib's own, only the decimal mark differs
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.0, 1.5])
    en = _tick_labels(fig)
    plt.close(fig)
    assert [t.replace(".", ",") for t in en] == labels


def test_date_axis_in_french_months():
    fig, ax = plt.subplots()
    ax.plot(pd.to_datetime(["2014-01-01", "2014-06-01", "2015-01-01"]), [1, 2, 3])
    ax.xaxis.set_major_formatter(text.date_formatter("fr"))
    labels = _tick_labels(fig, "x")
    plt.close(fig)
    assert labels and all(re.fullmatch(r"[a-zéû.]+ 20\d\d", t) for t in labels), labels
    assert not any(re.search(r"\d{4}-\d{2}", t) for t in labels)


def _impacts(lang_city=("aa", "bb")):
    rows = []
    for i, city in enumerate(lang_city):
        rows.append({"city": city, "population": "residents", "outcome": "trust_police", "group": "all",
                     "design": "did" if i == 0 else "pre_post", "estimate": 0.41 + i * 0.3, "std_error": 0.2,
                     "ci_low": 0.05 + i * 0.3, "ci_high": 0.77 + i * 0.3, "p_value": 0.03, "scale": "0-10"})
    return pd.DataFrame(rows)


def _pooled():
    return pd.DataFrame([{"outcome": "trust_police", "group": "all", "headline": True, "designs": "did",
                          "estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9, "pi_low": -0.2, "pi_high": 1.2,
                          "k": 2, "tau2": 0.0123, "i2": 0.45}])


def test_forest_plot_in_french_has_decimal_commas():
    from analysis.statistics import synthesis

    fig = synthesis.forest_plot(_impacts(), _pooled(), "trust_police", lang="fr")
    fig.canvas.draw()
    ax = fig.axes[0]
    xt = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    yt = [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)
    assert ax.get_xlabel() == "Effet (points, échelle 0-10), IC à 95 %"
    assert any("," in t for t in xt) and not any("." in t for t in xt), xt
    assert any("τ² = 0,012" in t and "I² = 45\u00a0%" in t for t in yt), yt
    assert any("(avant/après)" in t for t in yt)


# ---------------------------------------------------------------- a third language
ITALIAN = """
forest.suppressed: {it: "soppresso"}
forest.pooled: {it: "DiD combinato, k = {k} (HKSJ{tau}{i2})"}
forest.too_few: {it: "Combinato: troppo poche città"}
forest.did: {it: "DiD"}
forest.pre_post: {it: "prima/dopo"}
forest.xlabel: {it: "Effetto (punti, scala {scale}), IC 95%"}
forest.caption: {it: "Effetto del progetto pilota per città; rombo: effetto combinato."}
var.trust_police: {it: "Fiducia nella polizia (0-10)"}
num.missing: {it: "n.d."}
fig.status.suppressed: {it: "soppresso (< {k})"}
trial.only: {it: "solo in italiano"}
"""


@pytest.fixture()
def italian(tmp_path):
    folder = tmp_path / "it"
    folder.mkdir()
    (folder / "it.yml").write_text(ITALIAN, encoding="utf-8")
    text.use_catalogue_dir(folder)
    yield folder
    text.use_catalogue_dir(None)


def test_a_third_language_needs_catalogue_entries_only(italian):
    assert text.langs() == ("en", "fr", "it")
    assert text.tr("forest.xlabel", "it", scale="0-10") == "Effetto (punti, scala 0-10), IC 95%"
    assert text.tr("forest.xlabel", "fr", scale="0-10") == "Effet (points, échelle 0-10), IC à 95 %"  # untouched
    assert text.fmt_num(0.412, "it") == "0,41"
    assert text.fmt_date(dt.date(2015, 3, 15), "it") == "15 marzo 2015"
    assert text.fmt_num(None, "it") == "n.d."
    assert codebook.label("trust_police", "it") == "Fiducia nella polizia (0-10)"
    # a figure drawn in Italian by the package's own code, its numbers in the Italian locale
    from analysis.statistics import synthesis

    fig = synthesis.forest_plot(_impacts(), _pooled(), "trust_police", lang="it")
    fig.canvas.draw()
    ax = fig.axes[0]
    xt = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    yt = [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)
    assert ax.get_xlabel() == "Effetto (punti, scala 0-10), IC 95%"
    assert ax.get_title() == "Fiducia nella polizia (0-10)"
    assert any("," in t for t in xt) and not any("." in t for t in xt), xt
    assert "aa (DiD)" in yt and "bb (prima/dopo)" in yt
    assert any(t.startswith("DiD combinato, k = 2 (HKSJ, τ² = 0,012, I² = 45%)") for t in yt), yt
    assert text.tr("forest.caption", "it").startswith("Effetto del progetto pilota")


def test_the_trial_language_is_removed_and_cannot_override(italian, tmp_path):
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "x.yml").write_text('wave.baseline: {fr: "Début"}\n', encoding="utf-8")
    text.use_catalogue_dir(clash)
    with pytest.raises(ValueError, match="'fr' text of key 'wave.baseline' is already defined"):
        text.catalogue()
    text.use_catalogue_dir(None)
    assert text.langs() == ("en", "fr") and not text.has_key("trial.only")


def test_a_trial_language_through_the_environment(italian, monkeypatch):
    text.use_catalogue_dir(None)
    monkeypatch.setenv(text.ENV_DIRS, str(italian))
    text.catalogue.cache_clear()
    try:
        assert text.tr("trial.only", "it") == "solo in italiano"
    finally:
        monkeypatch.delenv(text.ENV_DIRS)
        text.catalogue.cache_clear()
    assert not text.has_key("trial.only")


# ---------------------------------------------------------------- figures of the package in French
def test_timeline_in_french_months_and_words():
    from analysis.statistics import implementation as imp

    months = pd.to_datetime(["2014-11-01", "2014-12-01", "2015-01-01", "2015-02-01"])
    summary = {"available": True,
               "timeline": pd.DataFrame({"month": months, "activity_type": ["meeting", "mediation"] * 2,
                                         "activities": [3, 1, 2, 4]})}
    wave = SimpleNamespace(start=dt.date(2014, 10, 1), end=dt.date(2014, 10, 30))
    wave2 = SimpleNamespace(start=dt.date(2015, 3, 1), end=dt.date(2015, 3, 30))
    profile = SimpleNamespace(name="Brussels", name_fr="Bruxelles", waves={"baseline": wave, "follow_up": wave2},
                              pilot=SimpleNamespace(start=dt.date(2014, 11, 1), end=dt.date(2015, 2, 28)))
    fig = imp.plot_timeline(summary, profile, lang="fr")
    fig.canvas.draw()
    ax = fig.axes[0]
    xt = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    notes = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert ax.get_title() == "Activités du pilote — Bruxelles"
    assert ax.get_ylabel() == "activités par mois"
    assert set(legend) == {"Réunion publique", "Médiation"}
    assert {"enquête initiale", "enquête de suivi"} <= set(notes)
    assert xt and not any(re.search(r"\d{4}-\d{2}", t) for t in xt), xt
    assert any(re.search(r"(janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)", t) for t in xt), xt


def test_dashboard_numbers_use_the_language_decimal_mark():
    from analysis.publishing import dashboard

    tpl = dashboard.TEMPLATE.read_text(encoding="utf-8")
    assert 'replace(".", W().decimal)' in tpl  # every number of the page goes through num()
    assert 'textposition: "middle right"' not in tpl.split("function drawTrend")[1].split("traces.push")[1]
    np.testing.assert_equal(text.decimal_mark("fr"), ",")


def test_trend_n_labels_sit_beside_the_points_not_on_them():
    """The exploration's trend: n labels off the points and intervals, and off each other."""
    from analysis.publishing import explore

    rows = []
    for area, b, f in (("pilot", 5.50, 5.52), ("comparison", 5.55, 5.50), ("other", 5.48, 5.51)):
        for wave, est in (("baseline", b), ("follow_up", f)):
            rows.append({"area_type": area, "wave": wave, "estimate": est, "ci_low": est - 0.3,
                         "ci_high": est + 0.3, "n": 120, "status": "published", "same_neighbourhoods": True,
                         "neighbourhoods": 4})
    fig, ax = plt.subplots(figsize=(5, 4))
    explore.plot_trend(ax, pd.DataFrame(rows), "trust_police", "all", "fr")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in ax.texts]
    points = [ax.transData.transform((xi, yi)) for line in ax.lines for xi, yi in line.get_xydata()]
    plt.close(fig)
    assert len(boxes) == 6
    for box in boxes:
        assert not any(box.x0 - 4 <= px <= box.x1 + 4 and box.y0 <= py <= box.y1 for px, py in points)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


def test_exploration_table_writes_french_decimal_commas():
    from analysis.publishing import explore

    rows = pd.DataFrame({"neighbourhood": ["01", "02"], "area_type": ["pilot", "other"], "n": [40, None],
                         "estimate": [-0.4125, None], "ci_low": [-0.9, None], "ci_high": [0.1, None],
                         "status": ["published", "suppressed"]})
    fr = explore.display_table(rows, "fr")
    en = explore.display_table(rows, "en")
    assert fr[text.tr("col.estimate", "fr")].tolist() == ["−0,412", ""]
    assert en[text.tr("col.estimate", "en")].tolist() == ["−0.412", ""]
    assert fr[text.tr("col.area_type", "fr")].tolist() == ["pilote", "reste de la ville"]


def test_dashboard_map_legend_in_the_reader_numbers():
    from analysis.geography.maps import breaks, class_labels
    from analysis.publishing import dashboard

    for kind in ("level", "change"):
        edges = breaks("trust_police", kind)
        assert dashboard.legend_labels(edges, kind, "en") == class_labels(edges, kind)
    fr = dashboard.legend_labels(breaks("trust_police", "change"), "change", "fr")
    assert "−0,25 – 0,25" in fr and not any("." in lab for lab in fr)
    assert text.fmt_g(-0.75, "fr") == "−0,75" and text.fmt_g(10.0, "en") == "10"
