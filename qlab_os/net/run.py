"""``qlab-os run APP_DIR``: run an unmodified netqasm application on an in-process network, for N rounds.

Each round builds the network afresh from a seed derived from the run's seed and the round number, so a
round's result depends only on (seed, round): same seed, same results, whatever else ran before.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netqasm.logging.output import reset_struct_loggers, save_all_struct_loggers

from qlab_os.net.app_folder import AppSpec
from qlab_os.net.inprocess import DEFAULT_TIMEOUT_S, InProcessNetwork, RoleOutcome, load_mains


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
    """Per round: the latest node clock at the end (how long the round took on the simulated network)."""
    pairs: int = 0
    messages: int = 0
    output: str = ""


def run_app(app: AppSpec, *, rounds: int = 1, seed: int | None = None, ideal: bool = False,
            timeout_s: float = DEFAULT_TIMEOUT_S, log_dir: Path | None = None, capture_output: bool = True,
            on_round: Callable[[int], None] | None = None) -> RunReport:
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    mains = load_mains(app)
    report = RunReport(app=app.name)
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qlab-os-logs-")))
        if capture_output:
            stack.enter_context(contextlib.redirect_stdout(out))
        for r in range(rounds):
            folder = scratch if log_dir is None else log_dir / f"round{r:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            net = InProcessNetwork(app.network, seed=round_seed(seed, r), ideal=ideal, timeout_s=timeout_s,
                                   role_nodes=app.role_nodes)
            try:
                outcomes: dict[str, RoleOutcome] = net.run_roles(mains, app.inputs, folder)
            finally:
                # netqasm's app loggers buffer in a process-wide list until saved: save them (with a log
                # folder) or drop them, every round, so a long run does not accumulate them
                if log_dir is not None:
                    save_all_struct_loggers()
                reset_struct_loggers()
            report.rounds.append({role: o.result for role, o in outcomes.items()})
            report.errors += [(r, role, o.error) for role, o in outcomes.items() if o.error is not None]
            report.virtual_ns.append(max(n.clock.now_ns() for n in net.nodes.values()))
            report.pairs += net.link_layer.pairs_delivered
            report.messages += net.messages_sent
            if on_round is not None:
                on_round(r)
    report.wall_s = time.perf_counter() - start
    report.output = out.getvalue()
    return report
