"""Fixtures of the NV QDriver tests: a simulated lab calibrated once per session, a driver on it per module.

The calibration file is produced by running the NV calibration routines (the same code as ``qlab-os calibrate
nv_a ...``) on a fresh lab with a fixed seed, so every number the driver uses was measured, not written here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qdrivers.nv.driver import NVQDriver
from qlab_os.clock import VirtualClock
from qlab_os.lab.calibrate.cli import calibrate_command
from qlab_os.lab.calibrate.node import find_node_file
from sim_instruments.lab.lab import get_lab, reset_lab

LAB_SEED = 20261124
ROUTINES = ("odmr", "rabi", "hahn_echo", "charge_resonance", "readout")
"""What the driver needs (ramsey only refines T2*, which the driver does not require)."""


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("nv_calibration")
    path = tmp / "nv_a.yaml"
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    for routine in ROUTINES:
        args = argparse.Namespace(node="nv_a", routine=routine, station=None, calibration_file=path,
                                  db=tmp / "calibration.db", plot_dir=tmp / "plots", shots=None, seed=None,
                                  progress=False)
        assert calibrate_command(args, out=lambda _line: None) == 0
    return path


@pytest.fixture(scope="module")
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(scope="module")
def driver(calibration_file: Path, clock: VirtualClock) -> Iterator[NVQDriver]:
    """One driver per module on the calibrated lab (instruments closed, faults cleared afterwards)."""
    nv = NVQDriver.from_files(find_node_file("nv_a"), clock=clock, calibration_file=calibration_file)
    yield nv
    get_lab().clear_faults()
    nv.close()
    Instrument.close_all()
