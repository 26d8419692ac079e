"""Saving figures reproducibly, with the facts the figure manifest needs.

Owns saving a figure: files, sidecar, style, minimum printed font, synthetic stamp, what is
redrawn. Must not import anything above analysis.io but the text layer (a contract module too).

Every published figure goes through :func:`save_figure`, which

- stamps "SYNTHETIC DATA" on figures drawn from the demonstration data;
- makes sure no text prints under :data:`MIN_FONT_PT` (7 pt) once the figure is scaled to
  its printed size (:func:`printed_width`: at most the A4 column, :data:`PRINT_WIDTH_IN`,
  and :data:`PRINT_MAX_HEIGHT_IN` high), enlarging the few texts that would;
- writes a PNG (:data:`DPI`, 150 dpi) and a byte-reproducible SVG (no date, fixed hash salt);
- writes a sidecar ``<id>[.fr].json`` with id, title, caption, city, source notebook,
  file paths, the checksum of the data the figure was drawn from, the checksums of the PNG
  and SVG, the figure's size and its smallest text at printed size, from which
  ``reports/figures.csv`` (the manifest) is assembled.

Captions are not drawn in the image: the report prints them as text under the figure, so
they can be searched, translated and read aloud. The report embeds a lighter copy of each
figure (:func:`embedded_copy`: the SVG unless it is much larger, else a PNG downscaled to
:data:`EMBED_DPI` at its printed width); the copy is derived deterministically from the
saved files, so the manifest can check it against them (:func:`analysis.publishing.manifest.check_embedded`).

Figures exist in English and French: plotting functions take ``lang`` and notebooks
save both (``<id>.png`` and ``<id>.fr.png``); the words drawn here come from the catalogue
(:func:`analysis.publishing.text.tr`: ``fig.stamp``, ``figure.synthetic_note``).

Saving is the costly part of a figure, so :func:`save_figure` lays the figure out once
(without rasterising) for the font check and the tight box, renders the SVG, and renders
the PNG only when the figure changed: when the SVG it just drew has the bytes of the
saved one and the sidecar records the same :func:`style_digest` (package sources,
matplotlib, FreeType and Pillow versions, resolution, the matplotlib settings in force),
the saved PNG is what a new render would write, byte for byte, and is kept.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy
import PIL
from PIL import Image

if "ipykernel" not in sys.modules:
    # Scripts, tests and the report: headless. Inside a Jupyter kernel the inline backend
    # stays, so the notebooks show their figures (and still save them to files).
    # (pyplot itself is imported where a figure is drawn: the report only reads saved files.)
    matplotlib.use("Agg")

from analysis.config import PATHS, is_hidden  # noqa: E402
from analysis.io import atomic_path, write_json  # noqa: E402
from analysis.publishing.text import file_suffix, tr  # noqa: E402

if TYPE_CHECKING:  # annotations only: pyplot is imported where a figure is drawn
    from matplotlib.figure import Figure

#: Where a figure goes in the report, declared by whoever saves it (the report never guesses
#: it from the figure's id): a city section's parts, or the cross-city synthesis.
SECTIONS: tuple[str, ...] = ("quality", "maps", "effects", "implementation", "officers", "synthesis")

#: Resolution of the saved PNG: the report's (:data:`EMBED_DPI` at printed size; a figure is
#: printed at its own size or smaller), so the embedded copy is never upsampled.
DPI = 150
#: Width of the text column of the A4 report (210 mm − 2 × 14 mm margins), in inches, a
#: little under it: a figure is printed at its own size, or shrunk to this width.
PRINT_WIDTH_IN = 7.0
#: Highest a figure is printed (16 cm), so a figure and its caption fit on one page.
PRINT_MAX_HEIGHT_IN = 6.3
#: No text in a printed figure may be smaller than this (points, at printed size).
MIN_FONT_PT = 7.0
#: Resolution of the downscaled PNG copies embedded in the report, at printed size.
EMBED_DPI = 150
#: The report embeds the SVG unless it is more than this many times the size of the PNG copy:
#: vector text stays sharp and searchable in the PDF, worth a little weight (a small line
#: chart's SVG is a little larger than its 150-dpi PNG; a map's is several times larger).
SVG_PREFERENCE = 1.5
#: Padding matplotlib adds around a ``bbox_inches="tight"`` figure (savefig.pad_inches).
_PAD_IN = 0.1
#: Bump when what :func:`save_figure` writes changes in a way :func:`render_environment` does not see.
SAVE_VERSION = "3"


def apply_style() -> None:
    """Project-wide matplotlib settings (fonts, sizes, reproducible SVG).

    The backend is loaded first: a notebook's inline backend sets its own figure settings
    when it loads (colours, size, resolution), so without this the settings in force would
    depend on whether a figure was drawn before, and so would :func:`style_digest`.
    """
    import matplotlib.pyplot as plt

    plt.close(plt.figure())  # loads the backend (and its settings) now, whatever was drawn before
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


def stamp_synthetic(fig: Figure, lang: str = "en") -> None:
    """Write a visible "synthetic data" mark in the figure's top-right corner."""
    fig.text(0.995, 0.995, tr("fig.stamp", lang), ha="right", va="top", fontsize=7,
             color="#b2182b", fontweight="bold", alpha=0.85)


def printed_width(width_in: float, height_in: float) -> float:
    """Width (inches) at which the report prints a figure of ``width_in`` × ``height_in``.

    Its own size when it fits, else shrunk (never enlarged) to the column width
    :data:`PRINT_WIDTH_IN` and the height :data:`PRINT_MAX_HEIGHT_IN`.
    """
    if width_in <= 0 or height_in <= 0:
        raise ValueError(f"figure size must be positive, got {width_in} x {height_in} in")
    return min(width_in, PRINT_WIDTH_IN, width_in * PRINT_MAX_HEIGHT_IN / height_in)


def saved_box(fig: Figure):
    """The box (inches, padded) :func:`save_figure` crops ``fig`` to: its tight box at :data:`DPI`.

    Laid out without rasterising (``draw_without_rendering``): tick labels and legends
    exist, at their final place, only after a draw, but no pixel is needed to place them.
    Laid out at the PNG's resolution, so text is measured as it is rendered.
    """
    dpi = fig.dpi
    fig.dpi = DPI
    try:
        fig.draw_without_rendering()
        return fig.get_tightbbox(fig.canvas.get_renderer()).padded(_PAD_IN)
    finally:
        fig.dpi = dpi


def saved_size(fig: Figure) -> tuple[float, float]:
    """Width and height (inches) of ``fig`` as :func:`save_figure` writes it."""
    bbox = saved_box(fig)
    return bbox.width, bbox.height


def _texts(fig: Figure) -> list:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]


def _smallest(fig: Figure):
    """(smallest printed text size, print scale, saved box) of ``fig``: one layout pass."""
    bbox = saved_box(fig)
    scale = printed_width(bbox.width, bbox.height) / bbox.width
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return (min(sizes) * scale if sizes else float("inf")), scale, bbox


def smallest_printed_font(fig: Figure) -> tuple[float, float]:
    """Smallest text size of ``fig`` at its printed size (points), and the print scale."""
    smallest, scale, _ = _smallest(fig)
    return smallest, scale


def fit_text(fig: Figure, min_pt: float = MIN_FONT_PT):
    """:func:`enforce_min_font`, also returning the box the figure is then saved to.

    Returns
    -------
    (float, matplotlib.transforms.Bbox)
        The smallest printed text size (0.1 pt) and the padded tight box in inches.
    """
    previous = None
    for _ in range(6):
        smallest, scale, bbox = _smallest(fig)
        # a tenth of a point of slack: sizes are rounded to 0.1 pt, never compared to the last bit
        if smallest >= min_pt - 0.05:
            return round(smallest, 1), bbox
        # Larger text widens a wide figure, which then prints smaller: aim at the print scale
        # the last enlargement's trend predicts, not the current one (each layout pass costs
        # as much as drawing the figure; a wide forest plot took 7 passes, now 3).
        aim = scale if previous is None else scale * min(1.0, scale / previous)
        previous = scale
        target = math.ceil(min_pt / aim * 10) / 10
        for t in _texts(fig):
            if t.get_fontsize() * scale < min_pt - 0.05:
                t.set_fontsize(max(target, t.get_fontsize() + 0.1))
    smallest, _, bbox = _smallest(fig)
    if smallest < min_pt - 0.05:
        raise ValueError(f"figure text still prints at {smallest:.1f} pt after enlarging: "
                         f"make the figure narrower than {PRINT_WIDTH_IN} in")
    return round(smallest, 1), bbox


def enforce_min_font(fig: Figure, min_pt: float = MIN_FONT_PT) -> float:
    """Enlarge every text of ``fig`` that would print under ``min_pt``; return the smallest printed size.

    A figure wider than the column is shrunk when printed, and its text with it: a 9 pt
    label on a 15-inch figure prints at 4 pt. Each text under the floor is set to the size
    that prints at ``min_pt`` (rounded up to 0.1 pt). Enlarging text can widen the figure
    (and shrink it more in print), so this repeats until every text passes.
    """
    return fit_text(fig, min_pt)[0]


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
    is at most :data:`SVG_PREFERENCE` times the size of the PNG at :data:`EMBED_DPI` at
    that printed width (vector: sharp at any size), else that PNG (150 dpi at printed
    size: as sharp as a laser print of a screen figure needs; the saved PNG itself when
    the figure prints at its own size, else downscaled).

    Deterministic: the same source files give the same bytes, so the copy in a report can
    be checked against its sources by deriving it again. Kept by content in
    ``data/interim/embedded/`` (keyed on the sources' bytes and this code, checked
    by its own checksum when read): a report rebuilt over unchanged figures does not
    derive them again.

    Returns
    -------
    dict
        ``mime``, ``data`` (bytes), ``derivation`` (``"svg"`` or ``"png@150dpi"``),
        ``source`` (the file it was made from), ``source_sha256``, ``width_in`` (printed)
        and ``height_in``.
    """
    png = Path(png)
    svg = Path(svg) if svg is not None and Path(svg).is_file() else None
    png_bytes = png.read_bytes()
    svg_bytes = svg.read_bytes() if svg is not None else None
    # derived from the bytes alone: kept by content (the report embeds every figure in
    # each language at every build; deriving the copy is most of that)
    key = hashlib.sha256(b"\0".join([_derivation_version().encode(), png_bytes, svg_bytes or b""])).hexdigest()
    cache = PATHS.root / "data" / "interim" / "embedded" / key
    try:
        meta = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8"))
        data = svg_bytes if meta["derivation"] == "svg" else cache.with_suffix(".png").read_bytes()
        if data is not None and hashlib.sha256(data).hexdigest() == meta["sha256"]:
            source = svg if meta["derivation"] == "svg" else png
            return {"mime": meta["mime"], "data": data, "derivation": meta["derivation"], "source": source,
                    "source_sha256": sha256_file(source), "width_in": meta["width_in"],
                    "height_in": meta["height_in"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    best = _derive_copy(png, svg, svg_bytes)
    try:
        if best["derivation"] != "svg":
            _write_bytes(cache.with_suffix(".png"), best["data"])
        write_json(cache.with_suffix(".json"), {
            "mime": best["mime"], "derivation": best["derivation"], "width_in": best["width_in"],
            "height_in": best["height_in"], "sha256": hashlib.sha256(best["data"]).hexdigest()})
    except OSError:  # a read-only tree: derived again next time
        pass
    return best


@functools.lru_cache(maxsize=1)
def _derivation_version() -> str:
    """What decides an embedded copy besides its sources: this module's code and Pillow."""
    return hashlib.sha256(Path(__file__).read_bytes() + PIL.__version__.encode()).hexdigest()


def _derive_copy(png: Path, svg: Path | None, svg_bytes: bytes | None) -> dict:
    """:func:`embedded_copy` without its cache."""
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
    if svg_bytes is not None and len(svg_bytes) <= SVG_PREFERENCE * len(best["data"]):
        best = {"mime": "image/svg+xml", "data": svg_bytes, "derivation": "svg", "source": svg}
    best.update(source_sha256=sha256_file(best["source"]), width_in=round(pw, 3), height_in=round(ph, 3))
    return best


def figure_paths(city: str, fig_id: str, lang: str = "en") -> dict[str, Path]:
    """PNG, SVG and sidecar paths of a figure (``city`` may be ``"cross-city"``)."""
    suffix = file_suffix(lang)
    folder = PATHS.figures / city
    return {ext: folder / f"{fig_id}{suffix}.{ext}" for ext in ("png", "svg", "json")}


@functools.lru_cache(maxsize=1)
def render_environment() -> str:
    """SHA-256 of what turns a figure into pixels besides the figure itself.

    The package's Python sources (any change of drawing code redraws every figure; the
    catalogues are not in it: a changed word changes the SVG), the matplotlib, FreeType,
    Pillow and NumPy versions, :data:`DPI` and :data:`SAVE_VERSION`. Recorded in each
    sidecar: a saved PNG is kept only when its figure's SVG and this are unchanged.
    """
    from matplotlib import ft2font

    h = hashlib.sha256(f"imppulse-figure {SAVE_VERSION} dpi={DPI} mpl={matplotlib.__version__} "
                       f"ft={ft2font.__freetype_version__} pil={PIL.__version__} np={numpy.__version__}\n"
                       .encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def style_digest() -> str:
    """:func:`render_environment` and the matplotlib settings in force (a notebook's inline
    backend sets some of its own): what besides a figure's data and words decides its pixels."""
    rc = sorted((k, repr(v)) for k, v in matplotlib.rcParams.items())
    return hashlib.sha256((render_environment() + repr(rc)).encode()).hexdigest()


def words_digest() -> str:
    """SHA-256 of the files words and names are read from: the package's non-Python files
    (catalogues, templates) and everything under ``config/`` (the city profiles too).

    For a figure whose words are too many to list in its :func:`save_figure` content key:
    any change there draws it again (when the change does not show, its files stay as
    they were, since unchanged bytes are not rewritten).
    """
    package = Path(__file__).resolve().parents[1]
    files = [(package, q) for q in package.rglob("*") if q.suffix not in (".py", ".pyc")]
    files += [(PATHS.config, q) for q in PATHS.config.rglob("*")] if PATHS.config.is_dir() else []
    h = hashlib.sha256(b"imppulse-words\n")
    for base, path in sorted(files, key=lambda bp: (str(bp[0]), bp[1].relative_to(bp[0]).as_posix())):
        if path.is_file() and not is_hidden(path, base):  # a linter's cache holds no words
            h.update(f"{base.name}/{path.relative_to(base).as_posix()}".encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _unchanged(path: Path, data: bytes) -> bool:
    return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _previous_sidecar(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_current(city: str, fig_id: str, lang: str, content_key: str) -> dict[str, Path] | None:
    """The figure's paths when its saved files were drawn from ``content_key`` and are intact, else None.

    Intact: the sidecar records ``content_key`` and the checksums the PNG and SVG still
    have. The caller's key must cover everything the figure shows (see :func:`save_figure`);
    then the saved files are those drawing it again would write, and drawing is skipped.
    """
    paths = figure_paths(city, fig_id, lang)
    before = _previous_sidecar(paths["json"])
    if before.get("content_key") != content_key:
        return None
    for kind in ("png", "svg"):
        if not paths[kind].is_file() or before.get(f"{kind}_sha256") != sha256_file(paths[kind]):
            return None
    return paths


def save_figure(
    fig: Figure,
    *,
    city: str,
    fig_id: str,
    title: str,
    caption: str,
    notebook: str,
    data_checksum: str,
    synthetic: bool,
    section: str,
    lang: str = "en",
    content_key: str | None = None,
) -> dict[str, Path]:
    """Save ``fig`` as PNG and SVG with its manifest sidecar.

    The figure is laid out once (:func:`fit_text`: the font check and the tight box), then
    rendered to SVG. When those SVG bytes are the saved SVG's, the sidecar records the
    same :func:`style_digest` and the saved PNG still has its recorded checksum, the
    PNG is not rendered again (the same figure and renderer give the same pixels); else
    it is rendered at :data:`DPI`. Files whose bytes do not change are not rewritten, so a
    rerun leaves unchanged figures' files (and dates) as they were; the files written are
    always those a run in an empty folder writes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    city : str
        City slug, or ``"cross-city"``.
    fig_id : str
        Stable identifier, unique within the city (e.g. ``"map-trust_police-change"``).
    section : str
        Where the report places it (:data:`SECTIONS`).
    title, caption : str
        In ``lang``. The caption gives definition, units, n and source.
    notebook : str
        Source notebook template, e.g. ``"02-neighbourhoods.ipynb"``.
    data_checksum : str
        Checksum of the data drawn (:func:`analysis.io.sha256_frame`).
    synthetic : bool
        Drawn from the synthetic demonstration data: stamped, and said in the caption.
    lang : {"en", "fr"}
    content_key : str, optional
        A digest of everything the figure is drawn from (data, geometry, words, and
        :func:`style_digest`), recorded in the sidecar: a caller that computes it
        before drawing can skip an unchanged figure altogether (:func:`is_current`).

    Returns
    -------
    dict
        The written paths (``png``, ``svg``, ``json``).
    """
    if section not in SECTIONS:
        raise ValueError(f"save_figure({fig_id!r}): section {section!r} is not one of {list(SECTIONS)}")
    paths = figure_paths(city, fig_id, lang)
    if synthetic:
        stamp_synthetic(fig, lang)
        note = tr("figure.synthetic_note", lang)
        if note.lower() not in caption.lower():
            caption = f"{caption} {note}."
    min_font, bbox = fit_text(fig)  # after the stamp: it is text in the figure too
    # both files cropped to the one box (inches): no second layout pass per format
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches=bbox, metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    env = style_digest()
    before = _previous_sidecar(paths["json"])
    keep_png = (_unchanged(paths["svg"], svg) and before.get("render_environment") == env
                and paths["png"].is_file() and before.get("png_sha256") == sha256_file(paths["png"]))
    if not keep_png:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches=bbox, metadata={"Software": None})
        if not _unchanged(paths["png"], buf.getvalue()):
            _write_bytes(paths["png"], buf.getvalue())
    if not _unchanged(paths["svg"], svg):
        _write_bytes(paths["svg"], svg)
    png_w, png_h = png_size(paths["png"])
    rel = {k: str(p.relative_to(PATHS.root)) for k, p in paths.items() if k != "json"}
    sidecar = {
        "figure_id": fig_id, "city": city, "lang": lang, "title": title, "caption": caption,
        "notebook": notebook, "png": rel["png"], "svg": rel["svg"],
        "data_checksum": data_checksum, "synthetic": synthetic, "section": section,
        # what the report's embedded copy is checked against (analysis.publishing.manifest.check_embedded)
        "png_sha256": sha256_file(paths["png"]), "svg_sha256": hashlib.sha256(svg).hexdigest(),
        "width_in": round(png_w / DPI, 3),
        "height_in": round(png_h / DPI, 3),
        "min_font_pt_printed": min_font,
        "render_environment": env,
    }
    if content_key is not None:
        sidecar["content_key"] = content_key
    if sidecar != before:
        write_json(paths["json"], sidecar)
    # the report's copy, derived here (a city's step, in parallel with the others) rather
    # than in the report step every build: kept by content (a no-op when already there)
    embedded_copy(paths["png"], paths["svg"])
    return paths
