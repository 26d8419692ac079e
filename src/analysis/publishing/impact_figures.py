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
from analysis.publishing import figures, text
from analysis import io
from analysis.statistics import implementation as imp

# ============================================================================ figures
def _group_label(g: str, lang: str) -> str:
    return text.tr("fig.group_all", lang) if g == "all" else text.group_label(g, lang)


def _ci_rows(ax, d: pd.DataFrame, ys, colour="#2166ac", lang="en"):
    for y, (_, r) in zip(ys, d.iterrows()):
        if not np.isfinite(r["estimate"]):
            # Each status is worded differently: "not collected" is not a suppression.
            status = r.get("status", "suppressed")
            key = status if status in ("not_estimable", "not_collected") else "suppressed"
            ax.text(0.02, y, text.tr(f"fig.status.{key}", lang, k=K_SUPPRESS), va="center", fontsize=7,
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
    axes[-1, 0].set_xlabel(text.tr("fig.effect_axis", lang))
    design = d["design"].iloc[0] if len(d) else "did"
    axes[0, 0].set_title(f"{text.tr('fig.impact_residents.title', lang)}\n{text.tr(f'fig.design.{design}', lang)}",
                         loc="left")
    text.localise_axes(fig, lang)
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
    fig.suptitle(text.tr("fig.impact_groups.title", lang), x=0.01, ha="left", fontsize=10)
    text.localise_axes(fig, lang)
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
    how = text.tr(f"fig.officers_design.{design}", lang)
    ax.set_title(f"{text.tr('fig.impact_officers.title', lang)}\n{how}", loc="left")
    ax.set_xlabel(text.tr("fig.effect_axis", lang))
    text.localise_axes(fig, lang)
    fig.tight_layout()
    return fig


#: Where each impact figure goes in the report (:data:`analysis.publishing.figures.SECTIONS`).
SECTION: dict[str, str] = {"impact-residents": "effects", "impact-groups": "effects",
                           "impact-officers": "officers", "implementation-timeline": "implementation"}


def save_impact_figures(ev: "CityEvaluation", profile, notebook: str = "03-impact.ipynb") -> list[str]:
    """Draw and save every impact figure of a city in English and French.

    Returns the figure ids saved (``impact-residents``, ``impact-groups``,
    ``impact-officers``, ``implementation-timeline``).
    """
    import matplotlib.pyplot as plt


    figures.apply_style()
    n = publish_count(int(ev.residents.loc[ev.residents["group"] == "all", "n"].max()))
    weighting = getattr(ev, "weighting", None)
    # the caption says what the weights were (analysis.statistics.weights method codes), never "weighted"
    # for a city without margins
    weighting = weighting if text.has_key(f"fig.weighting.{weighting}") else "unknown"

    def caption_params(lang: str) -> dict:
        return {"design": text.tr(f"fig.caption_design.{ev.design}", lang),
                "weighting": text.tr(f"fig.weighting.{weighting}", lang), "n": n, "k": K_SUPPRESS}

    specs = [
        ("impact-residents", lambda lang: plot_effects(ev.impact, lang=lang), ev.residents),
        ("impact-groups", lambda lang: plot_group_effects(ev.impact, lang=lang), ev.residents),
        ("impact-officers", lambda lang: plot_officers(ev.impact, lang=lang), ev.officers),
        ("implementation-timeline", lambda lang: imp.plot_timeline(ev.implementation, profile, lang=lang),
         ev.implementation["table"]),
    ]
    saved = []
    for fig_id, draw, data in specs:
        if fig_id == "impact-officers" and len(ev.officers) == 0:
            continue
        key = "fig." + fig_id.replace("-", "_")
        for lang in text.LANGS:
            fig = draw(lang)
            figures.save_figure(fig, city=ev.city, fig_id=fig_id, title=text.tr(f"{key}.title", lang),
                                caption=text.tr(f"{key}.caption", lang, **caption_params(lang)), notebook=notebook,
                                data_checksum=io.sha256_frame(data.astype(str)), synthetic=ev.synthetic,
                                section=SECTION[fig_id], lang=lang)
            plt.close(fig)
        saved.append(fig_id)
    return saved

