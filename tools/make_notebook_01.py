"""Write the cells of the notebooks/01-clean.ipynb template (`make notebooks` executes it).

The step itself is one call, ``analysis.running.steps.clean``; the cells only display what it
returns. ``tests/test_layout.py`` checks that this script and the committed template have the
same cells. Usage: ``python tools/make_notebook_01.py [OUT.ipynb]`` (default: the template).
"""
import sys
from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# 01 · Clean a city's pilot data into the harmonised codebook\n\n"
       "This notebook is run once per city by papermill (`make report`). It reads the files the city "
       "delivered, as described by its profile `config/cities/<city>.yml`, maps columns and labels onto the "
       "harmonised codebook (ESS Round 5 *Trust in justice* wording), turns don't-know and refusal codes into "
       "missing values, derives the indices, validates every row, pseudonymises identifiers and writes "
       "`data/processed/<city>/`. Every raw row is either kept or rejected with a reason.\n\n"
       "The step is one call, `analysis.running.steps.clean`, which also rakes the survey weights once and "
       "saves them as `data/processed/<city>/weights.parquet` for `02` and `03`; this notebook only shows its "
       "results. The logic is in `analysis.inputs.clean` (tested in `tests/test_clean.py`) and "
       "`analysis.statistics.weights`."),
    code('city = "aubervilliers"'),
    code("from analysis import sdc\nfrom analysis.running import nbtools, steps\n"
         "from analysis.inputs.profile import load_profile\n\n"
         "nbtools.setup()\n"
         "profile = load_profile(city)\n"
         "print(nbtools.data_status(profile))"),
    md("## The pilot and its evaluation design"),
    code("nbtools.design_summary(profile)"),
    md("## Read, map, validate, pseudonymise\n\n"
       "`run_cleaning` stops with an error naming file, row, column and value when the profile does not know a "
       "label; row-level problems (duplicates, impossible ages, unknown neighbourhood codes, interviews outside "
       "the fieldwork window, out-of-range answers) reject the row with a reason."),
    code("step = steps.clean(city)  # cleans, writes data/processed/<city>/ and the survey weights\n"
         "result, tables = step.result, step.tables\n"
         "count = sdc.publish_count  # published counts: 1-9 as \"<10\", the rest rounded to base 10\n"
         "print(f\"kept: {count(len(result.respondents))} resident interviews, {count(len(result.officers))} officer \"\n"
         "      f\"questionnaires, {len(result.activities)} pilot activities; rejected: {count(len(result.rejected))} rows\")"),
    md("## Every raw row accounted for\n\nPer file: raw rows = kept + rejected, and the rejections by reason."),
    code("rows = tables[\"rows\"]\n"
         "assert (rows[\"raw_rows\"] == rows[\"kept\"] + rows[\"rejected\"]).all()  # on the exact counts\n"
         "sdc.publish_counts(rows)  # shown in published form: 1-9 as \"<10\", the rest rounded to base 10"),
    md("Rejections by reason and column, counts in published form (1-9 as \"<10\", the rest rounded to base 10); "
       "no row-level detail is shown:"),
    code("step.rejections  # counts only: no raw values, row numbers, dates or ids"),
    md("## Missing answers by item\n\nDon't-know and refusal codes count as missing, never as numbers."),
    code("nbtools.rounded(sdc.publish_counts(tables[\"missingness\"], dependent={\"missing_share\": \"missing\"}))"),
    md("## Respondents by neighbourhood and wave\n\n"
       "Counts below 10 are shown as `<10` and the others are rounded to the nearest 10, as every published count "
       "of respondents is (`analysis.publishing.disclosure`), so that no total elsewhere minus these gives back a "
       "hidden count."),
    code("tables[\"coverage\"]"),
    md("## Scale reliability\n\nCronbach's α of each index, per wave (complete cases). Indices are the mean of the "
       "answered items rescaled to 0–10, computed only when more than half of the items were answered."),
    code("nbtools.rounded(sdc.publish_counts(tables[\"reliability\"]))"),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
nb.cells[1].metadata["tags"] = ["parameters"]
path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "notebooks" / "01-clean.ipynb"
path.parent.mkdir(parents=True, exist_ok=True)
nbf.write(nb, path)
print("wrote", path)
