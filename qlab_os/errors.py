"""Error classes of qlab-os.

Every error a user can cause has its own class and a message a lab operator or an application writer can act
on: what was wrong, where (file, key, instruction, line) and what is allowed instead.
"""

from __future__ import annotations


class QlabOSError(Exception):
    """Base class of every error qlab-os raises on purpose."""


class ConfigError(QlabOSError):
    """A configuration file (device spec, station or network YAML) is invalid.

    The message names the file, the key and the reason.
    """

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")


class UnknownQDriverError(QlabOSError):
    """A device or driver name that no installed QDriver provides."""


class QDriverError(QlabOSError):
    """A QDriver could not carry out a physical instruction (device fault, dead instrument...)."""


class UnsupportedInstructionError(QlabOSError):
    """The device cannot carry out an instruction, even after translation to its native gates."""


class SubroutineError(QlabOSError):
    """Running a subroutine failed. Names the app, the instruction and its line in the subroutine."""

    def __init__(self, reason: str, *, app_id: int | None = None, line: int | None = None,
                 instruction: str | None = None) -> None:
        self.reason = reason
        self.app_id = app_id
        self.line = line
        self.instruction = instruction
        where = []
        if app_id is not None:
            where.append(f"app {app_id}")
        if line is not None:
            where.append(f"line {line}")
        if instruction is not None:
            where.append(f"'{instruction}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class DecodeError(QlabOSError):
    """A NetQASM subroutine (text or binary) or a host message could not be decoded."""


class MemoryError_(QlabOSError):
    """Base class of quantum memory manager errors (named with a trailing underscore: not the builtin)."""


class DeviceFullError(MemoryError_):
    """No free physical qubit is left on the device (or in the app's unit module)."""


class QubitAccessError(MemoryError_):
    """A process named a qubit it does not own: unallocated, freed, or out of its unit module."""


class InstructionBudgetExceeded(QlabOSError):
    """A subroutine ran more instructions than the configured budget (e.g. an endless loop)."""


class UnknownAppError(QlabOSError):
    """A message named an application id that the node does not know (never started, or stopped)."""
