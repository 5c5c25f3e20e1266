"""Shared test-only physics and devices for the translator tests (no tests here), independent of the code.

- ``unitary``: the full unitary of a sequence of physical instructions (qubit 0 is the most significant bit),
  from :mod:`qlab_os.qdevice.instructions`.
- ``logical``: the unitary of a logical gate, from netqasm's definitions (see :mod:`qlab_os.qnpu.gates`).
- device specs mirroring sim-generic, sim-nv and sim-ion, built with ``parse_spec``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import numpy as np

from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.spec import QDeviceSpec, parse_spec
from qlab_os.qnpu.gates import Gate

I2 = np.eye(2, dtype=complex)
PX = np.array([[0, 1], [1, 0]], dtype=complex)
PY = np.array([[0, -1j], [1j, 0]], dtype=complex)
PZ = np.array([[1, 0], [0, -1]], dtype=complex)
PAULI = {Axis.X: PX, Axis.Y: PY, Axis.Z: PZ}
P0 = np.diag([1, 0]).astype(complex)
P1 = np.diag([0, 1]).astype(complex)


def rot(axis: Axis, angle: float) -> np.ndarray:
    return math.cos(angle / 2) * I2 - 1j * math.sin(angle / 2) * PAULI[axis]


def apply(full: np.ndarray, op: np.ndarray, targets: tuple[int, ...], n: int) -> np.ndarray:
    """``op`` (on ``targets``, first target most significant) times ``full`` (2^n rows, any columns)."""
    k = len(targets)
    t = full.reshape((2,) * n + (-1,))
    t = np.tensordot(op.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), list(targets)))
    t = np.moveaxis(t, list(range(k)), list(targets))
    return t.reshape(2**n, -1)


def instruction_ops(instr: PhysicalInstruction) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """The instruction as (matrix, qubits) factors, straight from the contract docstring."""
    op, qs, axis, angle = instr.op, instr.qubits, instr.axis, instr.angle_rad
    if op is PhysicalOp.ROT:
        assert axis is not None
        return [(rot(axis, angle), (q,)) for q in qs]
    if op is PhysicalOp.CROT:
        assert axis is not None and len(qs) == 2
        return [(np.kron(P0, rot(axis, angle)) + np.kron(P1, rot(axis, -angle)), qs)]
    if op is PhysicalOp.CNOT:
        return [(np.kron(P0, I2) + np.kron(P1, PX), qs)]
    if op is PhysicalOp.CZ:
        return [(np.diag([1, 1, 1, -1]).astype(complex), qs)]
    if op is PhysicalOp.MS:
        assert len(qs) >= 2
        xx = np.kron(PX, PX)
        term = math.cos(angle / 2) * np.eye(4) - 1j * math.sin(angle / 2) * xx
        return [(term, pair) for pair in itertools.combinations(qs, 2)]  # the XX terms commute
    raise AssertionError(f"{instr} is not unitary")


def unitary(instrs: tuple[PhysicalInstruction, ...], n: int) -> np.ndarray:
    full = np.eye(2**n, dtype=complex)
    for instr in instrs:
        for matrix, qs in instruction_ops(instr):
            full = apply(full, matrix, qs, n)
    return full


_FIXED = {
    Gate.X: PX,
    Gate.Y: PY,
    Gate.Z: PZ,
    Gate.H: (PX + PZ) / math.sqrt(2),
    Gate.S: np.diag([1, 1j]),
    Gate.K: (PY + PZ) / math.sqrt(2),
    Gate.T: np.diag([1, (1 + 1j) / math.sqrt(2)]),
}


def logical(gate: Gate, qubits: tuple[int, ...], angle: float, n: int) -> np.ndarray:
    """The unitary a logical gate means, on n qubits."""
    full = np.eye(2**n, dtype=complex)
    if gate in _FIXED:
        return apply(full, _FIXED[gate].astype(complex), qubits, n)
    rots = {Gate.ROT_X: Axis.X, Gate.ROT_Y: Axis.Y, Gate.ROT_Z: Axis.Z}
    if gate in rots:
        return apply(full, rot(rots[gate], angle), qubits, n)
    if gate is Gate.CNOT:
        return apply(full, np.kron(P0, I2) + np.kron(P1, PX), qubits, n)
    if gate is Gate.CPHASE:
        return apply(full, np.diag([1, 1, 1, -1]).astype(complex), qubits, n)
    if gate in (Gate.CROT_X, Gate.CROT_Y):
        axis = Axis.X if gate is Gate.CROT_X else Axis.Y  # the physical Y axis, not netqasm's to_matrix
        return apply(full, np.kron(P0, rot(axis, angle)) + np.kron(P1, rot(axis, -angle)), qubits, n)
    if gate is Gate.SWAP:
        swap = np.eye(4)[[0, 2, 1, 3]].astype(complex)
        return apply(full, swap, qubits, n)
    if gate is Gate.MS:
        # exp(-i angle/2 * H) with H = sum_{j<k} X_j X_k, by diagonalising H
        h = np.zeros((2**n, 2**n), dtype=complex)
        for a, b in itertools.combinations(qubits, 2):
            h += apply(apply(np.eye(2**n, dtype=complex), PX, (a,), n), PX, (b,), n)
        w, v = np.linalg.eigh(h)
        return (v * np.exp(-0.5j * angle * w)) @ v.conj().T
    raise AssertionError(gate)


def assert_equal_up_to_phase(got: np.ndarray, want: np.ndarray, atol: float = 1e-9) -> None:
    idx = np.unravel_index(np.argmax(np.abs(want)), want.shape)
    phase = got[idx] / want[idx]
    assert abs(abs(phase) - 1.0) < atol, f"not equal up to a phase (|phase| = {abs(phase)})"
    np.testing.assert_allclose(got, phase * want, atol=atol)


# ---------------------------------------------------------------- devices


def generic_dict() -> dict[str, Any]:
    return {
        "name": "sim-generic",
        "qubits": [{"name": f"q{i}", "communication": i == 0} for i in range(5)],
        "native": [
            {"op": "init", "duration_ns": 100},
            {"op": "rot", "axes": ["x", "y", "z"], "duration_ns": 20},
            {"op": "cnot", "duration_ns": 300},
            {"op": "cz", "duration_ns": 300},
            {"op": "meas", "duration_ns": 1000},
        ],
    }


def nv_dict(z_on_electron: bool) -> dict[str, Any]:
    return {
        "name": "sim-nv" + ("" if z_on_electron else "-no-electron-z"),
        "qubits": [{"name": "electron", "communication": True}]
        + [{"name": f"carbon{i}"} for i in range(1, 5)],
        "native": [
            {"op": "init", "duration_ns": 2000},
            {"op": "rot", "axes": ["x", "y"], "duration_ns": 5},
            {
                "op": "rot",
                "axes": ["z"],
                "qubits": [0, 1, 2, 3, 4] if z_on_electron else [1, 2, 3, 4],
                "duration_ns": 500,
            },
            {
                "op": "crot",
                "axes": ["x", "y"],
                "pairs": [[0, 1], [0, 2], [0, 3], [0, 4]],
                "duration_ns": 500_000,
            },
            {"op": "meas", "duration_ns": 3700},
        ],
    }


def ion_dict(num_ions: int = 3) -> dict[str, Any]:
    return {
        "name": f"sim-ion-{num_ions}",
        "qubits": [{"name": f"ion{i}", "communication": i == 0} for i in range(num_ions)],
        "native": [
            {"op": "init", "duration_ns": 50_000},
            {"op": "rot", "axes": ["z"], "duration_ns": 10},
            {"op": "rot", "axes": ["x", "y"], "addressing": "global", "duration_ns": 10_000},
            *([{"op": "ms", "duration_ns": 100_000}] if num_ions > 1 else []),
            {"op": "meas", "duration_ns": 300_000},
        ],
    }


def only_meas_on(spec: QDeviceSpec, qubits: set[int]) -> QDeviceSpec:
    """The spec with MEAS restricted to ``qubits``.

    ``parse_spec`` insists that every qubit has a native meas (individual or global), so an NV spec whose
    carbons cannot be read out directly has to be made this way.
    """
    natives = tuple(
        replace(g, qubits=frozenset(qubits)) if g.op is PhysicalOp.MEAS else g for g in spec.natives
    )
    return replace(spec, natives=natives, _index={})


def nv_spec(z_on_electron: bool = False) -> QDeviceSpec:
    return only_meas_on(parse_spec(nv_dict(z_on_electron)), {0})


def generic_spec() -> QDeviceSpec:
    return parse_spec(generic_dict())


def ion_spec(num_ions: int = 3) -> QDeviceSpec:
    return parse_spec(ion_dict(num_ions))


def line_cz_spec() -> QDeviceSpec:
    """4 qubits in a line with CZ only (0-1, 2-1, 2-3) and X/Z rotations: tests CZ and long routes."""
    return parse_spec(
        {
            "name": "line-cz",
            "qubits": [{"name": f"q{i}"} for i in range(4)],
            "native": [
                {"op": "init", "duration_ns": 1},
                {"op": "rot", "axes": ["x", "z"], "duration_ns": 1},
                {"op": "cz", "pairs": [[0, 1], [2, 1], [2, 3]], "duration_ns": 10},
                {"op": "meas", "duration_ns": 1},
            ],
        }
    )


def crot_y_spec() -> QDeviceSpec:
    """An NV-like device with crot about Y only and no Z rotations anywhere."""
    return parse_spec(
        {
            "name": "nv-crot-y",
            "qubits": [{"name": "electron", "communication": True}, {"name": "carbon1"}, {"name": "carbon2"}],
            "native": [
                {"op": "init", "duration_ns": 1},
                {"op": "rot", "axes": ["x", "y"], "duration_ns": 1},
                {"op": "crot", "axes": ["y"], "pairs": [[0, 1], [0, 2]], "duration_ns": 10},
                {"op": "meas", "duration_ns": 1},
            ],
        }
    )


def global_ms_spec(num_ions: int) -> QDeviceSpec:
    """Ions whose MS is a global beam on every ion at once."""
    d = ion_dict(num_ions)
    d["name"] = f"ion-global-ms-{num_ions}"
    d["native"][3] = {"op": "ms", "addressing": "global", "duration_ns": 100_000}
    return parse_spec(d)
