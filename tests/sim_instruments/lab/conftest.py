"""Fixtures for the physics-backed lab: a fresh lab per test, and real drivers opened against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from sim_instruments.lab.lab import SimulatedLab, reset_lab


@pytest.fixture
def lab() -> Iterator[SimulatedLab]:
    fresh = reset_lab(seed=7)
    yield fresh
    Instrument.close_all()
    fresh.clear_faults()
