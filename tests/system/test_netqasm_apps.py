"""Every app shipped in netqasm 2.3.0 runs unmodified on qlab-os, with the statistics theory predicts (issue 3, item 6).

This file holds the shared helpers and the apps that send or check states: teleport (apps and qne_apps),
dist_cnot (both), anonymous_transmission, single_node, multiple_files, three_nodes, plus reproducibility.
The other apps are in test_netqasm_games.py (chsh, magic_square), test_netqasm_keys.py (bb84, qkd, link_layer_*)
and test_netqasm_blind.py (blind_grover, blind_rotation, blind_computation).

The apps run from copies of netqasm's folders (``<role>.yaml`` inputs added; the app code is never changed).
Every run is seeded. Tolerances follow from the number of shots: a rate p measured on n shots must lie within
``K_SIGMA * sqrt(p (1 - p) / n)`` of theory, a mean within ``K_SIGMA`` standard errors; a rate theory puts at
exactly 0 or 1 must be exact. Quantities that are deterministic in theory (states, fidelities on a noiseless
device) are compared to float precision (``ATOL``).

netqasm apps draw their own random choices (bases, angles) from Python's global ``random`` module; qlab-os seeds
it each round from the run's seed (``test_same_seed_same_results_for_apps_that_use_python_random``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import netqasm
import numpy as np
import pytest
import yaml
from netqasm.sdk.toolbox import get_angle_spec_from_float

from qlab_os.net.app_folder import load_app
from qlab_os.net.config import load_network
from qlab_os.net.run import RunReport, run_app

EXAMPLES = Path(netqasm.__file__).parent / "examples"
NETWORKS = Path(__file__).parent / "networks"
K_SIGMA = 5.0
"""Tolerance in standard errors for every statistical check."""
ATOL = 1e-9
"""Tolerance for quantities that theory fixes exactly (density matrices, fidelities on noiseless devices)."""
FID_ATOL = 1e-6
"""Tolerance for a fidelity with a state given by float angles: netqasm compiles a float angle to a sum of
n pi / 2^d within 1e-4 pi (``get_angle_spec_from_float``), which costs at most ~(pi 1e-4)^2 per rotation."""

# --- helpers (also imported by the other test_netqasm_*.py files) -------------------------------------------------


def app_copy(tmp_path: Path, app: str, inputs: dict[str, dict[str, Any]] | None = None,
             netqasm_network: dict[str, Any] | None = None) -> Path:
    """Copy netqasm's example ``app`` (e.g. ``"apps/teleport"``) to ``tmp_path`` and write ``<role>.yaml`` inputs
    (and optionally netqasm's own ``network.yaml``) next to the unmodified ``app_<role>.py`` files."""
    folder = tmp_path / app.replace("/", "__")
    if not folder.exists():
        shutil.copytree(EXAMPLES / app, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for role, values in (inputs or {}).items():
        (folder / f"{role}.yaml").write_text(yaml.safe_dump(values))
    if netqasm_network is not None:
        (folder / "network.yaml").write_text(yaml.safe_dump(netqasm_network))
    return folder


def run(folder: Path, rounds: int, seed: int, network: str | None = None) -> RunReport:
    """Run an app folder for ``rounds`` rounds; ``network`` names a file in tests/system/networks. Fails on any
    role error."""
    app = load_app(folder, network=NETWORKS / network if network else None)
    report = run_app(app, rounds=rounds, seed=seed)
    assert report.errors == [], report.errors
    assert len(report.rounds) == rounds
    return report


def link_fidelity(network: str, a: str, b: str) -> float:
    link = load_network(NETWORKS / network).link(a, b)
    assert link is not None
    return link.fidelity


def werner_weight(fidelity: float) -> float:
    """A Werner state w |Phi+><Phi+| + (1 - w) I/4 has fidelity F = (3 w + 1)/4 with |Phi+>: w = (4 F - 1)/3."""
    return (4.0 * fidelity - 1.0) / 3.0


def assert_rate(hits: int, n: int, p: float, what: str) -> float:
    """``hits`` out of ``n`` Bernoulli(p) shots: exact when p is 0 or 1, else within K_SIGMA binomial errors."""
    assert n > 0, what
    rate = hits / n
    if p in (0.0, 1.0):
        assert rate == p, f"{what}: {hits}/{n}, theory says always {p:g}"
    else:
        tol = K_SIGMA * math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) <= tol, f"{what}: {rate:.4f} ({hits}/{n}), theory {p:.4f} +- {tol:.4f}"
    return rate


def assert_uniform_bits(bits: Iterable[int], what: str) -> None:
    values = list(bits)
    assert set(values) <= {0, 1}, what
    assert_rate(sum(values), len(values), 0.5, what)


def matrix(value: Any) -> np.ndarray:
    """A density matrix as an app returned it (a nested list of complex numbers)."""
    return np.array(value, dtype=complex)


def compiled(angle: float) -> float:
    """The angle netqasm's SDK actually sends for a float rotation angle (a sum of n pi / 2^d)."""
    return sum(n * math.pi / 2**d for n, d in get_angle_spec_from_float(angle))


def ket(phi: float, theta: float) -> np.ndarray:
    """set_qubit_state(q, phi, theta): R_z(phi) R_y(theta) |0> ~ cos(theta/2)|0> + e^{i phi} sin(theta/2)|1>."""
    return np.array([math.cos(theta / 2), np.exp(1j * phi) * math.sin(theta / 2)], dtype=complex)


def compiled_ket(phi: float, theta: float) -> np.ndarray:
    """set_qubit_state(q, phi, theta) as the SDK compiles it."""
    return ket(compiled(phi), compiled(theta))


def projector(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=complex).reshape(-1)
    v = v / np.linalg.norm(v)
    return np.outer(v, v.conj())


def fidelity(dm: np.ndarray, v: np.ndarray) -> float:
    """<v|dm|v> for a normalised ket v."""
    v = np.asarray(v, dtype=complex).reshape(-1)
    v = v / np.linalg.norm(v)
    return float(np.real(v.conj() @ dm @ v))


def assert_density_matrix(dm: np.ndarray, dim: int = 2) -> None:
    assert dm.shape == (dim, dim)
    assert np.allclose(dm, dm.conj().T, atol=ATOL)
    assert abs(np.trace(dm) - 1) < ATOL
    assert np.linalg.eigvalsh(dm).min() > -ATOL


LOCAL_PACKAGES = ("src", "shared")
"""Top-level packages that anonymous_transmission (src) and multiple_files (shared) import from their folder."""


@pytest.fixture
def local_packages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Import the apps' local packages afresh from the copied folder, and leave sys.modules and sys.path as
    they were (the runtime puts the app folder on sys.path)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [n for n in sys.modules if n.split(".")[0] in LOCAL_PACKAGES]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [n for n in sys.modules if n.split(".")[0] in LOCAL_PACKAGES]:
        del sys.modules[name]


STATES = [(0.0, 0.0), (0.0, math.pi), (0.0, math.pi / 2), (math.pi / 2, math.pi / 2), (1.1, 2.3), (-0.7, 0.4)]
"""(phi, theta) inputs in radians: |0>, |1>, |+>, |+i>, and two generic states."""


# --- teleport ----------------------------------------------------------------------------------------------------


def _check_teleport_rounds(report: RunReport, phi: float, theta: float, expected_fidelity: float) -> None:
    """Per round: the corrections the receiver applied are the sender's outcomes, the original state is
    R_z(phi) R_y(theta)|0>, and the teleported state has the given fidelity with it."""
    for r in report.rounds:
        sender, receiver = r["sender"], r["receiver"]
        assert receiver["correction1"] == ("Z" if sender["m1"] == 1 else "None")
        assert receiver["correction2"] == ("X" if sender["m2"] == 1 else "None")
        assert np.allclose(matrix(receiver["original_state"]), projector(ket(phi, theta)), atol=ATOL)
        received = matrix(receiver["received_state"])
        assert_density_matrix(received)
        assert receiver["fidelity"] == pytest.approx(fidelity(received, ket(phi, theta)), abs=ATOL)
        assert receiver["fidelity"] == pytest.approx(expected_fidelity, abs=FID_ATOL)


def test_teleport_ideal_sends_every_state_exactly(tmp_path):
    """apps/teleport on an ideal network: the receiver holds exactly the sender's state (fidelity 1, same
    density matrix), whatever the Bell-measurement outcomes; the outcomes m1, m2 are uniform."""
    outcomes: list[int] = []
    for i, (phi, theta) in enumerate(STATES):
        folder = app_copy(tmp_path / str(i), "apps/teleport", {"sender": {"phi": phi, "theta": theta}})
        report = run(folder, rounds=5, seed=100 + i)
        _check_teleport_rounds(report, phi, theta, expected_fidelity=1.0)
        for r in report.rounds:
            assert np.allclose(matrix(r["receiver"]["received_state"]), projector(compiled_ket(phi, theta)),
                               atol=ATOL)
            outcomes += [r["sender"]["m1"], r["sender"]["m2"]]
    assert_uniform_bits(outcomes, "teleport Bell-measurement outcomes")


def test_teleport_over_a_werner_link_has_fidelity_2f_plus_1_over_3(tmp_path):
    """apps/teleport over a link delivering Werner pairs of fidelity F: teleportation becomes a depolarising
    channel, the same for every Bell outcome, so EVERY round's fidelity is (2F + 1)/3, for every input state."""
    network = "teleport_f080.yaml"
    f = link_fidelity(network, "sender", "receiver")
    expected = (2 * f + 1) / 3
    for i, (phi, theta) in enumerate(STATES[::2]):
        folder = app_copy(tmp_path / str(i), "apps/teleport", {"sender": {"phi": phi, "theta": theta}})
        report = run(folder, rounds=4, seed=200 + i, network=network)
        _check_teleport_rounds(report, phi, theta, expected_fidelity=expected)


def test_qne_teleport_ideal_and_noisy(tmp_path):
    """qne_apps/teleport (inputs in units of pi): fidelity 1 on the default ideal network; over netqasm's own
    network.yaml with a Depolarise link of fidelity parameter f (pair fidelity F = (3f + 1)/4, squidasm's
    reading), every round's fidelity is (2F + 1)/3."""
    for i, (phi, theta) in enumerate([(0.0, 0.5), (0.25, 0.75), (1.5, 1.0)]):
        folder = app_copy(tmp_path / f"ideal{i}", "qne_apps/teleport", {"sender": {"phi": phi, "theta": theta}})
        report = run(folder, rounds=4, seed=300 + i)
        _check_teleport_rounds(report, phi * math.pi, theta * math.pi, expected_fidelity=1.0)

    f_depolarise = 0.6
    pair_fidelity = (3 * f_depolarise + 1) / 4
    netqasm_network = {
        "nodes": [{"name": "sender", "hardware": "Generic"}, {"name": "receiver", "hardware": "Generic"}],
        "links": [{"name": "ch", "node_name1": "sender", "node_name2": "receiver", "noise_type": "Depolarise",
                   "fidelity": f_depolarise}],
    }
    for i, (phi, theta) in enumerate([(0.0, 0.0), (0.3, 0.6)]):
        folder = app_copy(tmp_path / f"noisy{i}", "qne_apps/teleport", {"sender": {"phi": phi, "theta": theta}},
                          netqasm_network=netqasm_network)
        report = run(folder, rounds=4, seed=310 + i)
        _check_teleport_rounds(report, phi * math.pi, theta * math.pi, expected_fidelity=(2 * pair_fidelity + 1) / 3)


# --- dist_cnot ---------------------------------------------------------------------------------------------------

PLUS, MINUS = (0.0, math.pi / 2), (math.pi, math.pi / 2)
ZERO, ONE = (0.0, 0.0), (0.0, math.pi)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)


def _cnot_reduced_states(ctrl: tuple[float, float], target: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The reduced states of control and target after CNOT on ket(ctrl) (x) ket(target)."""
    psi = CNOT @ np.kron(compiled_ket(*ctrl), compiled_ket(*target))
    rho = np.outer(psi, psi.conj()).reshape(2, 2, 2, 2)
    return np.einsum("ajbj->ab", rho), np.einsum("jajb->ab", rho)


DIST_CNOT_CASES = [(ONE, ZERO), (ZERO, ONE), (PLUS, ZERO), (PLUS, MINUS), ((0.9, 1.3), (0.2, 2.1))]
"""(control, target): CNOT flips |0> to |1>; |0> control does nothing; |+>|0> gives a Bell pair (both halves
I/2); |+>|-> kicks the phase back (control becomes |->); and a generic pair."""


def test_dist_cnot_acts_as_a_cnot_across_nodes(tmp_path):
    """apps/dist_cnot: after the distributed CNOT the controller's qubit has the reduced state of a local CNOT
    on the same inputs (phase kick-back included); both EPR-measurement outcomes are uniform."""
    epr_outcomes: list[int] = []
    for i, (ctrl, target) in enumerate(DIST_CNOT_CASES):
        inputs = {"controller": {"phi": ctrl[0], "theta": ctrl[1]}, "target": {"phi": target[0], "theta": target[1]}}
        report = run(app_copy(tmp_path / str(i), "apps/dist_cnot", inputs), rounds=6, seed=400 + i)
        expected_ctrl, _ = _cnot_reduced_states(ctrl, target)
        for r in report.rounds:
            # the app asks for the whole state the control is part of (reduced_dm=False); qlab-os puts the
            # queried qubit first, so tracing out the rest gives the control's own state
            final = _first_qubit(matrix(r["controller"]["final_state"]))
            assert np.allclose(final, expected_ctrl, atol=ATOL), (ctrl, target, final)
            epr_outcomes += [r["controller"]["epr_meas"], r["target"]["epr_meas"]]
    assert_uniform_bits(epr_outcomes, "dist_cnot EPR-measurement outcomes")


def _first_qubit(rho: np.ndarray) -> np.ndarray:
    """Reduced state of the first qubit of a density matrix on one or more qubits."""
    rest = rho.shape[0] // 2
    return np.trace(rho.reshape(2, rest, 2, rest), axis1=1, axis2=3)


def test_dist_cnot_full_state_of_the_entangled_control_and_target(tmp_path):
    """apps/dist_cnot asks ``get_qubit_state(ctrl_qubit, reduced_dm=False)`` for "the combined state of
    Controller's control and target's target" (SquidASM returns ``ns_qubit.qstate.dm``, the whole state the qubit
    is part of). For |+>|0> the control is in the Bell pair |Phi+> with the target: that state has at least two
    qubits and is pure, where the control's reduced state alone is I/2 (purity 1/2)."""
    inputs = {"controller": {"phi": PLUS[0], "theta": PLUS[1]}, "target": {"phi": 0.0, "theta": 0.0}}
    report = run(app_copy(tmp_path, "apps/dist_cnot", inputs), rounds=1, seed=410)
    final = matrix(report.rounds[0]["controller"]["final_state"])
    assert final.shape[0] >= 4
    assert_density_matrix(final, dim=final.shape[0])
    assert np.real(np.trace(final @ final)) == pytest.approx(1.0, abs=ATOL)


def test_qne_dist_cnot_both_reduced_states(tmp_path):
    """qne_apps/dist_cnot (inputs in units of pi): both nodes' final reduced states are those of a local CNOT,
    and the controller says whether they are entangled (rank of its reduced state)."""
    epr_outcomes: list[int] = []
    for i, (ctrl, target) in enumerate(DIST_CNOT_CASES):
        inputs = {"controller": {"phi": ctrl[0] / math.pi, "theta": ctrl[1] / math.pi},
                  "target": {"phi": target[0] / math.pi, "theta": target[1] / math.pi}}
        report = run(app_copy(tmp_path / str(i), "qne_apps/dist_cnot", inputs), rounds=4, seed=420 + i)
        expected_ctrl, expected_target = _cnot_reduced_states(ctrl, target)
        entangled = np.linalg.matrix_rank(expected_ctrl, tol=1e-6) != 1
        for r in report.rounds:
            c, t = r["controller"], r["target"]
            assert np.allclose(matrix(c["original_state"]), projector(ket(*ctrl)), atol=ATOL)
            assert np.allclose(matrix(t["original_state"]), projector(ket(*target)), atol=ATOL)
            assert np.allclose(matrix(c["final_state"]), expected_ctrl, atol=ATOL)
            assert np.allclose(matrix(t["final_state"]), expected_target, atol=ATOL)
            assert ("are entangled" in c["entangled_text"]) == entangled
            epr_outcomes += [c["epr_meas"], t["epr_meas"]]
    assert_uniform_bits(epr_outcomes, "qne dist_cnot EPR-measurement outcomes")


# --- anonymous_transmission ----------------------------------------------------------------------------------------

PAULIS = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Z": np.diag([1, -1]),
          "XZ": np.array([[0, -1], [1, 0]])}


@pytest.mark.usefixtures("local_packages")
def test_anonymous_transmission_receiver_state_is_the_senders_before_corrections(tmp_path):
    """apps/anonymous_transmission (4 nodes): a GHZ-based anonymous EPR pair, then teleportation whose two
    outcomes m1, m2 are sent by anonymous (GHZ-parity) broadcasts. The app reads the receiver's qubit with
    ``get_qubit_state`` right after *queueing* the corrections X^m2, Z^m1, before any flush (in SquidASM as here),
    so the state it returns is X^m2 Z^m1 |psi> with |psi> = R_z(phi) R_y(theta)|0>: always exactly one of the four
    Pauli images of |psi>, with m1 and m2 uniform and independent. Every other role returns None."""
    cases = [("alice", "david", 0.7, 1.9), ("bob", "alice", -1.2, 0.5), ("david", "charlie", 2.5, 2.2)]
    x_flips: list[int] = []
    z_flips: list[int] = []
    for i, (sender, receiver, phi, theta) in enumerate(cases):
        inputs = {sender: {"sender": True, "phi": phi, "theta": theta}, receiver: {"receiver": True}}
        report = run(app_copy(tmp_path / str(i), "apps/anonymous_transmission", inputs), rounds=16, seed=500 + i)
        psi = compiled_ket(phi, theta)
        for r in report.rounds:
            assert {role for role, out in r.items() if out is not None} == {receiver}
            dm = matrix(r[receiver]["qubit_state"])
            assert_density_matrix(dm)
            matches = [name for name, pauli in PAULIS.items() if np.allclose(dm, projector(pauli @ psi), atol=ATOL)]
            assert len(matches) == 1, (sender, receiver, dm)
            x_flips.append(int("X" in matches[0]))
            z_flips.append(int("Z" in matches[0]))
    assert_uniform_bits(x_flips, "anonymous_transmission m2 (X byproduct)")
    assert_uniform_bits(z_flips, "anonymous_transmission m1 (Z byproduct)")


# --- single_node, multiple_files, three_nodes ------------------------------------------------------------------

def test_single_node_bell_measurement_statistics(tmp_path):
    """apps/single_node: CNOT(q, |0>) then H on q and measure both. With q = cos(t/2)|0> + e^{ip} sin(t/2)|1>
    the state before measuring is (cos|0,0> + cos|1,0> + e^{ip} sin|0,1> - e^{ip} sin|1,1>)/sqrt2, so
    P(m2 = 1) = sin^2(theta/2) and m1 is uniform and independent of m2; the printed line matches the result."""
    for i, theta in enumerate([0.0, math.pi, math.pi / 3, 2.0]):
        rounds = 10 if theta in (0.0, math.pi) else 200
        report = run(app_copy(tmp_path / str(i), "apps/single_node", {"alice": {"phi": 0.4, "theta": theta}}),
                     rounds=rounds, seed=600 + i)
        m1 = [r["alice"]["m1"] for r in report.rounds]
        m2 = [r["alice"]["m2"] for r in report.rounds]
        p_one = round(math.sin(theta / 2) ** 2, 12)
        assert_rate(sum(m2), rounds, p_one, f"single_node P(m2=1) at theta={theta:.3f}")
        assert_uniform_bits(m1, f"single_node m1 at theta={theta:.3f}")
        printed = re.findall(r"m1 = (\d), m2 = (\d)", report.output)
        assert [(int(a), int(b)) for a, b in printed] == list(zip(m1, m2, strict=True))


@pytest.mark.usefixtures("local_packages")
def test_multiple_files_imports_its_shared_module_and_talks(tmp_path):
    """apps/multiple_files: both roles import ``shared.myfuncs`` from the app folder, measure fresh qubits and
    exchange exactly two classical messages a round; no pairs; both mains return None."""
    folder = app_copy(tmp_path, "apps/multiple_files")
    report = run(folder, rounds=3, seed=700)
    assert report.rounds == [{"alice": None, "bob": None}] * 3
    assert report.messages == 2 * 3
    assert report.pairs == 0
    assert all(ns > 0 for ns in report.virtual_ns)
    assert Path(sys.modules["shared.myfuncs"].__file__).resolve().is_relative_to(folder.resolve())


def test_three_nodes_pairs_are_correlated_on_every_link(tmp_path, caplog):
    """apps/three_nodes: alice-bob, alice-charlie and bob-charlie each share a |Phi+> pair measured in Z on both
    ends, so the two outcomes of every pair are equal, and each is uniform. The app only logs its outcomes
    (netqasm logger, INFO)."""
    caplog.set_level(logging.INFO, logger="NetQASM")
    rounds = 40
    report = run(app_copy(tmp_path, "apps/three_nodes"), rounds=rounds, seed=800)
    assert report.rounds == [{"alice": None, "bob": None, "charlie": None}] * rounds
    assert report.pairs == 3 * rounds
    seen: dict[tuple[str, str], list[int]] = {}
    for rec in caplog.records:
        m = re.fullmatch(r"(alice|bob|charlie):\s+m_(alice|bob|charlie):\s*(\d)", rec.getMessage().strip())
        if m:
            seen.setdefault((m[1], m[2]), []).append(int(m[3]))
    assert {k: len(v) for k, v in seen.items()} == {(a, b): rounds for a in ("alice", "bob", "charlie")
                                                     for b in ("alice", "bob", "charlie") if a != b}
    for a, b in [("alice", "bob"), ("alice", "charlie"), ("bob", "charlie")]:
        assert seen[(a, b)] == seen[(b, a)], (a, b)
        assert_uniform_bits(seen[(a, b)], f"three_nodes {a}-{b} outcomes")


# --- reproducibility -------------------------------------------------------------------------------------------

def _cli_run(folder: Path, seed: int, out: Path, rounds: int) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "qlab_os.cli", "run", str(folder), "--rounds", str(rounds), "--seed", str(seed),
           "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == rounds
    return data


def test_same_seed_same_json_different_seed_different_outcomes(tmp_path):
    """``qlab-os run --seed S --json OUT`` twice with the same seed writes the same JSON; another seed changes the
    random Bell-measurement outcomes of teleport (20 rounds x 2 uniform bits: equal by chance with p = 2^-40)."""
    folder = app_copy(tmp_path, "apps/teleport", {"sender": {"phi": 0.3, "theta": 1.2}})
    first = _cli_run(folder, 11, tmp_path / "a.json", rounds=20)
    second = _cli_run(folder, 11, tmp_path / "b.json", rounds=20)
    other = _cli_run(folder, 12, tmp_path / "c.json", rounds=20)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert first == second

    def outcomes(rounds: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return [(r["sender"]["m1"], r["sender"]["m2"]) for r in rounds]

    assert outcomes(first) != outcomes(other)
    assert all(r["receiver"]["fidelity"] == pytest.approx(1.0, abs=FID_ATOL) for r in other)


def test_same_seed_same_results_for_apps_that_use_python_random(tmp_path):
    """Same seed, same results (issue 3, item 5) also for apps whose randomness is their own: bb84 picks its bases
    with ``random.randint``. The two runs have the same seed but leave Python's ``random`` in different states
    before the run (as two ``qlab-os run`` processes would); a third run with another seed picks other bases."""
    folder = app_copy(tmp_path, "apps/bb84", {"alice": {"num_bits": 16}, "bob": {"num_bits": 16}})
    random.seed(1)
    first = run(folder, rounds=2, seed=5)
    random.seed(2)
    second = run(folder, rounds=2, seed=5)
    other = run(folder, rounds=2, seed=6)
    assert json.dumps(first.rounds) == json.dumps(second.rounds)

    def bases(report: RunReport) -> list[str]:
        return [row[1] for r in report.rounds for role in ("alice", "bob") for row in r[role]["table"]]

    assert bases(first) != bases(other)  # 64 uniform basis choices: equal by chance with p = 2^-64


def test_rounds_do_not_share_mutable_inputs(tmp_path):
    """Rounds are independent (a round depends only on (seed, round)). apps/blind_rotation extends its ``r`` input
    list in place (``r.extend([0, 0])``); every round must still start from the ``r`` of client.yaml."""
    inputs = {"client": {"num_iter": 3, "phi": [0.1, 0.2, 0.3], "r": [1, 0, 1]}, "server": {"num_iter": 3}}
    app = load_app(app_copy(tmp_path, "apps/blind_rotation", inputs))
    report = run_app(app, rounds=3, seed=900)
    assert report.errors == []
    assert app.inputs["client"]["r"] == [1, 0, 1]
