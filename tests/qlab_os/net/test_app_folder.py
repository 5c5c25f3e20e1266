"""netqasm app folders: every example shipped with netqasm 2.3 loads, as shipped and after `netqasm init`;
roles.yaml, <role>.yaml and netqasm's network.yaml are read; every error names the file, the key and why."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import netqasm
import pytest
import yaml
from netqasm.runtime import env as nq_env
from netqasm.runtime.interface.config import parse_network_config

from qlab_os.errors import ConfigError
from qlab_os.net import AppSpec, convert_netqasm_network, load_app, load_netqasm_network

EXAMPLES = Path(netqasm.__file__).parent / "examples"
EXAMPLE_DIRS = sorted(p for p in [*EXAMPLES.glob("apps/*"), *EXAMPLES.glob("qne_apps/*")]
                      if p.is_dir() and p.name != "__pycache__")

# The roles of every example app in netqasm 2.3 (the app_<role>.py files).
EXPECTED_ROLES = {
    "apps/anonymous_transmission": ("alice", "bob", "charlie", "david"),
    "apps/bb84": ("alice", "bob"),
    "apps/blind_grover": ("client", "server"),
    "apps/blind_rotation": ("client", "server"),
    "apps/chsh": ("alice", "bob", "repeater"),
    "apps/dist_cnot": ("controller", "target"),
    "apps/link_layer_ck": ("client", "server"),
    "apps/link_layer_md": ("client", "server"),
    "apps/magic_square": ("player1", "player2"),
    "apps/multiple_files": ("alice", "bob"),
    "apps/single_node": ("alice",),
    "apps/teleport": ("receiver", "sender"),
    "apps/three_nodes": ("alice", "bob", "charlie"),
    "qne_apps/blind_computation": ("client", "server"),
    "qne_apps/chsh": ("alice", "bob", "repeater"),
    "qne_apps/dist_cnot": ("controller", "target"),
    "qne_apps/magic_square": ("player1", "player2"),
    "qne_apps/qkd": ("alice", "bob"),
    "qne_apps/teleport": ("receiver", "sender"),
}


def _rel(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


@contextmanager
def _raises(source: Path | str, key: str, reason: str) -> Iterator[None]:
    with pytest.raises(ConfigError) as info:
        yield
    err = info.value
    assert err.source == str(source), err
    assert err.key == key, err
    assert reason in err.reason, err.reason


def _app(tmp_path: Path, *roles: str, **files: str) -> Path:
    folder = tmp_path / "myapp"
    folder.mkdir()
    for role in roles:
        (folder / f"app_{role}.py").write_text("def main(app_config=None):\n    return {}\n")
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def test_every_shipped_example_is_covered() -> None:
    assert {_rel(p) for p in EXAMPLE_DIRS} == set(EXPECTED_ROLES)


@pytest.mark.parametrize("folder", EXAMPLE_DIRS, ids=_rel)
def test_shipped_example(folder: Path) -> None:
    app = load_app(folder)
    roles = EXPECTED_ROLES[_rel(folder)]
    assert app.name == folder.name and app.path == folder.resolve()
    assert app.roles == roles
    assert app.role_nodes == {r: r for r in roles}
    # The wheel ships no YAML: every main runs with its defaults (what `netqasm init` writes into <role>.yaml).
    assert app.inputs == {r: {} for r in roles}
    assert app.main_modules == {r: folder.resolve() / f"app_{r}.py" for r in roles}
    assert all(p.is_file() for p in app.main_modules.values())
    net = app.network
    assert net.node_names == roles and {n.device for n in net.nodes} == {"sim-generic"}
    assert len(net.links) == len(roles) * (len(roles) - 1) // 2
    for a in roles:
        for b in roles:
            if a != b:
                link = net.link(a, b)
                assert link is not None and link.fidelity == 1.0 and link.success_probability == 1.0


@pytest.fixture
def netqasm_debug(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`netqasm init` sets NETQASM_SIMULATOR=debug and runs the app files: restore both afterwards."""
    monkeypatch.setenv("NETQASM_SIMULATOR", "debug")
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("src", "shared"):  # local packages of two examples
            del sys.modules[name]


@pytest.mark.usefixtures("netqasm_debug")
@pytest.mark.parametrize("folder", EXAMPLE_DIRS, ids=_rel)
def test_example_after_netqasm_init(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(copy))  # anonymous_transmission and multiple_files import local packages
    nq_env.init_folder(str(copy), quiet=True)
    roles = EXPECTED_ROLES[_rel(folder)]
    for name in ("roles.yaml", "network.yaml", *(f"{r}.yaml" for r in roles)):
        assert (copy / name).is_file(), name

    app = load_app(copy)
    assert app.roles == roles
    assert app.role_nodes == nq_env.load_roles_config(str(copy / "roles.yaml"))
    # Inputs as netqasm itself reads them: main's keyword arguments and their defaults.
    assert app.inputs == {r: nq_env.load_app_config_file(str(copy), r) for r in roles}
    # netqasm's network.yaml converted: same nodes and links; Depolarise with fidelity 1.0 is a perfect link.
    nq_net = parse_network_config(yaml.safe_load((copy / "network.yaml").read_text()))
    assert set(app.network.node_names) == {n.name for n in nq_net.nodes} == set(roles)
    assert {lk.name for lk in app.network.links} == {
        "--".join(sorted((lk.node_name1, lk.node_name2))) for lk in nq_net.links}
    assert all(lk.fidelity == 1.0 for lk in app.network.links)
    assert app.network.source == str(copy / "network.yaml")


def test_inputs_found_after_init_for_apps_that_take_inputs(tmp_path: Path) -> None:
    """What `netqasm init` writes for teleport (checked by hand against `netqasm init -p`), loaded back."""
    folder = _app(tmp_path, "sender", "receiver", sender__yaml="phi: 0.0\ntheta: 0.0\n", receiver__yaml="{}\n")
    app = load_app(folder)
    assert app.inputs == {"receiver": {}, "sender": {"phi": 0.0, "theta": 0.0}}


def test_roles_and_inputs_in_tmp_folder(tmp_path: Path) -> None:
    folder = _app(tmp_path, "client", "server",
                  roles__yaml="client: delft\nserver: the-hague\n",
                  client__yaml="num_iter: 3\nphi: 1.5\nstrategy: null\nangles: [0.1, 0.2]\n")
    net = tmp_path / "net.yaml"
    net.write_text("nodes:\n  - {name: the-hague, device: sim-ion}\n  - {name: delft, device: sim-nv}\n"
                   "  - {name: leiden, device: sim-nv}\n"
                   "links:\n  - {between: [delft, the-hague], preset: nv}\n")
    app = load_app(folder, network=net)
    assert isinstance(app, AppSpec)
    assert app.roles == ("client", "server")
    assert app.role_nodes == {"client": "delft", "server": "the-hague"}
    assert app.inputs == {"client": {"num_iter": 3, "phi": 1.5, "strategy": None, "angles": [0.1, 0.2]},
                          "server": {}}
    assert app.network.source == str(net)
    assert app.network.node("delft").device == "sim-nv"
    assert app.role_of_node("the-hague") == "server" and app.role_of_node("leiden") is None
    link = app.network.link("the-hague", "delft")
    assert link is not None and link.fidelity == 0.8


def test_network_argument_wins_over_folder_network_yaml(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", network__yaml="this file is not even a mapping")
    net = tmp_path / "net.yaml"
    net.write_text("nodes: [{name: a, device: sim-nv}, {name: b, device: sim-nv}]\n")
    assert load_app(folder, network=net).network.node_names == ("a", "b")


def test_empty_roles_and_inputs_files(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", roles__yaml="", a__yaml="", b__yaml="# nothing\n")
    app = load_app(folder)
    assert app.role_nodes == {"a": "a", "b": "b"} and app.inputs == {"a": {}, "b": {}}


def test_default_network_uses_mapped_node_names(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", roles__yaml="a: x\nb: y\n")
    app = load_app(folder)
    assert app.network.node_names == ("x", "y") and app.network.link("y", "x") is not None


def test_our_format_network_yaml_in_folder(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", network__yaml=(
        "nodes: [{name: a, device: sim-nv}, {name: b, device: sim-ion}]\nlinks: [{between: [a, b], preset: ion}]\n"))
    app = load_app(folder)
    assert app.network.node("b").device == "sim-ion"
    link = app.network.link("a", "b")
    assert link is not None and link.fidelity == 0.88


# -- netqasm's network.yaml -----------------------------------------------------------------------------------

NQ_NETWORK = """\
links:
- {name: ch0, node_name1: alice, node_name2: bob, noise_type: Depolarise, fidelity: 0.8}
- {name: ch1, node_name1: bob, node_name2: charlie, noise_type: DiscreteDepolarise, fidelity: 0.6}
- {name: ch2, node_name1: charlie, node_name2: alice, noise_type: Bitflip, fidelity: 0.9}
- {name: ch3, node_name1: dave, node_name2: alice, noise_type: NoNoise, fidelity: 0.1}
nodes:
- {name: alice, gate_fidelity: 1.0, qubits: [{id: 0, t1: 0, t2: 0}]}
- {name: bob, hardware: NV, gate_fidelity: 0.99, qubits: [{id: 0, t1: 0, t2: 0}, {id: 1, t1: 0, t2: 0}]}
- {name: charlie, hardware: TrappedIon, gate_fidelity: 1.0, qubits: []}
- {name: dave, hardware: Generic, gate_fidelity: 1.0, qubits: []}
"""


def test_netqasm_network_converted(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_text(NQ_NETWORK)
    net = load_netqasm_network(path)
    assert [(n.name, n.device, n.id) for n in net.nodes] == [
        ("alice", "sim-generic", 0), ("bob", "sim-nv", 1), ("charlie", "sim-ion", 2), ("dave", "sim-generic", 3)]

    def fid(a: str, b: str) -> float:
        link = net.link(a, b)
        assert link is not None
        assert (link.attempt_duration_ns, link.success_probability, link.classical_latency_ns) == (1000, 1.0, 0)
        return link.fidelity

    assert fid("alice", "bob") == pytest.approx((3 * 0.8 + 1) / 4)  # depolarising: (3 f + 1) / 4
    assert fid("bob", "charlie") == pytest.approx(0.7)
    assert fid("alice", "charlie") == pytest.approx(0.9)  # bit flip: f
    assert fid("alice", "dave") == 1.0  # NoNoise ignores the fidelity field
    assert net.link("bob", "dave") is None


def test_netqasm_network_used_by_load_app(tmp_path: Path) -> None:
    folder = _app(tmp_path, "alice", "bob", network__yaml=NQ_NETWORK)
    app = load_app(folder)
    assert app.network.source == str(folder.resolve() / "network.yaml")
    assert app.network.node("bob").device == "sim-nv"


NQ_NODES = [{"name": "a", "gate_fidelity": 1.0, "qubits": []}, {"name": "b", "gate_fidelity": 1.0, "qubits": []}]
NQ_LINK = {"name": "ch0", "node_name1": "a", "node_name2": "b", "noise_type": "Depolarise", "fidelity": 1.0}

NQ_BAD: list[tuple[Any, str, str]] = [
    ("text", "<top>", "expected a mapping"),
    ({"nodes": NQ_NODES, "links": [], "schedule": 1}, "schedule", "unknown key; allowed: links, nodes"),
    ({"links": []}, "nodes", "non-empty list"),
    ({"nodes": ["a"]}, "nodes[0]", "expected a mapping"),
    ({"nodes": [{"name": "a", "colour": "red"}]}, "nodes[0].colour",
     "allowed: gate_fidelity, hardware, name, qubits"),
    ({"nodes": [{"name": "a", "hardware": "Superconducting"}]}, "nodes[0].hardware",
     "unknown hardware 'Superconducting'; netqasm knows: Generic, NV, TrappedIon"),
    ({"nodes": [{"qubits": []}]}, "nodes[0].name", "missing"),
    ({"nodes": [*NQ_NODES, {"name": "a"}]}, "nodes[2].name", "duplicate node name 'a'"),
    ({"nodes": NQ_NODES, "links": {"ch0": 1}}, "links", "expected a list"),
    ({"nodes": NQ_NODES, "links": [5]}, "links[0]", "expected a mapping"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "length": 3}]}, "links[0].length",
     "allowed: fidelity, name, node_name1, node_name2, noise_type"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "node_name1": None}]}, "links[0].node_name1", "expected a node name"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "node_name2": "zz"}]}, "links[0].node_name2",
     "unknown node 'zz'; nodes: a, b"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "node_name2": "a"}]}, "links[0].node_name2", "two different nodes"),
    ({"nodes": NQ_NODES, "links": [NQ_LINK, {**NQ_LINK, "node_name1": "b", "node_name2": "a"}]}, "links[1]",
     "duplicate link between b and a: links[0]"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "noise_type": "Dephase"}]}, "links[0].noise_type",
     "expected one of NoNoise, Depolarise, DiscreteDepolarise, Bitflip"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "fidelity": 1.5}]}, "links[0].fidelity", "[0, 1]"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "fidelity": "1e-1"}]}, "links[0].fidelity", "1.0e-3"),
    ({"nodes": NQ_NODES, "links": [{k: v for k, v in NQ_LINK.items() if k != "fidelity"}]}, "links[0].fidelity",
     "expected a number"),
    ({"nodes": NQ_NODES, "links": [{**NQ_LINK, "noise_type": "Bitflip", "fidelity": 0.1}]}, "links[0].fidelity",
     "below 0.25"),
]


@pytest.mark.parametrize(("data", "key", "reason"), NQ_BAD)
def test_netqasm_network_errors(data: Any, key: str, reason: str) -> None:
    with _raises("nq.yaml", key, reason):
        convert_netqasm_network(data, source="nq.yaml")


def test_netqasm_network_error_from_load_app_names_the_file(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", network__yaml=yaml.safe_dump(
        {"nodes": NQ_NODES, "links": [{**NQ_LINK, "noise_type": "Loud"}]}))
    with _raises(folder.resolve() / "network.yaml", "links[0].noise_type", "'Loud'"):
        load_app(folder)


# -- app folder errors --------------------------------------------------------------------------------------------

def test_not_a_folder(tmp_path: Path) -> None:
    with _raises(tmp_path / "nope", "<folder>", "does not exist"):
        load_app(tmp_path / "nope")
    (tmp_path / "file.py").write_text("")
    with _raises(tmp_path / "file.py", "<folder>", "is not a folder"):
        load_app(tmp_path / "file.py")


def test_no_app_files(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    with _raises(tmp_path, "<folder>", "no app_<role>.py files"):
        load_app(tmp_path)


@pytest.mark.parametrize(("role", "reason"), [("", "no role name"), ("roles", "its inputs file would be roles.yaml"),
                                              ("network", "network.yaml")])
def test_bad_role_names(tmp_path: Path, role: str, reason: str) -> None:
    folder = _app(tmp_path, "alice", role)
    with _raises(folder.resolve() / f"app_{role}.py", "<file>", reason):
        load_app(folder)


@pytest.mark.parametrize(("file", "text", "key", "reason"), [
    ("roles.yaml", "a: [x\n", "<file>", "not valid YAML"),
    ("roles.yaml", "- a\n- b\n", "<top>", "expected a mapping role -> node name"),
    ("roles.yaml", "a: x\nb: y\nc: z\n", "c", "unknown key; allowed: a, b"),
    ("roles.yaml", "a: x\n", "b", "missing: every role needs a node (roles: a, b)"),
    ("roles.yaml", "a: x\nb: 3\n", "b", "expected a non-empty name"),
    ("roles.yaml", "a: x\nb: x\n", "b", "roles 'a' and 'b' both run on node 'x'; netqasm runs one role per node"),
    ("a.yaml", "x: [1\n", "<file>", "not valid YAML"),
    ("a.yaml", "[1, 2]\n", "<top>", "expected a mapping of keyword arguments"),
    ("a.yaml", "1x: 2\n", "1x", "not a valid keyword argument"),
    ("a.yaml", "class: 2\n", "class", "not a valid keyword argument"),
    ("a.yaml", "3: 2\n", "3", "not a valid keyword argument"),
    ("a.yaml", "app_config: 2\n", "app_config", "reserved"),
    ("network.yaml", "nodes: [\n", "<file>", "not valid YAML"),
])
def test_folder_file_errors(tmp_path: Path, file: str, text: str, key: str, reason: str) -> None:
    folder = _app(tmp_path, "a", "b")
    (folder / file).write_text(text)
    with _raises(folder.resolve() / file, key, reason):
        load_app(folder)


def test_role_node_missing_from_network(tmp_path: Path) -> None:
    net = tmp_path / "net.yaml"
    net.write_text("nodes: [{name: a, device: sim-nv}, {name: c, device: sim-nv}]\n")
    folder = _app(tmp_path, "a", "b")
    with _raises(net, "nodes", "no node 'b' for role 'b' (without roles.yaml"):
        load_app(folder, network=net)
    (folder / "roles.yaml").write_text("a: a\nb: d\n")
    with _raises(folder.resolve() / "roles.yaml", "b", f"node 'd' is not in the network {net} (nodes: a, c)"):
        load_app(folder, network=net)


def test_role_node_missing_from_folder_netqasm_network(tmp_path: Path) -> None:
    folder = _app(tmp_path, "a", "b", network__yaml=yaml.safe_dump({"nodes": NQ_NODES[:1], "links": []}))
    with _raises(folder.resolve() / "network.yaml", "nodes", "no node 'b' for role 'b'"):
        load_app(folder)
