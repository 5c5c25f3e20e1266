"""QCoDeS driver for Cobolt 06-01 series lasers (06-MLD diode and 06-DPL diode-pumped, e.g. the 515 nm 06-DPL).

In the NV node this is the green laser (charge reset, spin initialisation and readout). The laser is a USB virtual
COM port (or RS-232): open it as a VISA ASRL resource, 115200 baud, 8N1, no flow control.

Command set: "Cobolt 06-01 Series Owner's Manual" (Cobolt AB / HÜBNER Photonics), chapter on remote control,
"Communication commands" table (laser on/off, power, mode, modulation, status and fault commands). See
docs/instruments.md for which commands were checked against which source and which remain uncertain.

Protocol facts the driver relies on:

- commands are lower-case ASCII ending in CR; every command, set or query, gets one reply line ending in CR LF;
- set commands reply ``OK``; an unknown or refused command replies ``Syntax error: illegal command`` -- the driver
  reads the reply of every command and raises :class:`CoboltReplyError`, naming the instrument, for anything else,
  so a refused command is never silently ignored and never leaves a stale reply queued;
- power is in watts (``p``, ``p?``, ``pa?``), the drive current in mA (``i?``);
- there is no ``*IDN?``: at connection the driver reads the serial number (``sn?``) and raises
  :class:`CoboltReplyError` when the reply is not a serial number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qcodes.instrument import VisaInstrument
from qcodes.parameters import Parameter
from qcodes.validators import Bool, Numbers

__all__ = ["FAULTS", "OPERATING_MODES", "Cobolt0601", "CoboltReplyError"]

OPERATING_MODES = {
    0: "off",
    1: "waiting for key",
    2: "continuous",
    3: "on/off modulation",
    4: "modulation",
    5: "fault",
    6: "aborted",
}
"""Replies of ``gom?`` (get operating mode)."""

FAULTS = {0: "no fault", 1: "temperature error", 3: "interlock error", 4: "constant power time out"}
"""Replies of ``f?`` (get operating fault)."""


class CoboltReplyError(RuntimeError):
    """The Cobolt laser (named in the message) refused a command or gave a reply the driver cannot interpret."""


class Cobolt0601(VisaInstrument):
    """Cobolt 06-01 series laser (06-MLD / 06-DPL) over its USB virtual COM port.

    Args:
        name: QCoDeS instrument name.
        address: VISA resource, e.g. ``"ASRL/dev/ttyACM0::INSTR"`` or ``"ASRL3::INSTR"``.
        max_power: the model's rated output power in W; the power setpoint validator stops at it (the laser
            itself refuses more, but then the error only shows at run time).
        model: the model string returned by ``get_idn`` (the laser has no model query the driver relies on).
    """

    default_terminator = "\r"

    def __init__(self, name: str, address: str, max_power: float = 0.1, model: str = "06-01", **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self._model = model
        self.visa_handle.write_termination = "\r"
        self.visa_handle.read_termination = "\r\n"
        if address.upper().startswith("ASRL"):
            self.visa_handle.baud_rate = 115200  # type: ignore[attr-defined]

        self.laser_on: Parameter = self.add_parameter(
            "laser_on",
            get_cmd=self._query_parser("l?", _bool01),
            set_cmd=lambda on: self._command("l1" if on else "l0"),
            vals=Bool(),
            docstring="Laser emission on (l1) or off (l0); read with l?. With autostart enabled, l1 after an "
            "interlock or key cycle restarts the warm-up sequence.",
        )
        self.power_setpoint: Parameter = self.add_parameter(
            "power_setpoint",
            get_cmd=self._query_parser("p?", float),
            set_cmd=lambda watts: self._command(f"p {watts:.4f}"),
            unit="W",
            vals=Numbers(0.0, max_power),
            docstring="Output power setpoint in constant-power mode (p / p?), in W.",
        )
        self.power: Parameter = self.add_parameter(
            "power",
            get_cmd=self._query_parser("pa?", float),
            unit="W",
            docstring="Output power measured by the laser's internal monitor (pa?), in W.",
        )
        self.drive_current: Parameter = self.add_parameter(
            "drive_current",
            get_cmd=self._query_parser("i?", float),
            unit="mA",
            docstring="Laser diode drive current (i?), in mA.",
        )
        self.operating_mode: Parameter = self.add_parameter(
            "operating_mode",
            get_cmd=self._query_parser("gom?", _code(OPERATING_MODES)),
            docstring="Operating state (gom?): off, waiting for key, continuous, on/off modulation, modulation, "
            "fault or aborted.",
        )
        self.interlock_open: Parameter = self.add_parameter(
            "interlock_open",
            get_cmd=self._query_parser("ilk?", _bool01),
            docstring="True when the remote interlock loop is open (ilk? returns 1); the laser cannot emit then.",
        )
        self.fault: Parameter = self.add_parameter(
            "fault",
            get_cmd=self._query_parser("f?", _code(FAULTS)),
            docstring="Operating fault (f?): 'no fault', 'temperature error', 'interlock error' or "
            "'constant power time out'. Clear it with clear_fault().",
        )
        self.operating_hours: Parameter = self.add_parameter(
            "operating_hours",
            get_cmd=self._query_parser("hrs?", float),
            unit="h",
            docstring="Laser head operating hours (hrs?).",
        )
        self.serial_number: Parameter = self.add_parameter(
            "serial_number",
            get_cmd=self._query_parser("sn?", _serial),
            docstring="Serial number of the laser head (sn?).",
        )
        self.digital_modulation: Parameter = self.add_parameter(
            "digital_modulation",
            get_cmd=self._query_parser("gdmes?", _bool01),
            set_cmd=lambda on: self._command(f"sdmes {int(on)}"),
            vals=Bool(),
            docstring="Digital (TTL) modulation enable (sdmes / gdmes?). Takes effect in modulation mode "
            "(modulation_mode()).",
        )
        self.analog_modulation: Parameter = self.add_parameter(
            "analog_modulation",
            get_cmd=self._query_parser("games?", _bool01),
            set_cmd=lambda on: self._command(f"sames {int(on)}"),
            vals=Bool(),
            docstring="Analog modulation enable (sames / games?). Takes effect in modulation mode.",
        )

        self._check_is_cobolt()
        self.connect_message()

    # --- protocol -------------------------------------------------------------------------------------------------

    def _command(self, command: str) -> None:
        """Send a set command and insist on the ``OK`` reply."""
        reply = self.ask(command).strip()
        if reply != "OK":
            raise CoboltReplyError(f"{self.full_name}: command {command!r} was answered {reply!r}, expected 'OK'")

    def _query_parser(self, query: str, parse: Callable[[str], Any]) -> Callable[[], Any]:
        """A get function that asks ``query`` and parses the reply, naming the instrument when it cannot."""

        def get() -> Any:
            reply = self.ask(query).strip()
            try:
                return parse(reply)
            except ValueError:
                raise CoboltReplyError(f"{self.full_name}: query {query!r} was answered {reply!r}") from None

        return get

    def _check_is_cobolt(self) -> None:
        try:
            self.serial_number.get()
        except CoboltReplyError as error:
            message = (
                f"{error.args[0]}; expected a serial number. Is {self.address} a Cobolt 06-01 laser "
                "(115200 baud, CR terminated)?"
            )
            self.close()  # release the port: the instrument is not registered when __init__ fails
            raise CoboltReplyError(message) from None

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model (as given), serial number from ``sn?``; the firmware is not queried."""
        return {"vendor": "Cobolt", "model": self._model, "serial": self.serial_number.get(), "firmware": None}

    # --- actions --------------------------------------------------------------------------------------------------

    def clear_fault(self) -> None:
        """Clear a latched fault (cf)."""
        self._command("cf")

    def constant_power_mode(self) -> None:
        """Enter constant-power mode (cp): the laser regulates pa? to power_setpoint."""
        self._command("cp")

    def constant_current_mode(self) -> None:
        """Enter constant-current mode (ci)."""
        self._command("ci")

    def modulation_mode(self) -> None:
        """Enter modulation mode (em); digital/analog modulation then follow their enable flags."""
        self._command("em")

    def safe_state(self) -> None:
        """Safe state of a laser: emission off (l0)."""
        self.laser_on.set(False)


def _bool01(reply: str) -> bool:
    if reply not in ("0", "1"):
        raise ValueError(reply)
    return reply == "1"


def _code(names: dict[int, str]) -> Callable[[str], str]:
    def parse(reply: str) -> str:
        code = int(reply)
        if code not in names:
            raise ValueError(reply)
        return names[code]

    return parse


def _serial(reply: str) -> str:
    if not reply.isdigit():
        raise ValueError(reply)
    return reply
