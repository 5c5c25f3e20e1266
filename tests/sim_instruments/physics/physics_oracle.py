"""qutip as the independent oracle for the physics engine (test helper only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import qutip

Array = npt.NDArray[np.complex128]


def qobj(m: npt.ArrayLike, n: int) -> qutip.Qobj:
    return qutip.Qobj(np.asarray(m, dtype=np.complex128), dims=[[2] * n, [2] * n])


def expand(op: qutip.Qobj, n: int, targets: Sequence[int]) -> qutip.Qobj:
    """``op`` on ``targets`` of an n-qubit register, identity elsewhere (qutip's own expansion)."""
    return qutip.expand_operator(op, dims=[2] * n, targets=list(targets))


def unitary_on(rho: Array, u: Array, n: int, targets: Sequence[int]) -> Array:
    big = expand(qobj(u, len(targets)), n, targets)
    out = big * qobj(rho, n) * big.dag()
    return np.asarray(out.full())


def kraus_on(rho: Array, kraus: Sequence[Array], n: int, targets: Sequence[int]) -> Array:
    r = qobj(rho, n)
    total = 0 * r
    for k in kraus:
        big = expand(qobj(k, len(targets)), n, targets)
        total = total + big * r * big.dag()
    return np.asarray(total.full())


def rand_dm(n: int, seed: int) -> Array:
    return np.asarray(qutip.rand_dm([2] * n, seed=seed).full())


def rand_unitary(n: int, seed: int) -> Array:
    return np.asarray(qutip.rand_unitary([2] * n, seed=seed).full())


def ptrace(rho: Array, n: int, keep: Sequence[int]) -> Array:
    """Reduced state of ``keep`` in the order given (qutip's ptrace sorts, so permute afterwards)."""
    r = qobj(rho, n)
    red = r.ptrace(sorted(keep))
    order = sorted(keep)
    perm = [order.index(q) for q in keep]
    if perm != list(range(len(keep))):
        red = red.permute(perm)
    return np.asarray(red.full())
