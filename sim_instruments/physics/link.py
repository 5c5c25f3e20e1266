"""A heralded entanglement link between two simulated nodes that share one :class:`QuantumWorld`.

The model is the one of the link layer's physical layer in QNodeOS-style networks: both ends make entanglement
attempts in the same time bins; each attempt succeeds (a detector click heralds it) with probability
``success_probability``; on success the two communication qubits hold a Bell pair of fidelity ``fidelity``.
The run of attempts until the first herald is not simulated attempt by attempt: the number of attempts ``k`` is
drawn at once, ``k ~ Geometric(success_probability)`` (one draw from the world's generator), so a pair costs the
same whatever the success probability.

The delivered state is a Werner state around Bell state ``b``: ``rho = w |b><b| + (1 - w) I/4`` with
``w = (4F - 1)/3``, whose fidelity to ``|b>`` is exactly ``F``. Bell indices follow netqasm: 0 = Phi+,
1 = Psi+, 2 = Psi-, 3 = Phi-. With ``bell_state_correction`` (the default) the link layer has applied the Pauli
correction of the heralded state and delivers Phi+, as netqasm promises ("EPR pairs are delivered as Phi+");
without it ``b`` is Psi+ or Psi- with equal probability (single-click heralding, which detector clicked, as in
NV experiments) and is reported so that the application can correct.

**The two-call contract.** Each node's QDriver runs its own ENT instruction and calls :meth:`HeraldedLink.ent`
for its end, one after the other:

1. The *first* call (either end) draws ``k`` and ``b``, remembers them as the pending pair, and answers the
   duration ``k * attempt_duration_ns`` and ``b``. The joint state is not placed yet: the other end's qubit
   is not known.
2. The *second* call, from the other end, for the same start time (both ends attempt in the same time bins),
   places the pair on (first qubit, second qubit) with :meth:`QuantumWorld.set_state` and answers the same
   duration and ``b``.

Between the two calls the first end's qubit still holds its old state. That is harmless because the network
stack issues the two ENTs back to back, with nothing in between on either qubit; the kernel must keep it so.
Each QDriver counts its qubit as freshly updated at ``start_ns + duration_ns`` (the time the pair exists), so
idle decoherence starts there on both nodes, each on its own clock.

If ``max_attempts`` attempts all fail, both calls answer ``heralded=False`` with the duration of
``max_attempts`` attempts and each end's qubit is left in |0> (it was re-initialised before every attempt).

The link can be told its two ends with :meth:`HeraldedLink.connect` (the sim QDriver does this when the link
is attached): then a qubit that is not a communication qubit of either end is refused, and "the same end twice"
means any qubit of that end, not only the same qubit. Without it each qubit counts as an end of its own.

This module is pure physics: it knows nothing of the OS's instruction set. The sim QDriver turns an ENT
instruction into :meth:`HeraldedLink.ent` and the :class:`Herald` into its response.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sim_instruments.physics.gates import ComplexMatrix
from sim_instruments.physics.world import QuantumWorld

__all__ = ["BELL_NAMES", "Herald", "HeraldedLink", "LinkError", "LinkParams", "PendingPair", "bell_state",
           "shared_link", "werner_state"]

BELL_NAMES = ("Phi+", "Psi+", "Psi-", "Phi-")
"""Names of the Bell states by index, netqasm's order."""

_S = 1.0 / math.sqrt(2.0)
_BELL_VECTORS = (
    np.array([_S, 0.0, 0.0, _S], dtype=np.complex128),  # Phi+ = (|00> + |11>)/sqrt2
    np.array([0.0, _S, _S, 0.0], dtype=np.complex128),  # Psi+ = (|01> + |10>)/sqrt2
    np.array([0.0, _S, -_S, 0.0], dtype=np.complex128),  # Psi- = (|01> - |10>)/sqrt2
    np.array([_S, 0.0, 0.0, -_S], dtype=np.complex128),  # Phi- = (|00> - |11>)/sqrt2
)
_SINGLE_CLICK_STATES = (1, 2)  # Psi+ / Psi-: which of the two detectors clicked


def bell_state(index: int) -> ComplexMatrix:
    """The state vector of Bell state ``index`` (0 = Phi+, 1 = Psi+, 2 = Psi-, 3 = Phi-), big-endian."""
    if index not in range(4):
        raise ValueError(f"a Bell index is 0..3 (Phi+, Psi+, Psi-, Phi-), got {index}")
    return _BELL_VECTORS[index].copy()


def werner_state(index: int, fidelity: float) -> ComplexMatrix:
    """``w |b><b| + (1 - w) I/4`` with ``w = (4F - 1)/3``: Bell state ``index`` with white noise, fidelity ``F``."""
    if not 0.25 <= fidelity <= 1.0:
        raise ValueError(f"fidelity must be in [0.25, 1], got {fidelity}")
    v = bell_state(index)
    w = (4.0 * fidelity - 1.0) / 3.0
    rho: ComplexMatrix = w * np.outer(v, v.conj()) + (1.0 - w) / 4.0 * np.eye(4, dtype=np.complex128)
    return rho


@dataclass(frozen=True)
class LinkParams:
    """Parameters of a heralded link. Validated on construction; errors name the field.

    ``attempt_duration_ns``: one attempt (time bin), ns. ``success_probability``: probability that one attempt
    is heralded. ``fidelity``: fidelity of the delivered pair to its Bell state. ``max_attempts``: give up after
    this many attempts (answer not heralded). ``bell_state_correction``: deliver Phi+ (True) or the heralded
    Psi+/Psi- as is (False).
    """

    attempt_duration_ns: int
    success_probability: float
    fidelity: float
    max_attempts: int = 10**8
    bell_state_correction: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.attempt_duration_ns, bool) or not isinstance(self.attempt_duration_ns, int):
            raise ValueError(f"attempt_duration_ns must be an integer number of ns, got {self.attempt_duration_ns!r}")
        if self.attempt_duration_ns <= 0:
            raise ValueError(f"attempt_duration_ns must be > 0, got {self.attempt_duration_ns}")
        if not 0.0 < self.success_probability <= 1.0:  # also refuses NaN
            raise ValueError(f"success_probability must be in (0, 1], got {self.success_probability}")
        if not 0.25 <= self.fidelity <= 1.0:
            raise ValueError(
                f"fidelity must be in [0.25, 1] (0.25 is the fully mixed state), got {self.fidelity}"
            )
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an integer, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not isinstance(self.bell_state_correction, bool):
            raise ValueError(f"bell_state_correction must be True or False, got {self.bell_state_correction!r}")

    @property
    def werner_weight(self) -> float:
        """``w = (4F - 1)/3``, the weight of the Bell state in the delivered Werner state."""
        return (4.0 * self.fidelity - 1.0) / 3.0

    @property
    def mean_pair_time_ns(self) -> float:
        """Expected time to a heralded pair, ignoring the ``max_attempts`` cap: ``attempt / p``."""
        return self.attempt_duration_ns / self.success_probability

    # Presets. The figures are representative of the cited experiments (rounded), not one lab's calibration.

    @classmethod
    def ideal(cls) -> LinkParams:
        """Every attempt succeeds with a perfect Phi+ pair; 1 us per attempt."""
        return cls(attempt_duration_ns=1000, success_probability=1.0, fidelity=1.0)

    @classmethod
    def nv(cls) -> LinkParams:
        """NV-centre single-click link, as in the Delft three-node network.

        - attempt 3.8 us: one entanglement attempt (electron reset, spin-photon entanglement, photon
          detection window) in Pompili et al., Science 372, 259 (2021); the sim-nv spec uses the same figure;
        - success probability 1e-4 per attempt: the order of magnitude of the single-click links in Pompili
          et al. 2021 and Hermans et al., Nature 605, 663 (2022) (a few 1e-5 .. 1e-4, depending on the
          bright-state population chosen);
        - fidelity 0.8: delivered Bell-state fidelity ~0.8 in the same experiments (about 0.75-0.82).
        """
        return cls(attempt_duration_ns=3800, success_probability=1.0e-4, fidelity=0.8)

    @classmethod
    def ion(cls) -> LinkParams:
        """Trapped-ion (40Ca+, cavity photons) link, after Krutyanskiy et al., PRL 130, 050803 (2023).

        - success probability 4e-5 per attempt and fidelity 0.88: the figures of Krutyanskiy et al. 2023
          (two ions 230 m apart, 520 m of fibre; "fidelities of up to 88%", "success probability of 4e-5");
        - attempt 20 us: representative of one ion-photon attempt there (photon generation in the cavity,
          ~2.6 us of fibre delay and the herald, ground-state recooling): tens of microseconds. This one is a
          round figure, not a quoted one.
        """
        return cls(attempt_duration_ns=20_000, success_probability=4.0e-5, fidelity=0.88)


@dataclass(frozen=True, slots=True)
class Herald:
    """What one end's ENT gets back: the same for both ends of a pair.

    ``attempts``: attempts made (the one that was heralded included); ``duration_ns = attempts * attempt``;
    ``bell_index`` is None when nothing was heralded; ``pair_placed`` is True for the call that put the pair
    in the world (the second end of a heralded pair).
    """

    duration_ns: int
    heralded: bool
    bell_index: int | None
    attempts: int
    pair_placed: bool


@dataclass(frozen=True, slots=True)
class PendingPair:
    """The first end has run; the pair waits for the other end (see the module docstring)."""

    qubit_id: int
    start_ns: int
    attempts: int
    duration_ns: int
    heralded: bool
    bell_index: int | None


class LinkError(RuntimeError):
    """The two-call contract of a :class:`HeraldedLink` was broken (same end twice, different start times,
    a qubit that is not an end of the link, a third end)."""


class HeraldedLink:
    """A heralded entanglement link between two ends in ``world`` (see the module docstring for the contract).

    Its random draws (attempts, Bell index) come from a generator of its own, spawned from ``world.rng`` when
    the link is made: a run is reproducible from the world's seed, and the link's draws do not depend on what
    else the world draws (measurements of other apps). Two runs of one network with the same seed therefore draw
    the same attempt counts pair by pair, whatever local work runs beside them (a paired comparison, as the
    multitasking benchmark makes).
    """

    def __init__(self, name: str, params: LinkParams, world: QuantumWorld) -> None:
        self._name = name
        self._params = params
        self._world = world
        self._rng = world.rng.spawn(1)[0]
        self._ends: list[frozenset[int]] = []
        self._pending: PendingPair | None = None
        self._states = {
            b: _read_only(werner_state(b, params.fidelity))
            for b in ((0,) if params.bell_state_correction else _SINGLE_CLICK_STATES)
        }
        self.pairs_delivered = 0
        """Heralded pairs placed in the world so far."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def params(self) -> LinkParams:
        return self._params

    @property
    def world(self) -> QuantumWorld:
        return self._world

    @property
    def pending(self) -> PendingPair | None:
        """The pair whose first end has run and whose second end has not, or None."""
        return self._pending

    @property
    def ends(self) -> tuple[frozenset[int], ...]:
        """The world qubit ids of each connected end."""
        return tuple(self._ends)

    def connect(self, end_qubit_ids: Iterable[int]) -> None:
        """Declare one end of the link: the world ids of its communication qubits. At most two ends;
        connecting the same end again does nothing."""
        end = frozenset(end_qubit_ids)
        if not end:
            raise LinkError(f"link {self._name!r}: an end needs at least one communication qubit")
        for q in end:
            if q not in self._world:
                raise LinkError(f"link {self._name!r}: qubit id {q} is not in the link's world")
        if end in self._ends:
            return
        for other in self._ends:
            if end & other:
                raise LinkError(
                    f"link {self._name!r}: end {sorted(end)} shares qubits {sorted(end & other)} with the "
                    f"connected end {sorted(other)}"
                )
        if len(self._ends) == 2:
            raise LinkError(
                f"link {self._name!r} already has two ends ({sorted(self._ends[0])} and "
                f"{sorted(self._ends[1])}); cannot connect a third ({sorted(end)})"
            )
        self._ends.append(end)

    def disconnect(self, end_qubit_ids: Iterable[int]) -> None:
        """Forget an end (and a pending pair that it started). Unknown ends are ignored."""
        end = frozenset(end_qubit_ids)
        if end in self._ends:
            self._ends.remove(end)
            if self._pending is not None and self._pending.qubit_id in end:
                self._pending = None

    def cancel(self) -> None:
        """Drop a pending pair (e.g. the network stack aborted after the first end ran)."""
        self._pending = None

    def ent(self, qubit_id: int, start_ns: int) -> Herald:
        """One end's ENT on world qubit ``qubit_id``, attempting from ``start_ns``. See the module docstring."""
        self._check_end(qubit_id)
        pending = self._pending
        if pending is None:
            return self._first(qubit_id, start_ns)
        if self._end_of(qubit_id) == self._end_of(pending.qubit_id):
            raise LinkError(
                f"link {self._name!r}: ENT from the same end twice (qubit id {qubit_id}; the pending pair was "
                f"started by qubit id {pending.qubit_id} at {pending.start_ns} ns); the other end must run next"
            )
        if start_ns != pending.start_ns:
            raise LinkError(
                f"link {self._name!r}: the two ends must attempt in the same time bins, but this end starts at "
                f"{start_ns} ns and the other started at {pending.start_ns} ns (synchronise the clocks first)"
            )
        return self._second(pending, qubit_id)

    # ---- internals -------------------------------------------------------------------------------

    def _first(self, qubit_id: int, start_ns: int) -> Herald:
        p = self._params
        rng = self._rng
        k = int(rng.geometric(p.success_probability)) if p.success_probability < 1.0 else 1
        heralded = k <= p.max_attempts
        bell: int | None = None
        if heralded:
            bell = 0 if p.bell_state_correction else _SINGLE_CLICK_STATES[int(rng.integers(2))]
        else:
            k = p.max_attempts
            self._world.reset(qubit_id)
        duration = k * p.attempt_duration_ns
        self._pending = PendingPair(qubit_id, start_ns, k, duration, heralded, bell)
        return Herald(duration, heralded, bell, k, pair_placed=False)

    def _second(self, pending: PendingPair, qubit_id: int) -> Herald:
        self._pending = None
        placed = pending.heralded
        if pending.bell_index is not None:
            self._world.set_state([pending.qubit_id, qubit_id], self._states[pending.bell_index])
            self.pairs_delivered += 1
        else:
            self._world.reset(qubit_id)
        return Herald(pending.duration_ns, pending.heralded, pending.bell_index, pending.attempts, placed)

    def _check_end(self, qubit_id: int) -> None:
        if qubit_id not in self._world:
            raise LinkError(f"link {self._name!r}: no qubit with id {qubit_id} in the link's world")
        if len(self._ends) == 2 and self._end_of(qubit_id) is None:
            raise LinkError(
                f"link {self._name!r}: qubit id {qubit_id} is not a communication qubit of either end "
                f"({sorted(self._ends[0])} and {sorted(self._ends[1])})"
            )

    def _end_of(self, qubit_id: int) -> frozenset[int] | None:
        for end in self._ends:
            if qubit_id in end:
                return end
        return frozenset((qubit_id,)) if len(self._ends) < 2 else None


def shared_link(
    registry: dict[str, object], name: str, params: LinkParams, world: QuantumWorld
) -> HeraldedLink:
    """The link ``name`` of a run: made by the first end that asks, found by the second.

    ``registry`` is one dict per run shared by every node's driver. Both ends must ask with the same
    ``params`` and ``world``; otherwise :class:`LinkError` says what differs.
    """
    key = f"heralded_link:{name}"
    found = registry.get(key)
    if found is None:
        link = HeraldedLink(name, params, world)
        registry[key] = link
        return link
    if not isinstance(found, HeraldedLink):
        raise LinkError(f"link {name!r}: the run's registry holds a {type(found).__name__} under {key!r}")
    if found.params != params:
        raise LinkError(f"link {name!r}: the two ends configure it differently: {found.params} and {params}")
    if found.world is not world:
        raise LinkError(f"link {name!r}: the two ends are in different QuantumWorlds; they must share one")
    return found


def _read_only(m: ComplexMatrix) -> ComplexMatrix:
    m.setflags(write=False)
    return m
