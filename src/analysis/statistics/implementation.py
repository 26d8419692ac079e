"""Implementation of a pilot, from its activity log: what was done, where, when, for whom.

Owns the implementation summary from a pilot's activity log (volume, reach, fidelity).
Must not rate the evidence nor estimate effects: evidence reads its fidelity.

Reported: activities and participants by type; reach per neighbourhood (resident
participants per 1,000 residents of the population margins); a monthly timeline; and
fidelity, the share of activities held in the pilot areas (activities elsewhere are
spill-over or drift, and dilute the contrast the impact design relies on); and, where the
profile gives the pilot's cost, the cost per resident reached (:func:`cost_per_reach`).

Owns these summaries and the timeline figure; must not word anything itself: labels, titles
and dates come from :mod:`analysis.publishing.text` in the figure's language.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.publishing import text


def implementation_summary(activities: pd.DataFrame | None, profile) -> dict:
    """Summarise the activity log of a city.

    Parameters
    ----------
    activities : pandas.DataFrame or None
        Processed activities (codebook.ACTIVITY_VARS); ``None`` when there is no log.
    profile : CityProfile

    Returns
    -------
    dict
        ``available`` (bool), ``n_activities``, ``participants``, ``fidelity`` (share in
        pilot areas), ``in_window`` (share dated within the pilot period), and frames
        ``by_type``, ``reach``, ``timeline`` and ``table`` (the long ``implementation.csv``:
        ``section`` and ``key`` codes, ``month`` on the timeline rows; fidelity keys
        ``in_pilot_areas`` / ``in_pilot_period``, total ``all``, no log ``none`` / ``no_log``).
    """
    empty = pd.DataFrame(columns=["city", "section", "key", "month", "activities", "participants",
                                  "participants_police", "population", "reach_per_1000", "share"])
    if activities is None or len(activities) == 0:
        return {"available": False, "n_activities": 0, "participants": 0, "fidelity": float("nan"),
                "in_window": float("nan"), "by_type": empty, "reach": empty, "timeline": empty,
                "table": empty.assign(section=["none"], key=["no_log"], city=profile.city)}
    df = activities.copy()
    df["area_type"] = df["neighbourhood"].map(profile.area_type)
    df["participants"] = df["participants"].astype("Float64")
    df["participants_police"] = df["participants_police"].astype("Float64")
    agg = dict(activities=("activity_type", "size"), participants=("participants", "sum"),
               participants_police=("participants_police", "sum"))

    by_type = df.groupby("activity_type", observed=True).agg(**agg).reset_index()
    by_type["share"] = by_type["activities"] / len(df)
    by_type = by_type.rename(columns={"activity_type": "key"})

    pop = profile.margins_frame().groupby("neighbourhood")["population"].sum()
    reach = df.groupby("neighbourhood", observed=True).agg(**agg)
    reach = reach.reindex(sorted(set(reach.index) | set(profile.pilot.pilot_areas))).fillna(0)
    reach["population"] = pop.reindex(reach.index).astype(float)
    reach["reach_per_1000"] = reach["participants"].astype(float) / reach["population"] * 1000
    reach["area_type"] = [profile.area_type(c) for c in reach.index]
    reach = reach.reset_index().rename(columns={"neighbourhood": "key"})

    month = df["date"].dt.to_period("M").dt.to_timestamp()
    timeline = (df.assign(month=month).groupby(["month", "activity_type"], observed=True)
                .size().rename("activities").reset_index())

    fidelity = float((df["area_type"] == "pilot").mean())
    start, end = pd.Timestamp(profile.pilot.start), pd.Timestamp(profile.pilot.end)
    in_window = float(df["date"].between(start, end).mean())

    table = pd.concat([
        by_type.assign(section="by_type"),
        reach.drop(columns="area_type").assign(section="reach_" + reach["area_type"]),
        # month and activity type are two columns: nothing is packed into the key to be split back
        timeline.assign(section="timeline", key=timeline["activity_type"].astype(str),
                        month=timeline["month"].dt.strftime("%Y-%m")).drop(columns=["activity_type"]),
        pd.DataFrame([{"section": "fidelity", "key": "in_pilot_areas", "share": fidelity},
                      {"section": "fidelity", "key": "in_pilot_period", "share": in_window},
                      {"section": "total", "key": "all", "activities": len(df),
                       "participants": float(df["participants"].sum()),
                       "participants_police": float(df["participants_police"].sum())}]),
    ], ignore_index=True)
    table.insert(0, "city", profile.city)
    table = table[empty.columns]
    return {"available": True, "n_activities": int(len(df)),
            "participants": float(df["participants"].sum()), "fidelity": fidelity,
            "in_window": in_window, "by_type": by_type, "reach": reach, "timeline": timeline,
            "table": table}


#: Columns of ``cost.csv`` (:func:`cost_per_reach`).
COST_COLUMNS: tuple[str, ...] = ("city", "status", "amount", "currency", "start", "end", "participants",
                                 "cost_per_participant", "population_pilot_areas", "cost_per_resident_pilot_areas")


def cost_per_reach(summary: dict, profile) -> pd.DataFrame:
    """EMMIE's economic dimension: the pilot's cost per resident reached, one row (``cost.csv``).

    ``cost_per_participant`` is the profile's ``pilot.cost.amount`` divided by the resident
    participants of the activity log (every activity's ``participants``, summed: a resident
    who came to three meetings counts three times, so this is a cost per attendance, lower
    than the cost per distinct resident). ``cost_per_resident_pilot_areas`` divides it by the
    population of the pilot areas (the profile's margins): the cost per inhabitant of the
    areas the pilot served.

    Parameters
    ----------
    summary : dict
        :func:`implementation_summary` output.
    profile : CityProfile

    Returns
    -------
    pandas.DataFrame
        :data:`COST_COLUMNS`; ``status`` ``computed``, or ``no_cost`` (the profile gives no
        cost), ``no_activity_log``, ``no_participants`` (the log records none), with the
        ratio it cannot compute left blank. Participants and population are not counts of
        respondents (:data:`analysis.sdc.NOT_RESPONDENT_COUNTS`).
    """
    cost = profile.pilot.cost
    row: dict = {"city": profile.city}
    if cost is None:
        row["status"] = "no_cost"
    else:
        row.update(amount=float(cost.amount), currency=cost.currency, start=cost.start.isoformat(),
                   end=cost.end.isoformat())
        participants = float(summary.get("participants") or 0.0) if summary.get("available") else float("nan")
        row["participants"] = participants
        if not summary.get("available"):
            row["status"] = "no_activity_log"
        elif not participants > 0:
            row["status"] = "no_participants"
        else:
            row["status"] = "computed"
            row["cost_per_participant"] = float(cost.amount) / participants
        pop = profile.margins_frame()
        pop = pop.loc[pop["neighbourhood"].isin(profile.pilot.pilot_areas), "population"].sum()
        if pop > 0:
            row["population_pilot_areas"] = float(pop)
            row["cost_per_resident_pilot_areas"] = float(cost.amount) / float(pop)
    out = pd.DataFrame([row])
    for c in COST_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    return out[list(COST_COLUMNS)]


def implementation_view(summary: dict, lang: str = "en") -> pd.DataFrame:
    """Readable table of activities by type (labels, counts, participants)."""
    if not summary["available"]:
        return pd.DataFrame({"note": [text.tr("impl.no_log_delivered", lang)]})
    v = codebook.var("activity_type", "activities")
    bt = summary["by_type"]
    return pd.DataFrame({
        "activity": [v.category_label(k, lang) for k in bt["key"]],
        "activities": bt["activities"].astype(int).to_numpy(),
        "participants": bt["participants"].astype(float).round(0).to_numpy(),
        "police": bt["participants_police"].astype(float).round(0).to_numpy(),
        "share": bt["share"].astype(float).round(3).to_numpy(),
    })


def plot_timeline(summary: dict, profile, lang: str = "en"):
    """Monthly activities by type (stacked bars), pilot period and survey waves shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    tl = summary["timeline"]
    if summary["available"] and len(tl):
        wide = tl.pivot_table(index="month", columns="activity_type", values="activities",
                              aggfunc="sum", fill_value=0)
        v = codebook.var("activity_type", "activities")
        bottom = np.zeros(len(wide))
        for i, col in enumerate(wide.columns):
            lab = v.category_label(col, lang)
            ax.bar(wide.index, wide[col].to_numpy(), width=25, bottom=bottom, label=lab,
                   color=plt.cm.tab10(i % 10), align="edge")
            bottom = bottom + wide[col].to_numpy()
        ax.legend(ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    else:
        ax.text(0.5, 0.5, text.tr("impl.no_log", lang),
                transform=ax.transAxes, ha="center")
    for name, wave in profile.waves.items():
        ax.axvspan(pd.Timestamp(wave.start), pd.Timestamp(wave.end), color="0.85", zorder=0)
        mid = pd.Timestamp(wave.start) + (pd.Timestamp(wave.end) - pd.Timestamp(wave.start)) / 2
        ax.annotate(text.tr(f"impl.survey.{name}", lang),
                    (mid, 0.98), xycoords=("data", "axes fraction"), ha="center",
                    fontsize=7, va="top", color="0.35")
    ax.axvline(pd.Timestamp(profile.pilot.start), color="k", lw=0.8, ls="--")
    ax.axvline(pd.Timestamp(profile.pilot.end), color="k", lw=0.8, ls="--")
    ax.set_ylabel(text.tr("impl.per_month", lang))
    ax.set_title(text.tr("impl.title", lang, city=text.city_name(profile, lang)))
    # month names of the language on the time axis ("mars 2015"), never ISO dates
    ax.xaxis.set_major_formatter(text.date_formatter(lang))
    text.localise_axes(fig, lang)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
