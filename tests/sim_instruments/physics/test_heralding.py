"""SingleClickStation against closed forms: a complete instrument, click probabilities of product states, the
heralded state and its fidelity ~ 1 - alpha, coherence from visibility and phase noise, dark counts, click
statistics over seeded attempts, attempt_until_herald; HeraldingParams validation naming the key."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import sim_instruments
from sim_instruments.physics.gates import r
from sim_instruments.physics.heralding import Click, HeraldingParams, SingleClickStation
from sim_instruments.physics.qubit_model import PhysicsParamsError
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

PHYSICS_YAML = Path(sim_instruments.__file__).parent / "lab" / "physics.yaml"
TOL = 1e-12


def _yaml_heralding() -> dict[str, Any]:
    with PHYSICS_YAML.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return dict(data["heralding"])


def _params(**changes: float) -> HeraldingParams:
    base = HeraldingParams.from_mapping(_yaml_heralding(), "physics.yaml: heralding")
    ideal = dataclasses.replace(
        base, dark_count_probability=0.0, photon_indistinguishability=1.0, phase_noise_rad=0.0, optical_phase_rad=0.0
    )
    return dataclasses.replace(ideal, **changes)


def _setup(params: HeraldingParams, alpha_a: float, alpha_b: float, seed: int = 1
           ) -> tuple[SingleClickStation, QuantumWorld, int, int]:
    world = QuantumWorld(make_rng(seed))
    a, b = world.new_qubit(), world.new_qubit()
    _prepare(world, a, alpha_a)
    _prepare(world, b, alpha_b)
    return SingleClickStation(params, world, make_rng(seed + 100)), world, a, b


def _prepare(world: QuantumWorld, q: int, alpha: float) -> None:
    """``sqrt(alpha)|0> + sqrt(1 - alpha)|1>``, alone in its block."""
    world.reset(q)
    world.apply_unitary(r("y", 2.0 * math.acos(math.sqrt(alpha))), [q])


def _photon_click_probability(alpha_a: float, alpha_b: float, eta_a: float, eta_b: float) -> float:
    """P(a photon reaches a given detector), from the populations of the product state."""
    p01, p10, p00 = alpha_a * (1 - alpha_b), (1 - alpha_a) * alpha_b, alpha_a * alpha_b
    return p01 * eta_a / 2 + p10 * eta_b / 2 + p00 * (1 - (1 - eta_a) * (1 - eta_b)) / 2


def _psi(sign: float, phase: float = 0.0) -> np.ndarray:
    return np.array([0.0, 1.0, sign * complex(math.cos(phase), math.sin(phase)), 0.0]) / math.sqrt(2)


def _fidelity(rho: np.ndarray, v: np.ndarray) -> float:
    return float((v.conj() @ rho @ v).real)


# ---- parameters ------------------------------------------------------------------------------------------


def test_shipped_parameters_load() -> None:
    p = HeraldingParams.from_mapping(_yaml_heralding(), "physics.yaml: heralding")
    assert 0.0 < p.detection_efficiency_a < 1.0 and 0.0 < p.coherence < 1.0


@pytest.mark.parametrize(
    ("change", "key"),
    [({"detection_efficiency_a": 1.2}, "detection_efficiency_a"), ({"phase_noise_rad": -0.1}, "phase_noise_rad"),
     ({"dark_count_probability": "1e-6"}, "dark_count_probability"), ({"loss_db": 3.0}, "loss_db")],
)
def test_bad_parameters_name_the_key(change: dict[str, object], key: str) -> None:
    with pytest.raises(PhysicsParamsError, match=rf"net\.yaml: heralding\.{key}: "):
        HeraldingParams.from_mapping({**_yaml_heralding(), **change}, "net.yaml: heralding")


# ---- exact -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p_d", [0.0, 0.05])
def test_the_instrument_is_complete(p_d: float) -> None:
    station, world, a, b = _setup(_params(detection_efficiency_a=0.3, detection_efficiency_b=0.6,
                                          dark_count_probability=p_d, photon_indistinguishability=0.8), 0.2, 0.7)
    for state in ([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]):
        world.set_state([a, b], np.array(state, dtype=float))
        assert sum(station.probabilities(a, b).values()) == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize(("alpha_a", "alpha_b", "p_d"), [(0.1, 0.1, 0.0), (0.05, 0.3, 0.0), (0.2, 0.15, 0.01)])
def test_click_probabilities_match_the_closed_form(alpha_a: float, alpha_b: float, p_d: float) -> None:
    eta_a, eta_b = 0.4, 0.25
    station, _, a, b = _setup(_params(detection_efficiency_a=eta_a, detection_efficiency_b=eta_b,
                                      dark_count_probability=p_d), alpha_a, alpha_b)
    photon = _photon_click_probability(alpha_a, alpha_b, eta_a, eta_b)
    none_photon = 1.0 - 2.0 * photon
    expected = (1 - p_d) * photon + p_d * (1 - p_d) * none_photon
    probs = station.probabilities(a, b)
    assert probs[Click.DETECTOR_0] == pytest.approx(expected, abs=TOL)
    assert probs[Click.DETECTOR_1] == pytest.approx(expected, abs=TOL)
    assert probs[Click.NONE] == pytest.approx(1.0 - 2.0 * expected, abs=TOL)


@pytest.mark.parametrize("alpha", [0.02, 0.1, 0.3])
@pytest.mark.parametrize("eta", [1.0e-3, 0.5])
def test_heralded_state_has_fidelity_about_one_minus_alpha(alpha: float, eta: float) -> None:
    """F = (1 - alpha) / (1 - alpha eta / 2) for equal arms; -> 1 - alpha for small eta (Humphreys 2018)."""
    for click, sign in ((Click.DETECTOR_0, 1.0), (Click.DETECTOR_1, -1.0)):
        station, _, a, b = _setup(_params(detection_efficiency_a=eta, detection_efficiency_b=eta), alpha, alpha)
        rho = station.heralded_state(click, a, b)
        assert np.trace(rho).real == pytest.approx(1.0, abs=TOL)
        expected = (1 - alpha) / (1 - alpha * eta / 2)
        assert _fidelity(rho, _psi(sign)) == pytest.approx(expected, abs=1e-10)
        assert rho[0, 0].real == pytest.approx(1 - expected, abs=1e-10)  # the rest is |00>
        if eta < 0.01:
            assert expected == pytest.approx(1 - alpha, abs=alpha * eta)


def test_visibility_and_phase_noise_reduce_the_coherence() -> None:
    alpha, eta, m, sigma, phi = 0.1, 0.2, 0.81, 0.3, 0.7
    station, _, a, b = _setup(_params(detection_efficiency_a=eta, detection_efficiency_b=eta,
                                      photon_indistinguishability=m, phase_noise_rad=sigma,
                                      optical_phase_rad=phi), alpha, alpha)
    probs = station.probabilities(a, b)
    rho = station.heralded_state(Click.DETECTOR_0, a, b)
    c = math.sqrt(m) * math.exp(-(sigma**2) / 2)
    weight = alpha * (1 - alpha) * eta / probs[Click.DETECTOR_0]  # population of |01> + |10>
    assert rho[2, 1] == pytest.approx(c * weight / 2 * complex(math.cos(phi), math.sin(phi)), abs=1e-12)
    assert _fidelity(rho, _psi(1.0, phi)) == pytest.approx(weight * (1 + c) / 2, abs=1e-12)


def test_dark_counts_herald_an_unentangled_state() -> None:
    p_d = 0.02
    station, _, a, b = _setup(_params(detection_efficiency_a=0.5, detection_efficiency_b=0.5,
                                      dark_count_probability=p_d), 0.0, 0.0)
    probs = station.probabilities(a, b)
    assert probs[Click.DETECTOR_0] == pytest.approx(p_d * (1 - p_d), abs=TOL)
    assert station.heralded_state(Click.DETECTOR_1, a, b)[3, 3].real == pytest.approx(1.0, abs=TOL)


def test_herald_acts_on_the_whole_block() -> None:
    """Qubit a entangled with a memory qubit m: after a herald the three-qubit state stays normalised, and the
    memory keeps its correlation with a (|00> admixture on a,b goes with m = |0>)."""
    station, world, a, b = _setup(_params(detection_efficiency_a=0.5, detection_efficiency_b=0.5), 0.5, 0.2)
    m = world.new_qubit()
    s = math.sqrt(0.5)
    for _ in range(200):
        world.set_state([a, m], np.array([s, 0.0, 0.0, s]))  # a, m in Phi+: m = 0 exactly when a is bright
        _prepare(world, b, 0.2)
        if station.attempt(a, b) is Click.DETECTOR_0:
            break
    else:
        pytest.fail("no herald in 200 attempts at P(herald) ~ 0.3")
    rho = world.density_matrix([a, b, m])
    assert np.trace(rho).real == pytest.approx(1.0, abs=TOL)
    p_a_bright = world.density_matrix([a])[0, 0].real
    p_m_zero_given = rho[0b000, 0b000].real + rho[0b010, 0b010].real  # a = 0 -> m = 0
    assert p_m_zero_given == pytest.approx(p_a_bright, abs=1e-12)


# ---- statistics over attempts ----------------------------------------------------------------------------


def test_click_frequencies_over_attempts() -> None:
    alpha, eta, shots = 0.2, 0.3, 6000
    station, world, a, b = _setup(_params(detection_efficiency_a=eta, detection_efficiency_b=eta), alpha, alpha,
                                  seed=3)
    expected = station.probabilities(a, b)
    counts = dict.fromkeys(Click, 0)
    for _ in range(shots):
        _prepare(world, a, alpha)
        _prepare(world, b, alpha)
        counts[station.attempt(a, b)] += 1
    for click, p in expected.items():
        assert counts[click] / shots == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / shots))


def test_attempts_until_herald_are_geometric() -> None:
    alpha, eta, shots = 0.1, 0.01, 2000
    station, world, a, b = _setup(_params(detection_efficiency_a=eta, detection_efficiency_b=eta), alpha, alpha,
                                  seed=5)
    p = sum(v for k, v in station.probabilities(a, b).items() if k is not Click.NONE)
    attempts, detector_0 = [], 0
    for _ in range(shots):
        _prepare(world, a, alpha)
        _prepare(world, b, alpha)
        result = station.attempt_until_herald(a, b, max_attempts=10**9)
        attempts.append(result.attempts)
        detector_0 += result.click is Click.DETECTOR_0
        assert _fidelity(world.density_matrix([a, b]), _psi(1.0 if result.click is Click.DETECTOR_0 else -1.0)) > 0.85
    mean = 1.0 / p
    assert np.mean(attempts) == pytest.approx(mean, abs=5 * math.sqrt((1 - p) / p**2 / shots))
    assert detector_0 / shots == pytest.approx(0.5, abs=5 * math.sqrt(0.25 / shots))
    _prepare(world, a, 0.0)
    _prepare(world, b, 0.0)
    capped = station.attempt_until_herald(a, b, max_attempts=7)
    assert capped.attempts == 7 and capped.click is Click.NONE
    with pytest.raises(ValueError, match="max_attempts"):
        station.attempt_until_herald(a, b, max_attempts=0)
