"""``qlab-os run APP_DIR``: run an unmodified netqasm application on an in-process network, for N rounds.

Each round builds the network afresh from a seed derived from the run's seed and the round number, so a
round's result depends only on (seed, round): same seed, same results, whatever else ran before.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netqasm.logging.output import reset_struct_loggers, save_all_struct_loggers

from qlab_os.errors import QlabOSError
from qlab_os.net.app_folder import AppSpec
from qlab_os.net.config import NetworkConfig, default_network
from qlab_os.net.inprocess import (
    DEFAULT_ROUND_LIMIT_S,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WALL_TIMEOUT_S,
    InProcessNetwork,
    load_mains,
)
from qlab_os.net.instances import AppInstance
from qlab_os.net.metrics import RunStats
from qlab_os.qnpu.scheduler import DEFAULT_POLICY, make_policy

DEFAULT_SOURCE = "<default network>"
"""``NetworkConfig.source`` of a default network (one node per role, ideal links)."""


def round_seed(seed: int | None, round_index: int) -> int | None:
    return None if seed is None else (seed * 1_000_003 + round_index) % 2**63


@dataclass
class RunReport:
    app: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    """Per round: role -> what its main returned."""
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    """(round, role, error) for every role that failed."""
    wall_s: float = 0.0
    virtual_ns: list[int] = field(default_factory=list)
    """Per round: the latest clock at the end (how long the round took on the simulated network)."""
    pairs: int = 0
    messages: int = 0
    """Entangled pairs and classical messages of the whole network (with several apps: of all of them)."""
    output: str = ""
    """The last part of what the apps printed (bounded; see OUTPUT_TAIL_CHARS)."""
    interrupted: bool = False
    """Stopped early by Ctrl-C; ``rounds`` holds the rounds that finished."""
    stopped: str | None = None
    """Why the run stopped before its last round (a role that had to be abandoned), if it did."""


OUTPUT_TAIL_CHARS = 64 * 1024


class _Tail(io.StringIO):
    """Keeps only the last OUTPUT_TAIL_CHARS characters written (apps may print a lot, for many rounds)."""

    def write(self, text: str) -> int:
        n = super().write(text)
        if self.tell() > 2 * OUTPUT_TAIL_CHARS:
            keep = self.getvalue()[-OUTPUT_TAIL_CHARS:]
            self.seek(0)
            self.truncate()
            super().write(keep)
        return n


def run_app(app: AppSpec, *, rounds: int = 1, seed: int | None = None, ideal: bool = False,
            timeout_s: float = DEFAULT_TIMEOUT_S, log_dir: Path | None = None, capture_output: bool = True,
            on_round: Callable[[int], None] | None = None, round_limit_s: float = DEFAULT_ROUND_LIMIT_S,
            wall_timeout_s: float = DEFAULT_WALL_TIMEOUT_S, policy: str = DEFAULT_POLICY) -> RunReport:
    """Run ``rounds`` rounds. Ctrl-C stops the run after what has finished (``report.interrupted``)."""
    return run_apps([app], rounds=rounds, seed=seed, ideal=ideal, timeout_s=timeout_s, log_dir=log_dir,
                    capture_output=capture_output, on_round=on_round, round_limit_s=round_limit_s,
                    wall_timeout_s=wall_timeout_s, policy=policy)[0]


def shared_network(apps: Sequence[AppSpec]) -> NetworkConfig:
    """The one network several apps run on: theirs if they all have the same; the union of their nodes if each
    has the default (ideal) network; otherwise an error (pass one network file for all)."""
    first = apps[0].network
    if all(a.network == first for a in apps):
        return first
    if all(a.network.source == DEFAULT_SOURCE for a in apps):
        names = list(dict.fromkeys(n for a in apps for n in a.network.node_names))
        return default_network(names)
    listed = ", ".join(f"{a.name}: {a.network.source}" for a in apps)
    raise QlabOSError(f"the apps come with different networks ({listed}); pass one with --network")


def run_apps(apps: Sequence[AppSpec], *, instances: int = 1, rounds: int = 1, seed: int | None = None,
             ideal: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S, log_dir: Path | None = None,
             capture_output: bool = True, on_round: Callable[[int], None] | None = None,
             round_limit_s: float = DEFAULT_ROUND_LIMIT_S, wall_timeout_s: float = DEFAULT_WALL_TIMEOUT_S,
             policy: str = DEFAULT_POLICY, stats: RunStats | None = None,
             network: NetworkConfig | None = None) -> list[RunReport]:
    """Run several apps (each ``instances`` times) at once on one network, for ``rounds`` rounds; one report per
    app instance, in order (app 0 instance 0, app 0 instance 1, ...). ``stats``: per-node metrics are added to
    it every round. Ctrl-C stops the run after what has finished (``interrupted``)."""
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    if instances < 1:
        raise ValueError(f"--instances must be >= 1, got {instances}")
    if not apps:
        raise ValueError("no app to run")
    for name, value in (("--timeout", timeout_s), ("round limit", round_limit_s), ("wall timeout", wall_timeout_s)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")
    make_policy(policy)  # an unknown name fails before anything runs
    net_config = network or shared_network(apps)
    for app in apps:
        for role, node in app.role_nodes.items():
            if node not in net_config.node_names:
                raise QlabOSError(f"{app.name}: role {role} runs on node {node!r}, which is not in network "
                                  f"{net_config.name!r} (nodes: {', '.join(net_config.node_names)})")
    specs = [app for app in apps for _ in range(instances)]
    multi = len(specs) > 1
    names = [f"{app.name}#{k}" if multi else app.name for k, app in enumerate(specs)]
    # an instance's name matches its roles' keys in the network (role#k), so statistics line up
    mains = {id(app): load_mains(app) for app in apps}
    reports = [RunReport(app=name) for name in names]
    out = _Tail()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qlab-os-logs-")))
        if capture_output:
            stack.enter_context(contextlib.redirect_stdout(out))
        for r in range(rounds):
            folder = scratch if log_dir is None else log_dir / f"round{r:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            role_nodes = {} if multi else specs[0].role_nodes
            net = InProcessNetwork(net_config, seed=round_seed(seed, r), ideal=ideal, timeout_s=timeout_s,
                                   role_nodes=role_nodes, round_limit_s=round_limit_s,
                                   wall_timeout_s=wall_timeout_s, policy=policy, measure_fidelity=stats is not None)
            batch = [AppInstance(name, mains[id(app)], app.inputs, app.role_nodes)
                     for name, app in zip(names, specs, strict=True)]
            try:
                results = net.run_instances(batch, folder)
            except KeyboardInterrupt:
                for report in reports:
                    report.interrupted = True
                break
            finally:
                net.close()  # every node's instruments to their safe state, connections released
                # netqasm's app loggers buffer in a process-wide list until saved: save them (with a log
                # folder) or drop them, every round, so a long run does not accumulate them
                if log_dir is not None:
                    save_all_struct_loggers()
                reset_struct_loggers()
            for report, outcomes in zip(reports, results, strict=True):
                report.rounds.append({role: o.result for role, o in outcomes.items()})
                report.errors += [(r, role, o.error) for role, o in outcomes.items() if o.error is not None]
                report.virtual_ns.append(net.elapsed_ns())
            reports[0].pairs += net.link_layer.pairs_delivered
            reports[0].messages += net.messages_sent
            if stats is not None:
                stats.add_round(net)
            if on_round is not None:
                on_round(r)
            if net.scheduler.abandoned:  # its thread is still running app code: no further round can be trusted
                names_ = ", ".join(t.name for t in net.scheduler.abandoned)
                for report in reports:
                    report.stopped = f"round {r}: role {names_} never handed back, so the run stopped there"
                break
    wall_s = time.perf_counter() - start
    for report in reports:
        report.wall_s = wall_s
        report.output = out.getvalue()
    for report in reports[1:]:  # network-wide counts, shown once per run
        report.pairs, report.messages = reports[0].pairs, reports[0].messages
    return reports
