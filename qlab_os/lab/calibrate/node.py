"""A node setup file (``station_configs/nodes/<node>.yaml``): what the calibration routines of one node need.

It says which platform the node is, which QCoDeS station file holds its instruments, which station instrument plays
each role a routine talks to, how the AWG is wired (I/Q channels, which marker switches which light or gates which
counter), the pulse timings, the settings to apply before every routine, and per routine its scan range and start
values. Routines read nothing else about the node, so the same routine runs on any node of its platform::

    node: nv_a
    platform: nv
    station: ../nv_node.sim.yaml        # relative to this file
    instruments: {awg: awg, mw_source: mw_source, counter: counter}
    prepare: {mw_source.power: 10.0}    # instrument.parameter: value, in order
    awg: {sample_rate_hz: 1.0e+9, amplitude_vpp: 1.0, iq_channels: [1, 2], markers: {green: "1.1"}}
    timing: {green_s: 3.0e-6}
    routines: {odmr: {start_hz: 2.86e+9, stop_hz: 2.88e+9, points: 41}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from qlab_os.config_checks import number, reject_unknown, require
from qlab_os.errors import ConfigError

NODES_DIR = Path(__file__).resolve().parents[3] / "station_configs" / "nodes"
"""Where ``qlab-os calibrate NODE`` looks for ``NODE.yaml`` when NODE is not a path."""

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it; same results

_KEYS = ("node", "platform", "station", "instruments", "prepare", "awg", "timing", "routines", "entanglement")
_AWG_KEYS = ("sample_rate_hz", "amplitude_vpp", "iq_channels", "markers")


@dataclass(frozen=True)
class AWGWiring:
    """The AWG's clock, channel amplitude, I/Q channels and the marker (``"ch.m"``) of each function."""

    sample_rate_hz: float
    amplitude_vpp: float
    iq_channels: tuple[int, int]
    markers: dict[str, str]

    def marker(self, function: str, source: str) -> str:
        try:
            return self.markers[function]
        except KeyError:
            raise ConfigError(source, f"awg.markers.{function}", "missing: a routine needs this marker") from None


@dataclass(frozen=True)
class NodeSetup:
    """A parsed node setup file (see the module docstring)."""

    path: Path
    node: str
    platform: str
    station_file: Path
    instruments: dict[str, str]
    prepare: dict[str, Any]
    awg: AWGWiring
    timing: dict[str, float]
    routines: dict[str, dict[str, Any]] = field(default_factory=dict)
    entanglement: dict[str, Any] = field(default_factory=dict)
    """Per heralding station: how the node entangles through it (read by ``qdrivers.heralding.settings``)."""

    def instrument_name(self, role: str) -> str:
        try:
            return self.instruments[role]
        except KeyError:
            raise ConfigError(str(self.path), f"instruments.{role}", "missing: a routine needs this role") from None

    def time_s(self, key: str) -> float:
        try:
            return self.timing[key]
        except KeyError:
            raise ConfigError(str(self.path), f"timing.{key}", "missing: a routine needs this duration") from None

    def routine(self, name: str) -> RoutineSettings:
        return RoutineSettings(str(self.path), name, self.routines.get(name, {}))


@dataclass(frozen=True)
class RoutineSettings:
    """One routine's entry under ``routines``: numbers read with a clear error when missing."""

    source: str
    routine: str
    values: dict[str, Any]

    def number(self, key: str, default: float | None = None) -> float:
        if key not in self.values:
            if default is not None:
                return default
            raise ConfigError(self.source, f"routines.{self.routine}.{key}", "missing")
        return number(self.values[key], self.source, f"routines.{self.routine}.{key}")

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.number(key, None if default is None else float(default))
        if value != int(value) or value < 1:
            raise ConfigError(self.source, f"routines.{self.routine}.{key}", f"expected an integer >= 1, got {value}")
        return int(value)


def node_platforms() -> dict[str, str]:
    """``{node: platform}`` for every setup file in ``station_configs/nodes`` that parses; broken files are left out
    (they are reported when someone asks for that node).

    Drivers ask this each time a device is looked up (once per node per ``qlab-os run`` round), so each file is parsed
    once per content: the cache key is the file's path, size and modification time.
    """
    found: dict[str, str] = {}
    for path in sorted(NODES_DIR.glob("*.yaml")):
        try:
            stat = path.stat()
        except OSError:
            continue
        platform = _platform_of(path, stat.st_size, stat.st_mtime_ns)
        if platform is not None:
            found[path.stem] = platform
    return found


@lru_cache(maxsize=256)
def _platform_of(path: Path, size: int, mtime_ns: int) -> str | None:
    del size, mtime_ns  # only the cache key
    try:
        return load_node(path).platform
    except ConfigError:
        return None


def find_node_file(node: str) -> Path:
    """``node`` as a path to a setup file, or the name of one in ``station_configs/nodes``."""
    candidate = Path(node)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = NODES_DIR / f"{node}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in NODES_DIR.glob("*.yaml"))) or "none"
        raise ConfigError(str(path), "(file)", f"no node setup file for node {node!r}; known nodes: {known}")
    return path


def load_node(path: Path) -> NodeSetup:
    """Parse and check a node setup file; errors name the file and the key."""
    source = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except OSError as exc:
        raise ConfigError(source, "(file)", f"cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "(file)", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "expected a mapping")
    reject_unknown(data, _KEYS, source, "")
    node = require(data, "node", str, source, "node")
    platform = require(data, "platform", str, source, "platform")
    station = path.parent / require(data, "station", str, source, "station")
    instruments = require(data, "instruments", dict, source, "instruments")
    for role, name in instruments.items():
        if not isinstance(name, str):
            raise ConfigError(source, f"instruments.{role}", f"expected a station instrument name, got {name!r}")
    prepare = data.get("prepare") or {}
    if not isinstance(prepare, dict):
        raise ConfigError(source, "prepare", "expected a mapping of instrument.parameter: value")
    timing_raw = data.get("timing") or {}
    if not isinstance(timing_raw, dict):
        raise ConfigError(source, "timing", "expected a mapping of name_s: seconds")
    timing = {str(k): number(v, source, f"timing.{k}") for k, v in timing_raw.items()}
    routines = data.get("routines") or {}
    if not isinstance(routines, dict) or not all(isinstance(v, dict) for v in routines.values()):
        raise ConfigError(source, "routines", "expected a mapping of routine name -> settings mapping")
    entanglement = data.get("entanglement") or {}
    if not isinstance(entanglement, dict):
        raise ConfigError(source, "entanglement", "expected a mapping of heralding station -> settings mapping")
    return NodeSetup(
        path=path,
        node=node,
        platform=platform,
        station_file=station.resolve(),
        instruments=dict(instruments),
        prepare=dict(prepare),
        awg=_awg(require(data, "awg", dict, source, "awg"), source),
        timing=timing,
        routines={str(k): dict(v) for k, v in routines.items()},
        entanglement={str(k): v for k, v in entanglement.items()},
    )


def _awg(data: dict[str, Any], source: str) -> AWGWiring:
    reject_unknown(data, _AWG_KEYS, source, "awg.")
    iq = require(data, "iq_channels", list, source, "awg.iq_channels")
    if len(iq) != 2 or not all(isinstance(c, int) and 1 <= c <= 4 for c in iq) or iq[0] == iq[1]:
        raise ConfigError(source, "awg.iq_channels", f"expected two different AWG channels of 1..4, got {iq!r}")
    markers = require(data, "markers", dict, source, "awg.markers")
    for function, marker in markers.items():
        if not (isinstance(marker, str) and len(marker) == 3 and marker[0] in "1234" and marker[1:] in (".1", ".2")):
            raise ConfigError(source, f"awg.markers.{function}", f"expected '<channel>.<1|2>', got {marker!r}")
    return AWGWiring(
        sample_rate_hz=number(
            require(data, "sample_rate_hz", (int, float), source, "awg.sample_rate_hz"), source, "awg.sample_rate_hz"
        ),
        amplitude_vpp=number(
            require(data, "amplitude_vpp", (int, float), source, "awg.amplitude_vpp"), source, "awg.amplitude_vpp"
        ),
        iq_channels=(iq[0], iq[1]),
        markers={str(k): v for k, v in markers.items()},
    )
