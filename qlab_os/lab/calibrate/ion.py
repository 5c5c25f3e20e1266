"""Calibration routines of a trapped-ion (40Ca+) node: 729 spectroscopy, 729 Rabi, 729 Ramsey, detection (ion 0;
the second ion of the chain and the MS gate: :mod:`qlab_os.lab.calibrate.ion_chain`).

Every shot: Doppler cooling (397 + 866, marker ``cool``), optical pumping to ``|0>`` (marker ``pump``), 729 nm
pulses (AWG I/Q into the 729 AOM source, role ``aom_729``; the laser sees twice the AOM frequency; the AOD marker
``address_<k>`` points the beam at ion k), detection (397
+ 866 with the PMT gate, markers ``cool`` and ``counter_gate``) read from the SR400 (role ``pmt_counter``; ion k on
counter ``PMT_CHANNELS[k]``) after
every shot, and an 854 nm repump (marker ``repump``). Sequences, fit models and outputs: docs/calibration.md.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from instruments.tektronix.awg_sequence import AWGSequence, Block, Element, Pulse, idle, on_grid
from qlab_os.lab.calibrate import fitting
from qlab_os.lab.calibrate.acquire import last_window_counts, marker, new_sequence, start_sr400, upload
from qlab_os.lab.calibrate.calfile import CalibratedValue
from qlab_os.lab.calibrate.record import Column, Panel, record, save_plot
from qlab_os.lab.calibrate.routine import CalibrationError, Context, RoutineResult, register
from qlab_os.lab.calibrate.scans import (
    best_threshold,
    binomial,
    dominant_frequency,
    finish_scan,
    fit_poisson_mixture,
    fit_scan,
    histogram_panel,
    record_histograms,
)

FloatArray = npt.NDArray[np.float64]
RESONANCE = ("aom_729_resonance_hz", "spectroscopy_729")
PI_AMPLITUDE = ("pi_pulse_729_amplitude_v", "rabi_729")
PMT_CHANNELS = ("A", "B")
"""SR400 counter of each ion's PMT (ion 0 on A, ion 1 on B: the node's imaging)."""

HBAR = 1.054571817e-34  # J s (CODATA 2018)
ATOMIC_MASS_KG = 1.66053906660e-27  # kg (CODATA 2018)


def lamb_dicke_eta(ctx: Context) -> float:
    """``eta = k cos(angle) sqrt(hbar / (2 m omega))`` from the beam and trap geometry under ``routines.rabi_729``."""
    s = ctx.setup.routine("rabi_729")
    k = 2 * math.pi / s.number("wavelength_m")
    mass = s.number("ion_mass_u") * ATOMIC_MASS_KG
    omega = 2 * math.pi * s.number("trap_frequency_hz")
    return k * math.cos(math.radians(s.number("beam_angle_deg"))) * math.sqrt(HBAR / (2 * mass * omega))


def debye_waller(eta: float, n_max: int) -> FloatArray:
    """``e^(-eta^2/2) L_n(eta^2)`` for n = 0 .. n_max (Laguerre recurrence)."""
    x = eta * eta
    out = np.empty(n_max + 1)
    prev, cur = 1.0, 1.0 - x
    out[0] = 1.0
    if n_max >= 1:
        out[1] = cur
    for n in range(1, n_max):
        prev, cur = cur, ((2 * n + 1 - x) * cur - n * prev) / (n + 1)
        out[n + 1] = cur
    return np.asarray(out * math.exp(-0.5 * x), dtype=np.float64)


def thermal_flop(eta: float, t2_s: float | None) -> fitting.Model:
    """Model ``offset + contrast * sum_n p_n sin^2(pi Omega_n t) [* Markovian damping]`` of ``t``.

    Parameters: free-ion Rabi frequency ``omega`` (Hz), ``n_bar``, ``contrast``, ``offset`` (docs/physics.md,
    "Thermal Rabi flop"). With a known T2, the driven dephasing damps the oscillation as ``exp(-t / (2 T2))``.
    """
    n_max = 400
    dw = debye_waller(eta, n_max)
    n = np.arange(n_max + 1)

    def model(t: FloatArray, omega: float, n_bar: float, contrast: float, offset: float) -> FloatArray:
        n_bar = max(n_bar, 1e-9)
        p = (n_bar / (n_bar + 1)) ** n / (n_bar + 1)
        flop = np.sin(np.pi * omega * np.outer(t, dw)) ** 2 @ p
        if t2_s:
            flop = 0.5 + (flop - 0.5) * np.exp(-t / (2 * t2_s))
        return np.asarray(offset + contrast * flop, dtype=np.float64)

    return model


def _prepare(ctx: Context) -> list[Pulse]:
    """Cooling, pumping and a settle gap. The AOD tones are on in the gap (no 729 RF: no light): every sequence then
    uses the AWG channels of both address markers, so no element keeps a channel waveform of an earlier upload."""
    t = ctx.setup.time_s
    aod = [marker(ctx, f) for f in ctx.setup.awg.markers if f.startswith("address_")]
    return [idle(t("cool_s"), [marker(ctx, "cool")]), idle(t("pump_s"), [marker(ctx, "pump")]),
            idle(t("settle_s"), aod)]


def _detect(ctx: Context) -> list[Pulse]:
    t = ctx.setup.time_s
    gate = [marker(ctx, "cool"), marker(ctx, "counter_gate")]
    return [idle(t("settle_s")), idle(t("detect_s"), gate), idle(t("repump_s"), [marker(ctx, "repump")])]


def _pulse(ctx: Context, duration_s: float, amplitude_v: float, phase_rad: float = 0.0, ion: int = 0) -> list[Pulse]:
    """A 729 carrier pulse on ion ``ion`` (the AOD marker ``address_<ion>`` points the beam at it)."""
    if duration_s <= 0:
        return []
    return [Pulse(duration_s, amplitude_v * math.cos(phase_rad), amplitude_v * math.sin(phase_rad),
                  frozenset({marker(ctx, f"address_{ion}")}))]


def _aom_on(ctx: Context, frequency_hz: float) -> None:
    source = ctx.instrument("aom_729")
    source.frequency(frequency_hz)
    source.status(True)


def _shots(ctx: Context, seq: AWGSequence, blocks: list[Block], shots: int, channel: str = "A") -> npt.NDArray[np.int_]:
    """PMT counts of SR400 counter ``channel`` (the ion imaged on it), blocks x shots: one trigger and one reading
    per shot."""
    awg = ctx.instrument("awg")
    start_sr400(ctx, "pmt_counter")
    counts = np.empty((len(blocks), shots), dtype=np.int_)
    with ctx.progress(len(blocks) * shots, unit="shot") as bar:
        for i, block in enumerate(blocks):
            seq.select(awg, block)
            for k in range(shots):
                awg.force_trigger()
                counts[i, k] = window_counts(ctx, channel)
            bar.update(shots)
    return counts


def window_counts(ctx: Context, channel: str) -> int:
    """Counts of SR400 counter ``channel`` (A or B) in the last gate window."""
    if channel == "A":
        return last_window_counts(ctx, "pmt_counter")
    counts = int(ctx.instrument("pmt_counter").B.last_count())
    if counts < 0:
        raise CalibrationError(
            f"{ctx.node} {ctx.routine_name}: SR400 counter B of {ctx.setup.instrument_name('pmt_counter')!r} has no "
            "completed gate window after the shot; check the AWG gate marker and the counter's input B"
        )
    return counts


def _dark_fraction(counts: npt.NDArray[np.int_], ctx: Context) -> npt.NDArray[np.int_]:
    """1 for a dark shot (counts below the detection threshold), 0 for a bright one: the D5/2 population."""
    return np.asarray(counts < _threshold_guess(ctx), dtype=np.int_)


def _threshold_guess(ctx: Context) -> float:
    """Detection threshold: the calibrated one, else halfway between background and bright means (node setup)."""
    calibrated = ctx.optional("detection_threshold_counts")
    if calibrated is not None:
        return calibrated
    t = ctx.setup.time_s("detect_s")
    s = ctx.setup.routine("detection")
    return 0.5 * t * (s.number("bright_rate_guess_hz") + 2 * s.number("background_rate_guess_hz"))


@register("ion", "spectroscopy_729", "729 carrier spectroscopy against the AOM frequency -> line centre (AOM)")
def spectroscopy_729(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(40)
    pulse_s, amplitude_v = s.number("pulse_s"), s.number("pulse_amplitude_v")
    frequencies = np.linspace(s.number("start_hz"), s.number("stop_hz"), s.integer("points"))
    seq = new_sequence(ctx)
    block = seq.add_block([Element([*_prepare(ctx), *_pulse(ctx, pulse_s, amplitude_v), *_detect(ctx)])])
    awg = upload(ctx, seq)
    start_sr400(ctx, "pmt_counter")
    seq.select(awg, block)
    raw = np.empty((len(frequencies), shots), dtype=np.int_)
    with ctx.progress(len(frequencies) * shots, unit="shot") as bar:
        for i, f in enumerate(frequencies):
            _aom_on(ctx, float(f))
            for k in range(shots):
                awg.force_trigger()
                raw[i, k] = last_window_counts(ctx, "pmt_counter")
            bar.update(shots)
    data = _dark_fraction(raw, ctx)
    mean = data.mean(axis=1)

    def model(x: FloatArray, x0: float, rabi_hz: float, contrast: float, offset: float) -> FloatArray:
        return fitting.rabi_line(2 * x, 2 * x0, rabi_hz, pulse_s, contrast, offset)  # double-pass AOM

    p0 = [float(frequencies[np.argmax(mean)]), 1 / (2 * pulse_s), float(mean.max() - mean.min()), float(mean.min())]
    result = fit_scan(model, frequencies, data, p0, ("x0", "rabi_hz", "contrast", "offset"), "729 line fit")
    values = {"aom_729_resonance_hz": CalibratedValue(result["x0"], result.error("x0"), "Hz")}
    summary = f"line at AOM {result['x0'] / 1e6:.6f} MHz +- {result.error('x0'):.1f} Hz"
    return finish_scan(
        ctx, frequencies, Column("aom_frequency_hz", "Hz", "729 AOM frequency"), data, result, values,
        (1e6, "MHz"), summary, ylabel="D5/2 population (dark fraction)", raw=raw,
    )


@register("ion", "rabi_729", "729 Rabi flopping against pulse length -> Rabi frequency per volt, n_bar, pi pulse",
          needs=[RESONANCE])
def rabi_729(ctx: Context) -> RoutineResult:
    return rabi_scan(ctx, 0)


def rabi_scan(ctx: Context, ion: int) -> RoutineResult:
    """Thermal Rabi flopping of ion ``ion`` (addressed, counted on its PMT channel); the calibration keys of ion 0
    are ``rabi_729_frequency_hz_per_volt`` etc., those of ion k > 0 carry ``_ion<k>``."""
    s = ctx.setup.routine("rabi_729")
    shots = ctx.shots(30)
    seq = new_sequence(ctx)
    amplitude_v = seq.played_volts(s.number("amplitude_v"), ctx.setup.awg.iq_channels[0])
    rate = ctx.setup.awg.sample_rate_hz
    durations = np.unique([on_grid(t, rate) for t in np.linspace(0, s.number("max_duration_s"), s.integer("points"))])
    blocks = [seq.add_block([Element([*_prepare(ctx), *_pulse(ctx, float(t), amplitude_v, ion=ion), *_detect(ctx)])])
              for t in durations]
    upload(ctx, seq)
    _aom_on(ctx, ctx.require(*RESONANCE))
    raw = _shots(ctx, seq, blocks, shots, PMT_CHANNELS[ion])
    data = _dark_fraction(raw, ctx)
    eta = lamb_dicke_eta(ctx)
    model = thermal_flop(eta, ctx.optional("t2_729_s"))
    mean = data.mean(axis=1)
    p0 = [dominant_frequency(durations, mean), s.number("n_bar_guess", 10.0), float(mean.max() - mean.min()), 0.0]
    result = fit_scan(model, durations, data, p0, ("omega", "n_bar", "contrast", "offset"), "thermal Rabi fit",
                      bounds=([0, 0, 0, -0.5], [np.inf, 1000, 1.5, 0.5]))
    omega, omega_err = result["omega"], result.error("omega")
    per_volt, per_volt_err = omega / amplitude_v, omega_err / amplitude_v
    # The ensemble's pi time: first maximum of the thermal flop, per unit Rabi frequency.
    unit_flop = thermal_flop(eta, None)
    grid = np.linspace(0.3, 0.7, 4001)
    t_star = float(grid[np.argmax(unit_flop(grid, 1.0, result["n_bar"], 1.0, 0.0))])
    pi_s = ctx.setup.time_s("pi_pulse_s")
    pi_v = t_star / (pi_s * per_volt)
    if pi_v > ctx.setup.awg.amplitude_vpp / 2:
        raise CalibrationError(
            f"{ctx.node} {ctx.routine_name}: a {pi_s * 1e6:.1f} us pi pulse needs {pi_v:.3f} V, more than the AWG's "
            f"{ctx.setup.awg.amplitude_vpp / 2:.3f} V; lengthen timing.pi_pulse_s or raise the AOM drive power"
        )
    tag = "" if ion == 0 else f"_ion{ion}"
    values = {
        f"rabi_729{tag}_frequency_hz_per_volt": CalibratedValue(per_volt, per_volt_err, "Hz/V"),
        f"motional_n_bar{tag}": CalibratedValue(result["n_bar"], result.error("n_bar"), "quanta"),
        f"pi_pulse_729{tag}_amplitude_v": CalibratedValue(pi_v, pi_v * omega_err / omega, "V"),
    }
    if ion == 0:
        values |= {
            "pi_pulse_729_duration_s": CalibratedValue(pi_s, 0.0, "s"),
            "aom_729_power_dbm": CalibratedValue(float(ctx.instrument("aom_729").power()), 0.0, "dBm"),
            "lamb_dicke_eta": CalibratedValue(eta, 0.0, ""),
        }
    summary = (f"ion {ion}: Rabi {per_volt / 1e3:.3f} +- {per_volt_err / 1e3:.3f} kHz/V, n_bar {result['n_bar']:.2f} "
               f"+- {result.error('n_bar'):.2f}, pi pulse {pi_v:.4f} V")
    return finish_scan(ctx, durations, Column("pulse_duration_s", "s", "729 pulse length"), data, result, values,
                       (1e-6, "us"), summary, ylabel=f"ion {ion} D5/2 population (dark fraction)", raw=raw)


@register("ion", "echo_729", "729 spin echo against the total free time -> T2", needs=[RESONANCE, PI_AMPLITUDE])
def echo_729(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(40)
    amplitude = ctx.require(*PI_AMPLITUDE)
    pi_s = ctx.setup.time_s("pi_pulse_s")
    step_s = s.number("wait_step_s")
    span = np.linspace(s.number("min_wait_s"), s.number("max_wait_s"), s.integer("points"))
    steps = np.unique(np.maximum(np.round(span / step_s).astype(int), 1))
    seq = new_sequence(ctx)
    blocks = []
    for n in steps:
        wait = Element([idle(step_s)], loop_count=int(n))
        for final_phase in (0.0, math.pi):  # back to |0>, or to |1>: their difference has no offset
            first = Element([*_prepare(ctx), *_pulse(ctx, pi_s / 2, amplitude)])
            last = Element([*_pulse(ctx, pi_s / 2, amplitude, final_phase), *_detect(ctx)])
            blocks.append(seq.add_block([first, wait, Element(_pulse(ctx, pi_s, amplitude)), wait, last]))
    upload(ctx, seq)
    _aom_on(ctx, ctx.require(*RESONANCE))
    raw = _shots(ctx, seq, blocks, shots)
    dark = _dark_fraction(raw, ctx)
    free_s = 2 * steps * step_s
    difference = dark[1::2].mean(axis=1) - dark[0::2].mean(axis=1)
    sigma = np.hypot(fitting.standard_error(dark[0::2], axis=1), fitting.standard_error(dark[1::2], axis=1))

    def model(t: FloatArray, t2_s: float, amplitude_p: float) -> FloatArray:
        return np.asarray(amplitude_p * np.exp(-t / t2_s), dtype=np.float64)

    p0 = [float(free_s[len(free_s) // 2]), float(difference[0])]
    result = fitting.fit(model, free_s, difference, sigma, p0, ("t2_s", "amplitude"), "729 echo decay fit")
    values = {"t2_729_s": CalibratedValue(result["t2_s"], result.error("t2_s"), "s")}
    summary = f"T2 {result['t2_s'] * 1e3:.3f} +- {result.error('t2_s') * 1e3:.3f} ms"
    return finish_difference(ctx, free_s, raw, difference, sigma, result, values, summary, shots)


def finish_difference(ctx: Context, free_s: FloatArray, raw: npt.NDArray[np.int_], difference: FloatArray,
                      sigma: FloatArray, result: fitting.FitResult, values: dict[str, CalibratedValue], summary: str,
                      shots: int) -> RoutineResult:
    """Record and plot an echo: raw counts per free time and final phase; the fitted difference of the phases."""
    phases = np.tile([0.0, math.pi], len(free_s))
    run_id = record(
        ctx.node, ctx.routine_name, ctx.station,
        [Column("free_time_s", "s", "total free time 2 tau"), Column("final_phase_rad", "rad", "last pi/2 phase"),
         Column("shot", "", "shot index"),
         Column("counts", "counts", "PMT counts", setpoints=("free_time_s", "final_phase_rad", "shot"))],
        {"free_time_s": np.repeat(np.repeat(free_s, 2), shots), "final_phase_rad": np.repeat(phases, shots),
         "shot": np.tile(np.arange(shots), len(phases)), "counts": raw},
    )
    panel = Panel.new(f"{ctx.node} {ctx.routine_name}", "total free time 2 tau (ms)", "dark fraction difference")
    panel.points.append((free_s / 1e-3, difference, sigma, f"data, {shots} shots per point and phase"))
    dense = np.linspace(0.0, float(free_s.max()), 400)
    panel.curves.append((dense / 1e-3, result.curve(dense), f"fit, reduced chi2 {result.reduced_chi2:.2f}"))
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)


@register("ion", "ramsey_729", "729 Ramsey with a phase-advanced second pulse -> T2* (Gaussian decay), detuning",
          needs=[RESONANCE, PI_AMPLITUDE, ("t2_729_s", "echo_729")])
def ramsey_729(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(30)
    amplitude = ctx.require(*PI_AMPLITUDE)
    t2_s = ctx.require("t2_729_s", "echo_729")
    half_s = ctx.setup.time_s("pi_pulse_s") / 2
    virtual_hz = s.number("virtual_detuning_hz")
    step_s = s.number("wait_step_s")
    steps = np.unique(np.round(np.linspace(0, s.number("max_delay_s"), s.integer("points")) / step_s).astype(int))
    seq = new_sequence(ctx)
    blocks = []
    for n in steps:
        tau = n * step_s
        first = Element([*_prepare(ctx), *_pulse(ctx, half_s, amplitude)])
        last = Element([*_pulse(ctx, half_s, amplitude, 2 * math.pi * virtual_hz * tau), *_detect(ctx)])
        wait = [Element([idle(step_s)], loop_count=int(n))] if n > 0 else []
        blocks.append(seq.add_block([first, *wait, last]))
    upload(ctx, seq)
    _aom_on(ctx, ctx.require(*RESONANCE))
    raw = _shots(ctx, seq, blocks, shots)
    data = _dark_fraction(raw, ctx)
    delays = steps * step_s
    effective = delays + 4 * half_s / math.pi  # centre to centre of the two square pi/2 pulses

    def model(t: FloatArray, t2_star_s: float, frequency: float, amplitude_p: float, offset: float,
              phase: float) -> FloatArray:
        decay = np.exp(-((t / t2_star_s) ** 2) - t / t2_s)  # Gaussian (quasi-static) times Markovian (echo T2)
        return np.asarray(offset + amplitude_p * decay * np.cos(2 * np.pi * frequency * t + phase), np.float64)

    mean = data.mean(axis=1)
    p0 = [float(delays[-1] / 2.5), dominant_frequency(delays, mean), float((mean.max() - mean.min()) / 2),
          float(mean.mean()), 0.0]
    result = fit_scan(model, effective, data, p0, ("t2_star_s", "frequency", "amplitude", "offset", "phase"),
                      "729 Ramsey fit", bounds=([0, 0, -1, -1, -2 * np.pi], [np.inf, np.inf, 1, 2, 2 * np.pi]))
    detuning = virtual_hz - result["frequency"]
    values = {
        "t2_star_729_s": CalibratedValue(result["t2_star_s"], result.error("t2_star_s"), "s"),
        "ramsey_729_detuning_hz": CalibratedValue(detuning, result.error("frequency"), "Hz"),
    }
    summary = (f"T2* {result['t2_star_s'] * 1e3:.3f} +- {result.error('t2_star_s') * 1e3:.3f} ms, "
               f"detuning {detuning:.1f} +- {result.error('frequency'):.1f} Hz (729 laser)")
    return finish_scan(ctx, effective, Column("free_time_s", "s", "effective free time"), data, result, values,
                       (1e-3, "ms"), summary, ylabel="D5/2 population (dark fraction)", raw=raw)


@register("ion", "detection", "PMT histograms of the bright (|0>) and dark (pi-pulsed, |1>) ion -> threshold, fidelity",
          needs=[RESONANCE, PI_AMPLITUDE])
def detection(ctx: Context) -> RoutineResult:
    shots = ctx.shots(500)
    amplitude = ctx.require(*PI_AMPLITUDE)
    seq = new_sequence(ctx)
    pi = _pulse(ctx, ctx.setup.time_s("pi_pulse_s"), amplitude)
    blocks = [seq.add_block([Element([*_prepare(ctx), *_detect(ctx)])]),
              seq.add_block([Element([*_prepare(ctx), *pi, *_detect(ctx)])])]
    upload(ctx, seq)
    _aom_on(ctx, ctx.require(*RESONANCE))
    counts = _shots(ctx, seq, blocks, shots)
    bright, dark = counts[0], counts[1]
    threshold = best_threshold(bright, dark)
    fb, fb_err = binomial(int(np.sum(bright >= threshold)), shots)
    fd, fd_err = binomial(int(np.sum(dark < threshold)), shots)
    mu_bright = float(bright.mean())
    mixture = fit_poisson_mixture(dark, "dark-ion histogram fit", (0.05, mu_bright, float(np.median(dark)) + 0.1))
    values = {
        "detection_threshold_counts": CalibratedValue(float(threshold), 0.0, "counts"),
        "detection_fidelity_bright": CalibratedValue(fb, fb_err, ""),
        "detection_fidelity_dark": CalibratedValue(fd, fd_err, ""),
        "detection_mean_counts_bright": CalibratedValue(mu_bright, float(np.std(bright, ddof=1) / math.sqrt(shots)),
                                                        "counts"),
        "detection_mean_counts_dark": CalibratedValue(mixture["mu_low"], mixture.error("mu_low"), "counts"),
        "dark_preparation_error": CalibratedValue(mixture["p"], mixture.error("p"), ""),
    }
    run_id = record_histograms(ctx, {0: bright, 1: dark}, "prepared state (0: |0> bright, 1: |1> dark)", values)
    panel = histogram_panel(f"{ctx.node} detection", "PMT counts", {"|0> (bright)": bright, "|1> (dark)": dark},
                            threshold)
    summary = f"threshold {threshold}, F(bright) {fb:.4f} +- {fb_err:.4f}, F(dark) {fd:.4f} +- {fd_err:.4f}"
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)
