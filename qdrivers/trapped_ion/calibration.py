"""What the trapped-ion QDriver reads from an ion node's calibration file, and the device spec it derives from it.

The calibration file is the one ``qlab-os calibrate ion all`` writes (:mod:`qlab_os.lab.calibrate.calfile`,
docs/calibration.md). :func:`load_ion_calibration` checks that every entry the driver needs is there before any
instrument is touched, and names the missing ones with the routine that writes each. :func:`ion_spec` turns the
values into the :class:`~qlab_os.qdevice.spec.QDeviceSpec` the kernel schedules with:

- **rotations** (per ion, each with its own calibrated pi pulse): the depolarising probability is the one whose
  flip probability equals the carrier pi pulse's, as the thermal motion (calibrated ``motional_n_bar`` with the
  operator's Lamb-Dicke ``eta``) makes it: a pi pulse of the calibrated length and amplitude flips
  ``P = sum_n p_n sin^2(pi Omega_n t_pi)`` (the calibration's own thermal-flop model), and a depolarising channel
  of probability ``p`` after a perfect flip reads ``1 - p/2``, so ``p = 2 (1 - P)``;
- **readout** (both ions: ion 0's detection calibration, both PMTs see the same rates):
  ``p_flip_0 = 1 - detection_fidelity_bright``; the calibrated dark fidelity includes the dark
  preparation error ``e`` (shots that stayed bright), so the detection's own dark error is
  ``1 - (F_dark - e (1 - F_bright)) / (1 - e)``;
- **initialisation**: the part of the dark preparation error that the thermal pi pulse does not explain is
  optical pumping into the bright, undriven spectator, ``eps = 1 - (1 - e) / P``; it is modelled as a depolarising
  probability ``2 eps`` (the spectator reads like a qubit left in ``|0>``: an approximation, documented);
- **MS**: a two-qubit depolarising probability from both ions' dephasing at the echo T2 during the calibrated gate
  (:meth:`IonCalibration.ms_depolarising_probability`); the closed-loop gate itself is exact;
- **qubit**: ``t2_ns`` is the echo T2 (``t2_729_s``); T1 (the D5/2 lifetime, ~1.2 s) has no calibration routine and
  is left out (infinite), which is safe beside a T2 of milliseconds. T2* is given in the spec's description.

Durations are those of the pulse library (:mod:`qdrivers.trapped_ion.pulses`); ENT (ion 0, the communication
ion, when the node setup names a heralding station) is one attempt element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qlab_os.errors import ConfigError, QDriverError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.ion import thermal_flop
from qlab_os.qdevice.spec import QDeviceSpec, parse_spec

REQUIRED: dict[str, str] = {
    "aom_729_resonance_hz": "spectroscopy_729",
    "rabi_729_frequency_hz_per_volt": "rabi_729",
    "motional_n_bar": "rabi_729",
    "lamb_dicke_eta": "rabi_729",
    "pi_pulse_729_amplitude_v": "rabi_729",
    "pi_pulse_729_duration_s": "rabi_729",
    "aom_729_power_dbm": "rabi_729",
    "t2_729_s": "echo_729",
    "t2_star_729_s": "ramsey_729",
    "ramsey_729_detuning_hz": "ramsey_729",
    "detection_threshold_counts": "detection",
    "detection_fidelity_bright": "detection",
    "detection_fidelity_dark": "detection",
    "dark_preparation_error": "detection",
    "rabi_729_ion1_frequency_hz_per_volt": "rabi_729_ion1",
    "pi_pulse_729_ion1_amplitude_v": "rabi_729_ion1",
    "ms_sideband_rabi_hz_per_volt": "ms_gate",
    "ms_gate_amplitude_v": "ms_gate",
    "ms_gate_duration_s": "ms_gate",
    "ms_detuning_hz": "ms_gate",
    "ms_mode_frequency_hz": "ms_gate",
    "aom_729_ms_frequency_hz": "ms_gate",
    "aom_729_ms_power_dbm": "ms_gate",
}
"""Calibration entry -> the routine of ``qlab-os calibrate ion`` that writes it."""


class IncompleteCalibrationError(QDriverError):
    """The node's calibration file is missing, unreadable or lacks entries the driver needs (the message says
    which, and which ``qlab-os calibrate`` to run)."""


@dataclass(frozen=True)
class IonCalibration:
    """The calibrated values the driver uses (SI units, names as in the calibration file)."""

    path: Path
    node: str
    aom_729_resonance_hz: float
    rabi_729_frequency_hz_per_volt: float
    motional_n_bar: float
    lamb_dicke_eta: float
    pi_pulse_729_amplitude_v: float
    pi_pulse_729_duration_s: float
    aom_729_power_dbm: float
    t2_729_s: float
    t2_star_729_s: float
    ramsey_729_detuning_hz: float
    detection_threshold_counts: float
    detection_fidelity_bright: float
    detection_fidelity_dark: float
    dark_preparation_error: float
    rabi_729_ion1_frequency_hz_per_volt: float
    pi_pulse_729_ion1_amplitude_v: float
    ms_sideband_rabi_hz_per_volt: float
    ms_gate_amplitude_v: float
    ms_gate_duration_s: float
    ms_detuning_hz: float
    ms_mode_frequency_hz: float
    aom_729_ms_frequency_hz: float
    aom_729_ms_power_dbm: float

    n_ions = 2
    """The chain the calibration describes: ion 0 (``*_729_*`` entries) and ion 1 (``*_ion1_*``)."""

    @property
    def pi_amplitudes_v(self) -> tuple[float, float]:
        return (self.pi_pulse_729_amplitude_v, self.pi_pulse_729_ion1_amplitude_v)

    @property
    def rabi_frequencies_hz_per_volt(self) -> tuple[float, float]:
        return (self.rabi_729_frequency_hz_per_volt, self.rabi_729_ion1_frequency_hz_per_volt)

    def ms_depolarising_probability(self, duration_s: float) -> float:
        """Two-qubit depolarising probability of the MS gate: the Bell-state fidelity loss from both ions'
        dephasing at the calibrated echo T2 during the gate, ``F = (1 + exp(-2 t / T2)) / 2 = 1 - 3 p / 4``. The
        gate itself is exact at the calibrated closed loop (docs/physics.md)."""
        return _clamp(2.0 / 3.0 * (1.0 - math.exp(-2.0 * duration_s / self.t2_729_s)))

    @property
    def aom_729_frequency_hz(self) -> float:
        """The AOM frequency on the qubit line: spectroscopy's centre corrected by Ramsey's detuning, which is
        measured in the laser frame (twice the AOM frequency, double pass)."""
        return self.aom_729_resonance_hz + self.ramsey_729_detuning_hz / 2.0

    def pi_flip_probability(self, ion: int = 0) -> float:
        """Probability that the calibrated pi pulse flips the thermal ion ``ion`` (free-ion Rabi frequency times the
        Debye-Waller factor of each motional state, thermal weights with ``motional_n_bar``)."""
        omega_hz = self.rabi_frequencies_hz_per_volt[ion] * self.pi_amplitudes_v[ion]
        flop = thermal_flop(self.lamb_dicke_eta, None)
        t = np.asarray([self.pi_pulse_729_duration_s], dtype=np.float64)
        return float(flop(t, omega_hz, self.motional_n_bar, 1.0, 0.0)[0])

    def readout_p_flip_0(self) -> float:
        """P(read 1 | |0>): a bright ion counted below the threshold."""
        return _clamp(1.0 - self.detection_fidelity_bright)

    def readout_p_flip_1(self) -> float:
        """P(read 0 | |1>): the detection's own dark error, without the dark preparation error."""
        e = self.dark_preparation_error
        if e >= 1.0:
            return 1.0
        dark = (self.detection_fidelity_dark - e * (1.0 - self.detection_fidelity_bright)) / (1.0 - e)
        return _clamp(1.0 - dark)

    def pumping_error(self) -> float:
        """Probability that optical pumping leaves the bright spectator (see the module docstring)."""
        flip = self.pi_flip_probability()
        if flip <= 0.0:
            return 1.0
        return _clamp(1.0 - (1.0 - self.dark_preparation_error) / flip)


def load_ion_calibration(path: Path, node: str) -> IonCalibration:
    """Read ``path`` and check every entry in :data:`REQUIRED`; errors say what is missing and what to run."""
    run_all = f"qlab-os calibrate {node} all --calibration-file {path}"
    if not path.is_file():
        raise IncompleteCalibrationError(
            f"ion node {node!r}: no calibration file at {path}; the trapped-ion QDriver needs the values of every "
            f"ion calibration routine: run `{run_all}`"
        )
    try:
        calibration = CalibrationFile(path, node, "ion")
        entries = {key: calibration.get(key) for key in REQUIRED}
    except ConfigError as exc:  # names the file and the key
        raise IncompleteCalibrationError(f"ion node {node!r}: {exc}") from exc
    missing = [key for key, found in entries.items() if found is None]
    if missing:
        routines = list(dict.fromkeys(REQUIRED[key] for key in missing))
        listed = ", ".join(f"{key} (written by {REQUIRED[key]})" for key in missing)
        one_by_one = "; ".join(f"`qlab-os calibrate {node} {r} --calibration-file {path}`" for r in routines)
        raise IncompleteCalibrationError(
            f"ion node {node!r}: the calibration file {path} lacks {listed}; run `{run_all}` (or, in dependency "
            f"order, {one_by_one})"
        )
    values: dict[str, Any] = {key: found.value for key, found in entries.items() if found is not None}
    for key, value in values.items():
        if not math.isfinite(value):
            raise IncompleteCalibrationError(
                f"ion node {node!r}: {path}: parameters.{key} is {value}, not a finite number; rerun "
                f"`qlab-os calibrate {node} {REQUIRED[key]} --calibration-file {path}`"
            )
    return IonCalibration(path=path, node=node, **values)


def ion_spec(calibration: IonCalibration, durations_ns: dict[str, int], *, ideal: bool = False) -> QDeviceSpec:
    """The two-ion device spec (see the module docstring). ``durations_ns``: ``init``, ``rot``, ``meas``, ``ms``,
    and ``ent`` (one attempt) when the node entangles through a heralding station."""
    init_p = _clamp(2.0 * calibration.pumping_error())
    t2_ns = calibration.t2_729_s * 1e9
    ms_p = calibration.ms_depolarising_probability(durations_ns["ms"] * 1e-9)
    rotations = [
        {"op": "rot", "axes": ["x", "y"], "qubits": [ion], "duration_ns": durations_ns["rot"],
         "depolarising_prob": _clamp(2.0 * (1.0 - calibration.pi_flip_probability(ion)))}
        for ion in range(calibration.n_ions)
    ]
    spec = parse_spec(
        {
            "name": f"ion:{calibration.node}",
            "description": (
                f"40Ca+ node {calibration.node!r}, a chain of {calibration.n_ions} ions (S1/2-D5/2 optical qubits) "
                f"from {calibration.path}: T2 (echo) {calibration.t2_729_s * 1e3:.3g} ms, T2* "
                f"{calibration.t2_star_729_s * 1e3:.3g} ms, thermal n_bar {calibration.motional_n_bar:.3g}; addressed "
                f"x/y rotations, z rotations as software frame updates, MS gate of "
                f"{calibration.ms_gate_duration_s * 1e6:.3g} us; init and meas act on the whole chain"
            ),
            "qubits": [{"name": f"ion{k}", "communication": k == 0, "t2_ns": t2_ns, "t1_ns": math.inf}
                       for k in range(calibration.n_ions)],
            "readout": {"p_flip_0": calibration.readout_p_flip_0(), "p_flip_1": calibration.readout_p_flip_1()},
            "native": [
                {"op": "init", "qubits": list(range(calibration.n_ions)), "duration_ns": durations_ns["init"],
                 "depolarising_prob": init_p},
                *rotations,
                {"op": "rot", "axes": ["z"], "qubits": list(range(calibration.n_ions)), "duration_ns": 0},
                {"op": "ms", "pairs": [[0, 1]], "duration_ns": durations_ns["ms"], "depolarising_prob": ms_p},
                {"op": "meas", "qubits": list(range(calibration.n_ions)), "duration_ns": durations_ns["meas"]},
                *([{"op": "ent", "qubits": [0], "duration_ns": durations_ns["ent"]}] if "ent" in durations_ns else []),
            ],
        },
        source=str(calibration.path),
    )
    return spec.ideal() if ideal else spec


def _clamp(p: float) -> float:
    return min(1.0, max(0.0, p))
