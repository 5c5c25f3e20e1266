"""The trapped-ion node of the simulated lab: one 40Ca+ qubit behind 397/866/854/729 nm lasers, an AWG, the 729 AOM
source and a PMT counter.

Per played segment, by the lights the AWG markers switch on: 397 with 866 cools, or detects while the PMT counter is
gated; ``pump`` pumps optically to |0>; 854 repumps D5/2; I/Q on with the 729 laser and its AOM source on drives the
S1/2-D5/2 transition at the laser frequency plus twice the AOM frequency (double pass); nothing on is free evolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim_instruments.lab.platforms import LabNode
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.ion import CalciumIon


class IonNode(LabNode):
    """A 40Ca+ qubit behind 397/866/854/729 nm lasers, a 729 AOM source, an AWG and a PMT counter."""

    platform = "ion"
    required_numbers = (*LabNode.required_numbers, "laser_729_frequency_hz")

    def __init__(self, name: str, wiring: Mapping[str, Any], physics: CalciumIon, clock: NodeClock, where: str) -> None:
        super().__init__(name, wiring, clock, where)
        self.ion = physics
        self._frame_hz: float | None = None

    def segment(self, duration_s: float, functions: set[str], i_v: float, q_v: float) -> int:
        laser_hz = self.number("laser_729_frequency_hz")
        frame_hz = laser_hz + 2.0 * float(self.instrument("aom_729").value("SOUR:FREQ?"))
        if frame_hz != self._frame_hz:  # the 729 light after the AOM is the phase reference of every pulse
            self.ion.set_frame_frequency(frame_hz)
            self._frame_hz = frame_hz
        gated = "counter_gate" in functions
        if any(f.startswith("emit:") for f in functions):
            self.ion.sync()
            self.emit(functions, self.ion.qubit_id)
            self.ion.wait(duration_s)
            return 0
        cooling_light = "cool" in functions and self.light_on("laser_397") and self.light_on("laser_866")
        if cooling_light and gated:
            return int(self.ion.detect(duration_s))
        if cooling_light:
            self.ion.doppler_cool(duration_s)
            return 0
        if "pump" in functions and self.light_on("laser_397") and self.light_on("laser_866"):
            self.ion.optical_pump(duration_s)
            return 0
        if "repump" in functions and self.light_on("laser_854"):
            self.ion.repump_854(duration_s)
            return 0
        drive = self._drive("aom_729", i_v, q_v) if self.light_on("laser_729") else None
        if drive is not None:
            aom_hz, rabi_hz, phase_rad = drive
            self.ion.pulse_729(laser_hz + 2.0 * aom_hz, rabi_hz, phase_rad, duration_s)
            return 0
        self.ion.wait(duration_s)
        return 0
