"""Processes of the QNPU: user processes, one per application instance, and one network process per node.

A user process owns its classical memory (registers and arrays) and its unit module of virtual qubits. Nothing
of one process is reachable from another: the executor runs a subroutine against exactly one process. The
network process owns the communication qubits of measure-directly pairs while they exist and makes the
entanglement attempts in its link's time bins.

Lifecycle (every transition is a :class:`qlab_os.qnpu.events.ProcessEvent`)::

    NEW -> IDLE -> READY -> RUNNING -> IDLE ...      (a subroutine: submitted, given the QDevice, ended)
                             RUNNING -> WAITING -> READY -> RUNNING ...   (blocked on entanglement, served)
    any -> FAILED (its qubits are freed)            any -> DONE (STOP_APP)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from netqasm.lang.encoding import RegisterName

REGISTERS_PER_GROUP = 16
"""netqasm 2.3: registers R, C, Q, M, each with indices 0..15."""
NUM_REGISTERS = REGISTERS_PER_GROUP * len(RegisterName)
NETWORK_PID = -1
"""Process id of a node's network process (app ids are >= 0)."""


_GROUP_BASE = {id(g): int(g.value) * REGISTERS_PER_GROUP for g in RegisterName}
"""Keyed by the member's id: Enum attribute access and hashing are Python-level and slow compile down."""
_NAMES = [f"{RegisterName(s // REGISTERS_PER_GROUP).name}{s % REGISTERS_PER_GROUP}" for s in range(NUM_REGISTERS)]


def register_slot(group: RegisterName, index: int) -> int:
    """Position of a register in the flat register file of a process."""
    return _GROUP_BASE[id(group)] + index


def register_name(slot: int) -> str:
    """netqasm spelling of a flat register slot, e.g. ``R0``, ``M3``."""
    return _NAMES[slot]


class ProcessState(enum.Enum):
    """Lifecycle of a process."""

    NEW = "new"
    """Created (INIT_NEW_APP), nothing submitted yet."""
    IDLE = "idle"
    """No subroutine pending: its CNPU is computing or waiting (for a message, a peer...)."""
    READY = "ready"
    """A subroutine (or, for the network process, an attempt window) waits for the QDevice."""
    RUNNING = "running"
    """Holds the QDevice: its quantum block runs, not interleaved with any other process's instructions."""
    WAITING = "waiting"
    """Blocked on entanglement (a wait instruction); the QDevice serves others meanwhile."""
    DONE = "done"
    FAILED = "failed"


class ProcessKind(enum.Enum):
    USER = "user"
    NETWORK = "network"


@dataclass
class ProcessMetrics:
    """Per-process timing, in virtual nanoseconds, accumulated from its transitions."""

    ready_wait_ns: int = 0
    """Time spent READY: a subroutine was waiting for the QDevice (the scheduler's part of latency)."""
    entanglement_wait_ns: int = 0
    """Time spent WAITING for entanglement."""
    busy_ns: int = 0
    """Time it held the QDevice (RUNNING)."""
    subroutine_latencies_ns: list[int] = field(default_factory=list)
    """Per subroutine: from submission to its end."""


@dataclass
class SubroutineResult:
    """What a subroutine returned with ``ret_reg`` / ``ret_arr``."""

    registers: dict[str, int] = field(default_factory=dict)
    arrays: dict[int, list[int | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, dict[str, object]]:
        return {
            "registers": dict(self.registers),
            "arrays": {str(addr): list(values) for addr, values in sorted(self.arrays.items())},
        }


@dataclass
class EPRSocketInfo:
    epr_socket_id: int
    remote_node_id: int
    remote_epr_socket_id: int
    min_fidelity: int


@dataclass(eq=False)  # a process is itself: identity equality and hash (schedulers key bookkeeping by it)
class Process:
    """One application instance on this node."""

    pid: int
    max_qubits: int
    qubit_map: dict[int, int]
    """virtual -> physical, owned and updated by the quantum memory manager; read-only here."""
    registers: list[int | None] = field(default_factory=lambda: [None] * NUM_REGISTERS)
    arrays: dict[int, list[int | None]] = field(default_factory=dict)
    state: ProcessState = ProcessState.NEW
    epr_sockets: dict[tuple[int, int], EPRSocketInfo] = field(default_factory=dict)
    """(EPR socket id, remote node id) -> socket; as in netqasm, one id may be used towards several nodes."""
    error: str | None = None
    subroutines_run: int = 0
    kind: ProcessKind = ProcessKind.USER
    name: str = ""
    """Who it is for people (the app's role), in events and statistics."""
    since_ns: int = 0
    """When it entered its current state."""
    submitted_ns: int = 0
    """When its current subroutine was submitted."""
    metrics: ProcessMetrics = field(default_factory=ProcessMetrics)
