"""ENT on two SimQDrivers sharing one QuantumWorld through a HeraldedLink: the pair state, equal durations and
Bell indices on both ends, Z correlations, measure mode, decoherence from start + duration on each node's own
clock, and the errors (no link, same end twice, mismatched start times, non-communication qubit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qdrivers.sim.driver import SimQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import QDriverError, UnsupportedInstructionError
from qlab_os.qdevice.instructions import Axis, EntMode, EntParams, PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.spec import parse_spec
from sim_instruments.physics import gates
from sim_instruments.physics.link import HeraldedLink, LinkParams, bell_state, werner_state
from sim_instruments.physics.rng import make_rng
from sim_instruments.physics.world import QuantumWorld

TOL = 1e-10
LINK = "alice-bob"
ENT_KEEP = PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams(LINK))
MEAS = PhysicalInstruction(PhysicalOp.MEAS, (0,))


def _ent(mode: EntMode = EntMode.KEEP, rotations: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> PhysicalInstruction:
    return PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams(LINK, mode, rotations))


class _Net:
    """Two nodes on one world, each with its own clock, and one link attached to both."""

    def __init__(self, params: LinkParams, device: str = "sim-generic", seed: int = 1, ideal: bool = False,
                 start_ns: int = 0) -> None:
        self.world = QuantumWorld(make_rng(seed))
        spec = SimQDriver.load_device_spec(device, ideal=ideal)
        self.clock_a, self.clock_b = VirtualClock(), VirtualClock()
        self.a = SimQDriver(spec, self.clock_a, world=self.world)
        self.b = SimQDriver(spec, self.clock_b, world=self.world)
        self.link = HeraldedLink(LINK, params, self.world)
        self.a.attach_link(LINK, self.link)
        self.b.attach_link(LINK, self.link)
        self.sync(start_ns)

    def sync(self, time_ns: int) -> None:
        """What the network stack does before a pair: both clocks to a common start."""
        self.clock_a.advance_to_ns(time_ns)
        self.clock_b.advance_to_ns(time_ns)

    def pair_ids(self) -> list[int]:
        return [self.a.qubit_ids[0], self.b.qubit_ids[0]]


def test_both_ends_get_the_same_answer_and_share_the_werner_pair() -> None:
    params = LinkParams(attempt_duration_ns=2000, success_probability=0.05, fidelity=0.85)
    net = _Net(params, start_ns=12_345)
    ra = net.a.execute(ENT_KEEP)
    rb = net.b.execute(ENT_KEEP)
    assert ra.heralded and rb.heralded
    assert ra.duration_ns == rb.duration_ns and ra.duration_ns % 2000 == 0 and ra.duration_ns > 0
    assert ra.bell_index == rb.bell_index == 0
    assert ra.outcomes == rb.outcomes == ()
    assert net.clock_a.now_ns() == net.clock_b.now_ns() == 12_345  # drivers never move clocks
    assert np.allclose(net.world.density_matrix(net.pair_ids()), werner_state(0, 0.85), atol=TOL)
    for d in (net.a, net.b):
        assert np.allclose(d.qubit_state((0,)), np.eye(2) / 2, atol=TOL)


def test_single_click_bell_index_is_reported_to_both_ends() -> None:
    params = LinkParams(attempt_duration_ns=1000, success_probability=1.0, fidelity=1.0, bell_state_correction=False)
    net = _Net(params, seed=5)
    seen = set()
    for _ in range(30):
        ra, rb = net.a.execute(ENT_KEEP), net.b.execute(ENT_KEEP)
        assert ra.bell_index == rb.bell_index and ra.bell_index in (1, 2)
        v = bell_state(ra.bell_index)
        assert np.allclose(net.world.density_matrix(net.pair_ids()), np.outer(v, v.conj()), atol=TOL)
        seen.add(ra.bell_index)
    assert seen == {1, 2}


def test_ideal_link_z_outcomes_are_equal_on_both_nodes() -> None:
    net = _Net(LinkParams.ideal(), seed=9)
    outcomes = []
    for _ in range(300):
        ra, rb = net.a.execute(ENT_KEEP), net.b.execute(ENT_KEEP)
        net.clock_a.advance_ns(ra.duration_ns)
        net.clock_b.advance_ns(rb.duration_ns)
        ma, mb = net.a.execute(MEAS).outcomes[0], net.b.execute(MEAS).outcomes[0]
        assert ma == mb
        outcomes.append(ma)
        net.sync(max(net.clock_a.now_ns(), net.clock_b.now_ns()) + 1000)
    ones = sum(outcomes) / len(outcomes)
    assert abs(ones - 0.5) < 5 * math.sqrt(0.25 / len(outcomes))


def test_failed_run_is_reported_on_both_ends_and_leaves_zero() -> None:
    params = LinkParams(attempt_duration_ns=1000, success_probability=1e-9, fidelity=1.0, max_attempts=5)
    net = _Net(params)
    net.a.execute(PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.X, 1.0))
    ra, rb = net.a.execute(ENT_KEEP), net.b.execute(ENT_KEEP)
    assert (ra.heralded, ra.bell_index, ra.duration_ns) == (rb.heralded, rb.bell_index, rb.duration_ns)
    assert (ra.heralded, ra.duration_ns) == (False, 5000)
    assert np.allclose(net.world.density_matrix(net.pair_ids()), np.diag([1, 0, 0, 0]), atol=TOL)


# ---- measure mode ----------------------------------------------------------------------------------------


def test_measure_mode_on_the_first_end_is_refused_without_side_effects() -> None:
    net = _Net(LinkParams.ideal())
    with pytest.raises(UnsupportedInstructionError, match=r"first end.*keep mode"):
        net.a.execute(_ent(EntMode.MEASURE))
    assert net.link.pending is None
    net.a.execute(ENT_KEEP)  # keep + measure works
    net.b.execute(ENT_KEEP)


@pytest.mark.parametrize("rotations", [(0.3, 0.7, 1.1), (math.pi / 2, 0.0, 0.0), (0.0, -math.pi / 2, 0.4)])
def test_measure_mode_on_the_second_end_rotates_x_then_y_then_z(rotations: tuple[float, float, float]) -> None:
    """Measuring B of Phi+ in the basis U^dagger|m> (U = Rz Ry Rx) leaves A in U^T|m>."""
    net = _Net(LinkParams.ideal(), seed=4)
    for _ in range(10):
        net.a.execute(ENT_KEEP)
        rb = net.b.execute(_ent(EntMode.MEASURE, rotations))
        assert rb.heralded and len(rb.outcomes) == 1
        m = rb.outcomes[0]
        u = gates.r("z", rotations[2]) @ gates.r("y", rotations[1]) @ gates.r("x", rotations[0])
        v = u.T[:, m]
        expected = np.outer(v, v.conj()) / np.vdot(v, v).real
        assert np.allclose(net.a.qubit_state((0,)), expected, atol=TOL)


def test_measure_mode_x_basis_correlations_on_an_ideal_link() -> None:
    net = _Net(LinkParams.ideal(), seed=21)
    to_x = PhysicalInstruction(PhysicalOp.ROT, (0,), Axis.Y, -math.pi / 2)  # |+> -> |0>
    for _ in range(100):
        net.a.execute(ENT_KEEP)
        rb = net.b.execute(_ent(EntMode.MEASURE, (0.0, -math.pi / 2, 0.0)))
        net.a.execute(to_x)
        assert net.a.execute(MEAS).outcomes == rb.outcomes  # Phi+: X X = +1


# ---- decoherence follows each node's clock from start + duration ----------------------------------------


@pytest.mark.parametrize("waiting", ["first", "second"])
def test_decoherence_counts_from_start_plus_duration_on_each_clock(waiting: str) -> None:
    params = LinkParams(attempt_duration_ns=3800, success_probability=0.01, fidelity=0.9)
    net = _Net(params, device="sim-nv", seed=2)
    start = 2 * 10**9  # long after the drivers were made: the time before the pair must not count
    net.sync(start)
    ra, rb = net.a.execute(ENT_KEEP), net.b.execute(ENT_KEEP)
    assert ra.duration_ns == rb.duration_ns > 3800  # several attempts: the duration must be accounted
    duration = ra.duration_ns
    t2 = net.a.spec.qubits[0].t2_ns
    t1 = net.a.spec.qubits[0].t1_ns
    wait = int(t2)
    clock_wait, clock_still = (net.clock_a, net.clock_b) if waiting == "first" else (net.clock_b, net.clock_a)
    clock_wait.advance_to_ns(start + duration + wait)
    clock_still.advance_to_ns(start + duration)
    net.a.qubit_state((0,))  # each driver catches its qubit up to its own clock
    net.b.qubit_state((0,))
    rho = net.world.density_matrix(net.pair_ids())
    w = (4 * 0.9 - 1) / 3
    # <00|rho|11> of the fresh pair is w/2; idle noise on one qubit scales it by exp(-t/T2) (no more).
    assert rho[0, 3].real == pytest.approx(0.5 * w * math.exp(-wait / t2), rel=1e-9)
    # The waiting qubit's excited population relaxes by exp(-t/T1); the other one did not move.
    a_first = waiting == "first"
    waited_q, still_q = (net.a, net.b) if a_first else (net.b, net.a)
    assert waited_q.qubit_state((0,))[1, 1].real == pytest.approx(0.5 * math.exp(-wait / t1), rel=1e-9)
    assert still_q.qubit_state((0,))[1, 1].real == pytest.approx(0.5, abs=TOL)


# ---- errors --------------------------------------------------------------------------------------------


def test_ent_without_a_link_names_the_link() -> None:
    world = QuantumWorld(make_rng(1))
    spec = SimQDriver.load_device_spec("sim-generic")
    a = SimQDriver(spec, VirtualClock(), world=world)
    b = SimQDriver(spec, VirtualClock(), world=world)
    a.attach_link(LINK, HeraldedLink(LINK, LinkParams.ideal(), world))
    with pytest.raises(UnsupportedInstructionError, match=r"no entanglement link.*'alice-bob'"):
        b.execute(ENT_KEEP)


def test_ent_twice_from_the_same_end_is_a_qdriver_error() -> None:
    net = _Net(LinkParams.ideal())
    net.a.execute(ENT_KEEP)
    with pytest.raises(QDriverError, match="same end twice"):
        net.a.execute(ENT_KEEP)
    net.b.execute(ENT_KEEP)  # the pending pair survived the refusal


def test_mismatched_start_times_are_a_qdriver_error() -> None:
    net = _Net(LinkParams.ideal(), start_ns=1000)
    net.a.execute(ENT_KEEP)
    net.clock_b.advance_ns(1)
    with pytest.raises(QDriverError, match="same time bins"):
        net.b.execute(ENT_KEEP)


def test_ent_on_a_non_communication_qubit_is_refused() -> None:
    net = _Net(LinkParams.ideal(), device="sim-nv")
    with pytest.raises(UnsupportedInstructionError, match=r"communication qubit: 0 \(electron\)"):
        net.a.execute(PhysicalInstruction(PhysicalOp.ENT, (1,), ent=EntParams(LINK)))
    # A spec that declares ENT on a memory qubit still cannot entangle it.
    spec = parse_spec({
        "name": "odd", "qubits": [{"name": "c", "communication": True}, {"name": "m"}],
        "native": [{"op": "init", "duration_ns": 1}, {"op": "meas", "duration_ns": 1},
                   {"op": "ent", "duration_ns": 1}],
    })
    driver = SimQDriver(spec, VirtualClock(), world=net.world)
    with pytest.raises(UnsupportedInstructionError, match=r"qubit 1 \(m\) is not a communication qubit"):
        driver.execute(PhysicalInstruction(PhysicalOp.ENT, (1,), ent=EntParams(LINK)))


def test_attach_checks_world_and_ends() -> None:
    net = _Net(LinkParams.ideal())
    third = SimQDriver(net.a.spec, VirtualClock(), world=net.world)
    with pytest.raises(QDriverError, match="already has two ends"):
        third.attach_link(LINK, net.link)
    elsewhere = SimQDriver(net.a.spec, VirtualClock(), seed=3)
    with pytest.raises(QDriverError, match="another QuantumWorld"):
        elsewhere.attach_link(LINK, net.link)
    net.b.attach_link(LINK, net.link)  # attaching again is harmless
    net.b.detach_link(LINK)
    assert len(net.link.ends) == 1
    third.attach_link(LINK, net.link)  # the freed end can be taken
    net.a.execute(ENT_KEEP)
    assert third.execute(ENT_KEEP).heralded
