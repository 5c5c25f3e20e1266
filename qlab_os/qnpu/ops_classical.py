"""Compilers for the classical NetQASM instructions (core ISA of netqasm 2.3).

Each compiler turns one instruction into a closure (see :mod:`qlab_os.qnpu.frame`). Checks that cost
nothing on the fast path (a Python exception) are left to Python and diagnosed afterwards by the executor;
checks that Python would not make (an unset register, a negative index) are explicit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netqasm.lang.instr import core
from netqasm.lang.operand import ArrayEntry, ArraySlice, Register

from qlab_os.errors import InstructionBudgetExceeded, MemoryError_
from qlab_os.qnpu.frame import Blocked, Frame, Op, UndefinedValueError, slot
from qlab_os.qnpu.process import register_name

REGISTER_MIN, REGISTER_MAX = -(2**31), 2**31 - 1
"""netqasm registers are 32-bit signed integers; a result outside is an overflow error (as netqasm raises on
hardware), which also keeps one app from growing huge integers until the node stalls."""

MAX_ARRAY_LENGTH = 1 << 20
"""Largest array one ``array`` instruction may create (netqasm addresses are 32-bit; memory is not)."""
MAX_PROCESS_ARRAY_ENTRIES = 1 << 22
"""Most array entries one process may hold at once (about 32 MiB of Python list slots)."""
MAX_SUBROUTINE_ARRAY_ENTRIES = 1 << 24
"""Most array entries one subroutine may allocate in all (stops a loop that re-creates a huge array)."""


def _overflow(name: str, value: int) -> OverflowError:
    digits = str(value) if abs(value) < 10**30 else f"about 2**{value.bit_length()}"
    return OverflowError(f"result {digits} does not fit in 32-bit register {name}")


def _undef(what: str) -> UndefinedValueError:
    return UndefinedValueError(f"{what} has no value (it was never set)")


def _index_of(frame: Frame, part: ArrayEntry) -> Callable[[], int]:
    """A getter for the (checked) index of an array entry."""
    R = frame.regs
    idx = part.index
    if isinstance(idx, int):
        const = idx

        def get_const() -> int:
            return const

        return get_const
    s = slot(idx)
    name = register_name(s)

    def get_reg() -> int:
        i = R[s]
        if i is None:
            raise _undef(f"index register {name}")
        return i

    return get_reg


def _array_getter(frame: Frame, address: int) -> Callable[[], list[int | None]]:
    arrays = frame.arrays

    def get() -> list[int | None]:
        try:
            return arrays[address]
        except KeyError:
            raise IndexError(f"no array at address @{address} (create it with 'array' first)") from None

    return get


def _checked(arr: list[int | None], i: int, address: int) -> int:
    if not 0 <= i < len(arr):
        raise IndexError(f"index {i} is out of range for array @{address} of length {len(arr)}")
    return i


def c_set(frame: Frame, instr: core.SetInstruction, pc: int) -> Op:
    R = frame.regs
    s, v, nxt = slot(instr.reg), instr.imm.value, pc + 1

    def op() -> int:
        R[s] = v
        return nxt

    return op


def _binary(fn: Callable[[int, int], int]) -> Callable[[Frame, Any, int], Op]:
    def compile_(frame: Frame, instr: Any, pc: int) -> Op:
        R = frame.regs
        o, a, b, nxt = slot(instr.regout), slot(instr.regin0), slot(instr.regin1), pc + 1
        name = register_name(o)

        def op() -> int:
            v = fn(R[a], R[b])  # type: ignore[arg-type]  # None -> TypeError, diagnosed by the executor
            if not REGISTER_MIN <= v <= REGISTER_MAX:
                raise _overflow(name, v)
            R[o] = v
            return nxt

        return op

    return compile_


def _sub(a: int, b: int) -> int:
    return a - b


def _mul(a: int, b: int) -> int:
    return a * b


def _div(a: int, b: int) -> int:
    return a // b


def _rem(a: int, b: int) -> int:
    return a % b


def _c_add(frame: Frame, instr: core.AddInstruction, pc: int) -> Op:
    # add is the hottest instruction in loops; give it its own closure without the fn indirection
    R = frame.regs
    o, a, b, nxt = slot(instr.regout), slot(instr.regin0), slot(instr.regin1), pc + 1
    name = register_name(o)

    def op() -> int:
        v = R[a] + R[b]  # type: ignore[operator]
        if not REGISTER_MIN <= v <= REGISTER_MAX:
            raise _overflow(name, v)
        R[o] = v
        return nxt

    return op


def _modular(sign: int) -> Callable[[Frame, Any, int], Op]:
    def compile_(frame: Frame, instr: Any, pc: int) -> Op:
        R = frame.regs
        o, a, b, m, nxt = (slot(instr.regout), slot(instr.regin0), slot(instr.regin1), slot(instr.regmod),
                           pc + 1)
        mod_name = register_name(m)

        def op() -> int:
            mod = R[m]
            if mod is None or mod < 1:
                raise ValueError(f"modulus {mod_name} = {mod} must be >= 1")
            R[o] = (R[a] + sign * R[b]) % mod  # type: ignore[operator]
            return nxt

        return op

    return compile_


def c_jmp(frame: Frame, instr: core.JmpInstruction, pc: int) -> Op:
    target: int = instr.line.value

    def op() -> int:
        return target

    return op


def c_branch_unary(frame: Frame, instr: core.BranchUnaryInstruction, pc: int) -> Op:
    R = frame.regs
    s, target, nxt = slot(instr.reg), instr.line.value, pc + 1
    name = register_name(s)
    if isinstance(instr, core.BezInstruction):

        def bez() -> int:
            v = R[s]
            if v is None:
                raise _undef(f"register {name}")
            return target if v == 0 else nxt

        return bez

    def bnz() -> int:
        v = R[s]
        if v is None:
            raise _undef(f"register {name}")
        return target if v != 0 else nxt

    return bnz


def c_branch_binary(frame: Frame, instr: core.BranchBinaryInstruction, pc: int) -> Op:
    R = frame.regs
    a, b, target, nxt = slot(instr.reg0), slot(instr.reg1), instr.line.value, pc + 1
    names = (register_name(a), register_name(b))

    def check(x: int | None, y: int | None) -> None:
        if x is None or y is None:
            raise _undef(f"register {names[0] if x is None else names[1]}")

    if isinstance(instr, core.BeqInstruction):

        def beq() -> int:
            x, y = R[a], R[b]
            if x is None or y is None:
                check(x, y)
            return target if x == y else nxt

        return beq
    if isinstance(instr, core.BneInstruction):

        def bne() -> int:
            x, y = R[a], R[b]
            if x is None or y is None:
                check(x, y)
            return target if x != y else nxt

        return bne
    if isinstance(instr, core.BltInstruction):

        def blt() -> int:
            return target if R[a] < R[b] else nxt  # type: ignore[operator]  # None -> TypeError -> diagnosed

        return blt

    def bge() -> int:
        return target if R[a] >= R[b] else nxt  # type: ignore[operator]

    return bge


def c_array(frame: Frame, instr: core.ArrayInstruction, pc: int) -> Op:
    R, arrays = frame.regs, frame.arrays
    s, address, nxt = slot(instr.size), int(instr.address.address), pc + 1
    name = register_name(s)

    def op() -> int:
        n = R[s]
        if n is None:
            raise _undef(f"size register {name}")
        if not 0 <= n <= MAX_ARRAY_LENGTH:
            raise ValueError(f"array length {n} is out of range 0..{MAX_ARRAY_LENGTH}")
        live = sum(len(a) for a in arrays.values()) - len(arrays.get(address, ())) + n
        if live > MAX_PROCESS_ARRAY_ENTRIES:
            raise MemoryError_(f"the app's arrays would hold {live} entries; at most {MAX_PROCESS_ARRAY_ENTRIES}")
        frame.array_entries_allocated += n
        if frame.array_entries_allocated > MAX_SUBROUTINE_ARRAY_ENTRIES:
            raise InstructionBudgetExceeded(
                f"the subroutine allocated {frame.array_entries_allocated} array entries in all; at most "
                f"{MAX_SUBROUTINE_ARRAY_ENTRIES} (is an 'array' instruction inside a loop?)")
        arrays[address] = [None] * n
        return nxt

    return op


def c_store(frame: Frame, instr: core.StoreInstruction, pc: int) -> Op:
    R = frame.regs
    s, nxt = slot(instr.reg), pc + 1
    name = register_name(s)
    address = int(instr.entry.address.address)
    get_arr, get_i = _array_getter(frame, address), _index_of(frame, instr.entry)

    def op() -> int:
        v = R[s]
        if v is None:
            raise _undef(f"register {name}")
        arr = get_arr()
        arr[_checked(arr, get_i(), address)] = v
        return nxt

    return op


def c_load(frame: Frame, instr: core.LoadInstruction, pc: int) -> Op:
    R = frame.regs
    s, nxt = slot(instr.reg), pc + 1
    address = int(instr.entry.address.address)
    get_arr, get_i = _array_getter(frame, address), _index_of(frame, instr.entry)

    def op() -> int:
        arr = get_arr()
        i = _checked(arr, get_i(), address)
        v = arr[i]
        if v is None:
            raise _undef(f"array entry @{address}[{i}]")
        R[s] = v
        return nxt

    return op


def c_undef(frame: Frame, instr: core.UndefInstruction, pc: int) -> Op:
    nxt = pc + 1
    address = int(instr.entry.address.address)
    get_arr, get_i = _array_getter(frame, address), _index_of(frame, instr.entry)

    def op() -> int:
        arr = get_arr()
        arr[_checked(arr, get_i(), address)] = None
        return nxt

    return op


def c_lea(frame: Frame, instr: core.LeaInstruction, pc: int) -> Op:
    R = frame.regs
    s, address, nxt = slot(instr.reg), int(instr.address.address), pc + 1

    def op() -> int:
        R[s] = address
        return nxt

    return op


def slice_getter(frame: Frame, part: ArraySlice) -> Callable[[], list[int | None]]:
    """A getter for the values of an array slice, with its bounds checked."""
    R = frame.regs
    address = int(part.address.address)
    get_arr = _array_getter(frame, address)

    def bound(b: int | Register) -> Callable[[], int]:
        if isinstance(b, int):
            return lambda: b
        s, name = slot(b), register_name(slot(b))

        def get() -> int:
            v = R[s]
            if v is None:
                raise _undef(f"slice bound register {name}")
            return v

        return get

    start, stop = bound(part.start), bound(part.stop)

    def get() -> list[int | None]:
        arr, a, b = get_arr(), start(), stop()
        if not 0 <= a <= b <= len(arr):
            raise IndexError(f"slice [{a}:{b}] is out of range for array @{address} of length {len(arr)}")
        return arr[a:b]

    return get


def c_wait_all(frame: Frame, instr: core.WaitAllInstruction, pc: int) -> Op:
    get, nxt, text = slice_getter(frame, instr.slice), pc + 1, str(instr.slice)

    def ready() -> bool:
        return all(v is not None for v in get())

    def op() -> int:
        if not ready():
            raise Blocked(pc, f"wait_all {text}: not every entry is set yet", _safe(ready))
        return nxt

    return op


def c_wait_any(frame: Frame, instr: core.WaitAnyInstruction, pc: int) -> Op:
    get, nxt, text = slice_getter(frame, instr.slice), pc + 1, str(instr.slice)

    def ready() -> bool:
        return any(v is not None for v in get())

    def op() -> int:
        if not ready():
            raise Blocked(pc, f"wait_any {text}: no entry is set yet", _safe(ready))
        return nxt

    return op


def c_wait_single(frame: Frame, instr: core.WaitSingleInstruction, pc: int) -> Op:
    nxt, address = pc + 1, int(instr.entry.address.address)
    get_arr, get_i = _array_getter(frame, address), _index_of(frame, instr.entry)

    def ready() -> bool:
        arr = get_arr()
        return arr[_checked(arr, get_i(), address)] is not None

    def op() -> int:
        if not ready():
            i = get_i()
            raise Blocked(pc, f"wait_single @{address}[{i}]: the entry is not set yet", _safe(ready))
        return nxt

    return op


def _safe(check: Callable[[], bool]) -> Callable[[], bool]:
    """A readiness check that says "ready" when it fails, so the instruction re-runs and reports the error."""
    def ready() -> bool:
        try:
            return check()
        except Exception:
            return True

    return ready


def c_ret_reg(frame: Frame, instr: core.RetRegInstruction, pc: int) -> Op:
    R, out = frame.regs, frame.result.registers
    s, nxt = slot(instr.reg), pc + 1
    name = register_name(s)

    def op() -> int:
        v = R[s]
        if v is None:
            raise _undef(f"register {name}")
        out[name] = v
        return nxt

    return op


def c_ret_arr(frame: Frame, instr: core.RetArrInstruction, pc: int) -> Op:
    out, nxt = frame.result.arrays, pc + 1
    address = int(instr.address.address)
    get_arr = _array_getter(frame, address)

    def op() -> int:
        out[address] = list(get_arr())
        return nxt

    return op


def c_breakpoint(frame: Frame, instr: core.BreakpointInstruction, pc: int) -> Op:
    """Breakpoints are for simulators that dump state; the QNPU logs and goes on."""
    nxt = pc + 1
    log = frame.executor.log

    def op() -> int:
        log.debug("breakpoint at line %d (action %s, role %s)", pc, instr.action, instr.role)
        return nxt

    return op


CLASSICAL: dict[type, Callable[[Frame, Any, int], Op]] = {
    core.SetInstruction: c_set,
    core.AddInstruction: _c_add,
    core.SubInstruction: _binary(_sub),
    core.MulInstruction: _binary(_mul),
    core.DivInstruction: _binary(_div),
    core.RemInstruction: _binary(_rem),
    core.AddmInstruction: _modular(+1),
    core.SubmInstruction: _modular(-1),
    core.JmpInstruction: c_jmp,
    core.BezInstruction: c_branch_unary,
    core.BnzInstruction: c_branch_unary,
    core.BeqInstruction: c_branch_binary,
    core.BneInstruction: c_branch_binary,
    core.BltInstruction: c_branch_binary,
    core.BgeInstruction: c_branch_binary,
    core.ArrayInstruction: c_array,
    core.StoreInstruction: c_store,
    core.LoadInstruction: c_load,
    core.UndefInstruction: c_undef,
    core.LeaInstruction: c_lea,
    core.WaitAllInstruction: c_wait_all,
    core.WaitAnyInstruction: c_wait_any,
    core.WaitSingleInstruction: c_wait_single,
    core.RetRegInstruction: c_ret_reg,
    core.RetArrInstruction: c_ret_arr,
    core.BreakpointInstruction: c_breakpoint,
}
