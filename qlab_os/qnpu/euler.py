"""One-qubit unitaries as rotations: rotation matrices, angle normalisation, Euler decompositions.

Conventions of :mod:`qlab_os.qdevice.instructions`: ``R_a(theta) = exp(-i theta/2 sigma_a)``. Every equality
here holds up to a global phase. Pure functions, no state: the translator caches their results.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

from qlab_os.qdevice.instructions import Axis
from qlab_os.qnpu.gates import Matrix

ANGLE_ATOL = 1e-12
"""Rotation angles closer than this to 0 (mod 2 pi) are dropped: the rotation is the identity up to phase."""

IDENTITY: Matrix = np.eye(2, dtype=np.complex128)
PAULI: dict[Axis, Matrix] = {
    Axis.X: np.array([[0, 1], [1, 0]], dtype=np.complex128),
    Axis.Y: np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    Axis.Z: np.array([[1, 0], [0, -1]], dtype=np.complex128),
}


def rotation(axis: Axis, angle_rad: float) -> Matrix:
    """``R_axis(angle) = cos(angle/2) I - i sin(angle/2) sigma_axis``."""
    half = angle_rad / 2.0
    result: Matrix = math.cos(half) * IDENTITY - 1j * math.sin(half) * PAULI[axis]
    return result


def normalize_angle(angle_rad: float) -> float:
    """The angle mod 2 pi in (-pi, pi]. A 2 pi shift of any rotation is a global phase of -1."""
    a = math.remainder(angle_rad, 2.0 * math.pi)
    return math.pi if a <= -math.pi else a


def is_zero_angle(angle_rad: float) -> bool:
    return abs(normalize_angle(angle_rad)) < ANGLE_ATOL


def quaternion(u: Matrix) -> tuple[float, dict[Axis, float]]:
    """``(w, {a: c_a})`` with ``u = phase * (w I - i sum_a c_a sigma_a)``, real and of unit norm."""
    # Plain complex arithmetic on the four entries: this runs for every uncached gate.
    a, b, c, d = (complex(x) for x in np.asarray(u).ravel())
    root = cmath.sqrt(a * d - b * c)
    a, b, c, d = a / root, b / root, c / root, d / root
    # w = tr(u)/2, c_k = Re(i tr(sigma_k u))/2
    w = (a + d).real / 2.0
    comps = {Axis.X: -(b + c).imag / 2.0, Axis.Y: (c - b).real / 2.0, Axis.Z: -(a - d).imag / 2.0}
    norm = math.sqrt(w * w + sum(c * c for c in comps.values()))
    return w / norm, {a: c / norm for a, c in comps.items()}


def is_identity(u: Matrix) -> bool:
    _, comps = quaternion(u)  # not 1 - |w|: that is second order in the angle
    return max(abs(c) for c in comps.values()) < ANGLE_ATOL


def as_rotation(u: Matrix, axis: Axis) -> float | None:
    """The angle theta with ``u = R_axis(theta)`` (normalised), or None if u is no rotation about ``axis``."""
    w, comps = quaternion(u)
    if any(abs(c) > 1e-10 for a, c in comps.items() if a is not axis):
        return None
    return normalize_angle(2.0 * math.atan2(comps[axis], w))


def euler_angles(u: Matrix, outer: Axis, inner: Axis) -> tuple[float, float, float]:
    """``(a, b, c)`` with ``u = R_outer(a) R_inner(b) R_outer(c)``: apply ``c`` first, then ``b``, then ``a``.

    Relabels the axes so that ``outer`` plays Z and ``inner`` plays Y, then uses the ZYZ formulas. The
    relabelling keeps the Pauli algebra (``sigma_x sigma_y = i sigma_z``) when the third axis gets the sign
    ``s = tr(sigma_third sigma_inner sigma_outer) / 2i`` (+1 for a cyclic order, -1 otherwise).
    """
    if outer is inner:
        raise ValueError("Euler decomposition needs two different axes")
    (third,) = set(Axis) - {outer, inner}
    sign = float((np.trace(PAULI[third] @ PAULI[inner] @ PAULI[outer]) / 2j).real)
    w, comps = quaternion(u)
    z, y, x = comps[outer], comps[inner], sign * comps[third]
    # u' = w I - i(x X + y Y + z Z) = Rz(a) Ry(b) Rz(c) with
    # u'[1,1] = w + i z = cos(b/2) e^{i(a+c)/2},  u'[1,0] = y - i x = sin(b/2) e^{i(a-c)/2}.
    cos_half, sin_half = math.hypot(w, z), math.hypot(x, y)
    b = 2.0 * math.atan2(sin_half, cos_half)
    if sin_half < ANGLE_ATOL:
        return normalize_angle(2.0 * math.atan2(z, w)), 0.0, 0.0
    m = math.atan2(-x, y)
    p = m if cos_half < ANGLE_ATOL else math.atan2(z, w)  # (a+c)/2 is free when cos(b/2) = 0
    return normalize_angle(p + m), normalize_angle(b), normalize_angle(p - m)
