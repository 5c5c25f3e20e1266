"""The sim QDriver's noise: lazy T1/T2 idling read from the clock, gate depolarising, readout errors,
reproducibility under a seed, and ideal=True switching all of it off."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip

from qdrivers.sim.driver import SimQDriver
from qlab_os.clock import VirtualClock
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from sim_instruments.physics import gates

PLUS = np.full((2, 2), 0.5, dtype=complex)
ROT_Y_HALF_PI = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Y, math.pi / 2)


def _nv(seed: int = 1, ideal: bool = False) -> tuple[SimQDriver, VirtualClock]:
    clock = VirtualClock()
    return SimQDriver.for_device("sim-nv", clock=clock, seed=seed, ideal=ideal), clock


def _five_sigma(p: float, shots: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / shots) + 1e-12


# ---- idle decoherence follows the clock ----------------------------------------------------------


@pytest.mark.parametrize("qubit", [0, 2])
@pytest.mark.parametrize("wait_ns", [10**6, 10**8, 5 * 10**8, 2 * 10**9])
def test_idle_coherence_and_population_follow_t2_and_t1(qubit: int, wait_ns: int) -> None:
    driver, clock = _nv()
    t1, t2 = driver.spec.qubits[qubit].t1_ns, driver.spec.qubits[qubit].t2_ns
    driver.world.set_state([driver.qubit_ids[qubit]], PLUS)
    clock.advance_ns(wait_ns)
    rho = driver.qubit_state((qubit,))
    assert rho is not None
    assert rho[0, 1].real == pytest.approx(0.5 * math.exp(-wait_ns / t2), rel=1e-9)
    assert rho[1, 1].real == pytest.approx(0.5 * math.exp(-wait_ns / t1), rel=1e-9)


def test_idle_noise_is_lazy_and_composes() -> None:
    """Looking at the state in between (or not) gives the same result: channels compose exactly."""
    a, clock_a = _nv()
    b, clock_b = _nv()
    for d in (a, b):
        d.world.set_state([d.qubit_ids[0]], PLUS)
    for _ in range(7):
        clock_a.advance_ns(123_456_789)
        a.qubit_state((0,))
    clock_b.advance_ns(7 * 123_456_789)
    assert np.allclose(a.qubit_state((0,)), b.qubit_state((0,)), atol=1e-14)


def test_gate_time_is_not_idle_time_and_the_driver_never_moves_the_clock() -> None:
    driver, clock = _nv()
    response = driver.execute(ROT_Y_HALF_PI)  # electron rotation: no depolarising in the NV model
    assert clock.now_ns() == 0
    assert response.duration_ns == 5
    clock.advance_ns(response.duration_ns + 3 * 10**8)
    rho = driver.qubit_state((0,))
    t2 = driver.spec.qubits[0].t2_ns
    assert rho[0, 1].real == pytest.approx(0.5 * math.exp(-3 * 10**8 / t2), rel=1e-9)


def test_untouched_qubits_decohere_when_next_used() -> None:
    """Carbon 1 holds |+> while the electron works; its coherence at the end reflects all the elapsed time."""
    driver, clock = _nv()
    driver.world.set_state([driver.qubit_ids[1]], PLUS)
    total = 0
    for _ in range(20):
        total += driver.execute(ROT_Y_HALF_PI).duration_ns
        clock.advance_ns(5 * 10**6)
        total += 5 * 10**6 - 5
    rho = driver.qubit_state((1,))
    assert rho[0, 1].real == pytest.approx(0.5 * math.exp(-clock.now_ns() / driver.spec.qubits[1].t2_ns), rel=1e-9)


# ---- gate noise ----------------------------------------------------------------------------------


def _depolarised(rho: np.ndarray, p: float, n: int, targets: list[int]) -> np.ndarray:
    """(1-p) rho + p (I/2^k on targets) (x) rest, built with qutip."""
    r = qutip.Qobj(rho, dims=[[2] * n] * 2)
    rest = [q for q in range(n) if q not in targets]
    mixed = qutip.tensor([qutip.qeye(2) / 2] * len(targets) + ([r.ptrace(rest)] if rest else []))
    order = targets + rest
    mixed = mixed.permute([order.index(q) for q in range(n)])
    return np.asarray((1 - p) * rho + p * mixed.full())


def test_crot_on_nv_gets_two_qubit_depolarising() -> None:
    driver, _ = _nv()
    p = driver.spec.native(PhysicalOp.CROT, (0, 2), Axis.X).depolarising_prob
    assert p > 0
    rho = np.asarray(qutip.rand_dm([2] * 3, seed=3).full())
    qids = [driver.qubit_ids[q] for q in (0, 2, 4)]
    driver.world.set_state(qids, rho)
    driver.execute(PhysicalInstruction(PhysicalOp.CROT, (0, 2), Axis.X, 0.9))
    u = qutip.expand_operator(qutip.Qobj(gates.crot("x", 0.9), dims=[[2, 2]] * 2), [2] * 3, [0, 1]).full()
    expected = _depolarised(u @ rho @ u.conj().T, p, 3, [0, 1])
    assert np.allclose(driver.qubit_state((0, 2, 4)), expected, atol=1e-10)


def test_carbon_rotation_gets_one_qubit_depolarising() -> None:
    driver, _ = _nv()
    p = driver.spec.native(PhysicalOp.ROT, (3,), Axis.Y).depolarising_prob
    assert p > 0
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (3,), Axis.Y, math.pi / 2))
    expected = (1 - p) * PLUS + p * np.eye(2) / 2
    assert np.allclose(driver.qubit_state((3,)), expected, atol=1e-12)


def test_global_ms_on_three_ions_depolarises_each_ion() -> None:
    clock = VirtualClock()
    driver = SimQDriver.for_device("sim-ion", clock=clock, seed=1)
    p = driver.spec.native(PhysicalOp.MS, (0, 1, 2)).depolarising_prob
    assert p > 0
    driver.execute(PhysicalInstruction(PhysicalOp.MS, (0, 1, 2), angle_rad=math.pi / 2))
    psi = gates.ms(3, math.pi / 2)[:, 0]
    expected = np.outer(psi, psi.conj())
    for q in range(3):
        expected = _depolarised(expected, p, 3, [q])
    assert np.allclose(driver.qubit_state((0, 1, 2)), expected, atol=1e-12)


# ---- readout errors and seeds --------------------------------------------------------------------


@pytest.mark.parametrize("prepare_one", [False, True])
def test_readout_error_statistics_on_nv(prepare_one: bool) -> None:
    """INIT (depolarising p_init) [+ X pi], then MEAS: P(read 1) from the spec, within 5 sigma."""
    driver, _ = _nv(seed=2024)
    spec = driver.spec
    p_init = spec.native(PhysicalOp.INIT, (0,)).depolarising_prob
    true_one = 1 - p_init / 2 if prepare_one else p_init / 2
    expected = true_one * (1 - spec.readout_p_flip_1) + (1 - true_one) * spec.readout_p_flip_0
    init = PhysicalInstruction(PhysicalOp.INIT, (0,))
    flip = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.X, math.pi)
    meas = PhysicalInstruction(PhysicalOp.MEAS, (0,))
    shots = 20_000
    ones = 0
    for _ in range(shots):
        driver.execute(init)
        if prepare_one:
            driver.execute(flip)
        ones += driver.execute(meas).outcomes[0]
    assert abs(ones / shots - expected) <= _five_sigma(expected, shots)


def _random_outcomes(device: str, seed: int | None, ideal: bool = False) -> list[int]:
    clock = VirtualClock()
    driver = SimQDriver.for_device(device, clock=clock, seed=seed, ideal=ideal)
    everything = tuple(range(driver.spec.num_qubits))
    rot_on = (0,) if driver.spec.supports(PhysicalOp.ROT, (0,), Axis.X) else everything  # ions: global beam
    out = []
    for i in range(300):
        driver.execute(PhysicalInstruction(PhysicalOp.INIT, (0,)))
        driver.execute(PhysicalInstruction(PhysicalOp.ROT, rot_on, Axis.X, 0.3 + 0.01 * i))
        out += driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (0,))).outcomes
        clock.advance_ns(10_000)
    return out


@pytest.mark.parametrize("device", ["sim-generic", "sim-nv", "sim-ion"])
def test_same_seed_same_outcomes(device: str) -> None:
    assert _random_outcomes(device, 11) == _random_outcomes(device, 11)
    assert _random_outcomes(device, 11) != _random_outcomes(device, 12)


# ---- ideal ---------------------------------------------------------------------------------------


def test_ideal_removes_every_noise_source() -> None:
    driver, clock = _nv(ideal=True)
    driver.execute(ROT_Y_HALF_PI)
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.Y, math.pi / 2))
    clock.advance_ns(10 * 10**9)
    assert np.allclose(driver.qubit_state((0,)), PLUS, atol=1e-14)
    assert np.allclose(driver.qubit_state((1,)), PLUS, atol=1e-14)
    init = PhysicalInstruction(PhysicalOp.INIT, (0,))
    meas = PhysicalInstruction(PhysicalOp.MEAS, (0,))
    outcomes = set()
    for _ in range(2000):
        driver.execute(init)
        outcomes.update(driver.execute(meas).outcomes)
    assert outcomes == {0}


def test_the_noisy_device_does_misread() -> None:
    """The counterpart of the ideal test: the same loop on the noisy device reads some 1s."""
    driver, _ = _nv(seed=5)
    init = PhysicalInstruction(PhysicalOp.INIT, (0,))
    meas = PhysicalInstruction(PhysicalOp.MEAS, (0,))
    outcomes = []
    for _ in range(2000):
        driver.execute(init)
        outcomes += driver.execute(meas).outcomes
    assert 0 < sum(outcomes) < 400
