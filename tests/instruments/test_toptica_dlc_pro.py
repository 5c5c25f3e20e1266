"""The TOPTICA DLC pro driver against its PyVISA-sim mock (sim_instruments/visa/toptica_dlc_pro.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qcodes.instrument import Instrument

from instruments.toptica import DLCPro, DLCProError, DLCProIdentityError, DLCProReplyError

SIM = "sim_instruments.visa:toptica_dlc_pro.yaml"
TCP_ADDRESS = "TCPIP0::192.168.1.50::1998::SOCKET"
SERIAL_ECHO_ADDRESS = "ASRL4::INSTR"
NOT_A_DLC_PRO_ADDRESS = "TCPIP0::192.168.1.51::1998::SOCKET"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def dlc() -> DLCPro:
    return DLCPro("red_lasers", TCP_ADDRESS, pyvisa_sim_file=SIM)


def test_identity_read_past_the_welcome_banner(dlc: DLCPro) -> None:
    assert dlc.get_idn() == {
        "vendor": "TOPTICA Photonics",
        "model": "DLCpro",
        "serial": "DLC pro_020295",
        "firmware": "2.5.2",
    }
    # The banner arrived in front of the first reply; later replies are read in step.
    assert dlc.system_health() == "ok"


def test_controller_status(dlc: DLCPro) -> None:
    assert dlc.emission() is True
    assert dlc.interlock_open() is False
    assert dlc.serial_number() == "DLC pro_020295"
    assert dlc.firmware_version() == "2.5.2"


def test_read_only_laser_values(dlc: DLCPro) -> None:
    laser = dlc.laser1
    assert laser.emission() is True
    assert laser.current() == pytest.approx(94.987)
    assert laser.current.unit == "mA"
    assert laser.current_limit() == pytest.approx(180.0)
    assert laser.temperature() == pytest.approx(21.502)
    assert laser.temperature.unit == "°C"
    assert laser.temperature_ready() is True
    assert laser.piezo_voltage() == pytest.approx(70.01)
    assert laser.piezo_voltage.unit == "V"
    assert laser.nominal_wavelength() == pytest.approx(637.2)
    assert laser.nominal_wavelength.unit == "nm"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("current_setpoint", 0.0),
        ("current_setpoint", 120.25),
        ("current_setpoint", 180.0),
        ("temperature_setpoint", 15.0),
        ("temperature_setpoint", 24.875),
        ("temperature_setpoint", 35.0),
        ("piezo_voltage_setpoint", 0.0),
        ("piezo_voltage_setpoint", 63.5),
        ("piezo_voltage_setpoint", 140.0),
        ("current_enabled", False),
        ("current_enabled", True),
        ("piezo_enabled", False),
        ("piezo_enabled", True),
        ("scan_enabled", False),
        ("scan_enabled", True),
    ],
)
def test_laser_parameters_round_trip(dlc: DLCPro, name: str, value: Any) -> None:
    parameter = dlc.laser1.parameters[name]
    parameter.set(value)
    parameter.cache.invalidate()
    got = parameter.get()
    assert got == pytest.approx(value) if isinstance(value, float) else got is value


@pytest.mark.parametrize(
    ("name", "bad", "error", "message"),
    [
        ("current_setpoint", 180.5, ValueError, r"must be between 0\.0 and 180\.0"),
        ("current_setpoint", -1.0, ValueError, r"must be between 0\.0 and 180\.0"),
        ("temperature_setpoint", 14.9, ValueError, r"must be between 15\.0 and 35\.0"),
        ("temperature_setpoint", 40.0, ValueError, r"must be between 15\.0 and 35\.0"),
        ("piezo_voltage_setpoint", 141.0, ValueError, r"must be between 0\.0 and 140\.0"),
        ("piezo_voltage_setpoint", -0.5, ValueError, r"must be between 0\.0 and 140\.0"),
        ("current_enabled", 1, TypeError, "not Boolean"),
        ("scan_enabled", "off", TypeError, "not Boolean"),
    ],
)
def test_validators_use_the_heads_limits_and_refuse_before_sending(
    dlc: DLCPro, name: str, bad: Any, error: type[Exception], message: str
) -> None:
    parameter = dlc.laser1.parameters[name]
    before = parameter.get()
    with pytest.raises(error, match=message):
        parameter.set(bad)
    parameter.cache.invalidate()
    assert parameter.get() == before


def test_safe_state_turns_the_scan_and_the_current_off(dlc: DLCPro) -> None:
    laser = dlc.laser1
    laser.current_setpoint(110.0)
    assert laser.scan_enabled() is True
    assert laser.current_enabled() is True
    dlc.safe_state()
    laser.scan_enabled.cache.invalidate()
    laser.current_enabled.cache.invalidate()
    assert laser.scan_enabled() is False
    assert laser.current_enabled() is False
    assert laser.current_setpoint() == pytest.approx(110.0)  # setpoints are kept


def test_scan_off(dlc: DLCPro) -> None:
    dlc.laser1.scan_off()
    dlc.laser1.scan_enabled.cache.invalidate()
    assert dlc.laser1.scan_enabled() is False


def test_wrong_identity_names_the_instrument_and_what_it_is() -> None:
    with pytest.raises(DLCProIdentityError, match=r"red_lasers at TCPIP0::192\.168\.1\.51.*'iChrome MLE'.*DLC pro"):
        DLCPro("red_lasers", NOT_A_DLC_PRO_ADDRESS, pyvisa_sim_file=SIM)
    assert not Instrument.exist("red_lasers")


def test_a_laser_the_controller_does_not_have_is_an_error_and_frees_the_name() -> None:
    with pytest.raises(DLCProError, match=r"red_lasers: .*laser2:dl:cc:current-clip.*Error: -1"):
        DLCPro("red_lasers", TCP_ADDRESS, lasers=(1, 2), pyvisa_sim_file=SIM)
    assert not Instrument.exist("red_lasers")
    with pytest.raises(ValueError, match="red_lasers: lasers must be 1 and/or 2, got 3"):
        DLCPro("red_lasers", TCP_ADDRESS, lasers=(3,), pyvisa_sim_file=SIM)
    assert not Instrument.exist("red_lasers")


def test_serial_port_echo_is_dropped() -> None:
    dlc = DLCPro("repump", SERIAL_ECHO_ADDRESS, pyvisa_sim_file=SIM)
    assert dlc.get_idn()["serial"] == "DLC pro_020296"
    assert dlc.laser1.current_setpoint() == pytest.approx(120.5)
    dlc.laser1.current_enabled(False)  # the echoed status line "0" is accepted


def test_reply_of_the_wrong_type_names_the_instrument_and_the_parameter() -> None:
    dlc = DLCPro("repump", SERIAL_ECHO_ADDRESS, pyvisa_sim_file=SIM)
    with pytest.raises(DLCProReplyError, match=r"repump: laser1:dl:cc:current-act returned '#t', expected a number"):
        dlc.laser1.current()


def test_error_reply_and_negative_status_name_the_instrument() -> None:
    dlc = DLCPro("repump", SERIAL_ECHO_ADDRESS, pyvisa_sim_file=SIM)
    with pytest.raises(DLCProError, match=r"repump: .*temp-act.* was answered .{1,3}Error: -14"):
        dlc.laser1.temperature()
    with pytest.raises(DLCProError, match=r"repump: .*voltage-set 10\.0000.* failed with status -3"):
        dlc.laser1.piezo_voltage_setpoint(10.0)


def test_parsers_reject_malformed_values(dlc: DLCPro) -> None:
    with pytest.raises(DLCProReplyError, match=r"red_lasers: fw-ver returned '2\.5\.2', expected a quoted string"):
        dlc.string_parser("fw-ver")("2.5.2")
    with pytest.raises(DLCProReplyError, match="red_lasers: emission returned '1', expected #t or #f"):
        dlc.bool_parser("emission")("1")
