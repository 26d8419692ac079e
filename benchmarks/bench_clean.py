"""Benchmark: cleaning throughput and peak memory for 10 k, 100 k and 1 M residents.

For each size, the synthetic generator (:mod:`analysis.demo.synthetic`) writes one city's raw
files to a scratch folder (not timed); then a *fresh* Python process cleans them
(:func:`analysis.inputs.clean.clean_city`) and writes the outputs (:func:`write_outputs`), so
that the memory figure is that of cleaning alone. Reported per size:

- ``clean_s``: read + clean + validate + pseudonymise, seconds (wall clock), and
  ``cpu_s``, the CPU seconds it used (less sensitive to other work on the machine);
- ``write_s``: writing the Parquet outputs and the log;
- ``rows_per_s``: raw resident rows cleaned per second;
- ``peak_rss_mb``: the cleaning process's peak resident memory (``getrusage``), and
  ``base_rss_mb``, its memory after imports, before reading anything.

Usage::

    python benchmarks/bench_clean.py [--city nantes] [--sizes 10000 100000 1000000]

Figures vary with the machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _generate(city: str, n: int, folder: str) -> dict:
    from analysis.demo import synthetic
    from analysis.inputs.profile import load_profile

    profile = load_profile(city)
    t = time.perf_counter()
    frames = synthetic.generate_city(profile, n_per_wave=n // 2)
    synthetic.write_raw(profile, frames, folder)
    return {"generate_s": time.perf_counter() - t}


def _clean(city: str, folder: str) -> dict:
    from analysis.inputs.clean import clean_city, write_outputs
    from analysis.inputs.profile import load_profile
    from analysis.inputs.pseudonymise import load_key

    profile = load_profile(city)
    base = _rss_mb()
    t, c = time.perf_counter(), time.process_time()
    res = clean_city(profile, key=load_key(profile), raw_dir=folder)
    t_clean, c_clean = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    write_outputs(res, Path(folder) / "processed")
    t_write = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw = res.log["totals"]["residents"]["raw"]
    return {"raw_residents": raw, "kept": res.log["totals"]["residents"]["kept"],
            "rejected": int(len(res.rejected)), "clean_s": t_clean, "cpu_s": c_clean, "write_s": t_write,
            "rows_per_s": raw / t_clean, "base_rss_mb": base, "peak_rss_mb": peak}


def _child(mode: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, f"--_{mode}", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--city", default="nantes", help="city profile to generate (default nantes: Latin-1 ';' CSV)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--_generate", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--_clean", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._generate:
        city, n, folder = args._generate
        print(json.dumps(_generate(city, int(n), folder)))
        return
    if args._clean:
        print(json.dumps(_clean(*args._clean)))
        return

    load = os.getloadavg()[0]
    print(f"cleaning benchmark, city profile {args.city!r} (synthetic data); "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at start")
    print(f"{'residents':>10} {'generate_s':>10} {'clean_s':>8} {'cpu_s':>7} {'write_s':>8} {'rows/s':>9} "
          f"{'base MB':>8} {'peak MB':>8} {'rejected':>8}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-clean-") as tmp:
            gen = _child("generate", args.city, str(n), tmp)
            r = _child("clean", args.city, tmp)
        print(f"{r['raw_residents']:>10,} {gen['generate_s']:>10.1f} {r['clean_s']:>8.1f} {r['cpu_s']:>7.1f} {r['write_s']:>8.1f} "
              f"{r['rows_per_s']:>9,.0f} {r['base_rss_mb']:>8.0f} {r['peak_rss_mb']:>8.0f} {r['rejected']:>8,}",
              flush=True)


if __name__ == "__main__":
    main()
