"""HeraldedLink: the delivered Werner state (exact), Bell indices, attempt statistics against the geometric
distribution, the max_attempts cap, the two-call contract and its errors, LinkParams validation and presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_instruments.physics.link import (
    BELL_NAMES,
    HeraldedLink,
    LinkError,
    LinkParams,
    bell_state,
    shared_link,
    werner_state,
)
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

TOL = 1e-12


def _setup(params: LinkParams, seed: int = 1, qubits: int = 2) -> tuple[HeraldedLink, QuantumWorld, list[int]]:
    world = QuantumWorld(make_rng(seed))
    ids = [world.new_qubit() for _ in range(qubits)]
    return HeraldedLink("a-b", params, world), world, ids


def _fidelity(rho: np.ndarray, bell: int) -> float:
    v = bell_state(bell)
    return float((v.conj() @ rho @ v).real)


# ---- LinkParams --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attempt_duration_ns": 0}, "attempt_duration_ns"),
        ({"attempt_duration_ns": -5}, "attempt_duration_ns"),
        ({"attempt_duration_ns": 1.5}, "attempt_duration_ns"),
        ({"success_probability": 0.0}, "success_probability"),
        ({"success_probability": 1.01}, "success_probability"),
        ({"success_probability": math.nan}, "success_probability"),
        ({"fidelity": 0.2}, "fidelity"),
        ({"fidelity": 1.0001}, "fidelity"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"bell_state_correction": 1}, "bell_state_correction"),
    ],
)
def test_link_params_are_validated_and_name_the_field(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"attempt_duration_ns": 1000, "success_probability": 0.5, "fidelity": 0.9}
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        LinkParams(**base)  # type: ignore[arg-type]


def test_link_params_edges_are_allowed() -> None:
    LinkParams(attempt_duration_ns=1, success_probability=1.0, fidelity=0.25, max_attempts=1)
    LinkParams(attempt_duration_ns=1, success_probability=1e-12, fidelity=1.0)


def test_presets() -> None:
    ideal = LinkParams.ideal()
    assert (ideal.attempt_duration_ns, ideal.success_probability, ideal.fidelity) == (1000, 1.0, 1.0)
    assert ideal.bell_state_correction
    nv, ion = LinkParams.nv(), LinkParams.ion()
    assert 3000 <= nv.attempt_duration_ns <= 6000 and 1e-5 <= nv.success_probability <= 1e-3
    assert 0.7 <= nv.fidelity <= 0.85
    assert 10_000 <= ion.attempt_duration_ns < 100_000 and 1e-5 <= ion.success_probability <= 1e-3
    assert 0.85 <= ion.fidelity <= 0.95
    assert nv.mean_pair_time_ns == pytest.approx(nv.attempt_duration_ns / nv.success_probability)


# ---- the delivered state -----------------------------------------------------------------------------


@pytest.mark.parametrize("bell", range(4))
@pytest.mark.parametrize("fidelity", [0.25, 0.5, 0.8, 0.97, 1.0])
def test_werner_state_has_the_fidelity(bell: int, fidelity: float) -> None:
    rho = werner_state(bell, fidelity)
    assert np.allclose(rho, rho.conj().T) and abs(np.trace(rho) - 1) < TOL
    assert np.linalg.eigvalsh(rho).min() > -TOL
    assert _fidelity(rho, bell) == pytest.approx(fidelity, abs=TOL)


@pytest.mark.parametrize("fidelity", [0.25, 0.6, 0.8, 0.93, 1.0])
def test_delivered_pair_is_the_werner_state_around_phi_plus(fidelity: float) -> None:
    params = LinkParams(attempt_duration_ns=500, success_probability=0.3, fidelity=fidelity)
    link, world, (a, b) = _setup(params)
    first = link.ent(a, 1000)
    assert link.pending is not None and not first.pair_placed
    second = link.ent(b, 1000)
    assert link.pending is None and second.pair_placed
    assert first.bell_index == second.bell_index == 0
    assert first.duration_ns == second.duration_ns == first.attempts * 500
    assert first.attempts == second.attempts >= 1
    rho = world.density_matrix([a, b])
    w = (4 * fidelity - 1) / 3
    phi = bell_state(0)
    expected = w * np.outer(phi, phi.conj()) + (1 - w) * np.eye(4) / 4
    assert np.allclose(rho, expected, atol=TOL)
    assert _fidelity(rho, 0) == pytest.approx(fidelity, abs=TOL)
    assert np.allclose(world.density_matrix([a]), np.eye(2) / 2, atol=TOL)
    assert link.pairs_delivered == 1


def test_ideal_link_gives_phi_plus_in_one_attempt() -> None:
    link, world, (a, b) = _setup(LinkParams.ideal())
    for start in (0, 1000, 7777):
        h1, h2 = link.ent(b, start), link.ent(a, start)  # either end may go first
        assert (h1.duration_ns, h1.heralded, h1.bell_index, h1.attempts) == (1000, True, 0, 1)
        assert (h2.duration_ns, h2.heralded, h2.bell_index) == (1000, True, 0)
        phi = bell_state(0)
        assert np.allclose(world.density_matrix([a, b]), np.outer(phi, phi.conj()), atol=TOL)


def test_single_click_mode_delivers_and_reports_psi_plus_or_minus() -> None:
    params = LinkParams(attempt_duration_ns=1000, success_probability=0.5, fidelity=0.9, bell_state_correction=False)
    link, world, (a, b) = _setup(params, seed=7)
    seen = []
    for _ in range(200):
        h1 = link.ent(a, 0)
        h2 = link.ent(b, 0)
        assert h1.bell_index == h2.bell_index
        assert h1.bell_index in (1, 2), BELL_NAMES[h1.bell_index or 0]
        rho = world.density_matrix([a, b])
        assert _fidelity(rho, h1.bell_index) == pytest.approx(0.9, abs=TOL)
        seen.append(h1.bell_index)
    # Each of Psi+ / Psi- with probability 1/2: 200 draws, 5 standard errors.
    share = seen.count(1) / len(seen)
    assert abs(share - 0.5) < 5 * math.sqrt(0.25 / len(seen))


# ---- attempt statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.5, 0.02, 1e-4])
def test_mean_attempts_is_one_over_p(p: float) -> None:
    n = 4000
    link, _, (a, b) = _setup(LinkParams(attempt_duration_ns=10, success_probability=p, fidelity=1.0), seed=3)
    attempts = np.empty(n)
    for j in range(n):
        h = link.ent(a, 0)
        assert link.ent(b, 0).attempts == h.attempts
        assert h.duration_ns == 10 * h.attempts
        attempts[j] = h.attempts
    std_err = math.sqrt(1 - p) / p / math.sqrt(n)
    assert abs(attempts.mean() - 1 / p) < 5 * std_err
    assert attempts.min() >= 1


def test_max_attempts_cap_gives_no_herald() -> None:
    params = LinkParams(attempt_duration_ns=3800, success_probability=1e-9, fidelity=0.8, max_attempts=10)
    link, world, (a, b) = _setup(params)
    world.set_state([a], np.full((2, 2), 0.5))  # a stale state: a failed run leaves the qubit re-initialised
    h1 = link.ent(a, 50)
    h2 = link.ent(b, 50)
    for h in (h1, h2):
        assert (h.heralded, h.bell_index, h.attempts, h.duration_ns) == (False, None, 10, 38_000)
    assert not h2.pair_placed and link.pairs_delivered == 0 and link.pending is None
    assert np.allclose(world.density_matrix([a, b]), np.diag([1, 0, 0, 0]), atol=TOL)


def test_a_pair_costs_the_same_whatever_p() -> None:
    """k is drawn at once: a default cap of 1e8 attempts with p = 1e-12 is still one draw."""
    link, _, (a, b) = _setup(LinkParams(attempt_duration_ns=1, success_probability=1e-12, fidelity=1.0))
    h = link.ent(a, 0)
    assert not h.heralded and h.attempts == 10**8 and h.duration_ns == 10**8
    link.ent(b, 0)


def test_same_seed_same_pairs() -> None:
    def run(seed: int) -> list[tuple[int, int | None]]:
        params = LinkParams(attempt_duration_ns=1, success_probability=0.1, fidelity=0.9, bell_state_correction=False)
        link, _, (a, b) = _setup(params, seed=seed)
        out = []
        for _ in range(50):
            h = link.ent(a, 0)
            link.ent(b, 0)
            out.append((h.attempts, h.bell_index))
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


# ---- the two-call contract -------------------------------------------------------------------------------


def test_same_end_twice_is_refused_and_the_pending_pair_survives() -> None:
    link, _, (a, b) = _setup(LinkParams.ideal())
    link.ent(a, 0)
    with pytest.raises(LinkError, match="same end twice"):
        link.ent(a, 0)
    assert link.pending is not None and link.pending.qubit_id == a
    link.ent(b, 0)
    assert link.pairs_delivered == 1


def test_mismatched_start_times_are_refused() -> None:
    link, _, (a, b) = _setup(LinkParams.ideal())
    link.ent(a, 1000)
    with pytest.raises(LinkError, match=r"same time bins.*1001 ns.*1000 ns"):
        link.ent(b, 1001)
    link.ent(b, 1000)


def test_connected_ends_define_same_end_and_refuse_strangers() -> None:
    link, _, ids = _setup(LinkParams.ideal(), qubits=5)
    end_a, end_b, stranger = ids[0:2], ids[2:4], ids[4]
    link.connect(end_a)
    link.connect(end_a)  # idempotent
    link.connect(end_b)
    assert link.ends == (frozenset(end_a), frozenset(end_b))
    with pytest.raises(LinkError, match="not a communication qubit of either end"):
        link.ent(stranger, 0)
    link.ent(end_a[0], 0)
    with pytest.raises(LinkError, match="same end twice"):
        link.ent(end_a[1], 0)  # another qubit of the same node
    link.ent(end_b[1], 0)
    with pytest.raises(LinkError, match="already has two ends"):
        link.connect([stranger])
    with pytest.raises(LinkError, match="shares qubits"):
        link.connect([end_a[0], stranger])


def test_disconnect_and_cancel_drop_the_pending_pair() -> None:
    link, _, (a, b) = _setup(LinkParams.ideal())
    link.connect([a])
    link.connect([b])
    link.ent(a, 0)
    link.cancel()
    assert link.pending is None
    link.ent(a, 0)
    link.disconnect([a])
    assert link.pending is None and link.ends == (frozenset([b]),)


def test_unknown_qubit_is_refused() -> None:
    link, _, _ = _setup(LinkParams.ideal())
    with pytest.raises(LinkError, match="no qubit with id 99"):
        link.ent(99, 0)
    with pytest.raises(LinkError, match="not in the link's world"):
        link.connect([99])


def test_shared_link_is_made_once_per_run_and_checks_both_ends_agree() -> None:
    world = QuantumWorld(make_rng(1))
    registry: dict[str, object] = {}
    first = shared_link(registry, "a-b", LinkParams.nv(), world)
    assert shared_link(registry, "a-b", LinkParams.nv(), world) is first
    assert shared_link(registry, "b-c", LinkParams.nv(), world) is not first
    with pytest.raises(LinkError, match="configure it differently"):
        shared_link(registry, "a-b", LinkParams.ion(), world)
    with pytest.raises(LinkError, match="different QuantumWorlds"):
        shared_link(registry, "a-b", LinkParams.nv(), QuantumWorld(make_rng(2)))
