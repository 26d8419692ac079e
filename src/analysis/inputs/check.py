"""Check a city profile against its raw files, without running the pipeline: ``make check CITY=x``.

Owns ``make check``: every problem of a profile against its raw files, listed at once. Must not
write anything nor convert values its own way: it runs the cleaning step's converters.

:func:`check_city` reads every file the profile names, converts the mapped columns as the
cleaning step does (:mod:`analysis.inputs.clean`, nothing is written) and lists **every** problem
at once, where the cleaning step would stop at the first:

* the profile does not load or cannot drive the cleaning (key named), or still has
  ``# TODO:`` lines left by ``make new-city``;
* a file is missing or unreadable, a mapped column is absent (all of them, with a near
  match when there is one);
* labels the profile does not know, per file and column, with their row counts;
* neighbourhood codes that are not in the profile, with their row counts;
* an impossible design: a wave without respondents, a pilot or comparison area without
  respondents in a wave;
* dates that mostly fail the ``date_format``, or mostly fall outside a fieldwork window
  (a wrong format or window, not a few keying errors);
* population margins that cannot be read or are implausible
  (:func:`analysis.inputs.margins.check_margins`).

Problems make the check fail. Notes (rows the cleaning step will reject one by one, such
as a few duplicates, impossible ages or unknown codes in fewer than 10 rows, areas with
fewer than 10 respondents) are listed but do not. Messages name the file, column and
profile key; the only raw values they quote are labels and neighbourhood codes of mapped
columns, never identifiers or unmapped columns, and counts from 1 to 9 are shown as "<10".
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.inputs import codebook
from analysis.inputs import clean as cl
from analysis.config import K_SUPPRESS, PATHS
from analysis.inputs.profile import CityProfile, ProfileError, load_profile
from analysis.inputs.readers import PROVENANCE, RawDataError, read_file, source_name
from analysis.inputs import margins

#: A code or label in at least this many rows is systematic (a profile omission), not a keying error.
SYSTEMATIC_ROWS = K_SUPPRESS
#: Share of a file's dates that must fail before the date format (or window) is called wrong.
DATE_SHARE = 0.2
#: At most this many distinct unknown values are quoted per column.
MAX_QUOTED = 30


def fmt_count(n: int, k: int = K_SUPPRESS) -> str:
    """Counts from 1 to k-1 as ``<k`` (the suppression rule)."""
    return f"<{k}" if 0 < n < k else str(n)


@dataclass
class Finding:
    """One line of the check: where (dataset, file, column or key) and what."""

    where: str
    message: str
    problem: bool = True

    def __str__(self) -> str:
        return f"{'PROBLEM' if self.problem else 'note   '}  {self.where}: {self.message}"


@dataclass
class CheckReport:
    city: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if not f.problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str, problem: bool = True) -> None:
        self.findings.append(Finding(where, message, problem))


def _quote(counts: pd.Series) -> str:
    items = [f"{v!r} ({fmt_count(int(c))})" for v, c in counts.items()]
    shown = ", ".join(items[:MAX_QUOTED])
    return shown + (f" and {len(items) - MAX_QUOTED} more" if len(items) > MAX_QUOTED else "")


def _quotable(v: codebook.Var) -> bool:
    """Whether raw values of a column may be quoted: labels and codes, not ids or free text."""
    return v.kind in ("category", "bool", "int", "float", "date") or v.name == "neighbourhood"


def _missing_columns(raw: pd.DataFrame, fs, spec, name: str, where: str, report: CheckReport) -> bool:
    """Report every mapped column absent from a file (the readers stop at the first)."""
    found = [c for c in raw.columns if c not in PROVENANCE]
    missing = False
    for cb, rc in spec.columns.items():
        if cb == "wave" and fs.wave is not None:
            continue
        if rc not in raw.columns:
            near = [c for c in found if c.strip().casefold() == rc.strip().casefold()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            report.add(f"{where}, column {rc!r}", f"not found in the file; it feeds {cb}{hint} "
                       f"(key {name}.columns.{cb})")
            missing = True
    return missing


def _check_dataset(profile: CityProfile, name: str, folder: Path, report: CheckReport) -> pd.DataFrame | None:
    """Check one dataset; the kept rows (codebook values) of the residents, for the design checks."""
    spec = profile.dataset(name)
    try:
        maps = cl.label_maps(spec, name)
    except ProfileError as exc:
        report.add(f"{name}.values", str(exc))
        return None
    files = []
    for fs in spec.files:
        where = f"{name} / {source_name(fs)}"
        try:
            raw = read_file(fs, folder)
        except RawDataError as exc:
            report.add(where, str(exc))
            continue
        conv = spec
        if _missing_columns(raw, fs, spec, name, where, report):
            # convert what is there, so that the other problems of the file are listed too
            present = {cb: rc for cb, rc in spec.columns.items() if rc in raw.columns or (cb == "wave" and fs.wave)}
            conv = spec.model_copy(update={"columns": present,
                                           "values": {cb: m for cb, m in spec.values.items() if cb in present}})
            if "neighbourhood" not in present or (name in codebook.ID_COLUMNS and codebook.ID_COLUMNS[name] not in present):
                continue
        try:
            fd = cl.convert_file(profile, name, conv, fs, maps, raw, folder / fs.path)
        except (RawDataError, ProfileError) as exc:
            report.add(where, str(exc))
            continue
        files.append(fd)
        for cb, col in fd.cols.items():
            bad = col.status == cl.UNKNOWN
            if cb == "wave" or not bad.any():
                continue
            rc = spec.columns[cb]
            v = codebook.var(cb, name)
            vals = fd.raw[rc][bad].map(cl.raw_text).value_counts()
            what = (_quote(vals) if _quotable(v) and len(vals) <= MAX_QUOTED
                    else f"{len(vals)} distinct value(s) (not quoted)")
            report.add(f"{where}, column {rc!r}",
                       f"{int(bad.sum())} row(s) hold labels the profile does not know for {cb}: {what}; "
                       f"add them under {name}.values.{cb} (or {name}.missing if they mean don't know)")
    if not files:
        return None
    # labels of the profile that no file holds: harmless, but often a typo beside an unknown label
    for cb, mapping in spec.values.items():
        rc = spec.columns.get(cb)
        seen = set()
        for fd in files:
            if rc in fd.raw.columns:
                seen |= {cl.norm_label(t) for t in fd.raw[rc].map(cl.raw_text).dropna().unique()}
        if cb == "wave" and all(fd.spec.wave for fd in files):
            continue
        stale = [k for k in mapping if cl.norm_label(k) not in seen]
        if stale and seen:
            report.add(f"{name}.values.{cb}", f"label(s) in the profile that no file holds: {stale[:MAX_QUOTED]}",
                       problem=False)
    rows = cl.check_rows(profile, name, spec, files)
    n_file = np.array([len(fd.raw) for fd in files])
    starts = np.concatenate([[0], np.cumsum(n_file)])
    for i, fd in enumerate(files):
        where = f"{name} / {fd.source}"
        sl = slice(starts[i], starts[i + 1])
        reason = pd.Series(rows.reason[sl])
        n = len(fd.raw)
        # wave: every row needs one
        if "wave" in fd.cols and fd.spec.wave is None:
            bad = rows.reason[sl] == "unmapped_wave"
            if bad.any():
                rc = spec.columns["wave"]
                vals = fd.raw[rc][bad].map(cl.raw_text).fillna("(blank)").value_counts()
                report.add(f"{where}, column {rc!r}", f"{int(bad.sum())} row(s) have no wave or a wave label not "
                           f"mapped to baseline/follow_up: {_quote(vals)} (key {name}.values.wave)",
                           problem=bool(bad.sum() >= SYSTEMATIC_ROWS))
        if "neighbourhood" in fd.cols:
            bad = rows.reason[sl] == "unknown_neighbourhood"
            if bad.any():
                rc = spec.columns["neighbourhood"]
                vals = fd.raw[rc][bad].map(cl.raw_text).value_counts()
                systematic = vals[vals >= SYSTEMATIC_ROWS]
                if len(systematic):
                    report.add(f"{where}, column {rc!r}",
                               f"neighbourhood codes not in the profile in {SYSTEMATIC_ROWS}+ rows each: "
                               f"{_quote(systematic)}; add them to neighbourhoods (or map them under "
                               f"{name}.values.neighbourhood)")
                rare = vals[vals < SYSTEMATIC_ROWS]
                if len(rare):
                    # a few typos are quoted; hundreds of one-off values (addresses?) are not
                    what = _quote(rare) if len(rare) <= MAX_QUOTED else "not quoted (many distinct values)"
                    report.add(f"{where}, column {rc!r}",
                               f"{len(rare)} unknown neighbourhood code(s) in fewer than {SYSTEMATIC_ROWS} rows each "
                               f"(rejected as unknown_neighbourhood): {what}", problem=len(rare) > MAX_QUOTED)
        for why, label in (("invalid_date", "dates that do not read with date_format"),
                           ("date_outside_wave", "interview dates outside their wave's fieldwork window")):
            k = int((reason == why).sum())
            if k:
                wrong = k >= DATE_SHARE * n
                key = "files.date_format" if why == "invalid_date" else "waves"
                report.add(where, f"{fmt_count(k)} row(s) with {label}"
                           + (f": {k / n:.0%} of the file, check {name}.{key}" if wrong and why == "invalid_date"
                              else f": {k / n:.0%} of the file, check the key {key}" if wrong else " (rejected)"),
                           problem=wrong)
        others = reason[~reason.isin(["unknown_neighbourhood", "invalid_date", "date_outside_wave",
                                      "unmapped_wave", "unknown_label", None]) & reason.notna()]
        if len(others):
            counts = others.value_counts().sort_index()
            report.add(where, f"{fmt_count(len(others))} row(s) will be rejected: "
                       + ", ".join(f"{r} {fmt_count(int(c))}" for r, c in counts.items()), problem=False)
    if name != "residents":
        return None
    keep = rows.free
    data = {"wave": rows.values["wave"][keep] if "wave" in rows.values else np.full(keep.sum(), None),
            "neighbourhood": rows.values["neighbourhood"][keep]}
    if "gender" in rows.values:
        data["gender"] = rows.values["gender"][keep]
    if "age" in rows.values:
        data["age_group"] = codebook.age_group(pd.Series(rows.values["age"][keep]))
    return pd.DataFrame(data)


def _check_design(profile: CityProfile, kept: pd.DataFrame, report: CheckReport) -> None:
    counts = pd.crosstab(kept["neighbourhood"].astype(str), kept["wave"].astype(str)) if len(kept) else pd.DataFrame()
    for wave in codebook.WAVES:
        if wave not in counts.columns or counts[wave].sum() == 0:
            report.add(f"waves.{wave}", "no respondent in this wave: the design needs both waves")
            continue
        for key in ("pilot_areas", "comparison_areas"):
            for code in getattr(profile.pilot, key):
                n = int(counts[wave].get(code, 0))
                if n == 0:
                    report.add(f"pilot.{key}", f"area {code!r} has no respondent in the {wave} wave: "
                               "its change cannot be estimated")
                elif n < K_SUPPRESS:
                    report.add(f"pilot.{key}", f"area {code!r} has fewer than {K_SUPPRESS} respondents in the "
                               f"{wave} wave: no statistic is published for it alone", problem=False)
    if not profile.pilot.comparison_areas:
        report.add("pilot.comparison_areas", "empty: the city gets a pre/post design (no counterfactual)",
                   problem=False)


def _check_margins(profile: CityProfile, kept: pd.DataFrame | None, report: CheckReport) -> None:
    if profile.margins is None:
        report.add("margins", "none: the weights fall back to 1 (unweighted_no_margins)", problem=False)
        return

    try:
        frame = margins.population_margins(profile)
    except (ProfileError, ValueError) as exc:
        report.add("margins", str(exc))
        return
    if frame is None or kept is None:
        return
    for msg in margins.check_margins(frame, kept, profile.city):
        report.add("margins", msg.removeprefix(f"{profile.city}: "))


def check_city(city_or_path: str | Path, raw_dir: str | Path | None = None) -> CheckReport:
    """Check a profile against its raw files and list every problem (nothing is written).

    Parameters
    ----------
    city_or_path : str or pathlib.Path
        A city slug or the path of a profile file.
    raw_dir : path, optional
        Folder of the raw files; default ``data/raw/<city>``.

    Returns
    -------
    CheckReport
        ``findings`` in file order; ``ok`` when no finding is a problem.
    """
    name = Path(str(city_or_path)).stem
    report = CheckReport(name)
    try:
        profile = load_profile(city_or_path)
    except ProfileError as exc:
        report.add("profile", str(exc))
        return report
    report.city = profile.city
    path = Path(city_or_path) if Path(str(city_or_path)).suffix in (".yml", ".yaml") else PATHS.profile(profile.city)
    todos = [m.group(1) for m in re.finditer(r"^\s*#\s*TODO:\s*([^:\n]+)", path.read_text(encoding="utf-8"), re.M)]
    if todos:
        keys = list(dict.fromkeys(todos))
        report.add("profile", f"{len(todos)} `# TODO:` line(s) left from make new-city (keys {keys[:12]}"
                   f"{'…' if len(keys) > 12 else ''}): settle each and delete its TODO line")
    try:
        cl.check_profile(profile)
    except ProfileError as exc:
        report.add("profile", str(exc))
    folder = Path(raw_dir) if raw_dir is not None else profile.raw_dir()
    kept = None
    for ds in codebook.DATASETS:
        if profile.dataset(ds) is None:
            continue
        try:
            out = _check_dataset(profile, ds, folder, report)
        except ProfileError as exc:
            report.add(ds, str(exc))
            out = None
        if ds == "residents":
            kept = out
    if kept is not None:
        _check_design(profile, kept, report)
    _check_margins(profile, kept, report)
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.inputs.check CITY``: list every problem of a profile against its raw files."""
    ap = argparse.ArgumentParser(prog="python -m analysis.inputs.check", description=main.__doc__)
    ap.add_argument("city", help="city slug (config/cities/CITY.yml) or a profile path")
    ap.add_argument("--raw-dir", help="folder of the raw files (default data/raw/CITY)")
    args = ap.parse_args(argv)
    report = check_city(args.city, args.raw_dir)
    path = PATHS.profile(report.city)
    print(f"check {report.city}: profile {path.relative_to(PATHS.root) if path.is_relative_to(PATHS.root) else path}")
    for f in report.findings:
        print(f"  {f}")
    if report.ok:
        print(f"{report.city}: OK, no problem ({len(report.notes)} note(s))")
        return 0
    print(f"{report.city}: {len(report.problems)} problem(s), {len(report.notes)} note(s); fix the problems "
          f"and run `make check CITY={report.city}` again", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
