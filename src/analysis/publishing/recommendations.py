"""Evidence-based recommendations generated from the results by explicit rules.

Owns the rules that turn published results into recommendations. Must not
re-estimate anything: it reads published tables and cites them.

Each statement is produced by one rule applied to the published tables, never written by
hand, and cites the tables and figures it rests on. The rules (thresholds below) follow
what an evaluator would say from an effect estimate and the strength of the design behind
it, rated on the Maryland Scientific Methods Scale (1 = correlation only, 2 = before/after
without a comparison group, 3 = before/after with a comparison group, i.e. a
difference-in-differences, 4-5 = stronger or randomised designs):

``recommend``
    Design level >= :data:`MIN_LEVEL` and the 95 % CI of an effect on residents lies
    entirely above 0 (every indicator is coded so that higher is more favourable).
``review``
    Design level >= :data:`MIN_LEVEL` and the CI lies entirely below 0: the pilot was
    followed by a relative deterioration; do not scale up without revising it.
``no_large_effect``
    Design level >= :data:`MIN_LEVEL` and the CI includes 0: do not expect the pilot alone
    to move the indicator; each indicator's CI upper bound, on its own scale, says how
    large an effect is still compatible with the data.
``not_estimable``
    The effect cell is not estimable with this design, suppressed or not collected
    (``impact.csv`` ``status``, ``not_estimable_reason``): worded with its reason, never
    as missing numbers, and never read as "no effect".
``evaluate_first``
    Design level < :data:`MIN_LEVEL` (or unrated) without comparison areas: whatever the
    before/after change, it cannot be attributed to the pilot; evaluate with a comparison
    group before scaling up.
``strengthen_first``
    Design level < :data:`MIN_LEVEL` although there are comparison areas (the rating was
    lowered: few clusters, imbalance, weak implementation…): strengthen the evaluation on
    those points before scaling up.
``for_whom``
    A targeted group's effect differs from the rest of the residents
    (``diff_p_value`` < :data:`ALPHA`) under a design >= :data:`MIN_LEVEL`: reported as a
    hypothesis (tests are not adjusted for multiplicity).
``officers``
    Officer survey changes (before/after): reported with the design caveat.
``pooled`` / ``heterogeneous``
    The random-effects pooled estimate across cities; when I² >= :data:`HIGH_I2` %, the
    cities' effects differ too much for one pooled figure to predict a new city's.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from decimal import Decimal
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from babel import Locale

from analysis.inputs import codebook
from analysis.config import PATHS
from analysis.publishing import tables
from analysis.publishing.text import city_name as profile_city_name
from analysis.publishing.text import fmt_num, fmt_p, has_key, tr  # noqa: F401 (fmt_* re-exported)
from analysis.inputs.profile import ProfileError, load_profile

#: Smallest design level (Maryland SMS) from which an effect is attributed to the pilot.
MIN_LEVEL: int = 3
#: Significance level of the tests quoted.
ALPHA: float = 0.05
#: I² (percent) from which cross-city heterogeneity is called substantial (Higgins et al. 2003).
HIGH_I2: float = 50.0

@dataclass(frozen=True)
class Source:
    """A figure or table a statement rests on.

    ``kind`` is ``"figure"`` (``ref`` = figure id) or ``"table"`` (``ref`` = path of the
    CSV relative to the project root); ``anchor`` is the id of its element in the report.
    """

    kind: str
    city: str
    ref: str

    @property
    def anchor(self) -> str:
        if self.kind == "figure":
            return figure_anchor(self.city, self.ref)
        return table_anchor(self.city, Path(self.ref).stem)


@dataclass(frozen=True)
class Recommendation:
    """One generated statement: the rule that fired, its values and its sources.

    ``variant`` words the rule to match its evidence (e.g. ``moderate`` confidence, estimates
    ``negative`` overall); ``theme`` files it under a theme of the recommendations
    (:data:`THEMES`).
    """

    rule: str
    city: str
    params: dict = field(hash=False)
    sources: tuple[Source, ...] = ()
    variant: str = ""
    theme: str = ""

    @property
    def key(self) -> str:
        """Catalogue key of the sentence (``rec.<rule>``, or ``rec.<rule>.<variant>``)."""
        return f"rec.{self.rule}.{self.variant}" if self.variant else f"rec.{self.rule}"

    def text(self, lang: str = "en") -> str:
        """The statement in ``lang``."""

        return tr(self.key, lang, **render_params(self.params, lang))


#: Themes of the recommendations, in the order a reader meets them: the pilots' themes
#: (profile ``pilot.theme``, :data:`analysis.inputs.profile.PILOT_THEMES`), pilots without
#: one, then what holds across cities: officers, the pooled results, evaluation practice.
THEMES: tuple[str, ...] = ("reception_contact", "youth_dialogue", "local_partnership", "neighbourhood_policing",
                           "other", "officer_training", "across_cities", "evaluation_practice")
#: Rules a theme-free statement is filed under, whatever the city's theme.
RULE_THEMES: dict[str, str] = {"officers_change": "officer_training", "officers_null": "officer_training",
                               "pooled_effect": "across_cities", "pooled_null": "across_cities",
                               "heterogeneous": "across_cities", "eval_comparison": "evaluation_practice",
                               "eval_clusters": "evaluation_practice"}


def theme_of(rec: "Recommendation", themes: dict[str, str | None] | None = None) -> str:
    """The theme a statement is filed under: its rule's (:data:`RULE_THEMES`), else its city's
    pilot theme (``themes``: city -> profile ``pilot.theme``), else ``other``."""
    if rec.rule in RULE_THEMES:
        return RULE_THEMES[rec.rule]
    theme = (themes or {}).get(rec.city)
    return theme if theme in THEMES else "other"


def by_theme(recs: list["Recommendation"]) -> list[tuple[str, list["Recommendation"]]]:
    """Statements grouped by :attr:`Recommendation.theme`, themes in :data:`THEMES` order
    (statements keep their order within a theme; empty themes are left out)."""
    out = []
    for theme in THEMES:
        group = [r for r in recs if (r.theme or "other") == theme]
        if group:
            out.append((theme, group))
    return out


def figure_anchor(city: str, fig_id: str) -> str:
    """HTML id of a figure in the report."""
    return "fig-" + _slug(f"{city}-{fig_id}")


def table_anchor(city: str, name: str) -> str:
    """HTML id of a table (``impact``, ``evidence``, ``pooled``…) in the report."""
    return "tab-" + _slug(f"{city}-{name}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


# ------------------------------------------------------------------ formatting
def outcome_label(name: str, lang: str = "en") -> str:
    """Codebook label of a resident or officer indicator (the name itself when unknown)."""
    for ds in ("residents", "officers"):
        try:
            return codebook.label(name, lang, dataset=ds)
        except KeyError:
            continue
    return name


def group_label(name: str, lang: str = "en") -> str:
    """Label of a targeted group (``all`` = all residents)."""
    if name in codebook.TARGET_GROUPS:
        return codebook.TARGET_GROUPS[name].label(lang)

    return tr("group.all", lang) if name in ("all", "", None) else name


def scale_text(outcome: str, scale: str | None = None) -> str:
    """The scale an effect is measured on, e.g. ``0–10`` (from the codebook when known)."""
    for ds in ("residents", "officers"):
        try:
            lo, hi = codebook.scale_range(outcome, ds)
            return f"{lo:g}–{hi:g}"
        except (KeyError, ValueError):
            continue
    return str(scale) if scale else "?"


def estimable(row: dict) -> bool:
    """Whether an effect row has an estimate and interval to quote.

    False when ``impact.csv`` says the cell is ``not_estimable``, ``suppressed`` or
    ``not_collected`` (``status``), or when the estimate or an interval bound is missing:
    such a cell is worded, never printed as "n/a" numbers.
    """
    if _status(row) in ("not_estimable", "suppressed", "not_collected"):
        return False
    cols = ("estimate", "ci_low", "ci_high") if "estimate" in row else ("ci_low", "ci_high")
    return all(row.get(c) is not None and pd.notna(row.get(c)) for c in cols)


def _status(row: dict) -> str:
    """An effect row's ``status`` code, lower case ("" when absent or missing)."""
    status = row.get("status")
    return "" if status is None or pd.isna(status) else str(status).strip().lower()


def reason_text(row: dict, lang: str) -> str:
    """The ``not_estimable_reason`` code of an effect row in words (``rec.reason.<code>``)."""

    code = row.get("not_estimable_reason")
    code = "" if code is None or pd.isna(code) else str(code).strip()
    if not code:
        code = {"suppressed": "small_cell", "not_collected": "not_collected"}.get(_status(row), "unknown")
    return tr(f"rec.reason.{code}", lang) if has_key(f"rec.reason.{code}") else code


def effect_text(row: dict, lang: str) -> str:
    """``label (+0.42; 95 % CI 0.10 to 0.74; 0–10 scale)`` for one effect; for a cell
    without an estimate, ``label: not estimable with this design (reason)``."""

    if not estimable(row):
        return tr("rec.effect_not_estimable", lang, outcome=outcome_label(row["outcome"], lang),
                  reason=reason_text(row, lang))
    # the label without its "(0-10)" tag: the sentence states the scale
    return tr("rec.effect", lang, outcome=plain_label(row["outcome"], lang),
              est=fmt_num(row["estimate"], lang, signed=True),
              lo=fmt_num(row["ci_low"], lang), hi=fmt_num(row["ci_high"], lang),
              scale=scale_text(row["outcome"], row.get("scale")))


def _reason_word(code: str, lang: str) -> str:
    """A confidence reason code in words, without its numbers (``evidence.reason.<code>``
    up to the colon)."""

    key = f"evidence.reason.{code}"
    if not has_key(key):
        return code
    return tr(key, lang, value="", threshold="").split(":")[0].strip()


def render_params(params: dict, lang: str) -> dict:
    """Turn a statement's raw values into text in ``lang``."""

    out = {}
    sep = tr("plain.sep", lang)  # "; " or French " ; "
    for k, v in params.items():
        if k == "effects":
            out[k] = sep.join(effect_text(r, lang) for r in v)
        elif k == "bounds":
            # each outcome's upper bound on its own scale: 0-10 and 1-5 bounds do not compare
            out[k] = sep.join(tr("rec.bound", lang, hi=fmt_num(r["ci_high"], lang),
                                 outcome=plain_label(r["outcome"], lang),
                                 scale=scale_text(r["outcome"], r.get("scale"))) for r in v)
        elif k == "downgrades":
            out[k] = sep.join(tr(f"evidence.downgrade.{d}", lang) if has_key(f"evidence.downgrade.{d}")
                              else _reason_word(d, lang) for d in v) or tr("evidence.downgrade", lang)
        elif k == "outcome":
            out[k] = outcome_label(v, lang)
        elif k == "group":
            key = f"plain.group.{v}"  # a phrase that reads inside a sentence, when catalogued
            out[k] = tr(key, lang) if has_key(key) else group_label(v, lang)
        elif k == "city":
            out[k] = city_name(v, lang)
        elif k == "cities":
            out[k] = ", ".join(city_name(c, lang) for c in v)
        elif k == "design":
            out[k] = tr(f"design.{v}", lang)
        elif k in ("p", "diff_p"):
            out[k] = fmt_p(v, lang)
        elif k in ("est", "diff"):
            out[k] = fmt_num(v, lang, signed=True)
        elif k == "pi":
            # prediction interval for a new city's true effect (needs 3 cities)
            lo, hi = v
            out[k] = tr("rec.pi", lang, lo=fmt_num(lo, lang), hi=fmt_num(hi, lang)) \
                if pd.notna(lo) and pd.notna(hi) else ""
        elif k in ("i2",):
            out[k] = fmt_num(v, lang, 0)
        elif k in ("tau2",):
            out[k] = fmt_num(v, lang, 3)
        elif isinstance(v, float):
            out[k] = fmt_num(v, lang)
        else:
            out[k] = v
    return out


def city_name(city: str, lang: str = "en") -> str:
    """Display name of a city from its profile (the slug, capitalised, when none loads)."""
    path = PATHS.profile(city)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    prof = _profile(str(path), stamp)
    if prof is None:
        return city.replace("-", " ").capitalize()
    return profile_city_name(prof, lang)


@functools.lru_cache(maxsize=64)
def _profile(path: str, stamp: int | None):
    # cached by path and modification time: profiles are read once per report, not per sentence

    if stamp is None:
        return None
    try:
        p = load_profile(Path(path))
    except (ProfileError, OSError):
        return None
    return p


# ------------------------------------------------------------------ plain language
#: Largest |bound| of a 95 % interval that includes 0, as a share of the outcome's scale,
#: under which the interval is read as "clearly no large change" rather than "not detected".
PRECISE_NULL: float = 0.075
#: Indicators a summary leads with; the items of an index come after its index.
HEADLINE: tuple[str, ...] = codebook.INDICATORS


def scale_bounds(outcome: str, scale=None) -> tuple[float, float] | None:
    """(min, max) of an outcome's scale: the codebook's, else parsed from ``scale`` ("0-10")."""
    for ds in ("residents", "officers"):
        try:
            lo, hi = codebook.scale_range(outcome, ds)
            return float(lo), float(hi)
        except (KeyError, ValueError):
            continue
    found = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*[-–]\s*(-?\d+(?:\.\d+)?)\s*$", str(scale or ""))
    return (float(found.group(1)), float(found.group(2))) if found else None


def plain_label(outcome: str, lang: str = "en") -> str:
    """An outcome's label without its "(0-10)" scale tag: prose states the scale in words."""
    return re.sub(r"\s*\(\d+\s*[-–]\s*\d+\)\s*$", "", outcome_label(outcome, lang))


def plain_size(value: float, lang: str = "en") -> str:
    """"about 1.5 points", "about one point", "environ 0,8 point": a size rounded for reading.

    Below one point: one decimal (never "about 0 points": "less than 0.1 points"); from one
    point: to the nearest half point. The grammatical number follows the language's plural
    rule (CLDR through Babel: French "1,5 point", English "1.5 points").
    """
    a = abs(float(value))
    if a < 0.05:
        return tr("plain.size_tiny", lang, x=fmt_num(0.1, lang, 1))
    r = round(a * 2) / 2 if a >= 0.95 else round(a, 1)
    if r == 1:
        return tr("plain.size_one", lang)
    digits = 0 if float(r).is_integer() else 1
    return tr(plural_key("plain.size", r, lang), lang, x=fmt_num(r, lang, digits))


def plural_key(prefix: str, n: float | Decimal, lang: str) -> str:
    """``prefix.one`` or ``prefix.other`` by ``lang``'s plural rule for ``n`` (CLDR, through Babel:
    French 1.5 is "one", English 1.5 is "other"; a ``Decimal`` keeps its printed decimals,
    so that English "1.00" is "other")."""
    return f"{prefix}.{'one' if Locale.parse(lang).plural_form(n) == 'one' else 'other'}"


def plain_scale(outcome: str, scale=None, lang: str = "en") -> str:
    """"on a 0–10 scale" / "sur une échelle de 0 à 10"."""
    b = scale_bounds(outcome, scale)
    if b is None:
        return tr("plain.scale_unknown", lang)
    return tr("plain.scale", lang, lo=fmt_num(b[0], lang, 0), hi=fmt_num(b[1], lang, 0))


def ci_text(row: dict, lang: str = "en") -> str:
    """"+1.50; 95 % CI 1.14 to 1.88": the numbers behind a plain sentence."""
    return tr("plain.numbers", lang, est=fmt_num(row["estimate"], lang, signed=True),
              lo=fmt_num(row["ci_low"], lang), hi=fmt_num(row["ci_high"], lang))


def plain_effect(row: dict, lang: str = "en", design: str | None = None) -> str:
    """One effect in plain words, with its scale and its numbers.

    ``Satisfaction with contact: the pilot areas gained about 1.5 points more than the
    comparison areas, on a 1–5 scale (+1.50; 95 % CI 1.14 to 1.88)``; a before/after design
    says "higher after the pilot than before" (a change, not an effect); an interval that
    includes 0 reads "no detectable change". Never causal: what the design compared is said.
    """
    label = plain_label(row["outcome"], lang)
    if not estimable(row):
        return tr("rec.effect_not_estimable", lang, outcome=label, reason=reason_text(row, lang))
    design = design or design_kind(row.get("design", ""))
    scale = plain_scale(row["outcome"], row.get("scale"), lang)
    sign = _ci_excludes_zero(row)
    if sign == 0:
        return tr("plain.no_change", lang, outcome=label, scale=scale, numbers=ci_text(row, lang))
    kind = design if design in ("did", "pre_post") else "unknown"  # an unstated design: no comparison claimed
    way = "up" if sign > 0 else "down"
    return tr(f"plain.moved.{kind}.{way}", lang, outcome=label, size=plain_size(row["estimate"], lang),
              scale=scale, numbers=ci_text(row, lang))


def plain_bounded(row: dict, lang: str = "en") -> str:
    """An interval that includes 0, read as bounds: "Trust in the police: the change lies between
    −0.09 and +0.60 points, on a 0–10 scale" (what a precise null rules out)."""
    # "point" agrees with the bound as printed, decimals included ("1.00 points", "1,00 point")
    hi = Decimal(f"{abs(float(row['ci_high'])):.2f}")
    return tr(plural_key("plain.bounded", hi, lang), lang, outcome=plain_label(row["outcome"], lang),
              lo=fmt_num(row["ci_low"], lang, signed=True), hi=fmt_num(row["ci_high"], lang, signed=True),
              scale=plain_scale(row["outcome"], row.get("scale"), lang))


def headline_pooled(pooled: pd.DataFrame | None, outcomes: tuple[str, ...] | None = None) -> list[dict]:
    """The rows of ``pooled.csv`` read out in plain words: residents, all, the headline pool
    (comparison designs), two or more cities; ``outcomes`` (default every one) in that order."""
    if pooled is None or pooled.empty or "outcome" not in pooled.columns:
        return []
    df = pooled
    for col, ok in (("population", ("residents", "resident")), ("group", ("all",)), ("headline", ("true", "1"))):
        if col in df.columns:
            df = df[df[col].astype("str").str.lower().isin(ok)]
    if "k" in df.columns:
        df = df[pd.to_numeric(df["k"], errors="coerce") >= 2]
    order = {o: i for i, o in enumerate(outcomes or codebook.OUTCOMES)}
    df = df[df["outcome"].isin(order)]
    return sorted(df.to_dict("records"), key=lambda r: order[r["outcome"]])


def pooled_plain(row: dict, lang: str) -> str:
    """One pooled outcome (a row of ``pooled.csv``) in plain words, with its numbers and its
    prediction interval read for a mayor: will a similar pilot work in a new city?"""
    outcome = row["outcome"]
    lo, hi = row.get("pi_low"), row.get("pi_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        pi_text = tr("brief.pi.none", lang)
    else:
        key = "brief.pi.positive" if float(lo) > 0 else "brief.pi.spans"
        key = plural_key(key, Decimal(f"{abs(float(hi)):.1f}"), lang)  # agrees with the bound as printed
        pi_text = tr(key, lang, lo=fmt_num(lo, lang, 1, signed=float(lo) < 0), hi=fmt_num(hi, lang, 1))
    common = {"k": int(row["k"]) if pd.notna(row.get("k")) else "?", "outcome": plain_label(outcome, lang),
              "scale": plain_scale(outcome, row.get("scale"), lang), "pi_text": pi_text,
              "numbers": ci_text(row, lang)}
    if float(row["ci_low"]) > 0:
        return tr("brief.msg.pooled", lang, size=plain_size(row["estimate"], lang), **common)
    if float(row["ci_high"]) < 0:
        return tr("brief.msg.pooled_down", lang, size=plain_size(row["estimate"], lang), **common)
    return tr("brief.msg.pooled_null", lang, **common)


def clearness(row: dict) -> float:
    """How clearly an estimate stands out from 0: |estimate| over the interval's half-width
    (about a z statistic); 0 for a cell without an interval. Used to order findings."""
    if not estimable(row):
        return 0.0
    half = (float(row["ci_high"]) - float(row["ci_low"])) / 2
    return abs(float(row["estimate"])) / half if half > 0 else 0.0


def precise_null(row: dict) -> bool:
    """An interval that includes 0 and stays close to it: it rules out any large change either
    way (both bounds within :data:`PRECISE_NULL` of the scale's range)."""
    if not estimable(row) or _ci_excludes_zero(row) != 0:
        return False
    b = scale_bounds(row["outcome"], row.get("scale"))
    if b is None or b[1] <= b[0]:
        return False
    return max(abs(float(row["ci_low"])), abs(float(row["ci_high"]))) <= PRECISE_NULL * (b[1] - b[0])


def lead_order(rows: list[dict]) -> list[dict]:
    """Effects in the order a reader meets them: headline indicators first, each part by
    clearness (:func:`clearness`; ties in codebook order)."""
    order = {o: i for i, o in enumerate(codebook.OUTCOMES)}
    return sorted(rows, key=lambda r: (r["outcome"] not in HEADLINE, -round(clearness(r), 6),
                                       order.get(r["outcome"], 99)))


@dataclass
class Findings:
    """What a city's impact table says, sorted for a reader: what moved, what clearly did
    not, for whom, and the design and confidence behind it."""

    design: str = "unknown"
    level: int | None = None
    confidence: str | None = None
    reasons: list = field(default_factory=list)
    moved: list = field(default_factory=list)      # CI excludes 0, favourable first, clearest first
    precise: list = field(default_factory=list)    # CI includes 0 and is narrow
    unclear: list = field(default_factory=list)    # CI includes 0, wide
    not_estimable: list = field(default_factory=list)
    n_estimated: int = 0
    n_negative: int = 0
    groups: dict = field(default_factory=dict)     # targeted group -> its moved rows, clearest first
    group_rows: dict = field(default_factory=dict)  # targeted group -> its estimable rows

    @property
    def improved(self) -> list:
        return [r for r in self.moved if _ci_excludes_zero(r) > 0]

    @property
    def worsened(self) -> list:
        return [r for r in self.moved if _ci_excludes_zero(r) < 0]

    @property
    def attributable(self) -> bool:
        """Whether the design and confidence let a change be read as the pilot's effect."""
        return self.design == "did" and (self.level or 0) >= MIN_LEVEL and self.confidence != "low"

    @property
    def leaning_negative(self) -> bool:
        """Nothing improved and at least two thirds of the estimates lie below 0."""
        return not self.improved and self.n_estimated > 0 and 3 * self.n_negative >= 2 * self.n_estimated

    @property
    def kind(self) -> str:
        """The summary's tag: improved, isolated (one indicator of five or more: chance can do
        that), mixed, worsened, leaning_negative, null or unattributable."""
        if not self.attributable:
            return "unattributable"
        if self.improved and self.worsened:
            return "mixed"
        if len(self.improved) == 1 and self.n_estimated >= 5:
            return "isolated"
        if self.improved:
            return "improved"
        if self.worsened:
            return "worsened"
        return "leaning_negative" if self.leaning_negative else "null"


def city_findings(impact: pd.DataFrame, evidence: pd.DataFrame | None = None,
                  targeted_groups: tuple[str, ...] | list[str] = ()) -> Findings:
    """Sort a city's effects on residents for a summary (see :class:`Findings`).

    Parameters
    ----------
    impact : pandas.DataFrame
        ``reports/tables/<city>/impact.csv``.
    evidence : pandas.DataFrame, optional
        ``reports/tables/<city>/evidence.csv`` (design level, confidence and its reasons).
    targeted_groups : sequence of str
        The pilot's targeted groups (profile ``pilot.targeted_groups``): "for whom".
    """
    f = Findings()
    overall = overall_rows(impact).to_dict("records")
    if overall:
        f.design = design_kind(overall[0].get("design", ""))
    f.level, _ = evidence_level(evidence)
    f.confidence, f.reasons = evidence_confidence(evidence)
    est = [r for r in overall if estimable(r)]
    f.not_estimable = [r for r in overall if not estimable(r)]
    f.n_estimated = len(est)
    f.n_negative = sum(float(r["estimate"]) < 0 for r in est)
    moved = [r for r in est if _ci_excludes_zero(r) != 0]
    # favourable changes lead; within each, headline indicators and the clearest first
    f.moved = lead_order([r for r in moved if _ci_excludes_zero(r) > 0]) \
        + lead_order([r for r in moved if _ci_excludes_zero(r) < 0])
    f.precise = lead_order([r for r in est if precise_null(r)])
    f.unclear = lead_order([r for r in est if _ci_excludes_zero(r) == 0 and not precise_null(r)])
    res = _residents(impact)
    if "group" in res.columns:
        for g in targeted_groups:
            rows = [r for r in res[res["group"].astype("str") == g].to_dict("records") if estimable(r)]
            if rows:
                f.group_rows[g] = rows
                f.groups[g] = lead_order([r for r in rows if _ci_excludes_zero(r) > 0]) \
                    + lead_order([r for r in rows if _ci_excludes_zero(r) < 0])
    return f


# ------------------------------------------------------------------ inputs
def design_kind(value) -> str:
    """The design code of an impact row (one spelling: ``did``, ``did_trained``, ``pre_post``),
    ``unknown`` for anything else: nothing is guessed from free text."""
    return value if value in tables.DESIGNS else "unknown"


def evidence_level(evidence: pd.DataFrame | None, outcome: str | None = None) -> tuple[int | None, str]:
    """Design level (Maryland SMS, 1-5) and the confidence reason codes from a city's
    ``evidence.csv`` (schema ``evidence``: the ``design`` row's ``level``; the level is the
    design's alone, the same for every ``outcome``).

    Returns
    -------
    (level, reasons) : (int or None, str)
        ``None`` without a table or a design row; reasons ``;``-joined codes.
    """
    if evidence is None or evidence.empty:
        return None, ""
    design = evidence[evidence["rating"] == "design"]
    lv = design["level"].dropna()
    return (int(lv.iloc[0]) if len(lv) else None), "; ".join(evidence_confidence(evidence)[1])


def evidence_confidence(evidence: pd.DataFrame | None) -> tuple[str | None, list[str]]:
    """Confidence code ("high", "moderate", "low") and its reason codes, from a city's
    ``evidence.csv``; ``(None, [])`` without a table."""
    if evidence is None or evidence.empty:
        return None, []
    row = evidence[(evidence["rating"] == "confidence") & (evidence["criterion"] == "confidence")]
    if row.empty:
        return None, []
    reasons = row["reason"].iloc[0]
    codes = [c for c in str(reasons).split(";") if c] if isinstance(reasons, str) else []
    return row["code"].iloc[0], codes


def unmet_criteria(evidence: pd.DataFrame | None) -> list[str]:
    """The confidence reason codes (``few_clusters``…) of a city's ``evidence.csv``."""
    return evidence_confidence(evidence)[1]


def _ci_excludes_zero(row) -> int:
    """+1 when the CI lies above 0, -1 below, 0 when it includes 0 (or is missing)."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return 0
    if lo > 0:
        return 1
    if hi < 0:
        return -1
    return 0


def classify(row: dict, level: int | None) -> str:
    """The rule an effect on residents falls under (see the module docstring).

    A cell without an estimate (:func:`estimable`) is ``not_estimable`` whatever the
    design: a missing interval is not an interval that includes 0.
    """
    if not estimable(row):
        return "not_estimable"
    if level is None or level < MIN_LEVEL:
        return "evaluate_first"
    return {1: "recommend", -1: "review", 0: "no_large_effect"}[_ci_excludes_zero(row)]


def _residents(impact: pd.DataFrame) -> pd.DataFrame:
    return impact[impact["population"] == "residents"]


def overall_rows(impact: pd.DataFrame) -> pd.DataFrame:
    """Effects on all residents (``group`` = all), in codebook indicator order."""
    df = _residents(impact)
    df = df[df["group"] == "all"]
    order = {o: i for i, o in enumerate(codebook.INDICATORS)}
    return df.assign(_o=df["outcome"].map(order).fillna(99)).sort_values("_o", kind="stable").drop(columns="_o")


# ------------------------------------------------------------------ citations
def find_figures(manifest: pd.DataFrame | None, city: str, outcome: str | None = None,
                 words: tuple[str, ...] = ("impact", "effect", "did", "forest", "pooled")) -> list[str]:
    """English figure ids of ``city`` about ``outcome`` (best match first, at most two)."""
    if manifest is None or manifest.empty:
        return []
    m = manifest[(manifest["city"] == city) & (manifest["lang"] == "en")]
    ids = list(m["figure_id"])
    topical = [f for f in ids if any(w in f.lower() for w in words)]
    if outcome:
        exact = [f for f in topical if outcome in f]
        if exact:
            return exact[:2]
        exact = [f for f in ids if outcome in f and not f.startswith("map")]
        if exact:
            return exact[:2]
    return topical[:1]


def _table_source(city: str, name: str) -> Source | None:
    folder = PATHS.tables / city
    path = folder / f"{name}.csv"
    if not path.is_file():
        return None
    return Source("table", city, str(path.relative_to(PATHS.root)))


def _sources(city: str, tables: tuple[str, ...], figures: list[str]) -> tuple[Source, ...]:
    out = [s for s in (_table_source(city, t) for t in tables) if s is not None]
    out += [Source("figure", city, f) for f in figures]
    return tuple(out)


# ------------------------------------------------------------------ rules
def city_recommendations(city: str, impact: pd.DataFrame, evidence: pd.DataFrame | None,
                         manifest: pd.DataFrame | None = None, pilot: str | None = None) -> list[Recommendation]:
    """Statements for one city from its impact and evidence tables.

    Parameters
    ----------
    city : str
    impact : pandas.DataFrame
        ``reports/tables/<city>/impact.csv``.
    evidence : pandas.DataFrame or None
        ``reports/tables/<city>/evidence.csv``; None when absent (the design is then
        treated as unrated, i.e. weak).
    manifest : pandas.DataFrame, optional
        The figure manifest, to cite figures.
    pilot : str, optional
        Short name of the pilot, used in the sentences.
    """
    recs: list[Recommendation] = []
    pilot = pilot or city
    overall = overall_rows(impact)
    memo: dict[str, int | None] = {}

    def level_of(outcome: str) -> int | None:
        # the rating is read once per outcome, not once per row and group
        if outcome not in memo:
            memo[outcome] = evidence_level(evidence, outcome)[0]
        return memo[outcome]

    buckets: dict[str, list[dict]] = {}
    levels = {}
    design = "unknown"
    for row in overall.to_dict("records"):
        level = level_of(row["outcome"])
        levels[row["outcome"]] = level
        design = design_kind(row.get("design", ""))
        buckets.setdefault(classify(row, level), []).append(row)
    confidence, conf_reasons = evidence_confidence(evidence)
    est = [r for r in overall.to_dict("records") if estimable(r)]
    n_neg = sum(float(r["estimate"]) < 0 for r in est)
    # nothing improved and two thirds of the estimates below 0: not the wording of a promising pilot
    leaning_negative = bool(est) and not buckets.get("recommend") and 3 * n_neg >= 2 * len(est)
    for rule in ("recommend", "review", "no_large_effect", "evaluate_first", "not_estimable"):
        rows = buckets.get(rule)
        if not rows:
            continue
        figs = []
        for r in rows:
            figs += [f for f in find_figures(manifest, city, r["outcome"]) if f not in figs]
        params = {"city": city, "pilot": pilot, "effects": rows, "design": design,
                  "level": _level_text(min((levels[r["outcome"]] or 0) for r in rows)),
                  "n": len(est), "n_neg": n_neg}
        variant = ""
        if rule == "evaluate_first" and design == "did":
            # a comparison group exists but the design was downgraded: say why, not "add one"
            rule = "strengthen_first"
            params["downgrades"] = unmet_criteria(evidence)
        elif rule in ("recommend", "review") and confidence == "low":
            # design level 3, but the estimate is held with low confidence (few clusters,
            # trend imbalance…): an effect is not attributed to the pilot on that basis
            rule = "strengthen_first"
            params["downgrades"] = conf_reasons
        if rule == "strengthen_first":
            # a pilot whose estimates lean negative is not "promising but unproven"
            variant = "negative" if leaning_negative or rows[0] in buckets.get("review", []) else ""
        elif rule == "recommend" and len(rows) == 1 and len(est) >= 5:
            # one indicator of many passing 5 %: chance alone does that about once in 20 tests
            variant = "single"
        elif rule == "recommend" and confidence == "moderate":
            variant = "moderate"
            params["downgrades"] = conf_reasons
        elif rule == "no_large_effect":
            params["bounds"] = [r for r in rows if pd.notna(r["ci_high"])]
            if buckets.get("recommend") or buckets.get("review"):
                # the other indicators of a pilot that moved some; under high confidence, what did
                # not move is a finding in its own right (the brief keeps it)
                variant = "precise_rest" if confidence == "high" else "rest"
            elif leaning_negative:
                variant = "negative"
            elif confidence == "high":
                variant = "precise"  # a well-powered null says something: it is not a failure
        elif rule == "evaluate_first" and leaning_negative:
            variant = "negative"
        recs.append(Recommendation(rule, city, params, _sources(city, ("impact", "evidence"), figs[:3]),
                                   variant=variant))

    # for whom: targeted groups whose effect differs from the rest's
    res = _residents(impact)
    # the impact schema always has group, diff_vs_rest and diff_p_value
    groups = res[res["group"] != "all"]
    for row in groups.to_dict("records"):
        level = levels.get(row["outcome"]) or level_of(row["outcome"])
        p = pd.to_numeric(pd.Series([row["diff_p_value"]]), errors="coerce").iloc[0]
        if level is None or level < MIN_LEVEL or pd.isna(p) or p >= ALPHA:
            continue
        figs = find_figures(manifest, city, row["outcome"], words=("group", "impact", "effect"))
        recs.append(Recommendation("for_whom", city, {
            "city": city, "pilot": pilot, "outcome": row["outcome"], "group": row["group"],
            "est": float(row["estimate"]), "diff": float(row["diff_vs_rest"]), "diff_p": float(p),
        }, _sources(city, ("impact",), figs), variant="plain"))

    # officers (before/after officer survey)
    # the impact schema's population codes: residents, officers
    off = impact[(impact["population"] == "officers") & (impact["group"] == "all")]
    if len(off):
        changed = [r for r in off.to_dict("records") if _ci_excludes_zero(r) != 0]
        figs = find_figures(manifest, city, None, words=("officer",))
        rule = "officers_change" if changed else "officers_null"
        params = {"city": city, "pilot": pilot,
                  "design": "did_trained" if (off["design"] == "did_trained").any() else "pre_post"}
        if changed:
            params["effects"] = changed
        # officers were not assigned to training at random: a change, never an effect
        recs.append(Recommendation(rule, city, params, _sources(city, ("impact",), figs), variant="survey"))
    return recs


def _level_text(level: int | None) -> str:
    return "?" if not level else str(level)


def pooled_recommendations(pooled: pd.DataFrame, manifest: pd.DataFrame | None = None) -> list[Recommendation]:
    """Cross-city statements from ``reports/tables/cross-city/pooled.csv``.

    One statement per outcome pooled over at least two cities (residents, all), and one
    about heterogeneity when I² >= :data:`HIGH_I2`.
    """
    recs: list[Recommendation] = []
    if pooled is None or pooled.empty or "outcome" not in pooled.columns:
        return recs
    # the headline pool (DiD with comparison areas) for all residents; pre/post cities are pooled apart
    df = pooled[(pooled["group"] == "all") & pooled["headline"].astype(bool)]
    # the pooled schema declares I² a share (0-1); the rules and sentences use percent
    i2_percent = 100.0 if tables.schema("pooled").column("i2").unit == "share" else 1.0
    for row in df.to_dict("records"):
        k = int(row["k"])
        if k < 2:
            continue
        i2 = float(row["i2"]) * i2_percent if pd.notna(row["i2"]) else float("nan")
        tau2 = float(row["tau2"]) if pd.notna(row["tau2"]) else float("nan")
        figs = find_figures(manifest, "cross-city", row["outcome"], words=("forest", "pooled"))
        src = _sources("cross-city", ("pooled",), figs)
        sign = _ci_excludes_zero(row)
        params = {"outcome": row["outcome"], "est": float(row["estimate"]), "lo": float(row["ci_low"]),
                  "hi": float(row["ci_high"]), "scale": scale_text(row["outcome"], row.get("scale")),
                  "k": str(k), "i2": i2, "tau2": tau2,
                  "pi": (float(row.get("pi_low", float("nan"))), float(row.get("pi_high", float("nan"))))}
        recs.append(Recommendation("pooled_effect" if sign else "pooled_null", "cross-city", params, src))
        if i2 == i2 and i2 >= HIGH_I2:
            recs.append(Recommendation("heterogeneous", "cross-city",
                                       {"outcome": row["outcome"], "i2": i2, "tau2": tau2}, src))
    return recs


def evaluation_recommendations(results: dict[str, dict[str, pd.DataFrame | None]]) -> list[Recommendation]:
    """Lessons for the next evaluation, from the cities' designs (theme ``evaluation_practice``).

    ``eval_comparison``: cities without comparison areas (Maryland level 2) cannot attribute
    any change to their pilot. ``eval_clusters``: cities whose confidence was lowered by too
    few neighbourhoods. Each cites the evidence tables of the cities it names.
    """
    pre_post, few, threshold = [], [], None
    for city, city_tables in results.items():
        impact, evidence = city_tables.get("impact"), city_tables.get("evidence")
        if impact is None:
            continue
        overall = overall_rows(impact)
        if len(overall) and "design" in overall.columns and design_kind(overall["design"].iloc[0]) == "pre_post":
            pre_post.append(city)
        elif "few_clusters" in evidence_confidence(evidence)[1]:
            few.append(city)
            rows = evidence[evidence["criterion"].astype("str") == "clusters"]
            t = pd.to_numeric(rows["threshold"], errors="coerce").dropna() if "threshold" in rows else []
            threshold = int(t.iloc[0]) if len(t) else threshold
    recs = []
    for rule, cities in (("eval_comparison", pre_post), ("eval_clusters", few)):
        if cities:
            src = tuple(s for c in cities for s in _sources(c, ("evidence",), []))
            recs.append(Recommendation(rule, "cross-city", {"cities": cities, "threshold": str(threshold or 10)},
                                       src))
    return recs


def build_recommendations(results: dict[str, dict[str, pd.DataFrame | None]],
                          pooled: pd.DataFrame | None, manifest: pd.DataFrame | None = None,
                          pilots: dict[str, str] | None = None,
                          themes: dict[str, str | None] | None = None) -> list[Recommendation]:
    """Every statement: per city (report order), then the evaluation lessons, then cross-city;
    each filed under its theme (:func:`theme_of`).

    Parameters
    ----------
    results : dict
        ``{city: {"impact": DataFrame, "evidence": DataFrame or None}}`` for the cities
        whose impact table could be read.
    pooled : pandas.DataFrame or None
    manifest : pandas.DataFrame, optional
    pilots : dict, optional
        ``{city: pilot name}``.
    themes : dict, optional
        ``{city: profile pilot.theme}``; a city without one is filed under ``other``.
    """
    recs: list[Recommendation] = []
    for city, city_tables in results.items():
        if city_tables.get("impact") is None:
            continue
        recs += city_recommendations(city, city_tables["impact"], city_tables.get("evidence"), manifest,
                                     (pilots or {}).get(city))
    if len(results) > 1:  # lessons across cities; a city's own report has its own evidence table
        recs += evaluation_recommendations(results)
    if pooled is not None:
        recs += pooled_recommendations(pooled, manifest)
    return [dataclasses.replace(r, theme=theme_of(r, themes)) for r in recs]
