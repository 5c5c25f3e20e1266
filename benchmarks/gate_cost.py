"""Cost of one gate on a density-matrix register: our physics engine against qutip.

For registers of 1..8 qubits held in one block, time a one-qubit gate (RX) and a two-qubit gate (CNOT between
the first and last qubit) with :class:`sim_instruments.physics.world.QuantumWorld`, and the same gate on the
same density matrix with qutip the obvious way: ``U * rho * U^dagger`` with ``U`` expanded to the full
register by ``qutip.expand_operator`` (the expansion and ``U^dagger`` are built once, outside the timing, which
favours qutip). Each cell is the median over repeats of the mean time per gate, with the min..max spread.
Both results are checked to agree to 1e-10 before timing.

BLAS runs single-threaded for both (``OPENBLAS_NUM_THREADS=1`` unless already set): on small machines the
threaded BLAS is erratic for these sizes (qutip's dense products then vary by 100x between repeats); the engine
keeps its BLAS calls small enough not to thread anyway. A last row shows the worst case for the engine's
layout: a two-qubit gate alternating between two pairs of the 8-qubit register, so every gate re-lays the
block out.

Run: ``.venv/bin/python benchmarks/gate_cost.py``. The last line is ``RESULT gate_cost_us <value>``: our
median microseconds per two-qubit gate on the 8-qubit register.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads BLAS; see the docstring

import statistics
import time
from collections.abc import Callable

import numpy as np
import qutip

from qdrivers.sim.driver import SimQDriver
from qlab_os.clock import VirtualClock
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from sim_instruments.physics import gates
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

SIZES = range(1, 9)
REPEATS = 7
TARGET_NS_PER_REPEAT = 20_000_000  # enough calls per repeat for ~20 ms of work


def _time_per_call_us(fn: Callable[[], object]) -> tuple[float, float, float]:
    """(median, min, max) over REPEATS of the mean microseconds per call."""
    fn()
    start = time.perf_counter_ns()
    fn()
    single = max(time.perf_counter_ns() - start, 1)
    calls = max(3, min(20_000, TARGET_NS_PER_REPEAT // single))
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - start) / calls / 1000.0)
    return statistics.median(samples), min(samples), max(samples)


def _ours(n: int, rho: np.ndarray) -> tuple[QuantumWorld, list[int]]:
    world = QuantumWorld(make_rng(0))
    q = [world.new_qubit() for _ in range(n)]
    world.set_state(q, rho)
    return world, q


def _bench(n: int, u: np.ndarray, targets: list[int], rng: np.random.Generator) -> tuple[tuple[float, ...], ...]:
    rho = np.asarray(qutip.rand_dm([2] * n, seed=int(rng.integers(2**31))).full())
    world, register = _ours(n, rho)
    qids = [register[t] for t in targets]
    u_full = qutip.expand_operator(qutip.Qobj(u, dims=[[2] * len(targets)] * 2), dims=[2] * n, targets=targets)
    u_full_dag = u_full.dag()
    rho_q = qutip.Qobj(rho, dims=[[2] * n] * 2)
    world.apply_unitary(u, qids)
    expected = (u_full * rho_q * u_full_dag).full()
    if not np.allclose(world.density_matrix(register), expected, atol=1e-10):
        raise AssertionError(f"engine and qutip disagree on {n} qubits, targets {targets}")
    ours = _time_per_call_us(lambda: world.apply_unitary(u, qids))
    theirs = _time_per_call_us(lambda: u_full * rho_q * u_full_dag)
    return ours, theirs


def _cell(t: tuple[float, ...]) -> str:
    med, lo, hi = t
    return f"{med:9.2f} [{lo:8.2f}..{hi:8.2f}]"


def _driver_rot_cost_us() -> float:
    driver = SimQDriver.for_device("sim-generic", clock=VirtualClock(), seed=0)
    instr = PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.X, 0.3)
    return _time_per_call_us(lambda: driver.execute(instr))[0]


def _alternating_us() -> float:
    rho = np.asarray(qutip.rand_dm([2] * 8, seed=5).full())
    world, q = _ours(8, rho)
    pairs = ([q[0], q[7]], [q[3], q[5]])

    def two_gates() -> None:
        world.apply_unitary(gates.CNOT, pairs[0])
        world.apply_unitary(gates.CNOT, pairs[1])

    return _time_per_call_us(two_gates)[0] / 2


def main() -> None:
    rng = np.random.default_rng(1)
    rx = gates.r("x", 0.3)
    header = (
        f"{'qubits':>6} | {'ours 1q us [min..max]':>30} | {'qutip 1q us [min..max]':>30} | {'x':>6} | "
        f"{'ours 2q us [min..max]':>30} | {'qutip 2q us [min..max]':>30} | {'x':>6}"
    )
    print("Cost per gate on an n-qubit density matrix (one block); x = qutip / ours")
    print(header)
    print("-" * len(header))
    last_two_qubit = float("nan")
    for n in SIZES:
        one = _bench(n, rx, [0], rng)
        row = f"{n:>6} | {_cell(one[0]):>30} | {_cell(one[1]):>30} | {one[1][0] / one[0][0]:6.1f} | "
        if n >= 2:
            two = _bench(n, gates.CNOT, [0, n - 1], rng)
            last_two_qubit = two[0][0]
            row += f"{_cell(two[0]):>30} | {_cell(two[1]):>30} | {two[1][0] / two[0][0]:6.1f}"
        else:
            row += f"{'-':>30} | {'-':>30} | {'-':>6}"
        print(row)
    print(f"8 qubits, CNOT alternating (0,7) and (3,5): {_alternating_us():.2f} us per gate (ours, median)")
    print(f"sim QDriver: execute(ROT) on an isolated qubit costs {_driver_rot_cost_us():.2f} us (median)")
    print(f"RESULT gate_cost_us {last_two_qubit:.2f}")


if __name__ == "__main__":
    main()
