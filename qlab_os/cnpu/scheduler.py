"""Cooperative scheduling of application roles on virtual time, for in-process networks.

netqasm host programs are ordinary blocking Python (``conn.flush()``, ``socket.recv()``), so each role runs
in its own thread; but only ONE thread runs at any moment. A role runs until it must wait (for a message, or
for entanglement its subroutine is blocked on); it then hands the baton back here, and the next role that can
make progress runs, in a fixed round-robin order. Because every hand-over happens at a point the program
itself reaches, a run is deterministic under a seed, and there are no data races between roles.

Time is virtual and per node (each node has its own clock; clocks meet when nodes interact). The next role
to run is always the one whose next event is earliest in virtual time (conservative discrete-event order):
a runnable role at its clock, a satisfied wait at the time it was satisfied (e.g. a message's arrival), or a
wait's deadline. So timeouts and arrival order follow virtual time, not the order threads happened to run.
Every wait has a deadline, and a round has a virtual-time limit: a peer that never answers, or an EPR
request nobody matches, ends in a clear error instead of a hang. A role that never hands back (a busy loop,
a blocking call that is not ours) is abandoned after ``wall_timeout_s`` of real time.

Hand-rolled because no library does cooperative, deterministic scheduling of *blocking* third-party code
(the netqasm SDK) on virtual time: asyncio/trio need the code to be async; greenlet would need patching
the SDK's blocking calls.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from qlab_os.clock import VirtualClock
from qlab_os.errors import QlabOSError


class TaskState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


class SchedulerError(QlabOSError):
    """Misuse of the scheduler (e.g. waiting from outside a task)."""


class Cancelled(BaseException):
    """Raised inside a waiting task that the scheduler cancels (the run is being torn down)."""


class RoundTimeLimit(BaseException):  # an app's `except Exception` cannot loop on it
    """A role waited past the round's virtual-time limit (e.g. an app that retries a timed-out recv forever)."""


@dataclass(eq=False)
class Task:
    name: str
    clock: VirtualClock
    fn: Callable[[], Any]
    state: TaskState = TaskState.NEW
    result: Any = None
    error: BaseException | None = None
    waiting_for: str = ""
    _ready_at: Callable[[], int | None] | None = None
    _deadline_ns: int | None = None
    _timed_out: bool = False
    _cancelled: bool = False
    _go: threading.Event = field(default_factory=threading.Event)
    _back: threading.Event = field(default_factory=threading.Event)
    """Set by the task's thread when it hands control back (its own: a late, abandoned task cannot wake the
    scheduler while another task runs)."""
    _thread: threading.Thread | None = None


class _Worker:
    """A role thread, kept for the next task when its task ends (a run starts fresh tasks every round; a
    thread start costs about 0.1 ms). Only one worker ever runs at a time, like the tasks themselves."""

    _idle: ClassVar[list[_Worker]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._assigned = threading.Event()
        self._job: tuple[Scheduler, Task] | None = None
        self.thread = threading.Thread(target=self._loop, name="qlab-os role", daemon=True)
        self.thread.start()

    @classmethod
    def take(cls) -> _Worker:
        with cls._lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def run(self, scheduler: Scheduler, task: Task) -> None:
        task._thread = self.thread
        self._job = (scheduler, task)
        self._assigned.set()

    def _loop(self) -> None:
        while True:
            self._assigned.wait()
            self._assigned.clear()
            assert self._job is not None
            scheduler, task = self._job
            self._job = None
            self.thread.name = f"qlab-os role {task.name}"
            scheduler._body(task, done=self._rejoin)

    def _rejoin(self) -> None:
        """Back in the pool once the task is over, before control returns to the scheduler (so the next
        round finds this thread idle)."""
        with _Worker._lock:
            _Worker._idle.append(self)


class Scheduler:
    def __init__(self, *, max_time_ns: int | None = None, wall_timeout_s: float | None = None) -> None:
        self._tasks: list[Task] = []
        self._current: Task | None = None
        self._next_index = 0
        self.switches = 0
        self.max_time_ns = max_time_ns
        """No role's clock may pass this within one run (None: no limit)."""
        self.wall_timeout_s = wall_timeout_s
        """Real seconds a role may run without handing back before it is abandoned (None: no limit)."""
        self.abandoned: list[Task] = []

    def spawn(self, name: str, fn: Callable[[], Any], clock: VirtualClock) -> Task:
        task = Task(name=name, clock=clock, fn=fn)
        self._tasks.append(task)
        _Worker.take().run(self, task)
        return task

    @property
    def current(self) -> Task | None:
        return self._current

    # --- called from a task's thread ----------------------------------------------------------------------
    def wait_until(self, ready_at: Callable[[], int | None], timeout_ns: int, what: str) -> bool:
        """Block the calling task until its wait is satisfied (True) or times out (False).

        ``ready_at()`` says when, in virtual time, the wait was satisfied (e.g. a message's arrival time), or
        None while it is not; it must have no side effects. The task resumes with its clock at that time. The
        wait times out ``timeout_ns`` after the task's clock, or at the run's limit, where RoundTimeLimit is
        raised instead.
        """
        task = self._require_task()
        now = task.clock.now_ns()
        deadline = now + timeout_ns
        if self.max_time_ns is not None:
            deadline = min(deadline, max(self.max_time_ns, now))
        task.state, task._ready_at = TaskState.WAITING, ready_at
        task._deadline_ns, task.waiting_for = deadline, what
        self._hand_back(task)
        task._ready_at, task._deadline_ns, task.waiting_for = None, None, ""
        if task._timed_out:
            task._timed_out = False
            if self.max_time_ns is not None and task.clock.now_ns() >= self.max_time_ns:
                raise RoundTimeLimit(f"{task.name} reached the run's limit of {self.max_time_ns / 1e9:g} s of "
                                     f"virtual time while waiting: {what}")
            return False
        return True


    def _require_task(self) -> Task:
        task = self._current
        if task is None or threading.current_thread() is not task._thread:
            raise SchedulerError("wait_until must be called from a running task")
        return task

    def _hand_back(self, task: Task) -> None:
        task._go.clear()
        task._back.set()
        task._go.wait()
        if task._cancelled:
            raise Cancelled(f"task {task.name} cancelled")
        task.state = TaskState.RUNNING

    def _body(self, task: Task, done: Callable[[], None] | None = None) -> None:
        task._go.wait()
        if not task._cancelled:
            task.state = TaskState.RUNNING
            try:
                task.result = task.fn()
                task.state = TaskState.DONE
            except Cancelled:
                task.state = TaskState.FAILED
                task.error = task.error or Cancelled("cancelled: the run ended while it waited")
            except BaseException as exc:  # the role's own failure: kept for the runtime to report
                task.error, task.state = exc, TaskState.FAILED
        if done is not None:
            done()
        task._back.set()

    # --- the scheduler loop (caller's thread) ---------------------------------------------------------------
    def run(self) -> None:
        """Run every task to its end, in virtual-time order. Returns when all are DONE or FAILED."""
        while True:
            picked = self._pick()
            if picked is None:
                return
            task, time_ns, timed_out = picked
            task.clock.advance_to_ns(max(task.clock.now_ns(), time_ns))
            task._timed_out = timed_out
            self._switch(task)

    def cancel_all(self) -> None:
        """Wake every task that waits (or never started) with Cancelled, so no thread is left behind. A task
        that is running (abandoned, or interrupted) cannot be stopped from here; it is left to itself."""
        for task in self._tasks:
            if task.state in (TaskState.NEW, TaskState.WAITING):
                task._cancelled = True
                self._switch(task)

    def _pick(self) -> tuple[Task, int, bool] | None:
        """The task whose next event is earliest: (task, its time, whether that event is a timeout)."""
        best: tuple[int, int, Task, bool] | None = None
        n = len(self._tasks)
        for k in range(n):
            i = (self._next_index + k) % n
            task = self._tasks[i]
            now = task.clock.now_ns()
            if task.state is TaskState.NEW:
                event, timed_out = now, False
            elif task.state is TaskState.WAITING and task._ready_at is not None:
                assert task._deadline_ns is not None
                ready = task._ready_at()
                if ready is not None and max(now, ready) <= task._deadline_ns:
                    event, timed_out = max(now, ready), False
                else:
                    event, timed_out = task._deadline_ns, True
            else:
                continue
            if best is None or (event, k) < (best[0], best[1]):
                best = (event, k, task, timed_out)
        if best is None:
            return None
        self._next_index = (self._tasks.index(best[2]) + 1) % n
        return best[2], best[0], best[3]

    def _switch(self, task: Task) -> None:
        self.switches += 1
        self._current = task
        task._back.clear()
        task._go.set()
        if not task._back.wait(self.wall_timeout_s):
            # the role neither finished nor handed back: a busy loop, or a blocking call that is not ours
            task.state = TaskState.FAILED
            task.error = SchedulerError(
                f"role {task.name} ran for {self.wall_timeout_s:g} s of real time without handing back to "
                "qlab-os (a busy loop, or a blocking call such as input() or a sleep); it was abandoned")
            self.abandoned.append(task)
        self._current = None
