"""A small pulse-sequence builder over qcodes' ``TektronixAWG5014`` driver.

qcodes' driver speaks the AWG5014's waveform-list and sequence-table commands one by one
(``send_waveform_to_list``, ``set_sqel_waveform``, ``set_sqel_loopcnt``, ``set_sqel_trigger_wait``, ...), and its
``make_send_and_load_awg_file`` route needs a file system on the instrument. No library here turns "a 3 us green
pulse, a 50 ns microwave pulse, a 2 us readout window" into those calls, so this module does, and nothing more:

- a :class:`Pulse` is a stretch of I/Q volts (constant, or shaped by an envelope) with a set of markers high;
- an :class:`Element` is a list of pulses, played ``loop_count`` times;
- a :class:`Block` is a chain of elements started by one trigger; its last element jumps back to its first, which
  waits for the next trigger, so every trigger replays the block;
- an :class:`AWGSequence` holds blocks, is uploaded once (:meth:`AWGSequence.upload`), and plays a block per trigger
  (:meth:`AWGSequence.play`).

Samples are at the AWG's clock (``clock_freq``); every pulse must last a whole number of samples. Voltages are in
volts at the channel output (a sample of 1 is half the channel's peak-to-peak amplitude). qcodes'
``send_waveform_to_list`` truncates ``8191 * (1 + w)`` to an integer; the builder rounds each sample to the nearest
14-bit code and sends that code's midpoint, so the instrument plays the nearest code, and
:meth:`AWGSequence.played_volts` says which voltage that is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

CODE_SCALE = 8191
"""Codes per unit sample: the 14-bit format maps -1 .. +1 to 0 .. 16382 (AWG5014 Programmer Manual, integer format)."""

MIN_WAVEFORM_POINTS = 250
"""Shortest waveform the AWG5014 accepts in sequence mode; shorter elements are padded with idle samples."""

MAX_SEQUENCE_LENGTH = 8000
MAX_LOOP_COUNT = 65536
GRID_TOLERANCE_SAMPLES = 1e-3
"""How far (in samples) a duration may be from a whole number of samples before it is refused."""

Envelope = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
"""A pulse shape: maps times in units of the pulse length, [0, 1), to an envelope in [-1, 1]."""

MARKER_NAMES = tuple(f"{channel}.{marker}" for channel in range(1, 5) for marker in (1, 2))


class AWGSequenceError(ValueError):
    """A pulse, element or sequence the AWG5014 cannot play as asked (the message says which and why)."""


class AWG5014Like(Protocol):
    """What the builder needs of qcodes' ``TektronixAWG5014`` (a real one, or one on a simulated lab)."""

    def send_waveform_to_list(
        self, w: npt.NDArray[np.float64], m1: npt.NDArray[np.int_], m2: npt.NDArray[np.int_], wfmname: str
    ) -> None: ...
    def set_sqel_waveform(self, waveform_name: str, channel: int, element_no: int = 1) -> None: ...
    def set_sqel_loopcnt(self, loopcount: int, element_no: int = 1) -> None: ...
    def set_sqel_trigger_wait(self, element_no: int, state: int = 1) -> str: ...
    def set_sqel_goto_state(self, element_no: int, goto_state: int) -> None: ...
    def set_sqel_goto_target_index(self, element_no: int, goto_to_index_no: int) -> None: ...
    def delete_all_waveforms_from_list(self) -> None: ...
    def force_trigger(self) -> None: ...
    def run(self) -> str: ...
    def stop(self) -> None: ...


def gaussian(sigmas_per_half_length: float = 2.0) -> Envelope:
    """A Gaussian envelope centred in the pulse, reaching exp(-s^2/2) at its ends (s = ``sigmas_per_half_length``)."""

    def envelope(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = (t - 0.5) * 2.0 * sigmas_per_half_length
        return np.asarray(np.exp(-0.5 * x**2), dtype=np.float64)

    return envelope


@dataclass(frozen=True)
class Pulse:
    """``duration_s`` of I/Q drive (volts at the output, times ``shape`` if given) with ``markers`` high.

    Markers are named ``"<channel>.<marker>"`` (``"2.1"`` = channel 2, marker 1), as the lab's wiring names them.
    """

    duration_s: float
    i_v: float = 0.0
    q_v: float = 0.0
    markers: frozenset[str] = frozenset()
    shape: Envelope | None = None

    def __post_init__(self) -> None:
        if not self.duration_s >= 0.0:
            raise AWGSequenceError(f"pulse duration must be >= 0 s, got {self.duration_s!r}")
        unknown = set(self.markers) - set(MARKER_NAMES)
        if unknown:
            raise AWGSequenceError(f"unknown marker(s) {sorted(unknown)}; markers are {', '.join(MARKER_NAMES)}")


def idle(duration_s: float, markers: Iterable[str] = ()) -> Pulse:
    """No drive for ``duration_s``, with ``markers`` high (a laser or a counter gate, say)."""
    return Pulse(duration_s, markers=frozenset(markers))


@dataclass
class Element:
    """Pulses played one after the other, ``loop_count`` times."""

    pulses: list[Pulse]
    loop_count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.loop_count <= MAX_LOOP_COUNT:
            raise AWGSequenceError(f"loop count must be 1 .. {MAX_LOOP_COUNT}, got {self.loop_count}")
        if not self.pulses:
            raise AWGSequenceError("an element needs at least one pulse")


@dataclass
class Block:
    """A chain of elements that one trigger plays; ``start`` is its first element number once added."""

    elements: list[Element]
    start: int = 0


@dataclass
class _Rendered:
    channels: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.int_], npt.NDArray[np.int_]]] = field(
        default_factory=dict
    )


def samples_of(duration_s: float, sample_rate_hz: float, what: str = "duration") -> int:
    """Number of samples of ``duration_s``; refuses durations off the sample grid."""
    exact = duration_s * sample_rate_hz
    n = round(exact)
    if abs(exact - n) > GRID_TOLERANCE_SAMPLES:
        raise AWGSequenceError(
            f"{what} {duration_s!r} s is not a whole number of samples at {sample_rate_hz:g} Sa/s "
            f"({exact:.4f} samples); choose durations on the {1 / sample_rate_hz:g} s grid"
        )
    return n


def on_grid(duration_s: float, sample_rate_hz: float) -> float:
    """``duration_s`` rounded to the nearest whole number of samples."""
    return round(duration_s * sample_rate_hz) / sample_rate_hz


class AWGSequence:
    """Blocks of elements for one AWG5014, uploaded once and then played block by block.

    ``iq_channels`` carry I and Q; ``amplitudes_vpp`` are the channel amplitudes the sequence is built for (a
    sample of 1 plays half of it); markers live on their own channels. ``name`` prefixes the waveform names.
    """

    def __init__(
        self,
        sample_rate_hz: float,
        amplitudes_vpp: dict[int, float],
        iq_channels: tuple[int, int] = (1, 2),
        name: str = "seq",
    ) -> None:
        if sample_rate_hz <= 0:
            raise AWGSequenceError(f"sample rate must be > 0 Sa/s, got {sample_rate_hz!r}")
        if len(set(iq_channels)) != 2 or not all(1 <= c <= 4 for c in iq_channels):
            raise AWGSequenceError(f"iq_channels must be two different channels of 1..4, got {iq_channels!r}")
        for channel in iq_channels:
            if amplitudes_vpp.get(channel, 0.0) <= 0:
                raise AWGSequenceError(f"channel {channel} carries I or Q and needs an amplitude > 0 Vpp")
        self.sample_rate_hz = float(sample_rate_hz)
        self.amplitudes_vpp = dict(amplitudes_vpp)
        self.iq_channels = iq_channels
        self.name = name
        self.blocks: list[Block] = []
        self._length = 0

    # -- building -----------------------------------------------------------------------------------------------
    def add_block(self, elements: Sequence[Element]) -> Block:
        """Append a block (see the module docstring) and return it, with its first element number set."""
        if not elements:
            raise AWGSequenceError("a block needs at least one element")
        if self._length + len(elements) > MAX_SEQUENCE_LENGTH:
            raise AWGSequenceError(f"the sequence would exceed {MAX_SEQUENCE_LENGTH} elements")
        block = Block(list(elements), start=self._length + 1)
        self._length += len(elements)
        self.blocks.append(block)
        return block

    @property
    def length(self) -> int:
        """Number of sequence elements."""
        return self._length

    def code(self, volts: float | npt.NDArray[np.float64], channel: int) -> npt.NDArray[np.int_]:
        """Nearest 14-bit codes (-8191 .. 8191 around the offset) of ``volts`` on ``channel``."""
        half_vpp = self.amplitudes_vpp[channel] / 2.0
        w = np.asarray(volts, dtype=np.float64) / half_vpp
        if np.any(np.abs(w) > 1.0 + 1e-12):
            peak = float(np.max(np.abs(np.asarray(volts, dtype=np.float64))))
            raise AWGSequenceError(
                f"channel {channel}: {peak:g} V exceeds half its amplitude ({half_vpp:g} V of "
                f"{self.amplitudes_vpp[channel]:g} Vpp)"
            )
        return np.asarray(np.clip(np.rint(w * CODE_SCALE), -CODE_SCALE, CODE_SCALE), dtype=np.int_)

    def played_volts(self, volts: float, channel: int) -> float:
        """The voltage the AWG plays for ``volts`` on ``channel`` (the nearest 14-bit code)."""
        return float(self.code(volts, channel)) / CODE_SCALE * self.amplitudes_vpp[channel] / 2.0

    def render(self, element: Element) -> dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.int_],
                                                         npt.NDArray[np.int_]]]:
        """Per channel: samples to send (code midpoints, see module docstring), marker 1 and marker 2 tracks."""
        rate = self.sample_rate_hz
        lengths = [samples_of(p.duration_s, rate, "pulse duration") for p in element.pulses]
        total = sum(lengths)
        if total == 0:
            raise AWGSequenceError("an element must last at least one sample")
        n = max(total, MIN_WAVEFORM_POINTS)
        channels = self._channels()
        volts = {c: np.zeros(n) for c in channels}
        marks = {name: np.zeros(n, dtype=np.int_) for name in MARKER_NAMES}
        start = 0
        i_ch, q_ch = self.iq_channels
        for pulse, length in zip(element.pulses, lengths, strict=True):
            stop = start + length
            envelope: npt.NDArray[np.float64] | float = 1.0
            if pulse.shape is not None:
                envelope = pulse.shape((np.arange(length) + 0.5) / length)
            volts[i_ch][start:stop] = pulse.i_v * envelope
            volts[q_ch][start:stop] = pulse.q_v * envelope
            for marker in pulse.markers:
                marks[marker][start:stop] = 1
            start = stop
        out = {}
        for channel in channels:
            codes = self.code(volts[channel], channel) if channel in self.iq_channels else np.zeros(n, dtype=np.int_)
            midpoints = np.where(codes >= CODE_SCALE, 1.0, (codes + 0.5) / CODE_SCALE)
            out[channel] = (midpoints, marks[f"{channel}.1"], marks[f"{channel}.2"])
        return out

    def _channels(self) -> list[int]:
        used = set(self.iq_channels)
        for block in self.blocks:
            for element in block.elements:
                for pulse in element.pulses:
                    used.update(int(m.split(".")[0]) for m in pulse.markers)
        return sorted(used)

    # -- instrument ---------------------------------------------------------------------------------------------
    def upload(self, awg: AWG5014Like, clear: bool = True) -> None:
        """Stop the AWG, write the waveforms and the sequence table, set amplitudes, switch the channels on, run.

        Identical element waveforms are sent once. ``clear`` deletes the user waveform list first.
        """
        if not self.blocks:
            raise AWGSequenceError("nothing to upload: add a block first")
        awg.stop()
        if clear:
            awg.delete_all_waveforms_from_list()
        sent: dict[str, str] = {}
        assignments: list[tuple[int, dict[int, str], int]] = []
        element_no = 0
        for block in self.blocks:
            for element in block.elements:
                element_no += 1
                names: dict[int, str] = {}
                for channel, (w, m1, m2) in self.render(element).items():
                    digest = hashlib.sha1(w.tobytes() + m1.tobytes() + m2.tobytes()).hexdigest()[:12]
                    if digest not in sent:
                        sent[digest] = f"{self.name}_{len(sent)}"
                        awg.send_waveform_to_list(w, m1, m2, sent[digest])
                    names[channel] = sent[digest]
                assignments.append((element_no, names, element.loop_count))
        _set(awg, "sequence_length", self._length)
        starts = {b.start for b in self.blocks}
        ends = {b.start + len(b.elements) - 1: b.start for b in self.blocks}
        for element_no, names, loops in assignments:
            for channel, name in names.items():
                awg.set_sqel_waveform(name, channel, element_no)
            awg.set_sqel_loopcnt(loops, element_no)
            awg.set_sqel_trigger_wait(element_no, 1 if element_no in starts else 0)
            awg.set_sqel_goto_state(element_no, 1 if element_no in ends else 0)
            if element_no in ends:
                awg.set_sqel_goto_target_index(element_no, ends[element_no])
        for channel in self._channels():
            submodule = getattr(awg, f"ch{channel}")
            if channel in self.amplitudes_vpp:
                submodule.amp(self.amplitudes_vpp[channel])
            submodule.offset(0.0)
            submodule.state(1)
        _set(awg, "run_mode", "SEQ")
        awg.run()

    def select(self, awg: AWG5014Like, block: Block) -> None:
        """Make ``block`` the one the next trigger plays (it stays selected: it jumps back to its start)."""
        if block not in self.blocks:
            raise AWGSequenceError("this block belongs to another sequence")
        _set(awg, "sequence_pos", block.start)

    def play(self, awg: AWG5014Like, block: Block, triggers: int = 1) -> None:
        """Select ``block`` and trigger it ``triggers`` times (each trigger plays the whole block once)."""
        self.select(awg, block)
        for _ in range(triggers):
            awg.force_trigger()


def _set(awg: object, parameter: str, value: object) -> None:
    getattr(awg, parameter)(value)
