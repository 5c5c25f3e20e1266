"""The entanglement settings of a node setup file: per heralding station, which station file, which AWG marker
emits towards it, the operating choice alpha, and the length of one attempt.

They live under ``entanglement`` of ``station_configs/nodes/<node>.yaml``::

    entanglement:
      nv_link:                                  # the heralding station (lab and link name)
        station: ../heralding_station.sim.yaml  # its QCoDeS station, relative to the node setup file
        emit_marker: "emit:nv_link"             # the awg.markers entry of the optical excitation towards it
        alpha: 0.1                              # bright-state population sqrt(alpha)|0> + sqrt(1-alpha)|1>
        attempt_s: 4.0e-6                       # one repetition of the attempt loop (optional: timing.attempt_s)

alpha trades rate for fidelity (herald probability ~ 2 alpha eta, fidelity ~ 1 - alpha; Humphreys 2018, Hermans
2022): an operating choice of the link, not a calibrated constant.

``attempt_s`` is per station because both ends of a link loop in lock-step (one trigger, one herald to both AWGs):
the repetition is the link's, as long as the slower end's element needs (an ion's 729 pulse and the AWG's minimum
waveform make it ~25 us, an NV's natural element is 4 us). Without it, ``timing.attempt_s`` is used. The network's
``attempt_duration_ns`` of the link must be the same length; the link controller checks it when both ends connect
(:meth:`qdrivers.heralding.link_controller.LinkController.register`). The rest of the element's timings are in
``timing`` (``emit_s`` the excitation, plus the platform's reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qlab_os.config_checks import number
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.node import NodeSetup

__all__ = ["EntSettings", "entanglement_settings"]

_REQUIRED = {"station", "emit_marker", "alpha"}
_OPTIONAL = {"attempt_s"}


@dataclass(frozen=True)
class EntSettings:
    """How a node entangles through one heralding station."""

    station: str
    station_file: Path
    emit_marker: str
    """The AWG marker ("<channel>.<marker>") of the optical excitation towards the station."""
    alpha: float
    attempt_s: float
    """One repetition of the attempt loop towards this station (s)."""
    source: str
    """The node setup file these settings come from."""
    attempt_key: str
    """The key that set :attr:`attempt_s` (``entanglement.<station>.attempt_s`` or ``timing.attempt_s``)."""


def entanglement_settings(setup: NodeSetup) -> dict[str, EntSettings]:
    """The node's settings per heralding station (empty when the node setup has none)."""
    source = str(setup.path)
    out = {}
    for station, entry in setup.entanglement.items():
        key = f"entanglement.{station}"
        if not isinstance(entry, dict):
            raise ConfigError(source, key, "expected a mapping with station, emit_marker and alpha (and attempt_s)")
        unknown = set(entry) - _REQUIRED - _OPTIONAL
        missing = _REQUIRED - set(entry)
        if unknown or missing:
            raise ConfigError(source, key, f"expected the keys {sorted(_REQUIRED)} (optional {sorted(_OPTIONAL)}); "
                                           f"unknown {sorted(unknown)}, missing {sorted(missing)}")
        alpha = number(entry["alpha"], source, f"{key}.alpha")
        if not 0.0 < alpha < 1.0:
            raise ConfigError(source, f"{key}.alpha", f"expected a bright-state population in (0, 1), got {alpha}")
        if not isinstance(entry["station"], str) or not isinstance(entry["emit_marker"], str):
            raise ConfigError(source, key, "station and emit_marker must be strings")
        if "attempt_s" in entry:
            attempt_key = f"{key}.attempt_s"
            attempt_s = number(entry["attempt_s"], source, attempt_key)
        elif "attempt_s" in setup.timing:
            attempt_key, attempt_s = "timing.attempt_s", setup.timing["attempt_s"]
        else:
            raise ConfigError(source, f"{key}.attempt_s", "missing: the length of one attempt towards this station "
                                                           "(or timing.attempt_s for every station)")
        if not attempt_s > 0.0:
            raise ConfigError(source, attempt_key, f"expected a duration > 0 s, got {attempt_s}")
        marker = setup.awg.marker(entry["emit_marker"], source)
        out[str(station)] = EntSettings(str(station), (setup.path.parent / entry["station"]).resolve(), marker, alpha,
                                        attempt_s, source, attempt_key)
    return out
