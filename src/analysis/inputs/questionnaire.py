"""Field a compatible survey: the codebook as a questionnaire and an XLSForm.

Owns the codebook as a printable questionnaire and an XLSForm. Must not define items of
its own: every question comes from analysis.inputs.codebook.

The codebook (:mod:`analysis.inputs.codebook`) is the project's questionnaire. This module exports it

* as a **printable questionnaire**, one self-contained HTML page per language
  (:func:`questionnaire_html`; PDF through WeasyPrint when it is installed), with the
  ESS Round 5 source wording of the items that come from the ESS;
* as an **XLSForm** (:func:`write_xlsform`), the form standard of KoboToolbox and ODK:
  ``survey``, ``choices`` and ``settings`` sheets with the codebook's item names, its
  answer codes as choice names, don't know and refusal as distinct choices (``dk``,
  ``refusal``, both read as missing by the cleaning step), the age range as a constraint
  and the skip logic (contact questions only after a police contact, participation only
  when the pilot is known). A fourth sheet, ``imppulse``, holds what no answer tells (the
  city, its pilot and comparison areas, the fieldwork windows, the margins file):
  ``make new-city`` reads it, so that a survey fielded with the form drafts a profile with
  no TODO left (:mod:`analysis.inputs.newcity`).

:func:`synthetic_kobo_export` writes what KoboToolbox exports from that form (CSV, ``;``,
group prefixes ``g_police/trust_police``, choice names as values, ``start``/``end``/
``today``, ``_id``, ``_uuid``, ``_submission_time``...), for tests and demonstrations.

Wording. English items that come from the ESS carry the ESS Round 5 source questionnaire
wording ("[country]" is where the national questionnaire names the country). The French
wording is the project's translation, to be checked against the French-language ESS R5
questionnaires (France, Belgium). For the other partner languages the question text is
the English source, clearly marked "translation to be checked against the national ESS R5
questionnaire"; only answer labels are given in those languages (the partners' own labels,
:data:`analysis.inputs.newcity.SCALES`). No official translation is invented.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.inputs import codebook
from analysis.config import PATHS, SEED
from analysis.inputs.newcity import METADATA_KEYS, MISSING, SCALES, Unit, units_from_csv

LANG_NAMES: dict[str, str] = {"en": "English", "fr": "Français", "it": "Italiano", "es": "Español",
                              "ca": "Català", "nl": "Nederlands", "lt": "Lietuvių", "pt": "Português",
                              "de": "Deutsch"}
#: XLSForm label columns: ``label::English (en)`` / ``label::Français (fr)``.
FORM_LANGS: tuple[str, ...] = ("en", "fr")

CHECK_NOTE = {
    "fr": "Traduction du projet, à vérifier contre le questionnaire ESS R5 en français (France, Belgique).",
    "other": "Translation to be checked against the national ESS R5 questionnaire: the question text below is "
             "the English ESS source. The answer labels in this language come from the project's matching "
             "vocabulary (the partners' delivered labels where there are some) and are to be checked too; "
             "end-point labels marked [en] are English.",
}


@dataclass(frozen=True)
class Question:
    """One question of the residents' questionnaire.

    ``text`` is ``{"en": ..., "fr": ...}``; for ESS items the English text is the ESS R5
    source wording. ``scale`` names a choice list (:data:`CHOICE_LISTS`) or is ``integer``.
    """

    name: str
    group: str
    scale: str
    text: dict[str, str]
    ess: str | None = None
    relevant: str | None = None  # codebook name of the yes/no filter question
    interviewer: dict[str, str] | None = None


GROUPS: dict[str, dict[str, str]] = {
    "g_interview": {"en": "Interview", "fr": "Entretien"},
    "g_about": {"en": "About you", "fr": "Vous concernant"},
    "g_contact": {"en": "Contact with the police", "fr": "Contacts avec la police"},
    "g_police": {"en": "The police", "fr": "La police"},
    "g_safety": {"en": "Safety and reporting", "fr": "Sécurité et signalement"},
    "g_pilot": {"en": "The pilot project", "fr": "Le projet pilote"},
}

QUESTIONS: tuple[Question, ...] = (
    Question("wave", "g_interview", "wave",
             {"en": "Survey wave", "fr": "Vague d'enquête"},
             interviewer={"en": "Interviewer: code the wave of this fieldwork.", "fr": "Enquêteur : codez la vague."}),
    Question("neighbourhood", "g_interview", "neighbourhood",
             {"en": "In which neighbourhood do you live?", "fr": "Dans quel quartier habitez-vous ?"},
             interviewer={"en": "Code the official unit of the address.", "fr": "Codez l'unité officielle de l'adresse."}),
    Question("age", "g_about", "integer",
             {"en": "How old are you?", "fr": "Quel âge avez-vous ?"},
             interviewer={"en": "Age in completed years (15 to 110); leave blank if refused.",
                          "fr": "Âge en années révolues (15 à 110) ; laisser vide en cas de refus."}),
    Question("gender", "g_about", "gender",
             {"en": "Sex of the respondent", "fr": "Sexe de la personne interrogée"},
             interviewer={"en": "Code; ask only if unsure (as in the ESS).",
                          "fr": "À coder ; ne demander qu'en cas de doute (comme dans l'ESS)."}),
    Question("migrant_background", "g_about", "yesno",
             {"en": "Were you, or was either of your parents, born outside [country]?",
              "fr": "Êtes-vous né(e), ou l'un de vos parents est-il né, hors de [pays] ?"}),
    Question("shopkeeper", "g_about", "yesno",
             {"en": "Do you run or work in a shop or business in this neighbourhood?",
              "fr": "Tenez-vous un commerce dans ce quartier, ou y travaillez-vous ?"}),
    Question("tourist", "g_about", "yesno",
             {"en": "Are you in this city as a tourist or visitor?",
              "fr": "Êtes-vous dans cette ville en tant que touriste ou visiteur ?"}),
    Question("police_contact_12m", "g_contact", "yesno",
             {"en": "In the past 12 months, have you had any contact with the police in this city, whether you "
                    "or they initiated it?",
              "fr": "Au cours des 12 derniers mois, avez-vous eu un contact avec la police dans cette ville, "
                    "que ce soit à votre initiative ou à la sienne ?"}),
    Question("contact_initiated_by", "g_contact", "initiated",
             {"en": "Thinking of the most recent contact, who initiated it?",
              "fr": "Lors du contact le plus récent, qui en a pris l'initiative ?"},
             relevant="police_contact_12m"),
    Question("contact_satisfaction", "g_contact", "sat5",
             {"en": "How satisfied or dissatisfied were you with the way the police dealt with you?",
              "fr": "Dans quelle mesure avez-vous été satisfait(e) ou insatisfait(e) de la manière dont la police "
                    "vous a traité(e) ?"},
             relevant="police_contact_12m"),
    Question("trust_police", "g_police", "scale_trust",
             {"en": "Using this card, please tell me on a score of 0-10 how much you personally trust each of the "
                    "institutions I read out. 0 means you do not trust an institution at all, and 10 means you have "
                    "complete trust. … the police?",
              "fr": "À l'aide de cette carte, dites-moi sur une échelle de 0 à 10 quel degré de confiance vous "
                    "accordez personnellement à chacune des institutions que je vais citer. 0 signifie que vous "
                    "n'avez aucune confiance dans l'institution et 10 que vous lui faites entièrement confiance. "
                    "… la police ?"},
             ess="trstplc"),
    Question("pj_respect", "g_police", "freq4",
             {"en": "Based on what you have heard or your own experience how often would you say the police "
                    "generally treat people in [country] with respect?",
              "fr": "D'après ce que vous avez entendu dire ou votre propre expérience, diriez-vous que la police "
                    "traite en général les gens en [pays] avec respect… ?"},
             ess="plcrspc"),
    Question("pj_fair", "g_police", "freq4",
             {"en": "About how often would you say that the police make fair, impartial decisions in the cases "
                    "they deal with?",
              "fr": "Diriez-vous que la police prend des décisions justes et impartiales dans les affaires dont "
                    "elle s'occupe… ?"},
             ess="plcfrdc"),
    Question("pj_explain", "g_police", "freq4",
             {"en": "When dealing with people in [country], how often would you say the police generally "
                    "explain their decisions and actions when asked to do so?",
              "fr": "Dans ses rapports avec les gens en [pays], diriez-vous que la police explique en général "
                    "ses décisions et ses actes quand on le lui demande… ?"},
             ess="plcexdc"),
    Question("eff_violence", "g_police", "scale_eff",
             {"en": "Based on what you have heard or your own experience how successful do you think the police "
                    "are at preventing crimes in [country] where violence is used or threatened?",
              "fr": "D'après ce que vous avez entendu dire ou votre propre expérience, dans quelle mesure pensez-vous "
                    "que la police réussit à prévenir les délits commis en [pays] avec violence ou menace de "
                    "violence ?"},
             ess="plcpvcr"),
    Question("eff_burglary", "g_police", "scale_eff",
             {"en": "How successful do you think the police are at catching people who commit house "
                    "burglaries in [country]?",
              "fr": "Dans quelle mesure pensez-vous que la police réussit à arrêter les auteurs de cambriolages "
                    "de logements en [pays] ?"},
             ess="plccbrg"),
    Question("duty_support_police", "g_police", "scale_duty",
             {"en": "To what extent is it your duty to back the decisions made by the police even when you "
                    "disagree with them?",
              "fr": "Dans quelle mesure est-ce votre devoir de soutenir les décisions prises par la police, même "
                    "lorsque vous n'êtes pas d'accord avec elles ?"},
             ess="bplcdc"),
    Question("willing_report", "g_safety", "likely4",
             {"en": "If you saw a crime being committed in your neighbourhood, how likely is it that you would "
                    "report it to the police?",
              "fr": "Si vous étiez témoin d'un délit dans votre quartier, quelle est la probabilité que vous le "
                    "signaliez à la police ?"}),
    Question("feel_safe_dark", "g_safety", "safe4",
             {"en": "How safe do you – or would you – feel walking alone in this area after dark?",
              "fr": "Vous sentez-vous – ou vous sentiriez-vous – en sécurité quand vous marchez seul(e) dans "
                    "votre quartier une fois la nuit tombée ?"},
             ess="aesfdrk"),
    Question("pilot_aware", "g_pilot", "yesno",
             {"en": "Have you heard of [pilot project], run in this neighbourhood by the police and the city?",
              "fr": "Avez-vous entendu parler de [projet pilote], mené dans ce quartier par la police et la ville ?"}),
    Question("pilot_participated", "g_pilot", "yesno",
             {"en": "Have you taken part in any of its activities?",
              "fr": "Avez-vous participé à l'une de ses activités ?"},
             relevant="pilot_aware"),
)

#: Choice lists whose codes are the codebook's; ``safe4`` lists them in the ESS order (very safe first).
_ORDER = {"safe4": [4, 3, 2, 1]}
_ENDS = {"scale_trust": "trust_police", "scale_eff": "eff_violence", "scale_duty": "duty_support_police"}


def _missing_labels(lang: str) -> tuple[str, str]:
    labels = MISSING[lang]
    refusal = {"en": "Refusal", "fr": "Refus", "it": "Non risponde", "es": "No contesta", "ca": "No contesta",
               "nl": "Geen antwoord", "lt": "Atsisakė atsakyti", "pt": "Não responde", "de": "Keine Angabe"}
    return labels[0], refusal[lang]


def choices(scale: str, lang: str, units: list[Unit] | None = None) -> list[tuple[str, str]]:
    """``[(choice name, label)]`` of a choice list in ``lang``; dk and refusal last.

    Labels of other languages than en/fr that the tables lack fall back to English, marked.
    """
    def lab(value, scale_name):
        t = SCALES[scale_name].get(value, {}).get(lang) or SCALES[scale_name].get(value, {}).get("en")
        return t[0] if t else str(value)

    dk, refusal = _missing_labels(lang)
    if scale == "wave":
        v = codebook.var("wave")
        return [(w, v.category_labels[w][1 if lang == "fr" else 0]) for w in codebook.WAVES]
    if scale == "neighbourhood":
        return [(u.code, u.name) for u in (units or [])] or [("TODO1", "TODO: the city's units (NEIGHBOURHOODS=)")]
    if scale == "yesno":
        return [("yes", lab(True, "yesno")), ("no", lab(False, "yesno")), ("dk", dk), ("refusal", refusal)]
    if scale == "gender":
        return [("female", lab("female", "gender")), ("male", lab("male", "gender")), ("refusal", refusal)]
    if scale == "initiated":
        return [("resident", lab("resident", "initiated")), ("police", lab("police", "initiated")),
                ("dk", dk), ("refusal", refusal)]
    if scale in ("freq4", "likely4", "safe4", "sat5"):
        values = _ORDER.get(scale, list(SCALES[scale]))
        return [(str(v), lab(v, scale)) for v in values] + [("dk", dk), ("refusal", refusal)]
    if scale in _ENDS:
        var = codebook.var(_ENDS[scale])
        out = []
        for k in range(0, 11):
            end = var.scale_labels.get(k)
            text = str(k)
            if end:
                end_text = end[1] if lang == "fr" else end[0]
                text = f"{k} {end_text}" + ("" if lang in ("en", "fr") else " [en]")
            out.append((str(k), text))
        return out + [("dk", dk), ("refusal", refusal)]
    raise KeyError(f"unknown choice list {scale!r}")


def _text(q: Question, lang: str) -> str:
    return q.text.get(lang) or q.text["en"]


def _filter_text(q: Question, lang: str, number: dict[str, int]) -> str | None:
    if not q.relevant:
        return None
    n = number[q.relevant]
    yes = choices("yesno", lang)[0][1]
    return (f"Ask only if Q{n} = {yes}" if lang != "fr" else f"Poser seulement si Q{n} = {yes}")


# ============================================================================ HTML
_CSS = """
body{font-family:Georgia,'DejaVu Serif',serif;max-width:52em;margin:2em auto;color:#111;line-height:1.4}
h1{font-size:1.5em} h2{font-size:1.15em;border-bottom:1px solid #888;margin-top:1.6em}
.q{margin:1em 0;page-break-inside:avoid} .qn{font-weight:bold}
.src{color:#555;font-size:.85em} .filter{font-style:italic;color:#333}
.note{background:#fff4d6;border:1px solid #d9b44a;padding:.5em .8em}
table.ch{border-collapse:collapse;margin:.3em 0 .3em 1.5em} table.ch td{padding:.1em .6em}
td.code{color:#555;text-align:right;font-family:monospace}
.iv{color:#444;font-size:.9em}
@media print{body{margin:0}}
"""


def questionnaire_html(lang: str = "en", units: list[Unit] | None = None, title: str | None = None) -> str:
    """The residents' questionnaire as one self-contained HTML page in ``lang``.

    Parameters
    ----------
    lang : str
        One of :data:`LANG_NAMES`. English and French carry full question texts; other
        languages carry the answer labels and the English question text, marked as a
        translation to be checked against the national ESS R5 questionnaire.
    units : list of Unit, optional
        The city's neighbourhoods (answer list of the neighbourhood question).
    """
    if lang not in LANG_NAMES:
        raise ValueError(f"language {lang!r}: expected one of {sorted(LANG_NAMES)}")
    e = html.escape
    number = {q.name: i for i, q in enumerate(QUESTIONS, start=1)}
    fr = lang == "fr"
    title = title or ("Enquête IMPPULSE auprès des habitants" if fr else "IMPPULSE residents' survey")
    out = [f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)} ({e(LANG_NAMES[lang])})</h1>"]
    intro = ("Questionnaire généré depuis le codebook du projet (analysis.inputs.codebook, version "
             f"{__version__}). Les noms de variables (entre crochets) sont ceux du codebook et du XLSForm. "
             "Les items marqués ESS reprennent le module « Confiance dans la justice » de l'ESS Round 5."
             if fr else
             f"Generated from the project's codebook (analysis.inputs.codebook, version {__version__}). Variable names "
             "(in brackets) are those of the codebook and of the XLSForm. Items marked ESS follow the ESS Round 5 "
             "'Trust in justice' module; [country] is where the national questionnaire names the country.")
    out.append(f"<p>{e(intro)}</p>")
    if lang != "en":
        out.append(f"<p class='note'>{e(CHECK_NOTE['fr' if fr else 'other'])}</p>")
    group = None
    for q in QUESTIONS:
        if q.group != group:
            group = q.group
            out.append(f"<h2>{e(GROUPS[group]['fr' if fr else 'en'])}</h2>")
        src = f"ESS R5 {q.ess}" if q.ess else ("item du projet" if fr else "project item")
        if q.name == "feel_safe_dark":
            src += (" (codes du codebook : 4 = tout à fait en sécurité, sens inverse de l'ESS)" if fr
                    else " (codebook codes: 4 = very safe, the reverse of the ESS codes)")
        out.append(f"<div class='q'><p><span class='qn'>Q{number[q.name]}.</span> {e(_text(q, lang))} "
                   f"<span class='src'>[{e(q.name)}; {e(src)}]</span></p>")
        filt = _filter_text(q, lang, number)
        if filt:
            out.append(f"<p class='filter'>{e(filt)}</p>")
        if q.interviewer:
            out.append(f"<p class='iv'>{e(q.interviewer.get(lang) or q.interviewer['en'])}</p>")
        if q.scale == "integer":
            out.append("<p>____ " + e("ans" if fr else "years") + "</p>")
        else:
            rows = "".join(f"<tr><td class='code'>{e(name)}</td><td>☐ {e(label)}</td></tr>"
                           for name, label in choices(q.scale, lang, units))
            out.append(f"<table class='ch'>{rows}</table>")
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)


# ========================================================================= XLSForm
def _label_cols(prefix: str) -> list[str]:
    return [f"{prefix}::{LANG_NAMES[lg]} ({lg})" for lg in FORM_LANGS]


def xlsform_sheets(units: list[Unit] | None = None, metadata: dict[str, Any] | None = None
                   ) -> dict[str, pd.DataFrame]:
    """The XLSForm as frames: ``survey``, ``choices``, ``settings`` and ``imppulse``.

    Parameters
    ----------
    units : list of Unit, optional
        The city's neighbourhoods (choice list ``neighbourhood``, with ``lon``, ``lat``,
        ``area_km2`` columns that ``make new-city`` reads back); placeholder otherwise.
    metadata : dict, optional
        Values of the ``imppulse`` sheet (:data:`analysis.inputs.newcity.METADATA_KEYS`); lists as
        lists, dates as dates.
    """
    survey_cols = (["type", "name"] + _label_cols("label") + _label_cols("hint")
                   + ["required", "relevant", "constraint"] + _label_cols("constraint_message") + ["appearance"])
    rows: list[dict] = [{"type": t, "name": t} for t in ("start", "end", "today")]
    group = None
    lists: dict[str, str] = {}
    for q in QUESTIONS:
        if q.group != group:
            if group:
                rows.append({"type": "end_group", "name": group})
            group = q.group
            rows.append({"type": "begin_group", "name": group,
                         **{c: GROUPS[group][lg] for c, lg in zip(_label_cols("label"), FORM_LANGS)}})
        row = {"name": q.name, **{c: q.text[lg] for c, lg in zip(_label_cols("label"), FORM_LANGS)}}
        if q.interviewer:
            row.update({c: q.interviewer[lg] for c, lg in zip(_label_cols("hint"), FORM_LANGS)})
        if q.scale == "integer":
            row.update({"type": "integer", "constraint": f". >= {codebook.AGE_MIN} and . <= {codebook.AGE_MAX}",
                        **{c: (f"{codebook.AGE_MIN} to {codebook.AGE_MAX} years" if lg == "en"
                               else f"De {codebook.AGE_MIN} à {codebook.AGE_MAX} ans")
                           for c, lg in zip(_label_cols("constraint_message"), FORM_LANGS)}})
        else:
            row["type"] = f"select_one {q.scale}"
            row["required"] = "yes"
            lists[q.scale] = q.scale
            if q.scale == "neighbourhood":
                row["appearance"] = "minimal"
        if q.relevant:
            row["relevant"] = f"${{{q.relevant}}} = 'yes'"
        rows.append(row)
    rows.append({"type": "end_group", "name": group})
    survey = pd.DataFrame(rows, columns=survey_cols)

    ch_rows = []
    for scale in lists:
        for i, (name, _) in enumerate(choices(scale, "en", units)):
            row = {"list_name": scale, "name": name}
            for c, lg in zip(_label_cols("label"), FORM_LANGS):
                row[c] = choices(scale, lg, units)[i][1]
            if scale == "neighbourhood" and units:
                u = units[i]
                row.update({"lon": u.lon, "lat": u.lat, "area_km2": u.area_km2})
            ch_rows.append(row)
    chs = pd.DataFrame(ch_rows, columns=["list_name", "name"] + _label_cols("label") + ["lon", "lat", "area_km2"])
    settings = pd.DataFrame([{"form_title": "IMPPULSE residents' survey", "form_id": "imppulse_residents",
                              "version": f"{__version__}", "default_language": f"{LANG_NAMES['en']} (en)"}])
    meta = metadata or {}
    unknown = sorted(set(meta) - set(METADATA_KEYS))
    if unknown:
        raise KeyError(f"metadata keys {unknown} unknown; expected some of {sorted(METADATA_KEYS)}")

    def cell(v):
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v)
        return v.isoformat() if isinstance(v, dt.date) else v
    imp = pd.DataFrame([{"key": k, "value": cell(meta.get(k)), "type": kind} for k, kind in METADATA_KEYS.items()])
    return {"survey": survey, "choices": chs, "settings": settings, "imppulse": imp}


def write_xlsform(path: str | Path, units: list[Unit] | None = None, metadata: dict[str, Any] | None = None) -> Path:
    """Write the XLSForm workbook (:func:`xlsform_sheets`) with openpyxl."""
    import openpyxl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, frame in xlsform_sheets(units, metadata).items():
        ws = wb.create_sheet(name)
        ws.append(list(frame.columns))
        for rec in frame.itertuples(index=False):
            ws.append([None if (isinstance(v, float) and np.isnan(v)) or v is None else v for v in rec])
    wb.save(path)
    return path


# ============================================================ synthetic Kobo export
def synthetic_kobo_export(form: str | Path, out: str | Path, *, n_per_wave: int = 60,
                          windows: dict[str, tuple[dt.date, dt.date]] | None = None, seed: int = SEED,
                          duplicates: int = 0, delimiter: str = ";") -> pd.DataFrame:
    """Write a CSV in the shape KoboToolbox exports from the IMPPULSE XLSForm.

    Columns: ``start``, ``end``, ``today``, then every question as ``<group>/<name>`` with
    choice *names* as values (blank when the skip logic hides it), then ``_id``,
    ``_uuid``, ``_submission_time``, ``_validation_status``, ``_notes``, ``_status``,
    ``_submitted_by``, ``__version__``, ``_tags``, ``_index``.

    Parameters
    ----------
    form : path
        The XLSForm (:func:`write_xlsform`); its survey and choices sheets drive the export.
    out : path
        CSV file written (UTF-8).
    n_per_wave : int
        Submissions per wave.
    windows : dict, optional
        Fieldwork window per wave; default March-June 2014 and 2015.
    duplicates : int
        Submissions sent twice (same ``_uuid``, as after a re-sync): the cleaning step
        rejects each second copy as ``duplicate``.

    Returns
    -------
    pandas.DataFrame
        The rows written (text).
    """
    import openpyxl

    rng = np.random.default_rng(seed)
    windows = windows or {"baseline": (dt.date(2014, 3, 1), dt.date(2014, 6, 30)),
                          "follow_up": (dt.date(2015, 3, 1), dt.date(2015, 6, 30))}
    wb = openpyxl.load_workbook(form, read_only=True)
    sheets = {}
    for name in ("survey", "choices"):
        rows = list(wb[name].iter_rows(values_only=True))
        sheets[name] = pd.DataFrame(rows[1:], columns=rows[0])
    wb.close()
    lists = {ln: [str(n) for n in grp["name"]] for ln, grp in sheets["choices"].groupby("list_name", sort=False)}
    questions, path = [], []
    for rec in sheets["survey"].itertuples(index=False):
        t = str(rec.type)
        if t == "begin_group":
            path.append(rec.name)
        elif t == "end_group":
            path.pop()
        elif t.startswith("select_one") or t == "integer":
            questions.append(("/".join(path + [rec.name]), rec.name, t, rec.relevant))
    records = []
    n_id = 1000
    for wave in codebook.WAVES:
        lo, hi = windows[wave]
        for _ in range(n_per_wave):
            days = int(rng.integers(0, (hi - lo).days + 1))
            start = dt.datetime.combine(lo + dt.timedelta(days=days), dt.time(9)) + dt.timedelta(
                minutes=int(rng.integers(0, 600)))
            end = start + dt.timedelta(minutes=int(rng.integers(12, 40)))
            rec: dict[str, Any] = {"start": start.isoformat(timespec="milliseconds") + "+01:00",
                                   "end": end.isoformat(timespec="milliseconds") + "+01:00",
                                   "today": start.date().isoformat()}
            answers: dict[str, str] = {}
            for full, name, t, relevant in questions:
                if isinstance(relevant, str) and relevant.strip():
                    ref = str(relevant).split("}")[0].split("{")[1]
                    if answers.get(ref) != "yes":
                        rec[full] = ""
                        answers[name] = ""
                        continue
                if name == "wave":
                    v = wave
                elif t == "integer":
                    v = "" if rng.random() < 0.02 else str(int(rng.integers(codebook.AGE_MIN, 90)))
                else:
                    opts = lists[t.split()[1]]
                    real = [o for o in opts if o not in ("dk", "refusal")]
                    v = (str(rng.choice([o for o in opts if o in ("dk", "refusal")]))
                         if rng.random() < 0.04 and len(real) < len(opts) else str(rng.choice(real)))
                rec[full] = v
                answers[name] = v
            n_id += 1
            rec.update({"_id": str(n_id), "_uuid": str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | n_id)),
                        "_submission_time": (end + dt.timedelta(hours=2)).isoformat(timespec="seconds"),
                        "_validation_status": "", "_notes": "", "_status": "submitted_via_web",
                        "_submitted_by": "", "__version__": "vAbCdEf", "_tags": "", "_index": ""})
            records.append(rec)
    for i in range(duplicates):
        records.append(dict(records[2 * i + 1]))
    df = pd.DataFrame(records)
    df["_index"] = [str(i) for i in range(1, len(df) + 1)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, sep=delimiter, index=False, encoding="utf-8")
    return df


# ============================================================================= CLI
def export_all(out_dir: str | Path | None = None, langs: list[str] | None = None,
               units: list[Unit] | None = None) -> list[Path]:
    """Write the questionnaire in every language (HTML, PDF when WeasyPrint is installed) and the XLSForm."""
    out_dir = Path(out_dir) if out_dir is not None else PATHS.reports / "questionnaire"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        import weasyprint
    except ImportError:
        weasyprint = None
    for lang in langs or list(LANG_NAMES):
        page = questionnaire_html(lang, units)
        p = out_dir / f"questionnaire.{lang}.html"
        p.write_text(page, encoding="utf-8")
        written.append(p)
        if weasyprint is not None:
            pdf = p.with_suffix(".pdf")
            weasyprint.HTML(string=page).write_pdf(pdf)
            written.append(pdf)
    written.append(write_xlsform(out_dir / "imppulse_residents_xlsform.xlsx", units))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.inputs.questionnaire``: write reports/questionnaire/ (HTML per language, XLSForm)."""
    ap = argparse.ArgumentParser(prog="python -m analysis.inputs.questionnaire", description=main.__doc__)
    ap.add_argument("--langs", default=" ".join(LANG_NAMES), help="languages, space-separated")
    ap.add_argument("--neighbourhoods", help="CSV list of the city's units: code, name[, lon, lat, area_km2]")
    ap.add_argument("--out", help="output folder (default reports/questionnaire)")
    args = ap.parse_args(argv)
    langs = args.langs.split()
    bad = [lg for lg in langs if lg not in LANG_NAMES]
    if bad:
        print(f"questionnaire: unknown language(s) {bad}; expected some of {list(LANG_NAMES)}", file=sys.stderr)
        return 2
    units = units_from_csv(Path(args.neighbourhoods)) if args.neighbourhoods else None
    paths = export_all(args.out, langs, units)
    for p in paths:
        print(p)
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        print("PDF not written: WeasyPrint is not installed (print the HTML pages from a browser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
