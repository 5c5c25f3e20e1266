"""``qlab-os station check``: validate, connect, identify, snapshot, safe state; exit code and --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlab_os.cli import main
from sim_instruments.lab.lab import SimulatedLab
from tests.qlab_os.lab.lab_fixtures import SIM_FILES, STATIONS, outputs_on


def _check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["station", "check", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("sim_file", SIM_FILES, ids=lambda p: p.name)
def test_check_passes_on_every_simulated_station(
    lab: SimulatedLab, sim_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _check_json(capsys, str(sim_file))
    assert code == 0, result["error"]
    assert result["ok"] is True and result["error"] is None
    instruments = result["instruments"]
    assert isinstance(instruments, list) and instruments
    for row in instruments:
        assert row["connected"] is True
        assert row["identity"]["model"]
    safe = result["safe_state"]
    assert isinstance(safe, dict) and not safe["failed"]
    assert sorted([*safe["applied"], *safe["skipped"]]) == sorted(row["name"] for row in instruments)
    snapshot = result["snapshot"]
    assert isinstance(snapshot, dict) and snapshot["parameters"] > 10 * len(instruments)


def test_check_prints_identities_and_a_summary(lab: SimulatedLab, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["station", "check", str(STATIONS / "nv_node.sim.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "nv_node.sim.yaml: 7 instrument(s)" in out
    assert "mw_source" in out and "SGS100A_simulated" in out
    assert "Stanford Research Systems SR400" in out
    assert "safe state: applied to 7" in out
    assert out.rstrip().endswith("OK")
    assert "Connected to:" not in out  # the drivers' own connect messages are not mixed in


def test_check_writes_the_snapshot(lab: SimulatedLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snapshot.json"
    code, result = _check_json(capsys, str(STATIONS / "ion_node.sim.yaml"), "--snapshot", str(out))
    assert code == 0
    snapshot = json.loads(out.read_text(encoding="utf-8"))
    assert snapshot["instruments"]["aom_729"]["parameters"]["frequency"]["value"] == 8.0e7
    assert snapshot["config"]["instruments"]["trap_rf"]["init"]["metadata"]["skip_safe_state"]
    assert result["snapshot"] == {
        "parameters": result["snapshot"]["parameters"],
        "unreadable": {},
        "written_to": str(out),
    }


def test_check_fails_with_the_instrument_and_leaves_the_others_safe(
    lab: SimulatedLab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.inject("nv_a.counter", "wrong_idn")
    code, result = _check_json(capsys, str(STATIONS / "nv_node.sim.yaml"))
    assert code == 1
    assert result["ok"] is False
    error = result["error"]
    assert isinstance(error, dict)
    assert error["type"] == "InstrumentIdentityError"
    assert error["instrument"] == "counter"
    assert "Acme Instruments" in error["message"]
    assert result["safe_state"] == {"applied": ["mw_source", "awg", "green_laser"], "failed": {}, "skipped": {}}
    on = outputs_on(lab, "nv_a")
    assert not on["mw_source"] and not on["green_laser"] and not on["awg.running"]
    assert on["readout_laser"]  # never connected: the lab's DLC pro powers up with its current on


def test_check_fails_on_a_timeout_in_text_mode(lab: SimulatedLab, capsys: pytest.CaptureFixture[str]) -> None:
    lab.inject("ion.aom_729", "timeout")
    code = main(["station", "check", str(STATIONS / "ion_node.sim.yaml")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.rstrip().endswith("FAILED")
    assert "aom_729      TCPIP0::192.168.20.11::inst0::INSTR    FAILED: VISA timeout" in captured.out
    assert captured.out.count("not reached") == 9  # the ion station's other instruments
    assert "qlab-os: error: instrument 'aom_729' at TCPIP0::192.168.20.11::inst0::INSTR: VISA timeout" in captured.err


def test_check_fails_when_safe_state_fails(
    lab: SimulatedLab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from instruments.srs import SR400

    def broken(self: SR400) -> None:
        raise RuntimeError("relay stuck")

    monkeypatch.setattr(SR400, "safe_state", broken)
    code, result = _check_json(capsys, str(STATIONS / "nv_node.sim.yaml"))
    assert code == 1
    error = result["error"]
    assert isinstance(error, dict) and error["type"] == "SafeStateError"
    assert list(error["failures"]) == ["cr_counter"]
    assert "relay stuck" in error["failures"]["cr_counter"]


def test_check_of_a_malformed_file_names_file_instrument_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "instruments:\n  mw_source:\n    type: instruments.rohde_schwarz.RohdeSchwarzSGS100A\n", encoding="utf-8"
    )
    code, result = _check_json(capsys, str(path))
    assert code == 1
    error = result["error"]
    assert isinstance(error, dict)
    assert error["type"] == "ConfigError"
    assert error["key"] == "instruments.mw_source.address"
    assert error["message"].startswith(f"{path}: instruments.mw_source.address: missing")


def test_check_of_a_bad_parameter_value(lab: SimulatedLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (STATIONS / "nv_node.sim.yaml").read_text(encoding="utf-8")
    path = tmp_path / "nv.yaml"
    path.write_text(text.replace("initial_value: 2.87e+9", "initial_value: 40.0e+9"), encoding="utf-8")
    code, result = _check_json(capsys, str(path))
    assert code == 1
    error = result["error"]
    assert isinstance(error, dict)
    assert error["key"] == "instruments.mw_source.parameters.frequency.initial_value"
    assert "40000000000.0" in error["reason"] and "20000000000.0" in error["reason"]


def test_check_of_a_bad_parameter_name(lab: SimulatedLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (STATIONS / "nv_node.sim.yaml").read_text(encoding="utf-8")
    path = tmp_path / "nv.yaml"
    path.write_text(text.replace("ch1.amp:", "ch1.ampl:"), encoding="utf-8")
    code, result = _check_json(capsys, str(path))
    assert code == 1
    error = result["error"]
    assert isinstance(error, dict)
    assert error["key"] == "instruments.awg.parameters.ch1.ampl"
    assert "awg_ch1 has no parameter 'ampl'; did you mean amp?" in error["reason"]
    assert result["safe_state"]["applied"] == ["mw_source", "awg"]


def test_check_of_an_unknown_channel(lab: SimulatedLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (STATIONS / "nv_node.sim.yaml").read_text(encoding="utf-8")
    path = tmp_path / "nv.yaml"
    path.write_text(text.replace("ch2.amp:", "ch9.amp:"), encoding="utf-8")
    code, result = _check_json(capsys, str(path))
    assert code == 1
    error = result["error"]
    assert isinstance(error, dict)
    assert error["key"] == "instruments.awg.parameters.ch9.amp"
    assert error["reason"] == "awg has no channel 'ch9'; channels: ch1, ch2, ch3, ch4"
