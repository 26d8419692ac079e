"""Saving figures reproducibly, with the facts the figure manifest needs.

Every published figure goes through :func:`save_figure`, which

- stamps "SYNTHETIC DATA" on figures drawn from the demonstration data;
- writes a PNG (200 dpi) and a byte-reproducible SVG (no date, fixed hash salt);
- writes a sidecar ``<id>[.fr].json`` with id, title, caption, city, source notebook,
  file paths and the checksum of the data the figure was drawn from, from which
  ``reports/figures.csv`` (the manifest) is assembled.

Figures exist in English and French: plotting functions take ``lang`` and notebooks
save both (``<id>.png`` and ``<id>.fr.png``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    # Scripts, tests and the report: headless. Inside a Jupyter kernel the inline backend
    # stays, so the notebooks show their figures (and still save them to files).
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .config import PATHS  # noqa: E402
from .io import atomic_path, write_json  # noqa: E402

DPI = 200
LANGS = ("en", "fr")
STAMP = {"en": "SYNTHETIC DATA", "fr": "DONNÉES SYNTHÉTIQUES"}


def apply_style() -> None:
    """Project-wide matplotlib settings (fonts, sizes, reproducible SVG)."""
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": DPI,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "imppulse",
        "svg.fonttype": "none",
        "path.simplify": True,
    })


def stamp_synthetic(fig: plt.Figure, lang: str = "en") -> None:
    """Write a visible "synthetic data" mark in the figure's top-right corner."""
    fig.text(0.995, 0.995, STAMP.get(lang, STAMP["en"]), ha="right", va="top", fontsize=7,
             color="#b2182b", fontweight="bold", alpha=0.85)


def figure_paths(city: str, fig_id: str, lang: str = "en") -> dict[str, Path]:
    """PNG, SVG and sidecar paths of a figure (``city`` may be ``"cross-city"``)."""
    suffix = "" if lang == "en" else f".{lang}"
    folder = PATHS.figures / city
    return {ext: folder / f"{fig_id}{suffix}.{ext}" for ext in ("png", "svg", "json")}


def save_figure(
    fig: plt.Figure,
    *,
    city: str,
    fig_id: str,
    title: str,
    caption: str,
    notebook: str,
    data_checksum: str,
    synthetic: bool,
    lang: str = "en",
) -> dict[str, Path]:
    """Save ``fig`` as PNG and SVG with its manifest sidecar.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    city : str
        City slug, or ``"cross-city"``.
    fig_id : str
        Stable identifier, unique within the city (e.g. ``"map-trust_police-change"``).
    title, caption : str
        In ``lang``. The caption gives definition, units, n and source.
    notebook : str
        Source notebook template, e.g. ``"02-neighbourhoods.ipynb"``.
    data_checksum : str
        Checksum of the data drawn (:func:`analysis.io.sha256_frame`).
    synthetic : bool
        Drawn from the synthetic demonstration data: stamped, and said in the caption.
    lang : {"en", "fr"}

    Returns
    -------
    dict
        The written paths (``png``, ``svg``, ``json``).
    """
    paths = figure_paths(city, fig_id, lang)
    if synthetic:
        stamp_synthetic(fig, lang)
        note = STAMP[lang].capitalize() if lang in STAMP else STAMP["en"]
        if note.lower() not in caption.lower():
            caption = f"{caption} {note}."
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    with atomic_path(paths["svg"]) as tmp:
        fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    rel = {k: str(p.relative_to(PATHS.root)) for k, p in paths.items() if k != "json"}
    write_json(paths["json"], {
        "figure_id": fig_id, "city": city, "lang": lang, "title": title, "caption": caption,
        "notebook": notebook, "png": rel["png"], "svg": rel["svg"],
        "data_checksum": data_checksum, "synthetic": synthetic,
    })
    return paths
