"""Heralding stations of the simulated lab: photons from two nodes meet on a beam splitter; a time tagger counts.

Each node's AWG marks an optical excitation (marker function ``emit:<station>``). The station pairs the n-th
excitation of one node with the n-th of the other: together they are one entanglement attempt, whose detector click
and post-herald state come from the single-click model acting on the joint state of the two communication qubits
(:mod:`sim_instruments.physics.heralding`).

**Attempt loops** (as NV networks run them: Humphreys 2018, Pompili 2021, Hermans 2022). An AWG element that emits
towards the station, is looped (``LOOP:COUNt N`` or ``LOOP:INFinite``) and has an event jump target
(``JTARget:TYPE INDex|NEXT``) is one attempt per repetition; the station's herald output is wired to the event input
of both nodes' AWGs and ends the loop. Both AWGs start their loops on the same trigger edge (a shared trigger line on
the bench); here the station pairs the n-th loop started on one node with the n-th on the other, whenever each
driver's trigger arrives. Played attempt by attempt, a herald would take ~1e4 repetitions, so the station draws them
at once, which is exact when every repetition re-initialises the communication qubit before the emission (a reset
marker with its lights on, :data:`~sim_instruments.lab.platforms.REINITIALISING`; a loop without one is refused with
an error in the AWG's queue, and the AWG stops):

1. each node plays one repetition up to the emission (reset, rotation): the state every attempt starts from;
2. :meth:`SingleClickStation.attempt_until_herald` draws the attempts k (geometric, at most N) and leaves the
   post-herald (or, after N failures, the no-herald) state;
3. each node's clock advances by the k - 1 failed repetitions (memory qubits see that time; the communication qubit
   was reset in each), then the emission and the rest of the repetition play: k repetitions of time in all;
4. the ID1000 counts k triggers and the herald; on a herald both AWGs jump to their event target (at the end of the
   repetition, ``EVENt:JTIMing SYNC``; at once with ``ASYNC``), else they go on after the loop.

Randomness inside the reset (an NV spin-pumping failure) is drawn once per loop, not per repetition: heralded pairs
then carry it with its prior weight instead of its herald-weighted one (a difference of order the failure rate).

The ID Quantique ID1000 of the station (role ``time_tagger``) counts what a real one
would, with the nodes' shared trigger on one input and the two detectors on two others:

- the trigger input counts attempts; each detector input counts its clicks;
- the coincidence blocks "trigger and detector k" count the heralds.

Counters accumulate from the last ``COUN:RESE`` of their block while recording (``REC:PLAY``). The real instrument
can also report per integration cycle (``COUN:MODE CYCL``); the simulation has no wall-clock cycles and reports the
accumulated counts in both modes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim_instruments.lab.awg import Segment
from sim_instruments.lab.models import AWGModel, InstrumentModel, Reply, register_model
from sim_instruments.lab.resolve import LabConfigError
from sim_instruments.physics.heralding import Click, HeraldingParams, SingleClickStation

if TYPE_CHECKING:
    from sim_instruments.lab.lab import SimulatedLab
    from sim_instruments.lab.platforms import LabNode

UNBOUNDED_ATTEMPTS = 10**15
"""The attempts an infinite loop may draw (at 1 us each, 30 years: a herald probability of zero)."""

_COUNTER = re.compile(r"^(STAR|INPU\d|TSCO\d+):COUN(?:TER)?(\?|:RESE\w*)$", re.I)
DEFAULT_BLOCKS = {
    "trigger": "INPU1",
    "detector_0": "INPU2",
    "detector_1": "INPU3",
    "herald_0": "TSCO6",
    "herald_1": "TSCO7",
}


class TimeTaggerModel(InstrumentModel):
    """ID1000 counters fed by the station's attempts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: dict[str, int] = {}
        self.recording = False
        blocks = self.binding.get("blocks", DEFAULT_BLOCKS)
        if not isinstance(blocks, dict) or set(blocks) != set(DEFAULT_BLOCKS):
            raise LabConfigError(f"{self.resource_name}: lab.blocks must name {', '.join(DEFAULT_BLOCKS)}")
        self.blocks = {str(k): str(v).upper() for k, v in blocks.items()}

    def record(self, click: Click) -> None:
        if not self.recording:
            return
        hits = ["trigger"]
        if click is Click.DETECTOR_0:
            hits += ["detector_0", "herald_0"]
        elif click is Click.DETECTOR_1:
            hits += ["detector_1", "herald_1"]
        for what in hits:
            block = self.blocks[what]
            self.counts[block] = self.counts.get(block, 0) + 1

    def record_loop(self, attempts: int, click: Click) -> None:
        """An attempt loop: ``attempts`` triggers, the last of which heralded ``click`` (or none did)."""
        if not self.recording:
            return
        trigger = self.blocks["trigger"]
        self.counts[trigger] = self.counts.get(trigger, 0) + attempts
        if click is not Click.NONE:
            k = "0" if click is Click.DETECTOR_0 else "1"
            for what in (f"detector_{k}", f"herald_{k}"):
                self.counts[self.blocks[what]] = self.counts.get(self.blocks[what], 0) + 1

    def handle(self, message: bytes) -> Reply:
        text = message.decode(errors="replace").strip()
        upper = text.upper()
        if upper == "REC:PLAY":
            self.recording = True
            return b""
        if upper == "REC:STOP":
            self.recording = False
            return b""
        if upper == "REC:STAG?":
            return b"PLAYING" if self.recording else b"STOPPED"
        if m := _COUNTER.match(text):
            block = m.group(1).upper()
            if m.group(2) == "?":
                return str(self.counts.get(block, 0)).encode()
            self.counts[block] = 0
            return b""
        return None


@dataclass(frozen=True)
class AttemptLoop:
    """One node's AWG parked in an attempt loop: its element, one repetition's stretches, the repetitions."""

    node: LabNode
    awg: AWGModel
    index: int
    live: set[int]
    segments: list[Segment]
    emission: int
    """Position of the emitting stretch in :attr:`segments`."""
    repetitions: int | None
    """``LOOP:COUNt``, or None for ``LOOP:INFinite``."""

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


class HeraldingStation:
    """Pairs the two nodes' excitations into attempts and hands each click to the time tagger."""

    def __init__(self, name: str, node_names: tuple[str, str], physics: SingleClickStation) -> None:
        self.name = name
        self.node_names = node_names
        self.physics = physics
        self.tagger: TimeTaggerModel | None = None
        self._pending: dict[str, deque[int]] = {n: deque() for n in node_names}
        self._loops: dict[str, AttemptLoop] = {}
        self._accounted: set[str] = set()
        self.attempts = 0

    # -- attempt loops ------------------------------------------------------------------------------------------
    def loop_started(self, node: LabNode, awg: AWGModel, index: int, live: set[int]) -> None:
        """``node``'s AWG parked in an attempt loop at element ``index``; resolve when both nodes are there."""
        segments = awg.element_segments(index)
        emitting = [i for i, seg in enumerate(segments) if f"emit:{self.name}" in node.functions(seg)]
        problem = None
        if len(emitting) != 1:
            problem = f"emits {len(emitting)} times per repetition; an attempt loop emits once"
        elif not any(node.reinitialises(seg) for seg in segments[: emitting[0]]):
            problem = ("does not re-initialise the communication qubit before the emission (no reset marker with "
                       "its lights on), so the attempts cannot be drawn at once; put a reset before the emission")
        if problem is not None:
            self._refuse(awg, f"element {index}: attempt loop towards heralding station {self.name} {problem}")
            return
        element = awg.memory.element(index)
        repetitions = None if element.loop_infinite else element.loop_count
        self._loops[node.name] = AttemptLoop(node, awg, index, live, segments, emitting[0], repetitions)
        if all(n in self._loops for n in self.node_names):
            self._resolve(self._loops.pop(self.node_names[0]), self._loops.pop(self.node_names[1]))

    def forget_loop(self, node_name: str) -> None:
        """``node_name``'s AWG left its loop before the other node's started (stopped, or jumped elsewhere)."""
        self._loops.pop(node_name, None)

    def _refuse(self, awg: AWGModel, message: str) -> None:
        awg.errors.append(message)
        awg.memory.parked = None
        awg.running = False

    def _resolve(self, a: AttemptLoop, b: AttemptLoop) -> None:
        """Both nodes are in their loops: draw the attempts at once (see the module docstring)."""
        mismatch = None
        if abs(a.duration_s - b.duration_s) > 1e-12:
            mismatch = f"repetitions of {a.duration_s:g} s and {b.duration_s:g} s"
        elif a.repetitions != b.repetitions:
            mismatch = f"loop counts {a.repetitions} and {b.repetitions} (None: infinite)"
        if mismatch is not None:
            for loop in (a, b):
                self._refuse(loop.awg, f"element {loop.index}: the attempt loops of {a.node.name} and {b.node.name} "
                                       f"at heralding station {self.name} do not match: {mismatch}")
            return
        for loop in (a, b):
            loop.node.play(loop.segments[: loop.emission], loop.live)
        qubit_a = a.node.communication_system().qubit.qubit_id
        qubit_b = b.node.communication_system().qubit.qubit_id
        result = self.physics.attempt_until_herald(qubit_a, qubit_b, a.repetitions or UNBOUNDED_ATTEMPTS)
        heralded = result.click is not Click.NONE
        self._accounted = set(self.node_names)
        try:
            for loop in (a, b):
                loop.node.skip_repetitions((result.attempts - 1) * loop.duration_s)
                cut = heralded and loop.awg.jumps_at_once
                loop.node.play(loop.segments[loop.emission : loop.emission + 1 if cut else None], loop.live)
        finally:
            self._accounted.clear()
        self.attempts += result.attempts
        if self.tagger is not None:
            self.tagger.record_loop(result.attempts, result.click)
        if not heralded and a.repetitions is None:
            for loop in (a, b):
                self._refuse(loop.awg, f"element {loop.index}: infinite attempt loop at heralding station {self.name} "
                                       "with a herald probability of zero (lights off?): it would never end")
            return
        for loop in (a, b):
            loop.awg.resume(jumped=heralded)

    # -- single attempts ----------------------------------------------------------------------------------------
    def emission(self, node_name: str, qubit_id: int) -> None:
        """Node ``node_name`` excited its communication qubit ``qubit_id`` for one attempt."""
        if node_name in self._accounted:  # the emission of an attempt loop, already drawn
            return
        other = self.node_names[1] if node_name == self.node_names[0] else self.node_names[0]
        if self._pending[other]:
            other_qubit = self._pending[other].popleft()
            a, b = (qubit_id, other_qubit) if node_name == self.node_names[0] else (other_qubit, qubit_id)
            click = self.physics.attempt(a, b)
            self.attempts += 1
            if self.tagger is not None:
                self.tagger.record(click)
        else:
            self._pending[node_name].append(qubit_id)


def attach_station(
    name: str, cfg: Mapping[str, Any], physics: Mapping[str, Any], lab: SimulatedLab, where: str
) -> None:
    """Build the station ``name`` (``nodes: [a, b]``, optional constant overrides under ``physics``)."""
    nodes = cfg.get("nodes")
    if not (isinstance(nodes, list) and len(nodes) == 2 and all(isinstance(n, str) for n in nodes)):
        raise LabConfigError(f"{where}.nodes: expected the names of two nodes, got {nodes!r}")
    if nodes[0] == nodes[1]:
        raise LabConfigError(f"{where}.nodes: a station links two different nodes")
    overrides = cfg.get("physics", {})
    if not isinstance(overrides, dict):
        raise LabConfigError(f"{where}.physics: expected a mapping")
    params = HeraldingParams.from_mapping({**physics, **overrides}, f"{where} (heralding physics)")
    station = HeraldingStation(name, (nodes[0], nodes[1]), SingleClickStation(params, lab.world, lab.world.rng))
    for node_name in nodes:
        lab.node(node_name).stations.append(station)
    lab.stations[name] = station


def bind_tagger(model: InstrumentModel, lab: SimulatedLab) -> None:
    """Connect a ``time_tagger`` model to the station its lab binding names (``station: <name>``)."""
    station_name = model.binding.get("station")
    if not isinstance(model, TimeTaggerModel) or station_name not in lab.stations:
        known = ", ".join(lab.stations) or "none"
        raise LabConfigError(f"{model.resource_name}: lab.station must name a heralding station ({known})")
    lab.stations[str(station_name)].tagger = model


register_model("time_tagger", TimeTaggerModel)
