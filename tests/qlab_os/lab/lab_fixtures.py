"""Shared helpers of the station tests: a fresh simulated lab per test, and every instrument closed after it.

Imported by each test module (not a conftest.py, so that tests/qlab_os/lab/calibrate keeps its own fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from sim_instruments.lab.lab import SimulatedLab, reset_lab
from sim_instruments.lab.models import AWGModel, PassiveModel

STATIONS = Path(__file__).resolve().parents[3] / "station_configs"
SIM_FILES = sorted(STATIONS.glob("*.sim.yaml"))
LAB_VISALIB = "sim_instruments.lab:lab.yaml@qlab"
LAB_SEED = 20261124


@pytest.fixture
def lab() -> Iterator[SimulatedLab]:
    """A lab at power-on with no faults; every instrument is closed afterwards (sessions die with the lab)."""
    Instrument.close_all()
    fresh = reset_lab(seed=LAB_SEED)
    yield fresh
    fresh.clear_faults()
    Instrument.close_all()


def outputs_on(lab: SimulatedLab, node: str) -> dict[str, bool]:
    """What emits in the lab now: each source's or laser's output, the AWG's run state and channel outputs."""
    state: dict[str, bool] = {}
    for role, model in lab.node(node).instruments.items():
        if isinstance(model, PassiveModel):
            state[role] = model.is_on()
        elif isinstance(model, AWGModel):
            state["awg.running"] = model.running
            for channel in range(1, 5):
                state[f"awg.ch{channel}"] = model.value(f"OUTPUT{channel}:STATE?").strip() == "1"
    return state
