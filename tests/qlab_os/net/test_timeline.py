"""Device timelines from process events and ENT logs, and their plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlab_os.net.timeline import Interval, busy_fraction, ent_intervals, plot_timeline, running_intervals
from qlab_os.qnpu.events import ProcessEvent
from qlab_os.qnpu.process import ProcessKind, ProcessState

R, W, IDLE = ProcessState.RUNNING, ProcessState.WAITING, ProcessState.IDLE


def _event(t: int, pid: int, old: ProcessState | None, new: ProcessState,
           kind: ProcessKind = ProcessKind.USER) -> ProcessEvent:
    return ProcessEvent(t, "n", pid, kind, old, new)


def test_running_stretches_of_user_processes_become_intervals() -> None:
    events = [_event(0, 1, IDLE, R), _event(40, 1, R, W), _event(50, 2, IDLE, R), _event(90, 2, R, IDLE),
              _event(100, 1, W, R), _event(130, 1, R, IDLE),
              _event(10, 0, IDLE, R, ProcessKind.NETWORK), _event(20, 0, R, IDLE, ProcessKind.NETWORK)]
    got = running_intervals(events, {("n", 1): "app"})
    assert got == [Interval("n", "app", 0, 40), Interval("n", "pid 2", 50, 90), Interval("n", "app", 100, 130)]


def test_ent_log_and_busy_fraction() -> None:
    ents = ent_intervals("n", [("a--b", 10, 30), ("a--b", 30, 30)])
    assert ents == [Interval("n", "ENT a--b", 10, 30)]  # empty attempts are dropped
    spans = [Interval("n", "x", 0, 40), Interval("n", "y", 20, 60), Interval("m", "x", 0, 100)]
    assert busy_fraction(spans, "n", 0, 100) == pytest.approx(0.6)  # overlaps count once
    assert busy_fraction(spans, "n", 50, 100) == pytest.approx(0.2)
    assert busy_fraction(spans, "n", 10, 10) == 0.0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    spans = [Interval("n", "app", 0, 40_000), Interval("n", "ENT a--b", 40_000, 90_000)]
    out = plot_timeline(spans, ["n"], tmp_path / "t.png", "test", window_ns=(0, 50_000))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
