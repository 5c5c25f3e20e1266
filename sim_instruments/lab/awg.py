"""Waveform list, sequence memory and player of a simulated Tektronix AWG5014.

Why by hand: pyvisa-sim can neither decode the binary blocks of ``WLISt:WAVeform:DATA`` nor play a sequence, and
the physics needs what the AWG plays. This module keeps the instrument's memory model (AWG5014 Programmer Manual:
``WLISt:WAVeform:NEW/DATA/DELete``, ``SEQuence:LENGth``, ``SEQuence:ELEMent<n>:WAVeform<m>``, ``:LOOP:COUNt``,
``:LOOP:INFinite``, ``:TWAit``, ``:GOTO``, the event jump ``:JTARget:TYPE INDex|NEXT|OFF`` and ``:JTARget:INDex``,
``SEQuence:JUMP:IMMediate``) and turns a played stretch of the sequence into :class:`Segment` s: stretches of
constant channel voltages and markers, which the node's physics consumes.

An element that something outside the player must end (an infinite loop, or an attempt loop whose herald comes on
the event input) *parks* the player there (:attr:`SequenceMemory.parked`); whoever resolves it calls
:meth:`SequenceMemory.leave_parked` and plays on (:mod:`sim_instruments.lab.heralding`).

Integer waveform format (as qcodes' driver writes it): little-endian uint16, bits 0-13 the 14-bit sample
(0 -> -1, 8191 -> 0, 16382 -> +1 of the channel's amplitude/2), bit 14 marker 1, bit 15 marker 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

N_CHANNELS = 4
_DATA = re.compile(rb'^WLIS[A-Za-z]*:WAV[A-Za-z]*:DATA\s+"([^"]+)",\s*(?:(\d+),\s*(\d+),\s*)?#(\d)')


class AWGError(ValueError):
    """The AWG was asked something its memory model refuses (unknown waveform, length mismatch...)."""


@dataclass(frozen=True)
class Waveform:
    """One entry of the user waveform list: normalised samples in [-1, 1] and two marker tracks."""

    samples: npt.NDArray[np.float64]
    marker1: npt.NDArray[np.bool_]
    marker2: npt.NDArray[np.bool_]


@dataclass
class Element:
    """One sequence element: a waveform name per channel, loop count, trigger wait, goto."""

    waveforms: dict[int, str] = field(default_factory=dict)
    loop_count: int = 1
    trigger_wait: bool = False
    goto_state: bool = False
    goto_index: int = 1
    loop_infinite: bool = False
    jump_type: str = "OFF"
    """Event jump target type: ``OFF`` (events ignored), ``INDEX`` (to :attr:`jump_index`) or ``NEXT``."""
    jump_index: int = 1

    @property
    def listens_for_events(self) -> bool:
        return self.jump_type != "OFF"


@dataclass(frozen=True)
class Segment:
    """A stretch of constant output: channel voltages (V) and the markers that are high ("1.1" = ch1 marker1)."""

    duration_s: float
    volts: tuple[float, ...]
    markers: frozenset[str]


def decode_integer_block(payload: bytes) -> Waveform:
    """Decode the AWG5014 integer format (see module docstring)."""
    if len(payload) % 2:
        raise AWGError(f"integer waveform block has an odd number of bytes ({len(payload)})")
    words = np.frombuffer(payload, dtype="<u2")
    samples = (words & 0x3FFF).astype(np.float64) / 8191.0 - 1.0
    return Waveform(samples=samples, marker1=(words & 0x4000) != 0, marker2=(words & 0x8000) != 0)


def parse_data_command(data: bytes) -> tuple[str, bytes]:
    """Split ``WLISt:WAVeform:DATA "name",#<n><len><bytes>`` into the name and the binary payload."""
    match = _DATA.match(data)
    if match is None:
        raise AWGError(f"malformed WLISt:WAVeform:DATA command: {data[:60]!r}")
    digits = int(match.group(4))
    start = match.end()
    length = int(data[start : start + digits])
    payload = data[start + digits : start + digits + length]
    if len(payload) != length:
        raise AWGError(f"binary block announces {length} bytes but carries {len(payload)}")
    return match.group(1).decode(), payload


def _append(segments: list[Segment], segment: Segment) -> None:
    """Append, merging with the previous stretch when the outputs do not change across the boundary."""
    if segments and segments[-1].volts == segment.volts and segments[-1].markers == segment.markers:
        last = segments[-1]
        segments[-1] = Segment(last.duration_s + segment.duration_s, last.volts, last.markers)
    else:
        segments.append(segment)


class SequenceMemory:
    """Waveform list plus sequence table, and the player's position."""

    def __init__(self) -> None:
        self.waveforms: dict[str, Waveform] = {}
        self.declared_lengths: dict[str, int] = {}
        self.elements: list[Element] = []
        self.position = 1
        self.parked: int | None = None
        """The element the player is parked at (see the module docstring), or None."""
        self._segment_cache: dict[tuple[int, tuple[float, ...], tuple[float, ...], float], list[Segment]] = {}

    def new_waveform(self, name: str, length: int) -> None:
        self.declared_lengths[name] = length

    def delete_waveform(self, name: str) -> None:
        if name.upper() == "ALL":
            self.waveforms.clear()
            self.declared_lengths.clear()
        else:
            self.waveforms.pop(name, None)
            self.declared_lengths.pop(name, None)
        self._segment_cache.clear()

    def store(self, name: str, waveform: Waveform) -> None:
        declared = self.declared_lengths.get(name)
        if declared is None:
            raise AWGError(f"waveform {name!r} was not created with WLISt:WAVeform:NEW")
        if declared != len(waveform.samples):
            raise AWGError(f"waveform {name!r} was declared with {declared} points but {len(waveform.samples)} came")
        self.waveforms[name] = waveform
        self._segment_cache.clear()

    def set_length(self, length: int) -> None:
        while len(self.elements) < length:
            self.elements.append(Element())
        del self.elements[length:]
        self.position = min(self.position, max(length, 1))
        self._segment_cache.clear()

    def element(self, index: int) -> Element:
        if not 1 <= index <= len(self.elements):
            raise AWGError(f"sequence element {index} does not exist (sequence length {len(self.elements)})")
        return self.elements[index - 1]

    def assign(self, index: int, channel: int, name: str) -> None:
        if name not in self.declared_lengths:
            raise AWGError(f"no waveform named {name!r} in the waveform list")
        self.element(index).waveforms[channel] = name
        self._segment_cache.clear()

    def play_from_position(
        self,
        sample_rate_hz: float,
        amplitudes_v: tuple[float, ...],
        offsets_v: tuple[float, ...],
        parks: Callable[[int], bool] | None = None,
    ) -> list[Segment]:
        """Segments played by one trigger: from the current element up to the next one that waits for a trigger.

        An element with GOTO jumps there; the player stops at the end of the table (position back to 1) or when it
        reaches an element that waits for a trigger, where the next trigger resumes. Before playing an element for
        which ``parks(index)`` is true, the player parks there (:attr:`parked`) and returns what it played so far.
        """
        if not self.elements:
            raise AWGError("the sequence is empty: set SEQuence:LENGth and assign waveforms first")
        segments: list[Segment] = []
        index = self.position
        visited = 0
        while True:
            element = self.element(index)
            if parks is not None and parks(index):
                self.position = index
                self.parked = index
                return segments
            element_segments = self._segments(index, amplitudes_v, offsets_v, sample_rate_hz)
            if len(element_segments) == 1:  # a constant element looped is one longer stretch of the same output
                only = element_segments[0]
                _append(segments, Segment(only.duration_s * element.loop_count, only.volts, only.markers))
            else:
                for segment in element_segments * element.loop_count:
                    _append(segments, segment)
            visited += 1
            if visited > 10 * len(self.elements):
                raise AWGError("sequence loops forever without waiting for a trigger")
            index = element.goto_index if element.goto_state else index + 1
            if index > len(self.elements):
                self.position = 1
                return segments
            if self.element(index).trigger_wait:
                self.position = index
                return segments

    def next_index(self, index: int, jumped: bool) -> int:
        """The element after ``index``: its event jump target when an event jumped, else its GOTO or the next."""
        element = self.element(index)
        if jumped:
            return element.jump_index if element.jump_type == "INDEX" else index + 1
        return element.goto_index if element.goto_state else index + 1

    def leave_parked(self, jumped: bool) -> bool:
        """Move on from the parked element; True if the player goes on playing (False: it stopped at an element
        that waits for a trigger, or at the end of the table)."""
        if self.parked is None:
            raise AWGError("the player is not parked in a loop")
        index = self.next_index(self.parked, jumped)
        self.parked = None
        if index > len(self.elements):
            self.position = 1
            return False
        self.position = index
        return not self.element(index).trigger_wait

    def segments_of(
        self, index: int, amplitudes_v: tuple[float, ...], offsets_v: tuple[float, ...], sample_rate_hz: float
    ) -> list[Segment]:
        """The stretches one repetition of element ``index`` plays."""
        return self._segments(index, amplitudes_v, offsets_v, sample_rate_hz)

    def _segments(
        self, index: int, amplitudes_v: tuple[float, ...], offsets_v: tuple[float, ...], sample_rate_hz: float
    ) -> list[Segment]:
        key = (index, amplitudes_v, offsets_v, sample_rate_hz)
        cached = self._segment_cache.get(key)
        if cached is not None:
            return cached
        element = self.element(index)
        lengths = {len(self.waveforms[n].samples) for n in element.waveforms.values() if n in self.waveforms}
        missing = [n for n in element.waveforms.values() if n not in self.waveforms]
        if missing:
            raise AWGError(f"element {index} uses waveform(s) without data: {', '.join(missing)}")
        if len(lengths) != 1:
            raise AWGError(f"element {index}: channels need waveforms of one length, got {sorted(lengths)}")
        (n_samples,) = lengths
        columns: list[npt.NDArray[np.float64]] = []
        marker_names: list[str] = []
        for channel in range(1, N_CHANNELS + 1):
            name = element.waveforms.get(channel)
            if name is None:
                columns.append(np.full(n_samples, offsets_v[channel - 1]))
                continue
            wf = self.waveforms[name]
            columns.append(wf.samples * amplitudes_v[channel - 1] / 2.0 + offsets_v[channel - 1])
            columns.append(wf.marker1.astype(np.float64))
            columns.append(wf.marker2.astype(np.float64))
            marker_names.extend((f"{channel}.1", f"{channel}.2"))
        table = np.stack(columns, axis=1)
        change = np.flatnonzero(np.any(table[1:] != table[:-1], axis=1)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [n_samples]))
        segments = []
        for start, end in zip(starts, ends, strict=True):
            row = table[start]
            volts: list[float] = []
            markers: set[str] = set()
            col = 0
            marker_iter = iter(marker_names)
            for channel in range(1, N_CHANNELS + 1):
                volts.append(float(row[col]))
                col += 1
                if channel in element.waveforms:
                    for _ in range(2):
                        name = next(marker_iter)
                        if row[col] > 0.5:
                            markers.add(name)
                        col += 1
            segments.append(Segment((end - start) / sample_rate_hz, tuple(volts), frozenset(markers)))
        self._segment_cache[key] = segments
        return segments
