"""EPR requests: netqasm's per-request max_time is a timeout in virtual time, and an EPR socket's min_fidelity that
the link cannot meet is refused (qlink ErrorCode.UNSUPP); both with errors naming the request and the node, the
qubits freed, and the other apps going on."""

import textwrap
from pathlib import Path
from typing import Any

from qlab_os.net import load_app, parse_network
from qlab_os.net.run import run_apps

ALICE = '''
from netqasm.qlink_compat import TimeUnit
from netqasm.sdk import EPRSocket
from netqasm.sdk.external import NetQASMConnection


def main(app_config=None, min_fidelity=100, max_time_ms=0):
    epr = EPRSocket("bob", min_fidelity=min_fidelity)
    with NetQASMConnection(app_name=app_config.app_name, log_config=app_config.log_config,
                           epr_sockets=[epr]) as conn:
        q = epr.create_keep(time_unit=TimeUnit.MILLI_SECONDS, max_time=max_time_ms)[0]
        m = q.measure()
        conn.flush()
    return int(m)
'''
BOB = '''
from netqasm.sdk import EPRSocket
from netqasm.sdk.external import NetQASMConnection


def main(app_config=None):
    epr = EPRSocket("alice")
    with NetQASMConnection(app_name=app_config.app_name, log_config=app_config.log_config,
                           epr_sockets=[epr]) as conn:
        q = epr.recv_keep()[0]
        m = q.measure()
        conn.flush()
    return int(m)
'''
LOCAL = '''
from netqasm.sdk import Qubit
from netqasm.sdk.external import NetQASMConnection


def main(app_config=None):
    with NetQASMConnection(app_name=app_config.app_name, log_config=app_config.log_config, max_qubits=1) as conn:
        q = Qubit(conn)
        q.X()
        m = q.measure()
        conn.flush()
    return int(m)
'''


def _apps(tmp_path: Path, **alice_inputs: Any) -> list[Any]:
    pair, local = tmp_path / "pair", tmp_path / "local"
    pair.mkdir()
    local.mkdir()
    (pair / "app_alice.py").write_text(textwrap.dedent(ALICE))
    (pair / "app_bob.py").write_text(textwrap.dedent(BOB))
    (pair / "alice.yaml").write_text("".join(f"{k}: {v}\n" for k, v in alice_inputs.items()))
    (local / "app_local.py").write_text(textwrap.dedent(LOCAL))
    (local / "roles.yaml").write_text("local: bob\n")
    return [load_app(pair), load_app(local)]


def _network(success_probability: float, schedule: bool) -> Any:
    link: dict[str, Any] = {"between": ["alice", "bob"], "preset": "nv", "success_probability": success_probability}
    if schedule:
        link["schedule"] = {"bin_length_ns": 1.0e+5, "pattern": ["link", "local"]}
    return parse_network({"nodes": [{"name": "alice", "device": "sim-generic"},
                                    {"name": "bob", "device": "sim-generic"}], "links": [link]}, source="test")


def _errors(reports: Any) -> dict[str, str]:
    return {role: error for report in reports for _, role, error in report.errors}


def test_max_time_of_a_request_times_out_without_schedule(tmp_path):
    # 1e-7 per 3.8 us attempt: a pair takes ~38 s on average; max_time is 5 ms
    reports = run_apps(_apps(tmp_path, max_time_ms=5), seed=4, network=_network(1.0e-7, schedule=False))
    errors = _errors(reports)
    assert set(errors) == {"alice", "bob"}
    for error in errors.values():
        assert "max_time of 0.005 s" in error and "ErrorCode.TIMEOUT" in error
        assert "create_epr on EPR socket 0 of node 0 with node 1" in error
    assert reports[1].rounds[0]["local"] == 1  # the other app went on


def test_max_time_of_a_request_times_out_in_time_bins(tmp_path):
    reports = run_apps(_apps(tmp_path, max_time_ms=5), seed=4, network=_network(1.0e-7, schedule=True))
    errors = _errors(reports)
    assert set(errors) == {"alice", "bob"}
    for error in errors.values():
        assert "timed out after 0.005 s (virtual; the request's max_time, qlink ErrorCode.TIMEOUT)" in error
        assert "create_epr on EPR socket 0" in error and "with node bob" in error
    assert reports[1].rounds[0]["local"] == 1


def test_a_request_within_max_time_is_served(tmp_path):
    reports = run_apps(_apps(tmp_path, max_time_ms=1000), seed=4, network=_network(1.0e-2, schedule=True))
    assert not _errors(reports)
    assert reports[0].rounds[0]["alice"] in (0, 1)


def test_unmet_min_fidelity_is_refused_as_unsupported(tmp_path):
    reports = run_apps(_apps(tmp_path, min_fidelity=90), seed=4, network=_network(1.0e-2, schedule=False))
    errors = _errors(reports)
    assert set(errors) == {"alice", "bob"}
    for error in errors.values():
        assert "min_fidelity 90%" in error and "fidelity 80.0%" in error and "ErrorCode.UNSUPP" in error
    assert reports[1].rounds[0]["local"] == 1


def test_met_min_fidelity_and_netqasm_default_are_served(tmp_path):
    for k, wanted in enumerate((75, 100)):  # 100 is netqasm's default: no particular requirement
        folder = tmp_path / str(k)
        folder.mkdir()
        reports = run_apps(_apps(folder, min_fidelity=wanted), seed=4, network=_network(1.0e-2, schedule=False))
        assert not _errors(reports), wanted
