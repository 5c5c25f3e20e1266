"""The SR400 driver against its PyVISA-sim mock (sim_instruments/visa/srs_sr400.yaml)."""

from collections.abc import Iterator

import pytest
from qcodes.instrument import Instrument

from instruments.srs import SR400, SR400ReplyError

SIM = "sim_instruments.visa:srs_sr400.yaml"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def sr400() -> SR400:
    return SR400("counter", "GPIB::23::INSTR", pyvisa_sim_file=SIM)


def test_identity_without_idn_query(sr400: SR400) -> None:
    assert sr400.get_idn() == {
        "vendor": "Stanford Research Systems",
        "model": "SR400",
        "serial": None,
        "firmware": None,
    }


@pytest.mark.parametrize("mode", ["A-B FOR T PRESET", "A+B FOR T PRESET", "A FOR B PRESET", "A,B FOR T PRESET"])
def test_counting_mode(sr400: SR400, mode: str) -> None:
    sr400.counting_mode(mode)
    assert sr400.counting_mode() == mode


def test_counter_inputs_follow_the_allowed_sources(sr400: SR400) -> None:
    assert sr400.A.input() == "INPUT1"
    sr400.A.input("10MHz")
    assert sr400.A.input() == "10MHz"
    sr400.B.input("INPUT2")
    assert sr400.B.input() == "INPUT2"
    sr400.T.input("TRIG")
    assert sr400.T.input() == "TRIG"
    with pytest.raises(ValueError, match="INPUT2"):
        sr400.A.input("INPUT2")  # counter A takes 10 MHz or INPUT 1 only
    with pytest.raises(ValueError, match="10MHz"):
        sr400.B.input("10MHz")


def test_presets_one_significant_digit(sr400: SR400) -> None:
    assert sr400.T.preset() == 1e7
    assert sr400.T.preset.unit == "counts"
    sr400.T.preset(3e6)
    assert sr400.T.preset() == 3e6
    sr400.B.preset(5e2)
    assert sr400.B.preset() == 5e2
    with pytest.raises(ValueError, match="one significant digit"):
        sr400.T.preset(12)  # the SR400 would silently use 1E1
    with pytest.raises(ValueError, match="between 1 and 9"):
        sr400.T.preset(1e12)
    with pytest.raises(ValueError, match="between 1 and 9"):
        sr400.B.preset(0)


def test_scan_settings(sr400: SR400) -> None:
    sr400.n_periods(2000)
    assert sr400.n_periods() == 2000
    sr400.dwell_time(5e-3)
    assert sr400.dwell_time() == pytest.approx(5e-3)
    assert sr400.dwell_time.unit == "s"
    with pytest.raises(ValueError, match="must be between 1 and 2000"):
        sr400.n_periods(2001)
    with pytest.raises(ValueError, match=r"between 0\.002 and 60"):
        sr400.dwell_time(1e-3)
    with pytest.raises(ValueError, match="one significant digit"):
        sr400.dwell_time(2.5e-3)


@pytest.mark.parametrize("letter", ["A", "B", "T"])
def test_discriminators(sr400: SR400, letter: str) -> None:
    counter = getattr(sr400, letter)
    counter.discriminator_level(-0.0052)
    assert counter.discriminator_level() == pytest.approx(-0.0052)
    assert counter.discriminator_level.unit == "V"
    counter.discriminator_slope("RISE")
    assert counter.discriminator_slope() == "RISE"
    counter.discriminator_slope("FALL")
    assert counter.discriminator_slope() == "FALL"
    with pytest.raises(ValueError, match=r"must be between -0\.3 and 0\.3"):
        counter.discriminator_level(0.31)
    with pytest.raises(ValueError, match="RISE"):
        counter.discriminator_slope("UP")


@pytest.mark.parametrize("letter", ["A", "B"])
def test_gates(sr400: SR400, letter: str) -> None:
    counter = getattr(sr400, letter)
    for mode in ("FIXED", "SCAN", "CW"):
        counter.gate_mode(mode)
        assert counter.gate_mode() == mode
    counter.gate_delay(1.2e-6)
    assert counter.gate_delay() == pytest.approx(1.2e-6)
    counter.gate_width(300e-9)
    assert counter.gate_width() == pytest.approx(300e-9)
    assert counter.gate_width.unit == "s"
    with pytest.raises(ValueError, match=r"must be between 0\.0 and 0\.9992"):
        counter.gate_delay(1.0)
    with pytest.raises(ValueError, match=r"must be between 5e-09 and 0\.9992"):
        counter.gate_width(1e-9)
    with pytest.raises(ValueError, match="CW"):
        counter.gate_mode("GATED")


def test_t_counter_has_no_gate_and_a_has_no_preset(sr400: SR400) -> None:
    assert "gate_width" not in sr400.T.parameters
    assert "preset" not in sr400.A.parameters


def test_count_data_and_status(sr400: SR400) -> None:
    assert sr400.data_ready() is True
    assert sr400.A.last_count() == 15230
    assert sr400.B.last_count() == 412
    assert sr400.A.current_count() == 7031
    assert sr400.B.current_count() == 198
    assert sr400.status_byte() == 2
    assert sr400.secondary_status() == 0


def test_start_stop_reset_and_safe_state(sr400: SR400) -> None:
    sr400.start()
    sr400.stop()
    sr400.reset()
    sr400.safe_state()
    written: list[str] = []
    sr400.write_raw = written.append  # type: ignore[method-assign]
    sr400.safe_state()
    assert written == ["CH"]


def test_wrong_instrument_at_the_address_names_the_instrument() -> None:
    with pytest.raises(SR400ReplyError, match=r"counter at GPIB0?::9::INSTR: CM \(counting mode\) returned 'HEWLETT"):
        SR400("counter", "GPIB::9::INSTR", pyvisa_sim_file=SIM)
    assert "counter" not in Instrument._all_instruments  # nothing half-open is left registered
