"""The joint quantum state of every simulated qubit of a run.

Hand-written because no well-kept library gives what the simulated lab needs: a lightweight, seeded
density-matrix world that several simulated nodes share (so that an entangled pair across two nodes is one
state), with noise applied lazily from elapsed time. qutip is far too slow per gate for this (it expands every
operator to the full register) and serves only as the test oracle.

Qubits have global integer ids. The state is kept as independent *blocks* (a tensor product of density
matrices); a multi-qubit operation merges the blocks it touches, and a measurement, reset or discard splits
the qubit off again, so that one-qubit work on separate qubits stays cheap. A k-qubit operator is applied to
an n-qubit block through reshaped views of the block's ``(2,) * 2n`` tensor, never by building a
``2^n x 2^n`` Kronecker product: the block is re-laid out (one transposed copy) so that the operator's qubits
come first, in the operator's order, and it stays that way, so repeated gates on the same qubits need no
re-layout; then ``U rho`` is one batched matmul on the row axes and ``(U rho) U^dagger`` one on the column
axes. Each block keeps a second buffer of its size and operations write into it (``out=``): allocating fresh
megabyte arrays per gate costs more than the arithmetic.

Ordering is big-endian everywhere: in a block, in ``apply_*`` and in :meth:`QuantumWorld.density_matrix`, the
first qubit id is the most significant (as ``np.kron`` and qutip's ``tensor``).
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sim_instruments.physics.channels import superoperator
from sim_instruments.physics.gates import ComplexMatrix

__all__ = ["QuantumWorld"]

_KET0 = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.complex128)
_KET1 = np.array([[0.0, 0.0], [0.0, 1.0]], dtype=np.complex128)
_STATE_TOL = 1e-8
_LETTERS = string.ascii_letters


class _Block:
    """Qubits whose joint state may be entangled, and their density matrix (big-endian in ``qids``).

    ``rho`` is always a C-contiguous ``2^n x 2^n`` array; ``spare`` is a buffer of the same shape that
    operations write into before the two are swapped.
    """

    __slots__ = ("_spare", "qids", "rho")

    def __init__(self, qids: list[int], rho: ComplexMatrix) -> None:
        self.qids = qids
        self.rho = np.ascontiguousarray(rho, dtype=np.complex128)
        self._spare: ComplexMatrix | None = None

    def spare(self) -> ComplexMatrix:
        if self._spare is None or self._spare.shape != self.rho.shape:
            self._spare = np.empty_like(self.rho)
        return self._spare

    def swap(self) -> None:
        """The spare buffer holds the new state: make it ``rho``."""
        assert self._spare is not None
        self.rho, self._spare = self._spare, self.rho

    def lead(self, qids: Sequence[int]) -> None:
        """Re-lay the block out so that ``qids`` are its first qubits, in this order."""
        k = len(qids)
        if self.qids[:k] == list(qids):
            return
        n = len(self.qids)
        first = [self.qids.index(q) for q in qids]
        order = first + [i for i in range(n) if i not in first]
        spare = self.spare()
        np.copyto(
            spare.reshape((2,) * (2 * n)), self.rho.reshape((2,) * (2 * n)).transpose(order + [n + i for i in order])
        )
        self.swap()
        self.qids = [self.qids[i] for i in order]


class QuantumWorld:
    """Density matrices of all simulated qubits of a run, kept as a product of independent blocks.

    Every random draw comes from ``rng`` (one seeded generator per run, see :mod:`.rng`).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._block_of: dict[int, _Block] = {}
        self._next_id = 0

    @property
    def rng(self) -> np.random.Generator:
        return self._rng

    # ---- qubits ----------------------------------------------------------------------------------

    def new_qubit(self) -> int:
        """A fresh qubit in |0>, in a block of its own. Returns its global id."""
        qid = self._next_id
        self._next_id += 1
        self._block_of[qid] = _Block([qid], _KET0.copy())
        return qid

    @property
    def qubit_ids(self) -> tuple[int, ...]:
        return tuple(self._block_of)

    def __contains__(self, qid: object) -> bool:
        return qid in self._block_of

    def discard(self, qid: int) -> None:
        """Trace the qubit out of the world; its id is not reused."""
        self._split_off(qid)
        del self._block_of[qid]

    def reset(self, qid: int) -> None:
        """Trace the qubit out of its block and put it back in |0>, alone."""
        self._split_off(qid)
        self._block_of[qid] = _Block([qid], _KET0.copy())

    def block_of(self, qid: int) -> tuple[int, ...]:
        """The ids that share ``qid``'s block (its own included), in the block's current internal order."""
        return tuple(self._block(qid).qids)

    def blocks(self) -> list[tuple[int, ...]]:
        """Every block's qubit ids."""
        seen: dict[int, tuple[int, ...]] = {}
        for b in self._block_of.values():
            seen.setdefault(id(b), tuple(b.qids))
        return list(seen.values())

    # ---- operations ------------------------------------------------------------------------------

    def apply_unitary(self, u: npt.NDArray[np.complex128], qids: Sequence[int]) -> None:
        """``rho -> U rho U^dagger`` with ``U`` acting on ``qids`` (big-endian, in the order given)."""
        k = len(qids)
        _check_operator(u, k, "unitary")
        block = self._merged(qids)
        if len(block.qids) == 1:  # the common case: a 1-qubit gate on a lone qubit
            block.rho = u @ block.rho @ u.conj().T
            return
        block.lead(qids)
        _left_multiply(block, u, k)
        _right_multiply_dagger(block, u, k)

    def apply_kraus(self, kraus_ops: Sequence[npt.NDArray[np.complex128]], qids: Sequence[int]) -> None:
        """``rho -> sum_i K_i rho K_i^dagger`` with the ``K_i`` acting on ``qids``."""
        if not kraus_ops:
            raise ValueError("a channel needs at least one Kraus operator")
        for k_op in kraus_ops:
            _check_operator(k_op, len(qids), "Kraus operator")
        self.apply_superop(superoperator(kraus_ops), qids)

    def apply_superop(self, superop: npt.NDArray[np.complex128], qids: Sequence[int]) -> None:
        """Apply a channel given as ``sum_i K_i (x) conj(K_i)`` (see :func:`.channels.superoperator`)."""
        k = len(qids)
        _check_operator(superop, 2 * k, "superoperator")
        block = self._merged(qids)
        n = len(block.qids)
        if n == 1:
            block.rho = (superop @ block.rho.reshape(-1)).reshape(block.rho.shape)
            return
        block.lead(qids)
        _apply_super_leading(block, superop, k)

    def measure(self, qid: int, p_flip_0: float = 0.0, p_flip_1: float = 0.0) -> int:
        """Projective Z measurement. The state collapses to the true outcome; the *reported* outcome is
        flipped with the readout error: ``p_flip_0 = P(read 1 | true 0)``, ``p_flip_1 = P(read 0 | true 1)``.

        The measured qubit leaves its block (it is in a product state now).
        """
        block = self._block(qid)
        n = len(block.qids)
        if n == 1:
            p1 = float(block.rho[1, 1].real)
        else:
            p1 = float(_reduced(block.rho, n, [block.qids.index(qid)])[1, 1].real)
        p1 = min(max(p1, 0.0), 1.0)
        outcome = 1 if self._rng.random() < p1 else 0
        if n > 1:
            pos = block.qids.index(qid)
            t = block.rho.reshape((2,) * (2 * n))
            index: list[int | slice] = [slice(None)] * (2 * n)
            index[pos] = outcome
            index[n + pos] = outcome
            rest = np.array(t[tuple(index)]).reshape(2 ** (n - 1), 2 ** (n - 1))
            rest = _sanitised(rest)
            others = [q for q in block.qids if q != qid]
            new_block = _Block(others, rest)
            for q in others:
                self._block_of[q] = new_block
        self._block_of[qid] = _Block([qid], (_KET1 if outcome else _KET0).copy())
        p_flip = p_flip_1 if outcome else p_flip_0
        if p_flip > 0.0 and self._rng.random() < p_flip:
            return 1 - outcome
        return outcome

    # ---- reading and writing states --------------------------------------------------------------

    def density_matrix(self, qids: Sequence[int]) -> npt.NDArray[np.complex128]:
        """The reduced density matrix of ``qids``, big-endian in the order given (a copy)."""
        qids = list(qids)
        _check_distinct(qids)
        if not qids:
            raise ValueError("density_matrix needs at least one qubit id")
        groups: dict[int, tuple[_Block, list[int]]] = {}
        for q in qids:
            b = self._block(q)
            groups.setdefault(id(b), (b, []))[1].append(q)
        rho: ComplexMatrix = np.ones((1, 1), dtype=np.complex128)
        order: list[int] = []
        for b, members in groups.values():
            part = _reduced(b.rho, len(b.qids), [b.qids.index(q) for q in members])
            rho = np.asarray(np.kron(rho, part), dtype=np.complex128)
            order += members
        if order == qids:
            return rho
        k = len(qids)
        perm = [order.index(q) for q in qids]
        t = rho.reshape((2,) * (2 * k)).transpose(perm + [k + p for p in perm])
        return np.ascontiguousarray(t).reshape(2**k, 2**k)

    def set_state(self, qids: Sequence[int], rho: npt.ArrayLike) -> None:
        """Put ``qids`` in the joint state ``rho`` (big-endian in the order given), e.g. a Bell pair.

        Each qubit is first traced out of its old block. ``rho`` must be a density matrix (hermitian,
        positive, trace 1).
        """
        qids = list(qids)
        _check_distinct(qids)
        for q in qids:
            self._block(q)
        state = np.array(rho, dtype=np.complex128)
        k = len(qids)
        if state.ndim == 1:  # a state vector
            if state.shape != (2**k,):
                raise ValueError(f"a state vector of {k} qubit(s) needs shape ({2**k},), got {state.shape}")
            state = np.outer(state, state.conj())
        _check_density_matrix(state, k)
        for q in qids:
            self._split_off(q)
        block = _Block(qids, state)
        for q in qids:
            self._block_of[q] = block

    # ---- internals -------------------------------------------------------------------------------

    def _block(self, qid: int) -> _Block:
        try:
            return self._block_of[qid]
        except KeyError:
            raise KeyError(f"no qubit with id {qid} in this world") from None

    def _merged(self, qids: Sequence[int]) -> _Block:
        """The one block holding all of ``qids``, merging blocks (tensor product) if needed."""
        first = self._block(qids[0])
        if len(qids) == 1:
            return first
        _check_distinct(qids)
        distinct: dict[int, _Block] = {id(first): first}
        for q in qids[1:]:
            b = self._block(q)
            distinct.setdefault(id(b), b)
        if len(distinct) == 1:
            return first
        parts = list(distinct.values())
        rho = parts[0].rho
        members = list(parts[0].qids)
        for b in parts[1:]:
            rho = np.asarray(np.kron(rho, b.rho), dtype=np.complex128)
            members += b.qids
        merged = _Block(members, rho)
        for q in members:
            self._block_of[q] = merged
        return merged

    def _split_off(self, qid: int) -> None:
        """Trace ``qid`` out of its block; the rest of the block keeps its reduced state."""
        block = self._block(qid)
        n = len(block.qids)
        if n == 1:
            return
        keep = [i for i, q in enumerate(block.qids) if q != qid]
        rest = _Block([block.qids[i] for i in keep], _reduced(block.rho, n, keep))
        for q in rest.qids:
            self._block_of[q] = rest
        self._block_of[qid] = _Block([qid], _reduced(block.rho, n, [block.qids.index(qid)]))


_CHUNK = 1024
"""Columns per matmul item: keeps each BLAS call small enough to stay single-threaded, which on small
machines is several times faster for these skinny products than a threaded call."""


def _batched_left(m: ComplexMatrix, src: ComplexMatrix, dst: ComplexMatrix, rows: int) -> None:
    """``dst = m @ src`` with src, dst viewed as ``(rows, -1)``, done as a batch of column chunks."""
    cols = src.size // rows
    chunk = min(cols, _CHUNK)
    shape = (rows, cols // chunk, chunk)
    np.matmul(m, src.reshape(shape).transpose(1, 0, 2), out=dst.reshape(shape).transpose(1, 0, 2))


def _left_multiply(block: _Block, u: ComplexMatrix, k: int) -> None:
    """``rho -> U rho`` with U on the block's first k qubits (row index)."""
    _batched_left(u, block.rho, block.spare(), 2**k)
    block.swap()


def _right_multiply_dagger(block: _Block, u: ComplexMatrix, k: int) -> None:
    """``rho -> rho U^dagger`` with U on the block's first k qubits (column index).

    ``(rho U^dagger)[r, (j, t)] = sum_c conj(U[j, c]) rho[r, (c, t)]``: a batch over rows r of
    ``conj(U) @ rho[r]`` with ``rho[r]`` viewed as ``(2^k, 2^(n-k))``.
    """
    d = block.rho.shape[0]
    shape = (d, 2**k, d >> k)
    np.matmul(u.conj(), block.rho.reshape(shape), out=block.spare().reshape(shape))
    block.swap()


def _apply_super_leading(block: _Block, superop: ComplexMatrix, k: int) -> None:
    """A superoperator on the block's first k qubits: gather their row and column indices next to each
    other (one transposed copy), one batched matmul, scatter back (one transposed copy)."""
    d = block.rho.shape[0]
    dk, m = 2**k, d >> k
    spare = block.spare()
    np.copyto(spare.reshape(dk, dk, m, m), block.rho.reshape(dk, m, dk, m).transpose(0, 2, 1, 3))
    _batched_left(superop, spare, block.rho, dk * dk)  # block.rho is free to serve as the output here
    np.copyto(spare.reshape(dk, m, dk, m), block.rho.reshape(dk, dk, m, m).transpose(0, 2, 1, 3))
    block.swap()


def _reduced(rho: ComplexMatrix, n: int, keep: list[int]) -> ComplexMatrix:
    """Partial trace keeping block positions ``keep``, in that order."""
    k = len(keep)
    if k == n and keep == list(range(n)):
        return rho.copy()
    rows = list(_LETTERS[:n])
    cols = list(_LETTERS[n : 2 * n])
    keep_set = set(keep)
    for i in range(n):
        if i not in keep_set:
            cols[i] = rows[i]
    out = "".join(rows[i] for i in keep) + "".join(cols[i] for i in keep)
    spec = "".join(rows) + "".join(cols) + "->" + out
    red = np.einsum(spec, rho.reshape((2,) * (2 * n)))
    return np.ascontiguousarray(red).reshape(2**k, 2**k)


def _sanitised(rho: ComplexMatrix) -> ComplexMatrix:
    """Hermitian part, renormalised to trace 1 (keeps rounding from building up after a collapse)."""
    herm: ComplexMatrix = 0.5 * (rho + rho.conj().T)
    return herm / float(herm.trace().real)


def _check_operator(m: npt.NDArray[np.complex128], k: int, what: str) -> None:
    if k == 0:
        raise ValueError(f"a {what} needs at least one qubit")
    d = 2**k
    if m.shape != (d, d):
        raise ValueError(
            f"a {what} on {k // 2 if what == 'superoperator' else k} qubit(s) must be {d}x{d}, got shape {m.shape}"
        )


def _check_distinct(qids: Sequence[int]) -> None:
    if len(set(qids)) != len(qids):
        raise ValueError(f"qubit ids must be distinct, got {list(qids)}")


def _check_density_matrix(rho: ComplexMatrix, k: int) -> None:
    d = 2**k
    if rho.shape != (d, d):
        raise ValueError(f"a state of {k} qubit(s) must be {d}x{d}, got shape {rho.shape}")
    if not np.allclose(rho, rho.conj().T, atol=_STATE_TOL):
        raise ValueError("a density matrix must be hermitian")
    if abs(rho.trace() - 1.0) > _STATE_TOL:
        raise ValueError(f"a density matrix must have trace 1, got {rho.trace().real:.12g}")
    if np.linalg.eigvalsh(rho).min() < -_STATE_TOL:
        raise ValueError("a density matrix must be positive semidefinite")
