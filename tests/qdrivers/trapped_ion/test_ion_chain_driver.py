"""The trapped-ion QDriver's two-ion chain on the simulated lab: MS Bell state (populations), MS coherence (two
MS(pi/2) make |11>; MS(pi/2) then MS(-pi/2) go back), software frames made physical before an MS, one detection
window for both ions, and INIT refusing to destroy the other ion's quantum state.

Theory uses the calibration file only (pumping error, readout errors, echo T2, T2*); tolerances are 5 binomial
standard deviations of the shots, fixed seeds. The calibration and lab fixtures are in conftest.py.
"""

from __future__ import annotations

import math

import pytest
from test_iondrv import SHOTS, sigma

from qdrivers.trapped_ion.driver import TrappedIonQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import UnsupportedInstructionError
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp

INIT0 = PhysicalInstruction(PhysicalOp.INIT, (0,))
INIT1 = PhysicalInstruction(PhysicalOp.INIT, (1,))
MEAS_BOTH = PhysicalInstruction(PhysicalOp.MEAS, (0, 1))


def ms(angle: float) -> PhysicalInstruction:
    return PhysicalInstruction(PhysicalOp.MS, (0, 1), angle_rad=angle)


def pairs(driver: TrappedIonQDriver, clock: VirtualClock, program: list[PhysicalInstruction],
          shots: int = SHOTS) -> dict[tuple[int, ...], float]:
    """Fractions of the two-ion outcomes read by the last MEAS instruction(s) of ``program``."""
    seen: dict[tuple[int, ...], int] = {}
    for _ in range(shots):
        outcomes: tuple[int, ...] = ()
        for instruction in program:
            response = driver.execute(instruction)
            clock.advance_ns(response.duration_ns)
            if instruction.op is PhysicalOp.MEAS:
                outcomes += response.outcomes
        seen[outcomes] = seen.get(outcomes, 0) + 1
    return {k: v / shots for k, v in seen.items()}


def read_pairs(driver: TrappedIonQDriver, p11_true: float) -> tuple[float, float]:
    """P(read 00), P(read 11) when both pumped ions are in |00> or |11> (probability ``p11_true``); a failed pumping
    leaves a bright spectator, and the MS on the other ion alone does nothing (S_x^2 = 1/4): |00>."""
    cal = driver.calibration
    q = (1.0 - cal.pumping_error()) ** 2
    p11 = q * p11_true
    p00 = 1.0 - p11
    pf0, pf1 = cal.readout_p_flip_0(), cal.readout_p_flip_1()
    return p00 * (1 - pf0) ** 2 + p11 * pf1**2, p11 * (1 - pf1) ** 2 + p00 * pf0**2


def check(measured: dict[tuple[int, ...], float], expected: tuple[float, float]) -> None:
    for key, p in zip(((0, 0), (1, 1)), expected, strict=True):
        got = measured.get(key, 0.0)
        assert abs(got - p) <= 5 * sigma(p, SHOTS), (key, got, p, measured)


def test_ms_makes_the_bell_state(driver: TrappedIonQDriver, clock: VirtualClock) -> None:
    """MS(pi/2)|00> = (|00> - i|11>)/sqrt(2): half the pumped shots read 11, none read 01 or 10 (up to readout)."""
    measured = pairs(driver, clock, [INIT0, INIT1, ms(math.pi / 2), MEAS_BOTH])
    check(measured, read_pairs(driver, 0.5))
    cal = driver.calibration
    odd = 2 * (cal.readout_p_flip_0() + cal.readout_p_flip_1())  # a generous bound on one flipped readout
    assert measured.get((0, 1), 0.0) + measured.get((1, 0), 0.0) <= odd + 5 * sigma(odd, SHOTS)


def coherence(driver: TrappedIonQDriver, free_s: float) -> float:
    """Decay of the |00><11| coherence of the Bell state over ``free_s``: both ions' echo T2 (Markovian) and T2*
    (Gaussian quasi-static offsets, independent per ion)."""
    cal = driver.calibration
    return math.exp(-2 * free_s / cal.t2_729_s - 2 * (free_s / cal.t2_star_729_s) ** 2)


@pytest.mark.parametrize(("second", "p11"), [(math.pi / 2, "coherent"), (-math.pi / 2, "back")])
def test_two_ms_gates_are_coherent(driver: TrappedIonQDriver, clock: VirtualClock, second: float, p11: str) -> None:
    """MS(pi/2) MS(pi/2) = MS(pi) ~ XX: |00> -> |11>; MS(-pi/2) MS(pi/2) = identity. The Bell state's coherence
    decays between the two gates' centres (one gate length)."""
    gate_s = driver.calibration.ms_gate_duration_s
    c = coherence(driver, gate_s)
    p11_true = (1 + c) / 2 if p11 == "coherent" else (1 - c) / 2
    measured = pairs(driver, clock, [INIT0, INIT1, ms(math.pi / 2), ms(second), MEAS_BOTH])
    check(measured, read_pairs(driver, p11_true))


def test_software_frames_are_made_physical_before_an_ms(driver: TrappedIonQDriver, clock: VirtualClock) -> None:
    """MS(pi/2) Z_0(pi) MS(pi/2) = Z_0 MS(-pi/2) MS(pi/2) = Z_0: back to |00>. A driver that ignored the frames
    would play MS(pi) and read 11."""
    z0 = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Z, math.pi)
    measured = pairs(driver, clock, [INIT0, INIT1, ms(math.pi / 2), z0, ms(math.pi / 2), MEAS_BOTH])
    assert measured.get((0, 0), 0.0) > 0.8 > 0.1 > measured.get((1, 1), 0.0), measured


def test_one_window_reads_both_ions_and_keeps_the_other_outcome(driver: TrappedIonQDriver, lab: object,
                                                                clock: VirtualClock) -> None:
    """MEAS(0) then MEAS(1) after the Bell state: the second answer comes from the same window (no lab time), and
    the two agree as the Bell state says."""
    measured = {}
    for _ in range(SHOTS):
        for instruction in (INIT0, INIT1, ms(math.pi / 2)):
            clock.advance_ns(driver.execute(instruction).duration_ns)
        first = driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (0,)))
        clock.advance_ns(first.duration_ns)
        second = driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (1,)))
        assert first.duration_ns > 0 and second.duration_ns == 0
        key = first.outcomes + second.outcomes
        measured[key] = measured.get(key, 0) + 1 / SHOTS
    check(measured, read_pairs(driver, 0.5))


def test_init_refuses_to_destroy_the_other_ions_quantum_state(driver: TrappedIonQDriver) -> None:
    driver.execute(INIT0)
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.X, math.pi / 2))
    with pytest.raises(UnsupportedInstructionError, match=r"whole chain.*ion\(s\) \[1\]"):
        driver.execute(INIT0)
    driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (1,)))
    driver.execute(INIT0)  # ion 1 is in a known Z eigenstate now: INIT of ion 0 keeps it
