"""Fixtures of the heralded-link tests: nv_a, nv_b and the ion node calibrated once per session on a fresh lab (the
same routines as ``qlab-os calibrate``), so every number the drivers use was measured, not written here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qlab_os.cli import main
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


@pytest.fixture(scope="session")
def ion_calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qlab-os calibrate ion all`` on a fresh lab (seed fixed), into a temporary file."""
    tmp = tmp_path_factory.mktemp("ion_link_calibration")
    path = tmp / "ion.yaml"
    Instrument.close_all()
    status = main(["calibrate", "ion", "all", "--seed", str(LAB_SEED), "--calibration-file", str(path),
                   "--db", str(tmp / "cal.db"), "--plot-dir", str(tmp / "plots"), "--no-progress"])
    assert status == 0
    Instrument.close_all()
    return path
