"""Gate matrices against qutip's own gates and matrix exponentials."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
from hypothesis import given, settings
from hypothesis import strategies as st
from qutip.core import gates as qg

from sim_instruments.physics import gates

ANGLES = st.floats(min_value=-4 * math.pi, max_value=4 * math.pi, allow_nan=False)
TOL = 1e-12


def _close(a: object, b: object) -> bool:
    return bool(np.allclose(np.asarray(a), np.asarray(b), atol=TOL, rtol=0))


@pytest.mark.parametrize(
    ("ours", "oracle"),
    [
        (gates.I2, qutip.qeye(2)),
        (gates.X, qutip.sigmax()),
        (gates.Y, qutip.sigmay()),
        (gates.Z, qutip.sigmaz()),
        (gates.H, qg.snot()),
        (gates.S, qg.s_gate()),
        (gates.T, qg.t_gate()),
        (gates.K, (qutip.sigmay() + qutip.sigmaz()) / math.sqrt(2)),
        (gates.CNOT, qg.cnot()),
        (gates.CZ, qg.cz_gate()),
        (gates.SWAP, qg.swap()),
    ],
    ids=["I", "X", "Y", "Z", "H", "S", "T", "K", "CNOT", "CZ", "SWAP"],
)
def test_fixed_gates_match_qutip(ours: np.ndarray, oracle: qutip.Qobj) -> None:
    assert ours.dtype == np.complex128
    assert _close(ours, oracle.full())
    assert _close(ours @ ours.conj().T, np.eye(ours.shape[0]))


def test_fixed_gates_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        gates.X[0, 0] = 5


@settings(max_examples=40, deadline=None)
@given(angle=ANGLES)
def test_rotations_match_qutip_exponentials(angle: float) -> None:
    for axis, sigma, qutip_gate in (
        ("x", qutip.sigmax(), qg.rx),
        ("y", qutip.sigmay(), qg.ry),
        ("z", qutip.sigmaz(), qg.rz),
    ):
        expected = (-0.5j * angle * sigma).expm().full()
        assert _close(gates.r(axis, angle), expected)
        assert _close(gates.r(axis, angle), qutip_gate(angle).full())


def test_rotation_by_pi_is_the_pauli_up_to_phase() -> None:
    assert _close(gates.r("x", math.pi), -1j * gates.X)
    assert _close(gates.r("y", math.pi / 2) @ np.array([1, 0]), np.array([1, 1]) / math.sqrt(2))


@settings(max_examples=30, deadline=None)
@given(angle=ANGLES)
def test_crot_matches_its_definition_in_qutip(angle: float) -> None:
    p0, p1 = qutip.basis(2, 0).proj(), qutip.basis(2, 1).proj()
    for axis, qutip_gate in (("x", qg.rx), ("y", qg.ry)):
        expected = qutip.tensor(p0, qutip_gate(angle)) + qutip.tensor(p1, qutip_gate(-angle))
        assert _close(gates.crot(axis, angle), expected.full())


@pytest.mark.parametrize("n", [2, 3, 4])
@settings(max_examples=10, deadline=None)
@given(angle=ANGLES)
def test_ms_matches_exponential_of_sum_of_xx(n: int, angle: float) -> None:
    total = 0 * qutip.tensor([qutip.qeye(2)] * n)
    for j in range(n):
        for k in range(j + 1, n):
            total = total + qutip.expand_operator(qutip.tensor(qutip.sigmax(), qutip.sigmax()), [2] * n, [j, k])
    expected = (-0.5j * angle * total).expm().full()
    assert _close(gates.ms(n, angle), expected)


def test_ms_pi_half_on_two_qubits_is_maximally_entangling() -> None:
    state = gates.ms(2, math.pi / 2) @ np.array([1, 0, 0, 0], dtype=complex)
    expected = np.array([1, 0, 0, -1j]) / math.sqrt(2)
    assert _close(state, expected)
    assert _close(gates.ms(2, math.pi / 2), qg.molmer_sorensen(math.pi / 2).full())


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="axis"):
        gates.r("w", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two or more"):
        gates.ms(1, 1.0)
