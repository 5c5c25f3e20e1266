"""The AWG5014 sequence builder: sample grid, 14-bit codes, markers, and an upload played by the simulated lab's AWG."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from qcodes.instrument import Instrument

from instruments.tektronix import TektronixAWG5014
from instruments.tektronix.awg_sequence import (
    CODE_SCALE,
    MIN_WAVEFORM_POINTS,
    AWGSequence,
    AWGSequenceError,
    Element,
    Pulse,
    gaussian,
    idle,
)
from sim_instruments.lab.lab import reset_lab
from sim_instruments.lab.models import AWGModel

LAB = "sim_instruments.lab:lab.yaml"
AWG_ADDRESS = "TCPIP0::192.168.10.12::inst0::INSTR"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


def _sequence(rate_hz: float = 1e9) -> AWGSequence:
    return AWGSequence(rate_hz, {1: 1.0, 2: 1.0}, (1, 2))


def test_durations_off_the_sample_grid_are_refused() -> None:
    seq = _sequence()
    with pytest.raises(AWGSequenceError, match=r"not a whole number of samples at 1e\+09 Sa/s"):
        seq.render(Element([Pulse(10.4e-9, 0.1)]))


def test_samples_are_sent_as_code_midpoints_so_qcodes_truncation_lands_on_the_nearest_code() -> None:
    seq = _sequence()
    volts = 0.123456
    w, _, _ = seq.render(Element([Pulse(300e-9, volts)]))[1]
    # qcodes' send_waveform_to_list packs int(8191 + 8191 * w); the instrument plays (code / 8191) * Vpp / 2.
    packed = (8191 + 8191 * w).astype(int)
    played = (packed[0] - 8191) / CODE_SCALE * 0.5
    assert played == pytest.approx(seq.played_volts(volts, 1), abs=1e-15)
    assert abs(played - volts) <= 0.5 / CODE_SCALE * 0.5 + 1e-15
    full = seq.render(Element([Pulse(300e-9, 0.5, -0.5)]))
    assert full[1][0].max() == 1.0 and (8191 + 8191 * full[2][0]).astype(int).min() == 0


def test_amplitude_beyond_half_the_channel_range_is_refused() -> None:
    with pytest.raises(AWGSequenceError, match=r"channel 1: 0.6 V exceeds half its amplitude \(0.5 V of 1 Vpp\)"):
        _sequence().render(Element([Pulse(300e-9, 0.6)]))


def test_markers_phase_shape_and_padding() -> None:
    seq = _sequence()
    rendered = seq.render(Element([idle(100e-9, ["1.2", "2.1"]), Pulse(50e-9, 0.0, 0.25, shape=gaussian(2.0))]))
    w1, m11, m12 = rendered[1]
    w2, m21, m22 = rendered[2]
    assert len(w1) == MIN_WAVEFORM_POINTS  # 150 samples padded to the AWG's minimum
    assert m12[:100].all() and not m12[100:].any() and m21[:100].all() and not m11.any() and not m22.any()
    q = (8191 + 8191 * w2).astype(int) - 8191
    assert q[100 + 25] == round(0.25 / 0.5 * CODE_SCALE * math.exp(-0.5 * (0.02 * 2) ** 2))  # near the centre
    assert q[100] < q[125] and q[149] < q[125] and (q[150:] == 0).all()


def test_bad_pulses_and_elements() -> None:
    with pytest.raises(AWGSequenceError, match="unknown marker"):
        Pulse(1e-6, markers=frozenset({"5.1"}))
    with pytest.raises(AWGSequenceError, match="loop count"):
        Element([idle(1e-6)], loop_count=0)
    with pytest.raises(AWGSequenceError, match="needs an amplitude"):
        AWGSequence(1e9, {1: 1.0}, (1, 2))
    with pytest.raises(AWGSequenceError, match="nothing to upload"):
        _sequence().upload(None)  # type: ignore[arg-type]


def test_upload_then_each_trigger_plays_its_block_on_the_simulated_awg() -> None:
    lab = reset_lab(LAB, seed=1)
    awg = TektronixAWG5014("awg", AWG_ADDRESS, visalib=f"{LAB}@qlab", terminator="\n")
    seq = _sequence()
    first = seq.add_block([Element([idle(1e-6, ["1.1"]), Pulse(300e-9, 0.25)], loop_count=3)])
    second = seq.add_block([Element([Pulse(400e-9, 0.1, markers=frozenset({"2.1"}))]),
                            Element([idle(1e-6)], loop_count=5), Element([idle(300e-9, ["1.2"])])])
    seq.upload(awg)
    model = lab.model_of(lab.resource_of("nv_a.awg"))
    assert isinstance(model, AWGModel)
    memory = model.memory
    assert len(memory.elements) == 4 and awg.get_state() == "Waiting for trigger"
    assert [e.trigger_wait for e in memory.elements] == [True, True, False, False]
    assert [e.loop_count for e in memory.elements] == [3, 1, 5, 1]
    assert (memory.elements[0].goto_state, memory.elements[0].goto_index) == (True, 1)
    assert (memory.elements[3].goto_state, memory.elements[3].goto_index) == (True, 2)
    assert len(memory.waveforms) == 7  # ch1 and ch2 of four elements, the two idle ch2 waveforms shared
    played = []
    original = model.node.play
    model.node.play = lambda segments, live: played.append(segments)  # type: ignore[method-assign]
    try:
        seq.play(awg, second, triggers=2)
        seq.play(awg, first)
    finally:
        model.node.play = original  # type: ignore[method-assign]
    durations = [sum(s.duration_s for s in segments) for segments in played]
    assert durations == pytest.approx([400e-9 + 5e-6 + 300e-9] * 2 + [3 * 1.3e-6])
    drive = [s for s in played[2] if s.volts[0] != 0.0]
    assert drive and all(s.volts[0] == pytest.approx(seq.played_volts(0.25, 1), abs=1e-12) for s in drive)
    assert all(s.markers == frozenset({"1.1"}) for s in played[2] if s.volts[0] == 0.0)
    assert np.isclose(seq.played_volts(0.25, 1), 0.25, atol=1e-4)
