"""Heralding stations of the simulated lab: photons from two nodes meet on a beam splitter; a time tagger counts.

Each node's AWG marks an optical excitation (marker function ``optical_pi``). The station pairs the n-th excitation
of one node with the n-th of the other: together they are one entanglement attempt, whose detector click and
post-herald state come from the single-click model acting on the joint state of the two communication qubits
(:mod:`sim_instruments.physics.heralding`). The ID Quantique ID1000 of the station (role ``time_tagger``) counts
what a real one would, with the nodes' shared trigger on one input and the two detectors on two others:

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
from typing import TYPE_CHECKING, Any

from sim_instruments.lab.models import InstrumentModel, Reply, register_model
from sim_instruments.lab.resolve import LabConfigError
from sim_instruments.physics.heralding import Click, HeraldingParams, SingleClickStation

if TYPE_CHECKING:
    from sim_instruments.lab.lab import SimulatedLab

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


class HeraldingStation:
    """Pairs the two nodes' excitations into attempts and hands each click to the time tagger."""

    def __init__(self, name: str, node_names: tuple[str, str], physics: SingleClickStation) -> None:
        self.name = name
        self.node_names = node_names
        self.physics = physics
        self.tagger: TimeTaggerModel | None = None
        self._pending: dict[str, deque[int]] = {n: deque() for n in node_names}
        self.attempts = 0

    def emission(self, node_name: str, qubit_id: int) -> None:
        """Node ``node_name`` excited its communication qubit ``qubit_id`` for one attempt."""
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
