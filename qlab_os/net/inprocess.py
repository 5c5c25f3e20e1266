"""A whole network in one process: every node's QDriver, QNPU and network stack, the link layer, the
classical channels, and the roles of one or several applications run cooperatively on virtual time.

This is the outermost wiring (it asks the registry for QDrivers by device name); the kernel and the CNPU
know only their contracts. One :class:`InProcessNetwork` runs one round; a new one is built for each round,
so rounds are independent and reproducible from their seed.

Time: each node's clock is its QDevice's timeline (the QDriver reads it); each role has its own clock (its
CNPU's time). A subroutine is submitted at its role's time, waits until the node's QNPU scheduler
(:mod:`qlab_os.qnpu.scheduler`) grants it the device, runs as one block, and its role goes on from the block's
end. On a node where several processes meet, the grant is itself an event of the cooperative scheduler, so
every earlier event (another role's request, a message) happens first.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import math
import random
import sys
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from netqasm.backend.messages import MessageType, StopAppMessage, deserialize_host_msg
from netqasm.lang.subroutine import Subroutine
from netqasm.runtime.app_config import AppConfig
from netqasm.sdk.classical_communication.message import StructuredMessage
from netqasm.sdk.config import LogConfig

from qlab_os.clock import VirtualClock
from qlab_os.cnpu import context, sdk, sim_compat
from qlab_os.cnpu.context import AppError
from qlab_os.cnpu.scheduler import Scheduler, Task, TaskState
from qlab_os.errors import QlabOSError
from qlab_os.net.app_folder import AppSpec
from qlab_os.net.config import NetworkConfig
from qlab_os.net.instances import AppInstance, InstanceView, role_key
from qlab_os.net.link_layer import InProcessLinkLayer
from qlab_os.net.tdma import TdmaLinkServer, scheduled_callbacks
from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import decode_binary, validate
from qlab_os.qnpu.network_stack import NodeNetworkStack
from qlab_os.qnpu.process import Process, ProcessState
from qlab_os.qnpu.qnpu import QNPU, ErrorReply
from qlab_os.qnpu.scheduler import DEFAULT_POLICY, DeviceScheduler, make_policy

DEFAULT_TIMEOUT_S = 60.0
"""How long (virtual seconds) a role may wait for a message or for entanglement before it gets a timeout."""
DEFAULT_ROUND_LIMIT_S = 3600.0
"""Virtual seconds one round may last (an app that retries a timed-out recv forever ends here)."""
DEFAULT_WALL_TIMEOUT_S = 60.0
"""Real seconds a role may run without handing back (a busy loop, input(), a sleep) before it is dropped."""
_UNLIMITED_ATTEMPTS = 10**12
_FOREVER_NS = 2**62
"""A wait for the QDevice has no timeout of its own; the round's limit still applies."""

_log = logging.getLogger(__name__)


@dataclass
class Node:
    name: str
    node_id: int
    clock: VirtualClock
    driver: QDriver
    qnpu: QNPU
    stack: NodeNetworkStack
    device: DeviceScheduler


@dataclass
class RoleOutcome:
    role: str
    node: str
    result: Any = None
    error: str | None = None


class InProcessNetwork:
    """Implements :class:`qlab_os.cnpu.context.HostServices` for one round."""

    def __init__(self, network: NetworkConfig, *, seed: int | None = None, ideal: bool = False,
                 timeout_s: float = DEFAULT_TIMEOUT_S, role_nodes: dict[str, str] | None = None,
                 round_limit_s: float = DEFAULT_ROUND_LIMIT_S, wall_timeout_s: float = DEFAULT_WALL_TIMEOUT_S,
                 policy: str = DEFAULT_POLICY, measure_fidelity: bool = False) -> None:
        self.network = network
        self.policy = policy
        self.seed = seed
        self.timeout_ns = int(timeout_s * 1e9)
        self.role_nodes = dict(role_nodes or {})
        shared: dict[str, object] = {}
        self.nodes: dict[str, Node] = {}
        clocks: dict[int, VirtualClock] = {}
        for cfg in sorted(network.nodes, key=lambda n: n.id):
            clock = VirtualClock()
            driver = create_qdriver(cfg.device, clock=clock, seed=seed, ideal=ideal, shared=shared)
            qnpu = QNPU(driver, clock, node_name=cfg.name, shared_memory=True)
            stack = NodeNetworkStack(cfg.id, qnpu)
            qnpu.executor.network = stack
            self.nodes[cfg.name] = Node(cfg.name, cfg.id, clock, driver, qnpu, stack,
                                        DeviceScheduler(make_policy(policy)))
            clocks[cfg.id] = clock
        link_names: dict[frozenset[int], str] = {}
        for link in network.links:
            # with a schedule, one ENT makes at most the attempts of one bin; the request's own limit is
            # counted over its bins by the link layer
            per_bin = link.schedule.bin_length_ns // link.attempt_duration_ns if link.schedule else None
            spec = LinkSpec(attempt_duration_ns=link.attempt_duration_ns, success_probability=link.success_probability,
                            fidelity=1.0 if ideal else link.fidelity,
                            max_attempts=per_bin or link.max_attempts or _UNLIMITED_ATTEMPTS,
                            bell_state_correction=link.bell_state_correction)
            for end in link.nodes:
                self.nodes[end].driver.connect_link(link.name, spec, shared)
            link_names[frozenset(self.nodes[end].node_id for end in link.nodes)] = link.name
        self.link_layer = InProcessLinkLayer(clocks, link_names, random.Random(seed),
                                             attempt_ns={lk.name: lk.attempt_duration_ns for lk in network.links},
                                             measure_fidelity=measure_fidelity,
                                             max_attempts={lk.name: lk.max_attempts for lk in network.links},
                                             fidelity={lk.name: 1.0 if ideal else lk.fidelity
                                                       for lk in network.links})
        for node in self.nodes.values():
            node.stack.service = self.link_layer
        self._by_id = {n.node_id: n for n in self.nodes.values()}
        self.scheduler = Scheduler(max_time_ns=int(round_limit_s * 1e9), wall_timeout_s=wall_timeout_s)
        self.tdma = TdmaLinkServer(self.scheduler, self.link_layer, self._by_id,
                                   {lk.name: lk for lk in network.links}, self.timeout_ns)
        self.link_layer.scheduled = scheduled_callbacks(self.tdma)
        self._tasks: dict[str, Task] = {}
        self._role_clocks: dict[str, VirtualClock] = {}
        self._shared_nodes: set[str] = set()
        """Nodes where several processes meet: their device grants go through the cooperative scheduler."""
        self._unique_app_ids = False
        self._next_app_id = 0
        self.state_access = all(n.driver.provides_qubit_state for n in self.nodes.values())
        """Every node can show its qubits' states (simulation): apps' state-checking branches may run."""
        self._mail: dict[tuple[str, str, int], deque[tuple[int, object]]] = defaultdict(deque)
        self.messages_sent = 0

    # --- HostServices --------------------------------------------------------------------------------------
    def close(self) -> None:
        """End of the round: each node's QDriver puts its device in the safe state and releases it (station-backed
        drivers hold instrument connections). A failing driver does not stop the others."""
        for node in self.nodes.values():
            try:
                node.driver.safe_state()
            finally:
                try:
                    node.driver.close()
                except Exception:  # closing must reach every node; the error is logged
                    _log.exception("closing the QDriver of node %s failed", node.name)

    def node_name_of_role(self, role: str) -> str:
        node = self.role_nodes.get(role, role if role in self.nodes else None)
        if node is None:
            raise AppError(f"no role or node named {role!r} in this network (roles: {', '.join(self.role_nodes)})")
        return node

    def node_id_of(self, node_name: str) -> int:
        try:
            return self.nodes[node_name].node_id
        except KeyError:
            raise AppError(f"no node {node_name!r} (nodes: {', '.join(self.nodes)})") from None

    def node_name_of_id(self, node_id: int) -> str:
        try:
            return self._by_id[node_id].name
        except KeyError:
            raise AppError(f"no node with id {node_id}") from None

    def _node(self, role: str) -> Node:
        return self.nodes[self.node_name_of_role(role)]

    def _clock_of(self, role: str) -> VirtualClock:
        """A role's own clock where several processes share its node; elsewhere its node's clock (then the
        role's time and its device's time are one, as when one app runs)."""
        clock = self._role_clocks.get(role)
        if clock is None:
            node = self._node(role)
            clock = VirtualClock() if node.name in self._shared_nodes else node.clock
            self._role_clocks[role] = clock
        return clock

    def elapsed_ns(self) -> int:
        """How long the round has lasted in virtual time: the latest clock of any node or role."""
        return max([n.clock.now_ns() for n in self.nodes.values()]
                   + [c.now_ns() for c in self._role_clocks.values()])

    def new_app_id(self, role: str) -> int | None:
        """A netqasm app id for a new connection of ``role``: None (netqasm picks) when one app runs; with
        several, ids unique in the round, so that two apps on one node never share one."""
        if not self._unique_app_ids:
            return None
        from netqasm.sdk.connection import BaseNetQASMConnection

        taken = set(BaseNetQASMConnection._app_ids.get(role.split("#")[0], []))
        while self._next_app_id in taken:
            self._next_app_id += 1
        app_id, self._next_app_id = self._next_app_id, self._next_app_id + 1
        return app_id

    def to_qnpu(self, role: str, raw_msg: bytes) -> None:
        node = self._node(role)
        kind = MessageType(raw_msg[0])
        try:
            if kind is MessageType.SUBROUTINE:
                self._run_subroutine(role, node, raw_msg[1:])
                return
            if kind is MessageType.INIT_NEW_APP:
                msg = deserialize_host_msg(raw_msg)
                node.qnpu.init_app(msg.app_id, msg.max_qubits, name=role, time_ns=self._clock_of(role).now_ns())
                return
            if kind is MessageType.STOP_APP:
                app_id = deserialize_host_msg(raw_msg).app_id
                self.link_layer.cancel(node.node_id, app_id)
                process = node.qnpu.processes.get(app_id)
                if process is not None and node.name in self._shared_nodes:
                    # freeing scrubs qubits on the device: it waits for its turn like a subroutine
                    self._acquire(role, node, process, True)
                    try:
                        self._check_replies(node, node.qnpu.handle_message(raw_msg))
                    finally:
                        node.device.release(process, node.clock.now_ns())
                        self._clock_of(role).advance_to_ns(max(self._clock_of(role).now_ns(), node.clock.now_ns()))
                    return
            self._check_replies(node, node.qnpu.handle_message(raw_msg))
        except AppError:
            raise
        except QlabOSError as exc:
            raise AppError(f"node {node.name}: {exc}") from exc

    @staticmethod
    def _check_replies(node: Node, replies: list[Any]) -> None:
        for reply in replies:
            if isinstance(reply, ErrorReply):
                raise AppError(f"node {node.name}: {reply.text}")

    def run_subroutine(self, role: str, subroutine: Subroutine) -> None:
        node = self._node(role)
        try:
            validate(subroutine)
            self._run(role, node, subroutine)
        except AppError:
            raise
        except QlabOSError as exc:
            raise AppError(f"node {node.name}: {exc}") from exc

    def _run_subroutine(self, role: str, node: Node, raw: bytes) -> None:
        self._run(role, node, decode_binary(raw, node.qnpu.flavour))

    def _run(self, role: str, node: Node, subroutine: Subroutine) -> None:
        qnpu, rclock = node.qnpu, self._clock_of(role)
        ex = qnpu.begin(subroutine, submitted_ns=rclock.now_ns())
        pid = ex.process.pid
        errors, clock = node.stack.errors, node.clock
        shared = node.name in self._shared_nodes
        try:
            self._acquire(role, node, ex.process, shared)
            while not qnpu.resume(ex):
                node.device.release(ex.process, clock.now_ns())
                rclock.advance_to_ns(max(rclock.now_ns(), clock.now_ns()))
                ready = ex.ready
                assert ready is not None
                delivered = node.stack.delivered_ns

                def ready_at(ready: Any = ready, delivered: dict[int, int] = delivered) -> int | None:
                    if not (ready() or pid in errors):
                        return None
                    return max(rclock.now_ns(), delivered.get(pid, 0)) if shared else clock.now_ns()

                ok = self.scheduler.wait_until(ready_at, self.timeout_ns, f"{role} on {node.name}: {ex.blocked_on}")
                error = errors.pop(pid, None)
                if error is not None or not ok:
                    why = self.link_layer.waiting_reason(node.node_id, pid)
                    self.link_layer.cancel(node.node_id, pid, "gave up (its own timeout or error)")
                    qnpu.abort(ex, error or (f"timed out after {self.timeout_ns / 1e9:g} s (virtual) waiting: "
                                             f"{ex.blocked_on}; {why}"))
                qnpu.transition(ex.process, ProcessState.READY, rclock.now_ns(), "entanglement delivered")
                self._acquire(role, node, ex.process, shared)
            qnpu.finish(ex)
        finally:
            node.device.release(ex.process, clock.now_ns())
            rclock.advance_to_ns(max(rclock.now_ns(), clock.now_ns()))

    def _acquire(self, role: str, node: Node, process: Process, shared: bool) -> None:
        """Wait until the node's QDevice is granted to ``process``; the device clock moves to the start."""
        device, rclock = node.device, self._clock_of(role)
        request = device.request(process, rclock.now_ns())
        if shared:
            def ready_at() -> int | None:
                grant = device.next_grant()
                return grant[1] if grant is not None and grant[0] is request else None

            try:
                self.scheduler.wait_until(ready_at, _FOREVER_NS, f"{role} on {node.name}: waits for the QDevice")
            except BaseException:
                device.withdraw(request)
                raise
        grant = device.next_grant()
        assert grant is not None and grant[0] is request, "the device went to another process"
        start = max(grant[1], node.clock.now_ns())
        device.grant(request, start)
        node.clock.advance_to_ns(start)

    def send(self, role: str, peer: str, socket_id: int, msg: object) -> None:
        src, dst = self._node(role), self._node(peer)
        link = self.network.link(src.name, dst.name)
        latency = link.classical_latency_ns if link is not None else 0
        self._mail[(role, peer, socket_id)].append((self._clock_of(role).now_ns() + latency, copy.deepcopy(msg)))
        self.messages_sent += 1

    def recv_object(self, role: str, peers: list[str], socket_id: int, block: bool,
                    timeout_s: float | None) -> tuple[str, object]:
        boxes = [(peer, self._mail[(peer, role, socket_id)]) for peer in peers]
        clock = self._clock_of(role)

        def first() -> tuple[str, deque[tuple[int, object]]] | None:
            waiting = [(box[0][0], i) for i, (_, box) in enumerate(boxes) if box]
            if not waiting:
                return None
            return boxes[min(waiting)[1]]

        def peers_ended() -> bool:
            return all(self._tasks[p].state in (TaskState.DONE, TaskState.FAILED) for p in peers
                       if p in self._tasks) and all(p in self._tasks for p in peers)

        def ready_at() -> int | None:
            found = first()
            if found is not None:
                return found[1][0][0]  # the earliest message's arrival time
            if peers_ended():  # known no earlier than the last peer ended, in its own time
                return max(clock.now_ns(), *(self._tasks[p].clock.now_ns() for p in peers))
            return None

        if first() is None:
            if not block:
                raise RuntimeError(f"no message for {role} from {', '.join(peers)}")
            if timeout_s is not None and not (timeout_s >= 0 and math.isfinite(timeout_s)):
                raise ValueError(f"recv timeout must be a finite number of seconds >= 0, got {timeout_s}")
            timeout_ns = self.timeout_ns if timeout_s is None else int(timeout_s * 1e9)
            ok = self.scheduler.wait_until(ready_at, timeout_ns, f"{role}: recv from {', '.join(peers)}")
            if not ok:  # a message arriving after the deadline stays queued for a later recv
                raise TimeoutError(f"{role}: no message from {', '.join(peers)} within {timeout_ns / 1e9:g} s "
                                   "(virtual)")
            if first() is None:  # woken because every peer has ended: nothing can ever arrive
                raise ConnectionError(f"{role}: {', '.join(peers)} ended ({self._ended(peers)}) without "
                                      "sending the message it waits for")
        found = first()
        assert found is not None
        peer, box = found
        deliver_ns, msg = box.popleft()
        clock.advance_to_ns(max(clock.now_ns(), deliver_ns))
        return peer, msg

    def _ended(self, peers: list[str]) -> str:
        parts = []
        for p in peers:
            task = self._tasks.get(p)
            if task is not None and task.state is TaskState.FAILED:
                parts.append(f"{p} failed: {_describe(task.error) if task.error else 'cancelled'}")
            else:
                parts.append(f"{p} returned")
        return "; ".join(parts)

    def recv(self, role: str, peer: str, socket_id: int, block: bool, timeout_s: float | None) -> str:
        msg = self.recv_object(role, [peer], socket_id, block, timeout_s)[1]
        return msg if isinstance(msg, str) else str(msg)

    def recv_structured(self, role: str, peer: str, socket_id: int, block: bool,
                        timeout_s: float | None) -> StructuredMessage:
        msg = self.recv_object(role, [peer], socket_id, block, timeout_s)[1]
        if isinstance(msg, StructuredMessage):
            return msg
        raise AppError(f"{role}: expected a structured message from {peer}, got plain text {msg!r}")

    def recv_any(self, role: str, peers: list[str], socket_id: int, block: bool,
                 timeout_s: float | None) -> tuple[str, str]:
        peer, msg = self.recv_object(role, peers, socket_id, block, timeout_s)
        return peer, msg if isinstance(msg, str) else str(msg)

    def qubit_state(self, role: str, app_id: int, virtual: int,
                    reduced: bool = True) -> npt.NDArray[np.complex128] | None:
        node = self._node(role)
        now = self._clock_of(role).now_ns()
        if node.device.holder is None and node.clock.now_ns() < now:  # the device idled until the role asks
            node.clock.advance_to_ns(now)
        physical = node.qnpu.qmm.physical(app_id, virtual)
        return node.driver.qubit_state((physical,)) if reduced else node.driver.joint_state(physical)

    # --- running roles ---------------------------------------------------------------------------------------
    def run_roles(self, mains: dict[str, Any], inputs: dict[str, dict[str, Any]], log_dir: Path,
                  ) -> dict[str, RoleOutcome]:
        """Run each role's ``main(app_config=..., **inputs)`` to its end. A role that raises fails alone: its
        apps are stopped (qubits freed) and its peers get timeouts, not hangs."""
        return self.run_instances([AppInstance("app", mains, inputs, self.role_nodes)], log_dir)[0]

    def run_instances(self, instances: list[AppInstance], log_dir: Path) -> list[dict[str, RoleOutcome]]:
        """Run several applications at once on this network (each instance's roles see only each other);
        returns each instance's outcomes, by role."""
        if self.seed is not None:
            # apps draw their own randomness (bases, angles) from Python's and numpy's global generators; the
            # roles run one at a time in a fixed order, so seeding those makes the whole round reproducible
            random.seed(self.seed)
            np.random.seed(self.seed % 2**32)
        qualified = len(instances) > 1
        self._unique_app_ids = qualified
        keys: list[dict[str, str]] = []
        for k, inst in enumerate(instances):
            keys.append({role: role_key(role, k, qualified) for role in inst.mains})
            for role in inst.mains:
                self.role_nodes[keys[k][role]] = inst.role_nodes.get(role, role)
        per_node: dict[str, int] = defaultdict(int)
        for key in (key for ks in keys for key in ks.values()):
            per_node[self.node_name_of_role(key)] += 1
        self._shared_nodes |= {name for name, count in per_node.items() if count > 1}
        # a node on a scheduled link shares its QDevice with its network process (in the link's time bins)
        self._shared_nodes |= {end for lk in self.network.links if lk.schedule is not None for end in lk.nodes}
        tasks = self._tasks
        for k, inst in enumerate(instances):
            services: Any = InstanceView(self, k, list(inst.mains)) if qualified else self
            for role, main in inst.mains.items():
                key = keys[k][role]
                node = self._node(key)
                log_config = LogConfig(app_dir=None, log_dir=str(log_dir), log_subroutines_dir=str(log_dir))
                app_config = AppConfig(app_name=role, node_name=node.name, main_func=main, log_config=log_config,
                                       inputs=copy.deepcopy(dict(inst.inputs.get(role, {}))))  # rounds independent

                def body(role: str = role, main: Any = main, app_config: AppConfig = app_config,
                         services: Any = services) -> Any:
                    context.bind(services, role)
                    sim_compat.state_access(self.state_access)
                    try:
                        return main(app_config=app_config, **app_config.inputs)
                    finally:
                        context.unbind()  # the pooled thread must not keep this round's network alive

                tasks[key] = self.scheduler.spawn(key, body, self._clock_of(key))
        try:
            self.scheduler.run()
        finally:
            self.scheduler.cancel_all()
        results: list[dict[str, RoleOutcome]] = []
        for k in range(len(instances)):
            outcomes = {}
            for role, key in keys[k].items():
                task = tasks[key]
                outcome = RoleOutcome(role=role, node=self.node_name_of_role(key), result=task.result)
                if task.state is TaskState.FAILED:
                    outcome.error = _describe(task.error) if task.error is not None else "cancelled"
                outcomes[role] = outcome
            results.append(outcomes)
        self._stop_leftover_apps()
        return results

    def _stop_leftover_apps(self) -> None:
        """Apps of roles that failed (or never closed their connection) are stopped: no qubit stays taken."""
        for node in self.nodes.values():
            for pid in list(node.qnpu.processes):
                self.link_layer.cancel(node.node_id, pid)
                node.qnpu.handle_message(bytes(StopAppMessage(app_id=pid)))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def load_mains(app: AppSpec) -> dict[str, Any]:
    """Import each role's ``app_<role>.py`` (with the app folder importable, for apps with local packages)
    after installing qlab-os's classes into ``netqasm.sdk.external``."""
    sdk.install()
    folder = str(Path(app.path).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    mains = {}
    for role, path in app.main_modules.items():
        name = f"qlab_os_app_{abs(hash(folder))}_{role}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise QlabOSError(f"{path}: cannot import")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        main = getattr(module, "main", None)
        if main is None:
            raise QlabOSError(f"{path}: has no main() function")
        mains[role] = main
    return mains
