"""Noise channels against analytic formulas and qutip's Lindblad superoperators."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import qutip
from hypothesis import given, settings
from hypothesis import strategies as st
from physics_oracle import kraus_on, ptrace, qobj, rand_dm

from sim_instruments.physics import channels

PROBS = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
TOL = 1e-10


def _apply(kraus: Sequence[np.ndarray], rho: np.ndarray) -> np.ndarray:
    return np.asarray(sum(k @ rho @ k.conj().T for k in kraus))


def _is_trace_preserving(kraus: Sequence[np.ndarray]) -> bool:
    d = kraus[0].shape[0]
    return bool(np.allclose(sum(k.conj().T @ k for k in kraus), np.eye(d), atol=1e-12))


@settings(max_examples=30, deadline=None)
@given(p=PROBS, seed=st.integers(0, 2**16))
def test_depolarising_replaces_by_maximally_mixed(p: float, seed: int) -> None:
    rho = rand_dm(1, seed)
    kraus = channels.depolarising(p)
    assert _is_trace_preserving(kraus)
    assert np.allclose(_apply(kraus, rho), (1 - p) * rho + p * np.eye(2) / 2, atol=TOL)


@settings(max_examples=20, deadline=None)
@given(p=PROBS, seed=st.integers(0, 2**16))
def test_two_qubit_depolarising_on_part_of_a_register_matches_qutip(p: float, seed: int) -> None:
    """On qubits (2, 0) of three: (1-p) rho + p I/4 (x) rho_1, built independently with qutip."""
    rho = rand_dm(3, seed)
    kraus = channels.depolarising_2q(p)
    assert len(kraus) == (16 if p > 0 else 1)
    assert _is_trace_preserving(kraus)
    got = kraus_on(rho, kraus, 3, [2, 0])
    rest = qobj(rho, 3).ptrace([1])
    mixed = qutip.tensor(qutip.qeye(2) / 2, rest, qutip.qeye(2) / 2)
    assert np.allclose(got, (1 - p) * rho + p * mixed.full(), atol=TOL)


@settings(max_examples=30, deadline=None)
@given(gamma=PROBS, seed=st.integers(0, 2**16))
def test_amplitude_damping_matches_the_lindblad_solution(gamma: float, seed: int) -> None:
    rho = rand_dm(1, seed)
    kraus = channels.amplitude_damping(gamma)
    assert _is_trace_preserving(kraus)
    if gamma >= 1.0:
        assert np.allclose(_apply(kraus, rho), np.diag([1, 0]), atol=TOL)
        return
    t = -math.log(1.0 - gamma)  # T1 = 1
    superop = (qutip.liouvillian(0 * qutip.qeye(2), [qutip.destroy(2)]) * t).expm()
    expected = qutip.vector_to_operator(superop * qutip.operator_to_vector(qobj(rho, 1))).full()
    assert np.allclose(_apply(kraus, rho), expected, atol=TOL)


@settings(max_examples=30, deadline=None)
@given(lam=PROBS, p=PROBS, seed=st.integers(0, 2**16))
def test_phase_damping_and_dephasing_scale_coherences(lam: float, p: float, seed: int) -> None:
    rho = rand_dm(1, seed)
    for kraus, factor in (
        (channels.phase_damping(lam), math.sqrt(1 - lam)),
        (channels.dephasing(p), 1 - 2 * p),
    ):
        assert _is_trace_preserving(kraus)
        out = _apply(kraus, rho)
        assert np.allclose(np.diag(out), np.diag(rho), atol=TOL)
        assert abs(out[0, 1] - factor * rho[0, 1]) < TOL


def _lindblad_idle(rho: np.ndarray, t: float, t1: float, t2: float) -> np.ndarray:
    c_ops = []
    if math.isfinite(t1):
        c_ops.append(math.sqrt(1 / t1) * qutip.destroy(2))
    phi_rate = 1 / t2 - 1 / (2 * t1)
    if phi_rate > 0:
        c_ops.append(math.sqrt(phi_rate / 2) * qutip.sigmaz())
    superop = (qutip.liouvillian(0 * qutip.qeye(2), c_ops) * t).expm()
    return np.asarray(qutip.vector_to_operator(superop * qutip.operator_to_vector(qobj(rho, 1))).full())


@settings(max_examples=40, deadline=None)
@given(
    t=st.floats(min_value=0.0, max_value=5e9),
    t1=st.floats(min_value=1e3, max_value=1e10),
    ratio=st.floats(min_value=0.01, max_value=2.0),
    seed=st.integers(0, 2**16),
)
def test_idle_channel_matches_qutip_lindblad(t: float, t1: float, ratio: float, seed: int) -> None:
    t2 = ratio * t1
    rho = rand_dm(1, seed)
    kraus = channels.idle_kraus(t, t1, t2)
    assert _is_trace_preserving(kraus)
    assert np.allclose(_apply(kraus, rho), _lindblad_idle(rho, t, t1, t2), atol=TOL)


@pytest.mark.parametrize(("t1", "t2"), [(1.0e6, 5.0e5), (1.0e6, 2.0e6), (math.inf, 3.0e5)])
def test_idle_populations_and_coherences_follow_t1_and_t2(t1: float, t2: float) -> None:
    plus_excited = np.array([[0.5, 0.5], [0.5, 0.5]], dtype=complex)
    for t in (0.0, 1.0e4, 2.5e5, 1.0e6, 3.0e6):
        out = _apply(channels.idle_kraus(t, t1, t2), plus_excited)
        excited = 0.5 * math.exp(-t / t1) if math.isfinite(t1) else 0.5
        assert out[1, 1].real == pytest.approx(excited, abs=1e-12)
        assert out[0, 1] == pytest.approx(0.5 * math.exp(-t / t2), abs=1e-12)


def test_idle_composes_over_time() -> None:
    rho = rand_dm(1, 7)
    a, b = 3.0e5, 7.0e5
    step = _apply(channels.idle_kraus(b, 1.0e6, 8.0e5), _apply(channels.idle_kraus(a, 1.0e6, 8.0e5), rho))
    assert np.allclose(step, _apply(channels.idle_kraus(a + b, 1.0e6, 8.0e5), rho), atol=TOL)


def test_idle_with_infinite_times_is_the_identity() -> None:
    kraus = channels.idle_kraus(1.0e12, math.inf, math.inf)
    assert len(kraus) == 1
    assert np.allclose(kraus[0], np.eye(2))


def test_idle_rejects_unphysical_parameters() -> None:
    with pytest.raises(ValueError, match="cannot exceed"):
        channels.idle_kraus(1.0, 1.0e3, 2.5e3)
    with pytest.raises(ValueError, match="cannot exceed"):
        channels.idle_kraus(1.0, 1.0e3, math.inf)
    with pytest.raises(ValueError, match=">= 0"):
        channels.idle_kraus(-1.0, 1.0e3, 1.0e3)
    with pytest.raises(ValueError, match="> 0"):
        channels.idle_kraus(1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        channels.depolarising(1.5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_superoperator_acts_on_row_major_vectorisation(seed: int) -> None:
    kraus = [np.asarray(k.full()) for k in qutip.rand_kraus_map(2, seed=seed)]
    rho = rand_dm(1, seed + 1)
    superop = channels.superoperator(kraus)
    assert np.allclose((superop @ rho.reshape(-1)).reshape(2, 2), _apply(kraus, rho), atol=TOL)
    assert np.allclose(_apply(kraus, rho), ptrace(kraus_on(rho, kraus, 1, [0]), 1, [0]), atol=TOL)
