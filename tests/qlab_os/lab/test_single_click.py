"""The closed form of single-click heralding (qlab_os.lab.single_click) against the simulated lab's Kraus-operator
model (sim_instruments.physics.heralding): two independent derivations of the same physics must agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlab_os.lab.single_click import (
    BASIS_ROTATION,
    LoopLink,
    Preparation,
    SingleClickLink,
    agreement,
    conditioned_half,
    outcome_probabilities,
    readout_matrix,
)
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


# -- attempt loops whose preparations are drawn once per loop ---------------------------------------------------------

def _params_tuple() -> tuple[float, float, float, float, float]:
    params = HeraldingParams.from_mapping(PARAMS, "test")
    return (PARAMS["detection_efficiency_a"], PARAMS["detection_efficiency_b"], PARAMS["dark_count_probability"],
            params.coherence, PARAMS["optical_phase_rad"])


def test_one_preparation_per_end_is_the_plain_link() -> None:
    eta_a, eta_b, p_dark, c, phase = _params_tuple()
    loop = LoopLink.from_preparations(([Preparation(1.0, 0.1)], [Preparation(1.0, 0.2)]), eta_a, eta_b, p_dark, c,
                                      phase)
    plain = SingleClickLink(0.1, 0.2, eta_a, eta_b, p_dark, c, phase)
    assert loop.herald_probability == pytest.approx(plain.herald_probability, rel=1e-12)
    for detector in (0, 1):
        (pair,) = loop.heralded(detector)
        rho = plain.herald(detector)
        np.testing.assert_allclose(pair.state, rho / np.trace(rho), atol=1e-12)
        assert pair.weight == pytest.approx(np.real(np.trace(rho)) / plain.herald_probability)
    # the correction on the first end (X, or Y for Psi-) reaches the same fidelity as the closed form's (on b)
    assert loop.fidelity() == pytest.approx(plain.fidelity(), rel=1e-9)


def test_psi_minus_corrected_by_y_on_the_first_end_is_phi_plus() -> None:
    loop = LoopLink.from_preparations(([Preparation(1.0, 1.0e-9)], [Preparation(1.0, 1.0e-9)]), 1.0e-6, 1.0e-6,
                                      0.0, 1.0)
    delivered = loop.delivered()
    assert [h.weight for h in delivered] == pytest.approx([0.5, 0.5])
    perfect = readout_matrix(1.0, 1.0)
    for h in delivered:
        for basis, agree in (("Z", 1.0), ("X", 1.0), ("Y", 0.0)):
            assert agreement(h.state, basis, perfect, perfect) == pytest.approx(agree, abs=1e-6)


def test_a_spectator_is_not_rotated_and_not_corrected() -> None:
    """An ion spectator (bright, alpha 1) on end b: the pair is NV state x |0>; measured 'in X' it still reads 0."""
    loop = LoopLink.from_preparations(([Preparation(1.0, 0.1)], [Preparation(1.0, 1.0, 0.0, spectator=True)]),
                                      1.0e-3, 1.0e-3, 0.0, 1.0)
    perfect = readout_matrix(1.0, 1.0)
    for h in loop.delivered():
        assert h.spectators == (False, True)
        p = outcome_probabilities(h.state, (np.eye(2), np.eye(2)), (perfect, perfect))
        assert p[:, 1].sum() == pytest.approx(0.0, abs=1e-12)  # the spectator half is |0>
        # the spectator's 'X' measurement is no rotation: agreement in X is P(NV's X outcome is 0)
        nv_x0 = outcome_probabilities(h.state, (BASIS_ROTATION["X"], np.eye(2)), (perfect, perfect))[0].sum()
        assert agreement(h.state, "X", perfect, perfect, h.spectators) == pytest.approx(nv_x0)
    # an NV spectator (dark, alpha 0) first: the correction does not drive it, so it stays |1>
    nv_dead = LoopLink.from_preparations(([Preparation(1.0, 0.0, 0.0, spectator=True)], [Preparation(1.0, 0.1)]),
                                         1.0e-3, 1.0e-3, 0.0, 1.0)
    for h in nv_dead.delivered():
        assert np.real(h.state[2, 2] + h.state[3, 3]) == pytest.approx(1.0)
        half = conditioned_half(h.state, "X", perfect, spectator=True)
        assert half[1][0] == pytest.approx(1.0)  # read as 1 with no rotation


def test_loop_herald_rate_matches_loops_drawn_on_the_kraus_model() -> None:
    """Loops whose preparation (a 20 % bright spectator on b) is drawn once per loop, each run to its herald on the
    lab's Kraus model (SingleClickStation.attempt_until_herald): heralds per attempt are 1 / sum_i w_i / p_i (5 sigma,
    fixed seed), not the per-attempt mixture sum_i w_i p_i; heralded pairs carry each branch with its prior weight."""
    params = HeraldingParams.from_mapping(PARAMS, "test")
    eta_a, eta_b, p_dark, c, phase = _params_tuple()
    ends = ([Preparation(1.0, 0.1)], [Preparation(0.8, 0.1), Preparation(0.2, 1.0, 0.0, spectator=True)])
    loop = LoopLink.from_preparations(ends, eta_a, eta_b, p_dark, c, phase)
    world = QuantumWorld(np.random.default_rng(7))
    qa, qb = world.new_qubit(), world.new_qubit()
    station = SingleClickStation(params, world, world.rng)
    loops, attempts = 4000, 0
    for _ in range(loops):
        spectator = bool(world.rng.random() < 0.2)
        world.set_state([qa], _prepared(0.1))
        world.set_state([qb], _prepared(1.0 if spectator else 0.1))
        attempts += station.attempt_until_herald(qa, qb, 10**9).attempts
    p_i = [br.link.herald_probability for br in loop.branches]
    w_i = [br.weight for br in loop.branches]
    mean_k = sum(w / p for w, p in zip(w_i, p_i, strict=True))
    var_k = sum(w * (2 - p) / p**2 for w, p in zip(w_i, p_i, strict=True)) - mean_k**2
    rate = loops / attempts
    sigma = loop.herald_probability * math.sqrt(var_k / loops) / mean_k  # delta method on loops / sum k
    assert loop.herald_rate_sigma(loops) == pytest.approx(sigma, rel=1e-12)
    assert loop.herald_probability == pytest.approx(1 / mean_k)
    assert abs(rate - loop.herald_probability) <= 5 * sigma, (rate, loop.herald_probability, sigma)
    mixture = sum(w * p for w, p in zip(w_i, p_i, strict=True))
    assert abs(rate - mixture) > 5 * sigma  # the spectator heralds ~5x as often: the two models differ here
    weight = sum(h.weight for h in loop.delivered() if h.spectators[1])
    assert weight == pytest.approx(0.2)


def test_loop_link_refuses_bad_weights_and_branches_that_never_herald() -> None:
    eta_a, eta_b, p_dark, c, phase = _params_tuple()
    with pytest.raises(ValueError, match=r"weights of end a must sum to 1, not 2\.0"):
        LoopLink.from_preparations(([Preparation(2.0, 0.1)], [Preparation(0.5, 0.1), Preparation(0.0, 0.1)]),
                                   eta_a, eta_b, p_dark, c, phase)
    dark = Preparation(1.0, 0.0, 0.0, spectator=True)  # never bright, and no dark counts
    with pytest.raises(ValueError, match="never heralds"):
        LoopLink.from_preparations(([dark], [dark]), eta_a, eta_b, 0.0, c, phase)
