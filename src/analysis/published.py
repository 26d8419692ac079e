"""Columns of published data that more than one module must agree on.

Owns the column lists of the tables the offline dashboard embeds, so that the page that
writes them (:mod:`analysis.dashboard`) and the disclosure check that reads them
(:mod:`analysis.disclosure`) share one declaration. It must import nothing of the package.
"""

from __future__ import annotations

#: Columns of the neighbourhood table the dashboard embeds (all published, suppressed).
DASHBOARD_ROW_COLUMNS: tuple[str, ...] = ("neighbourhood", "wave", "indicator", "group", "n", "estimate",
                                          "ci_low", "ci_high", "shrunk", "status")
#: Columns of the area table the dashboard embeds.
DASHBOARD_AREA_COLUMNS: tuple[str, ...] = ("area_type", "wave", "indicator", "group", "n", "estimate",
                                           "ci_low", "ci_high", "neighbourhoods", "same_neighbourhoods",
                                           "status")
