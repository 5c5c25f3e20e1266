"""Physical instructions and responses: what the QNPU sends to a QDriver.

After the QDevice model of QNodeOS: a small set of physical instructions, each answered by a response. The
exact meaning of each one (the unitary, for gates) is fixed here, so that the translator (which emits them)
and every QDriver (which carries them out) agree:

- ``INIT``: reset every qubit in ``qubits`` to |0>.
- ``ROT``: rotate every qubit in ``qubits`` by ``R_axis(angle_rad) = exp(-i angle_rad/2 sigma_axis)``.
  One qubit for an addressed rotation; several for a global beam (ion traps).
- ``CROT``: NV conditional rotation, control ``qubits[0]``, target ``qubits[1]``:
  ``|0><0| (x) R_axis(+angle_rad) + |1><1| (x) R_axis(-angle_rad)``. Axis X or Y.
- ``CNOT``: control ``qubits[0]``, target ``qubits[1]``.
- ``CZ``: ``diag(1, 1, 1, -1)`` on ``qubits[0], qubits[1]``.
- ``MS``: Molmer-Sorensen (bichromatic) gate on all ``qubits`` (two or more):
  ``exp(-i angle_rad/2 * sum_{j<k} X_j X_k)``; ``MS(pi/2)`` on two ions is maximally entangling.
- ``MEAS``: measure every qubit in ``qubits`` in the Z basis; ``outcomes`` in the same order.
- ``ENT``: one heralded entanglement attempt on communication qubit ``qubits[0]`` (see :class:`EntParams`).
- ``NONE``: do nothing for ``duration_ns`` (idle; qubits still decohere).

Qubit indices are physical indices of the device (0 .. num_qubits-1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PhysicalOp(enum.Enum):
    INIT = "init"
    ROT = "rot"
    CROT = "crot"
    CNOT = "cnot"
    CZ = "cz"
    MS = "ms"
    MEAS = "meas"
    ENT = "ent"
    NONE = "none"


class Axis(enum.Enum):
    X = "x"
    Y = "y"
    Z = "z"


class EntMode(enum.Enum):
    """Whether the entangled qubit is kept (K) or measured at once (M)."""

    KEEP = "keep"
    MEASURE = "measure"


@dataclass(frozen=True, slots=True)
class EntParams:
    """Parameters of one ENT attempt.

    ``link`` names the link (both ends use the same name); ``basis_rotations_rad`` is applied before the
    measurement when ``mode`` is MEASURE, as (x, y, z) rotation angles, in that order.
    """

    link: str
    mode: EntMode = EntMode.KEEP
    basis_rotations_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class PhysicalInstruction:
    """One physical instruction. Immutable, so the translator can cache and reuse them."""

    op: PhysicalOp
    qubits: tuple[int, ...] = ()
    axis: Axis | None = None
    angle_rad: float = 0.0
    duration_ns: int = 0
    """Only for ``NONE``: how long to idle."""
    ent: EntParams | None = None

    def __str__(self) -> str:
        parts = [self.op.value]
        if self.axis is not None:
            parts[0] += f"_{self.axis.value}"
        parts.append(",".join(str(q) for q in self.qubits))
        if self.op in (PhysicalOp.ROT, PhysicalOp.CROT, PhysicalOp.MS):
            parts.append(f"{self.angle_rad:.6g} rad")
        if self.op is PhysicalOp.NONE:
            parts.append(f"{self.duration_ns} ns")
        return " ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class PhysicalResponse:
    """What a QDriver answers to every physical instruction.

    ``duration_ns`` is how long the instruction took on the device. ``outcomes`` holds measurement results
    (MEAS, and ENT in measure mode). For ENT, ``heralded`` says whether the attempt succeeded and
    ``bell_index`` which Bell state was delivered (0 = Phi+, 1 = Psi+, 2 = Psi-, 3 = Phi-, netqasm's order).
    """

    duration_ns: int
    outcomes: tuple[int, ...] = ()
    heralded: bool | None = None
    bell_index: int | None = None
