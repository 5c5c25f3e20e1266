"""Simulation hook: the simulated lab node's clock follows the kernel's clock. Used only on a simulated station.

On hardware, time passes by itself: between two instructions the spin decoheres whether or not anyone looks. In
the simulated lab (:mod:`sim_instruments.lab`), a node's physics has its own virtual clock, which moves only when
the AWG plays. So that time the kernel spends between instructions (idling, waiting for other processes, NONE)
also decoheres the simulated spin, :class:`LabTimeSync`, before each instruction, advances the lab node's clock
up to the kernel's clock (plus the offset the two had when the driver started), and measures the lab time the
instruction took, which the driver reports as its duration.

This is the only place where the NV QDriver knows that a lab is simulated. :func:`lab_time_sync` returns None
unless the station's AWG is opened with the simulated lab's pyvisa backend (``visalib: "<lab yaml>@qlab"``), and
imports :mod:`sim_instruments` only then, so the same driver runs on hardware unchanged.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from qlab_os.clock import Clock
from qlab_os.lab.station_config import StationConfig

_SIM_SUFFIX = "@qlab"
_DEFAULT_LAB = "sim_instruments.lab:lab.yaml"


class _NodeClock(Protocol):
    def now_ns(self) -> int: ...
    def advance_ns(self, duration_ns: int) -> None: ...


class LabTimeSync:
    """Keeps a simulated lab node's clock at ``kernel clock + offset`` before each instruction."""

    def __init__(self, node_clock: _NodeClock, kernel_clock: Clock, node: str) -> None:
        self.node = node
        self._lab = node_clock
        self._kernel = kernel_clock
        self._offset_ns = node_clock.now_ns() - kernel_clock.now_ns()

    def before_instruction(self) -> int:
        """Let the lab node idle up to the kernel's present; return the lab time the instruction starts at.

        If the lab is ahead (it played something the kernel did not count, such as :meth:`NVQDriver.reset`),
        the offset is moved instead: lab time never goes back.
        """
        target = self._kernel.now_ns() + self._offset_ns
        lab_now = self._lab.now_ns()
        if lab_now < target:
            self._lab.advance_ns(target - lab_now)
        elif lab_now > target:
            self._offset_ns = lab_now - self._kernel.now_ns()
        return self._lab.now_ns()

    def idle(self, duration_ns: int) -> None:
        """The node waits (a NONE instruction): its qubits evolve freely for ``duration_ns``."""
        self._lab.advance_ns(duration_ns)

    def elapsed_since(self, start_ns: int) -> int:
        return self._lab.now_ns() - start_ns


def lab_time_sync(config: StationConfig, awg_name: str, kernel_clock: Clock) -> LabTimeSync | None:
    """The hook for a station whose instrument ``awg_name`` is on the simulated lab; None on hardware."""
    entry = config.instruments[awg_name]
    visalib = str(entry.init.get("visalib", ""))
    if not visalib.endswith(_SIM_SUFFIX) or entry.address is None:
        return None
    lab_module = importlib.import_module("sim_instruments.lab.lab")
    lab = lab_module.get_lab(visalib[: -len(_SIM_SUFFIX)] or _DEFAULT_LAB)
    model = lab.model_of(lab.resource_of(entry.address))
    if model is None:
        return None
    node = lab.node(model.owner)
    return LabTimeSync(node.clock, kernel_clock, node.name)
