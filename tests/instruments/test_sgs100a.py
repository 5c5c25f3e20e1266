"""qcodes' SGS100A driver with our safe state and identity check, against qcodes' own sim (RSSGS100A.yaml)."""

from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from instruments.rohde_schwarz import RohdeSchwarzSGS100A, SGS100AIdentityError, SGS100AReplyError
from instruments.rohde_schwarz.sgs100a import _check_identity

SIM = "qcodes.instrument.sims:RSSGS100A.yaml"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def source() -> RohdeSchwarzSGS100A:
    return RohdeSchwarzSGS100A("mw_source", "GPIB::1::INSTR", pyvisa_sim_file=SIM)


def test_safe_state_switches_the_rf_output_off_and_keeps_the_settings(source: RohdeSchwarzSGS100A) -> None:
    source.frequency(2.87e9)
    source.power(-5.0)
    source.status(True)
    assert source.status() is True
    source.safe_state()
    assert source.status() is False
    assert source.frequency() == 2.87e9
    assert source.power() == -5.0


def test_safe_state_is_idempotent(source: RohdeSchwarzSGS100A) -> None:
    source.safe_state()
    source.safe_state()
    assert source.status() is False


def test_identity_of_the_simulated_source_is_accepted(source: RohdeSchwarzSGS100A) -> None:
    assert source.get_idn()["model"] == "SGS100A_simulated"


def test_a_real_sgs100a_identity_is_accepted() -> None:
    _check_identity("mw", "TCPIP0::1.2.3.4::inst0::INSTR", "Rohde&Schwarz,SGS100A,1416.0505k02/114040,4.2.76.0")


def test_another_instrument_at_the_address_is_refused() -> None:
    with pytest.raises(SGS100AIdentityError, match=r"'mw' at TCPIP0::1\.2\.3\.4.*Acme,SMB100A"):
        _check_identity("mw", "TCPIP0::1.2.3.4::inst0::INSTR", "Acme,SMB100A,1,2")


def test_a_reply_that_is_no_identity_string_is_refused() -> None:
    with pytest.raises(SGS100AReplyError, match=r"'mw' at GPIB::1::INSTR.*not an identity string"):
        _check_identity("mw", "GPIB::1::INSTR", "\x15#?garbled")
