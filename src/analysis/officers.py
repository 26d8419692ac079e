"""The pilot's effect on police officers (officer survey, baseline and follow-up).

Where both waves hold enough trained and untrained officers, the effect on each
:data:`codebook.OFFICER_INDICATORS` item is a difference-in-differences, trained x wave
(``y ~ trained + post + trained:post``); otherwise a pre/post change over all officers.
Officer samples are small (a few dozen per wave) and officers are not independent within
their units: the heteroskedasticity-robust (HC1) intervals are optimistic, and every row
says so. Cells under ``K_SUPPRESS`` officers are suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from . import codebook
from .config import K_SUPPRESS

CAVEAT = "small sample; officers within a unit are not independent, so HC1 intervals are optimistic"


def _trained(officers: pd.DataFrame) -> pd.Series:
    """Trained in the pilot, per officer when ids link the waves, else as answered."""
    per_row = officers["trained_in_pilot"].astype("boolean")
    ids = officers["officer_id"]
    if ids.duplicated().any():  # a panel: an officer trained by follow-up is "trained" at baseline too
        ever = per_row.fillna(False).groupby(ids).transform("max").astype("boolean")
        return ever.where(per_row.groupby(ids).transform("count") > 0, pd.NA)
    return per_row


def officer_effects(officers: pd.DataFrame | None, profile, *, k_suppress: int = K_SUPPRESS,
                    indicators: tuple[str, ...] = codebook.OFFICER_INDICATORS) -> pd.DataFrame:
    """Officer-side effects, one row per indicator, in the columns of ``impact.csv``.

    Parameters
    ----------
    officers : pandas.DataFrame or None
        Processed officers (codebook.OFFICER_VARS); ``None`` when the city has no
        officer survey (an empty table is returned).
    profile : CityProfile
    k_suppress : int
        Minimum officers in every design cell.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`analysis.impact.IMPACT_COLUMNS`; ``design`` is
        ``"did_trained"`` or ``"pre_post"``.
    """
    from .impact import _order, scale_label

    if officers is None or len(officers) == 0:
        return _order(pd.DataFrame(columns=["city"]))
    df = officers.copy()
    df["post"] = (df["wave"] == "follow_up").astype(float)
    df["trained"] = _trained(df)
    rows = []
    for outcome in indicators:
        d = df[df[outcome].notna()]
        cells = d.dropna(subset=["trained"]).groupby(["trained", "wave"], observed=True).size()
        did_ok = len(cells) == 4 and cells.min() >= k_suppress
        row = {"city": profile.city, "population": "officers", "outcome": outcome, "group": "all",
               "scale": scale_label(outcome, "officers"), "n_clusters": np.nan}
        if did_ok:
            d = d.dropna(subset=["trained"])
            t = d["trained"].astype(float)
            X = np.column_stack([t * d["post"], np.ones(len(d)), t, d["post"]])
            design, min_cell = "did_trained", int(cells.min())
        else:
            per_wave = d.groupby("wave", observed=True).size()
            min_cell = int(per_wave.min()) if len(per_wave) == 2 else 0
            X = np.column_stack([d["post"], np.ones(len(d))])
            design = "pre_post"
        row.update(design=design, n=len(d), min_cell=min_cell)
        if min_cell < k_suppress:
            row["note"] = f"suppressed: fewer than {k_suppress} officers in a wave"
            rows.append(row)
            continue
        fit = sm.OLS(d[outcome].to_numpy(dtype=float), X).fit(cov_type="HC1", use_t=True)
        q = stats.t.ppf(0.975, fit.df_resid)
        est, se = float(fit.params[0]), float(fit.bse[0])
        row.update(estimate=est, std_error=se, ci_low=est - q * se, ci_high=est + q * se,
                   p_value=float(fit.pvalues[0]), crv_ci_low=np.nan, crv_ci_high=np.nan,
                   inference="OLS, HC1 robust standard errors (t)", note=CAVEAT)
        rows.append(row)
    return _order(pd.DataFrame(rows))
