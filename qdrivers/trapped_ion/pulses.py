"""The trapped-ion QDriver's pulse library: every AWG5014 block it plays, built from the node setup and the
calibration file and uploaded once.

Blocks (one trigger plays one block; markers by function from the node setup's ``awg.markers``):

- ``init`` (every ion of the chain): 854 repump (``repump``, ``timing.repump_s``), Doppler cooling (397 + 866,
  marker ``cool``, ``timing.cool_s``), optical pumping (``pump``, ``timing.pump_s``), a settle gap
  (``timing.settle_s``, AOD tones on: no 729 RF, no light);
- ``meas`` (every ion in one window): settle, detection window (``cool`` and ``counter_gate``, ``timing.detect_s``:
  both PMT channels count exactly this window). No repump: each ion stays in the state it was projected to;
- ``rot[ion][k]``, ``k = 1 .. N``: a 729 pulse of ``k`` samples on ion ``ion`` (AOD marker ``address_<ion>``) at
  that ion's calibrated pi-pulse amplitude on I (phase 0), where ``N`` samples are the calibrated pi pulse. Every
  rotation angle in ``(0, pi]`` is one of them: its length
  is the angle's share of the pi time (length scaling at the calibrated Rabi frequency), on the AWG's sample grid,
  so an angle is off by at most half a sample (``pi / 2N``; ``N = 100`` at 10 MSa/s and 10 us). The axis and sign
  are not in the waveform: the driver sets the AOM source's phase, which is the phase of the 729 light;
- ``ms``: the bichromatic beam (marker ``ms``) for one closed loop (``ms_gate_duration_s``) at the calibrated
  ``MS(pi/2)`` amplitude. The angle is set by the ``aom_729_ms`` power, the sign by the side of the mode the tones
  sit on, the spin phase by that source's phase (the driver does all three).
- attempt loops, one per heralding station of the node setup's ``entanglement``
  (:mod:`qdrivers.heralding.settings`), laid out as :func:`qdrivers.heralding.attempts.attempt_element` does for
  every platform: one element of the station's ``attempt_s``: idle, optical pumping of the chain (``pump``,
  ``timing.attempt_pump_s``), a settle, the alpha rotation on ion 0 (``address_0``: the calibrated pi pulse's
  length at ``2 acos(sqrt(alpha)) / pi`` of its amplitude, the thermal-average angle scaling with the amplitude as
  the pi pulse's does), the excitation (the station's emit marker, ``timing.emit_s``). The driver loops it with an
  event jump back to its own start: the herald ends the loop.

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
from qdrivers.awg_timing import grid_time_s
from qdrivers.heralding.attempts import Timed, attempt_element, configure_attempt_loops
from qdrivers.heralding.settings import EntSettings, entanglement_settings
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

        def t(key: str) -> float:
            return grid_time_s(setup, key, wiring.sample_rate_hz)

        aod = [marker(f"address_{k}") for k in range(calibration.n_ions)]
        self.init = self._add("init", [
            idle(t("repump_s"), [marker("repump")]), idle(t("cool_s"), [marker("cool")]),
            idle(t("pump_s"), [marker("pump")]), idle(t("settle_s"), aod)])
        self.meas = self._add("meas", [
            idle(t("settle_s")), idle(t("detect_s"), [marker("cool"), marker("counter_gate")])])
        self.pi_samples = samples_of(calibration.pi_pulse_729_duration_s, wiring.sample_rate_hz,
                                     f"{calibration.path}: pi_pulse_729_duration_s")
        if self.pi_samples < 1:
            raise ValueError(f"{calibration.path}: pi_pulse_729_duration_s is shorter than one AWG sample")
        i_channel = wiring.iq_channels[0]
        self.amplitudes_v = tuple(self.sequence.played_volts(v, i_channel) for v in calibration.pi_amplitudes_v)
        self.amplitude_v = self.amplitudes_v[0]
        self.rotations_of: list[dict[int, Block]] = []
        for ion, amplitude_v in enumerate(self.amplitudes_v):
            address = frozenset({aod[ion]})
            self.rotations_of.append({
                k: self._add(f"rot{ion}_{k}", [Pulse(k / wiring.sample_rate_hz, i_v=amplitude_v, markers=address)])
                for k in range(1, self.pi_samples + 1)})
        self.rotations = self.rotations_of[0]
        gate_s = calibration.ms_gate_duration_s
        self.ms_amplitude_v = self.sequence.played_volts(calibration.ms_gate_amplitude_v, i_channel)
        self.ms = self._add("ms", [Pulse(gate_s, i_v=self.ms_amplitude_v, markers=frozenset({marker("ms")}))])
        self.entanglement = entanglement_settings(setup)
        self.attempts = {station: self._attempt_block(setup, calibration, ent, aod[0])
                         for station, ent in self.entanglement.items()}

    def _attempt_block(self, setup: NodeSetup, calibration: IonCalibration, ent: EntSettings, address: str) -> Block:
        rate = self.sample_rate_hz
        theta = 2.0 * math.acos(math.sqrt(ent.alpha))
        volts = self.sequence.played_volts(self.amplitude_v * theta / math.pi, self.sequence.iq_channels[0])
        alpha = Pulse(self.pi_samples / rate, i_v=volts, markers=frozenset({address}))
        source = str(setup.path)
        pump = idle(grid_time_s(setup, "attempt_pump_s", rate), [setup.awg.marker("pump", source)])
        block = attempt_element(self.sequence, ent, reset=Timed(pump, source, "timing.attempt_pump_s"),
                                settle_s=grid_time_s(setup, "settle_s", rate),
                                alpha=Timed(alpha, str(calibration.path), "pi_pulse_729_duration_s"),
                                emit_s=grid_time_s(setup, "emit_s", rate))
        # attempt_element built the element on the grid, exactly ent.attempt_s long (at least the minimum waveform)
        self._samples[id(block)] = round(ent.attempt_s * rate)
        return block

    def attempt_duration_ns(self, station: str) -> int:
        """One repetition of the attempt element towards ``station``."""
        return self.duration_ns(self.attempts[station])

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
        """Stop the AWG, write every waveform and the sequence table, start the sequencer, set the attempt loops'
        event jumps (once per connection, and again after a fault)."""
        clock = getattr(awg, "clock_freq", None)
        if callable(clock):
            clock(self.sample_rate_hz)
        self.sequence.upload(awg)
        if self.attempts:
            configure_attempt_loops(awg, self.attempts.values())
