"""The translator: logical gates on physical qubits -> native physical instructions of one QDevice.

The executor calls :meth:`Translator.gate` for every quantum NetQASM instruction (after the memory manager has
mapped virtual to physical qubits), so results are cached per ``(gate, qubits, angle)`` and the instructions
themselves are interned (one object per distinct instruction). Only what the :class:`QDeviceSpec` declares is
emitted. Every equality is up to a global phase.

How a gate is lowered:

1. It becomes a short circuit of one-qubit unitaries and native two-qubit instructions. Two-qubit gates go
   through CNOT, unless the device has a shortcut (native CZ for CPHASE, native CROT for CROT_X/Y, native MS
   for MS). CNOT(c, t) is the device's cnot; else H_t CZ H_t; else the NV crot
   ``CNOT = (S_c (x) R_x(pi/2)_t) CROT_X(-pi/2)``; else the ion ``MS(pi/2)`` with one-qubit corrections; else
   the reverse direction with ``(H (x) H)`` on both sides; else a bridge through a qubit h coupled to both
   (``CNOT(c,h) CNOT(h,t) CNOT(c,h) CNOT(h,t)``, which leaves h as it was, whatever its state).
2. Adjacent one-qubit unitaries on a qubit are multiplied together and each product becomes at most one
   Euler decomposition (ZYZ, ZXZ, XYX... with the axes the qubit offers), or a single native rotation.
3. A rotation that the device has only as a global beam (ions: ROT must name all qubits) is made individual:
   ``R_a(theta)_k = G_a(theta/2) R_b(pi)_k G_a(-theta/2) R_b(-pi)_k`` for an individually addressed axis b
   orthogonal to a (``R_b(pi)`` flips the sign of sigma_a on ion k only, so the other ions see
   ``G(theta/2) G(-theta/2) = I``).

Where a choice exists (several routes, several Euler axis pairs), the one with the fewest two-qubit
instructions, then the fewest instructions, then the shortest total native duration wins.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from qlab_os.errors import UnsupportedInstructionError
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.spec import QDeviceSpec
from qlab_os.qnpu.euler import (
    IDENTITY,
    as_rotation,
    euler_angles,
    is_identity,
    is_zero_angle,
    normalize_angle,
    rotation,
)
from qlab_os.qnpu.gates import ONE_QUBIT_GATES, Gate, Matrix, one_qubit_matrix

_PI = float(np.pi)
_H: Matrix = one_qubit_matrix(Gate.H)
_S: Matrix = one_qubit_matrix(Gate.S)
_S_DAG: Matrix = _S.conj().T
_X: Matrix = one_qubit_matrix(Gate.X)
_CROT_AXIS = {Gate.CROT_X: Axis.X, Gate.CROT_Y: Axis.Y}
_ROT_AXIS = {Gate.ROT_X: Axis.X, Gate.ROT_Y: Axis.Y, Gate.ROT_Z: Axis.Z}
_TWO_QUBIT_OPS = frozenset({PhysicalOp.CNOT, PhysicalOp.CZ, PhysicalOp.CROT, PhysicalOp.MS})


@dataclass(frozen=True, eq=False, slots=True)
class _U1:
    """A one-qubit unitary, not yet lowered."""

    qubit: int
    matrix: Matrix


_Op = _U1 | PhysicalInstruction
_Circuit = list[_Op]
_Cost = tuple[int, int, int]
_K = TypeVar("_K")
_V = TypeVar("_V")
CACHE_LIMIT = 1 << 16
_SHARED: dict[int, Translator] = {}
_SHARED_LIMIT = 64
"""Entries per memo (gates, two-qubit circuits, one-qubit decompositions) before it is cleared."""
_MeasurePlan = tuple[tuple[PhysicalInstruction, ...], PhysicalInstruction, tuple[PhysicalInstruction, ...]]


class _NoRoute(Exception):
    """Internal: this device cannot do it (caught where alternatives exist, else turned into a user error)."""


class Translator:
    """Turns logical gates on physical qubits into native physical instructions of ``spec``.

    Pure and deterministic: it never touches hardware, and the same question always gets the same (cached,
    identical) answer. One translator per QDevice.
    """

    def __init__(self, spec: QDeviceSpec) -> None:
        self.spec = spec
        self._all = tuple(range(spec.num_qubits))
        self._interned: dict[PhysicalInstruction, PhysicalInstruction] = {}
        self._gate_cache: dict[tuple[Gate, tuple[int, ...], float], tuple[PhysicalInstruction, ...]] = {}
        self._two_cache: dict[tuple[Gate, int, int, float], _Circuit | None] = {}
        self._cnot_cache: dict[tuple[int, int], _Circuit | None] = {}
        self._direct_cache: dict[tuple[int, int], _Circuit | None] = {}
        self._u1_cache: dict[tuple[int, bytes], list[PhysicalInstruction]] = {}
        self._init_cache: dict[int, tuple[PhysicalInstruction, ...]] = {}
        self._measure_cache: dict[int, _MeasurePlan] = {}

    @classmethod
    def for_spec(cls, spec: QDeviceSpec) -> Translator:
        """The shared translator of ``spec``: it is pure, so every node built from the same spec object (a
        network rebuilt each round) reuses one, with its caches warm."""
        found = _SHARED.get(id(spec))
        if found is not None and found.spec is spec:
            return found
        if len(_SHARED) >= _SHARED_LIMIT:
            _SHARED.clear()
        translator = _SHARED[id(spec)] = cls(spec)
        return translator

    # ------------------------------------------------------------------ public API

    def gate(
        self, gate: Gate, qubits: tuple[int, ...], angle_rad: float = 0.0
    ) -> tuple[PhysicalInstruction, ...]:
        """The native instructions that carry out ``gate`` on physical ``qubits`` (none for an identity).

        ``angle_rad`` is used by ROT_*, CROT_* and MS only. Raises :class:`UnsupportedInstructionError` when
        the qubits are invalid or the device has no way to do it.
        """
        key = (gate, qubits, float(angle_rad) if gate.has_angle else 0.0)
        hit = self._gate_cache.get(key)
        if hit is not None:
            return hit
        self._check_qubits(gate, qubits)
        if not math.isfinite(key[2]):
            raise UnsupportedInstructionError(f"{gate.name} on qubits {qubits}: angle {angle_rad} is not finite")
        try:
            circuit = self._circuit(gate, qubits, key[2])
            if circuit is None:
                raise _NoRoute("no route between these qubits through native two-qubit gates")
            result = tuple(self._lower(circuit))
        except _NoRoute as exc:
            raise UnsupportedInstructionError(
                f"{gate.name} on qubits {qubits}: device '{self.spec.name}' cannot do it with its native "
                f"instructions ({exc})"
            ) from None
        _remember(self._gate_cache, key, result)
        return result

    def init(self, qubit: int) -> tuple[PhysicalInstruction, ...]:
        """Native INIT of ``qubit`` (reset to |0>)."""
        hit = self._init_cache.get(qubit)
        if hit is not None:
            return hit
        self._check_range("INIT", (qubit,))
        if not self.spec.supports(PhysicalOp.INIT, (qubit,)):
            raise UnsupportedInstructionError(
                f"INIT on qubit {qubit}: device '{self.spec.name}' has no native init addressing that qubit "
                "alone"
            )
        result = (self._intern(PhysicalInstruction(PhysicalOp.INIT, (qubit,))),)
        self._init_cache[qubit] = result
        return result

    def measure(self, qubit: int) -> _MeasurePlan:
        """``(pre, meas, post)``: run pre, then the single MEAS (``outcomes[0]`` is the result), then post.

        With a native MEAS on ``qubit``, pre and post are empty. Otherwise (NV carbons: only the electron is
        read out) a helper e with a native MEAS is used: pre = SWAP(e, q), MEAS on e, post = SWAP(e, q).
        This is exactly a measurement of q, since ``SWAP P_m(e) SWAP = P_m(q)`` for both projectors: after
        the MEAS, e holds the collapsed |m> and q holds e's earlier state; the second SWAP puts |m> on q and
        gives e back its earlier state, including its correlations with other qubits (so the helper's state
        is not overwritten, on an ideal device). The price is two SWAPs of native gates, with their noise.
        """
        hit = self._measure_cache.get(qubit)
        if hit is not None:
            return hit
        self._check_range("MEAS", (qubit,))
        if self.spec.supports(PhysicalOp.MEAS, (qubit,)):
            result: _MeasurePlan = ((), self._intern(PhysicalInstruction(PhysicalOp.MEAS, (qubit,))), ())
        else:
            best: tuple[_Cost, int, tuple[PhysicalInstruction, ...]] | None = None
            for helper in self._all:
                if helper == qubit or not self.spec.supports(PhysicalOp.MEAS, (helper,)):
                    continue
                try:
                    swap = self.gate(Gate.SWAP, (helper, qubit))
                except UnsupportedInstructionError:
                    continue
                cost = self._cost(swap)
                if best is None or cost < best[0]:
                    best = (cost, helper, swap)
            if best is None:
                raise UnsupportedInstructionError(
                    f"MEAS on qubit {qubit}: device '{self.spec.name}' has no native measurement of that "
                    "qubit and no measurable qubit it can swap with"
                )
            _, helper, swap = best
            result = (swap, self._intern(PhysicalInstruction(PhysicalOp.MEAS, (helper,))), swap)
        self._measure_cache[qubit] = result
        return result

    def duration_ns(self, instrs: Iterable[PhysicalInstruction]) -> int:
        """Sum of the native durations of ``instrs`` (NONE counts its own ``duration_ns``), for planning."""
        total = 0
        for instr in instrs:
            if instr.op is PhysicalOp.NONE:
                total += instr.duration_ns
                continue
            native = self.spec.native(instr.op, instr.qubits, instr.axis)
            if native is None:
                raise UnsupportedInstructionError(f"'{instr}' is not native on device '{self.spec.name}'")
            total += native.duration_ns
        return total

    # ------------------------------------------------------------------ checks

    def _check_range(self, what: str, qubits: tuple[int, ...]) -> None:
        n = self.spec.num_qubits
        if any(not 0 <= q < n for q in qubits):
            raise UnsupportedInstructionError(
                f"{what} on qubits {qubits}: device '{self.spec.name}' has qubits 0..{n - 1} only"
            )

    def _check_qubits(self, gate: Gate, qubits: tuple[int, ...]) -> None:
        want = gate.num_qubits
        if (want is not None and len(qubits) != want) or (want is None and len(qubits) < 2):
            need = "two or more" if want is None else str(want)
            raise UnsupportedInstructionError(f"{gate.name} acts on {need} qubits, got {qubits}")
        if len(set(qubits)) != len(qubits):
            raise UnsupportedInstructionError(f"{gate.name} on qubits {qubits}: the qubits must differ")
        self._check_range(gate.name, qubits)

    # ------------------------------------------------------------------ logical circuits

    def _circuit(self, gate: Gate, qubits: tuple[int, ...], angle: float) -> _Circuit | None:
        if gate.has_angle and is_zero_angle(angle):
            return []  # R(0), CROT(0), MS(0) and their 2 pi multiples are the identity up to a global phase
        if gate in _ROT_AXIS:  # fast path: one native rotation, or the global-beam trick (nothing is shorter)
            direct = self._rot(qubits[0], _ROT_AXIS[gate], angle)
            if direct is not None:
                return list(direct)
        if gate in ONE_QUBIT_GATES:
            return [_U1(qubits[0], one_qubit_matrix(gate, angle))]
        if gate is Gate.MS and len(qubits) > 2:
            return self._multi_ms(qubits, angle)
        return self._two(gate, qubits[0], qubits[1], angle)

    def _multi_ms(self, qubits: tuple[int, ...], angle: float) -> _Circuit | None:
        if tuple(sorted(qubits)) == self._all and self.spec.supports(PhysicalOp.MS, self._all):
            return self._native_ms(self._all, angle)
        circuit: _Circuit = []
        for a, b in itertools.combinations(qubits, 2):  # the pairwise XX terms commute
            pair = self._two(Gate.MS, a, b, angle)
            if pair is None:
                return None
            circuit += pair
        return circuit

    def _native_ms(self, qubits: tuple[int, ...], angle: float) -> _Circuit:
        if is_zero_angle(angle):
            return []
        return [PhysicalInstruction(PhysicalOp.MS, qubits, angle_rad=normalize_angle(angle))]

    def _two(self, gate: Gate, a: int, b: int, angle: float) -> _Circuit | None:
        """The cheapest circuit for a two-qubit gate, or None if there is no route."""
        key = (gate, a, b, angle)
        if key in self._two_cache:
            return self._two_cache[key]
        if gate is Gate.CNOT:
            result = self._cnot(a, b)
        else:
            candidates = self._shortcuts(gate, a, b, angle) + self._via_cnot(gate, a, b, angle)
            if not self._coupled(a, b):
                candidates += self._via_swap(gate, a, b, angle)
            result = self._cheapest(candidates)
        _remember(self._two_cache, key, result)
        return result

    def _shortcuts(self, gate: Gate, a: int, b: int, angle: float) -> list[_Circuit]:
        """Circuits that use a native instruction matching the gate itself."""
        spec, out = self.spec, list[_Circuit]()
        if gate is Gate.CPHASE:
            pairs = [p for p in ((a, b), (b, a)) if spec.supports(PhysicalOp.CZ, p)]
            out += [[PhysicalInstruction(PhysicalOp.CZ, p)] for p in pairs[:1]]
        elif gate is Gate.MS:
            out += [self._native_ms(p, angle) for p in self._ms_pairs(a, b)]
        elif gate in _CROT_AXIS:
            axis = _CROT_AXIS[gate]
            theta = normalize_angle(angle)
            if spec.supports(PhysicalOp.CROT, (a, b), axis):
                out.append([PhysicalInstruction(PhysicalOp.CROT, (a, b), axis, theta)])
            other = Axis.Y if axis is Axis.X else Axis.X
            if spec.supports(PhysicalOp.CROT, (a, b), other):
                # S X S^dag = Y, so CROT_Y = S_b CROT_X S_b^dag and CROT_X = S_b^dag CROT_Y S_b.
                before, after = (_S_DAG, _S) if axis is Axis.Y else (_S, _S_DAG)
                crot = PhysicalInstruction(PhysicalOp.CROT, (a, b), other, theta)
                out.append([_U1(b, before), crot, _U1(b, after)])
        return out

    def _via_cnot(self, gate: Gate, a: int, b: int, angle: float) -> list[_Circuit]:
        """Circuits built from CNOTs (and CZs) with one-qubit gates around them."""
        ab, ba = self._cnot(a, b), self._cnot(b, a)
        out: list[_Circuit] = []
        if gate is Gate.CPHASE:  # CZ = H_b CNOT(a,b) H_b, symmetric
            out += [[_U1(t, _H), *cx, _U1(t, _H)] for t, cx in ((b, ab), (a, ba)) if cx is not None]
        elif gate in _CROT_AXIS:
            # Z_b flips the sign of sigma_x and sigma_y, so CROT_a(theta) = CZ R_a(theta)_b CZ; for Y also
            # X_b does: CROT_Y(theta) = CNOT R_y(theta)_b CNOT.
            turn = _U1(b, rotation(_CROT_AXIS[gate], angle))
            cz = self._two(Gate.CPHASE, a, b, 0.0)
            if cz is not None:
                out.append([*cz, turn, *cz])
            if gate is Gate.CROT_Y and ab is not None:
                out.append([*ab, turn, *ab])
        elif gate is Gate.SWAP and ab is not None and ba is not None:
            out += [[*ab, *ba, *ab], [*ba, *ab, *ba]]
        elif gate is Gate.MS:  # exp(-i t/2 XX) = (H (x) H) CNOT R_z(t)_target CNOT (H (x) H)
            hh = [_U1(a, _H), _U1(b, _H)]
            out += [[*hh, *cx, _U1(t, rotation(Axis.Z, angle)), *cx, *hh] for t, cx in ((b, ab), (a, ba))
                    if cx is not None]
        return out

    def _via_swap(self, gate: Gate, a: int, b: int, angle: float) -> list[_Circuit]:
        """For uncoupled a, b: move a (or b) next to the other with a SWAP, do the gate, swap back."""
        out: list[_Circuit] = []
        for moved, other in ((a, b), (b, a)):
            path = self._path(moved, other)
            if path is None:
                continue
            h = path[1]
            swap = self._two(Gate.SWAP, h, moved, 0.0)
            inner = self._two(gate, h, other, angle) if moved == a else self._two(gate, other, h, angle)
            if swap is not None and inner is not None:
                out.append([*swap, *inner, *swap])
        return out

    # ------------------------------------------------------------------ CNOT and connectivity

    def _cnot(self, c: int, t: int) -> _Circuit | None:
        key = (c, t)
        if key in self._cnot_cache:
            return self._cnot_cache[key]
        self._cnot_cache[key] = None  # guards against cycles while routing
        candidates: list[_Circuit] = []
        direct, reverse = self._direct_cnot(c, t), self._direct_cnot(t, c)
        if direct is not None:
            candidates.append(direct)
        if reverse is not None:  # CNOT(c,t) = (H (x) H) CNOT(t,c) (H (x) H)
            hh = [_U1(c, _H), _U1(t, _H)]
            candidates.append([*hh, *reverse, *hh])
        if not candidates:
            path = self._path(c, t)
            if path is not None:
                h = path[1]  # c ^= ... : (c, h, t) -> (c, h^c, t^h^c) -> (c, h, t^h^c) -> (c, h, t^c)
                ch, ht = self._cnot(c, h), self._cnot(h, t)
                if ch is not None and ht is not None:
                    candidates.append([*ch, *ht, *ch, *ht])
        result = self._cheapest(candidates)
        self._cnot_cache[key] = result
        return result

    def _direct_cnot(self, c: int, t: int) -> _Circuit | None:
        """CNOT(c, t) from one native two-qubit instruction on this pair (in either order where symmetric)."""
        key = (c, t)
        if key in self._direct_cache:
            return self._direct_cache[key]
        spec, candidates = self.spec, list[_Circuit]()
        if spec.supports(PhysicalOp.CNOT, (c, t)):
            candidates.append([PhysicalInstruction(PhysicalOp.CNOT, (c, t))])
        for pair in ((c, t), (t, c)):
            if spec.supports(PhysicalOp.CZ, pair):
                candidates.append([_U1(t, _H), PhysicalInstruction(PhysicalOp.CZ, pair), _U1(t, _H)])
        for axis, basis in ((Axis.X, IDENTITY), (Axis.Y, _S_DAG)):
            if spec.supports(PhysicalOp.CROT, (c, t), axis):
                # CROT_a(-pi/2) = (I (x) R_a(-pi/2)) (diag(1,-i) (x) I) C-sigma_a;
                # basis sigma_a basis^dag = X turns C-sigma_a into CNOT.
                candidates.append([
                    _U1(t, basis.conj().T),
                    PhysicalInstruction(PhysicalOp.CROT, (c, t), axis, -_PI / 2),
                    _U1(t, rotation(axis, _PI / 2)),
                    _U1(c, _S),
                    _U1(t, basis),
                ])
        for pair in self._ms_pairs(c, t):
            # CNOT = exp(i pi/4 (1 - Z_c)(1 - X_t)) = R_z(pi/2)_c R_x(pi/2)_t exp(i pi/4 Z_c X_t), and with
            # V = R_y(-pi/2) (V X V^dag = Z): exp(i pi/4 Z_c X_t) = V_c MS(-pi/2) V_c^dag, where
            # MS(-pi/2) = MS(pi/2) (X (x) X). Only pure R_y / R_x on the ions: cheap with global beams.
            candidates.append([
                _U1(c, rotation(Axis.Y, _PI / 2)),
                PhysicalInstruction(PhysicalOp.MS, pair, angle_rad=_PI / 2),
                _U1(c, _X), _U1(t, _X),
                _U1(c, rotation(Axis.Y, -_PI / 2)), _U1(c, rotation(Axis.Z, _PI / 2)),
                _U1(t, rotation(Axis.X, _PI / 2)),
            ])
        result = self._cheapest(candidates)
        self._direct_cache[key] = result
        return result

    def _ms_pairs(self, a: int, b: int) -> list[tuple[int, int]]:
        """The first order of (a, b) that a native MS accepts (MS is symmetric; a global one wants 0..n-1)."""
        return [p for p in ((a, b), (b, a)) if self.spec.supports(PhysicalOp.MS, p)][:1]

    def _coupled(self, a: int, b: int) -> bool:
        return self._direct_cnot(a, b) is not None or self._direct_cnot(b, a) is not None

    def _path(self, start: int, goal: int) -> list[int] | None:
        """A shortest path of coupled qubits from start to goal (breadth first), or None."""
        previous: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            q = queue.popleft()
            if q == goal:
                path = [goal]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1]
            for nxt in self._all:
                if nxt not in previous and self._coupled(q, nxt):
                    previous[nxt] = q
                    queue.append(nxt)
        return None

    # ------------------------------------------------------------------ lowering to natives

    def _cheapest(self, candidates: Sequence[_Circuit]) -> _Circuit | None:
        best: tuple[_Cost, _Circuit] | None = None
        for circuit in candidates:
            try:
                cost = self._cost(self._lower(circuit))
            except _NoRoute:
                continue
            if best is None or cost < best[0]:
                best = (cost, circuit)
        return None if best is None else best[1]

    def _cost(self, instrs: Sequence[PhysicalInstruction]) -> _Cost:
        """Two-qubit instructions first (they dominate noise and time), then all instructions, then time."""
        two = sum(1 for i in instrs if i.op in _TWO_QUBIT_OPS)
        return two, len(instrs), self.duration_ns(instrs)

    def _lower(self, circuit: _Circuit) -> list[PhysicalInstruction]:
        """Natives for a circuit: adjacent one-qubit unitaries on a qubit are merged, then decomposed."""
        out: list[PhysicalInstruction] = []
        pending: dict[int, Matrix] = {}
        for op in circuit:
            if isinstance(op, _U1):
                pending[op.qubit] = op.matrix @ pending.get(op.qubit, IDENTITY)
                continue
            for q in op.qubits:
                if q in pending:
                    out += self._lower_u1(q, pending.pop(q))
            out.append(self._intern(op))
        for q in sorted(pending):
            out += self._lower_u1(q, pending[q])
        return out

    def _lower_u1(self, qubit: int, u: Matrix) -> list[PhysicalInstruction]:
        key = (qubit, np.round(u, 12).tobytes())
        hit = self._u1_cache.get(key)
        if hit is not None:
            return hit
        if is_identity(u):
            return []
        usable = [a for a in Axis if self._rot(qubit, a, _PI / 2) is not None]
        candidates: list[list[PhysicalInstruction]] = []
        for axis in usable:
            theta = as_rotation(u, axis)
            if theta is not None:
                candidates.append(self._rot(qubit, axis, theta) or [])
        for outer, inner in itertools.permutations(usable, 2):
            a, b, c = euler_angles(u, outer, inner)
            parts = [self._rot(qubit, outer, c), self._rot(qubit, inner, b), self._rot(qubit, outer, a)]
            candidates.append(_merge_rotations([i for part in parts for i in part or []]))
        if not candidates:
            have = ", ".join(a.value for a in usable) or "none"
            raise _NoRoute(f"qubit {qubit} needs a one-qubit rotation its native axes ({have}) cannot make")
        best = min(candidates, key=self._cost)
        result = [self._intern(i) for i in best]
        _remember(self._u1_cache, key, result)
        return result

    def _rot(self, qubit: int, axis: Axis, angle: float) -> list[PhysicalInstruction] | None:
        """``R_axis(angle)`` on ``qubit`` alone, individually or with a global beam; None if impossible."""
        if is_zero_angle(angle):
            return []
        theta = normalize_angle(angle)
        if self.spec.supports(PhysicalOp.ROT, (qubit,), axis):
            return [PhysicalInstruction(PhysicalOp.ROT, (qubit,), axis, theta)]
        if not self.spec.supports(PhysicalOp.ROT, self._all, axis):
            return None
        for helper in Axis:
            if helper is not axis and self.spec.supports(PhysicalOp.ROT, (qubit,), helper):
                return [
                    PhysicalInstruction(PhysicalOp.ROT, self._all, axis, theta / 2),
                    PhysicalInstruction(PhysicalOp.ROT, (qubit,), helper, _PI),
                    PhysicalInstruction(PhysicalOp.ROT, self._all, axis, -theta / 2),
                    PhysicalInstruction(PhysicalOp.ROT, (qubit,), helper, _PI),  # R(-pi) up to phase
                ]
        return None

    def _intern(self, instr: PhysicalInstruction) -> PhysicalInstruction:
        return self._interned.setdefault(instr, instr)


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """Store in a memo that is cleared when it gets large (arbitrary angles would grow it without end)."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _merge_rotations(instrs: list[PhysicalInstruction]) -> list[PhysicalInstruction]:
    """Merge neighbouring rotations about the same axis on the same qubits; drop those that vanish."""
    out: list[PhysicalInstruction] = []
    for instr in instrs:
        last = out[-1] if out else None
        if last is not None and (last.op, last.axis, last.qubits) == (instr.op, instr.axis, instr.qubits):
            out.pop()
            total = last.angle_rad + instr.angle_rad
            if not is_zero_angle(total):
                out.append(PhysicalInstruction(instr.op, instr.qubits, instr.axis, normalize_angle(total)))
        else:
            out.append(instr)
    return out
