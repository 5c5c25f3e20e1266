"""The translator emits only native instructions, and they multiply out to the logical gate (up to phase)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.spec import QDeviceSpec
from qlab_os.qnpu.gates import ANGLE_GATES, ONE_QUBIT_GATES, TWO_QUBIT_GATES, Gate
from qlab_os.qnpu.translator import Translator

from .test_translator_support import (
    assert_equal_up_to_phase,
    crot_y_spec,
    generic_spec,
    global_ms_spec,
    ion_spec,
    line_cz_spec,
    logical,
    nv_spec,
    unitary,
)

DEVICES: dict[str, Callable[[], QDeviceSpec]] = {
    "generic": generic_spec,
    "nv": lambda: nv_spec(z_on_electron=False),
    "nv-electron-z": lambda: nv_spec(z_on_electron=True),
    "ion": ion_spec,
    "one-ion": lambda: ion_spec(1),
    "two-ion-global-ms": lambda: global_ms_spec(2),
    "line-cz": line_cz_spec,
    "nv-crot-y": crot_y_spec,
}
_TRANSLATORS: dict[str, Translator] = {}

SPECIAL_ANGLES = [
    0.0,
    math.pi,
    -math.pi,
    math.pi / 2,
    -math.pi / 2,
    2 * math.pi,
    4 * math.pi,
    3 * math.pi,
    1e-13,
    math.pi / 4,
    7 * math.pi / 8,
]
angles = st.one_of(st.sampled_from(SPECIAL_ANGLES), st.floats(-4 * math.pi, 4 * math.pi, allow_nan=False))


def translator(device: str) -> Translator:
    """One translator per device for the whole module: also exercises its caches."""
    if device not in _TRANSLATORS:
        _TRANSLATORS[device] = Translator(DEVICES[device]())
    return _TRANSLATORS[device]


def qubit_tuples(gate: Gate, n: int) -> list[tuple[int, ...]]:
    if gate in ONE_QUBIT_GATES:
        return [(q,) for q in range(n)]
    pairs = list(itertools.permutations(range(n), 2))
    if gate is Gate.MS and n >= 3:  # every pair, plus a triple and all qubits, in scrambled orders
        return [*pairs, (n - 1, 0, 1), tuple(reversed(range(n)))]
    return pairs


def check(
    t: Translator, gate: Gate, qubits: tuple[int, ...], angle: float
) -> tuple[PhysicalInstruction, ...]:
    instrs = t.gate(gate, qubits, angle)
    n = t.spec.num_qubits
    for instr in instrs:
        assert t.spec.supports(instr.op, instr.qubits, instr.axis), f"{instr} is not native on {t.spec.name}"
        if instr.op in (PhysicalOp.ROT, PhysicalOp.CROT, PhysicalOp.MS):
            assert -math.pi < instr.angle_rad <= math.pi, f"{instr}: angle not normalised"
            # >= half the drop threshold: the global-beam trick halves angles
            assert abs(instr.angle_rad) >= 0.5e-12, f"{instr}: zero rotation not dropped"
    want = logical(gate, qubits, angle, n)
    try:
        assert_equal_up_to_phase(unitary(instrs, n), want)
    except AssertionError as exc:
        listing = "; ".join(map(str, instrs))
        raise AssertionError(
            f"{gate.name}{qubits} angle {angle} on {t.spec.name}: {listing}\n{exc}"
        ) from None
    return instrs


def _feasible(device: str, gate: Gate) -> bool:
    n = DEVICES[device]().num_qubits
    if gate in TWO_QUBIT_GATES or gate is Gate.MS:
        return n >= 2
    return True


CASES = [(d, g) for d in DEVICES for g in Gate if _feasible(d, g)]


@pytest.mark.parametrize(("device", "gate"), [c for c in CASES if c[1] not in ANGLE_GATES])
def test_fixed_gate_is_exact_and_native(device: str, gate: Gate) -> None:
    t = translator(device)
    for qubits in qubit_tuples(gate, t.spec.num_qubits):
        check(t, gate, qubits, 0.0)


@pytest.mark.parametrize(("device", "gate"), [c for c in CASES if c[1] in ANGLE_GATES])
@settings(max_examples=12)
@given(angle=angles)
def test_rotation_gate_is_exact_and_native(device: str, gate: Gate, angle: float) -> None:
    t = translator(device)
    for qubits in qubit_tuples(gate, t.spec.num_qubits):
        check(t, gate, qubits, angle)


@pytest.mark.parametrize("angle", SPECIAL_ANGLES)
def test_global_ms_on_all_ions_is_one_instruction(angle: float) -> None:
    t = Translator(global_ms_spec(3))
    instrs = check(t, Gate.MS, (2, 0, 1), angle)
    assert len(instrs) == (0 if abs(math.remainder(angle, 2 * math.pi)) < 1e-12 else 1)


@pytest.mark.parametrize(
    ("device", "gate", "qubits", "angle"),
    [
        ("generic", Gate.ROT_X, (3,), 0.3),
        ("generic", Gate.CNOT, (4, 1), 0.0),
        ("generic", Gate.CPHASE, (1, 2), 0.0),
        ("nv", Gate.ROT_Y, (0,), 0.3),
        ("nv", Gate.ROT_Z, (2,), 0.3),
        ("nv", Gate.CROT_X, (0, 3), 0.7),
        ("nv", Gate.CROT_Y, (0, 1), -0.7),
        ("nv", Gate.X, (0,), 0.0),
        ("ion", Gate.ROT_Z, (1,), 0.3),
        ("ion", Gate.MS, (2, 1), 0.3),
        ("one-ion", Gate.ROT_X, (0,), 0.3),
        ("generic", Gate.ROT_X, (0,), 0.0),
        ("nv", Gate.CROT_X, (1, 2), 4 * math.pi),
    ],
)
def test_native_shortcuts_stay_short(device: str, gate: Gate, qubits: tuple[int, ...], angle: float) -> None:
    instrs = check(translator(device), gate, qubits, angle)
    assert len(instrs) == (
        0 if abs(math.remainder(angle, 2 * math.pi)) < 1e-12 and gate in ANGLE_GATES else 1
    )


def test_gate_counts_are_reasonable() -> None:
    """Upper bounds that catch a lost optimisation; the exact numbers are in the module's report."""
    nv, ion, generic = translator("nv"), translator("ion"), translator("generic")
    two_q = (PhysicalOp.CNOT, PhysicalOp.CZ, PhysicalOp.CROT, PhysicalOp.MS)

    def count2(instrs: tuple[PhysicalInstruction, ...]) -> int:
        return sum(i.op in two_q for i in instrs)

    assert len(generic.gate(Gate.H, (0,))) == 2
    assert len(nv.gate(Gate.H, (0,))) <= 3
    assert count2(nv.gate(Gate.CNOT, (0, 1))) == 1
    assert count2(nv.gate(Gate.CNOT, (1, 0))) == 1
    assert count2(nv.gate(Gate.CNOT, (1, 2))) == 4  # bridge through the electron
    assert count2(ion.gate(Gate.CNOT, (0, 2))) == 1
    assert count2(nv.gate(Gate.SWAP, (0, 1))) == 3


def test_cache_returns_identical_objects_and_interns_instructions() -> None:
    t = Translator(nv_spec())
    first = t.gate(Gate.CNOT, (1, 2))
    assert t.gate(Gate.CNOT, (1, 2)) is first
    assert t.gate(Gate.H, (3,)) is t.gate(Gate.H, (3,))
    assert t.gate(Gate.ROT_Y, (2,), 0.25) is t.gate(Gate.ROT_Y, (2,), 0.25)
    assert t.gate(Gate.X, (0,), 1.0) is t.gate(Gate.X, (0,), 2.0)  # the angle of a fixed gate is ignored
    assert t.measure(3) is t.measure(3)
    assert t.init(2) is t.init(2)
    # X is R_x(pi): the same instruction object in both answers
    assert t.gate(Gate.X, (1,))[0] is t.gate(Gate.ROT_X, (1,), math.pi)[0]


def test_duration_sums_native_durations() -> None:
    t = translator("generic")
    assert t.duration_ns(t.gate(Gate.CNOT, (0, 1))) == 300
    assert t.duration_ns(t.gate(Gate.H, (0,))) == 40
    assert t.duration_ns([PhysicalInstruction(PhysicalOp.NONE, duration_ns=77), *t.init(1)]) == 177
    assert t.duration_ns([]) == 0


def test_init_is_native_and_single() -> None:
    for device in ("generic", "nv", "ion"):
        t = translator(device)
        for q in range(t.spec.num_qubits):
            (instr,) = t.init(q)
            assert instr == PhysicalInstruction(PhysicalOp.INIT, (q,))
            assert t.spec.supports(instr.op, instr.qubits)


@pytest.mark.parametrize("angle", [0.1, -2.9])
def test_identity_like_sequences_have_no_leftovers(angle: float) -> None:
    """A rotation and its inverse in one circuit: Euler merging must not leave stray rotations (ions)."""
    t = translator("ion")
    seq = t.gate(Gate.ROT_X, (1,), angle) + t.gate(Gate.ROT_X, (1,), -angle)
    assert_equal_up_to_phase(unitary(seq, 3), np.eye(8))
    assert len(t.gate(Gate.ROT_X, (1,), angle)) == 4  # the global-beam trick, nothing more
