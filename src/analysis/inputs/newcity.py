"""Draft a city profile from a city's raw files: ``make new-city CITY=x``.

Owns ``make new-city``: a draft profile from a city's raw files, with TODOs where it cannot
tell. Must not clean nor guess silently: every guess is written into the draft for a human.

:func:`draft_profile` reads every file in ``data/raw/<city>/`` and writes
``config/cities/<city>.yml``. The draft:

* records how to read each file: encoding (UTF-16 and UTF-8 byte-order marks, UTF-8,
  then cp1252 / Latin-1), delimiter (:class:`csv.Sniffer` over ``; , tab |``), decimal
  mark, title rows above the header and data sheets of a workbook, SPSS/Stata value
  labels, and the date format (a list of strftime patterns tried on the date column);
* lists every raw column with its distinct values (counts from 1 to 9 shown as ``<10``);
  a column with many distinct values, or long texts, is summarised and never listed,
  since it may hold names, addresses or free text;
* proposes the codebook mapping, matching column names and answer labels in the
  partners' languages with the tables below (:data:`NAME_PATTERNS`, :data:`SCALES`,
  :data:`MISSING`): the residents' survey (the table most of whose columns look like
  residents' items), then the officers' survey and the activity log when other tables
  look like them (:data:`OFFICER_PATTERNS`, :data:`ACTIVITY_PATTERNS`);
* matches neighbourhood names to codes from a boundary file
  (``data/external/boundaries/<city>.*``), a list (``--neighbourhoods codes.csv``: columns
  ``code, name`` and optionally ``lon, lat, area_km2``) or the choice list of an
  IMPPULSE XLSForm found beside the data (:mod:`analysis.inputs.questionnaire`), on normalised
  names (accents, case, hyphens and punctuation ignored);
* marks every guess and every open question with a ``# TODO: <key>: ...`` comment.

It never overwrites a file: when ``config/cities/<city>.yml`` exists, it refuses and the
draft goes elsewhere with ``--out`` (``make new-city CITY=x OUT=/tmp/x.yml``).

What no data file can tell (the pilot and comparison areas, the fieldwork windows, the
population margins, the city's name and country) comes from an ``imppulse`` sheet of
``key, value`` rows in a workbook beside the data (the XLSForm export has one), or is
left as TODO. The draft always validates against :class:`analysis.inputs.profile.CityProfile`.

The multilingual vocabulary (fr, it, es, ca, nl, lt, pt, de, en):

* :data:`NAME_PATTERNS`: regular expressions over a *normalised* raw column name (accents
  removed, lower case, every non-alphanumeric run turned into one space) that suggest a
  codebook variable, with patterns that rule it out;
* :data:`SCALES`: answer labels of each codebook answer scale, per value and language, so
  that "Jamais", "Mai", "Nunca", "Nooit", "Niekada", "Nie" and "Never" all propose 1 on
  the 1-4 frequency scale. The first label of each language is the one the questionnaire
  export (:mod:`analysis.inputs.questionnaire`) prints for that language.

Labels are compared with :func:`analysis.inputs.clean.norm_label` (trimmed, case- and
accent-free), the key the cleaning step matches profile labels with, so a label the draft
maps is a label the cleaning step finds.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from analysis.inputs import codebook
from analysis.inputs.clean import norm_label, raw_text
from analysis.config import K_SUPPRESS, PATHS
from analysis.inputs.profile import CityProfile, FileSpec, _format_error
from analysis.inputs.readers import PROVENANCE, RawDataError, read_file

LANGS: tuple[str, ...] = ("en", "fr", "it", "es", "ca", "nl", "lt", "pt", "de")

#: codebook variable -> (pattern that suggests it, pattern that rules it out or None).
NAME_PATTERNS: dict[str, tuple[str, str | None]] = {
    "respondent_id": (r"^(id|uuid|ident\w*)( |$)|( |^)(id|ident\w*|identifiant|uuid)$|\bresp\w* id\b"
                      r"|\bnum\w* (quest|interv|entrev)\w*|\bid (rep|resp|quest|interv|inquer|entrev)\w*"
                      r"|^fragebogen|^(nr|lfd nr|laufnummer)$", None),
    "wave": (r"\b(wave|vague|vaga|onda|onada|ondata|golf|banga|welle|annee|anno|ano|jaar|jahr|metai)\b", None),
    "interview_date": (r"\b(date|data|datum|fecha|today)\b|\bdate \w+|\bdata \w+", r"\bnaiss|\bbirth|\bnasc|\bgeb"),
    "neighbourhood": (r"quart|barri|\bnil\b|wijk|buurt|fregues|seniun|bairro|district|neighbo|stadtteil"
                      r"|bezirk|secteur|\bzone|\biris\b|\bsector\b|kvartal|mikrorajon|grätzl|viertel", None),
    "age": (r"\b(age|edat|eta|edad|idade|leeftijd|amzius|alter|anni)\b", r"group|groupe|gruppo|klasse|tranche"),
    "gender": (r"\b(sex\w*|gen(der|re|ere|ero)|lytis|geslacht|geschlecht|sesso)\b", None),
    "migrant_background": (r"migr|immig|herkunft|herkomst|kilme|origen|origem|origine", None),
    "shopkeeper": (r"commer|\bshop|negoz|comerci|winkel|handel|prekyb|geschaft|botig", None),
    "tourist": (r"touris|turis|toeris", None),
    "police_contact_12m": (r"contact|contat|kontakt",
                           r"init|inic|iniz|satisf|soddisf|pasitenk|tevred|zufried|satisfa"),
    "contact_initiated_by": (r"(contact|contat|kontakt)\w* .*(init|inic|iniz)|(init|inic|iniz)\w* .*(contact|contat|kontakt)"
                             r"|(contact|contat|kontakt)\w*(init|inic|iniz)|iniciator", None),
    "contact_satisfaction": (r"satisf|soddisf|pasitenk|tevred|zufried", r"job|travail|lavoro|feina|trabajo|werk"),
    "trust_police": (r"trust|confian|fiduc|pasitik|vertrouw|vertrau", None),
    "pj_respect": (r"respe|rispett|pagarb|eerbied|respekt", None),
    "pj_fair": (r"equit|\bfair|juste|\bjust|justi|eerlijk|teising|gerecht|impar|giust|\bequo", None),
    "pj_explain": (r"expli|spieg|paaisk|uitleg|erklar|explic", None),
    "eff_violence": (r"(eff|efic|efek|doeltref|wirks|succe|exit)\w*.*(viol|geweld|smurt|gewalt)", None),
    "eff_burglary": (r"(eff|efic|efek|doeltref|wirks|succe|exit)\w*.*(camb|burg|furt|robat|vagyst|assalt|inbra|einbr|roub)",
                     None),
    "duty_support_police": (r"devoir|dover|dever|deure|pareig|plicht|pflicht|\bduty|deber", None),
    "willing_report": (r"signal|report|denun|melden|aangifte|pranes|anzeig|segnal", None),
    "feel_safe_dark": (r"secur|\bsafe|sicur|segur|saugum|veilig|sicher|seguran", None),
    "pilot_aware": (r"conna|conosc|conhec|coneix|\bzino|\bkent\b|kennt|aware|\bknow|\bconoce", None),
    "pilot_participated": (r"particip|partecip|dalyv|deelna|teilgen", None),
}

#: Name patterns of the officers' survey (shared variables as for the residents).
OFFICER_PATTERNS: dict[str, tuple[str, str | None]] = {
    "officer_id": (r"matric|\bbadge|\bagent\w* id|\bid agent|^n o agent|numero agent|pareigun\w* id|dienstnummer"
                   r"|personeelsnummer|personalnummer|^id$", None),
    "wave": NAME_PATTERNS["wave"],
    "unit": (r"^(service|unit\w*|unitat|unita|unidade|reparto|eenheid|dienst|padalin\w*|einheit|brigade"
             r"|commissariat)\b", r"ancien|years|anni|anys|anos"),
    "neighbourhood": NAME_PATTERNS["neighbourhood"],
    "years_service": (r"ancien|anni di serv|anys de serv|anos de serv|stazas|dienstja|dienstjahr|years of serv"
                      r"|seniority|antig", None),
    "trained_in_pilot": (r"^form(e|ato|at|ado|acao)\b|opgeleid|apmokyt|geschult|trained|formaci", None),
    "off_public_support": (r"soutien|sostegno|suport|apoio|steun|parama|unterstutz|support", None),
    "off_youth_attitude": (r"jeune|giovan|joves|jovens|jongeren|jaunim|jugend|youth", None),
    "off_confidence_contacts": (r"aisance|contact|contatt|kontakt", r"satisf|init|inic"),
    "off_job_satisfaction": (r"satisf|soddisf|pasitenk|tevred|zufried", None),
}

#: Name patterns of the activity log.
ACTIVITY_PATTERNS: dict[str, tuple[str, str | None]] = {
    "date": (r"\b(date|data|datum|fecha)\b", None),
    "neighbourhood": NAME_PATTERNS["neighbourhood"],
    "activity_type": (r"\btype\b|tipo|tipus|tipas|soort|\bart\b|\baction\b|activit|attivit|veikl|aktivit", None),
    "participants": (r"particip|partecip|dalyv|habitants|jeunes|residenti|deelnem|teilnehm|presen",
                     r"polic|agent|pareigun|politie|polizei"),
    "participants_police": (r"polic|agent|pareigun|politie|polizei", None),
}

DATASET_PATTERNS = {"residents": NAME_PATTERNS, "officers": OFFICER_PATTERNS, "activities": ACTIVITY_PATTERNS}

FIELDING_FILE = Path(__file__).resolve().parent / "fielding.yml"


@functools.lru_cache(maxsize=1)
def fielding_data() -> dict:
    """The fielding data of ``fielding.yml``: answer labels and missing-value labels in the
    partners' languages (matched against a city's raw labels), the questionnaire's wording."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(FIELDING_FILE.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    if not isinstance(data, dict) or not {"scales", "missing", "questions"} <= set(data):
        raise ValueError(f"{FIELDING_FILE.name}: expected the sections scales, missing and questions")
    return data


#: scale -> {codebook value: {language: [labels, first = questionnaire label]}} (``fielding.yml``).
SCALES: dict[str, dict[object, dict[str, list[str]]]] = fielding_data()["scales"]

#: Don't know / refusal / not applicable, per language (first: don't know, second: refusal).
MISSING: dict[str, list[str]] = fielding_data()["missing"]

#: Numeric don't-know / refusal codes of rating items (ESS style).
DK_CODES: tuple[int, ...] = (66, 77, 88, 96, 97, 98, 99, 777, 888, 999)

#: codebook variable -> its answer scale in :data:`SCALES`.
VAR_SCALE: dict[str, str] = {
    "gender": "gender", "migrant_background": "yesno", "shopkeeper": "yesno", "tourist": "yesno",
    "police_contact_12m": "yesno", "pilot_aware": "yesno", "pilot_participated": "yesno",
    "contact_initiated_by": "initiated", "contact_satisfaction": "sat5",
    "pj_respect": "freq4", "pj_fair": "freq4", "pj_explain": "freq4",
    "willing_report": "likely4", "feel_safe_dark": "safe4",
    "trained_in_pilot": "yesno", "off_public_support": "agree5", "off_youth_attitude": "agree5",
    "off_confidence_contacts": "agree5", "off_job_satisfaction": "sat5", "activity_type": "activity",
}


def norm_name(text: str) -> str:
    """Column or place name as a matching key: accents, case, hyphens and punctuation removed.

    >>> norm_name("Saint-Félix / Hauts_Pavés")
    'saint felix hauts paves'
    """
    return " ".join(re.sub(r"[^0-9a-z]+", " ", norm_label(text)).split())


def _index() -> dict[str, dict[str, tuple[object, str]]]:
    out: dict[str, dict[str, tuple[object, str]]] = {}
    for scale, values in SCALES.items():
        idx: dict[str, tuple[object, str]] = {}
        for value, by_lang in values.items():
            for lang, labels in by_lang.items():
                for lab in labels:
                    idx.setdefault(norm_label(lab), (value, lang))
        out[scale] = idx
    return out


_INDEX = _index()
_MISSING = {norm_label(m): lang for lang, labels in MISSING.items() for m in labels}


def scale_value(scale: str, label: str) -> tuple[object, str] | None:
    """``(codebook value, language)`` of an answer label on ``scale``, or None."""
    return _INDEX[scale].get(norm_label(label))


def missing_language(label: str) -> str | None:
    """Language of a don't-know / refusal / not-applicable label, or None when it is not one."""
    return _MISSING.get(norm_label(label))


def label(scale: str, value: object, lang: str) -> str | None:
    """The questionnaire label of ``value`` on ``scale`` in ``lang`` (None when not in the table)."""
    labels = SCALES[scale].get(value, {}).get(lang)
    return labels[0] if labels else None


def name_suggests(column: str, dataset: str = "residents") -> list[str]:
    """Codebook variables of ``dataset`` whose name patterns match the raw ``column`` name."""
    key = norm_name(column)
    out = []
    for var, (yes, no) in DATASET_PATTERNS[dataset].items():
        if re.search(yes, key) and not (no and re.search(no, key)):
            out.append(var)
    return out


# ============================================================================ reading
#: Columns a KoboToolbox / ODK export adds to every submission (never codebook items).
KOBO_META: tuple[str, ...] = ("start", "end", "today", "deviceid", "username", "simserial", "subscriberid",
                              "phonenumber", "audit", "_id", "_uuid", "_submission_time", "_validation_status",
                              "_notes", "_status", "_submitted_by", "__version__", "_tags", "_index",
                              "_version_", "_xform_id_string", "meta/instanceID", "instanceID", "formhub/uuid",
                              # ODK Central's CSV export
                              "SubmissionDate", "meta-instanceID", "KEY", "SubmitterID", "SubmitterName",
                              "AttachmentsPresent", "AttachmentsExpected", "Status", "ReviewState", "DeviceID",
                              "Edits", "FormVersion")

#: Date formats tried on a text date column, most common in the partner countries first.
DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%m/%d/%Y",
                                 "%d/%m/%y", "%d.%m.%y", "%d-%m-%y", "%Y%m%d")

#: A column with more distinct values than this is summarised, never listed.
MAX_LISTED = 30
#: Mean text length above which a column is taken for free text and never listed.
FREE_TEXT_CHARS = 40


class DraftError(ValueError):
    """The raw files cannot be drafted into a profile; the message names file and problem."""


@dataclass
class RawTable:
    """One data table found in the raw folder (a CSV/SAV/DTA file or one workbook sheet)."""

    spec: dict  # FileSpec fields
    frame: pd.DataFrame  # raw columns as read by analysis.inputs.readers (no provenance columns)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {raw code: value label}
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"{self.spec['path']}[{self.spec['sheet']}]" if self.spec.get("sheet") is not None else self.spec["path"]


def detect_encoding(data: bytes) -> str:
    """Encoding of CSV bytes: UTF-16 or UTF-8 byte-order mark, UTF-8, else cp1252 / Latin-1.

    UTF-8 is tried before the single-byte code pages because it practically never decodes
    text written in another encoding, whereas cp1252 decodes almost anything.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"  # decodes every byte; cp1252 leaves five undefined


def detect_delimiter(text: str) -> str:
    """Field separator of CSV text among ``; , tab |`` (csv.Sniffer, then header counts)."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=";,\t|").delimiter
    except csv.Error:
        head = lines[0] if lines else ""
        counts = {d: head.count(d) for d in (";", ",", "\t", "|")}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _header_row(rows: list[list[Any]]) -> int:
    """0-based index of the header among the first rows: the first row nearly as wide as the widest.

    Title and note lines above a header fill one or two cells; the header fills them all.
    """
    widths = [sum(1 for c in r if c is not None and str(c).strip()) for r in rows]
    if not widths or max(widths) == 0:
        return 0
    top = max(widths)
    return next(i for i, w in enumerate(widths) if w >= max(2, 0.8 * top))


def detect_decimal(frame: pd.DataFrame) -> tuple[str, bool]:
    """``(decimal mark, ambiguous)`` of a CSV read as text: "," when numbers like 1,5 occur."""
    comma = dot = 0
    for col in frame.columns:
        vals = pd.Series(frame[col].unique()).astype(str).str.strip()
        comma += int(vals.str.fullmatch(r"-?\d+,\d+").sum())
        dot += int(vals.str.fullmatch(r"-?\d+\.\d+").sum())
    if comma and not dot:
        return ",", False
    return ".", bool(comma and dot)


def _csv_table(path: Path, rel: str) -> RawTable:
    data = path.read_bytes()
    enc = detect_encoding(data)
    text = data.decode(enc)
    text = text[1:] if text.startswith("\ufeff") else text
    delim = detect_delimiter(text)
    head = list(csv.reader(text.splitlines()[:30], delimiter=delim))
    skip = _header_row(head)
    spec = {"path": rel, "format": "csv", "encoding": enc, "delimiter": delim, "skiprows": skip}
    frame = _read(spec, path.parent)
    dec, ambiguous = detect_decimal(frame)
    spec["decimal"] = dec
    notes = [f"{rel}: decimal mark is ambiguous (both 1,5 and 1.5 occur)"] if ambiguous else []
    return RawTable(spec, frame, notes=notes)


def _read(spec: dict, folder: Path) -> pd.DataFrame:
    fs = FileSpec(**{k: v for k, v in spec.items() if v is not None})
    return read_file(fs, folder).drop(columns=list(PROVENANCE))


def _xlsx_sheets(path: Path) -> dict[str, list[list[Any]]]:
    """The first 30 rows of every sheet of a workbook."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        out = {}
        for name in wb.sheetnames:
            rows = []
            for i, r in enumerate(wb[name].iter_rows(values_only=True)):
                if i >= 30:
                    break
                rows.append(list(r))
            out[name] = rows
        return out
    finally:
        wb.close()


def is_xlsform(sheets) -> bool:
    """True when a workbook is an XLSForm (has ``survey`` and ``choices`` sheets)."""
    names = {s.lower() for s in sheets}
    return {"survey", "choices"} <= names


def _stat_table(path: Path, rel: str, fmt: str) -> RawTable:
    import pyreadstat

    fn = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    try:
        _, meta = fn(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat's own error types
        raise DraftError(f"{rel}: unreadable {fmt} file ({type(exc).__name__})") from None
    labels = {col: {raw_text(k): str(v) for k, v in m.items()} for col, m in meta.variable_value_labels.items()}
    spec = {"path": rel, "format": fmt}
    return RawTable(spec, _read(spec, path.parent), labels=labels,
                    notes=[f"{rel}: numeric codes kept; the value labels propose their mapping"] if labels else [])


@dataclass
class Metadata:
    """What the data files cannot say, from an ``imppulse`` sheet (``key``, ``value`` rows)."""

    values: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    form_choices: dict[str, list[dict]] = field(default_factory=dict)  # XLSForm list_name -> choices
    form_questions: dict[str, dict] = field(default_factory=dict)  # XLSForm question name -> row
    form_source: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        v = self.values.get(key)
        return default if v is None or v == "" else v


#: Keys of the ``imppulse`` metadata sheet and how their text is read.
METADATA_KEYS: dict[str, str] = {
    "name": "str", "name_fr": "str", "country": "str", "languages": "list", "synthetic": "bool", "notes": "str",
    "boundaries.unit": "str", "boundaries.source": "str", "boundaries.licence": "str", "boundaries.url": "str",
    "pilot.name": "str", "pilot.name_local": "str", "pilot.kind": "str", "pilot.kind_fr": "str",
    "pilot.description": "str", "pilot.description_fr": "str", "pilot.start": "date", "pilot.end": "date",
    "pilot.pilot_areas": "list", "pilot.comparison_areas": "list", "pilot.targeted_groups": "list",
    "pilot.published_context": "str", "pilot.published_context_fr": "str",
    "waves.baseline.year": "int", "waves.baseline.start": "date", "waves.baseline.end": "date",
    "waves.follow_up.year": "int", "waves.follow_up.start": "date", "waves.follow_up.end": "date",
    "margins.source": "str", "margins.year": "int", "margins.file": "str", "margins.delimiter": "str",
    "margins.encoding": "str",
    # optional, for the methods annex (left blank: the annex says "not provided")
    "sampling.frame": "str", "sampling.design": "str", "sampling.design_detail": "str", "sampling.mode": "str",
    "sampling.response_rate_definition": "str",
    "waves.baseline.response_rate": "float", "waves.follow_up.response_rate": "float",
    "pilot.cost.amount": "float", "pilot.cost.currency": "str", "pilot.cost.start": "date", "pilot.cost.end": "date",
    "pilot.cost.covers": "str", "pilot.cost.source": "str",
}


def _meta_value(kind: str, v: Any, where: str) -> Any:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        if kind == "list":  # "none" is an explicit empty list (e.g. no comparison area)
            return [] if str(v).strip().lower() in ("none", "-") else [x.strip() for x in str(v).split(",") if x.strip()]
        if kind == "date":
            if isinstance(v, dt.datetime):  # a date cell of the workbook
                return v.date()
            return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip())
        if kind == "int":
            return int(float(v))
        if kind == "float":  # a share may be typed with a decimal comma
            return float(str(v).strip().replace(",", "."))
        if kind == "bool":
            return str(v).strip().lower() in ("true", "yes", "1", "oui", "ja", "sí", "si")
    except ValueError:
        raise DraftError(f"{where}: not a {'date YYYY-MM-DD' if kind == 'date' else 'number' if kind == 'float' else kind}") from None
    return str(v).strip()


def read_metadata(path: Path, rel: str) -> Metadata:
    """The ``imppulse`` sheet and XLSForm choice lists of a workbook (empty Metadata if none)."""
    import openpyxl

    meta = Metadata()
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        names = {n.lower(): n for n in wb.sheetnames}
        if "imppulse" in names:
            meta.source = f"{rel}[{names['imppulse']}]"
            rows = list(wb[names["imppulse"]].iter_rows(values_only=True))
            head = [str(h).strip().lower() if h is not None else "" for h in (rows[0] if rows else [])]
            if "key" not in head or "value" not in head:
                raise DraftError(f"{meta.source}, row 1: expected columns 'key' and 'value'")
            ki, vi = head.index("key"), head.index("value")
            for n, r in enumerate(rows[1:], start=2):
                key = r[ki] if ki < len(r) else None
                if key is None or not str(key).strip():
                    continue
                key = str(key).strip()
                if key not in METADATA_KEYS:
                    raise DraftError(f"{meta.source}, row {n}: unknown key {key!r}; expected one of "
                                     f"{sorted(METADATA_KEYS)}")
                meta.values[key] = _meta_value(METADATA_KEYS[key], r[vi] if vi < len(r) else None,
                                               f"{meta.source}, row {n}, key {key}")
        if is_xlsform(wb.sheetnames):
            meta.form_source = rel
            for sheet, target in (("choices", meta.form_choices), ("survey", meta.form_questions)):
                rows = list(wb[names[sheet]].iter_rows(values_only=True))
                head = [str(h).strip() if h is not None else "" for h in rows[0]]
                for r in rows[1:]:
                    rec = {h: v for h, v in zip(head, r) if h}
                    if sheet == "choices" and rec.get("list_name"):
                        target.setdefault(str(rec["list_name"]), []).append(rec)
                    elif sheet == "survey" and rec.get("name"):
                        target[str(rec["name"])] = rec
    finally:
        wb.close()
    return meta


def read_raw_folder(folder: Path) -> tuple[list[RawTable], Metadata, list[str]]:
    """Every data table in ``folder``, the metadata found beside them, and notes on skipped files."""
    tables, notes, meta = [], [], Metadata()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        rel, ext = path.name, path.suffix.lower()
        try:
            if ext in (".csv", ".txt", ".tsv"):
                if path.name.upper().startswith(("SYNTHETIC_README", "README")):
                    notes.append(f"{rel}: a read-me, not data")
                    continue
                if path.stem.lower().startswith(("margins", "population")):
                    notes.append(f"{rel}: population margins? (see margins.file)")
                    continue
                tables.append(_csv_table(path, rel))
            elif ext == ".xlsx":
                sheets = _xlsx_sheets(path)
                lower = {n.lower() for n in sheets}
                found = read_metadata(path, rel) if "imppulse" in lower or is_xlsform(sheets) else Metadata()
                if found.source or found.form_source:
                    meta = found if not (meta.source or meta.form_source) else meta
                    notes.append(f"{rel}: " + ("an XLSForm" if found.form_source else "metadata")
                                 + (" with an imppulse sheet" if found.source else "") + ", not data")
                    if found.form_source:
                        continue
                for name, rows in sheets.items():
                    if name.lower() == "imppulse":
                        continue
                    skip = _header_row(rows)
                    width = sum(1 for c in (rows[skip] if rows else []) if c is not None)
                    if width < 3 or len(rows) <= skip + 1:
                        notes.append(f"{rel}[{name}]: {width} column(s), not a data table (notes or legend?)")
                        continue
                    spec = {"path": rel, "format": "xlsx", "sheet": name, "skiprows": skip}
                    tables.append(RawTable(spec, _read(spec, folder)))
            elif ext in (".sav", ".dta"):
                tables.append(_stat_table(path, rel, ext[1:]))
            elif ext in (".geojson", ".gpkg", ".shp", ".json"):
                notes.append(f"{rel}: boundaries? (put boundary files in data/external/boundaries/)")
            else:
                notes.append(f"{rel}: not a format the readers know (csv, xlsx, sav, dta)")
        except RawDataError as exc:
            raise DraftError(f"{rel}: {exc}") from None
    if not tables:
        raise DraftError(f"{folder}: no data file found (csv, xlsx, sav or dta)")
    return tables, meta, notes


# ======================================================================== columns
def fmt_count(n: int, k: int = K_SUPPRESS) -> str:
    """A count as printed in a draft: counts from 1 to k-1 as ``<k`` (the suppression rule)."""
    return f"<{k}" if 0 < n < k else str(n)


def short_name(column: str) -> str:
    """A raw column name without an XLSForm group prefix.

    KoboToolbox joins groups with ``/`` (``g_police/trust_police``), ODK Central with ``-``
    (``g_police-trust_police``); the ``-`` form is cut only when what follows is a codebook name.
    """
    name = column.rsplit("/", 1)[-1]
    if "-" in name and name not in MAPPABLE and name.rsplit("-", 1)[-1] in MAPPABLE:
        name = name.rsplit("-", 1)[-1]
    return name


def is_form_export(columns) -> bool:
    """True for a KoboToolbox (``_uuid``, ``_submission_time``) or ODK Central (``KEY``, ``SubmissionDate``) export."""
    cols = set(columns)
    return {"_uuid", "_submission_time"} <= cols or {"SubmissionDate"} <= cols and bool({"KEY", "meta-instanceID"} & cols)


@dataclass
class ColumnInfo:
    """What a draft may say about one raw column."""

    name: str
    n: int  # non-blank values
    counts: list[tuple[str, int]]  # distinct raw texts and counts, most frequent first
    listed: bool  # False: summarised (may be personal data), values never printed
    numeric: bool
    native_dates: bool
    labels: dict[str, str]

    def recognised(self) -> bool:
        """Every value is a number, a code, or a label of the answer tables (not a name)."""
        def known(v: str) -> bool:
            lab = self.labels.get(v, v)
            return bool(re.fullmatch(r"-?\d+([.,]\d+)?", v.strip()) or _looks_like_code(v) or missing_language(lab)
                        or lab in self.labels.values() or any(scale_value(sc, lab) for sc in SCALES)
                        or norm_label(lab) in ("baseline", "follow_up", "true", "false"))
        return all(known(v) for v, _ in self.counts)

    def summary(self, mapped: bool = True) -> str:
        """One line for the draft's listing of raw columns.

        ``mapped`` False (a column the draft does not map): its values are listed only when
        they are numbers, codes or labels of the answer tables; other text (interviewers'
        names, comments) may be personal data and is only counted.
        """
        if self.n == 0:
            return "empty"
        if self.listed and (mapped or self.recognised()):
            shown = ", ".join((f"{v!r} = {self.labels[v]!r}" if v in self.labels else repr(v)) + f" ({fmt_count(c)})"
                              for v, c in self.counts)
            return f"{len(self.counts)} values: {shown}"
        if self.native_dates or _date_format_share([v for v, _ in self.counts[:200]]) >= 0.95:
            return f"dates, {len(self.counts)} distinct"
        if self.numeric:
            nums = [float(v.replace(",", ".")) for v, _ in self.counts]
            return f"numbers, {len(self.counts)} distinct, {min(nums):g} to {max(nums):g}"
        return f"{len(self.counts)} distinct values (identifiers, names or free text? not listed)"


def column_info(series: pd.Series, labels: dict[str, str] | None = None) -> ColumnInfo:
    """Distinct values of a raw column, and whether they may be printed."""
    texts = pd.Series([raw_text(v) for v in series.tolist()], dtype=object).dropna()
    texts = texts[texts.str.strip() != ""]
    vc = texts.value_counts(sort=True)
    counts = sorted(((str(v), int(c)) for v, c in vc.items()), key=lambda x: (-x[1], x[0]))
    numeric = bool(len(counts)) and all(re.fullmatch(r"-?\d+([.,]\d+)?", v.strip()) for v, _ in counts)
    native = bool(len(series)) and any(isinstance(v, (dt.date, pd.Timestamp)) for v in series.head(50).tolist())
    mean_len = float(np.mean([len(v) for v, _ in counts])) if counts else 0.0
    few = len(counts) <= MAX_LISTED and (len(counts) <= max(4, 0.5 * len(texts)) or numeric)
    listed = few and mean_len <= FREE_TEXT_CHARS and not native
    return ColumnInfo(str(series.name), int(len(texts)), counts, listed, numeric, native, dict(labels or {}))


def _number(text: str, decimal: str = ".") -> float | None:
    t = text.strip()
    if decimal != ".":
        t = t.replace(decimal, ".")
    try:
        x = float(t)
    except ValueError:
        return None
    return x if np.isfinite(x) else None


def value_fit(var: codebook.Var, info: ColumnInfo, decimal: str = ".") -> float:
    """Share of a column's rows (don't-know labels and codes aside) that ``var`` accepts."""
    if var.kind == "str":
        return 1.0
    ok = tot = 0
    scale = VAR_SCALE.get(var.name)
    for raw, c in info.counts:
        lab = info.labels.get(raw, raw)
        if missing_language(lab):
            continue
        x = _number(raw, decimal)
        if var.kind == "date":
            good = info.native_dates or _date_format_share([raw]) > 0
        elif scale and scale_value(scale, lab):
            good = True
        elif var.kind == "category":
            good = norm_label(lab) in {norm_label(c_) for c_ in var.categories} or var.name == "wave"
        elif var.kind == "bool":
            good = norm_label(raw) in ("true", "false", "0", "1")
        elif var.kind in ("int", "float") and x is not None:
            if var.range and not (var.range[0] <= x <= var.range[1]):
                good = bool(var.scale_labels) and int(x) in DK_CODES if x == int(x) else False
                if good:
                    continue
            else:
                good = True
        else:
            good = False
        tot += c
        ok += c * good
    return ok / tot if tot else 0.0


def _date_format_share(values: list[str]) -> float:
    best = 0.0
    for fmt in DATE_FORMATS:
        n = 0
        for v in values:
            try:
                dt.datetime.strptime(v.strip(), fmt)
                n += 1
            except ValueError:
                pass
        best = max(best, n / len(values) if values else 0.0)
    if values and best < 1:
        try:
            n = sum(1 for v in values if dt.date.fromisoformat(v.strip()[:10]))
            best = max(best, n / len(values))
        except ValueError:
            pass
    return best


def detect_date_format(values: list[str]) -> tuple[str | None, str | None]:
    """``(strftime format or None for ISO date-times, problem or None)`` of text dates.

    Every pattern of :data:`DATE_FORMATS` is tried on the distinct values; the first that
    reads them all wins. Two patterns that both read everything (days never above 12) are
    reported as ambiguous.
    """
    vals = [v.strip() for v in values if v and v.strip()][:2000]
    if not vals:
        return None, "no dates to test"
    shares = {}
    for fmt in DATE_FORMATS:
        n = 0
        for v in vals:
            try:
                dt.datetime.strptime(v, fmt)
                n += 1
            except ValueError:
                pass
        shares[fmt] = n / len(vals)
    best = max(shares.values())
    winners = [f for f, s in shares.items() if s == best]
    if best < 0.95:
        def iso(v):
            try:
                dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                return True
            except ValueError:
                return False
        iso_share = sum(iso(v) for v in vals) / len(vals)
        if iso_share >= 0.95:
            return None, None if iso_share == 1 else f"{1 - iso_share:.0%} of the dates are not ISO dates"
        return winners[0], f"only {best:.0%} of the distinct dates read with {winners[0]!r}"
    problem = None
    if len(winners) > 1:
        problem = f"ambiguous date format: {winners} all read every date (day and month both up to 12?)"
    elif best < 1:
        problem = f"{1 - best:.1%} of the distinct dates do not read with {winners[0]!r} (they will be rejected)"
    return winners[0], problem


# ======================================================================= proposals
_NOT_MAPPABLE = {"city", "source_file", "raw_row_number", "age_group", "pilot_area"} | {ix.name for ix in codebook.INDICES}


def mappable(dataset: str = "residents") -> tuple[str, ...]:
    """Codebook variables of ``dataset`` a profile may map from a raw column, in codebook order."""
    return tuple(v.name for v in codebook.variables(dataset) if v.name not in _NOT_MAPPABLE)


MAPPABLE: tuple[str, ...] = mappable("residents")


@dataclass
class Proposal:
    """A proposed ``columns`` entry: codebook variable <- raw column, and how sure."""

    var: str
    column: str
    fit: float  # share of the column's rows the variable accepts
    how: str  # "name" (the codebook name itself), "synonym", "kobo"
    todo: str | None = None


def propose_columns(infos: dict[str, ColumnInfo], decimal: str, kobo: bool, dataset: str = "residents"
                    ) -> tuple[dict[str, Proposal], dict[str, str]]:
    """Codebook variable -> :class:`Proposal`, and unmapped raw column -> why.

    Each raw column whose (prefix-free) name is a codebook name, or whose name matches the
    variable's :data:`NAME_PATTERNS`, is a candidate; candidates are ranked by name
    evidence, then by how well the values fit (:func:`value_fit`); each variable and each
    column is used once.
    """
    names = mappable(dataset)
    cands = []
    for col, info in infos.items():
        if kobo and (col in KOBO_META or short_name(col) in KOBO_META):
            continue
        sn = short_name(col)
        if sn in names:
            cands.append((3 + value_fit(codebook.var(sn, dataset), info, decimal), col, sn, "name"))
        else:
            for var in name_suggests(sn, dataset):
                if var in names:
                    cands.append((2 + value_fit(codebook.var(var, dataset), info, decimal), col, var, "synonym"))
    out: dict[str, Proposal] = {}
    used: set[str] = set()
    if kobo:
        for var, options in (("respondent_id", ("_uuid", "meta/instanceID", "meta-instanceID", "KEY")),
                             ("interview_date", ("today", "start"))):
            col = next((c for c in options if c in infos and infos[c].n), None)
            if col and not any(v == var and h == "name" for _, _, v, h in cands):
                out[var] = Proposal(var, col, 1.0, "kobo")
                used.add(col)
    for score, col, var, how in sorted(cands, key=lambda c: (-c[0], c[1], c[2])):
        if var in out or col in used:
            continue
        fit = score - (3 if how == "name" else 2)
        p = Proposal(var, col, fit, how)
        if fit < 0.9:
            p.todo = (f"column {col!r} is proposed for {var} by its name, but only {fit:.0%} of its values "
                      f"fit {var} ({codebook.var(var, dataset).label('en')}): check")
        out[var] = p
        used.add(col)
    why = {}
    for col, info in infos.items():
        if col in used:
            continue
        if kobo and (col in KOBO_META or short_name(col) in KOBO_META):
            why[col] = "KoboToolbox/ODK metadata"
            continue
        rivals = [v for _, c, v, _ in cands if c == col]
        why[col] = (f"TODO: its name also suggests {rivals}, already mapped from other columns" if rivals
                    else "no codebook variable recognised (not needed, or a name the synonyms miss?)")
    return dict(sorted(out.items(), key=lambda kv: names.index(kv[0]))), why


@dataclass
class ValueProposal:
    mapping: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, None] = field(default_factory=dict)  # ordered set of don't-know labels
    item_missing: set[int] = field(default_factory=set)
    unknown: list[tuple[str, int]] = field(default_factory=list)
    languages: Counter = field(default_factory=Counter)
    todo: str | None = None
    out_of_range: int = 0  # rows with a number outside the codebook range


def propose_values(var: codebook.Var, info: ColumnInfo, decimal: str, trusted_codes: bool = False) -> ValueProposal:
    """The ``values`` mapping of one column, its don't-know labels and codes, and what is unknown.

    ``trusted_codes``: numeric codes are codebook values (an IMPPULSE XLSForm export), so a
    scale without labels needs no direction check.
    """
    out = ValueProposal()
    scale = VAR_SCALE.get(var.name)
    bare_numbers = 0
    for raw, c in info.counts:
        lab = info.labels.get(raw, raw)
        key = raw if raw in info.labels else lab
        if scale and (m := scale_value(scale, lab)):
            known = {norm_label(k) for k in out.mapping}
            if not (m[0] == _passthrough(var, raw) and raw not in info.labels) and norm_label(key) not in known:
                out.mapping[key] = m[0]  # one spelling per label: the cleaning step ignores case and spaces
            out.languages[m[1]] += c
            continue
        lang = missing_language(lab)
        x = _number(raw, decimal)
        if lang:
            out.languages[lang] += c
            if raw in info.labels:
                if x is not None and var.scale_labels and var.range and not (var.range[0] <= x <= var.range[1]):
                    out.item_missing.add(int(x))
                else:
                    out.mapping[raw] = None
            else:
                out.missing[lab] = None
            continue
        if var.kind in ("int", "float") and x is not None:
            if var.range and var.range[0] <= x <= var.range[1]:
                bare_numbers += raw not in info.labels
                continue
            if var.scale_labels and x == int(x) and int(x) in DK_CODES:
                out.item_missing.add(int(x))
                continue
            out.out_of_range += c  # a number, not a label: the cleaning step rejects the row
            continue
        if _passthrough(var, raw) is not None:
            continue
        out.unknown.append((lab, c))
    if bare_numbers and scale and scale != "freq4" and not trusted_codes and not out.mapping:
        lo, hi = int(var.range[0]), int(var.range[1])
        ends = {lo: SCALES[scale][lo]["en"][0], hi: SCALES[scale][hi]["en"][0]}
        out.todo = (f"numeric codes without labels: check their direction (the codebook has "
                    + ", ".join(f"{k} = {t}" for k, t in ends.items())
                    + ("; ESS aesfdrk runs the other way: 1 = very safe" if var.name == "feel_safe_dark" else "")
                    + "); if the city's codes run the other way, map them reversed: "
                    + "{" + ", ".join(f"'{k}': {lo + hi - k}" for k in range(lo, hi + 1)) + "}")
    order = {v: i for i, v in enumerate(SCALES[scale])} if scale else {}
    out.mapping = dict(sorted(out.mapping.items(), key=lambda kv: (kv[1] is None, order.get(kv[1], 99), kv[0])))
    return out


def _passthrough(var: codebook.Var, raw: str) -> Any:
    """The codebook value a raw text already is for the cleaning step (no mapping needed), or None."""
    k = norm_label(raw)
    if var.kind == "bool":
        return {"true": True, "1": True, "false": False, "0": False}.get(k)
    if var.kind == "category" and var.categories:
        return next((c for c in var.categories if norm_label(c) == k), None)
    return None


def propose_wave(info: ColumnInfo) -> tuple[dict[str, str], str | None]:
    """``values.wave`` and a TODO (None when sure): the earlier of two waves is the baseline."""
    vals = [(raw, info.labels.get(raw, raw)) for raw, _ in info.counts if not missing_language(info.labels.get(raw, raw))]
    if vals and all(norm_label(lab) in codebook.WAVES or norm_label(raw) in codebook.WAVES for raw, lab in vals):
        return {}, None
    if len(vals) != 2:
        return {}, (f"the wave column has {len(vals)} distinct values, expected two: map each to baseline "
                    "or follow_up, or set `wave:` on each file")

    def order(item):
        raw, lab = item
        years = re.findall(r"(?:19|20)\d\d", f"{lab} {raw}")
        digits = re.findall(r"\d+", f"{lab} {raw}")
        return (int(years[0]) if years else 0, int(digits[0]) if digits else 0, norm_label(lab))

    first, second = sorted(vals, key=order)
    key = (lambda r, lab: r if r in info.labels else lab)
    mapping = {key(*first): "baseline", key(*second): "follow_up"}
    years = [re.findall(r"(?:19|20)\d\d", f"{lab} {raw}") for raw, lab in (first, second)]
    sure = all(years) and years[0][0] != years[1][0]
    return mapping, None if sure else (f"{first[1]!r} is taken for the baseline and {second[1]!r} for the "
                                       "follow-up (the earlier one first): check")


def _files_waves(tables: list[RawTable]) -> tuple[list[str | None], str | None]:
    """Waves of several files/sheets with the same columns, from the years or numbers in their names."""
    def order(t):
        name = t.source
        years = re.findall(r"(?:19|20)\d\d", name)
        digits = re.findall(r"\d+", name)
        return (int(years[-1]) if years else 0, int(digits[-1]) if digits else 0, name)
    keys = [order(t) for t in tables]
    ranked = sorted(range(len(tables)), key=lambda i: keys[i])
    if len(tables) != 2 or keys[ranked[0]][:2] == keys[ranked[1]][:2]:
        return [None] * len(tables), ("files with the same columns but no wave column: set `wave:` "
                                      "(baseline or follow_up) on each")
    waves = [None, None]
    waves[ranked[0]], waves[ranked[1]] = "baseline", "follow_up"
    sure = all(re.findall(r"(?:19|20)\d\d", t.source) for t in tables)
    return waves, None if sure else "the wave of each file is guessed from the numbers in its name: check"


# ================================================================== neighbourhoods
@dataclass
class Unit:
    """An official neighbourhood unit from a boundary file, a list or a form's choices."""

    code: str
    name: str
    lon: float | None = None
    lat: float | None = None
    area_km2: float | None = None


def _guess_field(columns: list[str], patterns: str) -> str | None:
    return next((c for c in columns if re.search(patterns, norm_name(c))), None)


def units_from_boundaries(path: Path) -> tuple[list[Unit], dict]:
    """Units (code, name, centroid, area) of a boundary file, and the ``boundaries`` fields guessed."""
    import geopandas as gpd

    gdf = gpd.read_file(path)
    cols = [c for c in gdf.columns if c != "geometry"]
    code = _guess_field(cols, r"^(code|codi|cod|codigo|codice|id|dicofre|nil|numero|num|kodas|nr)\b|\bcode\b") or cols[0]
    name = _guess_field([c for c in cols if c != code],
                        r"^(name|nom|nome|nombre|naam|pavad|denom|label|barri|quartier|libelle|nil)") or code
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    metric = gdf.to_crs(gdf.estimate_utm_crs())
    cent = metric.geometry.centroid.to_crs(4326)
    units = [Unit(str(c), str(n), round(float(p.x), 6), round(float(p.y), 6), round(float(a) / 1e6, 4) or None)
             for c, n, p, a in zip(gdf[code], gdf[name], cent, metric.geometry.area)]
    return units, {"code_field": code, "name_field": name}


def units_from_csv(path: Path) -> list[Unit]:
    """Units of a list: a CSV with columns ``code`` and ``name`` (``lon``, ``lat``, ``area_km2`` optional)."""
    data = path.read_bytes()
    text = data.decode(detect_encoding(data)).lstrip("\ufeff")
    rows = list(csv.DictReader(text.splitlines(), delimiter=detect_delimiter(text)))
    if not rows or not {"code", "name"} <= {k.strip().lower() for k in rows[0]}:
        raise DraftError(f"{path}, line 1: a neighbourhood list needs the columns code and name "
                         "(lon, lat, area_km2 optional)")
    out = []
    for line, r in enumerate(rows, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in r.items() if k}
        try:
            num = {k: float(r[k].replace(",", ".")) if r.get(k) else None for k in ("lon", "lat", "area_km2")}
        except ValueError:
            raise DraftError(f"{path}, line {line}: lon, lat and area_km2 must be numbers") from None
        out.append(Unit(r["code"], r["name"] or r["code"], num["lon"], num["lat"], num["area_km2"]))
    return out


def units_from_form(meta: Metadata) -> list[Unit]:
    """Units of the ``neighbourhood`` question's choice list in an IMPPULSE XLSForm."""
    q = meta.form_questions.get("neighbourhood")
    if not q:
        return []
    parts = str(q.get("type", "")).split()
    choices = meta.form_choices.get(parts[1], []) if len(parts) > 1 else []
    out = []
    for ch in choices:
        label = next((v for k, v in ch.items() if k.startswith("label") and v), ch["name"])
        f = {k: (float(ch[k]) if ch.get(k) not in (None, "") else None) for k in ("lon", "lat", "area_km2")}
        out.append(Unit(str(ch["name"]), str(label), f["lon"], f["lat"], f["area_km2"]))
    return [u for u in out if not u.code.startswith("TODO")]


def match_units(info: ColumnInfo, units: list[Unit]) -> tuple[dict[str, str], list[tuple[str, int]], list[str]]:
    """Match the raw neighbourhood values to unit codes.

    Returns ``(values mapping raw -> code, unmatched (raw, rows), guesses)``. A raw value
    that is a code needs no mapping; a name is matched on :func:`norm_name` (accents,
    case, hyphens and punctuation ignored), then as the unique unit name it begins.
    """
    by_code = {norm_label(u.code): u.code for u in units}
    by_int = {int(u.code): u.code for u in units if u.code.isdigit()}
    by_name: dict[str, str | None] = {}
    for u in units:
        k = norm_name(u.name)
        by_name[k] = u.code if k not in by_name or by_name[k] == u.code else None
    mapping, unmatched, guesses = {}, [], []
    for raw, c in info.counts:
        lab = info.labels.get(raw, raw)
        if norm_label(raw) in by_code and raw not in info.labels:
            continue
        if raw.isdigit() and int(raw) in by_int and raw not in info.labels:
            mapping[raw] = by_int[int(raw)]
            continue
        k = norm_name(lab)
        if by_name.get(k):
            if by_name[k] != raw:  # a labelled code that is the unit's code needs no mapping
                mapping[raw if raw in info.labels else lab] = by_name[k]
            continue
        starts = {code for n, code in by_name.items() if code and n.startswith(k + " ")} if k else set()
        if len(starts) == 1:
            code = starts.pop()
            mapping[raw if raw in info.labels else lab] = code
            guesses.append(f"{lab!r} -> {code!r} (the start of the unit's name)")
            continue
        unmatched.append((lab, c))
    return mapping, unmatched, guesses


def reference_units(city: str, neighbourhoods: str | Path | None, boundaries_dir: str | Path | None,
                    meta: Metadata) -> tuple[list[Unit], str | None, dict]:
    """The official units to match raw neighbourhood values against: ``(units, source, boundary fields)``.

    In order: the list given (``--neighbourhoods``), a boundary file
    ``<boundaries_dir>/<city>.*``, the neighbourhood choices of an IMPPULSE XLSForm; none
    (empty list, source None) when there is no reference.
    """
    if neighbourhoods:
        return units_from_csv(Path(neighbourhoods)), f"the list {Path(neighbourhoods).name}", {}
    bdir = Path(boundaries_dir) if boundaries_dir is not None else PATHS.boundaries
    bfiles = sorted(p for p in bdir.glob(f"{city}.*") if p.suffix.lower() in (".geojson", ".gpkg", ".shp", ".json")) \
        if bdir.is_dir() else []
    if bfiles:
        units, fields = units_from_boundaries(bfiles[0])
        return units, f"the boundary file {bfiles[0].name}", fields
    if meta.form_source:
        units = units_from_form(meta)
        if units:
            return units, f"the choices of {meta.form_source}", {}
    return [], None, {}


def _looks_like_code(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z]{0,4}[0-9][0-9A-Za-z._-]{0,10}", text))


# ========================================================================= drafting
def _y(v: Any) -> str:
    """A YAML flow scalar (quoted when YAML would misread it: 'No', '01', 'a: b'...)."""
    if isinstance(v, dt.date):
        return v.isoformat()
    return yaml.safe_dump([v], default_flow_style=True, allow_unicode=True, width=10**9, sort_keys=False).strip()[1:-1]


class _Writer:
    """Lines of a YAML document with comments; every TODO is ``# TODO: <key>: <text>``."""

    def __init__(self):
        self.lines: list[str] = []
        self.todos: list[tuple[str, str]] = []

    def add(self, text: str, indent: int = 0) -> None:
        self.lines.append(" " * indent + text)

    def comment(self, text: str, indent: int = 0) -> None:
        self.lines.append(" " * indent + "# " + text)

    def todo(self, key: str, text: str, indent: int = 0) -> None:
        self.todos.append((key, text))
        self.comment(f"TODO: {key}: {text}", indent)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass
class Draft:
    """A drafted profile: its YAML text, the TODOs left in it and the validated model."""

    city: str
    text: str
    todos: list[tuple[str, str]]
    profile: CityProfile
    path: Path | None = None

    def todo_keys(self) -> set[str]:
        """The profile keys that still have a TODO."""
        return {k for k, _ in self.todos}


#: Profile keys only the city can fill (no data file tells them): given in the ``imppulse``
#: metadata sheet, or left as TODO.
METADATA_ONLY: tuple[str, ...] = ("name", "country", "languages", "boundaries.unit", "pilot", "waves", "margins")


#: Optional keys of the methods annex (config/cities/README.md, "Survey design, response rates
#: and cost"): the metadata sheet's rows for each, and what the TODO asks.
ANNEX_OPTIONAL: dict[str, tuple[tuple[str, ...], str]] = {
    "pilot.cost": (("pilot.cost.amount", "pilot.cost.currency", "pilot.cost.start", "pilot.cost.end",
                    "pilot.cost.covers"),
                   "optional: what the pilot cost (cost: {amount, currency, start, end, covers, source}) "
                   "for the cost per resident reached; left out, the methods annex says 'not provided'"),
    "waves.response_rate": (("waves.baseline.response_rate", "waves.follow_up.response_rate"),
                            "optional: each wave's response rate, a share from 0 to 1 (response_rate: 0.38), "
                            "not for a quota sample; left out, the methods annex says 'not provided'"),
    "sampling": (("sampling.frame", "sampling.design", "sampling.mode"),
                 "optional: how the residents were sampled (sampling: {frame, design: address_random | "
                 "register_random | phone_random | quota | convenience | other, mode: face_to_face | telephone | "
                 "online | mixed}); left out, the methods annex says 'not provided'"),
}


def _write_annex_optional(w: _Writer, meta: Metadata, key: str, ind: int) -> None:
    """The optional methods-annex keys: written from the metadata sheet, else a TODO.

    A metadata sheet that leaves them blank is the city's answer (not provided): a comment,
    not a TODO, so a complete sheet still drafts a profile with no TODO left. Response
    rates are written inside the waves (``_write`` of the waves); this adds only their TODO.
    """
    rows, ask = ANNEX_OPTIONAL[key]
    have = [r for r in rows if meta.get(r) is not None]
    if key == "waves.response_rate":
        if not have:
            (w.comment(f"{key}: not in {meta.source} (optional): the methods annex says 'not provided'", ind)
             if meta.source else w.todo(key, ask, ind))
        return
    if len(have) == len(rows):
        w.add(f"{key.split('.')[-1]}:", ind)
        for r in [r for r in METADATA_KEYS if r.startswith(key + ".")]:
            if meta.get(r) is not None:
                w.add(f"{r.split('.')[-1]}: {_y(meta.get(r))}", ind + 2)
    elif have:  # half given: an open question, not an answer
        w.todo(key, f"{meta.source} gives {have} but not {[r for r in rows if r not in have]}: complete it "
               f"or leave the whole key out; " + ask, ind)
    elif meta.source:
        w.comment(f"{key}: not in {meta.source} (optional): the methods annex says 'not provided'", ind)
    else:
        w.todo(key, ask, ind)


def _group_tables(tables: list[RawTable]) -> list[list[RawTable]]:
    groups: dict[tuple, list[RawTable]] = {}
    for t in tables:
        groups.setdefault(tuple(sorted(t.frame.columns)), []).append(t)

    def score(g):
        cols = g[0].frame.columns
        return sum(1 for c in cols if short_name(c) in MAPPABLE or name_suggests(short_name(c)))
    return sorted(groups.values(), key=lambda g: (-score(g), g[0].source))


def _merged_labels(tables: list[RawTable]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for t in tables:
        for col, m in t.labels.items():
            out.setdefault(col, {}).update(m)
    return out


def _dates(series: pd.Series, fmt: str | None) -> pd.Series:
    def one(v):
        if isinstance(v, (dt.datetime, pd.Timestamp)):
            return pd.Timestamp(v).normalize()
        if isinstance(v, dt.date):
            return pd.Timestamp(v)
        t = raw_text(v)
        if t is None:
            return pd.NaT
        try:
            return pd.Timestamp(dt.datetime.strptime(t.strip(), fmt) if fmt else dt.date.fromisoformat(t.strip()[:10]))
        except ValueError:
            return pd.NaT
    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype="datetime64[ns]")


def fieldwork_window(dates: pd.Series, gap_days: int = 30, max_share: float = 0.02) -> tuple[dt.date, dt.date]:
    """First and last interview date of a wave, stray dates aside.

    A date more than ``gap_days`` away from the rest of the wave, at either end, is a keying
    error rather than fieldwork, as long as such dates are at most ``max_share`` of the wave;
    the window then runs from the first to the last remaining date.
    """
    d = np.sort(dates.dropna().to_numpy(dtype="datetime64[D]"))
    lo, hi = 0, len(d) - 1
    budget = int(max_share * len(d))
    gap = np.timedelta64(gap_days, "D")
    while budget and lo < hi and d[lo + 1] - d[lo] > gap:
        lo, budget = lo + 1, budget - 1
    while budget and hi > lo and d[hi] - d[hi - 1] > gap:
        hi, budget = hi - 1, budget - 1
    return pd.Timestamp(d[lo]).date(), pd.Timestamp(d[hi]).date()


#: Variables only one optional dataset has: a table is taken for it when enough of them match.
_SPECIFIC: dict[str, tuple[str, ...]] = {
    "officers": ("officer_id", "unit", "years_service", "trained_in_pilot", "off_public_support", "off_youth_attitude",
                 "off_confidence_contacts", "off_job_satisfaction"),
    "activities": ("activity_type", "participants", "participants_police"),
}


def dataset_of(tables: list[RawTable]) -> str | None:
    """``"officers"``, ``"activities"`` or None: what a table other than the residents' looks like."""
    cols = [short_name(c) for c in tables[0].frame.columns]
    scores = {ds: len({v for c in cols for v in name_suggests(c, ds) if v in names}) for ds, names in _SPECIFIC.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] >= (3 if best == "officers" else 2) else None


def _write_file_entries(w: _Writer, group: list[RawTable], file_waves, date_fmt: str | None, ind: int) -> None:
    """The ``files:`` entries of a dataset: each file's reading options, wave and date format."""
    for t, fw in zip(group, file_waves):
        w.add(f"- path: {_y(t.spec['path'])}", ind)
        for k in ("format", "encoding", "delimiter", "decimal", "sheet", "skiprows"):
            v = t.spec.get(k)
            if v is None or (k == "skiprows" and v == 0) or (k == "decimal" and v == "."):
                continue
            w.add(f"{k}: {_y(v)}", ind + 2)
        if fw:
            w.add(f"wave: {fw}", ind + 2)
        if date_fmt:
            w.add(f"date_format: {_y(date_fmt)}", ind + 2)


def _write_other_dataset(w: _Writer, name: str, group: list[RawTable], units: list[Unit], ind: int = 2) -> set[str]:
    """Draft the ``officers`` or ``activities`` section (same rules as the residents, no design keys).

    Returns the raw columns it maps.
    """
    frame = pd.concat([t.frame for t in group], ignore_index=True)
    labels = _merged_labels(group)
    decimal = next((t.spec.get("decimal", ".") for t in group if t.spec.get("decimal")), ".")
    infos = {c: column_info(frame[c], labels.get(c)) for c in frame.columns}
    props, why = propose_columns(infos, decimal, False, name)
    sources = ", ".join(t.source for t in group)
    required = {v.name for v in codebook.variables(name) if v.required} - {"city", "source_file", "raw_row_number"}
    file_waves: list[str | None] = [None] * len(group)
    fw_todo = None
    if "wave" in required and "wave" not in props and len(group) > 1:
        file_waves, fw_todo = _files_waves(group)
        if any(file_waves):
            required.discard("wave")
    absent = sorted(required - set(props))
    if absent:
        w.todo(name, f"{sources} looks like the {name} data, but no column was found for {absent}: "
               f"add {name}: by hand (config/cities/README.md)")
        return set()
    w.add(f"{name}:")
    w.add("files:", ind)
    date_prop = props.get("date")
    date_fmt = date_problem = None
    if date_prop and not infos[date_prop.column].native_dates:
        date_fmt, date_problem = detect_date_format([v for v, _ in infos[date_prop.column].counts])
    _write_file_entries(w, group, file_waves, date_fmt, ind)
    if fw_todo:
        w.todo(f"{name}.files.wave", fw_todo, ind)
    if date_problem:
        w.todo(f"{name}.files.date_format", date_problem, ind)
    w.add("columns:", ind)
    for var, p in props.items():
        if p.todo:
            w.todo(f"{name}.columns.{var}", p.todo, ind + 2)
        fit = "" if codebook.var(var, name).kind == "str" else f", values fit {p.fit:.0%}"
        w.add(f"{var}: {_y(p.column)}  # {'the codebook name' if p.how == 'name' else 'name'}{fit}", ind + 2)
    for var in mappable(name):
        if var not in props and var not in required:
            w.comment(f"{var}: not found ({codebook.var(var, name).label('en')})", ind + 2)
    w.add("values:", ind)
    values_at = len(w.lines) - 1
    missing: dict[str, None] = {}
    item_missing: set[int] = set()
    for var, p in props.items():
        v = codebook.var(var, name)
        info = infos[p.column]
        if var == "wave":
            mapping, todo = propose_wave(info)
        elif var == "neighbourhood":
            mapping, unmatched, guesses = match_units(info, units) if units else ({}, [], [])
            todo = "; ".join([f"guessed: {g}" for g in guesses]
                             + ([f"values matching no unit: {', '.join(repr(lab) for lab, _ in unmatched[:40])}"]
                                if unmatched and info.listed else [])) or None
        elif v.kind == "str" or v.kind == "date":
            continue
        else:
            vp = propose_values(v, info, decimal)
            missing.update(vp.missing)
            item_missing |= vp.item_missing
            mapping = vp.mapping
            todo = vp.todo
            if vp.unknown:
                shown = (", ".join(f"{lab!r} ({fmt_count(c)})" for lab, c in vp.unknown) if info.listed
                         else f"{len(vp.unknown)} distinct values (not listed)")
                todo = (todo + "; " if todo else "") + f"labels not recognised: {shown}"
        if todo:
            w.todo(f"{name}.values.{var}", todo, ind + 2)
        if mapping:
            w.add(f"{var}:", ind + 2)
            codes = [u.code for u in units]
            order = (lambda kv: (codes.index(kv[1]) if kv[1] in codes else -1, kv[0])) if var == "neighbourhood" else None
            for k, val in (sorted(mapping.items(), key=order) if order else mapping.items()):
                lab = info.labels.get(k)
                w.add(f"{_y(k)}: {_y(val)}" + (f"  # {lab}" if lab else ""), ind + 4)
    if not any(not ln.strip().startswith("#") for ln in w.lines[values_at + 1:]):
        w.lines[values_at] = " " * ind + "values: {}"
    if missing:
        w.add(f"missing: {_y(list(missing))}", ind)
    if item_missing:
        w.add(f"item_missing: {_y(sorted(item_missing))}", ind)
    for col, reason in why.items():
        if reason.startswith("TODO: "):
            w.todo(f"{name}.columns", f"raw column {col!r}: {reason[6:]}", ind)
    return {p.column for p in props.values()}


def draft_profile(city: str, raw_dir: str | Path | None = None, neighbourhoods: str | Path | None = None,
                  boundaries_dir: str | Path | None = None) -> Draft:
    """Draft the profile of ``city`` from its raw files (nothing is written; see :func:`write_draft`).

    Parameters
    ----------
    city : str
        Slug of the new city (lower case, as the profile file name).
    raw_dir : path, optional
        Folder of the raw files; default ``data/raw/<city>``.
    neighbourhoods : path, optional
        A CSV list of the official units (``code, name`` and optionally ``lon, lat,
        area_km2``); default: a boundary file ``<boundaries_dir>/<city>.*``, else the
        choice list of an IMPPULSE XLSForm beside the data, else the raw values.
    boundaries_dir : path, optional
        Default ``data/external/boundaries``.

    Returns
    -------
    Draft
        The YAML text (validated against :class:`~analysis.inputs.profile.CityProfile`) and its TODOs.

    Raises
    ------
    DraftError
        No raw folder or data file, an unreadable file, a bad metadata sheet or list.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", city or ""):
        raise DraftError(f"city {city!r}: a slug is lower case letters, digits, '-' or '_', starting with a letter")
    folder = Path(raw_dir) if raw_dir is not None else PATHS.raw_city(city)
    if not folder.is_dir():
        raise DraftError(f"{folder}: no such folder; put the city's raw files in data/raw/{city}/")
    tables, meta, notes = read_raw_folder(folder)
    groups = _group_tables(tables)
    group = groups[0]
    frame = pd.concat([t.frame for t in group], ignore_index=True)
    labels = _merged_labels(group)
    decimal = next((t.spec.get("decimal", ".") for t in group if t.spec.get("decimal")), ".")
    kobo = is_form_export(frame.columns)
    trusted = bool(meta.form_source) and kobo
    infos = {c: column_info(frame[c], labels.get(c)) for c in frame.columns}
    props, why = propose_columns(infos, decimal, kobo)
    w = _Writer()
    ind = 2

    # ---- header
    w.comment(f"Draft profile of {city!r}, written by `make new-city CITY={city}` from data/raw/{city}/.")
    w.comment("Review every `# TODO:` line, delete it once settled, then run `make check CITY=" + city + "`.")
    if meta.source:
        w.comment(f"Keys the data cannot tell come from {meta.source}.")
    if meta.form_source:
        w.comment(f"The XLSForm {meta.form_source} gives the item names and the neighbourhood list.")
    w.add(f"city: {city}")
    name = meta.get("name")
    if not name:
        w.todo("name", "the city's name in English (and name_fr in French)")
    w.add(f"name: {_y(name or city.replace('-', ' ').replace('_', ' ').title())}")
    if meta.get("name_fr"):
        w.add(f"name_fr: {_y(meta.get('name_fr'))}")
    if not meta.get("country"):
        w.todo("country", "ISO 3166-1 alpha-2 code of the country, e.g. FR, IT, ES, BE, LT, PT, DE, AT")
    w.add(f"country: {_y(meta.get('country', 'XX'))}")

    # languages: meta, else the languages of the recognised labels
    vprops = {}
    for var, p in props.items():
        v = codebook.var(var)
        if var in ("respondent_id", "interview_date", "neighbourhood", "wave") or v.kind == "str":
            continue
        vprops[var] = propose_values(v, infos[p.column], decimal, trusted_codes=trusted)
    langs = sum((vp.languages for vp in vprops.values()), Counter())
    languages = meta.get("languages")
    if not languages:
        total = sum(langs.values())
        languages = [lg for lg, c in langs.most_common() if c >= 0.1 * total] or ["en"]
        shares = ", ".join(f"{lg} {c / total:.0%}" for lg, c in langs.most_common()) if total else "no labels"
        w.todo("languages", f"guessed from the recognised labels ({shares}): languages of the raw labels")
    w.add(f"languages: {_y(list(languages))}")
    synthetic = bool(meta.get("synthetic", False))
    w.add(f"synthetic: {_y(synthetic)}" + ("" if synthetic else "  # real data: results are labelled confidential"))
    if meta.get("notes"):
        w.add(f"notes: {_y(meta.get('notes'))}")

    # ---- geography
    units, unit_source, bfields = reference_units(city, neighbourhoods, boundaries_dir, meta)
    w.add("boundaries:")
    if not meta.get("boundaries.unit"):
        w.todo("boundaries.unit", "name of the official unit (quartier, barri, NIL, freguesia, Bezirk...)", ind)
    w.add(f"unit: {_y(meta.get('boundaries.unit', 'neighbourhood'))}", ind)
    for k in ("url", "source", "licence"):
        if meta.get(f"boundaries.{k}"):
            w.add(f"{k}: {_y(meta.get(f'boundaries.{k}'))}", ind)
    for k, v in bfields.items():
        w.add(f"{k}: {_y(v)}", ind)

    nb_map: dict[str, str] = {}
    nb_prop = props.get("neighbourhood")
    nb_info = infos[nb_prop.column] if nb_prop else None
    if not units and nb_info is not None and nb_info.labels:
        # SPSS/Stata value labels of the neighbourhood column are a list of codes and names
        units = [Unit(code, lab) for code, lab in nb_info.labels.items() if not missing_language(lab)]
        unit_source = f"the value labels of the column {nb_prop.column!r}"
    if not units and nb_info is not None:
        # no reference list: the units are the values found in at least K_SUPPRESS rows
        frequent = [(raw, c) for raw, c in nb_info.counts if c >= K_SUPPRESS]
        codes_ok = all(_looks_like_code(r) and r not in nb_info.labels for r, _ in frequent)
        for i, (raw, c) in enumerate(frequent, start=1):
            lab = nb_info.labels.get(raw, raw)
            code = raw if codes_ok else f"N{i:02d}"
            units.append(Unit(code, lab))
    if nb_info is not None:
        nb_map, unmatched, guesses = match_units(nb_info, units)
    else:
        unmatched, guesses = [], []
    w.add("neighbourhoods:")
    if unit_source:
        w.comment(f"units from {unit_source}", ind)
    else:
        w.todo("neighbourhoods", "no boundary file or list: these units are the values found in at least "
               f"{K_SUPPRESS} rows of the neighbourhood column; give official codes and names (NEIGHBOURHOODS="
               "list.csv, or a boundary file in data/external/boundaries/)", ind)
    if any(u.lon is None or u.lat is None for u in units):
        w.todo("neighbourhoods", "centroids unknown: lon/lat are placeholders (0, 0) marked approximate; give "
               "each unit's centroid (WGS84) or a boundary file", ind)
    units.sort(key=lambda u: (len(u.code), u.code) if u.code.isdigit() else (0, u.code))
    if len(units) < 2:
        w.todo("neighbourhoods", "fewer than two units found; a profile needs every unit of the city", ind)
        units = units + [Unit(f"TODO{i}", f"TODO unit {i}") for i in range(1, 3 - len(units))]
    for u in units:
        item = {"code": u.code, "name": u.name, "lon": u.lon if u.lon is not None else 0.0,
                "lat": u.lat if u.lat is not None else 0.0}
        if u.area_km2:
            item["area_km2"] = u.area_km2
        if u.lon is None or u.lat is None or not unit_source:
            item["approximate"] = True
        w.add(f"- {_y(item)}")
    codes = [u.code for u in units]

    # ---- waves and interview dates (needed for the pilot's placeholder dates)
    wave_prop = props.get("wave")
    wave_map, wave_todo = (propose_wave(infos[wave_prop.column]) if wave_prop else ({}, None))
    file_waves: list[str | None] = [None] * len(group)
    file_waves_todo = None
    if not wave_prop:
        if len(group) > 1:
            file_waves, file_waves_todo = _files_waves(group)
        else:
            file_waves_todo = "no wave column found: map one, or give each wave's file with `wave:`"
    date_prop = props.get("interview_date")
    date_fmt, date_problem = None, None
    if date_prop and not infos[date_prop.column].native_dates:
        date_fmt, date_problem = detect_date_format([v for v, _ in infos[date_prop.column].counts])
    row_wave = pd.Series([None] * len(frame), dtype=object)
    if wave_prop:
        keyed = {norm_label(k): v for k, v in wave_map.items()}
        raw_w = frame[wave_prop.column].map(raw_text)
        row_wave = raw_w.map(lambda t: keyed.get(norm_label(t)) if t is not None else None)
        row_wave = row_wave.where(row_wave.notna(), raw_w.map(
            lambda t: norm_label(t) if t is not None and norm_label(t) in codebook.WAVES else None))
    elif any(file_waves):
        row_wave = pd.Series(np.concatenate([[fw] * len(t.frame) for fw, t in zip(file_waves, group)]), dtype=object)
    windows = {}
    if date_prop:
        d = _dates(frame[date_prop.column], date_fmt)
        for wv in codebook.WAVES:
            sel = d[(row_wave == wv).to_numpy()].dropna()
            if len(sel) >= K_SUPPRESS:
                windows[wv] = fieldwork_window(sel)

    # ---- pilot
    for key in ("pilot.pilot_areas", "pilot.comparison_areas"):
        bad = [c for c in meta.get(key, []) if c not in codes]
        if bad:
            raise DraftError(f"{meta.source}: key {key}: {bad} are not neighbourhood codes (known: {codes[:20]}"
                             f"{'…' if len(codes) > 20 else ''})")
    bad = [g for g in meta.get("pilot.targeted_groups", []) if g not in codebook.TARGET_GROUPS]
    if bad:
        raise DraftError(f"{meta.source}: key pilot.targeted_groups: {bad} unknown; expected some of "
                         f"{sorted(codebook.TARGET_GROUPS)}")
    w.add("pilot:")
    pilot_keys = ("pilot.name", "pilot.kind", "pilot.description", "pilot.start", "pilot.end", "pilot.pilot_areas",
                  "pilot.targeted_groups")
    pilot_known = all(meta.get(k) for k in pilot_keys) and meta.values.get("pilot.comparison_areas") is not None
    if not pilot_known:
        w.todo("pilot", "no data file says what the pilot was, where and when: fill name, kind, description, "
               "start, end, pilot_areas, comparison_areas (empty list: pre/post design), targeted_groups", ind)
    b_end = windows.get("baseline", (None, dt.date(2014, 6, 30)))[1]
    f_start = windows.get("follow_up", (dt.date(2015, 3, 1), None))[0]
    p_start = b_end + dt.timedelta(days=1)
    p_end = max(p_start, f_start - dt.timedelta(days=1))
    for k, default in (("name", "TODO pilot name"), ("name_local", None), ("kind", "TODO kind"),
                       ("kind_fr", None), ("description", "TODO: what was done, by whom, for whom"),
                       ("description_fr", None), ("start", p_start), ("end", p_end)):
        v = meta.get(f"pilot.{k}", default)
        if v is not None:
            w.add(f"{k}: {_y(v)}", ind)
    w.add(f"pilot_areas: {_y(meta.get('pilot.pilot_areas', codes[:1]))}", ind)
    w.add(f"comparison_areas: {_y(meta.get('pilot.comparison_areas', []))}", ind)
    w.add(f"targeted_groups: {_y(meta.get('pilot.targeted_groups', ['young']))}", ind)
    for k in ("published_context", "published_context_fr"):
        if meta.get(f"pilot.{k}"):
            w.add(f"{k}: {_y(meta.get(f'pilot.{k}'))}", ind)
    _write_annex_optional(w, meta, "pilot.cost", ind)

    # ---- waves
    w.add("waves:")
    wave_known = all(meta.get(f"waves.{wv}.{k}") for wv in codebook.WAVES for k in ("start", "end"))
    if not wave_known:
        how = ("estimated from the interview dates (first to last, stray dates aside)" if len(windows) == 2
               else "placeholders: no interview dates per wave")
        w.todo("waves", f"fieldwork windows {how}: give the survey's real fieldwork dates", ind)
    for wv, (d0, d1) in (("baseline", (dt.date(2014, 3, 1), dt.date(2014, 6, 30))),
                         ("follow_up", (dt.date(2015, 3, 1), dt.date(2015, 6, 30)))):
        start = meta.get(f"waves.{wv}.start", windows.get(wv, (d0, d1))[0])
        end = meta.get(f"waves.{wv}.end", windows.get(wv, (d0, d1))[1])
        year = meta.get(f"waves.{wv}.year", start.year)
        rate = meta.get(f"waves.{wv}.response_rate")
        rate_text = "" if rate is None else f", response_rate: {_y(rate)}"
        w.add(f"{wv}: {{year: {year}, start: {start.isoformat()}, end: {end.isoformat()}{rate_text}}}", ind)
    _write_annex_optional(w, meta, "waves.response_rate", ind)
    _write_annex_optional(w, meta, "sampling", 0)

    # ---- margins
    if meta.get("margins.file") and meta.get("margins.source"):
        w.add("margins:")
        for k in ("source", "year", "file", "delimiter", "encoding"):
            if meta.get(f"margins.{k}") is not None:
                w.add(f"{k}: {_y(meta.get(f'margins.{k}'))}", ind)
    elif norm_label(str(meta.get("margins.source", ""))) in ("none", "no", "aucune", "keine"):
        w.comment("margins: none (the metadata say so): the weights fall back to 1 (unweighted_no_margins)")
    else:
        w.todo("margins", "no population margins found: add them (inline counts or a census CSV, see "
               "config/cities/README.md) or leave the key out: the weights then fall back to 1")

    # ---- residents
    w.add("residents:")
    w.add("files:", ind)
    _write_file_entries(w, group, file_waves, date_fmt, ind)
    if file_waves_todo:
        w.todo("residents.files.wave", file_waves_todo, ind)
    if date_problem:
        w.todo("residents.files.date_format", date_problem, ind)
    if date_prop and not date_fmt and not infos[date_prop.column].native_dates:
        w.comment("date_format left out: the dates are ISO dates (YYYY-MM-DD, with or without a time)", ind)
    w.add("columns:", ind)
    for var, p in props.items():
        if p.todo:
            w.todo(f"residents.columns.{var}", p.todo, ind + 2)
        evidence = {"name": "the codebook name", "synonym": "name", "kobo": "KoboToolbox/ODK metadata"}[p.how]
        fit = "" if codebook.var(var).kind == "str" or p.how == "kobo" else f", values fit {p.fit:.0%}"
        w.add(f"{var}: {_y(p.column)}  # {evidence}{fit}", ind + 2)
    required = {v.name for v in codebook.RESIDENT_VARS if v.required} - _NOT_MAPPABLE - {"city", "source_file", "raw_row_number"}
    if any(file_waves):
        required.discard("wave")
    for var in MAPPABLE:
        if var in props:
            continue
        v = codebook.var(var)
        if var in required:
            w.todo(f"residents.columns.{var}", f"required, not found: which column holds {v.label('en')}?", ind + 2)
        elif v.optional or (kobo and var == "interview_date"):
            w.comment(f"{var}: not found ({v.label('en')}; optional)", ind + 2)
        elif v.role in ("item", "contact", "who", "pilot") or var == "interview_date":
            w.todo(f"residents.columns.{var}", f"not found ({v.label('en')}): map it if the survey asked it", ind + 2)
    for col, reason in why.items():
        if reason.startswith("TODO: "):
            w.todo("residents.columns", f"raw column {col!r}: {reason[6:]}", ind + 2)

    w.add("values:", ind)
    values_at = len(w.lines) - 1
    if wave_map or wave_todo:
        if wave_todo:
            w.todo("residents.values.wave", wave_todo, ind + 2)
        if wave_map:
            w.add("wave:", ind + 2)
            for k, v in wave_map.items():
                w.add(f"{_y(k)}: {v}", ind + 4)
    if nb_info is not None:
        for g in guesses:
            w.todo("residents.values.neighbourhood", f"guessed: {g}", ind + 2)
        if unmatched:
            # place names and codes may be printed; a column of addresses or free text may not
            placelike = len(nb_info.counts) <= 500 and len(nb_info.counts) <= max(K_SUPPRESS, 0.5 * nb_info.n)
            shown = ((", ".join(f"{lab!r} ({fmt_count(c)})" for lab, c in unmatched[:40])
                      + (f" and {len(unmatched) - 40} more" if len(unmatched) > 40 else "")) if placelike else
                     f"{len(unmatched)} distinct values, not listed: with {len(nb_info.counts)} distinct values in "
                     f"{nb_info.n} rows, is {nb_prop.column!r} the neighbourhood column?")
            w.todo("residents.values.neighbourhood", f"values matching no unit: {shown}; map them to a code, or "
                   "leave them: their rows are rejected as unknown_neighbourhood", ind + 2)
        if nb_map:
            w.add("neighbourhood:", ind + 2)
            for k, v in sorted(nb_map.items(), key=lambda kv: (codes.index(kv[1]) if kv[1] in codes else -1, kv[0])):
                w.add(f"{_y(k)}: {_y(v)}", ind + 4)
    missing: dict[str, None] = {}
    item_missing: set[int] = set()
    for var, vp in vprops.items():
        missing.update(vp.missing)
        item_missing |= vp.item_missing
        info = infos[props[var].column]
        if vp.todo:
            w.todo(f"residents.values.{var}", vp.todo, ind + 2)
        if vp.out_of_range:
            w.comment(f"{var}: {fmt_count(vp.out_of_range)} row(s) hold a number outside "
                      f"{codebook.var(var).range[0]:g}-{codebook.var(var).range[1]:g}: the cleaning step rejects them",
                      ind + 2)
        if vp.unknown:
            if info.listed:
                shown = ", ".join(f"{lab!r} ({fmt_count(c)})" for lab, c in vp.unknown)
            else:
                shown = f"{len(vp.unknown)} distinct values (not listed: many distinct values)"
            w.todo(f"residents.values.{var}", f"labels not recognised: {shown}; add each with its codebook value, "
                   "or to residents.missing if it means don't know", ind + 2)
        if vp.mapping:
            w.add(f"{var}:", ind + 2)
            for k, v in vp.mapping.items():
                lab = info.labels.get(k)
                w.add(f"{_y(k)}: {_y(v)}" + (f"  # {lab}" if lab else ""), ind + 4)
    if not any(not ln.strip().startswith("#") for ln in w.lines[values_at + 1:]):
        w.lines[values_at] = " " * ind + "values: {}"  # nothing to map: every value passes through
    w.add(f"missing: {_y(list(missing))}", ind)
    w.add(f"item_missing: {_y(sorted(item_missing))}", ind)

    # ---- the other tables: the officers' survey and the activity log, when they look like them
    done: set[str] = set()
    mapped_cols = {p.column for p in props.values()}
    for g in groups[1:]:
        ds = dataset_of(g)
        if ds and ds not in done:
            done.add(ds)
            mapped_cols |= _write_other_dataset(w, ds, g, units)
        else:
            w.todo("files", f"{', '.join(t.source for t in g)}: not recognised as the officers' survey or the "
                   "activity log: add it under officers: or activities: by hand, or leave it out")
    w.add("")
    w.comment("---- what make new-city found (counts from 1 to 9 are shown as <10) ----")
    for n in notes + [n for t in tables for n in t.notes]:
        w.comment(n)
    for g in groups:
        for t in g:
            spec = ", ".join(f"{k} {v!r}" for k, v in t.spec.items() if k != "path" and v not in (None, 0))
            w.comment(f"{t.source}: {len(t.frame)} rows; {spec}")
            for c in t.frame.columns:
                w.comment(f"  {c}: {column_info(t.frame[c], t.labels.get(c)).summary(c in mapped_cols)}")
    if not w.todos:
        w.lines[1] = ("# No TODO: every key comes from the data files and the metadata sheet; "
                      f"run `make check CITY={city}`.")
    text = w.text()
    try:
        profile = CityProfile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:  # a value of the metadata sheet, or a drafting bug
        where = f" (check the values of {meta.source})" if meta.source else ""
        raise DraftError(_format_error(Path(f"{city}.yml"), exc, "drafted profile") + where) from None
    return Draft(city, text, w.todos, profile)


def write_draft(draft: Draft, path: str | Path | None = None) -> Path:
    """Write a draft to ``config/cities/<city>.yml`` (or ``path``); never over an existing file.

    A second draft for a city that has a profile goes elsewhere (``--out``): a draft beside
    the profiles as ``<city>.draft.yml`` would be taken for a city by every ``*.yml`` glob
    (the Makefile's city list, :func:`analysis.inputs.profile.list_cities`, the profile tests).

    Raises
    ------
    DraftError
        When the target exists.
    """
    target = Path(path) if path is not None else PATHS.profile(draft.city)
    if target.exists():
        raise DraftError(f"{target} exists; a draft never overwrites a profile or an earlier draft: "
                         f"draft elsewhere (make new-city CITY={draft.city} OUT=/tmp/{draft.city}.yml) and compare, "
                         "or move the file away")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(draft.text, encoding="utf-8")
    draft.path = target
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.inputs.newcity CITY [--neighbourhoods list.csv]``: draft config/cities/CITY.yml."""
    ap = argparse.ArgumentParser(prog="python -m analysis.inputs.newcity", description=main.__doc__)
    ap.add_argument("city")
    ap.add_argument("--neighbourhoods", help="CSV list of the official units: code, name[, lon, lat, area_km2]")
    ap.add_argument("--raw-dir", help="folder of the raw files (default data/raw/CITY)")
    ap.add_argument("--out", help="file to write (default config/cities/CITY.yml); never overwritten")
    args = ap.parse_args(argv)
    try:
        draft = draft_profile(args.city, args.raw_dir, args.neighbourhoods)
        path = write_draft(draft, args.out)
    except (DraftError, RawDataError) as exc:
        print(f"new-city: {exc}", file=sys.stderr)
        return 1
    rel = path.relative_to(PATHS.root) if path.is_relative_to(PATHS.root) else path
    print(f"{rel}: drafted, {len(draft.todos)} TODO(s) left")
    for key, text in draft.todos:
        print(f"  TODO {key}: {text}")
    print(f"next: settle every TODO in {rel}, then `make check CITY={draft.city}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
