"""The shipped station files: each simulated file is its hardware twin plus the lab's visalib, and loads in the lab."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from qlab_os.lab.station import connect_station
from sim_instruments.lab.lab import SimulatedLab
from tests.qlab_os.lab.lab_fixtures import LAB_VISALIB, SIM_FILES, STATIONS

SIM_ONLY_KEYS = ("visalib", "pyvisa_sim_file")

ADDRESS_DIFFERS = {("heralding_station", "time_tagger"): "the ID1000 is reached over ZeroMQ on the bench",
                   ("heralding_station_nv_ion", "time_tagger"): "the ID1000 is reached over ZeroMQ on the bench"}
"""Instruments whose bench address cannot be a VISA resource; there the twins differ in the address too."""


def _without_sim_keys(station: dict[str, Any]) -> dict[str, Any]:
    station = copy.deepcopy(station)
    for entry in station["instruments"].values():
        init = entry.get("init", {})
        for key in SIM_ONLY_KEYS:
            init.pop(key, None)
        if "init" in entry and not init:
            del entry["init"]
    return station


def test_there_are_five_stations_each_with_two_twins() -> None:
    assert sorted(p.name for p in SIM_FILES) == [
        "heralding_station.sim.yaml",
        "heralding_station_nv_ion.sim.yaml",
        "ion_node.sim.yaml",
        "nv_node.sim.yaml",
        "nv_node_b.sim.yaml",
    ]
    for sim in SIM_FILES:
        assert (STATIONS / sim.name.replace(".sim.yaml", ".yaml")).is_file()


@pytest.mark.parametrize("sim_file", SIM_FILES, ids=lambda p: p.name)
def test_a_simulated_station_differs_from_its_hardware_twin_only_in_the_visalib(sim_file: Path) -> None:
    station_name = sim_file.name.removesuffix(".sim.yaml")
    sim = yaml.safe_load(sim_file.read_text(encoding="utf-8"))
    hardware = yaml.safe_load((STATIONS / f"{station_name}.yaml").read_text(encoding="utf-8"))
    for name, entry in sim["instruments"].items():
        assert entry["init"]["visalib"] == LAB_VISALIB, name
        hw_entry = hardware["instruments"][name]
        assert not set(SIM_ONLY_KEYS) & set(hw_entry.get("init", {})), f"{name}: the hardware file names a sim"
        if (station_name, name) in ADDRESS_DIFFERS:
            assert hw_entry["address"] != entry["address"]
            hw_entry["address"] = entry["address"]
    assert _without_sim_keys(sim) == hardware


@pytest.mark.parametrize("sim_file", SIM_FILES, ids=lambda p: p.name)
def test_every_simulated_station_connects_in_the_lab(lab: SimulatedLab, sim_file: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        station = connect_station(sim_file, default=False)
    with station:
        config = yaml.safe_load(sim_file.read_text(encoding="utf-8"))
        assert list(station.instruments) == list(config["instruments"])
        for name, instrument in station.instruments.items():
            assert instrument.get_idn()["model"], name
            for dotted, options in config["instruments"][name].get("parameters", {}).items():
                parameter = instrument
                for part in dotted.split("."):
                    parameter = getattr(parameter, part)
                assert parameter.get() == options["initial_value"], f"{name}.{dotted}"  # read back from the lab
    assert station.last_safe_state is not None and station.last_safe_state.ok


def test_the_sim_stations_cover_the_lab_roles(lab: SimulatedLab) -> None:
    """Every instrument the lab binds to nodes nv_a, nv_b and ion is in their station file, at the lab's address."""
    nodes = (("nv_node.sim.yaml", "nv_a"), ("nv_node_b.sim.yaml", "nv_b"), ("ion_node.sim.yaml", "ion"))
    for file_name, node in nodes:
        config = yaml.safe_load((STATIONS / file_name).read_text(encoding="utf-8"))
        assert set(config["instruments"]) == set(lab.node(node).instruments)
        for name, entry in config["instruments"].items():
            assert lab.resource_of(f"{node}.{name}") == entry["address"]
