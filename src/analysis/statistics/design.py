"""The design thresholds below which a city's data cannot support inference.

Owns the fewest neighbourhoods a clustered estimate, a difference-in-differences and a placebo
need. Must not import anything heavy: the report reads these numbers to word its annex.
"""

from __future__ import annotations

#: Fewest neighbourhoods holding the sample (or the group) in both waves for clustered
#: inference (below it the CRV1 variance has at most one degree of freedom).
MIN_CLUSTERS: int = 3
#: Fewest pilot and fewest comparison neighbourhoods (holding the sample in both waves)
#: for a DiD: with a single treated or control cluster the wild cluster bootstrap is
#: known to fail (MacKinnon & Webb 2017), and the effect cannot be told from that one
#: neighbourhood's own shock.
MIN_CLUSTERS_PER_ARM: int = 2
#: Fewest comparison neighbourhoods for a placebo DiD among them (:mod:`analysis.statistics.placebo`): two per placebo arm.
MIN_COMPARISON_AREAS: int = 2 * MIN_CLUSTERS_PER_ARM
