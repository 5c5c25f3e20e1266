"""The NV node's end of a heralded link: what the link controller (:mod:`qdrivers.heralding.link_controller`) asks of
the NV QDriver, on the node's own instruments only. The loop itself (loop count, trigger, correction) is the shared
:class:`~qdrivers.heralding.attempts.AttemptLoopEnd`; the NV adds:

- preparing the qubit: sync the simulated lab's clock (if any), INIT (green and the charge-resonance check, so the
  NV is NV- before the attempts), the nominal drive (the attempt element's alpha rotation is played at the
  library's channel amplitude and the microwave phase of the software frame, which INIT reset);
- the correction's pi pulse as a ROT of the driver.

Each step runs through the driver's fault handling (:meth:`NVQDriver.run_step`, shared by the loop): an instrument
failure puts this node's station in its safe state and raises a QDriverError naming the instrument.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from instruments.tektronix.awg_sequence import Block
from qdrivers.heralding.attempts import AttemptLoopEnd
from qdrivers.nv.pulses import RotationPlan
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp

if TYPE_CHECKING:
    from qdrivers.nv.driver import NVQDriver

__all__ = ["NVLinkEnd"]


class NVLinkEnd(AttemptLoopEnd):
    """One NV node as an end of a heralded link (see the module docstring)."""

    def __init__(self, driver: NVQDriver, link: str) -> None:
        library = driver.library
        super().__init__(driver, driver.setup.node, link, library.entanglement, library.attempts, library.duration_ns)
        self._driver = driver

    def _prepare_qubit(self, station: str) -> int:
        driver = self._driver
        lab = driver.lab_time
        lab_start_ns = lab.before_instruction() if lab is not None else None
        init_ns = driver.initialise_for_entanglement()
        driver.set_drive(RotationPlan(driver.library.rotations[Axis.X][0], 1.0, 0.0))
        if lab is not None and lab_start_ns is not None:
            return lab.elapsed_since(lab_start_ns)
        return init_ns

    def _trigger(self, block: Block) -> None:
        self._driver.play(block.start)

    def _pi_pulse(self, axis: Axis) -> int:
        return self._driver.rotate(PhysicalInstruction(PhysicalOp.ROT, (0,), axis, math.pi))

    def correction_duration_ns(self) -> int:
        plan = self._driver.library.plan(Axis.X, math.pi)
        return plan.element.duration_ns if plan is not None else 0
