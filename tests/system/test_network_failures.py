"""Failures in a network run: a role that raises, a peer that never answers, an EPR request nobody matches.
Each gives a clear error and a (virtual) timeout, never a hang; the other roles end; no qubit stays taken."""

import textwrap
from pathlib import Path

import pytest

from qlab_os.net.app_folder import load_app
from qlab_os.net.inprocess import InProcessNetwork, load_mains
from qlab_os.net.run import run_app

HEADER = """
from netqasm.sdk import EPRSocket, Qubit
from netqasm.sdk.external import NetQASMConnection, Socket
"""


def _app(tmp_path: Path, **roles: str) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    for role, body in roles.items():
        (folder / f"app_{role}.py").write_text(HEADER + textwrap.dedent(body))
    return folder


def _run(folder: Path, timeout_s: float = 5.0):
    app = load_app(folder)
    net = InProcessNetwork(app.network, seed=1, timeout_s=timeout_s, role_nodes=app.role_nodes)
    outcomes = net.run_roles(load_mains(app), app.inputs, folder)
    return net, outcomes


def _assert_no_qubit_taken(net: InProcessNetwork) -> None:
    for node in net.nodes.values():
        assert node.qnpu.qmm.free_count() == node.qnpu.spec.num_qubits, node.name
        assert node.qnpu.processes == {}, node.name
    assert net.link_layer.pending() == []


def test_a_role_that_raises_fails_alone_and_its_peer_times_out(tmp_path):
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            conn = NetQASMConnection("alice", epr_sockets=[EPRSocket("bob")])
            with conn:
                q = Qubit(conn)
                conn.flush()
                raise ValueError("alice gives up")
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            sock = Socket("bob", "alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                q = Qubit(conn)
                conn.flush()
            return sock.recv()
        """)
    net, out = _run(folder, timeout_s=3.0)
    assert out["alice"].error == "ValueError: alice gives up"
    assert out["bob"].error.startswith("TimeoutError: bob: no message from alice within 3 s (virtual)")
    assert net.nodes["bob"].clock.now_ns() >= 3 * 10**9
    _assert_no_qubit_taken(net)


def test_an_epr_request_nobody_matches_times_out_clearly(tmp_path):
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                epr.create_keep()[0].measure()
        """, bob="""
        def main(app_config=None):
            with NetQASMConnection("bob", epr_sockets=[EPRSocket("alice")]) as conn:
                Qubit(conn).measure()
            return "bob done"
        """)
    net, out = _run(folder, timeout_s=2.0)
    assert out["bob"].result == "bob done" and out["bob"].error is None
    err = out["alice"].error
    assert "wait_all" in err and "timed out after 2 s (virtual)" in err and "no matching request" in err
    _assert_no_qubit_taken(net)


def test_mismatched_pair_counts_fail_both_sides_with_the_same_reason(tmp_path):
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                for q in epr.create_keep(number=2):
                    q.measure()
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                epr.recv_keep(number=1)[0].measure()
        """)
    net, out = _run(folder)
    for role in ("alice", "bob"):
        assert "the creator asks for 2 pair(s), the receiver for 1" in out[role].error
    _assert_no_qubit_taken(net)


def test_no_link_between_the_nodes(tmp_path):
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                epr.create_keep()[0].measure()
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                epr.recv_keep()[0].measure()
        """)
    (folder / "network.yaml").write_text(
        "nodes:\n  - {name: alice, device: sim-generic}\n  - {name: bob, device: sim-generic}\nlinks: []\n")
    net, out = _run(folder)
    for role in ("alice", "bob"):
        assert "there is no link between node 0 and node 1" in out[role].error
    _assert_no_qubit_taken(net)


def test_a_failed_round_does_not_stop_the_run_and_is_reported(tmp_path):
    folder = _app(tmp_path, solo="""
        def main(app_config=None, fail=False):
            with NetQASMConnection("solo") as conn:
                m = Qubit(conn).measure()
            return int(m)
        """)
    report = run_app(load_app(folder), rounds=3, seed=4)
    assert report.errors == [] and [r["solo"] for r in report.rounds] == [0, 0, 0]


@pytest.mark.parametrize("timeout_s", [0.5, 7.0])
def test_timeouts_are_virtual_time_not_wall_time(tmp_path, timeout_s):
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            return Socket("alice", "bob").recv()
        """, bob="""
        def main(app_config=None):
            return "never sends"
        """)
    net, out = _run(folder, timeout_s=timeout_s)
    assert f"within {timeout_s:g} s (virtual)" in out["alice"].error
    assert net.nodes["alice"].clock.now_ns() == int(timeout_s * 1e9)
