"""``qlab-os exec``: run one subroutine on one simulated node, once or for many shots.

Every shot starts the app afresh (INIT_NEW_APP, the subroutine, STOP_APP) on a reset device, on one
virtual clock and one seeded RNG for the whole run, so the same seed always prints the same output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from netqasm.lang.subroutine import Subroutine

from qlab_os.clock import VirtualClock
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.executor import DEFAULT_INSTRUCTION_BUDGET
from qlab_os.qnpu.process import SubroutineResult
from qlab_os.qnpu.qnpu import QNPU


@dataclass
class ExecReport:
    device: str
    seed: int | None
    results: list[SubroutineResult]
    device_time_ns: int
    instructions: int
    physical_instructions: int
    num_qubits: int

    def to_json(self, shots: bool) -> dict[str, object]:
        """``--json`` output: one result object, or ``{"shots": [...]}`` when shots were asked for."""
        if not shots:
            return dict(self.results[0].to_json())
        return {"shots": [r.to_json() for r in self.results]}


def run_shots(subroutine: Subroutine, *, device: str, shots: int = 1, seed: int | None = None,
              ideal: bool = False, flavour: str = "vanilla", max_qubits: int | None = None,
              instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET) -> ExecReport:
    if shots < 1:
        raise ValueError(f"--shots must be >= 1, got {shots}")
    clock = VirtualClock()
    driver = create_qdriver(device, clock=clock, seed=seed, ideal=ideal)
    qnpu = QNPU(driver, clock, node_name=device, flavour=flavour, instruction_budget=instruction_budget)
    app_id = subroutine.app_id if subroutine.app_id is not None else 0
    n = driver.spec.num_qubits if max_qubits is None else max_qubits
    results = []
    try:
        for _ in range(shots):
            driver.reset()
            qnpu.init_app(app_id, n)
            try:
                results.append(qnpu.run_subroutine(subroutine, app_id))
            finally:
                qnpu.stop_app(app_id)
    finally:
        driver.safe_state()
        driver.close()
    stats = qnpu.executor.stats
    return ExecReport(device=device, seed=seed, results=results, device_time_ns=clock.now_ns(),
                      instructions=stats.instructions, physical_instructions=stats.physical_instructions,
                      num_qubits=driver.spec.num_qubits)


def format_single(report: ExecReport) -> str:
    r = report.results[0]
    lines = [f"device {report.device} ({report.num_qubits} qubits), seed {report.seed}"]
    lines.append("registers:" if r.registers else "registers: (none returned)")
    lines += [f"  {name} = {value}" for name, value in r.registers.items()]
    lines.append("arrays:" if r.arrays else "arrays: (none returned)")
    lines += [f"  @{addr} = {values}" for addr, values in sorted(r.arrays.items())]
    lines.append(_footer(report))
    return "\n".join(lines)


def histogram(report: ExecReport) -> dict[str, Counter[str]]:
    """Per returned register and per returned array: how often each value came out."""
    hist: dict[str, Counter[str]] = {}
    for r in report.results:
        for name, value in r.registers.items():
            hist.setdefault(name, Counter())[str(value)] += 1
        for addr, values in sorted(r.arrays.items()):
            hist.setdefault(f"@{addr}", Counter())[str(values)] += 1
    return hist


def format_histogram(report: ExecReport, width: int = 40) -> str:
    shots = len(report.results)
    lines = [f"device {report.device} ({report.num_qubits} qubits), seed {report.seed}, {shots} shots"]
    for key, counts in histogram(report).items():
        lines.append(f"{key}:")
        top = max(counts.values())
        label_w = max(len(v) for v in counts)
        for value, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            bar = "#" * max(1, round(width * count / top))
            lines.append(f"  {value:<{label_w}}  {bar:<{width}}  {count:>6}  ({100 * count / shots:5.1f}%)")
    lines.append(_footer(report))
    return "\n".join(lines)


def _footer(report: ExecReport) -> str:
    shots = len(report.results)
    per = f" ({report.device_time_ns / shots / 1e3:.3f} us per shot)" if shots > 1 else ""
    return (f"device time {report.device_time_ns / 1e3:.3f} us{per}; {report.instructions} NetQASM instructions, "
            f"{report.physical_instructions} physical instructions")
