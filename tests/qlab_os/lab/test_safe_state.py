"""QlabStation's safe state: applied on close, on error, on Ctrl-C and at exit; goes on past failing instruments."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from qlab_os.lab.errors import SafeStateError
from qlab_os.lab.station import QlabStation, connect_station
from sim_instruments.lab.lab import SimulatedLab
from tests.qlab_os.lab.lab_fixtures import LAB_VISALIB, STATIONS, outputs_on

NV_SIM = STATIONS / "nv_node.sim.yaml"
ION_SIM = STATIONS / "ion_node.sim.yaml"
NV_SOURCES = ("mw_source", "green_laser", "readout_laser", "repump_laser")


def switch_everything_on(station: QlabStation) -> None:
    station.mw_source.status(True)
    station.green_laser.laser_on(True)
    for laser in ("readout_laser", "repump_laser"):
        station.components[laser].laser1.current_enabled(True)
    for channel in station.awg.channels:
        channel.state(1)
    station.awg.run()


@pytest.fixture
def nv(lab: SimulatedLab) -> Iterator[QlabStation]:
    with contextlib.redirect_stdout(io.StringIO()):
        station = connect_station(NV_SIM, default=False)
    yield station
    station.close()


def test_connecting_leaves_every_output_off(lab: SimulatedLab, nv: QlabStation) -> None:
    assert not any(outputs_on(lab, "nv_a").values())


def test_close_applies_the_safe_state_to_every_instrument(lab: SimulatedLab, nv: QlabStation) -> None:
    switch_everything_on(nv)
    on = outputs_on(lab, "nv_a")
    assert all(on.values()), on
    report = nv.close()
    assert report is not None and report.ok
    assert report.applied == list(nv.station_config.instruments)
    assert outputs_on(lab, "nv_a") == dict.fromkeys(on, False)


def test_close_is_idempotent(lab: SimulatedLab, nv: QlabStation) -> None:
    first = nv.close()
    assert first is not None and first.ok
    assert nv.close() is None
    assert nv.closed
    assert not nv.instruments


def test_an_error_inside_the_station_block_leaves_everything_safe(lab: SimulatedLab, nv: QlabStation) -> None:
    with pytest.raises(ZeroDivisionError), nv:
        switch_everything_on(nv)
        _ = 1 / 0
    assert not any(outputs_on(lab, "nv_a").values())
    assert nv.closed


def test_an_abort_inside_the_station_block_leaves_everything_safe(lab: SimulatedLab, nv: QlabStation) -> None:
    with pytest.raises(KeyboardInterrupt), nv:
        switch_everything_on(nv)
        raise KeyboardInterrupt
    assert not any(outputs_on(lab, "nv_a").values())


def test_safe_state_goes_on_past_a_dead_instrument_and_names_it(lab: SimulatedLab, nv: QlabStation) -> None:
    switch_everything_on(nv)
    lab.inject("nv_a.awg", "dead")
    report = nv.safe_state()
    assert list(report.failed) == ["awg"]
    assert "'awg'" in report.failed["awg"] and "unreachable" in report.failed["awg"]
    assert report.applied == [name for name in nv.station_config.instruments if name != "awg"]
    on = outputs_on(lab, "nv_a")
    assert not any(on[role] for role in NV_SOURCES)
    assert on["awg.running"]  # nothing reaches a dead instrument
    with pytest.raises(SafeStateError, match="safe state failed on 1 instrument"):
        report.raise_if_failed()


def test_a_timeout_during_safe_state_is_reported(lab: SimulatedLab, nv: QlabStation) -> None:
    """The Cobolt laser confirms every command with a reply; when that reply never comes, safe state of the laser
    is not confirmed and says so, while the other instruments go safe."""
    switch_everything_on(nv)
    lab.inject("nv_a.green_laser", "timeout")
    report = nv.close()
    assert report is not None
    assert list(report.failed) == ["green_laser"]
    assert "VISA timeout" in report.failed["green_laser"]
    on = outputs_on(lab, "nv_a")
    assert not on["mw_source"] and not on["awg.running"] and not on["readout_laser"]


def test_an_instrument_without_safe_state_is_a_failure(lab: SimulatedLab, tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        instruments:
          mw_source:
            type: qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A
            address: "TCPIP0::192.168.10.11::inst0::INSTR"
            init: {{visalib: "{LAB_VISALIB}"}}
        """),
        encoding="utf-8",
    )
    with contextlib.redirect_stdout(io.StringIO()):
        station = connect_station(path, default=False)
    report = station.close()
    assert report is not None
    assert report.failed == {"mw_source": "RohdeSchwarzSGS100A declares no safe_state()"}


def test_the_trap_rf_is_left_out_of_the_ion_safe_state(lab: SimulatedLab) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        station = connect_station(ION_SIM, default=False)
    station.trap_rf.status(True)
    station.aom_729.status(True)
    report = station.close()
    assert report is not None and report.ok
    assert list(report.skipped) == ["trap_rf"]
    assert "loses the ion" in report.skipped["trap_rf"]
    on = outputs_on(lab, "ion")
    assert on["trap_rf"] and not on["aom_729"]


def test_safe_state_is_applied_at_interpreter_exit(tmp_path: Path) -> None:
    """A script that never closes its station: atexit applies the safe state (checked by an exit hook that runs
    after the station's, because exit hooks run in reverse order of registration)."""
    script = textwrap.dedent(f"""\
        import atexit, contextlib, io
        from qlab_os.lab.station import connect_station
        from sim_instruments.lab.lab import get_lab, reset_lab

        reset_lab(seed=1)

        def report():
            lab = get_lab()
            models = lab.node("nv_a").instruments
            print("mw_source on:", models["mw_source"].is_on(), "awg running:", models["awg"].running)

        atexit.register(report)
        with contextlib.redirect_stdout(io.StringIO()):
            station = connect_station({str(NV_SIM)!r})
        station.mw_source.status(True)
        station.awg.run()
        print("before exit:", station.mw_source.status(), station.awg.get_state())
        """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "before exit: True Waiting for trigger" in result.stdout
    assert "mw_source on: False awg running: False" in result.stdout
