"""Several nodes' stations in one process: a station opened for a node names its instruments ``<node>_<key>``."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qlab_os.errors import ConfigError
from qlab_os.lab.station import QlabStation, connect_station
from sim_instruments.lab.lab import SimulatedLab
from tests.qlab_os.lab.lab_fixtures import STATIONS, outputs_on

NODES = {"nv_a": STATIONS / "nv_node.sim.yaml", "nv_b": STATIONS / "nv_node_b.sim.yaml",
         "ion": STATIONS / "ion_node.sim.yaml"}


def _connect(path: Path, node: str | None) -> QlabStation:
    with contextlib.redirect_stdout(io.StringIO()):
        return connect_station(path, default=False, node=node)


@pytest.fixture
def three(lab: SimulatedLab) -> Iterator[dict[str, QlabStation]]:
    stations = {node: _connect(path, node) for node, path in NODES.items()}
    yield stations
    for station in stations.values():
        station.close()


def test_three_nodes_stations_stay_open_together(three: dict[str, QlabStation]) -> None:
    for node, station in three.items():
        assert not station.closed
        for key, instrument in station.instruments.items():
            assert instrument.name == f"{node}_{key}" == station.instrument_name(key)
            assert Instrument.find_instrument(instrument.name) is instrument  # not closed by the next node
            assert station.components[key] is instrument
    # the same role on each node is a different instrument, at that node's address
    addresses = {node: station.awg.visa_handle.resource_name for node, station in three.items()}
    assert len(set(addresses.values())) == 3, addresses
    assert three["nv_b"].awg.get_idn()["model"]


def test_closing_one_node_leaves_the_others_open_and_as_they_were(lab: SimulatedLab,
                                                                   three: dict[str, QlabStation]) -> None:
    three["nv_a"].mw_source.status(True)
    three["nv_b"].mw_source.status(True)
    report = three["nv_b"].close()
    assert report is not None and report.ok and report.applied == list(three["nv_b"].station_config.instruments)
    assert not any(Instrument.exist(f"nv_b_{key}") for key in three["nv_b"].station_config.instruments)
    assert not outputs_on(lab, "nv_b")["mw_source"]
    assert outputs_on(lab, "nv_a")["mw_source"]  # node A's source was not touched
    assert three["nv_a"].mw_source.status() is True
    assert all(Instrument.exist(f"nv_a_{key}") for key in three["nv_a"].station_config.instruments)


def test_a_failure_names_the_node_s_instrument(lab: SimulatedLab, three: dict[str, QlabStation]) -> None:
    lab.inject("nv_b.awg", "dead")
    report = three["nv_b"].safe_state()
    assert list(report.failed) == ["awg"]
    assert "'nv_b_awg' at TCPIP0::192.168.11.12::inst0::INSTR" in report.failed["awg"]
    assert three["nv_a"].safe_state().ok


def test_without_a_node_the_instruments_are_named_by_their_keys(lab: SimulatedLab) -> None:
    station = _connect(NODES["nv_a"], None)
    with station:
        assert station.node is None
        assert [i.name for i in station.instruments.values()] == list(station.station_config.instruments)
    assert not Instrument.exist("awg")


def test_the_same_node_opened_again_replaces_its_instruments(lab: SimulatedLab) -> None:
    first = _connect(NODES["nv_b"], "nv_b")
    second = _connect(NODES["nv_b"], "nv_b")  # forced reconnect, as a file without a node always did
    with second:
        assert Instrument.find_instrument("nv_b_awg") is second.awg
        assert first.awg is not second.awg
    first.close()


def test_a_node_name_that_cannot_prefix_instrument_names_is_refused(lab: SimulatedLab) -> None:
    with pytest.raises(ConfigError, match=r"nv_node\.sim\.yaml.*node name 'nv-a' cannot prefix instrument names"):
        _connect(NODES["nv_a"], "nv-a")
    assert not Instrument.exist("awg") and not Instrument.exist("nv-a_awg")
