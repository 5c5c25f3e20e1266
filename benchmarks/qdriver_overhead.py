"""Overhead per physical instruction of the station-backed QDrivers against the ``sim`` QDriver, and where it goes.

The NV QDriver (``nv_a``) and the trapped-ion QDriver (``ion``) turn each physical instruction into instrument
actions on a QCoDeS station of the physics-backed simulated lab: parameter sets and gets on QCoDeS drivers, SCPI
over pyvisa to the ``@qlab`` backend (pyvisa-sim plus instrument models), the AWG player, and the physics of the
node underneath. The ``sim`` QDriver runs the same instructions straight on the physics engine. Both are fed the
same fixed mix, one shot being INIT, ROT X(pi/2), ROT Y(pi/2), ROT Z(pi/2), MEAS, NONE(1 us) on qubit 0, executed
directly on the driver (no kernel), with a virtual kernel clock advanced by each response's duration as the kernel
would.

Peers: ``sim-nv`` for the NV node. For the ion node, ``sim-ion``'s x/y rotations are global (all three ions), so
qubit 0 alone has no native x/y there; the peer is the sim driver on the ion QDriver's own spec (one ion, the
calibrated durations and noise), and ``sim-ion`` with global x/y is printed as context.

First the simulated lab's ``nv_a`` and ``ion`` nodes are calibrated (``qlab-os calibrate <node> all``) into a
temporary directory, so the drivers run on measured numbers and nothing is written to ``data/``. Each measurement
is the median of repeats (untimed warm-up first, garbage collector paused); per-kind times come from a second pass
that times every ``execute`` call on its own.

Run: ``.venv/bin/python benchmarks/qdriver_overhead.py [--profile]``. Prints ``RESULT qdriver_overhead_nv <ratio>``
and ``RESULT qdriver_overhead_ion <ratio>`` (station-backed us per instruction / sim us per instruction).
``--profile`` adds a cProfile of the NV driver's loop, its self time grouped by layer (time spent in the standard
library, builtins and numpy is charged to the layer that called it).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import math
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import print_table, time_repeats
from qcodes.instrument import Instrument

from qdrivers.nv.driver import NVQDriver
from qdrivers.sim.driver import SimQDriver
from qdrivers.trapped_ion.driver import TrappedIonQDriver
from qlab_os.cli import main as qlab_os_main
from qlab_os.clock import VirtualClock
from qlab_os.lab.calibrate.node import find_node_file
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp
from sim_instruments.lab.lab import reset_lab

CAL_SEED = 20261124
LAB_SEED = 7
SIM_SEED = 1
REPEATS = 5
STATION_SHOTS = 100
SIM_SHOTS = 2000
PROFILE_SHOTS = 100
NONE_DURATION_NS = 1_000

MIX: tuple[tuple[str, PhysicalInstruction], ...] = (
    ("INIT", PhysicalInstruction(PhysicalOp.INIT, (0,))),
    ("ROT X", PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.X, math.pi / 2)),
    ("ROT Y", PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Y, math.pi / 2)),
    ("ROT Z", PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Z, math.pi / 2)),
    ("MEAS", PhysicalInstruction(PhysicalOp.MEAS, (0,))),
    ("NONE", PhysicalInstruction(PhysicalOp.NONE, (0,), duration_ns=NONE_DURATION_NS)),
)
KINDS = tuple(kind for kind, _ in MIX)
SIM_ION_GLOBAL_QUBITS = (0, 1, 2)


# ---- the drivers -------------------------------------------------------------------------------------------------


def calibrate(directory: Path) -> dict[str, Path]:
    """Run every calibration routine of ``nv_a`` and ``ion`` on a fresh simulated lab; return the files."""
    files = {}
    for node in ("nv_a", "ion"):
        path = directory / f"{node}.yaml"
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            status = qlab_os_main(["calibrate", node, "all", "--seed", str(CAL_SEED), "--calibration-file",
                                   str(path), "--db", str(directory / "calibration.db"), "--plot-dir",
                                   str(directory / "plots"), "--no-progress"])
        Instrument.close_all()
        if status != 0:
            raise SystemExit(f"qlab-os calibrate {node} all failed (status {status}):\n{captured.getvalue()}")
        files[node] = path
    return files


@contextlib.contextmanager
def station_driver(node: str, calibration_file: Path, clock: VirtualClock) -> Iterator[QDriver]:
    """The node's QDriver on a fresh simulated lab; instruments closed afterwards."""
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    driver: NVQDriver | TrappedIonQDriver
    with contextlib.redirect_stdout(io.StringIO()):  # qcodes prints a "Connected to" line per instrument
        if node == "nv_a":
            driver = NVQDriver.from_files(find_node_file(node), clock=clock, calibration_file=calibration_file)
        else:
            driver = TrappedIonQDriver.connect(node, clock=clock, calibration_file=calibration_file)
    try:
        yield driver
    finally:
        driver.close()
        Instrument.close_all()


# ---- timing ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    us_per_instruction: float
    low_us: float
    high_us: float
    per_kind_us: dict[str, float]
    ones_fraction: float

    def cell(self) -> str:
        return f"{self.us_per_instruction:.1f} ({self.low_us:.1f}..{self.high_us:.1f})"


def run_shots(driver: QDriver, clock: VirtualClock, mix: tuple[tuple[str, PhysicalInstruction], ...],
              shots: int) -> int:
    """Execute ``shots`` rounds of the mix; return how many MEAS read 1."""
    ones = 0
    for _ in range(shots):
        for _kind, instruction in mix:
            response = driver.execute(instruction)
            clock.advance_ns(response.duration_ns)
            if response.outcomes:
                ones += response.outcomes[0]
    return ones


def run_shots_per_kind(driver: QDriver, clock: VirtualClock, mix: tuple[tuple[str, PhysicalInstruction], ...],
                       shots: int) -> dict[str, int]:
    """Like :func:`run_shots`, timing each ``execute``; total ns per kind."""
    totals = dict.fromkeys(KINDS, 0)
    clock_ns = time.perf_counter_ns
    for _ in range(shots):
        for kind, instruction in mix:
            start_ns = clock_ns()
            response = driver.execute(instruction)
            totals[kind] += clock_ns() - start_ns
            clock.advance_ns(response.duration_ns)
    return totals


def measure(driver: QDriver, clock: VirtualClock, mix: tuple[tuple[str, PhysicalInstruction], ...],
            shots: int) -> Measured:
    timing, ones = time_repeats(lambda _state: run_shots(driver, clock, mix, shots), lambda: None, REPEATS)
    count = shots * len(mix)
    per_kind_runs = [run_shots_per_kind(driver, clock, mix, shots) for _ in range(REPEATS)]
    per_kind_us = {kind: statistics.median(run[kind] for run in per_kind_runs) / shots / 1e3 for kind in KINDS}
    return Measured(timing.median_s / count * 1e6, timing.min_s / count * 1e6, timing.max_s / count * 1e6,
                    per_kind_us, sum(ones) / (shots * REPEATS))


def sim_ion_global_mix() -> tuple[tuple[str, PhysicalInstruction], ...]:
    """The mix with x/y rotations on all three ions, as sim-ion's (global) x/y natives require."""
    return tuple((kind, PhysicalInstruction(i.op, SIM_ION_GLOBAL_QUBITS, i.axis, i.angle_rad))
                 if i.op is PhysicalOp.ROT and i.axis is not Axis.Z else (kind, i) for kind, i in MIX)


# ---- profile -----------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("QDriver logic (qdrivers/, qlab_os/ station)", ("qdrivers/", "qlab_os/")),
    ("benchmark loop", ("benchmarks/",)),
    ("instrument drivers (instruments/, qcodes drivers)", ("instruments/", "site:qcodes/instrument_drivers/")),
    ("qcodes parameter machinery", ("site:qcodes/",)),
    ("pyvisa", ("site:pyvisa/",)),
    ("@qlab backend / pyvisa-sim parsing", ("sim_instruments/lab/backend.py", "sim_instruments/lab/resolve.py",
                                            "sim_instruments/lab/faults.py", "sim_instruments/lab/lab.py",
                                            "pyvisa_qlab/", "site:pyvisa_sim/")),
    ("instrument models / AWG player", ("sim_instruments/lab/",)),
    ("physics", ("sim_instruments/physics/",)),
)
UNATTRIBUTED = "unattributed (no caller in a layer)"
Func = tuple[str, int, str]


def layer_of(func: Func) -> str | None:
    """The layer of a function by its file; None for the standard library, builtins, numpy and the like."""
    filename = func[0]
    if "site-packages/" in filename:
        key = "site:" + filename.split("site-packages/", 1)[1]
    else:
        try:
            key = Path(filename).resolve().relative_to(REPO).as_posix()
        except (ValueError, OSError):
            return None
    for layer, prefixes in LAYERS:
        if key.startswith(prefixes):
            return layer
    return None


def self_time_by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Self time per layer, in seconds; a function outside the layers is charged to its callers' layers in
    proportion to the time each caller spent in it (recursively, through callers outside the layers too)."""
    raw = stats.stats  # type: ignore[attr-defined]
    shares: dict[Func, dict[str, float]] = {}

    def caller_shares(func: Func, visiting: frozenset[Func]) -> dict[str, float]:
        layer = layer_of(func)
        if layer is not None:
            return {layer: 1.0}
        if func in shares:
            return shares[func]
        callers = raw.get(func, (0, 0, 0.0, 0.0, {}))[4]
        weights = {caller: edge[3] for caller, edge in callers.items() if caller not in visiting}
        total = sum(weights.values())
        if total <= 0:
            return {UNATTRIBUTED: 1.0}
        result: dict[str, float] = defaultdict(float)
        for caller, weight in weights.items():
            for name, share in caller_shares(caller, visiting | {func}).items():
                result[name] += share * weight / total
        shares[func] = dict(result)
        return shares[func]

    seconds: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tottime, _ct, callers) in raw.items():
        layer = layer_of(func)
        if layer is not None:
            seconds[layer] += tottime
            continue
        edge_total = sum(edge[2] for edge in callers.values())
        if not callers or edge_total <= 0:
            seconds[UNATTRIBUTED] += tottime
            continue
        for caller, edge in callers.items():
            for name, share in caller_shares(caller, frozenset({func})).items():
                seconds[name] += tottime * share * edge[2] / edge_total
    return dict(seconds)


def calls_to(stats: pstats.Stats, where: str, names: tuple[str, ...]) -> int:
    raw = stats.stats  # type: ignore[attr-defined]
    return sum(value[1] for func, value in raw.items() if where in func[0] and func[2] in names)


def profile_nv(calibration_file: Path) -> None:
    clock = VirtualClock()
    with station_driver("nv_a", calibration_file, clock) as driver:
        run_shots(driver, clock, MIX, 5)  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        run_shots(driver, clock, MIX, PROFILE_SHOTS)
        profiler.disable()
    stats = pstats.Stats(profiler)
    instructions = PROFILE_SHOTS * len(MIX)
    seconds = self_time_by_layer(stats)
    total_s = sum(seconds.values())
    order = [layer for layer, _ in LAYERS] + [UNATTRIBUTED]
    rows = [[layer, f"{seconds[layer]:.3f}", f"{100 * seconds[layer] / total_s:.1f}",
             f"{seconds[layer] / instructions * 1e6:.1f}"] for layer in order if seconds.get(layer, 0.0) > 0]
    rows.append(["total (under the profiler)", f"{total_s:.3f}", "100.0", f"{total_s / instructions * 1e6:.1f}"])
    print(f"\ncProfile of the NV QDriver: {PROFILE_SHOTS} shots, {instructions} instructions; self time by layer "
          "(stdlib, builtins and numpy charged to their callers' layer)")
    print_table(["layer", "self s", "%", "us/instr"], rows)

    per_instruction = [
        ("SCPI writes (pyvisa write)", calls_to(stats, "pyvisa/resources/messagebased.py", ("write",))),
        ("SCPI reads (pyvisa read)", calls_to(stats, "pyvisa/resources/messagebased.py", ("read",))),
        ("qcodes parameter sets", calls_to(stats, "qcodes/parameters/parameter_base.py", ("set_wrapper",))),
        ("qcodes parameter gets", calls_to(stats, "qcodes/parameters/parameter_base.py", ("get_wrapper",))),
    ]
    print("\ncalls per physical instruction (mean over the mix)")
    print_table(["call", "per instruction"], [[name, f"{count / instructions:.2f}"] for name, count in
                                              per_instruction])

    print("\ntop functions by self time")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join(line.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
                    for line in lines[start:] if line.strip()))


# ---- main --------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="also profile the NV driver's loop (cProfile)")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qdriver_overhead_") as tmp:
        files = calibrate(Path(tmp))
        calibrated_s = time.perf_counter() - started

        nv_clock = VirtualClock()
        with station_driver("nv_a", files["nv_a"], nv_clock) as nv:
            nv_measured = measure(nv, nv_clock, MIX, STATION_SHOTS)
        sim_nv_clock = VirtualClock()
        sim_nv = measure(SimQDriver.for_device("sim-nv", clock=sim_nv_clock, seed=SIM_SEED), sim_nv_clock, MIX,
                         SIM_SHOTS)

        ion_clock = VirtualClock()
        with station_driver("ion", files["ion"], ion_clock) as ion:
            ion_measured = measure(ion, ion_clock, MIX, STATION_SHOTS)
            ion_spec = ion.spec
        sim_ion_clock = VirtualClock()
        sim_ion = measure(SimQDriver(ion_spec, sim_ion_clock, seed=SIM_SEED), sim_ion_clock, MIX, SIM_SHOTS)
        global_clock = VirtualClock()
        sim_ion_global = measure(SimQDriver.for_device("sim-ion", clock=global_clock, seed=SIM_SEED), global_clock,
                                 sim_ion_global_mix(), SIM_SHOTS)

        rows = [
            ["nv (nv_a, simulated station)", nv_measured, f"{STATION_SHOTS * len(MIX):,}"],
            ["sim (sim-nv)", sim_nv, f"{SIM_SHOTS * len(MIX):,}"],
            ["trapped_ion (ion, simulated station)", ion_measured, f"{STATION_SHOTS * len(MIX):,}"],
            ["sim (ion QDriver's spec, 1 ion)", sim_ion, f"{SIM_SHOTS * len(MIX):,}"],
            ["sim (sim-ion, x/y global on 3 ions; context)", sim_ion_global, f"{SIM_SHOTS * len(MIX):,}"],
        ]
        print(f"wall time per physical instruction (us), mix {' / '.join(KINDS)} on qubit 0, executed directly on "
              f"the QDriver; median of {REPEATS} repeats (fastest..slowest)")
        print_table(["QDriver", "us/instr", "instr/repeat", "P(MEAS=1)"],
                    [[name, m.cell(), n, f"{m.ones_fraction:.3f}"] for name, m, n in rows])
        print("\nper kind (us per call, median of the repeats; each call timed on its own)")
        print_table(["QDriver", *KINDS], [[name, *(f"{m.per_kind_us[k]:.1f}" for k in KINDS)] for name, m, _n in rows])

        nv_ratio = nv_measured.us_per_instruction / sim_nv.us_per_instruction
        ion_ratio = ion_measured.us_per_instruction / sim_ion.us_per_instruction
        print(f"\nratio station-backed / sim: nv {nv_ratio:.0f}x, trapped_ion {ion_ratio:.0f}x "
              f"(calibration took {calibrated_s:.1f} s, not timed)")
        for kind in KINDS:
            print(f"RESULT qdriver_overhead_nv_{kind.lower().replace(' ', '_')}_us {nv_measured.per_kind_us[kind]:.1f}")
        for kind in KINDS:
            print(f"RESULT qdriver_overhead_ion_{kind.lower().replace(' ', '_')}_us "
                  f"{ion_measured.per_kind_us[kind]:.1f}")
        print(f"RESULT qdriver_overhead_nv {nv_ratio:.1f}")
        print(f"RESULT qdriver_overhead_ion {ion_ratio:.1f}")

        if args.profile:
            profile_nv(files["nv_a"])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
