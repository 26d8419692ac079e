"""Stage 5, running: the pipeline that runs the stages in order, and the notebook helpers.

Owns one function per step (``steps``), the Makefile's entry points (``pipeline``), the
in-process runner (``inprocess``) and the notebooks' display helpers (``nbtools``).
Must not hold statistics or wording of its own.
"""
