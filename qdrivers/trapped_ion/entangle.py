"""The trapped-ion node's end of a heralded link (ion-photon entanglement of ion 0, the communication ion): what the
link controller (:mod:`qdrivers.heralding.link_controller`) asks of the trapped_ion QDriver, on the node's own
instruments only. The loop itself (loop count, trigger, correction) is the shared
:class:`~qdrivers.heralding.attempts.AttemptLoopEnd`, as for an NV end; the ion adds:

- before anything is played (:meth:`IonLinkEnd.check_ready`): refuse while the station is in its safe state
  after a fault, or while ion 1 (or any other ion) holds a quantum state: the init before the loop and the optical
  pumping of every repetition light the whole chain;
- preparing the qubit: sync the simulated lab's clock (if any); the init block (854 repump, Doppler cooling,
  pumping: a fresh thermal state for the alpha pulse, every ion to ``|0>``, frames reset; an ion known to be in
  ``|1>`` is not put back, as INIT would, because the attempts' pumping would not keep it there); the 729 RF phase
  of the x axis, which the alpha pulse of the attempt element uses;
- the correction's pi pulse, an addressed x or y pulse on ion 0 (its frame is 0 after INIT), 25 us with the AWG's
  padding: an NV end's 250 ns pulse is shorter, so on an NV-ion link the NV plays it.

Each step runs through the driver's fault handling (:meth:`TrappedIonQDriver.run_step`, shared by the loop): a fault
puts the node's station in its safe state and raises a QDriverError naming the instrument; the driver then refuses
instructions until ``reset()``, as after any fault of this driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from instruments.tektronix.awg_sequence import Block
from qdrivers.heralding.attempts import AttemptLoopEnd
from qlab_os.qdevice.instructions import Axis

if TYPE_CHECKING:
    from qdrivers.trapped_ion.driver import TrappedIonQDriver

__all__ = ["IonLinkEnd"]


class IonLinkEnd(AttemptLoopEnd):
    """Ion 0 of a trapped-ion node as an end of a heralded link (see the module docstring)."""

    def __init__(self, driver: TrappedIonQDriver, link: str) -> None:
        library = driver.pulse_library
        super().__init__(driver, driver.node, link, library.entanglement, library.attempts, library.duration_ns)
        self._driver = driver

    def check_ready(self) -> None:
        self._driver.check_ready_for_attempts(f"ENT on link {self.link}")

    def _prepare_qubit(self, station: str) -> int:
        driver = self._driver
        lab = driver.lab_clock
        if lab is not None:
            lab.catch_up()
        nominal_ns = driver.initialise_for_entanglement()
        return lab.elapsed_ns() if lab is not None else nominal_ns

    def _trigger(self, block: Block) -> None:
        self._driver.play(block)

    def _pi_pulse(self, axis: Axis) -> int:
        return self._driver.pi_pulse_on_communication_ion(axis)

    def correction_duration_ns(self) -> int:
        return self._driver.pulse_library.longest_rotation_ns
