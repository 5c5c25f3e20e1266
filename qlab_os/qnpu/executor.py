"""The NetQASM executor of the QNPU.

It runs the subroutines of every process on the node: it compiles each instruction (netqasm's own instruction
classes, as parsed or decoded by the netqasm package) into a closure over the process's memory, then runs
the closures. Quantum instructions go through the quantum memory manager (virtual -> physical), the translator
(flavour instruction -> native physical instructions) and the QDriver; the clock advances by what the device
reports.

netqasm's ``netqasm.backend.executor.Executor`` is an interpreter for simulators to subclass; it does not
isolate processes, has no handlers for ``meas_basis*``, and costs ~5 us per instruction. We keep netqasm for
the ISA and replace only the interpreter (see benchmarks/executor_speed.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from netqasm.lang.instr.base import NetQASMInstruction
from netqasm.lang.operand import Register
from netqasm.lang.subroutine import Subroutine

from qlab_os.clock import Clock
from qlab_os.errors import InstructionBudgetExceeded, QlabOSError, SubroutineError
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.instructions import PhysicalInstruction
from qlab_os.qnpu.frame import Blocked, Frame, Op, slot
from qlab_os.qnpu.memory import QuantumMemoryManager
from qlab_os.qnpu.ops_classical import CLASSICAL
from qlab_os.qnpu.ops_quantum import QUANTUM
from qlab_os.qnpu.process import Process, SubroutineResult, register_name
from qlab_os.qnpu.translator import Translator

DEFAULT_INSTRUCTION_BUDGET = 10_000_000
"""Most instructions one subroutine may run (stops endless loops); about 2 s of pure classical work."""
DEFAULT_DEVICE_TIME_BUDGET_NS = 60 * 10**9
"""Most device time one subroutine may use: a minute (real subroutines take micro- to milliseconds). Under
virtual time this is deterministic, and it stops an endless gate loop on a slow device (an NV carbon gate takes
0.5 ms) long before the instruction budget would."""

HANDLERS: dict[type, Callable[[Frame, Any, int], Op]] = {**CLASSICAL, **QUANTUM}
"""Dispatch table: netqasm instruction class -> compiler. A test checks every flavour is covered."""


class NetworkStack(Protocol):
    """What the executor needs of the node's network stack (entanglement requests)."""

    def submit(self, frame: Frame, instr: NetQASMInstruction) -> None:
        """Accept a create_epr / recv_epr of the running process; results arrive in its arrays later."""
        ...

    def qubits_released(self) -> None:
        """Qubits of this node were freed (entanglement waiting for one may go ahead)."""
        ...


@dataclass
class ExecutorStats:
    instructions: int = 0
    physical_instructions: int = 0
    device_busy_ns: int = 0
    subroutines: int = 0


@dataclass
class Execution:
    """One subroutine in flight: its compiled code, where it is, and what it returned so far."""

    process: Process
    subroutine: Subroutine
    ops: list[Op]
    result: SubroutineResult
    pc: int = 0
    steps: int = 0
    blocked_on: str | None = None
    ready: Callable[[], bool] | None = None
    """While blocked: can the wait instruction pass now? (no side effects)"""
    started_ns: int = 0
    device_ns: int = 0
    """Device time this subroutine has used so far."""
    finished: bool = field(default=False)


class Executor:
    def __init__(
        self,
        driver: QDriver,
        translator: Translator,
        qmm: QuantumMemoryManager,
        clock: Clock,
        *,
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
        device_time_budget_ns: int = DEFAULT_DEVICE_TIME_BUDGET_NS,
        network: NetworkStack | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if instruction_budget < 1:
            raise ValueError(f"instruction_budget must be >= 1, got {instruction_budget}")
        if device_time_budget_ns < 1:
            raise ValueError(f"device_time_budget_ns must be >= 1, got {device_time_budget_ns}")
        self.driver = driver
        self.spec = driver.spec
        self.translator = translator
        self.qmm = qmm
        self.clock = clock
        self.instruction_budget = instruction_budget
        self.device_time_budget_ns = device_time_budget_ns
        self._busy_limit_ns: float = float("inf")  # set while a subroutine runs
        self.network = network
        self.log = log or logging.getLogger("qlab_os.qnpu.executor")
        self.stats = ExecutorStats()
        self._execute = driver.execute
        self._advance = clock.advance_ns

    # --- the device --------------------------------------------------------------------------------------
    def run_physical(self, instrs: Iterable[PhysicalInstruction]) -> None:
        """Send physical instructions to the QDriver in order; the clock follows their durations."""
        execute, advance, stats = self._execute, self._advance, self.stats
        for pi in instrs:
            d = execute(pi).duration_ns
            advance(d)
            stats.physical_instructions += 1
            stats.device_busy_ns += d
        if stats.device_busy_ns > self._busy_limit_ns:
            raise InstructionBudgetExceeded(
                f"the subroutine used more than {self.device_time_budget_ns / 1e9:g} s of device time "
                "without finishing; is there an endless loop?")

    def scrub(self, qubits: Iterable[int]) -> None:
        """Re-initialise freed physical qubits, so the next owner can never read what the last one left
        (and any entanglement with the last owner's other qubits is broken, as discarding a qubit does).
        A device fault here is logged, not raised: freeing must always succeed."""
        freed = False
        for q in qubits:
            freed = True
            try:
                self.run_physical(self.translator.init(q))
            except QlabOSError as exc:
                self.log.error("could not re-initialise freed qubit %d: %s", q, exc)
        if freed and self.network is not None:
            self.network.qubits_released()

    def measure(self, qubit: int) -> int:
        """Measure one physical qubit in Z (routing it to a measurable qubit if the device needs that)."""
        pre, meas, post = self.translator.measure(qubit)
        self.run_physical(pre)
        response = self._execute(meas)
        self._advance(response.duration_ns)
        self.stats.physical_instructions += 1
        self.stats.device_busy_ns += response.duration_ns
        self.run_physical(post)
        return response.outcomes[0]

    # --- subroutines -------------------------------------------------------------------------------------
    def start(self, process: Process, subroutine: Subroutine) -> Execution:
        """Compile a subroutine for a process. Raises SubroutineError if an instruction is not supported."""
        result = SubroutineResult()
        frame = Frame(process=process, executor=self, result=result)
        ops: list[Op] = []
        for pc, instr in enumerate(subroutine.instructions):
            handler = HANDLERS.get(type(instr))
            if handler is None:
                raise SubroutineError(f"instruction '{instr.mnemonic}' is not supported by this QNPU",
                                      app_id=process.pid, line=pc, instruction=_text(instr))
            try:
                ops.append(handler(frame, instr, pc))
            except (QlabOSError, ValueError, TypeError, AttributeError, OverflowError, LookupError) as exc:
                # malformed operands of an instruction built by hand or decoded from odd input
                raise SubroutineError(_reason(exc), app_id=process.pid, line=pc, instruction=_text(instr)) from exc
        n = len(ops)
        for pc, instr in enumerate(subroutine.instructions):
            target = getattr(getattr(instr, "line", None), "value", None)
            if isinstance(target, int) and not 0 <= target <= n:
                raise SubroutineError(f"jump target {target} is outside the subroutine (0..{n})",
                                      app_id=process.pid, line=pc, instruction=_text(instr))
        return Execution(process=process, subroutine=subroutine, ops=ops, result=result,
                         started_ns=self.clock.now_ns())

    def resume(self, ex: Execution) -> bool:
        """Run until the subroutine ends (True) or blocks on a wait instruction (False; see ``blocked_on``).

        Raises SubroutineError, naming the instruction and its line, if an instruction fails.
        """
        ops, pc, steps = ex.ops, ex.pc, ex.steps
        n, budget = len(ops), self.instruction_budget
        ex.blocked_on, ex.ready = None, None
        busy_at_start = self.stats.device_busy_ns
        self._busy_limit_ns = busy_at_start + self.device_time_budget_ns - ex.device_ns
        try:
            while pc < n:
                pc = ops[pc]()
                steps += 1
                if steps >= budget and pc < n:
                    raise InstructionBudgetExceeded(
                        f"the subroutine ran {steps} instructions without finishing (budget "
                        f"{budget}); is there an endless loop?")
        except Blocked as b:
            ex.pc, ex.blocked_on, ex.ready = b.pc, b.what, b.ready
            return False
        except Exception as exc:  # every failure of an instruction becomes one clear error
            ex.pc = pc
            raise self._error(ex, pc, exc) from exc
        finally:
            self.stats.instructions += steps - ex.steps
            ex.steps = steps
            ex.device_ns += self.stats.device_busy_ns - busy_at_start
            self._busy_limit_ns = float("inf")
        ex.pc, ex.finished = pc, True
        self.stats.subroutines += 1
        return True


    def _error(self, ex: Execution, pc: int, exc: BaseException) -> SubroutineError:
        instr = ex.subroutine.instructions[pc] if 0 <= pc < len(ex.subroutine.instructions) else None
        if isinstance(exc, SubroutineError):
            reason = exc.reason
        elif isinstance(exc, (QlabOSError, IndexError, ValueError, OverflowError)):
            reason = _reason(exc)
        elif isinstance(exc, TypeError) and instr is not None:
            unset = [register_name(slot(op)) for op in _registers_read(instr)
                     if ex.process.registers[slot(op)] is None]
            reason = (f"register {unset[0]} has no value (it was never set)" if unset
                      else f"invalid operands: {exc}")
        elif isinstance(exc, ZeroDivisionError):
            reason = "division by zero"
        else:
            self.log.exception("unexpected failure at line %d of app %d", pc, ex.process.pid)
            reason = f"internal error: {type(exc).__name__}: {exc}"
        return SubroutineError(reason, app_id=ex.process.pid, line=pc,
                               instruction=_text(instr) if instr is not None else None)


def _registers_read(instr: NetQASMInstruction) -> list[Register]:
    """Register operands the instruction reads: all of them, less one occurrence of each it writes."""
    regs = [op for op in instr.operands if isinstance(op, Register)]
    for written in instr.writes_to() if hasattr(instr, "writes_to") else []:
        if written in regs:
            regs.remove(written)
    return regs


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _text(instr: NetQASMInstruction) -> str:
    try:
        return str(instr)
    except Exception:  # a malformed instruction must not hide the real error
        return str(instr.mnemonic)
