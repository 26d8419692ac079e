"""Check the evaluation planner against the project's own estimator (Monte Carlo).

For a few planned designs, prints the power the planner predicts (analysis.statistics.planner) beside
the rejection rate of the project's wild cluster bootstrap on pilots simulated to the same
design (analysis.statistics.planner.simulate_power), with the Monte Carlo standard error. Run with
``make design-check``; takes a few minutes on 2 cores.
"""

from __future__ import annotations

import time

from analysis.statistics.planner import Plan, simulate_power

SETTINGS = [  # pilot, comparison, respondents per cell, sd, icc, effect
    (5, 5, 60, 2.0, 0.02, 0.6),
    (4, 4, 100, 2.0, 0.01, 0.5),
    (6, 6, 40, 2.0, 0.05, 0.8),
    (3, 3, 100, 2.0, 0.02, 0.8),
    (5, 5, 60, 2.0, 0.02, 0.0),
]
REPS = 300


def main() -> None:
    print(f"Planner vs simulation ({REPS} simulated pilots per row, WCR at level 0.05)")
    print(f"{'pilot':>5} {'comp':>5} {'m':>4} {'icc':>5} {'effect':>6} {'MDE':>6} "
          f"{'predicted':>9} {'simulated':>9} {'MC se':>6} {'|diff|/se':>9} {'time':>6}")
    for P, C, m, sd, icc, eff in SETTINGS:
        t0 = time.perf_counter()
        plan = Plan(P, C, m, sd, icc, effect=eff)
        rate, se = simulate_power(plan, eff, reps=REPS)
        print(f"{P:>5} {C:>5} {m:>4} {icc:>5.2f} {eff:>6.2f} {plan.mde:>6.2f} {plan.power:>9.3f} "
              f"{rate:>9.3f} {se:>6.3f} {abs(rate - plan.power) / se:>9.2f} {time.perf_counter() - t0:>5.0f}s")


if __name__ == "__main__":
    main()
