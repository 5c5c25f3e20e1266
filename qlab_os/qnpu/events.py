"""Process events of the QNPU: every state transition of a process, stamped with virtual time.

The kernel emits one :class:`ProcessEvent` per transition (a process is created, submits a subroutine, gets
the QDevice, blocks on entanglement, ends...). Subscribers are plain callables (:class:`EventSink`): tests
collect them with :class:`EventLog` and assert traces; a GUI can draw a timeline from the same stream. The
kernel never waits for a sink, and a sink must not call back into the kernel.

Hand-written: the record and the fan-out are a dozen lines; an event library would add a dependency to the
kernel for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from qlab_os.qnpu.process import ProcessKind, ProcessState


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """One transition of one process on one node."""

    time_ns: int
    """Virtual time of the transition (the node's device timeline, or the process's own time for requests)."""
    node: str
    pid: int
    kind: ProcessKind
    old: ProcessState | None
    """None when the process is created."""
    new: ProcessState
    reason: str = ""
    """Why, in words (e.g. ``subroutine 3 submitted``, ``wait_all @1: entanglement``, the error text)."""

    def short(self) -> tuple[int, str, int, str]:
        """(time_ns, node, pid, new state's value): the form traces are compared in."""
        return (self.time_ns, self.node, self.pid, self.new.value)


class EventSink(Protocol):
    """Anything that takes events: called synchronously, once per transition, in order."""

    def __call__(self, event: ProcessEvent) -> None: ...


class EventLog:
    """A sink that keeps every event (tests, ``--stats``, a GUI's history)."""

    def __init__(self) -> None:
        self.events: list[ProcessEvent] = []

    def __call__(self, event: ProcessEvent) -> None:
        self.events.append(event)

    def trace(self, node: str | None = None, pids: Iterable[int] | None = None) -> list[tuple[int, str, int, str]]:
        """The events as (time_ns, node, pid, state) tuples, optionally of one node and some processes."""
        wanted = None if pids is None else set(pids)
        return [e.short() for e in self.events
                if (node is None or e.node == node) and (wanted is None or e.pid in wanted)]


class EventBus:
    """Fan-out of events to subscribers (the QNPU owns one)."""

    def __init__(self) -> None:
        self._sinks: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def unsubscribe(self, sink: EventSink) -> None:
        self._sinks.remove(sink)

    @property
    def active(self) -> bool:
        return bool(self._sinks)

    def emit(self, event: ProcessEvent) -> None:
        for sink in self._sinks:
            sink(event)
