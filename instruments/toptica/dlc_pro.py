"""QCoDeS driver for the TOPTICA DLC pro digital laser controller (DL pro / TA pro diode lasers).

In the lab the DLC pro drives the NV node's red lasers (637 nm readout and repump) and the ion node's 397, 866, 854
and 729 nm lasers. A real controller is reached on its command-line TCP port: ``TCPIP0::<ip>::1998::SOCKET``.
Its USB serial port (``ASRL...::INSTR``, 115200 baud) speaks the same language and works with the same driver.

Command language: TOPTICA's DeCoP command line, as implemented by TOPTICA's own Python Laser SDK
(``toptica-lasersdk`` 3.3.0, modules ``toptica.lasersdk.asyncio.connection`` and ``client``, and the generated
parameter tree ``dlcpro/v3_3_3.py``). The DLC pro manual's command reference was not available as text;
docs/instruments.md lists which facts come from which source and which remain unverified. The DLC pro is not a
SCPI instrument, so neither qcodes nor qcodes-contrib ships a driver; TOPTICA's SDK is asyncio-based and not a
QCoDeS instrument, hence this hand-written one.

Protocol facts the driver relies on (TOPTICA Laser SDK, network and serial connections):

- on connection the controller prints a welcome banner ending in ``DeCoF Command Line`` and a prompt ``> ``;
- a command is one Scheme-like expression ending in LF: ``(param-ref 'laser1:dl:cc:current-act)`` reads,
  ``(param-set! 'laser1:dl:cc:enabled #f)`` writes, ``(exec 'name)`` runs a command;
- every command is answered by zero or more lines ending in CR LF and then the prompt ``> `` (the SDK reads up
  to ``\\n> ``); values are numbers, ``#t``/``#f`` or double-quoted strings; errors are lines ``Error: <code> ...``;
- ``param-set!`` answers an integer status: 0 success, > 0 a warning, < 0 an error;
- the TCP port does not echo commands; the serial port echoes them unless echo is switched off (the SDK sends
  Ctrl-R). The driver drops a first reply line equal to the command, so it works with echo on or off.

The driver reads the prompt's ``>`` and leaves its trailing space to be skipped before the next reply; this reads
exactly what the controller sends and never waits for bytes that will not come.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from qcodes.instrument import InstrumentChannel, VisaInstrument
from qcodes.parameters import Parameter
from qcodes.validators import Bool, Numbers

__all__ = ["DLCPro", "DLCProError", "DLCProIdentityError", "DLCProLaser", "DLCProReplyError"]

BANNER_MARKER: Final = "decof command line"
"""Last line of the welcome banner (compared case-insensitively; firmware spells it 'DeCoF Command Line')."""

SUPPORTED_SYSTEM_TYPES: Final = ("DLCPRO",)
"""Accepted values of ``system-type`` (upper case, spaces removed)."""

MAX_REPLY_LINES: Final = 64
"""A reply longer than this many lines without a prompt is treated as a protocol error."""


class DLCProError(RuntimeError):
    """The DLC pro (named in the message) refused a command or reported an error."""


class DLCProReplyError(DLCProError):
    """The DLC pro (named in the message) answered something the driver cannot interpret."""


class DLCProIdentityError(DLCProError):
    """The device at the address is not a DLC pro (``system-type`` names something else)."""


def _ref(name: str) -> str:
    return f"(param-ref '{name})"


def _set(name: str, value_format: str) -> str:
    return f"(param-set! '{name} {value_format})"


class DLCProLaser(InstrumentChannel["DLCPro"]):
    """One laser (``laser1`` or ``laser2``) of a DLC pro: current driver, temperature, piezo and scan.

    The validators of the current, temperature and piezo setpoints use the limits the controller holds for the
    connected laser head (``current-clip``, ``temp-set-min``/``-max``, ``voltage-min``/``-max``), read once at
    connection: the driver refuses a value the controller would refuse.
    """

    def __init__(self, parent: DLCPro, name: str, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        p = name  # "laser1" / "laser2": the DeCoP path prefix
        self.path: Final = p
        ask_float = parent.ask_float
        current_limit_ma = ask_float(f"{p}:dl:cc:current-clip")
        temperature_min_c = ask_float(f"{p}:dl:tc:temp-set-min")
        temperature_max_c = ask_float(f"{p}:dl:tc:temp-set-max")
        piezo_min_v = ask_float(f"{p}:dl:pc:voltage-min")
        piezo_max_v = ask_float(f"{p}:dl:pc:voltage-max")

        self.emission: Parameter = self.add_parameter(
            "emission",
            get_cmd=_ref(f"{p}:emission"),
            get_parser=parent.bool_parser(f"{p}:emission"),
            docstring="True while this laser emits (read only): the current is enabled and the front-panel "
            "emission key and interlock allow it.",
        )
        self.current_enabled: Parameter = self.add_parameter(
            "current_enabled",
            get_cmd=_ref(f"{p}:dl:cc:enabled"),
            set_cmd=_set(f"{p}:dl:cc:enabled", "{}"),
            get_parser=parent.bool_parser(f"{p}:dl:cc:enabled"),
            set_parser=_scheme_bool,
            vals=Bool(),
            docstring="Laser diode current driver on/off (dl:cc:enabled). Off stops emission; this is the remote "
            "'laser off' (the emission key itself cannot be switched remotely).",
        )
        self.current_setpoint: Parameter = self.add_parameter(
            "current_setpoint",
            get_cmd=_ref(f"{p}:dl:cc:current-set"),
            set_cmd=_set(f"{p}:dl:cc:current-set", "{:.4f}"),
            get_parser=parent.float_parser(f"{p}:dl:cc:current-set"),
            unit="mA",
            vals=Numbers(0.0, current_limit_ma),
            docstring=f"Diode current setpoint (dl:cc:current-set), 0 to the head's current clip "
            f"({current_limit_ma:g} mA at connection).",
        )
        self.current: Parameter = self.add_parameter(
            "current",
            get_cmd=_ref(f"{p}:dl:cc:current-act"),
            get_parser=parent.float_parser(f"{p}:dl:cc:current-act"),
            unit="mA",
            docstring="Measured diode current (dl:cc:current-act).",
        )
        self.current_limit: Parameter = self.add_parameter(
            "current_limit",
            get_cmd=_ref(f"{p}:dl:cc:current-clip"),
            get_parser=parent.float_parser(f"{p}:dl:cc:current-clip"),
            unit="mA",
            docstring="Current clip of the laser head (dl:cc:current-clip): the controller never drives more.",
        )
        self.temperature_setpoint: Parameter = self.add_parameter(
            "temperature_setpoint",
            get_cmd=_ref(f"{p}:dl:tc:temp-set"),
            set_cmd=_set(f"{p}:dl:tc:temp-set", "{:.4f}"),
            get_parser=parent.float_parser(f"{p}:dl:tc:temp-set"),
            unit="°C",
            vals=Numbers(temperature_min_c, temperature_max_c),
            docstring=f"Diode temperature setpoint (dl:tc:temp-set), {temperature_min_c:g} to "
            f"{temperature_max_c:g} °C (temp-set-min/-max at connection).",
        )
        self.temperature: Parameter = self.add_parameter(
            "temperature",
            get_cmd=_ref(f"{p}:dl:tc:temp-act"),
            get_parser=parent.float_parser(f"{p}:dl:tc:temp-act"),
            unit="°C",
            docstring="Measured diode temperature (dl:tc:temp-act).",
        )
        self.temperature_ready: Parameter = self.add_parameter(
            "temperature_ready",
            get_cmd=_ref(f"{p}:dl:tc:ready"),
            get_parser=parent.bool_parser(f"{p}:dl:tc:ready"),
            docstring="True when the temperature controller has settled at its setpoint (dl:tc:ready).",
        )
        self.piezo_enabled: Parameter = self.add_parameter(
            "piezo_enabled",
            get_cmd=_ref(f"{p}:dl:pc:enabled"),
            set_cmd=_set(f"{p}:dl:pc:enabled", "{}"),
            get_parser=parent.bool_parser(f"{p}:dl:pc:enabled"),
            set_parser=_scheme_bool,
            vals=Bool(),
            docstring="Piezo driver on/off (dl:pc:enabled).",
        )
        self.piezo_voltage_setpoint: Parameter = self.add_parameter(
            "piezo_voltage_setpoint",
            get_cmd=_ref(f"{p}:dl:pc:voltage-set"),
            set_cmd=_set(f"{p}:dl:pc:voltage-set", "{:.4f}"),
            get_parser=parent.float_parser(f"{p}:dl:pc:voltage-set"),
            unit="V",
            vals=Numbers(piezo_min_v, piezo_max_v),
            docstring=f"Piezo voltage setpoint (dl:pc:voltage-set), {piezo_min_v:g} to {piezo_max_v:g} V: tunes the "
            "external-cavity grating, i.e. the laser frequency, with the scan off.",
        )
        self.piezo_voltage: Parameter = self.add_parameter(
            "piezo_voltage",
            get_cmd=_ref(f"{p}:dl:pc:voltage-act"),
            get_parser=parent.float_parser(f"{p}:dl:pc:voltage-act"),
            unit="V",
            docstring="Piezo voltage applied (dl:pc:voltage-act).",
        )
        self.scan_enabled: Parameter = self.add_parameter(
            "scan_enabled",
            get_cmd=_ref(f"{p}:scan:enabled"),
            set_cmd=_set(f"{p}:scan:enabled", "{}"),
            get_parser=parent.bool_parser(f"{p}:scan:enabled"),
            set_parser=_scheme_bool,
            vals=Bool(),
            docstring="Scan generator on/off (scan:enabled). A parked (locked or set-point) laser has it off.",
        )
        self.nominal_wavelength: Parameter = self.add_parameter(
            "nominal_wavelength",
            get_cmd=_ref(f"{p}:dl:factory-settings:wavelength"),
            get_parser=parent.float_parser(f"{p}:dl:factory-settings:wavelength"),
            unit="nm",
            docstring="Centre wavelength of the laser head from its factory settings "
            "(dl:factory-settings:wavelength). A DL pro has no wavelength meter: this is not a measurement.",
        )

    def scan_off(self) -> None:
        """Stop the scan generator (scan:enabled #f)."""
        self.scan_enabled.set(False)

    def safe_state(self) -> None:
        """Scan off, then the diode current off (no emission). Setpoints are kept."""
        self.scan_off()
        self.current_enabled.set(False)


class DLCPro(VisaInstrument):
    """TOPTICA DLC pro over its command-line port (TCP 1998) or its USB serial port.

    Args:
        name: QCoDeS instrument name.
        address: e.g. ``"TCPIP0::192.168.1.50::1998::SOCKET"``.
        lasers: which laser outputs exist (1, or 1 and 2 on a dual controller); each becomes a submodule
            ``laser1`` / ``laser2``.

    On connection the driver reads ``system-type`` and raises :class:`DLCProIdentityError` (naming the instrument
    and address) unless it names a DLC pro. It does not change any laser setting on connection.
    """

    default_terminator = "\n"
    default_timeout = 5.0

    def __init__(self, name: str, address: str, lasers: Sequence[int] = (1,), **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        # Commands end in LF; reply lines end in CR LF, read line by line (the prompt is handled in ask_raw).
        self.visa_handle.write_termination = "\n"
        self.visa_handle.read_termination = "\n"
        if address.upper().startswith("ASRL"):
            self.visa_handle.baud_rate = 115200  # type: ignore[attr-defined]

        self._check_identity()

        self.emission: Parameter = self.add_parameter(
            "emission",
            get_cmd=_ref("emission"),
            get_parser=self.bool_parser("emission"),
            docstring="Controller-wide emission state (read only): the front-panel key is on and the interlock "
            "is closed.",
        )
        self.interlock_open: Parameter = self.add_parameter(
            "interlock_open",
            get_cmd=_ref("interlock-open"),
            get_parser=self.bool_parser("interlock-open"),
            docstring="True when the interlock loop is open; no laser can emit then.",
        )
        self.system_health: Parameter = self.add_parameter(
            "system_health",
            get_cmd=_ref("system-health-txt"),
            get_parser=self.string_parser("system-health-txt"),
            docstring="Controller health as text (system-health-txt), e.g. 'ok'.",
        )
        self.serial_number: Parameter = self.add_parameter(
            "serial_number",
            get_cmd=_ref("serial-number"),
            get_parser=self.string_parser("serial-number"),
            docstring="Controller serial number (serial-number).",
        )
        self.firmware_version: Parameter = self.add_parameter(
            "firmware_version",
            get_cmd=_ref("fw-ver"),
            get_parser=self.string_parser("fw-ver"),
            docstring="Firmware version (fw-ver); the parameter tree used here is that of firmware 2.x-3.x.",
        )

        self.lasers: Final[dict[int, DLCProLaser]] = {}
        try:
            for number in lasers:
                if number not in (1, 2):
                    raise ValueError(f"{self.full_name}: lasers must be 1 and/or 2, got {number!r}")
                laser = DLCProLaser(self, f"laser{number}")
                self.add_submodule(f"laser{number}", laser)
                self.lasers[number] = laser
        except Exception:
            self.close()  # release the VISA session: the instrument is not registered when __init__ fails
            raise

        self.connect_message()

    # --- protocol -------------------------------------------------------------------------------------------------

    def ask_raw(self, cmd: str) -> str:
        """Send one command and return its reply lines (without banner, echo and prompt), joined by LF.

        Raises:
            DLCProError: the controller answered ``Error: ...``.
            DLCProReplyError: the reply did not end in a prompt within MAX_REPLY_LINES lines.
        """
        self.visa_log.debug("Querying: %s", cmd)
        self.visa_handle.write(cmd)
        lines = self._read_block(cmd)
        if lines and lines[-1].strip().lower().endswith(BANNER_MARKER):
            lines = self._read_block(cmd)  # the welcome banner came first; the reply follows it
        if lines and lines[0].strip() == cmd.strip():
            lines = lines[1:]  # echo (serial port with echo on)
        reply = "\n".join(lines)
        self.visa_log.debug("Response: %s", reply)
        for line in lines:
            if line.strip().lower().startswith("error"):
                raise DLCProError(f"{self.full_name}: {cmd!r} was answered {reply!r}")
        return reply

    def write_raw(self, cmd: str) -> None:
        """Send a command and check its reply; for ``param-set!`` the status must be a non-negative integer."""
        reply = self.ask_raw(cmd)
        if cmd.lstrip().startswith("(param-set!"):
            status_line = reply.splitlines()[-1].strip() if reply else ""
            try:
                status = int(status_line)
            except ValueError:
                raise DLCProReplyError(
                    f"{self.full_name}: {cmd!r} was answered {reply!r}, expected an integer status"
                ) from None
            if status < 0:
                raise DLCProError(f"{self.full_name}: {cmd!r} failed with status {status}")

    def _read_block(self, cmd: str) -> list[str]:
        """Read reply lines up to the prompt ``>`` (its trailing space is skipped before the next block)."""
        lines: list[str] = []
        while len(lines) <= MAX_REPLY_LINES:
            first = self.visa_handle.read_bytes(1)
            while first == b" ":  # the space that ends the previous prompt
                first = self.visa_handle.read_bytes(1)
            if first == b">":
                return lines
            if first == b"\n":
                lines.append("")
                continue
            rest = self.visa_handle.read_raw()  # up to and including LF
            lines.append((first + rest).decode("utf-8", "replace").rstrip("\r\n"))
        raise DLCProReplyError(f"{self.full_name}: no prompt after {MAX_REPLY_LINES} reply lines to {cmd!r}")

    def _check_identity(self) -> None:
        try:
            system_type = self.string_parser("system-type")(self.ask(_ref("system-type")))
        except Exception as error:  # any failure to talk DeCoP means: not a DLC pro at this address
            message = (
                f"{self.full_name} at {self.address}: could not read system-type ({error}). "
                "Is this a TOPTICA DLC pro command port (TCP 1998)?"
            )
            self.close()  # release the VISA session: the instrument is not registered when __init__ fails
            raise DLCProIdentityError(message) from None
        if system_type.replace(" ", "").upper() not in SUPPORTED_SYSTEM_TYPES:
            message = (
                f"{self.full_name} at {self.address}: system-type is {system_type!r}, expected a DLC pro. "
                "Check the address in the station config."
            )
            self.close()
            raise DLCProIdentityError(message)
        self._system_type = system_type

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, system type, serial number and firmware version, read from the controller."""
        return {
            "vendor": "TOPTICA Photonics",
            "model": self._system_type,
            "serial": self.serial_number.get(),
            "firmware": self.firmware_version.get(),
        }

    # --- reply parsers (each names the instrument and the parameter when the reply does not fit) ------------------

    def ask_float(self, name: str) -> float:
        """Read one numeric DeCoP parameter."""
        parse: Callable[[str], float] = self.float_parser(name)
        return parse(self.ask(_ref(name)))

    def float_parser(self, name: str) -> Callable[[str], float]:
        def parse(reply: str) -> float:
            try:
                return float(reply.strip())
            except ValueError:
                raise DLCProReplyError(f"{self.full_name}: {name} returned {reply!r}, expected a number") from None

        return parse

    def bool_parser(self, name: str) -> Callable[[str], bool]:
        def parse(reply: str) -> bool:
            value = reply.strip().lower()
            if value not in ("#t", "#f"):
                raise DLCProReplyError(f"{self.full_name}: {name} returned {reply!r}, expected #t or #f")
            return value == "#t"

        return parse

    def string_parser(self, name: str) -> Callable[[str], str]:
        def parse(reply: str) -> str:
            value = reply.strip()
            if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
                raise DLCProReplyError(f"{self.full_name}: {name} returned {reply!r}, expected a quoted string")
            return value[1:-1]

        return parse

    # --- safe state -----------------------------------------------------------------------------------------------

    def safe_state(self) -> None:
        """Every laser: scan off and diode current off, so nothing emits. Temperatures stay regulated."""
        for laser in self.lasers.values():
            laser.safe_state()


def _scheme_bool(value: bool) -> str:
    return "#t" if value else "#f"
