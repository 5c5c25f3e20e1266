"""EPR request features through the whole stack: several pairs, sequential post-routines, min_fidelity,
measure-directly in chosen bases, remote state preparation, get_qubit_state."""

import math
import textwrap
from pathlib import Path

import pytest

from qlab_os.net.app_folder import load_app
from qlab_os.net.run import run_app

HEADER = """
import numpy as np
from netqasm.sdk import EPRSocket, Qubit
from netqasm.sdk.epr_socket import EprMeasBasis
from netqasm.sdk.external import NetQASMConnection, Socket, get_qubit_state
"""


def _run(tmp_path: Path, rounds: int, seed: int = 3, network: str | None = None, **roles: str):
    folder = tmp_path / "app"
    folder.mkdir()
    for role, body in roles.items():
        (folder / f"app_{role}.py").write_text(HEADER + textwrap.dedent(body))
    if network is not None:
        (folder / "network.yaml").write_text(textwrap.dedent(network))
    report = run_app(load_app(folder), rounds=rounds, seed=seed)
    assert report.errors == []
    return report.rounds


def _five_sigma(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_three_kept_pairs_at_once_are_correlated(tmp_path):
    rounds = _run(tmp_path, 40, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                ms = [q.measure() for q in epr.create_keep(number=3)]
            return [int(m) for m in ms]
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                ms = [q.measure() for q in epr.recv_keep(number=3)]
            return [int(m) for m in ms]
        """)
    assert all(r["alice"] == r["bob"] for r in rounds)
    ones = sum(sum(r["alice"]) for r in rounds)
    assert abs(ones / 120 - 0.5) < _five_sigma(0.5, 120)


def test_sequential_pairs_with_a_post_routine_on_one_qubit(tmp_path):
    rounds = _run(tmp_path, 20, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr], max_qubits=1) as conn:
                out = conn.new_array(4)

                def post(_conn, q, pair):
                    q.measure(out.get_future_index(pair))

                epr.create_keep(number=4, sequential=True, post_routine=post)
            return [int(out.get_future_index(i)) for i in range(4)]
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr], max_qubits=1) as conn:
                out = conn.new_array(4)

                def post(_conn, q, pair):
                    q.measure(out.get_future_index(pair))

                epr.recv_keep(number=4, sequential=True, post_routine=post)
            return [int(out.get_future_index(i)) for i in range(4)]
        """)
    assert all(r["alice"] == r["bob"] for r in rounds)
    assert len({tuple(r["alice"]) for r in rounds}) > 1


@pytest.mark.parametrize(("basis", "expect_equal"), [("X", True), ("Z", True), ("Y", False)])
def test_measure_directly_in_a_basis(tmp_path, basis, expect_equal):
    # for |Phi+>: XX and ZZ outcomes agree, YY outcomes disagree
    rounds = _run(tmp_path, 10, alice=f"""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                res = epr.create_measure(number=5, basis_local=EprMeasBasis.{basis},
                                         basis_remote=EprMeasBasis.{basis})
            return [int(r.raw_measurement_outcome) for r in res]
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                res = epr.recv_measure(number=5)
            return [int(r.raw_measurement_outcome) for r in res]
        """)
    for r in rounds:
        agree = [a == b for a, b in zip(r["alice"], r["bob"], strict=True)]
        assert all(agree) if expect_equal else not any(agree)


def test_remote_state_preparation(tmp_path):
    # creator measures its half in X; the receiver's kept half is then |+> or |-> as the outcome says
    rounds = _run(tmp_path, 30, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            sock = Socket("alice", "bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                res = epr.create_rsp(basis_local=EprMeasBasis.X)
            sock.send(str(int(res[0].raw_measurement_outcome)))
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            sock = Socket("bob", "alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                q = epr.recv_rsp()[0]
                conn.flush()
                m_alice = int(sock.recv())
                q.H()
                m = q.measure()
            return int(m) == m_alice
        """)
    assert all(r["bob"] for r in rounds)


def test_min_fidelity_all_at_end_and_get_qubit_state(tmp_path):
    rounds = _run(tmp_path, 5, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            sock = Socket("alice", "bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                q = epr.create_keep(min_fidelity_all_at_end=80, max_tries=3)[0]
                conn.flush()
                before = get_qubit_state(q)
                sock.send("looked")
                sock.recv()
                after = get_qubit_state(q)
                q.measure()
            # half of a Bell pair is maximally mixed until bob measures; then it is |0> or |1>
            return bool(np.allclose(before, np.eye(2) / 2)) and bool(np.isclose(np.trace(after @ after), 1.0))
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            sock = Socket("bob", "alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                q = epr.recv_keep(min_fidelity_all_at_end=80, max_tries=3)[0]
                conn.flush()
                sock.recv()
                q.measure()
            sock.send("measured")
        """)
    assert all(r["alice"] for r in rounds)


def test_noisy_link_delivers_its_fidelity(tmp_path):
    f = 0.8
    network = f"""
        nodes:
          - {{name: alice, device: sim-generic}}
          - {{name: bob, device: sim-generic}}
        links:
          - {{between: [alice, bob], preset: ideal, fidelity: {f}}}
        """
    rounds = _run(tmp_path, 400, seed=8, network=network, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                m = epr.create_keep()[0].measure()
            return int(m)
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                m = epr.recv_keep()[0].measure()
            return int(m)
        """)
    # Werner state of fidelity F: P(ZZ outcomes differ) = 2(1-F)/3
    p = 2 * (1 - f) / 3
    differ = sum(r["alice"] != r["bob"] for r in rounds) / len(rounds)
    assert abs(differ - p) < _five_sigma(p, len(rounds))


def test_cli_run_writes_json_and_keeps_app_logs(tmp_path, capsys):
    import json
    import shutil
    from importlib import resources

    from qlab_os.cli import main

    folder = tmp_path / "teleport"
    shutil.copytree(str(resources.files("netqasm.examples.apps").joinpath("teleport")), folder)
    out, logs = tmp_path / "out.json", tmp_path / "logs"
    assert main(["run", str(folder), "--rounds", "3", "--seed", "1", "--json", str(out), "--log-dir", str(logs)]) == 0
    rounds = json.loads(out.read_text())
    assert len(rounds) == 3 and set(rounds[0]) == {"sender", "receiver"}
    assert all(r["receiver"]["fidelity"] == pytest.approx(1.0) for r in rounds)
    for r in range(3):  # the app's own log lines, one folder per round
        assert "m1 = " in (logs / f"round{r:05d}" / "sender_app_log.yaml").read_text()
    assert "3 round(s) on 2 node(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("local", "remote", "p_agree"),
    [
        ("XZ", "XZ", 0.75),  # same basis half the time (always agree), else agree half the time
        ("XYZ", "XYZ", 5 / 9),  # ZZ, XX agree (2/9), YY always disagree for Phi+ (1/9), other 6/9 agree half
        ("CHSH", "CHSH", (3 * math.cos(math.pi / 8) ** 2 + math.sin(math.pi / 8) ** 2) / 4),
    ],
)
def test_measure_directly_in_random_bases(tmp_path, local, remote, p_agree):
    rounds = _run(tmp_path, 40, seed=12, alice=f"""
        from netqasm.qlink_compat import RandomBasis
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                res = epr.create_measure(number=10, random_basis_local=RandomBasis.{local},
                                         random_basis_remote=RandomBasis.{remote})
            return [int(r.raw_measurement_outcome) for r in res]
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                res = epr.recv_measure(number=10)
            return [int(r.raw_measurement_outcome) for r in res]
        """)
    pairs = [(a, b) for r in rounds for a, b in zip(r["alice"], r["bob"], strict=True)]
    agree = sum(a == b for a, b in pairs) / len(pairs)
    assert abs(agree - p_agree) < _five_sigma(p_agree, len(pairs))


def test_a_pair_decoheres_with_each_node_s_own_clock(tmp_path):
    """Two NV nodes, a perfect link, 0.5 s of classical latency. Bob looks at the joint state once alice's
    message has arrived: his electron has waited 0.5 s of his clock, alice's has not (her clock is still
    near 0), so the Bell coherence must be exactly 1/2 exp(-0.5 s / T2) of one electron."""
    from qlab_os.clock import VirtualClock
    from qlab_os.qdevice.registry import create_qdriver

    t2_ns = create_qdriver("sim-nv", clock=VirtualClock()).spec.qubits[0].t2_ns
    latency_ns = 500_000_000
    network = f"""
        nodes:
          - {{name: alice, device: sim-nv}}
          - {{name: bob, device: sim-nv}}
        links:
          - {{between: [alice, bob], preset: ideal, classical_latency_ns: {latency_ns}}}
        """
    rounds = _run(tmp_path, 1, seed=5, network=network, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            sock = Socket("alice", "bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                epr.create_keep()
                conn.flush()
                sock.send("go")
                sock.recv()
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            sock = Socket("bob", "alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                q = epr.recv_keep()[0]
                conn.flush()
                sock.recv()
                rho = get_qubit_state(q, reduced_dm=False)
            sock.send("done")
            return [abs(rho[0, 3]), rho.shape[0], float(rho[0, 0].real)]
        """)
    coherence, dim, p00 = rounds[0]["bob"]
    assert dim == 4
    expected = 0.5 * math.exp(-(latency_ns / t2_ns))
    assert coherence == pytest.approx(expected, rel=0.01)  # the ENT and message steps add ~us, not 1%
    assert p00 == pytest.approx(0.5, abs=1e-3)
