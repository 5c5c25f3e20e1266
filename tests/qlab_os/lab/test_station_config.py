"""Station files are checked before any instrument is touched; every error names the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlab_os.errors import ConfigError
from qlab_os.lab.station_config import load_station_config
from tests.qlab_os.lab.lab_fixtures import LAB_VISALIB, SIM_FILES, STATIONS

SGS = "instruments.rohde_schwarz.RohdeSchwarzSGS100A"
ADDRESS = "TCPIP0::192.168.10.11::inst0::INSTR"
HEAD = f"instruments:\n  mw_source:\n    type: {SGS}\n    address: '{ADDRESS}'\n"
"""An SGS100A entry with type and address; tests append one key."""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "path",
    [*sorted(STATIONS.glob("*_node.yaml")), STATIONS / "heralding_station.yaml", *SIM_FILES],
    ids=lambda p: p.name,
)
def test_every_shipped_station_file_passes_the_checks(path: Path) -> None:
    config = load_station_config(path)
    assert config.instruments
    for instrument in config.instruments.values():
        assert instrument.address


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    error = _error(tmp_path, "instruments:\n  mw:\n    type: [unclosed\n")
    assert error.key == "line 4"
    assert "not valid YAML" in error.reason


def test_a_file_without_instruments(tmp_path: Path) -> None:
    assert _error(tmp_path, "stations: {}\n").key == "instruments"
    assert _error(tmp_path, "instruments: {}\n").key == "instruments"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_station_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("type_path", "reason"),
    [
        ("instruments.rohde_schwarz.NoSuchSource", "has no 'NoSuchSource'"),
        ("instruments.nowhere.Source", "cannot import 'instruments.nowhere'"),
        ("SGS100A", "not a full dotted path"),
        ("pathlib.Path", "not a QCoDeS instrument class"),
    ],
)
def test_unknown_instrument_type(tmp_path: Path, type_path: str, reason: str) -> None:
    error = _error(tmp_path, f"instruments:\n  mw_source:\n    type: {type_path}\n    address: '{ADDRESS}'\n")
    assert error.key == "instruments.mw_source.type"
    assert reason in error.reason


def test_missing_address(tmp_path: Path) -> None:
    error = _error(tmp_path, f"instruments:\n  mw_source:\n    type: {SGS}\n")
    assert error.key == "instruments.mw_source.address"
    assert "missing" in error.reason


def test_an_address_that_is_no_visa_resource(tmp_path: Path) -> None:
    error = _error(tmp_path, f"instruments:\n  mw_source:\n    type: {SGS}\n    address: 192.168.10.11\n")
    assert error.key == "instruments.mw_source.address"
    assert "not a VISA resource name" in error.reason


def test_unknown_init_argument(tmp_path: Path) -> None:
    text = f"instruments:\n  mw_source:\n    type: {SGS}\n    address: '{ADDRESS}'\n    init: {{baud: 9600}}\n"
    error = _error(tmp_path, text)
    assert error.key == "instruments.mw_source.init.baud"
    assert "takes no argument 'baud'" in error.reason
    assert "visalib" in error.reason  # lists what it does take


def test_visalib_and_sim_file_together(tmp_path: Path) -> None:
    init = f"{{visalib: '{LAB_VISALIB}', pyvisa_sim_file: 'qcodes.instrument.sims:RSSGS100A.yaml'}}"
    error = _error(tmp_path, f"{HEAD}    init: {init}\n")
    assert error.key == "instruments.mw_source.init"


def test_unknown_key_of_an_instrument_is_an_error_not_a_warning(tmp_path: Path) -> None:
    error = _error(tmp_path, f"instruments:\n  mw_source:\n    type: {SGS}\n    address: '{ADDRESS}'\n    adress: x\n")
    assert error.key == "instruments.mw_source"
    assert "'adress' was unexpected" in error.reason


def test_unknown_option_of_a_parameter(tmp_path: Path) -> None:
    text = (
        f"instruments:\n  mw_source:\n    type: {SGS}\n    address: '{ADDRESS}'\n"
        "    parameters:\n      frequency: {initial_valu: 2.87e+9}\n"
    )
    error = _error(tmp_path, text)
    assert error.key == "instruments.mw_source.parameters.frequency"
    assert "'initial_valu' was unexpected" in error.reason


def test_wrong_type_of_a_key(tmp_path: Path) -> None:
    text = f"{HEAD}    enable_forced_reconnect: yes please\n"
    error = _error(tmp_path, text)
    assert error.key == "instruments.mw_source.enable_forced_reconnect"
    assert "not of type 'boolean'" in error.reason


@pytest.mark.parametrize("key", ["add_parameters", "driver"])
def test_unsupported_qcodes_keys_are_refused_with_the_reason(tmp_path: Path, key: str) -> None:
    error = _error(tmp_path, f"{HEAD}    {key}: {{}}\n")
    assert error.key == f"instruments.mw_source.{key}"
    assert error.reason.startswith("not supported")


def test_skip_safe_state_needs_a_reason(tmp_path: Path) -> None:
    text = (
        f"instruments:\n  trap_rf:\n    type: {SGS}\n    address: '{ADDRESS}'\n"
        "    init: {metadata: {skip_safe_state: true}}\n"
    )
    error = _error(tmp_path, text)
    assert error.key == "instruments.trap_rf.init.metadata.skip_safe_state"


def test_name_in_init_is_refused(tmp_path: Path) -> None:
    text = f"instruments:\n  mw_source:\n    type: {SGS}\n    address: '{ADDRESS}'\n    init: {{name: other}}\n"
    assert _error(tmp_path, text).key == "instruments.mw_source.init.name"
