"""Least-squares fits of calibration data with scipy, and the model functions the routines fit.

Each routine fits a closed form of the physics (docs/physics.md, docs/calibration.md) with
:func:`scipy.optimize.curve_fit`; parameter errors are the square roots of the covariance diagonal, with the data's
standard errors taken as absolute (``absolute_sigma=True``), so they are statistical 1-sigma errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import curve_fit

from qlab_os.errors import QlabOSError

FloatArray = npt.NDArray[np.float64]
Model = Callable[..., FloatArray]


class FitError(QlabOSError):
    """A fit did not converge or left a parameter undetermined; the message names the routine and the model."""


@dataclass(frozen=True)
class FitResult:
    """Best-fit parameters, their 1-sigma errors, and the reduced chi-square."""

    names: tuple[str, ...]
    values: FloatArray
    errors: FloatArray
    reduced_chi2: float
    model: Model

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def error(self, name: str) -> float:
        return float(self.errors[self.names.index(name)])

    def curve(self, x: FloatArray) -> FloatArray:
        return self.model(x, *self.values)


def fit(
    model: Model,
    x: FloatArray,
    y: FloatArray,
    sigma: FloatArray,
    p0: Sequence[float],
    names: Sequence[str],
    what: str,
    bounds: tuple[Sequence[float], Sequence[float]] | None = None,
) -> FitResult:
    """Fit ``model(x, *p)`` to ``y`` with standard errors ``sigma``; ``what`` names the fit in errors."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if len(x) <= len(p0):
        raise FitError(f"{what}: {len(x)} points cannot determine {len(p0)} parameters")
    try:
        if bounds is None:
            popt, pcov = curve_fit(model, x, y, p0=list(p0), sigma=sigma, absolute_sigma=True, maxfev=20000)
        else:
            popt, pcov = curve_fit(
                model, x, y, p0=list(p0), sigma=sigma, absolute_sigma=True, maxfev=20000, bounds=bounds
            )
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"{what}: the fit did not converge ({exc}); check the scan range and the start values") from exc
    errors = np.sqrt(np.diag(pcov))
    if not np.all(np.isfinite(errors)):
        bad = [n for n, e in zip(names, errors, strict=True) if not np.isfinite(e)]
        raise FitError(f"{what}: the data do not determine {', '.join(bad)}; widen the scan or take more shots")
    residuals = (y - model(x, *popt)) / sigma
    dof = max(len(x) - len(popt), 1)
    return FitResult(tuple(names), np.asarray(popt), errors, float(np.sum(residuals**2) / dof), model)


def standard_error(samples: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """Standard error of the mean of per-shot values along ``axis``.

    Counts: the sample standard deviation over sqrt(shots), never below that of one count in all the shots (a point
    where every shot gave 0 counts has a sample variance of 0, and a fit would trust it infinitely). Bright/dark
    outcomes (all values 0 or 1): the binomial error of the Agresti-Coull estimate ``(k + 1) / (n + 2)``, which does
    not collapse for fractions near 0 or 1 and so does not over-weight them.
    """
    values = np.asarray(samples, dtype=np.float64)
    n = values.shape[axis]
    if np.all((values == 0) | (values == 1)):
        p = (np.sum(values, axis=axis) + 1) / (n + 2)
        return np.asarray(np.sqrt(p * (1 - p) / n), dtype=np.float64)
    std = np.std(values, axis=axis, ddof=1) if n > 1 else np.zeros(np.delete(values.shape, axis))
    return np.asarray(np.maximum(std, 1.0 / np.sqrt(n)) / np.sqrt(n), dtype=np.float64)


# -- models -----------------------------------------------------------------------------------------------------


def lorentzian_dip(x: FloatArray, x0: float, fwhm: float, depth: float, offset: float) -> FloatArray:
    """``offset - depth / (1 + (2 (x - x0) / fwhm)^2)``."""
    return np.asarray(offset - depth / (1.0 + (2.0 * (x - x0) / fwhm) ** 2), dtype=np.float64)


def rabi_line(
    x: FloatArray, x0: float, rabi_hz: float, duration_s: float, contrast: float, offset: float
) -> FloatArray:
    """Population after a square pulse of Rabi frequency ``rabi_hz`` and length ``duration_s`` at detuning x - x0.

    ``offset + contrast * W``, with ``W = Omega^2 / (Omega^2 + Delta^2) * sin^2(pi sqrt(Omega^2 + Delta^2) t)`` (the
    Rabi formula, frequencies in Hz).
    """
    delta = x - x0
    general = np.sqrt(rabi_hz**2 + delta**2)
    w = rabi_hz**2 / general**2 * np.sin(np.pi * general * duration_s) ** 2
    return np.asarray(offset + contrast * w, dtype=np.float64)


def rabi_oscillation(x: FloatArray, frequency: float, contrast: float, offset: float) -> FloatArray:
    """``offset + contrast * sin^2(pi * frequency * x)``: resonant Rabi flopping against pulse length or amplitude."""
    return np.asarray(offset + contrast * np.sin(np.pi * frequency * x) ** 2, dtype=np.float64)


def gaussian_ramsey(
    x: FloatArray, t2_s: float, detuning_hz: float, contrast: float, offset: float, phase: float
) -> FloatArray:
    """Ramsey fringes with Gaussian decay: ``offset + contrast/2 (1 - exp(-(t/T2*)^2) cos(2 pi d t + phase))``."""
    return np.asarray(
        offset + 0.5 * contrast * (1.0 - np.exp(-((x / t2_s) ** 2)) * np.cos(2 * np.pi * detuning_hz * x + phase)),
        dtype=np.float64,
    )


def stretched_decay(x: FloatArray, t2_s: float, contrast: float, offset: float, exponent: float) -> FloatArray:
    """Echo decay ``offset + contrast/2 (1 - exp(-(x/T2)^n))`` towards the mixed state."""
    return np.asarray(offset + 0.5 * contrast * (1.0 - np.exp(-((x / t2_s) ** exponent))), dtype=np.float64)
