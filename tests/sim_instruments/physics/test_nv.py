"""NVCentre against closed forms: exact drive unitaries, Ramsey with Gaussian T2* decay, echo, T1, Poisson
readout counts, charge state, spin pumping, clock advance; NVParams validation naming the key.

Statistical tests use fixed seeds and 5-sigma binomial (or Poisson) tolerances from the number of shots."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import sim_instruments
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.nv import ChargeState, NVCentre, NVParams
from sim_instruments.physics.qubit_model import PhysicsParamsError
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

PHYSICS_YAML = Path(sim_instruments.__file__).parent / "lab" / "physics.yaml"
TOL = 1e-9


def _yaml_nv() -> dict[str, Any]:
    with PHYSICS_YAML.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return dict(data["nv"])


def _binomial_tol(p: float, shots: int) -> float:
    return 5.0 * math.sqrt(max(p * (1.0 - p), 1.0 / shots) / shots)


def _ideal(**changes: float) -> NVParams:
    """The shipped parameters made ideal (no noise, perfect init, a noiseless readout), then ``changes``."""
    base = NVParams.from_mapping(_yaml_nv(), "physics.yaml: nv")
    ideal = dataclasses.replace(
        base, t1_s=math.inf, t2_s=math.inf, t2_star_s=math.inf, nv_minus_probability=1.0, spin_init_fidelity=1.0,
        readout_bright_rate_hz=1.0e10, readout_dark_rate_hz=0.0, background_rate_hz=0.0,
    )
    return dataclasses.replace(ideal, **changes)


def _nv(params: NVParams, seed: int = 1) -> tuple[NVCentre, QuantumWorld, NodeClock]:
    rng = make_rng(seed)
    world = QuantumWorld(rng)
    clock = NodeClock()
    return NVCentre(params, world, rng, clock), world, clock


def _p1(nv: NVCentre, world: QuantumWorld) -> float:
    return float(world.density_matrix([nv.electron_qubit_id])[1, 1].real)


# ---- parameters ------------------------------------------------------------------------------------------


def test_shipped_parameters_load() -> None:
    p = NVParams.from_mapping(_yaml_nv(), "physics.yaml: nv")
    assert p.transition_frequency_hz == pytest.approx(
        p.zero_field_splitting_hz - p.gyromagnetic_ratio_hz_per_t * p.magnetic_field_t
    )
    assert 0.0 < p.t2_star_s < p.t2_s <= 2.0 * p.t1_s


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"t2_s": "1e-3"}, "t2_s", "1.0e-3"),
        ({"nv_minus_probability": 1.5}, "nv_minus_probability", r"\[0, 1\]"),
        ({"readout_bright_rate_hz": -1.0}, "readout_bright_rate_hz", ">= 0"),
        ({"t1_s": 0.0}, "t1_s", "> 0"),
        ({"t2_star_s": True}, "t2_star_s", "number"),
        ({"t2_s": 200.0, "t1_s": 1.0}, "t2_s", "2\\*T1"),
        ({"magnetic_field_t": 1.0}, "magnetic_field_t", "above 0 Hz"),
        ({"colour": 1.0}, "colour", "unknown parameter"),
    ],
)
def test_bad_parameters_name_the_key(change: dict[str, object], key: str, reason: str) -> None:
    mapping: dict[str, object] = {**_yaml_nv(), **change}
    with pytest.raises(PhysicsParamsError, match=rf"lab\.yaml: nv\.{key}: .*{reason}"):
        NVParams.from_mapping(mapping, "lab.yaml: nv")


def test_missing_parameter_and_non_mapping() -> None:
    mapping = _yaml_nv()
    del mapping["cr_rate_hz"]
    with pytest.raises(PhysicsParamsError, match=r"where\.cr_rate_hz: missing"):
        NVParams.from_mapping(mapping, "where")
    with pytest.raises(PhysicsParamsError, match="where: expected a mapping"):
        NVParams.from_mapping([1.0], "where")  # type: ignore[arg-type]


# ---- coherent drive --------------------------------------------------------------------------------------


def test_resonant_pi_pulse_flips_and_half_pi_pulses_set_the_axis() -> None:
    nv, world, _ = _nv(_ideal())
    f = nv.transition_frequency_hz
    nv.green(1.0e-6)
    nv.drive(f, 2.0e6, 0.0, 0.25e-6)  # pi pulse: T = 1 / (2 Omega)
    assert _p1(nv, world) == pytest.approx(1.0, abs=TOL)
    nv.green(1.0e-6)
    nv.drive(f, 2.0e6, math.pi / 2, 0.125e-6)  # pi/2 about +y: |0> -> (|0> + |1>)/sqrt2
    rho = world.density_matrix([nv.electron_qubit_id])
    assert 2.0 * rho[0, 1].real == pytest.approx(1.0, abs=TOL)
    nv.green(1.0e-6)
    nv.drive(f, 2.0e6, 0.0, 0.125e-6)  # pi/2 about +x: |0> -> (|0> - i|1>)/sqrt2, <Y> = -1
    rho = world.density_matrix([nv.electron_qubit_id])
    assert 2.0 * rho[1, 0].imag == pytest.approx(-1.0, abs=TOL)  # <Y> = 2 Im(rho_10)


@pytest.mark.parametrize(("detuning_hz", "duration_s"), [(0.0, 0.37e-6), (1.0e6, 0.2e-6), (-3.0e6, 0.55e-6)])
def test_detuned_rabi_follows_the_generalised_formula(detuning_hz: float, duration_s: float) -> None:
    nv, world, _ = _nv(_ideal())
    rabi_hz = 1.7e6
    nv.green(1.0e-6)
    nv.drive(nv.transition_frequency_hz - detuning_hz, rabi_hz, 0.3, duration_s)
    w = math.hypot(rabi_hz, detuning_hz)
    expected = (rabi_hz / w) ** 2 * math.sin(math.pi * w * duration_s) ** 2
    assert _p1(nv, world) == pytest.approx(expected, abs=TOL)


def test_free_precession_runs_at_transition_minus_frame() -> None:
    """Ramsey without noise (short, strong pulses): P1 = (1 + cos(2 pi Delta tau)) / 2 with Delta = f_q - frame,
    whether the time passes through wait() or through someone else advancing the clock."""
    nv, world, clock = _nv(_ideal())
    rabi_hz, detuning_hz = 1.0e9, 2.0e5
    f_drive = nv.transition_frequency_hz - detuning_hz
    nv.set_frame_frequency(f_drive)
    for tau_s in (0.0, 1.3e-6, 2.5e-6, 4.1e-6):
        for external in (False, True):
            nv.green(1.0e-6)
            nv.drive(f_drive, rabi_hz, 0.0, 0.25e-9)
            if external:
                clock.advance_ns(round(tau_s * 1.0e9))
            else:
                nv.wait(tau_s)
            nv.drive(f_drive, rabi_hz, 0.0, 0.25e-9)
            expected = 0.5 * (1.0 + math.cos(2.0 * math.pi * detuning_hz * tau_s))
            # the 0.25 ns pulses add up to 2 pi Delta * 0.5 ns = 6e-4 rad of phase: a bound on the difference
            assert _p1(nv, world) == pytest.approx(expected, abs=7e-4)


def test_fringes_follow_the_frame_not_the_pulse_frequency() -> None:
    """Pulses at f_q - 200 kHz but phase-referenced to a frame at f_q: no precession between them."""
    nv, world, _ = _nv(_ideal())
    f_q = nv.transition_frequency_hz
    nv.set_frame_frequency(f_q)
    results = []
    for tau_s in (0.0, 1.3e-6, 2.5e-6):
        nv.green(1.0e-6)
        nv.drive(f_q - 2.0e5, 1.0e9, 0.0, 0.25e-9)
        nv.wait(tau_s)
        nv.drive(f_q - 2.0e5, 1.0e9, 0.0, 0.25e-9)
        results.append(_p1(nv, world))
    assert results == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)


def test_t1_relaxation_after_a_pi_pulse() -> None:
    nv, world, _ = _nv(_ideal(t1_s=2.0e-3, t2_s=1.0e-3))
    nv.green(1.0e-6)
    nv.drive(nv.transition_frequency_hz, 1.0e9, 0.0, 0.5e-9)
    nv.wait(1.5e-3)
    assert _p1(nv, world) == pytest.approx(math.exp(-1.5e-3 / 2.0e-3) * (1.0 - 0.0), rel=1e-6)


# ---- statistics over shots -------------------------------------------------------------------------------


def _ramsey_fraction(nv: NVCentre, f_drive: float, tau_s: float, shots: int, echo: bool) -> float:
    dark = 0
    half_pi_s, rabi_hz = 0.25e-9, 1.0e9
    for _ in range(shots):
        nv.green(2.0e-6)
        nv.drive(f_drive, rabi_hz, 0.0, half_pi_s)
        if echo:
            nv.wait(tau_s / 2)
            nv.drive(f_drive, rabi_hz, 0.0, 2 * half_pi_s)
            nv.wait(tau_s / 2)
        else:
            nv.wait(tau_s)
        nv.drive(f_drive, rabi_hz, 0.0, half_pi_s)
        dark += nv.readout(1.0e-6) == 0
    return dark / shots


@pytest.mark.parametrize("tau_s", [0.0, 1.0e-6, 2.2e-6, 3.5e-6])
def test_ramsey_fringes_decay_as_a_gaussian_over_shots(tau_s: float) -> None:
    t2_star_s, t2_s, detuning_hz, shots = 2.5e-6, 1.0e-4, 4.0e5, 3000
    nv, _, _ = _nv(_ideal(t2_star_s=t2_star_s, t2_s=t2_s, t1_s=1.0), seed=7)
    f_drive = nv.transition_frequency_hz - detuning_hz
    nv.set_frame_frequency(f_drive)
    decay = math.exp(-((tau_s / t2_star_s) ** 2)) * math.exp(-tau_s / t2_s)
    expected = 0.5 * (1.0 + math.cos(2 * math.pi * detuning_hz * tau_s) * decay)
    # 1e-3 on top of 5 sigma covers the finite (0.25 ns) pulses, as in the noiseless test above
    assert _ramsey_fraction(nv, f_drive, tau_s, shots, echo=False) == pytest.approx(
        expected, abs=_binomial_tol(expected, shots) + 1e-3
    )


@pytest.mark.parametrize("tau_s", [4.0e-6, 2.0e-5, 6.0e-5])
def test_hahn_echo_refocuses_the_quasi_static_offset_and_decays_with_t2(tau_s: float) -> None:
    t2_s, shots = 4.0e-5, 2000
    nv, _, _ = _nv(_ideal(t2_star_s=1.0e-6, t2_s=t2_s), seed=11)
    f = nv.transition_frequency_hz
    nv.set_frame_frequency(f)
    # pi/2 - tau/2 - pi - tau/2 - pi/2 about x is a 2 pi rotation: P(|1>) = (1 - exp(-tau/T2)) / 2
    expected = 0.5 * (1.0 - math.exp(-tau_s / t2_s))
    assert _ramsey_fraction(nv, f, tau_s, shots, echo=True) == pytest.approx(
        expected, abs=_binomial_tol(expected, shots) + 1e-3
    )


def test_readout_counts_are_poisson_with_the_state_dependent_rate() -> None:
    params = _ideal(readout_bright_rate_hz=2.3e5, readout_dark_rate_hz=5.0e2, background_rate_hz=5.0e2)
    nv, _, _ = _nv(params, seed=3)
    window_s, shots = 1.0e-5, 4000
    bright = [nv.green(2.0e-6) or nv.readout(window_s) for _ in range(shots)]
    dark = []
    for _ in range(shots):
        nv.green(2.0e-6)
        nv.drive(nv.transition_frequency_hz, 1.0e9, 0.0, 0.5e-9)
        dark.append(nv.readout(window_s))
    for counts, rate in ((bright, 2.3e5 + 5.0e2), (dark, 1.0e3)):
        mean = rate * window_s
        assert np.mean(counts) == pytest.approx(mean, abs=5 * math.sqrt(mean / shots))
        assert np.var(counts) == pytest.approx(mean, abs=5 * math.sqrt((mean + 2 * mean**2) / shots))  # = mean
    p_zero = math.exp(-(2.3e5 + 5.0e2) * window_s)  # F0 = 1 - P(0 | bright) with threshold 1
    assert np.mean(np.array(bright) == 0) == pytest.approx(p_zero, abs=_binomial_tol(p_zero, shots))


def test_charge_state_statistics_and_charge_resonance_counts() -> None:
    p_minus, shots = 0.7, 4000
    params = _ideal(nv_minus_probability=p_minus, cr_rate_hz=4.0e5, background_rate_hz=1.0e3)
    nv, _, _ = _nv(params, seed=5)
    cr_minus, cr_zero, readout_zero = [], [], []
    for _ in range(shots):
        nv.green(2.0e-6)
        state = nv.charge_state
        counts = nv.charge_resonance_check(5.0e-5)
        (cr_minus if state is ChargeState.NV_MINUS else cr_zero).append(counts)
        if state is ChargeState.NV_ZERO:
            readout_zero.append(nv.readout(1.0e-5))
    assert len(cr_minus) / shots == pytest.approx(p_minus, abs=_binomial_tol(p_minus, shots))
    for counts, mean in ((cr_minus, (4.0e5 + 1.0e3) * 5.0e-5), (cr_zero, 1.0e3 * 5.0e-5), (readout_zero, 1.0e-2)):
        assert np.mean(counts) == pytest.approx(mean, abs=5 * math.sqrt(mean / len(counts)))


def test_nv0_is_not_driven() -> None:
    nv, world, _ = _nv(_ideal(nv_minus_probability=0.0))
    nv.green(1.0e-6)
    assert nv.charge_state is ChargeState.NV_ZERO
    nv.drive(nv.transition_frequency_hz, 2.0e6, 0.0, 0.25e-6)
    assert _p1(nv, world) == pytest.approx(0.0, abs=TOL)


def test_imperfect_spin_pumping_leaves_a_dark_spectator() -> None:
    fidelity, shots = 0.8, 3000
    nv, _, _ = _nv(_ideal(spin_init_fidelity=fidelity), seed=9)
    bright_after_init = sum(nv.green(2.0e-6) or nv.readout(1.0e-6) > 0 for _ in range(shots)) / shots
    assert bright_after_init == pytest.approx(fidelity, abs=_binomial_tol(fidelity, shots))
    bright_after_pi = 0
    for _ in range(shots):
        nv.green(2.0e-6)
        nv.drive(nv.transition_frequency_hz, 1.0e9, 0.0, 0.5e-9)
        bright_after_pi += nv.readout(1.0e-6) > 0
    assert bright_after_pi == 0  # ms=-1 and the ms=+1 spectator are both dark


# ---- time ------------------------------------------------------------------------------------------------


def test_every_call_advances_the_clock_by_its_duration() -> None:
    nv, _, clock = _nv(_ideal())
    f = nv.transition_frequency_hz
    steps = [
        (lambda: nv.green(2.0e-6), 2000),
        (lambda: nv.drive(f, 1.0e6, 0.0, 12.5e-9), 12),
        (lambda: nv.drive(f, 1.0e6, 0.0, 12.5e-9), 13),  # the half ns carried over
        (lambda: nv.wait(1.0e-6), 1000),
        (lambda: nv.readout(1.0e-5), 10_000),
        (lambda: nv.charge_resonance_check(5.0e-5), 50_000),
    ]
    for call, step_ns in steps:
        before = clock.now_ns()
        call()
        assert clock.now_ns() - before == step_ns


@pytest.mark.parametrize("bad", [{"duration_s": -1.0e-9}, {"rabi_frequency_hz": -1.0}, {"frequency_hz": math.nan}])
def test_drive_refuses_bad_arguments(bad: dict[str, float]) -> None:
    nv, _, clock = _nv(_ideal())
    args = {"frequency_hz": 1.0e9, "rabi_frequency_hz": 1.0e6, "phase_rad": 0.0, "duration_s": 1.0e-7, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        nv.drive(**args)
    assert clock.now_ns() == 0
