"""Simulated respondents with a planted pilot effect, for validation and the design planner.

Owns the data-generating process of the Monte Carlo checks (``benchmarks/simulate_did.py``,
:mod:`analysis.statistics.planner`). Must not be used on real data.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import SEED
from analysis.inputs.profile import CityProfile

# ========================================================================= validation
def simulate_respondents(
    n_clusters: int = 10,
    n_per_cell: int = 60,
    *,
    effect: float = 0.0,
    trend: float = 0.0,
    cluster_sd: float = 0.3,
    shock_sd: float = 0.2,
    noise_sd: float = 2.0,
    group_effect: float = 0.0,
    comparison: bool = True,
    seed: int = SEED,
) -> pd.DataFrame:
    """Residents of a made-up pilot with a *known* effect, for validating the estimators.

    Half the neighbourhoods (rounded up) are pilot areas, the rest comparison areas (or
    none with ``comparison=False``). Outcome ``trust_police`` on a continuous 0-10-like
    scale::

        y = 5 + a_nbh + trend*post + s_nbh,wave + effect*treated*post
              + group_effect*treated*post*migrant + age/gender terms + e

    ``s_nbh,wave`` (sd ``shock_sd``) is a neighbourhood-by-wave shock, the reason
    inference must be clustered. Weights are drawn in [0.5, 2] independently of y.
    """
    rng = np.random.default_rng(seed)
    codes = [f"N{i:02d}" for i in range(n_clusters)]
    n_pilot = (n_clusters + 1) // 2 if comparison else n_clusters
    area = {c: ("pilot" if i < n_pilot else "comparison") for i, c in enumerate(codes)}
    a = dict(zip(codes, rng.normal(0, cluster_sd, n_clusters)))
    frames = []
    for wave in codebook.WAVES:
        for c in codes:
            n = n_per_cell
            post = float(wave == "follow_up")
            treated = float(area[c] == "pilot")
            ag = rng.choice(codebook.AGE_GROUPS, size=n)
            gender = rng.choice(codebook.GENDERS, size=n)
            migrant = rng.random(n) < 0.3
            y = (5 + a[c] + trend * post + rng.normal(0, shock_sd) + effect * treated * post
                 + group_effect * treated * post * migrant
                 + 0.3 * (ag == "65+") - 0.4 * (ag == "15-24") + 0.2 * (gender == "female")
                 + rng.normal(0, noise_sd, n))
            frames.append(pd.DataFrame({
                "city": "simulated", "wave": wave, "neighbourhood": c, "pilot_area": area[c],
                "age_group": ag, "gender": gender, "migrant_background": migrant,
                "police_contact_12m": rng.random(n) < 0.25, "trust_police": y,
                "weight": rng.uniform(0.5, 2.0, n),
            }))
    df = pd.concat(frames, ignore_index=True)
    for col in ("city", "wave", "neighbourhood", "pilot_area", "age_group", "gender"):
        df[col] = df[col].astype("str")
    for col in ("migrant_background", "police_contact_12m"):
        df[col] = df[col].astype("boolean")
    df["age"] = pd.array([int(s[:2]) + 2 for s in df["age_group"]], dtype="Int64")
    df["trust_police"] = df["trust_police"].astype("Float64")
    return df


def simulated_profile(n_clusters: int = 10, *, comparison: bool = True, synthetic: bool = True,
                      targeted_groups: tuple[str, ...] = ("young", "migrant_background")):
    """A valid :class:`CityProfile` matching :func:`simulate_respondents` (for tests)."""

    codes = [f"N{i:02d}" for i in range(n_clusters)]
    n_pilot = (n_clusters + 1) // 2 if comparison else n_clusters
    return CityProfile.model_validate({
        "city": "simulated", "name": "Simulated city", "country": "FR", "languages": ["fr"],
        "synthetic": synthetic, "boundaries": {"unit": "quartier"},
        "neighbourhoods": [{"code": c, "name": f"Quartier {c}", "lon": 2.0 + i / 100, "lat": 47.0}
                           for i, c in enumerate(codes)],
        "pilot": {"name": "Simulated pilot", "kind": "simulation", "description": "made up",
                  "start": "2014-09-01", "end": "2015-06-30", "pilot_areas": codes[:n_pilot],
                  "comparison_areas": codes[n_pilot:], "targeted_groups": list(targeted_groups)},
        "waves": {"baseline": {"year": 2014, "start": "2014-05-01", "end": "2014-06-30"},
                  "follow_up": {"year": 2015, "start": "2015-09-01", "end": "2015-10-31"}},
        "margins": {"source": "made up", "counts": {c: {"female": [500] * 5, "male": [480] * 5}
                                                    for c in codes}},
        "residents": {"files": [{"path": "x.csv", "format": "csv"}], "columns": {}},
    })


