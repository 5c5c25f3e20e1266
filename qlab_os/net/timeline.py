"""The device timeline of a run: what each node's QDevice did, when, in virtual time; and its plot (PNG).

Read from the kernel's own records, after a round: each process's RUNNING intervals from its
:class:`~qlab_os.qnpu.events.ProcessEvent` s (a subroutine's quantum block holding the QDevice) and each node's
entanglement attempts from its network stack's ``ent_log`` (link, start, end). The plot has one row per node and
activity: local blocks per application and entanglement per link, as in QNodeOS's timeline figures.

Hand-written: the intervals are a pass over the event list; matplotlib's ``broken_barh`` draws them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qlab_os.qnpu.events import ProcessEvent
from qlab_os.qnpu.process import ProcessKind, ProcessState


@dataclass(frozen=True)
class Interval:
    """One stretch of QDevice activity on ``node``: ``what`` is an app's name (local block) or ``ENT <link>``."""

    node: str
    what: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def running_intervals(events: Iterable[ProcessEvent], names: Mapping[tuple[str, int], str] | None = None,
                      ) -> list[Interval]:
    """The RUNNING stretches of user processes (network processes show as ENT, from the stacks' logs).

    ``names`` maps (node, pid) to a label; by default ``pid <n>``."""
    started: dict[tuple[str, int], int] = {}
    out: list[Interval] = []
    for e in events:
        if e.kind is not ProcessKind.USER:
            continue
        key = (e.node, e.pid)
        if e.new is ProcessState.RUNNING:
            started.setdefault(key, e.time_ns)
        elif key in started:
            start = started.pop(key)
            label = (names or {}).get(key, f"pid {e.pid}")
            if e.time_ns > start:
                out.append(Interval(e.node, label, start, e.time_ns))
    return out


def ent_intervals(node: str, ent_log: Iterable[tuple[str, int, int]]) -> list[Interval]:
    """One interval per ENT (attempts until a herald or the limit) from a network stack's ``ent_log``."""
    return [Interval(node, f"ENT {link}", start, end) for link, start, end in ent_log if end > start]


def busy_fraction(intervals: Sequence[Interval], node: str, start_ns: int, end_ns: int) -> float:
    """The share of [start_ns, end_ns) in which ``node``'s QDevice was in one of ``intervals``."""
    if end_ns <= start_ns:
        return 0.0
    spans = sorted((max(i.start_ns, start_ns), min(i.end_ns, end_ns)) for i in intervals if i.node == node)
    busy, cursor = 0, start_ns
    for a, b in spans:
        a = max(a, cursor)
        if b > a:
            busy += b - a
            cursor = b
    return busy / (end_ns - start_ns)


def plot_timeline(intervals: Sequence[Interval], nodes: Sequence[str], path: Path, title: str,
                  window_ns: tuple[int, int] | None = None) -> Path:
    """Draw the intervals, one row per (node, activity), over the whole run and, if ``window_ns`` is given, a
    zoom on that window below it. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(node, what) for node in nodes for what in sorted({i.what for i in intervals if i.node == node})]
    colours = plt.get_cmap("tab10")
    kinds = sorted({what for _, what in rows})
    colour = {what: colours(k % 10) for k, what in enumerate(kinds)}
    panels = [None, window_ns] if window_ns is not None else [None]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.2 + 0.45 * len(rows) * len(panels)), squeeze=False)
    for ax, window in zip(axes[:, 0], panels, strict=True):
        for y, (node, what) in enumerate(rows):
            spans = [(i.start_ns / 1e6, i.duration_ns / 1e6) for i in intervals if i.node == node and i.what == what]
            ax.broken_barh(spans, (y - 0.35, 0.7), facecolors=colour[what], edgecolor="none")
        ax.set_yticks(range(len(rows)), [f"{node}: {what}" for node, what in rows])
        ax.invert_yaxis()
        ax.set_xlabel("virtual time (ms)")
        if window is not None:
            ax.set_xlim(window[0] / 1e6, window[1] / 1e6)
            ax.set_title(f"zoom: {window[0] / 1e6:.3f} to {window[1] / 1e6:.3f} ms", fontsize=9)
        else:
            ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
