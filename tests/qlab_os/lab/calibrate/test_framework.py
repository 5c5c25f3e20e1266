"""The calibration framework without a lab: calibration file, node setup checks, fits, routine registry, CLI errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from qlab_os.cli import main
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate import fitting
from qlab_os.lab.calibrate import node as node_module
from qlab_os.lab.calibrate.calfile import CalibratedValue, CalibrationFile, MissingCalibrationError
from qlab_os.lab.calibrate.node import find_node_file, load_node, node_platforms
from qlab_os.lab.calibrate.routine import UnknownRoutineError, get_routine, routines_for


def test_update_keeps_other_entries_and_records_provenance(tmp_path: Path) -> None:
    path = tmp_path / "cal" / "nv_a.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"node": "nv_a", "parameters": {"hand_written": {"value": 1.5}}, "note": "x"}))
    cal = CalibrationFile(path, "nv_a", "nv")
    cal.update({"t2_s": CalibratedValue(1.0e-3, 1.0e-4, "s")}, "hahn_echo", 7)
    data = yaml.safe_load(path.read_text())
    assert data["note"] == "x" and data["parameters"]["hand_written"] == {"value": 1.5}
    entry = data["parameters"]["t2_s"]
    assert (entry["value"], entry["error"], entry["unit"], entry["routine"], entry["run_id"]) == (
        1.0e-3, 1.0e-4, "s", "hahn_echo", 7)
    assert entry["timestamp"].endswith("+00:00")
    assert cal.get("t2_s") == CalibratedValue(1.0e-3, 1.0e-4, "s")


def test_missing_prerequisite_names_the_routine_to_run(tmp_path: Path) -> None:
    cal = CalibrationFile(tmp_path / "none.yaml", "nv_a", "nv")
    with pytest.raises(MissingCalibrationError, match=r"run `qlab-os calibrate nv_a odmr` first"):
        cal.require("transition_frequency_hz", "rabi", "odmr")


def test_calibration_file_of_another_node_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("node: ion\nparameters: {}\n")
    with pytest.raises(ConfigError, match="belongs to node 'ion', not 'nv_a'"):
        CalibrationFile(path, "nv_a", "nv").load()


def test_node_setup_files_load_and_bad_keys_are_named(tmp_path: Path) -> None:
    for node, platform in (("nv_a", "nv"), ("ion", "ion")):
        setup = load_node(find_node_file(node))
        assert setup.platform == platform and setup.station_file.is_file()
    raw = yaml.safe_load(find_node_file("nv_a").read_text())
    raw["awg"]["markers"]["green"] = "5.3"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"awg\.markers\.green: expected '<channel>.<1\|2>', got '5.3'"):
        load_node(bad)
    with pytest.raises(ConfigError, match=r"no node setup file for node 'nv_z'; known nodes: .*nv_a"):
        find_node_file("nv_z")


def test_node_platforms_follow_file_changes_and_skip_broken_files(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert node_platforms() == {"ion": "ion", "nv_a": "nv", "nv_b": "nv"}
    source = find_node_file("nv_a")
    raw = yaml.safe_load(source.read_text())
    raw["station"] = str(source.parent / raw["station"])
    monkeypatch.setattr(node_module, "NODES_DIR", tmp_path)
    node_file = tmp_path / "lab_1.yaml"
    node_file.write_text(yaml.safe_dump(raw))
    (tmp_path / "broken.yaml").write_text("node: [unclosed\n")
    assert node_platforms() == {"lab_1": "nv"}
    raw["platform"] = "ion"
    node_file.write_text(yaml.safe_dump(raw) + "# edited\n")  # new size: the cache must not return the old platform
    assert node_platforms() == {"lab_1": "ion"}


def test_registry_lists_routines_in_dependency_order() -> None:
    for platform in ("nv", "ion"):
        produced: set[str] = set()
        for routine in routines_for(platform):
            for _key, producer in routine.needs:
                assert producer in produced, (routine.name, producer)
            produced.add(routine.name)
    with pytest.raises(UnknownRoutineError, match="no calibration routine 'odmr' for platform 'ion'; known: "):
        get_routine("ion", "odmr")


def test_fit_recovers_synthetic_parameters_within_errors() -> None:
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1e-6, 60)
    sigma = np.full_like(t, 0.02)
    y = fitting.rabi_oscillation(t, 3.1e6, -0.8, 1.0) + rng.normal(0, 0.02, t.size)
    result = fitting.fit(fitting.rabi_oscillation, t, y, sigma, [3e6, -0.7, 0.9], ("f", "c", "o"), "test")
    assert abs(result["f"] - 3.1e6) < 5 * result.error("f")
    assert 0.3 < result.reduced_chi2 < 2.0
    with pytest.raises(fitting.FitError, match="test: 2 points cannot determine 3 parameters"):
        fitting.fit(fitting.rabi_oscillation, t[:2], y[:2], sigma[:2], [3e6, -0.7, 0.9], ("f", "c", "o"), "test")


def test_cli_missing_prerequisite_fails_before_touching_instruments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["calibrate", "nv_a", "rabi", "--calibration-file", str(tmp_path / "c.yaml"),
                   "--db", str(tmp_path / "c.db"), "--plot-dir", str(tmp_path)])
    assert status == 1
    err = capsys.readouterr().err
    assert "routine 'rabi' needs 'transition_frequency_hz', which routine 'odmr' writes" in err
    assert not (tmp_path / "c.db").exists()


def test_cli_lists_routines_and_rejects_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "ion", "list"]) == 0
    listing = capsys.readouterr().out
    assert "spectroscopy_729" in listing and "detection" in listing
    assert main(["calibrate", "ion", "odmr"]) == 1
    assert "known: spectroscopy_729" in capsys.readouterr().err
