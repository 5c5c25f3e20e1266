"""The trapped-ion QDriver on the simulated lab: the calibrations run once (``qlab-os calibrate ion all``), then each
test connects the driver to a fresh lab and compares outcome statistics with what the calibration file predicts.

Tolerances are 5 binomial standard deviations of the test's shots (with the calibration's own error added where
a calibrated fidelity is the expectation). Theory uses the calibrated values, never the lab's physics constants.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from qcodes.instrument import Instrument

from qdrivers.trapped_ion.calibration import REQUIRED, IncompleteCalibrationError
from qdrivers.trapped_ion.driver import TrappedIonQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import QDriverError, UnknownQDriverError, UnsupportedInstructionError
from qlab_os.qdevice.instructions import Axis, EntParams, PhysicalInstruction, PhysicalOp
from sim_instruments.lab.lab import SimulatedLab
from sim_instruments.physics.ion import debye_waller_factor

SHOTS = 300
INIT = PhysicalInstruction(PhysicalOp.INIT, (0,))
MEAS = PhysicalInstruction(PhysicalOp.MEAS, (0,))


def rot(axis: Axis, angle_rad: float) -> PhysicalInstruction:
    return PhysicalInstruction(PhysicalOp.ROT, (0,), axis, angle_rad)


def sigma(p: float, shots: int) -> float:
    """Binomial standard deviation of a fraction over ``shots``; p is kept at least 1/shots from 0 and 1 so that
    an expectation of exactly 0 or 1 still allows the odd shot."""
    q = min(max(p, 1.0 / shots), 1.0 - 1.0 / shots)
    return math.sqrt(q * (1.0 - q) / shots)


def run(driver: TrappedIonQDriver, clock: VirtualClock, program: list[PhysicalInstruction],
        shots: int = SHOTS) -> float:
    """Fraction of shots whose last instruction (a MEAS) read 1; the clock advances as the kernel would."""
    ones = 0
    for _ in range(shots):
        for instruction in program:
            response = driver.execute(instruction)
            clock.advance_ns(response.duration_ns)
        ones += response.outcomes[0]
    return ones / shots


def read_one(driver: TrappedIonQDriver, p1_ideal: float) -> float:
    """P(MEAS reads 1) for an ion whose qubit is in |1> with probability ``p1_ideal`` when pumping worked; the
    bright spectator left by failed pumping reads like |0>. All numbers from the calibration file."""
    cal = driver.calibration
    pumped = 1.0 - cal.pumping_error()
    pf0, pf1 = cal.readout_p_flip_0(), cal.readout_p_flip_1()
    return pumped * (p1_ideal * (1 - pf1) + (1 - p1_ideal) * pf0) + (1 - pumped) * pf0


def thermal_p1(driver: TrappedIonQDriver, program: list[tuple[Axis, float]]) -> float:
    """Thermal average of P(|1>) after rotations from |0>: each x/y pulse's angle scaled by the Debye-Waller
    factor of the shot's phonon number (calibrated n_bar, eta); z rotations exact (frame updates)."""
    cal = driver.calibration
    lib = driver.pulse_library
    omega_hz = cal.rabi_729_frequency_hz_per_volt * lib.amplitude_v
    n = np.arange(300)
    weights = (cal.motional_n_bar / (cal.motional_n_bar + 1)) ** n / (cal.motional_n_bar + 1)
    total = 0.0
    for k, w in zip(n, weights, strict=True):
        factor = debye_waller_factor(int(k), cal.lamb_dicke_eta)
        state = np.array([1.0, 0.0], dtype=complex)
        for axis, angle in program:
            if axis is Axis.Z:
                u = np.diag([np.exp(-0.5j * angle), np.exp(0.5j * angle)])
            else:
                pulse = lib.rotation(0.0 if axis is Axis.X else math.pi / 2, angle)
                theta = 2 * math.pi * omega_hz * factor * pulse.samples / lib.sample_rate_hz
                nx, ny = math.cos(pulse.phase_rad), math.sin(pulse.phase_rad)
                c, s = math.cos(theta / 2), math.sin(theta / 2)
                u = np.array([[c, -1j * s * (nx - 1j * ny)], [-1j * s * (nx + 1j * ny), c]])
            state = u @ state
        total += w * abs(state[1]) ** 2
    return float(total)


# -- rotations and measurement ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pulse", [rot(Axis.X, math.pi), rot(Axis.Y, math.pi), rot(Axis.X, -math.pi)],
                         ids=["x", "y", "minus_x"])
def test_pi_pulse_flips_with_the_calibrated_dark_fidelity(driver: TrappedIonQDriver, clock: VirtualClock,
                                                           pulse: PhysicalInstruction) -> None:
    entry = yaml.safe_load(driver.calibration.path.read_text())["parameters"]["detection_fidelity_dark"]
    measured = run(driver, clock, [INIT, pulse, MEAS])
    # The detection routine's dark shots are exactly this: pumping, the calibrated pi pulse, detection.
    tolerance = 5 * math.hypot(sigma(entry["value"], SHOTS), entry["error"])
    assert abs(measured - entry["value"]) <= tolerance, (measured, entry)
    assert measured > 0.9


def test_without_a_pulse_the_ion_reads_bright(driver: TrappedIonQDriver, clock: VirtualClock) -> None:
    expected = read_one(driver, 0.0)
    measured = run(driver, clock, [INIT, MEAS])
    assert abs(measured - expected) <= 5 * sigma(expected, SHOTS), (measured, expected)


@pytest.mark.parametrize("axis", [Axis.X, Axis.Y])
def test_half_pi_pulse_gives_one_half(driver: TrappedIonQDriver, clock: VirtualClock, axis: Axis) -> None:
    p1 = thermal_p1(driver, [(axis, math.pi / 2)])
    assert abs(p1 - 0.5) < 0.05  # the thermal spread of a pi/2 pulse is small
    expected = read_one(driver, p1)
    measured = run(driver, clock, [INIT, rot(axis, math.pi / 2), MEAS])
    assert abs(measured - expected) <= 5 * sigma(expected, SHOTS), (measured, expected)


@pytest.mark.parametrize(
    "program",
    [
        [(Axis.X, math.pi / 2), (Axis.Z, math.pi), (Axis.X, math.pi / 2)],       # back to |0> for every n
        [(Axis.X, math.pi / 2), (Axis.Z, 0.0), (Axis.X, math.pi / 2)],           # a pi pulse in two halves
        [(Axis.X, math.pi / 2), (Axis.Z, math.pi / 2), (Axis.Y, math.pi / 2)],   # -y -> +x -> -z: |1>
        [(Axis.X, math.pi / 2), (Axis.Z, -math.pi / 2), (Axis.Y, math.pi / 2)],  # -y -> -x -> +z: |0>
        [(Axis.Z, 1.0), (Axis.X, math.pi / 2)],                                  # z on |0> does nothing
    ],
    ids=["z_pi", "z_0", "z_plus_half_pi", "z_minus_half_pi", "z_first"],
)
def test_z_frame_updates_then_x_y_match_theory(driver: TrappedIonQDriver, clock: VirtualClock,
                                               program: list[tuple[Axis, float]]) -> None:
    expected = read_one(driver, thermal_p1(driver, program))
    measured = run(driver, clock, [INIT, *(rot(a, angle) for a, angle in program), MEAS])
    assert abs(measured - expected) <= 5 * sigma(expected, SHOTS), (measured, expected)


def test_measurement_is_projective_and_init_empties_d52(driver: TrappedIonQDriver, clock: VirtualClock) -> None:
    """MEAS leaves the ion in its projected state (no repump): a second MEAS reads D5/2 again; INIT's 854 repump
    empties it."""
    p1 = thermal_p1(driver, [(Axis.X, math.pi)])
    second = run(driver, clock, [INIT, rot(Axis.X, math.pi), MEAS, MEAS])
    expected = read_one(driver, p1)
    assert abs(second - expected) <= 5 * sigma(expected, SHOTS), (second, expected)
    after_init = run(driver, clock, [INIT, rot(Axis.X, math.pi), MEAS, INIT, MEAS])
    expected = read_one(driver, 0.0)
    assert abs(after_init - expected) <= 5 * sigma(expected, SHOTS), (after_init, expected)


def test_other_angles_are_length_scaled(driver: TrappedIonQDriver) -> None:
    lib = driver.pulse_library
    n_pi = lib.pi_samples
    assert lib.rotation(0.0, math.pi).samples == n_pi
    assert lib.rotation(0.0, math.pi / 2).samples == n_pi // 2
    assert lib.rotation(0.0, math.pi / 3).samples == round(n_pi / 3)
    minus = lib.rotation(0.0, -math.pi / 4)
    assert minus.samples == round(n_pi / 4) and minus.phase_rad == pytest.approx(math.pi)
    wrapped = lib.rotation(math.pi / 2, 3 * math.pi / 2)  # = R_-y(pi/2) up to a global phase
    assert wrapped.samples == n_pi // 2 and wrapped.phase_rad == pytest.approx(3 * math.pi / 2)


# -- time ----------------------------------------------------------------------------------------------------------


def test_durations_are_lab_time_and_the_kernel_clock_is_left_alone(driver: TrappedIonQDriver, lab: SimulatedLab,
                                                                   clock: VirtualClock) -> None:
    lib = driver.pulse_library
    node_clock = lab.node("ion").clock
    for instruction, block in ((INIT, lib.init), (rot(Axis.X, math.pi), lib.rotations[lib.pi_samples]),
                               (MEAS, lib.meas)):
        before = clock.now_ns()
        lab_before = node_clock.now_ns()
        response = driver.execute(instruction)
        assert clock.now_ns() == before  # the kernel advances its clock, not the driver
        assert response.duration_ns == lib.duration_ns(block) == node_clock.now_ns() - lab_before
        clock.advance_ns(response.duration_ns)
    assert driver.execute(rot(Axis.Z, 0.3)).duration_ns == 0
    spec = driver.spec
    assert spec.native(PhysicalOp.INIT, (0,)).duration_ns == lib.duration_ns(lib.init)  # type: ignore[union-attr]
    assert spec.native(PhysicalOp.MEAS, (0,)).duration_ns == lib.duration_ns(lib.meas)  # type: ignore[union-attr]


def test_the_lab_clock_follows_the_kernel_through_idle_time(driver: TrappedIonQDriver, lab: SimulatedLab,
                                                             clock: VirtualClock) -> None:
    """NONE plays nothing, but the ion dephases meanwhile: a Ramsey pair with 30 ms (>> T2*, T2) between the
    pulses reads 1/2 instead of the pi pulse's near 1."""
    wait_ns = 30_000_000
    node_clock = lab.node("ion").clock
    lab_before = node_clock.now_ns()
    response = driver.execute(PhysicalInstruction(PhysicalOp.NONE, duration_ns=wait_ns))
    assert response.duration_ns == wait_ns and node_clock.now_ns() == lab_before
    clock.advance_ns(wait_ns)
    driver.execute(INIT)
    assert node_clock.now_ns() - lab_before == wait_ns + driver.pulse_library.duration_ns(driver.pulse_library.init)
    shots = 150
    idle = PhysicalInstruction(PhysicalOp.NONE, duration_ns=wait_ns)
    measured = run(driver, clock, [INIT, rot(Axis.X, math.pi / 2), idle, rot(Axis.X, math.pi / 2), MEAS], shots)
    expected = read_one(driver, 0.5)
    assert abs(measured - expected) <= 5 * sigma(expected, shots), (measured, expected)


# -- spec ----------------------------------------------------------------------------------------------------------


def test_spec_comes_from_the_calibration_file(driver: TrappedIonQDriver) -> None:
    p = {k: v["value"] for k, v in yaml.safe_load(driver.calibration.path.read_text())["parameters"].items()}
    spec = driver.spec
    assert spec.num_qubits == 2 and spec.communication_qubits == (0,)
    assert spec.qubits[0].t2_ns == pytest.approx(p["t2_729_s"] * 1e9)
    assert spec.readout_p_flip_0 == pytest.approx(1 - p["detection_fidelity_bright"])
    e = p["dark_preparation_error"]
    dark = (p["detection_fidelity_dark"] - e * (1 - p["detection_fidelity_bright"])) / (1 - e)
    assert spec.readout_p_flip_1 == pytest.approx(max(0.0, 1 - dark))
    # Thermal carrier pi pulse, computed here with the physics module's Debye-Waller factor.
    omega_hz = p["rabi_729_frequency_hz_per_volt"] * p["pi_pulse_729_amplitude_v"]
    n_bar = p["motional_n_bar"]
    flip = sum((n_bar / (n_bar + 1)) ** n / (n_bar + 1)
               * math.sin(math.pi * omega_hz * debye_waller_factor(n, p["lamb_dicke_eta"])
                          * p["pi_pulse_729_duration_s"]) ** 2 for n in range(400))
    rot_x = spec.native(PhysicalOp.ROT, (0,), Axis.X)
    assert rot_x is not None and rot_x.depolarising_prob == pytest.approx(2 * (1 - flip), rel=1e-6)
    assert 0.0 < rot_x.depolarising_prob < 0.1
    rot_z = spec.native(PhysicalOp.ROT, (0,), Axis.Z)
    assert rot_z is not None and rot_z.duration_ns == 0
    # Ion 1 has its own calibrated pi pulse; MS comes from the ms_gate routine and the echo T2.
    omega1 = p["rabi_729_ion1_frequency_hz_per_volt"] * p["pi_pulse_729_ion1_amplitude_v"]
    flip1 = sum((n_bar / (n_bar + 1)) ** n / (n_bar + 1)
                * math.sin(math.pi * omega1 * debye_waller_factor(n, p["lamb_dicke_eta"])
                           * p["pi_pulse_729_duration_s"]) ** 2 for n in range(400))
    rot_x1 = spec.native(PhysicalOp.ROT, (1,), Axis.X)
    assert rot_x1 is not None and rot_x1.depolarising_prob == pytest.approx(2 * (1 - flip1), rel=1e-6)
    ms = spec.native(PhysicalOp.MS, (0, 1))
    lib = driver.pulse_library
    assert ms is not None and ms.duration_ns == lib.duration_ns(lib.ms)
    assert ms.duration_ns == pytest.approx(p["ms_gate_duration_s"] * 1e9)
    assert ms.depolarising_prob == pytest.approx(2 / 3 * (1 - math.exp(-2 * p["ms_gate_duration_s"] / p["t2_729_s"])))


def test_devices_are_the_ion_node_setup_files(clock: VirtualClock) -> None:
    assert TrappedIonQDriver.device_names() == ("ion",)
    with pytest.raises(UnknownQDriverError, match=r"no device 'nv_a'; known devices .*: ion"):
        TrappedIonQDriver.for_device("nv_a", clock=clock)


# -- refusals and faults --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "words"),
    [
        (PhysicalInstruction(PhysicalOp.CNOT, (0, 1)), "native two-qubit gate is MS"),
        (PhysicalInstruction(PhysicalOp.CZ, (0, 1)), "native two-qubit gate is MS"),
        (PhysicalInstruction(PhysicalOp.CROT, (0, 1), Axis.X, 1.0), "CROT"),
        (PhysicalInstruction(PhysicalOp.ENT, (1,), ent=EntParams("nv_ion_link")), "ENT acts on ion 0"),
        (PhysicalInstruction(PhysicalOp.ROT, (2,), Axis.X, 1.0), "traps 2 ions, qubits 0 .. 1"),
        (PhysicalInstruction(PhysicalOp.MS, (0,), angle_rad=1.0), "traps 2 ions|MS acts on both"),
    ],
    ids=["cnot", "cz", "crot", "ent", "qubit2", "ms_one_ion"],
)
def test_unsupported_instructions_are_refused(driver: TrappedIonQDriver, instruction: PhysicalInstruction,
                                              words: str) -> None:
    with pytest.raises(UnsupportedInstructionError, match=words):
        driver.execute(instruction)
    assert not driver.spec.supports(instruction.op, instruction.qubits, instruction.axis)


def test_ent_needs_a_connected_link(driver: TrappedIonQDriver) -> None:
    """ENT on ion 0 is native (the node setup names the NV-ion heralding station), but a link must be connected."""
    assert driver.spec.supports(PhysicalOp.ENT, (0,))
    with pytest.raises(QDriverError, match="no link 'nv_ion_link' was connected"):
        driver.execute(PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams("nv_ion_link")))


def test_missing_calibration_entries_are_named_with_the_routine_to_run(lab: SimulatedLab, calibration_file: Path,
                                                                       tmp_path: Path, clock: VirtualClock) -> None:
    data = yaml.safe_load(calibration_file.read_text())
    for key in ("detection_threshold_counts", "t2_729_s"):
        del data["parameters"][key]
    partial = tmp_path / "ion.yaml"
    partial.write_text(yaml.safe_dump(data))
    Instrument.close_all()
    with pytest.raises(IncompleteCalibrationError) as info:
        TrappedIonQDriver.connect("ion", clock=clock, calibration_file=partial)
    message = str(info.value)
    assert "detection_threshold_counts (written by detection)" in message
    assert "t2_729_s (written by echo_729)" in message
    assert f"qlab-os calibrate ion all --calibration-file {partial}" in message
    assert "qlab-os calibrate ion echo_729" in message
    assert not list(Instrument._all_instruments)  # refused before any instrument was connected
    with pytest.raises(IncompleteCalibrationError, match=r"no calibration file at .*qlab-os calibrate ion all"):
        TrappedIonQDriver.connect("ion", clock=clock, calibration_file=tmp_path / "none.yaml")
    assert set(REQUIRED) <= set(yaml.safe_load(calibration_file.read_text())["parameters"])


@pytest.mark.parametrize(("role", "instruction"), [("awg", rot(Axis.X, math.pi)), ("pmt_counter", MEAS)])
def test_dead_instrument_gives_a_named_error_and_a_safe_station(driver: TrappedIonQDriver, lab: SimulatedLab,
                                                                 clock: VirtualClock, role: str,
                                                                 instruction: PhysicalInstruction) -> None:
    driver.execute(INIT)
    lab.inject(f"ion.{role}", "dead")
    with pytest.raises(QDriverError, match=f"'{role}'.*unreachable.*safe state"):
        driver.execute(instruction)
    station = driver.station
    report = station.last_safe_state
    assert report is not None and set(report.failed) == {role}
    assert {"aom_729", "laser_397", "laser_866", "laser_854", "laser_729"} <= set(report.applied)
    assert station.components["aom_729"].status() is False
    for laser in ("laser_397", "laser_866", "laser_854", "laser_729"):
        assert station.components[laser].laser1.current_enabled() is False
    with pytest.raises(QDriverError, match="reset"):
        driver.execute(INIT)
    # Repaired: reset sets the instruments up again and the ion flips as before.
    lab.clear_faults()
    driver.reset()
    assert run(driver, clock, [INIT, rot(Axis.X, math.pi), MEAS], 40) > 0.8
