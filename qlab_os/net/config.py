"""Network YAML: which nodes exist, which device (QDriver) each runs, and the links between them.

Loaded from YAML and validated; errors name the file, the key and the reason (``ConfigError``).

YAML layout (see docs/configuration.md, "Network YAML")::

    name: two-nv                               # optional
    nodes:
      - {name: alice, device: sim-nv}          # device: a device name of the QDriver registry
      - {name: bob, device: sim-nv, id: 1}     # id: optional, default = position in the list
    links:
      - between: [alice, bob]
        preset: nv                             # optional: ideal | nv | ion; the fields below override it
        attempt_duration_ns: 3.8e+3
        success_probability: 1.0e-4
        fidelity: 0.85
        classical_latency_ns: 1.0e+5           # one-way latency of the classical channel
        bell_state_correction: true
        max_attempts: 100000000                # give up after this many attempts (default 1e8)
        schedule:                              # optional TDMA time bins (qlab_os.net.schedule)
          bin_length_ns: 1.0e+6
          pattern: [link, local]

A link with neither a preset nor fields is ``ideal``. PyYAML reads a float only with a dot and a signed
exponent: write ``1.0e-3`` and ``3.8e+3``, not ``1e-3`` (PyYAML reads that as a string; the loader says so).

The device names are not checked here (this module does not import the QDriver registry): the runtime calls
:func:`check_devices` with the registry's names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Final

import yaml

from qlab_os.config_checks import number, reject_unknown
from qlab_os.config_checks import require as get
from qlab_os.errors import ConfigError
from qlab_os.net.schedule import TdmaSchedule, check_node_overlaps, parse_schedule

# Link presets: representative numbers per platform, the same as sim_instruments.physics.link.LinkParams.ideal(),
# .nv() and .ion() (the physics team's side; keep both in step). Fields given on a link override its preset.
#   ideal: every attempt succeeds at once with a perfect pair; no classical latency.
#   nv:    NV centres, single-click heralding (Pompili et al., Science 2021; Hermans et al., Nature 2022):
#          an attempt every ~3.8 us, success ~1e-4 per attempt, F ~0.8, ~100 us one-way classical latency.
#   ion:   trapped ions, cavity photons over fibre (Krutyanskiy et al., PRL 130, 050803, 2023): attempt ~20 us,
#          success 4e-5 and fidelity 0.88 (the paper's figures), ~1 ms one-way classical latency.
# The classical latency is ours alone (LinkParams models the quantum link only).
LINK_PRESETS: Final[dict[str, dict[str, float]]] = {
    "ideal": {"attempt_duration_ns": 1000, "success_probability": 1.0, "fidelity": 1.0, "classical_latency_ns": 0},
    "nv": {"attempt_duration_ns": 3800, "success_probability": 1.0e-4, "fidelity": 0.8,
           "classical_latency_ns": 1.0e5},
    "ion": {"attempt_duration_ns": 2.0e4, "success_probability": 4.0e-5, "fidelity": 0.88,
            "classical_latency_ns": 1.0e6},
}
DEFAULT_PRESET: Final = "ideal"
DEFAULT_BELL_STATE_CORRECTION: Final = True
"""The link layer corrects each delivered pair to |Phi+> (what netqasm apps expect unless they ask otherwise)."""
DEFAULT_MAX_ATTEMPTS: Final = 10**8
"""A request gives up after this many attempts (LinkParams' default: 380 s of 3.8 us NV attempts)."""
DEFAULT_DEVICE: Final = "sim-generic"

_TOP_KEYS: Final = frozenset({"name", "nodes", "links"})
_NODE_KEYS: Final = frozenset({"name", "device", "id"})
_LINK_KEYS: Final = frozenset({"between", "preset", "attempt_duration_ns", "success_probability", "fidelity",
                               "classical_latency_ns", "bell_state_correction", "max_attempts", "schedule"})
MIN_FIDELITY: Final = 0.25
"""The fidelity of a maximally mixed two-qubit state with a Bell state."""


@dataclass(frozen=True)
class NodeConfig:
    name: str
    device: str
    """A device name of the QDriver registry (e.g. ``sim-nv``)."""
    id: int


@dataclass(frozen=True)
class LinkConfig:
    """A heralded entanglement link and the classical channel between two nodes."""

    node_a: str
    node_b: str
    attempt_duration_ns: int
    success_probability: float
    """Probability that one attempt heralds a pair, in (0, 1]."""
    fidelity: float
    """Fidelity of a delivered pair with the Bell state it is reported as, in [0.25, 1]."""
    classical_latency_ns: int
    """One-way latency of the classical channel between the two nodes."""
    bell_state_correction: bool = DEFAULT_BELL_STATE_CORRECTION
    """The link layer corrects each delivered pair to |Phi+> before handing it over."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Give up a request after this many failed attempts (>= 1)."""
    schedule: TdmaSchedule | None = None
    """The link's TDMA time bins (None: no schedule, a request attempts as soon as both ends ask)."""

    @property
    def name(self) -> str:
        return link_name(self.node_a, self.node_b)

    @property
    def nodes(self) -> tuple[str, str]:
        return (self.node_a, self.node_b)

    def other(self, node: str) -> str:
        """The node at the other end from ``node``."""
        if node == self.node_a:
            return self.node_b
        if node == self.node_b:
            return self.node_a
        raise KeyError(f"node {node!r} is not an end of link {self.name}")


def link_name(a: str, b: str) -> str:
    """The canonical name of the link between ``a`` and ``b`` (order-insensitive), e.g. ``alice--bob``."""
    first, second = sorted((a, b))
    return f"{first}--{second}"


@dataclass(frozen=True)
class NetworkConfig:
    name: str
    nodes: tuple[NodeConfig, ...]
    links: tuple[LinkConfig, ...] = ()
    source: str = field(default="<network>", compare=False)
    """The file it was read from (for error messages)."""
    _by_name: dict[str, NodeConfig] = field(init=False, compare=False, repr=False)
    _by_id: dict[int, NodeConfig] = field(init=False, compare=False, repr=False)
    _links: dict[frozenset[str], LinkConfig] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})
        object.__setattr__(self, "_by_id", {n.id: n for n in self.nodes})
        object.__setattr__(self, "_links", {frozenset(lk.nodes): lk for lk in self.links})

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node(self, name: str) -> NodeConfig:
        """The node called ``name``; a KeyError lists the known names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no node {name!r} in network {self.name!r}; nodes: {', '.join(self.node_names)}") \
                from None

    def node_by_id(self, node_id: int) -> NodeConfig:
        try:
            return self._by_id[node_id]
        except KeyError:
            known = ", ".join(str(i) for i in sorted(self._by_id))
            raise KeyError(f"no node with id {node_id} in network {self.name!r}; ids: {known}") from None

    def link(self, a: str, b: str) -> LinkConfig | None:
        """The link between ``a`` and ``b`` in either order, or None."""
        return self._links.get(frozenset((a, b))) if a != b else None

    def links_of(self, node: str) -> tuple[LinkConfig, ...]:
        return tuple(lk for lk in self.links if node in lk.nodes)

    def link_name(self, a: str, b: str) -> str:
        return link_name(a, b)


def load_network(path: str | Path) -> NetworkConfig:
    """Read and validate a network YAML file."""
    p = Path(path)
    return parse_network(read_yaml(p), source=str(p))


def read_yaml(path: Path) -> Any:
    """safe_load a YAML file; an unreadable file or bad YAML is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "<file>", f"not valid YAML: {exc}") from exc


def parse_network(data: Any, source: str = "<network>") -> NetworkConfig:
    """Validate a network given as already-parsed YAML (a mapping)."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<top>", f"expected a mapping with 'nodes' (and 'links'), got {type(data).__name__}")
    reject_unknown(data, _TOP_KEYS, source, "")
    name = data.get("name", "network")
    if not isinstance(name, str) or not name:
        raise ConfigError(source, "name", f"expected a non-empty string, got {name!r}")
    raw_nodes = get(data, "nodes", list, source, "nodes")
    if not raw_nodes:
        raise ConfigError(source, "nodes", "a network needs at least one node")
    nodes = _parse_nodes(raw_nodes, source)
    raw_links = data.get("links", [])
    if raw_links is None:
        raw_links = []
    if not isinstance(raw_links, list):
        raise ConfigError(source, "links", f"expected a list of links, got {type(raw_links).__name__}")
    names = [n.name for n in nodes]
    links: list[LinkConfig] = []
    seen: dict[frozenset[str], int] = {}
    for i, raw in enumerate(raw_links):
        link = _parse_link(i, raw, names, source)
        pair = frozenset(link.nodes)
        if pair in seen:
            raise ConfigError(source, f"links[{i}].between",
                              f"duplicate link {link.name}: links[{seen[pair]}] already joins these nodes")
        seen[pair] = i
        links.append(link)
    check_node_overlaps([(end, f"links[{i}].schedule", lk.schedule) for i, lk in enumerate(links)
                         for end in lk.nodes if lk.schedule is not None], source)
    return NetworkConfig(name=name, nodes=nodes, links=tuple(links), source=source)


def _parse_nodes(raw_nodes: list[Any], source: str) -> tuple[NodeConfig, ...]:
    nodes: list[NodeConfig] = []
    name_at: dict[str, int] = {}
    id_at: dict[int, int] = {}
    for i, raw in enumerate(raw_nodes):
        key = f"nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(source, key, f"expected a mapping with 'name' and 'device', got {raw!r}")
        reject_unknown(raw, _NODE_KEYS, source, key + ".")
        name = node_name_value(raw.get("name"), source, key + ".name")
        if name in name_at:
            raise ConfigError(source, key + ".name", f"duplicate node name {name!r} (also nodes[{name_at[name]}])")
        name_at[name] = i
        device = raw.get("device")
        if device is None:
            raise ConfigError(source, key + ".device",
                              f"missing: name the device node {name!r} runs (a QDriver device name, e.g. sim-nv)")
        if not isinstance(device, str) or not device:
            raise ConfigError(source, key + ".device", f"expected a device name (a string), got {device!r}")
        node_id = raw.get("id", i)
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 0:
            raise ConfigError(source, key + ".id", f"expected an integer >= 0, got {node_id!r}")
        if node_id in id_at:
            raise ConfigError(source, key + ".id",
                              f"duplicate node id {node_id} (also nodes[{id_at[node_id]}], "
                              "ids default to the position in the list)")
        id_at[node_id] = i
        nodes.append(NodeConfig(name=name, device=device, id=node_id))
    return tuple(nodes)


def _parse_link(i: int, raw: Any, names: Sequence[str], source: str) -> LinkConfig:
    key = f"links[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, f"expected a mapping with 'between: [a, b]', got {raw!r}")
    reject_unknown(raw, _LINK_KEYS, source, key + ".")
    between = raw.get("between")
    if (not isinstance(between, list) or len(between) != 2
            or not all(isinstance(n, str) for n in between)):
        raise ConfigError(source, key + ".between", f"expected two node names [a, b], got {between!r}")
    a, b = between
    for end in (a, b):
        if end not in names:
            raise ConfigError(source, key + ".between", f"unknown node {end!r}; nodes: {', '.join(names)}")
    if a == b:
        raise ConfigError(source, key + ".between", f"a link joins two different nodes, got {a!r} twice")
    preset_name = raw.get("preset", DEFAULT_PRESET)
    if not isinstance(preset_name, str) or preset_name not in LINK_PRESETS:
        raise ConfigError(source, key + ".preset",
                          f"unknown preset {preset_name!r}; presets: {', '.join(LINK_PRESETS)}")
    values: dict[str, Any] = {**LINK_PRESETS[preset_name], **raw}
    attempt = duration_ns(values["attempt_duration_ns"], source, key + ".attempt_duration_ns")
    if attempt == 0:
        raise ConfigError(source, key + ".attempt_duration_ns", "must be > 0")
    p = number(values["success_probability"], source, key + ".success_probability")
    if not 0.0 < p <= 1.0:
        raise ConfigError(source, key + ".success_probability", f"must be in (0, 1], got {p}")
    fid = number(values["fidelity"], source, key + ".fidelity")
    if not MIN_FIDELITY <= fid <= 1.0:
        raise ConfigError(source, key + ".fidelity",
                          f"must be in [0.25, 1] (0.25 is a maximally mixed pair), got {fid}")
    latency = duration_ns(values["classical_latency_ns"], source, key + ".classical_latency_ns")
    correction = values.get("bell_state_correction", DEFAULT_BELL_STATE_CORRECTION)
    if not isinstance(correction, bool):
        raise ConfigError(source, key + ".bell_state_correction", f"expected true or false, got {correction!r}")
    max_attempts = values.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ConfigError(source, key + ".max_attempts", f"expected an integer >= 1, got {max_attempts!r}")
    schedule = None if raw.get("schedule") is None else parse_schedule(raw["schedule"], attempt, source,
                                                                          key + ".schedule")
    return LinkConfig(node_a=a, node_b=b, attempt_duration_ns=attempt, success_probability=p, fidelity=fid,
                      classical_latency_ns=latency, bell_state_correction=correction, max_attempts=max_attempts,
                      schedule=schedule)


def default_network(node_names: Iterable[str], device: str = DEFAULT_DEVICE, name: str = "default") -> NetworkConfig:
    """Every node on ``device``, ids in the given order, an ideal link between every pair."""
    names = list(node_names)
    source = "<default network>"
    if not names:
        raise ConfigError(source, "nodes", "a network needs at least one node")
    for i, n in enumerate(names):
        node_name_value(n, source, f"nodes[{i}].name")
    if len(set(names)) != len(names):
        raise ConfigError(source, "nodes", f"node names must be unique, got {names}")
    return parse_network({
        "name": name,
        "nodes": [{"name": n, "device": device} for n in names],
        "links": [{"between": [a, b], "preset": "ideal"} for a, b in combinations(names, 2)],
    }, source=source)


def check_devices(config: NetworkConfig, known: Iterable[str]) -> None:
    """Raise a ConfigError if a node names a device not in ``known`` (the QDriver registry's device names)."""
    known_set = set(known)
    for i, node in enumerate(config.nodes):
        if node.device not in known_set:
            listed = ", ".join(sorted(known_set)) or "(none installed)"
            raise ConfigError(config.source, f"nodes[{i}].device",
                              f"unknown device {node.device!r} for node {node.name!r}; known devices: {listed}")


# -- shared validation helpers (also used by qlab_os.net.app_folder) -----------------------------------------------



def node_name_value(value: Any, source: str, path: str) -> str:
    """A node name: a non-empty string without surrounding spaces and without '--' (the link-name separator)."""
    if value is None:
        raise ConfigError(source, path, "missing")
    if not isinstance(value, str) or not value or value.strip() != value or "--" in value:
        raise ConfigError(source, path,
                          f"expected a non-empty name without surrounding spaces or '--', got {value!r}")
    return value


def duration_ns(value: Any, source: str, path: str) -> int:
    ns = number(value, source, path)
    if math.isinf(ns) or ns < 0:
        raise ConfigError(source, path, f"must be a finite number of nanoseconds >= 0, got {value}")
    return round(ns)






