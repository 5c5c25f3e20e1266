"""The closed form of single-click heralding (qlab_os.lab.single_click) against the simulated lab's Kraus-operator
model (sim_instruments.physics.heralding): two independent derivations of the same physics must agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlab_os.lab.single_click import SingleClickLink, agreement, conditioned_half, readout_matrix
from sim_instruments.physics.heralding import Click, HeraldingParams, SingleClickStation
from sim_instruments.physics.world import QuantumWorld

PARAMS = {"detection_efficiency_a": 3.0e-2, "detection_efficiency_b": 5.0e-2, "dark_count_probability": 2.0e-3,
          "photon_indistinguishability": 0.8, "optical_phase_rad": 0.3, "phase_noise_rad": 0.4}


def _prepared(alpha: float) -> np.ndarray:
    psi = np.array([math.sqrt(alpha), math.sqrt(1 - alpha)], dtype=np.complex128)
    return np.outer(psi, psi.conj())


@pytest.mark.parametrize(("alpha_a", "alpha_b"), [(0.1, 0.1), (0.05, 0.3), (0.5, 0.5)])
def test_closed_form_matches_the_kraus_model(alpha_a: float, alpha_b: float) -> None:
    params = HeraldingParams.from_mapping(PARAMS, "test")
    world = QuantumWorld(np.random.default_rng(1))
    qa, qb = world.new_qubit(), world.new_qubit()
    world.set_state([qa], _prepared(alpha_a))
    world.set_state([qb], _prepared(alpha_b))
    station = SingleClickStation(params, world, world.rng)
    probs = station.probabilities(qa, qb)
    link = SingleClickLink(alpha_a, alpha_b, PARAMS["detection_efficiency_a"], PARAMS["detection_efficiency_b"],
                           PARAMS["dark_count_probability"], params.coherence, PARAMS["optical_phase_rad"])
    for detector, click in ((0, Click.DETECTOR_0), (1, Click.DETECTOR_1)):
        expected = station.heralded_state(click, qa, qb) * probs[click]
        np.testing.assert_allclose(link.herald(detector), expected, atol=1e-12)
    assert link.herald_probability == pytest.approx(probs[Click.DETECTOR_0] + probs[Click.DETECTOR_1], rel=1e-12)


def test_fidelity_is_one_minus_alpha_times_the_coherence_term_without_dark_counts() -> None:
    # small efficiency, no dark counts: F = (1 - alpha)(1 + c)/2 (Humphreys 2018)
    link = SingleClickLink(0.1, 0.1, 1.0e-6, 1.0e-6, 0.0, 0.9)
    assert link.fidelity() == pytest.approx(0.9 * 1.9 / 2, rel=1e-5)


def test_perfect_pair_statistics() -> None:
    phi_plus = np.zeros((4, 4), dtype=np.complex128)
    phi_plus[np.ix_([0, 3], [0, 3])] = 0.5
    perfect = readout_matrix(1.0, 1.0)
    assert agreement(phi_plus, "Z", perfect, perfect) == pytest.approx(1.0)
    assert agreement(phi_plus, "X", perfect, perfect) == pytest.approx(1.0)
    assert agreement(phi_plus, "Y", perfect, perfect) == pytest.approx(0.0)  # <YY> = -1 for Phi+


def test_conditioned_half_is_remote_state_preparation() -> None:
    phi_plus = np.zeros((4, 4), dtype=np.complex128)
    phi_plus[np.ix_([0, 3], [0, 3])] = 0.5
    plus, minus = np.full((2, 2), 0.5), np.array([[0.5, -0.5], [-0.5, 0.5]])
    (p0, rho0), (p1, rho1) = conditioned_half(phi_plus, "X", readout_matrix(1.0, 1.0))
    assert (p0, p1) == pytest.approx((0.5, 0.5))
    np.testing.assert_allclose(rho0, plus, atol=1e-12)
    np.testing.assert_allclose(rho1, minus, atol=1e-12)
    # reading X wrongly 20 % of the time (F1 = 0.8) mixes in the other state with the right weights
    (p0, rho0), (p1, rho1) = conditioned_half(phi_plus, "X", readout_matrix(1.0, 0.8))
    assert (p0, p1) == pytest.approx((0.6, 0.4))
    np.testing.assert_allclose(rho0, (0.5 * plus + 0.1 * minus) / 0.6, atol=1e-12)
    np.testing.assert_allclose(rho1, minus, atol=1e-12)
