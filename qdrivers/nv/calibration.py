"""What the NV QDriver reads from a node's calibration file (written by ``qlab-os calibrate NODE ...``).

Every entry the driver needs is listed in :data:`REQUIRED` with the routine that writes it, so that a file
missing entries is refused at once with one error that names every missing entry and the ``qlab-os calibrate``
commands to run. Optional entries (T1, T2*) only refine the device spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qlab_os.errors import QDriverError
from qlab_os.lab.calibrate.calfile import CalibrationFile

REQUIRED: dict[str, str] = {
    "transition_frequency_hz": "odmr",
    "pi_pulse_amplitude_v": "rabi",
    "pi_pulse_duration_s": "rabi",
    "rabi_frequency_hz_per_volt": "rabi",
    "mw_power_dbm": "rabi",
    "t2_s": "hahn_echo",
    "cr_threshold_counts": "charge_resonance",
    "readout_threshold_counts": "readout",
    "readout_fidelity_0": "readout",
    "readout_fidelity_1": "readout",
}
"""Calibration entry -> the routine that writes it."""

OPTIONAL = ("t1_s", "t2_star_s")


class NVCalibrationError(QDriverError):
    """The node's calibration file lacks entries the NV QDriver needs (the message says which routines to run)."""


@dataclass(frozen=True)
class NVCalibration:
    """The calibrated values the NV QDriver uses (see :data:`REQUIRED`), with the file they came from."""

    path: Path
    transition_frequency_hz: float
    pi_pulse_amplitude_v: float
    pi_pulse_duration_s: float
    rabi_frequency_hz_per_volt: float
    mw_power_dbm: float
    t2_s: float
    cr_threshold_counts: int
    readout_threshold_counts: int
    readout_fidelity_0: float
    readout_fidelity_1: float
    readout_fidelity_0_error: float
    readout_fidelity_1_error: float
    t1_s: float | None = None
    t2_star_s: float | None = None


def load_calibration(path: Path, node: str, platform: str = "nv") -> NVCalibration:
    """Read ``path``; raise :class:`NVCalibrationError` naming every missing entry and the routines to run."""
    calfile = CalibrationFile(path, node, platform)
    if not path.is_file():
        raise NVCalibrationError(
            f"node {node!r} has no calibration file at {path}; run `qlab-os calibrate {node} all` first"
        )
    found = {key: calfile.get(key) for key in (*REQUIRED, *OPTIONAL)}
    missing = [key for key in REQUIRED if found[key] is None]
    if missing:
        routines = list(dict.fromkeys(REQUIRED[key] for key in missing))
        commands = "; ".join(f"`qlab-os calibrate {node} {r}`" for r in routines)
        raise NVCalibrationError(
            f"calibration file {path} of node {node!r} lacks {', '.join(missing)}, which the NV QDriver needs; "
            f"run {commands} (or `qlab-os calibrate {node} all`)"
        )
    values = {key: v.value for key, v in found.items() if v is not None}
    f0, f1 = found["readout_fidelity_0"], found["readout_fidelity_1"]
    assert f0 is not None and f1 is not None  # checked above
    for key in ("readout_fidelity_0", "readout_fidelity_1"):
        if not 0.5 < values[key] <= 1.0:
            raise NVCalibrationError(f"calibration file {path}: {key} = {values[key]:g} is not a usable readout "
                                     f"fidelity (expected 0.5 < F <= 1); run `qlab-os calibrate {node} readout` again")
    for key in ("pi_pulse_amplitude_v", "pi_pulse_duration_s", "rabi_frequency_hz_per_volt", "t2_s"):
        if not values[key] > 0:
            raise NVCalibrationError(f"calibration file {path}: {key} = {values[key]:g} must be > 0; "
                                     f"run `qlab-os calibrate {node} {REQUIRED[key]}` again")
    return NVCalibration(
        path=path,
        transition_frequency_hz=values["transition_frequency_hz"],
        pi_pulse_amplitude_v=values["pi_pulse_amplitude_v"],
        pi_pulse_duration_s=values["pi_pulse_duration_s"],
        rabi_frequency_hz_per_volt=values["rabi_frequency_hz_per_volt"],
        mw_power_dbm=values["mw_power_dbm"],
        t2_s=values["t2_s"],
        cr_threshold_counts=round(values["cr_threshold_counts"]),
        readout_threshold_counts=round(values["readout_threshold_counts"]),
        readout_fidelity_0=values["readout_fidelity_0"],
        readout_fidelity_1=values["readout_fidelity_1"],
        readout_fidelity_0_error=f0.error,
        readout_fidelity_1_error=f1.error,
        t1_s=values.get("t1_s"),
        t2_star_s=values.get("t2_star_s"),
    )
