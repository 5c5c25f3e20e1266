"""Instructions per second of our executor against netqasm 2.3's own ``netqasm.backend.executor.Executor``.

Both run the SAME parsed subroutines in the same process, one after the other:

* ``classical loop``: sum 0..N-1 with beq/add/jmp, and an array store/load (index from ``rem``) every pass;
* ``gate loop``: x, h, y, z, cnot on two qubits every pass, then a measurement, on a null device. For netqasm
  the quantum handlers are its base class's no-ops (its own "null device"); for ours the QNPU drives
  :class:`qdrivers.null.driver.NullQDriver`.

Only running the subroutine is timed (ours compiles it first, inside the timed region; netqasm interprets it).
Starting the app and creating the executor are setup. Instruction counts are checked three ways (ours from
the executor's stats, netqasm's by counting ``_execute_command`` calls in an untimed run, and the analytic
count of the loop), and both must return the same registers and arrays, so the comparison is honest.

Run: ``.venv/bin/python benchmarks/executor_speed.py``. Ends with ``RESULT executor_speedup <x>``: the
geometric mean of the per-subroutine ratios (the minimum is printed too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from _common import Rate, gate_loop_text, geometric_mean, print_table, si, time_repeats
from netqasm.backend.executor import Executor as NetQASMExecutor
from netqasm.lang.instr.core import RetArrInstruction, RetRegInstruction
from netqasm.lang.subroutine import Subroutine
from netqasm.sdk.shared_memory import SharedMemoryManager

from qdrivers.null.driver import NullQDriver
from qlab_os.clock import VirtualClock
from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.qnpu import QNPU

APP_ID = 0
NODE_NAME = "bench-netqasm"
REPEATS = 7
GOAL = 5.0

CLASSICAL_ITERATIONS = 15_000
GATE_ITERATIONS = 10_000


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    max_qubits: int
    expected_instructions: int
    """Analytic count of executed instructions, checked against both executors."""
    expected_registers: dict[str, int]


def classical_loop(n: int) -> Case:
    text = f"""# NETQASM 1.0
# APPID {APP_ID}
set R0 0
set R1 0
set R2 {n}
set R3 1
set R4 4
array R4 @0
LOOP:
beq R0 R2 END
add R1 R1 R0
rem R5 R0 R4
store R1 @0[R5]
load R6 @0[R5]
add R0 R0 R3
jmp LOOP
END:
ret_reg R1
ret_reg R6
ret_arr @0
"""
    # 6 before the loop, 7 per pass, the final beq, 3 returns
    return Case("classical loop", text, 0, 6 + 7 * n + 1 + 3,
                {"R1": n * (n - 1) // 2, "R6": n * (n - 1) // 2})


def gate_loop(n: int) -> Case:
    body = ["x Q0", "h Q0", "y Q1", "z Q1", "cnot Q0 Q1"]
    text = gate_loop_text(APP_ID, n, body, ["meas Q0 M0", "qfree Q0", "qfree Q1", "ret_reg M0", "ret_reg R0"])
    # 9 before the loop, 8 per pass, the final beq, meas + 2 qfree + 2 returns
    return Case("gate loop (null device)", text, 2, 9 + 8 * n + 1 + 5, {"M0": 0, "R0": n})


# --- netqasm's executor -------------------------------------------------------------------------------
class PeerExecutor(NetQASMExecutor):
    """netqasm's Executor as it is: only the node id it leaves abstract, quantum handlers are its no-ops."""

    @property
    def node_id(self) -> int:
        return 0


class CountingPeerExecutor(PeerExecutor):
    """Counts the instructions netqasm executes (used in an untimed run only: the wrapper costs time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.executed = 0

    def _execute_command(self, subroutine_id: int, command: Any) -> Iterator[Any]:
        self.executed += 1
        return super()._execute_command(subroutine_id, command)


@dataclass
class Outcome:
    registers: dict[str, int | None]
    arrays: dict[int, list[int | None]]
    instructions: int


def returned(subroutine: Subroutine) -> tuple[list[str], list[int]]:
    regs = [str(i.reg) for i in subroutine.instructions if isinstance(i, RetRegInstruction)]
    arrs = [int(i.address.address) for i in subroutine.instructions if isinstance(i, RetArrInstruction)]
    return regs, arrs


def netqasm_setup(case: Case, cls: type[PeerExecutor] = PeerExecutor) -> Callable[[], PeerExecutor]:
    def setup() -> PeerExecutor:
        SharedMemoryManager.reset_memories()  # each fresh executor creates the (node, app) memory anew
        executor = cls(name=NODE_NAME)
        executor.init_new_application(APP_ID, case.max_qubits)
        return executor

    return setup


def netqasm_outcome(subroutine: Subroutine, executor: PeerExecutor) -> Outcome:
    memory = SharedMemoryManager.get_shared_memory(NODE_NAME, key=APP_ID)
    assert memory is not None
    regs, arrs = returned(subroutine)
    return Outcome({r: memory.get_register(r) for r in regs}, {a: list(memory[a]) for a in arrs},  # type: ignore
                   getattr(executor, "executed", -1))


def ours_setup(case: Case) -> Callable[[], QNPU]:
    def setup() -> QNPU:
        qnpu = QNPU(NullQDriver(), VirtualClock())
        qnpu.init_app(APP_ID, case.max_qubits)
        return qnpu

    return setup


def check_same(case: Case, subroutine: Subroutine) -> int:
    """Run both executors once, untimed; assert equal counts and equal results. Returns the count."""
    counting = netqasm_setup(case, CountingPeerExecutor)()
    counting.consume_execute_subroutine(subroutine)
    theirs = netqasm_outcome(subroutine, counting)

    qnpu = ours_setup(case)()
    result = qnpu.run_subroutine(subroutine)
    ours = Outcome(dict(result.registers), dict(result.arrays), qnpu.executor.stats.instructions)

    counts = {"analytic": case.expected_instructions, "netqasm": theirs.instructions,
              "ours": ours.instructions}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"{case.name}: executed instruction counts differ: {counts}")
    if theirs.registers != ours.registers or theirs.arrays != ours.arrays:
        raise AssertionError(f"{case.name}: results differ: netqasm {theirs}, ours {ours}")
    if ours.registers != case.expected_registers:
        raise AssertionError(f"{case.name}: expected {case.expected_registers}, "
                             f"both returned {ours.registers}")
    return case.expected_instructions


def measure(case: Case) -> tuple[Rate, Rate]:
    subroutine = parse_text(case.text, "vanilla")
    count = check_same(case, subroutine)

    def run_netqasm(executor: PeerExecutor) -> PeerExecutor:
        executor.consume_execute_subroutine(subroutine)
        return executor

    def run_ours(qnpu: QNPU) -> int:
        qnpu.run_subroutine(subroutine)
        return qnpu.executor.stats.instructions

    theirs_timing, executors = time_repeats(run_netqasm, netqasm_setup(case), REPEATS)
    ours_timing, counts = time_repeats(run_ours, ours_setup(case), REPEATS)
    for executor in executors[-1:]:
        assert netqasm_outcome(subroutine, executor).registers == case.expected_registers
    assert set(counts) == {count}, counts
    return theirs_timing.rate(count), ours_timing.rate(count)


def main() -> None:
    # netqasm logs every instruction at DEBUG (building the f-strings regardless); keep its default level
    logging.getLogger("netqasm").setLevel(logging.WARNING)
    cases = [classical_loop(CLASSICAL_ITERATIONS), gate_loop(GATE_ITERATIONS)]
    rows, ratios = [], []
    for case in cases:
        theirs, ours = measure(case)
        ratio = ours.median / theirs.median
        ratios.append(ratio)
        rows.append([case.name, f"{case.expected_instructions:,}", str(theirs), str(ours), f"{ratio:.1f}x"])
    print(f"executed instructions per second, median of {REPEATS} repeats (slowest..fastest repeat)")
    print_table(["subroutine", "instr/run", "netqasm 2.3 Executor", "qlab-os QNPU", "ratio"], rows)
    speedup = geometric_mean(ratios)
    print(f"\nratios: geometric mean {speedup:.1f}x, minimum {min(ratios):.1f}x (goal >= {GOAL:.0f}x); "
          f"both executors returned the same registers and arrays and executed the same instructions")
    print(f"RESULT executor_speedup {speedup:.2f}")
    if min(ratios) < GOAL:
        print(f"note: below the goal of {GOAL:.0f}x on at least one subroutine ({si(min(ratios))}x)")


if __name__ == "__main__":
    main()
