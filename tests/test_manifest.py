"""The figure manifest: every sidecar, stably ordered, problems named."""

from __future__ import annotations

import json

import numpy as np

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis.publishing import manifest
from analysis.config import PATHS
from analysis.publishing.figures import figure_paths, save_figure
from analysis.io import SYNTHETIC_NOTE, write_json


def _save(city: str, fig_id: str, lang: str, synthetic: bool = True) -> None:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [1, 2])
    save_figure(fig, section="effects", city=city, fig_id=fig_id, title=f"T {fig_id} {lang}", caption=f"C {fig_id} {lang}.",
                notebook="03-impact.ipynb", data_checksum=f"sum-{fig_id}", synthetic=synthetic, lang=lang)
    plt.close(fig)


def _fake(city: str, fig_id: str, lang: str) -> None:
    """A sidecar shaped like save_figure's (checked in test_real_sidecar_is_read), without drawing."""
    paths = figure_paths(city, fig_id, lang)
    paths["png"].parent.mkdir(parents=True, exist_ok=True)
    paths["png"].write_bytes(b"\x89PNG\r\n\x1a\n")
    paths["svg"].write_text("<svg/>")
    rel = {k: str(p.relative_to(PATHS.root)) for k, p in paths.items()}
    write_json(paths["json"], {"figure_id": fig_id, "city": city, "lang": lang, "title": f"T {fig_id} {lang}",
                               "caption": f"C {fig_id} {lang}.", "notebook": "03-impact.ipynb",
                               "png": rel["png"], "svg": rel["svg"], "data_checksum": f"sum-{fig_id}",
                               "synthetic": True, "section": "effects"})


@pytest.fixture
def figures(project):
    # deliberately written out of report order
    for city, fig_id in (("cross-city", "forest-trust"), ("lisbon", "b-fig"), ("nantes", "z-fig"),
                         ("nantes", "a-fig"), ("zzz-newcity", "a-fig")):
        for lang in ("fr", "en"):
            _fake(city, fig_id, lang)
    return project


def test_manifest_lists_every_sidecar_in_report_order(figures):
    df = manifest.build_manifest()
    assert list(df.columns) == list(manifest.MANIFEST_COLUMNS)
    assert list(zip(df["city"], df["figure_id"], df["lang"])) == [
        ("nantes", "a-fig", "en"), ("nantes", "a-fig", "fr"), ("nantes", "z-fig", "en"), ("nantes", "z-fig", "fr"),
        ("lisbon", "b-fig", "en"), ("lisbon", "b-fig", "fr"),
        ("zzz-newcity", "a-fig", "en"), ("zzz-newcity", "a-fig", "fr"),
        ("cross-city", "forest-trust", "en"), ("cross-city", "forest-trust", "fr"),
    ]
    row = df.iloc[1]
    assert row["png"] == "reports/figures/nantes/a-fig.fr.png" and row["svg"].endswith("a-fig.fr.svg")
    assert row["title"] == "T a-fig fr" and row["caption"].startswith("C a-fig fr.")
    assert row["data_checksum"] == "sum-a-fig" and row["notebook"] == "03-impact.ipynb"
    assert (df["data_status"] == SYNTHETIC_NOTE).all()
    assert df.attrs["problems"] == []


def test_manifest_file_is_stable_and_readable(figures):
    manifest.build_manifest()
    path = PATHS.reports / "figures.csv"
    first = path.read_bytes()
    manifest.build_manifest()
    assert path.read_bytes() == first
    back = pd.read_csv(path)
    assert len(back) == 10 and back.columns[0] == "data_status"


def test_real_sidecar_is_read(project):
    """The sidecars analysis.publishing.figures.save_figure writes: real data get an empty status."""
    _save("nantes", "real", "fr", synthetic=False)
    df = manifest.build_manifest(write=False)
    assert df["data_status"].tolist() == [""] and not df["synthetic"].any()
    assert df.attrs["problems"] == [] and df["png"].tolist() == ["reports/figures/nantes/real.fr.png"]
    assert df["caption"].tolist() == ["C real fr."]


def test_bad_sidecars_are_named(figures):
    folder = PATHS.figures / "nantes"
    (folder / "broken.json").write_text("{not json")
    (folder / "partial.json").write_text(json.dumps({"figure_id": "partial", "city": "nantes"}))
    meta = json.loads((folder / "z-fig.json").read_text())
    (folder / "z-fig.png").unlink()
    df = manifest.build_manifest()
    problems = df.attrs["problems"]
    assert any("broken.json" in p and "not a readable JSON" in p for p in problems)
    assert any("partial.json" in p and "lacks key(s)" in p and "'title'" in p for p in problems)
    assert any(meta["png"] in p and "does not exist" in p for p in problems)
    assert "broken" not in set(df["figure_id"]) and len(df) == 10
    with pytest.raises(manifest.ManifestError, match="broken.json"):
        manifest.build_manifest(strict=True)
    assert manifest.main(["--strict"]) == 1


def test_empty_manifest(project):
    df = manifest.build_manifest()
    assert df.empty and list(df.columns) == list(manifest.MANIFEST_COLUMNS)
    assert (PATHS.reports / "figures.csv").read_text().startswith("data_status,city,figure_id")


# ----------------------------------------------------------------- print size and embedded copies
from analysis.publishing import figures as figmod  # noqa: E402


@pytest.mark.parametrize("w, h, printed", [
    (6.0, 4.0, 6.0),                  # fits the column: its own size
    (14.0, 4.0, 7.0),                 # wider than the column: shrunk to it
    (6.0, 12.0, 6.0 * 6.3 / 12.0),    # taller than 6.3 in: shrunk to that height
])
def test_printed_width(w, h, printed):
    assert figmod.printed_width(w, h) == pytest.approx(printed)


def _texts_printed(fig):
    w, h = figmod.saved_size(fig)
    scale = figmod.printed_width(w, h) / w
    return [t.get_fontsize() * scale for t in figmod._texts(fig)]


def test_no_figure_text_prints_under_7pt(project):
    # 15 in wide: printed at 7/15 of its size, so its 9-pt labels would print at 4.2 pt
    fig, ax = plt.subplots(figsize=(15, 4))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title")
    ax.text(0.5, 0.5, "tiny note", fontsize=4)
    before = min(_texts_printed(fig))
    assert before < 4  # the check below can fail
    paths = save_figure(fig, section="effects", city="nantes", fig_id="wide", title="T", caption="C.", notebook="03-impact.ipynb",
                        data_checksum="x", synthetic=True)
    printed = _texts_printed(fig)
    assert min(printed) >= figmod.MIN_FONT_PT - 0.05  # every text, stamp and ticks included
    meta = json.loads(paths["json"].read_text())
    assert meta["min_font_pt_printed"] >= 7.0
    # the sizes the sidecar gives are the PNG's (200 dpi, tight box)
    assert meta["width_in"] == pytest.approx(figmod.png_size(paths["png"])[0] / figmod.DPI, abs=0.01)
    plt.close(fig)


def test_caption_is_not_drawn_in_the_figure(project):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0, 1], [1, 2])
    save_figure(fig, section="effects", city="nantes", fig_id="cap", title="T", caption="A long caption that stays text.",
                notebook="03-impact.ipynb", data_checksum="x", synthetic=True)
    texts = [t.get_text() for t in figmod._texts(fig)]
    assert "SYNTHETIC DATA" in texts  # the stamp stays
    assert not any("caption" in t for t in texts)
    plt.close(fig)


def test_embedded_copy_is_smaller_derived_and_deterministic(project):
    # a map-like figure: many coloured patches, so the SVG is large and the PNG wins
    rng = np.random.default_rng(1)
    fig, ax = plt.subplots(figsize=(14, 5))
    ax.scatter(rng.random(6000), rng.random(6000), c=rng.random(6000), s=8)
    paths = save_figure(fig, section="effects", city="nantes", fig_id="big", title="T", caption="C.", notebook="02.ipynb",
                        data_checksum="x", synthetic=False)
    plt.close(fig)
    copy = figmod.embedded_copy(paths["png"], paths["svg"])
    assert copy["derivation"] == "png@150dpi" and copy["mime"] == "image/png"
    w_in = figmod.png_size(paths["png"])[0] / figmod.DPI
    assert copy["width_in"] == pytest.approx(7.0)  # shrunk to the column
    from io import BytesIO

    from PIL import Image
    with Image.open(BytesIO(copy["data"])) as im:
        assert im.size[0] == round(7.0 * figmod.EMBED_DPI)  # 150 dpi at printed size
    assert len(copy["data"]) < paths["png"].stat().st_size / 2 and w_in > 10
    assert figmod.embedded_copy(paths["png"], paths["svg"])["data"] == copy["data"]
    assert copy["source_sha256"] == json.loads(paths["json"].read_text())["png_sha256"]
    # a small line chart: its SVG is smaller than any PNG, and embedded as is
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [1, 0, 2])
    small = save_figure(fig, section="effects", city="nantes", fig_id="small", title="T", caption="C.", notebook="03.ipynb",
                        data_checksum="x", synthetic=False)
    plt.close(fig)
    copy = figmod.embedded_copy(small["png"], small["svg"])
    assert copy["derivation"] == "svg" and copy["data"] == small["svg"].read_bytes()


def test_check_embedded_catches_a_changed_source_or_copy(project):
    import base64

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [1, 0, 2])
    paths = save_figure(fig, section="effects", city="nantes", fig_id="f", title="T", caption="C.", notebook="03.ipynb",
                        data_checksum="x", synthetic=False)
    plt.close(fig)
    df = manifest.build_manifest(write=False)
    assert df.attrs["problems"] == []
    copy = figmod.embedded_copy(paths["png"], paths["svg"])
    src = str(copy["source"].relative_to(PATHS.root))

    def page(data: bytes, sha: str) -> str:
        return (f'<img src="data:{copy["mime"]};base64,{base64.b64encode(data).decode()}" alt="x" '
                f'data-source="{src}" data-source-sha256="{sha}" data-derivation="{copy["derivation"]}">')

    html = project / "r.html"
    html.write_text(page(copy["data"], copy["source_sha256"]))
    assert manifest.check_embedded(html, df) == []
    html.write_text(page(copy["data"][:-20] + b" -->", copy["source_sha256"]))
    assert any("is not svg of" in p for p in manifest.check_embedded(html, df))
    html.write_text(page(copy["data"], "0" * 64))
    assert any("changed since the report was built" in p for p in manifest.check_embedded(html, df))
    html.write_text('<img src="data:image/png;base64,AAAA" alt="x">')
    assert any("no data-source" in p for p in manifest.check_embedded(html, df))
    # a figure file edited after it was saved is a manifest problem
    paths["svg"].write_text(paths["svg"].read_text() + "<!-- edited -->")
    problems = manifest.build_manifest(write=False).attrs["problems"]
    assert any("changed since it was saved" in p and "svg_sha256" in p for p in problems)


def test_manifest_flags_a_figure_printing_under_7pt(project):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, section="effects", city="nantes", fig_id="f", title="T", caption="C.", notebook="03.ipynb",
                        data_checksum="x", synthetic=False)
    plt.close(fig)
    assert manifest.build_manifest(write=False).attrs["problems"] == []
    meta = json.loads(paths["json"].read_text())
    write_json(paths["json"], {**meta, "min_font_pt_printed": 5.2})
    problems = manifest.build_manifest(write=False).attrs["problems"]
    assert any("min_font_pt_printed" in p and "5.2 pt" in p for p in problems)
