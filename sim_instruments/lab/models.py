"""Instrument models: the part of a simulated instrument that the physics decides.

Each model is bound to one pyvisa-sim device (see :mod:`sim_instruments.lab.lab`). The backend offers it every
message first: :meth:`InstrumentModel.handle` returns bytes to answer, ``NoResponse`` to swallow a command it acted
on, or ``None`` to let the static device answer as usual (settings stay in pyvisa-sim's properties, which the models
read back through :func:`query_value`).

Roles, and what each model adds:

- ``awg`` (Tektronix AWG5014): waveform list, sequence table, run state and triggers; a trigger plays the sequence
  into the node's physics (:mod:`sim_instruments.lab.awg`);
- ``counter`` (Keysight 53230A, totalize with an external gate): one reading per gate window, ``INIT``/``FETC?``/
  ``READ?``;
- ``gated_counter`` (SRS SR400): one count period per gate window, ``QA``/``XA``/``CR``;
- ``tagger`` (heralding station): see :mod:`sim_instruments.lab.platforms`;
- ``mw_source``, ``rf_source``, ``laser``: no commands of their own; the node reads their settings.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import TYPE_CHECKING, Any

from pyvisa_sim.component import NoResponse
from pyvisa_sim.devices import Device

from sim_instruments.lab.awg import (
    N_CHANNELS,
    AWGError,
    Segment,
    SequenceMemory,
    decode_integer_block,
    parse_data_command,
)
from sim_instruments.lab.resolve import LabConfigError

if TYPE_CHECKING:
    from sim_instruments.lab.platforms import LabNode

Reply = bytes | Any | None  # bytes, NoResponse, or None (fall through to pyvisa-sim)


def query_value(device: Device, query: str) -> str:
    """The value pyvisa-sim's property behind the getter ``query`` holds now, as text."""
    entry = device._getters.get(query.encode())
    if entry is None:
        raise LabConfigError(f"device {device.name!r} has no property read by {query!r}")
    name, _ = entry
    return str(device._properties[name].get_value())


def as_bool(text: str) -> bool:
    return text.strip().upper() in ("1", "ON", "TRUE", "#T")


class InstrumentModel:
    """Base: bound to a node, a role, a device and its resource name."""

    def __init__(
        self, role: str, node: LabNode | None, device: Device, resource_name: str, binding: dict[str, Any]
    ) -> None:
        self.role = role
        self.node = node
        self.device = device
        self.resource_name = resource_name
        self.binding = binding

    @property
    def owner(self) -> str:
        """The node (or heralding station) this instrument belongs to."""
        return self.node.name if self.node is not None else str(self.binding.get("station"))

    def accepts_raw(self, data: bytes) -> bool:
        """Whether ``data`` is a message pyvisa-sim cannot take (a binary block) that this model decodes."""
        return False

    def write_raw(self, data: bytes) -> None:
        raise NotImplementedError

    def handle(self, message: bytes) -> Reply:
        return None

    def value(self, query: str) -> str:
        return query_value(self.device, query)

    def setting(self, key: str) -> str:
        """A getter query named in the lab YAML binding (e.g. ``emission_query``)."""
        query = self.binding.get(key)
        if not isinstance(query, str):
            raise LabConfigError(f"{self.resource_name}: the lab binding of role {self.role!r} needs {key!r}")
        return self.value(query)


class PassiveModel(InstrumentModel):
    """Sources and lasers: the node reads their settings; they answer nothing themselves."""

    def is_on(self) -> bool:
        """Output on: ``on_query`` in the binding reads the state (for example ``:OUTP:STAT?`` or ``l?``)."""
        return as_bool(self.setting("on_query"))


_NEW = re.compile(r'^WLIS\w*:WAV\w*:NEW\s+"([^"]+)",\s*(\d+),\s*INT\w*$', re.I)
_DEL = re.compile(r'^WLIS\w*:WAV\w*:DEL\w*\s+(?:"([^"]+)"|(ALL))$', re.I)
_ELEM = re.compile(
    r"^SEQ\w*:ELEM\w*?(\d+):(WAV\w*?(\d)|LOOP:COUN\w*|LOOP:INF\w*|TWA\w*|GOTO:STAT\w*|GOTO:IND\w*|JTAR\w*:TYPE|"
    r"JTAR\w*:IND\w*)(\?)?\s*(.*)$",
    re.I,
)
_JMODE = re.compile(r"^EVEN\w*:JMOD\w*(\?)?\s*(\w*)$", re.I)
_EVENT = re.compile(r"^EVEN\w*(:IMM\w*)?$", re.I)
_JUMP_TYPES = {"IND": "INDEX", "INDEX": "INDEX", "NEXT": "NEXT", "OFF": "OFF"}
_LENGTH = re.compile(r"^SEQ\w*:LENG\w*\s+(\d+)$", re.I)
_JUMP = re.compile(r"^SEQ\w*:JUMP(?::IMM\w*)?\s+(\d+)$", re.I)
_TRIGGER = re.compile(r"^(\*TRG|TRIG\w*(:SEQ\w*)?:IMM\w*)$", re.I)


class AWGModel(InstrumentModel):
    """Tektronix AWG5014: memory, run state and triggers; a trigger plays into the node's physics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memory = SequenceMemory()
        self.running = False
        self.errors: deque[str] = deque(maxlen=32)
        self.jump_mode = "EJUMP"
        """``EVENt:JMODe``: EJUMp (an event jumps to the element's JTARget) or DJUMp (dynamic jump table, which
        the model does not play: an event then only ends the loop, with an error queued)."""

    def accepts_raw(self, data: bytes) -> bool:
        return data[:4].upper() == b"WLIS" and b":DATA" in data[:40].upper()

    def write_raw(self, data: bytes) -> None:
        try:
            name, payload = parse_data_command(data)
            self.memory.store(name, decode_integer_block(payload))
        except AWGError as exc:
            self.errors.append(str(exc))

    def handle(self, message: bytes) -> Reply:
        text = message.decode(errors="replace").strip()
        try:
            return self._handle(text)
        except AWGError as exc:
            self.errors.append(str(exc))
            return NoResponse

    def _handle(self, text: str) -> Reply:
        upper = text.upper()
        if m := _NEW.match(text):
            self.memory.new_waveform(m.group(1), int(m.group(2)))
            return NoResponse
        if m := _DEL.match(text):
            self.memory.delete_waveform(m.group(1) or "ALL")
            return NoResponse
        if m := _LENGTH.match(text):
            self.memory.set_length(int(m.group(1)))
            return None  # the static property keeps SEQuence:LENGth? true
        if m := _ELEM.match(text):
            return self._element(int(m.group(1)), m.group(2).upper(), m.group(3), bool(m.group(4)), m.group(5))
        if m := _JUMP.match(text):
            self.memory.element(int(m.group(1)))
            self._abandon_loop()
            self.memory.position = int(m.group(1))
            return NoResponse
        if upper.startswith("AWGC") and upper.endswith(":RUN"):
            self.running = True
            return NoResponse
        if upper.startswith("AWGC") and upper.endswith(":STOP"):
            self._abandon_loop()
            self.running = False
            return NoResponse
        if m := _JMODE.match(text):
            if m.group(1):
                return self.jump_mode[:4].encode()
            mode = m.group(2).upper()
            if mode not in ("EJUM", "EJUMP", "DJUM", "DJUMP"):
                raise AWGError(f"EVENt:JMODe takes EJUMp or DJUMp, got {m.group(2)!r}")
            self.jump_mode = "EJUMP" if mode.startswith("E") else "DJUMP"
            return NoResponse
        if _EVENT.match(text):
            parked = self.memory.parked
            if self.running and parked is not None and self.memory.element(parked).listens_for_events:
                self._abandon_loop()
                self.memory.parked = parked
                self.resume(jumped=True)
            return NoResponse
        if upper in ("AWGCONTROL:RSTATE?", "AWGC:RST?"):
            return b"1" if self.running else b"0"
        if upper in ("AWGCONTROL:SEQUENCER:POSITION?", "AWGC:SEQ:POS?"):
            return str(self.memory.position).encode()
        if _TRIGGER.match(text):
            if self.running and self.memory.parked is None:  # a looping AWG does not wait for a trigger
                self.play()
            return NoResponse
        if upper == "SYST:ERR?" and self.errors:
            return f'-200,"{self.errors.popleft()}"'.encode()
        return None

    def _element(self, index: int, what: str, channel: str | None, query: bool, arg: str) -> Reply:
        element = self.memory.element(index)
        arg = arg.strip()
        if what.startswith("WAV"):
            ch = int(channel or 0)
            if not 1 <= ch <= N_CHANNELS:
                raise AWGError(f"no channel {ch}")
            if query:
                return f'"{element.waveforms.get(ch, "")}"'.encode()
            self.memory.assign(index, ch, arg.strip('"'))
        elif what.startswith("LOOP:INF"):
            if query:
                return b"1" if element.loop_infinite else b"0"
            element.loop_infinite = as_bool(arg)
        elif what.startswith("LOOP"):
            if query:
                return str(element.loop_count).encode()
            element.loop_count = int(arg)
        elif what.startswith("JTAR") and what.endswith("TYPE"):
            if query:
                return element.jump_type.encode()
            jump_type = _JUMP_TYPES.get(arg.upper())
            if jump_type is None:
                raise AWGError(f"SEQuence:ELEMent{index}:JTARget:TYPE takes INDex, NEXT or OFF, got {arg!r}")
            element.jump_type = jump_type
        elif what.startswith("JTAR"):
            if query:
                return str(element.jump_index).encode()
            element.jump_index = int(arg)
        elif what.startswith("TWA"):
            if query:
                return b"1" if element.trigger_wait else b"0"
            element.trigger_wait = as_bool(arg)
        elif "GOTO:STAT" in what:
            if query:
                return b"1" if element.goto_state else b"0"
            element.goto_state = as_bool(arg)
        else:
            if query:
                return str(element.goto_index).encode()
            element.goto_index = int(arg)
        return NoResponse

    def outputs(self) -> tuple[float, tuple[float, ...], tuple[float, ...], set[int]]:
        """Sample rate (Sa/s), channel amplitudes and offsets (V, zero for an output that is off), live channels."""
        sample_rate_hz = float(self.value("SOURce:FREQuency?"))
        amplitudes, offsets = [], []
        for ch in range(1, N_CHANNELS + 1):
            on = as_bool(self.value(f"OUTPUT{ch}:STATE?"))
            amplitudes.append(float(self.value(f"SOURce{ch}:VOLTage:LEVel:IMMediate:AMPLitude?")) if on else 0.0)
            offsets.append(float(self.value(f"SOURce{ch}:VOLTage:LEVel:IMMediate:OFFS?")) if on else 0.0)
        live = {ch for ch in range(1, N_CHANNELS + 1) if amplitudes[ch - 1] or offsets[ch - 1]}
        return sample_rate_hz, tuple(amplitudes), tuple(offsets), live

    def element_segments(self, index: int) -> list[Segment]:
        """What one repetition of element ``index`` plays with the present output settings."""
        sample_rate_hz, amplitudes, offsets, _ = self.outputs()
        return self.memory.segments_of(index, amplitudes, offsets, sample_rate_hz)

    def play(self) -> None:
        """Play from the present position; hand a loop the player parks at to the node (attempt loops)."""
        node = self._node()
        sample_rate_hz, amplitudes, offsets, live = self.outputs()
        segments = self.memory.play_from_position(sample_rate_hz, amplitudes, offsets, parks=self._parks)
        node.play(segments, live)
        if self.memory.parked is not None:
            node.loop_started(self, self.memory.parked, live)

    def resume(self, jumped: bool) -> None:
        """Leave the parked loop (through the event jump target if ``jumped``) and play on."""
        if jumped and self.jump_mode != "EJUMP":
            self.errors.append("an event arrived in dynamic jump mode (EVENt:JMODe DJUMp), which the model does not "
                               "play; the loop ended without a jump")
            jumped = False
        if self.memory.leave_parked(jumped) and self.running:
            self.play()

    @property
    def jumps_at_once(self) -> bool:
        """``EVENt:JTIMing ASYNChronous``: an event cuts the element short instead of jumping at its end."""
        return self.value("EVENt:JTIMing?").strip().upper().startswith("ASYN")

    def _parks(self, index: int) -> bool:
        element = self.memory.element(index)
        if element.loop_infinite:
            return True
        return element.listens_for_events and bool(self._node().emission_stations(self.element_segments(index)))

    def _abandon_loop(self) -> None:
        """Stopping or jumping ends a loop the player is parked in (a heralding station forgets it)."""
        if self.memory.parked is not None:
            self._node().loop_abandoned(self)
            self.memory.parked = None

    def _node(self) -> LabNode:
        if self.node is None:
            raise LabConfigError(f"{self.resource_name}: an AWG must belong to a node in the lab YAML")
        return self.node


class CounterModel(InstrumentModel):
    """Keysight 53230A totalize, gated externally: one reading per gate window since the last INIT."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readings: list[int] = []
        self.armed = False

    def gate_closed(self, counts: int) -> None:
        if self.armed:
            self.readings.append(counts)

    def handle(self, message: bytes) -> Reply:
        upper = message.decode(errors="replace").strip().upper()
        if upper in ("INIT", "INIT:IMM", "INITIATE"):
            self.readings.clear()
            self.armed = True
            return NoResponse
        if upper in ("ABOR", "ABORT"):
            self.armed = False
            return NoResponse
        if upper in ("FETC?", "READ?"):
            wanted = int(float(self.value("SAMP:COUN?"))) * int(float(self.value("TRIG:COUN?")))
            if len(self.readings) < wanted:
                return NoResponse  # the real counter has nothing to send yet: the query times out
            out, self.readings = self.readings[:wanted], self.readings[wanted:]
            return ",".join(f"{float(c):+.15E}" for c in out).encode()
        return None


class GatedCounterModel(InstrumentModel):
    """SRS SR400: each gate window is one count period of counter A; QA reads the last completed one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: int | None = None
        self.counting = False

    def gate_closed(self, counts: int) -> None:
        if self.counting:
            self.last = counts

    def handle(self, message: bytes) -> Reply:
        upper = message.decode(errors="replace").strip().upper()
        if upper == "CS":
            self.counting = True
            return NoResponse
        if upper == "CH":
            self.counting = False
            return NoResponse
        if upper == "CR":
            self.counting = False
            self.last = None
            return NoResponse
        if upper == "QA":
            value, self.last = self.last, None
            return b"-1" if value is None else str(value).encode()
        if upper == "XA":
            return b"0"
        return None


_MODELS: dict[str, type[InstrumentModel]] = {
    "awg": AWGModel,
    "counter": CounterModel,
    "gated_counter": GatedCounterModel,
    "mw_source": PassiveModel,
    "rf_source": PassiveModel,
    "laser": PassiveModel,
}


def register_model(kind: str, cls: type[InstrumentModel]) -> None:
    _MODELS[kind] = cls


def build_model(
    role: str, node: LabNode | None, device: Device, resource_name: str, binding: dict[str, Any], where: str
) -> InstrumentModel:
    kind = binding.get("model", role)
    cls = _MODELS.get(str(kind))
    if cls is None:
        known = ", ".join(sorted(_MODELS))
        raise LabConfigError(f"{where}.lab.model: unknown instrument model {kind!r}; known: {known}")
    return cls(role, node, device, resource_name, binding)


def rabi_frequency_hz(volts: float, power_dbm: float, hz_per_volt: float, reference_power_dbm: float) -> float:
    """Rabi frequency of an IQ-modulated drive: linear in the IQ amplitude, in the square root of source power."""
    return hz_per_volt * volts * math.sqrt(10 ** ((power_dbm - reference_power_dbm) / 10))
