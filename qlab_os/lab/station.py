"""A QCoDeS station that connects from a checked station file and always leaves its instruments safe.

:func:`connect_station` reads a station YAML (:mod:`qlab_os.lab.station_config`), connects every instrument in file
order, checks and applies its ``parameters``, and returns a :class:`QlabStation`, a :class:`qcodes.Station` with a
safe state:

- :meth:`QlabStation.safe_state` calls every instrument's own ``safe_state()`` (outputs off, lasers off, AWG
  stopped, counters idle), goes on past failures and reports them per instrument;
- it is applied when the station closes: leaving a ``with`` block (normally, on an error or on Ctrl-C), on
  :meth:`QlabStation.close`, and at interpreter exit (``atexit``) for a station never closed. Closing twice is
  harmless;
- when connecting fails, the instruments already connected are put in safe state and closed before the error is
  raised.

Several nodes in one process: QCoDeS names instruments uniquely per process, and a station file names them by role
(``awg``, ``mw_source``, ...), so two nodes' stations would fight over the names (with forced reconnect, opening the
second closes the first's instruments). A station opened for a node (``connect_station(path, node="nv_b")``) names
its instruments ``<node>_<key>`` (``nv_b_awg``) while its components, and so every role lookup
(``station.components["awg"]``, :attr:`QlabStation.instruments`), stay the file's keys.

Failures while talking to an instrument become the specific errors of :mod:`qlab_os.lab.errors`, which name the
instrument. qcodes' Station has no safe state, no validation beyond a warning and no error naming; it is used
for everything else (components, snapshot).
"""

from __future__ import annotations

import atexit
import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from qcodes.instrument import Instrument, InstrumentBase
from qcodes.parameters import ParameterBase
from qcodes.station import PARAMETER_ATTRIBUTES, Station
from qcodes.station import StationConfig as QcodesStationConfig
from qcodes.validators import Numbers

from qlab_os.errors import ConfigError
from qlab_os.lab.errors import InstrumentError, SafeStateError, classify
from qlab_os.lab.station_config import InstrumentConfig, StationConfig, load_station_config

log = logging.getLogger(__name__)


@dataclass
class SafeStateReport:
    """What :meth:`QlabStation.safe_state` did, per instrument."""

    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def raise_if_failed(self) -> None:
        if self.failed:
            raise SafeStateError(self.failed)

    def as_dict(self) -> dict[str, Any]:
        return {"applied": list(self.applied), "failed": dict(self.failed), "skipped": dict(self.skipped)}


class QlabStation(Station):
    """A qcodes Station built from a checked station file, with a safe state applied on exit. See the module."""

    def __init__(self, config: StationConfig, *, default: bool = True, node: str | None = None) -> None:
        if node is not None and not node.isidentifier():
            raise ConfigError(config.source, "(node)", f"node name {node!r} cannot prefix instrument names: "
                              "use letters, digits and underscores, not starting with a digit")
        super().__init__(default=default, update_snapshot=False)
        self.station_config = config
        self.node = node
        """The node this station belongs to; its instruments are named ``<node>_<key>`` (None: ``<key>``)."""
        self.config = QcodesStationConfig(config.raw)  # qcodes puts it in the station snapshot
        self.last_safe_state: SafeStateReport | None = None
        self._closed = False
        atexit.register(self._close_at_exit)

    def connect_all(self) -> None:
        """Connect the file's instruments in order and apply their ``parameters``; on any failure, close the
        station (safe state for those connected, see :attr:`last_safe_state`) and raise the failure."""
        try:
            for cfg in self.station_config.instruments.values():
                instrument = _connect(cfg, self.instrument_name(cfg.name))
                self.add_component(instrument, name=cfg.name, update_snapshot=False)
                _apply_parameters(instrument, cfg, self.station_config.source)
        except BaseException:
            self.close()
            raise
        # Exit hooks run last-registered first, and pyvisa registers one per resource manager that closes its
        # sessions: registering again now puts the station's hook before those of its instruments' managers.
        atexit.unregister(self._close_at_exit)
        atexit.register(self._close_at_exit)

    def instrument_name(self, key: str) -> str:
        """The QCoDeS name of the instrument under ``key`` in the station file: ``<node>_<key>``, or ``key``."""
        return key if self.node is None else f"{self.node}_{key}"

    @property
    def instruments(self) -> dict[str, Instrument]:
        """The connected instruments by station-file key (their role), in file order."""
        return {name: c for name, c in self.components.items() if isinstance(c, Instrument)}

    def close_all_registered_instruments(self) -> None:
        """Close and remove every instrument (qcodes' own looks components up by instrument name, which differs
        from the component key when the station belongs to a node)."""
        for key, instrument in self.instruments.items():
            self.remove_component(key)
            instrument.close()

    def read_parameters(self) -> dict[str, str]:
        """Read every parameter a snapshot reads (gettable, ``snapshot_get``), so that the next
        ``snapshot(update=False)`` holds fresh values. qcodes' own ``snapshot(update=True)`` logs and hides
        failures; this returns them: ``"<instrument>.<parameter>"`` -> the classified error."""
        failures: dict[str, str] = {}
        for instrument in self.instruments.values():
            for parameter in _snapshot_parameters(instrument):
                try:
                    parameter.get()
                except Exception as exc:
                    error = classify(instrument.name, _address(instrument), exc)
                    failures[parameter.full_name] = f"{error.kind}: {error.reason}"
        return failures

    def safe_state(self) -> SafeStateReport:
        """Put every instrument in its safe state; never raises, reports each failure (and logs it)."""
        report = SafeStateReport()
        for name, instrument in self.instruments.items():
            cfg = self.station_config.instruments.get(name)
            if cfg is not None and cfg.skip_safe_state:
                report.skipped[name] = cfg.skip_safe_state
                continue
            apply = getattr(instrument, "safe_state", None)
            if not callable(apply):
                report.failed[name] = f"{type(instrument).__name__} declares no safe_state()"
                continue
            try:
                apply()
            except Exception as exc:  # go on with the others; report what failed
                report.failed[name] = str(classify(instrument.name, _address(instrument), exc))
            else:
                report.applied.append(name)
        for name, reason in report.failed.items():
            log.error("safe state of %s failed: %s", name, reason)
        self.last_safe_state = report
        return report

    def close(self) -> SafeStateReport | None:
        """Apply the safe state, then close every instrument. Only the first call does anything."""
        if self._closed:
            return None
        self._closed = True
        atexit.unregister(self._close_at_exit)
        try:
            return self.safe_state()
        finally:
            self.close_all_registered_instruments()
            if Station.default is self:
                Station.default = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> QlabStation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _close_at_exit(self) -> None:
        report = self.close()
        if report is not None and not report.ok:
            log.error("%s", SafeStateError(report.failed))


def connect_station(
    config: str | Path | StationConfig, *, default: bool = True, node: str | None = None
) -> QlabStation:
    """Read a station file (unless given a checked one), connect every instrument and apply its ``parameters``.

    With ``node``, the instruments are named ``<node>_<key>`` so that several nodes' stations (two NV nodes from
    the same kind of file, or an NV and an ion node that both have an ``awg``) are open in one process; the
    station's components keep the file's keys.

    Raises:
        ConfigError: the file, an instrument entry, a parameter name or value is wrong (names file, key, reason).
        InstrumentError: an instrument failed (a subclass says how); the instruments connected before are left
            in safe state and closed.
    """
    if not isinstance(config, StationConfig):
        config = load_station_config(config)
    station = QlabStation(config, default=default, node=node)
    station.connect_all()
    return station


def _connect(cfg: InstrumentConfig, name: str) -> Instrument:
    if cfg.forced_reconnect and Instrument.exist(name):
        Instrument.find_instrument(name).close()
    elif Instrument.exist(name):
        raise InstrumentError(
            name,
            cfg.address,
            "an instrument of this name is already open in this process "
            "(close it, or set enable_forced_reconnect: true)",
        )
    kwargs = dict(cfg.init)
    if cfg.address is not None:
        kwargs["address"] = cfg.address
    if cfg.port is not None:
        kwargs["port"] = cfg.port
    try:
        return cfg.cls(name=name, **kwargs)
    except Exception as exc:
        raise classify(name, cfg.address, exc) from exc


def _apply_parameters(instrument: Instrument, cfg: InstrumentConfig, source: str) -> None:
    """Check every parameter entry (name, options, value) first, then set them in file order."""
    resolved = [(name, _resolve(instrument, name, cfg, source), options) for name, options in cfg.parameters.items()]
    for name, parameter, options in resolved:
        if "initial_value" in options:
            if not parameter.settable:
                raise ConfigError(source, cfg.key("parameters", name, "initial_value"), "the parameter is read-only")
            try:
                parameter.validate(options["initial_value"])
            except (ValueError, TypeError) as exc:
                reason = str(exc.args[0]) if exc.args else str(exc)
                raise ConfigError(source, cfg.key("parameters", name, "initial_value"), reason) from None
    for _name, parameter, options in resolved:
        for attr, value in options.items():
            if attr in PARAMETER_ATTRIBUTES:
                setattr(parameter, attr, value)
            elif attr == "limits":
                parameter.vals = Numbers(*value)
            elif attr == "alias":
                setattr(parameter.instrument, value, parameter)
        if "initial_value" in options:
            try:
                parameter.set(options["initial_value"])
            except Exception as exc:
                raise classify(instrument.name, cfg.address, exc) from exc


def _resolve(instrument: Instrument, dotted: str, cfg: InstrumentConfig, source: str) -> ParameterBase:
    node: InstrumentBase = instrument
    parts = dotted.split(".")
    for depth, part in enumerate(parts[:-1]):
        sub = node.submodules.get(part)
        if not isinstance(sub, InstrumentBase):
            known = ", ".join(sorted(n for n, m in node.submodules.items() if isinstance(m, InstrumentBase))) or "none"
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                source, cfg.key("parameters", dotted), f"{cfg.name} has no channel {where!r}; channels: {known}"
            )
        node = sub
    parameter = node.parameters.get(parts[-1])
    if parameter is None:
        close = difflib.get_close_matches(parts[-1], list(node.parameters), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(node.parameters))}"
        raise ConfigError(
            source, cfg.key("parameters", dotted), f"{node.full_name} has no parameter {parts[-1]!r}{hint}"
        )
    return parameter


def _snapshot_parameters(node: InstrumentBase) -> list[ParameterBase]:
    found = [
        p
        for p in node.parameters.values()
        if p.gettable and p._snapshot_get and p.snapshot_value and not p.snapshot_exclude
    ]
    for sub in node.submodules.values():
        if isinstance(sub, InstrumentBase):
            found.extend(_snapshot_parameters(sub))
    return found


def _address(instrument: Instrument) -> str | None:
    address = getattr(instrument, "address", None)
    return address if isinstance(address, str) else None
