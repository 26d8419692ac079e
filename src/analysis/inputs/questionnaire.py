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
from analysis.inputs.newcity import METADATA_KEYS, MISSING, SCALES, Unit, fielding_data, units_from_csv
from analysis.publishing import text

#: The fielding data (``fielding.yml`` beside this module): languages, question wording,
#: form words and answer labels in the partners' languages.
FIELDING: dict[str, Any] = fielding_data()
#: Languages of the questionnaire, with their names in their own language.
LANG_NAMES: dict[str, str] = dict(FIELDING["languages"])
#: XLSForm label columns: ``label::English (en)`` / ``label::Français (fr)``.
FORM_LANGS: tuple[str, ...] = tuple(FIELDING["form_languages"])
#: Source language of the questionnaire: every text has it, other languages fall back to it.
SOURCE_LANG = "en"


def word(key: str, lang: str, **params) -> str:
    """The form word ``key`` (``fielding.yml`` ``words``) in ``lang``, else in English."""
    texts = FIELDING["words"][key]
    out = texts.get(lang) or texts[SOURCE_LANG]
    return out.format(**params) if params else out


def _in(texts: dict[str, str], lang: str) -> str:
    """A text given per language, in ``lang`` when it has one, else in English."""
    return texts.get(lang) or texts[SOURCE_LANG]


@dataclass(frozen=True)
class Question:
    """One question of the residents' questionnaire.

    ``text`` is ``{language: text}``; for ESS items the English text is the ESS R5
    source wording. ``scale`` names a choice list (:data:`CHOICE_LISTS`) or is ``integer``.
    """

    name: str
    group: str
    scale: str
    text: dict[str, str]
    ess: str | None = None
    relevant: str | None = None  # codebook name of the yes/no filter question
    interviewer: dict[str, str] | None = None


#: Question groups: ``{group: {language: heading}}``.
GROUPS: dict[str, dict[str, str]] = FIELDING["groups"]

QUESTIONS: tuple[Question, ...] = tuple(Question(**q) for q in FIELDING["questions"])

#: Choice lists whose codes are the codebook's; ``safe4`` lists them in the ESS order (very safe first).
_ORDER = {"safe4": [4, 3, 2, 1]}
_ENDS = {"scale_trust": "trust_police", "scale_eff": "eff_violence", "scale_duty": "duty_support_police"}


def _missing_labels(lang: str) -> tuple[str, str]:
    return MISSING[lang][0], FIELDING["words"]["refusal"][lang]


def choices(scale: str, lang: str, units: list[Unit] | None = None) -> list[tuple[str, str]]:
    """``[(choice name, label)]`` of a choice list in ``lang``; dk and refusal last.

    End-point labels the catalogue lacks in ``lang`` fall back to English, marked "[en]".
    """
    def lab(value, scale_name):
        t = SCALES[scale_name].get(value, {}).get(lang) or SCALES[scale_name].get(value, {}).get("en")
        return t[0] if t else str(value)

    dk, refusal = _missing_labels(lang)
    if scale == "wave":
        v = codebook.var("wave")
        return [(w, v.category_label(w, lang if text.has_key(f"cat.wave.{w}", lang) else SOURCE_LANG))
                for w in codebook.WAVES]
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
            label = str(k)
            if k in var.scale_labels:
                known = text.has_key(var.scale_labels[k], lang)
                label = f"{k} {var.point_label(k, lang if known else SOURCE_LANG)}" + ("" if known else " [en]")
            out.append((str(k), label))
        return out + [("dk", dk), ("refusal", refusal)]
    raise KeyError(f"unknown choice list {scale!r}")


def _text(q: Question, lang: str) -> str:
    return _in(q.text, lang)


def _filter_text(q: Question, lang: str, number: dict[str, int]) -> str | None:
    if not q.relevant:
        return None
    n = number[q.relevant]
    yes = choices("yesno", lang)[0][1]
    return word("filter", lang, n=n, yes=yes)


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
    title = title or word("title", lang)
    out = [f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)} ({e(LANG_NAMES[lang])})</h1>"]
    intro = word("intro", lang, version=__version__)
    out.append(f"<p>{e(intro)}</p>")
    # a translation says how far it is checked (the source language has an empty note)
    note = FIELDING["words"]["check_note"].get(lang, word("check_note_default", SOURCE_LANG))
    if note:
        out.append(f"<p class='note'>{e(note)}</p>")
    group = None
    for q in QUESTIONS:
        if q.group != group:
            group = q.group
            out.append(f"<h2>{e(_in(GROUPS[group], lang))}</h2>")
        src = f"ESS R5 {q.ess}" if q.ess else word("project_item", lang)
        if q.name == "feel_safe_dark":
            src += word("safe_codes", lang)
        out.append(f"<div class='q'><p><span class='qn'>Q{number[q.name]}.</span> {e(_text(q, lang))} "
                   f"<span class='src'>[{e(q.name)}; {e(src)}]</span></p>")
        filt = _filter_text(q, lang, number)
        if filt:
            out.append(f"<p class='filter'>{e(filt)}</p>")
        if q.interviewer:
            out.append(f"<p class='iv'>{e(_in(q.interviewer, lang))}</p>")
        if q.scale == "integer":
            out.append("<p>____ " + e(word("years", lang)) + "</p>")
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
                        **{c: word("age_range", lg, lo=codebook.AGE_MIN, hi=codebook.AGE_MAX)
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
