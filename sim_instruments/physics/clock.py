"""The clock that the simulated lab's physics reads, and a plain one for a node.

Every physics call of the simulated lab (a microwave pulse, a laser window, a detection gate) takes time: it reads
the clock, applies the free evolution since the model last looked, and advances the clock by its own duration.
:class:`LabClock` is the structural contract; it has the same method names as ``qlab_os.clock.Clock``, so the OS's
virtual clock can be handed in as is, without sim_instruments importing qlab_os. :class:`NodeClock` is a minimal
implementation for a lab run on its own (and for tests).

Hand-written: a dozen lines, and the project's clocks are injected everywhere (no library clock fits that).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["LabClock", "NodeClock", "seconds_to_ns"]


@runtime_checkable
class LabClock(Protocol):
    """What the physics models need of a clock: integer nanoseconds that only move forward."""

    def now_ns(self) -> int:
        """Current time in nanoseconds."""
        ...

    def advance_ns(self, duration_ns: int) -> None:
        """``duration_ns`` of device time has passed."""
        ...


class NodeClock:
    """Virtual time of one node, in integer nanoseconds; moves only when told to."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        if isinstance(start_ns, bool) or not isinstance(start_ns, int) or start_ns < 0:
            raise ValueError(f"start_ns must be an integer >= 0, got {start_ns!r}")
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_ns(self, duration_ns: int) -> None:
        if isinstance(duration_ns, bool) or not isinstance(duration_ns, int):
            raise ValueError(f"advance_ns needs an integer number of ns, got {duration_ns!r}")
        if duration_ns < 0:
            raise ValueError(f"time cannot go backwards: advance_ns({duration_ns})")
        self._now_ns += duration_ns

    def __repr__(self) -> str:
        return f"NodeClock(now_ns={self._now_ns})"


def seconds_to_ns(duration_s: float, what: str = "duration_s") -> float:
    """``duration_s`` in ns (a float), after checking that it is a finite number >= 0."""
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {duration_s!r}")
    if not duration_s >= 0.0 or duration_s == float("inf"):  # also refuses NaN
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {duration_s!r}")
    return float(duration_s) * 1.0e9
