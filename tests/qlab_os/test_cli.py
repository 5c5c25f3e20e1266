"""``qlab-os exec`` and friends, through ``main()`` as a user calls them."""

import json

import pytest

from qlab_os.cli import EXIT_ERROR, main

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
