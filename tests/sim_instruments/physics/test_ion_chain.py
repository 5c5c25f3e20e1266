"""IonChain against closed forms and an independent numerical oracle: the MS propagator at closed loops, the
thermal damping off the loop (checked against the forced oscillator integrated in a truncated Fock space), the
shared motional mode, addressed pulses and the shared clock."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.linalg import expm

import sim_instruments
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.ion import CalciumIon, IonParams
from sim_instruments.physics.ion_chain import (
    IonChain,
    ms_displacement_squared,
    ms_geometric_phase,
    ms_superoperator,
)
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

PHYSICS_YAML = Path(sim_instruments.__file__).parent / "lab" / "physics.yaml"
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)


def _params(**changes: float) -> IonParams:
    raw: dict[str, Any] = yaml.safe_load(PHYSICS_YAML.read_text(encoding="utf-8"))["ion"]
    base = IonParams.from_mapping(raw, "physics.yaml: ion")
    ideal = dataclasses.replace(base, t1_s=math.inf, t2_s=math.inf, t2_star_s=math.inf, optical_pumping_fidelity=1.0)
    return dataclasses.replace(ideal, **changes)


def _chain(params: IonParams, n_ions: int = 2, seed: int = 3) -> tuple[IonChain, QuantumWorld, NodeClock]:
    rng = make_rng(seed)
    world = QuantumWorld(rng)
    clock = NodeClock()
    return IonChain(CalciumIon(params, world, rng, clock), n_ions), world, clock


def _collective(n: int, phase_rad: float) -> np.ndarray:
    single = math.cos(phase_rad) * X + math.sin(phase_rad) * Y
    total = np.zeros((2**n, 2**n), dtype=complex)
    for j in range(n):
        ops = [np.eye(2)] * n
        ops[j] = single
        term = ops[0]
        for op in ops[1:]:
            term = np.kron(term, op)
        total += term / 2
    return total


@pytest.mark.parametrize(("n", "phase"), [(1, 0.3), (2, 0.0), (2, 1.1), (3, -0.7)])
def test_undamped_superoperator_is_exp_of_s_phi_squared(n: int, phase: float) -> None:
    s = _collective(n, phase)
    u = expm(-1j * 0.83 * s @ s)
    assert np.allclose(ms_superoperator(n, phase, 0.83, 0.0), np.kron(u, u.conj()), atol=1e-12)


def test_geometric_phase_and_displacement_closed_forms() -> None:
    g, d = 520.0, 1.0e4
    for t in (3.0e-5, 1.0e-4, 2.0e-4):
        w, x = 2 * math.pi * g, 2 * math.pi * d
        assert ms_geometric_phase(g, d, t) == pytest.approx(w * w / x * (t - math.sin(x * t) / x), rel=1e-12)
        assert ms_displacement_squared(g, d, t) == pytest.approx(4 * (w / x) ** 2 * math.sin(x * t / 2) ** 2)
    # Closed loops: no displacement, Phi = 2 pi K (g/d)^2.
    assert ms_displacement_squared(g, d, 2 / d) == pytest.approx(0.0, abs=1e-20)
    assert ms_geometric_phase(g, d, 2 / d) == pytest.approx(4 * math.pi * (g / d) ** 2, rel=1e-12)
    # Sign follows the detuning; the delta -> 0 limit is continuous.
    assert ms_geometric_phase(g, -d, 1e-4) == pytest.approx(-ms_geometric_phase(g, d, 1e-4))
    assert ms_geometric_phase(g, 1e-9, 1e-4) == pytest.approx(0.0, abs=1e-12)
    assert ms_displacement_squared(g, 1e-3, 1e-4) == pytest.approx((2 * math.pi * g * 1e-4) ** 2, rel=1e-6)


def test_ms_pulse_at_a_closed_loop_makes_the_bell_state_whatever_the_temperature() -> None:
    params = _params(doppler_n_bar=10.0)
    chain, world, clock = _chain(params)
    chain.doppler_cool(1e-4)
    chain.optical_pump(1e-5)
    detuning_hz = 1.0e4
    rabi_hz = detuning_hz / (2 * chain.com_lamb_dicke_eta)  # Phi = 2 pi (eta Omega / delta)^2 = pi/2 at K = 1
    line = chain.ions[0].transition_frequency_hz
    start = clock.now_ns()
    chain.ms_pulse(line, params.axial_mode_frequency_hz + detuning_hz, rabi_hz, 0.0, 1 / detuning_hz)
    assert clock.now_ns() - start == 100_000  # the shared clock advanced once
    s = _collective(2, 0.0)
    psi = expm(-1j * math.pi / 2 * s @ s) @ np.array([1, 0, 0, 0], dtype=complex)
    assert np.allclose(world.density_matrix(list(chain.qubit_ids)), np.outer(psi, psi.conj()), atol=1e-12)


def _oracle_populations(coupling_hz: float, detuning_hz: float, t: float, n_bar: float) -> np.ndarray:
    """P(00), P(01)+P(10), P(11) from |00>, by integrating H = g S_x (a e^{-i d t} + h.c.) in a truncated Fock
    space (exact per S_x eigenvalue M: a forced oscillator) and averaging over the thermal state."""
    cutoff = 40
    a = np.diag(np.sqrt(np.arange(1, cutoff)), 1).astype(complex)
    g, d = 2 * math.pi * coupling_hz, 2 * math.pi * detuning_hz
    steps = 4000
    dt = t / steps
    p_n = (n_bar / (n_bar + 1)) ** np.arange(cutoff) / (n_bar + 1)
    p_n /= p_n.sum()
    props = {}
    for m in (-1.0, 0.0, 1.0):
        u = np.eye(cutoff, dtype=complex)
        for k in range(steps):
            tm = (k + 0.5) * dt
            h = g * m * (a * np.exp(-1j * d * tm) + a.conj().T * np.exp(1j * d * tm))
            u = expm(-1j * h * dt) @ u
        props[m] = u
    # |00> in the x basis: (1/2) sum over |++>, |+->, |-+>, |--> with M = 1, 0, 0, -1.
    ms = [1.0, 0.0, 0.0, -1.0]
    plus = np.array([1, 1]) / math.sqrt(2)
    minus = np.array([1, -1]) / math.sqrt(2)
    basis = [np.kron(plus, plus), np.kron(plus, minus), np.kron(minus, plus), np.kron(minus, minus)]
    rho = np.zeros((4, 4), dtype=complex)
    for n in range(cutoff):
        fock = np.zeros(cutoff, dtype=complex)
        fock[n] = 1
        joint = sum(0.5 * np.kron(b, props[m] @ fock) for b, m in zip(basis, ms, strict=True))
        joint = joint.reshape(4, cutoff)
        rho += p_n[n] * joint @ joint.conj().T
    diag = np.real(np.diag(rho))
    return np.array([diag[0], diag[1] + diag[2], diag[3]])


def test_off_the_loop_the_thermal_motion_damps_as_the_closed_form_and_the_oracle_say() -> None:
    n_bar = 0.7
    params = _params(doppler_n_bar=n_bar)
    chain, world, _ = _chain(params)
    chain.doppler_cool(1e-4)
    chain.optical_pump(1e-5)
    detuning_hz, t = 1.0e4, 0.5e-4  # half a loop: the largest residual displacement
    rabi_hz = 1.3 * detuning_hz / (2 * chain.com_lamb_dicke_eta)
    line = chain.ions[0].transition_frequency_hz
    chain.ms_pulse(line, params.axial_mode_frequency_hz + detuning_hz, rabi_hz, 0.0, t)
    rho = world.density_matrix(list(chain.qubit_ids))
    got = np.array([rho[0, 0].real, rho[1, 1].real + rho[2, 2].real, rho[3, 3].real])
    coupling = chain.com_lamb_dicke_eta * rabi_hz
    phi = ms_geometric_phase(coupling, detuning_hz, t)
    gamma = (n_bar + 0.5) * ms_displacement_squared(coupling, detuning_hz, t)
    closed = np.array([6 + 2 * math.exp(-4 * gamma) + 8 * math.cos(phi) * math.exp(-gamma),
                       4 - 4 * math.exp(-4 * gamma),
                       6 + 2 * math.exp(-4 * gamma) - 8 * math.cos(phi) * math.exp(-gamma)]) / 16
    assert gamma > 0.1  # the damping is large enough to matter
    assert np.allclose(got, closed, atol=1e-12)
    assert np.allclose(got, _oracle_populations(coupling, detuning_hz, t, n_bar), atol=2e-3)


def test_a_spectator_ion_is_left_out_of_the_gate() -> None:
    params = _params(doppler_n_bar=0.0, optical_pumping_fidelity=0.0)  # every ion a spectator
    chain, world, _ = _chain(params)
    chain.optical_pump(1e-5)
    line = chain.ions[0].transition_frequency_hz
    chain.ms_pulse(line, params.axial_mode_frequency_hz + 1e4, 1e5, 0.0, 1e-4)
    assert np.allclose(world.density_matrix(list(chain.qubit_ids))[0, 0], 1.0)


def test_the_chain_shares_one_phonon_number_and_addresses_ions_one_by_one() -> None:
    params = _params(doppler_n_bar=0.0, lamb_dicke_eta=0.0)  # no Debye-Waller factor: exact pulse areas
    chain, world, clock = _chain(params, n_ions=3)
    chain.doppler_cool(1e-4)
    assert {ion.motional_quantum_number for ion in chain.ions} == {0}
    chain.optical_pump(1e-5)
    line = chain.ions[0].transition_frequency_hz
    omega = 1.0e5
    start = clock.now_ns()
    chain.pulse_729(line, [0.0, omega, 0.5 * omega], 0.0, 1 / (2 * omega))  # pi on ion 1, pi/2 on ion 2
    assert clock.now_ns() - start == 5_000
    p1 = [float(world.density_matrix([q])[1, 1].real) for q in chain.qubit_ids]
    assert p1 == pytest.approx([0.0, 1.0, 0.5], abs=1e-12)
    counts = chain.detect(1e-4)
    assert len(counts) == 3


def test_a_warm_chain_draws_one_n_for_all_ions() -> None:
    chain, _, _ = _chain(_params(doppler_n_bar=10.0), n_ions=2, seed=5)
    seen = set()
    for _ in range(20):
        chain.doppler_cool(1e-4)
        ns = {ion.motional_quantum_number for ion in chain.ions}
        assert len(ns) == 1
        seen |= ns
    assert len(seen) > 3  # it is thermal, not fixed
