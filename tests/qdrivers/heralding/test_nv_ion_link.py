"""ENT between NV node nv_a and the trapped-ion node through their QDrivers, the shared link controller, heralding
station nv_ion_link and the simulated lab: pairs per Bell state against the single-click closed form as attempt loops
(qlab_os.demo_lab_theory.link_model on qlab_os.lab.single_click.LoopLink), the Pauli correction on the faster end, the
per-station attempt length, refusals and faults."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from qcodes.instrument import Instrument

from qdrivers.heralding.link_controller import LinkController
from qdrivers.nv.driver import NVQDriver
from qdrivers.trapped_ion.driver import TrappedIonQDriver
from qlab_os.clock import VirtualClock
from qlab_os.demo_lab_theory import link_model
from qlab_os.errors import ConfigError, QDriverError, UnsupportedInstructionError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.lab.calibrate.node import find_node_file
from qlab_os.lab.single_click import LoopLink, agreement, loop_agreement, readout_matrix
from qlab_os.qdevice.driver import LinkSpec
from qlab_os.qdevice.instructions import Axis, EntParams, PhysicalInstruction, PhysicalOp, PhysicalResponse
from sim_instruments.lab.lab import get_lab, reset_lab

LINK = "ion--nv_a"  # the kernel's name of the link (qlab_os.net.config.link_name); the station is nv_ion_link
ENT = PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams(LINK))
MEAS = PhysicalInstruction(PhysicalOp.MEAS, (0,))
TO_X = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Y, -math.pi / 2)  # |+> -> |0> (both platforms)
ATTEMPT_NS = 25_000
LAB_SEED = 31
K = 5.0


class Ends:
    """nv_a and the ion node, each with its own clock, joined by the link (as qlab_os.net.inprocess does)."""

    def __init__(self, calibrations: dict[str, Path], correction: bool, max_attempts: int = 10**8,
                 attempt_ns: int = ATTEMPT_NS) -> None:
        self.clocks = {"nv_a": VirtualClock(), "ion": VirtualClock()}
        self.nv = NVQDriver.from_files(find_node_file("nv_a"), clock=self.clocks["nv_a"],
                                       calibration_file=calibrations["nv_a"])
        self.ion = TrappedIonQDriver.connect("ion", clock=self.clocks["ion"], calibration_file=calibrations["ion"])
        self.drivers = {"nv_a": self.nv, "ion": self.ion}
        self.spec = LinkSpec(attempt_duration_ns=attempt_ns, success_probability=1e-4, fidelity=0.8,
                             max_attempts=max_attempts, bell_state_correction=correction)
        self.shared: dict[str, object] = {}

    def connect(self) -> LinkController:
        self.nv.connect_link(LINK, self.spec, self.shared)
        self.ion.connect_link(LINK, self.spec, self.shared)
        controller = self.shared[f"heralding-link:{LINK}"]
        assert isinstance(controller, LinkController)
        return controller

    def run(self, name: str, instruction: PhysicalInstruction) -> tuple[int, ...]:
        response = self.drivers[name].execute(instruction)
        self.clocks[name].advance_ns(response.duration_ns)
        return response.outcomes

    def pair(self, controller: LinkController, first: str = "nv_a") -> tuple[PhysicalResponse, int]:
        """One ENT on ``first`` then on the other end, clocks aligned first (as the kernel's link layer does); both
        answer alike, and each node's lab stays exactly as far ahead of its kernel clock as before."""
        start = max(c.now_ns() for c in self.clocks.values())
        for clock in self.clocks.values():
            clock.advance_ns(start - clock.now_ns())
        lab = get_lab()
        assert self.nv.lab_time is not None and self.ion.lab_clock is not None
        self.nv.lab_time.before_instruction()  # the labs catch up with the aligned kernel clocks
        self.ion.lab_clock.catch_up()
        lead = {n: lab.node(n).clock.now_ns() - self.clocks[n].now_ns() for n in self.drivers}
        second = "ion" if first == "nv_a" else "nv_a"
        r1 = self.drivers[first].execute(ENT)
        r2 = self.drivers[second].execute(ENT)
        assert (r1.duration_ns, r1.heralded, r1.bell_index) == (r2.duration_ns, r2.heralded, r2.bell_index)
        for name in self.drivers:
            self.clocks[name].advance_ns(r1.duration_ns)
            assert lab.node(name).clock.now_ns() - self.clocks[name].now_ns() == lead[name], name
        assert controller.last is not None
        return r1, controller.last.attempts

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()


@pytest.fixture
def calibrations(nv_calibrations: dict[str, Path], ion_calibration: Path) -> dict[str, Path]:
    return {"nv_a": nv_calibrations["nv_a"], "ion": ion_calibration}


@pytest.fixture
def ends(calibrations: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[Ends]:
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    made = Ends(calibrations, correction=getattr(request, "param", False))
    yield made
    get_lab().clear_faults()
    made.close()
    Instrument.close_all()


def _theory(calibrations: dict[str, Path], ends: Ends, nodes: tuple[str, str] = ("nv_a", "ion")) -> LoopLink:
    cal = {n: CalibrationFile(f, n, "nv" if n == "nv_a" else "ion") for n, f in calibrations.items()}
    return link_model("nv_ion_link", nodes, cal)


def _readouts(ends: Ends) -> dict[str, object]:
    """Each node's readout matrix from its driver's calibrated spec (detection errors)."""
    return {n: readout_matrix(1 - d.spec.readout_p_flip_0, 1 - d.spec.readout_p_flip_1)
            for n, d in ends.drivers.items()}


def test_elements_and_spec(ends: Ends) -> None:
    """Both ends' attempt elements last the station's attempt_s (25 us), and the ion's spec declares ENT on ion 0,
    its communication qubit, for one attempt."""
    assert ends.nv.library.attempt_duration_ns("nv_ion_link") == ATTEMPT_NS
    assert ends.ion.pulse_library.attempt_duration_ns("nv_ion_link") == ATTEMPT_NS
    assert tuple(ends.ion.spec.communication_qubits) == (0,)
    native = ends.ion.spec.native(PhysicalOp.ENT, (0,))
    assert native is not None and native.duration_ns == ATTEMPT_NS
    assert not ends.ion.spec.supports(PhysicalOp.ENT, (1,))
    # the NV element idles first and ends with the excitation (the superposition lives only until the herald)
    block = ends.nv.library.attempts["nv_ion_link"]
    pulses = block.elements[0].pulses
    assert not pulses[0].markers and pulses[-1].markers == {ends.nv.library.entanglement["nv_ion_link"].emit_marker}


def test_pairs_per_bell_state_have_the_single_click_statistics(ends: Ends, calibrations: dict[str, Path]) -> None:
    """Z and X correlations of heralded pairs per detector (no correction), and heralds per attempt, against the
    closed form as attempt loops within 5 sigma (fixed seed)."""
    controller = ends.connect()
    link = _theory(calibrations, ends)
    ro = _readouts(ends)
    expected_agree = {(basis, bell): sum(h.weight * agreement(h.state, basis, ro["nv_a"], ro["ion"], h.spectators)
                                         for h in link.heralded(bell - 1))
                      / sum(h.weight for h in link.heralded(bell - 1))
                      for basis in ("Z", "X") for bell in (1, 2)}
    cells = {key: [0, 0] for key in expected_agree}  # agreements, pairs
    attempts = []
    pairs = 400
    for i in range(pairs):
        response, k = ends.pair(controller)
        assert response.heralded and response.bell_index in (1, 2)
        attempts.append(k)
        basis = "Z" if i % 2 == 0 else "X"
        if basis == "X":
            ends.run("nv_a", TO_X)
            ends.run("ion", TO_X)
        (ma,), (mi,) = ends.run("nv_a", MEAS), ends.run("ion", MEAS)
        cell = cells[(basis, response.bell_index)]
        cell[0] += int(ma == mi)
        cell[1] += 1
    for key, (count, n) in cells.items():
        p = expected_agree[key]
        print(f"{key}: agree {count}/{n}, theory {p:.3f} +- {math.sqrt(p * (1 - p) / n):.3f}")
        assert n > 40 and abs(count / n - p) <= K * math.sqrt(p * (1 - p) / n), key
    # X tells Psi+ from Psi-: the cells differ (swapped heralds would fail the bins above)
    assert expected_agree[("X", 1)] - expected_agree[("X", 2)] > 0.3
    p, sigma = link.herald_probability, link.herald_rate_sigma(pairs)
    estimate = pairs / sum(attempts)
    print(f"heralds per attempt {estimate:.4g}, theory {p:.4g} +- {sigma:.2g}")
    assert abs(estimate - p) <= K * sigma


@pytest.mark.parametrize("ends", [True], indirect=True)
def test_correction_is_played_by_the_nv_even_when_the_ion_calls_first(ends: Ends,
                                                                       calibrations: dict[str, Path]) -> None:
    """The ion's ENT first: still nv_a plays the Pauli correction (its pi pulse lasts 250 ns, the ion's 25 us, which
    the NV electron could not wait through: T2* ~ 5 us); both answer Phi+, and Z and X outcomes agree as the
    closed form corrected on nv_a says."""
    controller = ends.connect()
    link = _theory(calibrations, ends)
    ro = _readouts(ends)
    nv_pi_ns = ends.nv.library.plan(Axis.X, math.pi)
    assert nv_pi_ns is not None and nv_pi_ns.element.duration_ns < ends.ion.pulse_library.longest_rotation_ns
    counts = {"Z": [0, 0], "X": [0, 0]}
    for i in range(160):
        response, _ = ends.pair(controller, first="ion")
        assert response.heralded and response.bell_index == 0
        basis = "Z" if i % 2 == 0 else "X"
        if basis == "X":
            ends.run("nv_a", TO_X)
            ends.run("ion", TO_X)
        (ma,), (mi,) = ends.run("nv_a", MEAS), ends.run("ion", MEAS)
        counts[basis][0] += int(ma == mi)
        counts[basis][1] += 1
    for basis, (count, n) in counts.items():
        p = loop_agreement(link, basis, ro["nv_a"], ro["ion"])
        print(f"{basis}: agree {count}/{n}, theory {p:.3f}")
        assert abs(count / n - p) <= K * math.sqrt(p * (1 - p) / n), basis
        assert p > 0.7  # Phi+ agrees in Z and X (a missing correction would give ~50 %)


def test_no_herald_within_the_loop_count(calibrations: dict[str, Path]) -> None:
    """Loops of 3 repetitions almost never herald at ~1e-4 per attempt: both ends answer heralded=False after
    exactly 3 attempts, and the next ENT runs again. The duration is the longer preparation (the NV's init block as
    many times as its charge-resonance check took, the ion's init block once) and then the 3 attempt elements."""
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    ends = Ends(calibrations, correction=False, max_attempts=3)
    try:
        controller = ends.connect()
        ion_init_ns = ends.ion.pulse_library.duration_ns(ends.ion.pulse_library.init)
        for _ in range(3):
            response, k = ends.pair(controller)
            assert not response.heralded and response.bell_index is None and k == 3
            nv_init_ns = ends.nv.cr_attempts * ends.nv.library.init_duration_ns
            print(f"NV init {nv_init_ns} ns ({ends.nv.cr_attempts} CR checks), ion init {ion_init_ns} ns")
            assert response.duration_ns == max(nv_init_ns, ion_init_ns) + 3 * ATTEMPT_NS
    finally:
        ends.close()
        Instrument.close_all()


def test_ent_is_refused_while_ion_1_holds_a_state(ends: Ends) -> None:
    """The init and every attempt light the whole chain: ENT is refused, before anything plays, while ion 1 holds a
    quantum state; the stations stay as they are. Once ion 1 is measured (here as 1), ENT runs and leaves it in
    |0>, its outcome still readable."""
    controller = ends.connect()
    ends.run("ion", PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.X, math.pi))
    lab = get_lab()
    with pytest.raises(UnsupportedInstructionError, match=r"whole chain .* quantum state of ion\(s\) \[1\]"):
        ends.nv.execute(ENT)
    assert lab.node("ion").instrument("awg").running and lab.node("nv_a").instrument("awg").running
    ends.run("ion", PhysicalInstruction(PhysicalOp.MEAS, (0,)))  # one window: ion 1's outcome is held
    response, _ = ends.pair(controller)
    assert response.heralded
    assert ends.run("ion", PhysicalInstruction(PhysicalOp.MEAS, (1,))) == (1,)  # the held outcome of the pi pulse
    # a new window: after the ENT's init and pumping ion 1 is |0> (bright; the pi pulse had left it dark)
    assert ends.run("ion", PhysicalInstruction(PhysicalOp.MEAS, (1,))) == (0,)


@pytest.mark.parametrize("instrument", ["ion.awg", "TCPIP0::192.168.31.11::5555::SOCKET"])
def test_dead_instrument_of_the_ion_or_of_the_station_names_it_and_leaves_all_safe(
        ends: Ends, instrument: str) -> None:
    controller = ends.connect()
    ends.pair(controller)
    lab = get_lab()
    lab.inject(instrument, "dead")
    with pytest.raises(QDriverError) as info:
        ends.nv.execute(ENT)
    message = str(info.value)
    assert ("ion_awg" in message) if instrument == "ion.awg" else ("time_tagger" in message and LINK in message)
    assert "safe state" in message
    nv = lab.node("nv_a")
    assert not nv.instrument("awg").running and not nv.instrument("mw_source").is_on()
    ion = lab.node("ion")
    if instrument != "ion.awg":  # a dead AWG cannot be stopped
        assert not ion.instrument("awg").running
    assert not ion.light_on("laser_397") and not ion.light_on("laser_729")
    tagger = lab.stations["nv_ion_link"].tagger
    assert tagger is not None
    if instrument == "ion.awg":
        assert not tagger.recording  # the heralding station's safe state
    lab.clear_faults()
    # the ion refuses until reset() sets its instruments up again; then the link makes pairs again
    with pytest.raises(QDriverError, match=r"reset\(\)"):
        ends.nv.execute(ENT)
    ends.ion.reset()
    response, _ = ends.pair(controller)
    assert response.heralded


def test_a_failure_outside_the_ion_s_instruments_goes_through_its_fault_handling(
        ends: Ends, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step of the ion's end failing with a plain exception (here its lab clock hook) is not let through raw: the
    ion's driver puts its station in its safe state, raises a QDriverError naming the node and the step (the cause
    chained), and refuses until reset(); the controller puts the NV end in its safe state too."""
    controller = ends.connect()
    ends.pair(controller)
    lab_clock = ends.ion.lab_clock
    assert lab_clock is not None
    broken = RuntimeError("the lab clock hook broke")

    def fail() -> None:
        raise broken

    monkeypatch.setattr(lab_clock, "catch_up", fail)
    with pytest.raises(QDriverError) as info:
        ends.nv.execute(ENT)
    message = str(info.value)
    assert message.startswith("ion node 'ion': ENT on link ion--nv_a: preparing the attempt loop failed")
    assert "RuntimeError: the lab clock hook broke" in message and "safe state" in message
    assert info.value.__cause__ is broken
    lab = get_lab()
    assert not lab.node("ion").instrument("awg").running and not lab.node("ion").light_on("laser_397")
    assert not lab.node("nv_a").instrument("awg").running
    monkeypatch.undo()
    with pytest.raises(QDriverError, match=r"reset\(\)"):
        ends.nv.execute(ENT)
    ends.ion.reset()
    response, _ = ends.pair(controller)
    assert response.heralded


# -- the attempt length per station -------------------------------------------------------------------------------

def test_an_attempt_length_other_than_the_network_s_is_a_config_error_naming_file_and_key(ends: Ends) -> None:
    """The network's attempt_duration_ns for the link (4 us, as the NV-NV link's) against 25 us elements."""
    ends.spec = LinkSpec(attempt_duration_ns=4000, success_probability=1e-4, fidelity=0.8)
    ends.nv.connect_link(LINK, ends.spec, ends.shared)  # one end alone: nothing to compare yet
    with pytest.raises(ConfigError) as info:
        ends.ion.connect_link(LINK, ends.spec, ends.shared)
    error = info.value
    assert error.source == str(find_node_file("nv_a")) and error.key == "entanglement.nv_ion_link.attempt_s"
    assert "25000 ns" in error.reason and "attempt_duration_ns 4000" in error.reason and LINK in error.reason


def test_node_setups_that_disagree_on_the_attempt_length_are_a_config_error(
        calibrations: dict[str, Path], tmp_path: Path) -> None:
    """An ion node setup whose nv_ion_link attempt is 30 us: its end is the one named (file and key)."""
    data = yaml.safe_load(find_node_file("ion").read_text())
    nodes = find_node_file("ion").parent
    data["station"] = str((nodes / data["station"]).resolve())
    data["entanglement"]["nv_ion_link"]["station"] = str((nodes / data["entanglement"]["nv_ion_link"]["station"])
                                                         .resolve())
    data["entanglement"]["nv_ion_link"]["attempt_s"] = 3.0e-5
    node_file = tmp_path / "ion.yaml"
    node_file.write_text(yaml.safe_dump(data))
    Instrument.close_all()
    reset_lab(seed=LAB_SEED)
    clock = VirtualClock()
    nv = NVQDriver.from_files(find_node_file("nv_a"), clock=clock, calibration_file=calibrations["nv_a"])
    ion = TrappedIonQDriver.connect(node_file, clock=VirtualClock(), calibration_file=calibrations["ion"])
    try:
        spec = LinkSpec(attempt_duration_ns=ATTEMPT_NS, success_probability=1e-4, fidelity=0.8)
        shared: dict[str, object] = {}
        nv.connect_link(LINK, spec, shared)
        with pytest.raises(ConfigError) as info:
            ion.connect_link(LINK, spec, shared)
        assert info.value.source == str(node_file) and info.value.key == "entanglement.nv_ion_link.attempt_s"
        assert "30000 ns" in info.value.reason
        with pytest.raises(QDriverError, match="ENT needs both ends connected"):
            nv.execute(ENT)  # the refused end did not join the link
    finally:
        nv.close()
        ion.close()
        Instrument.close_all()
