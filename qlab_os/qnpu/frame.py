"""The execution frame: what compiled instructions of one subroutine run against.

Instructions are compiled into closures over the frame's fields (the process's flat register file, its
arrays, its virtual->physical qubit map), so that running one costs a Python call and little more. This is
why the executor is several times faster than netqasm's own interpreter, which looks up handlers, operands
and registers by name for every instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netqasm.lang.operand import Register

from qlab_os.errors import QlabOSError
from qlab_os.qnpu.process import Process, SubroutineResult, register_slot

if TYPE_CHECKING:
    from qlab_os.qnpu.executor import Executor

Op = Callable[[], int]
"""A compiled instruction: runs it and returns the index of the next instruction."""


class UndefinedValueError(QlabOSError):
    """An instruction read a register or array entry that holds no value."""


class Blocked(Exception):
    """Raised by a wait instruction whose entries are not all defined yet."""

    def __init__(self, pc: int, what: str, ready: Callable[[], bool]) -> None:
        self.pc = pc
        self.what = what
        self.ready = ready
        """Side-effect-free check: can the wait instruction pass now?"""
        super().__init__(what)


@dataclass
class Frame:
    process: Process
    executor: Executor
    result: SubroutineResult
    array_entries_allocated: int = 0
    """Array entries this subroutine has allocated so far (its share of allocation work is capped)."""

    @property
    def regs(self) -> list[int | None]:
        return self.process.registers

    @property
    def arrays(self) -> dict[int, list[int | None]]:
        return self.process.arrays


def slot(reg: Register) -> int:
    return register_slot(reg.name, reg.index)
