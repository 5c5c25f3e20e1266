"""NodeClock and the LabClock protocol; seconds_to_ns checks."""

from __future__ import annotations

import math

import pytest

from sim_instruments.physics.clock import LabClock, NodeClock, seconds_to_ns


def test_node_clock_starts_and_advances() -> None:
    clock = NodeClock(start_ns=5)
    assert clock.now_ns() == 5
    clock.advance_ns(10)
    clock.advance_ns(0)
    assert clock.now_ns() == 15
    assert isinstance(clock, LabClock)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_node_clock_refuses_bad_advances(bad: object) -> None:
    clock = NodeClock()
    with pytest.raises(ValueError, match="advance_ns"):
        clock.advance_ns(bad)  # type: ignore[arg-type]
    assert clock.now_ns() == 0


@pytest.mark.parametrize("bad", [-1, 2.0])
def test_node_clock_refuses_bad_start(bad: object) -> None:
    with pytest.raises(ValueError, match="start_ns"):
        NodeClock(bad)  # type: ignore[arg-type]


def test_a_structural_clock_from_elsewhere_fits_the_protocol() -> None:
    class Other:
        def now_ns(self) -> int:
            return 0

        def advance_ns(self, duration_ns: int) -> None:
            pass

    assert isinstance(Other(), LabClock)
    assert not isinstance(object(), LabClock)


def test_seconds_to_ns() -> None:
    assert seconds_to_ns(1.5e-6) == pytest.approx(1500.0)
    assert seconds_to_ns(0) == 0.0
    for bad in (-1.0e-9, math.nan, math.inf, "1e-6", None):
        with pytest.raises(ValueError, match="pulse_s"):
            seconds_to_ns(bad, "pulse_s")  # type: ignore[arg-type]
