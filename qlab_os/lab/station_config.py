"""Read and check a QCoDeS Station YAML before any instrument is touched.

The file is plain QCoDeS (``instruments: {name: {type, address, init, parameters, enable_forced_reconnect}}``).
qcodes itself checks it against its station schema but only warns, and fails later with a bare ImportError or
KeyError; here every problem is a :class:`~qlab_os.errors.ConfigError` naming the file, the key and the reason:

- the YAML itself (with its line), and qcodes' own station schema (unknown keys, wrong types);
- ``type``: importable, and an instrument class;
- ``address``: present for VISA instruments, and a valid VISA resource name;
- ``init``: only arguments the driver accepts;
- ``init.metadata.skip_safe_state``: a reason (a string) to leave the instrument out of the station's safe state.

Parameter names and values need the driver's instance; :mod:`qlab_os.lab.station` checks them after connecting.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import yaml
from pyvisa import rname
from qcodes.instrument import Instrument, InstrumentBaseKWArgs, VisaInstrument
from qcodes.station import SCHEMA_TEMPLATE_PATH

from qlab_os.errors import ConfigError

SKIP_SAFE_STATE: Final = "skip_safe_state"
"""``init.metadata`` key: why this instrument keeps its state when the station goes to safe state."""

_UNSUPPORTED: Final = {
    "add_parameters": "qlab-os stations do not add parameters; put derived values in the QDriver's calibration",
    "monitor": "the QCoDeS monitor (a websocket server) is not started by qlab-os stations",
    "driver": "deprecated by QCoDeS; write the full dotted class path in 'type'",
}


@dataclass(frozen=True)
class InstrumentConfig:
    """One checked instrument entry of a station file."""

    name: str
    type_path: str
    cls: type[Instrument]
    address: str | None
    init: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    forced_reconnect: bool
    skip_safe_state: str | None = None
    port: int | None = None

    def key(self, *parts: str) -> str:
        """Dotted key of this entry in the file, for error messages: ``instruments.<name>.<parts>``."""
        return ".".join(("instruments", self.name, *parts))


@dataclass(frozen=True)
class StationConfig:
    """A checked station file: its path, raw content and instruments in file order."""

    path: Path
    raw: dict[str, Any]
    instruments: dict[str, InstrumentConfig] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.path)


def load_station_config(path: str | Path) -> StationConfig:
    """Read and check a station YAML; raises :class:`ConfigError` naming the file, the key and the reason."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "file", f"cannot read it: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, where, f"not valid YAML: {problem}") from None
    if not isinstance(raw, dict) or "instruments" not in raw:
        raise ConfigError(source, "instruments", "missing: a station file is a mapping with an 'instruments' key")
    if not isinstance(raw["instruments"], dict) or not raw["instruments"]:
        raise ConfigError(source, "instruments", f"expected a mapping of instruments, got {raw['instruments']!r}")
    _check_schema(raw, source)
    instruments = {name: _instrument(str(name), entry, source) for name, entry in raw["instruments"].items()}
    return StationConfig(path=path, raw=raw, instruments=instruments)


def _check_schema(raw: dict[str, Any], source: str) -> None:
    """qcodes' station schema, as an error (qcodes only warns); the first error in file order is reported."""
    for name, entry in raw["instruments"].items():
        if isinstance(entry, dict):
            for key, reason in _UNSUPPORTED.items():
                if key in entry:
                    raise ConfigError(source, f"instruments.{name}.{key}", f"not supported: {reason}")
            for pname, options in (entry.get("parameters") or {}).items():
                if isinstance(options, dict) and "monitor" in options:
                    raise ConfigError(
                        source,
                        f"instruments.{name}.parameters.{pname}.monitor",
                        f"not supported: {_UNSUPPORTED['monitor']}",
                    )
    with open(SCHEMA_TEMPLATE_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(raw), key=lambda e: [str(p) for p in e.path])
    if errors:
        error = errors[0]
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(source, key, error.message)


def _instrument(name: str, entry: dict[str, Any], source: str) -> InstrumentConfig:
    where = f"instruments.{name}"
    cls = _import_class(entry["type"], source, f"{where}.type")
    init = dict(entry.get("init") or {})
    for reserved in ("name", "address"):
        if reserved in init:
            raise ConfigError(
                source, f"{where}.init.{reserved}", f"set '{reserved}' at the instrument level, not in init"
            )
    allowed = _init_arguments(cls)
    if allowed is not None:
        for key in init:
            if key not in allowed:
                raise ConfigError(
                    source,
                    f"{where}.init.{key}",
                    f"{cls.__name__} takes no argument {key!r}; it takes: {', '.join(sorted(allowed))}",
                )
    if "visalib" in init and "pyvisa_sim_file" in init:
        raise ConfigError(source, f"{where}.init", "give either visalib or pyvisa_sim_file, not both")
    address = entry.get("address")
    if issubclass(cls, VisaInstrument):
        if address is None:
            raise ConfigError(source, f"{where}.address", f"missing: {cls.__name__} is a VISA instrument")
        try:
            rname.parse_resource_name(address)
        except rname.InvalidResourceName as exc:
            raise ConfigError(source, f"{where}.address", f"not a VISA resource name: {exc}") from None
    return InstrumentConfig(
        name=name,
        type_path=entry["type"],
        cls=cls,
        address=address,
        init=init,
        parameters={str(k): dict(v) for k, v in (entry.get("parameters") or {}).items()},
        forced_reconnect=bool(entry.get("enable_forced_reconnect", False)),
        skip_safe_state=_skip_reason(init, source, where),
        port=entry.get("port"),
    )


def _import_class(type_path: str, source: str, key: str) -> type[Instrument]:
    module_name, _, class_name = type_path.rpartition(".")
    if not module_name:
        raise ConfigError(source, key, f"{type_path!r} is not a full dotted path (package.module.Class)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            source, key, f"unknown instrument type {type_path!r}: cannot import {module_name!r} ({exc})"
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(source, key, f"unknown instrument type {type_path!r}: {module_name!r} has no {class_name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Instrument)):
        raise ConfigError(source, key, f"{type_path!r} is not a QCoDeS instrument class")
    return cls


def _init_arguments(cls: type[Instrument]) -> set[str] | None:
    """Keyword arguments ``cls`` accepts: its own and those its bases take through ``**kwargs``.

    Follows ``**kwargs`` up the class hierarchy to qcodes' instrument base (whose keyword arguments are typed);
    None when a class forwards ``**kwargs`` somewhere this cannot follow.
    """
    allowed: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())
        allowed.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if klass in (VisaInstrument, Instrument):
            allowed.update(InstrumentBaseKWArgs.__annotations__)
            return allowed - {"self", "name", "address"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return allowed - {"self", "name", "address"}
    return None


def _skip_reason(init: dict[str, Any], source: str, where: str) -> str | None:
    metadata = init.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ConfigError(source, f"{where}.init.metadata", f"expected a mapping, got {metadata!r}")
    reason = metadata.get(SKIP_SAFE_STATE)
    if reason is None:
        return None
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(
            source, f"{where}.init.metadata.{SKIP_SAFE_STATE}", f"expected the reason as text, got {reason!r}"
        )
    return reason.strip()
