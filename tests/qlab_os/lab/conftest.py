"""The ``lab`` fixture of the station tests: a fresh simulated lab per test, every instrument closed after it.

Not autouse, so tests below this folder that do not ask for it are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from sim_instruments.lab.lab import SimulatedLab, reset_lab
from tests.qlab_os.lab.lab_fixtures import LAB_SEED


@pytest.fixture
def lab() -> Iterator[SimulatedLab]:
    """A lab at power-on with no faults; every instrument is closed afterwards (sessions die with the lab)."""
    Instrument.close_all()
    fresh = reset_lab(seed=LAB_SEED)
    yield fresh
    fresh.clear_faults()
    Instrument.close_all()
