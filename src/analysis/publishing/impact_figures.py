"""The impact figures of a city: effects on residents, by group, officers, and the activity timeline.

Owns drawing and saving them from the published impact tables. Must not estimate anything.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import K_SUPPRESS
from analysis.sdc import publish_count
from analysis.statistics.evaluation import CityEvaluation
from analysis.publishing import figures
from analysis import io
from analysis.statistics import implementation as imp

# ============================================================================ figures
_TXT = {
    "effect": ("Effect (points on the indicator's scale), 95% CI", "Effet (points sur l'échelle de l'indicateur), IC 95 %"),
    "did": ("pilot vs comparison areas, follow-up vs baseline", "zones pilotes vs zones de comparaison, suivi vs initial"),
    "pre_post": ("pilot areas, follow-up vs baseline (no comparison area)",
                 "zones pilotes, suivi vs initial (sans zone de comparaison)"),
    "suppressed": ("suppressed (< {k})", "masqué (< {k})"),
    "not_estimable": ("not estimable with this design", "non estimable avec ce dispositif"),
    "not_collected": ("not collected", "non collecté"),
    "residents": ("Effects of the pilot on residents", "Effets du pilote sur les habitants"),
    "groups": ("Effects by targeted group", "Effets par groupe ciblé"),
    "officers": ("Change among police officers", "Évolution chez les policiers"),
    "all": ("All residents", "Tous les habitants"),
}


def _t(key: str, lang: str) -> str:
    return _TXT[key][1 if lang == "fr" else 0]


def _group_label(g: str, lang: str) -> str:
    if g == "all":
        return _t("all", lang)
    tg = codebook.TARGET_GROUPS[g]
    return tg.label_fr if lang == "fr" else tg.label_en


def _ci_rows(ax, d: pd.DataFrame, ys, colour="#2166ac", lang="en"):
    for y, (_, r) in zip(ys, d.iterrows()):
        if not np.isfinite(r["estimate"]):
            # Each status is worded differently: "not collected" is not a suppression.
            status = r.get("status", "suppressed")
            key = status if status in ("not_estimable", "not_collected") else "suppressed"
            ax.text(0.02, y, _t(key, lang).format(k=K_SUPPRESS), va="center", fontsize=7,
                    color="0.45", style="italic" if key == "not_collected" else "normal",
                    transform=ax.get_yaxis_transform())
            continue
        sig = r["p_value"] < 0.05
        lo, hi = r["ci_low"], r["ci_high"]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            # An unbounded bootstrap interval (too few clusters): drawn dashed to +-4 SE.
            lo = lo if np.isfinite(lo) else r["estimate"] - 4 * r["std_error"]
            hi = hi if np.isfinite(hi) else r["estimate"] + 4 * r["std_error"]
            ax.plot([lo, hi], [y, y], color=colour, lw=1.2, ls="--")
        ax.plot([lo, hi], [y, y], color=colour, lw=1.5)
        ax.plot(r["estimate"], y, "o", color=colour, mfc=colour if sig else "white", ms=5)
    ax.axvline(0, color="0.5", lw=0.8, ls=":")


def plot_effects(impact: pd.DataFrame, *, lang: str = "en"):
    """Coefficient plot of the pilot's effect on every resident indicator (all residents).

    Indicators on 0-10 scales and on short rating scales (1-4, 1-5) are drawn in two
    panels, since a point means different things on them. Filled markers: p < 0.05.
    """
    import matplotlib.pyplot as plt

    d = impact[(impact["population"] == "residents") & (impact["group"] == "all")]
    panels = [d[d["scale"] == "0-10"], d[d["scale"] != "0-10"]]
    panels = [p for p in panels if len(p)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.2, 0.42 * len(d) + 1.6), squeeze=False,
                             height_ratios=[max(len(p), 1) for p in panels])
    for ax, p in zip(axes[:, 0], panels):
        ys = np.arange(len(p))[::-1]
        _ci_rows(ax, p, ys, lang=lang)
        ax.set_yticks(ys)
        ax.set_yticklabels([codebook.label(o, lang) for o in p["outcome"]])
        ax.set_ylim(-0.6, len(p) - 0.4)
    axes[-1, 0].set_xlabel(_t("effect", lang))
    design = d["design"].iloc[0] if len(d) else "did"
    axes[0, 0].set_title(f"{_t('residents', lang)}\n{_t(design, lang)}", loc="left")
    fig.tight_layout()
    return fig


def plot_group_effects(impact: pd.DataFrame, *, lang: str = "en",
                       outcomes: tuple[str, ...] = ("trust_police", "pj_index", "legitimacy_index", "feel_safe_dark")):
    """Effects by targeted group (and for all residents) on the main indicators."""
    import matplotlib.pyplot as plt

    d = impact[(impact["population"] == "residents") & impact["outcome"].isin(outcomes)]
    groups = list(dict.fromkeys(d["group"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(2.3 * len(outcomes) + 1.5, 0.4 * len(groups) + 1.4),
                             sharey=True, squeeze=False)
    ys = np.arange(len(groups))[::-1]
    for ax, o in zip(axes[0], outcomes):
        sub = d[d["outcome"] == o].set_index("group").reindex(groups).reset_index()
        _ci_rows(ax, sub, ys, lang=lang)
        ax.set_title(codebook.label(o, lang).split(" (")[0], fontsize=8)
        scale = sub["scale"].dropna().iloc[0] if sub["scale"].notna().any() else ""
        ax.set_xlabel(scale)
    axes[0, 0].set_yticks(ys)
    axes[0, 0].set_yticklabels([_group_label(g, lang) for g in groups])
    fig.suptitle(_t("groups", lang), x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


def plot_officers(impact: pd.DataFrame, *, lang: str = "en"):
    """Officer-side effects (trained vs untrained DiD, or pre/post), 1-5 scales."""
    import matplotlib.pyplot as plt

    d = impact[impact["population"] == "officers"]
    fig, ax = plt.subplots(figsize=(6.2, 0.45 * max(len(d), 1) + 1.3))
    ys = np.arange(len(d))[::-1]
    _ci_rows(ax, d, ys, colour="#762a83", lang=lang)
    ax.set_yticks(ys)
    ax.set_yticklabels([codebook.label(o, lang, "officers") for o in d["outcome"]])
    design = d["design"].iloc[0] if len(d) else "pre_post"
    how = {"did_trained": ("trained vs untrained, follow-up vs baseline", "formés vs non formés, suivi vs initial"),
           "pre_post": ("follow-up vs baseline", "suivi vs initial")}[design][lang == "fr"]
    ax.set_title(f"{_t('officers', lang)}\n{how}", loc="left")
    ax.set_xlabel(_t("effect", lang))
    fig.tight_layout()
    return fig


def save_impact_figures(ev: "CityEvaluation", profile, notebook: str = "03-impact.ipynb") -> list[str]:
    """Draw and save every impact figure of a city in English and French.

    Returns the figure ids saved (``impact-residents``, ``impact-groups``,
    ``impact-officers``, ``implementation-timeline``).
    """
    import matplotlib.pyplot as plt


    figures.apply_style()
    n = publish_count(int(ev.residents.loc[ev.residents["group"] == "all", "n"].max()))
    design = {"did": ("difference-in-differences", "doubles différences"),
              "pre_post": ("pre/post, no comparison area", "avant/après, sans zone de comparaison")}[ev.design]
    # the caption says what the weights were (analysis.statistics.weights method codes), never "weighted"
    # for a city without margins
    weighting = {"raked_population": ("weighted, raked to the profile's population margins",
                                      "pondéré, calage sur les marges de population du profil"),
                 "raked_population_approx": ("weighted, raked to the profile's population margins "
                                             "(met approximately)",
                                             "pondéré, calage approché sur les marges de population du profil"),
                 "unweighted_no_margins": ("unweighted: no population margins for this city",
                                           "non pondéré : pas de marges de population pour cette ville"),
                 "given": ("weighted with the weights supplied with the data",
                           "pondéré par les poids fournis avec les données")}.get(
        getattr(ev, "weighting", None), ("weighting method not stated", "méthode de pondération non indiquée"))
    specs = [
        ("impact-residents", lambda lang: plot_effects(ev.impact, lang=lang), ev.residents,
         ("Effects of the pilot on residents", "Effets du pilote sur les habitants"),
         (f"Pilot effect per indicator ({design[0]}; {weighting[0]}; neighbourhood and wave fixed effects, "
          f"age group and gender adjusted); 95% wild cluster bootstrap intervals; up to n = {n} respondents.",
          f"Effet du pilote par indicateur ({design[1]} ; {weighting[1]} ; effets fixes quartier et vague, "
          f"ajusté sur âge et genre) ; intervalles à 95 % par bootstrap sauvage par grappes ; jusqu'à n = {n}.")),
        ("impact-groups", lambda lang: plot_group_effects(ev.impact, lang=lang), ev.residents,
         ("Effects by targeted group", "Effets par groupe ciblé"),
         ("Pilot effect within each targeted group, main indicators; 95% wild cluster bootstrap intervals; "
          f"estimates on fewer than {K_SUPPRESS} respondents per cell are suppressed.",
          "Effet du pilote dans chaque groupe ciblé, indicateurs principaux ; intervalles à 95 % ; "
          f"estimations masquées sous {K_SUPPRESS} répondants par case.")),
        ("impact-officers", lambda lang: plot_officers(ev.impact, lang=lang), ev.officers,
         ("Change among police officers", "Évolution chez les policiers"),
         ("Officer survey, 1-5 scales; standard errors clustered by officer (CRV1), some officers "
          "answered in both waves; small samples.",
          "Enquête auprès des policiers, échelles 1-5 ; erreurs types par grappes de policiers (CRV1), "
          "certains ont répondu aux deux vagues ; petits effectifs.")),
        ("implementation-timeline", lambda lang: imp.plot_timeline(ev.implementation, profile, lang=lang),
         ev.implementation["table"],
         ("Pilot activities over time", "Activités du pilote dans le temps"),
         ("Activities per month by type from the pilot's activity log; grey: survey fieldwork; dashed: pilot period.",
          "Activités par mois et par type (journal du pilote) ; gris : enquêtes ; tirets : période du pilote.")),
    ]
    saved = []
    for fig_id, draw, data, title, caption in specs:
        if fig_id == "impact-officers" and len(ev.officers) == 0:
            continue
        for lang in figures.LANGS:
            fig = draw(lang)
            figures.save_figure(fig, city=ev.city, fig_id=fig_id, title=title[lang == "fr"],
                                caption=caption[lang == "fr"], notebook=notebook,
                                data_checksum=io.sha256_frame(data.astype(str)), synthetic=ev.synthetic,
                                lang=lang)
            plt.close(fig)
        saved.append(fig_id)
    return saved

