"""A whole network in one process: every node's QDriver, QNPU and network stack, the link layer, the
classical channels, and the roles of one application run cooperatively on per-node virtual time.

This is the outermost wiring (it asks the registry for QDrivers by device name); the kernel and the CNPU
know only their contracts. One :class:`InProcessNetwork` runs one round of an application; a new one is
built for each round, so rounds are independent and reproducible from their seed.
"""

from __future__ import annotations

import copy
import importlib.util
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
from qlab_os.net.link_layer import InProcessLinkLayer
from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import decode_binary, validate
from qlab_os.qnpu.network_stack import NodeNetworkStack
from qlab_os.qnpu.qnpu import QNPU, ErrorReply

DEFAULT_TIMEOUT_S = 60.0
"""How long (virtual seconds) a role may wait for a message or for entanglement before it gets a timeout."""
DEFAULT_ROUND_LIMIT_S = 3600.0
"""Virtual seconds one round may last (an app that retries a timed-out recv forever ends here)."""
DEFAULT_WALL_TIMEOUT_S = 60.0
"""Real seconds a role may run without handing back (a busy loop, input(), a sleep) before it is dropped."""
_UNLIMITED_ATTEMPTS = 10**12


@dataclass
class Node:
    name: str
    node_id: int
    clock: VirtualClock
    driver: QDriver
    qnpu: QNPU
    stack: NodeNetworkStack


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
                 ) -> None:
        self.network = network
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
            self.nodes[cfg.name] = Node(cfg.name, cfg.id, clock, driver, qnpu, stack)
            clocks[cfg.id] = clock
        link_names: dict[frozenset[int], str] = {}
        for link in network.links:
            spec = LinkSpec(attempt_duration_ns=link.attempt_duration_ns, success_probability=link.success_probability,
                            fidelity=1.0 if ideal else link.fidelity,
                            max_attempts=link.max_attempts or _UNLIMITED_ATTEMPTS,
                            bell_state_correction=link.bell_state_correction)
            for end in link.nodes:
                self.nodes[end].driver.connect_link(link.name, spec, shared)
            link_names[frozenset(self.nodes[end].node_id for end in link.nodes)] = link.name
        self.link_layer = InProcessLinkLayer(clocks, link_names, random.Random(seed))
        for node in self.nodes.values():
            node.stack.service = self.link_layer
        self._by_id = {n.node_id: n for n in self.nodes.values()}
        self.scheduler = Scheduler(max_time_ns=int(round_limit_s * 1e9), wall_timeout_s=wall_timeout_s)
        self._tasks: dict[str, Task] = {}
        self.state_access = all(n.driver.provides_qubit_state for n in self.nodes.values())
        """Every node can show its qubits' states (simulation): apps' state-checking branches may run."""
        self._mail: dict[tuple[str, str, int], deque[tuple[int, object]]] = defaultdict(deque)
        self.messages_sent = 0

    # --- HostServices --------------------------------------------------------------------------------------
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

    def to_qnpu(self, role: str, raw_msg: bytes) -> None:
        node = self._node(role)
        kind = MessageType(raw_msg[0])
        try:
            if kind is MessageType.SUBROUTINE:
                self._run_subroutine(role, node, raw_msg[1:])
                return
            if kind is MessageType.STOP_APP:
                self.link_layer.cancel(node.node_id, deserialize_host_msg(raw_msg).app_id)
            for reply in node.qnpu.handle_message(raw_msg):
                if isinstance(reply, ErrorReply):
                    raise AppError(f"node {node.name}: {reply.text}")
        except AppError:
            raise
        except QlabOSError as exc:
            raise AppError(f"node {node.name}: {exc}") from exc

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
        qnpu = node.qnpu
        ex = qnpu.begin(subroutine)
        pid = ex.process.pid
        errors, clock = node.stack.errors, node.clock
        while not qnpu.resume(ex):
            ready = ex.ready
            assert ready is not None

            def ready_at(ready: Any = ready) -> int | None:
                return clock.now_ns() if ready() or pid in errors else None

            ok = self.scheduler.wait_until(ready_at, self.timeout_ns, f"{role} on {node.name}: {ex.blocked_on}")
            error = errors.pop(pid, None)
            if error is not None or not ok:
                why = self.link_layer.waiting_reason(node.node_id, pid)
                self.link_layer.cancel(node.node_id, pid)
                qnpu.abort(ex, error or (f"timed out after {self.timeout_ns / 1e9:g} s (virtual) waiting: "
                                         f"{ex.blocked_on}; {why}"))
        qnpu.finish(ex)

    def send(self, role: str, peer: str, socket_id: int, msg: object) -> None:
        src, dst = self._node(role), self._node(peer)
        link = self.network.link(src.name, dst.name)
        latency = link.classical_latency_ns if link is not None else 0
        self._mail[(role, peer, socket_id)].append((src.clock.now_ns() + latency, copy.deepcopy(msg)))
        self.messages_sent += 1

    def recv_object(self, role: str, peers: list[str], socket_id: int, block: bool,
                    timeout_s: float | None) -> tuple[str, object]:
        boxes = [(peer, self._mail[(peer, role, socket_id)]) for peer in peers]
        clock = self._node(role).clock

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
        clock = self._node(role).clock
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
        physical = node.qnpu.qmm.physical(app_id, virtual)
        return node.driver.qubit_state((physical,)) if reduced else node.driver.joint_state(physical)

    # --- running roles ---------------------------------------------------------------------------------------
    def run_roles(self, mains: dict[str, Any], inputs: dict[str, dict[str, Any]], log_dir: Path,
                  ) -> dict[str, RoleOutcome]:
        """Run each role's ``main(app_config=..., **inputs)`` to its end. A role that raises fails alone: its
        apps are stopped (qubits freed) and its peers get timeouts, not hangs."""
        if self.seed is not None:
            # apps draw their own randomness (bases, angles) from Python's and numpy's global generators; the
            # roles run one at a time in a fixed order, so seeding those makes the whole round reproducible
            random.seed(self.seed)
            np.random.seed(self.seed % 2**32)
        tasks = self._tasks
        for role, main in mains.items():
            node = self._node(role)
            log_config = LogConfig(app_dir=None, log_dir=str(log_dir), log_subroutines_dir=str(log_dir))
            app_config = AppConfig(app_name=role, node_name=node.name, main_func=main, log_config=log_config,
                                   inputs=copy.deepcopy(dict(inputs.get(role, {}))))  # rounds stay independent

            def body(role: str = role, main: Any = main, app_config: AppConfig = app_config) -> Any:
                context.bind(self, role)
                sim_compat.state_access(self.state_access)
                try:
                    return main(app_config=app_config, **app_config.inputs)
                finally:
                    context.unbind()  # the pooled thread must not keep this round's network alive

            tasks[role] = self.scheduler.spawn(role, body, node.clock)
        try:
            self.scheduler.run()
        finally:
            self.scheduler.cancel_all()
        outcomes = {}
        for role, task in tasks.items():
            outcome = RoleOutcome(role=role, node=self.node_name_of_role(role), result=task.result)
            if task.state is TaskState.FAILED:
                outcome.error = _describe(task.error) if task.error is not None else "cancelled"
            outcomes[role] = outcome
        self._stop_leftover_apps()
        return outcomes

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
