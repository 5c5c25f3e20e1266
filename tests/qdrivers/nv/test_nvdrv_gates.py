"""The NV QDriver on the calibrated simulated lab: rotations, virtual Z and time, against theory.

Every expected value is the ideal rotation's P(|1>) passed through the calibrated readout fidelities; bounds are
5 sigma of the shots plus the fidelities' calibration errors (nv_stats). Decoherence during the few hundred ns
of pulses (T2* ~ 5 us) shifts the probabilities by about 1%, well inside the bounds.
"""

from __future__ import annotations

import math

import pytest

from qdrivers.nv.driver import NVQDriver
from qlab_os.clock import VirtualClock
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from tests.qdrivers.nv.nv_stats import assert_matches

SHOTS = 300
INIT = PhysicalInstruction(PhysicalOp.INIT, (0,))
MEAS = PhysicalInstruction(PhysicalOp.MEAS, (0,))


def rot(axis: Axis, angle_rad: float) -> PhysicalInstruction:
    return PhysicalInstruction(PhysicalOp.ROT, (0,), axis, angle_rad)


def count_ones(driver: NVQDriver, clock: VirtualClock, program: list[PhysicalInstruction], shots: int = SHOTS) -> int:
    """Run INIT + program + MEAS ``shots`` times, advancing the clock as the kernel does; count outcomes 1."""
    ones = 0
    for _ in range(shots):
        for instruction in (INIT, *program, MEAS):
            response = driver.execute(instruction)
            clock.advance_ns(response.duration_ns)
        ones += response.outcomes[0]
    return ones


@pytest.mark.parametrize(
    ("program", "p1"),
    [
        ([], 0.0),
        ([rot(Axis.X, math.pi)], 1.0),
        ([rot(Axis.Y, math.pi)], 1.0),
        ([rot(Axis.X, math.pi / 2)], 0.5),
        ([rot(Axis.Y, math.pi / 2)], 0.5),
        ([rot(Axis.X, 1.0)], math.sin(0.5) ** 2),  # amplitude-scaled pi/2 element
        ([rot(Axis.X, math.pi / 2), rot(Axis.X, -math.pi / 2)], 0.0),  # negative angle: drive phase + pi
        # two amplitude-scaled pulses adding up to pi (few pulses: each lasts 250 ns against a T2* of ~5 us)
        ([rot(Axis.X, 3 * math.pi / 4), rot(Axis.X, math.pi / 4)], 1.0),
    ],
    ids=["none", "x_pi", "y_pi", "x_pi/2", "y_pi/2", "x_1rad", "x_pi/2_x_-pi/2", "x_3pi/4_x_pi/4"],
)
def test_rotations_match_theory(driver: NVQDriver, clock: VirtualClock, program: list[PhysicalInstruction],
                                p1: float) -> None:
    assert_matches(count_ones(driver, clock, program), SHOTS, p1, driver.calibration)


@pytest.mark.parametrize("phi", [0.0, math.pi / 3, math.pi / 2, math.pi])
def test_z_is_a_frame_update_of_later_pulses(driver: NVQDriver, clock: VirtualClock, phi: float) -> None:
    """X(pi/2) Z(phi) X(pi/2) on |0> gives P(|1>) = cos^2(phi/2): Z only turns the next pulse's drive phase."""
    z = rot(Axis.Z, phi)
    assert driver.execute(z).duration_ns == 0
    program = [rot(Axis.X, math.pi / 2), z, rot(Axis.X, math.pi / 2)]
    assert_matches(count_ones(driver, clock, program), SHOTS, math.cos(phi / 2) ** 2, driver.calibration)


def test_durations_come_from_the_played_elements_and_the_clock_is_left_to_the_kernel(
    driver: NVQDriver, clock: VirtualClock
) -> None:
    before = clock.now_ns()
    init = driver.execute(INIT)
    assert init.duration_ns == driver.cr_attempts * driver.library.init_duration_ns  # lab time = element lengths
    x_native = driver.spec.native(PhysicalOp.ROT, (0,), Axis.X)
    assert x_native is not None
    assert driver.execute(rot(Axis.X, math.pi)).duration_ns == x_native.duration_ns
    assert driver.execute(MEAS).duration_ns == driver.library.readout_duration_ns
    assert clock.now_ns() == before  # the driver never advances the kernel's clock


def test_time_between_instructions_dephases_the_spin(driver: NVQDriver, clock: VirtualClock) -> None:
    """X(pi/2), then the kernel's clock moves 50 us (10 T2*) with no instruction, then X(pi/2): the lab node idles
    up to the kernel's time, the spin dephases, and P(|1>) falls from 1 to 1/2."""
    idle_ns = 50_000
    assert driver.calibration.t2_star_s is None or idle_ns * 1e-9 > 5 * driver.calibration.t2_star_s
    ones = 0
    for _ in range(SHOTS):
        for instruction in (INIT, rot(Axis.X, math.pi / 2)):
            clock.advance_ns(driver.execute(instruction).duration_ns)
        clock.advance_ns(idle_ns)  # the kernel did something else
        for instruction in (rot(Axis.X, math.pi / 2), MEAS):
            response = driver.execute(instruction)
            clock.advance_ns(response.duration_ns)
        ones += response.outcomes[0]
    assert_matches(ones, SHOTS, 0.5, driver.calibration)


def test_none_idles_the_lab_node(driver: NVQDriver, clock: VirtualClock) -> None:
    wait = PhysicalInstruction(PhysicalOp.NONE, duration_ns=50_000)
    assert driver.execute(wait).duration_ns == 50_000
    program = [rot(Axis.X, math.pi / 2), wait, rot(Axis.X, math.pi / 2)]
    assert_matches(count_ones(driver, clock, program), SHOTS, 0.5, driver.calibration)
