"""The in-process link layer: matches create_epr of one node with recv_epr of its peer and makes the pairs.

Both nodes' clocks are first brought to a common start (the later of the two: the earlier node idles), then
each node's network stack issues ENT on its own QDriver, back to back, on the link's name; the drivers'
link model decides how many attempts it took and what state was delivered. Results go into both apps'
arrays in netqasm's layout. Measure-directly halves (M requests, and the creator's half of R) are rotated
into the requested basis and measured at once, then freed.

Random measurement bases (netqasm's ``RandomBasis``, after the QLink interface): XZ draws Z or X, XYZ draws Z,
X or Y; CHSH draws Z or X for the creator's half and (Z+X)/sqrt2 or (Z-X)/sqrt2 for the receiver's. The drawn
basis is reported in the MEASUREMENT_BASIS field as netqasm's ``Basis`` value. Draws come from the round's
seeded generator.

A failure (no link between the nodes, no herald within the link's maximum attempts, mismatched pair counts)
fails both requests with the same clear reason.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from netqasm.sdk.build_epr import SerializedCreateRequestIndex as Arg

from qlab_os.clock import VirtualClock
from qlab_os.errors import QlabOSError
from qlab_os.net.instances import instance_of
from qlab_os.qnpu.network_stack import (
    EPR_TYPE_K,
    EPR_TYPE_M,
    EPR_TYPE_R,
    EntanglementError,
    EprRequest,
    QubitBusy,
)
from qlab_os.qnpu.process import NETWORK_PID

_Key = tuple[int, int, int, int, str]
"""(creator node, creator socket, receiver node, receiver socket, app instance tag): what must agree to match."""


def match_key(request: EprRequest) -> _Key:
    """What ``request`` must share with its peer request to match (requests never match across app instances)."""
    if request.creator:
        return (request.node_id, request.epr_socket_id, request.remote_node_id, request.remote_epr_socket_id,
                instance_of(request.process.name))
    return (request.remote_node_id, request.remote_epr_socket_id, request.node_id, request.epr_socket_id,
            instance_of(request.process.name))


@dataclass
class LinkStats:
    """Entanglement on one link in one round."""

    attempts: int = 0
    successes: int = 0
    fidelities: list[float] = field(default_factory=list)
    """Fidelity of each delivered pair with its Bell state, right after the herald (simulated nodes only)."""


def _distinct_qubits(req: EprRequest) -> int:
    """How many qubits a keep request holds at once: its distinct virtual ids (a sequential request reuses one)."""
    if req.q_array_address is None:
        return 1
    ids = req.process.arrays.get(req.q_array_address) or []
    return max(1, len({v for v in ids[: req.num_pairs] if v is not None}))
"""(creator node, creator EPR socket, receiver node, receiver EPR socket)"""


_TIME_UNIT_NS = {0: 1_000, 1: 1_000_000, 2: 1_000_000_000}
"""netqasm.qlink_compat.TimeUnit: MICRO_SECONDS, MILLI_SECONDS, SECONDS."""


def max_time_ns(create: EprRequest) -> int | None:
    """The request's own timeout per pair (netqasm's ``create_keep(max_time=..., time_unit=...)``), or None."""
    max_time = create.arg(Arg.MAX_TIME)
    if max_time <= 0:
        return None
    return max_time * _TIME_UNIT_NS.get(create.arg(Arg.TIME_UNIT), 1_000)


_BASIS_Z, _BASIS_X, _BASIS_Y, _BASIS_ZPLUSX, _BASIS_ZMINUSX = 0, 1, 2, 3, 4
"""netqasm.qlink_compat.Basis values."""
_BASIS_ROTATIONS = {  # XYX rotations in units of pi/16 that turn the basis into Z (its +1 state into |0>)
    _BASIS_Z: (0, 0, 0),
    _BASIS_X: (0, -8, 0),
    _BASIS_Y: (8, 0, 0),
    _BASIS_ZPLUSX: (0, -4, 0),
    _BASIS_ZMINUSX: (0, 4, 0),
}
_BELL_VECTORS = [np.array(v, dtype=complex) / np.sqrt(2) for v in
                 ((1, 0, 0, 1), (0, 1, 1, 0), (0, 1, -1, 0), (1, 0, 0, -1))]
"""Phi+, Psi+, Psi-, Phi- (netqasm's order) on (this qubit, its partner)."""
_RANDOM_XZ, _RANDOM_XYZ, _RANDOM_CHSH = 1, 2, 3
"""netqasm.qlink_compat.RandomBasis values."""


class InProcessLinkLayer:
    def __init__(self, clocks: Mapping[int, VirtualClock], link_names: Mapping[frozenset[int], str],
                 rng: random.Random | None = None, attempt_ns: Mapping[str, int] | None = None,
                 measure_fidelity: bool = False, scheduled: Mapping[str, Callable[[str], None]] | None = None,
                 max_attempts: Mapping[str, int] | None = None,
                 fidelity: Mapping[str, float] | None = None) -> None:
        self.rng = rng or random.Random(0)
        self.scheduled = dict(scheduled or {})
        """Per link name with a TDMA schedule: called when that link has matched requests to serve. The
        runtime then serves them bin by bin (:meth:`tdma_pairs`, :meth:`attempt_in_bin`); this class never
        attempts on such a link by itself."""
        self.fidelity = dict(fidelity or {})
        """Per link name: the fidelity its pairs are delivered with (to check EPR sockets' min_fidelity)."""
        self.max_attempts = dict(max_attempts or {})
        """Per scheduled link: attempts a request may use over all its bins before it fails."""
        self.attempt_ns = dict(attempt_ns or {})
        """Per link name: one attempt's duration (to count attempts from an ENT's duration)."""
        self.measure_fidelity = measure_fidelity
        self.stats: dict[str, LinkStats] = defaultdict(LinkStats)
        self.clocks = dict(clocks)
        self.link_names = dict(link_names)
        self._creates: dict[_Key, deque[EprRequest]] = defaultdict(deque)
        self._recvs: dict[_Key, deque[EprRequest]] = defaultdict(deque)
        self._next_create_id = 0
        self.pairs_delivered = 0
        self._active: list[tuple[EprRequest, EprRequest]] = []
        """Matched requests with pairs still to make (they wait for a qubit to be freed)."""
        self._serving = False
        self._cancelled: dict[tuple[_Key, bool], deque[str]] = defaultdict(deque)
        """Per matching key and side (creator?): requests of apps that stopped or failed before a peer request
        matched them, oldest first (who, for the error). The peer request that would have matched one fails."""

    def submit(self, request: EprRequest) -> None:
        key = match_key(request)
        mine, theirs = (self._creates, self._recvs) if request.creator else (self._recvs, self._creates)
        gone = self._cancelled.get((key, not request.creator))
        if gone and not theirs[key]:  # FIFO: this request would have matched the cancelled one
            request.stack.fail(request, f"{gone.popleft()} before this request was matched")
            return
        mine[key].append(request)
        while self._creates[key] and self._recvs[key]:
            create, recv = self._creates[key].popleft(), self._recvs[key].popleft()
            if self._check(create, recv):
                self._active.append((create, recv))
        self.progress()

    def progress(self) -> None:
        """Make every pair that can be made now, in the order the requests were matched."""
        if self._serving:  # freeing a qubit while making a pair calls back here
            return
        self._serving = True
        try:
            for create, recv in list(self._active):
                link = self.link_names.get(frozenset((create.node_id, recv.node_id)))
                if link in self.scheduled:
                    self.scheduled[link](link)  # served in the link's time bins
                    continue
                self._serve(create, recv)
                if create.pairs_done == create.num_pairs or create.error is not None:
                    self._active.remove((create, recv))
        finally:
            self._serving = False

    def cancel(self, node_id: int, pid: int, what: str = "stopped") -> None:
        """Drop the requests of an app that stopped or failed (``what`` it did, for the peer's error). A matched
        request's peer fails at once; the peer request that would later have matched an unmatched one fails when
        it comes, unless a live request matches it first (instead of waiting for its timeout)."""
        for table in (self._creates, self._recvs):
            for key, queue in table.items():
                for req in [r for r in queue if r.node_id == node_id and r.process.pid == pid]:
                    queue.remove(req)
                    call = "create_epr" if req.creator else "recv_epr"
                    self._cancelled[(key, req.creator)].append(
                        f"the peer app on node {node_id} {what} with its {call} on EPR socket {req.epr_socket_id} "
                        "pending")
        for create, recv in list(self._active):
            if any(r.node_id == node_id and r.process.pid == pid for r in (create, recv)):
                self._active.remove((create, recv))
                for r in (create, recv):
                    if not (r.node_id == node_id and r.process.pid == pid):
                        r.stack.fail(r, f"the peer app on node {node_id} stopped before all pairs were made")

    def tdma_pairs(self, link: str) -> list[tuple[EprRequest, EprRequest]]:
        """The matched requests on ``link`` that still need pairs, in the order they were matched."""
        return [(c, r) for c, r in self._active
                if self.link_names.get(frozenset((c.node_id, r.node_id))) == link
                and c.pairs_done < c.num_pairs and c.error is None and r.error is None]

    def can_take(self, create: EprRequest, recv: EprRequest) -> bool:
        """Both ends have what the next pair of (create, recv) needs: a free communication qubit (and, for a
        kept pair, a free virtual qubit)."""
        kind = create.arg(Arg.TYPE, EPR_TYPE_K)
        return (create.stack.can_take(create, create.pairs_done, kind == EPR_TYPE_K)
                and recv.stack.can_take(recv, recv.pairs_done, kind in (EPR_TYPE_K, EPR_TYPE_R)))

    def attempt_in_bin(self, create: EprRequest, recv: EprRequest, bin_end_ns: int) -> bool:
        """One ENT per end, from now (both node clocks at the same time, inside a link bin) to at most
        ``bin_end_ns``. True if a pair was delivered; False if the bin ended without a herald (the qubits are
        re-initialised and the request goes on in a later bin). A request that used up its attempts, or a
        request that cannot be served, fails at both ends."""
        link = self.link_names[frozenset((create.node_id, recv.node_id))]
        kind = create.arg(Arg.TYPE, EPR_TYPE_K)
        try:
            done = self._pair(create, recv, create.pairs_done, kind, link, bin_end_ns)
        except QubitBusy:
            return False
        except QlabOSError as exc:
            self._fail_both(create, recv, str(exc))
            return False
        if create.pairs_done == create.num_pairs or create.error is not None or recv.error is not None:
            if (create, recv) in self._active:
                self._active.remove((create, recv))
        elif not done and create.attempts_used >= self.max_attempts.get(link, create.attempts_used + 1):
            self._fail_both(create, recv, f"no herald on link {link} within its maximum of "
                                          f"{self.max_attempts[link]} attempts (over all its time bins)")
        return done

    def fail_request(self, create: EprRequest, recv: EprRequest, reason: str) -> None:
        """Fail a matched pair of requests at both ends (e.g. their timeout) and forget them."""
        if (create, recv) in self._active:
            self._active.remove((create, recv))
        self._fail_both(create, recv, reason)

    def waiting_reason(self, node_id: int, pid: int) -> str:
        """Why an app's entanglement has not come: matched but waiting for a qubit, or never matched."""
        for create, recv in self._active:
            for req in (create, recv):
                if req.node_id == node_id and req.process.pid == pid:
                    return (f"the request was matched, but pair {req.pairs_done + 1} of {req.num_pairs} waits for a "
                            f"free communication qubit (node {create.node_id} or {recv.node_id} has none free: "
                            "are they held by the app itself?)")
        for req in self.pending():
            if req.node_id == node_id and req.process.pid == pid:
                other = "create_epr" if not req.creator else "recv_epr"
                return (f"no matching {other} arrived from node {req.remote_node_id} on EPR socket "
                        f"{req.remote_epr_socket_id} (check that both sides name each other's socket ids)")
        return "no matching request from the peer arrived"

    def pending(self) -> list[EprRequest]:
        return [r for table in (self._creates, self._recvs) for q in table.values() for r in q]

    def _check(self, create: EprRequest, recv: EprRequest) -> bool:
        """Reject a matched pair of requests that can never be served (both fail, with the same reason)."""
        problem = None
        kind = create.arg(Arg.TYPE, EPR_TYPE_K)
        if frozenset((create.node_id, recv.node_id)) not in self.link_names:
            problem = f"there is no link between node {create.node_id} and node {recv.node_id}"
        elif create.num_pairs != recv.num_pairs:
            problem = f"the creator asks for {create.num_pairs} pair(s), the receiver for {recv.num_pairs}"
        elif kind not in (EPR_TYPE_K, EPR_TYPE_M, EPR_TYPE_R):
            problem = f"unknown request type {kind}"
        elif not all(create.arg(a) in (0, _RANDOM_XZ, _RANDOM_XYZ, _RANDOM_CHSH)
                     for a in (Arg.RANDOM_BASIS_LOCAL, Arg.RANDOM_BASIS_REMOTE)):
            problem = (f"unknown random basis {create.arg(Arg.RANDOM_BASIS_LOCAL)}/"
                       f"{create.arg(Arg.RANDOM_BASIS_REMOTE)} (netqasm's RandomBasis: 1 XZ, 2 XYZ, 3 CHSH)")
        if problem is None:
            problem = self._fidelity_problem(create, recv)
        if problem is None and kind == EPR_TYPE_K:
            for req in (create, recv):
                need = _distinct_qubits(req)
                have = len(req.stack.qnpu.spec.communication_qubits)
                if need > have:
                    problem = (f"node {req.node_id} must hold {need} pairs at once, but it has {have} communication "
                               "qubit(s); ask for them one at a time (sequential=True) or move each pair away")
                    break
        if problem is not None:
            self._fail_both(create, recv, problem)
        return problem is None

    def _fidelity_problem(self, create: EprRequest, recv: EprRequest) -> str | None:
        """An EPR socket asks for a fidelity (in percent, 1..99) the link does not deliver: refused at once, as a
        QLink link layer answers a request it cannot meet (netqasm's qlink ErrorCode.UNSUPP). netqasm's default
        of 100, and 0, ask for nothing in particular (every app opens its sockets with 100)."""
        link = self.link_names.get(frozenset((create.node_id, recv.node_id)))
        delivered = self.fidelity.get(link or "")
        if delivered is None:
            return None
        for req in (create, recv):
            wanted = req.min_fidelity
            if 0 < wanted < 100 and delivered * 100 < wanted:
                return (f"EPR socket {req.epr_socket_id} of node {req.node_id} asks for min_fidelity {wanted}%, but "
                        f"link {link} delivers pairs of fidelity {delivered * 100:.1f}% (qlink ErrorCode.UNSUPP)")
        return None

    def _fail_both(self, create: EprRequest, recv: EprRequest, problem: str) -> None:
        reason = f"entanglement between node {create.node_id} and node {recv.node_id} failed: {problem}"
        create.stack.fail(create, reason)
        recv.stack.fail(recv, reason)

    def _serve(self, create: EprRequest, recv: EprRequest) -> None:
        link = self.link_names[frozenset((create.node_id, recv.node_id))]
        kind = create.arg(Arg.TYPE, EPR_TYPE_K)
        max_time = max_time_ns(create)
        try:
            while create.pairs_done < create.num_pairs:
                if max_time is None:
                    self._pair(create, recv, create.pairs_done, kind, link)
                    continue
                start = max(self.clocks[create.node_id].now_ns(), self.clocks[recv.node_id].now_ns())
                if not self._pair(create, recv, create.pairs_done, kind, link, start + max_time):
                    raise EntanglementError(
                        f"EPR request timed out: no pair on link {link} within its max_time of {max_time / 1e9:g} s "
                        f"(virtual; netqasm's create max_time, qlink ErrorCode.TIMEOUT): create_epr on EPR socket "
                        f"{create.epr_socket_id} of node {create.node_id} with node {recv.node_id}, pair "
                        f"{create.pairs_done + 1} of {create.num_pairs}")
        except QubitBusy:
            return  # the pair waits until a qubit is freed (progress() is called then)
        except QlabOSError as exc:
            self._fail_both(create, recv, str(exc))

    def _pair(self, create: EprRequest, recv: EprRequest, pair: int, kind: int, link: str,
              window_end_ns: int | None = None) -> bool:
        clock_c, clock_r = self.clocks[create.node_id], self.clocks[recv.node_id]
        start_ns = max(clock_c.now_ns(), clock_r.now_ns())
        clock_c.advance_to_ns(start_ns)
        clock_r.advance_to_ns(start_ns)
        keep_c, keep_r = kind == EPR_TYPE_K, kind in (EPR_TYPE_K, EPR_TYPE_R)
        qc, vc = create.stack.take_qubit(create, pair, keep_c)
        try:
            qr, vr = recv.stack.take_qubit(recv, pair, keep_r)
        except QlabOSError:
            self._undo(create, qc, vc)
            raise
        response_c = create.stack.ent(qc, link, window_end_ns)
        response_r = recv.stack.ent(qr, link, window_end_ns)
        stats = self.stats[link]
        in_window = window_end_ns is None or start_ns + response_c.duration_ns <= window_end_ns
        made_ns = response_c.duration_ns if window_end_ns is None else min(response_c.duration_ns,
                                                                              window_end_ns - start_ns)
        if link in self.attempt_ns:
            attempts = max(1, made_ns // self.attempt_ns[link])
            stats.attempts += attempts
            create.attempts_used += attempts
        if not response_c.heralded or not response_r.heralded or not in_window:
            # no herald (or one after the bin's end, which never happened): both qubits are re-initialised;
            # without a herald the link already left them in |0> (re-initialised before every attempt)
            scrub = window_end_ns is None or bool(response_c.heralded and response_r.heralded)
            self._undo(create, qc, vc, scrub)
            self._undo(recv, qr, vr, scrub)
            if window_end_ns is not None:
                return False
            raise EntanglementError(f"no herald on link {link} within its maximum number of attempts")
        bell = response_c.bell_index or 0
        stats.successes += 1
        if self.measure_fidelity:
            self._record_fidelity(create, qc, bell, stats)
        duration_us = response_c.duration_ns // 1000
        done_us = self.clocks[create.node_id].now_ns() // 1000
        create_id, self._next_create_id = self._next_create_id, self._next_create_id + 1
        for req, q, v, keep, creator in ((create, qc, vc, keep_c, True), (recv, qr, vr, keep_r, False)):
            remote = recv.node_id if creator else create.node_id
            direction = 0 if creator else 1
            if keep:
                fields = [EPR_TYPE_K, create_id, v, direction, pair, req.epr_socket_id, remote, duration_us,
                          done_us, bell]
            else:
                random_basis = create.arg(Arg.RANDOM_BASIS_LOCAL if creator else Arg.RANDOM_BASIS_REMOTE)
                if random_basis:
                    basis = self._draw_basis(random_basis, creator)
                    rotations, axes = list(_BASIS_ROTATIONS[basis]), 0
                else:
                    first = Arg.ROTATION_LOCAL_1 if creator else Arg.ROTATION_REMOTE_1
                    rotations = [create.arg(first + k) for k in range(3)]
                    axes = create.arg(Arg.ROTATION_AXES_LOCAL if creator else Arg.ROTATION_AXES_REMOTE)
                    basis = _BASIS_Z
                outcome = req.stack.measure_in_basis(q, rotations, axes)
                req.stack.release(q)
                fields = [EPR_TYPE_M, create_id, outcome, basis, direction, pair, req.epr_socket_id, remote,
                          duration_us, bell]
            req.stack.write_result(req, pair, fields)
            req.pairs_done += 1
            req.pair_since_ns = req.stack.qnpu.clock.now_ns()
        self.pairs_delivered += 1
        return True

    @staticmethod
    def _record_fidelity(create: EprRequest, physical: int, bell: int, stats: LinkStats) -> None:
        driver = create.stack.qnpu.driver
        if not driver.provides_qubit_state:
            return
        rho = driver.joint_state(physical)
        if rho is None or rho.shape != (4, 4):  # the pair is not (yet) a block of its own
            return
        stats.fidelities.append(float(np.real(_BELL_VECTORS[bell].conj() @ rho @ _BELL_VECTORS[bell])))

    def _draw_basis(self, random_basis: int, creator: bool) -> int:
        if random_basis == _RANDOM_XZ:
            return self.rng.choice((_BASIS_Z, _BASIS_X))
        if random_basis == _RANDOM_XYZ:
            return self.rng.choice((_BASIS_Z, _BASIS_X, _BASIS_Y))
        return self.rng.choice((_BASIS_Z, _BASIS_X) if creator else (_BASIS_ZPLUSX, _BASIS_ZMINUSX))

    @staticmethod
    def _undo(req: EprRequest, physical: int, virtual: int | None, scrub: bool = True) -> None:
        qmm = req.stack.qnpu.qmm
        if virtual is None and scrub:
            req.stack.release(physical)
        elif virtual is None:
            qmm.free(NETWORK_PID, physical)
        else:
            qmm.free(req.process.pid, virtual)
            if scrub:
                req.stack.qnpu.executor.scrub((physical,))
