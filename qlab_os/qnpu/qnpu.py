"""The QNPU of one node: process manager in front of the executor, memory manager and translator.

It speaks netqasm's host messages (INIT_NEW_APP, OPEN_EPR_SOCKET, SUBROUTINE, STOP_APP, SIGNAL) and answers
with netqasm's return messages (RET_REG, RET_ARR, DONE, ERR). A failing subroutine fails only its own
application: its qubits are freed at once, the error names the instruction and line, and every other
application on the node goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeAlias

from netqasm.backend.messages import (
    ErrorCode,
    ErrorMessage,
    InitNewAppMessage,
    MsgDoneMessage,
    OpenEPRSocketMessage,
    ReturnArrayMessage,
    ReturnRegMessage,
    SignalMessage,
    StopAppMessage,
    SubroutineMessage,
    deserialize_host_msg,
)
from netqasm.lang.operand import Register
from netqasm.lang.subroutine import Subroutine
from netqasm.sdk.shared_memory import SharedMemory, SharedMemoryManager

from qlab_os.clock import Clock
from qlab_os.errors import (
    DecodeError,
    DeviceFullError,
    QlabOSError,
    SubroutineError,
    UnknownAppError,
    UnsupportedInstructionError,
)
from qlab_os.qdevice.driver import QDriver
from qlab_os.qnpu.decode import decode_binary
from qlab_os.qnpu.events import EventBus, ProcessEvent
from qlab_os.qnpu.executor import (
    DEFAULT_DEVICE_TIME_BUDGET_NS,
    DEFAULT_INSTRUCTION_BUDGET,
    Execution,
    Executor,
    NetworkStack,
)
from qlab_os.qnpu.memory import QuantumMemoryManager
from qlab_os.qnpu.process import (
    NETWORK_PID,
    EPRSocketInfo,
    Process,
    ProcessKind,
    ProcessState,
    SubroutineResult,
)
from qlab_os.qnpu.translator import Translator

MAX_APP_QUBITS = 255
"""INIT_NEW_APP carries max_qubits as an unsigned byte."""


@dataclass(frozen=True)
class ErrorReply:
    """An ERR reply. On the wire it is netqasm's ErrorMessage (a code only); in process it keeps the text."""

    app_id: int | None
    code: ErrorCode
    text: str

    def __bytes__(self) -> bytes:
        return bytes(ErrorMessage(self.code))


Reply: TypeAlias = "ReturnRegMessage | ReturnArrayMessage | MsgDoneMessage | ErrorReply"


class QNPU:
    """The kernel of one node."""

    def __init__(
        self,
        driver: QDriver,
        clock: Clock,
        *,
        node_name: str = "node",
        flavour: str = "vanilla",
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
        device_time_budget_ns: int = DEFAULT_DEVICE_TIME_BUDGET_NS,
        network: NetworkStack | None = None,
        shared_memory: bool = False,
    ) -> None:
        """``shared_memory=True``: also write every result into netqasm's ``SharedMemoryManager`` under
        (node_name, app_id), which is where netqasm SDK futures read them when host and QNPU share a process.
        """
        self.node_name = node_name
        self.shared_memory = shared_memory
        self.driver = driver
        self.spec = driver.spec
        self.clock = clock
        self.flavour = flavour
        self.log = logging.getLogger(f"qlab_os.qnpu.{node_name}")
        self.qmm = QuantumMemoryManager(self.spec.num_qubits, self.spec.communication_qubits)
        self.translator = Translator.for_spec(self.spec)
        self.executor = Executor(driver, self.translator, self.qmm, clock, instruction_budget=instruction_budget,
                                 device_time_budget_ns=device_time_budget_ns, network=network, log=self.log)
        self.processes: dict[int, Process] = {}
        """User processes by app id."""
        self.finished: list[Process] = []
        """Stopped processes, kept for their metrics."""
        self.events = EventBus()
        """Every process transition (:class:`ProcessEvent`); subscribe a sink to see them."""
        self.network_process = Process(pid=NETWORK_PID, max_qubits=0, qubit_map={}, kind=ProcessKind.NETWORK,
                                       name="network")
        """Makes the entanglement attempts (in its links' time bins) and owns measure-directly qubits."""
        self._emit(self.network_process, None, ProcessState.NEW, 0, "node started")
        self.transition(self.network_process, ProcessState.IDLE, 0)
        self._messages_handled = 0

    # --- process states ------------------------------------------------------------------------------------
    def transition(self, process: Process, new: ProcessState, time_ns: int | None = None, reason: str = "") -> None:
        """Move ``process`` to ``new`` at ``time_ns`` (default: the node's clock), account the time it spent in
        its old state, and emit the event."""
        t = max(self.clock.now_ns() if time_ns is None else time_ns, process.since_ns)
        old = process.state
        spent = t - process.since_ns
        if old is ProcessState.READY:
            process.metrics.ready_wait_ns += spent
        elif old is ProcessState.WAITING:
            process.metrics.entanglement_wait_ns += spent
        elif old is ProcessState.RUNNING:
            process.metrics.busy_ns += spent
        process.state, process.since_ns = new, t
        self._emit(process, old, new, t, reason)

    def _emit(self, process: Process, old: ProcessState | None, new: ProcessState, t: int, reason: str) -> None:
        if self.events.active:
            self.events.emit(ProcessEvent(t, self.node_name, process.pid, process.kind, old, new, reason))

    # --- the process manager (Python API) ---------------------------------------------------------------
    def init_app(self, app_id: int, max_qubits: int, name: str = "", time_ns: int | None = None) -> Process:
        if app_id in self.processes:
            raise QlabOSError(f"app {app_id} is already running on {self.node_name}; stop it first")
        if not 0 <= max_qubits <= MAX_APP_QUBITS:
            raise QlabOSError(f"max_qubits must be in 0..{MAX_APP_QUBITS}, got {max_qubits}")
        qubit_map = self.qmm.register(app_id, max_qubits)
        t = self.clock.now_ns() if time_ns is None else time_ns
        process = Process(pid=app_id, max_qubits=max_qubits, qubit_map=qubit_map, name=name or f"app{app_id}",
                          since_ns=t)
        self.processes[app_id] = process
        self._emit(process, None, ProcessState.NEW, t, "INIT_NEW_APP")
        self.transition(process, ProcessState.IDLE, t)
        if self.shared_memory:
            _reset_shared_memory(self.node_name, app_id)
        return process

    def open_epr_socket(self, app_id: int, epr_socket_id: int, remote_node_id: int, remote_epr_socket_id: int,
                        min_fidelity: int = 100) -> None:
        process = self._process(app_id)
        key = (epr_socket_id, remote_node_id)
        if key in process.epr_sockets:
            raise QlabOSError(f"app {app_id} already opened EPR socket {epr_socket_id} to node {remote_node_id}")
        process.epr_sockets[key] = EPRSocketInfo(epr_socket_id, remote_node_id, remote_epr_socket_id, min_fidelity)

    def run_subroutine(self, subroutine: Subroutine, app_id: int | None = None) -> SubroutineResult:
        """Run a subroutine of a running app to its end. Raises SubroutineError; the app then has failed.

        A wait that nothing pending can satisfy is an error here; :meth:`begin` / :meth:`resume` let a caller
        (the in-process runtime) wait for entanglement instead.
        """
        ex = self.begin(subroutine, app_id)
        if not self.resume(ex):
            self.abort(ex, f"{ex.blocked_on}, and nothing pending on this node can set it")
        return self.finish(ex)

    def begin(self, subroutine: Subroutine, app_id: int | None = None, submitted_ns: int | None = None) -> Execution:
        """Submit a subroutine: compile it; its process becomes READY (at ``submitted_ns``, default now) until
        :meth:`resume` runs it."""
        pid = subroutine.app_id if app_id is None else app_id
        process = self._process(pid)
        if process.state is ProcessState.FAILED:
            raise SubroutineError(f"the app failed earlier ({process.error}); stop it and start it again",
                                  app_id=pid)
        t = self.clock.now_ns() if submitted_ns is None else submitted_ns
        try:
            ex = self.executor.start(process, subroutine)
        except SubroutineError as exc:
            self._fail(process, str(exc), t)
            raise
        process.submitted_ns = t
        self.transition(process, ProcessState.READY, t, f"subroutine {process.subroutines_run} submitted")
        return ex

    def resume(self, ex: Execution) -> bool:
        """Run on (the process holds the QDevice meanwhile); True when the subroutine has ended, False while it
        waits for entanglement (``ex.blocked_on``, ``ex.ready``)."""
        process = ex.process
        if process.state is ProcessState.WAITING:
            self.transition(process, ProcessState.READY, reason="entanglement delivered")
        self.transition(process, ProcessState.RUNNING)
        try:
            done = self.executor.resume(ex)
        except SubroutineError as exc:
            self._fail(process, str(exc))
            raise
        if done:
            self.transition(process, ProcessState.IDLE, reason=f"subroutine {process.subroutines_run} ended")
        else:
            self.transition(process, ProcessState.WAITING, reason=ex.blocked_on or "")
        return done

    def finish(self, ex: Execution) -> SubroutineResult:
        """The results of an ended subroutine (also written to netqasm's shared memory if enabled)."""
        if not ex.finished:
            raise SubroutineError("the subroutine has not ended yet", app_id=ex.process.pid, line=ex.pc)
        ex.process.subroutines_run += 1
        ex.process.metrics.subroutine_latencies_ns.append(self.clock.now_ns() - ex.process.submitted_ns)
        if self.shared_memory:
            write_shared_memory(self.node_name, ex.process.pid, ex.result)
        return ex.result

    def abort(self, ex: Execution, reason: str) -> None:
        """Give up on a waiting subroutine: its app fails (qubits freed) and SubroutineError is raised."""
        instr = ex.subroutine.instructions[ex.pc] if ex.pc < len(ex.subroutine.instructions) else None
        error = SubroutineError(reason, app_id=ex.process.pid, line=ex.pc,
                                instruction=str(instr) if instr is not None else None)
        self._fail(ex.process, str(error))
        raise error

    def stop_app(self, app_id: int) -> list[int]:
        """Stop an app: free its qubits and memory. Returns the physical qubits that were freed."""
        process = self._process(app_id)
        freed = self.qmm.unregister(app_id)
        self.executor.scrub(freed)
        if process.state is not ProcessState.FAILED:
            self.transition(process, ProcessState.DONE, reason="STOP_APP")
        del self.processes[app_id]
        self.finished.append(process)
        return freed

    def _fail(self, process: Process, error: str, time_ns: int | None = None) -> None:
        process.error = error
        self.transition(process, ProcessState.FAILED, time_ns, error)
        freed = self.qmm.unregister(process.pid)
        self.executor.scrub(freed)
        process.qubit_map = self.qmm.register(process.pid, 0)  # empty unit module: STOP_APP still works
        # the caller gets the error itself; this is only the node's own record
        self.log.info("app %d failed: %s (freed physical qubits %s)", process.pid, error, freed)

    def _process(self, app_id: int) -> Process:
        try:
            return self.processes[app_id]
        except KeyError:
            running = ", ".join(map(str, sorted(self.processes))) or "none"
            raise UnknownAppError(f"no app {app_id} on {self.node_name} (running apps: {running})") from None

    # --- netqasm messages --------------------------------------------------------------------------------
    def handle_message(self, raw: bytes) -> list[Reply]:
        """Handle one serialized host message; return the replies in order. Never raises for bad input."""
        self._messages_handled += 1
        msg_id = self._messages_handled - 1
        try:
            msg = deserialize_host_msg(raw)
        except Exception as exc:
            return [ErrorReply(None, ErrorCode.GENERAL, f"cannot decode host message: {exc or type(exc).__name__}")]
        try:
            return [*self._dispatch(msg), MsgDoneMessage(msg_id)]
        except DeviceFullError as exc:
            return [ErrorReply(_app_of(msg), ErrorCode.NO_QUBIT, str(exc))]
        except UnsupportedInstructionError as exc:
            return [ErrorReply(_app_of(msg), ErrorCode.UNSUPP, str(exc))]
        except SubroutineError as exc:
            code = ErrorCode.NO_QUBIT if isinstance(exc.__cause__, DeviceFullError) else ErrorCode.GENERAL
            if isinstance(exc.__cause__, UnsupportedInstructionError):
                code = ErrorCode.UNSUPP
            return [ErrorReply(_app_of(msg), code, str(exc))]
        except QlabOSError as exc:
            return [ErrorReply(_app_of(msg), ErrorCode.GENERAL, str(exc))]

    def _dispatch(self, msg: Any) -> list[Reply]:
        if isinstance(msg, InitNewAppMessage):
            self.init_app(msg.app_id, msg.max_qubits)
            return []
        if isinstance(msg, OpenEPRSocketMessage):
            self.open_epr_socket(msg.app_id, msg.epr_socket_id, msg.remote_node_id, msg.remote_epr_socket_id,
                                 msg.min_fidelity)
            return []
        if isinstance(msg, SubroutineMessage):
            subroutine = decode_binary(msg.subroutine, self.flavour)
            result = self.run_subroutine(subroutine)
            return result_messages(result)
        if isinstance(msg, StopAppMessage):
            self.stop_app(msg.app_id)
            return []
        if isinstance(msg, SignalMessage):
            return []
        raise DecodeError(f"unexpected host message type {getattr(msg, 'type', '?')}")


def _reset_shared_memory(node_name: str, app_id: int) -> None:
    """An empty shared memory for a new app. An existing one is emptied in place, not replaced: a netqasm
    connection may already hold the object (it looks it up when it is constructed, before INIT_NEW_APP)."""
    memory = SharedMemoryManager.get_shared_memory(node_name, key=app_id)
    if memory is None:
        SharedMemoryManager.create_shared_memory(node_name, key=app_id)
        return
    fresh = SharedMemory()
    memory._registers, memory._arrays = fresh._registers, fresh._arrays


def write_shared_memory(node_name: str, app_id: int, result: SubroutineResult) -> None:
    """Put returned values where netqasm SDK futures look: ``SharedMemoryManager`` (node name, app id)."""
    memory = SharedMemoryManager.get_shared_memory(node_name, key=app_id)
    for name, value in result.registers.items():
        memory.set_register(name, value)
    for address, values in result.arrays.items():
        memory.init_new_array(address, new_array=list(values))


def result_messages(result: SubroutineResult) -> list[Reply]:
    """RET_REG / RET_ARR messages for what a subroutine returned, in netqasm's encoding."""
    replies: list[Reply] = [ReturnRegMessage(Register.from_str(name).cstruct, value)
                            for name, value in result.registers.items()]
    replies += [ReturnArrayMessage(addr, values) for addr, values in result.arrays.items()]
    return replies


def _app_of(msg: Any) -> int | None:
    app_id = getattr(msg, "app_id", None)
    if isinstance(msg, SubroutineMessage):
        try:
            app_id = int.from_bytes(msg.subroutine[2:4], "little")
        except Exception:
            app_id = None
    return app_id if isinstance(app_id, int) else None

