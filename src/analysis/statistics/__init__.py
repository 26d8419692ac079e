"""Stage 3, statistics: every estimate the project publishes.

Owns survey weights (``weights``), area estimates and Fay–Herriot (``estimates``, ``areas``),
the wild cluster bootstrap (``bootstrap``), the pilot's impact (``impact``), officers
(``officers``), implementation (``implementation``), pooling across cities (``synthesis``),
the evidence ratings (``evidence``), the design planner (``planner``) and the ESS benchmark
(``ess``), and one city's evaluation result (``evaluation``). Must not word anything or lay
out the report: numbers and codes only.
"""
