"""The NV pulse library: every element the NV QDriver plays, built from the calibration file, uploaded once.

One :class:`~instruments.tektronix.awg_sequence.AWGSequence` holds a block per physical action, each started by
one trigger (the AWG jumps to a block's first element, and the block jumps back there when it ends):

- ``init``: green (charge and spin reset), settle, charge-resonance check (red readout and repump lasers, gating
  the CR counter), settle. The driver repeats it until the CR counts reach the calibrated threshold;
- ``readout``: the red readout window, gating the readout counter;
- rotations: for each of X and Y, square pulses of nominal angle pi, pi/2 and pi/32 (the pi/32 element is the
  pi/2 pulse at 1/16 amplitude). Their amplitude is the calibrated pi-pulse amplitude; the pi/2 pulse is half the
  pi pulse's length when that is on the AWG's sample grid, else the pi pulse at half amplitude.

- attempt loops, one per heralding station of the node setup's entanglement settings
  (:mod:`qdrivers.heralding.settings`), laid out as :func:`qdrivers.heralding.attempts.attempt_element` does for
  every platform: one element of the station's ``attempt_s``: idle, spin pumping into ms=0 (``spin_pump`` marker,
  ``timing.spin_pump_s``), a settle, the alpha rotation (the calibrated pi pulse's length at the amplitude that
  rotates by ``2 acos(sqrt(alpha))`` about X: ``sqrt(alpha)|0> - i sqrt(1-alpha)|1>``), the optical excitation
  (the station's emit marker, ``timing.emit_s``). The driver loops it (loop count, or infinite) with an event jump
  back to its own start: the herald ends the loop.

An arbitrary angle uses the smallest element whose angle reaches it, with the AWG's I/Q channel amplitudes
scaled by ``angle / element angle`` (amplitude scaling; the Rabi frequency is linear in the drive amplitude).
Element angles are computed from the calibrated Rabi frequency per volt and the voltage the AWG really plays
(the nearest 14-bit code), so the scaling also corrects the code rounding of the pi amplitude.

Hand-written: which pulses an NV node's instructions need, and from which calibrated values, is this project's
own; the AWG commands are qcodes' driver through :mod:`instruments.tektronix.awg_sequence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from instruments.tektronix.awg_sequence import AWGSequence, AWGSequenceError, Block, Element, Pulse, idle
from qdrivers.awg_timing import grid_time_s
from qdrivers.heralding.attempts import Timed, attempt_element, configure_attempt_loops
from qdrivers.heralding.settings import EntSettings, entanglement_settings
from qdrivers.nv.calibration import NVCalibration
from qlab_os.errors import QDriverError
from qlab_os.lab.calibrate.node import NodeSetup
from qlab_os.qdevice.instructions import Axis

AWG_MIN_AMPLITUDE_VPP = 0.02
"""Smallest channel amplitude of the AWG5014 (qcodes' driver validates 0.02 .. 4.5 Vpp)."""
AWG_MAX_AMPLITUDE_VPP = 4.5
FINE_AMPLITUDE_DIVISOR = 16
"""The finest rotation element is the pi/2 pulse at 1/16 amplitude (nominally pi/32)."""

_AXIS_PHASE_RAD = {Axis.X: 0.0, Axis.Y: math.pi / 2}


@dataclass(frozen=True)
class RotationElement:
    """A rotation block: its axis, the angle it plays at the nominal channel amplitude, its length."""

    axis: Axis
    angle_rad: float
    block: Block
    duration_ns: int


@dataclass(frozen=True)
class RotationPlan:
    """How to play one rotation: the element, the channel amplitude scale, and the phase to add (negative angles)."""

    element: RotationElement
    amplitude_scale: float
    extra_phase_rad: float


class PulseLibrary:
    """The sequence of every NV element (see the module docstring); :meth:`plan` maps an angle to an element."""

    def __init__(self, setup: NodeSetup, calibration: NVCalibration) -> None:
        awg = setup.awg
        source = str(setup.path)
        self.sample_rate_hz = awg.sample_rate_hz
        self.amplitude_vpp = awg.amplitude_vpp
        self.iq_channels = awg.iq_channels
        self.sequence = AWGSequence(awg.sample_rate_hz, dict.fromkeys(range(1, 5), awg.amplitude_vpp),
                                    awg.iq_channels, name="nvq")
        green, readout = awg.marker("green", source), awg.marker("readout", source)
        gate, cr = awg.marker("counter_gate", source), awg.marker("cr_check", source)
        def t(key: str) -> float:
            return grid_time_s(setup, key, awg.sample_rate_hz)

        settle_s = t("settle_s")
        try:
            self.init = self.sequence.add_block([Element([
                idle(t("green_s"), [green]), idle(settle_s),
                idle(t("cr_check_s"), [cr]), idle(settle_s),
            ])])
            self.readout = self.sequence.add_block([Element([idle(t("readout_s"), [readout, gate])])])
            self.rotations = {axis: self._rotations(axis, calibration) for axis in (Axis.X, Axis.Y)}
            self.entanglement = entanglement_settings(setup)
            self.attempts = {name: self._attempt_block(setup, ent, calibration)
                             for name, ent in self.entanglement.items()}
        except AWGSequenceError as exc:
            raise QDriverError(f"node {setup.node}: cannot build the NV pulse library: {exc}") from exc
        self.init_duration_ns = self.duration_ns(self.init)
        self.readout_duration_ns = self.duration_ns(self.readout)

    def _rotations(self, axis: Axis, cal: NVCalibration) -> list[RotationElement]:
        rate = self.sample_rate_hz
        pi_samples = round(cal.pi_pulse_duration_s * rate)
        if pi_samples < 2 or abs(cal.pi_pulse_duration_s * rate - pi_samples) > 1e-3:
            raise AWGSequenceError(f"the calibrated pi pulse ({cal.pi_pulse_duration_s:g} s) is not a whole number "
                                   f"(>= 2) of samples at {rate:g} Sa/s")
        pi_s = pi_samples / rate
        amplitude = cal.pi_pulse_amplitude_v
        half = (pi_s / 2, amplitude) if pi_samples % 2 == 0 else (pi_s, amplitude / 2)
        shapes = [(pi_s, amplitude), half, (half[0], half[1] / FINE_AMPLITUDE_DIVISOR)]
        out = []
        phase = _AXIS_PHASE_RAD[axis]
        for duration_s, volts in shapes:
            i_v = self.sequence.played_volts(volts * math.cos(phase), self.iq_channels[0])
            q_v = self.sequence.played_volts(volts * math.sin(phase), self.iq_channels[1])
            played = math.hypot(i_v, q_v)
            angle = 2 * math.pi * cal.rabi_frequency_hz_per_volt * played * duration_s
            block = self.sequence.add_block([Element([Pulse(duration_s, i_v, q_v)])])
            out.append(RotationElement(axis, angle, block, self.duration_ns(block)))
        return out

    def _attempt_block(self, setup: NodeSetup, ent: EntSettings, cal: NVCalibration) -> Block:
        rate = self.sample_rate_hz
        pi_s = round(cal.pi_pulse_duration_s * rate) / rate
        theta = 2.0 * math.acos(math.sqrt(ent.alpha))
        volts = self.sequence.played_volts(theta / (2 * math.pi * cal.rabi_frequency_hz_per_volt * pi_s),
                                           self.iq_channels[0])
        source = str(setup.path)
        pump = idle(grid_time_s(setup, "spin_pump_s", rate), [setup.awg.marker("spin_pump", source)])
        return attempt_element(self.sequence, ent, reset=Timed(pump, source, "timing.spin_pump_s"),
                               settle_s=grid_time_s(setup, "settle_s", rate),
                               alpha=Timed(Pulse(pi_s, volts, 0.0), str(cal.path), "pi_pulse_duration_s"),
                               emit_s=grid_time_s(setup, "emit_s", rate))

    def configure_attempt_loops(self, awg: Any) -> None:
        """After :meth:`AWGSequence.upload`: the attempt elements' event jumps (:func:`configure_attempt_loops`)."""
        configure_attempt_loops(awg, self.attempts.values())

    def attempt_duration_ns(self, station: str) -> int:
        """One repetition of the attempt element towards ``station``."""
        return self.duration_ns(self.attempts[station])

    def duration_ns(self, block: Block) -> int:
        """How long the AWG plays ``block`` (its elements padded to the AWG's minimum length), in ns."""
        samples = 0
        for element in block.elements:
            rendered = self.sequence.render(element)
            length = len(next(iter(rendered.values()))[0])
            samples += length * element.loop_count
        return round(samples / self.sample_rate_hz * 1e9)

    def plan(self, axis: Axis, angle_rad: float) -> RotationPlan | None:
        """The element, amplitude scale and extra phase that play ``R_axis(angle_rad)``; None for a rotation below
        the AWG's amplitude resolution (smaller than the finest element at the AWG's minimum amplitude)."""
        angle = math.remainder(angle_rad, 2 * math.pi)  # in [-pi, pi]
        extra = math.pi if angle < 0 else 0.0  # R_n(-a) = R_{-n}(a): the drive phase turns by pi
        angle = abs(angle)
        elements = self.rotations[axis]
        fitting = [e for e in elements if e.angle_rad >= angle * (1 - 1e-12)]
        element = min(fitting, key=lambda e: e.angle_rad) if fitting else max(elements, key=lambda e: e.angle_rad)
        scale = angle / element.angle_rad
        if scale * self.amplitude_vpp < AWG_MIN_AMPLITUDE_VPP:
            return None
        if scale * self.amplitude_vpp > AWG_MAX_AMPLITUDE_VPP:
            raise QDriverError(f"a rotation of {angle:g} rad needs {scale * self.amplitude_vpp:g} Vpp on the AWG, "
                               f"more than its {AWG_MAX_AMPLITUDE_VPP} Vpp; recalibrate the pi pulse")
        return RotationPlan(element, scale, extra)

    @property
    def rotation_duration_ns(self) -> int:
        """The longest rotation element (what the spec declares for ROT X/Y)."""
        return max(e.duration_ns for elements in self.rotations.values() for e in elements)
