"""Small display helpers shared by the notebook templates (no analysis here).

Owns small display helpers of the notebook templates. Must not compute a statistic nor
write a file: the steps (analysis.running.steps) do.
"""

from __future__ import annotations

import pandas as pd

from analysis.config import PATHS
from analysis.io import SYNTHETIC_NOTE
from analysis.inputs.profile import CityProfile
from analysis.publishing.figures import figure_paths


def setup() -> None:
    """Display options for the notebooks: full cell text, no index truncation."""
    pd.set_option("display.max_colwidth", 200)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.width", 120)


def data_status(profile: CityProfile) -> str:
    """One line saying whether the city's data are synthetic (printed by every notebook)."""
    if profile.synthetic:
        return (f"{profile.name}: {SYNTHETIC_NOTE}. Every number below is made up by the seeded "
                f"generator (analysis.demo.synthetic) and is not a finding about {profile.name}.")
    return f"{profile.name}: data delivered by the city (confidential; outputs must not be committed)."


def design_summary(profile: CityProfile) -> pd.DataFrame:
    """The pilot design as a small table: pilot, kind, areas, comparison, waves, groups."""
    names = {n.code: n.name for n in profile.neighbourhoods}

    def areas(codes):
        return "; ".join(f"{c} {names[c]}" for c in codes) or "none (pre/post design)"

    rows = [
        ("City", f"{profile.name} ({profile.country})"),
        ("Pilot", profile.pilot.name),
        ("Kind", profile.pilot.kind),
        ("Pilot period", f"{profile.pilot.start} to {profile.pilot.end}"),
        (f"Pilot areas ({profile.boundaries.unit})", areas(profile.pilot.pilot_areas)),
        ("Comparison areas", areas(profile.pilot.comparison_areas)),
        ("Design", "difference-in-differences" if profile.has_comparison else "pre/post (weaker design)"),
        ("Waves", "; ".join(f"{w} {v.start}..{v.end}" for w, v in profile.waves.items())),
        ("Targeted groups", ", ".join(profile.pilot.targeted_groups)),
        ("Data", "SYNTHETIC demonstration data" if profile.synthetic else "city data"),
    ]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def rounded(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Round floats for display, so stored outputs are stable across machines."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(digits)
    return out


def show_figure(city: str, fig_id: str, lang: str = "en", width: int = 900):
    """The published figure ``fig_id`` of ``city`` (``"cross-city"``), as its step saved it (PNG).

    The notebooks show the saved file, not a new drawing: what the reader sees is what the
    report prints (stamp and printed font sizes included), and the figure is not drawn a
    second time. Raises FileNotFoundError, naming the file, when the step did not save it.
    """
    from IPython.display import Image

    png = figure_paths(city, fig_id, lang)["png"]
    if not png.is_file():
        raise FileNotFoundError(f"{png.relative_to(PATHS.root)}: figure {fig_id!r} was not saved by its step")
    return Image(filename=str(png), width=width)
