"""Fixtures of the trapped-ion QDriver tests: one calibration (``qlab-os calibrate ion all``) per session, a fresh
simulated lab and a driver per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qdrivers.trapped_ion.driver import TrappedIonQDriver
from qlab_os.cli import main
from qlab_os.clock import VirtualClock
from sim_instruments.lab.lab import SimulatedLab, reset_lab

CAL_SEED = 20261124
LAB_SEED = 11


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ion_calibration")
    path = tmp / "ion.yaml"
    status = main(["calibrate", "ion", "all", "--seed", str(CAL_SEED), "--calibration-file", str(path),
                   "--db", str(tmp / "cal.db"), "--plot-dir", str(tmp / "plots"), "--no-progress"])
    assert status == 0
    Instrument.close_all()
    return path


@pytest.fixture
def lab() -> Iterator[SimulatedLab]:
    Instrument.close_all()
    fresh = reset_lab(seed=LAB_SEED)
    yield fresh
    fresh.clear_faults()
    Instrument.close_all()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start_ns=1_000)


@pytest.fixture
def driver(lab: SimulatedLab, calibration_file: Path, clock: VirtualClock) -> Iterator[TrappedIonQDriver]:
    d = TrappedIonQDriver.connect("ion", clock=clock, calibration_file=calibration_file)
    yield d
    d.close()
