"""City profiles: everything that differs between cities, as data.

Owns the city profile schema and its loading: everything that differs between cities, as data.
Must not read raw data nor clean: readers and the cleaning step use the profile.

A profile ``config/cities/<city>.yml`` says which raw files a city delivered and how to
read them, how its columns and labels map onto the codebook, its official neighbourhood
units, its pilot design, its survey waves and the population margins used for weighting.
Adding a city whose files fit the readers needs a profile and its raw files, no code.

Profiles are validated on load (:func:`load_profile`): a typo gets a :class:`ProfileError`
naming the file and the key. See ``config/cities/README.md`` for a commented example.
"""

from __future__ import annotations

import codecs
import copy
import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd
import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from analysis.inputs import codebook
from analysis.config import PATHS, list_cities
from analysis.inputs.margins import read_margins_csv
from analysis.publishing.text import localized, localized_lang

Scalar = str | int | float | bool | None


class ProfileError(ValueError):
    """A city profile is missing, unreadable or invalid; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ matching keys
def norm_label(text: Any) -> str:
    """Matching key of a label: trimmed, inner whitespace collapsed, case- and accent-free.

    >>> norm_label("  Très   SOUVENT ")
    'tres souvent'
    """
    decomposed = unicodedata.normalize("NFKD", str(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


_DIGITS = re.compile(r"[0-9]+")
_INTEGRAL = re.compile(r"[0-9]+\.0+")


def code_key(code: Any) -> str:
    """Matching key of a neighbourhood code, the same wherever a code is compared.

    The label key (:func:`norm_label`) and, for an all-digit code, without leading zeros:
    a spreadsheet that turned the text code ``"01"`` into the number 1 (or ``1.0``, or the
    text ``"1.0"``) still matches ``"01"``. Used for the profile's codes, the raw neighbourhood values, the pilot
    and comparison areas and the margins, so that no place matches codes differently.

    >>> code_key("01") == code_key(1) == code_key(1.0) == code_key("1.0") == code_key(" 1 ") == "1"
    True
    >>> code_key("00"), code_key("AM01")
    ('0', 'am01')
    """
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    key = norm_label(code)
    if _INTEGRAL.fullmatch(key):  # "1.0": a number written out as text by a spreadsheet export
        key = key.split(".")[0]
    if _DIGITS.fullmatch(key):
        key = key.lstrip("0") or "0"
    return key


def _is_code(x: Any) -> bool:
    return isinstance(x, (str, int, float)) and not isinstance(x, bool)


# --------------------------------------------------------------- reading options
#: strftime directives a date_format may use (C89 set, as :meth:`datetime.datetime.strptime`)
_DATE_DIRECTIVES = set("aAwdbBmyYHIpMSfzZjUWcxX%")
_DAY, _MONTH, _YEAR = set("dj"), set("bBm"), set("yY")
#: characters that cannot separate CSV fields (line ends, quote, letters and digits)
_BAD_DELIMITERS = set('\r\n"')


def check_date_format(fmt: str) -> str:
    """``fmt`` if it is a usable strftime pattern of a date, else ValueError saying why.

    Every ``%`` directive must be known, the pattern must give the day, month and year,
    and a sample date written with it must read back as the same date.
    """
    directives = re.findall(r"%(.)", fmt.replace("%%", ""))
    if fmt.replace("%%", "").endswith("%"):
        raise ValueError(f"date_format {fmt!r} ends with a lone '%'")
    unknown = sorted({d for d in directives if d not in _DATE_DIRECTIVES})
    if unknown:
        raise ValueError(f"date_format {fmt!r}: unknown directive(s) {['%' + d for d in unknown]}; "
                         f"expected e.g. '%d/%m/%Y' (%d day, %m month, %Y four-digit year)")
    have = set(directives)
    lacking = [what for what, need in (("day (%d)", _DAY), ("month (%m or %b)", _MONTH),
                                       ("year (%Y or %y)", _YEAR)) if not have & need]
    if lacking and not have & set("cx"):
        raise ValueError(f"date_format {fmt!r} does not give the {', '.join(lacking)}; expected e.g. '%d/%m/%Y'")
    sample = dt.datetime(2014, 10, 31)
    try:
        back = dt.datetime.strptime(sample.strftime(fmt), fmt)
    except (ValueError, re.error) as exc:  # re.error: a directive given twice
        raise ValueError(f"date_format {fmt!r} cannot read back the dates it writes: {exc}") from None
    if back.date() != sample.date():
        raise ValueError(f"date_format {fmt!r} reads 2014-10-31 back as {back.date()}")
    return fmt


class FileSpec(_Strict):
    """One raw file and how to read it."""

    path: str = Field(description="file name, relative to data/raw/<city>/")
    format: Literal["csv", "xlsx", "sav", "dta"]
    encoding: str = "utf-8"  # csv only; "utf-8-sig" for a BOM, "latin-1", "cp1252"…
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    sheet: str | int | None = None  # xlsx: sheet name or index
    skiprows: int = Field(0, ge=0)  # rows above the header line (titles, notes)
    wave: Literal["baseline", "follow_up"] | None = None  # the whole file is one wave
    date_format: str | None = None  # strftime format of date columns, e.g. "%d/%m/%Y"
    value_labels: bool = False  # sav/dta: read value labels instead of numeric codes

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}; expected a codec name such as utf-8, utf-8-sig "
                             f"(BOM), latin-1, cp1252") from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char_delimiter(cls, v: str) -> str:
        if len(v) != 1 or v in _BAD_DELIMITERS or v.isalnum():
            raise ValueError(f"delimiter {v!r}: expected one character that is not a letter, digit, quote "
                             f"or line end, e.g. ',', ';', '|' or a tab")
        return v

    @field_validator("decimal")
    @classmethod
    def _decimal_mark(cls, v: str) -> str:
        if v not in (".", ","):
            raise ValueError(f"decimal {v!r}: expected '.' or ','")
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str | None) -> str | None:
        return None if v is None else check_date_format(v)

    @field_validator("thousands")
    @classmethod
    def _thousands_not_decimal(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and v == info.data.get("decimal"):
            raise ValueError(f"thousands {v!r} is also the decimal mark")
        return v


class DatasetSpec(_Strict):
    """How one dataset (residents, officers or activities) is delivered."""

    files: list[FileSpec] = Field(min_length=1)
    #: codebook column -> raw column name
    columns: dict[str, str]
    #: codebook column -> {raw value or label: codebook value}; matched after trimming
    #: whitespace and ignoring case and accents
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    #: raw values that mean don't know / refusal / not applicable in every column
    missing: list[str] = Field(default_factory=list)
    #: numeric don't-know codes (ESS 77, 88, 99) that apply to rating items only
    item_missing: list[int] = Field(default_factory=list)

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        # YAML reads 1: x as an int key; labels are matched as text.
        if isinstance(v, dict):
            return {col: ({str(k): val for k, val in m.items()} if isinstance(m, dict) else m)
                    for col, m in v.items()}
        return v

    @field_validator("missing", mode="before")
    @classmethod
    def _missing_as_text(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v


class Neighbourhood(_Strict):
    code: str
    name: str
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    area_km2: float | None = Field(None, gt=0)
    #: centroid (and area) approximate: no official boundary file was available
    approximate: bool = False

    @field_validator("code", mode="before")
    @classmethod
    def _code_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class Wave(_Strict):
    year: int
    start: dt.date  # fieldwork window, inclusive
    end: dt.date
    #: optional: share of eligible sampled units that completed the interview, 0-1 (say which
    #: definition in ``sampling.response_rate_definition``); the methods annex shows it
    response_rate: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Wave":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


#: Themes a pilot can be filed under in the recommendations (``pilot.theme``; optional).
PILOT_THEMES: tuple[str, ...] = ("reception_contact", "youth_dialogue", "local_partnership",
                                 "neighbourhood_policing", "officer_training")


class Cost(_Strict):
    """What the pilot cost (optional; EMMIE's economic dimension in the methods annex).

    The annex divides ``amount`` by the resident participants of the activity log
    (:func:`analysis.statistics.implementation.cost_per_reach`); without ``cost`` it says
    "not provided".
    """

    amount: float = Field(gt=0)
    #: ISO 4217 code, e.g. EUR
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    #: the period the amount covers (inclusive)
    start: dt.date
    end: dt.date
    #: what the amount covers: staff time, training, materials, overheads…
    covers: str
    covers_fr: str | None = None
    #: where the figure comes from (a budget line, an invoice, an estimate)
    source: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Cost":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


#: Survey modes (``sampling.mode``).
SURVEY_MODES: tuple[str, ...] = ("face_to_face", "telephone", "online", "mixed")
#: Sample designs (``sampling.design``): probability samples of addresses, of a population
#: register or of telephone numbers, a quota sample, a convenience sample, or other (say
#: which in ``design_detail``).
SAMPLE_DESIGNS: tuple[str, ...] = ("address_random", "register_random", "phone_random", "quota",
                                   "convenience", "other")


class Sampling(_Strict):
    """How the residents' survey was sampled (optional; shown in the methods annex).

    Fieldwork dates are ``waves.<wave>.start/end`` and response rates
    ``waves.<wave>.response_rate``; this key says from which frame, with which design and in
    which mode.
    """

    #: the list the sample was drawn from, e.g. "postal addresses of the surveyed quartiers"
    frame: str
    frame_fr: str | None = None
    design: Literal[SAMPLE_DESIGNS]  # type: ignore[valid-type]
    #: free text: strata, clustering, quota cells, selection within the household…
    design_detail: str | None = None
    design_detail_fr: str | None = None
    mode: Literal[SURVEY_MODES]  # type: ignore[valid-type]
    #: which response rate the waves give, e.g. "AAPOR RR1"
    response_rate_definition: str | None = None


class Pilot(_Strict):
    name: str
    name_local: str | None = None
    #: the name in French when the local name is not French (for the French report)
    name_fr: str | None = None
    kind: str  # short type, e.g. "youth-police dialogue", "reception training"
    kind_fr: str | None = None  # French text of kind, for the French report
    description: str
    description_fr: str | None = None
    start: dt.date
    end: dt.date
    pilot_areas: list[str] = Field(min_length=1)
    #: empty: no comparison area, the city gets a pre/post design
    comparison_areas: list[str] = Field(default_factory=list)
    targeted_groups: list[str] = Field(min_length=1)
    published_context: str | None = None
    published_context_fr: str | None = None
    #: optional: what the pilot cost (methods annex, cost per resident reached)
    cost: Cost | None = None
    #: theme of the recommendations (:data:`PILOT_THEMES`); None: filed under "other pilots"
    theme: Literal[PILOT_THEMES] | None = None

    #: free-text fields that may have a version ``<field>_<lang>`` in another language
    TRANSLATED: ClassVar[tuple[str, ...]] = ("kind", "description", "published_context")

    def text(self, field: str, lang: str = "en") -> str | None:
        """The pilot's ``field`` (kind, description, published_context) in ``lang``.

        The profile's ``<field>_<lang>`` when it is set, else the English text
        (:func:`analysis.publishing.text.localized`).
        """
        if field not in self.TRANSLATED:
            raise ValueError(f"{field!r} has no translation; expected one of {self.TRANSLATED}")
        return localized(self, field, lang)

    def text_lang(self, field: str, lang: str = "en") -> str:
        """The language of :meth:`text`: ``lang`` when its text is used, else ``"en"``."""
        return localized_lang(self, field, lang)

    def display_name(self, lang: str = "en", languages: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
        """The pilot's name to show in ``lang`` and the language it is in.

        ``name_<lang>`` when the profile gives it; else the local name when ``lang`` is one of
        the city's ``languages``; else the English ``name``.
        """
        own = localized_lang(self, "name", lang)
        if own == lang:
            return localized(self, "name", lang), lang
        if self.name_local and lang in languages:
            return self.name_local, lang
        return self.name, "en"

    @field_validator("pilot_areas", "comparison_areas", mode="before")
    @classmethod
    def _codes_text(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v

    @field_validator("targeted_groups")
    @classmethod
    def _known_groups(cls, v: list[str]) -> list[str]:
        unknown = [g for g in v if g not in codebook.TARGET_GROUPS]
        if unknown:
            raise ValueError(f"unknown targeted group(s) {unknown}; expected some of "
                             f"{sorted(codebook.TARGET_GROUPS)}")
        return v


class Margins(_Strict):
    """Population by neighbourhood, gender and age group (codebook order of age groups).

    Given either inline (``counts``) or as a CSV census table (``file``, read by
    :func:`analysis.inputs.margins.read_margins_csv`), not both. The whole ``margins`` key is
    optional: without it the weights fall back to ``unweighted_no_margins``
    (:mod:`analysis.statistics.weights`).
    """

    source: str
    year: int | None = None
    counts: dict[str, dict[Literal["female", "male"], list[int]]] | None = None
    #: CSV file, relative to data/raw/<city>/: columns neighbourhood, gender, age_group, population
    file: str | None = None
    encoding: str = "utf-8"  # of file
    delimiter: str = ","  # of file

    @model_validator(mode="after")
    def _one_source(self) -> "Margins":
        if (self.counts is None) == (self.file is None):
            raise ValueError("give either counts (inline) or file (a CSV), not both or neither")
        return self

    @field_validator("counts", mode="before")
    @classmethod
    def _codes_text(cls, v: Any) -> Any:
        return {str(k): val for k, val in v.items()} if isinstance(v, dict) else v

    @field_validator("counts")
    @classmethod
    def _five_groups(cls, v):
        if v is None:
            return v
        for code, by_gender in v.items():
            for gender, counts in by_gender.items():
                if len(counts) != len(codebook.AGE_GROUPS):
                    raise ValueError(f"{code}.{gender}: {len(counts)} counts, expected one per "
                                     f"age group {list(codebook.AGE_GROUPS)}")
                if any(c < 0 for c in counts):
                    raise ValueError(f"{code}.{gender}: negative count")
        return v


class Boundaries(_Strict):
    unit: str  # name of the official unit: quartier, barri, NIL, freguesia…
    url: str | None = None  # where `make boundaries` downloads them from
    code_field: str = "code"
    name_field: str = "name"
    source: str | None = None
    licence: str | None = None


class Quality(_Strict):
    """When rejected rows stop the cleaning of a city (see config/cities/README.md).

    A city stops with :class:`analysis.inputs.clean.DataLossError` when a raw file, a survey wave,
    a pilot or comparison area or a targeted group loses more than ``max_rejected_share``
    of its rows, or when a pilot or comparison area (or a targeted group) keeps fewer than
    ``min_kept_per_area`` (``min_kept_per_group``) rows in a wave. A profile may change a
    threshold only with a ``reason``.
    """

    #: documented defaults; any other value needs a reason
    DEFAULTS: ClassVar[dict[str, float]] = {"max_rejected_share": 0.5, "min_kept_per_area": 1,
                                            "min_kept_per_group": 1}

    max_rejected_share: float = Field(0.5, ge=0, le=1)
    min_kept_per_area: int = Field(1, ge=0)
    min_kept_per_group: int = Field(1, ge=0)
    reason: str | None = None

    @model_validator(mode="after")
    def _changed_with_reason(self) -> "Quality":
        changed = [k for k, d in self.DEFAULTS.items() if getattr(self, k) != d]
        if changed and not (self.reason and self.reason.strip()):
            raise ValueError(f"{changed} differ from the documented default(s) "
                             f"{ {k: self.DEFAULTS[k] for k in changed} }: say why in quality.reason")
        return self

    @property
    def changed(self) -> dict[str, float]:
        """The thresholds that differ from :attr:`DEFAULTS`."""
        return {k: getattr(self, k) for k, d in self.DEFAULTS.items() if getattr(self, k) != d}


class CityProfile(_Strict):
    city: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    name_fr: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$")
    languages: list[str] = Field(min_length=1)
    #: the raw files in data/raw/<city>/ are the synthetic demonstration data
    synthetic: bool = False
    boundaries: Boundaries
    neighbourhoods: list[Neighbourhood] = Field(min_length=2)
    pilot: Pilot
    waves: dict[Literal["baseline", "follow_up"], Wave]
    #: optional: the residents' survey's frame, design and mode (methods annex; "not provided" without)
    sampling: Sampling | None = None
    #: optional: without population margins the weights fall back to weight 1 (analysis.statistics.weights)
    margins: Margins | None = None
    residents: DatasetSpec
    officers: DatasetSpec | None = None
    activities: DatasetSpec | None = None
    #: thresholds of lost rows that stop the city (documented defaults when absent)
    quality: Quality = Field(default_factory=Quality)
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _declared_codes(cls, data: Any) -> Any:
        """Write every neighbourhood code of the profile as declared under neighbourhoods.

        Pilot and comparison areas, margins and neighbourhood value mappings are matched
        to the declared codes with :func:`code_key` (``1`` is ``'01'``), the rule the
        cleaning applies to the raw values.
        """
        if not isinstance(data, dict) or not isinstance(data.get("neighbourhoods"), list):
            return data
        declared = [str(n["code"]) for n in data["neighbourhoods"]
                    if isinstance(n, dict) and _is_code(n.get("code"))]
        by_key: dict[str, list[str]] = {}
        for c in declared:
            by_key.setdefault(code_key(c), []).append(c)
        clash = [v for v in by_key.values() if len(set(v)) > 1]
        if clash:
            raise ValueError(f"neighbourhoods: codes {clash} are the same code once leading zeros, case and "
                             f"spaces are ignored (a spreadsheet may turn '01' into 1): give each unit one code")
        canon = {k: v[0] for k, v in by_key.items()}

        def declared_code(x: Any) -> Any:
            return canon.get(code_key(x), x) if _is_code(x) else x

        data = dict(data)
        if isinstance(data.get("pilot"), dict):
            pilot = dict(data["pilot"])
            for key in ("pilot_areas", "comparison_areas"):
                if isinstance(pilot.get(key), list):
                    pilot[key] = [declared_code(x) for x in pilot[key]]
            data["pilot"] = pilot
        margins = data.get("margins")
        if isinstance(margins, dict) and isinstance(margins.get("counts"), dict):
            counts: dict = {}
            for k, v in margins["counts"].items():
                c = str(declared_code(k))
                if c in counts:
                    raise ValueError(f"margins.counts: two entries for neighbourhood {c!r} (keys written "
                                     f"differently, e.g. '01' and 1)")
                counts[c] = v
            data["margins"] = {**margins, "counts": counts}
        for name in ("residents", "officers", "activities"):
            spec = data.get(name)
            if isinstance(spec, dict) and isinstance(spec.get("values"), dict) \
                    and isinstance(spec["values"].get("neighbourhood"), dict):
                nb = {k: declared_code(v) for k, v in spec["values"]["neighbourhood"].items()}
                data[name] = {**spec, "values": {**spec["values"], "neighbourhood": nb}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "CityProfile":
        codes = [n.code for n in self.neighbourhoods]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"neighbourhoods: duplicate codes {dupes}")
        known = set(codes)
        for key in ("pilot_areas", "comparison_areas"):
            bad = [c for c in getattr(self.pilot, key) if c not in known]
            if bad:
                raise ValueError(f"pilot.{key}: codes {bad} are not in neighbourhoods")
        both = set(self.pilot.pilot_areas) & set(self.pilot.comparison_areas)
        if both:
            raise ValueError(f"pilot: {sorted(both)} are both pilot and comparison areas")
        if self.margins is not None and self.margins.counts is not None:
            missing = sorted(known - set(self.margins.counts))
            extra = sorted(set(self.margins.counts) - known)
            if missing or extra:
                raise ValueError(f"margins.counts: missing neighbourhoods {missing}, unknown {extra}")
        if set(self.waves) != set(codebook.WAVES):
            raise ValueError(f"waves: need exactly {list(codebook.WAVES)}")
        for name in ("residents", "officers", "activities"):
            spec: DatasetSpec | None = getattr(self, name)
            if spec is None:
                continue
            problem = unmappable_columns(spec, name)
            if problem:
                raise ValueError(f"{name}.{problem}")
            bad_nb = {raw: c for raw, c in spec.values.get("neighbourhood", {}).items()
                      if c is not None and str(c) not in known}
            if bad_nb:
                raise ValueError(f"{name}.values.neighbourhood: {bad_nb} map onto codes that are not in "
                                 f"neighbourhoods")
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def codes(self) -> list[str]:
        return [n.code for n in self.neighbourhoods]

    @property
    def has_comparison(self) -> bool:
        return bool(self.pilot.comparison_areas)

    def declared_code(self, code: Any) -> str | None:
        """The profile's code matching ``code`` by :func:`code_key` (1 -> '01'), or None."""
        return {code_key(c): c for c in self.codes}.get(code_key(code)) if _is_code(code) else None

    def area_type(self, code: str) -> str:
        """"pilot", "comparison" or "other" for a neighbourhood code."""
        if code in self.pilot.pilot_areas:
            return "pilot"
        if code in self.pilot.comparison_areas:
            return "comparison"
        return "other"

    def dataset(self, name: str) -> DatasetSpec | None:
        return getattr(self, name)

    def raw_dir(self) -> Path:
        return PATHS.raw_city(self.city)

    def margins_frame(self):
        """Margins as a long frame: neighbourhood, gender, age_group, population.

        Empty (same columns) when the profile has no margins; read from the CSV when
        ``margins.file`` is given (:func:`analysis.inputs.margins.read_margins_csv`).
        """
        if self.margins is None:
            return pd.DataFrame(columns=["neighbourhood", "gender", "age_group", "population"])
        if self.margins.file is not None:

            try:
                return read_margins_csv(self.raw_dir() / self.margins.file, self.codes,
                                        encoding=self.margins.encoding, delimiter=self.margins.delimiter)
            except ValueError as exc:
                raise ProfileError(f"{self.city}: key margins.file: {exc}") from None
        rows = [
            {"neighbourhood": code, "gender": gender, "age_group": grp, "population": int(n)}
            for code, by_gender in self.margins.counts.items()
            for gender, counts in by_gender.items()
            for grp, n in zip(codebook.AGE_GROUPS, counts)
        ]
        return pd.DataFrame(rows)

    def neighbourhood_frame(self):
        """The neighbourhood table: code, name, lon, lat, area_km2, approximate, area_type."""
        df = pd.DataFrame([n.model_dump() for n in self.neighbourhoods])
        df["area_type"] = df["code"].map(self.area_type)
        return df


def unmappable_columns(spec: DatasetSpec, dataset: str) -> str | None:
    """Why ``spec`` maps onto columns that are not mappable ``dataset`` codebook columns, or None.

    Provenance columns are set by the readers and derived columns (indices, age group,
    pilot area) by the cleaning step, so neither may be mapped from a raw column.
    """
    allowed = set(codebook.columns(dataset)) - {"city", "source_file", "raw_row_number"}
    derived = {ix.name for ix in codebook.INDICES} | {"age_group", "pilot_area"}
    for section in ("columns", "values"):
        bad = sorted(set(getattr(spec, section)) - (allowed - derived))
        if bad:
            return (f"{section}: {bad} are not mappable {dataset} codebook columns "
                    f"(expected some of {sorted(allowed - derived)})")
    return None


class _ProfileLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML loader for profiles: a number written with a leading zero stays text.

    YAML 1.1 reads ``01`` as the integer 1 and ``010`` as the octal number 8; in a profile
    such a value is always a code (``pilot_areas: [01, 010]``), so it is kept as written.
    Built on libyaml's parser when PyYAML has it (ten times faster than the pure-Python
    one, the same nodes and line marks for the duplicate-key check).
    """


def _int_or_code(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = node.value
    if re.fullmatch(r"[-+]?0[0-9_]+", text):
        return text
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_ProfileLoader.add_constructor("tag:yaml.org,2002:int", _int_or_code)


def _check_duplicate_keys(node: yaml.Node, path: Path, where: str, seen: set[int]) -> None:
    """Raise :class:`ProfileError` on a key written twice in one mapping, at any depth.

    PyYAML keeps the last of two equal keys silently; in a value mapping that can reverse a
    scale. Keys are compared as written (``1`` and ``'1'`` are one key: profiles read keys as text).
    """
    if id(node) in seen:  # an alias seen before
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = key_node.value
                line = key_node.start_mark.line + 1
                full = f"{where}.{key}" if where else key
                if key in first:
                    raise ProfileError(f"{path}: key {full} is written twice, at line {first[key]} and line "
                                       f"{line} (YAML would silently keep the second): keep one")
                first[key] = line
                _check_duplicate_keys(value_node, path, full, seen)
            else:
                _check_duplicate_keys(value_node, path, where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, path, f"{where}.{i}" if where else str(i), seen)


def load_yaml_strict(path: Path) -> Any:
    """Parse a profile-like YAML file: duplicate keys refused, leading-zero numbers kept as text.

    Raises
    ------
    ProfileError
        Not readable YAML, or a key written twice (naming the file, key and both lines).
    """
    try:
        loader = _ProfileLoader(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_duplicate_keys(node, path, "", set())
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not a readable YAML file: {exc}") from exc


#: Parsed YAML files by (path, inode, size, modification time): the report reads each
#: profile several times (per language, for names and for the coverage note), and the
#: strict pure-Python parse costs a quarter of a second a file.
_PARSED: dict[tuple, Any] = {}


def read_yaml_mapping(path: Path, what: str) -> dict:
    """Read a YAML file that must hold a mapping; :class:`ProfileError` naming the file otherwise.

    Parsed with :func:`load_yaml_strict`: a key written twice is an error. A file read
    again unchanged is parsed once per process (the caller gets its own copy).
    """
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = load_yaml_strict(path)
    data = copy.deepcopy(_PARSED[key])
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: {what} must be a YAML mapping, got {type(data).__name__}")
    return data


def format_error(path: Path, err: ValidationError, what: str = "city profile") -> str:
    """A validation error as a message naming the file and every offending key (never a row)."""
    lines = [f"{path}: invalid {what} ({err.error_count()} problem(s))"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<top level>"
        got = e.get("input")
        got_txt = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        lines.append(f"  key {key}: {e['msg']}{got_txt}")
    return "\n".join(lines)




def load_profile(city_or_path: str | Path) -> CityProfile:
    """Load and validate a city profile.

    Parameters
    ----------
    city_or_path : str or pathlib.Path
        A city slug (looked up as ``config/cities/<city>.yml``) or a path to a YAML file.

    Raises
    ------
    ProfileError
        When the file is missing, is not YAML, or does not validate; the message names
        the file and every offending key.
    """
    path = Path(city_or_path)
    if path.suffix not in (".yml", ".yaml"):
        path = PATHS.profile(str(city_or_path))
    if not path.is_file():
        raise ProfileError(f"{path}: no such city profile (known: {', '.join(list_cities()) or 'none'})")
    data = read_yaml_mapping(path, "a city profile")
    try:
        profile = CityProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(format_error(path, exc)) from None
    if profile.city != path.stem:
        raise ProfileError(f"{path}: key city: {profile.city!r} does not match the file name {path.stem!r}")
    return profile
