"""The routine framework: a registry of calibration routines by platform, the context they run in, and the runner.

A routine is a station script: a function of a :class:`Context` that talks to instruments only through their QCoDeS
drivers (``ctx.instrument("awg")``), so it runs unchanged on hardware. It returns a :class:`RoutineResult` (the
calibrated values with their fit errors, the dataset run id, the plot); :func:`run_routine` checks the routine's
prerequisites in the calibration file first, applies the node's ``prepare`` settings, runs it, and writes its values
to the calibration file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qcodes.station import Station
from tqdm import tqdm

from qlab_os.errors import ConfigError, QlabOSError
from qlab_os.lab.calibrate.calfile import CalibratedValue, CalibrationFile
from qlab_os.lab.calibrate.node import NodeSetup, RoutineSettings


class CalibrationError(QlabOSError):
    """A calibration routine could not run or its data do not say what it measures."""


class UnknownRoutineError(CalibrationError):
    """No routine of that name for the node's platform; the message lists the known ones."""


@dataclass(frozen=True)
class RoutineResult:
    """What a routine measured: values (name -> value, error, unit), its dataset run id, its plot, a summary."""

    values: dict[str, CalibratedValue]
    run_id: int
    plot: Path
    summary: str


class Context:
    """What a routine may use: the node setup, the station's instruments by role, the calibration file, options."""

    def __init__(
        self,
        setup: NodeSetup,
        station: Station,
        calibration: CalibrationFile,
        plot_dir: Path,
        shots: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        self.setup = setup
        self.station = station
        self.calibration = calibration
        self.plot_dir = plot_dir
        self._shots = shots
        self.show_progress = show_progress
        self.routine_name = ""

    @property
    def node(self) -> str:
        return self.setup.node

    def instrument(self, role: str) -> Any:
        """The station instrument that plays ``role`` (see the node setup file's ``instruments``)."""
        name = self.setup.instrument_name(role)
        try:
            return self.station.components[name]
        except KeyError:
            raise ConfigError(
                str(self.setup.path),
                f"instruments.{role}",
                f"the station {self.setup.station_file} has no instrument {name!r} loaded",
            ) from None

    def settings(self) -> RoutineSettings:
        """This routine's entry under ``routines`` in the node setup file."""
        return self.setup.routine(self.routine_name)

    def shots(self, default: int) -> int:
        """Shots per point: ``--shots`` if given, else the node setup's ``shots`` for the routine, else ``default``."""
        if self._shots is not None:
            return self._shots
        return self.settings().integer("shots", default)

    def require(self, key: str, produced_by: str) -> float:
        """A value an earlier routine wrote to the calibration file (a clear error names that routine)."""
        return self.calibration.require(key, self.routine_name, produced_by).value

    def optional(self, key: str) -> float | None:
        found = self.calibration.get(key)
        return None if found is None else found.value

    @contextmanager
    def progress(self, total: int, unit: str = "point") -> Iterator[tqdm[Any]]:
        """A tqdm progress bar on stderr (shown on a terminal, or always when asked)."""
        disable = None if self.show_progress is None else not self.show_progress
        with tqdm(
            total=total,
            desc=f"{self.node} {self.routine_name}",
            unit=unit,
            file=sys.stderr,
            leave=False,
            disable=disable,
        ) as bar:
            yield bar

    def plot_path(self) -> Path:
        return self.plot_dir / f"{self.node}_{self.routine_name}.png"

    def apply_prepare(self) -> None:
        """Apply the node setup's ``prepare`` settings (``instrument.parameter: value``) in order."""
        for dotted, value in self.setup.prepare.items():
            parts = str(dotted).split(".")
            if len(parts) < 2:
                raise ConfigError(str(self.setup.path), f"prepare.{dotted}", "expected instrument.parameter")
            try:
                target: Any = self.station.components[parts[0]]
                for part in parts[1:]:
                    target = getattr(target, part)
            except (KeyError, AttributeError):
                raise ConfigError(
                    str(self.setup.path), f"prepare.{dotted}", "no such instrument parameter in the station"
                ) from None
            target(value)


RoutineFunction = Callable[[Context], RoutineResult]


@dataclass(frozen=True)
class Routine:
    """A registered routine: its platform, name, function, one-line description and prerequisites.

    ``needs`` lists (calibration key, routine that writes it); they are checked before any instrument is touched.
    """

    platform: str
    name: str
    function: RoutineFunction
    description: str
    needs: tuple[tuple[str, str], ...]


_REGISTRY: dict[str, dict[str, Routine]] = {}


def register(
    platform: str, name: str, description: str, needs: Sequence[tuple[str, str]] = ()
) -> Callable[[RoutineFunction], RoutineFunction]:
    """Decorator: register ``function`` as routine ``name`` of ``platform`` (registration order = ``all`` order)."""

    def decorate(function: RoutineFunction) -> RoutineFunction:
        routines = _REGISTRY.setdefault(platform, {})
        if name in routines:
            raise ValueError(f"routine {name!r} of platform {platform!r} is registered twice")
        routines[name] = Routine(platform, name, function, description, tuple(needs))
        return function

    return decorate


def routines_for(platform: str) -> list[Routine]:
    """The routines of ``platform``, in the order ``all`` runs them."""
    _load_builtin_routines()
    if platform not in _REGISTRY:
        raise UnknownRoutineError(f"no calibration routines for platform {platform!r}; known: {', '.join(_REGISTRY)}")
    return list(_REGISTRY[platform].values())


def get_routine(platform: str, name: str) -> Routine:
    for routine in routines_for(platform):
        if routine.name == name:
            return routine
    known = ", ".join(r.name for r in routines_for(platform))
    raise UnknownRoutineError(f"no calibration routine {name!r} for platform {platform!r}; known: {known}, all")


def run_routine(ctx: Context, routine: Routine) -> RoutineResult:
    """Check prerequisites, apply ``prepare``, run ``routine`` and write its values to the calibration file."""
    ctx.routine_name = routine.name
    for key, produced_by in routine.needs:
        ctx.calibration.require(key, routine.name, produced_by)
    ctx.apply_prepare()
    result = routine.function(ctx)
    ctx.calibration.update(result.values, routine.name, result.run_id)
    return result


def _load_builtin_routines() -> None:
    """Import the modules whose decorators register the NV and ion routines (ion chain after the single ion)."""
    from qlab_os.lab.calibrate import ion, ion_chain, nv  # noqa: F401
