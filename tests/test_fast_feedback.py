"""Fast feedback without stale output: a figure is drawn again only when what it shows
changed, the report step redoes only what changed, and running a notebook does not
import the report's stack.

Each skip is checked both ways: it happens when nothing changed, and it does not when
something the output shows did (never asserting on time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analysis.publishing import figures  # noqa: E402
from analysis.publishing.text import tr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _line_chart(label: str = "a label"):
    figures.apply_style()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [1, 0, 2], label=label)
    ax.legend()
    return fig


def _save(fig, **kw):
    args = dict(section="effects", city="nantes", fig_id="chart", title="T", caption="C.", notebook="03-impact.ipynb",
                data_checksum="x", synthetic=True)
    args.update(kw)
    paths = figures.save_figure(fig, **args)
    plt.close(fig)
    return paths


def _state(paths):
    return {k: (p.stat().st_mtime_ns, p.read_bytes()) for k, p in paths.items()}


def test_an_unchanged_figure_is_not_rewritten_and_a_changed_one_is(project):
    first = _save(_line_chart())
    before = _state(first)
    again = _save(_line_chart())
    assert _state(again) == before, "same figure: files (and their dates) left as they were"
    changed = _save(_line_chart("another label"))
    after = _state(changed)
    assert after["png"][1] != before["png"][1] and after["svg"][1] != before["svg"][1]
    meta = json.loads(changed["json"].read_text())
    assert meta["png_sha256"] == figures.sha256_file(changed["png"])


def test_a_kept_png_is_the_png_a_fresh_render_writes(project, tmp_path, monkeypatch):
    """The PNG is reused only when the SVG and the renderer are unchanged, and is then the
    very bytes a render in an empty folder writes."""
    paths = _save(_line_chart())
    kept = paths["png"].read_bytes()
    # a damaged PNG is never kept: its checksum is not the recorded one
    paths["png"].write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    repaired = _save(_line_chart())
    assert repaired["png"].read_bytes() == kept
    # another renderer (code, versions or settings): rendered again
    sidecar = json.loads(paths["json"].read_text())
    sidecar["render_environment"] = "0" * 64
    paths["json"].write_text(json.dumps(sidecar))
    calls = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (calls.append(k.get("format")), real(self, *a, **k))[1])
    _save(_line_chart())
    assert "png" in calls
    calls.clear()
    _save(_line_chart())
    assert calls == ["svg"], "unchanged since: only the SVG is drawn, to compare"
    # the same figure saved in an empty project folder: the same bytes
    monkeypatch.setenv("IMPPULSE_ROOT", str(tmp_path))
    fresh = _save(_line_chart())
    assert fresh["png"].read_bytes() == kept


def test_map_panels_are_skipped_only_when_nothing_they_show_changed(tmp_path, monkeypatch):
    from test_maps import _testville

    from analysis.geography import maps

    geom, table, prof = _testville(tmp_path, monkeypatch)
    maps.save_map_panels(geom, table, prof, "trust_police")
    folder = tmp_path / "reports" / "figures" / "testville"
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    drawn = []
    real = maps.map_panel
    monkeypatch.setattr(maps, "map_panel", lambda *a, **k: (drawn.append(k.get("lang")), real(*a, **k))[1])
    maps.save_map_panels(geom, table, prof, "trust_police")
    assert drawn == [] and {p.name: p.read_bytes() for p in folder.iterdir()} == saved
    # one estimate changes: both languages are drawn again
    changed = table.copy()
    row = changed.index[(changed["indicator"] == "trust_police") & changed["estimate"].notna()][0]
    changed.loc[row, "estimate"] = changed.loc[row, "estimate"] + 0.5
    maps.save_map_panels(geom, changed, prof, "trust_police")
    assert drawn == ["en", "fr"]
    # a French word changes: the French panel alone is drawn again
    drawn.clear()
    real_t = maps._t
    monkeypatch.setattr(maps, "_t", lambda lang: {**real_t(lang), "no_data": "aucune donnée"}
                        if lang == "fr" else real_t(lang))
    maps.save_map_panels(geom, changed, prof, "trust_police")
    assert drawn == ["fr"]


def test_figure_and_map_words_come_from_the_catalogue():
    from analysis.geography import maps

    for lang in ("en", "fr"):
        assert maps._t(lang)["no_data"] == tr("map.no_data", lang)
        assert maps.weighting_words("given", lang) == (tr("map.mean.given", lang), tr("map.how.given", lang))
    assert maps.wave_label("baseline", "fr") == tr("cat.wave.baseline", "fr")
    for module in ("geography/maps.py", "publishing/figures.py"):
        source = (ROOT / "src" / "analysis" / module).read_text(encoding="utf-8")
        assert 'lang == "fr"' not in source and "\"fr\": {" not in source, module


def test_the_disclosure_check_rereads_only_what_it_has_not_passed(project, monkeypatch):
    from analysis.running import publish

    tables = project / "reports" / "tables" / "nantes"
    tables.mkdir(parents=True)
    (tables / "a.csv").write_text("outcome,n\ntrust,120\n", encoding="utf-8")
    (tables / "b.csv").write_text("outcome,n\ntrust,300\n", encoding="utf-8")
    assert publish.check_disclosure()
    todo, _, _ = publish.disclosure_todo(publish.disclosure.published_artefacts())
    assert todo == []
    (tables / "b.csv").write_text("outcome,n\ntrust,7\n", encoding="utf-8")  # a count under 10
    todo, _, _ = publish.disclosure_todo(publish.disclosure.published_artefacts())
    assert [p.name for p in todo] == ["b.csv"]
    assert not publish.check_disclosure(), "the changed file is read, and fails"
    (tables / "b.csv").write_text("outcome,n\ntrust,300\n", encoding="utf-8")
    assert publish.check_disclosure()


def test_running_a_notebook_does_not_import_the_report_stack():
    code = ("import sys; import analysis.running.pipeline; "
            "print(sorted(m for m in sys.modules if m.startswith(('analysis.publishing', 'analysis.statistics', "
            "'analysis.geography', 'matplotlib', 'weasyprint', 'scipy', 'geopandas')) "
            "and m not in ('analysis.publishing', 'analysis.publishing.text')))")  # the words: a contract module
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_the_report_step_does_not_import_the_statistics_stack():
    code = ("import sys; import analysis.running.publish; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('scipy', 'statsmodels', 'geopandas', 'shapely', 'weasyprint') or m == 'matplotlib.pyplot' "
            "or m in ('analysis.statistics.estimates', 'analysis.statistics.impact', 'analysis.geography.maps')))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_the_report_s_copy_of_a_figure_is_kept_by_content_and_checked(project):
    import numpy as np

    rng = np.random.default_rng(3)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(rng.random(3000), rng.random(3000), c=rng.random(3000), s=6)  # PNG smaller than SVG
    paths = _save(fig, fig_id="dots")
    derived = figures._derive_copy(paths["png"], paths["svg"], paths["svg"].read_bytes())
    copy = figures.embedded_copy(paths["png"], paths["svg"])
    assert copy["derivation"] == derived["derivation"] == "png@150dpi" and copy["data"] == derived["data"]
    kept = list((project / "data" / "interim" / "embedded").glob("*.png"))
    assert len(kept) == 1, "derived when the figure was saved, kept by content"
    kept[0].write_bytes(b"\x89PNG tampered")
    assert figures.embedded_copy(paths["png"], paths["svg"])["data"] == derived["data"]


def test_the_notebooks_show_the_saved_figures_and_draw_none_of_their_own(project):
    """Each figure is drawn once, by its step: the templates show the saved PNG (stamp and
    printed sizes included, what the report prints), never a second, inline drawing."""
    import pytest

    from analysis.running import nbtools

    for name in ("02-neighbourhoods", "03-impact", "04-compare-cities"):
        cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "plt.show" not in code and "plot_" not in code and "forest_panel" not in code, name
        assert {"02-neighbourhoods": "display(Image(filename=str(step.map_png(ind))",
                "03-impact": 'nbtools.show_figure(city, "impact-residents")',
                "04-compare-cities": 'nbtools.show_figure("cross-city", "forest-main")'}[name] in code

    paths = _save(_line_chart(), fig_id="impact-residents")
    shown = nbtools.show_figure("nantes", "impact-residents")
    assert shown.data == paths["png"].read_bytes() and shown.width == 900
    with pytest.raises(FileNotFoundError, match=r"reports/figures/nantes/impact-groups\.png"):
        nbtools.show_figure("nantes", "impact-groups")


def test_the_brief_is_printed_again_only_when_its_html_changed(project, monkeypatch):
    from analysis.publishing import brief
    from analysis.running import publish

    words = {"html": "<html><body>Brief one</body></html>"}
    printed = []

    def render_pdf(html, pdf):
        printed.append(html)
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(b"%PDF " + html.encode())
        return 2

    monkeypatch.setattr(brief, "render_html", lambda lang, frame, numbers: words["html"])
    monkeypatch.setattr(brief, "read_report_numbers", lambda lang: {})
    monkeypatch.setattr(brief, "render_pdf", render_pdf)
    paths, first = publish.build_brief("en", None, True, {})
    assert printed == [words["html"]] and [p.name for p in paths] == ["brief.html", "brief.pdf"]
    paths, again = publish.build_brief("en", None, True, first)
    assert again == first and len(printed) == 1 and paths[1].is_file()  # same HTML, its recorded PDF: kept
    paths[1].write_bytes(b"%PDF damaged")
    publish.build_brief("en", None, True, first)
    assert len(printed) == 2  # the PDF is not the recorded one: printed again
    words["html"] = "<html><body>Brief two</body></html>"
    _, changed = publish.build_brief("en", None, True, first)
    assert len(printed) == 3 and changed["brief_html_sha256"] != first["brief_html_sha256"]
    assert paths[0].read_text() == words["html"]


def test_hidden_files_are_never_inputs_nor_words(project):
    """A linter's cache (``.ruff_cache``) or an editor's backup under the package or
    ``config/`` reran steps and redrew figures: hidden files and folders are neither a step's
    data files nor words a figure shows; a visible file still is both."""
    from analysis.running import pipeline

    bench = project / "config" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "ess-be5.yml").write_text("a: 1\n")
    words = figures.words_digest()
    hidden = project / "config" / ".ruff_cache" / "0.1"
    hidden.mkdir(parents=True)
    (hidden / "ess-be5.yml").write_text("cache\n")
    (bench / ".ess-be5.yml.swp").write_text("backup\n")
    names = [p.relative_to(project).as_posix() for _, p in pipeline._data_candidates()
             if project in p.parents]
    assert names == ["config/benchmarks/ess-be5.yml"]
    assert figures.words_digest() == words
    (bench / "ess-be5.yml").write_text("a: 2\n")
    assert figures.words_digest() != words
