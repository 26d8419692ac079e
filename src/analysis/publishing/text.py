"""The text layer: languages, the catalogue, ``tr`` and the formatting of numbers and dates.

Owns every word the project shows a reader (``locale/*.yml``) and how numbers and dates are
written per locale. Must not read data or know about tables: callers pass keys and values.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

import math

import yaml
from babel.numbers import format_decimal

#: Languages of the report, in order; the first is the fallback of nothing (every key has every language).
LANGS: tuple[str, ...] = ("en", "fr")
HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "locale" / "report.yml"


#: Catalogue files not (yet) merged into the one catalogue: the exploration's own words,
#: read by :func:`analysis.publishing.explore.t` with the report's as fallback.
_SEPARATE = {"explore.yml"}


def catalogue_files() -> list[Path]:
    """The catalogue files: ``locale/report.yml`` first, then every other ``locale/*.yml``."""
    others = sorted(p for p in CATALOGUE.parent.glob("*.yml") if p.name != CATALOGUE.name and p.name not in _SEPARATE)
    return [CATALOGUE, *others]


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The catalogue: ``{key: {"en": text, "fr": text}}``, merged from :func:`catalogue_files`.

    A key defined in two files is an error (each part of the report keeps its words in its
    own file, e.g. ``brief.yml``), so that no file silently overrides another.
    """
    # the C loader when libyaml is there: the pure-Python one takes a second on this file
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merged: dict[str, dict[str, str]] = {}
    where: dict[str, str] = {}
    for path in catalogue_files():
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: expected a mapping of keys to {{en, fr}}")
        for key, texts in data.items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is already defined in {where[key]}")
            merged[key], where[key] = texts, path.name
    return merged


def tr(key: str, lang: str = "en", **params) -> str:
    """The catalogue text of ``key`` in ``lang``, with ``{placeholders}`` filled in.

    Raises
    ------
    KeyError
        When ``key`` is not in the catalogue or has no text in ``lang``.
    """
    try:
        text = catalogue()[key][lang]
    except KeyError:
        raise KeyError(f"{CATALOGUE.name}: no {lang!r} text for key {key!r}") from None
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a catalogue text."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def has_key(key: str) -> bool:
    return key in catalogue()


# ===================================================================== numbers
#: What a missing number reads as, per language.
_MISSING = {"en": "n/a", "fr": "n.d."}


def _missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def fmt_num(x, lang: str = "en", digits: int = 2, signed: bool = False) -> str:
    """A number for prose and figures in ``lang``'s conventions (Babel's CLDR data): fixed
    decimals, the locale's decimal mark, a true minus sign, "n/a" when missing.

    ``fmt_num(-0.412, "fr")`` is ``"−0,41"``; ``fmt_num(0.5, "en", 1, signed=True)`` is ``"+0.5"``.
    Rounding is the decimal rounding of the printed value (half-even on the exact binary value,
    as Python's ``format``), so the same number prints the same on every machine.
    """
    if _missing(x):
        return _MISSING.get(lang, _MISSING["en"])
    v = round(float(x), digits) + 0.0  # -0.0 -> 0.0
    pattern = "0." + "0" * digits if digits > 0 else "0"
    text = format_decimal(abs(v), format=pattern, locale=lang, decimal_quantization=True, group_separator=False)
    if v < 0:
        return "−" + text
    return ("+" + text) if signed else text


def fmt_p(p, lang: str = "en") -> str:
    """A p-value: ``< 0.001`` below a thousandth, else three decimals."""
    if _missing(p):
        return _MISSING.get(lang, _MISSING["en"])
    if float(p) < 0.001:
        return "< " + fmt_num(0.001, lang, 3)
    return fmt_num(p, lang, 3)
