"""The seed's network on the simulated lab: two NV nodes and one trapped-ion node, every quantum instruction
through a QDriver, a QCoDeS station and physics-backed simulated instruments (``qlab-os demo``, docs/demo.md).

1. Each node is calibrated on a fresh lab (``qlab-os calibrate NODE all``): the drivers take their pulses and
   their spec from these files.
2. One program (qlab_os/examples/lab_demo) runs on the three nodes at once: Bell pairs between nv_a and nv_b
   over the NV-NV heralding station, measured at once in Z, X and Y; remote state preparation from nv_a onto the
   ion over the NV-ion station, used at once by a CNOT (from the Molmer-Sorensen gate) onto the ion's second
   ion and measured; classical messages between the nodes.
3. The outcome statistics are compared with theory (:mod:`qlab_os.demo_lab_theory`): the single-click closed
   form as attempt loops (:mod:`qlab_os.lab.single_click`) from the link's constants and each node's calibration;
   the ion's gates through its digital twin (:mod:`qlab_os.twin`: the circuit on the driver's calibrated spec);
   heralds per attempt against the predicted probability; rates, per-node QDevice utilisation and a timeline PNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from qlab_os.demo_lab_theory import (
    SPECTATOR,
    ion_agreement,
    link_model,
    rsp_arrivals,
    spectator_agreement,
    value,
)
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.node import NODES_DIR, find_node_file, load_node
from qlab_os.lab.single_click import loop_agreement, readout_matrix
from qlab_os.net.app_folder import load_app
from qlab_os.net.config import load_network
from qlab_os.net.timeline import Interval, busy_fraction, ent_intervals, plot_timeline, running_intervals
from qlab_os.qdevice.spec import QDeviceSpec

LAB_NODES = ("nv_a", "nv_b", "ion")
NETWORK_FILE = NODES_DIR.parent / "network_lab.yaml"
K_SIGMA = 5.0


@dataclass
class Check:
    """One statistic against theory: ``k`` successes in ``n`` trials, theory ``p``; within ``K_SIGMA`` binomial
    standard errors (from the theory's p and n) it passes."""

    name: str
    k: int
    n: int
    p: float
    standard_error: float | None = None
    """The theory's standard error of k / n where it is not binomial (heralds per attempt); else binomial."""

    @property
    def measured(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def sigma(self) -> float:
        if self.standard_error is not None:
            return self.standard_error
        return math.sqrt(max(self.p * (1 - self.p), 1.0 / self.n) / self.n) if self.n else float("inf")

    @property
    def ok(self) -> bool:
        return self.n > 0 and abs(self.measured - self.p) <= K_SIGMA * self.sigma

    def line(self) -> str:
        deviation = (self.measured - self.p) / self.sigma if self.n else float("nan")
        fmt = ".3g" if self.p < 0.01 else ".3f"
        return (f"  {self.name:<52} {self.measured:8{fmt}}  theory {self.p:{fmt}} +- {self.sigma:{fmt}}  "
                f"({deviation:+5.1f} sigma, n={self.n})  {'ok' if self.ok else 'OFF'}")


@dataclass
class LabDemoReport:
    lines: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    figure: Path | None = None
    outcomes: dict[str, Any] = field(default_factory=dict)
    utilisation: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)

    def text(self) -> str:
        return "\n".join(self.lines)


def app_folder() -> Path:
    return Path(str(resources.files("qlab_os.examples").joinpath("lab_demo")))


def _calibration(data_dir: Path, node: str) -> CalibrationFile:
    platform = load_node(find_node_file(node)).platform
    return CalibrationFile(data_dir / "calibration" / f"{node}.yaml", node, platform)


def calibrate(nodes: tuple[str, ...], seed: int, out: Any = print) -> None:
    """``qlab-os calibrate NODE all --seed SEED`` for each node, into ./data (the drivers' default)."""
    from qlab_os.cli import main

    for i, node in enumerate(nodes):
        out(f"calibrating {node} (qlab-os calibrate {node} all)")
        # only the first resets the lab: the later nodes are calibrated in the same lab
        args = ["calibrate", node, "all", "--no-progress"] + (["--seed", str(seed)] if i == 0 else [])
        if main(args) != 0:
            raise RuntimeError(f"calibrating {node} failed")


def run_lab_demo(*, seed: int = 2025, pairs: int = 100, rsp_shots: int = 100, data_dir: Path = Path("data"),
                 figure: Path | None = None, recalibrate: bool = True, network_file: Path = NETWORK_FILE,
                 out: Any = print) -> LabDemoReport:
    """Calibrate, run the program on the three lab nodes, compare with theory (see the module docstring)."""
    from sim_instruments.lab.lab import get_lab

    if recalibrate:
        calibrate(LAB_NODES, seed, out)
    report = LabDemoReport()
    network = load_network(network_file)
    app = load_app(app_folder(), network=network_file)
    source = "rsp" if network.link("nv_a", "ion") is not None else "local"
    inputs: dict[str, dict[str, Any]] = {
        "nv_a": {"pairs": pairs, "rsp_shots": rsp_shots, "source": source}, "nv_b": {"pairs": pairs},
        "ion": {"rsp_shots": rsp_shots, "source": source}}
    intervals, elapsed_ns, link_stats, specs = _run(app, network, inputs, seed, report, data_dir)
    get_lab().clear_faults()
    _compare(report, data_dir, link_stats, network, specs["ion"])
    for node in LAB_NODES:
        report.utilisation[node] = busy_fraction(intervals, node, 0, elapsed_ns)
    report.lines.append("per-node QDevice utilisation (busy / elapsed virtual time "
                        f"{elapsed_ns / 1e9:.3f} s): " + ", ".join(f"{n} {u:.3f}"
                                                                     for n, u in report.utilisation.items()))
    figure = figure or data_dir / "demo" / "lab_timeline.png"
    window = _first_ion_shot(intervals)
    report.figure = plot_timeline(intervals, LAB_NODES, figure,
                                  f"three lab nodes: {pairs} NV-NV Bell pairs per basis, {rsp_shots} ion shots "
                                  f"({source})", window_ns=window)
    report.lines.append(f"timeline: {report.figure}")
    return report


def _first_ion_shot(intervals: list[Interval]) -> tuple[int, int] | None:
    """The zoom of the timeline: the ion's first local block after its first pair (the CNOT and the readout), with
    as much time on either side (the end of the pair's attempts before it)."""
    ent = [i.start_ns for i in intervals if i.node == "ion" and i.what.startswith("ENT")]
    after = min(ent, default=0)
    blocks = sorted((i.start_ns, i.end_ns) for i in intervals
                    if i.node == "ion" and not i.what.startswith("ENT") and i.start_ns >= after)
    if not blocks:
        return None
    start_ns, end_ns = blocks[0]
    span_ns = max(end_ns - start_ns, 1)
    return start_ns - span_ns, end_ns + span_ns


def _run(app: Any, network: Any, inputs: dict[str, dict[str, Any]], seed: int, report: LabDemoReport,
         data_dir: Path) -> tuple[list[Interval], int, dict[str, tuple[int, int]], dict[str, QDeviceSpec]]:
    from qlab_os.net.inprocess import InProcessNetwork, load_mains
    from qlab_os.qnpu.events import EventLog

    net = InProcessNetwork(network, seed=seed, timeout_s=600.0, role_nodes=app.role_nodes)
    logs = {name: EventLog() for name in net.nodes}
    for name, node in net.nodes.items():
        node.qnpu.events.subscribe(logs[name])
    try:
        outcomes = net.run_roles(load_mains(app), inputs, data_dir / "demo" / "logs")
    finally:
        net.close()
    names: dict[tuple[str, int], str] = {}
    intervals: list[Interval] = []
    for name, node in net.nodes.items():
        for p in [*node.qnpu.finished, *node.qnpu.processes.values()]:
            names[(name, p.pid)] = p.name
        intervals += running_intervals(logs[name].events, names)
        intervals += ent_intervals(name, node.stack.ent_log)
    for role, outcome in outcomes.items():
        if outcome.error is not None:
            report.errors[role] = outcome.error
        report.outcomes[role] = outcome.result
    link_stats = {link: (s.attempts, s.successes) for link, s in net.link_layer.stats.items()}
    return intervals, net.elapsed_ns(), link_stats, {name: node.qnpu.spec for name, node in net.nodes.items()}


def _compare(report: LabDemoReport, data_dir: Path, link_stats: dict[str, tuple[int, int]], network: Any,
             ion_spec: QDeviceSpec) -> None:
    """Fill ``report`` with the statistics against theory (see the module docstring)."""
    if report.errors:
        report.lines.append("errors: " + "; ".join(f"{r}: {e}" for r, e in report.errors.items()))
        return
    cal = {node: _calibration(data_dir, node) for node in LAB_NODES}
    ro = {node: readout_matrix(value(cal[node], "readout_fidelity_0"), value(cal[node], "readout_fidelity_1"))
          for node in ("nv_a", "nv_b")}
    nv_link = link_model("nv_link", ("nv_a", "nv_b"), cal)
    bell_a, bell_b = report.outcomes["nv_a"]["bell"], report.outcomes["nv_b"]["bell"]
    report.lines.append(f"NV-NV link (nv_a - nv_b): predicted delivered fidelity {nv_link.fidelity():.3f}, "
                        f"herald probability per attempt {nv_link.herald_probability:.3g}")
    for basis in bell_a:
        k = sum(a == b for a, b in zip(bell_a[basis], bell_b[basis], strict=True))
        report.checks.append(Check(f"nv_a/nv_b Bell pairs, P(equal) in {basis}", k, len(bell_a[basis]),
                                   loop_agreement(nv_link, basis, ro["nv_a"], ro["nv_b"])))
    models = {network.link_name("nv_a", "nv_b"): nv_link}
    # the detection's own errors (the spec's, from the calibration): the calibrated dark fidelity also holds the
    # dark state's preparation error, which the twin's INIT and pulse errors already carry
    ion_ro = readout_matrix(1.0 - ion_spec.readout_p_flip_0, 1.0 - ion_spec.readout_p_flip_1)
    shots = report.outcomes["ion"]["shots"]
    remote = network.link("nv_a", "ion") is not None
    rsp = report.outcomes["nv_a"]["rsp"] if remote else [0] * len(shots)
    if remote:
        nv_ion = link_model("nv_ion_link", ("nv_a", "ion"), cal)
        models[network.link_name("nv_a", "ion")] = nv_ion
        report.lines.append(f"NV-ion link (nv_a - ion): predicted delivered fidelity {nv_ion.fidelity():.3f}, "
                            f"herald probability per attempt {nv_ion.herald_probability:.3g}")
        arrivals = rsp_arrivals(nv_ion, ro["nv_a"])
    else:  # q0 = |+> made locally: "m" = 0
        arrivals = [[(1.0, None)], []]
    for basis in ("Z", "X"):
        mine = [(m0, m1, m) for (b, m0, m1), m in zip(shots, rsp, strict=True) if b == basis]
        k = sum((m0 == m1) if basis == "Z" else ((m0 ^ m1) == m) for m0, m1, m in mine)
        what = "q0 from nv_a by RSP" if remote else "q0 = |+> made locally"
        name = f"ion ({what}), CNOT, " + ("P(q0 = q1) in Z" if basis == "Z" else
                                          ("P(parity = nv_a's X) in X" if remote else "P(even parity) in X"))
        p = sum(p_m * (ion_agreement(ion_spec, basis, m, rho0, ion_ro) if rho0 is not SPECTATOR else
                       spectator_agreement(ion_spec, basis, m, ion_ro))
                for m, cases in enumerate(arrivals) for p_m, rho0 in cases)
        report.checks.append(Check(name, k, len(mine), p))
    for link, (attempts, successes) in sorted(link_stats.items()):
        model = models[link]
        report.lines.append(f"link {link}: {successes} pairs in {attempts} attempts: {successes / attempts:.3g} per "
                            f"attempt, theory {model.herald_probability:.3g}")
        # each heralded pair ended one attempt loop: the spread is that of loops of geometric length
        report.checks.append(Check(f"{link}: heralds per attempt", successes, attempts, model.herald_probability,
                                   model.herald_rate_sigma(successes) if successes else None))
    report.lines += [c.line() for c in report.checks]
