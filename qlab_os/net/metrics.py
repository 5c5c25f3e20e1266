"""Per-node metrics of a run: QDevice utilisation, waiting times, subroutine latency, entanglement.

Read from the kernel's own records at the end of each round (the QDriver's busy time as the executor counts
it, each process's accumulated state times, the link layer's counters) and summed over rounds. Utilisation is
device busy time over elapsed virtual time; busy time includes entanglement attempts (the device is doing
them).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qlab_os.qnpu.process import Process, ProcessKind

if TYPE_CHECKING:
    from qlab_os.net.inprocess import InProcessNetwork


@dataclass
class ProcessStats:
    """One process (a role of an app instance, or the network process), summed over rounds."""

    subroutines: int = 0
    ready_wait_ns: int = 0
    """Waiting for the QDevice with a subroutine submitted."""
    entanglement_wait_ns: int = 0
    busy_ns: int = 0
    latencies_ns: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        lat = self.latencies_ns
        return {"subroutines": self.subroutines, "ready_wait_ns": self.ready_wait_ns,
                "entanglement_wait_ns": self.entanglement_wait_ns, "busy_ns": self.busy_ns,
                "mean_subroutine_latency_ns": statistics.mean(lat) if lat else None,
                "max_subroutine_latency_ns": max(lat) if lat else None}


@dataclass
class LinkStatsSum:
    """One link seen from one of its ends, summed over rounds."""

    attempts: int = 0
    successes: int = 0
    bins_used: int | None = None
    """TDMA bins in which the ends attempted (None: the link has no schedule)."""

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "successes": self.successes, "bins_used": self.bins_used}


@dataclass
class NodeStats:
    busy_ns: int = 0
    elapsed_ns: int = 0
    attempts: int = 0
    successes: int = 0
    fidelities: list[float] = field(default_factory=list)
    processes: dict[str, ProcessStats] = field(default_factory=dict)
    links: dict[str, LinkStatsSum] = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        return self.busy_ns / self.elapsed_ns if self.elapsed_ns else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"utilisation": self.utilisation, "device_busy_ns": self.busy_ns, "elapsed_ns": self.elapsed_ns,
                "entanglement_attempts": self.attempts, "entanglement_successes": self.successes,
                "mean_delivered_fidelity": statistics.mean(self.fidelities) if self.fidelities else None,
                "processes": {name: p.to_json() for name, p in sorted(self.processes.items())},
                "links": {name: lk.to_json() for name, lk in sorted(self.links.items())}}


@dataclass
class RunStats:
    nodes: dict[str, NodeStats] = field(default_factory=dict)

    def add_round(self, net: InProcessNetwork) -> None:
        elapsed = net.elapsed_ns()
        for name, node in net.nodes.items():
            ns = self.nodes.setdefault(name, NodeStats())
            ns.busy_ns += node.qnpu.executor.stats.device_busy_ns
            ns.elapsed_ns += elapsed
            for link, lk in net.link_layer.stats.items():
                if name in link.split("--"):
                    ns.attempts += lk.attempts
                    ns.successes += lk.successes
                    ns.fidelities += lk.fidelities
                    per_link = ns.links.setdefault(link, LinkStatsSum())
                    per_link.attempts += lk.attempts
                    per_link.successes += lk.successes
                    if link in net.tdma.bins_used:  # scheduled links only
                        per_link.bins_used = (per_link.bins_used or 0) + net.tdma.bins_used[link]
            for process in [*node.qnpu.finished, *node.qnpu.processes.values(), node.qnpu.network_process]:
                _add_process(ns, process)

    def to_json(self) -> dict[str, Any]:
        return {name: n.to_json() for name, n in sorted(self.nodes.items())}

    def format(self) -> str:
        lines = ["per node (summed over rounds):"]
        for name, n in sorted(self.nodes.items()):
            fid = f"{statistics.mean(n.fidelities):.4f}" if n.fidelities else "-"
            lines.append(f"  {name}: QDevice utilisation {n.utilisation:.3f} (busy {n.busy_ns / 1e6:.3f} ms of "
                         f"{n.elapsed_ns / 1e6:.3f} ms); entanglement attempts {n.attempts}, successes "
                         f"{n.successes}, mean delivered fidelity {fid}")
            for link, lk in sorted(n.links.items()):
                bins = f", in {lk.bins_used} TDMA bin(s)" if lk.bins_used is not None else ""
                lines.append(f"    link {link}: {lk.attempts} attempts, {lk.successes} pairs{bins}")
            for pname, p in sorted(n.processes.items()):
                if pname == "network" and not p.busy_ns:
                    continue
                lat = f"{statistics.mean(p.latencies_ns) / 1e3:.1f} us" if p.latencies_ns else "-"
                lines.append(f"    {pname}: {p.subroutines} subroutine(s), waited for the QDevice "
                             f"{p.ready_wait_ns / 1e3:.1f} us, for entanglement {p.entanglement_wait_ns / 1e3:.1f} "
                             f"us, busy {p.busy_ns / 1e3:.1f} us, mean latency {lat}")
        return "\n".join(lines)


def _add_process(ns: NodeStats, process: Process) -> None:
    name = "network" if process.kind is ProcessKind.NETWORK else process.name
    ps = ns.processes.setdefault(name, ProcessStats())
    m = process.metrics
    ps.subroutines += process.subroutines_run
    ps.ready_wait_ns += m.ready_wait_ns
    ps.entanglement_wait_ns += m.entanglement_wait_ns
    ps.busy_ns += m.busy_ns
    ps.latencies_ns += m.subroutine_latencies_ns
