"""Synthetic demonstration data: what nine municipalities could have delivered.

Owns the seeded generator of the demo cities' raw files and their planted truth. Must not be
imported by an analysis step: the pipeline reads its files as any city's, through the profile.

The real IMPPULSE microdata are confidential. This module makes, from a city profile
(:mod:`analysis.inputs.profile`), data with the shape, formats and quirks of real municipal
deliveries, so that every notebook, figure and test runs on a fresh clone. Everything it
makes is labelled synthetic.

Two steps, kept apart so that tests can look at the truth before it is formatted:

:func:`generate_city`
    Draws residents, officers and the pilot's activity log *in the codebook world*
    (codebook column names and values), plus a log of every planted fault and the
    realised true effects. Vectorised: a million residents take a few seconds.
:func:`write_raw`
    Formats those frames into the raw files the profile describes (CSV with any
    delimiter, decimal mark and encoding, XLSX sheets, SPSS ``.sav``, Stata ``.dta``),
    turning codebook values back into the city's labels by inverting the profile's
    value mapping. A careful reader that follows the profile therefore reads them back.

The model (residents)
---------------------
Each respondent has a latent attitude to the police::

    theta = city level + neighbourhood effect (pilot areas lower at baseline)
            + group effects (young, migrant background, police-initiated contact, ...)
            + person noise

and each rating item is ``round(mean + loading * theta + item noise)`` clipped to the
item's scale, so the items correlate (Cronbach's alpha of the procedural-justice items
about 0.75). Two planted changes are added on each item's *own* scale:

* a common time trend (:data:`CitySettings.trend`) in every area at follow-up, so a naive
  pre/post comparison is biased and difference-in-differences is not;
* the pilot effect (:data:`CitySettings.effects`) in pilot areas at follow-up, multiplied
  for members of the city's targeted group(s) (:data:`CitySettings.boosts`). Toulouse has
  a zero effect: a pilot that did not work.

Respondents are drawn with age and gender shares that differ from the population margins
(young men answer least), and pilot and comparison areas are over-sampled, so weighting
matters.

Faults planted in a small share of rows (each recorded in ``frames["faults"]``):
duplicate respondents (same id, same wave, re-entered), impossible ages, unknown
neighbourhood codes, interview dates outside the fieldwork window, stray whitespace and
mixed case in gender labels, impossible years of service for officers. Don't-know answers
(ESS 77/88/99 codes or labels such as "NSP") are recorded there too (kind ``dont_know``).

Regenerate the shipped demo data with ``python -m analysis.demo.synthetic``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.config import CITIES, PATHS, SEED
from analysis.io import atomic_path
from analysis.inputs.profile import CityProfile, DatasetSpec, FileSpec, load_profile

#: Bump when the generator changes in a way that changes its output.
GENERATOR_VERSION = "1.0"

SYNTHETIC_LABEL = "SYNTHETIC demonstration data (IMPPULSE), not real survey results"

#: Fixed timestamp written into file metadata so regenerated files are byte-identical.
FIXED_TIMESTAMP = dt.datetime(2015, 9, 1, 0, 0, 0)

# --------------------------------------------------------------------------- items
#: Resident rating items: (low, high, baseline mean, loading on theta, noise sd).
#: Means sit away from the scale bounds so clipping barely attenuates planted effects.
ITEMS: dict[str, tuple[int, int, float, float, float]] = {
    "trust_police": (0, 10, 5.6, 1.55, 1.25),
    "pj_respect": (1, 4, 2.85, 0.56, 0.38),
    "pj_fair": (1, 4, 2.65, 0.56, 0.38),
    "pj_explain": (1, 4, 2.40, 0.54, 0.42),
    "eff_violence": (0, 10, 5.2, 1.25, 1.55),
    "eff_burglary": (0, 10, 4.6, 1.25, 1.55),
    "duty_support_police": (0, 10, 6.3, 1.30, 1.75),
    "willing_report": (1, 4, 3.05, 0.32, 0.55),
    "feel_safe_dark": (1, 4, 2.85, 0.28, 0.58),
    "contact_satisfaction": (1, 5, 3.30, 0.60, 0.80),
}
#: Officer rating items (1-5): (baseline mean, loading on the officer's latent, noise sd).
OFFICER_ITEMS: dict[str, tuple[float, float, float]] = {
    "off_public_support": (2.9, 0.55, 0.60),
    "off_youth_attitude": (2.8, 0.60, 0.60),
    "off_confidence_contacts": (3.4, 0.45, 0.60),
    "off_job_satisfaction": (3.2, 0.40, 0.70),
}
#: Share of don't-know / refusal answers per item (effectiveness items are hardest).
DK_RATE: dict[str, float] = {
    "trust_police": 0.02, "pj_respect": 0.04, "pj_fair": 0.05, "pj_explain": 0.05,
    "eff_violence": 0.07, "eff_burglary": 0.07, "duty_support_police": 0.04,
    "willing_report": 0.02, "feel_safe_dark": 0.01,
}
#: Share of officer answers left blank (no answer).
OFFICER_NO_ANSWER_RATE = 0.015

#: Relative chance of answering, by gender and codebook age group: young men answer
#: least, older women most (typical of face-to-face and phone surveys).
RESPONSE_PROPENSITY: dict[str, tuple[float, ...]] = {
    "male": (0.50, 0.65, 0.90, 1.10, 1.30),
    "female": (0.70, 0.85, 1.00, 1.20, 1.40),
}

#: Fault rates: share of rows of each wave (at least one fault of each kind when a wave
#: has 200 rows or more).
FAULT_RATES: dict[str, float] = {
    "duplicate": 0.005,
    "bad_age": 0.003,
    "unknown_neighbourhood": 0.003,
    "date_outside_window": 0.003,
    "label_whitespace": 0.008,
}
#: Values used for impossible ages.
BAD_AGES = (7, 150, 999)

INDEX_ITEMS = {ix.name: ix.items for ix in codebook.INDICES}


@dataclass(frozen=True)
class CitySettings:
    """What the generator needs for a city beyond its profile.

    Effects and trends are on each item's own scale (0-10, 1-4 or 1-5), for residents
    who belong to no boosted group; :func:`true_effect` derives index effects.
    """

    n_per_wave: int
    id_prefix: str
    n_officers: int
    n_activities: int
    #: city-wide shift of the latent attitude (SD units)
    level: float = 0.0
    #: share of residents with a migrant background (pilot areas get +0.10)
    migrant_share: float = 0.2
    #: common change baseline -> follow-up in every area, item -> change on item scale
    trend: dict[str, float] = field(default_factory=dict)
    #: DiD effect in pilot areas at follow-up, item -> effect on item scale
    effects: dict[str, float] = field(default_factory=dict)
    #: targeted group -> multiplier of ``effects`` for its members (groups disjoint)
    boosts: dict[str, float] = field(default_factory=dict)
    #: change at follow-up among officers trained in the pilot (1-5 scale)
    officer_effects: dict[str, float] = field(default_factory=dict)
    officer_trend: dict[str, float] = field(default_factory=dict)
    #: raw names of columns that are not in the codebook (weight, duration, ...)
    extra_columns: dict[str, str] = field(default_factory=dict)
    #: raw values used for unknown neighbourhoods (codes or names of other communes)
    unknown_places: tuple[str, ...] = ("99",)
    #: police units (officer survey)
    units: tuple[str, ...] = ("Unit 1", "Unit 2", "Unit 3")
    #: labels attached to numeric codes in sav/dta files read with value_labels: false
    code_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    #: raw labels alternate between the profile's label variants by row language
    bilingual: bool = False
    #: title lines written above the header of XLSX sheets with skiprows
    sheet_title: str = ""
    #: activity types (codebook codes) and their relative frequency
    activity_mix: dict[str, float] = field(default_factory=dict)
    #: raw name of the activity log's duration column (hours, with decimals)
    activity_duration_column: str = "duree_h"


_FR_TREND = {  # trust in the police rose in France after January 2015
    "trust_police": 0.35, "pj_respect": 0.06, "pj_fair": 0.05, "pj_explain": 0.04,
    "eff_violence": 0.25, "eff_burglary": 0.10, "duty_support_police": 0.25,
    "willing_report": 0.05, "feel_safe_dark": -0.05,
}
_FR_EXTRA = {"weight": "POIDS_TERRAIN", "duration": "DUREE_MIN", "interviewer": "ENQUETEUR"}


def _scaled(effects: dict[str, float], k: float) -> dict[str, float]:
    return {item: round(v * k, 4) for item, v in effects.items()}


_BASE_EFFECT = {
    "trust_police": 0.50, "pj_respect": 0.15, "pj_fair": 0.12, "pj_explain": 0.18,
    "eff_violence": 0.20, "eff_burglary": 0.10, "duty_support_police": 0.30,
    "willing_report": 0.10, "feel_safe_dark": 0.06, "contact_satisfaction": 0.20,
}
_OFFICER_BASE = {"off_public_support": 0.25, "off_youth_attitude": 0.40,
                 "off_confidence_contacts": 0.30, "off_job_satisfaction": 0.10}

#: Generator settings of the nine partner cities.
CITY_SETTINGS: dict[str, CitySettings] = {
    "nantes": CitySettings(
        activity_duration_column="DUREE_H",
        n_per_wave=1000, id_prefix="NA", n_officers=90, n_activities=48, level=0.05,
        migrant_share=0.18, trend=_FR_TREND, effects=_scaled(_BASE_EFFECT, 1.0),
        boosts={"young": 2.0}, officer_effects=_OFFICER_BASE,
        officer_trend={"off_public_support": 0.10}, extra_columns=_FR_EXTRA,
        unknown_places=("Rezé", "Saint-Herblain", "Orvault"),
        units=("Commissariat central Waldeck-Rousseau", "Bureau de police Nantes Nord",
               "Bureau de police Bellevue", "Brigade spécialisée de terrain"),
        activity_mix={"meeting": 3, "school_visit": 3, "joint_patrol": 1, "mediation": 2, "other": 1},
    ),
    "amiens": CitySettings(
        activity_duration_column="Durée (h)",
        n_per_wave=800, id_prefix="AM", n_officers=60, n_activities=30, level=-0.05,
        migrant_share=0.12, trend=_FR_TREND, effects=_scaled(_BASE_EFFECT, 0.8),
        boosts={"young": 2.0}, officer_effects=_scaled(_OFFICER_BASE, 0.8),
        extra_columns={"weight": "poids"}, unknown_places=("AM99", "AM00"),
        units=("Hôtel de police Amiens", "Bureau de police Amiens Nord", "Police municipale"),
        code_labels={
            "sexe": {1: "Homme", 2: "Femme"},
            "immig": {1: "Oui", 2: "Non"}, "contact": {1: "Oui", 2: "Non"},
            "connait": {1: "Oui", 2: "Non"}, "participe": {1: "Oui", 2: "Non"},
            "contact_init": {1: "Vous-même", 2: "La police"},
            "vague": {1: "Vague 1 (2014)", 2: "Vague 2 (2015)"},
            "securite_nuit": {1: "Tout à fait en sécurité", 2: "En sécurité",
                              3: "Pas en sécurité", 4: "Pas du tout en sécurité",
                              77: "Refus", 88: "Ne sait pas"},
            "confiance": {0: "Aucune confiance", 10: "Confiance totale", 77: "Refus",
                          88: "Ne sait pas"},
        },
        activity_mix={"meeting": 2, "school_visit": 4, "mediation": 2, "info_stand": 1},
    ),
    "aubervilliers": CitySettings(
        activity_duration_column="duree_h",
        n_per_wave=800, id_prefix="AU", n_officers=50, n_activities=40, level=-0.25,
        migrant_share=0.50, trend=_FR_TREND, effects=_scaled(_BASE_EFFECT, 1.1),
        boosts={"young": 2.5}, officer_effects=_scaled(_OFFICER_BASE, 1.3),
        extra_columns={"duration": "duree_min"}, unknown_places=("AU13", "AU99"),
        units=("Commissariat d'Aubervilliers", "Brigade de proximité", "Police municipale"),
        code_labels={
            "sexe": {1: "homme", 2: "femme"},
            "origine_mig": {0: "non", 1: "oui"}, "contact_pol": {0: "non", 1: "oui"},
            "connait_projet": {0: "non", 1: "oui"}, "participe_projet": {0: "non", 1: "oui"},
            "contact_init": {1: "habitant", 2: "police"},
        },
        activity_mix={"meeting": 2, "school_visit": 3, "mediation": 3, "training_session": 1},
    ),
    "toulouse": CitySettings(
        activity_duration_column="Durée (h)",
        # The pilot that did not work: no effect on residents or officers.
        n_per_wave=1200, id_prefix="TL", n_officers=110, n_activities=36, level=0.0,
        migrant_share=0.18, trend=_FR_TREND, effects={}, boosts={"young": 2.0},
        officer_effects={}, extra_columns={"weight": "poids", "duration": "duree_min"},
        unknown_places=("0", "21", "99"),
        units=("Commissariat central", "Bureau de police Mirail", "Bureau de police Empalot",
               "Police municipale"),
        activity_mix={"meeting": 3, "joint_patrol": 2, "info_stand": 2, "other": 1},
    ),
    "milan": CitySettings(
        activity_duration_column="durata_ore",
        n_per_wave=1600, id_prefix="MI", n_officers=160, n_activities=60, level=0.10,
        migrant_share=0.22, trend={"trust_police": -0.15, "feel_safe_dark": -0.05,
                                   "eff_burglary": -0.10},
        effects=_scaled(_BASE_EFFECT, 0.7), boosts={"young": 2.0},
        officer_effects=_scaled(_OFFICER_BASE, 0.7), extra_columns={"weight": "peso"},
        unknown_places=("0", "89", "99"),
        units=("Polizia Locale - Comando Zona 4", "Polizia Locale - Comando Zona 6",
               "Polizia Locale - Comando Zona 7", "Polizia Locale - Comando Zona 8",
               "Vigile di quartiere"),
        activity_mix={"meeting": 3, "joint_patrol": 3, "info_stand": 2, "school_visit": 1},
    ),
    "barcelona": CitySettings(
        activity_duration_column="durada_hores",
        n_per_wave=1600, id_prefix="BCN", n_officers=150, n_activities=60, level=0.15,
        migrant_share=0.24, trend={"trust_police": 0.10, "pj_fair": 0.03},
        effects=_scaled(_BASE_EFFECT, 0.8), boosts={"young": 1.8},
        officer_effects=_scaled(_OFFICER_BASE, 0.8), extra_columns={"weight": "Pes"},
        unknown_places=("74", "00", "99"),
        units=("Guàrdia Urbana - UT Ciutat Vella", "Guàrdia Urbana - UT Nou Barris",
               "Guàrdia Urbana - UT Sant Martí", "Mossos d'Esquadra - ABP"),
        sheet_title="Enquesta de relacions policia-ciutadania, Barcelona 2014-2015 - "
                    "DADES SINTÈTIQUES (synthetic demonstration data)",
        activity_mix={"meeting": 3, "school_visit": 2, "mediation": 2, "info_stand": 1},
    ),
    "brussels": CitySettings(
        activity_duration_column="Durée/Duur (h)",
        n_per_wave=1000, id_prefix="BXL", n_officers=120, n_activities=42, level=0.0,
        migrant_share=0.42, trend={"trust_police": 0.05, "feel_safe_dark": -0.08},
        effects={"trust_police": 0.35, "pj_respect": 0.22, "pj_fair": 0.15,
                 "pj_explain": 0.25, "eff_violence": 0.05, "eff_burglary": 0.0,
                 "duty_support_police": 0.20, "willing_report": 0.12, "feel_safe_dark": 0.0,
                 "contact_satisfaction": 0.40},
        boosts={"police_contact": 2.5},
        officer_effects={"off_public_support": 0.20, "off_youth_attitude": 0.15,
                         "off_confidence_contacts": 0.50, "off_job_satisfaction": 0.15},
        extra_columns={"weight": "weight_fieldwork", "language": "langue_taal"},
        unknown_places=("0", "999", "41"),
        units=("Zone de police Bruxelles-Capitale/Ixelles - Division Centre",
               "Zone de police Bruxelles-Capitale/Ixelles - Division Nord",
               "Zone de police Bruxelles-Capitale/Ixelles - Division Ixelles",
               "Accueil - commissariat central"),
        bilingual=True,
        activity_mix={"training_session": 5, "meeting": 2, "other": 1},
    ),
    "vilnius": CitySettings(
        activity_duration_column="trukme_val",
        n_per_wave=1200, id_prefix="VLN", n_officers=100, n_activities=36, level=-0.10,
        migrant_share=0.05, trend={"trust_police": 0.20, "eff_violence": 0.10},
        effects=_scaled(_BASE_EFFECT, 0.9), boosts={"young": 2.0},
        officer_effects=_scaled(_OFFICER_BASE, 0.9), extra_columns={"weight": "svoris"},
        unknown_places=("Vilniaus r.", "Kaunas", "Nežinoma"),
        units=("Vilniaus AVPK 1-asis policijos komisariatas",
               "Vilniaus AVPK 2-asis policijos komisariatas",
               "Vilniaus AVPK 4-asis policijos komisariatas", "Viešosios tvarkos tarnyba"),
        activity_mix={"meeting": 3, "school_visit": 3, "joint_patrol": 1, "info_stand": 1},
    ),
    "lisbon": CitySettings(
        activity_duration_column="duracao_horas",
        n_per_wave=1400, id_prefix="LX", n_officers=130, n_activities=54, level=0.05,
        migrant_share=0.14, trend={"trust_police": 0.10, "feel_safe_dark": 0.03},
        effects={"trust_police": 0.30, "pj_respect": 0.10, "pj_fair": 0.08, "pj_explain": 0.10,
                 "eff_violence": 0.15, "eff_burglary": 0.25, "duty_support_police": 0.15,
                 "willing_report": 0.15, "feel_safe_dark": 0.25, "contact_satisfaction": 0.15},
        boosts={"shopkeeper": 2.0, "tourist": 1.5},
        officer_effects={"off_public_support": 0.35, "off_youth_attitude": 0.05,
                         "off_confidence_contacts": 0.30, "off_job_satisfaction": 0.20},
        extra_columns={"weight": "peso"}, unknown_places=("110699", "111101"),
        units=("Polícia Municipal de Lisboa - Divisão Centro",
               "Polícia Municipal de Lisboa - Divisão Ocidental", "PSP - 1.ª Divisão",
               "PSP - Esquadra de Turismo"),
        activity_mix={"meeting": 4, "joint_patrol": 3, "info_stand": 3, "other": 1},
    ),
}

#: City -> {item: planted DiD effect on the item's own scale, non-boosted residents}.
TRUE_EFFECTS: dict[str, dict[str, float]] = {c: dict(s.effects) for c, s in CITY_SETTINGS.items()}


# ----------------------------------------------------------------------- truth API
def _settings(city: str) -> CitySettings:
    try:
        return CITY_SETTINGS[city]
    except KeyError:
        raise KeyError(f"no generator settings for city {city!r}; known: {sorted(CITY_SETTINGS)}") from None


def _item_value(table: dict[str, float], indicator: str) -> float:
    """Value of ``indicator`` from an item table; indices combine their items on 0-10."""
    if indicator in INDEX_ITEMS:
        parts = [table.get(i, 0.0) * 10 / (ITEMS[i][1] - ITEMS[i][0]) for i in INDEX_ITEMS[indicator]]
        return float(np.mean(parts))
    if indicator not in ITEMS and indicator not in OFFICER_ITEMS:
        raise KeyError(f"{indicator!r} is not a resident item, index or officer item")
    return float(table.get(indicator, 0.0))


def true_effect(city: str, indicator: str, group: str | None = None) -> float:
    """The planted pilot effect (difference-in-differences) for a city.

    Parameters
    ----------
    city : str
        City slug.
    indicator : str
        A resident item (``trust_police``, ``pj_respect``, ..., effect on the item's own
        scale: 0-10, 1-4 or 1-5), a derived index (``pj_index``, ``eff_index``,
        ``legitimacy_index``: effect on the 0-10 index scale) or an officer item
        (``off_*``: change among officers trained in the pilot, on the 1-5 scale).
    group : str, optional
        A targeted group (key of :data:`analysis.inputs.codebook.TARGET_GROUPS`). For a group the
        city boosts, the effect for its members; for any other group (or None) the effect
        for residents outside every boosted group.

    Returns
    -------
    float
        The effect on the latent (unrounded) response. The effect on the observed,
        rounded and bounded responses of the sample is in ``frames["truth"]``
        (column ``realised``); the two differ by a few hundredths.
    """
    s = _settings(city)
    if indicator in OFFICER_ITEMS:
        return float(s.officer_effects.get(indicator, 0.0))
    mult = s.boosts.get(group, 1.0) if group is not None else 1.0
    return _item_value(s.effects, indicator) * mult


def time_trend(city: str, indicator: str) -> float:
    """The planted common change baseline -> follow-up (all areas), same scales as :func:`true_effect`."""
    s = _settings(city)
    if indicator in OFFICER_ITEMS:
        return float(s.officer_trend.get(indicator, 0.0))
    return _item_value(s.trend, indicator)


# ------------------------------------------------------------------------- margins
def synthetic_margins(neighbourhoods: pd.DataFrame, total_15plus: int, seed: int = SEED,
                      low_population: tuple[str, ...] = ()) -> dict[str, dict[str, list[int]]]:
    """Synthetic population margins (15+) by neighbourhood, gender and age group.

    Population is spread over units in proportion to ``area_km2 ** 0.6`` (dense small
    central units, sparse large outer ones) times a random factor, and scaled to
    ``total_15plus``; each unit gets a randomly perturbed city age-gender profile. Use
    it only for demonstration: real profiles should carry official census counts.

    Parameters
    ----------
    neighbourhoods : pandas.DataFrame
        Columns ``code`` and ``area_km2``.
    total_15plus : int
        City population aged 15 and over.
    seed : int
        Seed of the random factors.
    low_population : tuple of str
        Codes of units with almost no residents (parks, industry, cemeteries).

    Returns
    -------
    dict
        ``{code: {"female": [5 counts], "male": [5 counts]}}`` in codebook age-group order.
    """
    rng = np.random.default_rng([seed, 7])
    area = neighbourhoods["area_km2"].to_numpy(float)
    weight = area ** 0.6 * rng.lognormal(0, 0.25, len(area))
    low = neighbourhoods["code"].astype(str).isin(low_population).to_numpy()
    weight[low] *= 0.01
    pop = weight / weight.sum() * total_15plus
    base = {"female": np.array([0.075, 0.090, 0.125, 0.110, 0.120]),
            "male": np.array([0.075, 0.090, 0.125, 0.105, 0.085])}
    out = {}
    for code, p in zip(neighbourhoods["code"].astype(str), pop):
        young = rng.lognormal(0, 0.2)  # some units are student or family areas
        shares = {g: v * np.array([young, young, 1, 1, 1 / young]) * rng.lognormal(0, 0.05, 5)
                  for g, v in base.items()}
        tot = sum(s.sum() for s in shares.values())
        out[code] = {g: [int(round(p * x / tot)) for x in s] for g, s in shares.items()}
    return out


# ----------------------------------------------------------------------- generation
def _rng(seed: int, city: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(city.encode()), stream])


def _n_faults(n: int, rate: float) -> int:
    k = int(round(n * rate))
    return max(k, 1) if n >= 200 else k


def _random_dates(rng, start: dt.date, end: dt.date, n: int) -> np.ndarray:
    days = (end - start).days + 1
    return np.datetime64(start, "D") + rng.integers(0, days, n).astype("timedelta64[D]")


def _ages(rng, group_idx: np.ndarray) -> np.ndarray:
    lo = np.array([b[0] for b in codebook.AGE_BOUNDS])
    hi = np.array([b[1] for b in codebook.AGE_BOUNDS])
    hi = np.where(hi > 100, 92, hi)  # 65+: few respondents over 92
    u = rng.random(len(group_idx))
    top = group_idx == len(lo) - 1
    u[top] = u[top] ** 1.6  # older ages rarer within 65+
    return (lo[group_idx] + np.floor(u * (hi[group_idx] - lo[group_idx] + 1))).astype(int)


def _draw_sample(profile: CityProfile, rng, n: int) -> pd.DataFrame:
    """Respondents' neighbourhood, gender and age group: oversampled pilot/comparison
    areas, response propensities that under-represent young men."""
    m = profile.margins_frame()
    m["gender_i"] = (m["gender"] == "male").astype(int)
    m["group_i"] = m["age_group"].map({g: i for i, g in enumerate(codebook.AGE_GROUPS)})
    m["prop"] = [RESPONSE_PROPENSITY[g][i] for g, i in zip(m["gender"], m["group_i"])]
    m["stratum"] = m["neighbourhood"].map(profile.area_type)
    shares = ({"pilot": 0.35, "comparison": 0.35, "other": 0.30} if profile.has_comparison
              else {"pilot": 0.45, "other": 0.55})
    counts = rng.multinomial(n, list(shares.values()))
    parts = []
    for (stratum, _), k in zip(shares.items(), counts):
        cells = m[m["stratum"] == stratum]
        w = (cells["population"] * cells["prop"]).to_numpy(float)
        if k == 0 or w.sum() == 0:
            continue
        idx = rng.choice(len(cells), size=k, p=w / w.sum())
        parts.append(cells.iloc[idx][["neighbourhood", "gender", "group_i", "stratum"]])
    out = pd.concat(parts, ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def _bounded(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(x), lo, hi).astype(int)


def _residents_wave(profile: CityProfile, s: CitySettings, rng, n: int, wave: str,
                    nbhd_effect: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One wave of residents (clean) and, for follow-up pilot-area rows, the items
    without the pilot effect (the counterfactual used for the realised truth)."""
    follow = wave == "follow_up"
    d = _draw_sample(profile, rng, n)
    city = profile.city
    n = len(d)
    tourist = np.zeros(n, bool)
    if "tourist" in s.boosts:
        # Intercept interviews of visitors in the pilot (tourist) areas.
        tourist = (d["stratum"] == "pilot").to_numpy() & (rng.random(n) < 0.15)
    age = _ages(rng, d["group_i"].to_numpy())
    young = age <= 24
    male = (d["gender"] == "male").to_numpy()
    pilot = (d["stratum"] == "pilot").to_numpy()
    migrant = rng.random(n) < np.clip(s.migrant_share + 0.10 * pilot - 0.05 * (age >= 65), 0, 1)
    migrant &= ~tourist
    shop = np.zeros(n, bool)
    if "shopkeeper" in s.boosts:
        shop = ~tourist & (age >= 20) & (age <= 70) & (rng.random(n) < np.where(pilot, 0.18, 0.04))
    contact = rng.random(n) < np.clip(0.22 + 0.12 * young + 0.05 * male + 0.10 * shop, 0, 1)
    by_police = contact & (rng.random(n) < 0.45 + 0.15 * young)

    theta = (s.level + d["neighbourhood"].map(nbhd_effect).to_numpy(float)
             - 0.35 * young - 0.25 * migrant - 0.40 * by_police + 0.10 * shop + 0.30 * tourist
             + 0.25 * (age >= 65) + 0.05 * ~male + rng.normal(0, 0.85, n))
    boost = np.ones(n)
    members = {"young": young, "migrant_background": migrant, "police_contact": contact,
               "shopkeeper": shop, "tourist": tourist}
    for g, k in s.boosts.items():  # boosted groups are disjoint by construction
        boost = np.where(members[g], k, boost)
    treated = pilot & follow

    items, counterfactual = {}, {}
    for item, (lo, hi, mean, load, noise) in ITEMS.items():
        latent = mean + load * theta + rng.normal(0, noise, n)
        if item == "feel_safe_dark":
            latent += -0.35 * ~male - 0.15 * (age >= 65) - 0.20 * tourist
        if follow:
            latent += s.trend.get(item, 0.0)
        effect = s.effects.get(item, 0.0) * boost * treated
        items[item] = _bounded(latent + effect, lo, hi)
        counterfactual[item] = _bounded(latent, lo, hi)

    wave_spec = profile.waves[wave]
    aware_p = np.where(treated, 0.30 + 0.15 * young + 0.25 * shop, 0.04 + 0.04 * follow)
    aware = rng.random(n) < aware_p
    took_part = aware & (rng.random(n) < np.where(treated, 0.25 + 0.15 * young, 0.05))
    df = pd.DataFrame({
        "city": city,
        "wave": wave,
        "interview_date": _random_dates(rng, wave_spec.start, wave_spec.end, n),
        "neighbourhood": d["neighbourhood"].astype(str).to_numpy(),
        "age": age,
        "gender": d["gender"].to_numpy(),
        "migrant_background": migrant,
        "shopkeeper": shop if "shopkeeper" in s.boosts else pd.NA,
        "tourist": tourist if "tourist" in s.boosts else pd.NA,
        "police_contact_12m": contact,
        "contact_initiated_by": np.where(contact, np.where(by_police, "police", "resident"), None),
        **{k: v for k, v in items.items()},
        "pilot_aware": aware,
        "pilot_participated": took_part,
    })
    df.loc[~contact, ["contact_satisfaction"]] = pd.NA
    df["contact_satisfaction"] = df["contact_satisfaction"].astype("Int64")
    cf = pd.DataFrame(counterfactual)
    cf.loc[~contact, "contact_satisfaction"] = np.nan
    truth_cols = pd.DataFrame({"_treated": treated})
    for g, mem in members.items():
        truth_cols[f"_in_{g}"] = mem
    return df, pd.concat([cf.add_prefix("_cf_"), truth_cols], axis=1)


def _realised_truth(profile: CityProfile, s: CitySettings, res: pd.DataFrame,
                    hidden: pd.DataFrame) -> pd.DataFrame:
    """Planted and realised effects (observed minus counterfactual, follow-up pilot rows)."""
    treated = hidden["_treated"].to_numpy()
    obs = codebook.compute_indices(res.loc[treated, list(ITEMS)].astype("Float64"))
    cf_items = hidden.loc[treated, [f"_cf_{i}" for i in ITEMS]]
    cf_items.columns = list(ITEMS)
    cf = codebook.compute_indices(cf_items.astype("Float64"))
    groups = [None] + [g for g in profile.pilot.targeted_groups]
    rows = []
    for ind in list(ITEMS) + list(INDEX_ITEMS):
        diff = (obs[ind] - cf[ind]).astype(float)
        for g in groups:
            mask = np.ones(len(diff), bool) if g is None else hidden.loc[treated, f"_in_{g}"].to_numpy()
            vals = diff.to_numpy()[mask]
            vals = vals[~np.isnan(vals)]
            if g is None:  # average of the planted effects over the treated sample
                mult = np.ones(int(treated.sum()))
                for bg, k in s.boosts.items():
                    mult = np.where(hidden.loc[treated, f"_in_{bg}"].to_numpy(), k, mult)
                planted = true_effect(profile.city, ind) * float(mult.mean())
            else:
                planted = true_effect(profile.city, ind, g if g in s.boosts else None)
            rows.append({"dataset": "residents", "indicator": ind, "group": g or "all",
                         "planted": planted,
                         "realised": float(vals.mean()) if len(vals) else float("nan"),
                         "n": int(len(vals))})
    return pd.DataFrame(rows)


def _ids(prefix: str, year: int, n: int, rng) -> np.ndarray:
    # Questionnaire numbers as a field team issues them: increasing, with gaps.
    serial = np.cumsum(rng.integers(1, 4, n))
    width = max(5, len(str(int(serial[-1]) if n else 0)))
    return (pd.Series(serial).astype(str).str.zfill(width).radd(f"{prefix}-{year % 100:02d}-")
            .to_numpy())


def _source_name(f: FileSpec) -> str:
    """``source_file`` of rows of ``f``: the path, ``"<path>[<sheet>]"`` for a sheet."""
    if f.format == "xlsx" and f.sheet is not None:
        return f"{f.path}[{f.sheet}]"
    return f.path


def _file_rows(spec: DatasetSpec | None, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """source_file and raw_row_number of each row, as :mod:`analysis.inputs.readers` numbers them.

    CSV: the line number in a text editor (title lines and header counted, so the first
    data row of a plain CSV is 2); XLSX: the spreadsheet row number (likewise); SPSS and
    Stata: the case number (first case is 1).
    """
    src = np.empty(len(df), dtype=object)
    num = np.zeros(len(df), dtype=np.int64)
    if spec is None:
        return src, num
    for f in spec.files:
        mask = np.ones(len(df), bool) if f.wave is None else (df["wave"] == f.wave).to_numpy()
        first = 1 if f.format in ("sav", "dta") else f.skiprows + 2
        src[mask] = _source_name(f)
        num[mask] = np.arange(first, first + mask.sum())
    return src, num


def _plant_resident_faults(profile: CityProfile, s: CitySettings, df: pd.DataFrame, rng,
                           faults: bool, dont_know: bool) -> tuple[pd.DataFrame, list[dict], np.ndarray]:
    """Insert duplicates and spoil values in a small share of rows; returns the new frame,
    the fault records and the index mapping of rows onto the clean frame."""
    log: list[dict] = []
    n = len(df)
    origin = np.arange(n)
    if faults:
        k = _n_faults(n, FAULT_RATES["duplicate"])
        src = np.sort(rng.choice(n, k, replace=False))
        dup = df.iloc[src].copy()
        # Re-entered questionnaires: half carry a keying difference in one item.
        retyped = rng.random(k) < 0.5
        col = dup.columns.get_loc("trust_police")
        vals = dup["trust_police"].to_numpy(float)
        vals[retyped] = np.clip(vals[retyped] + rng.choice([-1, 1], retyped.sum()), 0, 10)
        dup.iloc[:, col] = pd.array(vals.astype(int), dtype="Int64")
        # inserted a few rows after the original, as in a file appended to by hand
        df = pd.concat([df, dup], ignore_index=True)
        origin = np.concatenate([origin, src])
        order = np.argsort(np.concatenate([np.arange(n), src + 3.5]), kind="stable")
        df = df.iloc[order].reset_index(drop=True)
        origin = origin[order]
        is_dup = order >= n
        for pos in np.flatnonzero(is_dup):
            log.append({"row": int(pos), "column": "respondent_id", "kind": "duplicate",
                        "detail": "re-entered" if retyped[order[pos] - n] else "exact copy"})
        n = len(df)
        candidates = np.flatnonzero(~is_dup)  # spoil originals only, one fault per row
        picks = rng.permutation(candidates)
        start = 0
        for kind in ("bad_age", "unknown_neighbourhood", "date_outside_window", "label_whitespace"):
            k = _n_faults(n, FAULT_RATES[kind])
            rows = np.sort(picks[start:start + k])
            start += k
            if kind == "bad_age":
                vals = rng.choice(BAD_AGES, k)
                df.loc[rows, "age"] = vals
                log += [{"row": int(r), "column": "age", "kind": kind, "detail": str(v)}
                        for r, v in zip(rows, vals)]
            elif kind == "unknown_neighbourhood":
                vals = rng.choice(np.array(s.unknown_places, dtype=object), k)
                df.loc[rows, "neighbourhood"] = vals
                log += [{"row": int(r), "column": "neighbourhood", "kind": kind, "detail": str(v)}
                        for r, v in zip(rows, vals)]
            elif kind == "date_outside_window":
                shift = rng.choice([-400, -120, 150, 365], k).astype("timedelta64[D]")
                new = df.loc[rows, "interview_date"].to_numpy("datetime64[D]") + shift
                df.loc[rows, "interview_date"] = new
                log += [{"row": int(r), "column": "interview_date", "kind": kind,
                         "detail": str(v)} for r, v in zip(rows, new)]
            else:
                # Stray whitespace and mixed case: rendered by write_raw on text labels.
                style = rng.integers(0, 4, k)
                log += [{"row": int(r), "column": "gender", "kind": kind,
                         "detail": ("lead", "trail_upper", "lower", "both")[st]}
                        for r, st in zip(rows, style)]
    if dont_know:
        for item, rate in DK_RATE.items():
            values = df[item].to_numpy(dtype=float, na_value=np.nan)
            eligible = np.flatnonzero(~np.isnan(values))
            hit = eligible[rng.random(len(eligible)) < rate]
            df.loc[hit, item] = pd.NA
            kinds = rng.choice(3, len(hit), p=[0.15, 0.75, 0.10])  # refusal, don't know, n/a
            log += [{"row": int(r), "column": item, "kind": "dont_know", "detail": int(c)}
                    for r, c in zip(hit, kinds)]
    return df, log, origin


def generate_city(profile: CityProfile | str, n_per_wave: int | None = None, seed: int = SEED,
                  faults: bool = True, dont_know: bool = True) -> dict[str, pd.DataFrame]:
    """Generate a city's synthetic data in the codebook world.

    Parameters
    ----------
    profile : CityProfile or str
        The city profile (or its slug).
    n_per_wave : int, optional
        Residents per wave before duplicates are added (default: the city's setting).
    seed : int
        Seed; the same seed gives identical frames.
    faults : bool
        Plant the recorded faults (duplicates, bad ages, unknown places, dates outside
        the window, label whitespace).
    dont_know : bool
        Turn a few answers into don't-know / refusal (missing, recorded as ``dont_know``).

    Returns
    -------
    dict of pandas.DataFrame
        ``residents``, ``officers``, ``activities`` (codebook columns and dtypes, raw ids,
        faulty values as they would be delivered, plus ``extra_*`` columns for raw columns
        outside the codebook), ``faults`` (dataset, row, column, kind, detail; ``row`` is
        the 0-based position in that dataset's frame) and ``truth`` (planted and realised
        effects).
    """
    if isinstance(profile, str):
        profile = load_profile(profile)
    city = profile.city
    s = _settings(city)
    n = int(n_per_wave or s.n_per_wave)
    rng = _rng(seed, city, 0)

    codes = profile.codes
    nb = rng.normal(0, 0.30, len(codes))
    nbhd_effect = {c: e - 0.30 * (profile.area_type(c) == "pilot") for c, e in zip(codes, nb)}

    frames, hidden = [], []
    for w_i, wave in enumerate(codebook.WAVES):
        df, h = _residents_wave(profile, s, _rng(seed, city, 10 + w_i), n, wave, nbhd_effect)
        df.insert(0, "respondent_id", _ids(s.id_prefix, profile.waves[wave].year, len(df),
                                           _rng(seed, city, 20 + w_i)))
        frames.append(df)
        hidden.append(h)
    res = pd.concat(frames, ignore_index=True)
    hid = pd.concat(hidden, ignore_index=True)
    truth = _realised_truth(profile, s, res, hid)

    frng = _rng(seed, city, 30)
    res = res.sort_values(["wave", "respondent_id"], kind="stable").reset_index(drop=True)
    res, res_log, _ = _plant_resident_faults(profile, s, res, frng, faults, dont_know)
    res = _add_extras(res, s, frng)
    area = {c: profile.area_type(c) for c in codes}
    res["pilot_area"] = res["neighbourhood"].map(area).fillna("other")
    res["age_group"] = codebook.age_group(res["age"])
    res = codebook.compute_indices(res)
    res["source_file"], res["raw_row_number"] = _file_rows(profile.residents, res)
    res = codebook.enforce_dtypes(res, "residents")

    off, off_log, off_truth = _officers(profile, s, _rng(seed, city, 40), faults, dont_know)
    act = _activities(profile, s, _rng(seed, city, 50))
    log = pd.DataFrame([{"dataset": "residents", **r} for r in res_log]
                       + [{"dataset": "officers", **r} for r in off_log],
                       columns=["dataset", "row", "column", "kind", "detail"])
    log["detail"] = log["detail"].astype(str)
    log = log.sort_values(["dataset", "row", "column"], kind="stable").reset_index(drop=True)
    return {"residents": res, "officers": off, "activities": act, "faults": log,
            "truth": pd.concat([truth, off_truth], ignore_index=True)}


def _add_extras(df: pd.DataFrame, s: CitySettings, rng) -> pd.DataFrame:
    n = len(df)
    # A fieldwork design weight with decimals (so decimal commas matter), the interview
    # length in minutes, an interviewer number and, in Brussels, the interview language.
    df["extra_weight"] = np.round(rng.lognormal(0, 0.35, n), 4)
    df["extra_duration"] = np.round(rng.gamma(9, 2.4, n), 1)
    df["extra_interviewer"] = rng.integers(101, 131, n)
    df["extra_language"] = np.where(rng.random(n) < 0.6, "FR", "NL")
    return df


def _officers(profile: CityProfile, s: CitySettings, rng, faults: bool, no_answer: bool
              ) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """Officer survey: a pool of officers, ~55 % of baseline respondents answer again."""
    n = s.n_officers
    pool = int(n * 1.5)
    ids = np.array([f"{s.id_prefix[:2].upper()}-P{x:04d}" for x in
                    np.sort(rng.choice(np.arange(100, 9999), pool, replace=False))], dtype=object)
    serving = np.concatenate([profile.pilot.pilot_areas, profile.pilot.comparison_areas
                              or [c for c in profile.codes if c not in profile.pilot.pilot_areas][:4]])
    nb = rng.choice(serving, pool)
    in_pilot = np.isin(nb, profile.pilot.pilot_areas)
    trained = rng.random(pool) < np.where(in_pilot, 0.65, 0.10)
    unit = rng.choice(np.array(s.units, dtype=object), pool)
    years0 = np.clip(rng.gamma(2.2, 6.0, pool).astype(int), 0, 40)
    eta = rng.normal(0, 0.8, pool)
    base = rng.choice(pool, n, replace=False)
    stay = base[rng.random(n) < 0.55]
    fresh = rng.choice(np.setdiff1d(np.arange(pool), base), n - len(stay), replace=False)
    rows = []
    for wave, who in (("baseline", np.sort(base)), ("follow_up", np.sort(np.concatenate([stay, fresh])))):
        follow = wave == "follow_up"
        d = pd.DataFrame({"city": profile.city, "officer_id": ids[who], "wave": wave,
                          "unit": unit[who], "neighbourhood": nb[who],
                          "years_service": years0[who] + int(follow),
                          "trained_in_pilot": trained[who]})
        for item, (mean, load, noise) in OFFICER_ITEMS.items():
            latent = (mean + load * eta[who] + rng.normal(0, noise, len(who))
                      + follow * s.officer_trend.get(item, 0.0)
                      + follow * trained[who] * s.officer_effects.get(item, 0.0))
            d[item] = _bounded(latent, 1, 5)
            d[f"_cf_{item}"] = _bounded(latent - follow * trained[who] * s.officer_effects.get(item, 0.0), 1, 5)
        rows.append(d)
    off = pd.concat(rows, ignore_index=True)
    treated = (off["wave"] == "follow_up") & off["trained_in_pilot"]
    truth = pd.DataFrame([{"dataset": "officers", "indicator": item, "group": "trained",
                           "planted": float(s.officer_effects.get(item, 0.0)),
                           "realised": float((off.loc[treated, item] - off.loc[treated, f"_cf_{item}"]).mean()),
                           "n": int(treated.sum())} for item in OFFICER_ITEMS])
    off = off.drop(columns=[c for c in off.columns if c.startswith("_cf_")])
    log: list[dict] = []
    if faults:
        # One officer keyed twice, one impossible length of service.
        r = int(rng.integers(0, len(off)))
        off = pd.concat([off.iloc[: r + 1], off.iloc[[r]], off.iloc[r + 1:]], ignore_index=True)
        log.append({"row": r + 1, "column": "officer_id", "kind": "duplicate", "detail": "exact copy"})
        b = int(rng.integers(0, len(off)))
        b = b if b not in (r, r + 1) else (b + 2) % len(off)
        off.loc[b, "years_service"] = 99
        log.append({"row": b, "column": "years_service", "kind": "bad_years_service", "detail": "99"})
    for item in OFFICER_ITEMS:
        hit = np.flatnonzero(rng.random(len(off)) < OFFICER_NO_ANSWER_RATE * no_answer)
        off.loc[hit, item] = pd.NA
        log += [{"row": int(h), "column": item, "kind": "no_answer", "detail": ""} for h in hit]
    off["source_file"], off["raw_row_number"] = _file_rows(profile.officers, off)
    off["extra_language"] = np.where(rng.random(len(off)) < 0.6, "FR", "NL")
    return codebook.enforce_dtypes(off, "officers"), log, truth


def _activities(profile: CityProfile, s: CitySettings, rng) -> pd.DataFrame:
    """The pilot's activity log: dated activities in pilot areas."""
    n = s.n_activities
    mix = s.activity_mix or {"meeting": 1}
    kinds = rng.choice(list(mix), n, p=np.array(list(mix.values()), float) / sum(mix.values()))
    dates = np.sort(_random_dates(rng, profile.pilot.start, profile.pilot.end, n))
    size = {"meeting": 25, "school_visit": 60, "joint_patrol": 8, "training_session": 0,
            "info_stand": 40, "mediation": 6, "other": 15}
    police = {"meeting": 3, "school_visit": 2, "joint_patrol": 4, "training_session": 14,
              "info_stand": 2, "mediation": 1, "other": 2}
    df = pd.DataFrame({
        "city": profile.city,
        "date": dates,
        "neighbourhood": rng.choice(np.array(profile.pilot.pilot_areas, dtype=object), n),
        "activity_type": kinds,
        "participants": rng.poisson([size[k] for k in kinds]),
        "participants_police": 1 + rng.poisson([police[k] for k in kinds]),
        "extra_duration": np.round(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 0.75], n), 2),
    })
    df["source_file"], df["raw_row_number"] = _file_rows(profile.activities, df)
    return codebook.enforce_dtypes(df, "activities")


# -------------------------------------------------------------------------- writing
def _norm(x) -> str:
    return str(x).strip().casefold()


def _inverse(mapping: dict[str, object]) -> dict[str, list[str]]:
    """codebook value (as text) -> raw labels mapping onto it, in profile order."""
    inv: dict[str, list[str]] = {}
    for raw, val in mapping.items():
        inv.setdefault(_key(val), []).append(raw)
    return inv


def _key(val) -> str:
    if isinstance(val, (bool, np.bool_)):
        return "true" if val else "false"
    if isinstance(val, (float, np.floating)) and float(val).is_integer():
        return str(int(val))
    return str(val)


def _noisy(label: str, style: str) -> str:
    return {"lead": " " + label, "trail_upper": label.upper() + " ", "lower": label.lower(),
            "both": "  " + label.lower() + " "}[style]


def _missing_tokens(spec: DatasetSpec) -> tuple[list[object], list[str]]:
    """(numeric codes, labels) for refusal / don't know / not applicable, in that order."""
    codes = list(spec.item_missing) or [77, 88, 99]
    labels = list(spec.missing) or ["", "", ""]
    while len(labels) < 3:
        labels.append(labels[-1])
    while len(codes) < 3:
        codes.append(codes[-1])
    return codes, labels


def _raw_frame(profile: CityProfile, name: str, df: pd.DataFrame, log: pd.DataFrame,
               s: CitySettings, file: FileSpec, rows: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Raw columns of one file: codebook values turned back into the city's labels.

    Returns the frame and, for sav/dta files read through value labels, the value labels.
    """
    spec = profile.dataset(name)
    sub = df.iloc[rows]
    native = file.format in ("sav", "dta")
    codes_dk, labels_dk = _missing_tokens(spec)
    lang = ((sub["extra_language"].to_numpy() == "NL").astype(int)
            if s.bilingual and "extra_language" in sub.columns else np.zeros(len(sub), int))
    fl = log[log["dataset"] == name] if len(log) else log
    pos = {r: i for i, r in enumerate(rows)}
    out: dict[str, object] = {}
    value_labels: dict[str, dict[int, str]] = {}
    for col, raw in spec.columns.items():
        if file.wave is not None and col == "wave":
            continue
        v = sub[col]
        var = codebook.var(col, name)
        if col in spec.values:
            inv = _inverse(spec.values[col])
            keys = v.map(_key, na_action="ignore")
            choices = keys.map(lambda k: inv.get(k, [k]), na_action="ignore")
            vals = np.array([None if not isinstance(c, list) else c[min(li, len(c) - 1)]
                             for c, li in zip(choices, lang)], dtype=object)
        elif var.kind == "date":
            if file.date_format and not native:
                vals = v.dt.strftime(file.date_format).to_numpy(dtype=object, na_value=None)
            else:
                vals = np.array([None if pd.isna(x) else x.date() for x in v], dtype=object) \
                    if file.format == "xlsx" else v.to_numpy()
        elif var.kind == "int":
            vals = np.array([None if pd.isna(x) else int(x) for x in v], dtype=object)
        else:
            vals = v.to_numpy(dtype=object, na_value=None)
        vals = np.array(vals, dtype=object)
        # faults and don't-know answers
        cf = fl[fl["column"] == col] if len(fl) else fl
        for r, kind, detail in zip(cf.get("row", []), cf.get("kind", []), cf.get("detail", [])):
            i = pos.get(r)
            if i is None:
                continue
            if kind == "dont_know":
                k = int(detail)
                label_col = col in spec.values
                if native:
                    # numeric code; a labelled column gets the label, coded by _native_column
                    vals[i] = labels_dk[k] if (label_col and file.value_labels and labels_dk[k]) \
                        else codes_dk[k]
                elif labels_dk[k] and (label_col or r % 3 == 0 or not spec.item_missing):
                    # CATI exports mix labels into numeric columns; bilingual files use the
                    # second block of missing labels for the second language.
                    alt = 3 + k if lang[i] and len(spec.missing) > 3 + k else k
                    vals[i] = spec.missing[alt] if alt != k else labels_dk[k]
                else:
                    vals[i] = codes_dk[k]
            elif kind == "label_whitespace" and isinstance(vals[i], str) and not native:
                vals[i] = _noisy(vals[i], detail)
        if native:
            vals, labels = _native_column(vals, col, spec, file, codes_dk, labels_dk, var)
            if labels:
                value_labels[raw] = labels
        out[raw] = vals
    extras = dict(s.extra_columns)
    if name == "activities":
        extras = {"duration": s.activity_duration_column}
    elif name == "officers":
        extras = {k: v for k, v in extras.items() if k == "language"}
    for key, raw in extras.items():
        col = f"extra_{key}"
        if col in sub.columns:
            out[raw] = sub[col].to_numpy()
    frame = pd.DataFrame(out)
    return frame, value_labels


def _native_column(vals, col, spec, file, codes_dk, labels_dk, var):
    """Numeric codes (and labels) for a sav/dta column."""
    labels: dict[int, str] = {}
    if var.kind == "date":
        return pd.to_datetime(pd.Series(vals)).astype("datetime64[us]").to_numpy(), labels
    if var.kind == "str":
        return np.array(["" if x is None else str(x) for x in vals], dtype=object), labels
    if col in spec.values and file.value_labels:
        # Labels in the profile -> codes 1..k in profile order; missing labels -> DK codes.
        order = list(spec.values[col])
        code_of = {lab: i + 1 for i, lab in enumerate(order)}
        if all(re.fullmatch(r"-?\d+", str(lab)) for lab in order):
            code_of = {lab: int(lab) for lab in order}
        for k, lab in enumerate(labels_dk):
            if lab:
                code_of.setdefault(lab, codes_dk[k])
        out = np.array([np.nan if x is None else code_of.get(x, np.nan) for x in vals], float)
        labels = {int(c): str(lab) for lab, c in code_of.items()}
        return out, labels
    try:
        out = np.array([np.nan if x is None else float(x) for x in vals], float)
    except (TypeError, ValueError):
        return np.array(["" if x is None else str(x) for x in vals], dtype=object), labels
    if file.value_labels and spec.item_missing and var.role == "item":
        labels = {int(c): lab for c, lab in zip(codes_dk, labels_dk) if lab}
    return out, labels


def _normalise_xlsx(path: Path) -> None:
    """Rewrite an XLSX with fixed zip timestamps and document dates (byte-reproducible)."""
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
    path.write_bytes(buf.getvalue())


def _normalise_native(path: Path, fmt: str) -> None:
    """Overwrite the creation timestamp readstat writes into sav/dta headers."""
    data = bytearray(path.read_bytes())
    if fmt == "sav":
        # file header: creation date (9 bytes) at offset 92, time (8 bytes) at 101
        data[92:101] = FIXED_TIMESTAMP.strftime("%d %b %y").encode()
        data[101:109] = FIXED_TIMESTAMP.strftime("%H:%M:%S").encode()
    else:
        i = data.find(b"<timestamp>")
        if i >= 0 and data[i + 11] == 17:
            data[i + 12:i + 29] = FIXED_TIMESTAMP.strftime("%d %b %Y %H:%M").encode()
    path.write_bytes(bytes(data))


def _write_xlsx(path: Path, sheets: list[tuple[str, pd.DataFrame, int]], notes: list[str],
                profile: CityProfile, title: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)  # streaming writer: several times faster
    for sheet, frame, skip in sheets:
        ws = wb.create_sheet(sheet)
        for i in range(skip):
            ws.append([title if i == 0 else (SYNTHETIC_LABEL if i == 1 else "")])
        ws.append(list(frame.columns))

        def cell(x):
            if x is None or (isinstance(x, float) and np.isnan(x)):
                return None
            if isinstance(x, np.generic):
                x = x.item()
            if isinstance(x, (dt.date, dt.datetime)):
                c = WriteOnlyCell(ws, value=x)
                c.number_format = "DD/MM/YYYY"
                return c
            return x

        for row in frame.itertuples(index=False):
            ws.append([cell(x) for x in row])
    ws = wb.create_sheet("README" if profile.country not in ("IT", "ES") else
                         {"IT": "Note", "ES": "Llegenda"}[profile.country])
    for line in notes:
        ws.append(line.split(" | "))
    p = wb.properties
    p.title = f"IMPPULSE {profile.name} - synthetic demonstration data"
    p.subject = SYNTHETIC_LABEL
    p.creator = "analysis.demo.synthetic (IMPPULSE)"
    p.description = SYNTHETIC_LABEL
    p.keywords = "synthetic; IMPPULSE; demonstration"
    p.created = FIXED_TIMESTAMP
    p.modified = FIXED_TIMESTAMP
    p.lastModifiedBy = "analysis.demo.synthetic"
    wb.save(path)
    _normalise_xlsx(path)


def _notes(profile: CityProfile, name: str, frame_cols: list[str]) -> list[str]:
    """Notes for file metadata and XLSX notes sheets; with columns, a small codebook."""
    lines = [SYNTHETIC_LABEL,
             f"City: {profile.name}. Dataset: {name}. Made by analysis.demo.synthetic "
             f"(generator version {GENERATOR_VERSION}, seed {SEED}).",
             "No real person is described in this file; identifiers are invented.",
             "Regenerate with: python -m analysis.demo.synthetic"]
    spec = profile.dataset(name)
    if frame_cols and spec is not None:
        lines.append("")
        lines.append("Column | codebook variable | label")
        back = {raw: col for col, raw in spec.columns.items()}
        for raw in frame_cols:
            col = back.get(raw)
            label = codebook.var(col, name).label('en') if col else "not in the codebook"
            lines.append(f"{raw} | {col or '-'} | {label}")
    return lines


def write_raw(profile: CityProfile, frames: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the raw files the profile describes from :func:`generate_city` frames.

    Parameters
    ----------
    profile : CityProfile
        The city profile: files, formats, column names and value labels.
    frames : dict
        Output of :func:`generate_city`.
    out_dir : str or pathlib.Path
        Folder of the city's raw files (``data/raw/<city>``).

    Returns
    -------
    list of pathlib.Path
        The files written (plus ``SYNTHETIC_README.txt``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s = _settings(profile.city)
    written: list[Path] = []
    for name in ("residents", "officers", "activities"):
        spec = profile.dataset(name)
        if spec is None:
            continue
        df = frames[name]
        by_path: dict[str, list[FileSpec]] = {}
        for f in spec.files:
            by_path.setdefault(f.path, []).append(f)
        for path, files in by_path.items():
            target = out_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            parts = []
            for f in files:
                rows = np.flatnonzero((df["source_file"] == _source_name(f)).to_numpy()
                                      & (np.ones(len(df), bool) if f.wave is None
                                         else (df["wave"] == f.wave).to_numpy()))
                raw, labels = _raw_frame(profile, name, df, frames["faults"], s, f, rows)
                parts.append((f, raw, labels))
            fmt = files[0].format
            if fmt == "csv":
                f, raw, _ = parts[0]
                text = raw.to_csv(index=False, sep=f.delimiter, decimal=f.decimal,
                                  lineterminator="\r\n" if f.encoding in ("latin-1", "cp1252") else "\n",
                                  float_format=None)
                with atomic_path(target) as tmp:
                    tmp.write_bytes(text.encode(f.encoding))
            elif fmt == "xlsx":
                sheets = [(str(f.sheet) if f.sheet is not None else name, raw, f.skiprows)
                          for f, raw, _ in parts]
                with atomic_path(target) as tmp:
                    _write_xlsx(tmp, sheets, _notes(profile, name, list(parts[0][1].columns)),
                                profile, s.sheet_title or SYNTHETIC_LABEL)
            else:
                import pyreadstat

                f, raw, labels = parts[0]
                for col, lab in s.code_labels.items():
                    if col in raw.columns and col not in labels:
                        labels[col] = lab
                label = f"SYNTHETIC IMPPULSE {profile.name} {name}"[:64 if fmt == "sav" else 80]
                with atomic_path(target) as tmp:
                    if fmt == "sav":
                        pyreadstat.write_sav(raw, tmp, file_label=label, variable_value_labels=labels,
                                             note=[ln[:80] for ln in _notes(profile, name, [])[:4]])
                    else:
                        pyreadstat.write_dta(raw, tmp, file_label=label, variable_value_labels=labels)
                    _normalise_native(tmp, fmt)
            written.append(target)
    readme = out_dir / "SYNTHETIC_README.txt"
    readme.write_text("\n".join([
        SYNTHETIC_LABEL, "",
        f"These files imitate what {profile.name} could have delivered to the IMPPULSE evaluation.",
        "They were made by analysis.demo.synthetic from config/cities/"
        f"{profile.city}.yml (generator version {GENERATOR_VERSION}, seed {SEED}).",
        "No real person is described; identifiers, answers and dates are invented.",
        "Do not edit them by hand: regenerate with `python -m analysis.demo.synthetic`.",
        "", "Files:", *[f"  {p.name}" for p in written], ""]), encoding="utf-8")
    return written + [readme]


def generate_all(out_dir: str | Path | None = None, cities: list[str] | None = None,
                 seed: int = SEED) -> dict[str, list[Path]]:
    """Generate and write the demo raw data of every city with a profile.

    Parameters
    ----------
    out_dir : str or pathlib.Path, optional
        Root of the raw data (default ``data/raw``); each city gets a sub-folder.
    cities : list of str, optional
        Subset of cities (default: every city in :data:`CITY_SETTINGS`).
    seed : int
        Seed of every draw.
    """
    root = Path(out_dir) if out_dir is not None else PATHS.raw
    out = {}
    for city in cities or [c for c in CITIES if c in CITY_SETTINGS]:
        profile = load_profile(city)
        frames = generate_city(profile, seed=seed)
        out[city] = write_raw(profile, frames, root / city)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m analysis.demo.synthetic [--city C ...] [--out DIR]``."""
    ap = argparse.ArgumentParser(description="Regenerate the synthetic IMPPULSE demo raw data.")
    ap.add_argument("--city", action="append", help="city slug (repeatable; default: all)")
    ap.add_argument("--out", default=None, help="root folder (default: data/raw)")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    for city, paths in generate_all(args.out, args.city, args.seed).items():
        print(f"{city}: {', '.join(p.name for p in paths)}")


if __name__ == "__main__":
    main()
