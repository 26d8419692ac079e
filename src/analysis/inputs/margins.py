"""Population margins read from a census CSV: the numbers weights are raked to.

Owns the CSV format of ``margins.file`` and its checks (columns, codes, complete cells).
Must not weight anything: raking is :mod:`analysis.statistics.weights`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.inputs import codebook

#: Columns of a population margins CSV (long format, one row per cell).
MARGINS_CSV_COLUMNS: tuple[str, ...] = ("neighbourhood", "gender", "age_group", "population")


def read_margins_csv(path: str | Path, codes: list[str] | None = None, *, encoding: str = "utf-8",
                     delimiter: str = ",") -> pd.DataFrame:
    """Read population margins from a CSV file (census tables come that way).

    The file is in long format, one row per neighbourhood × gender × age group, with a
    header line holding the columns :data:`MARGINS_CSV_COLUMNS` (others are ignored):
    ``neighbourhood`` (official code, as in the profile), ``gender`` (``female``/``male``),
    ``age_group`` (``15-24``, ``25-34``, ``35-49``, ``50-64``, ``65+``) and ``population``
    (a whole number ≥ 0).

    Parameters
    ----------
    path : str or pathlib.Path
    codes : list of str, optional
        The profile's neighbourhood codes: each must have all ten cells, and no other
        code may appear.
    encoding, delimiter : str
        Text encoding and field separator of the file.

    Returns
    -------
    pandas.DataFrame
        ``neighbourhood, gender, age_group, population`` (as ``profile.margins_frame()``).

    Raises
    ------
    ValueError
        Naming the file, and the line and column of the first problems (unreadable file,
        missing column, unknown code or label, a count that is not a whole number ≥ 0, a
        cell given twice, a neighbourhood without all its cells). Cell contents are not
        quoted.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: population margins file not found")
    try:
        text = path.read_text(encoding=encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ValueError(f"{path}: cannot be read as {encoding} text ({type(exc).__name__}); "
                         "set margins.encoding in the city profile") from None
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path}: empty population margins file")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in MARGINS_CSV_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}, line 1: missing column(s) {missing}; expected a header with "
                         f"{list(MARGINS_CSV_COLUMNS)} (delimiter {delimiter!r})")
    pos = {c: header.index(c) for c in MARGINS_CSV_COLUMNS}
    allowed = {"gender": set(codebook.GENDERS), "age_group": set(codebook.AGE_GROUPS),
               "neighbourhood": set(codes) if codes is not None else None}
    problems, out, seen = [], [], {}
    for line, raw in enumerate(rows[1:], start=2):
        if not any(x.strip() for x in raw):
            continue
        if len(raw) < len(header):
            problems.append(f"line {line}: {len(raw)} field(s), the header has {len(header)}")
            continue
        rec = {c: raw[pos[c]].strip() for c in MARGINS_CSV_COLUMNS}
        bad = False
        for col in ("neighbourhood", "gender", "age_group"):
            ok = allowed[col] is None and rec[col] != "" or allowed[col] is not None and rec[col] in allowed[col]
            if not ok:
                expect = (sorted(allowed[col]) if allowed[col] is not None and len(allowed[col]) <= 12
                          else "a neighbourhood code of the profile")
                problems.append(f"line {line}, column {col}: not a known value (expected {expect})")
                bad = True
        try:
            n = float(rec["population"].replace(" ", "").replace("\u202f", ""))
            if not (np.isfinite(n) and n >= 0 and n == int(n)):
                raise ValueError
        except ValueError:
            problems.append(f"line {line}, column population: not a whole number >= 0")
            bad = True
        if bad:
            continue
        key = (rec["neighbourhood"], rec["gender"], rec["age_group"])
        if key in seen:
            problems.append(f"line {line}: cell {'/'.join(key)} already given on line {seen[key]}")
            continue
        seen[key] = line
        out.append({"neighbourhood": key[0], "gender": key[1], "age_group": key[2], "population": int(n)})
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ValueError(f"{path}: invalid population margins:\n  " + "\n  ".join(problems[:10]) + more)
    frame = pd.DataFrame(out, columns=list(MARGINS_CSV_COLUMNS))
    wanted = codes if codes is not None else sorted(frame["neighbourhood"].unique())
    incomplete = []
    for code in wanted:
        have = {(g, a) for (c, g, a) in seen if c == code}
        lack = len(codebook.GENDERS) * len(codebook.AGE_GROUPS) - len(have)
        if lack:
            incomplete.append(f"{code} ({lack} of {len(codebook.GENDERS) * len(codebook.AGE_GROUPS)} cells missing)")
    if incomplete:
        raise ValueError(f"{path}: population margins incomplete for neighbourhood(s) {incomplete}; "
                         "every neighbourhood of the profile needs one row per gender and age group")
    return frame


def population_margins(profile) -> pd.DataFrame | None:
    """The profile's population margins as a long table, or ``None`` when it has none.

    ``neighbourhood, gender, age_group, population``, from ``margins.counts`` (YAML) or
    ``margins.file`` (CSV, :func:`read_margins_csv`).
    """
    if getattr(profile, "margins", None) is None:
        return None
    frame = profile.margins_frame()
    return frame if len(frame) else None


def check_margins(frame: pd.DataFrame, respondents: pd.DataFrame, city: str = "") -> list[str]:
    """Plausibility of population margins against the sample; the problems found.

    Checks, in every wave: each neighbourhood with respondents has margins and a positive
    population; no neighbourhood has more respondents than population; no
    neighbourhood × gender × age group cell with respondents has a population of zero.

    Parameters
    ----------
    frame : DataFrame
        ``neighbourhood, gender, age_group, population`` (:func:`population_margins`).
    respondents : DataFrame
        ``wave``, ``neighbourhood`` and, when present, ``gender`` and ``age_group``.
    city : str
        Named in the messages.

    Returns
    -------
    list of str
        One message per problem (empty: plausible). Messages name the wave,
        neighbourhood and cell; they do not give respondent counts.
    """
    where = f"{city}: " if city else ""
    pop_nb = frame.groupby("neighbourhood")["population"].sum()
    problems = []
    nb = respondents["neighbourhood"].astype("object").where(respondents["neighbourhood"].notna(), None)
    unknown = sorted(set(nb.dropna().astype(str)) - set(pop_nb.index.astype(str)))
    if unknown:
        problems.append(f"{where}neighbourhood code(s) {unknown} in the respondents have no population "
                        "margins in the city profile")
    cells = frame.set_index(["neighbourhood", "gender", "age_group"])["population"]
    for wave, grp in respondents.groupby("wave", sort=True, observed=True):
        counts = grp["neighbourhood"].dropna().astype(str).value_counts()
        for code, n in counts.sort_index().items():
            if code not in pop_nb.index:
                continue
            if pop_nb[code] <= 0:
                problems.append(f"{where}{wave}: neighbourhood {code} has respondents but a population of 0 "
                                "in the margins")
            elif n > pop_nb[code]:
                problems.append(f"{where}{wave}: neighbourhood {code} has more respondents than its "
                                "population in the margins (margins in the wrong unit, e.g. thousands?)")
        if {"gender", "age_group"} <= set(grp.columns):
            known = grp.dropna(subset=["neighbourhood", "gender", "age_group"])
            present = set(zip(known["neighbourhood"].astype(str), known["gender"].astype(str),
                              known["age_group"].astype(str)))
            zero = sorted(k for k in present if k[0] in pop_nb.index and cells.get(k, 0) <= 0)
            if zero:
                shown = ", ".join("/".join(k) for k in zero[:10])
                more = f" (and {len(zero) - 10} more)" if len(zero) > 10 else ""
                problems.append(f"{where}{wave}: population 0 in the margins where respondents exist "
                                f"(neighbourhood/gender/age group): {shown}{more}")
    return problems
