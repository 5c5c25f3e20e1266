"""Several netqasm apps at once on shared nodes: each keeps its own results, the QDevice runs one process's block
at a time, statistics stay right, and the whole run is deterministic under a seed."""

import itertools
import math
import textwrap
from pathlib import Path

import netqasm

from qlab_os.net import load_app
from qlab_os.net.inprocess import InProcessNetwork, load_mains
from qlab_os.net.instances import AppInstance
from qlab_os.net.run import shared_network
from qlab_os.qnpu.events import EventLog

APPS = Path(netqasm.__file__).parent / "examples" / "apps"
SHOTS = 200
LOCAL_APP = '''
from netqasm.sdk import Qubit
from netqasm.sdk.external import NetQASMConnection


def main(app_config=None, shots=10):
    ones = 0
    with NetQASMConnection(app_name=app_config.app_name, log_config=app_config.log_config, max_qubits=1) as conn:
        for _ in range(shots):
            q = Qubit(conn)
            q.rot_Y(angle=1.0)  # P(1) = sin^2(0.5)
            m = q.measure()
            conn.flush()
            ones += int(m)
    return {"ones": ones, "shots": shots}
'''


def _local_app(tmp_path: Path) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "app_local.py").write_text(textwrap.dedent(LOCAL_APP))
    (folder / "roles.yaml").write_text("local: receiver\n")
    (folder / "local.yaml").write_text(f"shots: {SHOTS}\n")
    return folder


def _run(tmp_path: Path, seed: int, policy: str = "network-first"):
    tele, local = load_app(APPS / "teleport"), load_app(_local_app(tmp_path))
    tele_mains, local_mains = load_mains(tele), load_mains(local)
    net = InProcessNetwork(shared_network([tele, local]), seed=seed, policy=policy)
    log = EventLog()
    for node in net.nodes.values():
        node.qnpu.events.subscribe(log)
    batch = [AppInstance(f"teleport{k}", tele_mains, tele.inputs, tele.role_nodes) for k in range(3)]
    batch.append(AppInstance("local", local_mains, local.inputs, local.role_nodes))
    results = net.run_instances(batch, tmp_path)
    return results, log


def _running_intervals(log: EventLog, node: str) -> list[tuple[int, int, int]]:
    open_at: dict[int, int] = {}
    intervals = []
    for e in log.events:
        if e.node != node:
            continue
        if e.new.value == "running":
            open_at[e.pid] = e.time_ns
        elif e.old is not None and e.old.value == "running":
            intervals.append((open_at.pop(e.pid), e.time_ns, e.pid))
    return sorted(intervals)


def test_apps_sharing_nodes_keep_their_own_results_and_statistics(tmp_path):
    results, log = _run(tmp_path, seed=11)
    for outcomes in results[:3]:  # every teleport instance teleported its own state perfectly (ideal network)
        assert all(o.error is None for o in outcomes.values()), outcomes
        assert outcomes["receiver"].result["fidelity"] > 1 - 1e-9
        assert set(outcomes["sender"].result) == {"m1", "m2"}
    local = results[3]["local"]
    assert local.error is None and local.result["shots"] == SHOTS
    p = math.sin(0.5) ** 2
    assert abs(local.result["ones"] - SHOTS * p) <= 5 * math.sqrt(SHOTS * p * (1 - p))
    # one block at a time on each device: RUNNING intervals of different processes never overlap
    for node in ("sender", "receiver"):
        intervals = _running_intervals(log, node)
        assert len({pid for _, _, pid in intervals}) >= 3
        for (s1, e1, p1), (s2, _e2, p2) in itertools.pairwise(intervals):
            assert e1 <= s2 or p1 == p2, (node, (s1, e1, p1), (s2, p2))
    # the receiver node hosted four processes; each has its own id
    pids = {e.pid for e in log.events if e.node == "receiver" and e.pid >= 0}
    assert len(pids) == 4


def test_a_run_of_several_apps_is_deterministic_under_a_seed(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, log1 = _run(tmp_path / "a", seed=5)
    second, log2 = _run(tmp_path / "b", seed=5)
    assert log1.trace() == log2.trace()
    assert [{r: o.result for r, o in x.items()} for x in first] == [{r: o.result for r, o in x.items()}
                                                                     for x in second]


PAIR_APP_ALICE = '''
import random

from netqasm.sdk import EPRSocket, Qubit
from netqasm.sdk.external import NetQASMConnection, Socket


def main(app_config=None, pairs=20, pace=0):
    epr = EPRSocket("bob")
    outcomes = []
    with NetQASMConnection(app_config.app_name, epr_sockets=[epr]) as conn:
        rng = random.Random(pace)
        for _ in range(pairs):
            for _ in range(rng.randrange(pace + 1)):  # local work: this instance asks for pairs at its own pace
                Qubit(conn).measure()
                conn.flush()
            q = epr.create_keep()[0]
            q.H()
            m = q.measure()
            conn.flush()
            outcomes.append(int(m))
    Socket(app_config.app_name, "bob").send(",".join(map(str, outcomes)))
'''
PAIR_APP_BOB = '''
from netqasm.sdk import EPRSocket
from netqasm.sdk.external import NetQASMConnection, Socket


def main(app_config=None, pairs=20):
    epr = EPRSocket("alice")
    mine = []
    with NetQASMConnection(app_config.app_name, epr_sockets=[epr]) as conn:
        for _ in range(pairs):
            q = epr.recv_keep()[0]
            q.H()
            m = q.measure()
            conn.flush()
            mine.append(int(m))
    theirs = [int(x) for x in Socket(app_config.app_name, "alice").recv().split(",")]
    return sum(a == b for a, b in zip(mine, theirs, strict=True))
'''


def test_epr_pairs_never_cross_app_instances(tmp_path):
    # three instances of one app use the same EPR socket ids between the same nodes, each at its own pace; an
    # ideal Phi+ pair measured in X on both sides always agrees, so every instance must see all its pairs agree
    # (pairs matched across instances would agree half the time)
    folder = tmp_path / "pairs"
    folder.mkdir()
    (folder / "app_alice.py").write_text(PAIR_APP_ALICE)
    (folder / "app_bob.py").write_text(PAIR_APP_BOB)
    app = load_app(folder)
    mains = load_mains(app)
    net = InProcessNetwork(shared_network([app]), seed=3)
    batch = [AppInstance(f"pairs{k}", mains, {"alice": {"pace": 3 * k}, "bob": {}}, app.role_nodes)
             for k in range(3)]
    results = net.run_instances(batch, tmp_path)
    for outcomes in results:
        assert outcomes["alice"].error is None and outcomes["bob"].error is None, outcomes
        assert outcomes["bob"].result == 20
