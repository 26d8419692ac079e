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

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.inputs import codebook
from analysis.config import PATHS
from analysis.publishing import tables
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
    """One generated statement: the rule that fired, its values and its sources."""

    rule: str
    city: str
    params: dict = field(hash=False)
    sources: tuple[Source, ...] = ()

    @property
    def key(self) -> str:
        """Catalogue key of the sentence (``rec.<rule>``)."""
        return f"rec.{self.rule}"

    def text(self, lang: str = "en") -> str:
        """The statement in ``lang``."""

        return tr(self.key, lang, **render_params(self.params, lang))


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
        g = codebook.TARGET_GROUPS[name]
        return g.label_fr if lang == "fr" else g.label_en

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
    return tr("rec.effect", lang, outcome=outcome_label(row["outcome"], lang),
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
    for k, v in params.items():
        if k == "effects":
            out[k] = "; ".join(effect_text(r, lang) for r in v)
        elif k == "bounds":
            # each outcome's upper bound on its own scale: 0-10 and 1-5 bounds do not compare
            out[k] = "; ".join(tr("rec.bound", lang, hi=fmt_num(r["ci_high"], lang),
                                  outcome=outcome_label(r["outcome"], lang),
                                  scale=scale_text(r["outcome"], r.get("scale"))) for r in v)
        elif k == "downgrades":
            out[k] = "; ".join(tr(f"evidence.downgrade.{d}", lang) if has_key(f"evidence.downgrade.{d}")
                               else _reason_word(d, lang) for d in v) or tr("evidence.downgrade", lang)
        elif k == "outcome":
            out[k] = outcome_label(v, lang)
        elif k == "group":
            out[k] = group_label(v, lang)
        elif k == "city":
            out[k] = city_name(v, lang)
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
    names = _profile_names(str(path), stamp)
    if names is None:
        return city.replace("-", " ").capitalize()
    return names[1] if lang == "fr" else names[0]


@functools.lru_cache(maxsize=64)
def _profile_names(path: str, stamp: int | None) -> tuple[str, str] | None:
    # cached by path and modification time: profiles are read once per report, not per sentence

    if stamp is None:
        return None
    try:
        p = load_profile(Path(path))
    except (ProfileError, OSError):
        return None
    return p.name, p.name_fr or p.name


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
    buckets: dict[str, list[dict]] = {}
    levels = {}
    design = "unknown"
    for row in overall.to_dict("records"):
        level, _ = evidence_level(evidence, row["outcome"])
        levels[row["outcome"]] = level
        design = design_kind(row.get("design", ""))
        buckets.setdefault(classify(row, level), []).append(row)
    for rule in ("recommend", "review", "no_large_effect", "evaluate_first", "not_estimable"):
        rows = buckets.get(rule)
        if not rows:
            continue
        figs = []
        for r in rows:
            figs += [f for f in find_figures(manifest, city, r["outcome"]) if f not in figs]
        params = {"city": city, "pilot": pilot, "effects": rows, "design": design,
                  "level": _level_text(min((levels[r["outcome"]] or 0) for r in rows))}
        if rule == "evaluate_first" and design == "did":
            # a comparison group exists but the design was downgraded: say why, not "add one"
            rule = "strengthen_first"
            params["downgrades"] = unmet_criteria(evidence)
        elif rule in ("recommend", "review") and evidence_confidence(evidence)[0] == "low":
            # design level 3, but the estimate is held with low confidence (few clusters,
            # trend imbalance…): an effect is not attributed to the pilot on that basis
            rule = "strengthen_first"
            params["downgrades"] = evidence_confidence(evidence)[1]
        if rule == "no_large_effect":
            params["bounds"] = [r for r in rows if pd.notna(r["ci_high"])]
        recs.append(Recommendation(rule, city, params, _sources(city, ("impact", "evidence"), figs[:3])))

    # for whom: targeted groups whose effect differs from the rest's
    res = _residents(impact)
    # the impact schema always has group, diff_vs_rest and diff_p_value
    groups = res[res["group"] != "all"]
    for row in groups.to_dict("records"):
        level = levels.get(row["outcome"], evidence_level(evidence, row["outcome"])[0])
        p = pd.to_numeric(pd.Series([row["diff_p_value"]]), errors="coerce").iloc[0]
        if level is None or level < MIN_LEVEL or pd.isna(p) or p >= ALPHA:
            continue
        figs = find_figures(manifest, city, row["outcome"], words=("group", "impact", "effect"))
        recs.append(Recommendation("for_whom", city, {
            "city": city, "pilot": pilot, "outcome": row["outcome"], "group": row["group"],
            "est": float(row["estimate"]), "diff": float(row["diff_vs_rest"]), "diff_p": float(p),
        }, _sources(city, ("impact",), figs)))

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
        recs.append(Recommendation(rule, city, params, _sources(city, ("impact",), figs)))
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


def build_recommendations(results: dict[str, dict[str, pd.DataFrame | None]],
                          pooled: pd.DataFrame | None, manifest: pd.DataFrame | None = None,
                          pilots: dict[str, str] | None = None) -> list[Recommendation]:
    """Every statement: per city (report order) then cross-city.

    Parameters
    ----------
    results : dict
        ``{city: {"impact": DataFrame, "evidence": DataFrame or None}}`` for the cities
        whose impact table could be read.
    pooled : pandas.DataFrame or None
    manifest : pandas.DataFrame, optional
    pilots : dict, optional
        ``{city: pilot name}``.
    """
    recs: list[Recommendation] = []
    for city, tables in results.items():
        if tables.get("impact") is None:
            continue
        recs += city_recommendations(city, tables["impact"], tables.get("evidence"), manifest,
                                     (pilots or {}).get(city))
    if pooled is not None:
        recs += pooled_recommendations(pooled, manifest)
    return recs
