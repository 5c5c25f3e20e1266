"""qcodes' AWG5014 driver with our safe state and identity check, against qcodes' own sim (Tektronix_AWG5014C.yaml).

The static sim has no ``AWGControl:STOP`` dialogue (it answers "ERROR", which would shift later replies), so the
channel states are read from the simulated device's properties and the stop command from what the driver wrote.
The run state itself is checked against the physics-backed lab in tests/qlab_os/lab.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from qcodes.instrument import Instrument

from instruments.tektronix import AWG5014IdentityError, AWG5014ReplyError, TektronixAWG5014
from instruments.tektronix.awg5014 import _check_identity

SIM = "qcodes.instrument.sims:Tektronix_AWG5014C.yaml"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def awg() -> TektronixAWG5014:
    return TektronixAWG5014("awg", "GPIB::1::INSTR", pyvisa_sim_file=SIM, terminator="\n")


def _sim_property(awg: TektronixAWG5014, name: str) -> Any:
    handle = awg.visa_handle
    device = handle.visalib.sessions[handle.session].device
    return device._properties[name].get_value()


def test_safe_state_stops_and_switches_every_output_off(awg: TektronixAWG5014, monkeypatch: pytest.MonkeyPatch) -> None:
    for channel in awg.channels:
        channel.state(1)
    assert [channel.state() for channel in awg.channels] == [1, 1, 1, 1]
    written: list[str] = []
    write = awg.visa_handle.write

    def record(message: str, *args: Any, **kwargs: Any) -> Any:
        written.append(message)
        return write(message, *args, **kwargs)

    monkeypatch.setattr(awg.visa_handle, "write", record)
    awg.safe_state()
    assert written[0] == "AWGControl:STOP"
    assert [f"OUTPUT{n}:STATE 0" for n in range(1, 5)] == written[1:]
    assert [_sim_property(awg, f"ch{n} state") for n in range(1, 5)] == ["0", "0", "0", "0"]


def test_identity_of_the_simulated_awg_is_accepted(awg: TektronixAWG5014) -> None:
    assert awg.get_idn()["model"] == "AWG5014C"


def test_a_real_awg5014_identity_is_accepted() -> None:
    _check_identity("awg", "TCPIP0::1.2.3.4::inst0::INSTR", "TEKTRONIX,AWG5014C,B010123,SCPI:99.0 FW:4.6.0.7")


def test_another_instrument_at_the_address_is_refused() -> None:
    with pytest.raises(AWG5014IdentityError, match=r"'awg' at TCPIP0::1\.2\.3\.4.*AWG70002A"):
        _check_identity("awg", "TCPIP0::1.2.3.4::inst0::INSTR", "TEKTRONIX,AWG70002A,B010123,FV:6.0")


def test_a_reply_that_is_no_identity_string_is_refused() -> None:
    with pytest.raises(AWG5014ReplyError, match=r"'awg' at GPIB::1::INSTR.*not an identity string"):
        _check_identity("awg", "GPIB::1::INSTR", "ERROR")
