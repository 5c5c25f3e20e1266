"""Failures in a network run: a role that raises, a peer that never answers, an EPR request nobody matches.
Each gives a clear error and a (virtual) timeout, never a hang; the other roles end; no qubit stays taken."""

import textwrap
from pathlib import Path

import pytest
from netqasm.backend.messages import StopAppMessage

from qlab_os.clock import VirtualClock
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


def test_a_role_that_raises_fails_alone_and_its_peer_learns_it_at_once(tmp_path):
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
    assert out["bob"].error == ("ConnectionError: bob: alice ended (alice failed: ValueError: alice gives up) "
                                "without sending the message it waits for")
    assert net.nodes["bob"].clock.now_ns() < 3 * 10**9  # no need to wait out the timeout
    _assert_no_qubit_taken(net)


def test_an_epr_request_nobody_matches_times_out_clearly(tmp_path):
    # bob never opens an EPR socket to alice: it may still do so, so alice waits for her timeout
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                epr.create_keep()[0].measure()
        """, bob="""
        def main(app_config=None):
            with NetQASMConnection("bob") as conn:
                Qubit(conn).measure()
            return "bob done"
        """)
    net, out = _run(folder, timeout_s=2.0)
    assert out["bob"].result == "bob done" and out["bob"].error is None
    err = out["alice"].error
    assert "wait_all" in err and "timed out after 2 s (virtual)" in err
    assert "no matching recv_epr arrived from node 1 on EPR socket 0" in err
    _assert_no_qubit_taken(net)


def test_the_request_that_would_have_matched_a_stopped_apps_request_fails_at_once(tmp_path):
    # bob's recv_epr waits unmatched; an operator stops bob's app and then tells alice, whose create_epr would
    # have matched bob's request: it fails at once with the reason instead of waiting out the 2 s timeout
    folder = _app(tmp_path, alice="""
        def main(app_config=None):
            epr = EPRSocket("bob")
            with NetQASMConnection("alice", epr_sockets=[epr]) as conn:
                Socket("alice", "bob").recv()
                epr.create_keep()[0].measure()
        """, bob="""
        def main(app_config=None):
            epr = EPRSocket("alice")
            with NetQASMConnection("bob", epr_sockets=[epr]) as conn:
                epr.recv_keep()[0].measure()
        """)
    app = load_app(folder)
    net = InProcessNetwork(app.network, seed=1, timeout_s=2.0, role_nodes=app.role_nodes)

    def operator() -> None:
        bob = net.nodes["bob"]
        net.scheduler.wait_until(lambda: bob.clock.now_ns() if net.link_layer.pending() else None, 10**9,
                                 "operator: wait for bob's request")
        (request,) = net.link_layer.pending()
        net.to_qnpu("bob", bytes(StopAppMessage(app_id=request.process.pid)))
        net.send("bob", "alice", 0, "bob's app was stopped")

    net.scheduler.spawn("operator", operator, VirtualClock())
    out = net.run_roles(load_mains(app), app.inputs, folder)
    err = out["alice"].error
    assert err is not None and "timed out" not in err
    assert ("the peer app on node 1 stopped with its recv_epr on EPR socket 0 pending before this request was "
            "matched") in err
    assert net.nodes["alice"].clock.now_ns() < 10**8  # within 0.1 s of a 2 s timeout
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
            return Socket("bob", "alice").recv(timeout=100.0)  # alive, silent: it waits too
        """)
    net, out = _run(folder, timeout_s=timeout_s)
    assert out["alice"].error == f"TimeoutError: alice: no message from bob within {timeout_s:g} s (virtual)"
    assert net.nodes["alice"].clock.now_ns() == int(timeout_s * 1e9)
    # once alice has failed, bob learns at once that nothing will come (no need to wait its 100 s)
    assert out["bob"].error.startswith("ConnectionError: bob: alice ended (alice failed: TimeoutError")
    assert net.nodes["bob"].clock.now_ns() == int(timeout_s * 1e9)


def test_virtual_time_order_decides_what_arrives_first(tmp_path):
    """Whatever order the threads run in, a message sent later in virtual time arrives later, and a timeout
    fires before a message that would arrive after it."""
    folder = _app(tmp_path, a="""
        def main(app_config=None):
            sock = Socket("a", "b")
            try:
                return sock.recv(timeout=0.001)
            except TimeoutError:
                return "timed out"
        """, b="""
        def main(app_config=None):
            with NetQASMConnection("b") as conn:  # ~10 ms of device time before sending
                q = Qubit(conn)
                for _ in range(10):
                    q.rot_X(n=1, d=1)
            Socket("b", "a").send("late")
        """)
    (folder / "network.yaml").write_text(
        "nodes:\n  - {name: a, device: sim-generic}\n  - {name: b, device: sim-nv}\nlinks: []\n")
    net, out = _run(folder)
    assert net.nodes["b"].clock.now_ns() > 10**6  # b sent after 1 ms of virtual time (NV carbon gates)
    assert out["a"].result == "timed out"


def test_a_recv_retry_loop_ends_at_the_round_limit(tmp_path):
    folder = _app(tmp_path, a="""
        def main(app_config=None):
            sock = Socket("a", "b")
            while True:
                try:
                    return sock.recv(timeout=1.0)
                except TimeoutError:
                    continue
        """, b="""
        def main(app_config=None):
            return Socket("b", "a").recv(timeout=1.0e9)
        """)
    app = load_app(folder)
    net = InProcessNetwork(app.network, seed=1, role_nodes=app.role_nodes, round_limit_s=30.0)
    out = net.run_roles(load_mains(app), app.inputs, folder)
    # whichever reaches the limit first fails with RoundTimeLimit; the other learns it at once
    assert "RoundTimeLimit" in out["a"].error and "RoundTimeLimit" in out["b"].error
    assert max(n.clock.now_ns() for n in net.nodes.values()) == 30 * 10**9


def test_a_role_that_never_hands_back_is_abandoned(tmp_path):
    folder = _app(tmp_path, a="""
        import threading
        def main(app_config=None):
            threading.Event().wait(30)  # a blocking call qlab-os does not know (bounded, so the test ends)
        """, b="""
        def main(app_config=None):
            return Socket("b", "a").recv()
        """)
    app = load_app(folder)
    net = InProcessNetwork(app.network, seed=1, role_nodes=app.role_nodes, wall_timeout_s=0.5)
    out = net.run_roles(load_mains(app), app.inputs, folder)
    assert "role a ran for 0.5 s of real time without handing back" in out["a"].error
    assert out["b"].error is not None and "ConnectionError" in out["b"].error


def test_ctrl_c_stops_the_run_keeps_finished_rounds_and_writes_json(tmp_path, capsys):
    import json

    from qlab_os.cli import EXIT_INTERRUPTED, main

    folder = _app(tmp_path, solo="""
        import _thread
        CALLS = []
        def main(app_config=None):
            CALLS.append(1)
            if len(CALLS) == 3:
                _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
                with NetQASMConnection("solo") as conn:
                    Qubit(conn).measure()
            return len(CALLS)
        """)
    out = tmp_path / "out.json"
    assert main(["run", str(folder), "--rounds", "50", "--json", str(out)]) == EXIT_INTERRUPTED
    assert "interrupted after 2 round(s)" in capsys.readouterr().err
    assert json.loads(out.read_text()) == [{"solo": 1}, {"solo": 2}]


def test_json_output_is_strict_whatever_the_apps_return(tmp_path, capsys):
    import json

    from qlab_os.cli import main

    folder = _app(tmp_path, solo="""
        import numpy as np
        def main(app_config=None):
            return {(0, 1): 2, "nan": float("nan"), "c": 1 + 2j, "np": np.int64(3), "arr": np.eye(2)}
        """)
    out = tmp_path / "out.json"
    assert main(["run", str(folder), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == [
        {"solo": {"(0, 1)": 2, "nan": "nan", "c": [1.0, 2.0], "np": 3, "arr": [[1.0, 0.0], [0.0, 1.0]]}}]


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "-1"], "--timeout must be a finite number of seconds > 0"),
    (["--timeout", "inf"], "--timeout must be a finite number of seconds > 0"),
    (["--json", "{tmp}"], "not a file in an existing folder"),
])
def test_bad_run_options_fail_before_running(tmp_path, capsys, args, message):
    from qlab_os.cli import main

    folder = _app(tmp_path, solo="""
        def main(app_config=None):
            raise AssertionError("must not run")
        """)
    assert main(["run", str(folder), *[a.format(tmp=tmp_path) for a in args]]) != 0
    assert message in capsys.readouterr().err
