"""Write the notebooks/01-clean.ipynb template (cells only; `make notebooks` executes it)."""
import nbformat as nbf
from pathlib import Path

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# 01 · Clean a city's pilot data into the harmonised codebook\n\n"
       "This notebook is run once per city by papermill (`make report`). It reads the files the city "
       "delivered, as described by its profile `config/cities/<city>.yml`, maps columns and labels onto the "
       "harmonised codebook (ESS Round 5 *Trust in justice* wording), turns don't-know and refusal codes into "
       "missing values, derives the indices, validates every row, pseudonymises identifiers and writes "
       "`data/processed/<city>/`. Every raw row is either kept or rejected with a reason.\n\n"
       "All the logic is in `analysis.inputs.clean` (tested in `tests/test_clean.py`)."),
    code('city = "aubervilliers"'),
    code("from analysis.inputs import clean\nfrom analysis.running import nbtools\n"
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
    code("result = clean.run_cleaning(city)\n"
         "tables = clean.summary_tables(result)\n"
         "print(f\"kept: {len(result.respondents)} resident interviews, {len(result.officers)} officer \"\n"
         "      f\"questionnaires, {len(result.activities)} pilot activities; rejected: {len(result.rejected)} rows\")"),
    md("## Every raw row accounted for\n\nPer file: raw rows = kept + rejected, and the rejections by reason."),
    code("rows = tables[\"rows\"]\n"
         "assert (rows[\"raw_rows\"] == rows[\"kept\"] + rows[\"rejected\"]).all()\n"
         "rows"),
    md("A sample of rejections (raw row, column, value and reason; identifiers are not shown):"),
    code("result.rejected[[\"dataset\", \"source_file\", \"raw_row_number\", \"reason\", \"column\", \"value\"]]"
         ".groupby(\"reason\").head(2).reset_index(drop=True)"),
    md("## Missing answers by item\n\nDon't-know and refusal codes count as missing, never as numbers."),
    code("nbtools.rounded(tables[\"missingness\"])"),
    md("## Respondents by neighbourhood and wave\n\nCounts below 10 are shown as `<10` (suppression rule)."),
    code("tables[\"coverage\"]"),
    md("## Scale reliability\n\nCronbach's α of each index, per wave (complete cases). Indices are the mean of the "
       "answered items rescaled to 0–10, computed only when more than half of the items were answered."),
    code("nbtools.rounded(tables[\"reliability\"])"),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
nb.cells[1].metadata["tags"] = ["parameters"]
path = Path(__file__).resolve().parents[1] / "notebooks" / "01-clean.ipynb"
path.parent.mkdir(exist_ok=True)
nbf.write(nb, path)
print("wrote", path)
