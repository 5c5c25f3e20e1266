"""Attempt loops of the simulated lab: an AWG element looped with an event jump, emitting towards a heralding station
whose herald ends the loop (docs/simulated-lab.md), driven with qcodes' own AWG5014 commands."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from lab_helpers import VISALIB, outputs_on, upload_element
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from instruments.idq import ID1000
from instruments.toptica import DLCPro
from sim_instruments.lab.lab import SimulatedLab
from sim_instruments.physics.heralding import Click, SingleClickStation

EMIT = frozenset({"3.1"})
PUMP = frozenset({"4.1"})
READ = frozenset({"1.2"})
GAP = frozenset[str]()
LOOP, NO_HERALD, HERALD = 1, 2, 3
SAMPLE_RATE_HZ = 1.0e9
REPETITION = [(100, 0.0, 0.0, PUMP), (10, 0.0, 0.0, EMIT), (140, 0.0, 0.0, GAP)]  # 250 ns
REPETITION_NS = 250


def _node_awg(octet: int, name: str, repetition: list[tuple[int, float, float, frozenset[str]]],
              loops: int | None) -> TektronixAWG5014:
    """Spin-pumping lasers on; element 1 the attempt loop (event jump to element 3), 2 and 3 wait for a trigger."""
    DLCPro(f"red_{name}", f"TCPIP0::192.168.{octet}.21::1998::SOCKET", visalib=VISALIB).laser1.current_enabled(True)
    DLCPro(f"repump_{name}", f"TCPIP0::192.168.{octet}.22::1998::SOCKET", visalib=VISALIB).laser1.current_enabled(True)
    awg = TektronixAWG5014(f"awg_{name}", f"TCPIP0::192.168.{octet}.12::inst0::INSTR", visalib=VISALIB,
                           terminator="\n")
    awg.clock_freq(SAMPLE_RATE_HZ)
    outputs_on(awg)
    awg.sequence_length(3)
    upload_element(awg, LOOP, f"loop_{name}", repetition, loops=loops or 1)
    if loops is None:
        awg.set_sqel_loopcnt_to_inf(LOOP, 1)
    awg.set_sqel_event_jump_type(LOOP, "INDEX")
    awg.set_sqel_event_jump_target_index(LOOP, HERALD)
    awg.write("EVENt:JMODe EJUMp")
    upload_element(awg, NO_HERALD, f"none_{name}", [(250, 0.0, 0.0, GAP)])
    upload_element(awg, HERALD, f"herald_{name}", [(250, 0.0, 0.0, GAP)])
    awg.run()
    return awg


def _brighter_station(lab: SimulatedLab, efficiency: float) -> SingleClickStation:
    """physics.yaml's efficiencies need ~1e4 attempts per herald; these tests count loops, so they use a brighter
    (valid) station to get many heralds quickly. The drivers' tests use physics.yaml's own numbers."""
    station = lab.stations["nv_link"]
    bright = replace(station.physics.params, detection_efficiency_a=efficiency, detection_efficiency_b=efficiency)
    station.physics = SingleClickStation(bright, lab.world, lab.world.rng)
    return station.physics


def _herald_probability(lab: SimulatedLab, physics: SingleClickStation, spectator_a: bool, spectator_b: bool) -> float:
    """P(herald) of one attempt from the pumped state: |0> (bright), or |1> when spin pumping left the spectator."""
    qa, qb = (lab.node(n).nv.electron_qubit_id for n in ("nv_a", "nv_b"))
    for qubit, spectator in ((qa, spectator_a), (qb, spectator_b)):
        lab.world.reset(qubit)
        if spectator:
            lab.world.apply_unitary(np.array([[0, 1], [1, 0]], dtype=complex), [qubit])
    probs = physics.probabilities(qa, qb)
    return probs[Click.DETECTOR_0] + probs[Click.DETECTOR_1]


def test_loops_draw_geometric_attempts_end_at_the_herald_and_the_id1000_counts_them(lab: SimulatedLab) -> None:
    """Each loop of N repetitions ends at a herald (jump to element 3) or after N (element 2); the attempts, the
    clocks and the ID1000's counters agree, and the statistics are those of the single-click model."""
    loops_per_run = 40
    awgs = [_node_awg(10, "a", REPETITION, loops_per_run), _node_awg(11, "b", REPETITION, loops_per_run)]
    tagger = ID1000("tagger", "TCPIP0::192.168.30.11::5555::SOCKET", visalib=VISALIB)
    tagger.reset_counters()
    tagger.start_recording()
    physics = _brighter_station(lab, 0.02)
    clocks = [lab.node(n).clock for n in ("nv_a", "nv_b")]
    station = lab.stations["nv_link"]
    runs, heralds, attempts, heralded_k = 600, 0, [], []
    for _ in range(runs):
        before = station.attempts
        start_ns = [c.now_ns() for c in clocks]
        for awg in awgs:
            awg.sequence_pos(LOOP)
            awg.force_trigger()
        made = station.attempts - before
        attempts.append(made)
        positions = {int(awg.ask("AWGC:SEQ:POS?")) for awg in awgs}
        assert len(positions) == 1  # both AWGs went the same way
        if positions == {HERALD}:
            heralds += 1
            heralded_k.append(made)
        if positions == {NO_HERALD}:
            assert made == loops_per_run
        for clock, start in zip(clocks, start_ns, strict=True):
            assert clock.now_ns() - start == made * REPETITION_NS
    counts = tagger.read_counts()
    assert counts["input1"] == sum(attempts)
    assert counts["coincidence_1_2"] + counts["coincidence_1_3"] == heralds
    assert counts["input2"] == counts["coincidence_1_2"] and counts["input3"] == counts["coincidence_1_3"]
    # Spin pumping leaves the ms=+1 spectator with probability 1 - F per loop on each node (drawn once per loop).
    f = lab.node("nv_a").nv.params.spin_init_fidelity
    configs = {(sa, sb): (1 - f if sa else f) * (1 - f if sb else f) for sa in (False, True) for sb in (False, True)}
    p = {c: _herald_probability(lab, physics, *c) for c in configs}
    p_no_herald = sum(w * (1 - p[c]) ** loops_per_run for c, w in configs.items())
    expected = runs * (1 - p_no_herald)
    assert heralds == pytest.approx(expected, abs=5 * math.sqrt(runs * p_no_herald * (1 - p_no_herald)))
    assert 0.2 < p_no_herald < 0.8  # both branches are exercised
    # attempts of the heralded loops: geometric truncated at N, mixed over the spectator configurations
    mean_k = sum(w * sum(k * p[c] * (1 - p[c]) ** (k - 1) for k in range(1, loops_per_run + 1))
                 for c, w in configs.items()) / (1 - p_no_herald)
    second = sum(w * sum(k * k * p[c] * (1 - p[c]) ** (k - 1) for k in range(1, loops_per_run + 1))
                 for c, w in configs.items()) / (1 - p_no_herald)
    n = len(heralded_k)
    assert np.mean(heralded_k) == pytest.approx(mean_k, abs=5 * math.sqrt((second - mean_k**2) / n))


def test_infinite_loop_ends_only_at_a_herald(lab: SimulatedLab) -> None:
    awgs = [_node_awg(10, "a", REPETITION, None), _node_awg(11, "b", REPETITION, None)]
    _brighter_station(lab, 0.001)
    station = lab.stations["nv_link"]
    for _ in range(5):
        before = station.attempts
        for awg in awgs:
            awg.sequence_pos(LOOP)
            awg.force_trigger()
        assert {int(awg.ask("AWGC:SEQ:POS?")) for awg in awgs} == {HERALD}
        assert station.attempts > before


def test_first_loop_waits_for_the_other_node_and_a_stop_forgets_it(lab: SimulatedLab) -> None:
    awgs = [_node_awg(10, "a", REPETITION, 10), _node_awg(11, "b", REPETITION, 10)]
    station = lab.stations["nv_link"]
    awgs[0].force_trigger()
    assert int(awgs[0].ask("AWGC:SEQ:POS?")) == LOOP and station.attempts == 0  # parked, waiting for nv_b
    awgs[0].stop()
    awgs[0].run()
    awgs[1].force_trigger()  # nv_a left its loop: nv_b now waits alone
    assert station.attempts == 0
    awgs[0].sequence_pos(LOOP)
    awgs[0].force_trigger()
    assert station.attempts > 0


def test_loop_without_reinitialisation_is_refused_with_an_error(lab: SimulatedLab) -> None:
    no_reset = [(100, 0.0, 0.0, GAP), (10, 0.0, 0.0, EMIT), (140, 0.0, 0.0, GAP)]
    awg = _node_awg(10, "a", no_reset, 10)
    awg.force_trigger()
    assert awg.ask("AWGC:RST?") == "0"  # stopped
    error = awg.ask("SYST:ERR?")
    assert "does not re-initialise" in error and "nv_link" in error


def test_mismatched_loops_are_refused_at_both_ends(lab: SimulatedLab) -> None:
    longer = [*REPETITION, (10, 0.0, 0.0, GAP)]
    awgs = [_node_awg(10, "a", REPETITION, 10), _node_awg(11, "b", longer, 10)]
    for awg in awgs:
        awg.force_trigger()
    for awg in awgs:
        assert awg.ask("AWGC:RST?") == "0"
        assert "do not match" in awg.ask("SYST:ERR?")
    assert lab.stations["nv_link"].attempts == 0


def test_force_event_ends_an_infinite_loop_at_its_jump_target(lab: SimulatedLab) -> None:
    """An infinite loop that emits nowhere parks the player until an event (EVENt:IMMediate) jumps it."""
    awg = _node_awg(10, "a", [(250, 0.0, 0.0, READ)], None)
    awg.force_trigger()
    assert int(awg.ask("AWGC:SEQ:POS?")) == LOOP
    awg.force_trigger()  # a looping AWG ignores triggers
    assert int(awg.ask("AWGC:SEQ:POS?")) == LOOP
    awg.force_event()
    assert int(awg.ask("AWGC:SEQ:POS?")) == HERALD
    assert awg.ask("SEQ:ELEM1:JTAR:TYPE?") == "INDEX" and awg.ask("SEQ:ELEM1:LOOP:INF?") == "1"
    assert awg.ask("EVEN:JMOD?") == "EJUM"
