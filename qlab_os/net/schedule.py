"""The network schedule: TDMA time bins per link, read from a link's ``schedule`` key in the network YAML.

Time is cut into bins of ``bin_length_ns``; a ``pattern`` of bins repeats every ``period_ns`` (the pattern's
length times the bin length), starting at ``offset_ns``. A ``link`` bin belongs to the link: both ends attempt
entanglement in it, and their network processes get their QDevices first. A ``local`` bin belongs to the nodes:
their QDevices serve local work (user processes). Both ends read the same schedule (it belongs to the link), so
they always attempt in the same bins.

YAML (see docs/configuration.md, "Network schedule")::

    links:
      - between: [client, server]
        preset: nv
        schedule:
          bin_length_ns: 1.0e+6        # one time bin
          pattern: [link, local]       # one entry per bin of the period
          period_ns: 2.0e+6            # optional; must equal len(pattern) * bin_length_ns
          offset_ns: 0                 # optional: where the first period starts

Hand-written: a schedule is a few integers and one modular computation; no library models TDMA bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from qlab_os.config_checks import number, reject_unknown
from qlab_os.errors import ConfigError

LINK_BIN: Final = "link"
LOCAL_BIN: Final = "local"
_KEYS: Final = frozenset({"bin_length_ns", "pattern", "period_ns", "offset_ns"})
MAX_OVERLAP_CHECK_BINS: Final = 100_000
"""Two schedules on one node are checked for overlapping link bins over their common period, up to this many
bins (beyond that the check is skipped and the node's network process serves one link at a time)."""


@dataclass(frozen=True)
class TdmaSchedule:
    """TDMA time bins of one link."""

    bin_length_ns: int
    pattern: tuple[bool, ...]
    """One entry per bin of a period: True for a link bin, False for a local bin."""
    offset_ns: int = 0

    @property
    def period_ns(self) -> int:
        return self.bin_length_ns * len(self.pattern)

    @property
    def link_fraction(self) -> float:
        """The share of time that belongs to the link."""
        return sum(self.pattern) / len(self.pattern)

    def bin_at_or_after(self, time_ns: int, min_length_ns: int = 1) -> tuple[int, int]:
        """(start, end) of the first link bin that still has ``min_length_ns`` left at or after ``time_ns``
        (a bin already open counts from ``time_ns``: the start returned is then ``time_ns``)."""
        period, length = self.period_ns, self.bin_length_ns
        rel = time_ns - self.offset_ns
        if rel < 0:
            rel_period, index = 0, 0
            time_ns = self.offset_ns
        else:
            rel_period, index = divmod(rel, period)
            index //= length
        base = self.offset_ns + rel_period * period
        for step in range(2 * len(self.pattern) + 1):
            k = index + step
            p, i = divmod(k, len(self.pattern))
            if not self.pattern[i]:
                continue
            start = base + p * period + i * length
            end = start + length
            begin = max(start, time_ns)
            if end - begin >= min_length_ns:
                return begin, end
        raise AssertionError("a validated schedule has a link bin in every period")

    def in_link_bin(self, start_ns: int, end_ns: int) -> bool:
        """Whether [start_ns, end_ns] lies inside one link bin."""
        rel = start_ns - self.offset_ns
        if rel < 0:
            return False
        index = (rel % self.period_ns) // self.bin_length_ns
        bin_end = start_ns - (rel % self.bin_length_ns) + self.bin_length_ns
        return self.pattern[index] and end_ns <= bin_end

    def link_bins(self, horizon_ns: int) -> list[tuple[int, int]]:
        """Every link bin (start, end) that starts before ``horizon_ns``."""
        bins: list[tuple[int, int]] = []
        t = 0
        while True:
            start, end = self.bin_at_or_after(t, self.bin_length_ns)
            if start >= horizon_ns:
                return bins
            bins.append((start, end))
            t = end


def parse_schedule(raw: Any, attempt_duration_ns: int, source: str, key: str) -> TdmaSchedule:
    """Validate a link's ``schedule`` mapping; ``key`` is its path (e.g. ``links[0].schedule``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, f"expected a mapping with bin_length_ns and pattern, got {raw!r}")
    reject_unknown(raw, _KEYS, source, key + ".")
    if "bin_length_ns" not in raw:
        raise ConfigError(source, key + ".bin_length_ns", "missing: the length of one time bin")
    length = _ns(raw["bin_length_ns"], source, key + ".bin_length_ns")
    if length < attempt_duration_ns:
        raise ConfigError(source, key + ".bin_length_ns",
                          f"{length} ns is shorter than one entanglement attempt ({attempt_duration_ns} ns): no "
                          "attempt would fit in a bin")
    pattern = _pattern(raw.get("pattern"), source, key + ".pattern")
    if "period_ns" in raw:
        period = _ns(raw["period_ns"], source, key + ".period_ns")
        if period != length * len(pattern):
            raise ConfigError(source, key + ".period_ns",
                              f"{period} ns, but the pattern has {len(pattern)} bin(s) of {length} ns = "
                              f"{length * len(pattern)} ns (the pattern repeats every period)")
    offset = _ns(raw.get("offset_ns", 0), source, key + ".offset_ns", allow_zero=True)
    return TdmaSchedule(bin_length_ns=length, pattern=pattern, offset_ns=offset)


def _pattern(raw: Any, source: str, key: str) -> tuple[bool, ...]:
    if raw is None:
        raise ConfigError(source, key, f"missing: a list of bins, each {LINK_BIN!r} or {LOCAL_BIN!r}")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(source, key, f"expected a non-empty list of bins ({LINK_BIN!r} or {LOCAL_BIN!r}), "
                                       f"got {raw!r}")
    for i, entry in enumerate(raw):
        if entry not in (LINK_BIN, LOCAL_BIN):
            raise ConfigError(source, f"{key}[{i}]", f"expected {LINK_BIN!r} or {LOCAL_BIN!r}, got {entry!r}")
    if LINK_BIN not in raw:
        raise ConfigError(source, key, f"has no {LINK_BIN!r} bin: the link could never attempt entanglement")
    return tuple(entry == LINK_BIN for entry in raw)


def _ns(value: Any, source: str, key: str, allow_zero: bool = False) -> int:
    ns = number(value, source, key)
    if math.isinf(ns) or ns < 0 or (ns == 0 and not allow_zero) or ns != round(ns):
        want = ">= 0" if allow_zero else "> 0"
        raise ConfigError(source, key, f"must be a finite whole number of nanoseconds {want}, got {value!r}")
    return round(ns)


def check_node_overlaps(schedules: Sequence[tuple[str, str, TdmaSchedule]], source: str) -> None:
    """Refuse two links of one node whose link bins overlap. ``schedules``: (node, YAML key, schedule)."""
    by_node: dict[str, list[tuple[str, TdmaSchedule]]] = {}
    for node, key, schedule in schedules:
        by_node.setdefault(node, []).append((key, schedule))
    for node, entries in by_node.items():
        for i, (key_a, a) in enumerate(entries):
            for key_b, b in entries[i + 1:]:
                common = math.lcm(a.period_ns, b.period_ns)
                horizon = common + max(a.offset_ns, b.offset_ns)
                if horizon // min(a.bin_length_ns, b.bin_length_ns) > MAX_OVERLAP_CHECK_BINS:
                    continue
                bins_b = b.link_bins(horizon)
                for start_a, end_a in a.link_bins(horizon):
                    for start_b, end_b in bins_b:
                        if start_a < end_b and start_b < end_a:
                            raise ConfigError(
                                source, key_b,
                                f"its link bin [{start_b}, {end_b}) ns overlaps a link bin [{start_a}, {end_a}) "
                                f"ns of {key_a} on node {node!r}: a node's QDevice serves one link at a time "
                                "(shift one with offset_ns)")
