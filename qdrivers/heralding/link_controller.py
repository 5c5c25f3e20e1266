"""The link controller: one heralded link's two QDriver ends, its heralding station, and the ENT two-call contract.

The kernel's link layer issues ENT on the creator's QDriver and right after on the receiver's, both node clocks
aligned at the same start. On the bench both nodes' AWGs run the attempt loop together (a shared trigger), and the
heralding station's herald, wired to both AWGs' event inputs, ends it (Humphreys 2018, Pompili 2021, Hermans 2022).
As the sim driver's link does (:mod:`sim_instruments.physics.link`), the first ENT call does the work and the second
collects it:

1. the first end's ENT: each end may refuse before anything plays (``check_ready``: an ion whose other ion holds
   a state); each end *prepares* its attempt loop through its own driver (the end syncs its lab clock,
   initialises its qubit, sets the loop count; it touches only its own instruments); the end that was ready first
   waits for the other (both loops start on one trigger edge); each end *starts* its loop; the ID1000 of the
   heralding station then says how many attempts were made (its trigger counter) and which detector heralded (its
   coincidence counters "trigger and detector k"). With ``bell_state_correction`` the end with the shorter pi
   pulse (the first on a tie; an NV rather than an ion, whose electron could not wait through the ion's 25 us
   pulse) applies the Pauli correction to Phi+ with a real pulse while the other waits as long. The result is
   kept for the other end;
2. the second end's ENT returns that result (duration, herald, Bell index) without touching anything.

The duration both ends report is the lab time the whole took: the longer preparation, the attempts times the loop
element's length, and the correction.

Faults: an end's own instrument fault comes out of that end as a QDriverError naming the instrument (the end's
driver has put its station in its safe state); the controller then puts the other end and the heralding station in
their safe state too and re-raises, naming the link. A fault of the ID1000 is reported the same way, naming it.

Both drivers find the controller in the run's ``shared`` dict (:func:`link_controller`) when the kernel connects the
link (``QDriver.connect_link``). When the second end connects, the controller picks the heralding station both
name in their node setups' entanglement settings (:mod:`qdrivers.heralding.settings`) and checks that both ends'
attempt elements last the network's ``attempt_duration_ns`` (a ConfigError naming the node setup file and the
``attempt_s`` key of the end that differs); the station is connected on the first ENT.

Hand-written: the ordering problem (two drivers called one after the other for one physical event) is this
project's kernel contract; no library has it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from qlab_os.errors import QDriverError
from qlab_os.lab.errors import classify
from qlab_os.lab.station import QlabStation, connect_station
from qlab_os.qdevice.driver import LinkSpec
from qlab_os.qdevice.instructions import PhysicalInstruction

__all__ = ["AWG_MAX_LOOP_COUNT", "EntResult", "LinkController", "LinkEnd", "link_controller"]

AWG_MAX_LOOP_COUNT = 65536
"""The AWG5014's largest finite loop count; a link allowing more attempts loops infinitely (until the herald)."""
_PSI_PLUS, _PSI_MINUS, _PHI_PLUS = 1, 2, 0


@dataclass(frozen=True)
class EntResult:
    """What both ends answer: lab time taken (ns), whether a herald came, the Bell index (netqasm's order)."""

    duration_ns: int
    heralded: bool
    bell_index: int | None
    attempts: int


class LinkEnd(Protocol):
    """One end of a heralded link, as its QDriver offers it (every method touches only that driver's instruments and
    raises QDriverError naming the instrument on a fault, after its own safe state)."""

    @property
    def node(self) -> str: ...

    def heralding_station_file(self, station: str) -> Path:
        """The QCoDeS station file of heralding station ``station`` (from this node's setup)."""
        ...

    def stations(self) -> tuple[str, ...]:
        """The heralding stations this end can emit towards (from its node setup)."""
        ...

    def attempt_duration_ns(self, station: str) -> int:
        """The length of one repetition of this end's attempt-loop element towards ``station``."""
        ...

    def check_attempt_duration(self, station: str, attempt_duration_ns: int) -> None:
        """Raise a ConfigError naming the node setup file and key unless the element towards ``station`` lasts
        ``attempt_duration_ns`` (the network's, for the link)."""
        ...

    def check_ready(self) -> None:
        """Raise (UnsupportedInstructionError) if this end cannot start attempts now; touches no instrument."""
        ...

    def prepare_attempts(self, station: str, max_attempts: int | None) -> int:
        """Sync the lab clock, initialise the communication qubit, set the loop (``None``: infinite); return the
        time that took (ns)."""
        ...

    def wait(self, duration_ns: int) -> None:
        """Let this end idle for ``duration_ns`` (waiting for the other end)."""
        ...

    def start_attempts(self, station: str) -> None:
        """Trigger the attempt loop (it runs until the herald, or its loop count)."""
        ...

    def correction_duration_ns(self) -> int:
        """How long the pi pulse of :meth:`correct` plays (ns)."""
        ...

    def correct(self, bell_index: int) -> int:
        """Apply the Pauli correction that turns Bell state ``bell_index`` (1 Psi+, 2 Psi-) into Phi+; its ns."""
        ...

    def safe_state(self) -> None:
        """This end's station in its safe state. Never raises."""
        ...


class LinkController:
    """The two ends of link ``name`` (see the module docstring)."""

    def __init__(self, name: str, spec: LinkSpec) -> None:
        self.name = name
        self.spec = spec
        self.ends: list[LinkEnd] = []
        self.station: QlabStation | None = None
        self.station_name: str | None = None
        self._station_file: Path | None = None
        self._pending: tuple[LinkEnd, EntResult] | None = None
        self.last: EntResult | None = None

    def register(self, end: LinkEnd, spec: LinkSpec) -> None:
        """``end`` is one end of this link (both ends give the same spec)."""
        if spec != self.spec:
            raise QDriverError(f"link {self.name}: its two ends were connected with different link specs "
                               f"({self.spec} and {spec})")
        if any(e.node == end.node for e in self.ends):
            ends = [end if e.node == end.node else e for e in self.ends]
        elif len(self.ends) == 2:
            raise QDriverError(f"link {self.name} already has its two ends ({self.ends[0].node}, {self.ends[1].node});"
                               f" node {end.node} cannot join it")
        else:
            ends = [*self.ends, end]
        if len(ends) == 2:
            self._choose_station(ends[0], ends[1])
        self.ends = ends

    def _choose_station(self, first: LinkEnd, second: LinkEnd) -> None:
        """Both ends are connected: the heralding station they share (the one named as the link, if several), and
        each end's attempt element against the link's ``attempt_duration_ns`` (a ConfigError naming the node setup
        file and key of the end that differs). Nothing is connected yet."""
        common = [s for s in first.stations() if s in second.stations()]
        if self.name in common:
            common = [self.name]
        if len(common) != 1:
            raise QDriverError(
                f"link {self.name}: nodes {first.node} and {second.node} share "
                f"{len(common)} heralding stations ({', '.join(common) or 'none'}) in their node setups' "
                "entanglement; name the link as one of them")
        files = {first.heralding_station_file(common[0]), second.heralding_station_file(common[0])}
        if len(files) != 1:
            raise QDriverError(f"link {self.name}: nodes {first.node} and {second.node} name different station "
                               f"files for heralding station {common[0]}: {sorted(map(str, files))}")
        for end in (first, second):
            end.check_attempt_duration(common[0], self.spec.attempt_duration_ns)
        if self.station_name is not None and self.station_name != common[0]:
            self.close()
        self.station_name = common[0]
        self._station_file = files.pop()

    def ent(self, end: LinkEnd) -> EntResult:
        """One end's ENT (the first call does the work, the second collects it)."""
        if self._pending is not None:
            waiting, result = self._pending
            if waiting is end:
                self._pending = None
                return result
            raise QDriverError(f"link {self.name}: node {end.node} asked for a new pair before node {waiting.node} "
                               "collected the last one (the two ENTs of a pair must come back to back)")
        if len(self.ends) != 2 or end not in self.ends:
            raise QDriverError(f"link {self.name}: ENT needs both ends connected; connected: "
                               f"{', '.join(e.node for e in self.ends) or 'none'}")
        other = self.ends[1] if end is self.ends[0] else self.ends[0]
        for e in (end, other):  # a refusal before anything is played leaves every station as it is
            e.check_ready()
        try:
            result = self._attempt(end, other)
        except BaseException:
            self._safe_state()
            raise
        self._pending = (other, result)
        self.last = result
        return result

    def close(self) -> None:
        """Safe state and close the heralding station's instruments."""
        if self.station is not None:
            self.station.close()
            self.station = None

    # ---- the work of the first call --------------------------------------------------------------------------

    def _attempt(self, first: LinkEnd, second: LinkEnd) -> EntResult:
        station = self._heralding_station()
        element_ns = self.spec.attempt_duration_ns  # both ends' elements, checked when they connected
        repetitions = self.spec.max_attempts if self.spec.max_attempts <= AWG_MAX_LOOP_COUNT else None
        tagger = self._tagger()
        with self._talking_to_tagger():
            tagger.reset_counters()
            tagger.start_recording()
        prepared = {e.node: e.prepare_attempts(station, repetitions) for e in (first, second)}
        ready_ns = max(prepared.values())
        for e in (first, second):
            if ready_ns > prepared[e.node]:
                e.wait(ready_ns - prepared[e.node])
        for e in (first, second):
            e.start_attempts(station)
        with self._talking_to_tagger():
            attempts = int(tagger.inputs[1].counts())
            heralds = (int(tagger.coincidence(1, 2).counts()), int(tagger.coincidence(1, 3).counts()))
        if attempts < 1 or sum(heralds) > 1 or (repetitions is not None and attempts > repetitions):
            raise QDriverError(
                f"link {self.name}: the heralding station's {self._tagger_name()} counted {attempts} attempt(s) and "
                f"heralds {heralds} for one attempt loop of at most {repetitions or 'infinitely many'} repetitions: "
                "the AWGs did not run their loops together (check the shared trigger and the herald to their event "
                "inputs)")
        duration_ns = ready_ns + attempts * element_ns
        if sum(heralds) == 0:
            return EntResult(duration_ns, False, None, attempts)
        bell = _PSI_PLUS if heralds[0] else _PSI_MINUS
        if self.spec.bell_state_correction:
            # the end with the shorter pi pulse plays it (the first on a tie): the other end's half waits meanwhile,
            # and an NV electron (T2* ~ 5 us) must not wait for an ion's 25 us pulse
            corrector, waiter = sorted((first, second), key=lambda e: e.correction_duration_ns())
            correction_ns = corrector.correct(bell)
            waiter.wait(correction_ns)
            duration_ns += correction_ns
            bell = _PHI_PLUS
        return EntResult(duration_ns, True, bell, attempts)

    def _heralding_station(self) -> str:
        """The heralding station both ends emit towards (chosen when they connected), connected."""
        if self.station_name is None:
            raise QDriverError(f"link {self.name}: ENT needs both ends connected")
        if self.station is None:
            assert self._station_file is not None  # set with station_name
            try:
                self.station = connect_station(self._station_file, default=False, node=self.station_name)
            except Exception as exc:
                raise QDriverError(f"link {self.name}: cannot connect the heralding station "
                                   f"{self._station_file}: {exc}") from exc
            if "time_tagger" not in self.station.components:
                raise QDriverError(f"link {self.name}: the heralding station {self._station_file} has no "
                                   "instrument 'time_tagger'")
            with self._talking_to_tagger():
                self._tagger().load_counting_configuration()
        return self.station_name

    def _tagger(self) -> Any:
        assert self.station is not None
        return self.station.components["time_tagger"]

    def _tagger_name(self) -> str:
        return str(self._tagger().name)

    @contextlib.contextmanager
    def _talking_to_tagger(self) -> Iterator[None]:
        """A failure of the ID1000 becomes a QDriverError naming it, after every station's safe state."""
        try:
            yield
        except QDriverError:
            raise
        except Exception as exc:
            name = self._tagger_name()
            assert self.station is not None
            cfg = self.station.station_config.instruments.get("time_tagger")
            error = classify(name, cfg.address if cfg is not None else None, exc)
            raise QDriverError(f"link {self.name}: heralding station {self.station_name}: {error}; the nodes' "
                               "stations and the heralding station are in their safe state") from exc

    def _safe_state(self) -> None:
        self._pending = None
        for end in self.ends:
            end.safe_state()
        if self.station is not None:
            with contextlib.suppress(Exception):
                self.station.safe_state()


def link_controller(shared: dict[str, object], name: str, spec: LinkSpec,
                    factory: Callable[[str, LinkSpec], LinkController] = LinkController) -> LinkController:
    """The controller of link ``name`` in the run's ``shared`` dict (created by the first end to connect)."""
    key = f"heralding-link:{name}"
    controller = shared.get(key)
    if controller is None:
        controller = factory(name, spec)
        shared[key] = controller
    if not isinstance(controller, LinkController):
        raise QDriverError(f"link {name}: the run's shared state holds {type(controller).__name__} under {key!r}")
    return controller


E = TypeVar("E", bound=LinkEnd)


class JoinedLinks(Generic[E]):
    """The links one node's driver has joined, by name, with its end of each: what ``connect_link``, ENT and
    ``close`` do alike on every platform."""

    def __init__(self) -> None:
        self._links: dict[str, tuple[LinkController, E]] = {}

    def join(self, shared: dict[str, object], name: str, spec: LinkSpec, end: E) -> None:
        """Register ``end`` with link ``name``'s controller (one per run, in ``shared``)."""
        controller = link_controller(shared, name, spec)
        controller.register(end, spec)
        self._links[name] = (controller, end)

    def ent(self, instruction: PhysicalInstruction, where: str) -> EntResult:
        """Run this node's end of the ENT ``instruction`` names; ``where`` names the node in the error."""
        assert instruction.ent is not None
        link = instruction.ent.link
        if link not in self._links:
            raise QDriverError(f"'{instruction}' on {where}: no link {link!r} was connected; "
                               f"connected: {', '.join(self._links) or 'none'}")
        controller, end = self._links[link]
        return controller.ent(end)

    def ends(self) -> list[E]:
        return [end for _, end in self._links.values()]

    def close(self) -> None:
        """Close every joined link's heralding station."""
        for controller, _ in self._links.values():
            controller.close()
