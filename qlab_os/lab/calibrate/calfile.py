"""A node's calibration file: the values calibration routines measured, which the QDrivers read.

YAML, one entry per calibrated quantity under ``parameters``, each with the value, its fit error, its unit, the
routine and dataset run that measured it and when::

    node: nv_a
    platform: nv
    parameters:
      transition_frequency_hz:
        value: 2877880123.0
        error: 1500.0
        unit: Hz
        routine: odmr
        run_id: 3
        timestamp: "2026-11-24T10:12:03+00:00"

An update rewrites only the entries a routine measured and keeps every other one (other routines' results and any
keys a person added). The file is written to a temporary name and renamed, so an interrupted write never leaves half
a file.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qlab_os.errors import ConfigError, QlabOSError


class MissingCalibrationError(QlabOSError):
    """A routine needs a value that an earlier routine has not written to the calibration file yet."""


@dataclass(frozen=True)
class CalibratedValue:
    """One measured quantity: value and 1-sigma error in ``unit``."""

    value: float
    error: float
    unit: str


class CalibrationFile:
    """Read and update one node's calibration YAML (see the module docstring)."""

    def __init__(self, path: Path, node: str, platform: str) -> None:
        self.path = path
        self.node = node
        self.platform = platform

    def load(self) -> dict[str, Any]:
        """The whole file as a mapping (an empty skeleton when it does not exist yet)."""
        if not self.path.exists():
            return {"node": self.node, "platform": self.platform, "parameters": {}}
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(str(self.path), "(file)", f"cannot read the calibration file: {exc}") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(str(self.path), "(top level)", "expected a mapping")
        if data.get("node", self.node) != self.node:
            raise ConfigError(str(self.path), "node", f"the file belongs to node {data['node']!r}, not {self.node!r}")
        parameters = data.setdefault("parameters", {})
        if not isinstance(parameters, dict):
            raise ConfigError(str(self.path), "parameters", "expected a mapping of name -> {value, error, unit, ...}")
        data.setdefault("node", self.node)
        data.setdefault("platform", self.platform)
        return data

    def get(self, key: str) -> CalibratedValue | None:
        entry = self.load()["parameters"].get(key)
        if entry is None:
            return None
        if not isinstance(entry, dict) or "value" not in entry:
            raise ConfigError(str(self.path), f"parameters.{key}", "expected a mapping with 'value'")
        try:
            value = float(entry["value"])
            error = float(entry.get("error", math.nan))
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(self.path), f"parameters.{key}", f"not a number: {exc}") from exc
        return CalibratedValue(value, error, str(entry.get("unit", "")))

    def require(self, key: str, routine: str, produced_by: str) -> CalibratedValue:
        """``key``, or a :class:`MissingCalibrationError` saying which routine to run first."""
        found = self.get(key)
        if found is None:
            raise MissingCalibrationError(
                f"routine {routine!r} needs {key!r}, which routine {produced_by!r} writes, but {self.path} has no "
                f"such entry; run `qlab-os calibrate {self.node} {produced_by}` first"
            )
        return found

    def update(self, values: Mapping[str, CalibratedValue], routine: str, run_id: int) -> None:
        """Write ``values`` (measured by ``routine`` in dataset ``run_id``), keeping every other entry."""
        data = self.load()
        timestamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        for key, measured in values.items():
            data["parameters"][key] = {
                "value": float(measured.value),
                "error": float(measured.error),
                "unit": measured.unit,
                "routine": routine,
                "run_id": int(run_id),
                "timestamp": timestamp,
            }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        os.replace(tmp, self.path)
