"""The final recommendations report: one self-contained HTML file per language, and a PDF.

Owns the report's assembly: the city sections, numbering and cross-references, HTML per
language. Must not estimate, hold a statistic nor word a finding: it reads what the steps
published (:mod:`~analysis.publishing.report_inputs`), takes the summary's sentences from
:mod:`~analysis.publishing.report_summary`, lays tables out with
:mod:`~analysis.publishing.report_tables`, the methods annex with
:mod:`~analysis.publishing.report_annex`, and prints with :mod:`~analysis.publishing.pdf`.

:func:`build_report` assembles what the pipeline published — the figure sidecars (through
the manifest), ``reports/tables/<city>/*.csv``, the cleaning logs, the city profiles and
the committee's narrative (``reports/narrative[.fr].md``) — into ``reports/report.html``
(English) or ``reports/report.fr.html`` (French). Figures are embedded (base64 SVG, or a
PNG downscaled to 150 dpi at printed size, whichever is smaller) and the CSS is inline, so
the file opens anywhere, offline, and prints to PDF (:func:`build_pdf`, WeasyPrint: page
numbers, table of contents with page numbers, bookmarks, running data-status header).
Figures and tables are numbered in document order and cross-referenced
(:func:`number_figures_and_tables`).

The executive summary (:func:`~analysis.publishing.report_summary.city_summary`) leads each city with what changed, clearest first,
for whom and in plain words (scale and interval), what clearly did not, and the three evidence
ratings side by side; the committee's narrative follows it as "The committee's reading"; the
recommendations are grouped by theme, and the rules behind them are printed in an annex. The
policy brief (:mod:`analysis.publishing.brief`) is built from the same summary.

Every label, heading and generated sentence comes from the catalogue
``analysis/publishing/locale/report.yml`` (``key: {en: …, fr: …}``) through :func:`tr`; figure titles
and captions come from the figures' own sidecars in each language.

A city whose outputs are missing or unreadable does not break the report: its section
says "not available: <reason>", the reason naming the missing file or the failed step.

Command line::

    python -m analysis.publishing.report --lang en|fr   # one language (default: both)
    python -m analysis.publishing.report --pdf          # both HTML reports, then report.pdf and report.fr.pdf
"""

from __future__ import annotations

import argparse
import hashlib
import html as html_module
import json
import pickle
import re
import sys
from importlib.metadata import version
from pathlib import Path

import numpy
import pandas as pd
from markupsafe import escape

from analysis.config import CROSS_CITY, K_SUPPRESS, PATHS
from analysis.inputs import codebook
from analysis.inputs.profile import load_profile
from analysis.io import atomic_path, sha256_frame, write_text
from analysis.publishing import tables, text
from analysis.publishing.manifest import build_manifest, collect_sidecars
from analysis.publishing.pdf import build_pdfs
from analysis.publishing.recommendations import (build_recommendations, by_theme, city_name, evidence_level,
                                                 group_label, overall_rows, table_anchor)
from analysis.publishing.report_annex import annex_context
from analysis.publishing.report_inputs import (CROSS_TABLES, CityData, cleaning_summary, data_period, figure_part,
                                               figures_for, is_synthetic_table, load_city, read_table, rel_path,
                                               report_cities, report_path)
from analysis.publishing.report_summary import city_summary, pilot_names, pooled_summary
from analysis.publishing.report_tables import (balance_table_html, benchmark_view, evidence_ratings,
                                               evidence_reasons, evidence_table_html, impact_view,
                                               implementation_table_html, neighbourhood_table_html, table_html,
                                               weighting_table_html)
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)
from analysis.sdc import publish_count

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"



#: The rules printed in the annex, in the order of :mod:`analysis.publishing.recommendations`,
#: each with the variants that word it to match its evidence.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recommend", ("recommend.moderate", "recommend.single")), ("review", ()),
    ("no_large_effect", ("no_large_effect.rest", "no_large_effect.precise_rest", "no_large_effect.precise",
                         "negative")),
    ("evaluate_first", ("negative",)), ("strengthen_first", ("negative",)), ("not_estimable", ()),
    ("for_whom", ()), ("officers_change", ()), ("pooled_effect", ()), ("heterogeneous", ()),
    ("eval_comparison", ()), ("eval_clusters", ()),
)


def rule_annex(lang: str) -> list[dict]:
    """The rules behind the recommendations, as the annex prints them: tag, condition, variants."""
    return [{"rule": rule, "tag": tr(f"rule.{rule}", lang), "text": tr(f"rule_text.{rule}", lang),
             "variants": [tr(f"variant.{v}", lang) for v in variants]} for rule, variants in RULES]


# ===================================================================== narrative
def narrative_html(lang: str) -> tuple[str | None, str]:
    """The committee's narrative (Markdown) as HTML, and its path; None when absent."""
    import mistune

    path = PATHS.reports / f"narrative{text.file_suffix(lang)}.md"
    if not path.is_file():
        return None, rel_path(path)
    # escape=True: raw HTML in the narrative is shown, not executed
    md = mistune.create_markdown(escape=True, plugins=["table"])
    html = md(path.read_text(encoding="utf-8"))
    # headings of the narrative sit under the report's own h2
    html = re.sub(r"<(/?)h([1-4])", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 2, 6)}", html)
    return html, rel_path(path)


# ===================================================================== assembly
def _city_view(c: CityData, lang: str, recs: list) -> dict:
    """What the template shows of one city."""

    v = {"c": c, "anchor": f"city-{c.city}", "parts": {}, "na": {}}
    for name, why in c.missing.items():
        v["na"][name] = why.text(lang)
    prof = c.profile
    if prof is not None:
        by_code = {n.code: n.name for n in prof.neighbourhoods}
        name, name_lang, other, other_lang = pilot_names(prof, lang)
        v["pilot"] = {
            "name": name, "name_lang": name_lang, "name_local": other, "other_lang": other_lang,
            # French texts of the profile (kind_fr…) in the French report, English otherwise
            "kind": prof.pilot.text("kind", lang), "kind_lang": prof.pilot.text_lang("kind", lang),
            "description": prof.pilot.text("description", lang),
            "description_lang": prof.pilot.text_lang("description", lang),
            "context": prof.pilot.text("published_context", lang),
            "context_lang": prof.pilot.text_lang("published_context", lang),
            "start": prof.pilot.start.isoformat(), "end": prof.pilot.end.isoformat(),
            "areas": ", ".join(f"{by_code[a]} ({a})" for a in prof.pilot.pilot_areas),
            "comparison": ", ".join(f"{by_code[a]} ({a})" for a in prof.pilot.comparison_areas),
            "groups": ", ".join(group_label(g, lang) for g in prof.pilot.targeted_groups),
            "unit": prof.boundaries.unit, "n_units": len(prof.neighbourhoods),
            "waves": {w: f"{s.start.isoformat()} – {s.end.isoformat()}" for w, s in prof.waves.items()},
            "design": "did" if prof.has_comparison else "pre_post",
        }
    impact = c.tables.get("impact")
    if impact is not None:
        overall = overall_rows(impact)
        cols = ["outcome", "estimate", "ci_low", "ci_high", "p_value", "inference", "n",
                "n_clusters", "scale", "note"]
        v["impact_html"] = table_html(impact_view(overall, lang), lang, columns=cols,
                                      anchor=table_anchor(c.city, "impact"))
        res = impact[impact["population"] == "residents"]
        groups = res[res["group"] != "all"]
        if len(groups):
            v["groups_html"] = table_html(impact_view(groups, lang), lang, columns=[
                "outcome", "group", "estimate", "ci_low", "ci_high", "n", "diff_vs_rest", "diff_p_value", "note"])
        off = impact[impact["population"] == "officers"]
        if len(off):
            v["officers_html"] = table_html(impact_view(off, lang), lang, columns=[
                "outcome", "estimate", "ci_low", "ci_high", "p_value", "inference", "n", "note"])
            v["officers_design"] = "did_trained" if (off["design"] == "did_trained").any() else "pre_post"
        if not overall.empty:
            v["design_kind"] = overall["design"].iloc[0]
    ev = c.tables.get("evidence")
    if ev is not None:
        level, _ = evidence_level(ev)
        reasons = evidence_reasons(ev, lang)
        three = evidence_ratings(ev)
        # the design level stands alone; confidence is a separate rating with its reasons
        conf = tr(f"confidence.{three['confidence']}", lang) if three.get("confidence") else "—"
        said = tr("city.confidence", lang, confidence=conf, reasons=f" ({reasons})" if reasons else "")
        v["evidence"] = {"level": level, "reasons": said,
                         "html": evidence_table_html(ev, lang, anchor=table_anchor(c.city, "evidence"))}
    if c.tables.get("implementation") is not None:
        v["implementation_html"] = implementation_table_html(c.tables["implementation"], lang,
                                                             anchor=table_anchor(c.city, "implementation"))
    if c.tables.get("balance") is not None:
        v["balance_html"] = balance_table_html(c.tables["balance"], lang, anchor=table_anchor(c.city, "balance"))
    nb = c.tables.get("neighbourhoods")
    if nb is not None:
        v["nbhd_html"] = neighbourhood_table_html(nb, c, lang)
        v["nbhd_anchor"] = table_anchor(c.city, "neighbourhoods")
    if c.cleaning is not None:
        try:
            s = cleaning_summary(c.cleaning)
        except tables.TableError:
            s = None
            v["na"]["cleaning"] = tr("na.log_shape", lang)
    if c.cleaning is not None and s is not None:
        v["clean_files_html"] = table_html(s["files"], lang, code_cols=("file",)) if len(s["files"]) else None
        v["clean_reasons_html"] = table_html(s["reasons"], lang, max_rows=30, code_cols=("file",)) \
            if len(s["reasons"]) else None
        miss = s["missingness"]
        if len(miss):
            miss = miss.sort_values("missing", ascending=False, kind="stable").head(12)
            v["clean_missing_html"] = table_html(miss, lang)
        v["clean_ok"] = bool(len(s["files"])) and bool(s["files"]["check"].all())
        # rows are interviews: the totals are published like every count of respondents
        # (rounded to base 10, "<10" for 1-9), never exact (audit D3)

        v["clean_rows"] = ({k: publish_count(x) for k, x in
                            s["files"][["raw", "kept", "rejected"]].sum().to_dict().items()}
                           if len(s["files"]) else None)
        if not len(s["files"]) and not len(miss):
            v["na"]["cleaning"] = tr("na.log_shape", lang)
    # the headline figure of a part first (overall effects before effects by group)
    lead = ("impact-residents", "maps-trust_police")
    for fig in sorted(c.figures, key=lambda f: (f["figure_id"] not in lead, )):
        v["parts"].setdefault(figure_part(fig), []).append(fig)
    v["recs"] = [r for r in recs if r["city"] == c.city]
    return v


def coverage_sentence(lang: str) -> str | None:
    """Which cities the synthesis uses and which it leaves out, with the reason
    (``reports/tables/cross-city/coverage.csv``, written by :func:`analysis.statistics.synthesis.coverage`)."""

    df, why = read_table("coverage")
    if df is None:
        return None
    used = [city_name(c, lang) for c in df.loc[df["included"].astype(bool), "city"]]
    out = [f"{city_name(c, lang)} ({tr('coverage.' + r, lang)})"
           for c, r in zip(df.loc[~df["included"].astype(bool), "city"], df.loc[~df["included"].astype(bool), "reason"])]
    return tr("coverage.sentence", lang, used=", ".join(used) or "—",
              left_out=", ".join(out) or tr("coverage.none", lang))


#: Bump when what :func:`build_context` keeps changes in a way the report step's input digest
#: (:func:`analysis.running.pipeline.input_digest`) does not see.
CONTEXT_VERSION = "1"


def kept_context_path(lang: str) -> Path:
    """Where the report's context in ``lang``, narrative aside, is kept (one file per language)."""
    return PATHS.root / "data" / "interim" / "report-context" / f"{lang}.pkl"


def _context_key(keep: str, lang: str, manifest: pd.DataFrame) -> str:
    """The kept context's key: ``keep``, the language, the manifest, the catalogue in force (extra
    catalogue folders too, :func:`analysis.publishing.text.catalogue_dirs`, which no step's
    digest sees) and the libraries that made its objects."""
    words = hashlib.sha256(json.dumps(text.catalogue(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return hashlib.sha256("\0".join([
        f"imppulse-report-context {CONTEXT_VERSION}", keep, lang, sha256_frame(manifest, 64), words, sys.version,
        pd.__version__, numpy.__version__, version("markupsafe")]).encode()).hexdigest()


def _read_kept(path: Path, key: str) -> dict | None:
    """The context kept at ``path`` under ``key``; None when absent, damaged or kept under another key."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head, body = blob[:32], blob[32:]
    if len(head) < 32 or hashlib.sha256(body).digest() != head:
        return None  # damaged: built again, never trusted
    try:
        kept_key, base = pickle.loads(body)
    except Exception:  # noqa: BLE001 (any unpickling failure: built again)
        return None
    return base if kept_key == key and isinstance(base, dict) else None


def _write_kept(path: Path, key: str, base: dict) -> None:
    body = pickle.dumps((key, base), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(hashlib.sha256(body).digest() + body)
    except OSError:  # a read-only tree: built again next time
        pass


def build_context(lang: str = "en", manifest: pd.DataFrame | None = None,
                  cities: list[str] | None = None, *, keep: str | None = None) -> dict:
    """Everything the template needs for the report in ``lang``.

    ``cities``: a city's own report (those cities only, no cross-city synthesis); default
    the full report of every city.

    ``keep``: a digest of everything the report is built from except the committee's
    narratives (the report step's input digest with the narratives left out,
    :func:`analysis.running.pipeline.input_digest`). The context, narrative aside, is then
    kept in :func:`kept_context_path` under that digest, the language, the manifest and the
    versions of Python, pandas, NumPy and MarkupSafe, and read back when they match: an
    edit of the narrative alone re-renders the report without reading any table again.
    The digest is the one that decides whether the report step runs at all, so the kept
    context is never staler than a skipped step would be. A damaged file is built again.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if manifest is None:
        manifest, _ = collect_sidecars()
    narrative, narrative_path = narrative_html(lang)
    words = {"t": lambda key, **kw: tr(key, lang, **kw), "narrative": narrative, "narrative_path": narrative_path}
    if keep is None or cities:
        return {**_base_context(lang, manifest, cities), **words}
    key = _context_key(keep, lang, manifest)
    path = kept_context_path(lang)
    base = _read_kept(path, key)
    if base is None:
        base = _base_context(lang, manifest, None)
        _write_kept(path, key, base)
    return {**base, **words}


def _base_context(lang: str, manifest: pd.DataFrame, cities: list[str] | None) -> dict:
    """:func:`build_context` but for the narrative and the catalogue's lookup (``t``)."""
    only = list(cities) if cities else None
    cities = [load_city(c, manifest, lang) for c in (only or report_cities(manifest))]

    cross = {"tables": {}, "na": {}, "figures": figures_for(manifest, CROSS_CITY, lang)}
    for name in CROSS_TABLES:
        df, why = read_table(name)
        cross["tables"][name] = df
        if why is not None:
            cross["na"][name] = why.text(lang)
        else:
            shown = benchmark_view(df, lang) if name == "benchmark" else df
            cross[f"{name}_html"] = table_html(shown, lang, anchor=table_anchor(CROSS_CITY, name))
    cross["coverage"] = coverage_sentence(lang)
    if only:  # a city's own report: the synthesis across cities belongs to the full report
        cross = {"tables": {name: None for name in CROSS_TABLES}, "na": {}, "figures": []}
    pooled = cross["tables"].get("pooled")
    is_forest = [bool(re.search(r"forest|pooled|heterog", f["figure_id"])) for f in cross["figures"]]
    cross["forest"] = [f for f, k in zip(cross["figures"], is_forest) if k]
    cross["rest"] = [f for f, k in zip(cross["figures"], is_forest) if not k]

    results = {c.city: {"impact": c.tables.get("impact"), "evidence": c.tables.get("evidence")}
               for c in cities if c.available and c.tables.get("impact") is not None}
    pilots = {c.city: pilot_names(c.profile, lang)[0] for c in cities if c.profile is not None}
    themes = {c.city: c.profile.pilot.theme for c in cities if c.profile is not None}
    recs = build_recommendations(results, pooled, manifest, pilots, themes)
    known_anchors = {f["anchor"] for c in cities for f in c.figures} | {f["anchor"] for f in cross["figures"]}
    rec_views = [{
        "city": r.city, "rule": r.rule, "variant": r.variant, "theme": r.theme, "text": r.text(lang),
        # the tag follows the wording: a variant may have its own ("rethink", not "do not expect")
        "tag": tr(f"rule.{r.rule}.{r.variant}", lang) if has_key(f"rule.{r.rule}.{r.variant}")
        else tr(f"rule.{r.rule}", lang),
        "sources": [{"label": s.ref, "anchor": s.anchor, "kind": s.kind,
                     "linked": s.kind == "table" or s.anchor in known_anchors} for s in r.sources],
    } for r in recs]
    views_by_id = {id(r): v for r, v in zip(recs, rec_views)}
    rec_themes = [{"code": theme, "title": tr(f"theme.{theme}", lang),
                   "recs": [views_by_id[id(r)] for r in group]} for theme, group in by_theme(recs)]

    synthetic = any(c.synthetic for c in cities) or bool(manifest["synthetic"].any() if len(manifest) else False) \
        or any(is_synthetic_table(df) for df in cross["tables"].values())
    codebook_df = codebook.codebook_table(lang)
    figs_lang = manifest[manifest["lang"] == lang] if len(manifest) else manifest
    return {
        "lang": lang,
        "synthetic": synthetic,
        "city_only": bool(only),
        # the data status belongs to each city: named on the cover when real and demo mix
        "real_cities": [c.name for c in cities if c.available and not c.synthetic],
        "synthetic_cities": [c.name for c in cities if c.available and c.synthetic],
        "period": data_period(cities),
        "cities": [_city_view(c, lang, rec_views) for c in cities],
        "summaries": [city_summary(c, lang) for c in cities],
        "pooled_sentences": pooled_summary(pooled, lang),
        "cross": cross,
        "recs": rec_views,
        "rec_themes": rec_themes,
        "rule_annex": rule_annex(lang),
        "codebook_html": table_html(codebook_df, lang, code_cols=("variable", "type", "allowed", "ess")),
        "figure_list_html": table_html(figs_lang, lang, columns=["city", "figure_id", "title", "notebook", "png",
                                                                 "data_checksum"],
                                       code_cols=("figure_id", "notebook", "png", "data_checksum"))
        if len(figs_lang) else None,
        "weighting_html": weighting_table_html([c.city for c in cities if c.available], lang),
        "k": K_SUPPRESS,
        **annex_context(cities, lang),
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
        "other_lang_file": f"report{text.file_suffix(text.other_langs(lang)[0])}.html",
    }


def render_html(lang: str = "en", manifest: pd.DataFrame | None = None,
                cities: list[str] | None = None, *, keep: str | None = None) -> str:
    """The report in ``lang`` as one HTML string (``keep``: see :func:`build_context`)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    html = env.get_template("report.html.j2").render(**build_context(lang, manifest, cities, keep=keep))
    return number_figures_and_tables(html, lang)


_NUMBERED = re.compile(
    r'<figure id="(?P<fid>[^"]+)"[^>]*>'
    r'|<figcaption>'
    r'|<table class="data"(?: id="(?P<tid>[^"]+)")?>(?P<cap><caption>)?'
    r'|<h(?P<lvl>[234])\b[^>]*>(?P<head>.*?)</h(?P=lvl)>', re.S)
_XREF = re.compile(r'<a class="xref" href="#(?P<id>[^"]+)">(?P<inner>.*?)</a>', re.S)


def number_figures_and_tables(html: str, lang: str = "en") -> str:
    """Number every figure and table of the report in document order, and fill in cross-references.

    Each ``<figcaption>`` starts with "Figure N." and each ``<table class="data">`` gets a
    caption starting with "Table N." (a table without a caption is named after the
    heading it stands under). Every link ``<a class="xref" href="#id">…</a>`` to a numbered
    figure or table then reads "Figure N" / "Table N" (its old text stays as a tooltip), so
    text and recommendations can cite numbers that follow the layout. Numbering in Python,
    not CSS counters: the numbers are the same on screen, in print and in both PDFs.
    """
    numbers: dict[str, str] = {}
    out, pos = [], 0
    n_fig = n_tab = 0
    pending_fig: str | None = None
    h2, sub = "", ""
    for m in _NUMBERED.finditer(html):
        out.append(html[pos:m.start()])
        pos = m.end()
        tag = m.group(0)
        if m.group("fid"):
            n_fig += 1
            pending_fig = tr("num.figure", lang, n=n_fig)
            numbers[m.group("fid")] = pending_fig
            out.append(tag)
        elif tag == "<figcaption>":
            out.append(tag)
            if pending_fig:
                out.append(f'<span class="num">{pending_fig}.</span> ')
                pending_fig = None
        elif tag.startswith("<table"):
            n_tab += 1
            label = tr("num.table", lang, n=n_tab)
            if m.group("tid"):
                numbers[m.group("tid")] = label
            head = tag[: -len("<caption>")] if m.group("cap") else tag
            out.append(head)
            if m.group("cap"):
                out.append(f'<caption><span class="num">{label}.</span> ')
            else:
                context = " — ".join(x for x in (sub, h2) if x)
                out.append(f'<caption><span class="num">{label}.</span> {escape(context)}</caption>')
        else:
            text = re.sub(r"<[^>]+>", "", m.group("head")).strip()
            text = html_unescape(text)
            if m.group("lvl") == "2":
                h2, sub = text, ""
            else:
                sub = text
            out.append(tag)
    out.append(html[pos:])
    html = "".join(out)
    # the list of figures: number (a cross-reference, with its page in print) and title
    items = []
    for fid in (k for k in numbers if k.startswith("fig-")):
        m = re.search(rf'<figure id="{re.escape(fid)}"[^>]*>.*?<figcaption><span class="num">[^<]*</span>\s*'
                      r'<strong>(.*?)</strong>', html, re.S)
        title = m.group(1).rstrip(".") if m else ""
        items.append(f'<li data-page="#{fid}"><a class="xref" href="#{fid}">{fid}</a> — {title}</li>')
    html = html.replace('<ol class="figure-index"></ol>', '<ol class="figure-index">' + "".join(items) + "</ol>", 1)

    def xref(m: re.Match) -> str:
        label = numbers.get(m.group("id"))
        if label is None:
            return m.group(0)
        tip = re.sub(r"<[^>]+>", "", m.group("inner")).strip()
        return f'<a class="xref" href="#{m.group("id")}" title="{escape(html_unescape(tip))}">{label}</a>'

    return _XREF.sub(xref, html)


def html_unescape(text: str) -> str:
    return html_module.unescape(text)


def build_report(lang: str = "en") -> Path:
    """Write the report in ``lang`` (and refresh ``reports/figures.csv``); return its path."""

    manifest = build_manifest(write=True)
    return write_text(report_path(lang), render_html(lang, manifest))


def city_report_langs(profile) -> list[str]:
    """The report languages of a city: those of its profile the catalogue has, else English."""
    return [lang for lang in LANGS if lang in profile.languages] or ["en"]


def build_city_report(city: str, langs: list[str] | None = None) -> list[Path]:
    """A city's own report, ``reports/cities/<city>/report.<lang>.html``, in its profile's
    languages (:func:`city_report_langs`): the city's sections, its recommendations and the
    annexes, without the other cities or the cross-city synthesis."""

    manifest = build_manifest(write=True)
    langs = langs or city_report_langs(load_profile(city))
    return [write_text(PATHS.reports / "cities" / city / f"report.{lang}.html",
                       render_html(lang, manifest, cities=[city])) for lang in langs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.publishing.report",
                                     description="Build the recommendations report (HTML, PDF).")
    parser.add_argument("--lang", choices=LANGS, action="append",
                        help="language of the HTML report (repeatable; default: en and fr)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print each language's HTML to reports/report[.fr].pdf")
    args = parser.parse_args(argv)
    langs = args.lang or list(LANGS)
    for lang in langs:
        path = build_report(lang)
        print(f"[ ok ] report ({lang}) -> {rel_path(path)}", flush=True)
    if args.pdf:
        build_pdfs(langs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
