"""The simulated lab: one physics world, its nodes, and the VISA devices that answer from them.

A lab YAML is a PyVISA-sim file (``resources``, ``devices``) with one extra top-level key, ``lab``::

    lab:
      physics: physics.yaml      # constants from the literature (docs/physics.md)
      seed: 1
      nodes:
        nv_a: {platform: nv, wiring: {...}}
    resources:
      "TCPIP0::192.168.10.11::inst0::INSTR":
        device: SGS100A
        filename: "qcodes.instrument.sims:RSSGS100A.yaml"
        lab: {node: nv_a, role: mw_source}

Device definitions stay PyVISA-sim's (qcodes' own sims or ours in ``sim_instruments/visa``): they answer every
command statically. A resource with a ``lab`` entry is bound to an instrument model
(:mod:`sim_instruments.lab.models`) that answers the commands whose replies depend on physics (counts, heralds) and
acts on the ones that change it (AWG triggers). All qubits of all nodes live in one
:class:`~sim_instruments.physics.world.QuantumWorld`, so heralded pairs across nodes are one state.

Labs are shared per absolute path (:func:`get_lab`), as pyvisa shares its library instances, so every instrument of
a station, and every station of a network, sees the same physics.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pyvisa import rname
from pyvisa_sim import parser
from pyvisa_sim.devices import Device, Devices

from sim_instruments.lab.faults import Fault, FaultTable
from sim_instruments.lab.heralding import HeraldingStation, attach_station, bind_tagger
from sim_instruments.lab.models import InstrumentModel, build_model
from sim_instruments.lab.platforms import LabNode, build_node
from sim_instruments.lab.resolve import LabConfigError, resolve_path
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

DEFAULT_LAB = "sim_instruments.lab:lab.yaml"


class SimulatedLab:
    """Everything behind one lab YAML: world, nodes, heralding stations, devices, models and faults."""

    def __init__(self, path: Path, seed: int | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.faults = FaultTable()
        raw = _load_yaml(path)
        lab = _mapping(raw.get("lab"), f"{path}: lab")
        physics_path = resolve_path(_str(lab.get("physics"), f"{path}: lab.physics"), path.parent)
        physics = _mapping(_load_yaml(physics_path), str(physics_path))
        self.seed = int(seed if seed is not None else lab.get("seed", 0))
        self.world = QuantumWorld(make_rng(self.seed))
        nodes = _mapping(lab.get("nodes"), f"{path}: lab.nodes")
        self.stations: dict[str, HeraldingStation] = {}
        self.nodes: dict[str, LabNode] = {
            name: build_node(name, _mapping(cfg, f"{path}: lab.nodes.{name}"), physics, self.world, f"{path}")
            for name, cfg in nodes.items()
        }
        heralding = _mapping(lab.get("heralding", {}), f"{path}: lab.heralding")
        heralding_physics = _mapping(physics.get("heralding"), f"{physics_path}: heralding")
        for name, cfg in heralding.items():
            where = f"{path}: lab.heralding.{name}"
            attach_station(name, _mapping(cfg, where), heralding_physics, self, where)
        self.devices, self.models = self._build_devices(path, raw)
        self._aliases = {f"{m.owner}.{m.role}": r for r, m in self.models.items()}

    # -- faults -------------------------------------------------------------------------------------------------
    def resource_of(self, name: str) -> str:
        """Canonical resource name of ``name``: a VISA address, or ``node.role`` (e.g. ``nv_a.awg``)."""
        if name in self._aliases:
            return self._aliases[name]
        try:
            canonical = rname.to_canonical_name(name)
        except rname.InvalidResourceName:
            canonical = name
        if canonical not in self.devices.list_resources():
            known = ", ".join(sorted(self._aliases))
            raise KeyError(f"the lab {self.path.name} has no instrument {name!r}; known: {known}")
        return canonical

    def inject(self, name: str, fault: Fault | str) -> None:
        """Make the instrument ``name`` (address or ``node.role``) misbehave until :meth:`clear_faults`."""
        self.faults.inject(self.resource_of(name), Fault(fault))

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(None if name is None else self.resource_of(name))

    def node(self, name: str) -> LabNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"the lab {self.path.name} has no node {name!r}; known: {', '.join(self.nodes)}") from None

    def model_of(self, resource_name: str) -> InstrumentModel | None:
        return self.models.get(resource_name)

    # -- construction -------------------------------------------------------------------------------------------
    def _build_devices(self, path: Path, raw: Mapping[str, Any]) -> tuple[Devices, dict[str, InstrumentModel]]:
        loader = parser.Loader(str(path), False)
        devices = Devices()
        models: dict[str, InstrumentModel] = {}
        resources = _mapping(raw.get("resources"), f"{path}: resources")
        for resource_name, entry in resources.items():
            where = f"{path}: resources.{resource_name}"
            entry = _mapping(entry, where)
            device_name = _str(entry.get("device"), f"{where}.device")
            filename = entry.get("filename")
            device_file = None
            if filename is not None:
                device_file = str(resolve_path(_str(filename, f"{where}.filename"), path.parent))
            try:
                definition = loader.get_device_dict(device_name, device_file, False, parser.SPEC_VERSION_TUPLE[0])
            except KeyError:
                raise LabConfigError(f"{where}.device: no device {device_name!r} in {device_file or path}") from None
            canonical = rname.to_canonical_name(resource_name)
            device: Device = parser.get_device(device_name, definition, loader, dict(entry))
            devices.add_device(canonical, device)
            binding = entry.get("lab")
            if binding is not None:
                binding = _mapping(binding, f"{where}.lab")
                role = _str(binding.get("role"), f"{where}.lab.role")
                if "station" in binding:  # an instrument of a heralding station, not of a node
                    model = build_model(role, None, device, canonical, binding, where)
                    bind_tagger(model, self)
                else:
                    node = self.node(_str(binding.get("node"), f"{where}.lab.node"))
                    model = build_model(role, node, device, canonical, binding, where)
                    node.instruments[role] = model
                models[canonical] = model
        return devices, models


_LABS: dict[Path, SimulatedLab] = {}
_LABS_LOCK = threading.Lock()


def get_lab(spec: str | Path = DEFAULT_LAB) -> SimulatedLab:
    """The lab of ``spec`` (``pkg.mod:file.yaml`` or a path), created on first use and shared afterwards."""
    return lab_at(resolve_path(str(spec)))


def lab_at(path: Path) -> SimulatedLab:
    """The lab of an already resolved absolute path: the per-message lookup of the backend (no file system calls)."""
    lab = _LABS.get(path)
    if lab is not None:
        return lab
    with _LABS_LOCK:
        if path not in _LABS:
            _LABS[path] = SimulatedLab(path)
        return _LABS[path]


def reset_lab(spec: str | Path = DEFAULT_LAB, seed: int | None = None) -> SimulatedLab:
    """Start the lab of ``spec`` afresh (new world, instruments at power-on, no faults), optionally with a seed.

    Sessions opened before keep talking to the old devices; open instruments again after a reset.
    """
    path = resolve_path(str(spec))
    with _LABS_LOCK:
        _LABS[path] = SimulatedLab(path, seed)
        return _LABS[path]


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise LabConfigError(f"{path}: not valid YAML: {exc}") from exc


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LabConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise LabConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return value
