"""The attempt loop of a heralded link, as both of its QDriver ends play it (NV and trapped-ion alike): the AWG
element, its loop and event jump, and the link end that prepares, starts and corrects it through its own driver.

**Element** (:func:`attempt_element`; one repetition lasts the station's ``attempt_s``,
:mod:`qdrivers.heralding.settings`): idle filling the repetition, then the platform's reset of the communication
qubit (NV: spin pumping; ion: optical pumping), a settle, the alpha rotation ``R_x(2 acos(sqrt(alpha)))`` (which
leaves ``sqrt(alpha)|0> - i sqrt(1-alpha)|1>``, |0> bright), and the optical excitation (the station's emit
marker), which ends the repetition. The idle comes first so that the superposition lives only from the alpha
rotation to the herald: a link's repetition is as long as its slower end needs (an ion's 729 pulse and its AWG's
250-sample minimum: ~25 us), and 20 us of free precession after the rotation would dephase an NV electron
(T2* ~ 5 us). The herald ends the loop at the end of the repetition (``EVENt:JTIMing`` SYNC, the default).

**Loop** (:func:`configure_attempt_loops`): the element's event jump goes to its own start (``JTARget:TYPE
INDex``, ``EVENt:JMODe EJUMp``), where it waits for the next trigger; its loop count is the link's ``max_attempts``,
or infinite above the AWG's 65536 (:class:`AttemptLoopEnd`).

**End** (:class:`AttemptLoopEnd`): what the link controller (:mod:`qdrivers.heralding.link_controller`) asks of one
end, in the terms both platforms share, through the node's QDriver (:class:`LinkEndDriver`: its fault handling,
its AWG, its lab clock, its safe state); a platform's end adds how it prepares its qubit and plays a pi pulse.
Every step runs through that driver's fault handling: an instrument failure puts the node's
station in its safe state and raises a QDriverError naming the instrument.

Hand-written: the element layout and the two-ended loop are this project's heralded-link protocol; the AWG
commands are qcodes' driver through :mod:`instruments.tektronix.awg_sequence`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from instruments.tektronix.awg_sequence import (
    MIN_WAVEFORM_POINTS,
    AWGSequence,
    AWGSequenceError,
    Block,
    Element,
    Pulse,
    idle,
    samples_of,
)
from qdrivers.heralding.settings import EntSettings
from qlab_os.errors import ConfigError
from qlab_os.qdevice.instructions import Axis

__all__ = [
    "EMIT_KEY", "SETTLE_KEY", "AttemptLoopEnd", "LinkEndDriver", "Timed", "attempt_element", "configure_attempt_loops",
]

CORRECTION_AXIS = {1: Axis.X, 2: Axis.Y}
"""The pi pulse on one end that turns the heralded Bell state into Phi+: X for Psi+ (``bell_index`` 1), Y for Psi-
(2): ``(Y (x) I)|Psi-> = i|Phi+>``."""


class Timed(NamedTuple):
    """A piece of the attempt element and where its length is set: file ``source``, key ``key`` (for errors)."""

    pulse: Pulse
    source: str
    key: str


SETTLE_KEY = "timing.settle_s"
EMIT_KEY = "timing.emit_s"
"""The node setup keys of the settle and the excitation, on every platform."""


def attempt_element(sequence: AWGSequence, ent: EntSettings, *, reset: Timed, settle_s: float, alpha: Timed,
                    emit_s: float) -> Block:
    """Add the attempt element towards ``ent.station`` to ``sequence`` (see the module docstring): idle, ``reset``,
    settle (``timing.settle_s``), ``alpha``, the excitation (``timing.emit_s``). A piece off the AWG's sample grid is a
    ConfigError naming its file and key; a repetition too short for the pieces, off the sample grid or under the AWG's
    minimum waveform is a ConfigError naming the node setup file and the key of ``attempt_s``."""
    rate = sequence.sample_rate_hz
    pieces = [reset, Timed(idle(settle_s), ent.source, SETTLE_KEY), alpha,
              Timed(idle(emit_s, [ent.emit_marker]), ent.source, EMIT_KEY)]
    body_samples = sum(_samples(piece.pulse.duration_s, rate, piece.source, piece.key, ent.station)
                       for piece in pieces)
    total = _samples(ent.attempt_s, rate, ent.source, ent.attempt_key, ent.station)
    if total < MIN_WAVEFORM_POINTS:
        raise ConfigError(ent.source, ent.attempt_key,
                          f"{ent.attempt_s:g} s is shorter than the AWG's minimum waveform ({MIN_WAVEFORM_POINTS} "
                          f"samples, {MIN_WAVEFORM_POINTS / rate:g} s at {rate:g} Sa/s)")
    if total < body_samples:
        raise ConfigError(ent.source, ent.attempt_key,
                          f"{ent.attempt_s:g} s is shorter than the reset, settle, alpha rotation and excitation "
                          f"towards {ent.station} ({body_samples / rate:g} s)")
    pad = [idle((total - body_samples) / rate)] if total > body_samples else []
    return sequence.add_block([Element(pad + [piece.pulse for piece in pieces])])


def _samples(duration_s: float, rate_hz: float, source: str, key: str, station: str) -> int:
    try:
        return samples_of(duration_s, rate_hz, f"in the attempt element towards {station}, the duration")
    except AWGSequenceError as exc:
        raise ConfigError(source, key, str(exc)) from None


def configure_attempt_loops(awg: Any, blocks: Iterable[Block]) -> None:
    """After the sequence's upload: each attempt element jumps to its own start on an event (the herald), where it
    waits for the next trigger; event jumps, not the dynamic jump table."""
    starts = [block.start for block in blocks]
    for start in starts:
        awg.set_sqel_event_jump_type(start, "INDEX")
        awg.set_sqel_event_jump_target_index(start, start)
    if starts:
        awg.write("EVENt:JMODe EJUMp")


class LinkEndDriver(Protocol):
    """What a link end needs of its node's QDriver, beyond what the platform's end adds."""

    def run_step(self, what: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` with the driver's fault handling: on a failure, the station in its safe state and a
        QDriverError naming the instrument (and ``what``)."""

    def talking_to(self, role: str) -> contextlib.AbstractContextManager[Any]:
        """The instrument of ``role``, failures of which become the driver's instrument fault."""

    def idle_lab(self, duration_ns: int) -> None:
        """The node waits ``duration_ns``: on the simulated lab its clock advances; nothing on hardware."""

    def safe_state(self) -> None:
        """The station's safe state. Never raises."""


class AttemptLoopEnd(abc.ABC):
    """One node as an end of heralded link ``link`` (the :class:`~qdrivers.heralding.link_controller.LinkEnd`
    protocol), through its QDriver ``driver``. ``entanglement`` and ``blocks`` are the node's settings and attempt
    elements per station; ``duration_ns`` tells how long an element plays."""

    def __init__(self, driver: LinkEndDriver, node: str, link: str, entanglement: dict[str, EntSettings],
                 blocks: dict[str, Block], duration_ns: Callable[[Block], int]) -> None:
        self._end_driver = driver
        self._node = node
        self.link = link
        self._entanglement = entanglement
        self._blocks = blocks
        self._duration_ns = duration_ns
        self._loop_setting: dict[str, int | None] = {}

    # ---- through the driver, the same on every platform -------------------------------------------------

    def _step(self, what: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` with the driver's fault handling (safe state, QDriverError naming the instrument)."""
        return self._end_driver.run_step(what, action)

    def _awg(self) -> contextlib.AbstractContextManager[Any]:
        """The node's AWG, failures of which become the driver's instrument fault."""
        return self._end_driver.talking_to("awg")

    def safe_state(self) -> None:
        """This end's station in its safe state. Never raises."""
        self._end_driver.safe_state()

    # ---- what the platform adds ----------------------------------------------------------------------------

    @abc.abstractmethod
    def _prepare_qubit(self, station: str) -> int:
        """Sync the lab clock (if simulated), initialise the communication qubit and set the drive for the alpha
        rotation; return the time that took (ns), measured from the sync."""

    @abc.abstractmethod
    def _trigger(self, block: Block) -> None:
        """Jump to ``block`` and trigger it."""

    @abc.abstractmethod
    def _pi_pulse(self, axis: Axis) -> int:
        """A pi pulse about ``axis`` on the communication qubit; its duration (ns)."""

    @abc.abstractmethod
    def correction_duration_ns(self) -> int:
        """How long :meth:`_pi_pulse` plays (ns): the link's correction goes to the end with the shorter one."""

    # ---- the LinkEnd protocol ------------------------------------------------------------------------------

    @property
    def node(self) -> str:
        return self._node

    def stations(self) -> tuple[str, ...]:
        return tuple(self._blocks)

    def heralding_station_file(self, station: str) -> Path:
        return self._entanglement[station].station_file

    def attempt_duration_ns(self, station: str) -> int:
        return self._duration_ns(self._blocks[station])

    def check_attempt_duration(self, station: str, attempt_duration_ns: int) -> None:
        """A ConfigError naming this node's setup file and the key of ``attempt_s`` unless the element towards
        ``station`` lasts the link's ``attempt_duration_ns`` (from the network file)."""
        element_ns = self.attempt_duration_ns(station)
        if element_ns != attempt_duration_ns:
            ent = self._entanglement[station]
            raise ConfigError(ent.source, ent.attempt_key,
                              f"node {self.node}'s attempt element towards heralding station {station} lasts "
                              f"{element_ns} ns, but the network gives link {self.link} attempt_duration_ns "
                              f"{attempt_duration_ns}; both ends of a link repeat in lock-step, so make them equal")

    def check_ready(self) -> None:  # noqa: B027 - an optional hook: most platforms have nothing to check
        """Nothing to check by default (a platform whose attempts disturb other qubits refuses here)."""

    def prepare_attempts(self, station: str, max_attempts: int | None) -> int:
        """Initialise the qubit and set the loop count (``None``: infinite); the time that took (ns)."""
        block = self._blocks[station]

        def prepare() -> int:
            duration_ns = self._prepare_qubit(station)
            if self._loop_setting.get(station, 0) != max_attempts:
                with self._awg() as awg:
                    awg.set_sqel_loopcnt_to_inf(block.start, 1 if max_attempts is None else 0)
                    if max_attempts is not None:
                        awg.set_sqel_loopcnt(max_attempts, block.start)
                self._loop_setting[station] = max_attempts
            return duration_ns

        result: int = self._step(f"ENT on link {self.link}: preparing the attempt loop", prepare)
        return result

    def wait(self, duration_ns: int) -> None:
        if duration_ns > 0:
            self._end_driver.idle_lab(duration_ns)

    def start_attempts(self, station: str) -> None:
        block = self._blocks[station]
        self._step(f"ENT on link {self.link}: the attempt loop", lambda: self._trigger(block))

    def correct(self, bell_index: int) -> int:
        axis = CORRECTION_AXIS[bell_index]
        result: int = self._step(f"ENT on link {self.link}: Pauli correction", lambda: self._pi_pulse(axis))
        return result

    def forget_loop_settings(self) -> None:
        """The AWG's sequence was uploaded again: the loop counts are the library's again."""
        self._loop_setting.clear()
