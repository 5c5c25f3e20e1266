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

ENT needs an entanglement link. Links attach by name with :meth:`SimQDriver.attach_link` and share the world,
so that the two halves of a pair are one state. A :class:`~sim_instruments.physics.link.HeraldedLink` is
attached to both nodes' drivers; each node's ENT runs one end of it (the first end draws the attempts, the
second places the pair; see that module for the contract). Then:

- ENT works only on a communication qubit of the device, and its duration is the link's (attempts times the
  attempt duration), not the spec's ``ent`` duration;
- the qubit counts as freshly updated at ``start + duration`` (when the pair exists), so idle decoherence on
  each node starts there, on that node's clock;
- in MEASURE mode, once the pair exists, the qubit is rotated by ``basis_rotations_rad`` (x, then y, then z,
  exact rotations) and measured in Z with the device's readout error, within the ENT's duration. The first
  end of a pair cannot do that (the pair does not exist yet): it answers UnsupportedInstructionError, and the
  kernel does keep + measure instead;
- a broken two-call contract (the same end twice, different start times) is a QDriverError.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import math
from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from qlab_os.clock import Clock
from qlab_os.errors import QDriverError, UnknownQDriverError, UnsupportedInstructionError
from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.instructions import (
    Axis,
    EntMode,
    EntParams,
    PhysicalInstruction,
    PhysicalOp,
    PhysicalResponse,
)
from qlab_os.qdevice.spec import NativeGateSpec, QDeviceSpec, load_spec
from sim_instruments.physics import channels, gates
from sim_instruments.physics.gates import AxisName, ComplexMatrix
from sim_instruments.physics.link import HeraldedLink, LinkError, LinkParams, shared_link
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

__all__ = ["EntanglementLink", "SimQDriver"]


class EntanglementLink(Protocol):
    """What serves ENT for a :class:`SimQDriver`: a heralded link model living in the same world.

    ``attempt`` runs this end's ENT on the world qubit ``qubit_id`` from ``start_ns`` and answers as the
    QDriver would (``duration_ns``, ``heralded``, ``bell_index``). In MEASURE mode the link may measure itself
    (``outcomes`` set); if it answers heralded without outcomes, the pair must be in the world and the driver
    measures it. A link that cannot have the pair ready raises UnsupportedInstructionError.
    A :class:`~sim_instruments.physics.link.HeraldedLink` given to :meth:`SimQDriver.attach_link` is wrapped
    in an adapter that implements this protocol.
    """

    def attempt(self, qubit_id: int, params: EntParams, start_ns: int) -> PhysicalResponse: ...


class _HeraldedLinkEnd:
    """One node's end of a :class:`HeraldedLink`: ENT instructions in, :class:`PhysicalResponse` out."""

    __slots__ = ("end_qubit_ids", "link")

    def __init__(self, link: HeraldedLink, end_qubit_ids: tuple[int, ...]) -> None:
        self.link = link
        self.end_qubit_ids = end_qubit_ids

    def attempt(self, qubit_id: int, params: EntParams, start_ns: int) -> PhysicalResponse:
        if params.mode is EntMode.MEASURE and self.link.pending is None:
            raise UnsupportedInstructionError(
                f"link {self.link.name!r}: ENT in measure mode cannot run on the first end of a pair: the pair "
                "is placed only when the other end runs, so there is nothing to measure yet; use keep mode "
                "and measure after the other end's ENT"
            )
        try:
            herald = self.link.ent(qubit_id, start_ns)
        except LinkError as exc:
            raise QDriverError(str(exc)) from exc
        return PhysicalResponse(
            duration_ns=herald.duration_ns, heralded=herald.heralded, bell_index=herald.bell_index
        )


_AXIS_NAMES: dict[Axis, AxisName] = {Axis.X: "x", Axis.Y: "y", Axis.Z: "z"}
_ENT_BASIS_AXES: tuple[AxisName, AxisName, AxisName] = ("x", "y", "z")
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


_WORLD_KEY = "sim.world"
_OWNERS_KEY = "sim.owners"
"""world qubit id -> (driver, index) for every sim driver of a run."""


@functools.cache
def _shipped_spec(device: str) -> QDeviceSpec:
    """Parsed once per process: a run builds a driver per node per round."""
    ref = importlib.resources.files("qdrivers.sim").joinpath("specs", f"{device}.yaml")
    with importlib.resources.as_file(ref) as path:
        return load_spec(path)


class SimQDriver(QDriver):
    """A simulated QDevice on the physics engine.

    ``world`` lets several drivers (nodes) share one joint state; without it the driver makes its own, seeded
    with ``seed``. A shared world brings its own seeded generator, so ``seed`` must then be None.
    """

    provides_qubit_state = True

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
        self._owners: dict[int, tuple[SimQDriver, int]] = {i: (self, n) for n, i in enumerate(self._qids)}
        self._comm_qids = tuple(self._qids[i] for i in spec.communication_qubits)

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def device_names(cls) -> tuple[str, ...]:
        return cls._DEVICES

    @classmethod
    def for_device(
        cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
        shared: dict[str, object] | None = None,
    ) -> SimQDriver:
        """``shared``: the run's dict; every sim driver of a run uses the one QuantumWorld kept there (made,
        with ``seed``, by the first), so pairs across nodes are one joint state and one RNG drives the run."""
        spec = cls.load_device_spec(device, ideal=ideal)
        if shared is None:
            return cls(spec, clock, seed=seed)
        world = shared.get(_WORLD_KEY)
        if world is None:
            world = shared[_WORLD_KEY] = QuantumWorld(make_rng(seed))
        if not isinstance(world, QuantumWorld):
            raise QDriverError(f"the run's shared dict holds a {type(world).__name__} under {_WORLD_KEY!r}")
        driver = cls(spec, clock, world=world)
        owners = shared.setdefault(_OWNERS_KEY, {})
        assert isinstance(owners, dict)
        for i, qid in enumerate(driver.qubit_ids):
            owners[qid] = (driver, i)
        driver._owners = owners
        return driver

    @classmethod
    def from_spec(cls, spec: QDeviceSpec, *, clock: Clock, seed: int | None = None) -> SimQDriver:
        """A device that follows ``spec`` exactly, in a world of its own (e.g. a lab driver's calibrated spec)."""
        return cls(spec, clock, seed=seed)

    @classmethod
    def load_device_spec(cls, device: str, *, ideal: bool = False) -> QDeviceSpec:
        """The spec of one of :meth:`device_names`, from the YAML shipped in ``qdrivers/sim/specs``."""
        if device not in cls._DEVICES:
            raise UnknownQDriverError(
                f"the sim driver has no device {device!r}; known devices: {', '.join(cls._DEVICES)}"
            )
        spec = _shipped_spec(device)
        return spec.ideal() if ideal else spec

    def connect_link(self, name: str, spec: LinkSpec, shared: dict[str, object]) -> None:
        """Attach the run's heralded link ``name`` (one :class:`HeraldedLink` per run, found in ``shared``)."""
        params = LinkParams(attempt_duration_ns=spec.attempt_duration_ns,
                            success_probability=spec.success_probability, fidelity=spec.fidelity,
                            max_attempts=spec.max_attempts, bell_state_correction=spec.bell_state_correction)
        try:
            link = shared_link(shared, name, params, self._world)
        except LinkError as exc:
            raise QDriverError(f"device {self._spec.name!r}: {exc}") from exc
        self.attach_link(name, link)

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

    def set_qubit_state(self, qubit: int, rho: npt.NDArray[np.complex128]) -> None:
        self._check_index(qubit)
        self._world.set_state([self._qids[qubit]], rho)
        self._last_ns[qubit] = self._clock.now_ns()

    def joint_state(self, qubit: int) -> npt.NDArray[np.complex128] | None:
        """This qubit first, then the rest of its block in id order. Every qubit of the block, on any node of
        the run, first gets its idle noise up to its own node's clock."""
        self.qubit_state((qubit,))
        me = self._qids[qubit]
        others = sorted(q for q in self._world.block_of(me) if q != me)
        for q in others:
            owner = self._owners.get(q)
            if owner is not None:
                driver, index = owner
                driver._catch_up(index, driver._clock.now_ns())
        return self._world.density_matrix([me, *others])

    # ---- simulation extras -----------------------------------------------------------------------

    @property
    def world(self) -> QuantumWorld:
        return self._world

    @property
    def qubit_ids(self) -> tuple[int, ...]:
        """World ids of the device's qubits, by physical index."""
        return self._qids

    def attach_link(self, name: str, link: EntanglementLink | HeraldedLink) -> None:
        """Serve ENT on link ``name`` (the ``EntParams.link`` of the instruction) with ``link``.

        A :class:`HeraldedLink` must live in this driver's world; this device's communication qubits become
        one of its two ends (a third device is refused with QDriverError).
        """
        if isinstance(link, HeraldedLink):
            if link.world is not self._world:
                raise QDriverError(
                    f"link {link.name!r} lives in another QuantumWorld than device {self._spec.name!r}: "
                    "give both nodes' drivers the same world"
                )
            try:
                link.connect(self._comm_qids)
            except LinkError as exc:
                raise QDriverError(f"cannot attach to device {self._spec.name!r}: {exc}") from exc
            self._detach(name)
            self._links[name] = _HeraldedLinkEnd(link, self._comm_qids)
        else:
            self._detach(name)
            self._links[name] = link

    def detach_link(self, name: str) -> None:
        self._detach(name)

    def _detach(self, name: str) -> None:
        old = self._links.pop(name, None)
        if isinstance(old, _HeraldedLinkEnd) and not any(
            isinstance(other, _HeraldedLinkEnd) and other.link is old.link for other in self._links.values()
        ):
            old.link.disconnect(old.end_qubit_ids)

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
        i = instr.qubits[0]
        if not self._spec.qubits[i].communication:
            raise UnsupportedInstructionError(
                f"'{instr}' on device {self._spec.name!r}: qubit {i} ({self._spec.qubits[i].name}) is not a "
                f"communication qubit; ENT needs one of: {self._describe_comm_qubits()}"
            )
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
        self._catch_up(i, now)
        response = link.attempt(self._qids[i], params, now)
        if params.mode is EntMode.MEASURE and response.heralded and not response.outcomes:
            response = dataclasses.replace(response, outcomes=(self._measure_in_basis(i, params),))
        # The pair exists from the end of the attempts: idle decoherence counts from there, on this clock.
        self._last_ns[i] = now + response.duration_ns
        return response

    def _measure_in_basis(self, i: int, params: EntParams) -> int:
        qid = self._qids[i]
        for axis, angle in zip(_ENT_BASIS_AXES, params.basis_rotations_rad, strict=True):
            if angle != 0.0:
                self._world.apply_unitary(_rotation(axis, angle), (qid,))
        return self._world.measure(qid, self._spec.readout_p_flip_0, self._spec.readout_p_flip_1)

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
        message = (
            f"'{instr}' is not a native instruction of device {self._spec.name!r}. "
            f"Natives for '{instr.op.value}': {offered}"
        )
        if instr.op is PhysicalOp.ENT:
            message += f". ENT needs a communication qubit: {self._describe_comm_qubits()}"
        return message

    def _describe_comm_qubits(self) -> str:
        comm = [f"{q.index} ({q.name})" for q in self._spec.qubits if q.communication]
        return ", ".join(comm) if comm else "the device has none"


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
