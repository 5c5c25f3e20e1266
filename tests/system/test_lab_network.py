"""Three station-backed nodes in one process: NV nodes nv_a and nv_b and the ion node, each through its QDriver,
its own QCoDeS station and the physics-backed simulated lab, in one in-process network.

One small netqasm app runs on every node: local gates and measurements shot by shot, then each node sends its
outcomes to the others and receives theirs (classical messages only: the station-backed drivers do not do ENT
yet). Statistics are checked against theory through each node's own calibration (made here, into a temporary
``data/``): the readout fidelities and their fit errors. Then an instrument fault during a run: the app on the
faulty node gets an error naming the node and the instrument; that node's station is in its safe state (what the
lab's instruments say); the other nodes finish with correct results and learn of their peer's failure from the
runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from qcodes.instrument import Instrument

from qlab_os.cli import main
from qlab_os.net.app_folder import load_app
from qlab_os.net.inprocess import InProcessNetwork, RoleOutcome, load_mains
from sim_instruments.lab.lab import get_lab, reset_lab
from sim_instruments.lab.models import AWGModel, PassiveModel

SEED = 20261124
NODES = ("nv_a", "nv_b", "ion")
K = 5.0  # sigmas

NETWORK = """\
# Three station-backed nodes: the device of each is its node setup file (station_configs/nodes/<node>.yaml),
# provided by the nv and trapped_ion QDrivers. No links: those drivers refuse ENT (and so links) today.
name: lab-three-nodes
nodes:
  - {name: nv_a, device: nv_a}
  - {name: nv_b, device: nv_b}
  - {name: ion, device: ion}
links: []
"""

APP = '''\
"""Shots of one local gate, then every node sends its outcomes to its peers and receives theirs.

``fault`` (test only) stands for a cable pulled during the run: before shot ``before_shot`` the simulated lab's
instrument ``instrument`` gets fault ``kind``."""
import json

from netqasm.sdk import Qubit
from netqasm.sdk.external import NetQASMConnection, Socket


def main(app_config=None, gate="x", shots=1, peers=(), fault=None):
    me = app_config.app_name
    outcomes = []
    with NetQASMConnection(me) as conn:
        for shot in range(shots):
            if fault is not None and shot == fault["before_shot"]:
                from sim_instruments.lab.lab import get_lab

                get_lab().inject(fault["instrument"], fault["kind"])
            q = Qubit(conn)
            if gate == "x":
                q.X()
            elif gate == "h":
                q.H()
            m = q.measure()
            conn.flush()
            outcomes.append(int(m))
    sockets = {peer: Socket(me, peer) for peer in peers}
    for sock in sockets.values():
        sock.send(json.dumps(outcomes))
    received = {}
    for peer, sock in sockets.items():
        try:
            received[peer] = json.loads(sock.recv())
        except ConnectionError as exc:  # the runtime reports a peer that ended without sending
            received[peer] = f"{type(exc).__name__}: {exc}"
    return {"outcomes": outcomes, "received": received}
'''

GATES = {"nv_a": "x", "nv_b": "h", "ion": "x"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Calibrate the three nodes of a fresh lab into ``<tmp>/data/calibration`` (the drivers' default, with
    the working directory there) and write the network file."""
    tmp = tmp_path_factory.mktemp("lab_network")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        Instrument.close_all()
        for node in NODES:
            assert main(["calibrate", node, "all", "--seed", str(SEED), "--no-progress"]) == 0
        (tmp / "network.yaml").write_text(NETWORK)
        yield tmp
    Instrument.close_all()


def _calibration(workdir: Path, node: str) -> dict[str, dict[str, float]]:
    data = yaml.safe_load((workdir / "data" / "calibration" / f"{node}.yaml").read_text())
    return dict(data["parameters"])


def _theory(workdir: Path, node: str, gate: str) -> tuple[float, float]:
    """P(read 1) and its uncertainty from the calibration's fit errors, for ``gate`` then a measurement.

    NV: the readout calibration measured F0 after INIT and F1 after INIT + pi pulse, so X reads 1 with F1; H
    reads 1 with (1 + F1 - F0)/2 (a pi/2 pulse gives 1/2 from any mixture of |0> and |1>, so the init error
    cancels). Ion: the detection calibration's dark fidelity was measured after the pi pulse X plays.
    """
    p = _calibration(workdir, node)
    if node == "ion" and gate == "x":
        entry = p["detection_fidelity_dark"]
        return entry["value"], entry["error"]
    f0, f1 = p["readout_fidelity_0"], p["readout_fidelity_1"]
    if gate == "x":
        return f1["value"], f1["error"]
    assert gate == "h"
    return (1 + f1["value"] - f0["value"]) / 2, math.hypot(f0["error"], f1["error"]) / 2


def _assert_theory(workdir: Path, node: str, outcomes: list[int]) -> None:
    n = len(outcomes)
    p, p_error = _theory(workdir, node, GATES[node])
    sigma = math.sqrt(max(p * (1 - p), 1.0 / n) / n + p_error**2)
    measured = sum(outcomes) / n
    print(f"{node} {GATES[node]}: P(1) {measured:.4f}, theory {p:.4f} +- {sigma:.4f} ({n} shots)")
    assert abs(measured - p) <= K * sigma, (node, measured, p, sigma)


def _run(workdir: Path, shots: int, fault: dict[str, Any] | None = None,
         fault_node: str | None = None) -> tuple[InProcessNetwork, dict[str, RoleOutcome]]:
    """One run of the app on the three nodes; every driver is closed afterwards (its station's safe state)."""
    folder = workdir / "app"
    folder.mkdir(exist_ok=True)
    for node in NODES:
        (folder / f"app_{node}.py").write_text(APP)
        inputs: dict[str, Any] = {"gate": GATES[node], "shots": shots, "peers": [p for p in NODES if p != node]}
        (folder / f"{node}.yaml").write_text(yaml.safe_dump(inputs))
    app = load_app(folder, network=workdir / "network.yaml")
    if fault is not None and fault_node is not None:
        app.inputs[fault_node]["fault"] = fault
    Instrument.close_all()
    reset_lab(seed=SEED)
    net = InProcessNetwork(app.network, seed=SEED, timeout_s=60.0, role_nodes=app.role_nodes)
    outcomes = net.run_roles(load_mains(app), app.inputs, folder)
    return net, outcomes


def _close(net: InProcessNetwork) -> None:
    for node in net.nodes.values():
        node.driver.close()
    get_lab().clear_faults()
    Instrument.close_all()


def _emitting(node: str) -> dict[str, bool]:
    """What emits on the lab node now: sources and lasers on, the AWG running or with a channel output on."""
    state: dict[str, bool] = {}
    for role, model in get_lab().node(node).instruments.items():
        if isinstance(model, PassiveModel):
            state[role] = model.is_on()
        elif isinstance(model, AWGModel):
            state[role] = model.running or any(
                model.value(f"OUTPUT{channel}:STATE?").strip() == "1" for channel in range(1, 5))
    return state


def test_three_station_backed_nodes_run_one_app_and_match_theory(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  ) -> None:
    monkeypatch.chdir(workdir)
    shots = 400
    net, out = _run(workdir, shots)
    try:
        # one process, three stations: each node's instruments are its own (nv_a's were not closed by nv_b's)
        for name, node in net.nodes.items():
            station = node.driver.station  # type: ignore[attr-defined]
            assert not station.closed and station.node == name
            assert all(i.name == f"{name}_{key}" for key, i in station.instruments.items())
            assert station.station_config.instruments["awg"].address == get_lab().resource_of(f"{name}.awg")
    finally:
        _close(net)
    for node in NODES:
        assert out[node].error is None, (node, out[node].error)
        result = out[node].result
        assert len(result["outcomes"]) == shots
        _assert_theory(workdir, node, result["outcomes"])
        for peer in NODES:
            if peer != node:  # the classical messages carried each peer's outcomes unchanged
                assert result["received"][peer] == out[peer].result["outcomes"]


@pytest.mark.parametrize(("node", "role"), [("nv_b", "awg"), ("ion", "pmt_counter")])
def test_an_instrument_fault_fails_only_its_node_leaves_it_safe_and_the_others_correct(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, node: str, role: str
) -> None:
    monkeypatch.chdir(workdir)
    shots, before = 200, 40
    net, out = _run(workdir, shots, {"before_shot": before, "instrument": f"{node}.{role}", "kind": "dead"}, node)
    try:
        report = net.nodes[node].driver.station.last_safe_state  # type: ignore[attr-defined]
        emitting = _emitting(node)
        others_emitting = {n: _emitting(n) for n in NODES if n != node}
    finally:
        _close(net)
    # the app on the faulty node: a clear error naming the node, the instrument and its address
    error = out[node].error
    address = get_lab().resource_of(f"{node}.{role}")
    assert error is not None and out[node].result is None
    assert f"node {node}" in error or f"node {node!r}" in error, error
    assert f"'{role}' at {address}" in error, error
    assert "unreachable" in error and "safe state" in error, error
    # its station went to its safe state: everything that still answers is off; the dead instrument is reported
    assert report is not None
    assert list(report.failed) == [role], report
    reachable = {r: on for r, on in emitting.items() if r not in report.failed and r not in report.skipped}
    assert len(reachable) >= 4 and ("awg" in reachable or role == "awg"), emitting  # drive, lasers, AWG checked
    assert not any(reachable.values()), emitting
    # the other nodes: their own results match theory; the healthy peer's message arrived; the failed one reported
    for other in NODES:
        if other == node:
            continue
        assert out[other].error is None, (other, out[other].error)
        result = out[other].result
        assert len(result["outcomes"]) == shots
        _assert_theory(workdir, other, result["outcomes"])
        for peer in NODES:
            if peer == other:
                continue
            if peer == node:
                told = result["received"][peer]
                assert told.startswith(f"ConnectionError: {other}: {node} ended ({node} failed: "), told
                assert f"'{role}' at {address}" in told, told
            else:
                assert result["received"][peer] == out[peer].result["outcomes"]
        assert any(others_emitting[other].values())  # still running when the faulty node stopped: not touched
