"""Serving a link in its TDMA time bins: the network processes of both ends take their QDevices in each link bin.

For a link with a schedule (:mod:`qlab_os.net.schedule`), the in-process link layer does not attempt by itself:
when it has matched requests, it wakes this server, which runs as a task of the cooperative scheduler (so it
meets the roles in virtual-time order) until no request is left:

1. wait for the next link bin that still has room for one attempt, and for a free communication qubit at both
   ends (a kept pair needs its virtual qubit free too);
2. the network process of each end asks its node's QDevice scheduler for the device (priority under the
   default policy; a user block already running ends first: scheduling is non-preemptive);
3. one ENT per end, with at most the attempts that fit in what is left of the bin; a herald after the bin's
   end is thrown away and both qubits are re-initialised;
4. both devices go back to user processes; a delivered pair wakes the apps, otherwise the request goes on in
   the next link bin. A request that is not served ``epr_timeout_ns`` after it was matched fails at both ends
   with an error naming the request and the remote node.

Hand-written: it is the kernel's own network-process loop over its own scheduler and link layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qlab_os.clock import VirtualClock
from qlab_os.net.config import LinkConfig
from qlab_os.net.link_layer import InProcessLinkLayer, max_time_ns
from qlab_os.qnpu.network_stack import EprRequest
from qlab_os.qnpu.process import ProcessState

if TYPE_CHECKING:
    from qlab_os.cnpu.scheduler import Scheduler
    from qlab_os.net.inprocess import Node

_FOREVER_NS = 2**62


def describe_request(req: EprRequest, remote_node: str) -> str:
    """How an app recognises its request: which call, socket, pair count and peer."""
    call = "create_epr" if req.creator else "recv_epr"
    return (f"{call} on EPR socket {req.epr_socket_id} ({req.num_pairs} pair(s), {req.pairs_done} delivered) "
            f"with node {remote_node}")


class TdmaLinkServer:
    """Serves every scheduled link of one in-process network, one task per link while it has requests."""

    def __init__(self, scheduler: Scheduler, link_layer: InProcessLinkLayer, nodes_by_id: dict[int, Node],
                 links: dict[str, LinkConfig], epr_timeout_ns: int) -> None:
        self.scheduler = scheduler
        self.link_layer = link_layer
        self.nodes_by_id = nodes_by_id
        self.links = {name: lk for name, lk in links.items() if lk.schedule is not None}
        self.epr_timeout_ns = epr_timeout_ns
        self.bins_used: dict[str, int] = {name: 0 for name in self.links}
        """Per link: bins in which its ends attempted."""
        self._running: set[str] = set()

    def wake(self, link: str) -> None:
        """The link layer has matched requests on ``link``: start its task unless it runs already."""
        if link in self._running:
            return
        pairs = self.link_layer.tdma_pairs(link)
        if not pairs:
            return
        self._running.add(link)
        start = max(max(c.submitted_ns, r.submitted_ns) for c, r in pairs)
        clock = VirtualClock(start)
        self.scheduler.spawn(f"network {link}", lambda: self._serve(link, clock), clock)

    def _serve(self, link: str, clock: VirtualClock) -> None:
        try:
            while True:
                pairs = self.link_layer.tdma_pairs(link)
                if not pairs:
                    return
                self._one_bin(link, clock, *pairs[0])
        finally:
            self._running.discard(link)

    def _active(self, create: EprRequest, recv: EprRequest) -> bool:
        return (create, recv) in self.link_layer.tdma_pairs(self.link_name(create, recv))

    def link_name(self, create: EprRequest, recv: EprRequest) -> str:
        return self.link_layer.link_names[frozenset((create.node_id, recv.node_id))]

    def _one_bin(self, link: str, clock: VirtualClock, create: EprRequest, recv: EprRequest) -> None:
        config = self.links[link]
        schedule = config.schedule
        assert schedule is not None
        ends = (self.nodes_by_id[create.node_id], self.nodes_by_id[recv.node_id])
        timeout = max_time_ns(create) or self.epr_timeout_ns
        deadline = max(create.pair_since_ns, recv.pair_since_ns) + timeout
        now = clock.now_ns()
        bin_start, bin_end = schedule.bin_at_or_after(now, config.attempt_duration_ns)
        if bin_start >= deadline:
            self._time_out(create, recv, ends)
            return
        if self.link_layer.can_take(create, recv):  # the bin will be used: keep user blocks out of it
            for node in ends:
                node.device.reserve(link, bin_start, bin_end)
        try:
            self._in_bin(link, clock, create, recv, ends, bin_start, bin_end, deadline)
        finally:
            for node in ends:
                node.device.unreserve(link)

    def _in_bin(self, link: str, clock: VirtualClock, create: EprRequest, recv: EprRequest, ends: tuple[Node, Node],
                bin_start: int, bin_end: int, deadline: int) -> None:
        config = self.links[link]
        now = clock.now_ns()

        def ready_at() -> int | None:
            if not self._active(create, recv):
                return clock.now_ns()
            return bin_start if self.link_layer.can_take(create, recv) else None

        what = f"network process of link {link}: waits for its next time bin and a free communication qubit"
        if not self.scheduler.wait_until(ready_at, deadline - now, what):
            self._time_out(create, recv, ends)
            return
        if not self._active(create, recv):
            return
        held: list[Node] = []
        try:
            for node in ends:
                self._acquire(node, clock, link)
                held.append(node)
            start = max([bin_start, clock.now_ns()] + [n.clock.now_ns() for n in ends])
            if not self._active(create, recv) or start + config.attempt_duration_ns > bin_end:
                clock.advance_to_ns(max(clock.now_ns(), bin_end))  # the bin was used up by local work
                return
            for node in ends:
                node.clock.advance_to_ns(start)
                node.qnpu.transition(node.qnpu.network_process, ProcessState.RUNNING, start,
                                     f"time bin of link {link} [{bin_start}, {bin_end}) ns")
            self.bins_used[link] += 1
            self.link_layer.attempt_in_bin(create, recv, bin_end)
        finally:
            for node in held:
                node.device.unreserve(link)
                self._release(node)
        clock.advance_to_ns(max([clock.now_ns(), bin_end] + [n.clock.now_ns() for n in ends]))

    def _acquire(self, node: Node, clock: VirtualClock, link: str) -> None:
        """The node's QDevice for its network process (after another link of the node is done with it)."""
        device, process = node.device, node.qnpu.network_process

        def network_free() -> int | None:
            busy = device.holder is process or any(r.process is process for r in device.queue)
            return None if busy else clock.now_ns()

        if network_free() is None:
            self.scheduler.wait_until(network_free, _FOREVER_NS, f"link {link} on {node.name}: waits for the "
                                                                 "node's network process")
        node.qnpu.transition(process, ProcessState.READY, clock.now_ns(), f"time bin of link {link}")
        request = device.request(process, clock.now_ns())

        def granted() -> int | None:
            grant = device.next_grant()
            return grant[1] if grant is not None and grant[0] is request else None

        try:
            self.scheduler.wait_until(granted, _FOREVER_NS, f"link {link} on {node.name}: waits for the QDevice")
        except BaseException:
            device.withdraw(request)
            raise
        grant = device.next_grant()
        assert grant is not None and grant[0] is request, "the device went to another process"
        start = max(grant[1], node.clock.now_ns())
        device.grant(request, start)
        node.clock.advance_to_ns(start)

    @staticmethod
    def _release(node: Node) -> None:
        process, now = node.qnpu.network_process, node.clock.now_ns()
        node.qnpu.transition(process, ProcessState.IDLE, now)
        node.device.release(process, now)

    def _time_out(self, create: EprRequest, recv: EprRequest, ends: tuple[Node, Node]) -> None:
        own = max_time_ns(create)
        seconds = (own or self.epr_timeout_ns) / 1e9
        source = "the request's max_time" if own else "the run's timeout"
        reason = (f"EPR request timed out after {seconds:g} s (virtual; {source}, qlink ErrorCode.TIMEOUT) on link "
                  f"{self.link_name(create, recv)}: {describe_request(create, ends[1].name)} / "
                  f"{describe_request(recv, ends[0].name)}; {create.attempts_used} attempts in its time bins, "
                  "no herald")
        self.link_layer.fail_request(create, recv, reason)


def scheduled_callbacks(server: TdmaLinkServer) -> dict[str, Callable[[str], None]]:
    """The link layer's ``scheduled`` map: every scheduled link wakes the server."""
    return {name: server.wake for name in server.links}
