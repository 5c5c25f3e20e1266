"""Network YAML: presets and overrides, lookups, default network; every error names the file, the key and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qlab_os.errors import ConfigError
from qlab_os.net import (
    LINK_PRESETS,
    LinkConfig,
    NetworkConfig,
    NodeConfig,
    check_devices,
    default_network,
    link_name,
    load_network,
    parse_network,
)

EXAMPLE = """\
name: two-nv
nodes:
  - {name: alice, device: sim-nv}
  - {name: bob, device: sim-nv, id: 7}
  - {name: charlie, device: sim-ion}
links:
  - between: [alice, bob]
    preset: nv
    attempt_duration_ns: 3.8e+3
    success_probability: 1.0e-4
    fidelity: 0.85
    classical_latency_ns: 1.0e+5
    bell_state_correction: true
  - between: [charlie, bob]
    preset: ion
    max_attempts: 1000
  - between: [alice, charlie]
"""


def _net(links: Any = None, nodes: Any = None, **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nodes": nodes if nodes is not None else [{"name": "a", "device": "sim-nv"}, {"name": "b", "device": "sim-nv"},
                                                  {"name": "c", "device": "sim-nv"}],
        "links": links if links is not None else [],
    }
    data.update(top)
    return data


def _raises(data: Any, key: str, reason: str, source: str = "net.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_network(data, source=source)
    err = info.value
    assert err.source == source
    assert err.key == key
    assert reason in err.reason, err.reason
    assert str(err).startswith(f"{source}: {key}: ")
    return err


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(EXAMPLE)
    return path


def test_example_file(example: Path) -> None:
    net = load_network(example)
    assert net.name == "two-nv" and net.source == str(example)
    assert net.nodes == (NodeConfig("alice", "sim-nv", 0), NodeConfig("bob", "sim-nv", 7),
                         NodeConfig("charlie", "sim-ion", 2))
    assert net.node_names == ("alice", "bob", "charlie")
    ab = net.link("alice", "bob")
    assert ab == LinkConfig("alice", "bob", attempt_duration_ns=3800, success_probability=1.0e-4, fidelity=0.85,
                            classical_latency_ns=100_000, bell_state_correction=True, max_attempts=10**8)
    assert isinstance(ab.attempt_duration_ns, int) and isinstance(ab.classical_latency_ns, int)


def test_presets_and_overrides(example: Path) -> None:
    net = load_network(example)
    nv = net.link("alice", "bob")
    assert nv is not None and nv.fidelity == 0.85  # overrides the preset's 0.8
    ion = net.link("bob", "charlie")
    assert ion is not None
    assert (ion.attempt_duration_ns, ion.success_probability, ion.fidelity, ion.classical_latency_ns) == (
        20_000, 4.0e-5, 0.88, 1_000_000)
    assert ion.max_attempts == 1000 and ion.bell_state_correction is True
    ideal = net.link("alice", "charlie")  # neither preset nor fields: ideal
    assert ideal is not None
    assert (ideal.attempt_duration_ns, ideal.success_probability, ideal.fidelity, ideal.classical_latency_ns) == (
        1000, 1.0, 1.0, 0)


def test_preset_numbers() -> None:
    assert LINK_PRESETS["ideal"] == {"attempt_duration_ns": 1000, "success_probability": 1.0, "fidelity": 1.0,
                                     "classical_latency_ns": 0}
    assert LINK_PRESETS["nv"] == {"attempt_duration_ns": 3800, "success_probability": 1.0e-4, "fidelity": 0.8,
                                  "classical_latency_ns": 1.0e5}
    assert LINK_PRESETS["ion"] == {"attempt_duration_ns": 2.0e4, "success_probability": 4.0e-5, "fidelity": 0.88,
                                   "classical_latency_ns": 1.0e6}
    for preset in LINK_PRESETS:
        net = parse_network(_net([{"between": ["a", "b"], "preset": preset, "bell_state_correction": False}]))
        link = net.link("a", "b")
        assert link is not None and link.bell_state_correction is False
        assert link.fidelity == LINK_PRESETS[preset]["fidelity"]


def test_each_field_overrides_nv_preset() -> None:
    overrides = {"attempt_duration_ns": 10, "success_probability": 0.5, "fidelity": 0.25, "classical_latency_ns": 3,
                 "bell_state_correction": False, "max_attempts": 5}
    for field_name, value in overrides.items():
        net = parse_network(_net([{"between": ["a", "b"], "preset": "nv", field_name: value}]))
        link = net.link("a", "b")
        assert link is not None and getattr(link, field_name) == value
        assert link.success_probability == (0.5 if field_name == "success_probability" else 1.0e-4)


def test_link_lookup_is_order_insensitive(example: Path) -> None:
    net = load_network(example)
    assert net.link("bob", "alice") is net.link("alice", "bob")
    assert net.link("alice", "alice") is None
    assert net.link("alice", "nobody") is None
    assert net.link_name("bob", "alice") == net.link_name("alice", "bob") == "alice--bob"
    assert link_name("z", "a") == "a--z"
    link = net.link("charlie", "bob")
    assert link is not None and link.name == "bob--charlie" and link.nodes == ("charlie", "bob")
    assert link.other("bob") == "charlie" and link.other("charlie") == "bob"
    with pytest.raises(KeyError):
        link.other("alice")
    assert {lk.name for lk in net.links_of("alice")} == {"alice--bob", "alice--charlie"}


def test_node_lookups(example: Path) -> None:
    net = load_network(example)
    assert net.node("bob").id == 7
    assert net.node_by_id(7).name == "bob" and net.node_by_id(2).name == "charlie"
    with pytest.raises(KeyError, match="nodes: alice, bob, charlie"):
        net.node("dave")
    with pytest.raises(KeyError, match="ids: 0, 2, 7"):
        net.node_by_id(1)


def test_no_links_and_null_links() -> None:
    assert parse_network({"nodes": [{"name": "solo", "device": "sim-generic"}]}).links == ()
    net = parse_network({"nodes": [{"name": "solo", "device": "sim-generic"}], "links": None})
    assert net.links == () and net.name == "network"


def test_default_network() -> None:
    net = default_network(["x", "y", "z"])
    assert isinstance(net, NetworkConfig)
    assert [(n.name, n.device, n.id) for n in net.nodes] == [("x", "sim-generic", 0), ("y", "sim-generic", 1),
                                                             ("z", "sim-generic", 2)]
    assert sorted(lk.name for lk in net.links) == ["x--y", "x--z", "y--z"]
    for lk in net.links:
        assert (lk.success_probability, lk.fidelity, lk.classical_latency_ns) == (1.0, 1.0, 0)
    assert default_network(["solo"], device="sim-nv").nodes == (NodeConfig("solo", "sim-nv", 0),)
    assert default_network(["solo"]).links == ()


@pytest.mark.parametrize(("names", "key", "reason"), [
    ([], "nodes", "at least one node"),
    (["a", "a"], "nodes", "must be unique"),
    (["a", ""], "nodes[1].name", "non-empty"),
])
def test_default_network_errors(names: list[str], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        default_network(names)
    assert info.value.source == "<default network>" and info.value.key == key and reason in info.value.reason


def test_check_devices(example: Path) -> None:
    net = load_network(example)
    check_devices(net, ["sim-nv", "sim-ion", "sim-generic"])
    with pytest.raises(ConfigError) as info:
        check_devices(net, ["sim-nv", "sim-generic"])
    err = info.value
    assert err.source == str(example) and err.key == "nodes[2].device"
    assert "unknown device 'sim-ion'" in err.reason and "known devices: sim-generic, sim-nv" in err.reason
    with pytest.raises(ConfigError, match=r"\(none installed\)"):
        check_devices(net, [])


def test_float_written_as_1e_minus_3_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("nodes: [{name: a, device: d}, {name: b, device: d}]\n"
                    "links: [{between: [a, b], success_probability: 1e-3}]\n")
    with pytest.raises(ConfigError) as info:
        load_network(path)
    err = info.value
    assert err.source == str(path) and err.key == "links[0].success_probability"
    assert "'1e-3'" in err.reason and "1.0e-3" in err.reason and "string" in err.reason


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_network(tmp_path / "missing.yaml")
    assert info.value.key == "<file>" and "cannot read" in info.value.reason
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_network(bad)
    assert info.value.source == str(bad) and info.value.key == "<file>" and "not valid YAML" in info.value.reason


LINK_AB: dict[str, Any] = {"between": ["a", "b"]}

BAD: list[tuple[Any, str, str]] = [
    # top level
    ([1, 2], "<top>", "expected a mapping"),
    (_net(extra=1), "extra", "unknown key; allowed: links, name, nodes"),
    (_net(name=5), "name", "non-empty string"),
    ({"links": []}, "nodes", "missing"),
    (_net(nodes=[]), "nodes", "at least one node"),
    (_net(nodes={"a": 1}), "nodes", "expected list"),
    (_net(links={"a": "b"}), "links", "expected a list"),
    # nodes
    (_net(nodes=["a"]), "nodes[0]", "expected a mapping"),
    (_net(nodes=[{"name": "a", "device": "d", "qubits": 2}]), "nodes[0].qubits", "allowed: device, id, name"),
    (_net(nodes=[{"device": "d"}]), "nodes[0].name", "missing"),
    (_net(nodes=[{"name": 3, "device": "d"}]), "nodes[0].name", "non-empty name"),
    (_net(nodes=[{"name": "a--b", "device": "d"}]), "nodes[0].name", "'--'"),
    (_net(nodes=[{"name": " a", "device": "d"}]), "nodes[0].name", "surrounding spaces"),
    (_net(nodes=[{"name": "a", "device": "d"}, {"name": "a", "device": "d"}]), "nodes[1].name",
     "duplicate node name 'a' (also nodes[0])"),
    (_net(nodes=[{"name": "a"}]), "nodes[0].device", "missing"),
    (_net(nodes=[{"name": "a", "device": 42}]), "nodes[0].device", "expected a device name (a string), got 42"),
    (_net(nodes=[{"name": "a", "device": ["sim-nv"]}]), "nodes[0].device", "expected a device name"),
    (_net(nodes=[{"name": "a", "device": "d", "id": -1}]), "nodes[0].id", "integer >= 0"),
    (_net(nodes=[{"name": "a", "device": "d", "id": "1"}]), "nodes[0].id", "integer >= 0"),
    (_net(nodes=[{"name": "a", "device": "d", "id": True}]), "nodes[0].id", "integer >= 0"),
    (_net(nodes=[{"name": "a", "device": "d"}, {"name": "b", "device": "d", "id": 0}]), "nodes[1].id",
     "duplicate node id 0 (also nodes[0]"),
    # links: structure and names
    (_net(["a-b"]), "links[0]", "expected a mapping"),
    (_net([{**LINK_AB, "fidelty": 0.9}]), "links[0].fidelty",
     "unknown key; allowed: attempt_duration_ns, bell_state_correction, between, classical_latency_ns, fidelity, "
     "max_attempts, preset, schedule, success_probability"),
    (_net([{}]), "links[0].between", "expected two node names"),
    (_net([{"between": ["a"]}]), "links[0].between", "expected two node names"),
    (_net([{"between": ["a", "b", "c"]}]), "links[0].between", "expected two node names"),
    (_net([{"between": "a b"}]), "links[0].between", "expected two node names"),
    (_net([{"between": ["a", "zed"]}]), "links[0].between", "unknown node 'zed'; nodes: a, b, c"),
    (_net([{"between": ["a", "a"]}]), "links[0].between", "two different nodes"),
    (_net([LINK_AB, {"between": ["b", "c"]}, {"between": ["b", "a"]}]), "links[2].between",
     "duplicate link a--b: links[0]"),
    (_net([{**LINK_AB, "preset": "superconducting"}]), "links[0].preset",
     "unknown preset 'superconducting'; presets: ideal, nv, ion"),
    # links: numbers
    (_net([{**LINK_AB, "fidelity": 0.2}]), "links[0].fidelity", "[0.25, 1]"),
    (_net([{**LINK_AB, "fidelity": 1.01}]), "links[0].fidelity", "[0.25, 1]"),
    (_net([{**LINK_AB, "fidelity": "high"}]), "links[0].fidelity", "expected a number"),
    (_net([{**LINK_AB, "fidelity": float("nan")}]), "links[0].fidelity", "expected a number"),
    (_net([{**LINK_AB, "success_probability": 0.0}]), "links[0].success_probability", "(0, 1]"),
    (_net([{**LINK_AB, "success_probability": 1.5}]), "links[0].success_probability", "(0, 1]"),
    (_net([{**LINK_AB, "success_probability": True}]), "links[0].success_probability", "expected a number"),
    (_net([{**LINK_AB, "attempt_duration_ns": -1}]), "links[0].attempt_duration_ns", ">= 0"),
    (_net([{**LINK_AB, "attempt_duration_ns": 0}]), "links[0].attempt_duration_ns", "must be > 0"),
    (_net([{**LINK_AB, "attempt_duration_ns": float("inf")}]), "links[0].attempt_duration_ns", "finite"),
    (_net([{**LINK_AB, "classical_latency_ns": -5.0}]), "links[0].classical_latency_ns", ">= 0"),
    (_net([{**LINK_AB, "classical_latency_ns": "1e+5"}]), "links[0].classical_latency_ns", "1.0e-3"),
    (_net([{**LINK_AB, "bell_state_correction": "yes please"}]), "links[0].bell_state_correction",
     "true or false"),
    (_net([{**LINK_AB, "max_attempts": 0}]), "links[0].max_attempts", "integer >= 1"),
    (_net([{**LINK_AB, "max_attempts": 2.5}]), "links[0].max_attempts", "integer >= 1"),
]


@pytest.mark.parametrize(("data", "key", "reason"), BAD)
def test_validation_errors(data: Any, key: str, reason: str) -> None:
    _raises(data, key, reason)


def test_zero_latency_and_one_attempt_are_fine() -> None:
    net = parse_network(_net([{**LINK_AB, "classical_latency_ns": 0, "max_attempts": 1}]))
    link = net.link("a", "b")
    assert link is not None and link.classical_latency_ns == 0 and link.max_attempts == 1


def test_presets_agree_with_the_physics_link_model() -> None:
    """sim_instruments.physics.link.LinkParams.ideal()/nv()/ion() model the same links: keep the numbers equal."""
    physics = pytest.importorskip("sim_instruments.physics.link")
    for preset in LINK_PRESETS:
        params = getattr(physics.LinkParams, preset)()
        link = parse_network(_net([{**LINK_AB, "preset": preset}])).link("a", "b")
        assert link is not None
        assert (link.attempt_duration_ns, link.success_probability, link.fidelity) == (
            params.attempt_duration_ns, params.success_probability, params.fidelity), preset
        assert (link.max_attempts, link.bell_state_correction) == (params.max_attempts, params.bell_state_correction)


def test_config_is_frozen_and_hashable(example: Path) -> None:
    net = load_network(example)
    with pytest.raises(AttributeError):
        net.name = "other"  # type: ignore[misc]
    assert hash(net) == hash(load_network(example))
    assert net == load_network(example)
