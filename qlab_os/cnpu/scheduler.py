"""Cooperative scheduling of application roles on virtual time, for in-process networks.

netqasm host programs are ordinary blocking Python (``conn.flush()``, ``socket.recv()``), so each role runs
in its own thread; but only ONE thread runs at any moment. A role runs until it must wait (for a message, or
for entanglement its subroutine is blocked on); it then hands the baton back here, and the next role that can
make progress runs, in a fixed round-robin order. Because every hand-over happens at a point the program
itself reaches, a run is deterministic under a seed, and there are no data races between roles.

Time is virtual and per node (each node has its own clock; clocks meet when nodes interact). Every wait
has a deadline on the waiting node's clock: when no role can make progress, the wait with the earliest
deadline times out (its node's clock jumps there) and that role gets the timeout. So a peer that never
answers, or an EPR request nobody matches, ends in a clear error instead of a hang.

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
    READY = "ready"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


class SchedulerError(QlabOSError):
    """Misuse of the scheduler (e.g. waiting from outside a task)."""


class Cancelled(BaseException):
    """Raised inside a waiting task that the scheduler cancels (the run is being torn down)."""


@dataclass(eq=False)
class Task:
    name: str
    clock: VirtualClock
    fn: Callable[[], Any]
    state: TaskState = TaskState.NEW
    result: Any = None
    error: BaseException | None = None
    waiting_for: str = ""
    _predicate: Callable[[], bool] | None = None
    _deadline_ns: int | None = None
    _timed_out: bool = False
    _cancelled: bool = False
    _go: threading.Event = field(default_factory=threading.Event)
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
    def __init__(self) -> None:
        self._tasks: list[Task] = []
        self._current: Task | None = None
        self._back = threading.Event()
        self._next_index = 0
        self.switches = 0

    def spawn(self, name: str, fn: Callable[[], Any], clock: VirtualClock) -> Task:
        task = Task(name=name, clock=clock, fn=fn)
        self._tasks.append(task)
        _Worker.take().run(self, task)
        return task

    @property
    def current(self) -> Task | None:
        return self._current

    # --- called from a task's thread ----------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout_ns: int, what: str) -> bool:
        """Block the calling task until ``predicate()`` holds (True) or ``timeout_ns`` of its node's virtual
        time passes with nobody able to make progress (False). ``predicate`` must have no side effects."""
        task = self._require_task()
        if predicate():
            return True
        task.state, task._predicate = TaskState.WAITING, predicate
        task._deadline_ns, task.waiting_for = task.clock.now_ns() + timeout_ns, what
        self._hand_back(task)
        task._predicate, task._deadline_ns, task.waiting_for = None, None, ""
        if task._timed_out:
            task._timed_out = False
            return False
        return True

    def yield_now(self) -> None:
        """Let the other ready tasks run once (cooperative fairness)."""
        task = self._require_task()
        task.state = TaskState.READY
        self._hand_back(task)

    def _require_task(self) -> Task:
        task = self._current
        if task is None or threading.current_thread() is not task._thread:
            raise SchedulerError("wait_until/yield_now must be called from a running task")
        return task

    def _hand_back(self, task: Task) -> None:
        task._go.clear()
        self._back.set()
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
            except BaseException as exc:  # the role's own failure: kept for the runtime to report
                task.error, task.state = exc, TaskState.FAILED
        if done is not None:
            done()
        self._back.set()

    # --- the scheduler loop (caller's thread) ---------------------------------------------------------------
    def run(self) -> None:
        """Run every task to its end. Returns when all are DONE or FAILED."""
        while True:
            task = self._pick()
            if task is None:
                waiting = [t for t in self._tasks if t.state is TaskState.WAITING]
                if not waiting:
                    return
                task = min(waiting, key=lambda t: (t._deadline_ns, self._tasks.index(t)))
                assert task._deadline_ns is not None
                task.clock.advance_to_ns(max(task.clock.now_ns(), task._deadline_ns))
                task._timed_out = True
            self._switch(task)

    def cancel_all(self) -> None:
        """Wake every unfinished task with Cancelled, so no thread is left behind."""
        for task in self._tasks:
            if task.state not in (TaskState.DONE, TaskState.FAILED):
                task._cancelled = True
                self._switch(task)

    def _pick(self) -> Task | None:
        n = len(self._tasks)
        for k in range(n):
            i = (self._next_index + k) % n
            task = self._tasks[i]
            ready = task.state in (TaskState.NEW, TaskState.READY) or (
                task.state is TaskState.WAITING and task._predicate is not None and task._predicate())
            if ready:
                self._next_index = (i + 1) % n
                return task
        return None

    def _switch(self, task: Task) -> None:
        self.switches += 1
        self._current = task
        self._back.clear()
        task._go.set()
        self._back.wait()
        self._current = None
