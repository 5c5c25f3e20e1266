"""The QDriver contract: the only hardware-dependent part of a node.

A QDriver carries out physical instructions (:mod:`qlab_os.qdevice.instructions`) on its QDevice and answers
each with a :class:`PhysicalResponse`. The kernel calls it from one thread, one instruction at a time, and
reads the instruction's duration from the response to advance its clock.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qlab_os.clock import Clock
from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalResponse
from qlab_os.qdevice.spec import QDeviceSpec


@dataclass(frozen=True)
class LinkSpec:
    """A heralded entanglement link as the OS configures it (the driver maps it to its own link model)."""

    attempt_duration_ns: int
    success_probability: float
    fidelity: float
    max_attempts: int = 10**8
    bell_state_correction: bool = True


class QDriver(abc.ABC):
    """Base class of every QDriver.

    Subclasses are registered under the entry-point group ``qlab_os.qdrivers`` (see
    :mod:`qlab_os.qdevice.registry`) and name the devices they provide in :meth:`device_names`.
    """

    name: ClassVar[str]
    """Registry name of the driver, e.g. ``"sim"``, ``"nv"``, ``"trapped_ion"``."""
    provides_qubit_state: ClassVar[bool] = False
    """True when :meth:`qubit_state` answers (simulated devices); real hardware leaves it False."""

    @classmethod
    @abc.abstractmethod
    def device_names(cls) -> tuple[str, ...]:
        """The device names this driver can build (e.g. ``("sim-generic", "sim-nv", "sim-ion")``)."""

    @classmethod
    @abc.abstractmethod
    def for_device(cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> QDriver:
        """Build a driver for one of :meth:`device_names`. ``ideal`` switches every noise source off.

        ``shared`` is one dict per run, passed to every driver of the run: drivers of one kind keep what
        they share there (the simulated drivers keep their single physics world, so that entangled pairs
        across nodes are one state). The first driver to create a shared object seeds it with ``seed``.
        """

    @classmethod
    def from_spec(cls, spec: QDeviceSpec, *, clock: Clock, seed: int | None = None) -> QDriver:
        """A device that *is* ``spec``: only simulating drivers can build one (the ``sim`` driver; see
        :mod:`qlab_os.twin`). Drivers of real devices raise."""
        from qlab_os.errors import UnsupportedInstructionError

        raise UnsupportedInstructionError(f"the {cls.name} driver drives a device; it cannot simulate a spec")

    @property
    @abc.abstractmethod
    def spec(self) -> QDeviceSpec:
        """What the device offers: qubits, communication qubits, native instructions, durations, noise."""

    @abc.abstractmethod
    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        """Carry out one physical instruction.

        Raises :class:`qlab_os.errors.UnsupportedInstructionError` for an instruction the device has no
        native for, and :class:`qlab_os.errors.QDriverError` for a device fault. Must not advance the clock:
        the kernel does that from ``response.duration_ns``.
        """

    @abc.abstractmethod
    def reset(self) -> None:
        """Bring every qubit back to |0> and forget all state. Called between independent runs."""

    @abc.abstractmethod
    def safe_state(self) -> None:
        """Put the instruments in their safe state (outputs off, lasers blocked). Must never raise."""

    def close(self) -> None:  # noqa: B027 - optional hook with a no-op default, not abstract
        """Release what the driver holds (instrument connections, after the safe state). Idempotent; the
        default has nothing to release."""

    def connect_link(self, name: str, spec: LinkSpec, shared: dict[str, object]) -> None:
        """Attach the entanglement link ``name`` (both ends call this with the same name and spec); ENT
        instructions then name it in ``EntParams.link``. Drivers without links raise."""
        from qlab_os.errors import UnsupportedInstructionError

        raise UnsupportedInstructionError(f"the {self.name} driver cannot make entanglement (no links)")

    def qubit_state(self, qubits: tuple[int, ...]) -> npt.NDArray[np.complex128] | None:
        """The reduced density matrix of these physical qubits, where the device can know it (simulation).

        Real hardware returns None. Used by ``get_qubit_state`` and by tests.
        """
        return None

    def set_qubit_state(self, qubit: int, rho: npt.NDArray[np.complex128]) -> None:
        """Put one physical qubit in the state ``rho`` (2x2 density matrix), as if it had just arrived in it.

        Simulated devices only (used by :mod:`qlab_os.twin`); real hardware raises."""
        from qlab_os.errors import UnsupportedInstructionError

        raise UnsupportedInstructionError(f"the {self.name} driver cannot set a qubit's state")

    def joint_state(self, qubit: int) -> npt.NDArray[np.complex128] | None:
        """The density matrix of the whole state ``qubit`` is part of (every qubit it is entangled with, on
        any node), with ``qubit`` first; None where the device cannot know it. ``get_qubit_state(q,
        reduced_dm=False)``, as SquidASM answers it."""
        return None
