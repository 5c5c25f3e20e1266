"""QCoDeS driver for the Keysight (formerly Agilent) 53230A universal counter/timer, used as a gated photon counter.

In the NV node the 53230A counts the TTL pulses of a single-photon counting module (SPCM) during a timed gate:
totalize mode, channel 1, 50 ohm, DC coupled, a fixed threshold on the rising edge.

The commands follow the instrument's own documentation:

- *Keysight 53220A/53230A Programmer's Reference* (the SCPI command reference): ``*IDN?`` (return format
  ``<maker>,53230A,<serial>,<revisions>``), ``*RST``, ``*CLS``, ``ABORt``, ``INITiate[:IMMediate]``, ``READ?``,
  ``FETCh?``, ``SYSTem:ERRor?``, ``CONFigure:TOTalize:TIMed``, ``[SENSe:]TOTalize:GATE:TIME``,
  ``[SENSe:]TOTalize:GATE:SOURce {TIME|EXTernal|INPut[1]|INPut2|ADVanced}``,
  ``[SENSe:]TOTalize:GATE:POLarity {POSitive|NEGative}``, ``TRIGger:SOURce {IMMediate|EXTernal|BUS}``,
  ``TRIGger:COUNt`` (1 to 1,000,000), ``TRIGger:SLOPe``, ``TRIGger:DELay``, ``SAMPle:COUNt``,
  ``INPut{1|2}:LEVel{1|2}:RELative`` (10 to 90 % in 5 % steps).
- *Keysight 53220A/53230A User's Guide*, chapter 3 "Measurements" (gated totalizing: gate time 1 µs to 1000 s in
  1 µs steps on the 53230A, default 0.1 s), chapter 4 "Input Signal Conditioning" (``INPut:IMPedance``,
  ``INPut:COUPling``, ``INPut:RANGe``, ``INPut:LEVel[:ABSolute]`` which turns auto-level off,
  ``INPut:LEVel:AUTO``, ``INPut:SLOPe``, ``INPut:PROTection?`` / ``:CLEar``: the 50 ohm input opens its protection
  relay above about ±10 Vp and is rated ±5.125 Vp) and chapter 5 "Triggering and Gating" (sample and trigger
  counts, gate polarity).

A reading of 9.91E+37 is the instrument's "not a number"; the driver turns it into an error instead of a count.
"""

from __future__ import annotations

from typing import Final, Unpack

from qcodes.instrument import InstrumentBaseKWArgs, InstrumentChannel, VisaInstrument, VisaInstrumentKWArgs
from qcodes.parameters import Parameter, create_on_off_val_mapping
from qcodes.validators import Enum, Ints, Multiples, Numbers

SUPPORTED_MODELS: Final = ("53230A",)
"""Models this driver accepts in the second field of ``*IDN?``."""

NOT_A_NUMBER: Final = 9.91e37
"""What the counter returns when a reading is invalid (SCPI NaN)."""

MAX_ERRORS_TO_DRAIN: Final = 32
"""``SYSTem:ERRor?`` is read at most this often in one :meth:`Keysight53230A.check_errors` call."""

GATE_TIME_MIN_S: Final = 1e-6
GATE_TIME_MAX_S: Final = 1000.0
MAX_COUNT: Final = 1_000_000


class Keysight53230AError(RuntimeError):
    """The counter reported an error, or answered something the driver cannot use."""


class Keysight53230AIdentityError(Keysight53230AError):
    """The instrument at the address is not a 53230A (``*IDN?`` names another model or maker)."""


def _parse_int(text: str) -> int:
    """Counts and integer settings come back as NR1 (``+100``) or NR3 (``+1.00000000000000E+002``)."""
    return round(float(text))


def _strip(text: str) -> str:
    return text.strip().strip('"')


class Keysight53230AInput(InstrumentChannel["Keysight53230A"]):
    """One front-panel input (channel 1 or 2): impedance, coupling, range, threshold and slope.

    For an SPCM's TTL pulses use 50 ohm, DC coupling, the 5 V range, a fixed threshold of about 1 V and the
    positive slope. Setting ``level`` turns auto-level off, as the instrument does.
    """

    def __init__(self, parent: Keysight53230A, name: str, number: int, **kwargs: Unpack[InstrumentBaseKWArgs]) -> None:
        super().__init__(parent, name, **kwargs)
        self.number: Final = number
        inp = f"INP{number}"

        self.impedance: Parameter = self.add_parameter(
            "impedance",
            get_cmd=f"{inp}:IMP?",
            set_cmd=f"{inp}:IMP {{}}",
            get_parser=float,
            unit="Ohm",
            vals=Enum(50, 1_000_000),
            docstring="Input impedance: 50 ohm (SPCM outputs are made to drive 50 ohm) or 1 Mohm.",
        )
        self.coupling: Parameter = self.add_parameter(
            "coupling",
            get_cmd=f"{inp}:COUP?",
            set_cmd=f"{inp}:COUP {{}}",
            get_parser=_strip,
            vals=Enum("AC", "DC"),
            docstring="Input coupling, AC or DC. Use DC for sparse TTL pulses: AC coupling shifts a fixed threshold.",
        )
        self.range: Parameter = self.add_parameter(
            "range",
            get_cmd=f"{inp}:RANG?",
            set_cmd=f"{inp}:RANG {{}}",
            get_parser=float,
            unit="V",
            vals=Enum(5, 50),
            docstring="Input range, 5 V or 50 V. The threshold resolution is finer on the 5 V range.",
        )
        self.level: Parameter = self.add_parameter(
            "level",
            get_cmd=f"{inp}:LEV?",
            set_cmd=f"{inp}:LEV {{:.4f}}",
            get_parser=float,
            unit="V",
            vals=Numbers(-50.0, 50.0),
            docstring=(
                "Absolute threshold voltage (INPut:LEVel[:ABSolute]). Setting it turns auto-level off. "
                "The instrument accepts ±5 V on the 5 V range and ±50 V on the 50 V range."
            ),
        )
        self.level_auto: Parameter = self.add_parameter(
            "level_auto",
            get_cmd=f"{inp}:LEV:AUTO?",
            set_cmd=f"{inp}:LEV:AUTO {{}}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
            docstring=(
                "Auto-level: the threshold follows the signal's peaks. *RST and CONFigure turn it on; keep it off "
                "for photon counting, where the pulse train is sparse and the threshold must be fixed."
            ),
        )
        self.level_relative: Parameter = self.add_parameter(
            "level_relative",
            get_cmd=f"{inp}:LEV:REL?",
            set_cmd=f"{inp}:LEV:REL {{}}",
            get_parser=_parse_int,
            unit="%",
            vals=Multiples(divisor=5, min_value=10, max_value=90),
            docstring="Threshold as a percentage of the peak-to-peak input, 10 to 90 % in 5 % steps (auto-level only).",
        )
        self.slope: Parameter = self.add_parameter(
            "slope",
            get_cmd=f"{inp}:SLOP?",
            set_cmd=f"{inp}:SLOP {{}}",
            get_parser=_strip,
            vals=Enum("POS", "NEG"),
            docstring="Edge that is counted: POS (rising) or NEG (falling).",
        )
        self.protection_tripped: Parameter = self.add_parameter(
            "protection_tripped",
            get_cmd=f"{inp}:PROT?",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
            docstring=(
                "True when the 50 ohm input's protection relay has opened (input above about ±10 Vp); the input is "
                "then 1 Mohm until clear_protection() is sent."
            ),
        )

    def clear_protection(self) -> None:
        """Close the input protection relay again (INPut:PROTection:CLEar), restoring 50 ohm."""
        self.write(f"INP{self.number}:PROT:CLE")


class Keysight53230A(VisaInstrument):
    """Keysight 53230A universal counter/timer, driven as a gated photon counter (totalize, timed gate).

    Typical use::

        counter = Keysight53230A("photon_counter", "TCPIP0::192.168.1.60::inst0::INSTR")
        counter.configure_totalize(gate_time_s=1e-3, channel=1)
        counter.ch1.impedance(50); counter.ch1.coupling("DC"); counter.ch1.level(1.0); counter.ch1.slope("POS")
        n = counter.counts()  # INIT, wait one gate, FETCh?

    The constructor checks ``*IDN?`` and raises :class:`Keysight53230AIdentityError` for any other model.
    It does not reset the instrument.
    """

    default_terminator = "\n"
    default_timeout = 5.0

    def __init__(self, name: str, address: str, **kwargs: Unpack[VisaInstrumentKWArgs]) -> None:
        super().__init__(name, address, **kwargs)
        try:
            self._check_identity(address)
        except Exception:
            self.close()  # do not leak the VISA session of an instrument we refuse
            raise

        self.ch1: Keysight53230AInput = self.add_submodule("ch1", Keysight53230AInput(self, "ch1", 1))
        self.ch2: Keysight53230AInput = self.add_submodule("ch2", Keysight53230AInput(self, "ch2", 2))
        self.inputs: Final = {1: self.ch1, 2: self.ch2}

        self.gate_time: Parameter = self.add_parameter(
            "gate_time",
            get_cmd="SENS:TOT:GATE:TIME?",
            set_cmd="SENS:TOT:GATE:TIME {:.6E}",
            get_parser=float,
            unit="s",
            vals=Numbers(GATE_TIME_MIN_S, GATE_TIME_MAX_S),
            docstring="Totalize gate time, 1 µs to 1000 s in 1 µs steps (used when gate_source is TIME).",
        )
        self.gate_source: Parameter = self.add_parameter(
            "gate_source",
            get_cmd="SENS:TOT:GATE:SOUR?",
            set_cmd="SENS:TOT:GATE:SOUR {}",
            get_parser=_strip,
            vals=Enum("TIME", "EXT", "INP1", "INP2", "ADV"),
            docstring=(
                "What opens and closes the totalize gate: TIME (gate_time after each trigger), EXT (the rear Gate "
                "In/Out BNC, e.g. the AWG's readout window), INP1/INP2 (the other input) or ADV (advanced gating)."
            ),
        )
        self.gate_polarity: Parameter = self.add_parameter(
            "gate_polarity",
            get_cmd="SENS:TOT:GATE:POL?",
            set_cmd="SENS:TOT:GATE:POL {}",
            get_parser=_strip,
            vals=Enum("POS", "NEG"),
            docstring="External gate polarity: POS counts from a rising to the next falling edge; NEG the reverse.",
        )
        self.trigger_source: Parameter = self.add_parameter(
            "trigger_source",
            get_cmd="TRIG:SOUR?",
            set_cmd="TRIG:SOUR {}",
            get_parser=_strip,
            vals=Enum("IMM", "EXT", "BUS"),
            docstring="Trigger that starts each gate: IMM (at once), EXT (rear Trig In BNC) or BUS (*TRG).",
        )
        self.trigger_slope: Parameter = self.add_parameter(
            "trigger_slope",
            get_cmd="TRIG:SLOP?",
            set_cmd="TRIG:SLOP {}",
            get_parser=_strip,
            vals=Enum("POS", "NEG"),
            docstring="Edge of the external trigger (rear Trig In BNC) that is accepted.",
        )
        self.trigger_delay: Parameter = self.add_parameter(
            "trigger_delay",
            get_cmd="TRIG:DEL?",
            set_cmd="TRIG:DEL {:.6E}",
            get_parser=float,
            unit="s",
            vals=Numbers(0.0, 3600.0),
            docstring="Delay between the trigger and the gate opening.",
        )
        self.trigger_count: Parameter = self.add_parameter(
            "trigger_count",
            get_cmd="TRIG:COUN?",
            set_cmd="TRIG:COUN {}",
            get_parser=_parse_int,
            vals=Ints(1, MAX_COUNT),
            docstring="Triggers accepted before the counter returns to idle (1 to 1,000,000).",
        )
        self.sample_count: Parameter = self.add_parameter(
            "sample_count",
            get_cmd="SAMP:COUN?",
            set_cmd="SAMP:COUN {}",
            get_parser=_parse_int,
            vals=Ints(1, MAX_COUNT),
            docstring="Readings (gates) per trigger, 1 to 1,000,000. Readings per INIT = trigger_count × sample_count.",
        )
        self.counts: Parameter = self.add_parameter(
            "counts",
            get_cmd=self._read_single_count,
            set_cmd=False,
            snapshot_get=False,  # a snapshot must not start a measurement (READ? arms and waits for a gate)
            unit="counts",
            docstring=(
                "Photon counts in one gate: READ? (INIT then FETCh?). Needs trigger_count × sample_count = 1; "
                "use read_counts() for several gates."
            ),
        )

        self.connect_message()

    # -- identity and errors ------------------------------------------------------------------------------------

    def _check_identity(self, address: str) -> None:
        idn = self.ask("*IDN?").strip()
        fields = [field.strip() for field in idn.split(",")]
        maker = fields[0].upper() if fields else ""
        model = fields[1].upper() if len(fields) > 1 else ""
        if model not in SUPPORTED_MODELS or not maker.startswith(("KEYSIGHT", "AGILENT")):
            raise Keysight53230AIdentityError(
                f"instrument {self.name!r} at {address}: expected a Keysight/Agilent 53230A counter, "
                f"but *IDN? answered {idn!r}. Check the address in the station config."
            )

    def check_errors(self) -> None:
        """Drain the error queue (SYSTem:ERRor?) and raise one error that lists every entry.

        Raises:
            Keysight53230AError: naming this instrument and each ``<code>,"<message>"`` it reported.
        """
        errors: list[str] = []
        for _ in range(MAX_ERRORS_TO_DRAIN):
            reply = self.ask("SYST:ERR?").strip()
            code = reply.split(",", 1)[0].strip()
            try:
                if int(code) == 0:
                    break
            except ValueError as exc:
                raise Keysight53230AError(f"instrument {self.name!r}: unexpected reply {reply!r} to SYST:ERR?") from exc
            errors.append(reply)
        else:
            errors.append(f"... error queue not empty after {MAX_ERRORS_TO_DRAIN} reads")
        if errors:
            raise Keysight53230AError(f"instrument {self.name!r} reported: " + "; ".join(errors))

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Factory reset (*RST): frequency function, auto-level on, 1 Mohm. Reconfigure totalize afterwards."""
        self.write("*RST")

    def clear_status(self) -> None:
        """Clear the status registers and the error queue (*CLS)."""
        self.write("*CLS")

    def abort(self) -> None:
        """Stop any measurement in progress and return to idle (ABORt)."""
        self.write("ABOR")

    def safe_state(self) -> None:
        """Stop counting (ABORt). The counter drives no outputs, so an idle counter is safe."""
        self.abort()

    # -- measurement --------------------------------------------------------------------------------------------

    def configure_totalize(self, gate_time_s: float, channel: int = 1) -> None:
        """Select gated totalize on a channel (CONFigure:TOTalize:TIMed).

        CONFigure also sets the gate source to TIME, one trigger and one sample, IMMediate triggering and
        auto-level on: set the input's fixed ``level`` after this call.
        """
        Numbers(GATE_TIME_MIN_S, GATE_TIME_MAX_S).validate(gate_time_s, "gate_time_s")
        Enum(1, 2).validate(channel, "channel")
        self.write(f"CONF:TOT:TIM {gate_time_s:.6E},(@{channel})")
        changed = (self.gate_time, self.gate_source, self.trigger_source, self.trigger_count, self.sample_count)
        for parameter in (*changed, self.inputs[channel].level_auto):
            parameter.cache.invalidate()

    def initiate(self) -> None:
        """Arm the counter (INITiate); the readings collect in reading memory until fetch_counts()."""
        self.write("INIT")

    def fetch_counts(self) -> list[int]:
        """Wait for the armed measurement and return its readings (FETCh?), one count per gate."""
        return self._parse_counts(self._ask_with_gate_timeout("FETC?"))

    def read_counts(self) -> list[int]:
        """Arm, measure and return every reading (READ?), one count per gate."""
        return self._parse_counts(self._ask_with_gate_timeout("READ?"))

    def _read_single_count(self) -> int:
        expected = int(self.trigger_count.get_latest()) * int(self.sample_count.get_latest())
        if expected != 1:
            raise Keysight53230AError(
                f"instrument {self.name!r}: counts takes one reading per INIT, but trigger_count × sample_count "
                f"is {expected}; set both to 1 or use read_counts()"
            )
        readings = self.read_counts()
        if len(readings) != 1:
            raise Keysight53230AError(
                f"instrument {self.name!r}: counts expected one reading but READ? returned {len(readings)}"
            )
        return readings[0]

    def _parse_counts(self, reply: str) -> list[int]:
        try:
            values = [float(item) for item in reply.strip().split(",") if item.strip()]
        except ValueError as exc:
            raise Keysight53230AError(f"instrument {self.name!r}: unexpected reading {reply!r}") from exc
        if not values:
            raise Keysight53230AError(f"instrument {self.name!r}: empty reading")
        if any(value >= NOT_A_NUMBER or value < 0 for value in values):
            raise Keysight53230AError(
                f"instrument {self.name!r}: invalid reading {reply!r} (9.91E+37 means no valid count; "
                "check the gate and the input)"
            )
        return [round(value) for value in values]

    def _ask_with_gate_timeout(self, command: str) -> str:
        """Query with a VISA timeout long enough for every timed gate of the measurement to close."""
        gate_s = self.gate_time.get_latest() if self.gate_source.get_latest() == "TIME" else 0.0
        readings = self.trigger_count.get_latest() * self.sample_count.get_latest()
        base_s = self.timeout.get()
        if base_s is None:  # no VISA timeout at all: nothing to extend
            return self.ask(command)
        with self.timeout.set_to(float(base_s) + float(gate_s) * int(readings)):
            return self.ask(command)
