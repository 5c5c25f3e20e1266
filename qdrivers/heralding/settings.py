"""The entanglement settings of a node setup file: per heralding station, which station file, which AWG marker
emits towards it, and the operating choice alpha.

They live under ``entanglement`` of ``station_configs/nodes/<node>.yaml``::

    entanglement:
      nv_link:                                  # the heralding station (lab and link name)
        station: ../heralding_station.sim.yaml  # its QCoDeS station, relative to the node setup file
        emit_marker: "emit:nv_link"             # the awg.markers entry of the optical excitation towards it
        alpha: 0.1                              # bright-state population sqrt(alpha)|0> + sqrt(1-alpha)|1>

alpha trades rate for fidelity (herald probability ~ 2 alpha eta, fidelity ~ 1 - alpha; Humphreys 2018, Hermans
2022): an operating choice of the link, not a calibrated constant. The attempt element's timings are in ``timing``
(``attempt_s`` the whole repetition, ``emit_s`` the excitation, plus the platform's reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qlab_os.config_checks import number
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.node import NodeSetup

__all__ = ["EntSettings", "entanglement_settings"]

_KEYS = {"station", "emit_marker", "alpha"}


@dataclass(frozen=True)
class EntSettings:
    """How a node entangles through one heralding station."""

    station: str
    station_file: Path
    emit_marker: str
    """The AWG marker ("<channel>.<marker>") of the optical excitation towards the station."""
    alpha: float


def entanglement_settings(setup: NodeSetup) -> dict[str, EntSettings]:
    """The node's settings per heralding station (empty when the node setup has none)."""
    source = str(setup.path)
    raw = setup.entanglement
    out = {}
    for station, entry in raw.items():
        key = f"entanglement.{station}"
        if not isinstance(entry, dict):
            raise ConfigError(source, key, "expected a mapping with station, emit_marker and alpha")
        unknown = set(entry) - _KEYS
        missing = _KEYS - set(entry)
        if unknown or missing:
            raise ConfigError(source, key, f"expected the keys {sorted(_KEYS)}; unknown {sorted(unknown)}, "
                                           f"missing {sorted(missing)}")
        alpha = number(entry["alpha"], source, f"{key}.alpha")
        if not 0.0 < alpha < 1.0:
            raise ConfigError(source, f"{key}.alpha", f"expected a bright-state population in (0, 1), got {alpha}")
        if not isinstance(entry["station"], str) or not isinstance(entry["emit_marker"], str):
            raise ConfigError(source, key, "station and emit_marker must be strings")
        marker = setup.awg.marker(entry["emit_marker"], source)
        out[str(station)] = EntSettings(str(station), (setup.path.parent / entry["station"]).resolve(), marker, alpha)
    return out
