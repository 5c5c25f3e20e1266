"""Faults injected into the simulated lab reach the drivers as a real VISA library would report them."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_helpers import VISALIB
from pyvisa import errors
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A

from instruments.keysight import Keysight53230A
from instruments.srs import SR400
from sim_instruments.lab.faults import Fault
from sim_instruments.lab.lab import SimulatedLab, get_lab, reset_lab
from sim_instruments.lab.resolve import LabConfigError


def test_dead_instrument_cannot_be_opened(lab: SimulatedLab) -> None:
    lab.inject("nv_a.mw_source", Fault.DEAD)
    with pytest.raises(errors.VisaIOError, match="VI_ERROR_RSRC_NFOUND"):
        RohdeSchwarzSGS100A("mw", "TCPIP0::192.168.10.11::inst0::INSTR", visalib=VISALIB)


def test_instrument_dying_mid_run_loses_its_connection(lab: SimulatedLab) -> None:
    mw = RohdeSchwarzSGS100A("mw", "TCPIP0::192.168.10.11::inst0::INSTR", visalib=VISALIB)
    lab.inject("TCPIP0::192.168.10.11::inst0::INSTR", "dead")
    with pytest.raises(errors.VisaIOError, match="VI_ERROR_CONN_LOST"):
        mw.frequency(2.0e9)
    lab.clear_faults()
    mw.frequency(2.0e9)
    assert mw.frequency() == pytest.approx(2.0e9)


def test_timeout_is_immediate_and_names_the_query(lab: SimulatedLab) -> None:
    counter = Keysight53230A("counter", "TCPIP0::192.168.10.13::inst0::INSTR", visalib=VISALIB)
    lab.inject("nv_a.counter", Fault.TIMEOUT)
    with pytest.raises(errors.VisaIOError, match="VI_ERROR_TMO") as info:
        counter.gate_time()
    assert "counter" in str(info.value.args)


def test_garbage_reply_is_refused_by_the_driver(lab: SimulatedLab) -> None:
    counter = SR400("cr", "GPIB0::23::INSTR", visalib=VISALIB)
    lab.inject("nv_a.cr_counter", Fault.GARBAGE)
    with pytest.raises(Exception, match="cr"):
        counter.n_periods()


def test_wrong_identity_is_refused_on_connection(lab: SimulatedLab) -> None:
    lab.inject("nv_a.counter", Fault.WRONG_IDN)
    with pytest.raises(Exception, match=r"counter.*expected a Keysight/Agilent 53230A.*Acme"):
        Keysight53230A("counter", "TCPIP0::192.168.10.13::inst0::INSTR", visalib=VISALIB)


def test_faults_name_known_instruments_only(lab: SimulatedLab) -> None:
    with pytest.raises(KeyError, match=r"no instrument 'nv_a\.oscilloscope'.*nv_a\.awg"):
        lab.inject("nv_a.oscilloscope", Fault.DEAD)


def test_every_spelling_of_the_lab_is_one_lab(lab: SimulatedLab) -> None:
    assert get_lab("sim_instruments.lab:lab.yaml") is get_lab(lab.path) is lab
    assert reset_lab(seed=3) is not lab


def _write_lab(tmp_path: Path, platform: str, wiring: str) -> str:
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(
        f"""
spec: "1.1"
lab:
  physics: "sim_instruments.lab:physics.yaml"
  nodes:
    n1: {{platform: {platform}, wiring: {wiring}}}
resources: {{}}
"""
    )
    return str(lab_file)


def test_lab_yaml_errors_name_the_key(tmp_path: Path) -> None:
    # 2.0e7 without a sign is a string to PyYAML: the lab must say so rather than fail inside a pulse.
    bad_number = _write_lab(tmp_path, "nv", "{rabi_frequency_hz_per_volt: 2.0e7, reference_power_dbm: 0.0}")
    with pytest.raises(LabConfigError, match=r"lab.nodes.n1.wiring.rabi_frequency_hz_per_volt: expected a number"):
        reset_lab(bad_number)
    bad_platform = _write_lab(tmp_path, "sc", "{}")
    with pytest.raises(LabConfigError, match=r"lab.nodes.n1.platform: expected 'nv' or 'ion', got 'sc'"):
        reset_lab(bad_platform)
