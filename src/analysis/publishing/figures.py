"""Saving figures reproducibly, with the facts the figure manifest needs.

Owns saving a figure: files, sidecar, style, minimum printed font, synthetic stamp. Must not
import anything above analysis.io: every stage draws through it (a contract module).

Every published figure goes through :func:`save_figure`, which

- stamps "SYNTHETIC DATA" on figures drawn from the demonstration data;
- makes sure no text prints under :data:`MIN_FONT_PT` (7 pt) once the figure is scaled to
  its printed size (:func:`printed_width`: at most the A4 column, :data:`PRINT_WIDTH_IN`,
  and :data:`PRINT_MAX_HEIGHT_IN` high), enlarging the few texts that would;
- writes a PNG (200 dpi) and a byte-reproducible SVG (no date, fixed hash salt);
- writes a sidecar ``<id>[.fr].json`` with id, title, caption, city, source notebook,
  file paths, the checksum of the data the figure was drawn from, the checksums of the PNG
  and SVG, the figure's size and its smallest text at printed size, from which
  ``reports/figures.csv`` (the manifest) is assembled.

Captions are not drawn in the image: the report prints them as text under the figure, so
they can be searched, translated and read aloud. The report embeds a lighter copy of each
figure (:func:`embedded_copy`: the SVG when it is smaller, else a PNG downscaled to
:data:`EMBED_DPI` at its printed width); the copy is derived deterministically from the
saved files, so the manifest can check it against them (:func:`analysis.publishing.manifest.check_embedded`).

Figures exist in English and French: plotting functions take ``lang`` and notebooks
save both (``<id>.png`` and ``<id>.fr.png``).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    # Scripts, tests and the report: headless. Inside a Jupyter kernel the inline backend
    # stays, so the notebooks show their figures (and still save them to files).
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analysis.config import PATHS  # noqa: E402
from analysis.io import atomic_path, write_json  # noqa: E402

DPI = 200
LANGS = ("en", "fr")
#: Width of the text column of the A4 report (210 mm − 2 × 14 mm margins), in inches, a
#: little under it: a figure is printed at its own size, or shrunk to this width.
PRINT_WIDTH_IN = 7.0
#: Highest a figure is printed (16 cm), so a figure and its caption fit on one page.
PRINT_MAX_HEIGHT_IN = 6.3
#: No text in a printed figure may be smaller than this (points, at printed size).
MIN_FONT_PT = 7.0
#: Resolution of the downscaled PNG copies embedded in the report, at printed size.
EMBED_DPI = 150
#: Padding matplotlib adds around a ``bbox_inches="tight"`` figure (savefig.pad_inches).
_PAD_IN = 0.1
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


def printed_width(width_in: float, height_in: float) -> float:
    """Width (inches) at which the report prints a figure of ``width_in`` × ``height_in``.

    Its own size when it fits, else shrunk (never enlarged) to the column width
    :data:`PRINT_WIDTH_IN` and the height :data:`PRINT_MAX_HEIGHT_IN`.
    """
    if width_in <= 0 or height_in <= 0:
        raise ValueError(f"figure size must be positive, got {width_in} x {height_in} in")
    return min(width_in, PRINT_WIDTH_IN, width_in * PRINT_MAX_HEIGHT_IN / height_in)


def saved_size(fig: plt.Figure) -> tuple[float, float]:
    """Width and height (inches) of ``fig`` as ``savefig(bbox_inches="tight")`` writes it."""
    fig.canvas.draw()  # tick labels and legends exist, at their final place, only after a draw
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())
    return bbox.width + 2 * _PAD_IN, bbox.height + 2 * _PAD_IN


def _texts(fig: plt.Figure) -> list:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]


def smallest_printed_font(fig: plt.Figure) -> tuple[float, float]:
    """Smallest text size of ``fig`` at its printed size (points), and the print scale."""
    w, h = saved_size(fig)
    scale = printed_width(w, h) / w
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return (min(sizes) * scale if sizes else float("inf")), scale


def enforce_min_font(fig: plt.Figure, min_pt: float = MIN_FONT_PT) -> float:
    """Enlarge every text of ``fig`` that would print under ``min_pt``; return the smallest printed size.

    A figure wider than the column is shrunk when printed, and its text with it: a 9 pt
    label on a 15-inch figure prints at 4 pt. Each text under the floor is set to the size
    that prints at ``min_pt`` (rounded up to 0.1 pt). Enlarging text can widen the figure
    (and shrink it more in print), so this repeats until every text passes.
    """
    for _ in range(6):
        smallest, scale = smallest_printed_font(fig)
        # a tenth of a point of slack: sizes are rounded to 0.1 pt, never compared to the last bit
        if smallest >= min_pt - 0.05:
            return round(smallest, 1)
        target = math.ceil(min_pt / scale * 10) / 10
        for t in _texts(fig):
            if t.get_fontsize() * scale < min_pt - 0.05:
                t.set_fontsize(max(target, t.get_fontsize() + 0.1))
    smallest, _ = smallest_printed_font(fig)
    if smallest < min_pt - 0.05:
        raise ValueError(f"figure text still prints at {smallest:.1f} pt after enlarging: "
                         f"make the figure narrower than {PRINT_WIDTH_IN} in")
    return round(smallest, 1)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def png_size(path: Path) -> tuple[int, int]:
    """Pixel width and height of a PNG, from its header (no decoding)."""
    head = Path(path).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return struct.unpack(">II", head[16:24])


def embedded_copy(png: Path, svg: Path | None = None) -> dict:
    """The copy of a saved figure the report embeds, and how it was derived.

    The figure's size in inches is its PNG's pixel size over :data:`DPI` (saved with a
    tight box); it prints at :func:`printed_width`. The copy is the SVG when it exists and
    is smaller than a PNG downscaled to :data:`EMBED_DPI` at that printed width (vector:
    sharp at any size), else that PNG (150 dpi at printed size: as sharp as a laser print
    of a screen figure needs, a quarter of the 200-dpi source's pixels or fewer).

    Deterministic: the same source files give the same bytes, so the copy in a report can
    be checked against its sources by deriving it again.

    Returns
    -------
    dict
        ``mime``, ``data`` (bytes), ``derivation`` (``"svg"`` or ``"png@150dpi"``),
        ``source`` (the file it was made from), ``source_sha256``, ``width_in`` (printed)
        and ``height_in``.
    """
    from PIL import Image

    png = Path(png)
    px_w, px_h = png_size(png)
    w_in, h_in = px_w / DPI, px_h / DPI
    pw = printed_width(w_in, h_in)
    ph = pw * h_in / w_in
    target = (max(1, round(pw * EMBED_DPI)), max(1, round(ph * EMBED_DPI)))
    with Image.open(png) as im:
        im = im.convert("RGBA") if im.mode not in ("RGB", "RGBA") else im
        small = im.resize(target, Image.Resampling.LANCZOS) if target[0] < px_w else im.copy()
    # figures are flat colour on white: an adaptive 256-colour palette keeps them (measured on a
    # map: mean error 0.5/255 per channel, at most 11/255 on a class colour) at a third of the
    # size of 24-bit colour. Maximum coverage: 35 % smaller than median cut on maps, no dither
    # (dither noise costs bytes and blurs edges).
    small = small.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE,
                                          dither=Image.Dither.NONE)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True, dpi=(EMBED_DPI, EMBED_DPI))
    best = {"mime": "image/png", "data": buf.getvalue(), "derivation": f"png@{EMBED_DPI}dpi",
            "source": png}
    if svg is not None and Path(svg).is_file():
        svg_bytes = Path(svg).read_bytes()
        if len(svg_bytes) < len(best["data"]):
            best = {"mime": "image/svg+xml", "data": svg_bytes, "derivation": "svg", "source": Path(svg)}
    best.update(source_sha256=sha256_file(best["source"]), width_in=round(pw, 3), height_in=round(ph, 3))
    return best


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
    min_font = enforce_min_font(fig)  # after the stamp: it is text in the figure too
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    with atomic_path(paths["svg"]) as tmp:
        fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    rel = {k: str(p.relative_to(PATHS.root)) for k, p in paths.items() if k != "json"}
    write_json(paths["json"], {
        "figure_id": fig_id, "city": city, "lang": lang, "title": title, "caption": caption,
        "notebook": notebook, "png": rel["png"], "svg": rel["svg"],
        "data_checksum": data_checksum, "synthetic": synthetic,
        # what the report's embedded copy is checked against (analysis.publishing.manifest.check_embedded)
        "png_sha256": sha256_file(paths["png"]), "svg_sha256": sha256_file(paths["svg"]),
        "width_in": round(png_size(paths["png"])[0] / DPI, 3),
        "height_in": round(png_size(paths["png"])[1] / DPI, 3),
        "min_font_pt_printed": min_font,
    })
    return paths
