"""Cross-city synthesis: forest plots, random-effects pooling, pilot types, benchmarks.

Owns pooling the cities' effects (random effects, HKSJ, leave one out) and the benchmark.
Must not re-estimate a city: it reads the cities' published impact tables.

Each city's effect is its DiD (or pre/post) estimate from ``reports/tables/<city>/impact.csv``.
Pooling does not overclaim:

- **Designs apart.** Only difference-in-differences with comparison areas enters the
  headline pool (the design the report treats as able to attribute an effect); pre/post
  cities, whose estimates carry their city's trend, are pooled among themselves and shown
  apart, never mixed in.
- **Within-city variances from the city's own inference.** The forest plot draws each
  city's wild cluster bootstrap (WCR) interval; the city's variance in the pool is derived
  from that interval, se = (hi - lo) / (2 t_{G-1}) (:func:`within_std_error`), not from
  its CRV1 standard error, which with few clusters runs below the true spread.
- **HKSJ.** The pooled interval is Hartung-Knapp-Sidik-Jonkman (t with k - 1 df) with the
  max(1, q) floor, around a REML random-effects mean, with a 95 % prediction interval
  for a new city (:func:`random_effects`). ``benchmarks/simulate_did.py`` measured its
  coverage with 5-10 cities of 6-10 clusters and no real heterogeneity: 0.965 (400
  replications), where the former DerSimonian-Laird normal interval on CRV1 variances
  covered 0.912.
- **Leave one city out** (:func:`leave_one_out`): does the conclusion rest on one city?

Cochran's Q and I² still use the within-city variances as if known; estimated from few
clusters they are noisy, so Q rejects homogeneity more often than its nominal level
(0.22 at the 10 % level in the same simulation; 0.34 with CRV1 variances): read I² as
an upper-leaning description, not a test.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import CROSS_CITY, K_SUPPRESS, PATHS, list_cities
from analysis.sdc import publish_count
from analysis.statistics.evidence import MAIN_INDICATORS
from analysis.inputs.profile import ProfileError, load_profile
from analysis.io import SYNTHETIC_NOTE
from analysis.statistics import ess
from analysis.statistics.evaluation import with_weights
from analysis.io import read_processed
from analysis.publishing import figures, tables, text
from analysis import io


def _tau2(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """Between-city variance τ² by DerSimonian-Laird, Paule-Mandel or REML (truncated at 0).

    DL is the method-of-moments estimate from Cochran's Q. PM solves
    Σ w_i (y_i - μ)² = k - 1 with w_i = 1/(v_i + τ²) (generalised Q equal to its
    expectation). REML iterates the fixed point
    τ² = Σ w_i² ((y_i - μ)² - v_i) / Σ w_i² + 1 / Σ w_i (Viechtbauer 2005), started at DL.
    Iterations stop on a *relative* change below 1e-10, so the result does not depend on
    the last bits of the arithmetic.
    """
    k = len(y)
    w = 1 / v
    mu = np.sum(w * y) / w.sum()
    q = float(np.sum(w * (y - mu) ** 2))
    dl = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    if method == "dl":
        return dl
    if method == "pm":
        def gen_q(t2):
            wt = 1 / (v + t2)
            m = np.sum(wt * y) / wt.sum()
            return float(np.sum(wt * (y - m) ** 2)) - (k - 1)
        if gen_q(0.0) <= 0:
            return 0.0
        hi = max(dl, float(np.var(y, ddof=1)), 1e-12)
        while gen_q(hi) > 0:
            hi *= 2
        from scipy.optimize import brentq

        return float(brentq(gen_q, 0.0, hi, xtol=1e-14, rtol=1e-12))
    if method == "reml":
        t2 = dl
        for _ in range(1000):
            wt = 1 / (v + t2)
            m = np.sum(wt * y) / wt.sum()
            new = max(0.0, float(np.sum(wt**2 * ((y - m) ** 2 - v)) / np.sum(wt**2) + 1 / wt.sum()))
            if abs(new - t2) <= 1e-10 * max(new, t2, 1e-12):
                return new
            t2 = new
        return t2
    raise ValueError(f"unknown τ² method {method!r}: expected 'dl', 'pm' or 'reml'")


def random_effects(estimates, std_errors, *, method: str = "reml", ci: str = "hksj",
                   level: float = 0.95, hksj_floor: bool = True, labels=None) -> dict:
    """Random-effects pooled estimate of k effects, with a prediction interval.

    Parameters
    ----------
    estimates, std_errors : array-like
        Effects and their within-city standard errors (same scale). Non-finite or
        non-positive standard errors are dropped.
    method : {"reml", "dl", "pm"}
        Estimator of the between-city variance τ² (REML by default, as metafor).
    ci : {"hksj", "wald"}
        ``"hksj"`` (default): Hartung-Knapp-Sidik-Jonkman. The variance of the pooled mean
        is rescaled by q = Σ w_i (y_i - μ)² / (k - 1), w_i = 1/(v_i + τ²), and the interval
        uses Student's t with k - 1 df. With few cities and within-city variances that are
        themselves estimated from few clusters, the normal ("wald") interval that treats
        the v_i as known is too narrow; HKSJ absorbs a common misstatement of the v_i in q.
        ``"wald"``: μ ± z·(Σ w_i)^-1/2 (the classic DerSimonian-Laird interval).
    hksj_floor : bool
        Use max(1, q) in place of q (the ad hoc HKSJ correction, Knapp & Hartung 2003;
        Röver, Knapp & Friede 2015). Plain HKSJ gives an interval *narrower* than the
        Wald one when the effects agree more than their variances predict (q < 1): two
        pre/post cities with near-equal estimates got a pooled interval narrower than
        either city's. The floor prevents that; set False for textbook HKSJ (metafor
        ``test="knha"``).
    level : float
        Confidence level of both intervals.
    labels : list of str, optional
        Unused but kept for callers that pass the city names.

    Returns
    -------
    dict
        ``k``, ``estimate``, ``std_error`` (of the mean, HKSJ-scaled when ``ci="hksj"``),
        ``ci_low``, ``ci_high``, ``df`` (k - 1 for HKSJ, inf for Wald), ``p_value``,
        ``pi_low``, ``pi_high`` (prediction interval for a new city's true effect,
        μ ± t_{k-2} √(τ² + SE²), Higgins, Thompson & Spiegelhalter 2009; needs k ≥ 3),
        ``tau2``, ``i2`` (share), ``q`` (Cochran's Q, fixed-effect weights),
        ``q_p_value``, ``hksj_q`` (the HKSJ scale factor q before any floor), ``method``,
        ``ci_method`` ("hksj", "hksj_floor" or "wald").
    """
    from scipy import stats

    y = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    y, se = y[ok], se[ok]
    k = len(y)
    if ci not in ("hksj", "wald"):
        raise ValueError(f"unknown interval {ci!r}: expected 'hksj' or 'wald'")
    out = dict(k=k, estimate=np.nan, std_error=np.nan, ci_low=np.nan, ci_high=np.nan, df=np.nan,
               p_value=np.nan, pi_low=np.nan, pi_high=np.nan, tau2=np.nan, i2=np.nan, q=np.nan,
               q_p_value=np.nan, hksj_q=np.nan, method=method,
               ci_method="hksj_floor" if ci == "hksj" and hksj_floor else ci)
    a = 1 - (1 - level) / 2
    if k == 0:
        return out
    if k == 1:
        z = stats.norm.ppf(a)
        out.update(estimate=y[0], std_error=se[0], ci_low=y[0] - z * se[0], ci_high=y[0] + z * se[0])
        return out
    v = se**2
    w = 1 / v
    mu_fe = np.sum(w * y) / w.sum()
    q = float(np.sum(w * (y - mu_fe) ** 2))
    tau2 = _tau2(y, v, method)
    wr = 1 / (v + tau2)
    mu = float(np.sum(wr * y) / wr.sum())
    hq = float(np.sum(wr * (y - mu) ** 2) / (k - 1))
    if ci == "hksj":
        sd, df = float(np.sqrt((max(1.0, hq) if hksj_floor else hq) / wr.sum())), k - 1
        crit = stats.t.ppf(a, df)
        p = float(2 * stats.t.sf(abs(mu / sd), df)) if sd > 0 else np.nan
    else:
        sd, df = float(np.sqrt(1 / wr.sum())), np.inf
        crit = stats.norm.ppf(a)
        p = float(2 * stats.norm.sf(abs(mu / sd)))
    if k >= 3:
        half = stats.t.ppf(a, k - 2) * np.sqrt(tau2 + sd**2)
        out.update(pi_low=mu - half, pi_high=mu + half)
    out.update(estimate=mu, std_error=sd, ci_low=mu - crit * sd, ci_high=mu + crit * sd, df=df,
               p_value=p, tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0, q=q,
               q_p_value=float(stats.chi2.sf(q, k - 1)), hksj_q=hq)
    return out


def load_tables(name: str, cities: list[str] | None = None) -> pd.DataFrame:
    """Concatenate ``reports/tables/<city>/<name>.csv`` over the cities that have it.

    Default: every city with a profile in ``config/cities`` (not only the nine partners),
    so that a city added by profile enters the synthesis; :func:`coverage` says which
    cities were left out and why. Each table is read through the contract
    (:func:`analysis.publishing.tables.read`: validated, codes as text); its integer
    columns come back as floats (NaN where blank), as the estimators expect.
    """

    frames = []
    for city in cities or list_cities():
        if tables.schema(name).path(city).is_file():
            frames.append(tables.plain(tables.read(name, city)))
    if not frames:
        raise FileNotFoundError(f"no reports/tables/<city>/{name}.csv found: run notebooks/03-impact.ipynb first")
    return pd.concat(frames, ignore_index=True).drop(columns=["data_status"], errors="ignore")


def coverage(name: str = "impact", cities: list[str] | None = None) -> pd.DataFrame:
    """Which cities the synthesis uses, and why the others are left out (codes).

    ``reason``: ``""`` (included), ``step_failed`` (a pipeline step of the city failed:
    its results were withdrawn), ``no_results`` (the city's impact step has not run).
    """

    rows = []
    for city in cities or list_cities():
        has = (PATHS.tables_city(city) / f"{name}.csv").is_file()
        failed = any((PATHS.reports / ".stamps" / city).glob("*.failed"))
        reason = "" if has and not failed else ("step_failed" if failed else "no_results")
        rows.append({"city": city, "included": has and not failed, "reason": reason})
    return pd.DataFrame(rows, columns=["city", "included", "reason"])


#: Designs pooled apart, in order; only the first can attribute an effect (headline pool).
POOLS: tuple[tuple[str, bool], ...] = (("did", True), ("pre_post", False))


def within_std_error(rows: pd.DataFrame, source: str = "wcr", level: float = 0.95) -> pd.Series:
    """Each city's within-city standard error, consistent with its own interval.

    ``source="wcr"`` (default): se = (hi - lo) / (2 t_{G-1}), from the city's published
    95 % wild cluster bootstrap interval (``ci_low``, ``ci_high``) and its G clusters
    (``n_clusters``). The forest plot draws that interval, so the pooled diamond and the
    city bars rest on the same uncertainty; the t quantile with G - 1 df is the one the
    CRV1 interval uses, so for a symmetric interval the derived se is the CRV1 standard
    error that would give the same width. A WCR interval can be asymmetric: its half
    width is used. An unbounded or missing interval gives NaN (the city is then not
    pooled: its data do not bound the effect).
    ``source="crv1"``: the CRV1 standard error (``std_error``), as before.
    """
    from scipy import stats

    if source == "crv1":
        return rows["std_error"].astype(float)
    if source != "wcr":
        raise ValueError(f"unknown variance source {source!r}: expected 'wcr' or 'crv1'")
    lo, hi = rows["ci_low"].astype(float), rows["ci_high"].astype(float)
    g = rows["n_clusters"].astype(float)
    q = pd.Series(stats.t.ppf(1 - (1 - level) / 2, np.maximum(g - 1, 1)), index=rows.index)
    se = (hi - lo) / (2 * q)
    return se.where(np.isfinite(se) & (se > 0) & (g >= 2))


def _pool_rows(impacts: pd.DataFrame, outcome: str, group: str, designs) -> pd.DataFrame:
    res = impacts[impacts["population"] == "residents"]
    d = res[(res["outcome"] == outcome) & (res["group"] == group) & res["design"].isin(designs)]
    return d[d["estimate"].notna()]


def pooled_table(impacts: pd.DataFrame, *, outcomes: tuple[str, ...] = MAIN_INDICATORS,
                 groups: tuple[str, ...] = ("all",), pools: tuple[tuple[str, bool], ...] = POOLS,
                 method: str = "reml", ci: str = "hksj", variance: str = "wcr",
                 hksj_floor: bool = True) -> pd.DataFrame:
    """Random-effects pooled effect per outcome, group and design (``pooled.csv``).

    Designs are pooled apart: difference-in-differences with comparison areas is the
    headline pool (``headline`` True), the only design the report treats as able to
    attribute an effect to the pilots; pre/post cities, whose estimates carry their
    city's trend, are pooled among themselves and never mixed into the headline figure.
    Defaults: REML τ², HKSJ interval, prediction interval, within-city variances from
    each city's own WCR interval (:func:`within_std_error`).

    Columns: ``outcome``, ``group``, ``designs``, ``headline``, ``variance`` (source of
    the within-city variances), ``cities`` (pooled), ``not_pooled`` (cities left out
    because their interval is unbounded), then :func:`random_effects`' keys.
    """
    rows = []
    for outcome in outcomes:
        for group in groups:
            for design, headline in pools:
                d = _pool_rows(impacts, outcome, group, (design,))
                if design != "did" and d.empty:
                    continue
                se = within_std_error(d, variance)
                ok = se.notna()
                pooled = random_effects(d["estimate"][ok], se[ok], method=method, ci=ci,
                                        hksj_floor=hksj_floor)
                rows.append({"outcome": outcome, "group": group, "designs": design, "headline": headline,
                             "variance": variance, "cities": ", ".join(d["city"][ok]),
                             "not_pooled": ", ".join(d["city"][~ok]), **pooled})
    return pd.DataFrame(rows)


def headline_rows(pooled: pd.DataFrame) -> pd.DataFrame:
    """The headline pool's rows (DiD with comparison areas); all rows of an older table."""
    if "headline" not in pooled.columns:
        return pooled
    return pooled[pooled["headline"].astype("str").str.lower().isin(["true", "1"])]


def leave_one_out(impacts: pd.DataFrame, *, outcomes: tuple[str, ...] = MAIN_INDICATORS,
                  design: str = "did", method: str = "reml", ci: str = "hksj",
                  variance: str = "wcr") -> pd.DataFrame:
    """Leave-one-city-out check of the headline pool (``pooled-loo.csv``).

    One row per outcome and left-out city (``left_out`` "none" is the full pool): the
    pooled estimate, its interval, τ² and I² without that city, and ``shift`` (estimate
    minus the full pool's). ``changes_sign`` is True when dropping the city moves the
    interval from excluding zero to including it, or the reverse: the conclusion then
    rests on one city.
    """
    rows = []
    for outcome in outcomes:
        d = _pool_rows(impacts, outcome, "all", (design,))
        se = within_std_error(d, variance)
        d, se = d[se.notna()], se[se.notna()]
        full = random_effects(d["estimate"], se, method=method, ci=ci)
        full_excl = bool(full["ci_low"] > 0 or full["ci_high"] < 0)
        for left in ["none", *d["city"]]:
            keep = (d["city"] != left).to_numpy()
            r = random_effects(d["estimate"][keep], se[keep], method=method, ci=ci)
            excl = bool(r["ci_low"] > 0 or r["ci_high"] < 0)
            rows.append({"outcome": outcome, "left_out": left, "k": r["k"], "estimate": r["estimate"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"], "tau2": r["tau2"], "i2": r["i2"],
                         "shift": r["estimate"] - full["estimate"],
                         "changes_sign": left != "none" and r["k"] >= 2 and excl != full_excl})
    return pd.DataFrame(rows)


def pilot_types(impacts: pd.DataFrame, profiles: dict, *, outcome: str = "trust_police",
                alpha: float = 0.05, lang: str = "en") -> pd.DataFrame:
    """Which pilot kinds moved ``outcome`` for which groups: effect (p) per kind x group.

    One row per city; columns per group hold "effect [ci]" with a star when p < alpha.
    The pilot kinds are the profiles' texts in ``lang`` where set (English otherwise).
    """
    res = impacts[(impacts["population"] == "residents") & (impacts["outcome"] == outcome)]
    rows = []
    for city, d in res.groupby("city", sort=False):
        prof = profiles[city]
        row = {"city": city, "kind": prof.pilot.text("kind", lang), "design": d["design"].iloc[0]}
        for _, r in d.iterrows():
            if np.isfinite(r["estimate"]):
                star = "*" if r["p_value"] < alpha else ""
                row[r["group"]] = f"{r['estimate']:+.2f}{star}"
            else:
                row[r["group"]] = "–"
        rows.append(row)
    out = pd.DataFrame(rows)
    cols = ["city", "kind", "design", "all"] + [g for g in codebook.TARGET_GROUPS if g in out.columns]
    return out[cols].fillna("")


def ratings(evidence: pd.DataFrame) -> pd.DataFrame:
    """Each city's three ratings side by side (codes and numbers; the report words them).

    Columns: ``city``, ``design`` (code), ``sms_level`` (Maryland, from the design alone),
    ``confidence`` (high / moderate / low), ``confidence_reasons`` (codes), then one column
    per main indicator with its effect direction code and estimate [95 % CI].
    """
    rows = []
    for city, d in evidence.groupby("city", sort=False):
        design = d[d["rating"] == "design"].iloc[0]
        conf = d[(d["rating"] == "confidence") & (d["criterion"] == "confidence")].iloc[0]
        row = {"city": city, "design": design["code"], "sms_level": int(design["level"]),
               "confidence": conf["code"],
               "confidence_reasons": "" if pd.isna(conf["reason"]) else str(conf["reason"])}
        for _, e in d[d["rating"] == "effect"].iterrows():
            est = pd.to_numeric(pd.Series([e["value"]]), errors="coerce").iloc[0]
            row[e["criterion"]] = (f"{e['code']} {est:+.2f} [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
                                   if np.isfinite(est) else str(e["code"]))
        rows.append(row)
    return pd.DataFrame(rows)


def city_label(city: str, lang: str = "en") -> str:
    """The city's name in ``lang`` from its profile (the slug when there is no profile)."""

    try:
        prof = load_profile(city)
    except ProfileError:
        return city
    return text.city_name(prof, lang)


def forest_plot(impacts: pd.DataFrame, pooled: pd.DataFrame, outcome: str, *, lang: str = "en", ax=None):
    """Forest plot of the cities' effects on ``outcome`` with the pooled random-effects diamond.

    Blue: difference-in-differences (the headline pool); red: pre/post (shown, not in the
    headline pool). City bars are the cities' own 95 % WCR intervals; the diamond is the
    headline pool's HKSJ interval (within-city variances derived from those same WCR
    intervals) and the thin line under it the 95 % prediction interval.
    """
    import matplotlib.pyplot as plt

    d = impacts[(impacts["population"] == "residents") & (impacts["outcome"] == outcome)
                & (impacts["group"] == "all")].reset_index(drop=True)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.45 * (len(d) + 3) + 0.8))
    else:
        fig = ax.figure
    ys = np.arange(len(d))[::-1] + 2
    for y, (_, r) in zip(ys, d.iterrows()):
        if not np.isfinite(r["estimate"]):
            ax.text(0, y, text.tr("forest.suppressed", lang), va="center", fontsize=7, color="0.4")
            continue
        colour = "#2166ac" if r["design"] == "did" else "#b2182b"
        lo = r["ci_low"] if np.isfinite(r["ci_low"]) else r["estimate"] - 4 * r["std_error"]
        hi = r["ci_high"] if np.isfinite(r["ci_high"]) else r["estimate"] + 4 * r["std_error"]
        ax.plot([lo, hi], [y, y], color=colour, lw=1.4,
                ls="-" if np.isfinite(r["ci_low"] + r["ci_high"]) else "--")
        ax.plot(r["estimate"], y, "s", color=colour, ms=5)
    p = headline_rows(pooled)
    p = p[(p["outcome"] == outcome) & (p["group"] == "all")]
    if len(p) and np.isfinite(p["estimate"].iloc[0]):
        p = p.iloc[0]
        ax.fill([p["ci_low"], p["estimate"], p["ci_high"], p["estimate"]], [0.8, 1.1, 0.8, 0.5], color="k")
        if "pi_low" in p and np.isfinite(p["pi_low"]) and np.isfinite(p["pi_high"]):
            # prediction interval: where a new city's true effect would lie
            ax.plot([p["pi_low"], p["pi_high"]], [0.8, 0.8], color="k", lw=0.8)
            ax.plot([p["pi_low"], p["pi_high"]], [0.8, 0.8], "|", color="k", ms=6)
        i2 = f", I² = {text.fmt_pct(p['i2'], lang)}" if np.isfinite(p["i2"]) else ""
        tau = f", τ² = {text.fmt_num(p['tau2'], lang, 3)}" if np.isfinite(p["tau2"]) else ""
        pooled_lab = text.tr("forest.pooled", lang, k=int(p["k"]), tau=tau, i2=i2)
    else:
        pooled_lab = text.tr("forest.too_few", lang)
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_yticks([*ys, 0.8])
    designs = {"did": text.tr("forest.did", lang), "pre_post": text.tr("forest.pre_post", lang)}
    ax.set_yticklabels([f"{city_label(c, lang)} ({designs['did' if dz == 'did' else 'pre_post']})"
                        for c, dz in zip(d["city"], d["design"])] + [pooled_lab])
    scale = d["scale"].iloc[0] if len(d) else ""
    ax.set_xlabel(text.tr("forest.xlabel", lang, scale=scale))
    ax.set_title(codebook.label(outcome, lang), fontsize=9)
    text.localise_axes(fig, lang)
    fig.tight_layout()
    return fig


def forest_panel(impacts: pd.DataFrame, pooled: pd.DataFrame, *, lang: str = "en",
                 outcomes: tuple[str, ...] = MAIN_INDICATORS):
    """The forest plots of the main indicators, 2 x 2."""
    import matplotlib.pyplot as plt

    n_cities = impacts["city"].nunique()
    fig, axes = plt.subplots(2, 2, figsize=(11, 0.3 * (n_cities + 3) * 2 + 1.5))
    for ax, o in zip(axes.flat, outcomes):
        forest_plot(impacts, pooled, o, lang=lang, ax=ax)
    fig.tight_layout()
    return fig


def data_status(cities: list[str]) -> str:
    """Say which cities' results come from the synthetic demonstration data."""

    synth = [c for c in cities if load_profile(c).synthetic]
    if len(synth) == len(cities):
        return (f"All {len(cities)} cities: {SYNTHETIC_NOTE}. The comparisons below illustrate "
                "the method; they are not findings about these cities.")
    if synth:
        return f"{SYNTHETIC_NOTE} for: {', '.join(synth)}; the other cities' data are real."
    return "All cities: data delivered by the cities."


#: The city whose survey is set beside the national ESS level (ESS R5 Belgium).
BENCHMARK_CITY = "brussels"


def brussels_benchmark(city: str = BENCHMARK_CITY) -> pd.DataFrame:
    """ESS R5 Belgium levels beside ``city``'s weighted survey means (``benchmark.csv``)."""

    levels = ess.national_levels(ess.ess_to_codebook(ess.load_essbe5()))
    prof = load_profile(city)
    resp, _ = with_weights(read_processed(city, "respondents"), read_processed(city, "weights"))
    years = sorted({w.start.year for w in prof.waves.values()} | {w.end.year for w in prof.waves.values()})
    period = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
    return benchmark_table(levels, resp, city, synthetic=prof.synthetic, period=period)


def plot_benchmark(bench: pd.DataFrame, *, lang: str = "en", indicator: str = "trust_police"):
    """National ESS level (band) beside the city's means by wave and area type."""
    import matplotlib.pyplot as plt

    d = bench[bench["indicator"] == indicator]
    nat = d[d["source"] == ess.SOURCE_CODE].iloc[0]
    city = d[d["source"] != ess.SOURCE_CODE].dropna(subset=["mean"])
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axhspan(nat["ci_low"], nat["ci_high"], color="0.85")
    ax.axhline(nat["mean"], color="0.3", lw=1)
    # every drawn count rounded to base 10 (analysis.publishing.disclosure), even the public ESS one
    ax.text(0.01, nat["mean"], text.tr("bench.ess", lang, mean=text.fmt_num(nat["mean"], lang),
                                       n=publish_count(int(nat["n"]))),
            transform=ax.get_yaxis_transform(), va="bottom", fontsize=7)
    colours = {"pilot": "#b2182b", "comparison": "#2166ac", "other": "0.5"}
    waves = {"baseline": 0, "follow_up": 1}
    for area, g in city.groupby("group"):
        xs = [waves[w] for w in g["wave"]]
        ax.plot(xs, g["mean"], "o-", color=colours.get(area, "k"), label=text.area_label(area, lang))
    ax.set_xticks([0, 1])
    ax.set_xticklabels([text.tr(f"bench.wave.{w}", lang) for w in waves])
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel(codebook.label(indicator, lang))
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_title(text.tr("bench.plot_title", lang, city=city_label(BENCHMARK_CITY, lang)), fontsize=9)
    text.localise_axes(fig, lang)
    fig.tight_layout()
    return fig


def write_outputs(impacts: pd.DataFrame, pooled: pd.DataFrame, bench: pd.DataFrame | None,
                  cities: list[str], notebook: str = "04-compare-cities.ipynb") -> list[str]:
    """Write ``reports/tables/cross-city/{pooled,benchmark}.csv`` and the cross-city figures (en, fr)."""
    import matplotlib.pyplot as plt


    synthetic = any(load_profile(c).synthetic for c in cities)
    tables.write("pooled", pooled, synthetic=synthetic)
    tables.write("coverage", coverage(), synthetic=synthetic)
    written = ["tables/cross-city/pooled.csv", "tables/cross-city/coverage.csv"]
    figures.apply_style()
    specs = [("forest-main", lambda lang: forest_panel(impacts, pooled, lang=lang), impacts, [impacts, pooled],
              lambda lang: text.tr("forest.title", lang), lambda lang: text.tr("forest.caption", lang))]
    loo = leave_one_out(impacts)
    tables.write("pooled_loo", loo, synthetic=synthetic)
    written.append("tables/cross-city/pooled-loo.csv")
    if bench is not None:
        # data_status is per row (ESS rows are real data): never overwritten for the table
        tables.write("benchmark", bench, synthetic=False)
        written.append("tables/cross-city/benchmark.csv")
        specs.append(("benchmark-ess-brussels", lambda lang: plot_benchmark(bench, lang=lang), bench, [bench],
                      lambda lang: text.tr("bench.title", lang, city=city_label(BENCHMARK_CITY, lang)),
                      lambda lang: text.tr("bench.caption", lang, city=city_label(BENCHMARK_CITY, lang))))
    words = figures.words_digest()
    for fig_id, draw, data, drawn_from, title, caption in specs:
        checksum = io.sha256_frame(data.astype(str))
        for lang in text.LANGS:
            # everything the figure is drawn from: a city whose estimates did not move leaves
            # the benchmark as it was, and a rerun with nothing changed draws nothing
            content = hashlib.sha256(json.dumps({
                "figure": fig_id, "lang": lang, "title": title(lang), "caption": caption(lang),
                "synthetic": synthetic, "notebook": notebook, "words": words, "code": figures.style_digest(),
                "data": [io.sha256_frame(d.astype(str), 64) for d in drawn_from]}, sort_keys=True).encode()).hexdigest()
            if figures.is_current(CROSS_CITY, fig_id, lang, content) is None:
                fig = draw(lang)
                figures.save_figure(fig, city=CROSS_CITY, fig_id=fig_id, title=title(lang),
                                    caption=caption(lang), notebook=notebook, section="synthesis",
                                    data_checksum=checksum, synthetic=synthetic, lang=lang, content_key=content)
                plt.close(fig)
        written.append(f"figures/cross-city/{fig_id}")
    return written


def benchmark_table(ess_levels: pd.DataFrame, respondents: pd.DataFrame, city: str,
                    *, weights: str | None = "weight", k: int | None = None, synthetic: bool = True,
                    period: str = "") -> pd.DataFrame:
    """National ESS levels beside a city's weighted means by wave and area (``benchmark.csv``).

    City cells under ``k`` respondents are suppressed. ``data_status`` belongs to each
    row, not to the table: the ESS rows are real microdata (:data:`analysis.statistics.ess.DATA_STATUS`)
    even when the city rows are synthetic (``synthetic``). ``area``, ``period`` and
    ``weighting`` say what is set side by side: a national, unweighted 2010 mean beside
    the city's neighbourhoods in ``period`` (e.g. "2014-2015"), weighted. ``source`` is a
    code (``ess_r5_belgium``, ``city_survey``) and ``wave`` a column of its own.
    """

    k = K_SUPPRESS if k is None else k
    status = SYNTHETIC_NOTE if synthetic else "real data (city survey)"
    rows = [ess_levels]
    w = respondents[weights] if weights else pd.Series(1.0, index=respondents.index)
    for ind in ess_levels["indicator"]:
        for (wave, area), d in respondents.groupby(["wave", "pilot_area"], observed=True):
            ok = d[ind].notna()
            x, ww = d.loc[ok, ind].astype(float), w[d.index][ok].astype(float)
            n = int(ok.sum())
            mean = float(np.average(x, weights=ww)) if n >= k else np.nan
            rows.append(pd.DataFrame([{"data_status": status, "source": "city_survey", "city": city,
                                       "wave": wave, "area": "neighbourhoods", "period": period, "weighting": "weighted",
                                       "indicator": ind, "group": area, "mean": mean, "ci_low": np.nan,
                                       "ci_high": np.nan, "n": n}]))
    out = pd.concat(rows, ignore_index=True)
    if "data_status" not in ess_levels.columns:  # levels from an older caller
        out.loc[out["source"] == ess.SOURCE_CODE, "data_status"] = ess.DATA_STATUS
    return out
