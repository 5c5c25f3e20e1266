"""netqasm application folders: which roles an app has, where each runs, its inputs and its network.

A folder as ``netqasm new`` / ``netqasm init -p DIR`` lay it out (netqasm 2.3)::

    app_<role>.py      one per role, each with ``main(app_config=..., **inputs)``      (required, at least one)
    roles.yaml         role -> node name, e.g. ``{sender: sender, receiver: receiver}``  (optional)
    <role>.yaml        that role's inputs: keyword arguments for its ``main``           (optional; ``{}`` if absent)
    network.yaml       netqasm's network file (nodes with qubits, links with noise_type
                       and fidelity), converted to our :class:`NetworkConfig`           (optional)

``netqasm init`` also writes README.md and results_config.json (not read here). The example apps shipped in the
netqasm wheel have only the ``app_*.py`` files: ``load_app`` then gives each role its own node named after it,
empty inputs (each ``main`` runs with its defaults, which is what ``netqasm init`` would write into
``<role>.yaml``) and an all-to-all ideal network.

What is reused from netqasm and what is not:

- ``netqasm.runtime.env.load_app_files`` finds the ``app_<role>.py`` files, exactly as ``netqasm simulate``
  does; its ValueError becomes a ConfigError.
- ``netqasm.runtime.interface.config.NoiseType`` and ``QuantumHardware`` give the allowed ``noise_type`` and
  ``hardware`` values of network.yaml.
- netqasm's YAML readers (``netqasm.util.yaml.load_yaml``, behind ``env.load_roles_config``,
  ``env.load_app_config_file`` and ``parse_network_config``) are *not* used: they call ``yaml.load`` with the
  full (unsafe) Loader, which builds arbitrary Python objects from tags, and their errors name neither the file
  nor the key. We read with ``yaml.safe_load`` and follow the same rules: a missing or empty ``<role>.yaml`` means
  no inputs, a missing or empty ``roles.yaml`` maps every role to the node of the same name.

Two roles may not share a node: netqasm's loaders do not check it, but its SDK finds a remote role's node by the
role's name (``NetworkInfo.get_node_id_for_app``), so EPR sockets and classical sockets between two roles on
one node would point a node at itself. Each role runs on its own node, as in every netqasm example.

The app modules are not imported here (importing runs app code; the runtime does that).
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netqasm.runtime.env import load_app_files
from netqasm.runtime.interface.config import NoiseType, QuantumHardware

from qlab_os.config_checks import FLOAT_HINT, reject_unknown
from qlab_os.errors import ConfigError
from qlab_os.net.config import (
    LINK_PRESETS,
    MIN_FIDELITY,
    NetworkConfig,
    default_network,
    load_network,
    node_name_value,
    parse_network,
    read_yaml,
)

ROLES_FILE: Final = "roles.yaml"
NETWORK_FILE: Final = "network.yaml"

HARDWARE_DEVICES: Final[dict[str, str]] = {
    QuantumHardware.Generic.value: "sim-generic",
    QuantumHardware.NV.value: "sim-nv",
    QuantumHardware.TrappedIon.value: "sim-ion",
}
"""netqasm node ``hardware`` -> our device name (netqasm's default is Generic)."""

_NQ_TOP_KEYS: Final = frozenset({"nodes", "links"})
_NQ_NODE_KEYS: Final = frozenset({"name", "hardware", "qubits", "gate_fidelity"})
_NQ_LINK_KEYS: Final = frozenset({"name", "node_name1", "node_name2", "noise_type", "fidelity"})
_RESERVED_ROLES: Final = frozenset({"roles", "network"})


@dataclass(frozen=True)
class AppSpec:
    """A netqasm application folder, validated and resolved against a network."""

    name: str
    """The folder's name."""
    path: Path
    roles: tuple[str, ...]
    """The ``app_<role>.py`` files' roles, sorted."""
    role_nodes: dict[str, str]
    """role -> the node it runs on."""
    inputs: dict[str, dict[str, Any]]
    """role -> keyword arguments for that role's ``main`` (besides ``app_config``)."""
    network: NetworkConfig
    main_modules: dict[str, Path]
    """role -> its ``app_<role>.py`` file."""

    def role_of_node(self, node: str) -> str | None:
        for role, n in self.role_nodes.items():
            if n == node:
                return role
        return None


def load_app(app_dir: str | Path, network: str | Path | None = None) -> AppSpec:
    """Read a netqasm app folder. ``network`` is one of our network YAML files; without it the folder's own
    netqasm ``network.yaml`` is converted, and without that every role gets its own node on an ideal network."""
    folder = Path(app_dir).expanduser().resolve()
    source = str(folder)
    if not folder.is_dir():
        reason = "does not exist" if not folder.exists() else "is not a folder"
        raise ConfigError(source, "<folder>", f"{reason}; expected a netqasm app folder with app_<role>.py files")
    try:
        files: dict[str, str] = load_app_files(str(folder))
    except ValueError:
        raise ConfigError(source, "<folder>",
                          "no app_<role>.py files: not a netqasm app folder (netqasm new DIR makes one)") from None
    roles = tuple(sorted(files))
    for role in roles:
        _check_role_name(role, folder / files[role])
    main_modules = {role: folder / files[role] for role in roles}
    role_nodes = _load_roles(folder, roles)
    inputs = {role: _load_inputs(folder / f"{role}.yaml") for role in roles}

    if network is not None:
        net = load_network(network)
    elif (folder / NETWORK_FILE).exists():
        net = load_netqasm_network(folder / NETWORK_FILE)
    else:
        net = default_network(role_nodes[r] for r in roles)
    _check_nodes_exist(folder, role_nodes, net)
    return AppSpec(name=folder.name, path=folder, roles=roles, role_nodes=role_nodes, inputs=inputs, network=net,
                   main_modules=main_modules)


def _check_role_name(role: str, file: Path) -> None:
    if not role:
        raise ConfigError(str(file), "<file>", "app_.py has no role name: name it app_<role>.py")
    if role in _RESERVED_ROLES:
        raise ConfigError(str(file), "<file>",
                          f"role {role!r} is not allowed: its inputs file would be {role}.yaml, which netqasm "
                          f"uses for the {role} file; rename the role")


def _load_roles(folder: Path, roles: tuple[str, ...]) -> dict[str, str]:
    path = folder / ROLES_FILE
    if not path.exists():
        return {role: role for role in roles}
    data = read_yaml(path)
    source = str(path)
    if data is None:  # an empty roles.yaml: netqasm maps every role to itself
        return {role: role for role in roles}
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<top>", f"expected a mapping role -> node name, got {type(data).__name__}")
    reject_unknown(data, roles, source, "")
    mapping: dict[str, str] = {}
    node_role: dict[str, str] = {}
    for role in roles:
        if role not in data:
            raise ConfigError(source, role, f"missing: every role needs a node (roles: {', '.join(roles)})")
        node = node_name_value(data[role], source, role)
        if node in node_role:
            raise ConfigError(source, role,
                              f"roles {node_role[node]!r} and {role!r} both run on node {node!r}; netqasm runs one "
                              "role per node (its SDK finds a remote role's node by the role's name), so give each "
                              "role its own node")
        node_role[node] = role
        mapping[role] = node
    return mapping


def _load_inputs(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = read_yaml(path)
    source = str(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<top>",
                          f"expected a mapping of keyword arguments for main(), got {type(data).__name__}")
    inputs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            raise ConfigError(source, str(key), "not a valid keyword argument name for main()")
        if key == "app_config":
            raise ConfigError(source, key, "reserved: the runtime passes app_config to main() itself")
        inputs[key] = value
    return inputs


def _check_nodes_exist(folder: Path, role_nodes: dict[str, str], net: NetworkConfig) -> None:
    known = set(net.node_names)
    roles_file = folder / ROLES_FILE
    for role, node in role_nodes.items():
        if node in known:
            continue
        nodes = ", ".join(net.node_names)
        if roles_file.exists():
            raise ConfigError(str(roles_file), role,
                              f"node {node!r} is not in the network {net.source} (nodes: {nodes})")
        raise ConfigError(net.source, "nodes",
                          f"no node {node!r} for role {role!r} (without roles.yaml a role runs on the node of "
                          f"the same name); nodes: {nodes}")


# -- netqasm's network.yaml ---------------------------------------------------------------------------------------

def load_netqasm_network(path: str | Path) -> NetworkConfig:
    """Read netqasm's network.yaml (as ``netqasm init`` writes it) and convert it to our network config.

    A file that is already in our format (a node with ``device`` or a link with ``between``) is read as ours.
    """
    p = Path(path)
    data = read_yaml(p)
    if _looks_like_ours(data):
        return parse_network(data, source=str(p))
    return convert_netqasm_network(data, source=str(p))


def _looks_like_ours(data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    nodes = data.get("nodes")
    links = data.get("links")
    return (isinstance(nodes, list) and any(isinstance(n, Mapping) and "device" in n for n in nodes)) or (
        isinstance(links, list) and any(isinstance(lk, Mapping) and "between" in lk for lk in links))


def convert_netqasm_network(data: Any, source: str = "<netqasm network>") -> NetworkConfig:
    """Convert netqasm's network config (already-parsed YAML) to ours.

    - nodes: ``name`` kept; ``hardware`` (Generic, NV, TrappedIon; default Generic) picks the device
      (sim-generic, sim-nv, sim-ion); ids follow the list order. ``qubits`` (t1/t2) and ``gate_fidelity`` are
      ignored: our device spec decides qubits and noise.
    - links: timing as the ``ideal`` preset (netqasm's simulators deliver a pair per 1000 ns cycle with
      success probability 1, the same as ideal). The fidelity of the delivered pair with |Phi+> follows squidasm's
      reading of netqasm's ``fidelity`` f: ``NoNoise`` 1.0; ``Depolarise`` and ``DiscreteDepolarise`` mix in the
      maximally mixed state with probability 1 - f, so the fidelity is (3 f + 1) / 4; ``Bitflip`` flips one qubit
      with probability 1 - f, so the fidelity is f (it must then be >= 0.25).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<top>", f"expected a mapping with 'nodes' and 'links', got {type(data).__name__}")
    reject_unknown(data, _NQ_TOP_KEYS, source, "")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise ConfigError(source, "nodes", f"expected a non-empty list of nodes, got {raw_nodes!r}")
    nodes: list[dict[str, Any]] = []
    names: list[str] = []
    for i, raw in enumerate(raw_nodes):
        key = f"nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(source, key, f"expected a mapping with 'name', got {raw!r}")
        reject_unknown(raw, _NQ_NODE_KEYS, source, key + ".")
        hardware = raw.get("hardware", QuantumHardware.Generic.value)
        if isinstance(hardware, QuantumHardware):
            hardware = hardware.value
        if hardware not in HARDWARE_DEVICES:
            raise ConfigError(source, key + ".hardware",
                              f"unknown hardware {hardware!r}; netqasm knows: {', '.join(HARDWARE_DEVICES)}")
        name = node_name_value(raw.get("name"), source, key + ".name")
        if name in names:
            raise ConfigError(source, key + ".name", f"duplicate node name {name!r}")
        names.append(name)
        nodes.append({"name": name, "device": HARDWARE_DEVICES[hardware]})
    raw_links = data.get("links")
    if raw_links is None:
        raw_links = []
    if not isinstance(raw_links, list):
        raise ConfigError(source, "links", f"expected a list of links, got {type(raw_links).__name__}")
    links = []
    seen: dict[frozenset[str], int] = {}
    for i, raw in enumerate(raw_links):
        link = _convert_link(i, raw, names, source)
        pair = frozenset(link["between"])
        if pair in seen:
            raise ConfigError(source, f"links[{i}]",
                              f"duplicate link between {' and '.join(link['between'])}: links[{seen[pair]}] "
                              "already joins these nodes")
        seen[pair] = i
        links.append(link)
    return parse_network({"name": Path(source).parent.name or "network", "nodes": nodes, "links": links},
                         source=source)


def _convert_link(i: int, raw: Any, names: list[str], source: str) -> dict[str, Any]:
    key = f"links[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, f"expected a mapping with node_name1, node_name2, noise_type, fidelity, got "
                                       f"{raw!r}")
    reject_unknown(raw, _NQ_LINK_KEYS, source, key + ".")
    ends = []
    for end in ("node_name1", "node_name2"):
        value = raw.get(end)
        if not isinstance(value, str):
            raise ConfigError(source, f"{key}.{end}", f"expected a node name, got {value!r}")
        if value not in names:
            raise ConfigError(source, f"{key}.{end}", f"unknown node {value!r}; nodes: {', '.join(names)}")
        ends.append(value)
    if ends[0] == ends[1]:
        raise ConfigError(source, key + ".node_name2", f"a link joins two different nodes, got {ends[0]!r} twice")
    noise = raw.get("noise_type")
    if isinstance(noise, NoiseType):
        noise = noise.value
    allowed = [t.value for t in NoiseType]
    if noise not in allowed:
        raise ConfigError(source, key + ".noise_type", f"expected one of {', '.join(allowed)}, got {noise!r}")
    f = raw.get("fidelity")
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f <= 1.0:
        hint = FLOAT_HINT if isinstance(f, str) else ""
        raise ConfigError(source, key + ".fidelity", f"expected a number in [0, 1], got {f!r}{hint}")
    if noise == NoiseType.NoNoise.value:
        fidelity = 1.0
    elif noise == NoiseType.Bitflip.value:
        fidelity = float(f)
        if fidelity < MIN_FIDELITY:
            raise ConfigError(source, key + ".fidelity",
                              f"a Bitflip link with fidelity {f} delivers pairs below 0.25 fidelity with |Phi+>, "
                              "which our link model cannot represent (it needs [0.25, 1])")
    else:
        fidelity = (3.0 * float(f) + 1.0) / 4.0
    return {"between": ends, **LINK_PRESETS["ideal"], "fidelity": fidelity}
