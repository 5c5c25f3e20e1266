"""The NV driver's lifecycle: a failure that is not an instrument fault still leaves the station safe, and a closed
driver says so instead of failing like an instrument."""

from __future__ import annotations

from pathlib import Path

import pytest

from qdrivers.nv.driver import NVQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import QDriverError
from qlab_os.lab.calibrate.node import find_node_file
from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalOp
from sim_instruments.lab.lab import get_lab


def _build(calibration_file: Path) -> NVQDriver:
    return NVQDriver.from_files(find_node_file("nv_a"), clock=VirtualClock(), calibration_file=calibration_file)


def test_any_failure_inside_an_instruction_applies_the_safe_state(
    calibration_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nv = _build(calibration_file)
    try:
        nv.execute(PhysicalInstruction(PhysicalOp.INIT, (0,)))

        def broken(self: NVQDriver, instruction: PhysicalInstruction) -> None:
            raise RuntimeError("a bug, not an instrument")

        monkeypatch.setitem(NVQDriver._HANDLERS, PhysicalOp.MEAS, broken)
        with pytest.raises(RuntimeError, match="a bug"):
            nv.execute(PhysicalInstruction(PhysicalOp.MEAS, (0,)))
        mw = get_lab().node("nv_a").instrument("mw_source")
        assert mw.value(":OUTP:STAT?") in ("0", "OFF", "False")
        assert nv.station.last_safe_state is not None
    finally:
        nv.close()


def test_a_closed_driver_refuses_instructions_clearly(calibration_file: Path) -> None:
    nv = _build(calibration_file)
    nv.close()
    nv.close()  # idempotent
    with pytest.raises(QDriverError, match="node nv_a: the driver was closed"):
        nv.execute(PhysicalInstruction(PhysicalOp.INIT, (0,)))
