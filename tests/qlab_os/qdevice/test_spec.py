"""Device spec YAML: validated on load, errors name the file, the key and the reason."""

import math

import pytest

from qlab_os.errors import ConfigError
from qlab_os.qdevice import Axis, PhysicalOp, load_spec, parse_spec

GOOD = {
    "name": "toy",
    "qubits": [{"name": "e", "communication": True, "t1_ns": 1.0e6, "t2_ns": 1.0e5}, {"name": "c"}],
    "readout": {"p_flip_0": 0.05, "p_flip_1": 0.01},
    "native": [
        {"op": "init", "duration_ns": 100},
        {"op": "meas", "qubits": [0], "duration_ns": 1000},
        {"op": "init", "qubits": [1], "duration_ns": 5000},
        {"op": "meas", "qubits": [1], "duration_ns": 5000},
        {"op": "rot", "axes": ["x", "y"], "qubits": [0], "duration_ns": 10, "depolarising_prob": 0.001},
        {"op": "crot", "axes": ["x"], "pairs": [[0, 1]], "duration_ns": 5.0e5},
        {"op": "rot", "axes": ["x"], "addressing": "global", "duration_ns": 20},
    ],
}


def test_good_spec_lookups():
    spec = parse_spec(GOOD)
    assert spec.num_qubits == 2 and spec.communication_qubits == (0,) and spec.memory_qubits == (1,)
    assert spec.native(PhysicalOp.ROT, (0,), Axis.X).duration_ns == 10
    assert spec.native(PhysicalOp.ROT, (0,), Axis.Z) is None
    assert spec.native(PhysicalOp.ROT, (1,), Axis.X) is None  # only as a global beam
    assert spec.native(PhysicalOp.ROT, (0, 1), Axis.X).global_
    assert spec.supports(PhysicalOp.CROT, (0, 1), Axis.X)
    assert not spec.supports(PhysicalOp.CROT, (1, 0), Axis.X)
    assert spec.native(PhysicalOp.CROT, (0, 1), Axis.X).duration_ns == 500_000
    assert spec.qubits[1].t1_ns == math.inf


def test_ideal_removes_all_noise_and_keeps_durations():
    ideal = parse_spec(GOOD).ideal()
    assert ideal.readout_p_flip_0 == 0 and ideal.qubits[0].t2_ns == math.inf
    assert all(g.depolarising_prob == 0 for g in ideal.natives)
    assert ideal.native(PhysicalOp.ROT, (0,), Axis.X).duration_ns == 10


def _with(**changes):
    data = {**GOOD, **changes}
    return data


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        (_with(name=3), "name", "expected str"),
        (_with(qubits=[]), "qubits", "at least one qubit"),
        (_with(qubits=[{"name": "a", "t1_ns": "1e-3"}]), "qubits[0].t1_ns", "write floats as 1.0e-3"),
        (_with(qubits=[{"name": "a", "t1_ns": 10.0, "t2_ns": 30.0}]), "qubits[0]", "cannot exceed 2*T1"),
        (_with(readout={"p_flip_0": 1.5}), "readout.p_flip_0", "must be in [0, 1]"),
        (_with(native=[{"op": "teleport", "duration_ns": 1}]), "native[0].op", "unknown op 'teleport'"),
        (_with(native=[{"op": "rot", "duration_ns": 1}]), "native[0].axes", "needs a list of axes"),
        (_with(native=[{"op": "cnot", "pairs": [[0, 0]], "duration_ns": 1}]), "native[0].pairs[0]",
         "two different qubit indices"),
        (_with(native=[{"op": "init", "duration_ns": 1}]), "native", "has no native 'meas'"),
        (_with(colour="blue"), "colour", "unknown key"),
        (_with(native=[{"op": "init", "duration_ns": -1}]), "native[0].duration_ns", "must be >= 0"),
    ],
)
def test_bad_specs_name_key_and_reason(data, key, reason):
    with pytest.raises(ConfigError) as info:
        parse_spec(data, source="toy.yaml")
    assert info.value.source == "toy.yaml"
    assert info.value.key == key
    assert reason in info.value.reason


def test_load_spec_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(bad)
