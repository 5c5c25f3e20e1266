"""netqasm's blind (measurement-based) computation apps on qlab-os: blind_grover, blind_rotation and qne
blind_computation, on ideal links.

The client prepares each server qubit by remote state preparation: it measures its EPR half with R_z(theta), H,
Z and gets m, which leaves the server's half in R_z(theta + m pi)|+> (for |Phi+>, the server's half is the complex
conjugate of the state the client projected on). The server entangles its qubits with CZ and measures qubit i
along the XY-plane angle delta_i the client sends (R_z(delta), H, Z; outcome s_i). Measuring a qubit of
CZ (|psi> (x) |+>) that way leaves X^s H R_z(delta) |psi> on its neighbour, with s uniformly random.

Each server state is checked twice: against an independent state-vector replay of exactly what the server did
(the same compiled angles, the same outcomes: equal to float precision), and against the computation the client
intended, with the Pauli byproducts UBQC predicts (fidelity 1 up to netqasm's angle compilation).
Helpers and the tolerance rules are in test_netqasm_apps.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.system.test_netqasm_apps import (
    ATOL,
    FID_ATOL,
    app_copy,
    assert_density_matrix,
    assert_rate,
    assert_uniform_bits,
    compiled,
    fidelity,
    matrix,
    projector,
    run,
)

H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Z = np.diag([1, -1]).astype(complex)
PLUS = np.array([1, 1], dtype=complex) / math.sqrt(2)


def rz(angle: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * angle), np.exp(0.5j * angle)])


def _apply(state: np.ndarray, gate: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(np.tensordot(gate, state, axes=([1], [axis])), 0, axis)


def replay_server(thetas: list[float], ms: list[int], deltas: list[float], outcomes: list[int]) -> np.ndarray:
    """State-vector replay of the server of a linear cluster: qubit i starts in R_z(c(theta_i) + m_i pi)|+>
    (c: netqasm's compiled angle), CZ between neighbours, then qubit k = 0, 1, ... gets R_z(c(delta_k)), H and is
    projected on outcome s_k. Returns the normalised state of the qubits left unmeasured."""
    n = len(thetas)
    state = np.array(1, dtype=complex)
    for theta, m in zip(thetas, ms, strict=True):
        state = np.multiply.outer(state, rz(compiled(theta) + m * math.pi) @ PLUS)
    for i in range(n - 1):
        diag = np.ones((2,) * n, dtype=complex)
        index = [slice(None)] * n
        index[i] = index[i + 1] = 1  # type: ignore[call-overload]
        diag[tuple(index)] = -1
        state = state * diag
    for delta, s in zip(deltas, outcomes, strict=True):
        state = _apply(_apply(state, rz(compiled(delta)), 0), H, 0)[s]
        state = state / np.linalg.norm(state)
    return state.reshape(-1)


# --- blind_grover --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("b0", "b1"), [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_blind_grover_finds_the_tagged_item(tmp_path, b0, b1):
    """apps/blind_grover: one Grover iteration on 2 qubits, as a blind computation on a 4-qubit cluster, finds
    the item the oracle tags with certainty: (result0, result1) == (b0, b1) in every round, for any secret
    r1, r2 (outcome masks) and theta1, theta2 (state-preparation angles). The server's outcomes s1, s2 and the
    client's preparation outcomes m are uniform."""
    cases = [{"r1": 0, "r2": 0, "theta1": 0.0, "theta2": 0.0},
             {"r1": 1, "r2": 0, "theta1": 3 * math.pi / 4, "theta2": math.pi / 4},
             {"r1": 1, "r2": 1, "theta1": 5 * math.pi / 4, "theta2": 3 * math.pi / 2}]
    random_bits: list[int] = []
    for i, secret in enumerate(cases):
        inputs = {"client": {"b0": b0, "b1": b1, **secret}}
        folder = app_copy(tmp_path / str(i), "apps/blind_grover", inputs)
        report = run(folder, rounds=4, seed=3000 + 10 * i + 2 * b0 + b1)
        for r in report.rounds:
            client = r["client"]
            assert (client["result0"], client["result1"]) == (b0, b1), client
            assert (client["r1"], client["r2"]) == (secret["r1"], secret["r2"])
            random_bits += [client["s1"], client["s2"], *client["m"]]
            assert r["server"] is None
    assert_uniform_bits(random_bits, f"blind_grover s1, s2, m for b = {b0}{b1}")


# --- blind_rotation ------------------------------------------------------------------------------------------------

def _intended_rotation_output(client: dict[str, Any]) -> np.ndarray:
    """UBQC on a line of n + 1 qubits: the output qubit holds
    R_z(theta_n + m_n pi) X^(s_{n-1} ^ r_{n-1}) Z^(s_{n-2} ^ r_{n-2}) H R_z(phi_{n-1}) ... H R_z(phi_0) |+>
    (the client does not undo the last qubit's preparation angle, nor the last two byproducts)."""
    s, r, phi = client["s"], client["r"], client["phi"]
    n = len(phi)
    out = PLUS
    for angle in phi:
        out = H @ rz(angle) @ out
    byproduct_z = s[n - 2] ^ r[n - 2] if n >= 2 else 0
    out = np.linalg.matrix_power(Z, byproduct_z) @ out
    out = np.linalg.matrix_power(X, s[n - 1] ^ r[n - 1]) @ out
    return rz(client["theta"][n] + client["m"][n] * math.pi) @ out


ROTATION_CASES = [
    {"num_iter": 3, "phi": [0.3, 1.7, -2.2]},
    {"num_iter": 3, "phi": [math.pi / 2, 0.9, 2.6], "r": [1, 0, 1],
     "theta": [math.pi / 4, 0.0, 3 * math.pi / 4, math.pi / 2]},
    {"num_iter": 2, "r": [0, 1], "theta": [0.0, math.pi, 5 * math.pi / 4]},  # phi drawn by the app (random)
]


@pytest.mark.parametrize("case", range(len(ROTATION_CASES)))
def test_blind_rotation_output_state(tmp_path, case):
    """apps/blind_rotation: the server's output qubit equals both the replay of its own operations and the
    client's intended rotation with its UBQC byproducts; the server's outcomes s are uniform."""
    client_inputs = ROTATION_CASES[case]
    inputs = {"client": client_inputs, "server": {"num_iter": client_inputs["num_iter"]}}
    report = run(app_copy(tmp_path, "apps/blind_rotation", inputs), rounds=12, seed=3100 + case)
    outcomes: list[int] = []
    for r in report.rounds:
        client, server = r["client"], r["server"]
        n = client_inputs["num_iter"]
        assert len(client["phi"]) == len(client["s"]) == len(client["r"]) == n and len(client["m"]) == n + 1
        if "phi" in client_inputs:
            assert client["phi"] == client_inputs["phi"]
        output = matrix(server["output_state"])
        assert_density_matrix(output)
        replay = replay_server(client["theta"], client["m"], client["delta"], client["s"])
        assert np.allclose(output, projector(replay), atol=ATOL)
        assert fidelity(output, _intended_rotation_output(client)) == pytest.approx(1.0, abs=FID_ATOL)
        outcomes += client["s"]
    assert_uniform_bits(outcomes, "blind_rotation server outcomes s")


# --- qne blind_computation -----------------------------------------------------------------------------------------

def _intended_computation(alpha: float, beta: float) -> np.ndarray:
    """The client's computation on the 2-qubit cluster: H R_z(beta) H R_z(alpha) |+> (angles in radians)."""
    return H @ rz(beta) @ H @ rz(alpha) @ PLUS


COMPUTATION_CASES = [  # angles in units of pi, as the app takes them; rounds
    ({"alpha": 0.5, "beta": 0.5, "theta1": 0.0, "theta2": 0.0, "r1": 0, "r2": 0}, 6),
    ({"alpha": 0.5, "beta": -0.5, "theta1": 0.25, "theta2": 0.75, "r1": 1, "r2": 0}, 6),
    ({"alpha": 0.5, "beta": 0.5, "theta1": 1.25, "theta2": 0.5, "r1": 1, "r2": 1}, 6),
    ({"alpha": 0.25, "beta": 0.3, "theta1": 0.5, "theta2": 0.0, "r1": 0, "r2": 1}, 60),
]


@pytest.mark.parametrize("case", range(len(COMPUTATION_CASES)))
def test_qne_blind_computation(tmp_path, case):
    """qne_apps/blind_computation: the server's q2 just before its last measurement is the replay of its own
    operations and X^r2 Z^(m1 ^ r1) H R_z(beta) H R_z(alpha)|+>; so m2 ^ r2 is the computation's result, with
    P(1) = |<1|H R_z(beta) H R_z(alpha)|+>|^2 (exactly 0 for alpha = beta = pi/2, 1 for beta = -pi/2)."""
    inputs, rounds = COMPUTATION_CASES[case]
    report = run(app_copy(tmp_path, "qne_apps/blind_computation", {"client": inputs}), rounds=rounds,
                 seed=3200 + case)
    alpha, beta = inputs["alpha"] * math.pi, inputs["beta"] * math.pi
    r1, r2 = inputs["r1"], inputs["r2"]
    intended = _intended_computation(alpha, beta)
    p_one = round(abs(intended[1]) ** 2, 12)
    results: list[int] = []
    m1s: list[int] = []
    for r in report.rounds:
        client = r["client"]
        p1, p2, m1 = client["p1"], client["p2"], client["m1"]
        assert client["delta1"] == pytest.approx(inputs["alpha"] - inputs["theta1"] + p1 + r1, abs=ATOL)
        assert client["delta2"] == pytest.approx((-1) ** (m1 + r1) * inputs["beta"] - inputs["theta2"] + p2 + r2,
                                                 abs=ATOL)
        final = matrix(r["server"]["final_state"])
        assert_density_matrix(final)
        d1, d2 = client["delta1"] * math.pi, client["delta2"] * math.pi
        q2 = replay_server([inputs["theta1"] * math.pi, inputs["theta2"] * math.pi], [p1, p2], [d1], [m1])
        assert np.allclose(final, projector(H @ rz(compiled(d2)) @ q2), atol=ATOL)
        expected = np.linalg.matrix_power(X, r2) @ np.linalg.matrix_power(Z, m1 ^ r1) @ intended
        assert fidelity(final, expected) == pytest.approx(1.0, abs=FID_ATOL)
        results.append(client["m2"] ^ r2)
        m1s.append(m1)
    assert_rate(sum(results), rounds, p_one, f"blind computation result for {inputs}")
    if rounds >= 20:
        assert_uniform_bits(m1s, "blind_computation m1")
