"""City profiles: everything that differs between cities, as data.

A profile ``config/cities/<city>.yml`` says which raw files a city delivered and how to
read them, how its columns and labels map onto the codebook, its official neighbourhood
units, its pilot design, its survey waves and the population margins used for weighting.
Adding a city whose files fit the readers needs a profile and its raw files, no code.

Profiles are validated on load (:func:`load_profile`): a typo gets a :class:`ProfileError`
naming the file and the key. See ``config/cities/README.md`` for a commented example.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import codebook
from .config import PATHS

Scalar = str | int | float | bool | None


class ProfileError(ValueError):
    """A city profile is missing, unreadable or invalid; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @model_validator(mode="after")
    def _ordered(self) -> "Wave":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Pilot(_Strict):
    name: str
    name_local: str | None = None
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

    #: free-text fields that may have a French version ``<field>_fr``
    TRANSLATED: ClassVar[tuple[str, ...]] = ("kind", "description", "published_context")

    def text(self, field: str, lang: str = "en") -> str | None:
        """The pilot's ``field`` (kind, description, published_context) in ``lang``.

        The French text ``<field>_fr`` when ``lang == "fr"`` and it is set, else the English one.
        """
        if field not in self.TRANSLATED:
            raise ValueError(f"{field!r} has no translation; expected one of {self.TRANSLATED}")
        if lang == "fr":
            fr = getattr(self, f"{field}_fr")
            if fr:
                return fr
        return getattr(self, field)

    def text_lang(self, field: str, lang: str = "en") -> str:
        """The language of :meth:`text`: ``"fr"`` when the French text is used, else ``"en"``."""
        return "fr" if lang == "fr" and getattr(self, f"{field}_fr", None) else "en"

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
    :func:`analysis.weights.read_margins_csv`), not both. The whole ``margins`` key is
    optional: without it the weights fall back to ``unweighted_no_margins``
    (:mod:`analysis.weights`).
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
    #: optional: without population margins the weights fall back to weight 1 (analysis.weights)
    margins: Margins | None = None
    residents: DatasetSpec
    officers: DatasetSpec | None = None
    activities: DatasetSpec | None = None
    notes: str | None = None

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
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def codes(self) -> list[str]:
        return [n.code for n in self.neighbourhoods]

    @property
    def has_comparison(self) -> bool:
        return bool(self.pilot.comparison_areas)

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
        ``margins.file`` is given (:func:`analysis.weights.read_margins_csv`).
        """
        import pandas as pd

        if self.margins is None:
            return pd.DataFrame(columns=["neighbourhood", "gender", "age_group", "population"])
        if self.margins.file is not None:
            from .weights import read_margins_csv

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
        import pandas as pd

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


def read_yaml_mapping(path: Path, what: str) -> dict:
    """Read a YAML file that must hold a mapping; :class:`ProfileError` naming the file otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not a readable YAML file: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: {what} must be a YAML mapping, got {type(data).__name__}")
    return data


def _format_error(path: Path, err: ValidationError, what: str = "city profile") -> str:
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
        raise ProfileError(_format_error(path, exc)) from None
    if profile.city != path.stem:
        raise ProfileError(f"{path}: key city: {profile.city!r} does not match the file name {path.stem!r}")
    return profile


def list_cities() -> list[str]:
    """Slugs of every profile in ``config/cities``, partner cities first in report order."""
    from .config import CITIES

    found = {p.stem for p in PATHS.cities_config.glob("*.yml")}
    return [c for c in CITIES if c in found] + sorted(found - set(CITIES))
