"""The executive summary's words: per city what changed, for whom, what did not, and how far
the design lets us attribute it; the pooled results for a mayor.

Owns the summary sentences of the report and the brief (:func:`city_summary`,
:func:`pooled_summary`) and the pilot's names as shown (:func:`pilot_names`). Must not lay out
HTML, read files or decide a rating: the report assembles, :mod:`analysis.publishing.report_inputs`
reads, :mod:`analysis.publishing.recommendations` and the evidence table decide.
"""

from __future__ import annotations

import pandas as pd

from analysis.inputs import codebook
from analysis.publishing import text
from analysis.publishing.recommendations import (city_findings, evidence_level, group_label, headline_pooled,
                                                 overall_rows, plain_bounded, plain_effect, plain_label,
                                                 plural_key, pooled_plain, pooled_recommendations)
from analysis.publishing.report_inputs import CityData
from analysis.publishing.report_tables import evidence_ratings, reason_text
from analysis.publishing.text import has_key, tr


#: At most this many findings lead a city's summary (the rest are counted, and in the city's section).
SUMMARY_LEAD: int = 3


def _effects_list(rows: list[dict], lang: str, design: str) -> str:
    return tr("plain.sep", lang).join(plain_effect(r, lang, design) for r in rows)


def group_phrase(group: str, lang: str) -> str:
    """A targeted group as prose ("young people aged 15–24"); its label when no phrase is catalogued."""
    key = f"plain.group.{group}"
    return tr(key, lang) if has_key(key) else group_label(group, lang)


def summary_ratings(c: CityData, lang: str) -> dict:
    """The three ratings of a city side by side, as text: design (Maryland level), confidence
    with its reasons, and the direction of each main indicator (``evidence.csv``)."""

    r = evidence_ratings(c.tables.get("evidence"))
    if not r:
        level, _ = evidence_level(c.tables.get("evidence"))
        none = tr("summary.ratings.none", lang)
        return {"design": tr("brief.level", lang, level=level) if level else none,
                "confidence": none, "effect": none}
    design = tr("evidence.sms_value", lang, level=r["sms"] if r["sms"] else "?",
                design=tr(f"design.{r['design']}" if has_key(f"design.{r['design']}") else "design.unknown", lang))
    conf = tr(f"confidence.{r['confidence']}", lang) if r["confidence"] else tr("summary.ratings.none", lang)
    if r["reasons"]:
        conf += " — " + tr("plain.sep", lang).join(reason_text(code, lang, v, t) for code, v, t in r["reasons"])
    by_direction: dict[str, list[str]] = {}
    for e in r["effects"]:
        d = str(e.get("code", ""))  # schema evidence: an effect row's direction code
        by_direction.setdefault(d, []).append(plain_label(str(e["criterion"]), lang))
    effect = tr("plain.sep", lang).join(
        tr("plain.labelled", lang, label=tr(f"direction.{d}", lang) if has_key(f"direction.{d}") else d,
           items=", ".join(labels)) for d, labels in by_direction.items())
    return {"design": design, "confidence": conf, "effect": effect or tr("summary.ratings.none", lang)}


def city_summary(c: CityData, lang: str, n_lead: int = SUMMARY_LEAD, n_group: int = 2, n_flat: int = 2) -> dict:
    """The executive summary of one city: what changed (clearest first, in plain words, with
    its scale and interval), for whom (the pilot's targeted groups), what clearly did not
    change, how far the design lets us attribute it, and the three evidence ratings.

    Returns a dict with ``lead``, ``for_whom`` (list), ``flat``, ``attribution``, ``ratings``
    (design, confidence, effect), ``verdict_kind`` (:attr:`Findings.kind`) and ``text`` (the
    sentences joined), or ``available`` False with a ``reason``. ``n_lead``, ``n_group`` and
    ``n_flat`` cap the findings quoted in each sentence (the brief quotes fewer).
    """

    out = {"city": c.city, "name": c.name, "anchor": f"city-{c.city}", "available": c.available,
           "reason": c.reason.text(lang) if c.reason else None, "text": "", "verdict": "",
           "synthetic": c.synthetic}
    impact = c.tables.get("impact")
    if not c.available or impact is None:
        why = c.reason or c.missing.get("impact")
        out["available"] = False
        out["reason"] = why.text(lang) if why else tr("na.unknown", lang)
        return out
    if overall_rows(impact).empty:
        out["available"] = False
        out["reason"] = tr("na.no_overall", lang)
        return out
    groups = list(c.profile.pilot.targeted_groups) if c.profile is not None else []
    f = city_findings(impact, c.tables.get("evidence"), groups)
    design = f.design
    if f.moved:
        # a deterioration is never hidden behind "and N more": the clearest one takes the last place
        shown = f.moved[:n_lead] if not f.worsened or f.worsened[0] in f.moved[:n_lead] \
            else f.improved[:n_lead - 1] + f.worsened[:1]
        rest = len(f.moved) - len(shown)
        more = tr(plural_key("summary.lead.more", rest, lang), lang, n=rest) if rest > 0 else ""
        lead = tr("summary.lead.moved", lang, effects=_effects_list(shown, lang, design), more=more)
    elif not f.n_estimated:
        lead = tr("summary.lead.none_estimable", lang)
    elif f.leaning_negative:
        lead = tr(f"summary.lead.none_negative.{'pre_post' if design == 'pre_post' else 'did'}", lang,
                  neg=f.n_negative, n=f.n_estimated)
    else:
        # what the intervals still allow on the first headline indicator: a precise null and a
        # wide one do not read alike (nor do two cities)
        order = {o: i for i, o in enumerate(codebook.OUTCOMES)}
        first = min(f.precise + f.unclear, key=lambda r: order.get(r["outcome"], len(order)))
        lead = tr(f"summary.lead.none.{'pre_post' if design == 'pre_post' else 'did'}", lang, n=f.n_estimated,
                  bounded=plain_bounded(first, lang))
    for_whom = []
    for g in groups:
        if g not in f.group_rows:
            continue  # not estimable for the group: its section says why
        phrase = group_phrase(g, lang)
        moved = f.groups.get(g, [])
        if moved:
            for_whom.append(tr("summary.for_whom.moved", lang, group=phrase,
                               effects=_effects_list(moved[:n_group], lang, design)))
        else:
            for_whom.append(tr("summary.for_whom.none", lang, group=phrase))
    flat = tr("summary.flat", lang, effects=tr("plain.sep", lang).join(plain_bounded(r, lang) for r in f.precise[:n_flat])) \
        if f.precise else ""
    reasons = tr("plain.sep", lang).join(reason_text(code, lang, v, t) for code, v, t
                                         in evidence_ratings(c.tables.get("evidence")).get("reasons", [])) \
        or tr("plain.sep", lang).join(f.reasons)
    if design == "did":
        conf = f.confidence if f.confidence in ("high", "moderate", "low") else "unknown"
        attribution = tr(f"summary.attribution.did.{conf}", lang, reasons=reasons)
    elif design == "pre_post":
        attribution = tr("summary.attribution.pre_post", lang)
    else:
        attribution = tr("summary.attribution.unknown", lang)
    out.update(lead=lead, for_whom=for_whom, flat=flat, attribution=attribution,
               ratings=summary_ratings(c, lang), verdict_kind=f.kind,
               tag=tr(f"summary.tag.{f.kind}", lang), findings=f,
               pilot=pilot_names(c.profile, lang)[0] if c.profile is not None else "",
               kind=c.profile.pilot.text("kind", lang) if c.profile is not None else "")
    out["text"] = " ".join(x for x in (lead, *for_whom, flat, attribution) if x)
    return out


def pooled_summary(pooled: pd.DataFrame | None, lang: str) -> list[str]:
    """One sentence per pooled outcome (residents, all): in plain words with the prediction
    interval read for a new city (:func:`pooled_plain`), else the rule's statement."""

    plain = [pooled_plain(r, lang) for r in headline_pooled(pooled)]
    if plain:
        return plain
    return [r.text(lang) for r in pooled_recommendations(pooled) if r.rule != "heterogeneous"] \
        if pooled is not None else []


def pilot_names(prof, lang: str) -> tuple[str, str, str | None, str]:
    """The pilot's name to show first in ``lang`` and its language, then the other name and its language.

    The first is :meth:`analysis.inputs.profile.Pilot.display_name` (``name_<lang>``, else the
    local name when ``lang`` is one of the city's languages, else the English ``name``); the
    other is the English name when the first is not, else the local name.
    """
    local_lang = prof.languages[0] if prof.languages else text.SOURCE_LANG
    name, name_lang = prof.pilot.display_name(lang, prof.languages)
    if name != prof.pilot.name:
        return name, name_lang, prof.pilot.name, text.SOURCE_LANG
    return name, name_lang, prof.pilot.name_local, local_lang
