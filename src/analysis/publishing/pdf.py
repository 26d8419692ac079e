"""PDF printing of the report and the brief: WeasyPrint (page numbers, bookmarks, running header), else Chromium.

Owns turning a built HTML file into a PDF. Must not change the HTML's content.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


from analysis.config import PATHS
from analysis.io import atomic_path
from analysis.publishing import text
from analysis.publishing.report_inputs import rel_path, report_path
from analysis.publishing.text import LANGS, area_label, category_label, has_key, placeholders, tr  # noqa: F401 (placeholders re-exported)


# ===================================================================== PDF
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
)


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def pdf_path(lang: str = "en") -> Path:
    """``reports/report.pdf`` (English) or ``reports/report.<lang>.pdf``."""
    return PATHS.reports / f"report{text.file_suffix(lang)}.pdf"


def find_weasyprint():
    """The ``weasyprint`` module, or None when it (or the Pango library it needs) is missing."""
    try:
        import weasyprint
    except (ImportError, OSError):  # OSError: the module is there but Pango/HarfBuzz is not
        return None
    return weasyprint


def build_pdf(html: Path | None = None, pdf: Path | None = None, *, lang: str = "en",
              engine: str | None = None) -> Path | None:
    """Print the HTML report in ``lang`` to ``reports/report[.<lang>].pdf``.

    WeasyPrint (a pip dependency) does it: page numbers, a table of contents with page
    numbers, PDF bookmarks from the headings and the running "synthetic demonstration data"
    header come from the report's print CSS. Headless Chromium is the fallback when
    WeasyPrint cannot be imported; it ignores those print features.

    Parameters
    ----------
    html, pdf : Path, optional
        Default :func:`report_path` and :func:`pdf_path` of ``lang``.
    lang : {"en", "fr"}
    engine : {"weasyprint", "chromium"}, optional
        Force one engine; default WeasyPrint, else Chromium.

    Returns
    -------
    Path or None
        The PDF, or None (with a message saying what to install) when no engine is
        available or the HTML report was not built.
    """
    html = Path(html) if html is not None else report_path(lang)
    pdf = Path(pdf) if pdf is not None else pdf_path(lang)
    wp = find_weasyprint() if engine in (None, "weasyprint") else None
    exe = find_chromium() if wp is None and engine in (None, "chromium") else None
    if wp is None and exe is None:
        print("[skip] PDF: neither WeasyPrint nor Chromium is installed. Install WeasyPrint with "
              "`pip install weasyprint` (it needs the Pango library: `brew install pango` on macOS, "
              "`conda install -c conda-forge weasyprint` in conda), or Chromium with `apt-get install chromium`, "
              "then run `python -m analysis.publishing.report --pdf`.", flush=True)
        return None
    if not html.is_file():
        print(f"[skip] PDF: {rel_path(html)} does not exist; build it first (python -m analysis.publishing.report --lang {lang})")
        return None
    with atomic_path(pdf) as tmp:
        tmp.unlink()  # an empty file left over would look like a PDF
        if wp is not None:
            # base_url: the report is self-contained; nothing is fetched
            wp.HTML(filename=str(html), base_url=str(html.parent)).write_pdf(str(tmp))
        else:
            cmd = [exe, *CHROMIUM_FLAGS, f"--print-to-pdf={tmp}", html.resolve().as_uri()]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
                raise RuntimeError(f"chromium failed to print {rel_path(html)} (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-800:]}")
    print(f"[ ok ] report (pdf, {lang}) -> {rel_path(pdf)}", flush=True)
    return pdf


def build_pdfs(langs: tuple[str, ...] | list[str] = LANGS) -> list[Path]:
    """:func:`build_pdf` for each language whose HTML report exists; the PDFs written."""
    out = []
    for lang in langs:
        path = build_pdf(lang=lang)
        if path is not None:
            out.append(path)
    return out
