"""The attempt element both link ends play (qdrivers.heralding.attempts) and the per-station attempt length of the
node setups' entanglement settings (qdrivers.heralding.settings): layout, and clear errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from instruments.tektronix.awg_sequence import AWGSequence, Pulse, idle
from qdrivers.heralding.attempts import Timed, attempt_element
from qdrivers.heralding.settings import EntSettings, entanglement_settings
from qdrivers.trapped_ion.calibration import load_ion_calibration
from qdrivers.trapped_ion.pulses import PulseLibrary
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.node import find_node_file, load_node

RATE_HZ = 1.0e7  # the ion node's AWG: 100 ns samples, 250 samples = 25 us at least


def _ent(attempt_s: float, key: str = "entanglement.link.attempt_s") -> EntSettings:
    return EntSettings("link", Path("/station.yaml"), "3.1", 0.1, attempt_s, "node.yaml", key)


def _element(attempt_s: float, *, reset_s: float = 2.0e-6, settle_s: float = 1.0e-6, alpha_s: float = 1.0e-5,
             emit_s: float = 1.0e-6) -> list[Pulse]:
    sequence = AWGSequence(RATE_HZ, {1: 1.0, 2: 1.0, 3: 1.0}, (1, 2))
    block = attempt_element(sequence, _ent(attempt_s), reset=Timed(idle(reset_s, ["2.2"]), "node.yaml", "timing.pump"),
                            settle_s=settle_s, emit_s=emit_s,
                            alpha=Timed(Pulse(alpha_s, i_v=0.2, markers=frozenset({"3.2"})), "cal.yaml", "pi_s"))
    return block.elements[0].pulses


def test_the_idle_comes_first_and_the_excitation_ends_the_repetition() -> None:
    pulses = _element(2.5e-5)
    assert [round(p.duration_s * RATE_HZ) for p in pulses] == [110, 20, 10, 100, 10]
    assert not pulses[0].markers and pulses[1].markers == {"2.2"} and pulses[3].i_v == 0.2
    assert pulses[-1].markers == {"3.1"}  # the emit marker
    assert sum(round(p.duration_s * RATE_HZ) for p in pulses) == 250


@pytest.mark.parametrize(("attempt_s", "words"), [
    (2.0e-5, "minimum waveform"),                         # under 250 samples
    (3.0e-5 + 3.0e-8, "not a whole number of samples"),  # off the 100 ns grid
])
def test_a_repetition_the_awg_cannot_play_is_a_config_error_naming_file_and_key(attempt_s: float, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        _element(attempt_s)
    assert (info.value.source, info.value.key) == ("node.yaml", "entanglement.link.attempt_s")


@pytest.mark.parametrize(("piece", "source", "key"), [
    ("reset_s", "node.yaml", "timing.pump"),
    ("settle_s", "node.yaml", "timing.settle_s"),
    ("alpha_s", "cal.yaml", "pi_s"),
    ("emit_s", "node.yaml", "timing.emit_s"),
])
def test_a_piece_off_the_sample_grid_is_a_config_error_naming_its_key(piece: str, source: str, key: str) -> None:
    with pytest.raises(ConfigError, match=r"5e-08 s is not a whole number of samples at 1e\+07 Sa/s") as info:
        _element(2.5e-5, **{piece: 5.0e-8})  # half a sample of the ion's 10 MSa/s AWG
    assert (info.value.source, info.value.key) == (source, key)


def test_a_repetition_shorter_than_its_pulses_is_a_config_error() -> None:
    sequence = AWGSequence(1.0e9, {1: 1.0, 2: 1.0}, (1, 2))
    with pytest.raises(ConfigError, match=r"shorter than the reset, settle, alpha rotation and excitation") as info:
        attempt_element(sequence, _ent(3.0e-6, "timing.attempt_s"), reset=Timed(idle(2.0e-6), "node.yaml", "pump"),
                        settle_s=1.0e-6, alpha=Timed(Pulse(1.0e-7, i_v=0.1), "cal.yaml", "pi_s"), emit_s=5.0e-8)
    assert info.value.key == "timing.attempt_s"


@pytest.mark.parametrize("key", ["attempt_pump_s", "settle_s", "emit_s"])
def test_an_ion_node_timing_off_its_awg_grid_is_a_config_error_naming_file_and_key(
        tmp_path: Path, ion_calibration: Path, key: str) -> None:
    """The reviewer's case: ``emit_s: 5.0e-8`` on the ion's 10 MSa/s AWG (and the other pieces' timings)."""
    original = find_node_file("ion")
    data = yaml.safe_load(original.read_text())
    data["station"] = str((original.parent / data["station"]).resolve())
    for entry in data["entanglement"].values():
        entry["station"] = str((original.parent / entry["station"]).resolve())
    data["timing"][key] = 5.0e-8
    path = tmp_path / "ion.yaml"
    path.write_text(yaml.safe_dump(data))
    calibration = load_ion_calibration(ion_calibration, "ion")
    with pytest.raises(ConfigError, match="not a whole number of samples") as info:
        PulseLibrary(load_node(path), calibration)
    assert (info.value.source, info.value.key) == (str(path), f"timing.{key}")


def _node_file(tmp_path: Path, change: dict[str, object], timing_attempt_s: float | None) -> Path:
    data = yaml.safe_load(find_node_file("nv_a").read_text())
    data["station"] = str((find_node_file("nv_a").parent / data["station"]).resolve())
    entry = data["entanglement"]["nv_link"]
    entry.pop("attempt_s")
    entry.update(change)
    if timing_attempt_s is not None:
        data["timing"]["attempt_s"] = timing_attempt_s
    path = tmp_path / "nv_a.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_attempt_length_per_station_with_timing_attempt_s_as_default(tmp_path: Path) -> None:
    settings = entanglement_settings(load_node(find_node_file("nv_a")))
    assert (settings["nv_link"].attempt_s, settings["nv_ion_link"].attempt_s) == (4.0e-6, 2.5e-5)
    assert settings["nv_ion_link"].attempt_key == "entanglement.nv_ion_link.attempt_s"
    fallback = entanglement_settings(load_node(_node_file(tmp_path, {}, 6.0e-6)))["nv_link"]
    assert (fallback.attempt_s, fallback.attempt_key) == (6.0e-6, "timing.attempt_s")


@pytest.mark.parametrize(("change", "timing_attempt_s", "key", "words"), [
    ({}, None, "entanglement.nv_link.attempt_s", "missing"),
    ({"attempt_s": "4e-6"}, None, "entanglement.nv_link.attempt_s", "expected a number"),
    ({"attempt_s": -1.0e-6}, None, "entanglement.nv_link.attempt_s", "duration > 0"),
    ({"attempt_us": 4.0}, 4.0e-6, "entanglement.nv_link", "unknown ['attempt_us']"),
])
def test_bad_attempt_settings_name_file_and_key(tmp_path: Path, change: dict[str, object],
                                                timing_attempt_s: float | None, key: str, words: str) -> None:
    path = _node_file(tmp_path, change, timing_attempt_s)
    with pytest.raises(ConfigError) as info:
        entanglement_settings(load_node(path))
    assert info.value.source == str(path) and info.value.key == key and words in info.value.reason
