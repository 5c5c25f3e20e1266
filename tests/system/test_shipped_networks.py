"""The network files shipped in station_configs/ load, name installed devices, and carry an app."""

import math
from pathlib import Path

import pytest

from qlab_os.net.config import check_devices, load_network
from qlab_os.qdevice.registry import device_names

SHIPPED = sorted(Path(__file__).resolve().parents[2].joinpath("station_configs").glob("network_*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_network_is_valid(path):
    net = load_network(path)
    check_devices(net, device_names())
    assert len(net.links) >= 1


def test_teleport_on_two_nv_nodes_with_the_nv_link(tmp_path):
    """netqasm's teleport on two noisy NV nodes over the NV link: it runs, and the fidelity is below ideal."""
    import shutil
    from importlib import resources

    from qlab_os.net.app_folder import load_app
    from qlab_os.net.run import run_app

    folder = tmp_path / "teleport"
    shutil.copytree(str(resources.files("netqasm.examples.apps").joinpath("teleport")), folder)
    (folder / "roles.yaml").write_text("sender: alice\nreceiver: bob\n")
    (folder / "sender.yaml").write_text("phi: 0.5\ntheta: 1.0\n")
    net_path = next(p for p in SHIPPED if p.name == "network_two_nv.yaml")
    report = run_app(load_app(folder, network=net_path), rounds=20, seed=2)
    assert report.errors == []
    fidelities = [r["receiver"]["fidelity"] for r in report.rounds]
    link_f = load_network(net_path).links[0].fidelity
    # the link alone gives (2F+1)/3; NV gates, carbon moves and waiting only lower it
    assert all(f < (2 * link_f + 1) / 3 + 1e-9 for f in fidelities)
    # a misread sender outcome applies the wrong Pauli correction and drops that round below 0.5 (about 0.35 for
    # this state); the others stay above it. Misread rounds: at most the readout error's share, at 5 sigma
    from qdrivers.sim.driver import SimQDriver

    spec = SimQDriver.load_device_spec("sim-nv")
    q = 1 - (1 - (spec.readout_p_flip_0 + spec.readout_p_flip_1) / 2) ** 2  # two outcomes per round, 0 or 1 evenly
    n = len(fidelities)
    misread = sum(f < 0.5 for f in fidelities)
    assert misread <= n * q + 5 * math.sqrt(n * q * (1 - q))
    # and the rounds read right lose little to the devices (a broken teleport would sit near 0.5 or below)
    assert sum(f for f in fidelities if f >= 0.5) / (n - misread) > (2 * link_f + 1) / 3 - 0.1
    assert min(report.virtual_ns) > 0
