"""The text layer: languages, the catalogue, ``tr``, labels, and numbers and dates per locale.

Owns every word the project shows a reader (``locale/*.yml``), the labels of codes (outcomes,
groups, waves, areas, categories, scale points, city names) and how numbers and dates are
written per locale (Babel's CLDR data), in prose and in figures (:func:`tick_formatter`).
Must not read data or know about tables or the codebook: callers pass keys, codes and values.

A language is a column of the catalogue, nothing else: adding one means adding its texts to
the ``locale/*.yml`` files (or, for a trial, a directory of its own through
:func:`use_catalogue_dir` or the ``ANALYSIS_LOCALE_DIRS`` environment variable). No module
outside this one branches on a language.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent, get_decimal_symbol, get_group_symbol

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
CATALOGUE = LOCALE_DIR / "report.yml"
#: The source language: every key has a text in it, and it comes first in :func:`langs`.
SOURCE_LANG = "en"
#: Environment variable naming extra catalogue directories (``os.pathsep``-separated), read
#: each time the catalogue is (re)loaded: a trial language without touching the package.
ENV_DIRS = "ANALYSIS_LOCALE_DIRS"

#: Extra catalogue directories added by :func:`use_catalogue_dir` (after the environment's).
_EXTRA_DIRS: list[Path] = []


# ===================================================================== the catalogue
def use_catalogue_dir(path: str | Path | None) -> None:
    """Add a directory of ``*.yml`` catalogue files on top of the package's (``None``: remove all).

    Its entries may add a language to existing keys (``{key: {it: text}}``) or add new keys;
    they may not redefine a text the catalogue already has (no silent override). The merged
    catalogue and :func:`langs` are reloaded on the next call.
    """
    if path is None:
        _EXTRA_DIRS.clear()
    else:
        p = Path(path)
        if not p.is_dir():
            raise FileNotFoundError(f"catalogue directory {p} does not exist")
        _EXTRA_DIRS.append(p)
    catalogue.cache_clear()


def catalogue_dirs() -> list[Path]:
    """Extra catalogue directories: ``$ANALYSIS_LOCALE_DIRS``, then :func:`use_catalogue_dir`'s."""
    env = [Path(p) for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return [*env, *_EXTRA_DIRS]


def catalogue_files() -> list[Path]:
    """The package's catalogue files: ``locale/report.yml`` first, then every other ``locale/*.yml``."""
    others = sorted(p for p in LOCALE_DIR.glob("*.yml") if p.name != CATALOGUE.name)
    return [CATALOGUE, *others]


def _load(path: Path) -> dict:
    # the C loader when libyaml is there: the pure-Python one takes a second on these files
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a mapping of keys to {{language: text}}")
    return data


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The catalogue ``{key: {lang: text}}``, merged from :func:`catalogue_files` and :func:`catalogue_dirs`.

    A key defined in two of the package's files is an error (each part of the report keeps its
    words in its own file, e.g. ``brief.yml``), so that no file silently overrides another. An
    extra directory may add languages or keys, never redefine a text.
    """
    merged: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    for path in catalogue_files():
        for key, texts in _load(path).items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is already defined in {where[key]}")
            merged[key], where[key] = dict(texts), path.name
    for folder in catalogue_dirs():
        for path in sorted(Path(folder).glob("*.yml")):
            for key, texts in _load(path).items():
                entry = merged.setdefault(key, {})
                for lang, text in texts.items():
                    if lang in entry:
                        raise ValueError(f"{path}: the {lang!r} text of key {key!r} is already defined")
                    entry[lang] = text
    return merged


def langs() -> tuple[str, ...]:
    """The languages of the catalogue: :data:`SOURCE_LANG` first, then in order of appearance."""
    seen = dict.fromkeys([SOURCE_LANG])
    for texts in catalogue().values():
        seen.update(dict.fromkeys(texts))
    return tuple(seen)


#: Languages of the package's catalogue, in order (a trial directory added later shows in :func:`langs`).
LANGS: tuple[str, ...] = langs()


def tr(key: str, lang: str = "en", **params) -> str:
    """The catalogue text of ``key`` in ``lang``, with ``{placeholders}`` filled in.

    Raises
    ------
    KeyError
        When ``lang`` is not a language of the catalogue, or ``key`` is not in the catalogue
        or has no text in ``lang``.
    """
    cat = catalogue()
    try:
        text = cat[key][lang]
    except KeyError:
        if lang not in langs():
            raise KeyError(f"language {lang!r} is not one of the catalogue's {langs()}") from None
        raise KeyError(f"{CATALOGUE.parent.name}/*.yml: no {lang!r} text for key {key!r}") from None
    return text.format(**params) if params else text


def has_key(key: str, lang: str | None = None) -> bool:
    """Whether the catalogue has ``key`` (in ``lang`` when given)."""
    entry = catalogue().get(key)
    return entry is not None and (lang is None or lang in entry)


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a catalogue text."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def by_lang(key: str, languages: Sequence[str] | None = None, **params) -> dict[str, str]:
    """``{lang: text}`` of ``key`` in every language (default: :data:`LANGS`), for a caller
    that stores all languages at once (figure sidecars, the dashboard's words)."""
    return {lang: tr(key, lang, **params) for lang in (languages or LANGS)}


def pick(texts: Mapping[str, str] | Sequence[str], lang: str) -> str:
    """The ``lang`` text of texts given per language: a ``{lang: text}`` mapping, or a tuple in
    :data:`LANGS` order (the ``(en, fr)`` pairs of older code). The source language's text
    when ``lang`` has none."""
    if isinstance(texts, Mapping):
        return texts.get(lang) or texts[SOURCE_LANG]
    i = LANGS.index(lang) if lang in LANGS else 0
    return texts[i] if i < len(texts) and texts[i] else texts[0]


def file_suffix(lang: str) -> str:
    """The suffix of a file in ``lang`` before its extension: ``""`` for the source language
    (``report.html``), ``".fr"`` otherwise (``report.fr.html``)."""
    return "" if lang == SOURCE_LANG else f".{lang}"


def other_langs(lang: str) -> tuple[str, ...]:
    """The catalogue's languages other than ``lang`` (links to the other versions of a page)."""
    return tuple(x for x in LANGS if x != lang)


def localized(obj, field: str, lang: str):
    """The attribute ``<field>_<lang>`` of ``obj`` when set (e.g. a profile's ``name_fr``),
    else ``<field>``: the one place free texts of a city profile are picked by language."""
    if lang != SOURCE_LANG:
        value = getattr(obj, f"{field}_{lang}", None)
        if value:
            return value
    return getattr(obj, field)


def localized_lang(obj, field: str, lang: str) -> str:
    """The language :func:`localized` answers in: ``lang`` when ``<field>_<lang>`` is set, else the source."""
    if lang != SOURCE_LANG and getattr(obj, f"{field}_{lang}", None):
        return lang
    return SOURCE_LANG


# ===================================================================== labels
def outcome_label(name: str, lang: str = "en", dataset: str = "residents") -> str:
    """Label of a codebook variable or index (``index.<name>``, ``var.<dataset>.<name>`` or ``var.<name>``).

    Raises
    ------
    KeyError
        When the catalogue has no label for ``name``.
    """
    for key in (f"index.{name}", f"var.{dataset}.{name}", f"var.{name}"):
        if has_key(key):
            return tr(key, lang)
    raise KeyError(f"{name!r} has no label in the catalogue (var.{name} or index.{name})")


def category_label(variable: str, value, lang: str = "en", default: str | None = None) -> str:
    """Label of the category ``value`` of a codebook variable (``cat.<variable>.<value>``)."""
    key = f"cat.{variable}.{value}"
    if has_key(key) or default is None:
        return tr(key, lang)
    return default


def point_label(scale: str, value, lang: str = "en") -> str:
    """Label of the point ``value`` of a rating scale (``point.<scale>.<value>``), e.g. 1 → "Very unsafe"."""
    return tr(f"point.{scale}.{value}", lang)


def group_label(group: str, lang: str = "en", *, capital: bool = False) -> str:
    """"all residents" or a targeted group's label (``group.<name>``); the code when unknown.

    ``capital``: "All residents" (the first letter capitalised, for a figure's axis)."""
    key = f"group.{group}"
    text = tr(key, lang) if has_key(key) else group
    return text[:1].upper() + text[1:] if capital else text


def wave_label(wave: str, lang: str = "en") -> str:
    """Baseline / follow-up / change (``wave.<code>``)."""
    return tr(f"wave.{wave}", lang)


def area_label(area: str, lang: str = "en", *, long: bool = False) -> str:
    """pilot / comparison / other; ``long``: "rest of the city" for ``other``."""
    return tr("area.other_long" if long and area == "other" else f"area.{area}", lang)


def city_name(profile, lang: str = "en") -> str:
    """The city's name in ``lang`` from its profile (``name_<lang>`` when set, else ``name``)."""
    return localized(profile, "name", lang)


# ===================================================================== numbers
def _missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def _na(lang: str) -> str:
    return tr("num.missing", lang) if has_key("num.missing", lang) else tr("num.missing", SOURCE_LANG)


def fmt_num(x, lang: str = "en", digits: int = 2, signed: bool = False) -> str:
    """A number for prose and figures in ``lang``'s conventions (Babel's CLDR data): fixed
    decimals, the locale's decimal mark, a true minus sign, "n/a" when missing.

    ``fmt_num(-0.412, "fr")`` is ``"−0,41"``; ``fmt_num(0.5, "en", 1, signed=True)`` is ``"+0.5"``.
    Rounding is the decimal rounding of the printed value (half-even on the exact binary value,
    as Python's ``format``), so the same number prints the same on every machine.
    """
    if _missing(x):
        return _na(lang)
    v = round(float(x), digits) + 0.0  # -0.0 -> 0.0
    pattern = "0." + "0" * digits if digits > 0 else "0"
    text = format_decimal(abs(v), format=pattern, locale=lang, decimal_quantization=True, group_separator=False)
    if v < 0:
        return "−" + text
    return ("+" + text) if signed else text


def fmt_int(n, lang: str = "en", grouping: bool = True) -> str:
    """A whole number with the locale's grouping (``12,345``; French ``12 345`` with a narrow
    no-break space), "n/a" when missing."""
    if _missing(n):
        return _na(lang)
    v = int(round(float(n)))
    text = format_decimal(abs(v), format="#,##0" if grouping else "0", locale=lang)
    return ("−" + text) if v < 0 else text


def fmt_pct(x, lang: str = "en", digits: int = 0) -> str:
    """A proportion as a percentage in the locale's pattern: ``0.412`` → ``41%`` (French ``41 %``)."""
    if _missing(x):
        return _na(lang)
    pattern = Locale.parse(lang).percent_formats[None].pattern
    number = "0." + "0" * digits if digits > 0 else "0"
    text = format_percent(abs(float(x)), pattern.replace("#,##0", number), locale=lang,
                          decimal_quantization=True)
    return ("−" + text) if round(float(x) * 100, digits) < 0 else text


def fmt_p(p, lang: str = "en") -> str:
    """A p-value: ``< 0.001`` below a thousandth, else three decimals."""
    if _missing(p):
        return _na(lang)
    if float(p) < 0.001:
        return "< " + fmt_num(0.001, lang, 3)
    return fmt_num(p, lang, 3)


def fmt_g(x, lang: str = "en") -> str:
    """A number as short as it goes (Python's ``g``: ``0.5``, ``10``, ``-1.25``) with the locale's
    decimal mark and a true minus sign: the class bounds of a map legend."""
    if _missing(x):
        return _na(lang)
    out = f"{float(x):g}".replace(".", decimal_mark(lang))
    return out.replace("-", "−")


def decimal_mark(lang: str = "en") -> str:
    """The locale's decimal mark ("." or ",")."""
    return get_decimal_symbol(lang)


def group_mark(lang: str = "en") -> str:
    """The locale's thousands separator ("," in English, a narrow no-break space in French)."""
    return get_group_symbol(lang)


# ===================================================================== dates
def _as_date(d) -> dt.date:
    if hasattr(d, "to_pydatetime"):  # pandas Timestamp
        d = d.to_pydatetime()
    if isinstance(d, dt.datetime):
        return d.date()
    if isinstance(d, dt.date):
        return d
    return dt.date.fromisoformat(str(d)[:10])


def fmt_date(d, lang: str = "en", form: str = "long") -> str:
    """A date in prose and figures, never ISO: "15 March 2015" → French "15 mars 2015".

    ``form`` is Babel's ``"long"`` / ``"medium"`` / ``"short"``, or ``"month"`` ("mars 2015").
    """
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return _na(lang)
    day = _as_date(d)
    if form == "month":
        return format_skeleton("yMMMM", day, locale=lang)
    return format_date(day, format=form, locale=lang)


# ===================================================================== figures
def tick_formatter(lang: str = "en"):
    """A matplotlib tick formatter for numbers in ``lang``: the locale's decimal mark on the
    ticks matplotlib would otherwise print ("0.5" → French "0,5"), same ticks, same digits."""
    from matplotlib.ticker import ScalarFormatter

    mark = decimal_mark(lang)

    class LocaleFormatter(ScalarFormatter):
        def __call__(self, x, pos=None):
            return super().__call__(x, pos).replace(".", mark)

        def format_data_short(self, value):
            return super().format_data_short(value).replace(".", mark)

    return LocaleFormatter()


def date_formatter(lang: str = "en", skeleton: str = "yMMM"):
    """A matplotlib date-axis formatter in ``lang``'s month names ("mars 2015"), not ISO."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, pos=None: format_skeleton(skeleton, mdates.num2date(x).date(), locale=lang))


def localise_axes(fig, lang: str = "en") -> None:
    """Put :func:`tick_formatter` on every numeric axis of ``fig`` (left alone: axes with fixed
    labels — categories, dates — whose ticks are words, not numbers)."""
    from matplotlib.ticker import ScalarFormatter

    for ax in fig.get_axes():
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(tick_formatter(lang))
