"""``qlab-os exec`` and friends, through ``main()`` as a user calls them."""

import json

import pytest

from qlab_os.cli import EXIT_ERROR, EXIT_USAGE, main

BELL = "# NETQASM 1.0\n# APPID 0\nset Q0 0\nset Q1 1\nqalloc Q0\nqalloc Q1\ninit Q0\ninit Q1\nh Q0\ncnot Q0 Q1\n" \
       "meas Q0 M0\nmeas Q1 M1\narray 2 @0\nstore M0 @0[0]\nstore M1 @0[1]\nret_arr @0\nadd R0 M0 M1\nret_reg R0\n"


@pytest.fixture
def bell(tmp_path):
    p = tmp_path / "bell.nqasm"
    p.write_text(BELL)
    return p


def _json(capsys, *args):
    assert main(["exec", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_exec_json_single(capsys, bell):
    out = _json(capsys, bell, "--seed", "3")
    assert set(out) == {"registers", "arrays"}
    a, b = out["arrays"]["0"]
    assert a == b and out["registers"]["R0"] == a + b


@pytest.mark.parametrize("device", ["sim-generic", "sim-nv", "sim-ion"])
def test_exec_shots_json_is_seeded_and_correlated(capsys, bell, device):
    first = _json(capsys, bell, "--device", device, "--seed", "5", "--shots", "40", "--ideal")
    second = _json(capsys, bell, "--device", device, "--seed", "5", "--shots", "40", "--ideal")
    assert first == second
    shots = first["shots"]
    assert len(shots) == 40
    assert all(s["arrays"]["0"][0] == s["arrays"]["0"][1] for s in shots)
    ones = sum(s["arrays"]["0"][0] for s in shots)
    assert 0 < ones < 40  # both outcomes appear (P(all same) = 2 * 2**-40)


def test_binary_file_runs_like_text(capsys, tmp_path, bell):
    from qlab_os.qnpu.decode import parse_text

    binary = tmp_path / "bell.bin"
    binary.write_bytes(bytes(parse_text(BELL)))
    assert _json(capsys, binary, "--seed", "9") == _json(capsys, bell, "--seed", "9")


def test_histogram_output(capsys, bell):
    assert main(["exec", str(bell), "--shots", "200", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "200 shots" in out and "[0, 0]" in out and "[1, 1]" in out and "[0, 1]" not in out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("set R0\n", [], "line 1: cannot parse"),
        ("set Q0 0\nh Q0\n", [], "virtual qubit 0 (in Q0) is not allocated"),
        ("LOOP:\njmp LOOP\n", ["--max-instructions", "1000"], "endless loop"),
        ("set R0 1\n", ["--device", "sim-quantum-toaster"], "unknown device 'sim-quantum-toaster'; known devices:"),
        (
            "".join(f"set Q0 {i}\nqalloc Q0\n" for i in range(9)),
            ["--device", "sim-ion", "--max-qubits", "9"],
            "all 3 physical qubits of the device are in use",
        ),
    ],
)
def test_errors_are_one_clear_line_and_nonzero(capsys, tmp_path, content, args, message):
    p = tmp_path / "bad.nqasm"
    p.write_text(content)
    assert main(["exec", str(p), *args]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file(capsys, tmp_path):
    assert main(["exec", str(tmp_path / "nope.nqasm")]) != 0
    assert "cannot read" in capsys.readouterr().err


def test_devices_lists_the_three_simulated_devices(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for d in ("sim-generic", "sim-nv", "sim-ion", "null"):
        assert d in out


def test_errors_name_the_line_of_the_file(capsys, tmp_path):
    p = tmp_path / "div.nqasm"
    p.write_text("# NETQASM 1.0\n# APPID 0\n// a comment\narray 3 @0\nstore 5 @0[1]\n\nLOOP:\nset R0 1\n"
                 "set R1 0\ndiv R2 R0 R1\n")
    assert main(["exec", str(p)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"{p}:10: app 0, line 7, 'div R2 R0 R1': division by zero" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["--shots", "--max-instructions"])
def test_non_positive_counts_are_refused(capsys, bell, flag):
    assert main(["exec", str(bell), flag, "0"]) != 0
    assert f"{flag} must be >= 1, got 0" in capsys.readouterr().err


# --- qlab-os run: several folders, --instances, --stats and the JSON layout (issue #4) ---------------------------

LOCAL_APP = '''
from netqasm.sdk import Qubit
from netqasm.sdk.external import NetQASMConnection


def main(app_config=None):
    with NetQASMConnection(app_name=app_config.app_name, log_config=app_config.log_config, max_qubits=1) as conn:
        q = Qubit(conn)
        q.X()
        m = q.measure()
        conn.flush()
    return {"m": int(m)}
'''


@pytest.fixture
def run_apps_dirs(tmp_path):
    from pathlib import Path

    import netqasm

    local = tmp_path / "local"
    local.mkdir()
    (local / "app_local.py").write_text(LOCAL_APP)
    (local / "roles.yaml").write_text("local: receiver\n")
    return Path(netqasm.__file__).parent / "examples" / "apps" / "teleport", local


def test_run_several_folders_with_instances_stats_and_json(capsys, tmp_path, run_apps_dirs):
    teleport, local = run_apps_dirs
    out = tmp_path / "out.json"
    args = ["run", str(teleport), str(local), "--instances", "2", "--stats", "--seed", "3", "--rounds", "2",
            "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "QDevice utilisation" in printed and "receiver:" in printed
    doc = json.loads(out.read_text())
    assert set(doc) == {"apps", "stats"}
    assert set(doc["apps"]) == {"teleport#0", "teleport#1", "local#2", "local#3"}
    for name, rounds in doc["apps"].items():
        assert len(rounds) == 2, name
    for name in ("local#2", "local#3"):  # each instance's results stay its own
        assert all(r == {"local": {"m": 1}} for r in doc["apps"][name])
    for name in ("teleport#0", "teleport#1"):
        assert all(set(r) == {"sender", "receiver"} for r in doc["apps"][name])
    stats = doc["stats"]
    assert set(stats) == {"sender", "receiver"}
    receiver = stats["receiver"]
    assert set(receiver) == {"utilisation", "device_busy_ns", "elapsed_ns", "entanglement_attempts",
                             "entanglement_successes", "mean_delivered_fidelity", "processes", "links"}
    link = receiver["links"]["receiver--sender"]
    assert link["successes"] == 4 and link["attempts"] >= 4
    assert link["bins_used"] is None  # the link has no TDMA schedule
    assert 0 < receiver["utilisation"] <= 1
    assert receiver["device_busy_ns"] <= receiver["elapsed_ns"]
    assert receiver["entanglement_successes"] == 4  # two teleports, two rounds, one pair each
    assert {"receiver#0", "receiver#1", "local#2", "local#3"} <= set(receiver["processes"])
    for p in receiver["processes"].values():
        assert set(p) == {"subroutines", "ready_wait_ns", "entanglement_wait_ns", "busy_ns",
                          "mean_subroutine_latency_ns", "max_subroutine_latency_ns"}
    assert receiver["processes"]["local#2"]["subroutines"] == 2  # one flush per round


def test_run_json_of_one_app_without_stats_is_a_list_of_rounds(capsys, tmp_path, run_apps_dirs):
    _, local = run_apps_dirs
    out = tmp_path / "out.json"
    assert main(["run", str(local), "--rounds", "3", "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == [{"local": {"m": 1}}] * 3


def test_run_with_fcfs_policy_and_instances(capsys, tmp_path, run_apps_dirs):
    _, local = run_apps_dirs
    out = tmp_path / "out.json"
    assert main(["run", str(local), "--instances", "3", "--policy", "fcfs", "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == {"apps": {f"local#{k}": [{"local": {"m": 1}}] for k in range(3)}}


def test_run_refuses_zero_instances(capsys, run_apps_dirs):
    _, local = run_apps_dirs
    assert main(["run", str(local), "--instances", "0"]) == EXIT_USAGE
    assert "--instances must be >= 1, got 0" in capsys.readouterr().err
