"""The Cobolt 06-01 driver against its PyVISA-sim mock (sim_instruments/visa/cobolt_06_01.yaml)."""

from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from instruments.cobolt import Cobolt0601, CoboltReplyError

SIM = "sim_instruments.visa:cobolt_06_01.yaml"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def laser() -> Cobolt0601:
    return Cobolt0601("green", "ASRL1::INSTR", pyvisa_sim_file=SIM, max_power=0.1, model="06-DPL 515 nm")


def test_identity(laser: Cobolt0601) -> None:
    assert laser.get_idn() == {"vendor": "Cobolt", "model": "06-DPL 515 nm", "serial": "21587", "firmware": None}
    assert laser.serial_number() == "21587"


def test_laser_on_off(laser: Cobolt0601) -> None:
    assert laser.laser_on() is False
    laser.laser_on(True)
    assert laser.laser_on() is True
    laser.laser_on(False)
    assert laser.laser_on() is False
    with pytest.raises(TypeError, match="not Boolean"):
        laser.laser_on(2)


def test_power(laser: Cobolt0601) -> None:
    laser.power_setpoint(0.02)
    assert laser.power_setpoint() == pytest.approx(0.02)
    assert laser.power_setpoint.unit == "W"
    assert laser.power() == pytest.approx(0.0498)
    assert laser.power.unit == "W"
    assert laser.drive_current() == pytest.approx(1523.4)
    assert laser.drive_current.unit == "mA"
    with pytest.raises(ValueError, match=r"must be between 0\.0 and 0\.1"):
        laser.power_setpoint(0.15)
    with pytest.raises(ValueError, match=r"must be between 0\.0 and 0\.1"):
        laser.power_setpoint(-0.01)


def test_modulation(laser: Cobolt0601) -> None:
    laser.modulation_mode()
    laser.digital_modulation(True)
    assert laser.digital_modulation() is True
    laser.analog_modulation(True)
    assert laser.analog_modulation() is True
    laser.analog_modulation(False)
    assert laser.analog_modulation() is False
    laser.constant_power_mode()
    laser.constant_current_mode()


def test_status(laser: Cobolt0601) -> None:
    assert laser.operating_mode() == "continuous"
    assert laser.interlock_open() is False
    assert laser.fault() == "no fault"
    laser.clear_fault()
    assert laser.operating_hours() == pytest.approx(1234.56)
    assert laser.operating_hours.unit == "h"


def test_safe_state_turns_the_laser_off(laser: Cobolt0601) -> None:
    laser.laser_on(True)
    laser.safe_state()
    assert laser.laser_on() is False


def test_open_interlock_and_fault_are_reported() -> None:
    laser = Cobolt0601("green", "ASRL2::INSTR", pyvisa_sim_file=SIM)
    assert laser.interlock_open() is True
    assert laser.fault() == "interlock error"
    assert laser.operating_mode() == "fault"


def test_refused_command_names_the_instrument() -> None:
    laser = Cobolt0601("green", "ASRL2::INSTR", pyvisa_sim_file=SIM)
    with pytest.raises(CoboltReplyError, match="green: command 'em' was answered 'Syntax error: illegal command'"):
        laser.modulation_mode()
    with pytest.raises(CoboltReplyError, match=r"green: query 'pa\?' was answered 'Syntax error"):
        laser.power()


def test_wrong_device_on_the_port_names_the_instrument() -> None:
    with pytest.raises(CoboltReplyError, match=r"green: query 'sn\?' was answered .*Is ASRL3::INSTR a Cobolt"):
        Cobolt0601("green", "ASRL3::INSTR", pyvisa_sim_file=SIM)
    assert "green" not in Instrument._all_instruments
