"""Calibration routines of an NV node: ODMR, Rabi, Hahn echo, Ramsey, charge-resonance check, readout.

Every shot starts with a green pulse (charge and spin reset) and ends with a red readout window gated into the
53230A (role ``counter``); the charge-resonance check gates the SR400 (role ``cr_counter``). The AWG plays I/Q into
the microwave source (role ``mw_source``); markers switch the lights as the node setup's ``awg.markers`` says.
Sequences, fit models and outputs are described in docs/calibration.md.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from instruments.tektronix.awg_sequence import MIN_WAVEFORM_POINTS, AWGSequence, Block, Element, Pulse, idle, on_grid
from qlab_os.lab.calibrate import fitting
from qlab_os.lab.calibrate.acquire import gated_counts, last_window_counts, marker, new_sequence, start_sr400, upload
from qlab_os.lab.calibrate.calfile import CalibratedValue
from qlab_os.lab.calibrate.fitting import standard_error
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
TRANSITION = ("transition_frequency_hz", "odmr")
PI_AMPLITUDE = ("pi_pulse_amplitude_v", "rabi")
CR_THRESHOLD = ("cr_threshold_counts", "charge_resonance")


def _init(ctx: Context) -> list[Pulse]:
    return [idle(ctx.setup.time_s("green_s"), [marker(ctx, "green")]), idle(ctx.setup.time_s("settle_s"))]


def _readout(ctx: Context) -> Pulse:
    return idle(ctx.setup.time_s("readout_s"), [marker(ctx, "readout"), marker(ctx, "counter_gate")])


def _mw(duration_s: float, amplitude_v: float, phase_rad: float = 0.0) -> list[Pulse]:
    if duration_s <= 0:
        return []
    return [Pulse(duration_s, amplitude_v * math.cos(phase_rad), amplitude_v * math.sin(phase_rad))]


def _mw_on(ctx: Context, frequency_hz: float) -> None:
    source = ctx.instrument("mw_source")
    source.frequency(frequency_hz)
    source.status(True)


def _grid(ctx: Context, start_s: float, stop_s: float, points: int) -> FloatArray:
    rate = ctx.setup.awg.sample_rate_hz
    return np.unique([on_grid(t, rate) for t in np.linspace(start_s, stop_s, points)])


@register("nv", "odmr", "pulsed ODMR: a weak pi pulse against the microwave frequency -> transition frequency")
def odmr(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(100)
    frequencies = np.linspace(s.number("start_hz"), s.number("stop_hz"), s.integer("points"))
    pulse_s, amplitude_v = s.number("pulse_s"), s.number("pulse_amplitude_v")
    seq = new_sequence(ctx)
    block = seq.add_block([Element([*_init(ctx), *_mw(pulse_s, amplitude_v), _readout(ctx)], loop_count=shots)])
    upload(ctx, seq)
    counts = []
    with ctx.progress(len(frequencies)) as bar:
        for f in frequencies:
            _mw_on(ctx, float(f))
            counts.append(gated_counts(ctx, seq, block, shots, 1)[:, 0])
            bar.update(1)
    data = np.array(counts)
    mean = data.mean(axis=1)

    def model(x: FloatArray, x0: float, rabi_hz: float, contrast: float, offset: float) -> FloatArray:
        return fitting.rabi_line(x, x0, rabi_hz, pulse_s, contrast, offset)

    p0 = [float(frequencies[np.argmin(mean)]), 1 / (2 * pulse_s), float(mean.min() - mean.max()), float(mean.max())]
    result = fit_scan(model, frequencies, data, p0, ("x0", "rabi_hz", "contrast", "offset"), "ODMR line fit")
    values = {"transition_frequency_hz": CalibratedValue(result["x0"], result.error("x0"), "Hz")}
    summary = f"transition {result['x0'] / 1e9:.6f} GHz +- {result.error('x0') / 1e3:.2f} kHz"
    return finish_scan(
        ctx,
        frequencies,
        Column("frequency_hz", "Hz", "microwave frequency"),
        data,
        result,
        values,
        (1e9, "GHz"),
        summary,
    )


@register(
    "nv",
    "rabi",
    "Rabi oscillation against pulse length -> Rabi frequency per volt, pi-pulse amplitude",
    needs=[TRANSITION],
)
def rabi(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(100)
    seq = new_sequence(ctx)
    amplitude_v = seq.played_volts(s.number("amplitude_v"), ctx.setup.awg.iq_channels[0])
    durations = _grid(ctx, 0.0, s.number("max_duration_s"), s.integer("points"))
    blocks = [
        seq.add_block([Element([*_init(ctx), *_mw(t, amplitude_v), _readout(ctx)], loop_count=shots)])
        for t in durations
    ]
    upload(ctx, seq)
    _mw_on(ctx, ctx.require(*TRANSITION))
    data = _scan_blocks(ctx, seq, blocks, shots)
    mean = data.mean(axis=1)
    p0 = [dominant_frequency(durations, mean), float(mean.min() - mean.max()), float(mean.max())]
    result = fit_scan(
        fitting.rabi_oscillation, durations, data, p0, ("frequency", "contrast", "offset"), "Rabi oscillation fit"
    )
    per_volt = result["frequency"] / amplitude_v
    per_volt_error = result.error("frequency") / amplitude_v
    pi_s = ctx.setup.time_s("pi_pulse_s")
    pi_v = 1.0 / (2.0 * pi_s * per_volt)
    if pi_v > ctx.setup.awg.amplitude_vpp / 2:
        raise CalibrationError(
            f"{ctx.node} rabi: a {pi_s * 1e9:.0f} ns pi pulse needs {pi_v:.3f} V, more than the AWG's "
            f"{ctx.setup.awg.amplitude_vpp / 2:.3f} V; lengthen timing.pi_pulse_s or raise the source power"
        )
    power = float(ctx.instrument("mw_source").power())
    values = {
        "rabi_frequency_hz_per_volt": CalibratedValue(per_volt, per_volt_error, "Hz/V"),
        "pi_pulse_amplitude_v": CalibratedValue(pi_v, pi_v * per_volt_error / per_volt, "V"),
        "pi_pulse_duration_s": CalibratedValue(pi_s, 0.0, "s"),
        "mw_power_dbm": CalibratedValue(power, 0.0, "dBm"),
    }
    summary = f"Rabi {per_volt / 1e6:.4f} +- {per_volt_error / 1e6:.4f} MHz/V at {power:g} dBm; pi pulse {pi_v:.4f} V"
    return finish_scan(
        ctx, durations, Column("pulse_duration_s", "s", "pulse length"), data, result, values, (1e-9, "ns"), summary
    )


def _scan_blocks(ctx: Context, seq: AWGSequence, blocks: list[Block], shots: int) -> npt.NDArray[np.int_]:
    counts = []
    with ctx.progress(len(blocks)) as bar:
        for block in blocks:
            counts.append(gated_counts(ctx, seq, block, shots, 1)[:, 0])
            bar.update(1)
    return np.array(counts)


def _pi_half(ctx: Context, amplitude_v: float, phase_rad: float = 0.0) -> list[Pulse]:
    return _mw(ctx.setup.time_s("pi_pulse_s") / 2, amplitude_v, phase_rad)


@register("nv", "hahn_echo", "Hahn echo against the total free time -> T2", needs=[TRANSITION, PI_AMPLITUDE])
def hahn_echo(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(100)
    step_s = s.number("wait_step_s")
    amplitude = ctx.require(*PI_AMPLITUDE)
    span = np.linspace(s.number("min_wait_s"), s.number("max_wait_s"), s.integer("points"))
    taus = np.unique(np.maximum(np.round(span / step_s).astype(int), 1))
    seq = new_sequence(ctx)
    rate = ctx.setup.awg.sample_rate_hz
    pi_s = ctx.setup.time_s("pi_pulse_s")
    # The AWG pads short elements to its minimum length; pad the pi pulse on both sides so the echo stays symmetric.
    pad_s = on_grid(max(0.0, (MIN_WAVEFORM_POINTS / rate - pi_s) / 2), rate)
    pi = Element([idle(pad_s), *_mw(pi_s, amplitude), idle(pad_s)] if pad_s > 0 else _mw(pi_s, amplitude))
    blocks = []
    for n in taus:
        wait = Element([idle(step_s)], loop_count=int(n))
        for final_phase in (0.0, math.pi):  # back to ms=0, or to ms=-1: their difference has no offset
            first = Element([*_init(ctx), *_pi_half(ctx, amplitude)])
            last = Element([*_pi_half(ctx, amplitude, final_phase), _readout(ctx)])
            blocks.append(seq.add_block([first, wait, pi, wait, last]))
    upload(ctx, seq)
    _mw_on(ctx, ctx.require(*TRANSITION))
    data = []
    with ctx.progress(len(blocks)) as bar:
        for block in blocks:
            data.append(gated_counts(ctx, seq, block, shots, 1, triggers=shots)[:, 0])
            bar.update(1)
    counts = np.array(data, dtype=np.int_)
    free_s = 2 * taus * step_s
    difference = counts[0::2].mean(axis=1) - counts[1::2].mean(axis=1)
    sigma = np.hypot(standard_error(counts[0::2], axis=1), standard_error(counts[1::2], axis=1))

    def model(t: FloatArray, t2_s: float, amplitude_counts: float) -> FloatArray:
        return np.asarray(amplitude_counts * np.exp(-t / t2_s), dtype=np.float64)

    p0 = [float(free_s[len(free_s) // 2]), float(difference[0])]
    result = fitting.fit(model, free_s, difference, sigma, p0, ("t2_s", "amplitude"), "Hahn echo decay fit")
    values = {"t2_s": CalibratedValue(result["t2_s"], result.error("t2_s"), "s")}
    summary = f"T2 {result['t2_s'] * 1e3:.4f} +- {result.error('t2_s') * 1e3:.4f} ms"
    phases = np.tile([0.0, math.pi], len(free_s))
    run_id = record(
        ctx.node,
        ctx.routine_name,
        ctx.station,
        [
            Column("free_time_s", "s", "total free time 2 tau"),
            Column("final_phase_rad", "rad", "phase of the last pi/2 pulse"),
            Column("shot", "", "shot index"),
            Column("counts", "counts", "photon counts", setpoints=("free_time_s", "final_phase_rad", "shot")),
        ],
        {
            "free_time_s": np.repeat(np.repeat(free_s, 2), shots),
            "final_phase_rad": np.repeat(phases, shots),
            "shot": np.tile(np.arange(shots), len(phases)),
            "counts": counts,
        },
    )
    panel = Panel.new(f"{ctx.node} hahn_echo", "total free time 2 tau (us)", "counts(+x) - counts(-x) per shot")
    panel.points.append((free_s / 1e-6, difference, sigma, f"data, {shots} shots per point and phase"))
    dense = np.linspace(0.0, float(free_s.max()), 400)
    panel.curves.append((dense / 1e-6, result.curve(dense), f"fit, reduced chi2 {result.reduced_chi2:.2f}"))
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)


@register(
    "nv",
    "ramsey",
    "Ramsey fringes with a phase-advanced second pulse -> T2* (Gaussian decay), detuning",
    needs=[TRANSITION, PI_AMPLITUDE],
)
def ramsey(ctx: Context) -> RoutineResult:
    s = ctx.settings()
    shots = ctx.shots(100)
    amplitude = ctx.require(*PI_AMPLITUDE)
    virtual_hz = s.number("virtual_detuning_hz")
    t2_s = ctx.optional("t2_s")
    delays = _grid(ctx, 0.0, s.number("max_delay_s"), s.integer("points"))
    seq = new_sequence(ctx)
    blocks = []
    for tau in delays:
        pulses = [*_init(ctx), *_pi_half(ctx, amplitude)]
        if tau > 0:
            pulses.append(idle(float(tau)))
        pulses += [*_pi_half(ctx, amplitude, 2 * math.pi * virtual_hz * float(tau)), _readout(ctx)]
        blocks.append(seq.add_block([Element(pulses, loop_count=shots)]))
    upload(ctx, seq)
    _mw_on(ctx, ctx.require(*TRANSITION))
    data = _scan_blocks(ctx, seq, blocks, shots)
    # The phase accumulates from centre to centre of the two pi/2 pulses: tau + 4 t_pi/2 / pi for square pulses.
    effective = delays + 4 * (ctx.setup.time_s("pi_pulse_s") / 2) / math.pi

    def markovian(t: FloatArray) -> FloatArray:
        return np.asarray(np.exp(-t / t2_s) if t2_s else np.ones_like(t), dtype=np.float64)

    def model(
        t: FloatArray, t2_star_s: float, frequency: float, amplitude_counts: float, offset: float, phase: float
    ) -> FloatArray:
        decay = np.exp(-((t / t2_star_s) ** 2)) * markovian(t)
        return np.asarray(offset + amplitude_counts * decay * np.cos(2 * np.pi * frequency * t + phase), np.float64)

    mean = data.mean(axis=1)
    p0 = [
        float(delays[-1] / 3),
        dominant_frequency(delays, mean),
        float((mean.max() - mean.min()) / 2),
        float(mean.mean()),
        0.0,
    ]
    result = fit_scan(
        model,
        effective,
        data,
        p0,
        ("t2_star_s", "frequency", "amplitude", "offset", "phase"),
        "Ramsey fit",
        bounds=([0, 0, -np.inf, -np.inf, -2 * np.pi], [np.inf, np.inf, np.inf, np.inf, 2 * np.pi]),
    )
    detuning = virtual_hz - result["frequency"]
    values = {
        "t2_star_s": CalibratedValue(result["t2_star_s"], result.error("t2_star_s"), "s"),
        "ramsey_detuning_hz": CalibratedValue(detuning, result.error("frequency"), "Hz"),
    }
    summary = (
        f"T2* {result['t2_star_s'] * 1e6:.3f} +- {result.error('t2_star_s') * 1e6:.3f} us, "
        f"detuning {detuning / 1e3:.2f} +- {result.error('frequency') / 1e3:.2f} kHz"
    )
    return finish_scan(
        ctx, effective, Column("free_time_s", "s", "effective free time"), data, result, values, (1e-6, "us"), summary
    )


def _cr_check(ctx: Context) -> list[Pulse]:
    return [idle(ctx.setup.time_s("cr_check_s"), [marker(ctx, "cr_check")]), idle(ctx.setup.time_s("settle_s"))]


@register("nv", "charge_resonance", "charge-resonance check counts after green -> NV- probability, CR threshold")
def charge_resonance(ctx: Context) -> RoutineResult:
    shots = ctx.shots(1000)
    seq = new_sequence(ctx)
    block = seq.add_block([Element([*_init(ctx), *_cr_check(ctx)])])
    awg = upload(ctx, seq)
    start_sr400(ctx, "cr_counter")
    seq.select(awg, block)
    counts = np.empty(shots, dtype=np.int_)
    with ctx.progress(shots, unit="shot") as bar:
        for k in range(shots):
            awg.force_trigger()
            counts[k] = last_window_counts(ctx, "cr_counter")
            bar.update(1)
    high = float(np.mean(counts[counts > np.median(counts) / 2])) if counts.max() > 0 else 1.0
    result = fit_poisson_mixture(counts, "charge-resonance histogram fit", (0.7, max(high, 1.0), 0.05))
    p, mu_high, mu_low = result["p"], result["mu_high"], result["mu_low"]
    levels = np.arange(int(counts.max()) + 2)
    bright = p * _pmf(levels, mu_high) > (1 - p) * _pmf(levels, mu_low)
    threshold = int(levels[np.argmax(bright)]) if bright.any() else 1
    values = {
        "nv_minus_probability": CalibratedValue(p, result.error("p"), ""),
        "cr_mean_counts": CalibratedValue(mu_high, result.error("mu_high"), "counts"),
        "cr_background_counts": CalibratedValue(mu_low, result.error("mu_low"), "counts"),
        "cr_threshold_counts": CalibratedValue(float(threshold), 0.0, "counts"),
    }
    run_id = record_histograms(ctx, {0: counts}, "after green", values)
    panel = histogram_panel(f"{ctx.node} charge_resonance", "CR check counts", {"after green": counts}, threshold)
    dense = np.arange(int(counts.max()) + 1)
    panel.curves.append((dense.astype(float), shots * result.curve(dense.astype(float)), "Poisson mixture fit"))
    summary = f"NV- probability {p:.4f} +- {result.error('p'):.4f}, CR mean {mu_high:.2f} counts, threshold {threshold}"
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)


def _pmf(k: npt.NDArray[np.int_], mu: float) -> FloatArray:
    from scipy.stats import poisson

    return np.asarray(poisson.pmf(k, mu), dtype=np.float64)


@register(
    "nv",
    "readout",
    "readout histograms after ms=0 and ms=1 preparation (CR-checked) -> threshold, F0, F1",
    needs=[TRANSITION, PI_AMPLITUDE, CR_THRESHOLD],
)
def readout(ctx: Context) -> RoutineResult:
    shots = ctx.shots(1000)
    amplitude = ctx.require(*PI_AMPLITUDE)
    cr_threshold = ctx.require(*CR_THRESHOLD)
    seq = new_sequence(ctx)
    pi = _mw(ctx.setup.time_s("pi_pulse_s"), amplitude)
    blocks = {
        0: seq.add_block([Element([*_init(ctx), *_cr_check(ctx), _readout(ctx)])]),
        1: seq.add_block([Element([*_init(ctx), *_cr_check(ctx), *pi, _readout(ctx)])]),
    }
    awg = upload(ctx, seq)
    _mw_on(ctx, ctx.require(*TRANSITION))
    start_sr400(ctx, "cr_counter")
    counter = ctx.instrument("counter")
    kept: dict[int, npt.NDArray[np.int_]] = {}
    with ctx.progress(2 * shots, unit="shot") as bar:
        for state, block in blocks.items():
            counter.gate_source("EXT")
            counter.trigger_count(1)
            counter.sample_count(shots)
            counter.initiate()
            seq.select(awg, block)
            cr = np.empty(shots, dtype=np.int_)
            for k in range(shots):
                awg.force_trigger()
                cr[k] = last_window_counts(ctx, "cr_counter")
                bar.update(1)
            counts = np.asarray(counter.fetch_counts(), dtype=np.int_)
            kept[state] = counts[cr >= cr_threshold]
            if len(kept[state]) < shots // 10:
                raise CalibrationError(
                    f"{ctx.node} readout: only {len(kept[state])} of {shots} shots passed the charge-resonance check "
                    f"(threshold {cr_threshold:g}); check the red lasers or run charge_resonance again"
                )
    bright, dark = kept[0], kept[1]
    threshold = best_threshold(bright, dark)
    f0, f0_err = binomial(int(np.sum(bright >= threshold)), len(bright))
    f1, f1_err = binomial(int(np.sum(dark < threshold)), len(dark))
    mu_dark = float(dark.mean())
    mixture = fit_poisson_mixture(
        bright, "ms=0 readout histogram fit", (0.99, float(bright.mean()), mu_dark), fixed_low_mean=mu_dark
    )
    values = {
        "readout_threshold_counts": CalibratedValue(float(threshold), 0.0, "counts"),
        "readout_fidelity_0": CalibratedValue(f0, f0_err, ""),
        "readout_fidelity_1": CalibratedValue(f1, f1_err, ""),
        "readout_mean_counts_0": CalibratedValue(mixture["mu_high"], mixture.error("mu_high"), "counts"),
        "readout_mean_counts_1": CalibratedValue(mu_dark, float(np.std(dark, ddof=1) / np.sqrt(len(dark))), "counts"),
        "spin_init_fidelity": CalibratedValue(mixture["p"], mixture.error("p"), ""),
    }
    run_id = record_histograms(ctx, kept, "prepared ms state (0: ms=0, 1: ms=-1)", values)
    panel = histogram_panel(f"{ctx.node} readout", "readout counts", {"ms=0": bright, "ms=-1": dark}, threshold)
    summary = f"threshold {threshold}, F0 {f0:.4f} +- {f0_err:.4f}, F1 {f1:.4f} +- {f1_err:.4f}"
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)
