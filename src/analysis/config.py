"""Every path and project-wide constant, from one place.

Owns every path (rooted at the project root; ``IMPPULSE_ROOT`` in tests) and the project-wide
constants (cities, k, seed, waves, steps). Must not read data nor import the package: all import it.

Paths are rooted at the project root, found by walking up from this file (editable
install) or from the current directory, to the folder that holds ``pyproject.toml``
and ``config/cities``. The environment variable ``IMPPULSE_ROOT`` overrides it, which
is how tests run the pipeline on a scratch copy of the project.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The nine partner cities, in the order the report presents them.
CITIES: tuple[str, ...] = (
    "nantes",
    "amiens",
    "aubervilliers",
    "toulouse",
    "milan",
    "barcelona",
    "brussels",
    "vilnius",
    "lisbon",
)

#: Minimum number of respondents behind any published cell (DESIGN §4, §6).
K_SUPPRESS: int = 10

#: Seed of every random draw in the project (generator, bootstrap, simulations).
SEED: int = 20140901

#: Wave labels of the harmonised codebook, in time order.
WAVES: tuple[str, ...] = ("baseline", "follow_up")


def _looks_like_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "config" / "cities").is_dir()


#: Roots found, by ``IMPPULSE_ROOT`` (or by working directory when it is unset).
_ROOTS: dict[tuple[str, str], Path] = {}


def find_root() -> Path:
    """Return the project root.

    Returns
    -------
    pathlib.Path
        ``$IMPPULSE_ROOT`` when set, else the nearest folder above this module or
        the current directory that holds ``pyproject.toml`` and ``config/cities``.
    """
    env = os.environ.get("IMPPULSE_ROOT")
    key = ("env", env) if env else ("cwd", os.getcwd())
    found = _ROOTS.get(key)
    if found is not None:
        return found
    if env:
        found = Path(env).resolve()
    else:
        found = next((candidate for start in (Path(__file__).resolve(), Path.cwd().resolve())
                      for candidate in (start, *start.parents) if _looks_like_root(candidate)), None)
    if found is not None:
        # every path of a run goes through here (thousands of calls in a stamp check)
        _ROOTS[key] = found
        return found
    raise RuntimeError(
        "cannot find the IMPPULSE project root (a folder with pyproject.toml and "
        "config/cities); set IMPPULSE_ROOT"
    )


class Paths:
    """Project paths, resolved lazily so that ``IMPPULSE_ROOT`` can be changed in tests."""

    @property
    def root(self) -> Path:
        return find_root()

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def cities_config(self) -> Path:
        return self.root / "config" / "cities"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def external(self) -> Path:
        return self.root / "data" / "external"

    @property
    def boundaries(self) -> Path:
        return self.root / "data" / "external" / "boundaries"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def figures(self) -> Path:
        return self.root / "reports" / "figures"

    @property
    def tables(self) -> Path:
        return self.root / "reports" / "tables"

    @property
    def executed_notebooks(self) -> Path:
        return self.root / "reports" / "notebooks"

    def raw_city(self, city: str) -> Path:
        return self.raw / city

    def processed_city(self, city: str) -> Path:
        return self.processed / city

    def figures_city(self, city: str) -> Path:
        return self.figures / city

    def tables_city(self, city: str) -> Path:
        return self.tables / city

    def profile(self, city: str) -> Path:
        return self.cities_config / f"{city}.yml"


PATHS = Paths()


#: The per-city steps (notebook templates), in order, and the cross-city step after them.
STEPS: tuple[str, ...] = ("01-clean", "02-neighbourhoods", "03-impact")
CROSS_CITY: str = "cross-city"
CROSS_STEP: str = "04-compare-cities"


def failure_path(city: str, name: str) -> Path:
    """Where a failed step leaves its reason (local, never published): ``reports/.stamps/CITY/STEP.failed``."""
    return PATHS.reports / ".stamps" / city / f"{name}.failed"


def list_cities() -> list[str]:
    """Slugs of every profile in ``config/cities``, partner cities first in report order."""
    found = {p.stem for p in PATHS.cities_config.glob("*.yml")}
    return [c for c in CITIES if c in found] + sorted(found - set(CITIES))


def is_hidden(path: Path, base: Path) -> bool:
    """Whether ``path`` is, or is under, a hidden file or folder below ``base`` (a linter's
    ``.ruff_cache``, an editor's backup), or a ``__pycache__``: never one of the project's files."""
    return any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(base).parts)
