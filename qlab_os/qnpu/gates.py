"""Logical gates: what the NetQASM executor asks the translator for.

Their meaning is netqasm's (``netqasm/lang/instr/vanilla.py``, ``nv.py``, ``trapped_ion.py``), on physical
qubit indices, up to a global phase, with ``R_a(angle) = exp(-i angle/2 sigma_a)``:

- ``X, Y, Z, H, S, K, T``: the fixed one-qubit gates (``K = (Y + Z)/sqrt 2``, ``S = diag(1, i)``,
  ``T = diag(1, e^{i pi/4})``).
- ``ROT_X, ROT_Y, ROT_Z``: ``R_a(angle)``.
- ``CNOT``: control ``qubits[0]``, target ``qubits[1]``. ``CPHASE``: ``diag(1, 1, 1, -1)``.
- ``CROT_X, CROT_Y``: the NV conditional rotation ``|0><0| (x) R_a(+angle) + |1><1| (x) R_a(-angle)``, control
  ``qubits[0]``. For ``CROT_Y`` this is the physically meant Y axis: netqasm 2.3's
  ``ControlledRotYInstruction.to_matrix`` uses the X axis by mistake, and we do not copy that.
- ``SWAP``: netqasm ``swp``, and ``mov`` (which netqasm also represents as a full swap).
- ``MS``: Molmer-Sorensen on two or more qubits, ``exp(-i angle/2 sum_{j<k} X_j X_k)`` (netqasm trapped-ion
  ``bichromatic``).
"""

from __future__ import annotations

import enum
import math

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.complex128]


class Gate(enum.Enum):
    X = "x"
    Y = "y"
    Z = "z"
    H = "h"
    S = "s"
    K = "k"
    T = "t"
    ROT_X = "rot_x"
    ROT_Y = "rot_y"
    ROT_Z = "rot_z"
    CNOT = "cnot"
    CPHASE = "cphase"
    CROT_X = "crot_x"
    CROT_Y = "crot_y"
    SWAP = "swap"
    MS = "ms"

    @property
    def num_qubits(self) -> int | None:
        """How many qubits the gate acts on; None for MS (two or more)."""
        if self is Gate.MS:
            return None
        return 2 if self in TWO_QUBIT_GATES else 1

    @property
    def has_angle(self) -> bool:
        return self in ANGLE_GATES


ONE_QUBIT_GATES = frozenset(
    {Gate.X, Gate.Y, Gate.Z, Gate.H, Gate.S, Gate.K, Gate.T, Gate.ROT_X, Gate.ROT_Y, Gate.ROT_Z}
)
TWO_QUBIT_GATES = frozenset({Gate.CNOT, Gate.CPHASE, Gate.CROT_X, Gate.CROT_Y, Gate.SWAP})
ANGLE_GATES = frozenset({Gate.ROT_X, Gate.ROT_Y, Gate.ROT_Z, Gate.CROT_X, Gate.CROT_Y, Gate.MS})

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_FIXED: dict[Gate, Matrix] = {
    Gate.X: np.array([[0, 1], [1, 0]], dtype=np.complex128),
    Gate.Y: np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    Gate.Z: np.array([[1, 0], [0, -1]], dtype=np.complex128),
    Gate.H: np.array([[1, 1], [1, -1]], dtype=np.complex128) * _SQRT_HALF,
    Gate.S: np.array([[1, 0], [0, 1j]], dtype=np.complex128),
    Gate.K: np.array([[1, -1j], [1j, -1]], dtype=np.complex128) * _SQRT_HALF,
    Gate.T: np.array([[1, 0], [0, (1 + 1j) * _SQRT_HALF]], dtype=np.complex128),
}
_PAULI_OF_ROT: dict[Gate, Gate] = {Gate.ROT_X: Gate.X, Gate.ROT_Y: Gate.Y, Gate.ROT_Z: Gate.Z}


def one_qubit_matrix(gate: Gate, angle_rad: float = 0.0) -> Matrix:
    """The 2x2 unitary of a one-qubit logical gate (a fresh array; the caller may keep it)."""
    fixed = _FIXED.get(gate)
    if fixed is not None:
        return fixed.copy()
    pauli = _PAULI_OF_ROT.get(gate)
    if pauli is None:
        raise ValueError(f"{gate.name} is not a one-qubit gate")
    half = angle_rad / 2.0
    result: Matrix = math.cos(half) * np.eye(2, dtype=np.complex128) - 1j * math.sin(half) * _FIXED[pauli]
    return result
