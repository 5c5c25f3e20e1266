"""QuantumWorld against qutip: gates and channels on random states, partial traces, measurement statistics,
reproducibility, and the block bookkeeping (merge on multi-qubit gates, split on measure/reset/discard)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
from hypothesis import given, settings
from hypothesis import strategies as st
from physics_oracle import kraus_on, ptrace, rand_dm, rand_unitary, unitary_on

from sim_instruments.physics import channels, gates
from sim_instruments.physics.rng import child_rng, make_rng
from sim_instruments.physics.world import QuantumWorld

TOL = 1e-10


def _world(seed: int = 1) -> QuantumWorld:
    return QuantumWorld(make_rng(seed))


def _register(world: QuantumWorld, n: int) -> list[int]:
    return [world.new_qubit() for _ in range(n)]


@st.composite
def _targets(draw: st.DrawFn, max_n: int = 4) -> tuple[int, list[int]]:
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, min(n, 3)))
    return n, draw(st.permutations(range(n)))[:k]


def _assert_density_matrix(rho: np.ndarray) -> None:
    assert np.allclose(rho, rho.conj().T, atol=1e-12)
    assert abs(np.trace(rho) - 1) < 1e-12
    assert np.linalg.eigvalsh(rho).min() > -1e-12


# ---- gates and channels against qutip ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(nt=_targets(), seed=st.integers(0, 2**16))
def test_random_unitary_on_random_state_matches_qutip(nt: tuple[int, list[int]], seed: int) -> None:
    n, targets = nt
    world = _world()
    q = _register(world, n)
    rho = rand_dm(n, seed)
    u = rand_unitary(len(targets), seed + 1)
    world.set_state(q, rho)
    world.apply_unitary(u, [q[t] for t in targets])
    assert np.allclose(world.density_matrix(q), unitary_on(rho, u, n, targets), atol=TOL)


@settings(max_examples=40, deadline=None)
@given(nt=_targets(), seed=st.integers(0, 2**16))
def test_gate_across_separate_blocks_merges_them_correctly(nt: tuple[int, list[int]], seed: int) -> None:
    """Each qubit starts in its own random block; the gate must act on their tensor product."""
    n, targets = nt
    world = _world()
    q = _register(world, n)
    singles = [rand_dm(1, seed + i) for i in range(n)]
    for qid, rho1 in zip(q, singles, strict=True):
        world.set_state([qid], rho1)
    full = singles[0]
    for rho1 in singles[1:]:
        full = np.kron(full, rho1)
    u = rand_unitary(len(targets), seed)
    world.apply_unitary(u, [q[t] for t in targets])
    assert np.allclose(world.density_matrix(q), unitary_on(full, u, n, targets), atol=TOL)
    assert sorted(world.block_of(q[targets[0]])) == sorted(q[t] for t in targets)


GATES = {
    "X": gates.X,
    "Y": gates.Y,
    "Z": gates.Z,
    "H": gates.H,
    "S": gates.S,
    "T": gates.T,
    "K": gates.K,
    "rx": gates.r("x", 0.3),
    "ry": gates.r("y", -1.1),
    "rz": gates.r("z", 2.5),
    "CNOT": gates.CNOT,
    "CZ": gates.CZ,
    "SWAP": gates.SWAP,
    "crot_x": gates.crot("x", 0.7),
    "crot_y": gates.crot("y", -math.pi / 2),
    "ms2": gates.ms(2, math.pi / 2),
    "ms3": gates.ms(3, 0.4),
}


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_in_the_world_matches_qutip(name: str) -> None:
    u = GATES[name]
    k = int(math.log2(u.shape[0]))
    n = 4
    targets = [3, 0, 2][:k]
    world = _world()
    q = _register(world, n)
    rho = rand_dm(n, 11)
    world.set_state(q, rho)
    world.apply_unitary(u, [q[t] for t in targets])
    assert np.allclose(world.density_matrix(q), unitary_on(rho, u, n, targets), atol=TOL)


CHANNELS = {
    "depolarising": channels.depolarising(0.3),
    "depolarising_2q": channels.depolarising_2q(0.2),
    "amplitude_damping": channels.amplitude_damping(0.4),
    "phase_damping": channels.phase_damping(0.6),
    "dephasing": channels.dephasing(0.1),
    "idle": channels.idle_kraus(5.0e5, 1.0e6, 7.0e5),
}


@pytest.mark.parametrize(
    ("name", "n"),
    [(name, n) for name in sorted(CHANNELS) for n in (1, 2, 4) if (name, n) != ("depolarising_2q", 1)],
)
def test_every_channel_in_the_world_matches_qutip(name: str, n: int) -> None:
    kraus = CHANNELS[name]
    k = int(math.log2(kraus[0].shape[0]))
    targets = [n - 1, 0][:k] if n > 1 else [0]
    world = _world()
    q = _register(world, n)
    rho = rand_dm(n, 5)
    world.set_state(q, rho)
    world.apply_kraus(kraus, [q[t] for t in targets])
    got = world.density_matrix(q)
    assert np.allclose(got, kraus_on(rho, kraus, n, targets), atol=TOL)
    _assert_density_matrix(got)


@settings(max_examples=30, deadline=None)
@given(nt=_targets(), seed=st.integers(0, 2**16))
def test_random_kraus_map_matches_qutip(nt: tuple[int, list[int]], seed: int) -> None:
    n, targets = nt
    k = len(targets)
    kraus = [np.asarray(op.full()) for op in qutip.rand_kraus_map([2] * k, seed=seed)]
    world = _world()
    q = _register(world, n)
    rho = rand_dm(n, seed + 3)
    world.set_state(q, rho)
    world.apply_kraus(kraus, [q[t] for t in targets])
    assert np.allclose(world.density_matrix(q), kraus_on(rho, kraus, n, targets), atol=TOL)


@settings(max_examples=40, deadline=None)
@given(nt=_targets(), seed=st.integers(0, 2**16))
def test_reduced_state_in_any_order_matches_qutip_ptrace(nt: tuple[int, list[int]], seed: int) -> None:
    n, keep = nt
    world = _world()
    q = _register(world, n)
    rho = rand_dm(n, seed)
    world.set_state(q, rho)
    assert np.allclose(world.density_matrix([q[i] for i in keep]), ptrace(rho, n, keep), atol=TOL)


def test_reduced_state_across_blocks_is_the_tensor_product_in_the_asked_order() -> None:
    world = _world()
    a, b, c = _register(world, 3)
    rho_ab, rho_c = rand_dm(2, 1), rand_dm(1, 2)
    world.set_state([a, b], rho_ab)
    world.set_state([c], rho_c)
    expected = qutip.Qobj(np.kron(rho_ab, rho_c), dims=[[2] * 3] * 2).permute([2, 0, 1]).full()
    assert np.allclose(world.density_matrix([c, a, b]), expected, atol=TOL)


# ---- measurement ---------------------------------------------------------------------------------


def test_measuring_a_bell_pair_gives_equal_outcomes_and_splits_the_block() -> None:
    world = _world(3)
    seen = set()
    for _ in range(40):
        a, b = _register(world, 2)
        world.apply_unitary(gates.H, [a])
        world.apply_unitary(gates.CNOT, [a, b])
        assert world.block_of(a) == (a, b)
        ma = world.measure(a)
        assert world.block_of(a) == (a,)
        assert world.block_of(b) == (b,)
        expected = np.diag([1.0 - ma, float(ma)])
        assert np.allclose(world.density_matrix([b]), expected, atol=TOL)
        assert world.measure(b) == ma
        seen.add(ma)
        world.discard(a)
        world.discard(b)
    assert seen == {0, 1}


def test_measurement_collapses_the_rest_of_a_block_like_qutip() -> None:
    world = _world(4)
    q = _register(world, 3)
    rho = rand_dm(3, 9)
    world.set_state(q, rho)
    m = world.measure(q[1])
    proj = qutip.expand_operator(qutip.basis(2, m).proj(), [2] * 3, [1])
    post = (proj * qutip.Qobj(rho, dims=[[2] * 3] * 2) * proj).full()
    post /= np.trace(post)
    assert np.allclose(world.density_matrix([q[0], q[2]]), ptrace(post, 3, [0, 2]), atol=TOL)
    assert world.block_of(q[0]) == (q[0], q[2])
    _assert_density_matrix(world.density_matrix(q))


@pytest.mark.parametrize(
    ("p1", "p_flip_0", "p_flip_1"), [(0.3, 0.0, 0.0), (0.3, 0.05, 0.005), (1.0, 0.0, 0.2), (0.0, 0.1, 0.0)]
)
def test_measurement_statistics_with_readout_error(p1: float, p_flip_0: float, p_flip_1: float) -> None:
    shots = 20_000
    world = _world(2024)
    qid = world.new_qubit()
    angle = 2 * math.asin(math.sqrt(p1))
    ones = 0
    for _ in range(shots):
        world.reset(qid)
        world.apply_unitary(gates.r("y", angle), [qid])
        ones += world.measure(qid, p_flip_0, p_flip_1)
    expected = p1 * (1 - p_flip_1) + (1 - p1) * p_flip_0
    sigma = math.sqrt(expected * (1 - expected) / shots)
    assert abs(ones / shots - expected) <= 5 * sigma + 1e-12


def test_the_state_collapses_to_the_true_outcome_not_the_reported_one() -> None:
    world = _world(5)
    qid = world.new_qubit()
    for _ in range(50):
        world.reset(qid)
        assert world.measure(qid, p_flip_0=1.0) == 1  # always misread ...
        assert np.allclose(world.density_matrix([qid]), np.diag([1, 0]))  # ... but still |0>


def test_same_seed_same_outcomes_and_different_seed_different_outcomes() -> None:
    def run(seed: int) -> list[int]:
        world = _world(seed)
        q = _register(world, 3)
        out = []
        for i in range(200):
            world.apply_unitary(gates.r("x", 0.1 * i + 0.5), [q[i % 3]])
            world.apply_unitary(gates.CNOT, [q[i % 3], q[(i + 1) % 3]])
            out.append(world.measure(q[(i + 2) % 3], 0.05, 0.01))
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert child_rng(make_rng(3)).random() == child_rng(make_rng(3)).random()
    with pytest.raises(ValueError, match="seed"):
        make_rng(-1)


# ---- blocks, reset, discard, set_state -----------------------------------------------------------


def test_one_qubit_work_keeps_blocks_separate() -> None:
    world = _world()
    q = _register(world, 5)
    for i, qid in enumerate(q):
        world.apply_unitary(gates.r("x", 0.2 * i), [qid])
        world.apply_kraus(channels.depolarising(0.1), [qid])
    assert sorted(world.blocks()) == [(qid,) for qid in q]
    world.apply_unitary(gates.CZ, [q[3], q[1]])
    assert sorted(map(sorted, world.blocks())) == sorted([[q[0]], sorted([q[3], q[1]]), [q[2]], [q[4]]])
    world.apply_unitary(gates.ms(3, 0.3), [q[0], q[1], q[4]])
    assert sorted(world.block_of(q[1])) == sorted([q[0], q[3], q[1], q[4]])  # order is internal


def test_reset_and_discard_trace_the_qubit_out() -> None:
    world = _world()
    a, b = _register(world, 2)
    world.apply_unitary(gates.H, [a])
    world.apply_unitary(gates.CNOT, [a, b])
    world.reset(a)
    assert np.allclose(world.density_matrix([a]), np.diag([1, 0]))
    assert np.allclose(world.density_matrix([b]), np.eye(2) / 2)
    assert world.block_of(b) == (b,)
    world.discard(b)
    assert b not in world
    assert world.qubit_ids == (a,)
    with pytest.raises(KeyError, match="no qubit"):
        world.density_matrix([b])
    assert world.new_qubit() == 2  # ids are never reused


def test_set_state_places_a_bell_pair_and_validates() -> None:
    world = _world()
    a, b, c = _register(world, 3)
    phi_plus = np.array([1, 0, 0, 1]) / math.sqrt(2)
    world.set_state([b, a], phi_plus)
    assert world.block_of(a) == (b, a)
    assert np.allclose(world.density_matrix([a, b]), np.outer(phi_plus, phi_plus))
    with pytest.raises(ValueError, match="trace 1"):
        world.set_state([c], np.eye(2))
    with pytest.raises(ValueError, match="hermitian"):
        world.set_state([c], np.array([[0.5, 0.5], [0, 0.5]]))
    with pytest.raises(ValueError, match="positive"):
        world.set_state([c], np.array([[1.5, 0], [0, -0.5]]))
    with pytest.raises(ValueError, match="4x4"):
        world.set_state([a, c], np.eye(2) / 2)
    with pytest.raises(ValueError, match="distinct"):
        world.apply_unitary(gates.CNOT, [a, a])
    with pytest.raises(ValueError, match="4x4"):
        world.apply_unitary(gates.X, [a, c])


def test_long_random_sequence_stays_a_valid_state() -> None:
    world = _world(99)
    rng = np.random.default_rng(0)
    q = _register(world, 5)
    for i in range(300):
        a, b = rng.choice(5, size=2, replace=False)
        choice = i % 4
        if choice == 0:
            world.apply_unitary(rand_unitary(2, i), [q[a], q[b]])
        elif choice == 1:
            world.apply_kraus(channels.idle_kraus(1.0e5, 1.0e6, 1.5e6), [q[a]])
        elif choice == 2:
            world.apply_kraus(channels.depolarising_2q(0.05), [q[a], q[b]])
        else:
            world.measure(q[a])
    _assert_density_matrix(world.density_matrix(q))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), steps=st.lists(_targets(max_n=5), min_size=2, max_size=6))
def test_sequences_of_gates_and_channels_on_moving_targets_match_qutip(
    seed: int, steps: list[tuple[int, list[int]]]
) -> None:
    """Each step re-lays the block out for new targets; the state must still follow qutip step by step."""
    n = 5
    world = _world()
    q = _register(world, n)
    expected = rand_dm(n, seed)
    world.set_state(q, expected)
    for i, (_, targets) in enumerate(steps):
        k = len(targets)
        if i % 2:
            kraus = [np.asarray(op.full()) for op in qutip.rand_kraus_map([2] * k, seed=seed + i)]
            world.apply_kraus(kraus, [q[t] for t in targets])
            expected = kraus_on(expected, kraus, n, targets)
        else:
            u = rand_unitary(k, seed + i)
            world.apply_unitary(u, [q[t] for t in targets])
            expected = unitary_on(expected, u, n, targets)
        assert np.allclose(world.density_matrix(q), expected, atol=TOL)
