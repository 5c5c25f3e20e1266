"""Kraus operators of the noise channels, and the idle (T1/T2) channel.

Hand-written because the engine needs exactly these few channels as plain arrays, composed lazily from elapsed
time; qutip serves only as the test oracle. Every function returns a list of Kraus operators ``K_i`` with
``sum_i K_i^dagger K_i = I``; :func:`superoperator` turns such a list into the matrix that
:meth:`QuantumWorld.apply_superop` applies in one contraction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from sim_instruments.physics.gates import I2, ComplexMatrix, X, Y, Z

__all__ = [
    "amplitude_damping",
    "dephasing",
    "depolarising",
    "depolarising_2q",
    "idle_kraus",
    "phase_damping",
    "superoperator",
]

_PAULIS = (I2, X, Y, Z)


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def depolarising(p: float) -> list[ComplexMatrix]:
    """One-qubit depolarising: with probability ``p`` the state is replaced by ``I/2``.

    ``rho -> (1 - p) rho + p I/2 = (1 - 3p/4) rho + p/4 (X rho X + Y rho Y + Z rho Z)``.
    """
    _check_prob("depolarising probability", p)
    ops = [math.sqrt(1.0 - 0.75 * p) * I2]
    if p > 0.0:
        ops += [math.sqrt(p / 4.0) * P for P in (X, Y, Z)]
    return ops


def depolarising_2q(p: float) -> list[ComplexMatrix]:
    """Two-qubit depolarising: with probability ``p`` the pair is replaced by ``I/4``."""
    _check_prob("depolarising probability", p)
    ops = [math.sqrt(1.0 - 15.0 * p / 16.0) * np.eye(4, dtype=np.complex128)]
    if p > 0.0:
        w = math.sqrt(p / 16.0)
        ops += [
            w * np.asarray(np.kron(a, b), dtype=np.complex128)
            for a, b in itertools.product(_PAULIS, repeat=2)
        ][1:]
    return ops


def amplitude_damping(gamma: float) -> list[ComplexMatrix]:
    """Amplitude damping: ``|1>`` decays to ``|0>`` with probability ``gamma``."""
    _check_prob("gamma", gamma)
    k0 = np.array([[1.0, 0.0], [0.0, math.sqrt(1.0 - gamma)]], dtype=np.complex128)
    k1 = np.array([[0.0, math.sqrt(gamma)], [0.0, 0.0]], dtype=np.complex128)
    return [k0, k1]


def phase_damping(lam: float) -> list[ComplexMatrix]:
    """Phase damping (Nielsen & Chuang 8.3.6): coherences are multiplied by ``sqrt(1 - lam)``."""
    _check_prob("lambda", lam)
    k0 = np.array([[1.0, 0.0], [0.0, math.sqrt(1.0 - lam)]], dtype=np.complex128)
    k1 = np.array([[0.0, 0.0], [0.0, math.sqrt(lam)]], dtype=np.complex128)
    return [k0, k1]


def dephasing(p: float) -> list[ComplexMatrix]:
    """Dephasing as a phase flip with probability ``p``: coherences are multiplied by ``1 - 2p``."""
    _check_prob("dephasing probability", p)
    return [math.sqrt(1.0 - p) * I2.copy(), math.sqrt(p) * Z.copy()]


def idle_kraus(elapsed_ns: float, t1_ns: float, t2_ns: float) -> list[ComplexMatrix]:
    """The channel of a qubit left alone for ``elapsed_ns``: T1 relaxation and T2 dephasing.

    Amplitude damping with ``gamma = 1 - exp(-t/T1)`` (populations relax to |0> as ``exp(-t/T1)``), followed
    by the pure dephasing that makes coherences decay as ``exp(-t/T2)`` overall:
    ``1/T_phi = 1/T2 - 1/(2 T1)``. An infinite T1 or T2 means no such decay. Both channels come from one
    time-independent Lindbladian and commute, so idling ``a`` then ``b`` equals idling ``a + b``.
    """
    if elapsed_ns < 0:
        raise ValueError(f"elapsed time must be >= 0, got {elapsed_ns} ns")
    if not (t1_ns > 0 and t2_ns > 0):
        raise ValueError(f"T1 and T2 must be > 0, got T1={t1_ns} ns, T2={t2_ns} ns")
    if t2_ns > 2.0 * t1_ns * (1.0 + 1e-12):
        raise ValueError(f"T2 ({t2_ns:g} ns) cannot exceed 2*T1 ({2.0 * t1_ns:g} ns)")
    t1_rate = 1.0 / t1_ns if math.isfinite(t1_ns) else 0.0
    phi_rate = max(1.0 / t2_ns - 0.5 * t1_rate, 0.0)  # 1/T_phi; 0 when T2 = 2 T1 or both infinite
    if elapsed_ns == 0.0 or (t1_rate == 0.0 and phi_rate == 0.0):
        return [I2.copy()]
    # Amplitude damping {diag(1, a), sqrt(gamma)|0><1|} then phase damping {diag(1, c), diag(0, s)}, with
    # a = sqrt(1 - gamma) = exp(-t/2T1) and c = exp(-t/T_phi), multiplied out. Written from the exponentials
    # directly (not via gamma and lambda) so that long idles keep their tiny coherences accurately.
    a = math.exp(-0.5 * elapsed_ns * t1_rate)
    sqrt_gamma = math.sqrt(-math.expm1(-elapsed_ns * t1_rate))
    c = math.exp(-elapsed_ns * phi_rate)
    s = math.sqrt(-math.expm1(-2.0 * elapsed_ns * phi_rate))
    ops = [np.array([[1.0, 0.0], [0.0, c * a]], dtype=np.complex128)]
    if sqrt_gamma > 0.0:
        ops.append(np.array([[0.0, sqrt_gamma], [0.0, 0.0]], dtype=np.complex128))
    if s > 0.0:
        ops.append(np.array([[0.0, 0.0], [0.0, s * a]], dtype=np.complex128))
    return ops


def superoperator(kraus_ops: Sequence[ComplexMatrix]) -> ComplexMatrix:
    """``S = sum_i K_i (x) conj(K_i)``: acts on the row-major vectorisation of rho.

    ``vec(K rho K^dagger) = (K (x) conj(K)) vec(rho)`` when ``vec`` stacks rows.
    """
    if not kraus_ops:
        raise ValueError("a channel needs at least one Kraus operator")
    return np.asarray(sum(np.kron(k, k.conj()) for k in kraus_ops), dtype=np.complex128)
