"""The QNPU scheduler: which process gets the QDevice next, on a virtual-time timeline.

The QDevice is one resource. A process asks for it when it submits a subroutine (or, for the network process,
when a time bin of its link opens); the scheduler grants it to one process at a time, non-preemptively: a
granted quantum block runs to its end or to a wait for entanglement, and no other process's instruction is
interleaved with it (QNodeOS's granularity). While a process waits (for entanglement, for its CNPU, for a
message), the device serves others, so busy time overlaps waiting time.

Which of the waiting requests goes first is a :class:`SchedulingPolicy`:

- :class:`FCFSPolicy`: first come, first served (the baseline);
- :class:`NetworkFirstPolicy` (the default): the network process first (it only ever asks inside its link's
  time bins, so user work gets the rest), then round-robin among user processes: the one served longest ago
  goes first, so an app that asks rarely is not queued behind one that asks all the time, and no process
  waits for more than one block of each other process. The network process also reserves the link bin it
  will use (:meth:`DeviceScheduler.reserve`): a user block that, by the length of that process's last block,
  would run into the bin waits for its end (or for the network to finish early), since a running block cannot
  be pre-empted. FCFS ignores reservations.

The scheduler decides; it does not run anything. The runtime (``qlab_os.net.inprocess``) asks
:meth:`DeviceScheduler.next_grant` when a request can start and calls :meth:`grant` / :meth:`release` around
the block. Hand-written: the decision is a few lines over the kernel's own process records; an OS-scheduling
library would need its own process model.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qlab_os.errors import QlabOSError
from qlab_os.qnpu.process import Process, ProcessKind, ProcessState


@dataclass(eq=False)
class DeviceRequest:
    """A process waiting for the QDevice."""

    process: Process
    arrival_ns: int
    seq: int
    """Order of arrival (ties of arrival_ns)."""

    @property
    def is_network(self) -> bool:
        return self.process.kind is ProcessKind.NETWORK


class SchedulingPolicy(Protocol):
    """Picks the next process among those whose request has arrived by ``now_ns``."""

    name: str
    keeps_link_bins: bool
    """Keep user blocks out of the link bins the network process has reserved (DeviceScheduler.reserve)."""

    def choose(self, candidates: Sequence[DeviceRequest], now_ns: int,
               last_served_ns: Callable[[Process], int]) -> DeviceRequest:
        """``candidates`` is never empty. ``last_served_ns(p)``: when ``p`` last got the device (-1: never)."""
        ...


class FCFSPolicy:
    """First come, first served, whoever asks (the baseline)."""

    name = "fcfs"
    keeps_link_bins = False
    """Whether user blocks are kept out of the network's reserved link bins (see DeviceScheduler.reserve)."""

    def choose(self, candidates: Sequence[DeviceRequest], now_ns: int,
               last_served_ns: Callable[[Process], int]) -> DeviceRequest:
        return min(candidates, key=lambda r: (r.arrival_ns, r.seq))


class NetworkFirstPolicy:
    """The network process first (inside its time bins), then round-robin among user processes."""

    name = "network-first"
    keeps_link_bins = True

    def choose(self, candidates: Sequence[DeviceRequest], now_ns: int,
               last_served_ns: Callable[[Process], int]) -> DeviceRequest:
        network = [r for r in candidates if r.is_network]
        if network:
            return min(network, key=lambda r: (r.arrival_ns, r.seq))
        return min(candidates, key=lambda r: (last_served_ns(r.process), r.arrival_ns, r.seq))


POLICIES: dict[str, type[FCFSPolicy] | type[NetworkFirstPolicy]] = {
    FCFSPolicy.name: FCFSPolicy,
    NetworkFirstPolicy.name: NetworkFirstPolicy,
}
DEFAULT_POLICY = NetworkFirstPolicy.name


def make_policy(name: str) -> SchedulingPolicy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise QlabOSError(f"unknown scheduling policy {name!r}; policies: {', '.join(POLICIES)}") from None


class DeviceScheduler:
    """The QDevice timeline of one node and the queue of processes waiting for it."""

    def __init__(self, policy: SchedulingPolicy | None = None) -> None:
        self.policy: SchedulingPolicy = policy or NetworkFirstPolicy()
        self.free_at_ns = 0
        """When the device is next free (the end of the last block granted)."""
        self.holder: Process | None = None
        self._queue: list[DeviceRequest] = []
        self._seq = 0
        # Per-process bookkeeping is keyed by the process object (identity hash), never by id(): a finished
        # process's id can be reused by a new one, which would inherit its last-served time.
        self._last_served: weakref.WeakKeyDictionary[Process, int] = weakref.WeakKeyDictionary()
        self.grants = 0
        self._reserved: dict[object, tuple[int, int]] = {}
        """Link bins the network process will use: owner -> [start, end) (see :meth:`reserve`)."""
        self._granted_at: weakref.WeakKeyDictionary[Process, int] = weakref.WeakKeyDictionary()
        self._block_ns: weakref.WeakKeyDictionary[Process, int] = weakref.WeakKeyDictionary()
        """Per process: the length of its last block, the estimate of its next one."""

    @property
    def queue(self) -> tuple[DeviceRequest, ...]:
        return tuple(self._queue)

    def request(self, process: Process, arrival_ns: int) -> DeviceRequest:
        if any(r.process is process for r in self._queue):
            raise QlabOSError(f"process {process.pid} already waits for the QDevice")
        req = DeviceRequest(process, arrival_ns, self._seq)
        self._seq += 1
        self._queue.append(req)
        return req

    def withdraw(self, request: DeviceRequest) -> None:
        if request in self._queue:
            self._queue.remove(request)

    def withdraw_process(self, process: Process) -> None:
        self._queue = [r for r in self._queue if r.process is not process]
        if self.holder is process:
            self.holder = None

    def reserve(self, owner: object, start_ns: int, end_ns: int) -> None:
        """The network process will take the device in the link bin [start_ns, end_ns) (it has a request to
        serve there). Under a policy that keeps link bins, a user block is not started if, by the length of that
        process's last block, it would run into the bin: it waits for the bin's end (or for the network to be
        done, :meth:`unreserve`). Blocks are non-preemptive, so this is the only way to give the link its bins."""
        self._reserved[owner] = (start_ns, end_ns)

    def unreserve(self, owner: object) -> None:
        self._reserved.pop(owner, None)

    def next_grant(self) -> tuple[DeviceRequest, int] | None:
        """The request the device goes to next and when, given what has arrived (None: held, or nobody asks).

        Side-effect free: the runtime calls it whenever it looks for the next event."""
        if self.holder is not None or not self._queue:
            return None
        start = max(self.free_at_ns, min(r.arrival_ns for r in self._queue))
        while True:
            candidates = [r for r in self._queue if r.arrival_ns <= start and self._fits(r, start)]
            if candidates:
                return self.policy.choose(candidates, start, self._last_served_ns), start
            # nobody may start now: the next arrival, or the end of the bin that keeps the waiting users out
            later = [r.arrival_ns for r in self._queue if r.arrival_ns > start]
            later += [end for begin, end in self._reserved.values() if end > start]
            start = min(later)

    def _fits(self, request: DeviceRequest, start_ns: int) -> bool:
        if request.is_network or not self.policy.keeps_link_bins or not self._reserved:
            return True
        block_end = max(start_ns + self._block_ns.get(request.process, 0), start_ns + 1)
        return not any(start_ns < end and begin < block_end for begin, end in self._reserved.values())

    def _last_served_ns(self, process: Process) -> int:
        return self._last_served.get(process, -1)

    def grant(self, request: DeviceRequest, start_ns: int) -> None:
        if self.holder is not None:
            raise QlabOSError(f"the QDevice is held by process {self.holder.pid}; it cannot go to "
                              f"process {request.process.pid} too")
        self.withdraw(request)
        self.holder = request.process
        self._last_served[request.process] = start_ns
        self._granted_at[request.process] = start_ns
        self.grants += 1

    def release(self, process: Process, end_ns: int) -> None:
        if self.holder is process:
            self.holder = None
            self.free_at_ns = max(self.free_at_ns, end_ns)
            self._block_ns[process] = end_ns - self._granted_at.get(process, end_ns)

    def waiting(self) -> list[Process]:
        return [r.process for r in self._queue if r.process.state is ProcessState.READY]
