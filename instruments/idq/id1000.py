"""QCoDeS driver for the ID Quantique ID1000 Time Controller, used as the heralding station's coincidence counter.

Wiring assumed by the heralding station: the nodes' shared clock/trigger on one input (the "trigger", INPUT 1 by
default) and the two single-photon detectors behind the beam splitter on two others (INPUT 2 and 3). The
controller's built-in counting configuration (``DEVIce:CONFiguration:LOAD COUNT``) then gives, per integration
cycle, the singles of every input and the counts of every 2-, 3- and 4-fold coincidence of INPUT 1-4 inside a
window: trigger AND detector A, trigger AND detector B (the heralds), A AND B, and so on.

Sources (see docs/instruments.md for what each fact rests on):

- *Time Controller Series User Manual* (ID Quantique), section 9 "Appendix: SCPI Command Reference" (p. 77 on:
  syntax, short forms, units such as ``1V`` and the time base TB = 1 ps; p. 88 the HISTogram block) and
  section 6.2 (p. 42: input and output delays up to 1 s at 1 ps resolution);
- ID Quantique's Python examples for the ID1000 (``Examples/Python``: ``utils/common.py``: one ZeroMQ REQ
  message per command on port 5555; ``coincidences.py``: the COUNT configuration, its TSCO block for each input
  combination, the second-delay blocks DELA6-8 and the window coefficients; counter commands ``COUN:MODE``,
  ``COUN:INTE`` in ms, ``COUN:RESEt``, ``COUNter?``; error replies contain ``SCPI_ERR_``).

Protocol: every command gets exactly one reply; an accepted set command gets an empty (or informational) reply,
a refused one a reply containing ``SCPI_ERR``; the driver checks every reply and raises
:class:`ID1000Error`, naming the instrument, for errors and for replies it cannot parse. Times are sent as integer
picoseconds and come back with the unit ``TB`` appended; thresholds are sent with ``V``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.parameters import Parameter
from qcodes.validators import Bool, Enum, Numbers

from instruments.idq.transport import Transport, TransportError, VisaTransport, ZmqTransport, sim_visalib

__all__ = [
    "COINCIDENCE_BLOCKS",
    "ID1000",
    "ID1000Coincidence",
    "ID1000Error",
    "ID1000IdentityError",
    "ID1000Input",
]

SUPPORTED_MODELS: Final = ("ID1000",)

PS_PER_S: Final = 1e12

MAX_DELAY_S: Final = 1.0
"""Input delays reach 1 s at 1 ps resolution (user manual, section 6.2.1.4)."""

THRESHOLD_RANGE_V: Final = (-2.0, 2.0)
"""Accepted input thresholds. Not checked against the manual's specification table (see docs/instruments.md)."""

COINCIDENCE_BLOCKS: Final[dict[tuple[int, ...], tuple[int, float, float]]] = {
    (1, 2): (6, 0.5, 1.5),
    (1, 3): (7, 1.5, 2.5),
    (1, 4): (8, 2.5, 3.5),
    (2, 3): (3, 1.5, 2.5),
    (2, 4): (4, 2.5, 3.5),
    (3, 4): (5, 2.5, 3.5),
    (1, 2, 3): (13, 0.0, 2.0),
    (1, 2, 4): (14, 1.0, 3.0),
    (1, 3, 4): (15, 0.0, 2.0),
    (2, 3, 4): (16, 0.0, 2.0),
    (1, 2, 3, 4): (24, 1.0, 3.0),
}
"""COUNT configuration: inputs -> (TSCO block, window begin and end in units of the coincidence window).

The configuration delays the second copies of INPUT 2, 3, 4 (DELA6, 7, 8) by 1, 2, 3 windows over their input
delay, so that each TSCO block sees its inputs in a window [begin, end] x window wide one window."""

SECOND_DELAY_BLOCKS: Final = {2: 6, 3: 7, 4: 8}
"""DELA block holding the second delay of INPUT 2, 3, 4 in the COUNT configuration; INPUT n's own delay is DELAn."""


class ID1000Error(RuntimeError):
    """The Time Controller (named in the message) refused a command, did not answer, or answered nonsense."""


class ID1000IdentityError(ID1000Error):
    """The device at the address is not an ID1000 (``*IDN?`` names another model)."""


class ID1000Input(InstrumentChannel["ID1000"]):
    """One input, START or INPUT 1-4: enable, threshold, edge, (delay), and its counter."""

    def __init__(self, parent: ID1000, name: str, block: str, delay_block: int | None, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.block: Final = block
        self.enabled: Parameter = self.add_parameter(
            "enabled",
            get_cmd=parent.query_parser(f"{block}:ENAB?", _on_off),
            set_cmd=lambda on: parent.command(f"{block}:ENAB {'ON' if on else 'OFF'}"),
            vals=Bool(),
            docstring=f"Input enabled ({block}:ENABle ON|OFF).",
        )
        self.threshold: Parameter = self.add_parameter(
            "threshold",
            get_cmd=parent.query_parser(f"{block}:THRE?", _with_unit("V")),
            set_cmd=lambda volts: parent.command(f"{block}:THRE {volts:.4f}V"),
            unit="V",
            vals=Numbers(*THRESHOLD_RANGE_V),
            docstring=f"Discriminator threshold ({block}:THREshold), sent with the unit V.",
        )
        self.edge: Parameter = self.add_parameter(
            "edge",
            get_cmd=parent.query_parser(f"{block}:EDGE?", _edge),
            set_cmd=lambda edge: parent.command(f"{block}:EDGE {edge}"),
            vals=Enum("RISING", "FALLING"),
            docstring=f"Edge that makes an event ({block}:EDGE RISING|FALLING).",
        )
        self.counts: Parameter = self.add_parameter(
            "counts",
            get_cmd=parent.query_parser(f"{block}:COUN?", _count),
            unit="counts",
            docstring=f"Events in the last completed integration cycle, or since the last reset in accumulation "
            f"mode ({block}:COUNter?).",
        )
        self.integration_time: Parameter = self.add_parameter(
            "integration_time",
            get_cmd=parent.query_parser(f"{block}:COUN:INTE?", lambda reply: float(reply) / 1e3),
            set_cmd=lambda seconds: parent.command(f"{block}:COUN:INTE {round(seconds * 1e3)}"),
            unit="s",
            vals=Numbers(1e-3, 3600.0),
            docstring=f"Integration cycle of this input's counter in cycle mode ({block}:COUNter:INTEgration, "
            "sent in whole ms).",
        )
        if delay_block is not None:
            self.delay: Parameter = self.add_parameter(
                "delay",
                get_cmd=parent.query_parser(f"DELA{delay_block}:VALU?", _picoseconds_as_s),
                set_cmd=lambda seconds: parent.command(f"DELA{delay_block}:VALU {round(seconds * PS_PER_S)}"),
                unit="s",
                vals=Numbers(0.0, MAX_DELAY_S),
                docstring=f"Delay added to this input (DELA{delay_block}:VALUe, integer ps), 0 to 1 s. Use it to "
                "line the trigger up with the photons' arrival.",
            )


class ID1000Coincidence(InstrumentChannel["ID1000"]):
    """One coincidence condition of the COUNT configuration (a TSCO block): its window and its counter."""

    def __init__(self, parent: ID1000, name: str, inputs: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        block_number, _, _ = COINCIDENCE_BLOCKS[inputs]
        block = f"TSCO{block_number}"
        self.inputs: Final = inputs
        self.block: Final = block
        self.counts: Parameter = self.add_parameter(
            "counts",
            get_cmd=parent.query_parser(f"{block}:COUN?", _count),
            unit="counts",
            docstring=f"Coincidences of inputs {' AND '.join(map(str, inputs))} in the last completed integration "
            f"cycle ({block}:COUNter?).",
        )
        self.window_begin: Parameter = self.add_parameter(
            "window_begin",
            get_cmd=parent.query_parser(f"{block}:WIND:BEGI:DELA?", _picoseconds_as_s),
            set_cmd=lambda seconds: parent.command(f"{block}:WIND:BEGI:DELA {round(seconds * PS_PER_S)}"),
            unit="s",
            vals=Numbers(0.0, MAX_DELAY_S),
            docstring=f"Opening of the coincidence window after the block's reference ({block}:WINDow:BEGIn:DELay).",
        )
        self.window_end: Parameter = self.add_parameter(
            "window_end",
            get_cmd=parent.query_parser(f"{block}:WIND:END:DELA?", _picoseconds_as_s),
            set_cmd=lambda seconds: parent.command(f"{block}:WIND:END:DELA {round(seconds * PS_PER_S)}"),
            unit="s",
            vals=Numbers(0.0, MAX_DELAY_S),
            docstring=f"Closing of the coincidence window ({block}:WINDow:END:DELay).",
        )


class ID1000(Instrument):
    """ID Quantique ID1000 Time Controller as a singles and coincidence counter.

    Args:
        name: QCoDeS instrument name.
        address: ``"tcp://<ip>:5555"`` for the real device (ZeroMQ), or a VISA resource name for a simulated one.
        pyvisa_sim_file: ``"package.module:file.yaml"`` to open ``address`` on PyVISA-sim (as qcodes accepts it).
        visalib: a pyvisa backend for ``address`` (e.g. the simulated lab's); ignored for ``tcp://`` addresses.
        timeout_s: how long to wait for each reply.

    Submodules: ``start``, ``input1`` ... ``input4`` (:class:`ID1000Input`) and one :class:`ID1000Coincidence` per
    input combination of the COUNT configuration, named ``coincidence_1_2`` ... ``coincidence_1_2_3_4``.
    The constructor checks ``*IDN?`` and raises :class:`ID1000IdentityError` for anything but an ID1000. It changes
    no setting; call :meth:`load_counting_configuration` once before counting coincidences.
    """

    def __init__(
        self,
        name: str,
        address: str,
        pyvisa_sim_file: str | None = None,
        visalib: str | None = None,
        timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.address: Final = address
        if address.startswith("tcp://"):
            self._transport: Transport = ZmqTransport(address, timeout_s)
        else:
            library = sim_visalib(pyvisa_sim_file) if pyvisa_sim_file else visalib
            try:
                self._transport = VisaTransport(address, library, timeout_s)
            except Exception as error:
                message = f"{self.full_name}: cannot open {address}: {error}"
                self.close()  # frees the name: the instrument is not registered when __init__ fails
                raise ID1000Error(message) from error
        self._idn = self._check_identity()

        self.start: ID1000Input = self.add_submodule("start", ID1000Input(self, "start", "STAR", None))
        self.inputs: Final[dict[int, ID1000Input]] = {}
        for number in range(1, 5):
            channel = ID1000Input(self, f"input{number}", f"INPU{number}", number)
            self.add_submodule(f"input{number}", channel)
            self.inputs[number] = channel
        self.coincidences: Final[dict[tuple[int, ...], ID1000Coincidence]] = {}
        for combination in COINCIDENCE_BLOCKS:
            label = "coincidence_" + "_".join(map(str, combination))
            coincidence = ID1000Coincidence(self, label, combination)
            self.add_submodule(label, coincidence)
            self.coincidences[combination] = coincidence

        self.recording: Parameter = self.add_parameter(
            "recording",
            get_cmd=self.query_parser("REC:STAG?", lambda reply: reply.upper() == "PLAYING"),
            docstring="True while the record generator plays (REC:STAGe? answers PLAYING).",
        )
        self.connect_message()

    # --- protocol -------------------------------------------------------------------------------------------------

    def _exchange(self, command: str) -> str:
        try:
            reply = self._transport.exchange(command).strip()
        except TransportError as error:
            raise ID1000Error(f"{self.full_name} at {self.address}: {error}") from None
        if "SCPI_ERR" in reply.upper() or reply.upper().startswith("ERROR"):
            raise ID1000Error(f"{self.full_name}: {command!r} was refused: {reply!r}")
        return reply

    def command(self, command: str) -> None:
        """Send a set command; its reply must not be an error."""
        self._exchange(command)

    def query(self, command: str) -> str:
        """Send a query and return its reply (not an error, not empty)."""
        reply = self._exchange(command)
        if not reply:
            raise ID1000Error(f"{self.full_name}: {command!r} got an empty reply")
        return reply

    def query_parser(self, command: str, parse: Callable[[str], Any]) -> Callable[[], Any]:
        """A get function: ask ``command``, parse the reply, and name the instrument when the reply does not fit."""

        def get() -> Any:
            reply = self.query(command)
            try:
                return parse(reply)
            except ValueError:
                raise ID1000Error(f"{self.full_name}: {command!r} was answered {reply!r}") from None

        return get

    def _check_identity(self) -> dict[str, str | None]:
        try:
            idn = self.query("*IDN?")
        except ID1000Error as error:
            message = f"{error}. Is {self.address} an ID Quantique Time Controller?"
            self.close()  # frees the name: the instrument is not registered when __init__ fails
            raise ID1000IdentityError(message) from None
        fields = [field.strip() for field in idn.split(",")]
        model = fields[1].upper().replace(" ", "") if len(fields) > 1 else ""
        if model not in SUPPORTED_MODELS or "QUANTIQUE" not in fields[0].upper():
            message = (
                f"{self.full_name} at {self.address}: expected an ID Quantique ID1000, but *IDN? answered {idn!r}. "
                "Check the address in the station config."
            )
            self.close()
            raise ID1000IdentityError(message)
        serial = fields[2] if len(fields) > 2 else None
        firmware = fields[3] if len(fields) > 3 else None
        return {"vendor": "ID Quantique", "model": fields[1], "serial": serial, "firmware": firmware}

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial and firmware from the ``*IDN?`` read at connection."""
        return dict(self._idn)

    def close(self) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None:
            transport.close()
        super().close()

    # --- counting -------------------------------------------------------------------------------------------------

    def load_counting_configuration(self) -> None:
        """Load the built-in COUNT configuration (DEVIce:CONFiguration:LOAD COUNT): singles and TSCO coincidences."""
        self.command("DEVI:CONFI:LOAD COUNT")

    def _counter_blocks(self) -> list[str]:
        return [self.start.block, *(i.block for i in self.inputs.values())] + [
            c.block for c in self.coincidences.values()
        ]

    def configure_counters(self, integration_time_s: float | None) -> None:
        """Cycle every counter over ``integration_time_s`` (COUN:MODE CYCL; COUN:INTE in ms) and reset it.

        ``None`` accumulates instead (COUN:MODE ACCU) until :meth:`reset_counters`.
        """
        if integration_time_s is not None:
            Numbers(1e-3, 3600.0).validate(integration_time_s, "integration_time_s")
            integration_ms = round(integration_time_s * 1e3)
        for block in self._counter_blocks():
            if integration_time_s is None:
                self.command(f"{block}:COUN:MODE ACCU")
            else:
                self.command(f"{block}:COUN:MODE CYCL")
                self.command(f"{block}:COUN:INTE {integration_ms}")
            self.command(f"{block}:COUN:RESE")

    def set_coincidence_window(self, window_s: float) -> None:
        """Give every coincidence condition a window ``window_s`` wide, as the COUNT configuration expects.

        Delays the second copies of INPUT 2-4 (DELA6-8) by 1, 2, 3 windows over their input delay and sets each
        TSCO block's window to [begin, end] windows from COINCIDENCE_BLOCKS.
        """
        Numbers(1e-12, MAX_DELAY_S / 4).validate(window_s, "window_s")
        for number, second_delay_block in SECOND_DELAY_BLOCKS.items():
            input_delay_s = self.inputs[number].delay.get()
            second_delay_ps = round((input_delay_s + (number - 1) * window_s) * PS_PER_S)
            self.command(f"DELA{second_delay_block}:VALU {second_delay_ps}")
        for combination, (_, begin, end) in COINCIDENCE_BLOCKS.items():
            coincidence = self.coincidences[combination]
            coincidence.window_begin.set(begin * window_s)
            coincidence.window_end.set(end * window_s)

    def configure_heralding(
        self,
        trigger_input: int,
        detector_inputs: Sequence[int],
        threshold_v: float,
        window_s: float,
        integration_time_s: float,
    ) -> None:
        """Set up the heralding measurement: enable the trigger and detector inputs, load the COUNT configuration,
        set the coincidence window and cycle all counters over ``integration_time_s``."""
        inputs = (trigger_input, *detector_inputs)
        if len(set(inputs)) != len(inputs) or not set(inputs) <= set(self.inputs):
            raise ValueError(f"{self.full_name}: trigger and detector inputs must be distinct inputs 1-4, got {inputs}")
        self.load_counting_configuration()
        for number in inputs:
            self.inputs[number].enabled.set(True)
            self.inputs[number].threshold.set(threshold_v)
        self.set_coincidence_window(window_s)
        self.configure_counters(integration_time_s)

    def coincidence(self, *inputs: int) -> ID1000Coincidence:
        """The coincidence condition of these inputs (any order), e.g. ``coincidence(1, 2)`` for trigger AND A."""
        key = tuple(sorted(inputs))
        if key not in self.coincidences:
            known = sorted(self.coincidences)
            raise KeyError(f"{self.full_name}: no coincidence condition for inputs {inputs}; known: {known}")
        return self.coincidences[key]

    def read_counts(self) -> dict[str, int]:
        """Counts of every input and every coincidence condition, keyed by submodule name (start, input1, ...,
        coincidence_1_2, ...). Each is read with its own query."""
        channels: list[ID1000Input | ID1000Coincidence] = [self.start, *self.inputs.values()]
        channels += list(self.coincidences.values())
        return {channel.short_name: int(channel.counts.get()) for channel in channels}

    def reset_counters(self) -> None:
        """Clear every counter (COUN:RESEt)."""
        for block in self._counter_blocks():
            self.command(f"{block}:COUN:RESE")

    # --- acquisition ----------------------------------------------------------------------------------------------

    def start_recording(self) -> None:
        """Start the record generator (REC:PLAY), which gates histograms and timestamp streams."""
        self.command("REC:PLAY")

    def stop_recording(self) -> None:
        """Stop the record generator (REC:STOP)."""
        self.command("REC:STOP")

    def safe_state(self) -> None:
        """Stop acquisition (REC:STOP). The Time Controller drives no lasers or fields, so that is all."""
        self.stop_recording()


def _on_off(reply: str) -> bool:
    value = reply.strip().upper()
    if value not in ("ON", "OFF", "1", "0"):
        raise ValueError(reply)
    return value in ("ON", "1")


def _edge(reply: str) -> str:
    value = reply.strip().upper()
    for edge in ("RISING", "FALLING"):
        if edge.startswith(value) and len(value) >= 4:  # the short form RISI/FALL is accepted too
            return edge
    raise ValueError(reply)


def _with_unit(unit: str) -> Callable[[str], float]:
    def parse(reply: str) -> float:
        value = reply.strip()
        if value.upper().endswith(unit.upper()):
            value = value[: -len(unit)]
        return float(value)

    return parse


def _picoseconds_as_s(reply: str) -> float:
    return _with_unit("TB")(reply) / PS_PER_S


def _count(reply: str) -> int:
    value = reply.strip()
    if not value.lstrip("+").isdigit():
        raise ValueError(reply)
    return int(value)
