"""The summary ``qlab-os run`` prints: rounds, timing, failures, and per role the values its main returned."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from qlab_os.net.app_folder import AppSpec
from qlab_os.net.run import RunReport


def summarise(app: AppSpec, report: RunReport) -> str:
    n = len(report.rounds)
    failed_rounds = len({r for r, _, _ in report.errors})
    lines = [
        f"app {report.app}: {n} round(s) on {len(app.network.nodes)} node(s) "
        f"({', '.join(f'{r}@{app.role_nodes[r]}' for r in app.roles)})",
        f"  wall time {report.wall_s:.3f} s ({1e3 * report.wall_s / max(n, 1):.2f} ms per round); virtual time "
        f"per round {statistics.mean(report.virtual_ns) / 1e6:.3f} ms (mean)",
        f"  entangled pairs {report.pairs}, classical messages {report.messages}, failed rounds {failed_rounds}",
    ]
    for role in app.roles:
        values = [rnd.get(role) for rnd in report.rounds]
        lines.append(f"  {role}: {_describe(values)}")
    return "\n".join(lines)


def _describe(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "returned nothing"
    if all(isinstance(v, dict) for v in present):
        keys = sorted({k for v in present for k in v}, key=repr)  # keys of any type
        return "; ".join(f"{k}: {_describe([v.get(k) for v in present])}" for k in keys)
    if all(isinstance(v, bool | int | float) and not isinstance(v, bool) for v in present) and len(present) > 1:
        return f"mean {statistics.mean(present):.4g} over {len(present)}"
    counts = Counter(_short(repr(v)) for v in present)
    if len(counts) <= 4:
        return ", ".join(f"{value} x{count}" for value, count in counts.most_common())
    return f"{len(counts)} distinct values over {len(present)} rounds"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
