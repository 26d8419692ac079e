"""The harmonised codebook: one declared schema every city is standardised to.

Owns the harmonised codebook: every variable once, with its type, range, role and labels.
Must not read city files nor hold a city's mapping: profiles map onto it.

Modelled on the European Social Survey Round 5 "Trust in justice" module (ESS variable
names are given in ``Var.ess``) so that city results can be set beside national ESS
figures. Every column is declared once here, with its type, its allowed values or range
and its role; the pandera schemas that enforce it are built from these declarations
(:func:`pandera_schema`), never written by hand. Owns codes, types and ranges; must not hold
words: the labels of variables, categories and scale points are catalogue entries
(``publishing/locale/codebook.yml``) read through :mod:`analysis.publishing.text`.

Scale direction: every attitude item is coded so that a *higher value is more favourable*
(more trust, more often fair, safer, more willing). ``feel_safe_dark`` therefore runs the
opposite way to ESS ``aesfdrk`` (1 = very safe there); the profile maps the city's labels
onto this direction.

Don't-know and refusal codes never become numbers: the cleaning step turns them into
missing values before types are enforced (see :mod:`analysis.inputs.clean`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.publishing import text

Kind = Literal["str", "int", "float", "bool", "category", "date"]
Role = Literal["provenance", "where", "who", "contact", "item", "pilot", "derived", "officer", "activity"]

#: Age groups of the codebook (DESIGN §3); bounds are inclusive.
AGE_GROUPS: tuple[str, ...] = ("15-24", "25-34", "35-49", "50-64", "65+")
AGE_BOUNDS: tuple[tuple[int, int], ...] = ((15, 24), (25, 34), (35, 49), (50, 64), (65, 110))
AGE_MIN, AGE_MAX = 15, 110

GENDERS: tuple[str, ...] = ("female", "male")
WAVES: tuple[str, ...] = ("baseline", "follow_up")
AREA_TYPES: tuple[str, ...] = ("pilot", "comparison", "other")
ACTIVITY_TYPES: tuple[str, ...] = (
    "meeting",
    "school_visit",
    "joint_patrol",
    "training_session",
    "info_stand",
    "mediation",
    "other",
)


@dataclass(frozen=True)
class Var:
    """One codebook variable.

    Parameters
    ----------
    name : str
        Column name in the harmonised data.
    kind : {"str", "int", "float", "bool", "category", "date"}
        Logical type; :data:`PANDAS_DTYPES` gives the pandas dtype it is stored as.
    role : str
        What part of the codebook it belongs to (provenance, where, who, contact, item,
        pilot, derived, officer, activity).
    range : tuple of float, optional
        Inclusive allowed range of numeric variables.
    categories : tuple of str, optional
        Allowed values of a categorical variable.
    scale : str, optional
        The rating scale of an item (:data:`SCALE_POINTS`), whose labelled points are
        catalogue entries ``point.<scale>.<value>``.
    required : bool
        A row missing this value is rejected (provenance, id, wave, neighbourhood).
    nullable : bool
        Missing values allowed after cleaning.
    ess : str, optional
        The ESS Round 5 variable this item follows.
    optional : bool
        The column may be absent from a city's data altogether (city-specific targeted
        groups such as ``shopkeeper``); when absent it is added as all-missing.
    """

    name: str
    kind: Kind
    role: Role
    range: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None
    scale: str | None = None
    required: bool = False
    nullable: bool = True
    ess: str | None = None
    optional: bool = False

    def label(self, lang: str = "en") -> str:
        """Label in ``lang`` (catalogue key ``var.<name>``)."""
        return text.tr(f"var.{self.name}", lang)

    def category_label(self, value, lang: str = "en") -> str:
        """Label of the category ``value`` (catalogue ``cat.<name>.<value>``; the code when it has none)."""
        return text.category_label(self.name, value, lang, default=str(value))

    @property
    def scale_labels(self) -> dict[int, str]:
        """``{value: catalogue key}`` of the labelled points of the item's rating scale (empty: none)."""
        if self.scale is None:
            return {}
        return {v: f"point.{self.scale}.{v}" for v in SCALE_POINTS[self.scale]}

    def point_label(self, value: int, lang: str = "en") -> str:
        """Label of the scale point ``value`` (e.g. 1 → "Very unsafe"), from the catalogue."""
        return text.point_label(self.scale, value, lang)


#: pandas dtype each logical kind is stored as (pandas 3: text is ``str``).
PANDAS_DTYPES: dict[str, str] = {
    "str": "str",
    "category": "str",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "date": "datetime64[us]",
}

#: The labelled points of each rating scale (their words: catalogue ``point.<scale>.<value>``).
SCALE_POINTS: dict[str, tuple[int, ...]] = {
    "freq4": (1, 2, 3, 4),
    "likely4": (1, 2, 3, 4),
    "safe4": (1, 2, 3, 4),
    "sat5": (1, 5),
    "agree5": (1, 5),
    "trust10": (0, 10),
    "success10": (0, 10),
    "duty10": (0, 10),
}


def _p(name, kind, **kw) -> Var:
    return Var(name, kind, "provenance", **kw)


# --------------------------------------------------------------------------- residents
RESIDENT_VARS: tuple[Var, ...] = (
    _p("city", "str", required=True, nullable=False),
    _p("source_file", "str", required=True, nullable=False),
    _p("raw_row_number", "int",
       range=(1, np.inf), required=True, nullable=False),
    _p("respondent_id", "str",
       required=True, nullable=False),
    _p("wave", "category", categories=WAVES, required=True, nullable=False),
    _p("interview_date", "date"),
    Var("neighbourhood", "str", "where",
        required=True, nullable=False),
    Var("pilot_area", "category", "where", categories=AREA_TYPES,
        nullable=False),
    Var("age", "int", "who", range=(AGE_MIN, AGE_MAX)),
    Var("age_group", "category", "who", categories=AGE_GROUPS),
    Var("gender", "category", "who", categories=GENDERS),
    Var("migrant_background", "bool", "who"),
    Var("shopkeeper", "bool", "who", optional=True),
    Var("tourist", "bool", "who", optional=True),
    Var("police_contact_12m", "bool", "contact"),
    Var("contact_initiated_by", "category", "contact",
        categories=("resident", "police")),
    Var("contact_satisfaction", "int", "contact", range=(1, 5), scale="sat5"),
    Var("trust_police", "int", "item",
        range=(0, 10), ess="trstplc", scale="trust10"),
    Var("pj_respect", "int", "item",
        range=(1, 4), ess="plcrspc", scale="freq4"),
    Var("pj_fair", "int", "item",
        range=(1, 4), ess="plcfrdc", scale="freq4"),
    Var("pj_explain", "int", "item",
        range=(1, 4), ess="plcexdc", scale="freq4"),
    Var("eff_violence", "int", "item", range=(0, 10), ess="plcpvcr", scale="success10"),
    Var("eff_burglary", "int", "item", range=(0, 10), ess="plccbrg", scale="success10"),
    Var("duty_support_police", "int", "item", range=(0, 10), ess="bplcdc", scale="duty10"),
    Var("willing_report", "int", "item",
        range=(1, 4), scale="likely4"),
    Var("feel_safe_dark", "int", "item", range=(1, 4), ess="aesfdrk (reversed)", scale="safe4"),
    Var("pilot_aware", "bool", "pilot"),
    Var("pilot_participated", "bool", "pilot"),
    Var("pj_index", "float", "derived",
        range=(0, 10)),
    Var("eff_index", "float", "derived",
        range=(0, 10)),
    Var("legitimacy_index", "float", "derived", range=(0, 10)),
)

# ---------------------------------------------------------------------------- officers
OFFICER_VARS: tuple[Var, ...] = (
    _p("city", "str", required=True, nullable=False),
    _p("source_file", "str", required=True, nullable=False),
    _p("raw_row_number", "int",
       range=(1, np.inf), required=True, nullable=False),
    _p("officer_id", "str", required=True, nullable=False),
    _p("wave", "category", categories=WAVES, required=True, nullable=False),
    Var("unit", "str", "officer"),
    Var("neighbourhood", "str", "where"),
    Var("years_service", "int", "officer", range=(0, 45)),
    Var("trained_in_pilot", "bool", "officer"),
    Var("off_public_support", "int", "officer", range=(1, 5), scale="agree5"),
    Var("off_youth_attitude", "int", "officer", range=(1, 5), scale="agree5"),
    Var("off_confidence_contacts", "int", "officer", range=(1, 5), scale="agree5"),
    Var("off_job_satisfaction", "int", "officer",
        range=(1, 5), scale="sat5"),
)

# -------------------------------------------------------------------------- activities
ACTIVITY_VARS: tuple[Var, ...] = (
    _p("city", "str", required=True, nullable=False),
    _p("source_file", "str", required=True, nullable=False),
    _p("raw_row_number", "int",
       range=(1, np.inf), required=True, nullable=False),
    Var("date", "date", "activity", required=True, nullable=False),
    Var("neighbourhood", "str", "where",
        required=True, nullable=False),
    Var("activity_type", "category", "activity",
        categories=ACTIVITY_TYPES, required=True, nullable=False),
    Var("participants", "int", "activity", range=(0, 10000)),
    Var("participants_police", "int", "activity", range=(0, 1000)),
)

DATASETS: dict[str, tuple[Var, ...]] = {
    "residents": RESIDENT_VARS,
    "officers": OFFICER_VARS,
    "activities": ACTIVITY_VARS,
}

#: Name of the (pseudonymised) id column of each dataset that has one.
ID_COLUMNS: dict[str, str] = {"residents": "respondent_id", "officers": "officer_id"}


@dataclass(frozen=True)
class Index:
    """A derived index: mean of valid items on 0-10, only if more than half answered."""

    name: str
    items: tuple[str, ...]

    def label(self, lang: str = "en") -> str:
        """Short label in ``lang`` (catalogue ``index.<name>``)."""
        return text.tr(f"index.{self.name}", lang)

    @property
    def min_items(self) -> int:
        """Smallest number of answered items that is *more than half* of the items."""
        return len(self.items) // 2 + 1


INDICES: tuple[Index, ...] = (
    Index("pj_index", ("pj_respect", "pj_fair", "pj_explain")),
    Index("eff_index", ("eff_violence", "eff_burglary")),
    # Legitimacy as far as the ESS R5 items carried here allow: trust and the felt duty
    # to back police decisions (obligation to obey). Two items: both are required.
    Index("legitimacy_index", ("trust_police", "duty_support_police")),
)

@dataclass(frozen=True)
class TargetGroup:
    """A targeted category of the population, defined on codebook columns."""

    name: str
    column: str
    value: object

    def label(self, lang: str = "en") -> str:
        """Label in ``lang`` (catalogue ``group.<name>``)."""
        return text.group_label(self.name, lang)

    def mask(self, df: pd.DataFrame) -> pd.Series:
        """Boolean membership (missing where the defining column is missing)."""
        col = df[self.column] if self.column in df.columns else pd.Series(pd.NA, index=df.index)
        out = (col == self.value).astype("boolean")
        return out.where(col.notna(), pd.NA)


#: Targeted groups a city profile may name (``pilot.targeted_groups``).
TARGET_GROUPS: dict[str, TargetGroup] = {
    g.name: g
    for g in (
        TargetGroup("young", "age_group", "15-24"),
        TargetGroup("migrant_background", "migrant_background", True),
        TargetGroup("police_contact", "police_contact_12m", True),
        TargetGroup("shopkeeper", "shopkeeper", True),
        TargetGroup("tourist", "tourist", True),
    )
}


#: Indicators mapped, estimated and evaluated downstream, in presentation order.
INDICATORS: tuple[str, ...] = (
    "trust_police",
    "pj_index",
    "eff_index",
    "legitimacy_index",
    "contact_satisfaction",
    "feel_safe_dark",
    "willing_report",
)

#: Every resident outcome the impact analysis estimates, in presentation order: each
#: indicator of :data:`INDICATORS`, with the items of an index right after it. A city that
#: asked only some items of an index still gets an estimate for each item it asked, on
#: the item's own scale (the index needs :attr:`Index.min_items` of them).
OUTCOMES: tuple[str, ...] = tuple(
    name
    for ind in INDICATORS
    for name in (ind, *next((ix.items for ix in INDICES if ix.name == ind), ()))
    if not (name != ind and name in INDICATORS)  # an index item that is itself an indicator
)

#: Collection codes of :func:`collection_status`.
COLLECTION_CODES: tuple[str, ...] = ("collected", "not_collected", "too_few_items", "one_wave_only")


def collection_status(df: pd.DataFrame, name: str, *, wave: str = "wave") -> str:
    """Whether a city collected outcome ``name``, from its residents' answers.

    Parameters
    ----------
    df : pandas.DataFrame
        One city's codebook residents (all areas and waves).
    name : str
        An item or an index of :data:`INDICES`.
    wave : str
        Column of the survey wave.

    Returns
    -------
    str
        ``"not_collected"``: no answer in any wave (the column is absent or empty: the
        city never asked it); ``"too_few_items"``: an index of which fewer items were
        collected than it needs (:attr:`Index.min_items`); ``"one_wave_only"``: answers
        in one wave but not the other (a change cannot be estimated); else
        ``"collected"``. Decided on answers, not on the profile's mapping, so it holds
        for every source of data alike.
    """
    def answered(col: str) -> pd.Series:
        if col not in df.columns:
            return pd.Series(False, index=df.index)
        return df[col].notna()

    index = next((ix for ix in INDICES if ix.name == name), None)
    if index is not None:
        asked = sum(bool(answered(item).any()) for item in index.items)
        if asked == 0:
            return "not_collected"
        if asked < index.min_items:
            return "too_few_items"
    ok = answered(name)
    if not ok.any():
        return "not_collected"
    per_wave = ok.groupby(df[wave].astype("str")).any() if wave in df.columns else ok.any()
    if wave in df.columns and not all(bool(per_wave.get(w, False)) for w in WAVES):
        return "one_wave_only"
    return "collected"


OFFICER_INDICATORS: tuple[str, ...] = (
    "off_public_support",
    "off_youth_attitude",
    "off_confidence_contacts",
    "off_job_satisfaction",
)


def variables(dataset: str) -> tuple[Var, ...]:
    """The declared variables of ``dataset`` ("residents", "officers" or "activities")."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}") from None


def var(name: str, dataset: str = "residents") -> Var:
    """The declared variable ``name`` of ``dataset``."""
    for v in variables(dataset):
        if v.name == name:
            return v
    raise KeyError(f"{name!r} is not a {dataset} codebook variable")


def columns(dataset: str) -> list[str]:
    """Codebook column names of ``dataset``, in declared order."""
    return [v.name for v in variables(dataset)]


def label(name: str, lang: str = "en", dataset: str = "residents") -> str:
    """Label of a variable or index in ``lang``, from the catalogue (:func:`analysis.publishing.text.outcome_label`).

    Raises
    ------
    KeyError
        When ``name`` is neither an index nor a variable of ``dataset``.
    """
    if not any(ix.name == name for ix in INDICES):
        var(name, dataset)  # an unknown name is a KeyError, as before
    return text.outcome_label(name, lang, dataset)


def scale_range(name: str, dataset: str = "residents") -> tuple[float, float]:
    """Inclusive (min, max) of a numeric variable or index."""
    v = var(name, dataset)
    if v.range is None:
        if v.kind == "bool":
            return (0.0, 1.0)
        raise ValueError(f"{name!r} has no numeric range")
    return v.range


def age_group(age: pd.Series) -> pd.Series:
    """Codebook age group of each age (missing outside 15-110)."""
    age = pd.to_numeric(age, errors="coerce")
    out = pd.Series(pd.NA, index=age.index, dtype="str")
    for grp, (lo, hi) in zip(AGE_GROUPS, AGE_BOUNDS):
        out[(age >= lo) & (age <= hi)] = grp
    return out


def rescale_0_10(values: pd.Series, lo: float, hi: float) -> pd.Series:
    """Linear map of ``[lo, hi]`` onto ``[0, 10]``."""
    return (pd.to_numeric(values, errors="coerce").astype("Float64") - lo) / (hi - lo) * 10


def compute_indices(df: pd.DataFrame) -> pd.DataFrame:
    """Add the derived indices to a residents frame.

    Each index is the mean of its *answered* items, each first rescaled to 0-10, and is
    computed only when more than half of its items were answered; otherwise it is
    missing. Never a sum: a sum would turn unanswered items into zeros.

    Parameters
    ----------
    df : pandas.DataFrame
        Residents with the item columns of :data:`INDICES`.

    Returns
    -------
    pandas.DataFrame
        A copy with ``pj_index``, ``eff_index`` and ``legitimacy_index`` set.
    """
    out = df.copy()
    for ix in INDICES:
        scaled = pd.concat(
            [rescale_0_10(out[item], *scale_range(item)) for item in ix.items], axis=1
        )
        answered = scaled.notna().sum(axis=1)
        mean = scaled.mean(axis=1, skipna=True)
        out[ix.name] = mean.where(answered >= ix.min_items).astype("Float64")
    return out


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's α of the complete cases of ``items`` (columns = items).

    ``α = k/(k-1) · (1 - Σ var(item) / var(total))`` with sample variances (ddof=1),
    the textbook formula; equal to ``pingouin.cronbach_alpha(nan_policy="listwise")``.
    Returns NaN when fewer than two complete cases or fewer than two items.
    """
    data = items.apply(pd.to_numeric, errors="coerce").astype(float).dropna()
    k = data.shape[1]
    if k < 2 or len(data) < 2:
        return float("nan")
    total_var = data.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - data.var(ddof=1).sum() / total_var))


def reliability(df: pd.DataFrame, by: tuple[str, ...] = ("city", "wave")) -> pd.DataFrame:
    """Cronbach's α of every index, per group of ``by``.

    Returns
    -------
    pandas.DataFrame
        One row per group and index: ``index``, ``items``, ``n_complete``, ``alpha``.
    """
    rows = []
    for key, grp in df.groupby(list(by), observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for ix in INDICES:
            items = grp[list(ix.items)]
            rows.append({**dict(zip(by, key)), "index": ix.name, "items": len(ix.items),
                         "n_complete": int(items.notna().all(axis=1).sum()),
                         "alpha": cronbach_alpha(items)})
    return pd.DataFrame(rows)


def empty_frame(dataset: str) -> pd.DataFrame:
    """An empty frame with the codebook columns and dtypes of ``dataset``."""
    return pd.DataFrame({v.name: pd.Series(dtype=PANDAS_DTYPES[v.kind]) for v in variables(dataset)})


def enforce_dtypes(df: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Cast codebook columns to their declared dtypes (adding absent optional ones).

    Values must already be clean (labels mapped, missing codes removed); a value that
    cannot be cast raises, naming the column.
    """
    out = df.copy()
    for v in variables(dataset):
        dtype = PANDAS_DTYPES[v.kind]
        if v.name not in out.columns:
            out[v.name] = pd.Series(pd.NA, index=out.index, dtype=dtype)
            continue
        try:
            if v.kind == "date":
                out[v.name] = pd.to_datetime(out[v.name]).astype(dtype)
            elif v.kind == "int":
                num = pd.to_numeric(out[v.name]).astype("Float64")
                if ((num.dropna() % 1) != 0).any():
                    raise TypeError("non-integer values")
                out[v.name] = num.round().astype("Int64")
            else:
                out[v.name] = out[v.name].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{dataset}: column {v.name!r} cannot be stored as {dtype}: {exc}") from exc
    return out[[v.name for v in variables(dataset)] + [c for c in out.columns if c not in columns(dataset)]]


def pandera_schema(dataset: str):
    """The pandera ``DataFrameSchema`` that enforces the codebook for ``dataset``.

    Extra columns (``raw_*`` provenance columns) are allowed; codebook columns must be
    present with their declared dtype, range, categories and nullability.
    """
    import pandera.pandas as pa

    cols = {}
    for v in variables(dataset):
        checks = []
        if v.range is not None:
            lo, hi = v.range
            checks.append(pa.Check.ge(lo) if np.isinf(hi) else pa.Check.in_range(lo, hi))
        if v.categories is not None:
            checks.append(pa.Check.isin(list(v.categories)))
        cols[v.name] = pa.Column(PANDAS_DTYPES[v.kind], checks=checks, nullable=v.nullable,
                                 required=True, coerce=False)
    unique = ["city", ID_COLUMNS[dataset], "wave"] if dataset in ID_COLUMNS else None
    return pa.DataFrameSchema(cols, strict=False, unique=unique, name=f"IMPPULSE {dataset}")


def codebook_table(lang: str = "en") -> pd.DataFrame:
    """The codebook as a table (dataset, variable, type, range/values, label, ESS item)."""
    rows = []
    for ds, vs in DATASETS.items():
        for v in vs:
            if v.range is not None:
                lo, hi = v.range
                allowed = f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}"
            elif v.categories is not None:
                allowed = ", ".join(v.categories)
            else:
                allowed = ""
            rows.append({"dataset": ds, "variable": v.name, "type": v.kind, "allowed": allowed,
                         "label": v.label(lang), "ess": v.ess or ""})
    for ix in INDICES:
        rows.append({"dataset": "residents", "variable": ix.name, "type": "index 0–10",
                     "allowed": text.tr("codebook.index_allowed", lang, items=", ".join(ix.items),
                                        k=ix.min_items),
                     "label": ix.label(lang), "ess": ""})
    return pd.DataFrame(rows).drop_duplicates(subset=["dataset", "variable"], keep="first")


def scale_label(outcome: str, dataset: str = "residents") -> str:
    """"0-10", "1-4"… for an indicator."""
    if outcome in {ix.name for ix in INDICES}:
        return "0-10"
    lo, hi = scale_range(outcome, dataset)
    return f"{lo:g}-{hi:g}"
