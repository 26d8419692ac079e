"""The figure manifest: every sidecar, stably ordered, problems named."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import manifest
from analysis.config import PATHS
from analysis.figures import figure_paths, save_figure
from analysis.io import SYNTHETIC_NOTE, write_json


def _save(city: str, fig_id: str, lang: str, synthetic: bool = True) -> None:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [1, 2])
    save_figure(fig, city=city, fig_id=fig_id, title=f"T {fig_id} {lang}", caption=f"C {fig_id} {lang}.",
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
                               "synthetic": True})


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
    """The sidecars analysis.figures.save_figure writes: real data get an empty status."""
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
