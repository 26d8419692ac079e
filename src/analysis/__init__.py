"""IMPPULSE analysis: clean, map and evaluate police-population pilot programmes.

The package holds all the logic; the notebooks in ``notebooks/`` are thin, narrative
templates that call it and are run once per city by papermill.
"""

__version__ = "0.1.0"
