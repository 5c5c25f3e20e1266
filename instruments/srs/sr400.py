"""QCoDeS driver for the Stanford Research Systems SR400 two-channel gated photon counter.

The SR400 counts discriminated photon pulses (PMT or SPAD) in counters A and B during a count period that counter T
ends when it reaches its preset. In the lab it is the NV readout counter and the ion (397 nm) PMT counter.

Command set: "Model SR400 Gated Photon Counter" manual, Stanford Research Systems, Revision 2.7 (11/2018), chapter
"Remote Programming": "Command Syntax" (p. 37), "Detailed Command List" -- Mode (p. 39: CM, CI, CP, NP, DT),
Levels (p. 40-41: DS, DL), Gates (p. 41-42: GM, GD, GW), Front Panel (p. 42: CS, CH, CR), Interface (p. 44: SS, SI),
Polled Data (p. 45: QA, QB) and Examine Data (p. 46: XA, XB); status-byte tables on the "Abridged Command List" page.
docs/instruments.md lists the entries (GM/DS code order, GW and DT limits) that could not be checked word for word.

Protocol facts the driver relies on (manual, "Command Syntax"):

- a command is two letters, then its arguments separated by commas; spaces are ignored; upper or lower case;
- a command ends in CR or LF (this driver sends LF); a command sent without its optional value is the query;
- set commands return nothing, so a bad command can only be seen in the status byte (bit 7, "command error");
- the SR400 has no identification query (no ``*IDN?``), so the driver checks at connection that ``CM`` answers
  with one of the four counting modes and raises :class:`SR400ReplyError` (naming the instrument) otherwise.

Reading counts: ``QA``/``QB`` return the most recent *completed* count period, or -1 when no new data is ready
(and QB returns -1 when counter B is the preset counter); they do not clear the "data ready" bit (status bit 1),
which is cleared when it is read. ``XA``/``XB`` return the live counter contents regardless of the count state, and 0
during the dwell time, pause or reset.
"""

from __future__ import annotations

import math
from typing import Any

from qcodes.instrument import InstrumentChannel, VisaInstrument
from qcodes.parameters import Parameter
from qcodes.validators import Enum, Ints, Numbers, Validator

__all__ = ["SR400", "SR400Counter", "SR400CounterB", "SR400CounterT", "SR400GatedCounter", "SR400ReplyError"]

COUNTING_MODES = {
    "A,B FOR T PRESET": 0,
    "A-B FOR T PRESET": 1,
    "A+B FOR T PRESET": 2,
    "A FOR B PRESET": 3,
}
"""CM codes (manual, Mode: CM)."""

DISCRIMINATOR_SLOPES = {"RISE": 0, "FALL": 1}
"""DS codes. The manual lists the slopes as RISE/FALL; the code order 0=RISE, 1=FALL follows that listing."""

GATE_MODES = {"CW": 0, "FIXED": 1, "SCAN": 2}
"""GM codes, in the order the manual lists the gate modes (CW, FIXED, SCAN)."""

INPUT_CODES = {"10MHz": 0, "INPUT1": 1, "INPUT2": 2, "TRIG": 3}
"""CI source codes (manual, Mode: CI)."""

ALLOWED_INPUTS = {"A": ("10MHz", "INPUT1"), "B": ("INPUT1", "INPUT2"), "T": ("10MHz", "INPUT2", "TRIG")}
"""Sources each counter accepts (manual, Mode: CI, "Allowed Inputs")."""

COUNTER_INDEX = {"A": 0, "B": 1, "T": 2}


class SR400ReplyError(RuntimeError):
    """The SR400 (named in the message) gave a reply the driver cannot interpret."""


class OneSignificantDigit(Validator[float]):
    """A number in [min, max] written with one significant digit (d x 10^k, d in 1..9).

    The SR400 keeps only the most significant digit of presets and of the dwell time ("CP2,12" sets 1E1), so the
    driver refuses other values instead of letting the instrument truncate them silently.
    """

    def __init__(self, min_value: float, max_value: float) -> None:
        self._min = min_value
        self._max = max_value
        self._valid_values = (min_value, max_value)
        self.is_numeric = True

    def validate(self, value: float, context: str = "") -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise TypeError(f"{value!r} is not a finite number; {context}")
        if not self._min <= value <= self._max:
            raise ValueError(f"{value!r} is invalid: must be between {self._min} and {self._max} inclusive; {context}")
        if value != float(_one_digit(value)):
            raise ValueError(
                f"{value!r} is invalid: the SR400 keeps one significant digit only (e.g. 2E-3, 5E5), "
                f"it would use {_one_digit(value)}; {context}"
            )

    def __repr__(self) -> str:
        return f"<OneSignificantDigit {self._min}<=v<={self._max}>"


def _one_digit(value: float) -> str:
    """Write a positive number as the SR400's one-significant-digit form, truncating like the instrument: 12 -> 1E1."""
    exponent = math.floor(math.log10(value))
    mantissa = math.floor(round(value / 10.0**exponent, 9))
    if mantissa >= 10:  # rounding pushed 9.999...e(k) to 10e(k)
        mantissa, exponent = 1, exponent + 1
    return f"{mantissa}E{exponent}"


def _int_reply(instrument: str, command: str) -> Any:
    def parse(reply: str) -> int:
        try:
            return int(float(reply.strip()))
        except ValueError:
            raise SR400ReplyError(f"{instrument}: {command} returned {reply!r}, expected an integer") from None

    return parse


def _float_reply(instrument: str, command: str) -> Any:
    def parse(reply: str) -> float:
        try:
            return float(reply.strip())
        except ValueError:
            raise SR400ReplyError(f"{instrument}: {command} returned {reply!r}, expected a number") from None

    return parse


def _code_reply(instrument: str, command: str, codes: dict[str, int]) -> Any:
    """Parse an integer code reply into its name, with an error naming the instrument for unknown codes."""
    names = {code: name for name, code in codes.items()}
    to_int = _int_reply(instrument, command)

    def parse(reply: str) -> str:
        code = to_int(reply)
        if code not in names:
            raise SR400ReplyError(f"{instrument}: {command} returned code {code}, expected one of {sorted(names)}")
        return names[code]

    return parse


class SR400Counter(InstrumentChannel):
    """One of the SR400's counters (A, B or T): its input source and its discriminator."""

    def __init__(self, parent: SR400, name: str, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        i = COUNTER_INDEX[name]
        self.index = i
        allowed = {source: INPUT_CODES[source] for source in ALLOWED_INPUTS[name]}

        self.input: Parameter = self.add_parameter(
            "input",
            get_cmd=f"CI {i}",
            set_cmd=f"CI {i},{{}}",
            get_parser=_code_reply(self.full_name, f"CI {i}", allowed),
            set_parser=lambda source: allowed[source],
            vals=Enum(*allowed),
            docstring=f"Signal source of counter {name} (CI {i}): one of {', '.join(allowed)}. "
            "Changing it while counting may give bad count data.",
        )
        self.discriminator_level: Parameter = self.add_parameter(
            "discriminator_level",
            get_cmd=f"DL {i}",
            set_cmd=f"DL {i},{{:.4f}}",
            get_parser=_float_reply(self.full_name, f"DL {i}"),
            unit="V",
            vals=Numbers(-0.3, 0.3),
            docstring=f"Threshold of discriminator {name} (DL {i}), -0.3 V to +0.3 V in 0.2 mV steps. "
            "In SCAN mode this is the starting level.",
        )
        self.discriminator_slope: Parameter = self.add_parameter(
            "discriminator_slope",
            get_cmd=f"DS {i}",
            set_cmd=f"DS {i},{{}}",
            get_parser=_code_reply(self.full_name, f"DS {i}", DISCRIMINATOR_SLOPES),
            set_parser=lambda slope: DISCRIMINATOR_SLOPES[slope],
            vals=Enum(*DISCRIMINATOR_SLOPES),
            docstring=f"Edge discriminator {name} fires on (DS {i}): RISE for positive pulses, FALL for negative "
            "(most PMTs).",
        )


class SR400GatedCounter(SR400Counter):
    """Counter A or B: input and discriminator, its gate generator, and its count data."""

    def __init__(self, parent: SR400, name: str, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        i = self.index
        letter = name

        self.gate_mode: Parameter = self.add_parameter(
            "gate_mode",
            get_cmd=f"GM {i}",
            set_cmd=f"GM {i},{{}}",
            get_parser=_code_reply(self.full_name, f"GM {i}", GATE_MODES),
            set_parser=lambda mode: GATE_MODES[mode],
            vals=Enum(*GATE_MODES),
            docstring=f"Gate {letter} mode (GM {i}): CW counts during the whole count period, FIXED only inside "
            "the gate (delay/width after each trigger), SCAN steps the delay between count periods.",
        )
        self.gate_delay: Parameter = self.add_parameter(
            "gate_delay",
            get_cmd=f"GD {i}",
            set_cmd=f"GD {i},{{:.4E}}",
            get_parser=_float_reply(self.full_name, f"GD {i}"),
            unit="s",
            vals=Numbers(0.0, 999.2e-3),
            docstring=f"Gate {letter} delay after the trigger (GD {i}), 0 to 999.2 ms. Resolution 1 ns below 1 us, "
            "else 1 part in 1000; the SR400 rounds to the nearest allowed value.",
        )
        self.gate_width: Parameter = self.add_parameter(
            "gate_width",
            get_cmd=f"GW {i}",
            set_cmd=f"GW {i},{{:.4E}}",
            get_parser=_float_reply(self.full_name, f"GW {i}"),
            unit="s",
            vals=Numbers(5e-9, 999.2e-3),
            docstring=f"Gate {letter} width (GW {i}), 5 ns to 999.2 ms, same resolution rules as the delay.",
        )
        self.last_count: Parameter = self.add_parameter(
            "last_count",
            get_cmd=f"Q{letter}",
            get_parser=_int_reply(self.full_name, f"Q{letter}"),
            unit="counts",
            docstring=f"Counts of the most recent completed count period in counter {letter} (Q{letter}); "
            "-1 when no new data is ready"
            + (" or when counter B is the preset counter." if letter == "B" else ".")
            + " Check the data-ready status bit first (SR400.data_ready) or a point may be read twice.",
        )
        self.current_count: Parameter = self.add_parameter(
            "current_count",
            get_cmd=f"X{letter}",
            get_parser=_int_reply(self.full_name, f"X{letter}"),
            unit="counts",
            docstring=f"Live contents of counter {letter} (X{letter}), readable while counting; 0 during dwell, "
            "pause or reset.",
        )


def _add_preset(channel: SR400Counter) -> Parameter:
    i = channel.index
    return channel.add_parameter(
        "preset",
        get_cmd=f"CP {i}",
        set_cmd=lambda value: channel.write(f"CP {i},{_one_digit(value)}"),
        get_parser=_float_reply(channel.full_name, f"CP {i}"),
        unit="counts",
        vals=OneSignificantDigit(1, 9e11),
        docstring=f"Preset of counter {channel.short_name} (CP {i}), 1 to 9E11 with one significant digit: the "
        "count period ends when this counter reaches it. With the 10 MHz input on T, the period is preset x 100 ns "
        "(1E7 = 1 s). Changing it while counting pauses the counters until the next start.",
    )


class SR400CounterB(SR400GatedCounter):
    """Counter B: a gated signal counter that is also the preset counter in the "A FOR B PRESET" mode."""

    def __init__(self, parent: SR400, name: str = "B", **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.preset: Parameter = _add_preset(self)


class SR400CounterT(SR400Counter):
    """Counter T: the count-period counter (10 MHz clock, INPUT 2 or gate triggers) with its preset."""

    def __init__(self, parent: SR400, name: str = "T", **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.preset: Parameter = _add_preset(self)


class SR400(VisaInstrument):
    """Stanford Research Systems SR400 gated photon counter (GPIB or RS-232).

    Submodules ``A``, ``B`` (signal counters with gates and data) and ``T`` (the period counter). The instrument
    has no identity query: on connection the driver reads the counting mode and raises :class:`SR400ReplyError`
    if the reply is not one of the four documented modes.
    """

    default_terminator = "\n"

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        # Commands end in LF (CR or LF accepted); replies end in CR LF (RS-232 default end-of-record is CR; the
        # trailing whitespace is stripped by the parsers in either case).
        self.visa_handle.write_termination = "\n"
        self.visa_handle.read_termination = "\r\n"

        self.counting_mode: Parameter = self.add_parameter(
            "counting_mode",
            get_cmd="CM",
            set_cmd="CM {}",
            get_parser=_code_reply(self.full_name, "CM", COUNTING_MODES),
            set_parser=lambda mode: COUNTING_MODES[mode],
            vals=Enum(*COUNTING_MODES),
            docstring="Counting mode (CM): 'A,B FOR T PRESET' (the usual photon-counting mode), 'A-B FOR T PRESET' "
            "(background subtraction), 'A+B FOR T PRESET', 'A FOR B PRESET'. Setting it resets the counters.",
        )
        self.n_periods: Parameter = self.add_parameter(
            "n_periods",
            get_cmd="NP",
            set_cmd="NP {:d}",
            get_parser=_int_reply(self.full_name, "NP"),
            vals=Ints(1, 2000),
            docstring="Number of count periods in one scan (NP), 1 to 2000; also the length of the scan buffer.",
        )
        self.dwell_time: Parameter = self.add_parameter(
            "dwell_time",
            get_cmd="DT",
            set_cmd=lambda value: self.write(f"DT {_one_digit(value)}"),
            get_parser=_float_reply(self.full_name, "DT"),
            unit="s",
            vals=OneSignificantDigit(2e-3, 60.0),
            docstring="Dwell time between count periods of a scan (DT), 2E-3 s to 6E1 s, one significant digit. "
            "Counting is disabled and scanned parameters step during the dwell.",
        )
        self.status_byte: Parameter = self.add_parameter(
            "status_byte",
            get_cmd="SS",
            get_parser=_int_reply(self.full_name, "SS"),
            vals=Ints(0, 255),
            docstring="Status byte (SS). Bits: 0 parameter changed, 1 data ready, 2 scan finished, 3 counter "
            "overflow, 4 rate error, 5 recall error, 6 service request, 7 command error. Reading clears it.",
        )
        self.secondary_status: Parameter = self.add_parameter(
            "secondary_status",
            get_cmd="SI",
            get_parser=_int_reply(self.full_name, "SI"),
            vals=Ints(0, 7),
            docstring="Secondary status byte (SI). Bits: 0 triggered, 1 inhibited, 2 counting.",
        )
        self.data_ready: Parameter = self.add_parameter(
            "data_ready",
            get_cmd="SS 1",
            get_parser=lambda reply: bool(_int_reply(self.full_name, "SS 1")(reply)),
            docstring="True when a count period has completed since the bit was last read (SS 1, status bit 1). "
            "Reading it clears it; QA/QB do not.",
        )

        self.A: SR400GatedCounter = self.add_submodule("A", SR400GatedCounter(self, "A"))
        self.B: SR400CounterB = self.add_submodule("B", SR400CounterB(self, "B"))
        self.T: SR400CounterT = self.add_submodule("T", SR400CounterT(self, "T"))

        self._check_is_sr400()
        self.connect_message()

    def _check_is_sr400(self) -> None:
        """Fail early, naming the instrument, when the device at the address does not talk like an SR400."""
        reply = self.ask("CM")
        try:
            code = int(reply.strip())
        except ValueError:
            code = -1
        if code not in COUNTING_MODES.values():
            message = (
                f"{self.full_name} at {self.address}: CM (counting mode) returned {reply!r}, expected 0-3. "
                "Is this an SR400, and are the GPIB address and terminators right?"
            )
            self.close()  # release the VISA session: the instrument is not registered when __init__ fails
            raise SR400ReplyError(message)

    def get_idn(self) -> dict[str, str | None]:
        """The SR400 has no identification query; return what is known without asking it."""
        return {"vendor": "Stanford Research Systems", "model": "SR400", "serial": None, "firmware": None}

    def start(self) -> None:
        """Start counting (CS), the same as the START key."""
        self.write("CS")

    def stop(self) -> None:
        """Stop (pause) counting (CH), the same as the STOP key."""
        self.write("CH")

    def reset(self) -> None:
        """Reset the counters and the scan (CR), the same as the RESET key; clears the scan buffer."""
        self.write("CR")

    def safe_state(self) -> None:
        """Safe state of a photon counter: not counting. Sends CH (stop); settings and data are kept."""
        self.stop()
