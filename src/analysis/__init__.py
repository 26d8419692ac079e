"""IMPPULSE analysis: clean, map and evaluate police-population pilot programmes.

Owns the code version and nothing else; the stages are its folders, bottom to top: config, io, sdc,
inputs, geography, statistics, publishing, running (demo apart). Must not import a stage.

The package holds all the logic; the notebooks in ``notebooks/`` are thin, narrative
templates that call it and are run once per city by papermill.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    #: The code version (pyproject.toml's), for reports and CITATION.cff; one source of truth.
    __version__ = version("imppulse-analysis")
except PackageNotFoundError:  # source tree on sys.path without `pip install -e .`
    __version__ = "0+unknown"
