"""An NV node of the simulated lab: the electron spin behind a microwave source, an AWG, lasers and counters.

Per played segment (:class:`~sim_instruments.lab.awg.Segment`), by the lights the AWG markers switch on:
green resets charge and spin; readout light alone gives spin-dependent counts; readout plus repump light is the
charge-resonance check; ``spin_pump`` (the same two red lasers, no counter gated) pumps the spin into ms=0
without touching the charge state, the re-initialisation of an attempt loop; otherwise I/Q on with the microwave
source on drives the spin at the source frequency, and nothing on is free evolution. The microwave source's
frequency is the rotating frame, so Ramsey fringes appear at the detuning of the source from the spin transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim_instruments.lab.platforms import LabNode
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.nv import NVCentre


class NVNode(LabNode):
    """An NV centre's electron spin behind a microwave source, an AWG, green and red lasers and counters."""

    platform = "nv"

    def __init__(self, name: str, wiring: Mapping[str, Any], physics: NVCentre, clock: NodeClock, where: str) -> None:
        super().__init__(name, wiring, clock, where)
        self._frame_hz: float | None = None
        self.nv = physics

    def communication_system(self) -> NVCentre:
        return self.nv

    def segment(self, duration_s: float, functions: set[str], i_v: float, q_v: float) -> int:
        frame_hz = float(self.instrument("mw_source").value("SOUR:FREQ?"))
        if frame_hz != self._frame_hz:  # the microwave source is the phase reference of every pulse
            self.nv.set_frame_frequency(frame_hz)
            self._frame_hz = frame_hz
        drive = self._drive("mw_source", i_v, q_v)
        if any(f.startswith("emit:") for f in functions):
            self.nv.sync()
            self.emit(functions, self.nv.electron_qubit_id)
            self.nv.wait(duration_s)
            return 0
        if "green" in functions and self.light_on("green_laser"):
            self.nv.green(duration_s)
            return 0
        if "cr_check" in functions and self.light_on("readout_laser") and self.light_on("repump_laser"):
            return int(self.nv.charge_resonance_check(duration_s))
        if "spin_pump" in functions and self.light_on("readout_laser") and self.light_on("repump_laser"):
            self.nv.charge_resonance_check(duration_s)  # pumps ms=0 when NV-; nothing counts these photons
            return 0
        if "readout" in functions and self.light_on("readout_laser"):
            return int(self.nv.readout(duration_s))
        if drive is not None:
            frequency_hz, rabi_hz, phase_rad = drive
            self.nv.drive(frequency_hz, rabi_hz, phase_rad, duration_s)
            return 0
        self.nv.wait(duration_s)
        return 0
