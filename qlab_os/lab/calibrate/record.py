"""Where a routine's results go: a QCoDeS dataset (sqlite, with the station snapshot) and a PNG of data and fit.

Datasets go through QCoDeS' own ``Measurement`` API into the database given to :func:`open_database`; each routine
run is one run of the experiment ``calibration`` with the node as sample name, and its run id is what the
calibration file cites. Plots are drawn with matplotlib's Agg canvas directly (no pyplot state, no display).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qcodes.dataset import Measurement, initialise_or_create_database_at, load_or_create_experiment
from qcodes.station import Station

EXPERIMENT = "calibration"


def open_database(path: Path) -> None:
    """Create (or open) the sqlite database at ``path`` and make it QCoDeS' current one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    initialise_or_create_database_at(str(path))


@dataclass(frozen=True)
class Column:
    """A dataset column: name, unit and label; ``setpoints`` names the columns it depends on."""

    name: str
    unit: str
    label: str = ""
    setpoints: tuple[str, ...] = ()


def record(
    node: str,
    routine: str,
    station: Station | None,
    columns: Sequence[Column],
    data: dict[str, npt.ArrayLike],
    metadata: dict[str, Any] | None = None,
) -> int:
    """Write one dataset with ``columns`` (rows taken from the equal-length arrays in ``data``); return its run id.

    Data are written after the acquisition, in one pass: the routines keep every shot in memory anyway (a scan of a
    few thousand shots), and a dataset that exists only when the acquisition finished is never a half scan.
    """
    experiment = load_or_create_experiment(EXPERIMENT, sample_name=node)
    measurement = Measurement(exp=experiment, station=station, name=f"{node} {routine}")
    for column in columns:
        measurement.register_custom_parameter(
            column.name, label=column.label or column.name, unit=column.unit, setpoints=column.setpoints or None
        )
    arrays = {c.name: np.asarray(data[c.name], dtype=np.float64).ravel() for c in columns}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"{routine}: dataset columns have different lengths {sorted(lengths)}")
    with measurement.run() as saver:
        for key, value in (metadata or {}).items():
            saver.dataset.add_metadata(key, value)
        saver.add_result(*((name, values) for name, values in arrays.items()))
        run_id: int = saver.run_id
    return run_id


@dataclass
class Panel:
    """One axes of a plot: data points (with error bars) and fitted curves or histograms."""

    title: str
    xlabel: str
    ylabel: str
    points: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64] | None, str]]
    curves: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]]
    histograms: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]]
    vlines: list[tuple[float, str]]

    @classmethod
    def new(cls, title: str, xlabel: str, ylabel: str) -> Panel:
        return cls(title, xlabel, ylabel, [], [], [], [])


def save_plot(path: Path, panels: Sequence[Panel], caption: str) -> Path:
    """Draw ``panels`` side by side into a PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(5.5 * len(panels), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for edges, counts, label in panel.histograms:
            axes.stairs(counts, edges, label=label, fill=False)
        for x, y, yerr, label in panel.points:
            axes.errorbar(x, y, yerr=yerr, fmt="o", markersize=3, label=label)
        for x, y, label in panel.curves:
            axes.plot(x, y, "-", label=label)
        for x0, label in panel.vlines:
            axes.axvline(x0, linestyle="--", color="grey", label=label)
        axes.set_title(panel.title)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel(panel.ylabel)
        axes.legend(fontsize="small")
    figure.suptitle(caption, fontsize="medium")
    figure.savefig(path, dpi=100)
    return path
