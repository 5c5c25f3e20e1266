"""Lab nodes: what the instruments' outputs do to a node's qubits.

A node plays :class:`~sim_instruments.lab.awg.Segment` s from its AWG. Its ``wiring`` (lab YAML) says which marker
switches which light or gates which counter, which AWG channels carry I and Q to which source, and the drive
strength per volt. The physics (:mod:`sim_instruments.physics.nv`, :mod:`sim_instruments.physics.ion`) turns each
stretch into rotations, resets and photon counts; counts go to every counter whose gate marker is high, and a
counter's reading closes when its gate falls.

Attempt loops (an AWG element looped with an event jump, emitting towards a heralding station) are handed to the
station (:meth:`LabNode.loop_started`), which draws all their attempts at once when every repetition re-initialises
the communication qubit before the emission (:attr:`LabNode.reinitialising`; :mod:`sim_instruments.lab.heralding`).

The platforms themselves are in :mod:`sim_instruments.lab.nv_node` and :mod:`sim_instruments.lab.ion_node`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sim_instruments.lab.awg import Segment
from sim_instruments.lab.models import PassiveModel, rabi_frequency_hz
from sim_instruments.lab.resolve import LabConfigError
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.rng import child_rng
from sim_instruments.physics.world import QuantumWorld

if TYPE_CHECKING:
    from sim_instruments.lab.heralding import HeraldingStation
    from sim_instruments.lab.models import AWGModel, InstrumentModel
    from sim_instruments.physics.qubit_model import DrivenSystem

REINITIALISING: dict[str, dict[str, tuple[str, ...]]] = {
    "nv": {"green": ("green_laser",), "spin_pump": ("readout_laser", "repump_laser")},
    "ion": {"pump": ("laser_397", "laser_866")},
}
"""Per platform: the marker functions that re-initialise the communication qubit, and the lights each needs on
(NV: green, or resonant spin pumping with the red readout and repump lasers; ion: optical pumping)."""


class Counter(Protocol):
    def gate_closed(self, counts: int) -> None: ...


class LabNode:
    """A node of the lab: its clock, wiring and the instrument models bound to it."""

    platform = "none"

    def __init__(self, name: str, wiring: Mapping[str, Any], clock: NodeClock, where: str) -> None:
        self.name = name
        self.wiring = dict(wiring)
        self.where = where
        self.clock = clock
        self.instruments: dict[str, InstrumentModel] = {}
        self.stations: list[HeraldingStation] = []
        markers = self.wiring.get("markers", {})
        gates = self.wiring.get("gates", {})
        if not isinstance(markers, dict) or not isinstance(gates, dict):
            raise LabConfigError(f"{where}.wiring: 'markers' and 'gates' must be mappings")
        self.marker_functions: dict[str, str] = {str(k): str(v) for k, v in markers.items()}
        self.gates: dict[str, str] = {str(k): str(v) for k, v in gates.items()}
        self._open_gates: dict[str, int] = {}
        iq = self.wiring.get("iq_channels", [1, 2])
        if not (isinstance(iq, list) and len(iq) == 2 and all(isinstance(c, int) and 1 <= c <= 4 for c in iq)):
            raise LabConfigError(f"{where}.wiring.iq_channels: expected two AWG channel numbers, got {iq!r}")
        self.iq_channels: tuple[int, int] = (iq[0], iq[1])
        for key in self.required_numbers:
            self.number(key)

    required_numbers: tuple[str, ...] = ("rabi_frequency_hz_per_volt", "reference_power_dbm")

    def number(self, key: str) -> float:
        value = self.wiring.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise LabConfigError(f"{self.where}.wiring.{key}: expected a number, got {value!r}")
        return float(value)

    def instrument(self, role: str) -> InstrumentModel:
        try:
            return self.instruments[role]
        except KeyError:
            raise LabConfigError(f"node {self.name!r} has no instrument with role {role!r} in the lab YAML") from None

    def light_on(self, role: str) -> bool:
        model = self.instruments.get(role)
        return isinstance(model, PassiveModel) and model.is_on()

    def play(self, segments: list[Segment], live_channels: set[int]) -> None:
        """Apply a played stretch of the AWG sequence to the physics, in order; route counts to gated counters."""
        for seg in segments:
            functions = {self.marker_functions[m] for m in seg.markers if m in self.marker_functions}
            i_v = seg.volts[self.iq_channels[0] - 1] if self.iq_channels[0] in live_channels else 0.0
            q_v = seg.volts[self.iq_channels[1] - 1] if self.iq_channels[1] in live_channels else 0.0
            counts = self.segment(seg.duration_s, functions, i_v, q_v)
            self._route_counts(seg.markers, counts)
        self._close_gates(frozenset())

    def segment(self, duration_s: float, functions: set[str], i_v: float, q_v: float) -> int:
        raise NotImplementedError

    # -- attempt loops (sim_instruments.lab.heralding) --------------------------------------------------------------
    def functions(self, segment: Segment) -> set[str]:
        """The marker functions (lab wiring) high during ``segment``."""
        return {self.marker_functions[m] for m in segment.markers if m in self.marker_functions}

    def emission_stations(self, segments: list[Segment]) -> list[HeraldingStation]:
        """The heralding stations that ``segments`` emit towards."""
        emitted = set().union(*(self.functions(s) for s in segments)) if segments else set()
        return [st for st in self.stations if f"emit:{st.name}" in emitted]

    def reinitialises(self, segment: Segment) -> bool:
        """Whether ``segment`` re-initialises the communication qubit (a reset function with its lights on)."""
        table = REINITIALISING.get(self.platform, {})
        return any(all(self.light_on(light) for light in table[f]) for f in self.functions(segment) if f in table)

    def communication_system(self) -> DrivenSystem:
        """The physics of the communication qubit (the one ``emit:`` excites); platforms override it."""
        raise LabConfigError(f"node {self.name!r} (platform {self.platform}) names no communication qubit for "
                             "attempt loops")

    def skip_repetitions(self, duration_s: float) -> None:
        """``duration_s`` of loop repetitions that ended without a herald: the node's clock advances (qubits other
        than the communication qubit see the time when next looked at), the communication qubit is left as it is
        (every repetition re-initialised it, so only the last one matters)."""
        self.communication_system().qubit.advance_clock(duration_s)

    def loop_started(self, awg: AWGModel, index: int, live: set[int]) -> None:
        """The AWG parked at element ``index``: an attempt loop goes to its heralding station; any other infinite
        loop plays until the AWG is stopped, jumped elsewhere, or gets an event (``EVENt:IMMediate``)."""
        stations = self.emission_stations(awg.element_segments(index))
        if len(stations) > 1:
            names = ", ".join(st.name for st in stations)
            awg.errors.append(f"element {index} emits towards several heralding stations ({names}); one per loop")
            awg.memory.parked = None
            awg.running = False
            return
        if stations:
            stations[0].loop_started(self, awg, index, live)

    def loop_abandoned(self, awg: AWGModel) -> None:
        """The AWG left its loop (stopped, or jumped elsewhere): no station waits for it any more."""
        for station in self.stations:
            station.forget_loop(self.name)

    def emit(self, functions: set[str], communication_qubit_id: int) -> None:
        """An optical excitation (marker function ``emit:<station>``) is one attempt at that heralding station."""
        for station in self.stations:
            if f"emit:{station.name}" in functions:
                station.emission(self.name, communication_qubit_id)

    def _route_counts(self, markers: frozenset[str], counts: int) -> None:
        self._close_gates(markers)
        for marker in markers:
            if marker in self.gates:
                self._open_gates[marker] = self._open_gates.get(marker, 0) + counts

    def _close_gates(self, markers: frozenset[str]) -> None:
        for marker in [m for m in self._open_gates if m not in markers]:
            counts = self._open_gates.pop(marker)
            model = self.instrument(self.gates[marker])
            if hasattr(model, "gate_closed"):
                model.gate_closed(counts)

    def _drive(self, source_role: str, i_v: float, q_v: float) -> tuple[float, float, float] | None:
        """(carrier frequency Hz, Rabi frequency Hz, phase rad) of the IQ drive, or None when nothing is driven."""
        amplitude_v = math.hypot(i_v, q_v)
        if amplitude_v == 0.0 or not self.light_on(source_role):
            return None
        source = self.instrument(source_role)
        frequency_hz = float(source.value("SOUR:FREQ?"))
        power_dbm = float(source.value("SOUR:POW?"))
        phase_rad = math.atan2(q_v, i_v) + math.radians(float(source.value("SOUR:PHAS?")))
        rabi_hz = rabi_frequency_hz(
            amplitude_v, power_dbm, self.number("rabi_frequency_hz_per_volt"), self.number("reference_power_dbm")
        )
        return frequency_hz, rabi_hz, phase_rad


def build_node(
    name: str, cfg: Mapping[str, Any], physics: Mapping[str, Any], world: QuantumWorld, where: str
) -> LabNode:
    """A node from its lab YAML entry (``platform``, ``wiring``) and the constants in the physics YAML."""
    where = f"{where}: lab.nodes.{name}"
    platform = cfg.get("platform")
    wiring = cfg.get("wiring", {})
    if not isinstance(wiring, dict):
        raise LabConfigError(f"{where}.wiring: expected a mapping")
    overrides = cfg.get("physics", {})
    if not isinstance(overrides, dict):
        raise LabConfigError(f"{where}.physics: expected a mapping of constants that differ from physics.yaml")
    clock = NodeClock()
    rng = child_rng(world.rng)
    if platform == "nv":
        from sim_instruments.lab.nv_node import NVNode
        from sim_instruments.physics.nv import NVCentre, NVParams

        params = NVParams.from_mapping({**_section(physics, "nv", where), **overrides}, f"{where} (nv physics)")
        return NVNode(name, wiring, NVCentre(params, world, rng, clock), clock, where)
    if platform == "ion":
        from sim_instruments.lab.ion_node import IonNode
        from sim_instruments.physics.ion import CalciumIon, IonParams

        params_ion = IonParams.from_mapping({**_section(physics, "ion", where), **overrides}, f"{where} (ion physics)")
        return IonNode(name, wiring, CalciumIon(params_ion, world, rng, clock), clock, where)
    raise LabConfigError(f"{where}.platform: expected 'nv' or 'ion', got {platform!r}")


def _section(physics: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    section = physics.get(key)
    if not isinstance(section, dict):
        raise LabConfigError(f"{where}: the physics YAML has no {key!r} section")
    return section
