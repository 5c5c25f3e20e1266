"""Sequences built with qcodes' own AWG5014 driver calls, as a station script would build them."""

from __future__ import annotations

import numpy as np
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from sim_instruments.lab.lab import DEFAULT_LAB

VISALIB = f"{DEFAULT_LAB}@qlab"

Piece = tuple[int, float, float, frozenset[str]]  # samples, I (normalised), Q (normalised), markers "ch.m"


def upload_element(
    awg: TektronixAWG5014, index: int, name: str, pieces: list[Piece], loops: int = 1, wait: bool = True
) -> None:
    """Upload one element on channels 1-4 (I, Q, and markers); ``wait``: it waits for a trigger."""
    for channel in range(1, 5):
        w = np.concatenate([np.full(n, (i if channel == 1 else q if channel == 2 else 0.0)) for n, i, q, _ in pieces])
        m1 = np.concatenate([np.full(n, int(f"{channel}.1" in m)) for n, _, _, m in pieces])
        m2 = np.concatenate([np.full(n, int(f"{channel}.2" in m)) for n, _, _, m in pieces])
        awg.send_waveform_to_list(w, m1, m2, f"{name}_ch{channel}")
        awg.set_sqel_waveform(f"{name}_ch{channel}", channel, index)
    awg.set_sqel_loopcnt(loops, index)
    awg.set_sqel_trigger_wait(index, int(wait))


def outputs_on(awg: TektronixAWG5014, amplitude_vpp: float = 1.0) -> None:
    for channel in (awg.ch1, awg.ch2, awg.ch3, awg.ch4):
        channel.amp(amplitude_vpp)
        channel.state(1)
