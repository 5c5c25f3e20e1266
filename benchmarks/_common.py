"""Shared helpers of the benchmarks: median-of-repeats timing with its spread, and plain-text tables.

Every benchmark times only the work it names: a ``setup`` callable builds fresh state outside the timed
region, and the garbage collector is paused while the clock runs (as :mod:`timeit` does), so that one
collection does not land in one repeat and not in another.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_REPEATS = 7


@dataclass(frozen=True)
class Timing:
    """Wall times of the repeats of one measurement, in seconds."""

    samples_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def min_s(self) -> float:
        return min(self.samples_s)

    @property
    def max_s(self) -> float:
        return max(self.samples_s)

    def rate(self, count: int) -> Rate:
        """``count`` events per repeat, as a rate per second (median, and the range over the repeats)."""
        return Rate(median=count / self.median_s, low=count / self.max_s, high=count / self.min_s)


@dataclass(frozen=True)
class Rate:
    """Events per second: the median over the repeats, and the slowest and fastest repeat."""

    median: float
    low: float
    high: float

    def spread_pct(self) -> float:
        """Half the range, as a percentage of the median."""
        return 50.0 * (self.high - self.low) / self.median

    def __str__(self) -> str:
        return f"{si(self.median)} ({si(self.low)}..{si(self.high)})"


def time_repeats(run: Callable[[Any], T], setup: Callable[[], Any], repeats: int = DEFAULT_REPEATS,
                 warmup: int = 1) -> tuple[Timing, list[T]]:
    """Time ``run(setup())`` ``repeats`` times; only ``run`` is timed. Returns the timing and every result.

    ``warmup`` extra runs come first and are neither timed nor returned (imports, caches, allocator).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        run(setup())
    samples: list[float] = []
    results: list[T] = []
    for _ in range(repeats):
        state = setup()
        gc.collect()
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start_ns = time.perf_counter_ns()
            results.append(run(state))
            elapsed_ns = time.perf_counter_ns() - start_ns
        finally:
            if gc_was_enabled:
                gc.enable()
        samples.append(max(elapsed_ns, 1) / 1e9)
    return Timing(tuple(samples)), results


def geometric_mean(values: Sequence[float]) -> float:
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"geometric mean needs positive values, got {list(values)}")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def si(value: float) -> str:
    """A rate or count with an SI suffix: 1234567 -> '1.23M'."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a left-aligned first column and right-aligned other columns, with a rule under the header."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                             strict=True)))

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


if __name__ == "__main__":  # `make bench` runs every benchmarks/*.py
    print("helpers of the other benchmarks; nothing to measure here")


def gate_loop_text(app_id: int, passes: int, body: Sequence[str], epilogue: Sequence[str]) -> str:
    """NetQASM text: allocate Q0 and Q1, then run ``body`` ``passes`` times in a beq/add/jmp loop.

    Instructions executed: 9 before the loop, ``len(body) + 3`` per pass, the final beq, then ``epilogue``.
    """
    lines = [f"# NETQASM 1.0\n# APPID {app_id}", "set Q0 0", "set Q1 1", "qalloc Q0", "qalloc Q1", "init Q0",
             "init Q1", "set R0 0", f"set R2 {passes}", "set R3 1", "LOOP:", "beq R0 R2 END", *body,
             "add R0 R0 R3", "jmp LOOP", "END:", *epilogue]
    return "\n".join(lines) + "\n"
