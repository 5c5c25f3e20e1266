"""QNPU scheduler: FCFS and the default policy, the device timeline, and the process events they cause."""

import pytest

from qlab_os.clock import VirtualClock
from qlab_os.errors import QlabOSError, SubroutineError
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.events import EventLog
from qlab_os.qnpu.process import NETWORK_PID, Process, ProcessKind, ProcessState
from qlab_os.qnpu.qnpu import QNPU
from qlab_os.qnpu.scheduler import DeviceScheduler, FCFSPolicy, NetworkFirstPolicy, make_policy


def _proc(pid: int, kind: ProcessKind = ProcessKind.USER) -> Process:
    return Process(pid=pid, max_qubits=0, qubit_map={}, kind=kind)


def _serve(device: DeviceScheduler, duration_ns: int) -> list[tuple[int, int]]:
    """Grant the device until nobody asks; each block takes ``duration_ns``. Returns (pid, start) in order."""
    order = []
    while (grant := device.next_grant()) is not None:
        request, start = grant
        device.grant(request, start)
        device.release(request.process, start + duration_ns)
        order.append((request.process.pid, start))
    return order


def test_fcfs_serves_in_arrival_order_and_the_timeline_has_no_overlap():
    device = DeviceScheduler(FCFSPolicy())
    for pid, arrival in ((1, 30), (2, 10), (3, 20)):
        device.request(_proc(pid), arrival)
    assert _serve(device, 100) == [(2, 10), (3, 110), (1, 210)]


def test_network_first_gives_the_network_process_the_device_before_users_that_came_earlier():
    device = DeviceScheduler(NetworkFirstPolicy())
    device.free_at_ns = 500  # a block runs until 500; everyone below arrives meanwhile
    device.request(_proc(1), 100)
    device.request(_proc(NETWORK_PID, ProcessKind.NETWORK), 400)
    device.request(_proc(2), 200)
    assert _serve(device, 50)[0] == (NETWORK_PID, 500)
    fcfs = DeviceScheduler(FCFSPolicy())
    fcfs.free_at_ns = 500
    fcfs.request(_proc(1), 100)
    fcfs.request(_proc(NETWORK_PID, ProcessKind.NETWORK), 400)
    assert _serve(fcfs, 50)[0] == (1, 500)


def test_round_robin_serves_a_rare_process_before_one_that_asks_all_the_time():
    """Three busy processes keep the device full; a fourth asks once. FCFS queues it behind everyone who came
    earlier; the default policy serves it next because it was served longest ago (never)."""
    def latency(policy) -> int:
        device = DeviceScheduler(policy)
        busy = [_proc(p) for p in (1, 2, 3)]
        rare = _proc(9)
        t, asked, served_at = 0, False, None
        for p in busy:
            device.request(p, 0)
        while served_at is None:
            request, start = device.next_grant()
            device.grant(request, start)
            t = start + 100
            device.release(request.process, t)
            if request.process is rare:
                served_at = start
            else:
                device.request(request.process, t)  # asks again at once
            if not asked and t >= 250:
                device.request(rare, 250)
                asked = True
        return served_at - 250

    assert latency(FCFSPolicy()) == 250  # behind the two that queued before it
    assert latency(NetworkFirstPolicy()) == 50  # next block


def test_no_process_starves_under_either_policy():
    """Three processes that each ask again the moment they are served: everyone is served at least once in every
    window of (number of processes) blocks."""
    for policy in (FCFSPolicy(), NetworkFirstPolicy()):
        device = DeviceScheduler(policy)
        procs = [_proc(p) for p in (1, 2, 3)]
        for p in procs:
            device.request(p, 0)
        served = []
        for _ in range(300):
            request, start = device.next_grant()
            device.grant(request, start)
            device.release(request.process, start + 100)
            served.append(request.process.pid)
            device.request(request.process, start + 100)
        for i in range(0, 300 - 3):
            assert set(served[i:i + 3]) == {1, 2, 3}, (policy.name, served[i:i + 3])


def test_the_device_cannot_be_granted_twice_and_unknown_policies_are_named():
    device = DeviceScheduler()
    a, b = device.request(_proc(1), 0), device.request(_proc(2), 0)
    device.grant(a, 0)
    assert device.next_grant() is None  # held
    with pytest.raises(QlabOSError, match="held by process 1"):
        device.grant(b, 0)
    with pytest.raises(QlabOSError, match="unknown scheduling policy 'sjf'; policies: fcfs, network-first"):
        make_policy("sjf")


def _qnpu() -> tuple[QNPU, VirtualClock, EventLog]:
    clock = VirtualClock()
    qnpu = QNPU(create_qdriver("sim-generic", clock=clock, seed=1), clock, node_name="n")
    log = EventLog()
    qnpu.events.subscribe(log)
    return qnpu, clock, log


def test_every_transition_is_an_event_on_virtual_time():
    qnpu, clock, log = _qnpu()
    qnpu.init_app(0, 1, name="tomo", time_ns=5)
    sub = parse_text("# NETQASM 1.0\n# APPID 0\nset Q0 0\nqalloc Q0\ninit Q0\nh Q0\nmeas Q0 M0\nqfree Q0\n")
    clock.advance_to_ns(40)
    ex = qnpu.begin(sub, submitted_ns=10)
    assert qnpu.resume(ex)
    qnpu.finish(ex)
    qnpu.stop_app(0)
    assert log.trace(pids=[0]) == [(5, "n", 0, "new"), (5, "n", 0, "idle"), (10, "n", 0, "ready"),
                                   (40, "n", 0, "running"), (5040, "n", 0, "idle"), (5040, "n", 0, "done")]
    process = qnpu.finished[0]
    # sim-generic, 1 us each: init, h (two rotations), meas, and the scrub (init) of qfree
    assert process.metrics.ready_wait_ns == 30 and process.metrics.busy_ns == 5000
    assert process.metrics.subroutine_latencies_ns == [5030]
    assert qnpu.network_process.kind is ProcessKind.NETWORK and qnpu.network_process.state is ProcessState.IDLE


def test_a_process_failing_mid_block_frees_its_qubits_and_the_other_goes_on():
    qnpu, _clock, log = _qnpu()
    qnpu.init_app(0, 2, name="bad")
    qnpu.init_app(1, 1, name="good")
    bad = parse_text("# NETQASM 1.0\n# APPID 0\nset Q0 0\nqalloc Q0\nset Q1 1\nqalloc Q1\nh Q0\n"
                     "set Q2 5\nqalloc Q2\n")  # virtual qubit 5 is outside its unit module of 2: fails at run time
    with pytest.raises(SubroutineError):
        ex = qnpu.begin(bad)
        qnpu.resume(ex)
    assert qnpu.qmm.allocated(0) == {} and qnpu.processes[0].state is ProcessState.FAILED
    good = parse_text("# NETQASM 1.0\n# APPID 1\nset Q0 0\nqalloc Q0\ninit Q0\nx Q0\nmeas Q0 M0\nret_reg M0\n")
    result = qnpu.run_subroutine(good)
    assert result.registers == {"M0": 1}
    assert [e.new.value for e in log.events if e.pid == 0][-3:] == ["ready", "running", "failed"]


def test_network_first_keeps_user_blocks_out_of_a_reserved_link_bin_and_fcfs_does_not():
    """A user whose last block took 300 ns asks at 800; the network reserved the bin [1000, 2000). Under
    network-first the block would run into the bin, so it waits for the bin's end (or for the network to be done);
    a short block that ends before the bin still runs. FCFS ignores reservations (the baseline)."""
    def first_grant(policy, last_block_ns: int, unreserve: bool = False) -> int:
        device = DeviceScheduler(policy)
        user = _proc(1)
        device.grant(device.request(user, 0), 0)
        device.release(user, last_block_ns)  # the estimate of its next block
        device.reserve("a--b", 1000, 2000)
        device.request(user, 800)
        if unreserve:
            device.unreserve("a--b")
        grant = device.next_grant()
        assert grant is not None and grant[0].process is user
        return grant[1]

    assert first_grant(NetworkFirstPolicy(), 300) == 2000
    assert first_grant(NetworkFirstPolicy(), 150) == 800  # ends at 950, before the bin
    assert first_grant(NetworkFirstPolicy(), 300, unreserve=True) == 800  # the network is done early
    assert first_grant(FCFSPolicy(), 300) == 800
    # the network process itself is never kept out of its bin
    device = DeviceScheduler(NetworkFirstPolicy())
    device.reserve("a--b", 1000, 2000)
    device.request(_proc(NETWORK_PID, ProcessKind.NETWORK), 1000)
    grant = device.next_grant()
    assert grant is not None and grant[1] == 1000
