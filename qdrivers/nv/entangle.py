"""The NV node's end of a heralded link: what the link controller (:mod:`qdrivers.heralding.link_controller`) asks of
the NV QDriver, on the node's own instruments only.

- prepare: sync the simulated lab's clock (if any), INIT (green and the charge-resonance check, so the NV is NV-
  before the attempts), the nominal drive (the attempt element's alpha rotation is played at the library's channel
  amplitude and the microwave phase of the software frame, which INIT reset), and the loop count;
- start: jump to the attempt element and trigger it (on the bench one trigger line starts both nodes' AWGs);
- correct: the Pauli correction to Phi+ as a real pi pulse (X for Psi+, Y for Psi-: ``Y (x) I |Psi-> = i|Phi+>``).

Each step runs through the driver's fault handling: an instrument failure puts this node's station in its safe state
and raises a QDriverError naming the instrument.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from qdrivers.nv.pulses import RotationPlan
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp

if TYPE_CHECKING:
    from qdrivers.nv.driver import NVQDriver

__all__ = ["NVLinkEnd"]

_CORRECTION_AXIS = {1: Axis.X, 2: Axis.Y}


class NVLinkEnd:
    """One NV node as an end of a heralded link (see the module docstring)."""

    def __init__(self, driver: NVQDriver, link: str) -> None:
        self._driver = driver
        self.link = link
        self._loop_setting: dict[str, int | None] = {}
        self.lab_start_ns: int | None = None

    @property
    def node(self) -> str:
        return self._driver.setup.node

    def stations(self) -> tuple[str, ...]:
        return tuple(self._driver.library.attempts)

    def heralding_station_file(self, station: str) -> Path:
        return self._driver.library.entanglement[station].station_file

    def attempt_duration_ns(self, station: str) -> int:
        return self._driver.library.attempt_duration_ns(station)

    def prepare_attempts(self, station: str, max_attempts: int | None) -> int:
        driver = self._driver
        lab = driver.lab_time
        block = driver.library.attempts[station]

        def prepare() -> int:
            self.lab_start_ns = lab.before_instruction() if lab is not None else None
            init_ns = driver.initialise_for_entanglement()
            rotations = driver.library.rotations[Axis.X]
            driver.set_drive(RotationPlan(rotations[0], 1.0, 0.0))
            if self._loop_setting.get(station, 0) != max_attempts:
                with driver.talking_to("awg") as awg:
                    awg.set_sqel_loopcnt_to_inf(block.start, 1 if max_attempts is None else 0)
                    if max_attempts is not None:
                        awg.set_sqel_loopcnt(max_attempts, block.start)
                self._loop_setting[station] = max_attempts
            if lab is not None and self.lab_start_ns is not None:
                return lab.elapsed_since(self.lab_start_ns)
            return init_ns

        result: int = driver.run_step(f"ENT on link {self.link}: preparing the attempt loop", prepare)
        return result

    def wait(self, duration_ns: int) -> None:
        if self._driver.lab_time is not None and duration_ns > 0:
            self._driver.lab_time.idle(duration_ns)

    def start_attempts(self, station: str) -> None:
        block = self._driver.library.attempts[station]
        self._driver.run_step(f"ENT on link {self.link}: the attempt loop", lambda: self._driver.play(block.start))

    def correct(self, bell_index: int) -> int:
        axis = _CORRECTION_AXIS[bell_index]
        pulse = PhysicalInstruction(PhysicalOp.ROT, (0,), axis, math.pi)
        duration: int = self._driver.run_step(f"ENT on link {self.link}: Pauli correction",
                                              lambda: self._driver.rotate(pulse))
        return duration

    def safe_state(self) -> None:
        self._driver.safe_state()
