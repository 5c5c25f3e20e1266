"""Processes of the QNPU: one per application instance.

A process owns its classical memory (registers and arrays) and its unit module of virtual qubits. Nothing
of one process is reachable from another: the executor runs a subroutine against exactly one process.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from netqasm.lang.encoding import RegisterName

REGISTERS_PER_GROUP = 16
"""netqasm 2.3: registers R, C, Q, M, each with indices 0..15."""
NUM_REGISTERS = REGISTERS_PER_GROUP * len(RegisterName)


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
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


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


@dataclass
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
