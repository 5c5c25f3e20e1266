"""The seed's network on the simulated lab: two NV nodes and one trapped-ion node, every quantum instruction
through a QDriver, a QCoDeS station and physics-backed simulated instruments (``qlab-os demo``, docs/demo.md).

1. Each node is calibrated on a fresh lab (``qlab-os calibrate NODE all``): the drivers take their pulses and
   their spec from these files.
2. One program (qlab_os/examples/lab_demo) runs on the three nodes at once: Bell pairs between nv_a and nv_b
   over the NV-NV heralding station, measured at once in Z, X and Y; remote state preparation from nv_a onto the
   ion over the NV-ion station, used at once by a CNOT (from the Molmer-Sorensen gate) onto the ion's second
   ion and measured; classical messages between the nodes.
3. The outcome statistics are compared with theory: the single-click closed form
   (:mod:`qlab_os.lab.single_click`) from the link's constants and each node's calibrated readout; the ion's
   gates through its digital twin (:mod:`qlab_os.twin`: the circuit on the driver's calibrated spec); heralds per
   attempt against the predicted probability; rates, per-node QDevice utilisation and a timeline PNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from qlab_os.clock import VirtualClock
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.ion import debye_waller
from qlab_os.lab.calibrate.node import NODES_DIR, find_node_file, load_node
from qlab_os.lab.single_click import (
    BASIS_ROTATION,
    ComplexMatrix,
    LoopLink,
    Preparation,
    conditioned_half,
    loop_agreement,
    outcome_probabilities,
    readout_matrix,
)
from qlab_os.net.app_folder import load_app
from qlab_os.net.config import load_network
from qlab_os.net.timeline import Interval, busy_fraction, ent_intervals, plot_timeline, running_intervals
from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.registry import create_twin
from qlab_os.qdevice.spec import QDeviceSpec
from qlab_os.qnpu.gates import Gate
from qlab_os.qnpu.translator import Translator
from qlab_os.twin import Step, gate, init, predicted_state

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

    @property
    def measured(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def sigma(self) -> float:
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


def _value(cal: CalibrationFile, key: str) -> float:
    entry = cal.get(key)
    if entry is None:
        raise ConfigError(str(cal.path), f"parameters.{key}", f"missing: run qlab-os calibrate {cal.node} all")
    return entry.value


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
    ion = sorted((i.start_ns, i.end_ns) for i in intervals if i.node == "ion")
    window = (ion[0][0], ion[min(4, len(ion) - 1)][1]) if ion else None
    report.figure = plot_timeline(intervals, LAB_NODES, figure,
                                  f"three lab nodes: {pairs} NV-NV Bell pairs per basis, {rsp_shots} ion shots "
                                  f"({source})", window_ns=window)
    report.lines.append(f"timeline: {report.figure}")
    return report


def _physics() -> dict[str, Any]:
    text = resources.files("sim_instruments.lab").joinpath("physics.yaml").read_text()
    return dict(yaml.safe_load(text))


_THERMAL_TAIL = 1.0e-12
"""Phonon numbers are summed until the thermal distribution's remaining weight is below this."""


def link_model(station: str, nodes: tuple[str, str], cal: dict[str, CalibrationFile]) -> LoopLink:
    """The single-click closed form for ``station`` between ``nodes`` as attempt loops
    (:class:`~qlab_os.lab.single_click.LoopLink`), from the lab's constants (physics.yaml), the node setups' alpha
    and timings, and each node's calibration. The first node is the end that applies the Pauli correction: the one
    with the shorter pi pulse, an NV on both links here.

    Each node's preparations, drawn once per loop as the simulated lab does (docs/simulated-lab.md):

    - a failed reset (probability 1 - the init fidelity) leaves a spectator: an NV in ms=+1 (dark, |1>), an ion in
      S1/2(m=+1/2) (bright: it emits like |0>); later pulses do not drive it;
    - an NV's alpha pulse is exact (the calibrated Rabi frequency per volt at the calibrated pi pulse's length);
    - an ion's alpha pulse is the calibrated pi pulse's length at ``theta / pi`` of its amplitude: on phonon number
      n it rotates by ``2 pi Omega D_n t_pi`` (the calibration's thermal model: free-ion Rabi frequency per volt,
      ``motional_n_bar``, ``lamb_dicke_eta``, Debye-Waller factor ``D_n``); n is drawn by the INIT before the loop;
    - the superposition dephases from the middle of the alpha pulse to the end of the repetition (the herald), where
      the excitation ends the element: ``exp(-(t/T2*)^2 - t/T2)``, ``t = t_alpha / 2 + emit_s``. The time after
      the herald (the correction pulse, the analysis pulse: ~0.3 us on an NV) is left out (< 1 % of coherence).
    """
    physics = _physics()
    h = physics["heralding"]
    ends = []
    for node in nodes:
        setup = load_node(find_node_file(node))
        ent = setup.entanglement[station]  # checked by the driver that connected the link
        alpha = float(ent["alpha"])
        constants = physics[setup.platform]
        if setup.platform == "nv":
            pi_s = _value(cal[node], "pi_pulse_duration_s")
            f_init = float(constants["spin_init_fidelity"])
        else:
            pi_s = _value(cal[node], "pi_pulse_729_duration_s")
            f_init = float(constants["optical_pumping_fidelity"])
        t_s = pi_s / 2 + float(setup.timing["emit_s"])
        dephasing = math.exp(-((t_s / constants["t2_star_s"]) ** 2) - t_s / constants["t2_s"])
        if setup.platform == "nv":
            qubit = [Preparation(f_init, alpha, dephasing)]
            spectator = Preparation(1.0 - f_init, 0.0, 0.0, spectator=True)
        else:
            qubit = [Preparation(f_init * w, a, dephasing) for w, a in _ion_alphas(cal[node], alpha, pi_s)]
            spectator = Preparation(1.0 - f_init, 1.0, 0.0, spectator=True)
        ends.append([*qubit, spectator])
    coherence = math.sqrt(h["photon_indistinguishability"]) * math.exp(-0.5 * h["phase_noise_rad"] ** 2)
    return LoopLink.from_preparations((ends[0], ends[1]), h["detection_efficiency_a"], h["detection_efficiency_b"],
                                      h["dark_count_probability"], coherence, h["optical_phase_rad"])


def _ion_alphas(cal: CalibrationFile, alpha: float, pi_s: float) -> list[tuple[float, float]]:
    """(thermal weight, bright population) per phonon number n of the ion's alpha pulse (see :func:`link_model`)."""
    n_bar = _value(cal, "motional_n_bar")
    ratio = n_bar / (n_bar + 1.0)
    n_max = max(1, math.ceil(math.log(_THERMAL_TAIL) / math.log(ratio))) if ratio > 0 else 1
    weights = (1.0 - ratio) * ratio ** np.arange(n_max + 1)
    weights /= weights.sum()
    theta = 2.0 * math.acos(math.sqrt(alpha))
    amplitude_v = _value(cal, "pi_pulse_729_amplitude_v") * theta / math.pi
    omega_hz = _value(cal, "rabi_729_frequency_hz_per_volt") * amplitude_v
    angles = 2.0 * math.pi * omega_hz * debye_waller(_value(cal, "lamb_dicke_eta"), n_max) * pi_s
    return [(float(w), float(math.cos(a / 2) ** 2)) for w, a in zip(weights, angles, strict=True)]


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
    ro = {node: readout_matrix(_value(cal[node], "readout_fidelity_0"), _value(cal[node], "readout_fidelity_1"))
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
        arrivals = _rsp_arrivals(nv_ion, ro["nv_a"])
    else:  # q0 = |+> made locally: "m" = 0
        arrivals = [[(1.0, None)], []]
    for basis in ("Z", "X"):
        mine = [(m0, m1, m) for (b, m0, m1), m in zip(shots, rsp, strict=True) if b == basis]
        k = sum((m0 == m1) if basis == "Z" else ((m0 ^ m1) == m) for m0, m1, m in mine)
        what = "q0 from nv_a by RSP" if remote else "q0 = |+> made locally"
        name = f"ion ({what}), CNOT, " + ("P(q0 = q1) in Z" if basis == "Z" else
                                          ("P(parity = nv_a's X) in X" if remote else "P(even parity) in X"))
        p = sum(p_m * (_ion_agreement(ion_spec, basis, m, rho0, ion_ro) if rho0 is not SPECTATOR else
                       _spectator_agreement(ion_spec, basis, m, ion_ro))
                for m, cases in enumerate(arrivals) for p_m, rho0 in cases)
        report.checks.append(Check(name, k, len(mine), p))
    for link, (attempts, successes) in sorted(link_stats.items()):
        model = models[link]
        report.lines.append(f"link {link}: {successes} pairs in {attempts} attempts: {successes / attempts:.3g} per "
                            f"attempt, theory {model.herald_probability:.3g}")
        report.checks.append(Check(f"{link}: heralds per attempt", successes, attempts, model.herald_probability))
    report.lines += [c.line() for c in report.checks]


SPECTATOR = np.zeros((2, 2), dtype=np.complex128)
"""Marks an ion q0 that arrived as a spectator (a failed optical pumping: not a qubit state)."""


def _rsp_arrivals(link: LoopLink, nv_readout: npt.NDArray[np.float64]
                  ) -> list[list[tuple[float, ComplexMatrix | None]]]:
    """Per nv_a outcome m of its X measurement: (P(m and this case), the ion's q0 given it) over the delivered
    pairs' branches; the qubit cases are summed into one state (the ion's circuit is linear in it), a spectator q0
    is :data:`SPECTATOR`."""
    out: list[list[tuple[float, ComplexMatrix | None]]] = []
    for m in (0, 1):
        qubit = np.zeros((2, 2), dtype=np.complex128)
        p_qubit = p_spectator = 0.0
        for pair in link.delivered():
            p_m, half = conditioned_half(pair.state, "X", nv_readout, spectator=pair.spectators[0])[m]
            if pair.spectators[1]:
                p_spectator += pair.weight * p_m
            else:
                p_qubit += pair.weight * p_m
                qubit += pair.weight * p_m * half
        out.append([(p_qubit, qubit / p_qubit), (p_spectator, SPECTATOR)])
    return out


def _spectator_agreement(spec: QDeviceSpec, basis: str, m: int, readout: npt.NDArray[np.float64]) -> float:
    """P(the ion's shot agrees) when q0 arrived as a spectator: undriven, it reads bright (0); q1, initialised,
    sees the circuit's pulses on it, and the MS gate with one active ion is a global phase (its time passes);
    instructions on q0 alone are time passing. Agreement as in :func:`_ion_agreement`."""
    clock = VirtualClock()
    twin = create_twin(spec, clock=clock, seed=0)
    translator = Translator.for_spec(spec)
    lowered = list(translator.init(1)) + list(translator.gate(Gate.CNOT, (0, 1)))
    if basis == "X":
        lowered += list(translator.gate(Gate.H, (1,)))
    try:
        for instruction in lowered:
            if 0 in instruction.qubits:
                native = spec.native(instruction.op, instruction.qubits, instruction.axis)
                instruction = PhysicalInstruction(PhysicalOp.NONE, duration_ns=native.duration_ns if native else 0)
            clock.advance_ns(twin.execute(instruction).duration_ns)
        rho1 = twin.qubit_state((1,))
    finally:
        twin.close()
    assert rho1 is not None  # the twin driver always knows its state
    p1 = outcome_probabilities(rho1, (BASIS_ROTATION["Z"],), (readout,))
    p0_reads_0 = readout[0, 0]
    p = {(a, b): (p0_reads_0 if a == 0 else 1.0 - p0_reads_0) * float(p1[b]) for a in (0, 1) for b in (0, 1)}
    return float(sum(v for (a, b), v in p.items() if (a == b if basis == "Z" else (a ^ b) == m)))


def _ion_agreement(spec: QDeviceSpec, basis: str, m: int, q0: ComplexMatrix | None,
                   readout: npt.NDArray[np.float64]) -> float:
    """P(the ion's shot agrees) on the twin of its calibrated spec, as app_ion.py does it: q1 initialised, q0
    arrived in ``q0`` (or initialised and put in |+> by H), CNOT(q0 -> q1), both measured in ``basis`` (H first
    for X). Agreement: in Z the two read the same; in X their parity is m."""
    steps: list[Step] = [init(1), init(0)] + ([] if q0 is not None else [gate(Gate.H, 0)]) + [gate(Gate.CNOT, 0, 1)]
    if basis == "X":
        steps += [gate(Gate.H, 0), gate(Gate.H, 1)]
    rho = predicted_state(spec, steps, (0, 1), arrived={0: q0} if q0 is not None else None)
    identity = BASIS_ROTATION["Z"]
    p = outcome_probabilities(rho, (identity, identity), (readout, readout))
    return float(sum(p[a, b] for a in (0, 1) for b in (0, 1) if (a == b if basis == "Z" else (a ^ b) == m)))
