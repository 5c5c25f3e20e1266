"""The trapped-ion QDriver's pulse library: every AWG5014 block it plays, built from the node setup and the
calibration file and uploaded once.

Blocks (one trigger plays one block; markers by function from the node setup's ``awg.markers``):

- ``init``: Doppler cooling (397 + 866, marker ``cool``, ``timing.cool_s``), optical pumping (``pump``,
  ``timing.pump_s``), a settle gap (``timing.settle_s``);
- ``meas``: settle, detection window (``cool`` and ``counter_gate``, ``timing.detect_s``: the PMT counter counts
  exactly this window), 854 repump (``repump``, ``timing.repump_s``), so the ion ends in S1/2 = ``|0>``;
- ``rot[k]``, ``k = 1 .. N``: a 729 pulse of ``k`` samples at the calibrated pi-pulse amplitude on I (phase 0),
  where ``N`` samples are the calibrated pi pulse. Every rotation angle in ``(0, pi]`` is one of them: its length
  is the angle's share of the pi time (length scaling at the calibrated Rabi frequency), on the AWG's sample grid,
  so an angle is off by at most half a sample (``pi / 2N``; ``N = 100`` at 10 MSa/s and 10 us). The axis and sign
  are not in the waveform: the driver sets the AOM source's phase, which is the phase of the 729 light.

The calibration routines build the same cooling, pumping, pulse and detection pieces (qlab_os/lab/calibrate/ion.py);
the driver's library mirrors them so that its pi pulse is the one the detection calibration measured.

A waveform shorter than the AWG5014's 250-point minimum is padded with idle samples by the sequence builder, so a
short rotation takes 250 samples; :attr:`PulseLibrary.duration_ns` holds what each block really lasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from instruments.tektronix.awg_sequence import (
    MIN_WAVEFORM_POINTS,
    AWG5014Like,
    AWGSequence,
    Block,
    Element,
    Pulse,
    idle,
    samples_of,
)
from qdrivers.trapped_ion.calibration import IonCalibration
from qlab_os.lab.calibrate.node import NodeSetup


@dataclass(frozen=True)
class RotationPulse:
    """How to play ``R_phi(angle)``: block ``samples`` (0 = nothing to play) at RF phase ``phase_rad``."""

    samples: int
    phase_rad: float


class PulseLibrary:
    """The blocks above, in one :class:`AWGSequence` for the node's AWG wiring."""

    def __init__(self, setup: NodeSetup, calibration: IonCalibration) -> None:
        wiring = setup.awg
        self.sample_rate_hz = wiring.sample_rate_hz
        self._samples: dict[int, int] = {}
        source = str(setup.path)
        self.sequence = AWGSequence(
            wiring.sample_rate_hz, dict.fromkeys(range(1, 5), wiring.amplitude_vpp), wiring.iq_channels, name="ion"
        )

        def marker(function: str) -> str:
            return wiring.marker(function, source)

        t = setup.time_s
        self.init = self._add("init", [
            idle(t("cool_s"), [marker("cool")]), idle(t("pump_s"), [marker("pump")]), idle(t("settle_s"))])
        self.meas = self._add("meas", [
            idle(t("settle_s")), idle(t("detect_s"), [marker("cool"), marker("counter_gate")]),
            idle(t("repump_s"), [marker("repump")])])
        self.pi_samples = samples_of(calibration.pi_pulse_729_duration_s, wiring.sample_rate_hz,
                                     f"{calibration.path}: pi_pulse_729_duration_s")
        if self.pi_samples < 1:
            raise ValueError(f"{calibration.path}: pi_pulse_729_duration_s is shorter than one AWG sample")
        amplitude_v = self.sequence.played_volts(calibration.pi_pulse_729_amplitude_v, wiring.iq_channels[0])
        self.amplitude_v = amplitude_v
        self.rotations: dict[int, Block] = {}
        for k in range(1, self.pi_samples + 1):
            self.rotations[k] = self._add(f"rot{k}", [Pulse(k / wiring.sample_rate_hz, i_v=amplitude_v)])

    def _add(self, name: str, pulses: list[Pulse]) -> Block:
        block = self.sequence.add_block([Element(pulses)])
        samples = sum(samples_of(p.duration_s, self.sample_rate_hz, f"{name} pulse") for p in pulses)
        self._samples[id(block)] = max(samples, MIN_WAVEFORM_POINTS)
        return block

    def duration_ns(self, block: Block) -> int:
        """How long ``block`` plays, padding included (ns, rounded)."""
        return round(self._samples[id(block)] / self.sample_rate_hz * 1e9)

    @property
    def longest_rotation_ns(self) -> int:
        """The duration of every rotation of the library whose pulse is shorter than the 250-point minimum, and
        of the pi pulse otherwise: the spec's ROT duration."""
        return self.duration_ns(self.rotations[self.pi_samples])

    def rotation(self, axis_phase_rad: float, angle_rad: float) -> RotationPulse:
        """The library pulse for ``R_phi(angle)`` with ``phi`` = ``axis_phase_rad`` (0 for x, pi/2 for y).

        ``R_phi(-a) = R_(phi+pi)(a)`` and ``R_phi(a)`` equals ``R_(phi+pi)(2 pi - a)`` up to a global phase, so
        every angle becomes one in ``[0, pi]`` at phase ``phi`` or ``phi + pi``.
        """
        reduced = math.remainder(angle_rad, 2.0 * math.pi)  # in [-pi, pi]
        phase = axis_phase_rad
        if reduced < 0.0:
            reduced, phase = -reduced, phase + math.pi
        samples = round(reduced / math.pi * self.pi_samples)
        return RotationPulse(samples, phase % (2.0 * math.pi))

    def upload(self, awg: AWG5014Like) -> None:
        """Stop the AWG, write every waveform and the sequence table, start the sequencer (once per connection)."""
        clock = getattr(awg, "clock_freq", None)
        if callable(clock):
            clock(self.sample_rate_hz)
        self.sequence.upload(awg)
