"""A node setup's ``timing`` durations read on its AWG's sample grid: a duration the AWG cannot play (not a whole
number of samples) is a ConfigError naming the node setup file and the ``timing`` key, before any block is built.

Hand-written: the grid rule is :func:`instruments.tektronix.awg_sequence.samples_of`; this only says which file
and key the number came from, which the sequence builder cannot know.
"""

from __future__ import annotations

from instruments.tektronix.awg_sequence import AWGSequenceError, samples_of
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.node import NodeSetup

__all__ = ["grid_time_s"]


def grid_time_s(setup: NodeSetup, key: str, sample_rate_hz: float) -> float:
    """``timing.<key>`` of ``setup`` (s); a ConfigError naming the file and key when it is missing or off the grid of
    ``sample_rate_hz``."""
    duration_s = setup.time_s(key)
    try:
        samples_of(duration_s, sample_rate_hz, "the duration")
    except AWGSequenceError as exc:
        raise ConfigError(str(setup.path), f"timing.{key}", str(exc)) from None
    return duration_s
