"""Gate matrices of the physics engine.

Hand-written (a few lines each) rather than taken from a library: the engine needs only these, as plain
``complex128`` arrays, without pulling a simulator into the runtime. qutip is used by the tests as the oracle.

Conventions: qubit order is big-endian (the first qubit is the most significant, as in ``np.kron`` and qutip's
``tensor``); ``|0>`` is ``[1, 0]``; ``r(axis, angle) = exp(-i angle/2 sigma_axis)``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CNOT",
    "CZ",
    "I2",
    "SWAP",
    "AxisName",
    "ComplexMatrix",
    "H",
    "K",
    "S",
    "T",
    "X",
    "Y",
    "Z",
    "crot",
    "ms",
    "pauli",
    "r",
]

ComplexMatrix = npt.NDArray[np.complex128]
AxisName = Literal["x", "y", "z"]


def _frozen(m: npt.ArrayLike) -> ComplexMatrix:
    a = np.array(m, dtype=np.complex128)
    a.setflags(write=False)
    return a


_SQ2 = 1.0 / math.sqrt(2.0)

I2 = _frozen([[1, 0], [0, 1]])
X = _frozen([[0, 1], [1, 0]])
Y = _frozen([[0, -1j], [1j, 0]])
Z = _frozen([[1, 0], [0, -1]])
H = _frozen([[_SQ2, _SQ2], [_SQ2, -_SQ2]])
S = _frozen([[1.0 + 0j, 0j], [0j, 1j]])
T = _frozen([[1.0 + 0j, 0j], [0j, complex(math.cos(math.pi / 4), math.sin(math.pi / 4))]])
K = _frozen([[_SQ2, -1j * _SQ2], [1j * _SQ2, -_SQ2]])
"""netqasm's K gate, ``(Y + Z)/sqrt(2)``: swaps the Z and Y bases."""
CNOT = _frozen([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
CZ = _frozen(np.diag([1, 1, 1, -1]))
SWAP = _frozen([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])

_PAULI: dict[str, ComplexMatrix] = {"x": X, "y": Y, "z": Z}
_P0 = _frozen([[1, 0], [0, 0]])
_P1 = _frozen([[0, 0], [0, 1]])


def pauli(axis: AxisName) -> ComplexMatrix:
    """The Pauli matrix of ``axis``."""
    try:
        return _PAULI[axis]
    except KeyError:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}") from None


def r(axis: AxisName, angle_rad: float) -> ComplexMatrix:
    """Rotation ``exp(-i angle/2 sigma_axis) = cos(angle/2) I - i sin(angle/2) sigma_axis``."""
    sigma = pauli(axis)
    half = 0.5 * angle_rad
    return _frozen(math.cos(half) * I2 - 1j * math.sin(half) * sigma)


def crot(axis: AxisName, angle_rad: float) -> ComplexMatrix:
    """NV conditional rotation: ``|0><0| (x) R(+angle) + |1><1| (x) R(-angle)``, control first."""
    return _frozen(np.kron(_P0, r(axis, angle_rad)) + np.kron(_P1, r(axis, -angle_rad)))


def ms(n: int, angle_rad: float) -> ComplexMatrix:
    """Molmer-Sorensen gate on ``n >= 2`` qubits: ``exp(-i angle/2 sum_{j<k} X_j X_k)``.

    Built in the X basis, where ``sum_{j<k} X_j X_k`` is diagonal with eigenvalue ``(m^2 - n)/2`` for
    ``m = sum_j s_j`` (``s_j = +-1``), then rotated back with ``H^(x)n``.
    """
    if n < 2:
        raise ValueError(f"the MS gate acts on two or more qubits, got n={n}")
    minus_count = np.array([bin(i).count("1") for i in range(2**n)])
    m = n - 2 * minus_count
    phases = np.exp(-0.5j * angle_rad * (m * m - n) / 2.0)
    hn: ComplexMatrix = np.ones((1, 1), dtype=np.complex128)
    for _ in range(n):
        hn = np.asarray(np.kron(hn, H), dtype=np.complex128)
    return _frozen((hn * phases) @ hn)
