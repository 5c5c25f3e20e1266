"""Acquisition helpers shared by the routines: build an AWG sequence for the node, play blocks, collect counts.

Two counters, two ways of reading them (docs/instruments.md):

- a Keysight 53230A gated externally gives one reading per gate window after ``initiate()``: arm it for all the
  shots of a point, play them, then ``fetch_counts()`` once;
- an SRS SR400 holds the counts of its last gate window (``QA``): read it after every shot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from instruments.tektronix.awg_sequence import AWGSequence, Block
from qlab_os.lab.calibrate.routine import CalibrationError, Context

IntArray = npt.NDArray[np.int_]


def new_sequence(ctx: Context) -> AWGSequence:
    """An empty sequence for the node's AWG wiring (clock, amplitude, I/Q channels)."""
    awg = ctx.setup.awg
    amplitudes = dict.fromkeys(range(1, 5), awg.amplitude_vpp)
    return AWGSequence(awg.sample_rate_hz, amplitudes, awg.iq_channels, name=ctx.routine_name[:12])


def upload(ctx: Context, sequence: AWGSequence) -> Any:
    """Set the AWG's clock to the node's sample rate, upload ``sequence`` and start the sequencer."""
    awg = ctx.instrument("awg")
    awg.clock_freq(ctx.setup.awg.sample_rate_hz)
    sequence.upload(awg)
    return awg


def marker(ctx: Context, function: str) -> str:
    return ctx.setup.awg.marker(function, str(ctx.setup.path))


def gated_counts(
    ctx: Context, sequence: AWGSequence, block: Block, shots: int, gates_per_shot: int, triggers: int = 1
) -> IntArray:
    """Play ``block`` ``triggers`` times and return the counter's readings, ``shots`` x ``gates_per_shot``.

    The 53230A (role ``counter``) is armed for ``shots * gates_per_shot`` readings, one per external gate window.
    """
    counter = ctx.instrument("counter")
    readings = shots * gates_per_shot
    counter.gate_source("EXT")
    counter.trigger_count(1)
    counter.sample_count(readings)
    counter.initiate()
    sequence.play(ctx.instrument("awg"), block, triggers)
    counts = counter.fetch_counts()
    if len(counts) != readings:
        raise CalibrationError(
            f"{ctx.node} {ctx.routine_name}: the counter returned {len(counts)} readings, expected {readings}; "
            "check that the AWG marker gating the counter is wired as the node setup says"
        )
    return np.asarray(counts, dtype=np.int_).reshape(shots, gates_per_shot)


def last_window_counts(ctx: Context, role: str) -> int:
    """Counts of the last gate window of an SR400 (``role``), which must have one ready."""
    counts = int(ctx.instrument(role).A.last_count())
    if counts < 0:
        raise CalibrationError(
            f"{ctx.node} {ctx.routine_name}: the counter {ctx.setup.instrument_name(role)!r} has no completed gate "
            "window after the shot; check that the AWG marker gating it is wired as the node setup says"
        )
    return counts


def start_sr400(ctx: Context, role: str) -> Any:
    counter = ctx.instrument(role)
    counter.reset()
    counter.start()
    return counter
