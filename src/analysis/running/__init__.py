"""Stage 5, running: the pipeline that runs the stages in order, and the notebook helpers.

Owns the Makefile's entry points (``pipeline``), the in-process runner (``inprocess``),
notebook helpers (``nbtools``, ``explore``) and the privacy guard (``privacy_guard``).
Must not hold statistics or wording of its own.
"""
