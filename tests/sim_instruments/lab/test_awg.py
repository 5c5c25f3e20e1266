"""The AWG5014 memory model: integer block decoding, sequence table, and what one trigger plays."""

from __future__ import annotations

import array

import numpy as np
import pytest

from sim_instruments.lab.awg import AWGError, SequenceMemory, decode_integer_block, parse_data_command


def _block(w: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> bytes:
    """Encode exactly as qcodes' TektronixAWG5014.send_waveform_to_list does."""
    number = (2**13 - 1) + (2**13 - 1) * w + 2**14 * m1 + 2**15 * m2
    return array.array("H", number.astype("int")).tobytes()


def _data_command(name: str, payload: bytes) -> bytes:
    return f'WLISt:WAVeform:DATA "{name}",'.encode() + f"#{len(str(len(payload)))}{len(payload)}".encode() + payload


def test_integer_block_round_trips_samples_and_markers() -> None:
    w = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    m1 = np.array([0, 1, 0, 1, 0])
    m2 = np.array([1, 1, 0, 0, 1])
    wf = decode_integer_block(_block(w, m1, m2))
    np.testing.assert_allclose(wf.samples, w, atol=1 / 8191)
    assert wf.marker1.tolist() == [False, True, False, True, False]
    assert wf.marker2.tolist() == [True, True, False, False, True]


def test_data_command_parsing_and_errors() -> None:
    payload = _block(np.zeros(3), np.zeros(3), np.zeros(3))
    name, body = parse_data_command(_data_command("pi_x", payload))
    assert (name, body) == ("pi_x", payload)
    with pytest.raises(AWGError, match="announces 6 bytes but carries 4"):
        parse_data_command(_data_command("pi_x", payload)[:-2])
    with pytest.raises(AWGError, match="malformed"):
        parse_data_command(b"WLISt:WAVeform:DATA pi_x")


def _memory_with(elements: list[tuple[str, np.ndarray, np.ndarray]]) -> SequenceMemory:
    memory = SequenceMemory()
    memory.set_length(len(elements))
    for index, (name, w, m1) in enumerate(elements, start=1):
        memory.new_waveform(name, len(w))
        memory.store(name, decode_integer_block(_block(w, m1, np.zeros(len(w)))))
        memory.assign(index, 1, name)
    return memory


def test_segments_merge_constant_runs_and_scale_by_amplitude() -> None:
    w = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    m1 = np.array([1, 1, 0, 0, 0, 0])
    memory = _memory_with([("a", w, m1)])
    segments = memory.play_from_position(1.0e9, (2.0, 2.0, 2.0, 2.0), (0.0, 0.0, 0.0, 0.0))
    assert [round(s.duration_s * 1e9) for s in segments] == [2, 3, 1]
    assert [s.volts[0] for s in segments] == pytest.approx([0.0, 1.0, 0.0], abs=1e-3)
    assert [sorted(s.markers) for s in segments] == [["1.1"], [], []]


def test_trigger_plays_up_to_the_next_waiting_element_and_loops() -> None:
    w = np.zeros(4)
    memory = _memory_with([("a", w, np.ones(4)), ("b", w, np.zeros(4)), ("c", w, np.ones(4))])
    memory.element(2).loop_count = 3
    memory.element(3).trigger_wait = True
    first = memory.play_from_position(1.0e9, (1.0,) * 4, (0.0,) * 4)
    assert sum(s.duration_s for s in first) == pytest.approx(4 * 4e-9)  # a once, b three times
    assert memory.position == 3
    second = memory.play_from_position(1.0e9, (1.0,) * 4, (0.0,) * 4)
    assert sum(s.duration_s for s in second) == pytest.approx(4e-9)
    assert memory.position == 1


def test_memory_refuses_inconsistent_use() -> None:
    memory = SequenceMemory()
    with pytest.raises(AWGError, match="sequence is empty"):
        memory.play_from_position(1.0e9, (1.0,) * 4, (0.0,) * 4)
    memory.set_length(1)
    with pytest.raises(AWGError, match="no waveform named 'x'"):
        memory.assign(1, 1, "x")
    memory.new_waveform("x", 4)
    with pytest.raises(AWGError, match="declared with 4 points but 2 came"):
        memory.store("x", decode_integer_block(_block(np.zeros(2), np.zeros(2), np.zeros(2))))
    memory.assign(1, 1, "x")
    with pytest.raises(AWGError, match="without data: x"):
        memory.play_from_position(1.0e9, (1.0,) * 4, (0.0,) * 4)
    memory.element(1).goto_state = True
    memory.element(1).goto_index = 1
    memory.store("x", decode_integer_block(_block(np.zeros(4), np.zeros(4), np.zeros(4))))
    with pytest.raises(AWGError, match="loops forever"):
        memory.play_from_position(1.0e9, (1.0,) * 4, (0.0,) * 4)
