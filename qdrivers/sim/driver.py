"""The ``sim`` QDriver: physical instructions straight on the physics engine, no instruments.

Each device is a spec YAML in ``qdrivers/sim/specs``. The driver allocates the device's qubits in a
:class:`~sim_instruments.physics.world.QuantumWorld` (its own, or one shared by several simulated nodes) and
carries out every physical instruction with the exact unitary fixed in :mod:`qlab_os.qdevice.instructions`.

Noise, all from the spec:

- **Idle decoherence, lazily.** Each qubit remembers when its state was last brought up to date. Before an
  instruction touches it, the T1/T2 channel for the time since then (read from the injected clock) is applied.
  Qubits nobody touches cost nothing. The channels of consecutive idles compose exactly, so laziness changes
  no result.
- **Gate error.** After a gate, the native's ``depolarising_prob``: one-qubit depolarising on each qubit for
  one-qubit ops, two-qubit depolarising for two-qubit ops. An MS gate on more than two ions gets one-qubit
  depolarising on each ion (a simple, documented approximation). For INIT and MEAS the same probability, if
  set, depolarises the qubit after the action (imperfect preparation / disturbed post-measurement state).
- **Readout error** on MEAS, from ``readout.p_flip_0`` / ``p_flip_1``.

While an instruction runs its qubits do not idle-decohere: their "last updated" time becomes
``now + duration_ns`` (gate noise covers that time). The driver never advances the clock; the kernel does.

ENT needs an entanglement link (the network stack, a later part). Links attach by name with
:meth:`SimQDriver.attach_link` and share the world, so that the two halves of a pair are one state.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from qlab_os.clock import Clock
from qlab_os.errors import UnknownQDriverError, UnsupportedInstructionError
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.instructions import (
    Axis,
    EntParams,
    PhysicalInstruction,
    PhysicalOp,
    PhysicalResponse,
)
from qlab_os.qdevice.spec import NativeGateSpec, QDeviceSpec, load_spec
from sim_instruments.physics import channels, gates
from sim_instruments.physics.gates import AxisName, ComplexMatrix
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

__all__ = ["EntanglementLink", "SimQDriver"]


class EntanglementLink(Protocol):
    """What serves ENT for a :class:`SimQDriver`: a heralded link model living in the same world.

    ``attempt`` makes one attempt on the world qubit ``qubit_id`` starting at ``start_ns`` and answers as the
    QDriver would (``duration_ns``, ``heralded``, ``bell_index``, ``outcomes`` in measure mode).
    """

    def attempt(self, qubit_id: int, params: EntParams, start_ns: int) -> PhysicalResponse: ...


_AXIS_NAMES: dict[Axis, AxisName] = {Axis.X: "x", Axis.Y: "y", Axis.Z: "z"}
_CACHE_SIZE = 4096

# Gate matrices and noise superoperators, cached: the translator emits few distinct angles and durations.
_rotation = functools.lru_cache(maxsize=_CACHE_SIZE)(gates.r)
_crot = functools.lru_cache(maxsize=_CACHE_SIZE)(gates.crot)
_ms = functools.lru_cache(maxsize=_CACHE_SIZE)(gates.ms)
_TWO_QUBIT_FIXED: dict[PhysicalOp, ComplexMatrix] = {PhysicalOp.CNOT: gates.CNOT, PhysicalOp.CZ: gates.CZ}


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _idle_superop(elapsed_ns: int, t1_ns: float, t2_ns: float) -> ComplexMatrix:
    return _frozen(channels.superoperator(channels.idle_kraus(float(elapsed_ns), t1_ns, t2_ns)))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _noisy_rotation_superop(axis: AxisName, angle_rad: float, p: float) -> ComplexMatrix:
    """The rotation followed by its depolarising noise, as one superoperator: one contraction per qubit."""
    u = _rotation(axis, angle_rad)
    superop = channels.superoperator([u])
    if p > 0.0:
        superop = _depol_superop(p, 1) @ superop
    return _frozen(superop)


@functools.lru_cache(maxsize=256)
def _depol_superop(p: float, num_qubits: int) -> ComplexMatrix:
    kraus = channels.depolarising(p) if num_qubits == 1 else channels.depolarising_2q(p)
    return _frozen(channels.superoperator(kraus))


def _frozen(m: ComplexMatrix) -> ComplexMatrix:
    m.setflags(write=False)
    return m


_Handler = Callable[["SimQDriver", PhysicalInstruction, NativeGateSpec, int], PhysicalResponse]


class SimQDriver(QDriver):
    """A simulated QDevice on the physics engine.

    ``world`` lets several drivers (nodes) share one joint state; without it the driver makes its own, seeded
    with ``seed``. A shared world brings its own seeded generator, so ``seed`` must then be None.
    """

    name: ClassVar[str] = "sim"
    _DEVICES: ClassVar[tuple[str, ...]] = ("sim-generic", "sim-nv", "sim-ion")

    def __init__(
        self, spec: QDeviceSpec, clock: Clock, world: QuantumWorld | None = None, seed: int | None = None
    ) -> None:
        if world is not None and seed is not None:
            raise ValueError("seed is only for a world of the driver's own; a shared world is already seeded")
        self._spec = spec
        self._clock = clock
        self._world = world if world is not None else QuantumWorld(make_rng(seed))
        self._qids = tuple(self._world.new_qubit() for _ in spec.qubits)
        self._t1_ns = tuple(q.t1_ns for q in spec.qubits)
        self._t2_ns = tuple(q.t2_ns for q in spec.qubits)
        self._decays = tuple(math.isfinite(q.t1_ns) or math.isfinite(q.t2_ns) for q in spec.qubits)
        now = clock.now_ns()
        self._last_ns = [now] * spec.num_qubits
        self._links: dict[str, EntanglementLink] = {}

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def device_names(cls) -> tuple[str, ...]:
        return cls._DEVICES

    @classmethod
    def for_device(
        cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False
    ) -> SimQDriver:
        return cls(cls.load_device_spec(device, ideal=ideal), clock, seed=seed)

    @classmethod
    def load_device_spec(cls, device: str, *, ideal: bool = False) -> QDeviceSpec:
        """The spec of one of :meth:`device_names`, from the YAML shipped in ``qdrivers/sim/specs``."""
        if device not in cls._DEVICES:
            raise UnknownQDriverError(
                f"the sim driver has no device {device!r}; known devices: {', '.join(cls._DEVICES)}"
            )
        ref = importlib.resources.files("qdrivers.sim").joinpath("specs", f"{device}.yaml")
        with importlib.resources.as_file(ref) as path:
            spec = load_spec(path)
        return spec.ideal() if ideal else spec

    # ---- the contract ----------------------------------------------------------------------------

    @property
    def spec(self) -> QDeviceSpec:
        return self._spec

    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        op = instruction.op
        if op is PhysicalOp.NONE:  # idling is always possible; qubits decohere lazily
            if instruction.duration_ns < 0:
                raise UnsupportedInstructionError(
                    f"'{instruction}' on device {self._spec.name!r}: cannot idle for a negative time"
                )
            return PhysicalResponse(duration_ns=instruction.duration_ns)
        native = self._spec.native(op, instruction.qubits, instruction.axis)
        if native is None:
            raise UnsupportedInstructionError(self._unsupported_message(instruction))
        return self._HANDLERS[op](self, instruction, native, self._clock.now_ns())

    def reset(self) -> None:
        for qid in self._qids:
            self._world.reset(qid)
        self._last_ns = [self._clock.now_ns()] * self._spec.num_qubits

    def safe_state(self) -> None:
        """Nothing to switch off: a simulated device has no outputs. Never raises."""

    def qubit_state(self, qubits: tuple[int, ...]) -> npt.NDArray[np.complex128] | None:
        for i in qubits:
            self._check_index(i)
        now = self._clock.now_ns()
        for i in qubits:
            self._catch_up(i, now)
        return self._world.density_matrix([self._qids[i] for i in qubits])

    # ---- simulation extras -----------------------------------------------------------------------

    @property
    def world(self) -> QuantumWorld:
        return self._world

    @property
    def qubit_ids(self) -> tuple[int, ...]:
        """World ids of the device's qubits, by physical index."""
        return self._qids

    def attach_link(self, name: str, link: EntanglementLink) -> None:
        """Serve ENT on link ``name`` (the ``EntParams.link`` of the instruction) with ``link``."""
        self._links[name] = link

    def detach_link(self, name: str) -> None:
        self._links.pop(name, None)

    # ---- handlers (one per PhysicalOp; NONE is handled in execute) -------------------------------

    def _init(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        done = now + native.duration_ns
        for i in instr.qubits:
            self._world.reset(self._qids[i])
            self._depolarise_each((i,), native.depolarising_prob)
            self._last_ns[i] = max(self._last_ns[i], done)
        return PhysicalResponse(duration_ns=native.duration_ns)

    def _rot(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        assert instr.axis is not None  # the spec lookup matched an axis
        superop = _noisy_rotation_superop(_AXIS_NAMES[instr.axis], instr.angle_rad, native.depolarising_prob)
        done = now + native.duration_ns
        for i in instr.qubits:
            self._catch_up(i, now)
            self._world.apply_superop(superop, (self._qids[i],))
            self._last_ns[i] = max(self._last_ns[i], done)
        return PhysicalResponse(duration_ns=native.duration_ns)

    def _two_qubit(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        if instr.op is PhysicalOp.CROT:
            assert instr.axis is not None
            u = _crot(_AXIS_NAMES[instr.axis], instr.angle_rad)
        else:
            u = _TWO_QUBIT_FIXED[instr.op]
        return self._gate(instr, native, now, u)

    def _ms(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        return self._gate(instr, native, now, _ms(len(instr.qubits), instr.angle_rad))

    def _gate(
        self, instr: PhysicalInstruction, native: NativeGateSpec, now: int, u: ComplexMatrix
    ) -> PhysicalResponse:
        for i in instr.qubits:
            self._catch_up(i, now)
        qids = tuple(self._qids[i] for i in instr.qubits)
        self._world.apply_unitary(u, qids)
        p = native.depolarising_prob
        if p > 0.0:
            if len(qids) == 2:
                self._world.apply_superop(_depol_superop(p, 2), qids)
            else:  # MS on 3+ ions: one-qubit depolarising on each (documented approximation)
                self._depolarise_each(instr.qubits, p)
        done = now + native.duration_ns
        for i in instr.qubits:
            self._last_ns[i] = max(self._last_ns[i], done)
        return PhysicalResponse(duration_ns=native.duration_ns)

    def _meas(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        outcomes = []
        done = now + native.duration_ns
        for i in instr.qubits:
            self._catch_up(i, now)
            outcomes.append(
                self._world.measure(self._qids[i], self._spec.readout_p_flip_0, self._spec.readout_p_flip_1)
            )
            self._depolarise_each((i,), native.depolarising_prob)
            self._last_ns[i] = max(self._last_ns[i], done)
        return PhysicalResponse(duration_ns=native.duration_ns, outcomes=tuple(outcomes))

    def _ent(self, instr: PhysicalInstruction, native: NativeGateSpec, now: int) -> PhysicalResponse:
        params = instr.ent
        link = self._links.get(params.link) if params is not None else None
        if link is None:
            known = ", ".join(sorted(self._links)) or "none"
            wanted = repr(params.link) if params is not None else "(no EntParams given)"
            raise UnsupportedInstructionError(
                f"'{instr}' on device {self._spec.name!r}: no entanglement link is attached to this device "
                f"for link {wanted} (attached links: {known}); entanglement needs the network stack"
            )
        assert params is not None
        i = instr.qubits[0]
        self._catch_up(i, now)
        response = link.attempt(self._qids[i], params, now)
        self._last_ns[i] = max(self._last_ns[i], now + response.duration_ns)
        return response

    _HANDLERS: ClassVar[dict[PhysicalOp, _Handler]] = {
        PhysicalOp.INIT: _init,
        PhysicalOp.ROT: _rot,
        PhysicalOp.CROT: _two_qubit,
        PhysicalOp.CNOT: _two_qubit,
        PhysicalOp.CZ: _two_qubit,
        PhysicalOp.MS: _ms,
        PhysicalOp.MEAS: _meas,
        PhysicalOp.ENT: _ent,
    }

    # ---- helpers ---------------------------------------------------------------------------------

    def _catch_up(self, i: int, now: int) -> None:
        """Apply qubit ``i``'s idle decoherence from its last update up to ``now``."""
        elapsed = now - self._last_ns[i]
        if elapsed <= 0:
            return
        if self._decays[i]:
            superop = _idle_superop(elapsed, self._t1_ns[i], self._t2_ns[i])
            self._world.apply_superop(superop, (self._qids[i],))
        self._last_ns[i] = now

    def _depolarise_each(self, qubits: tuple[int, ...], p: float) -> None:
        if p > 0.0:
            superop = _depol_superop(p, 1)
            for i in qubits:
                self._world.apply_superop(superop, (self._qids[i],))

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self._spec.num_qubits:
            raise ValueError(f"device {self._spec.name!r} has qubits 0..{self._spec.num_qubits - 1}, got {i}")

    def _unsupported_message(self, instr: PhysicalInstruction) -> str:
        options = [_describe(g) for g in self._spec.natives if g.op is instr.op]
        offered = "; ".join(options) if options else "none"
        return (
            f"'{instr}' is not a native instruction of device {self._spec.name!r}. "
            f"Natives for '{instr.op.value}': {offered}"
        )


def _describe(g: NativeGateSpec) -> str:
    parts = []
    if g.axes:
        parts.append("axes " + ",".join(sorted(a.value for a in g.axes)))
    if g.global_:
        parts.append("global (all qubits at once)")
    elif g.pairs:
        parts.append("on " + " ".join(f"({a},{b})" for a, b in sorted(g.pairs)))
    elif g.qubits:
        parts.append("on qubits " + ",".join(str(q) for q in sorted(g.qubits)))
    return " ".join(parts)
