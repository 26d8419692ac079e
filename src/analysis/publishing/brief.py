"""The policy brief: at most six printed pages a mayor reads, in each language.

Owns ``reports/brief[.fr].html`` / ``.pdf`` and each city's ``reports/cities/<city>/brief.<lang>``
(what was tried, what the evidence says, what to do, how sure we are), assembled from what the
report reads — published tables, profiles, the figure manifest — through the report's summary
and the generated recommendations. Must not compute statistics or read raw data; every word
comes from ``locale/brief.yml`` (or ``report.yml``) through :func:`analysis.publishing.text.tr`.

Command line::

    python -m analysis.publishing.brief             # both languages, HTML and PDF
    python -m analysis.publishing.brief --city brussels
"""

from __future__ import annotations

import argparse
import dataclasses
import html as html_module
import re
import sys
from pathlib import Path

import pandas as pd
from babel.dates import format_date

from analysis.config import K_SUPPRESS, PATHS
from analysis.inputs.profile import load_profile
from analysis.io import atomic_path, write_text
from analysis.publishing import report
from analysis.publishing import pdf as printing, report_inputs, report_summary
from analysis.publishing.manifest import build_manifest, collect_sidecars
from analysis.publishing.recommendations import (Recommendation, build_recommendations, by_theme, city_name, clearness, group_label, headline_pooled, lead_order, plain_effect,
                                                 pooled_plain)
from analysis.publishing.text import LANGS, file_suffix, tr

#: The brief's page budget, printed (A4): a mayor's read, not the committee's.
MAX_PAGES: int = 6
#: At most this many effects are quoted in one statement of the brief (the report has them all).
BRIEF_EFFECTS: int = 2
#: At most this many report numbers are cited after one statement of the brief.
BRIEF_REFS: int = 4
#: Pooled outcomes the brief reads out (the headline pool; the report has every one).
BRIEF_POOLED: tuple[str, ...] = ("trust_police", "pj_index")
#: Statements the brief leaves to the report: the other indicators of a pilot that moved some,
#: subgroup hypotheses, cells without an estimate, and the pooled lines (read out in plain words
#: under "what the evidence says"). Officer statements are read as one (:func:`officers_item`).
LEFT_TO_REPORT: tuple[str, ...] = ("no_large_effect.rest", "for_whom", "not_estimable", "pooled_effect",
                                   "pooled_null", "officers_change", "officers_null")


# ===================================================================== paths
def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PATHS.root.resolve()))
    except ValueError:
        return str(path)


def brief_path(lang: str = "en", city: str | None = None) -> Path:
    """``reports/brief.html`` (English), ``reports/brief.<lang>.html``, or a city's
    ``reports/cities/<city>/brief.<lang>.html``."""
    if city:
        return PATHS.reports / "cities" / city / f"brief.{lang}.html"
    return PATHS.reports / f"brief{file_suffix(lang)}.html"


def brief_pdf_path(lang: str = "en", city: str | None = None) -> Path:
    """The PDF beside :func:`brief_path`."""
    return brief_path(lang, city).with_suffix(".pdf")


def report_html_path(lang: str = "en", city: str | None = None) -> Path:
    """The report whose figure and table numbers the brief cites."""
    if city:
        return PATHS.reports / "cities" / city / f"report.{lang}.html"
    return report_inputs.report_path(lang)


# ===================================================================== references to the report
_REPORT_NUMBERS = re.compile(
    r'<figure id="(?P<fid>[^"]+)"[^>]*>.*?<span class="num">(?P<fnum>[^<]+?)\.</span>'
    r'|<table class="data" id="(?P<tid>[^"]+)"><caption><span class="num">(?P<tnum>[^<]+?)\.</span>', re.S)


def report_numbers(html: str) -> dict[str, str]:
    """``{anchor: "Figure 12"}`` for every numbered figure and table of a built report."""
    out = {}
    for m in _REPORT_NUMBERS.finditer(html):
        if m.group("fid"):
            out[m.group("fid")] = html_module.unescape(m.group("fnum"))
        else:
            out[m.group("tid")] = html_module.unescape(m.group("tnum"))
    return out


def read_report_numbers(lang: str, city: str | None = None) -> dict[str, str]:
    """:func:`report_numbers` of the built report in ``lang``; empty when it was not built."""
    path = report_html_path(lang, city)
    return report_numbers(path.read_text(encoding="utf-8")) if path.is_file() else {}


# ===================================================================== words
def fmt_month(day, lang: str) -> str:
    """"Sep 2014" / "sept. 2014": a pilot's period is read in months."""
    return format_date(day, "MMM y", locale=lang)


def short(rec: Recommendation) -> Recommendation:
    """A statement with at most :data:`BRIEF_EFFECTS` effects quoted, the clearest first (the
    brief's page budget; the report quotes them all)."""
    params = dict(rec.params)
    for key in ("effects", "bounds"):
        rows = params.get(key)
        if isinstance(rows, list) and len(rows) > BRIEF_EFFECTS:
            params[key] = lead_order(rows)[:BRIEF_EFFECTS]
    return dataclasses.replace(rec, params=params)


def officers_item(recs: list[Recommendation], lang: str, refs_of) -> tuple[Recommendation, dict] | None:
    """The officer statements of every city as one item of the brief: where officers' answers
    changed, where not, and why these are changes, not effects. None without officer results."""
    off = [r for r in recs if r.rule in ("officers_change", "officers_null")]
    if not off:
        return None
    names = {rule: [city_name(r.city, lang) for r in off if r.rule == rule] for rule in ("officers_change",
                                                                                          "officers_null")}
    clauses = [tr(key, lang, cities=", ".join(cities)) for key, cities in
               (("brief.officers.changed", names["officers_change"]), ("brief.officers.unchanged", names["officers_null"]))
               if cities]
    clauses = tr("plain.sep", lang).join(clauses)
    text = tr("brief.officers.sentence", lang, clauses=clauses[:1].upper() + clauses[1:],
              caveat=tr("brief.officers.caveat", lang))
    sources = tuple(s for r in off if r.rule == "officers_change" for s in r.sources)
    return off[0], {"rule": "officers", "text": text, "refs": refs_of(sources)}


# ===================================================================== context
def build_context(lang: str = "en", manifest: pd.DataFrame | None = None, cities: list[str] | None = None,
                  numbers: dict[str, str] | None = None) -> dict:
    """Everything the brief template needs, in ``lang``.

    Parameters
    ----------
    cities : list of str, optional
        A city's own brief (those cities, no cross-city synthesis); default every city.
    numbers : dict, optional
        ``{anchor: "Table 12"}`` of the report the brief refers to (:func:`read_report_numbers`).
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if manifest is None:
        manifest, _ = collect_sidecars()
    only = list(cities) if cities else None
    # no manifest here: the brief embeds no figure (embedding them is the slow part of loading)
    loaded = [report_inputs.load_city(c, None, lang) for c in (only or report_inputs.report_cities(manifest))]
    data = [c for c in loaded if c.available]
    # a city without results is named with its reason, never silently left out
    missing = [tr("plain.labelled", lang, label=c.name, items=c.reason.text(lang)) for c in loaded
               if not c.available and c.reason is not None]
    summaries = [report_summary.city_summary(c, lang, n_lead=2, n_group=1, n_flat=1) for c in data]

    pilots = []
    for c in data:
        p = c.profile
        if p is None:
            continue
        kind = next((s.get("findings") for s in summaries if s["city"] == c.city), None)
        pilots.append({
            "city": c.name, "anchor": f"brief-{c.city}", "pilot": report_summary.pilot_names(p, lang)[0],
            "pilot_lang": report_summary.pilot_names(p, lang)[1],  # marked up: a screen reader reads it in its language
            "kind": p.pilot.text("kind", lang), "kind_lang": p.pilot.text_lang("kind", lang),
            "theme": tr(f"theme.{p.pilot.theme or 'other'}", lang),
            "groups": ", ".join(group_label(g, lang) for g in p.pilot.targeted_groups),
            "period": tr("brief.period", lang, start=fmt_month(p.pilot.start, lang), end=fmt_month(p.pilot.end, lang)),
            "design": tr(f"brief.design.{kind.design}", lang, level=kind.level or "?") if kind is not None else "—",
            "status": tr("brief.status.synthetic" if c.synthetic else "brief.status.real", lang),
            "synthetic": c.synthetic,
        })

    pooled = None
    if not only:
        pooled, _ = report_inputs.read_table("pooled")
    results = {c.city: {"impact": c.tables.get("impact"), "evidence": c.tables.get("evidence")}
               for c in data if c.tables.get("impact") is not None}
    recs = build_recommendations(results, pooled, manifest,
                                 {c.city: report_summary.pilot_names(c.profile, lang)[0] for c in data if c.profile},
                                 {c.city: c.profile.pilot.theme for c in data if c.profile})
    numbers = numbers or {}

    def refs_of(sources) -> str:
        refs = list(dict.fromkeys(numbers[s.anchor] for s in sources if s.anchor in numbers))
        if len(refs) > BRIEF_REFS:  # the first ones; the report's statement cites them all
            refs = [*refs[:BRIEF_REFS], "…"]
        return tr("brief.ref", lang, refs=", ".join(refs)) if refs else ""

    officers = officers_item(recs, lang, refs_of)
    kept = [r for r in recs if r.rule not in LEFT_TO_REPORT and f"{r.rule}.{r.variant}" not in LEFT_TO_REPORT]
    themes = []
    for theme, group in by_theme(kept + ([officers[0]] if officers else [])):
        items = []
        for r in group:
            if officers and r is officers[0]:
                items.append(officers[1])
                continue
            items.append({"rule": r.rule, "text": short(r).text(lang), "refs": refs_of(r.sources)})
        themes.append({"code": theme, "title": tr(f"theme.{theme}", lang), "recs": items})

    # key messages: the clearest attributable result, the pooled result, where nothing is attributable
    messages = []
    # (an isolated improvement, one indicator of many, is not a headline: chance can do that)
    best = max(((s, s["findings"].improved[0]) for s in summaries if s.get("available")
                and s["findings"].attributable and s["findings"].improved and s["findings"].kind != "isolated"),
               key=lambda x: round(clearness(x[1]), 6), default=None)
    if best is not None:
        s, row = best
        messages.append(tr("brief.msg.worked", lang, city=s["name"],
                           effect=plain_effect(row, lang, s["findings"].design)))
    pooled_lines = [pooled_plain(r, lang) for r in headline_pooled(pooled, BRIEF_POOLED)]
    messages += pooled_lines[:1]
    if len(summaries) > 1:
        by_tag: dict[str, list[str]] = {}
        for s in summaries:
            if s.get("available"):
                by_tag.setdefault(s["tag"], []).append(s["name"])
        messages.append(tr("brief.msg.overview", lang,
                           groups=tr("plain.sep", lang).join(tr("plain.labelled", lang, label=tag, items=", ".join(names))
                                                             for tag, names in by_tag.items())))
    for s in summaries:  # the ratings table of the brief: the design level, short (the pilots table names the design)
        if s.get("available") and s["findings"].level:
            s["ratings"] = {**s["ratings"], "design": tr("brief.level", lang, level=s["findings"].level)}

    synthetic = any(c.synthetic for c in data)
    found = [s["findings"] for s in summaries if s.get("available")]
    counts = {"n": len(found), "n_did": sum(f.design == "did" for f in found),
              "n_pre_post": sum(f.design == "pre_post" for f in found),
              "n_few": sum("few_clusters" in f.reasons for f in found),
              "n_ind": max((f.n_estimated + len(f.not_estimable) for f in found), default=0)}
    limits = []
    if only:
        limits += [tr("brief.limit.design_city", lang, design_text=s["attribution"]) for s in summaries
                   if s.get("available")]
    else:
        limits.append(tr("brief.limit.design", lang, **counts))
    limits.append(tr("brief.limit.trends", lang))
    if counts["n_few"] and not only:
        limits.append(tr("brief.limit.clusters", lang, **counts))
    limits += [tr("brief.limit.tests", lang, **counts), tr("brief.limit.officers", lang),
               tr("brief.limit.privacy", lang, k=K_SUPPRESS)]
    status: dict[str, list[str]] = {}
    for p in pilots:
        status.setdefault(p["status"], []).append(p["city"])
    if missing:
        limits.append(tr("brief.limit.missing", lang, items=tr("plain.sep", lang).join(missing)))
    limits.append(tr("brief.limit.status", lang, items=tr("plain.sep", lang).join(
        tr("plain.labelled", lang, label=st, items=", ".join(names)) for st, names in status.items())))
    profiles = [c.profile for c in data if c.profile is not None]
    tried = tr("brief.tried_intro_city", lang) if only or not profiles else tr(
        "brief.tried_intro", lang, n=len(profiles), start=fmt_month(min(p.pilot.start for p in profiles), lang),
        end=fmt_month(max(p.pilot.end for p in profiles), lang))
    report_file = report_html_path(lang, only[0] if only else None).name
    title = tr("brief.city_title", lang, city=data[0].name) if only and data else tr("brief.title", lang)
    return {
        "lang": lang, "t": lambda key, **kw: tr(key, lang, **kw), "title": title,
        "city_only": bool(only), "synthetic": synthetic,
        "real_cities": [c.name for c in data if not c.synthetic],
        "synthetic_cities": [c.name for c in data if c.synthetic],
        "messages": messages, "pilots": pilots, "summaries": summaries, "tried": tried,
        "pooled_lines": pooled_lines, "themes": themes, "limits": limits,
        "report_file": report_file, "k": K_SUPPRESS,
        "css": (report.TEMPLATES / "brief.css").read_text(encoding="utf-8"),
    }


def render_html(lang: str = "en", manifest: pd.DataFrame | None = None, cities: list[str] | None = None,
                numbers: dict[str, str] | None = None) -> str:
    """The brief in ``lang`` as one self-contained HTML string."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(report.TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template("brief.html.j2").render(**build_context(lang, manifest, cities, numbers))


# ===================================================================== PDF
def render_document(html: str):
    """The brief laid out for print by WeasyPrint (pages, bookmarks), or None without WeasyPrint."""
    wp = printing.find_weasyprint()
    if wp is None:
        return None
    # base_url: the brief is self-contained; nothing is fetched
    return wp.HTML(string=html, base_url=str(PATHS.reports)).render()


def render_pdf(html: str, pdf: Path) -> int | None:
    """Print the brief's HTML to ``pdf`` with WeasyPrint; the number of pages, or None (and a
    message saying what to install) when WeasyPrint is missing. Pages are counted on the
    laid-out document, before writing."""
    document = render_document(html)
    if document is None:
        print("[skip] brief PDF: WeasyPrint is not installed (pip install weasyprint; it needs the Pango "
              "library), see python -m analysis.publishing.report --help", flush=True)
        return None
    with atomic_path(pdf) as tmp:
        document.write_pdf(str(tmp))
    pages = len(document.pages)
    if pages > MAX_PAGES:
        print(f"[warn] {_rel(pdf)}: {pages} pages, over the brief's budget of {MAX_PAGES}", flush=True)
    return pages


def build_brief(lang: str = "en", *, pdf: bool = True, manifest: pd.DataFrame | None = None) -> list[Path]:
    """Write ``reports/brief[.<lang>].html`` (and the PDF); the paths written.

    Figure and table numbers are those of the report in ``lang`` when it was built first
    (:func:`analysis.publishing.report.build_report`), as ``make report`` does.
    """
    manifest = build_manifest(write=False) if manifest is None else manifest
    html = render_html(lang, manifest, numbers=read_report_numbers(lang))
    out = [write_text(brief_path(lang), html)]
    if pdf and render_pdf(html, brief_pdf_path(lang)) is not None:
        out.append(brief_pdf_path(lang))
    return out


def build_briefs(langs: tuple[str, ...] | list[str] = LANGS, *, pdf: bool = True,
                 manifest: pd.DataFrame | None = None) -> list[Path]:
    """:func:`build_brief` for each language; the paths written (``manifest``: the report
    step's, built once per ``make report``)."""
    manifest = build_manifest(write=False) if manifest is None else manifest
    out = []
    for lang in langs:
        for path in build_brief(lang, pdf=pdf, manifest=manifest):
            print(f"[ ok ] brief ({lang}) -> {_rel(path)}", flush=True)
            out.append(path)
    return out


def build_city_brief(city: str, langs: list[str] | None = None, *, pdf: bool = True) -> list[Path]:
    """A city's own brief, ``reports/cities/<city>/brief.<lang>.html`` (+ PDF), in its profile's
    languages (:func:`analysis.publishing.report.city_report_langs`); numbers cite the city's report."""
    manifest = build_manifest(write=False)
    langs = langs or report.city_report_langs(load_profile(city))
    out = []
    for lang in langs:
        html = render_html(lang, manifest, cities=[city], numbers=read_report_numbers(lang, city))
        out.append(write_text(brief_path(lang, city), html))
        if pdf and render_pdf(html, brief_pdf_path(lang, city)) is not None:
            out.append(brief_pdf_path(lang, city))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.publishing.brief",
                                     description="Build the policy brief (HTML and PDF, at most six pages).")
    parser.add_argument("--lang", choices=LANGS, action="append", help="language (repeatable; default: en and fr)")
    parser.add_argument("--city", help="a city's own brief (reports/cities/CITY/), in its profile's languages")
    parser.add_argument("--no-pdf", action="store_true", help="HTML only")
    args = parser.parse_args(argv)
    if args.city:
        for path in build_city_brief(args.city, args.lang, pdf=not args.no_pdf):
            print(f"[ ok ] {args.city} brief -> {_rel(path)}", flush=True)
    else:
        build_briefs(args.lang or list(LANGS), pdf=not args.no_pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
