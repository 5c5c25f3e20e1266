"""``qlab-os demo`` (``make demo``): one node, two nodes, three nodes, each against theory.

1. ``examples/bell_ghz.nqasm`` for many shots on each simulated device, with the device's real noise and
   with the noise off. With the noise off, every device must agree with theory within the shot noise (the
   translator maps the same vanilla code to each device's native gates); with it on, deviations are the
   device's own.
2. netqasm's teleport example on two nodes and its CHSH-through-a-repeater example on three nodes, unmodified,
   on ideal and noisy links (:mod:`qlab_os.demo_network`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from qlab_os.exec_runner import ExecReport, run_shots
from qlab_os.qdevice.registry import device_names
from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.process import SubroutineResult

EXAMPLE = "bell_ghz.nqasm"


@dataclass(frozen=True)
class Statistic:
    name: str
    theory: float
    value: Callable[[SubroutineResult], float]


def _arr(r: SubroutineResult) -> list[int]:
    return [int(v) if v is not None else -1 for v in r.arrays[0]]


STATISTICS = [
    Statistic("Bell: P(outcomes equal)", 1.0, lambda r: float(_arr(r)[0] == _arr(r)[1])),
    Statistic("Bell: P(q0 = 1)", 0.5, lambda r: float(_arr(r)[0])),
    Statistic("GHZ: P(all three equal)", 1.0, lambda r: float(len(set(_arr(r)[2:5])) == 1)),
    Statistic("rot_y(pi/4): P(1)", math.sin(math.pi / 8) ** 2, lambda r: float(_arr(r)[5])),
    Statistic("|+> in X basis: P(0)", 1.0, lambda r: float(_arr(r)[6] == 0)),
    Statistic("loop: sum 0..99 = 4950", 1.0, lambda r: float(r.registers["R1"] == 4950)),
]


def example_text() -> str:
    return resources.files("qlab_os.examples").joinpath(EXAMPLE).read_text(encoding="utf-8")


def run_demo(shots: int = 1000, seed: int = 2025) -> str:
    sub = parse_text(example_text())
    devices = sorted(d for d in device_names() if d.startswith("sim-"))
    # each device gets its own seed, so every column is an independent sample (with one seed, ideal devices
    # would draw the same random numbers and print identical columns)
    reports: dict[tuple[str, bool], ExecReport] = {
        (d, ideal): run_shots(sub, device=d, shots=shots, seed=seed + i, ideal=ideal)
        for i, d in enumerate(devices) for ideal in (True, False)
    }
    sigma_note = "(+- one standard error of the mean over the shots)"
    seeds = f"{seed}..{seed + len(devices) - 1}"
    lines = [f"qlab-os demo: {EXAMPLE} on {', '.join(devices)}; {shots} shots each, seeds {seeds}", ""]
    for ideal in (True, False):
        lines.append("noise OFF (ideal devices): every column must match theory" if ideal
                     else "noise ON (each device's own durations, decoherence, gate and readout errors)")
        head = f"  {'statistic':<26}{'theory':>8}" + "".join(f"{d:>20}" for d in devices)
        lines.append(head)
        for st in STATISTICS:
            row = f"  {st.name:<26}{st.theory:>8.3f}"
            for d in devices:
                values = [st.value(r) for r in reports[(d, ideal)].results]
                mean = sum(values) / len(values)
                sem = math.sqrt(max(mean * (1 - mean), 1e-12) / len(values))
                row += f"{mean:>12.3f} +-{sem:5.3f}"
            lines.append(row)
        lines.append(f"  {'device time per shot':<34}" + "".join(
            f"{reports[(d, ideal)].device_time_ns / shots / 1e3:>17.1f} us" for d in devices))
        lines.append(f"  {'physical instructions / shot':<34}" + "".join(
            f"{reports[(d, ideal)].physical_instructions / shots:>20.0f}" for d in devices))
        lines.append("")
    lines.append(sigma_note)
    from qlab_os.demo_network import chsh_lines, teleport_lines

    lines += ["", *teleport_lines(rounds=max(20, shots // 10), seed=seed), "",
              *chsh_lines(rounds_per_input=max(25, shots // 4), seed=seed)]
    return "\n".join(lines)
