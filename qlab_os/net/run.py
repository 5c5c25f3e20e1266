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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netqasm.logging.output import reset_struct_loggers, save_all_struct_loggers

from qlab_os.net.app_folder import AppSpec
from qlab_os.net.inprocess import (
    DEFAULT_ROUND_LIMIT_S,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WALL_TIMEOUT_S,
    InProcessNetwork,
    RoleOutcome,
    load_mains,
)


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
            wall_timeout_s: float = DEFAULT_WALL_TIMEOUT_S) -> RunReport:
    """Run ``rounds`` rounds. Ctrl-C stops the run after what has finished (``report.interrupted``)."""
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    for name, value in (("--timeout", timeout_s), ("round limit", round_limit_s), ("wall timeout", wall_timeout_s)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")
    mains = load_mains(app)
    report = RunReport(app=app.name)
    out = _Tail()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qlab-os-logs-")))
        if capture_output:
            stack.enter_context(contextlib.redirect_stdout(out))
        for r in range(rounds):
            folder = scratch if log_dir is None else log_dir / f"round{r:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            net = InProcessNetwork(app.network, seed=round_seed(seed, r), ideal=ideal, timeout_s=timeout_s,
                                   role_nodes=app.role_nodes, round_limit_s=round_limit_s,
                                   wall_timeout_s=wall_timeout_s)
            try:
                outcomes: dict[str, RoleOutcome] = net.run_roles(mains, app.inputs, folder)
            except KeyboardInterrupt:
                report.interrupted = True
                break
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
            if net.scheduler.abandoned:  # its thread is still running app code: no further round can be trusted
                names = ", ".join(t.name for t in net.scheduler.abandoned)
                report.stopped = f"round {r}: role {names} never handed back, so the run stopped there"
                break
    report.wall_s = time.perf_counter() - start
    report.output = out.getvalue()
    return report
