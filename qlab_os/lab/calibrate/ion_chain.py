"""Calibration routines of a two-ion chain: the second ion's carrier, and the bichromatic Molmer-Sorensen gate.

- ``rabi_729_ion1``: :func:`~qlab_os.lab.calibrate.ion.rabi_scan` on ion 1 (AOD marker ``address_1``, PMT on
  SR400 counter B): the addressed beam's Rabi frequency at ion 1 differs from ion 0's (AOD efficiency), so ion 1
  has its own pi-pulse amplitude.
- ``ms_gate``: both ions from ``|00>``, one bichromatic pulse of one closed loop, ``t = 1 / detuning`` (the tones at
  ``centre +- (mode + detuning)``, ``centre`` = the qubit line, which the global beam's single-pass AOM reaches at
  twice the calibrated double-pass AOM frequency), against the pulse amplitude ``V``; both ions read in one
  window. At a closed loop the pulse is ``exp(-i Phi S_x^2)`` with ``Phi = 2 pi (g V / detuning)^2``, where ``g`` is
  the sideband coupling per volt (``eta_COM`` times each tone's carrier Rabi frequency per volt), so
  ``P(both dark) = sin^2(Phi / 2)`` (docs/physics.md); readout and pumping errors make it
  ``offset + contrast sin^2(pi (g V / detuning)^2)`` (affine, since ``P(01) + P(10) = 0`` at the loop). The fit
  gives ``g``; the gate ``MS(pi/2)`` is ``V = detuning / (2 g)``. The axial mode frequency is the operator's (node
  setup): the carrier-only model of the lab has no sidebands to scan.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from instruments.tektronix.awg_sequence import Element, Pulse, on_grid
from qlab_os.lab.calibrate import fitting
from qlab_os.lab.calibrate.acquire import marker, new_sequence, start_sr400, upload
from qlab_os.lab.calibrate.calfile import CalibratedValue
from qlab_os.lab.calibrate.ion import RESONANCE, _detect, _prepare, _threshold_guess, rabi_scan, window_counts
from qlab_os.lab.calibrate.record import Column, Panel, record, save_plot
from qlab_os.lab.calibrate.routine import CalibrationError, Context, RoutineResult, register

FloatArray = npt.NDArray[np.float64]
RAMSEY = ("ramsey_729_detuning_hz", "ramsey_729")
THRESHOLD = ("detection_threshold_counts", "detection")


@register("ion", "rabi_729_ion1", "729 Rabi flopping of ion 1 (addressed, PMT B) -> its Rabi frequency per volt, "
          "pi pulse", needs=[RESONANCE, THRESHOLD])
def rabi_729_ion1(ctx: Context) -> RoutineResult:
    return rabi_scan(ctx, 1)


def ms_line_frequency_hz(ctx: Context) -> float:
    """The global beam's single-pass AOM frequency on the qubit line: twice the double-pass AOM's (Ramsey
    corrected), as both beams come from the same 729 laser."""
    return 2.0 * ctx.require(*RESONANCE) + ctx.require(*RAMSEY)


def both_dark_model(detuning_hz: float) -> fitting.Model:
    """``offset + contrast sin^2(pi (g V / detuning)^2)`` of the amplitude ``V`` (see the module docstring)."""

    def model(v: FloatArray, g: float, contrast: float, offset: float) -> FloatArray:
        return np.asarray(offset + contrast * np.sin(np.pi * (g * v / detuning_hz) ** 2) ** 2, dtype=np.float64)

    return model


@register("ion", "ms_gate", "bichromatic pulse of one closed loop against its amplitude -> sideband coupling per "
          "volt, MS(pi/2) amplitude", needs=[RESONANCE, RAMSEY, THRESHOLD])
def ms_gate(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(60)
    detuning_hz, mode_hz = s.number("detuning_hz"), s.number("mode_frequency_hz")
    rate = ctx.setup.awg.sample_rate_hz
    gate_s = on_grid(1.0 / detuning_hz, rate)
    if abs(gate_s * detuning_hz - 1.0) > 1e-9:
        raise CalibrationError(
            f"{ctx.node} ms_gate: one loop, 1/detuning = {1 / detuning_hz:g} s, is not on the AWG's "
            f"{1 / rate:g} s grid; choose routines.ms_gate.detuning_hz so that it is"
        )
    seq = new_sequence(ctx)
    i_channel = ctx.setup.awg.iq_channels[0]
    amplitudes = np.array([seq.played_volts(float(v), i_channel)
                           for v in np.linspace(0.0, s.number("max_amplitude_v"), s.integer("points"))])
    ms = frozenset({marker(ctx, "ms")})
    blocks = [seq.add_block([Element([*_prepare(ctx), *([Pulse(gate_s, float(v), 0.0, ms)] if v else []),
                                      *_detect(ctx)])]) for v in amplitudes]
    awg = upload(ctx, seq)
    centre_hz = ms_line_frequency_hz(ctx)
    source = ctx.instrument("aom_729_ms")
    source.frequency(centre_hz)
    source.phase(0.0)
    source.status(True)
    sideband = ctx.instrument("ms_sideband")
    sideband.frequency(mode_hz + detuning_hz)
    sideband.status(True)
    start_sr400(ctx, "pmt_counter")
    raw = np.empty((len(amplitudes), shots, 2), dtype=np.int_)
    with ctx.progress(len(amplitudes) * shots, unit="shot") as bar:
        for i, block in enumerate(blocks):
            seq.select(awg, block)
            for k in range(shots):
                awg.force_trigger()
                raw[i, k] = window_counts(ctx, "A"), window_counts(ctx, "B")
            bar.update(shots)
    dark = raw < _threshold_guess(ctx)
    both_dark = np.asarray(dark[..., 0] & dark[..., 1], dtype=np.int_)
    mean = both_dark.mean(axis=1)
    v_first_max = float(amplitudes[int(np.argmax(mean))]) or float(amplitudes[-1])
    p0 = [detuning_hz / (v_first_max * math.sqrt(2.0)), float(mean.max() - mean.min()), float(mean.min())]
    model = both_dark_model(detuning_hz)
    result = fitting.fit(model, amplitudes, mean, fitting.standard_error(both_dark, axis=1), p0,
                         ("g", "contrast", "offset"), "MS both-dark fit",
                         bounds=([0.0, 0.0, -0.5], [np.inf, 1.5, 0.5]))
    g, g_err = result["g"], result.error("g")
    gate_v = detuning_hz / (2.0 * g)
    if gate_v > ctx.setup.awg.amplitude_vpp / 2 / math.sqrt(2.0):
        raise CalibrationError(
            f"{ctx.node} ms_gate: MS(pi/2) needs {gate_v:.3f} V and MS(pi) sqrt(2) times that, more than the AWG's "
            f"{ctx.setup.awg.amplitude_vpp / 2:.3f} V; raise the aom_729_ms power or the detuning"
        )
    values = {
        "ms_sideband_rabi_hz_per_volt": CalibratedValue(g, g_err, "Hz/V"),
        "ms_gate_amplitude_v": CalibratedValue(gate_v, gate_v * g_err / g, "V"),
        "ms_gate_duration_s": CalibratedValue(gate_s, 0.0, "s"),
        "ms_detuning_hz": CalibratedValue(detuning_hz, 0.0, "Hz"),
        "ms_mode_frequency_hz": CalibratedValue(mode_hz, 0.0, "Hz"),
        "aom_729_ms_frequency_hz": CalibratedValue(centre_hz, 0.0, "Hz"),
        "aom_729_ms_power_dbm": CalibratedValue(float(source.power()), 0.0, "dBm"),
        "ms_both_dark_contrast": CalibratedValue(result["contrast"], result.error("contrast"), ""),
    }
    summary = (f"sideband coupling {g / 1e3:.3f} +- {g_err / 1e3:.3f} kHz/V, MS(pi/2) at {gate_v:.4f} V for "
               f"{gate_s * 1e6:.1f} us, both-dark contrast {result['contrast']:.3f}")
    run_id = record(
        ctx.node, ctx.routine_name, ctx.station,
        [Column("amplitude_v", "V", "bichromatic I amplitude"), Column("shot", "", "shot index"),
         Column("ion", "", "ion (PMT channel A = 0, B = 1)"),
         Column("counts", "counts", "PMT counts", setpoints=("amplitude_v", "shot", "ion"))],
        {"amplitude_v": np.repeat(amplitudes, 2 * shots), "shot": np.tile(np.repeat(np.arange(shots), 2),
                                                                           len(amplitudes)),
         "ion": np.tile([0, 1], len(amplitudes) * shots), "counts": raw},
    )
    panel = Panel.new(f"{ctx.node} ms_gate", "bichromatic amplitude (V)", "population")
    odd = np.asarray(dark[..., 0] ^ dark[..., 1], dtype=np.int_)
    bright = np.asarray(~dark[..., 0] & ~dark[..., 1], dtype=np.int_)
    for label, data in (("both dark (|11>)", both_dark), ("both bright (|00>)", bright), ("one dark", odd)):
        panel.points.append((amplitudes, data.mean(axis=1), fitting.standard_error(data, axis=1), label))
    dense = np.linspace(0.0, float(amplitudes.max()), 400)
    panel.curves.append((dense, result.curve(dense), f"fit, reduced chi2 {result.reduced_chi2:.2f}"))
    panel.vlines.append((gate_v, "MS(pi/2)"))
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)
