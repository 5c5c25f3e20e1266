"""Compilers for the quantum NetQASM instructions: vanilla, NV and trapped-ion flavours of netqasm 2.3.

A quantum instruction names virtual qubits through Q registers. At run time the closure maps them to
physical qubits through the process's own map (so a process can only ever reach its own qubits), asks the
translator for the device's native physical instructions, and hands those to the executor, which passes
them to the QDriver and advances the clock.

``*_all`` instructions of the trapped-ion flavour act on all qubits *of the process* (in virtual-address
order), not of the device, so that one application can never touch another's ions.
``meas_all Rk @a`` stores the outcome of the i-th qubit at ``@a[Rk + i]`` (as SquidASM does).
Measurements in a basis (``meas_basis*``) rotate, measure in Z, and rotate back, so the qubit is left in the
eigenstate of the measured basis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netqasm.lang.instr import core, nv, trapped_ion, vanilla
from netqasm.lang.operand import Immediate, Register

from qlab_os.errors import QubitAccessError, SubroutineError
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from qlab_os.qnpu.frame import Frame, Op, UndefinedValueError, slot
from qlab_os.qnpu.gates import Gate
from qlab_os.qnpu.process import register_name

MAX_ANGLE_DENOM = 255
"""The binary encoding carries the denominator exponent in one byte."""


def angle_rad(num: Any, denom: Any) -> float:
    """netqasm angle ``num * pi / 2**denom`` from immediate operands."""
    if not isinstance(num, Immediate) or not isinstance(denom, Immediate):
        raise SubroutineError("rotation angles must be immediates (templates must be filled in before sending)")
    if not 0 <= denom.value <= MAX_ANGLE_DENOM:
        raise SubroutineError(f"angle denominator exponent {denom.value} is out of range 0..{MAX_ANGLE_DENOM}")
    return float(num.value * math.pi / 2**denom.value)


def _qubit_getter(frame: Frame, reg: Register) -> Callable[[], int]:
    """Virtual address in ``reg`` -> physical qubit of this process, or a clear error."""
    R, qmap, s = frame.regs, frame.process.qubit_map, slot(reg)
    name = register_name(s)

    def get() -> int:
        v = R[s]
        try:
            return qmap[v]  # type: ignore[index]
        except KeyError:
            if v is None:
                raise UndefinedValueError(f"qubit register {name} has no value (it was never set)") from None
            raise QubitAccessError(f"virtual qubit {v} (in {name}) is not allocated by this app") from None

    return get


_ONE_QUBIT_GATES: dict[type, Gate] = {
    vanilla.GateXInstruction: Gate.X,
    vanilla.GateYInstruction: Gate.Y,
    vanilla.GateZInstruction: Gate.Z,
    vanilla.GateHInstruction: Gate.H,
    vanilla.GateSInstruction: Gate.S,
    vanilla.GateKInstruction: Gate.K,
    vanilla.GateTInstruction: Gate.T,
}
_ROTATIONS: dict[type, Gate] = {
    vanilla.RotXInstruction: Gate.ROT_X,
    vanilla.RotYInstruction: Gate.ROT_Y,
    vanilla.RotZInstruction: Gate.ROT_Z,
    nv.RotXInstruction: Gate.ROT_X,
    nv.RotYInstruction: Gate.ROT_Y,
    nv.RotZInstruction: Gate.ROT_Z,
    trapped_ion.RotZInstruction: Gate.ROT_Z,
}
_TWO_QUBIT_GATES: dict[type, Gate] = {
    vanilla.CnotInstruction: Gate.CNOT,
    vanilla.CphaseInstruction: Gate.CPHASE,
    vanilla.MovInstruction: Gate.SWAP,
    vanilla.SwpInstruction: Gate.SWAP,
    nv.MovInstruction: Gate.SWAP,
    nv.SwpInstruction: Gate.SWAP,
}
_CONTROLLED_ROTATIONS: dict[type, Gate] = {
    nv.ControlledRotXInstruction: Gate.CROT_X,
    nv.ControlledRotYInstruction: Gate.CROT_Y,
}
_ALL_ROTATIONS: dict[type, tuple[Gate, Axis]] = {
    trapped_ion.AllQubitsRotXInstruction: (Gate.ROT_X, Axis.X),
    trapped_ion.AllQubitsRotYInstruction: (Gate.ROT_Y, Axis.Y),
    trapped_ion.AllQubitsRotZInstruction: (Gate.ROT_Z, Axis.Z),
}
_BASIS_AXES: dict[type, tuple[Gate, Gate, Gate]] = {
    core.MeasBasisInstruction: (Gate.ROT_X, Gate.ROT_Y, Gate.ROT_X),
    core.MeasBasisYZYInstruction: (Gate.ROT_Y, Gate.ROT_Z, Gate.ROT_Y),
    core.MeasBasisZXZInstruction: (Gate.ROT_Z, Gate.ROT_X, Gate.ROT_Z),
}


def c_qalloc(frame: Frame, instr: core.QAllocInstruction, pc: int) -> Op:
    R, s, nxt = frame.regs, slot(instr.reg), pc + 1
    allocate, pid = frame.executor.qmm.allocate, frame.process.pid
    name = register_name(s)

    def op() -> int:
        v = R[s]
        if v is None:
            raise UndefinedValueError(f"qubit register {name} has no value (it was never set)")
        allocate(pid, v)
        return nxt

    return op


def c_qfree(frame: Frame, instr: core.QFreeInstruction, pc: int) -> Op:
    R, s, nxt = frame.regs, slot(instr.reg), pc + 1
    free, pid, scrub = frame.executor.qmm.free, frame.process.pid, frame.executor.scrub
    name = register_name(s)

    def op() -> int:
        v = R[s]
        if v is None:
            raise UndefinedValueError(f"qubit register {name} has no value (it was never set)")
        scrub((free(pid, v),))
        return nxt

    return op


def c_init(frame: Frame, instr: core.InitInstruction, pc: int) -> Op:
    q, nxt = _qubit_getter(frame, instr.reg), pc + 1
    run, init = frame.executor.run_physical, frame.executor.translator.init

    def op() -> int:
        run(init(q()))
        return nxt

    return op


def c_one_qubit(frame: Frame, instr: Any, pc: int) -> Op:
    gate = _ONE_QUBIT_GATES.get(type(instr)) or _ROTATIONS[type(instr)]
    angle = angle_rad(instr.angle_num, instr.angle_denom) if gate in (Gate.ROT_X, Gate.ROT_Y, Gate.ROT_Z) else 0.0
    q, nxt = _qubit_getter(frame, instr.reg if hasattr(instr, "reg") else instr.qreg), pc + 1
    run, translate = frame.executor.run_physical, frame.executor.translator.gate
    plans: dict[int, tuple[PhysicalInstruction, ...]] = {}  # per physical qubit: skips hashing Gate enums

    def op() -> int:
        p = q()
        plan = plans.get(p)
        if plan is None:
            plan = plans[p] = translate(gate, (p,), angle)
        run(plan)
        return nxt

    return op


def _pair(frame: Frame, r0: Register, r1: Register) -> Callable[[], tuple[int, int]]:
    q0, q1 = _qubit_getter(frame, r0), _qubit_getter(frame, r1)

    def get() -> tuple[int, int]:
        a, b = q0(), q1()
        if a == b:
            raise QubitAccessError("a two-qubit gate needs two different qubits, got the same one twice")
        return a, b

    return get


def c_two_qubit(frame: Frame, instr: Any, pc: int) -> Op:
    gate = _TWO_QUBIT_GATES.get(type(instr)) or _CONTROLLED_ROTATIONS[type(instr)]
    angle = angle_rad(instr.angle_num, instr.angle_denom) if gate in (Gate.CROT_X, Gate.CROT_Y) else 0.0
    pair, nxt = _pair(frame, instr.reg0, instr.reg1), pc + 1
    run, translate = frame.executor.run_physical, frame.executor.translator.gate
    plans: dict[tuple[int, int], tuple[PhysicalInstruction, ...]] = {}

    def op() -> int:
        qs = pair()
        plan = plans.get(qs)
        if plan is None:
            plan = plans[qs] = translate(gate, qs, angle)
        run(plan)
        return nxt

    return op


def c_meas(frame: Frame, instr: core.MeasInstruction, pc: int) -> Op:
    R, out, nxt = frame.regs, slot(instr.creg), pc + 1
    q, measure = _qubit_getter(frame, instr.qreg), frame.executor.measure

    def op() -> int:
        R[out] = measure(q())
        return nxt

    return op


def c_meas_basis(frame: Frame, instr: Any, pc: int) -> Op:
    axes = _BASIS_AXES[type(instr)]
    denom = instr.imm3
    angles = [angle_rad(num, denom) for num in (instr.imm0, instr.imm1, instr.imm2)]
    steps = [(g, a) for g, a in zip(axes, angles, strict=True) if a != 0.0]
    R, out, nxt = frame.regs, slot(instr.creg), pc + 1
    q, ex = _qubit_getter(frame, instr.qreg), frame.executor
    translate, run, measure = ex.translator.gate, ex.run_physical, ex.measure

    def op() -> int:
        p = (q(),)
        for g, a in steps:
            run(translate(g, p, a))
        R[out] = measure(p[0])
        for g, a in reversed(steps):
            run(translate(g, p, -a))
        return nxt

    return op


def _process_qubits(frame: Frame) -> Callable[[], tuple[int, ...]]:
    qmap = frame.process.qubit_map

    def get() -> tuple[int, ...]:
        return tuple(qmap[v] for v in sorted(qmap))

    return get


def c_rot_all(frame: Frame, instr: Any, pc: int) -> Op:
    gate, axis = _ALL_ROTATIONS[type(instr)]
    angle = angle_rad(instr.angle_num, instr.angle_denom)
    ex, qubits, nxt = frame.executor, _process_qubits(frame), pc + 1
    everything = tuple(range(ex.spec.num_qubits))
    global_native = ex.spec.supports(PhysicalOp.ROT, everything, axis)
    global_instr = PhysicalInstruction(PhysicalOp.ROT, everything, axis, angle)

    def op() -> int:
        qs = qubits()
        if global_native and tuple(sorted(qs)) == everything:
            ex.run_physical((global_instr,))  # the app owns every ion: one pulse of the global beam
        else:
            for p in qs:
                ex.run_physical(ex.translator.gate(gate, (p,), angle))
        return nxt

    return op


def c_init_all(frame: Frame, instr: trapped_ion.AllQubitsInitInstruction, pc: int) -> Op:
    ex, qubits, nxt = frame.executor, _process_qubits(frame), pc + 1
    everything = tuple(range(ex.spec.num_qubits))
    global_native = ex.spec.supports(PhysicalOp.INIT, everything)

    def op() -> int:
        qs = qubits()
        if global_native and tuple(sorted(qs)) == everything:
            ex.run_physical((PhysicalInstruction(PhysicalOp.INIT, everything),))
        else:
            for p in qs:
                ex.run_physical(ex.translator.init(p))
        return nxt

    return op


def c_meas_all(frame: Frame, instr: trapped_ion.AllQubitsMeasInstruction, pc: int) -> Op:
    R, arrays, s, nxt = frame.regs, frame.arrays, slot(instr.reg), pc + 1
    address = int(instr.address.address)
    ex, qubits = frame.executor, _process_qubits(frame)
    name = register_name(s)

    def op() -> int:
        offset = R[s]
        if offset is None:
            raise UndefinedValueError(f"offset register {name} has no value (it was never set)")
        if address not in arrays:
            raise IndexError(f"no array at address @{address} (create it with 'array' first)")
        arr, qs = arrays[address], qubits()
        if offset < 0 or offset + len(qs) > len(arr):
            raise IndexError(f"meas_all writes {len(qs)} outcomes from @{address}[{offset}], "
                             f"but the array has length {len(arr)}")
        for i, p in enumerate(qs):
            arr[offset + i] = ex.measure(p)
        return nxt

    return op


def c_bichromatic(frame: Frame, instr: trapped_ion.BichromaticInstruction, pc: int) -> Op:
    angle = angle_rad(instr.angle_num, instr.angle_denom)
    ex, qubits, nxt = frame.executor, _process_qubits(frame), pc + 1

    def op() -> int:
        qs = qubits()
        if len(qs) < 2:
            raise QubitAccessError(f"bichromatic needs at least two qubits of the app, it has {len(qs)}")
        ex.run_physical(ex.translator.gate(Gate.MS, qs, angle))
        return nxt

    return op


def c_epr(frame: Frame, instr: Any, pc: int) -> Op:
    """create_epr / recv_epr go to the node's network stack, if it has one."""
    ex, nxt = frame.executor, pc + 1
    kind = instr.mnemonic

    def op() -> int:
        if ex.network is None:
            raise SubroutineError(
                f"{kind}: this node has no network stack, so it cannot make entanglement "
                "(run the app on a network with 'qlab-os run')"
            )
        ex.network.submit(frame, instr)
        return nxt

    return op


QUANTUM: dict[type, Callable[[Frame, Any, int], Op]] = {
    core.QAllocInstruction: c_qalloc,
    core.QFreeInstruction: c_qfree,
    core.InitInstruction: c_init,
    core.MeasInstruction: c_meas,
    core.MeasBasisInstruction: c_meas_basis,
    core.MeasBasisYZYInstruction: c_meas_basis,
    core.MeasBasisZXZInstruction: c_meas_basis,
    core.CreateEPRInstruction: c_epr,
    core.RecvEPRInstruction: c_epr,
    **{cls: c_one_qubit for cls in _ONE_QUBIT_GATES},
    **{cls: c_one_qubit for cls in _ROTATIONS},
    **{cls: c_two_qubit for cls in _TWO_QUBIT_GATES},
    **{cls: c_two_qubit for cls in _CONTROLLED_ROTATIONS},
    **{cls: c_rot_all for cls in _ALL_ROTATIONS},
    trapped_ion.AllQubitsInitInstruction: c_init_all,
    trapped_ion.AllQubitsMeasInstruction: c_meas_all,
    trapped_ion.BichromaticInstruction: c_bichromatic,
}
