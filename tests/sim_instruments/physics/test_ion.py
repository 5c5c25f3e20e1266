"""CalciumIon against closed forms: the qubit line, Debye-Waller factors, exact carrier pulses, thermally
dephased Rabi flopping over shots, Ramsey decay, detection counts with D5/2 decay, pumping and repumping, clock
advance; IonParams validation naming the key.

Statistical tests use fixed seeds and 5-sigma binomial (or Poisson) tolerances from the number of shots."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.special import eval_laguerre

import sim_instruments
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.ion import CalciumIon, IonParams, debye_waller_factor
from sim_instruments.physics.qubit_model import PhysicsParamsError
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

PHYSICS_YAML = Path(sim_instruments.__file__).parent / "lab" / "physics.yaml"
TOL = 1e-9


def _yaml_ion() -> dict[str, Any]:
    with PHYSICS_YAML.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return dict(data["ion"])


def _binomial_tol(p: float, shots: int) -> float:
    return 5.0 * math.sqrt(max(p * (1.0 - p), 1.0 / shots) / shots)


def _ideal(**changes: float) -> IonParams:
    """The shipped parameters without noise, at rest (n_bar = 0), with a noiseless detection, then ``changes``."""
    base = IonParams.from_mapping(_yaml_ion(), "physics.yaml: ion")
    ideal = dataclasses.replace(
        base, t1_s=math.inf, t2_s=math.inf, t2_star_s=math.inf, doppler_n_bar=0.0, optical_pumping_fidelity=1.0,
        detection_bright_rate_hz=1.0e10, background_rate_hz=0.0,
    )
    return dataclasses.replace(ideal, **changes)


def _ion(params: IonParams, seed: int = 1) -> tuple[CalciumIon, QuantumWorld, NodeClock]:
    rng = make_rng(seed)
    world = QuantumWorld(rng)
    clock = NodeClock()
    return CalciumIon(params, world, rng, clock), world, clock


def _p1(ion: CalciumIon, world: QuantumWorld) -> float:
    return float(world.density_matrix([ion.qubit_id])[1, 1].real)


def _prepare(ion: CalciumIon) -> None:
    ion.repump_854(1.0e-5)
    ion.doppler_cool(1.0e-3)
    ion.optical_pump(1.0e-5)


# ---- parameters ------------------------------------------------------------------------------------------


def test_shipped_parameters_and_the_qubit_line() -> None:
    p = IonParams.from_mapping(_yaml_ion(), "physics.yaml: ion")
    delta_m_g = p.g_d52 * p.m_d52 - p.g_s12 * p.m_s12
    assert delta_m_g == pytest.approx(-2.0, abs=1e-3)  # S(-1/2) -> D(-5/2): about -2 Bohr magnetons
    assert p.zeeman_shift_hz == pytest.approx(delta_m_g * p.bohr_magneton_hz_per_t * p.magnetic_field_t)
    assert p.transition_frequency_hz == pytest.approx(p.line_frequency_hz + p.zeeman_shift_hz, abs=1.0)
    assert p.t1_s == pytest.approx(1.168)


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"t1_s": "1.168"}, "t1_s", "number"),
        ({"optical_pumping_fidelity": -0.1}, "optical_pumping_fidelity", r"\[0, 1\]"),
        ({"lamb_dicke_eta": -0.1}, "lamb_dicke_eta", ">= 0"),
        ({"t2_s": 10.0}, "t2_s", "2\\*T1"),
        ({"line_frequency_hz": None}, "line_frequency_hz", "> 0"),
        ({"n_bar": 3.0}, "n_bar", "unknown parameter"),
    ],
)
def test_bad_parameters_name_the_key(change: dict[str, object], key: str, reason: str) -> None:
    mapping: dict[str, object] = {**_yaml_ion(), **change}
    with pytest.raises(PhysicsParamsError, match=rf"ion\.yaml: ion\.{key}: .*{reason}"):
        IonParams.from_mapping(mapping, "ion.yaml: ion")


@pytest.mark.parametrize("n", [0, 1, 2, 7, 40, 150])
def test_debye_waller_factor_is_the_laguerre_matrix_element(n: int) -> None:
    eta = 0.068
    expected = math.exp(-(eta**2) / 2) * float(eval_laguerre(n, eta**2))
    assert debye_waller_factor(n, eta) == pytest.approx(expected, rel=1e-10, abs=1e-14)


# ---- coherent pulses -------------------------------------------------------------------------------------


def test_pi_pulse_at_rest_flips_with_the_debye_waller_rabi_frequency() -> None:
    ion, world, _ = _ion(_ideal())
    _prepare(ion)
    rabi_hz = 1.0e5
    rabi_0 = rabi_hz * math.exp(-(ion.params.lamb_dicke_eta**2) / 2)
    ion.pulse_729(ion.transition_frequency_hz, rabi_hz, 0.0, 1.0 / (2.0 * rabi_0))
    assert _p1(ion, world) == pytest.approx(1.0, abs=TOL)
    ion.repump_854(1.0e-5)
    assert _p1(ion, world) == pytest.approx(0.0, abs=TOL)


@pytest.mark.parametrize(("detuning_hz", "duration_s"), [(3.0e4, 7.0e-6), (-1.2e5, 4.0e-6)])
def test_detuned_carrier_follows_the_generalised_rabi_formula(detuning_hz: float, duration_s: float) -> None:
    ion, world, _ = _ion(_ideal())
    _prepare(ion)
    rabi = 1.0e5 * math.exp(-(ion.params.lamb_dicke_eta**2) / 2)
    ion.pulse_729(ion.transition_frequency_hz - detuning_hz, 1.0e5, 1.1, duration_s)
    w = math.hypot(rabi, detuning_hz)
    assert _p1(ion, world) == pytest.approx((rabi / w) ** 2 * math.sin(math.pi * w * duration_s) ** 2, abs=TOL)


def test_t1_is_the_d52_lifetime() -> None:
    ion, world, _ = _ion(_ideal(t1_s=1.168, t2_s=1.0e-3))
    _prepare(ion)
    ion.pulse_729(ion.transition_frequency_hz, 1.0e9, 0.0, 0.5e-9 / math.exp(-(0.068**2) / 2))
    ion.wait(0.3)
    assert _p1(ion, world) == pytest.approx(math.exp(-0.3 / 1.168), rel=1e-6)


# ---- statistics over shots -------------------------------------------------------------------------------


Pulse = tuple[float, float, float, float]


def _dark_fraction(ion: CalciumIon, shots: int, pulses: list[Pulse], wait_s: float) -> float:
    dark = 0
    for _ in range(shots):
        _prepare(ion)
        for i, pulse in enumerate(pulses):
            if i:
                ion.wait(wait_s)
            ion.pulse_729(*pulse)
        dark += ion.detect(1.0e-6) == 0
    return dark / shots


def test_thermal_occupation_follows_the_bose_einstein_distribution() -> None:
    n_bar, shots = 10.0, 20_000
    ion, _, _ = _ion(_ideal(doppler_n_bar=n_bar), seed=2)
    ns = []
    for _ in range(shots):
        ion.doppler_cool(1.0e-3)
        ns.append(ion.motional_quantum_number)
    assert np.mean(ns) == pytest.approx(n_bar, abs=5 * math.sqrt(n_bar * (n_bar + 1) / shots))
    p0 = 1.0 / (n_bar + 1.0)
    assert np.mean(np.array(ns) == 0) == pytest.approx(p0, abs=_binomial_tol(p0, shots))


@pytest.mark.parametrize("duration_s", [5.0e-6, 2.0e-5, 6.3e-5])
def test_thermal_rabi_flopping_over_shots(duration_s: float) -> None:
    n_bar, eta, rabi_hz, shots = 10.0, 0.068, 1.0e5, 2500
    ion, _, _ = _ion(_ideal(doppler_n_bar=n_bar, lamb_dicke_eta=eta), seed=4)
    n = np.arange(0, 400)
    p_n = (n_bar / (n_bar + 1.0)) ** n / (n_bar + 1.0)  # tail beyond n = 400: < 1e-16
    omega_n = rabi_hz * np.exp(-(eta**2) / 2) * eval_laguerre(n, eta**2)
    expected = float(np.sum(p_n * np.sin(np.pi * omega_n * duration_s) ** 2))
    got = _dark_fraction(ion, shots, [(ion.transition_frequency_hz, rabi_hz, 0.0, duration_s)], 0.0)
    assert got == pytest.approx(expected, abs=_binomial_tol(expected, shots))


@pytest.mark.parametrize("tau_s", [2.0e-4, 6.0e-4, 1.1e-3])
def test_ramsey_on_the_729_line_decays_as_a_gaussian(tau_s: float) -> None:
    t2_star_s, t2_s, detuning_hz, shots = 8.0e-4, 5.0e-3, 2.0e3, 2500
    ion, _, _ = _ion(_ideal(t2_star_s=t2_star_s, t2_s=t2_s, t1_s=1.168), seed=6)
    f = ion.transition_frequency_hz - detuning_hz
    ion.set_frame_frequency(f)
    half_pi = (f, 1.0e8, 0.0, 2.5e-9 / math.exp(-(0.068**2) / 2))
    decay = math.exp(-((tau_s / t2_star_s) ** 2) - tau_s / t2_s)
    # T1 relaxation during tau lowers the |1> population by about tau/(2 T1) (< 5e-4 here): inside the tolerance
    expected = 0.5 * (1.0 + math.cos(2 * math.pi * detuning_hz * tau_s) * decay)
    got = _dark_fraction(ion, shots, [half_pi, half_pi], tau_s)
    assert got == pytest.approx(expected, abs=_binomial_tol(expected, shots) + 1e-3)


def test_detection_counts_bright_and_dark_with_d52_decay() -> None:
    """Dark-state counts: the level decays at an exponential time t_d; bright for (T - t_d) if t_d < T:
    mean = b T + R (T - tau (1 - e^(-T/tau)))."""
    rate_hz, bg_hz, lifetime_s, window_s, shots = 5.0e4, 1.0e3, 2.0e-3, 1.0e-3, 4000
    ion, world, _ = _ion(_ideal(detection_bright_rate_hz=rate_hz, background_rate_hz=bg_hz, t1_s=lifetime_s,
                                t2_s=lifetime_s), seed=8)
    bright = []
    for _ in range(shots):
        _prepare(ion)
        bright.append(ion.detect(window_s))
    dark, decayed = [], 0
    pi_s = 0.5e-9 / math.exp(-(0.068**2) / 2)
    for _ in range(shots):
        _prepare(ion)
        ion.pulse_729(ion.transition_frequency_hz, 1.0e9, 0.0, pi_s)
        dark.append(ion.detect(window_s))
        decayed += _p1(ion, world) < 0.5  # a decay during the window leaves the ion in S1/2
    mean_bright = (rate_hz + bg_hz) * window_s
    mean_dark = bg_hz * window_s + rate_hz * (window_s - lifetime_s * (1.0 - math.exp(-window_s / lifetime_s)))
    assert np.mean(bright) == pytest.approx(mean_bright, abs=5 * math.sqrt(mean_bright / shots))
    # the dark distribution is over-dispersed (a mixture); bound its variance by its second moment
    dark_sd = math.sqrt(float(np.mean(np.square(dark))) / shots)
    assert np.mean(dark) == pytest.approx(mean_dark, abs=5 * dark_sd)
    p_decay = 1.0 - math.exp(-window_s / lifetime_s)
    assert decayed / shots == pytest.approx(p_decay, abs=_binomial_tol(p_decay, shots))


def test_imperfect_pumping_leaves_a_bright_spectator() -> None:
    fidelity, shots = 0.85, 3000
    ion, _, _ = _ion(_ideal(optical_pumping_fidelity=fidelity), seed=10)
    pi = (ion.transition_frequency_hz, 1.0e9, 0.0, 0.5e-9 / math.exp(-(0.068**2) / 2))
    bright = shots - round(_dark_fraction(ion, shots, [pi], 0.0) * shots)
    assert bright / shots == pytest.approx(1.0 - fidelity, abs=_binomial_tol(1.0 - fidelity, shots))


# ---- time ------------------------------------------------------------------------------------------------


def test_every_call_advances_the_clock_by_its_duration() -> None:
    ion, _, clock = _ion(_ideal())
    f = ion.transition_frequency_hz
    steps = [
        (lambda: ion.doppler_cool(1.0e-3), 1_000_000),
        (lambda: ion.optical_pump(1.0e-5), 10_000),
        (lambda: ion.pulse_729(f, 1.0e5, 0.0, 5.0e-6), 5000),
        (lambda: ion.wait(2.5e-7), 250),
        (lambda: ion.detect(5.0e-4), 500_000),
        (lambda: ion.repump_854(2.0e-5), 20_000),
    ]
    for call, step_ns in steps:
        before = clock.now_ns()
        call()
        assert clock.now_ns() - before == step_ns
    with pytest.raises(ValueError, match="duration_s"):
        ion.detect(-1.0)
