"""TDMA network schedule: parsing and validation (errors name file, key, reason) and the bin arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qlab_os.errors import ConfigError
from qlab_os.net import TdmaSchedule, load_network, parse_network

SHIPPED = Path(__file__).resolve().parents[3] / "station_configs" / "network_two_nv_tdma.yaml"


def _net(schedule: Any, attempt_ns: float = 1000.0, extra_links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"nodes": [{"name": "a", "device": "sim-nv"}, {"name": "b", "device": "sim-nv"},
                      {"name": "c", "device": "sim-nv"}],
            "links": [{"between": ["a", "b"], "attempt_duration_ns": attempt_ns, "schedule": schedule},
                      *(extra_links or [])]}


def _raises(data: Any, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_network(data, source="net.yaml")
    assert info.value.source == "net.yaml"
    assert info.value.key == key
    assert reason in info.value.reason, info.value.reason


def test_shipped_tdma_network_loads() -> None:
    net = load_network(SHIPPED)
    link = net.link("alice", "bob")
    assert link is not None and link.schedule == TdmaSchedule(bin_length_ns=1_000_000, pattern=(True, False))
    assert link.schedule.period_ns == 2_000_000
    assert link.schedule.link_fraction == 0.5


def test_link_without_schedule_has_none() -> None:
    net = parse_network(_net(None))
    link = net.link("a", "b")
    assert link is not None and link.schedule is None


@pytest.mark.parametrize(("schedule", "key", "reason"), [
    ([1, 2], "links[0].schedule", "expected a mapping"),
    ({"pattern": ["link"]}, "links[0].schedule.bin_length_ns", "missing"),
    ({"bin_length_ns": "1e6", "pattern": ["link"]}, "links[0].schedule.bin_length_ns", "write floats as 1.0e-3"),
    ({"bin_length_ns": 0, "pattern": ["link"]}, "links[0].schedule.bin_length_ns", "> 0"),
    ({"bin_length_ns": 1.5, "pattern": ["link"]}, "links[0].schedule.bin_length_ns", "whole number"),
    ({"bin_length_ns": 500, "pattern": ["link"]}, "links[0].schedule.bin_length_ns", "shorter than one"),
    ({"bin_length_ns": 2000}, "links[0].schedule.pattern", "missing"),
    ({"bin_length_ns": 2000, "pattern": []}, "links[0].schedule.pattern", "non-empty list"),
    ({"bin_length_ns": 2000, "pattern": ["link", "ent"]}, "links[0].schedule.pattern[1]", "'link' or 'local'"),
    ({"bin_length_ns": 2000, "pattern": ["local"]}, "links[0].schedule.pattern", "could never attempt"),
    ({"bin_length_ns": 2000, "pattern": ["link", "local"], "period_ns": 3000}, "links[0].schedule.period_ns",
     "2 bin(s) of 2000 ns = 4000 ns"),
    ({"bin_length_ns": 2000, "pattern": ["link"], "offset_ns": -1}, "links[0].schedule.offset_ns", ">= 0"),
    ({"bin_length_ns": 2000, "pattern": ["link"], "bins": 3}, "links[0].schedule.bins", "unknown key"),
])
def test_bad_schedule_names_key_and_reason(schedule: Any, key: str, reason: str) -> None:
    _raises(_net(schedule), key, reason)


def test_overlapping_link_bins_on_one_node_are_refused() -> None:
    first = {"bin_length_ns": 2000, "pattern": ["link", "local"]}
    clash = {"between": ["b", "c"], "attempt_duration_ns": 1000.0,
             "schedule": {"bin_length_ns": 2000, "pattern": ["link", "local", "local", "local"]}}
    _raises(_net(first, extra_links=[clash]), "links[1].schedule", "on node 'b'")
    shifted = dict(clash, schedule={**clash["schedule"], "offset_ns": 2000})  # type: ignore[dict-item]
    net = parse_network(_net(first, extra_links=[shifted]))
    assert {lk.name for lk in net.links if lk.schedule is not None} == {"a--b", "b--c"}


def test_bin_at_or_after() -> None:
    s = TdmaSchedule(bin_length_ns=100, pattern=(False, True, False), offset_ns=50)
    assert s.bin_at_or_after(0) == (150, 250)  # before the first period: its link bin
    assert s.bin_at_or_after(150) == (150, 250)
    assert s.bin_at_or_after(200) == (200, 250)  # inside an open bin: from now to its end
    assert s.bin_at_or_after(200, min_length_ns=60) == (450, 550)  # too little left: the next period's bin
    assert s.bin_at_or_after(250) == (450, 550)
    assert s.link_bins(800) == [(150, 250), (450, 550), (750, 850)]
    assert s.in_link_bin(150, 250) and s.in_link_bin(460, 549)
    assert not s.in_link_bin(240, 260) and not s.in_link_bin(260, 270) and not s.in_link_bin(0, 10)
