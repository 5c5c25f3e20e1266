"""The theory the lab demo (:mod:`qlab_os.demo_lab`) checks its statistics against, from the lab's constants
and each node's calibration: the heralded links as attempt loops (:class:`~qlab_os.lab.single_click.LoopLink`) and
the ion's circuit on its digital twin (:mod:`qlab_os.twin`), with remote state preparation from nv_a. Heralds per
attempt come with their own standard error (loops of geometric length, :meth:`LoopLink.herald_rate_sigma`).

Hand-written: the model is this lab's (its heralding stations, preparations and calibrations); no library
describes it. The linear algebra is numpy's.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.ion import debye_waller
from qlab_os.lab.calibrate.node import find_node_file, load_node
from qlab_os.lab.single_click import (
    BASIS_ROTATION,
    ComplexMatrix,
    LoopLink,
    Preparation,
    conditioned_half,
    outcome_probabilities,
)
from qlab_os.qdevice.spec import QDeviceSpec
from qlab_os.qnpu.gates import Gate
from qlab_os.twin import Step, gate, init, predicted_state


def value(cal: CalibrationFile, key: str) -> float:
    entry = cal.get(key)
    if entry is None:
        raise ConfigError(str(cal.path), f"parameters.{key}", f"missing: run qlab-os calibrate {cal.node} all")
    return entry.value


def _physics() -> dict[str, Any]:
    text = resources.files("sim_instruments.lab").joinpath("physics.yaml").read_text()
    return dict(yaml.safe_load(text))


_THERMAL_TAIL = 1.0e-12
"""Phonon numbers are summed until the thermal distribution's remaining weight is below this."""


def link_model(station: str, nodes: tuple[str, str], cal: dict[str, CalibrationFile]) -> LoopLink:
    """The single-click closed form for ``station`` between ``nodes`` as attempt loops
    (:class:`~qlab_os.lab.single_click.LoopLink`), from the lab's constants (physics.yaml), the node setups' alpha
    and timings, and each node's calibration. The first node is the end that applies the Pauli correction: the one
    with the shorter pi pulse, an NV on both links here.

    Each node's preparations, drawn once per loop as the simulated lab does (docs/simulated-lab.md):

    - a failed reset (probability 1 - the init fidelity) leaves a spectator: an NV in ms=+1 (dark, |1>), an ion in
      S1/2(m=+1/2) (bright: it emits like |0>); later pulses do not drive it;
    - an NV's alpha pulse is exact (the calibrated Rabi frequency per volt at the calibrated pi pulse's length);
    - an ion's alpha pulse is the calibrated pi pulse's length at ``theta / pi`` of its amplitude: on phonon number
      n it rotates by ``2 pi Omega D_n t_pi`` (the calibration's thermal model: free-ion Rabi frequency per volt,
      ``motional_n_bar``, ``lamb_dicke_eta``, Debye-Waller factor ``D_n``); n is drawn by the INIT before the loop;
    - the superposition dephases from the middle of the alpha pulse to the end of the repetition (the herald), where
      the excitation ends the element: ``exp(-(t/T2*)^2 - t/T2)``, ``t = t_alpha / 2 + emit_s``. The time after
      the herald (the correction pulse, the analysis pulse: ~0.3 us on an NV) is left out (< 1 % of coherence).
    """
    physics = _physics()
    h = {**physics["heralding"], **_station(station, nodes)}
    ends = []
    for node in nodes:
        setup = load_node(find_node_file(node))
        ent = setup.entanglement.get(station)
        if not isinstance(ent, dict) or "alpha" not in ent:
            raise ConfigError(str(setup.path), f"entanglement.{station}.alpha",
                              f"missing: node {node} has no alpha for heralding station {station}")
        alpha = float(ent["alpha"])
        constants = physics[setup.platform]
        if setup.platform == "nv":
            pi_s = value(cal[node], "pi_pulse_duration_s")
            f_init = float(constants["spin_init_fidelity"])
        else:
            pi_s = value(cal[node], "pi_pulse_729_duration_s")
            f_init = float(constants["optical_pumping_fidelity"])
        t_s = pi_s / 2 + setup.time_s("emit_s")
        dephasing = math.exp(-((t_s / constants["t2_star_s"]) ** 2) - t_s / constants["t2_s"])
        if setup.platform == "nv":
            qubit = [Preparation(f_init, alpha, dephasing)]
            spectator = Preparation(1.0 - f_init, 0.0, 0.0, spectator=True)
        else:
            qubit = [Preparation(f_init * w, a, dephasing) for w, a in _ion_alphas(cal[node], alpha, pi_s)]
            spectator = Preparation(1.0 - f_init, 1.0, 0.0, spectator=True)
        ends.append([*qubit, spectator])
    coherence = math.sqrt(h["photon_indistinguishability"]) * math.exp(-0.5 * h["phase_noise_rad"] ** 2)
    return LoopLink.from_preparations((ends[0], ends[1]), h["detection_efficiency_a"], h["detection_efficiency_b"],
                                      h["dark_count_probability"], coherence, h["optical_phase_rad"])


_LAB_FILE = "lab.yaml"


def _station(station: str, nodes: tuple[str, str]) -> dict[str, Any]:
    """The simulated lab's ``station`` (lab.yaml ``lab.heralding``): checks that it links ``nodes`` in this order
    (detector efficiency a and the optical phase belong to its first node) and returns its constant overrides."""
    source = f"sim_instruments/lab/{_LAB_FILE}"
    lab = yaml.safe_load(resources.files("sim_instruments.lab").joinpath(_LAB_FILE).read_text())
    stations = (lab.get("lab") or {}).get("heralding") or {}
    cfg = stations.get(station)
    if not isinstance(cfg, dict):
        raise ConfigError(source, f"lab.heralding.{station}", f"no such heralding station ({', '.join(stations)})")
    if list(cfg.get("nodes", [])) != list(nodes):
        raise ConfigError(source, f"lab.heralding.{station}.nodes",
                          f"the theory takes the nodes in the order {list(nodes)} (the first plays the correction), "
                          f"the station has {cfg.get('nodes')}")
    return dict(cfg.get("physics") or {})


def _ion_alphas(cal: CalibrationFile, alpha: float, pi_s: float) -> list[tuple[float, float]]:
    """(thermal weight, bright population) per phonon number n of the ion's alpha pulse (see :func:`link_model`)."""
    n_bar = value(cal, "motional_n_bar")
    ratio = n_bar / (n_bar + 1.0)
    n_max = max(1, math.ceil(math.log(_THERMAL_TAIL) / math.log(ratio))) if ratio > 0 else 1
    weights = (1.0 - ratio) * ratio ** np.arange(n_max + 1)
    weights /= weights.sum()
    theta = 2.0 * math.acos(math.sqrt(alpha))
    amplitude_v = value(cal, "pi_pulse_729_amplitude_v") * theta / math.pi
    omega_hz = value(cal, "rabi_729_frequency_hz_per_volt") * amplitude_v
    angles = 2.0 * math.pi * omega_hz * debye_waller(value(cal, "lamb_dicke_eta"), n_max) * pi_s
    return [(float(w), float(math.cos(a / 2) ** 2)) for w, a in zip(weights, angles, strict=True)]


SPECTATOR = np.zeros((2, 2), dtype=np.complex128)
"""Marks an ion q0 that arrived as a spectator (a failed optical pumping: not a qubit state)."""


def rsp_arrivals(link: LoopLink, nv_readout: npt.NDArray[np.float64]
                  ) -> list[list[tuple[float, ComplexMatrix | None]]]:
    """Per nv_a outcome m of its X measurement: (P(m and this case), the ion's q0 given it) over the delivered
    pairs' branches; the qubit cases are summed into one state (the ion's circuit is linear in it), a spectator q0
    is :data:`SPECTATOR`."""
    out: list[list[tuple[float, ComplexMatrix | None]]] = []
    for m in (0, 1):
        qubit = np.zeros((2, 2), dtype=np.complex128)
        p_qubit = p_spectator = 0.0
        for pair in link.delivered():
            p_m, half = conditioned_half(pair.state, "X", nv_readout, spectator=pair.spectators[0])[m]
            if pair.spectators[1]:
                p_spectator += pair.weight * p_m
            else:
                p_qubit += pair.weight * p_m
                qubit += pair.weight * p_m * half
        out.append([(p_qubit, qubit / p_qubit), (p_spectator, SPECTATOR)])
    return out


def spectator_agreement(spec: QDeviceSpec, basis: str, m: int, readout: npt.NDArray[np.float64]) -> float:
    """P(the ion's shot agrees) when q0 arrived as a spectator: undriven, it reads bright (0); q1, initialised,
    sees the circuit's pulses on it, and the MS gate with one active ion is a global phase (its time passes);
    instructions on q0 alone are time passing. Agreement as in :func:`ion_agreement`."""
    steps = [init(1), gate(Gate.CNOT, 0, 1)] + ([gate(Gate.H, 1)] if basis == "X" else [])
    rho1 = predicted_state(spec, steps, (1,), inert=frozenset({0}))
    p1 = outcome_probabilities(rho1, (BASIS_ROTATION["Z"],), (readout,))
    p0_reads_0 = readout[0, 0]
    p = {(a, b): (p0_reads_0 if a == 0 else 1.0 - p0_reads_0) * float(p1[b]) for a in (0, 1) for b in (0, 1)}
    return float(sum(v for (a, b), v in p.items() if (a == b if basis == "Z" else (a ^ b) == m)))


def ion_agreement(spec: QDeviceSpec, basis: str, m: int, q0: ComplexMatrix | None,
                   readout: npt.NDArray[np.float64]) -> float:
    """P(the ion's shot agrees) on the twin of its calibrated spec, as app_ion.py does it: q1 initialised, q0
    arrived in ``q0`` (or initialised and put in |+> by H), CNOT(q0 -> q1), both measured in ``basis`` (H first
    for X). Agreement: in Z the two read the same; in X their parity is m."""
    steps: list[Step] = [init(1), init(0)] + ([] if q0 is not None else [gate(Gate.H, 0)]) + [gate(Gate.CNOT, 0, 1)]
    if basis == "X":
        steps += [gate(Gate.H, 0), gate(Gate.H, 1)]
    rho = predicted_state(spec, steps, (0, 1), arrived={0: q0} if q0 is not None else None)
    identity = BASIS_ROTATION["Z"]
    p = outcome_probabilities(rho, (identity, identity), (readout, readout))
    return float(sum(p[a, b] for a in (0, 1) for b in (0, 1) if (a == b if basis == "Z" else (a ^ b) == m)))
