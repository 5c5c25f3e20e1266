"""Fixtures of the heralded-link tests: nv_a and nv_b calibrated once per session on a fresh lab (the same routines
as ``qlab-os calibrate``), so every number the drivers use was measured, not written here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qlab_os.lab.calibrate.cli import calibrate_command
from sim_instruments.lab.lab import reset_lab

LAB_SEED = 20261125
ROUTINES = ("odmr", "rabi", "hahn_echo", "charge_resonance", "readout")


@pytest.fixture(scope="session")
def nv_calibrations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("link_calibration")
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    files = {}
    for node in ("nv_a", "nv_b"):
        files[node] = tmp / f"{node}.yaml"
        for routine in ROUTINES:
            args = argparse.Namespace(node=node, routine=routine, station=None, calibration_file=files[node],
                                      db=tmp / "calibration.db", plot_dir=tmp / "plots", shots=None, seed=None,
                                      progress=False)
            assert calibrate_command(args, out=lambda _line: None) == 0
    Instrument.close_all()
    return files
