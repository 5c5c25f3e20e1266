"""What every scan routine does after acquiring: record per-shot counts, plot the means with the fit, and the
histogram analysis (threshold, fidelities, two-Poisson mixture) of the readout-type routines."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import poisson

from qlab_os.lab.calibrate.calfile import CalibratedValue
from qlab_os.lab.calibrate.fitting import FitResult, fit, standard_error
from qlab_os.lab.calibrate.record import Column, Panel, record, save_plot
from qlab_os.lab.calibrate.routine import Context, RoutineResult

FloatArray = npt.NDArray[np.float64]


def dominant_frequency(x: FloatArray, y: FloatArray) -> float:
    """Frequency of the strongest Fourier component of ``y`` sampled at uniform ``x`` (a start value for fits)."""
    n = len(x)
    spectrum = np.abs(np.fft.rfft(y - np.mean(y), n=8 * n))
    frequencies = np.fft.rfftfreq(8 * n, d=float(x[1] - x[0]))
    return float(frequencies[1 + int(np.argmax(spectrum[1:]))])


def finish_scan(
    ctx: Context,
    x: FloatArray,
    x_column: Column,
    counts: npt.NDArray[np.int_],
    result: FitResult,
    values: dict[str, CalibratedValue],
    x_scale: tuple[float, str],
    summary: str,
    ylabel: str = "mean counts per shot",
    raw: npt.NDArray[np.int_] | None = None,
) -> RoutineResult:
    """Record ``raw`` counts (points x shots; default ``counts``) against ``x``, plot the means of ``counts`` (what
    was fitted) with ``result``, return the routine result."""
    points, shots = counts.shape
    run_id = record(
        ctx.node,
        ctx.routine_name,
        ctx.station,
        [
            x_column,
            Column("shot", "", "shot index"),
            Column("counts", "counts", "photon counts", setpoints=(x_column.name, "shot")),
        ],
        {
            x_column.name: np.repeat(x, shots),
            "shot": np.tile(np.arange(shots), points),
            "counts": counts if raw is None else raw,
        },
        metadata={"calibration_values": _metadata(values)},
    )
    mean = counts.mean(axis=1)
    scale, unit = x_scale
    panel = Panel.new(f"{ctx.node} {ctx.routine_name}", f"{x_column.label} ({unit})", ylabel)
    panel.points.append((x / scale, mean, standard_error(counts, axis=1), f"data, {shots} shots/point"))
    dense = np.linspace(float(x.min()), float(x.max()), 600)
    panel.curves.append((dense / scale, result.curve(dense), f"fit, reduced chi2 {result.reduced_chi2:.2f}"))
    plot = save_plot(ctx.plot_path(), [panel], f"{summary} (run {run_id})")
    return RoutineResult(values, run_id, plot, summary)


def fit_scan(
    model: object,
    x: FloatArray,
    counts: npt.NDArray[np.int_],
    p0: Sequence[float],
    names: Sequence[str],
    what: str,
    bounds: tuple[Sequence[float], Sequence[float]] | None = None,
) -> FitResult:
    """Fit the per-point mean counts with their standard errors."""
    return fit(model, x, counts.mean(axis=1), standard_error(counts, axis=1), p0, names, what, bounds)  # type: ignore[arg-type]


def _metadata(values: dict[str, CalibratedValue]) -> str:
    return "; ".join(f"{k} = {v.value:.9g} +- {v.error:.3g} {v.unit}" for k, v in values.items())


# -- histograms ------------------------------------------------------------------------------------------------


def histogram(counts: npt.NDArray[np.int_], max_counts: int) -> FloatArray:
    """Occurrences of 0 .. max_counts counts."""
    return np.bincount(np.asarray(counts, dtype=np.int_), minlength=max_counts + 1)[: max_counts + 1].astype(float)


def fit_poisson_mixture(
    counts: npt.NDArray[np.int_], what: str, p0: tuple[float, float, float], fixed_low_mean: float | None = None
) -> FitResult:
    """Fit the histogram of ``counts`` with ``p Poisson(mu_high) + (1 - p) Poisson(mu_low)``.

    Parameters ``p``, ``mu_high`` and (unless ``fixed_low_mean`` is given) ``mu_low``. Bin errors are the square
    root of the expected occurrences (floored at one occurrence), as for multinomial counts.
    """
    counts = np.asarray(counts, dtype=np.int_)
    n = len(counts)
    max_counts = int(counts.max()) + 1
    bins = np.arange(max_counts + 1, dtype=float)
    frequency = histogram(counts, max_counts) / n
    sigma = np.sqrt(np.maximum(frequency, 1.0 / n) / n)
    if fixed_low_mean is None:

        def model3(k: FloatArray, p: float, mu_high: float, mu_low: float) -> FloatArray:
            return np.asarray(p * poisson.pmf(k, mu_high) + (1 - p) * poisson.pmf(k, mu_low), dtype=np.float64)

        return fit(
            model3,
            bins,
            frequency,
            sigma,
            p0,
            ("p", "mu_high", "mu_low"),
            what,
            bounds=([0.0, 0.0, 0.0], [1.0, np.inf, np.inf]),
        )
    low = fixed_low_mean

    def model2(k: FloatArray, p: float, mu_high: float) -> FloatArray:
        return np.asarray(p * poisson.pmf(k, mu_high) + (1 - p) * poisson.pmf(k, low), dtype=np.float64)

    return fit(model2, bins, frequency, sigma, p0[:2], ("p", "mu_high"), what, bounds=([0.0, 0.0], [1.0, np.inf]))


def best_threshold(high: npt.NDArray[np.int_], low: npt.NDArray[np.int_]) -> int:
    """Threshold t (``counts >= t`` means the bright outcome) maximising the mean of the two assignment fidelities."""
    top = int(max(high.max(initial=0), low.max(initial=0))) + 1
    candidates = np.arange(1, top + 1)
    scores = [np.mean(high >= t) + np.mean(low < t) for t in candidates]
    return int(candidates[int(np.argmax(scores))])


def binomial(successes: int, trials: int) -> tuple[float, float]:
    """Fraction and its binomial standard error (floored at that of one event, so 0/N and N/N have errors)."""
    p = successes / trials
    return p, math.sqrt(max(p * (1 - p), 1.0 / trials) / trials)


def histogram_panel(title: str, xlabel: str, data: dict[str, npt.NDArray[np.int_]], threshold: int) -> Panel:
    panel = Panel.new(title, xlabel, "occurrences")
    top = max(int(c.max(initial=0)) for c in data.values()) + 1
    edges = np.arange(top + 2) - 0.5
    for label, counts in data.items():
        panel.histograms.append((edges.astype(np.float64), histogram(counts, top), f"{label} ({len(counts)} shots)"))
    panel.vlines.append((threshold - 0.5, f"threshold {threshold}"))
    return panel


def record_histograms(
    ctx: Context, data: dict[int, npt.NDArray[np.int_]], label: str, values: dict[str, CalibratedValue]
) -> int:
    """Record per-shot counts of each preparation (0, 1, ...) as one dataset; return its run id."""
    prep = np.concatenate([np.full(len(c), k) for k, c in data.items()])
    shot = np.concatenate([np.arange(len(c)) for c in data.values()])
    counts = np.concatenate(list(data.values()))
    return record(
        ctx.node,
        ctx.routine_name,
        ctx.station,
        [
            Column("preparation", "", label),
            Column("shot", "", "shot index"),
            Column("counts", "counts", "photon counts", setpoints=("preparation", "shot")),
        ],
        {"preparation": prep, "shot": shot, "counts": counts},
        metadata={"calibration_values": _metadata(values)},
    )
