"""The NV QDriver's refusals and faults: missing calibration, unsupported instructions, a dead instrument."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from netqasm.lang.parsing import parse_text_subroutine

from qdrivers.nv.calibration import NVCalibrationError
from qdrivers.nv.driver import NVQDriver
from qdrivers.nv.lab_time import lab_time_sync
from qlab_os import exec_runner
from qlab_os.clock import VirtualClock
from qlab_os.errors import QDriverError, UnsupportedInstructionError
from qlab_os.lab.calibrate.node import find_node_file
from qlab_os.lab.station_config import load_station_config
from qlab_os.qdevice.instructions import Axis, EntParams, PhysicalInstruction, PhysicalOp
from sim_instruments.lab.lab import get_lab
from tests.qdrivers.nv.nv_stats import assert_matches

STATION_DIR = Path(__file__).resolve().parents[3] / "station_configs"


def test_missing_calibration_entries_are_named_with_the_routines_to_run(calibration_file: Path,
                                                                         tmp_path: Path) -> None:
    data = yaml.safe_load(calibration_file.read_text(encoding="utf-8"))
    del data["parameters"]["t2_s"]
    del data["parameters"]["readout_threshold_counts"]
    partial = tmp_path / "nv_a.yaml"
    partial.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(NVCalibrationError) as info:
        NVQDriver.from_files(find_node_file("nv_a"), clock=VirtualClock(), calibration_file=partial)
    message = str(info.value)
    for expected in ("t2_s", "readout_threshold_counts", str(partial), "`qlab-os calibrate nv_a hahn_echo`",
                     "`qlab-os calibrate nv_a readout`"):
        assert expected in message


def test_a_missing_calibration_file_says_to_calibrate(tmp_path: Path) -> None:
    with pytest.raises(NVCalibrationError, match=r"no calibration file .* run `qlab-os calibrate nv_a all`"):
        NVQDriver.from_files(find_node_file("nv_a"), clock=VirtualClock(), calibration_file=tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        (PhysicalInstruction(PhysicalOp.CNOT, (0, 1)), "cnot is not a native instruction"),
        (PhysicalInstruction(PhysicalOp.CZ, (0, 1)), "cz is not a native instruction"),
        (PhysicalInstruction(PhysicalOp.MS, (0, 1), angle_rad=math.pi / 2), "ms is not a native instruction"),
        (PhysicalInstruction(PhysicalOp.CROT, (0, 1), Axis.X, math.pi / 2), "crot is not a native instruction"),
        (PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.X, math.pi), "qubit 0 is the electron spin"),
    ],
    ids=["cnot", "cz", "ms", "crot", "rot_on_qubit_1"],
)
def test_unsupported_instructions_are_refused(driver: NVQDriver, instruction: PhysicalInstruction,
                                              reason: str) -> None:
    with pytest.raises(UnsupportedInstructionError, match="node nv_a") as info:
        driver.execute(instruction)
    assert reason in str(info.value)


def test_ent_on_a_link_never_connected_is_refused(driver: NVQDriver) -> None:
    """ENT is native (the node setup names heralding stations), but a link must be connected first."""
    with pytest.raises(QDriverError, match="no link 'nv_link' was connected"):
        driver.execute(PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams("nv_link")))


def test_the_spec_comes_from_the_calibration(driver: NVQDriver) -> None:
    cal, spec = driver.calibration, driver.spec
    assert spec.communication_qubits == (0,) and spec.num_qubits == 1
    assert spec.qubits[0].t2_ns == pytest.approx(cal.t2_s * 1e9)
    assert spec.readout_p_flip_0 == pytest.approx(1 - cal.readout_fidelity_0)
    assert spec.readout_p_flip_1 == pytest.approx(1 - cal.readout_fidelity_1)
    meas = spec.native(PhysicalOp.MEAS, (0,))
    assert meas is not None and meas.duration_ns == driver.library.readout_duration_ns


@pytest.mark.parametrize(
    ("subroutine", "p1"),
    [("x Q0\n", 1.0), ("h Q0\n", 0.5), ("h Q0\nh Q0\n", 0.0)],
    ids=["x", "h", "h_h"],
)
def test_a_vanilla_subroutine_runs_through_exec(driver: NVQDriver, monkeypatch: pytest.MonkeyPatch,
                                                subroutine: str, p1: float) -> None:
    """``qlab-os exec``'s runner on this driver: the translator maps the vanilla gates to ROT X/Y/Z."""
    text = f"# NETQASM 1.0\n# APPID 0\nset Q0 0\nqalloc Q0\ninit Q0\n{subroutine}meas Q0 M0\nret_reg M0\n"
    monkeypatch.setattr(exec_runner, "create_qdriver", lambda device, **kwargs: driver)
    monkeypatch.setattr(driver, "close", lambda: None)  # exec closes what it built; this driver is the module's
    shots = 200
    report = exec_runner.run_shots(parse_text_subroutine(text), device="nv_a", shots=shots)
    ones = sum(int(r.registers["M0"]) for r in report.results)
    assert_matches(ones, shots, p1, driver.calibration)


@pytest.mark.parametrize(
    ("role", "instruction"),
    [("awg", PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.X, math.pi)),
     ("counter", PhysicalInstruction(PhysicalOp.MEAS, (0,)))],
)
def test_a_dead_instrument_gives_a_qdriver_error_naming_it_and_a_safe_station(
    calibration_file: Path, role: str, instruction: PhysicalInstruction
) -> None:
    """Last in this module: it builds its own driver, which reconnects (and so replaces) the module's."""
    nv = NVQDriver.from_files(find_node_file("nv_a"), clock=VirtualClock(), calibration_file=calibration_file)
    try:
        nv.execute(PhysicalInstruction(PhysicalOp.INIT, (0,)))
        get_lab().inject(f"nv_a.{role}", "dead")
        with pytest.raises(QDriverError, match=rf"instrument '{role}' .*unreachable") as info:
            nv.execute(instruction)
        assert "safe state" in str(info.value)
        report = nv.station.last_safe_state
        assert report is not None
        assert role in report.failed
        assert {"mw_source", "green_laser", "readout_laser", "repump_laser"} <= set(report.applied)
        assert nv.station.components["mw_source"].status() is False  # microwaves really off
    finally:
        get_lab().clear_faults()
        nv.close()


def test_device_names_are_the_nv_node_setup_files() -> None:
    assert "nv_a" in NVQDriver.device_names()
    assert "ion" not in NVQDriver.device_names()
    with pytest.raises(QDriverError, match="ideal"):
        NVQDriver.for_device("nv_a", clock=VirtualClock(), ideal=True)


def test_the_lab_time_hook_is_only_for_the_simulated_lab(driver: NVQDriver) -> None:
    """The hardware twin of the station (same instruments, no ``@qlab`` visalib) gets no simulation hook."""
    hardware = load_station_config(STATION_DIR / "nv_node.yaml")
    assert lab_time_sync(hardware, "awg", VirtualClock()) is None
    simulated = lab_time_sync(driver.station.station_config, "awg", VirtualClock())
    assert simulated is not None and simulated.node == "nv_a"
