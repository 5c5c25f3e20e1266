"""Faults injected into the simulated lab give specific errors that name the instrument, and leave the station safe.

The lab fails the way a real VISA library does (sim_instruments/lab/faults.py): a dead instrument cannot be opened,
a timeout fails every read at once, garbage replaces every reply, a wrong identity answers ``*IDN?`` as another
instrument. Connecting fails at the first instrument that misbehaves; the ones connected before it are put in
safe state and closed.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from qlab_os.lab.errors import (
    InstrumentError,
    InstrumentIdentityError,
    InstrumentReplyError,
    InstrumentTimeoutError,
    InstrumentUnreachableError,
)
from qlab_os.lab.station import QlabStation
from qlab_os.lab.station_config import load_station_config
from sim_instruments.lab.lab import SimulatedLab
from sim_instruments.lab.models import AWGModel
from tests.qlab_os.lab.lab_fixtures import STATIONS, outputs_on

NV_SIM = STATIONS / "nv_node.sim.yaml"
NV_ORDER = list(load_station_config(NV_SIM).instruments)

ERROR_OF = {
    "dead": InstrumentUnreachableError,
    "timeout": InstrumentTimeoutError,
    "garbage": InstrumentReplyError,
    "wrong_idn": InstrumentIdentityError,
}

CASES = [
    *((name, "dead") for name in NV_ORDER),
    *((name, "timeout") for name in NV_ORDER),
    # Instruments whose drivers read an identity (*IDN?): the others have no identity query to answer wrongly.
    *((name, "wrong_idn") for name in ("mw_source", "awg", "counter")),
    # Instruments whose first reply is parsed: garbage in it is an unexpected reply.
    *((name, "garbage") for name in ("mw_source", "awg", "green_laser", "cr_counter")),
]


def _connect(path: Path) -> QlabStation:
    station = QlabStation(load_station_config(path), default=False)
    with contextlib.redirect_stdout(io.StringIO()):
        station.connect_all()
    return station


@pytest.mark.parametrize(("instrument", "fault"), CASES, ids=[f"{f}-{i}" for i, f in CASES])
def test_a_fault_gives_its_specific_error_naming_the_instrument(lab: SimulatedLab, instrument: str, fault: str) -> None:
    awg = lab.model_of(lab.resource_of("nv_a.awg"))
    assert isinstance(awg, AWGModel)
    awg.running = True  # left running by an earlier session: only the safe state stops it
    lab.inject(f"nv_a.{instrument}", fault)
    station = QlabStation(load_station_config(NV_SIM), default=False)
    with pytest.raises(InstrumentError) as info, contextlib.redirect_stdout(io.StringIO()):
        station.connect_all()
    error = info.value
    assert type(error) is ERROR_OF[fault]
    assert error.instrument == instrument
    assert f"instrument {instrument!r} at {lab.resource_of(f'nv_a.{instrument}')}" in str(error)
    # the instruments before it were connected, then put in safe state and closed
    before = NV_ORDER[: NV_ORDER.index(instrument)]
    report = station.last_safe_state
    assert report is not None and report.ok
    assert report.applied == before
    assert station.closed and not station.instruments
    assert awg.running is (instrument in ("mw_source", "awg"))  # stopped when the awg had been connected
    on = outputs_on(lab, "nv_a")
    assert not any(on[role] for role in before if role in on)


def test_the_error_says_what_was_asked(lab: SimulatedLab) -> None:
    lab.inject("nv_a.cr_counter", "timeout")
    with pytest.raises(
        InstrumentTimeoutError,
        match=r"'cr_counter' at GPIB0::23::INSTR: VISA timeout: VI_ERROR_TMO.*"
        r"\[asking 'CM'\]",
    ):
        _connect(NV_SIM)


@pytest.mark.parametrize("fault", ["dead", "timeout", "wrong_idn"])
def test_faults_of_the_heralding_time_tagger(lab: SimulatedLab, fault: str) -> None:
    lab.inject("TCPIP0::192.168.30.11::5555::SOCKET", fault)
    with pytest.raises(ERROR_OF[fault], match="'time_tagger'"):
        _connect(STATIONS / "heralding_station.sim.yaml")


@pytest.mark.parametrize("fault", ["dead", "timeout", "garbage"])
def test_faults_of_the_ion_pmt_counter_leave_the_ion_node_safe(lab: SimulatedLab, fault: str) -> None:
    lab.inject("ion.pmt_counter", fault)
    with pytest.raises(ERROR_OF[fault], match="'pmt_counter'"):
        _connect(STATIONS / "ion_node.sim.yaml")
    on = outputs_on(lab, "ion")
    assert not on["aom_729"] and not on["awg.running"]


def test_a_fault_after_connecting_names_the_instrument_when_used(lab: SimulatedLab) -> None:
    with _connect(NV_SIM) as station:
        lab.inject("nv_a.mw_source", "garbage")
        failures = station.read_parameters()
        assert failures["mw_source_frequency"].startswith("unexpected reply: could not convert string to float")
        assert not any(name.startswith("awg") for name in failures)
