"""Synthetic demonstration data: the seeded generator of the nine demo cities' raw files.

Kept apart from the stages: the pipeline never imports it. Every file it writes says it is
SYNTHETIC.
"""
