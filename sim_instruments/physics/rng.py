"""One seeded random generator per simulation run.

Every random draw of a run (measurement outcomes, readout errors, heralding) comes from a single
:class:`numpy.random.Generator` made here, so that a run is reproducible from its seed alone. Parts that need
their own stream derive it with :func:`child_rng`, which is deterministic too.
"""

from __future__ import annotations

import numpy as np

__all__ = ["child_rng", "make_rng"]


def make_rng(seed: int | None) -> np.random.Generator:
    """The generator of a run. ``None`` draws fresh entropy from the OS (not reproducible)."""
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0 or None, got {seed}")
    return np.random.default_rng(seed)


def child_rng(parent: np.random.Generator) -> np.random.Generator:
    """An independent generator derived deterministically from ``parent``."""
    return np.random.Generator(parent.bit_generator.spawn(1)[0])
