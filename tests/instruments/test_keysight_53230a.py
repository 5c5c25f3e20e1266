"""The Keysight 53230A photon-counter driver against its PyVISA-sim mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qcodes.instrument import Instrument

from instruments.keysight import Keysight53230A, Keysight53230AError, Keysight53230AIdentityError

SIM_FILE = "sim_instruments.visa:keysight_53230a.yaml"
COUNTER_ADDRESS = "GPIB0::3::INSTR"
WRONG_MODEL_ADDRESS = "GPIB0::4::INSTR"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def counter() -> Keysight53230A:
    return Keysight53230A("photon_counter", address=COUNTER_ADDRESS, pyvisa_sim_file=SIM_FILE)


def test_opens_against_the_mock_and_reports_its_identity(counter: Keysight53230A) -> None:
    idn = counter.get_idn()
    assert idn["vendor"] == "Keysight Technologies"
    assert idn["model"] == "53230A"


def test_wrong_identity_names_the_instrument_and_what_it_answered() -> None:
    with pytest.raises(Keysight53230AIdentityError, match=r"'photon_counter' at GPIB0::4::INSTR.*53220A"):
        Keysight53230A("photon_counter", address=WRONG_MODEL_ADDRESS, pyvisa_sim_file=SIM_FILE)
    # The failed instrument is closed and its name is free again.
    assert not Instrument.exist("photon_counter")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gate_time", 1e-6),
        ("gate_time", 2.5e-3),
        ("gate_time", 1000.0),
        ("gate_source", "EXT"),
        ("gate_source", "TIME"),
        ("gate_polarity", "POS"),
        ("trigger_source", "EXT"),
        ("trigger_source", "BUS"),
        ("trigger_slope", "POS"),
        ("trigger_delay", 1.5e-6),
        ("trigger_count", 1000),
        ("sample_count", 1_000_000),
    ],
)
def test_counter_parameters_round_trip(counter: Keysight53230A, name: str, value: Any) -> None:
    parameter = counter.parameters[name]
    parameter.set(value)
    parameter.cache.invalidate()
    got = parameter.get()
    assert got == pytest.approx(value) if isinstance(value, float) else got == value


@pytest.mark.parametrize("channel", ["ch1", "ch2"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("impedance", 50),
        ("impedance", 1_000_000),
        ("coupling", "DC"),
        ("range", 50),
        ("range", 5),
        ("level", 1.0),
        ("level", -0.25),
        ("level_auto", True),
        ("level_auto", False),
        ("level_relative", 35),
        ("slope", "NEG"),
        ("slope", "POS"),
    ],
)
def test_input_parameters_round_trip(counter: Keysight53230A, channel: str, name: str, value: Any) -> None:
    parameter = counter.submodules[channel].parameters[name]
    parameter.set(value)
    parameter.cache.invalidate()
    assert parameter.get() == value
    counter.check_errors()  # the mock accepted every command


def test_input_protection_state_and_clear(counter: Keysight53230A) -> None:
    assert counter.ch1.protection_tripped() is False
    counter.ch1.clear_protection()
    assert counter.ch2.protection_tripped() is False
    counter.check_errors()


@pytest.mark.parametrize(
    ("owner", "name", "bad"),
    [
        ("counter", "gate_time", 0.5e-6),
        ("counter", "gate_time", 1001.0),
        ("counter", "gate_source", "IMM"),
        ("counter", "trigger_source", "INT"),
        ("counter", "trigger_count", 0),
        ("counter", "trigger_count", 1_000_001),
        ("counter", "sample_count", 0),
        ("counter", "trigger_delay", -1e-3),
        ("ch1", "impedance", 75),
        ("ch1", "coupling", "GND"),
        ("ch1", "range", 10),
        ("ch1", "level", 51.0),
        ("ch1", "level_relative", 37),
        ("ch1", "level_relative", 95),
        ("ch2", "slope", "RISE"),
    ],
)
def test_validators_reject_out_of_range_values_before_sending(
    counter: Keysight53230A, owner: str, name: str, bad: Any
) -> None:
    module = counter if owner == "counter" else counter.submodules[owner]
    parameter = module.parameters[name]
    before = parameter.get()
    with pytest.raises(ValueError, match=name):
        parameter.set(bad)
    parameter.cache.invalidate()
    assert parameter.get() == before
    counter.check_errors()  # nothing reached the instrument


def test_counts_reads_one_gate(counter: Keysight53230A) -> None:
    counter.gate_time(1e-3)
    assert counter.counts() == 421


def test_reads_wait_long_enough_for_every_gate_then_restore_the_timeout(
    counter: Keysight53230A, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter.gate_time(2.0)
    counter.gate_source("TIME")
    counter.trigger_count(3)
    base_timeout_s = counter.timeout()
    assert base_timeout_s is not None
    seen_timeouts_s: list[float | None] = []
    real_ask = counter.ask

    def spying_ask(command: str) -> str:
        seen_timeouts_s.append(counter.timeout())
        return real_ask(command)

    monkeypatch.setattr(counter, "ask", spying_ask)
    counter.read_counts()
    assert seen_timeouts_s == [pytest.approx(base_timeout_s + 3 * 2.0)]
    assert counter.timeout() == base_timeout_s


def test_fetch_and_read_counts_return_one_count_per_gate(counter: Keysight53230A) -> None:
    counter.initiate()
    assert counter.fetch_counts() == [421, 387]
    assert counter.read_counts() == [421]


def test_counts_refuses_several_readings_per_init_with_a_clear_error(counter: Keysight53230A) -> None:
    counter.sample_count(5)
    with pytest.raises(Keysight53230AError, match=r"'photon_counter'.*one reading per INIT.*is 5"):
        counter.counts()


def test_not_a_number_reading_is_an_error_naming_the_instrument(counter: Keysight53230A) -> None:
    with pytest.raises(Keysight53230AError, match=r"photon_counter.*9\.91E"):
        counter._parse_counts("+9.91000000000000E+037")
    with pytest.raises(Keysight53230AError, match=r"photon_counter.*unexpected reading"):
        counter._parse_counts("ERROR")


def test_configure_totalize_is_accepted_and_validated(counter: Keysight53230A) -> None:
    counter.configure_totalize(gate_time_s=1e-3, channel=1)
    counter.check_errors()
    assert counter.trigger_count() == 1  # no stray reply was left queued
    with pytest.raises(ValueError, match="gate_time_s"):
        counter.configure_totalize(gate_time_s=2000.0)
    with pytest.raises(ValueError, match="channel"):
        counter.configure_totalize(gate_time_s=1e-3, channel=3)


def test_reset_clear_status_and_safe_state(counter: Keysight53230A) -> None:
    counter.reset()
    counter.clear_status()
    counter.safe_state()
    counter.check_errors()
    assert counter.trigger_source() == "IMM"  # still talking, no reply left behind


def test_check_errors_drains_the_queue_into_one_error_naming_the_instrument(counter: Keysight53230A) -> None:
    counter.write("SENS:FREQ:GATE:TIME 1")  # not in the mock: it queues -113
    counter.write("TOT:BOGUS")
    with pytest.raises(Keysight53230AError, match=r"'photon_counter' reported: -113.*; -113"):
        counter.check_errors()
    counter.check_errors()  # drained


def test_check_errors_rejects_a_garbled_error_reply(counter: Keysight53230A, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counter, "ask", lambda command: "ERROR")
    with pytest.raises(Keysight53230AError, match=r"'photon_counter'.*unexpected reply 'ERROR' to SYST:ERR\?"):
        counter.check_errors()
