"""The digital twin (qlab_os.twin): a circuit on a device that is exactly its spec, read as a density matrix."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qdrivers.sim.driver import SimQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import UnsupportedInstructionError
from qlab_os.qdevice.instructions import PhysicalOp
from qlab_os.qdevice.registry import driver_classes
from qlab_os.qnpu.gates import Gate
from qlab_os.twin import gate, init, predicted_state

BELL = (init(1), init(0), gate(Gate.H, 0), gate(Gate.CNOT, 0, 1))


def _phi_plus() -> np.ndarray:
    psi = np.array([1, 0, 0, 1], dtype=np.complex128) / np.sqrt(2)
    return np.outer(psi, psi.conj())


def test_ideal_ion_makes_the_bell_state_through_its_ms_gate() -> None:
    spec = SimQDriver.load_device_spec("sim-ion", ideal=True)
    np.testing.assert_allclose(predicted_state(spec, BELL, (0, 1)), _phi_plus(), atol=1e-12)


def test_ms_depolarising_gives_the_werner_state() -> None:
    # only the MS gate is noisy: two-qubit depolarising commutes with the unitaries after it, so the CNOT leaves
    # (1 - p) Phi+ + p I/4 whatever single-qubit rotations the translator wraps around the MS gate
    ideal = SimQDriver.load_device_spec("sim-ion", ideal=True)
    p = 0.2
    spec = replace(ideal, natives=tuple(replace(g, depolarising_prob=p) if g.op is PhysicalOp.MS else g
                                        for g in ideal.natives), _index={})
    expected = (1 - p) * _phi_plus() + p * np.eye(4) / 4
    np.testing.assert_allclose(predicted_state(spec, BELL, (0, 1)), expected, atol=1e-12)


def test_an_arrived_qubit_skips_its_init_and_keeps_its_state() -> None:
    spec = SimQDriver.load_device_spec("sim-ion", ideal=True)
    one = np.diag([0.0, 1.0]).astype(np.complex128)
    steps = (init(1), init(0), gate(Gate.CNOT, 0, 1))
    rho = predicted_state(spec, steps, (0, 1), arrived={0: one})
    assert rho[3, 3].real == pytest.approx(1.0)  # |1> controls the flip: |11>


def test_only_a_simulating_driver_can_be_a_twin() -> None:
    spec = SimQDriver.load_device_spec("sim-ion")
    null = driver_classes()["null"]
    with pytest.raises(UnsupportedInstructionError, match="cannot simulate a spec"):
        null.from_spec(spec, clock=VirtualClock())


def test_an_inert_qubit_is_not_driven_but_its_gates_take_their_time() -> None:
    # T2 only on the ion's qubits: q1 in |+> dephases while q0's (inert) X pulse passes, as if it had played
    spec = SimQDriver.load_device_spec("sim-ion", ideal=True)
    spec = replace(spec, qubits=tuple(replace(q, t2_ns=50_000.0) for q in spec.qubits), _index={})
    steps = (init(0), init(1), gate(Gate.H, 1), gate(Gate.X, 0))
    rho0 = predicted_state(spec, steps, (0,), inert=frozenset({0}))
    assert rho0[0, 0].real == pytest.approx(1.0)  # the X pulse did not drive it
    coherence_inert = abs(predicted_state(spec, steps, (1,), inert=frozenset({0}))[0, 1])
    coherence_short = abs(predicted_state(spec, steps[:3], (1,))[0, 1])
    assert coherence_inert < coherence_short  # but its duration passed for q1
