"""Injected clocks.

Every duration and timeout in qlab-os reads a :class:`Clock`. Under simulation the clock is a
:class:`VirtualClock`: time advances only when the QNPU says that a physical instruction took time, so runs are
fast and reproducible. With hardware, or across processes, it is a :class:`WallClock`. Nothing in the kernel
or the tests sleeps.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the kernel needs of a clock."""

    def now_ns(self) -> int:
        """Current time in nanoseconds."""
        ...

    def advance_ns(self, duration_ns: int) -> None:
        """Tell the clock that ``duration_ns`` of device time has passed.

        A virtual clock moves forward; a wall clock ignores it (real time passes by itself).
        """
        ...


class VirtualClock:
    """Simulated time, in integer nanoseconds. Starts at ``start_ns`` and moves only when told to."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        if start_ns < 0:
            raise ValueError(f"start_ns must be >= 0, got {start_ns}")
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_ns(self, duration_ns: int) -> None:
        if duration_ns < 0:
            raise ValueError(f"time cannot go backwards: advance_ns({duration_ns})")
        self._now_ns += duration_ns

    def advance_to_ns(self, time_ns: int) -> None:
        """Move to an absolute time, which must not be in the past."""
        if time_ns < self._now_ns:
            raise ValueError(f"time cannot go backwards: now {self._now_ns} ns, asked for {time_ns} ns")
        self._now_ns = time_ns

    def __repr__(self) -> str:
        return f"VirtualClock(now_ns={self._now_ns})"


class WallClock:
    """Real time from :func:`time.monotonic_ns`; ``advance_ns`` does nothing."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def advance_ns(self, duration_ns: int) -> None:
        if duration_ns < 0:
            raise ValueError(f"time cannot go backwards: advance_ns({duration_ns})")
