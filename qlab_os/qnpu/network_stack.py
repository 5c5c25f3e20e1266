"""The network stack of one node: EPR sockets and entanglement requests, after netqasm's link-layer interface.

``create_epr`` / ``recv_epr`` of a running subroutine become an :class:`EprRequest`, handed to a
:class:`LinkLayerService` (the in-process one is ``qlab_os.net.link_layer``). When the service has matched a
create with the peer's recv, it realises each pair through both nodes' stacks: a communication qubit is
taken (for the app's virtual qubit, or for the network process when the pair is measured at once), the
QDriver's ENT instruction makes the pair, a measure-directly half is rotated into its basis and measured,
and the results go into the app's array in netqasm's layout (``LinkLayerOKTypeK`` / ``LinkLayerOKTypeM``),
where the app's ``wait_all`` sees them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from netqasm.lang.instr import core
from netqasm.sdk.build_epr import SerializedCreateRequestIndex as Arg
from netqasm.sdk.qubit import QubitMeasureAxes

from qlab_os.errors import DeviceFullError, QlabOSError, SubroutineError
from qlab_os.qdevice.instructions import EntParams, PhysicalInstruction, PhysicalOp, PhysicalResponse
from qlab_os.qnpu.frame import Frame, slot
from qlab_os.qnpu.gates import Gate
from qlab_os.qnpu.process import NETWORK_PID, Process

if TYPE_CHECKING:
    from qlab_os.qnpu.qnpu import QNPU

OK_FIELDS = 10
"""Entries per pair in a result array (netqasm: LinkLayerOKTypeK and LinkLayerOKTypeM both have 10)."""
EPR_TYPE_K, EPR_TYPE_M, EPR_TYPE_R = 0, 1, 2
_AXES = {
    QubitMeasureAxes.XYX: (Gate.ROT_X, Gate.ROT_Y, Gate.ROT_X),
    QubitMeasureAxes.YZY: (Gate.ROT_Y, Gate.ROT_Z, Gate.ROT_Y),
    QubitMeasureAxes.ZXZ: (Gate.ROT_Z, Gate.ROT_X, Gate.ROT_Z),
}


class EntanglementError(QlabOSError):
    """An entanglement request could not be served (no link, no herald, mismatched requests...)."""


class QubitBusy(EntanglementError):
    """The qubit a pair needs is still taken; the pair waits until one is freed (not a failure)."""


@dataclass(eq=False)
class EprRequest:
    """One create_epr or recv_epr of one app."""

    creator: bool
    stack: NodeNetworkStack
    process: Process
    epr_socket_id: int
    remote_node_id: int
    remote_epr_socket_id: int
    min_fidelity: int
    num_pairs: int
    q_array_address: int | None
    result_address: int
    args: list[int | None] = field(default_factory=list)
    line: int = 0
    pairs_done: int = 0
    error: str | None = None
    attempts_used: int = 0
    """Entanglement attempts made for this request so far (over all its time bins)."""
    submitted_ns: int = 0
    """When the app submitted it (its node's clock)."""
    pair_since_ns: int = 0
    """When its current pair started to be waited for (submission, then each delivery)."""

    def __post_init__(self) -> None:
        self.pair_since_ns = self.submitted_ns

    @property
    def node_id(self) -> int:
        return self.stack.node_id

    def arg(self, index: int, default: int = 0) -> int:
        value = self.args[index] if index < len(self.args) else None
        return default if value is None else value


class LinkLayerService(Protocol):
    def submit(self, request: EprRequest) -> None:
        """Take a request; serve it at once if its peer request is already there."""
        ...

    def progress(self) -> None:
        """Serve what waits for a qubit to become free (called when a node frees qubits)."""
        ...

    def cancel(self, node_id: int, pid: int, what: str = "stopped") -> None:
        """Drop the pending requests of an app that stopped or failed (``what`` it did, for the peer's error)."""
        ...


class NodeNetworkStack:
    """Implements the executor's NetworkStack for one node."""

    def __init__(self, node_id: int, qnpu: QNPU, service: LinkLayerService | None = None) -> None:
        self.node_id = node_id
        self.qnpu = qnpu
        self.service = service
        self.errors: dict[int, str] = {}
        """Per app: why an entanglement request of it failed (the runtime turns it into the app's error)."""
        self.delivered_ns: dict[int, int] = {}
        """Per app: when (this node's clock) its latest pair was delivered."""
        self.ent_log: list[tuple[str, int, int]] = []
        """Every ENT this node ran: (link, start_ns, end_ns) on its device timeline (tests and timelines)."""
        qnpu.qmm.register(NETWORK_PID, qnpu.spec.num_qubits)

    # --- from the executor ---------------------------------------------------------------------------------
    def submit(self, frame: Frame, instr: Any) -> None:
        if self.service is None:
            raise SubroutineError(f"{instr.mnemonic}: this node is not connected to a network")
        R, process = frame.regs, frame.process
        creator = isinstance(instr, core.CreateEPRInstruction)

        def reg(r: Any, what: str, required: bool = True) -> int | None:
            v = R[slot(r)]
            if v is None and required:
                raise SubroutineError(f"{instr.mnemonic}: register {r} ({what}) has no value")
            return v

        remote = reg(instr.remote_node_id, "remote node id")
        socket_id = reg(instr.epr_socket_id, "EPR socket id")
        assert remote is not None and socket_id is not None
        socket = process.epr_sockets.get((socket_id, remote))
        if socket is None:
            opened = ", ".join(f"{s} to node {n}" for s, n in sorted(process.epr_sockets)) or "none"
            raise SubroutineError(f"{instr.mnemonic}: EPR socket {socket_id} to node {remote} was never opened "
                                  f"(opened: {opened})")
        result_address = reg(instr.ent_results_array, "result array")
        assert result_address is not None
        results = self._array(process, result_address, instr.mnemonic)
        args: list[int | None] = []
        if creator:
            arg_address = reg(instr.arg_array, "argument array")
            assert arg_address is not None
            args = list(self._array(process, arg_address, instr.mnemonic))
            num_pairs = args[Arg.NUMBER] or 1
            kind = args[Arg.TYPE] or 0
        else:
            num_pairs = len(results) // OK_FIELDS
            kind = None
        if num_pairs < 1 or len(results) < num_pairs * OK_FIELDS:
            raise SubroutineError(f"{instr.mnemonic}: result array @{result_address} has {len(results)} entries; "
                                  f"{num_pairs} pair(s) need {num_pairs * OK_FIELDS}")
        q_array = reg(instr.qubit_addr_array, "qubit id array", required=False)
        if creator and kind in (EPR_TYPE_M, EPR_TYPE_R):
            q_array = None  # the SDK puts a placeholder there for measure-directly requests
        if q_array is not None and kind in (None, EPR_TYPE_K):
            qs = process.arrays.get(q_array)
            if qs is None or (creator and len(qs) < num_pairs):
                if creator:
                    raise SubroutineError(f"{instr.mnemonic}: qubit id array @{q_array} must hold {num_pairs} ids")
                q_array = None if qs is None else q_array
        self.service.submit(EprRequest(
            creator=creator, stack=self, process=process, epr_socket_id=socket_id, remote_node_id=remote,
            remote_epr_socket_id=socket.remote_epr_socket_id, min_fidelity=socket.min_fidelity,
            num_pairs=num_pairs, q_array_address=q_array, result_address=result_address, args=args,
            submitted_ns=self.qnpu.clock.now_ns(),
        ))

    def qubits_released(self) -> None:
        """The node freed qubits: pairs that waited for one may go ahead."""
        if self.service is not None:
            self.service.progress()

    @staticmethod
    def _array(process: Process, address: int, mnemonic: str) -> list[int | None]:
        arr = process.arrays.get(address)
        if arr is None:
            raise SubroutineError(f"{mnemonic}: no array at address @{address}")
        return arr

    # --- from the link layer: realise one half of a pair on this node --------------------------------------
    def take_qubit(self, request: EprRequest, pair: int, keep: bool) -> tuple[int, int | None]:
        """A free communication qubit for this half: mapped to the app's virtual qubit when it is kept,
        to the network process when it is measured at once. Returns (physical, virtual or None)."""
        qmm = self.qnpu.qmm
        free = [q for q in self.qnpu.spec.communication_qubits if qmm.owner(q) is None]
        if not free:
            raise QubitBusy(
                f"node {self.node_id} has no free communication qubit for pair {pair + 1} of {request.num_pairs} "
                f"(communication qubits {list(self.qnpu.spec.communication_qubits)} are all in use)")
        physical = free[0]
        if not keep:
            qmm.allocate(NETWORK_PID, physical, physical)
            return physical, None
        virtual = self._virtual_id(request, pair)
        if virtual in request.process.qubit_map:  # a sequential request reuses one virtual qubit per pair
            raise QubitBusy(f"virtual qubit {virtual} of app {request.process.pid} still holds the previous pair")
        try:
            qmm.allocate(request.process.pid, virtual, physical)
        except (DeviceFullError, QlabOSError) as exc:
            raise EntanglementError(f"cannot place pair {pair + 1} on virtual qubit {virtual}: {exc}") from exc
        return physical, virtual

    def can_take(self, request: EprRequest, pair: int, keep: bool) -> bool:
        """Whether :meth:`take_qubit` would find what it needs now (no side effects)."""
        qmm = self.qnpu.qmm
        if not any(qmm.owner(q) is None for q in self.qnpu.spec.communication_qubits):
            return False
        if not keep or request.q_array_address is None:
            return True
        ids = request.process.arrays.get(request.q_array_address) or []
        return pair >= len(ids) or ids[pair] not in request.process.qubit_map

    def _virtual_id(self, request: EprRequest, pair: int) -> int:
        if request.q_array_address is None:
            raise EntanglementError("a kept pair needs a qubit id array, and the request has none")
        ids = request.process.arrays.get(request.q_array_address)
        if ids is None or pair >= len(ids) or ids[pair] is None:
            raise EntanglementError(f"qubit id array @{request.q_array_address} has no id for pair {pair + 1}")
        value = ids[pair]
        assert value is not None
        return value

    def ent(self, physical: int, link: str, window_end_ns: int | None = None) -> PhysicalResponse:
        """One ENT on this node's QDriver (the link layer issues the peer's right after).

        ``window_end_ns``: the end of the time bin the attempts run in. The device is held (and the clock
        moves) only up to it: attempts the driver reports beyond it were never made (the link layer throws
        such a herald away)."""
        instr = PhysicalInstruction(PhysicalOp.ENT, (physical,), ent=EntParams(link=link))
        ex = self.qnpu.executor
        start = ex.clock.now_ns()
        response = ex.driver.execute(instr)
        end = start + response.duration_ns
        if window_end_ns is not None:
            end = min(end, max(window_end_ns, start))
        ex.clock.advance_ns(end - start)
        ex.stats.physical_instructions += 1
        ex.stats.device_busy_ns += end - start
        self.ent_log.append((link, start, end))
        return response

    def measure_in_basis(self, physical: int, rotations_pi16: Sequence[int], axes: int) -> int:
        """Rotate (angles in units of pi/16, netqasm's convention) about ``axes`` in order, then measure Z."""
        ex = self.qnpu.executor
        gates = _AXES[QubitMeasureAxes(axes)]
        for gate, n in zip(gates, rotations_pi16, strict=True):
            if n:
                ex.run_physical(self.qnpu.translator.gate(gate, (physical,), n * math.pi / 16))
        return ex.measure(physical)

    def release(self, physical: int) -> None:
        """Free a measure-directly qubit of the network process (and scrub it)."""
        self.qnpu.qmm.free(NETWORK_PID, physical)
        self.qnpu.executor.scrub((physical,))

    def write_result(self, request: EprRequest, pair: int, fields: Sequence[int | None]) -> None:
        arr = request.process.arrays.get(request.result_address)
        if arr is None:  # the app dropped its array (or stopped): nothing to write into
            return
        start = pair * OK_FIELDS
        arr[start:start + OK_FIELDS] = list(fields)
        self.delivered_ns[request.process.pid] = self.qnpu.clock.now_ns()

    def fail(self, request: EprRequest, reason: str) -> None:
        request.error = reason
        self.errors[request.process.pid] = reason

    def error_for(self, pid: int) -> Callable[[], str | None]:
        return lambda: self.errors.get(pid)
