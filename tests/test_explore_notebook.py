"""The committee's exploration notebook runs headless on the published outputs."""

from __future__ import annotations

import pytest

from analysis.config import PATHS


@pytest.mark.slow
def test_explore_notebook_runs_headless(tmp_path):
    city = "aubervilliers"
    if not (PATHS.tables_city(city) / "neighbourhoods.csv").is_file():
        pytest.skip("run the pipeline first (make test does): no published neighbourhood table")
    import nbformat
    import papermill as pm

    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(str(PATHS.notebooks / "explore.ipynb"), str(out), kernel_name="python3",
                        parameters={"city": city, "indicator": "pj_index", "wave": "change", "group": "young"},
                        progress_bar=False, cwd=str(PATHS.notebooks))
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "SYNTHETIC" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the default view draws the map and the trend"
