"""The network schedule on a whole network: entanglement only inside the link's TDMA bins (asserted on the device
timeline and the event trace in virtual time), local work between bins, EPR requests that time out or whose
peer app is stopped, with clear errors, freed qubits, and the other apps going on."""

import math
import textwrap
from pathlib import Path
from typing import Any

import netqasm
from netqasm.backend.messages import StopAppMessage

from qlab_os.net import load_app, parse_network
from qlab_os.net.inprocess import InProcessNetwork, load_mains
from qlab_os.net.instances import AppInstance
from qlab_os.net.metrics import RunStats
from qlab_os.qnpu.events import EventLog
from qlab_os.qnpu.process import NETWORK_PID

APPS = Path(netqasm.__file__).parent / "examples" / "apps"
BIN_NS = 200_000
SHOTS = 300
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


def _network(success_probability: float = 1.0e-3) -> Any:
    return parse_network({
        "nodes": [{"name": "sender", "device": "sim-generic"}, {"name": "receiver", "device": "sim-generic"}],
        "links": [{"between": ["sender", "receiver"], "preset": "nv", "success_probability": success_probability,
                   "schedule": {"bin_length_ns": BIN_NS, "pattern": ["link", "local", "local"]}}],
    }, source="test_tdma")


def _local_app(tmp_path: Path) -> Path:
    folder = tmp_path / "local"
    folder.mkdir(exist_ok=True)
    (folder / "app_local.py").write_text(textwrap.dedent(LOCAL_APP))
    (folder / "roles.yaml").write_text("local: receiver\n")
    (folder / "local.yaml").write_text(f"shots: {SHOTS}\n")
    return folder


def _run(tmp_path: Path, net: InProcessNetwork, teleports: int = 2,
         hook: Any = None) -> tuple[list[dict[str, Any]], EventLog]:
    tele, local = load_app(APPS / "teleport"), load_app(_local_app(tmp_path))
    tele_mains, local_mains = load_mains(tele), load_mains(local)
    log = EventLog()
    for node in net.nodes.values():
        node.qnpu.events.subscribe(log)
    batch = [AppInstance(f"teleport{k}", tele_mains, tele.inputs, tele.role_nodes) for k in range(teleports)]
    batch.append(AppInstance("local", local_mains, local.inputs, local.role_nodes))
    if hook is not None:
        hook(net)
    return net.run_instances(batch, tmp_path), log


def _intervals(log: EventLog, node: str) -> list[tuple[int, int, int]]:
    """(start, end, pid) of every RUNNING interval on ``node``."""
    open_at: dict[int, int] = {}
    out = []
    for e in log.events:
        if e.node != node:
            continue
        if e.new.value == "running":
            open_at[e.pid] = e.time_ns
        elif e.old is not None and e.old.value == "running":
            out.append((open_at.pop(e.pid), e.time_ns, e.pid))
    return sorted(out)


def test_entanglement_only_in_link_bins_and_local_work_between(tmp_path):
    config = _network()
    schedule = config.links[0].schedule
    net = InProcessNetwork(config, seed=3)
    results, log = _run(tmp_path, net)
    for outcomes in results:
        assert all(o.error is None for o in outcomes.values()), outcomes
    p = math.sin(0.5) ** 2
    assert abs(results[-1]["local"].result["ones"] - SHOTS * p) <= 5 * math.sqrt(SHOTS * p * (1 - p))
    assert net.link_layer.pairs_delivered == 2
    for node in net.nodes.values():  # the device timeline: every ENT starts and ends inside one link bin
        assert node.stack.ent_log, node.name
        for _link, start, end in node.stack.ent_log:
            assert schedule.in_link_bin(start, end), (node.name, start, end)
    # with 1e-3 per attempt and 52 attempts a bin, a pair needs several bins: requests went on across bins
    assert net.tdma.bins_used["receiver--sender"] > 2
    stats = RunStats()
    stats.add_round(net)
    for end in ("sender", "receiver"):  # --stats reports the bins per link at each end
        assert stats.nodes[end].to_json()["links"]["receiver--sender"]["bins_used"] == net.tdma.bins_used[
            "receiver--sender"]
    for name in ("sender", "receiver"):
        intervals = _intervals(log, name)
        network = [(s, e) for s, e, pid in intervals if pid == NETWORK_PID]
        user = [(s, e) for s, e, pid in intervals if pid != NETWORK_PID]
        assert network and user
        for s, e in network:  # the event trace agrees: the network process runs only inside link bins
            assert schedule.in_link_bin(s, e), (name, s, e)
        for (s1, e1), (s2, e2) in ((a, b) for a in network for b in user):  # one holder at a time
            assert e1 <= s2 or e2 <= s1
    # the local app used the receiver's QDevice between link bins while the teleport pairs were still pending
    first_ent, last_ent = min(s for _, s, _ in net.nodes["receiver"].stack.ent_log), max(
        e for _, _, e in net.nodes["receiver"].stack.ent_log)
    local_pid = next(p.pid for p in net.nodes["receiver"].qnpu.finished if p.name == "local#2")
    local_between = [(s, e) for s, e, pid in _intervals(log, "receiver")
                     if pid == local_pid and first_ent < s < last_ent]
    assert local_between
    assert any(not schedule.in_link_bin(s, s) for s, _ in local_between)  # some of it in local bins


def test_tdma_run_is_deterministic_under_a_seed(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, log1 = _run(tmp_path / "a", InProcessNetwork(_network(), seed=9), teleports=1)
    _, log2 = _run(tmp_path / "b", InProcessNetwork(_network(), seed=9), teleports=1)
    assert log1.trace() == log2.trace()


def test_epr_request_times_out_with_a_clear_error_and_others_go_on(tmp_path):
    # success 1e-9 per attempt: no pair within the 0.05 s (virtual) timeout
    net = InProcessNetwork(_network(success_probability=1.0e-9), seed=1, timeout_s=0.05)
    results, _ = _run(tmp_path, net, teleports=1)
    errors = {role: o.error for role, o in results[0].items()}
    for role, error in errors.items():
        assert error is not None, role
    text = " ".join(errors.values())
    assert "timed out after 0.05 s (virtual; the run's timeout, qlink ErrorCode.TIMEOUT)" in text
    assert "EPR socket 0" in text and ("with node receiver" in text or "with node sender" in text)
    assert results[1]["local"].error is None and results[1]["local"].result["shots"] == SHOTS
    for node in net.nodes.values():  # every qubit is free again
        assert all(node.qnpu.qmm.owner(q) is None for q in range(node.qnpu.spec.num_qubits)), node.name


def test_app_stopped_while_its_epr_request_is_pending(tmp_path):
    stop_at_ns = 3 * BIN_NS * 3  # three schedule periods in: the request is matched and still without a pair

    def stop_receiver_app(net: InProcessNetwork) -> None:
        def body() -> None:
            net.scheduler.wait_until(lambda: stop_at_ns, stop_at_ns, "operator: stop the receiver's teleport")
            node = net.nodes["receiver"]
            pending = [r for c, r in net.link_layer.tdma_pairs("receiver--sender")]
            assert pending, "the request should still be pending"
            app_id = pending[0].process.pid
            net.to_qnpu("receiver#0", bytes(StopAppMessage(app_id=app_id)))
            assert app_id not in node.qnpu.processes

        from qlab_os.clock import VirtualClock
        net.scheduler.spawn("operator", body, VirtualClock())

    net = InProcessNetwork(_network(success_probability=1.0e-6), seed=2)
    results, _ = _run(tmp_path, net, teleports=1, hook=stop_receiver_app)
    sender = results[0]["sender"].error
    assert sender is not None and "the peer app on node 1 stopped before all pairs were made" in sender
    assert results[1]["local"].error is None and results[1]["local"].result["shots"] == SHOTS
    for node in net.nodes.values():
        assert all(node.qnpu.qmm.owner(q) is None for q in range(node.qnpu.spec.num_qubits)), node.name
        assert all(node.stack.ent_log) and all(
            net.network.links[0].schedule.in_link_bin(s, e) for _, s, e in node.stack.ent_log)
