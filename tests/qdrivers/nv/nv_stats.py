"""Expected readout statistics of the NV driver from the calibrated readout fidelities, with 5-sigma bounds."""

from __future__ import annotations

import math

from qdrivers.nv.calibration import NVCalibration


def read_one_probability(p1: float, cal: NVCalibration) -> tuple[float, float]:
    """P(read 1) for a spin with P(|1>) = ``p1``, and its 1-sigma uncertainty from the calibration errors."""
    r = p1 * cal.readout_fidelity_1 + (1 - p1) * (1 - cal.readout_fidelity_0)
    sigma_cal = math.hypot(p1 * cal.readout_fidelity_1_error, (1 - p1) * cal.readout_fidelity_0_error)
    return r, sigma_cal


def assert_matches(ones: int, shots: int, p1: float, cal: NVCalibration) -> None:
    """``ones`` of ``shots`` read 1, as theory (P(|1>) = ``p1``) says, within 5 sigma (shots and calibration)."""
    r, sigma_cal = read_one_probability(p1, cal)
    sigma = math.sqrt(r * (1 - r) / shots + sigma_cal**2)
    observed = ones / shots
    assert abs(observed - r) < 5 * sigma, f"read 1 in {observed:.4f} of {shots} shots, theory {r:.4f} +- {sigma:.4f}"
