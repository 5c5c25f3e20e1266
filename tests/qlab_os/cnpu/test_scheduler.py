"""The cooperative scheduler: one task at a time, virtual-time order, timeouts, limits, abandonment."""

import threading

import pytest

from qlab_os.clock import VirtualClock
from qlab_os.cnpu.scheduler import RoundTimeLimit, Scheduler, SchedulerError, TaskState


def test_tasks_run_in_virtual_time_order_and_timeouts_fire_in_order():
    s, trace = Scheduler(), []
    ca, cb = VirtualClock(), VirtualClock()

    def a():
        ca.advance_ns(50)
        trace.append(("a waits", ca.now_ns()))
        ok = s.wait_until(lambda: None, 10, "nothing")  # times out at 60
        trace.append(("a timed out", ok, ca.now_ns()))

    def b():
        trace.append(("b starts", cb.now_ns()))
        cb.advance_ns(100)
        s.wait_until(lambda: cb.now_ns(), 1000, "ready at once")  # an event at 100
        trace.append(("b goes on", cb.now_ns()))

    s.spawn("a", a, ca)
    s.spawn("b", b, cb)
    s.run()
    assert trace == [("a waits", 50), ("b starts", 0), ("a timed out", False, 60), ("b goes on", 100)]


def test_a_satisfied_wait_resumes_at_the_time_it_was_satisfied():
    s, box = Scheduler(), []
    ca, cb = VirtualClock(), VirtualClock()

    def receiver():
        assert s.wait_until(lambda: box[0] if box else None, 10**9, "a message")
        return ca.now_ns()

    def sender():
        cb.advance_ns(700)
        box.append(cb.now_ns() + 300)  # arrives at 1000

    r = s.spawn("receiver", receiver, ca)
    s.spawn("sender", sender, cb)
    s.run()
    assert r.state is TaskState.DONE and r.result == 1000


def test_only_one_task_runs_at_a_time():
    s, running, overlaps = Scheduler(), [], []
    clock = VirtualClock()

    def body(name):
        def run():
            for i in range(50):
                running.append(name)
                if len(running) > 1:
                    overlaps.append(tuple(running))
                running.remove(name)
                s.wait_until(lambda: clock.now_ns(), 10, f"{name} {i}")
        return run

    for n in "abcd":
        s.spawn(n, body(n), clock)
    s.run()
    assert overlaps == []


def test_round_limit_raises_in_the_waiting_task():
    s = Scheduler(max_time_ns=5_000)
    clock = VirtualClock()

    def looping():
        while True:
            s.wait_until(lambda: None, 1_000, "a retry")

    t = s.spawn("loop", looping, clock)
    s.run()
    assert isinstance(t.error, RoundTimeLimit) and clock.now_ns() == 5_000


def test_a_task_that_never_hands_back_is_abandoned_and_the_others_go_on():
    s = Scheduler(wall_timeout_s=0.2)
    release = threading.Event()
    stuck = s.spawn("stuck", lambda: release.wait(5), VirtualClock())
    fine = s.spawn("fine", lambda: "done", VirtualClock())
    s.run()
    release.set()
    assert stuck.state is TaskState.FAILED and "ran for 0.2 s of real time" in str(stuck.error)
    assert fine.result == "done" and s.abandoned == [stuck]


def test_cancel_all_wakes_waiting_tasks():
    s = Scheduler()
    clock = VirtualClock()
    t = s.spawn("waits", lambda: s.wait_until(lambda: None, 10**12, "forever"), clock)
    s._switch(t)  # let it start and block (what run() does first)
    s.cancel_all()
    assert t.state is TaskState.FAILED


def test_wait_until_outside_a_task_is_refused():
    with pytest.raises(SchedulerError, match="must be called from a running task"):
        Scheduler().wait_until(lambda: 0, 1, "x")
