"""ENT between NV nodes nv_a and nv_b through their QDrivers, the link controller, the heralding station nv_link and
the simulated lab: pairs against the single-click model as attempt loops (qlab_os.demo_lab_theory.link_model),
faults."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qcodes.instrument import Instrument

from qdrivers.heralding.link_controller import LinkController
from qdrivers.nv.driver import NVQDriver
from qlab_os.clock import VirtualClock
from qlab_os.demo_lab_theory import link_model, value
from qlab_os.errors import QDriverError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.node import find_node_file
from qlab_os.lab.single_click import LoopLink, agreement, readout_matrix
from qlab_os.qdevice.driver import LinkSpec
from qlab_os.qdevice.instructions import Axis, EntParams, PhysicalInstruction, PhysicalOp
from sim_instruments.lab.lab import get_lab

ENT = PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams(link="nv_link"))
MEAS = PhysicalInstruction(PhysicalOp.MEAS, (0,))
TO_X = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Y, -math.pi / 2)  # |+> -> |0>
K = 5.0


class Ends:
    def __init__(self, files: dict[str, Path], correction: bool, max_attempts: int = 10**8) -> None:
        self.clocks = {n: VirtualClock() for n in files}
        self.drivers = {n: NVQDriver.from_files(find_node_file(n), clock=self.clocks[n], calibration_file=f)
                        for n, f in files.items()}
        attempt_ns = self.drivers["nv_a"].library.attempt_duration_ns("nv_link")
        self.spec = LinkSpec(attempt_duration_ns=attempt_ns, success_probability=1e-3, fidelity=0.8,
                             max_attempts=max_attempts, bell_state_correction=correction)
        self.shared: dict[str, object] = {}
        for driver in self.drivers.values():
            driver.connect_link("nv_link", self.spec, self.shared)
        self.controller = self.shared["heralding-link:nv_link"]
        assert isinstance(self.controller, LinkController)

    def run(self, name: str, instruction: PhysicalInstruction) -> tuple[int, ...]:
        response = self.drivers[name].execute(instruction)
        self.clocks[name].advance_ns(response.duration_ns)
        return response.outcomes

    def pair(self) -> tuple[bool, int | None, int]:
        """One ENT on nv_a then nv_b, clocks aligned first (as the kernel's link layer does)."""
        start = max(c.now_ns() for c in self.clocks.values())
        for clock in self.clocks.values():
            clock.advance_ns(start - clock.now_ns())
        lab = get_lab()
        lead = {n: lab.node(n).clock.now_ns() - self.clocks[n].now_ns() for n in self.drivers}
        ra = self.drivers["nv_a"].execute(ENT)
        rb = self.drivers["nv_b"].execute(ENT)
        assert (ra.duration_ns, ra.heralded, ra.bell_index) == (rb.duration_ns, rb.heralded, rb.bell_index)
        for name in self.drivers:
            self.clocks[name].advance_ns(ra.duration_ns)
            # the reported duration is the lab time each node took: the lab stays exactly as far ahead as before
            lab_time = self.drivers[name].lab_time
            assert lab_time is not None
            lab_time.before_instruction()
            assert lab.node(name).clock.now_ns() - self.clocks[name].now_ns() == lead[name]
        assert ra.heralded is not None
        last = self.controller.last
        assert last is not None
        return ra.heralded, ra.bell_index, last.attempts

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()


@pytest.fixture
def ends(nv_calibrations: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[Ends]:
    made = Ends(nv_calibrations, correction=getattr(request, "param", False))
    yield made
    get_lab().clear_faults()
    made.close()
    Instrument.close_all()


def _theory(files: dict[str, Path]) -> tuple[LoopLink, dict[str, np.ndarray]]:
    """The link as attempt loops (the demo's model, qlab_os.demo_lab_theory.link_model, from physics.yaml, the node
    setups and these calibrations) and each node's calibrated readout matrix."""
    cal = {n: CalibrationFile(f, n, "nv") for n, f in files.items()}
    readouts = {n: readout_matrix(value(cal[n], "readout_fidelity_0"), value(cal[n], "readout_fidelity_1"))
                for n in files}
    return link_model("nv_link", ("nv_a", "nv_b"), cal), readouts


def _agreement(link: LoopLink, detector: int | None, basis: str, readouts: dict[str, np.ndarray]) -> float:
    """P(both read the same) of the pairs heralded by ``detector`` (uncorrected), or of the delivered (corrected)
    pairs for None, over the link's branches."""
    pairs = link.delivered() if detector is None else link.heralded(detector)
    total = sum(h.weight for h in pairs)
    return sum(h.weight * agreement(h.state, basis, readouts["nv_a"], readouts["nv_b"], h.spectators)
               for h in pairs) / total


def test_pairs_have_the_single_click_statistics(ends: Ends, nv_calibrations: dict[str, Path]) -> None:
    """Z and X correlations of heralded pairs, per detector (binomial in the number of pairs), and the herald
    probability per attempt (loops of geometric length), against the attempt-loop model within 5 sigma."""
    link, readouts = _theory(nv_calibrations)
    # per (basis, Bell index): agreements counted, expected, variance (per Bell index: X tells Psi+ from Psi-)
    agree = {(b, bell): [0, 0.0, 0.0] for b in ("Z", "X") for bell in (1, 2)}
    attempts, bells = [], []
    pairs = 240
    for i in range(pairs):
        heralded, bell, k = ends.pair()
        assert heralded and bell in (1, 2)
        attempts.append(k)
        bells.append(bell)
        basis = "Z" if i % 2 == 0 else "X"
        if basis == "X":
            ends.run("nv_a", TO_X)
            ends.run("nv_b", TO_X)
        (ma,), (mb,) = ends.run("nv_a", MEAS), ends.run("nv_b", MEAS)
        p_agree = _agreement(link, 0 if bell == 1 else 1, basis, readouts)
        cell = agree[(basis, bell)]
        cell[0] += int(ma == mb)
        cell[1] += p_agree
        cell[2] += p_agree * (1 - p_agree)
    for key, (count, expected, variance) in agree.items():
        print(f"{key}: agree {count}, expected {expected:.1f} +- {math.sqrt(variance):.1f}")
        assert abs(count - expected) <= K * math.sqrt(variance), key
    # X tells the two heralds apart: Psi+ mostly agrees, Psi- mostly disagrees (swapped labels fail the bins above)
    fraction = {bell: agree[("X", bell)][0] / max(1, sum(1 for b in bells[1::2] if b == bell)) for bell in (1, 2)}
    assert fraction[1] - fraction[2] > 0.3, fraction
    p = link.herald_probability
    estimate = len(attempts) / sum(attempts)
    print(f"P(herald) per attempt {estimate:.3g}, theory {p:.3g}")
    assert abs(estimate - p) <= K * link.herald_rate_sigma(len(attempts))


@pytest.mark.parametrize("ends", [True], indirect=True)
def test_bell_state_correction_delivers_phi_plus(ends: Ends, nv_calibrations: dict[str, Path]) -> None:
    """With the link's correction, one end plays a real pi pulse and both answer Phi+: Z and X outcomes agree."""
    link, readouts = _theory(nv_calibrations)
    count, expected, variance = 0, 0.0, 0.0
    for i in range(120):
        heralded, bell, _ = ends.pair()
        assert heralded and bell == 0
        basis = "Z" if i % 2 == 0 else "X"
        if basis == "X":
            ends.run("nv_a", TO_X)
            ends.run("nv_b", TO_X)
        (ma,), (mb,) = ends.run("nv_a", MEAS), ends.run("nv_b", MEAS)
        p_agree = _agreement(link, None, basis, readouts)
        count += int(ma == mb)
        expected += p_agree
        variance += p_agree * (1 - p_agree)
    assert abs(count - expected) <= K * math.sqrt(variance)
    assert expected > 0.7 * 120  # Phi+ agrees in both bases (a missing correction would give ~50 %)


def test_no_herald_within_the_loop_count(nv_calibrations: dict[str, Path]) -> None:
    """A loop of 3 repetitions almost never heralds at ~1e-4 per attempt: both ends answer heralded=False after
    exactly 3 attempts."""
    ends = Ends(nv_calibrations, correction=False, max_attempts=3)
    try:
        for _ in range(3):
            heralded, bell, k = ends.pair()
            assert not heralded and bell is None and k == 3
    finally:
        ends.close()
        Instrument.close_all()


@pytest.mark.parametrize("instrument", ["nv_b.awg", "TCPIP0::192.168.30.11::5555::SOCKET"])
def test_dead_instrument_of_one_end_or_of_the_station_names_it_and_leaves_all_safe(
        ends: Ends, instrument: str) -> None:
    ends.pair()
    lab = get_lab()
    lab.inject(instrument, "dead")
    with pytest.raises(QDriverError) as info:
        ends.drivers["nv_a"].execute(ENT)
    message = str(info.value)
    assert "nv_link" in message or "nv_b" in message
    assert ("nv_b_awg" in message) if instrument == "nv_b.awg" else ("time_tagger" in message)
    reachable = ("nv_a",) if instrument == "nv_b.awg" else ("nv_a", "nv_b")  # a dead AWG cannot be stopped
    for node in reachable:
        awg = lab.node(node).instrument("awg")
        assert not awg.running, node  # AWG stopped: the node's station is in its safe state
        assert not lab.node(node).instrument("mw_source").is_on(), node
    tagger = lab.stations["nv_link"].tagger
    assert tagger is not None
    if instrument == "nv_b.awg":
        assert not tagger.recording  # the heralding station's safe state
    lab.clear_faults()
