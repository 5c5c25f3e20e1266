"""The network part of ``qlab-os demo``: netqasm's own example apps, unmodified, on in-process networks.

- two nodes: ``apps/teleport`` teleports R_z(phi) R_y(theta)|0>; mean fidelity against (2F+1)/3 for a link
  delivering Werner pairs of fidelity F;
- three nodes: ``apps/chsh``, the CHSH game played by alice and bob through a repeater that swaps
  entanglement; win rate against 1/2 + (sqrt2/4) w1 w2, with w = (4F-1)/3 the Werner weight of each link.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from importlib import resources
from pathlib import Path
from typing import Any

from qlab_os.net.app_folder import AppSpec, load_app
from qlab_os.net.config import NetworkConfig, parse_network
from qlab_os.net.run import run_app


def example_app(name: str) -> AppSpec:
    return load_app(Path(str(resources.files("netqasm.examples.apps").joinpath(name))))


def network(nodes: list[str], fidelity: float, device: str = "sim-generic") -> NetworkConfig:
    links = [{"between": [a, b], "preset": "ideal", "fidelity": fidelity, "success_probability": 1.0e-3,
              "attempt_duration_ns": 3800}
             for i, a in enumerate(nodes) for b in nodes[i + 1:]]
    return parse_network({"name": f"demo-F{fidelity}", "nodes": [{"name": n, "device": device} for n in nodes],
                          "links": links}, source="<demo network>")


def _mean_sem(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    sem = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, sem


def teleport_lines(rounds: int, seed: int) -> list[str]:
    app = example_app("teleport")
    phi, theta = math.pi / 3, 2 * math.pi / 5
    lines = [f"two nodes: netqasm apps/teleport (unmodified), state R_z({phi:.3f}) R_y({theta:.3f})|0>, "
             f"{rounds} rounds each"]
    for f in (1.0, 0.9, 0.8):
        spec = dataclasses.replace(app, network=network(list(app.role_nodes.values()), f),
                                   inputs={**app.inputs, "sender": {"phi": phi, "theta": theta}})
        report = run_app(spec, rounds=rounds, seed=seed)
        fid = [float(r["receiver"]["fidelity"]) for r in report.rounds if r.get("receiver")]
        mean, sem = _mean_sem(fid)
        theory = (2 * f + 1) / 3
        lines.append(f"  link fidelity {f:.2f}: teleport fidelity {mean:.3f} +- {sem:.3f} (theory {theory:.3f})"
                     f"; {1e3 * report.wall_s / rounds:.1f} ms wall and "
                     f"{statistics.fmean(report.virtual_ns) / 1e6:.2f} ms network time per round; "
                     f"{len(report.errors)} errors")
    return lines


def chsh_lines(rounds_per_input: int, seed: int) -> list[str]:
    app = example_app("chsh")
    lines = [f"three nodes: netqasm apps/chsh (unmodified), CHSH game through a repeater, "
             f"{4 * rounds_per_input} rounds each"]
    for f in (1.0, 0.9):
        net = network(["alice", "bob", "repeater"], f)
        wins: list[float] = []
        errors = 0
        for x in (0, 1):
            for y in (0, 1):
                spec = dataclasses.replace(app, network=net, role_nodes={r: r for r in app.roles},
                                           inputs={**app.inputs, "alice": {"x": x}, "bob": {"y": y}})
                report = run_app(spec, rounds=rounds_per_input, seed=seed + 2 * x + y)
                errors += len(report.errors)
                wins += [float((r["alice"]["a"] ^ r["bob"]["b"]) == (x & y)) for r in report.rounds
                         if _both(r)]
        mean, sem = _mean_sem(wins)
        w = (4 * f - 1) / 3
        theory = 0.5 + math.sqrt(2) / 4 * w * w
        lines.append(f"  link fidelity {f:.2f}: win rate {mean:.3f} +- {sem:.3f} (theory {theory:.3f}; "
                     f"classical best 0.750); {errors} errors")
    return lines


def _both(r: dict[str, Any]) -> bool:
    return isinstance(r.get("alice"), dict) and isinstance(r.get("bob"), dict)
