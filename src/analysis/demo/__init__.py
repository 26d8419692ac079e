"""Synthetic demonstration data: the seeded generator of the nine demo cities' raw files.

Owns the demo-data generator (``synthetic``), kept apart from the stages. Must not be needed to
analyse a real city: only the privacy guard reads which files it writes.

Kept apart from the stages: the pipeline never imports it. Every file it writes says it is
SYNTHETIC.
"""
