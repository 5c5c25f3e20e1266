"""Physical instructions per second that the QNPU issues to a QDriver.

A subroutine loops over one-qubit gates and cnots on two qubits; the QNPU translates each into the device's
native instructions and hands them to the QDriver one by one. On the null QDriver (which does nothing) this
measures the kernel's own cost per physical instruction: executor, memory manager, translator and clock.
For comparison, one QNodeOS NV QDevice tick is 10 us, i.e. 100,000 physical instructions per second.

The physical instructions are counted twice (the executor's stats and ``NullQDriver.executed``) and must
agree. For context the same subroutine also runs on the seeded ``sim-generic`` physics driver, if installed.

Run: ``.venv/bin/python benchmarks/physical_rate.py``. Ends with ``RESULT physical_rate <per second>``
(the median on the null QDriver).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from _common import Rate, gate_loop_text, print_table, time_repeats
from netqasm.lang.subroutine import Subroutine

from qdrivers.null.driver import NullQDriver
from qlab_os.clock import VirtualClock
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.qnpu import QNPU

APP_ID = 0
REPEATS = 7
GOAL_PER_S = 100_000
NULL_ITERATIONS = 10_000
SIM_ITERATIONS = 500
SIM_REPEATS = 3
SIM_DEVICE = "sim-generic"


def gate_loop(n: int) -> Subroutine:
    body = ["x Q0", "h Q0", "y Q1", "z Q1", "cnot Q0 Q1", "cnot Q1 Q0"]
    epilogue = ["meas Q0 M0", "meas Q1 M1", "qfree Q0", "qfree Q1", "ret_reg R0"]
    return parse_text(gate_loop_text(APP_ID, n, body, epilogue), "vanilla")


@dataclass(frozen=True)
class Measured:
    rate: Rate
    physical: int
    instructions: int


def measure(make_driver: Callable[[VirtualClock], QDriver], subroutine: Subroutine, repeats: int,
            count_driver: Callable[[QDriver], int] | None = None) -> Measured:
    def setup() -> QNPU:
        clock = VirtualClock()
        qnpu = QNPU(make_driver(clock), clock)
        qnpu.init_app(APP_ID, 2)
        return qnpu

    def run(qnpu: QNPU) -> QNPU:
        qnpu.run_subroutine(subroutine)
        return qnpu

    timing, runs = time_repeats(run, setup, repeats)
    physical = {q.executor.stats.physical_instructions for q in runs}
    instructions = {q.executor.stats.instructions for q in runs}
    if len(physical) != 1 or len(instructions) != 1:
        raise AssertionError(f"repeats differ: physical {physical}, instructions {instructions}")
    n_physical = physical.pop()
    if count_driver is not None:
        seen = {count_driver(q.driver) for q in runs}
        if seen != {n_physical}:
            raise AssertionError(f"the QDriver executed {seen} instructions, the executor says {n_physical}")
    return Measured(timing.rate(n_physical), n_physical, instructions.pop())


def null_driver(clock: VirtualClock) -> QDriver:
    return NullQDriver()


def sim_driver(clock: VirtualClock) -> QDriver:
    return create_qdriver(SIM_DEVICE, clock=clock, seed=1)


def null_executed(driver: QDriver) -> int:
    assert isinstance(driver, NullQDriver)
    return driver.executed


def main() -> None:
    null = measure(null_driver, gate_loop(NULL_ITERATIONS), REPEATS, null_executed)
    rows = [["null QDriver", f"{null.instructions:,}", f"{null.physical:,}", str(null.rate),
             f"{1e6 / null.rate.median:.2f}"]]
    try:
        sim = measure(sim_driver, gate_loop(SIM_ITERATIONS), SIM_REPEATS)
    except Exception as exc:  # context only: a missing or unfinished physics driver must not stop the run
        rows.append([SIM_DEVICE, "-", "-", "not available", "-"])
        sim_note = f"{SIM_DEVICE}: not available ({type(exc).__name__}: {exc})"
    else:
        rows.append([f"{SIM_DEVICE} (physics, context)", f"{sim.instructions:,}", f"{sim.physical:,}",
                     str(sim.rate), f"{1e6 / sim.rate.median:.2f}"])
        sim_note = f"{SIM_DEVICE}: median of {SIM_REPEATS} repeats of {SIM_ITERATIONS} loop passes"
    print(f"physical instructions issued per second (wall clock), median of {REPEATS} repeats "
          "(slowest..fastest repeat)")
    print_table(["QDriver", "NetQASM instr", "physical instr", "physical/s", "us each"], rows)
    print(f"\n{sim_note}")
    verdict = "meets" if null.rate.median >= GOAL_PER_S else "BELOW"
    print(f"null QDriver: {verdict} the goal of {GOAL_PER_S:,}/s (one 10 us QNodeOS NV QDevice tick); "
          f"spread +/-{null.rate.spread_pct():.0f}%")
    print(f"RESULT physical_rate {null.rate.median:.0f}")


if __name__ == "__main__":
    main()
