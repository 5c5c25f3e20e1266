"""What the CNPU's netqasm classes need from the runtime that hosts them, and how they find it.

Apps construct ``NetQASMConnection(app_name=...)`` and ``Socket(app, peer)`` themselves, with no handle to
any runtime; the runtime therefore binds itself to each role's thread before calling the role's ``main``.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
import numpy.typing as npt
from netqasm.lang.subroutine import Subroutine

from qlab_os.errors import QlabOSError


class AppError(QlabOSError):
    """What an app sees when its node refuses or fails something (the QNPU's error text, a timeout...)."""


class HostServices(Protocol):
    def node_name_of_role(self, role: str) -> str: ...
    def node_id_of(self, node_name: str) -> int: ...
    def node_name_of_id(self, node_id: int) -> str: ...
    def new_app_id(self, role: str) -> int | None:
        """The app id a new connection of ``role`` must use, or None to let netqasm pick (one app per node)."""
        ...
    def to_qnpu(self, role: str, raw_msg: bytes) -> None:
        """Deliver one netqasm host message to the role's QNPU; return once it is handled (SUBROUTINE: once
        it has ended, results written to shared memory). Raises AppError on ERR."""
        ...
    def run_subroutine(self, role: str, subroutine: Subroutine) -> None:
        """Run a compiled subroutine on the role's QNPU (as a SUBROUTINE message would). Raises AppError."""
        ...
    def send(self, role: str, peer: str, socket_id: int, msg: object) -> None:
        """Queue a message (text or a StructuredMessage) for ``peer``; it arrives after the channel latency."""
        ...
    def recv(self, role: str, peer: str, socket_id: int, block: bool, timeout_s: float | None) -> str:
        """Raises TimeoutError after ``timeout_s`` (virtual), RuntimeError if ``block`` is False and none waits."""
        ...
    def qubit_state(self, role: str, app_id: int, virtual: int,
                    reduced: bool = True) -> npt.NDArray[np.complex128] | None: ...


_local = threading.local()


def bind(services: HostServices, role: str) -> None:
    """Bind the calling thread to a role of a runtime (done by the runtime before it calls ``main``)."""
    _local.services, _local.role = services, role


def unbind() -> None:
    _local.services, _local.role = None, None


def current() -> tuple[HostServices, str]:
    services = getattr(_local, "services", None)
    if services is None:
        raise AppError("netqasm objects of qlab-os only work inside an app run by qlab-os (e.g. 'qlab-os run')")
    return services, str(_local.role)
