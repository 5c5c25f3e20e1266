"""Quantum memory manager: virtual qubits of each process -> physical qubits of the device.

A process names qubits only by virtual address (0 .. max_qubits-1, its "unit module"). The manager is the
only place that maps them to physical indices, so a process can never reach another process's qubits: a
virtual address it has not allocated simply has no mapping.

Allocation policy (after QNodeOS): an app's own qubits (qalloc) go to memory qubits first and fall back to
communication qubits, so that communication qubits stay free for entanglement; the network stack places
each half of an entangled pair on a communication qubit explicitly. (netqasm's NV transpiler assumes that
virtual qubit 0 is the electron; our translator routes through the electron wherever a qubit lives, so that
assumption is not needed.)
"""

from __future__ import annotations

from collections.abc import Iterable

from qlab_os.errors import DeviceFullError, QubitAccessError


class QuantumMemoryManager:
    """Owns the physical qubits of one device and hands them to processes."""

    def __init__(self, num_qubits: int, communication_qubits: Iterable[int] = ()) -> None:
        if num_qubits < 1:
            raise ValueError(f"a device needs at least one qubit, got {num_qubits}")
        self.num_qubits = num_qubits
        comm = sorted(set(communication_qubits))
        if any(not 0 <= q < num_qubits for q in comm):
            raise ValueError(f"communication qubits {comm} out of range 0..{num_qubits - 1}")
        self._memory_order = [q for q in range(num_qubits) if q not in comm] + comm
        self._owner: dict[int, int] = {}  # physical -> pid
        self._maps: dict[int, dict[int, int]] = {}  # pid -> (virtual -> physical)
        self._unit_module_size: dict[int, int] = {}

    # --- processes -------------------------------------------------------------------------------------
    def register(self, pid: int, max_qubits: int) -> dict[int, int]:
        """Give a new process an empty unit module of ``max_qubits`` virtual addresses.

        Returns the process's virtual->physical map; the executor reads it (never writes it).
        """
        if pid in self._maps:
            raise ValueError(f"process {pid} is already registered with the memory manager")
        if max_qubits < 0:
            raise ValueError(f"max_qubits must be >= 0, got {max_qubits}")
        self._maps[pid] = {}
        self._unit_module_size[pid] = max_qubits
        return self._maps[pid]

    def unregister(self, pid: int) -> list[int]:
        """Free every qubit of ``pid`` and forget it. Returns the physical qubits that were freed."""
        mapping = self._maps.pop(pid, {})
        self._unit_module_size.pop(pid, None)
        for phys in mapping.values():
            del self._owner[phys]
        return sorted(mapping.values())

    # --- qubits ----------------------------------------------------------------------------------------
    def allocate(self, pid: int, virtual: int, physical: int | None = None) -> int:
        """Map ``virtual`` of ``pid`` to a free physical qubit (or to ``physical`` if given)."""
        mapping = self._mapping(pid)
        size = self._unit_module_size[pid]
        if not 0 <= virtual < size:
            raise QubitAccessError(
                f"virtual qubit {virtual} is outside the app's unit module of {size} qubits "
                f"(set at INIT_NEW_APP; valid addresses 0..{size - 1})"
            )
        if virtual in mapping:
            raise QubitAccessError(f"virtual qubit {virtual} is already allocated (physical {mapping[virtual]})")
        if physical is None:
            physical = next((q for q in self._memory_order if q not in self._owner), None)
            if physical is None:
                raise DeviceFullError(
                    f"cannot allocate virtual qubit {virtual}: all {self.num_qubits} physical qubits of the "
                    f"device are in use ({self._usage()})"
                )
        elif physical in self._owner:
            raise DeviceFullError(f"physical qubit {physical} is already in use by process {self._owner[physical]}")
        self._owner[physical] = pid
        mapping[virtual] = physical
        return physical

    def free(self, pid: int, virtual: int) -> int:
        """Release ``virtual`` of ``pid``. Returns the physical qubit that was freed."""
        mapping = self._mapping(pid)
        physical = mapping.pop(virtual, None)
        if physical is None:
            raise QubitAccessError(f"virtual qubit {virtual} is not allocated, so it cannot be freed")
        del self._owner[physical]
        return physical

    def physical(self, pid: int, virtual: int) -> int:
        """The physical qubit behind ``virtual`` of ``pid``; an error if the process does not own one."""
        physical = self._mapping(pid).get(virtual)
        if physical is None:
            raise QubitAccessError(f"virtual qubit {virtual} is not allocated by this app")
        return physical

    def owner(self, physical: int) -> int | None:
        return self._owner.get(physical)

    def free_count(self) -> int:
        return self.num_qubits - len(self._owner)

    def allocated(self, pid: int) -> dict[int, int]:
        """A copy of the process's virtual->physical map."""
        return dict(self._mapping(pid))

    def _mapping(self, pid: int) -> dict[int, int]:
        try:
            return self._maps[pid]
        except KeyError:
            raise QubitAccessError(f"process {pid} has no unit module (not started, or stopped)") from None

    def _usage(self) -> str:
        by_pid: dict[int, int] = {}
        for pid in self._owner.values():
            by_pid[pid] = by_pid.get(pid, 0) + 1
        return ", ".join(f"process {p}: {n}" for p, n in sorted(by_pid.items()))
