"""Columns of published data that more than one module must agree on.

Owns the declarations of published tables' columns that several modules share. Must not
import anything above analysis.inputs: every stage writes through it (a contract module).

Owns the column lists of the tables the offline dashboard embeds, so that the page that
writes them (:mod:`analysis.publishing.dashboard`) and the disclosure check that reads them
(:mod:`analysis.publishing.disclosure`) share one declaration. It must import nothing of the package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of the neighbourhood table the dashboard embeds (all published, suppressed).
DASHBOARD_ROW_COLUMNS: tuple[str, ...] = ("neighbourhood", "wave", "indicator", "group", "n", "estimate",
                                          "ci_low", "ci_high", "shrunk", "status")
#: Columns of the area table the dashboard embeds.
DASHBOARD_AREA_COLUMNS: tuple[str, ...] = ("area_type", "wave", "indicator", "group", "n", "estimate",
                                           "ci_low", "ci_high", "neighbourhoods", "same_neighbourhoods",
                                           "status")


#: Columns of a city's ``impact.csv`` (residents and officers), in order.
IMPACT_COLUMNS = ["city", "population", "outcome", "group", "design", "estimate", "std_error",
                  "ci_low", "ci_high", "p_value", "inference", "crv_ci_low", "crv_ci_high",
                  "crv_p_value", "n", "n_clusters", "n_clusters_treated", "min_cell", "scale",
                  "diff_vs_rest", "diff_ci_low", "diff_ci_high", "diff_p_value", "note",
                  # codes (section "groups and designs that cannot support inference")
                  "status", "estimable", "not_estimable_reason", "n_clusters_both_waves",
                  "n_clusters_treated_both_waves", "min_p", "diff_status", "diff_not_estimable_reason"]


def order_impact_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column of :data:`IMPACT_COLUMNS`, in order (missing ones empty)."""
    for c in IMPACT_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    return df[IMPACT_COLUMNS]
