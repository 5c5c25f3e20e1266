"""The netqasm SDK classes an app gets from ``netqasm.sdk.external``: connection, sockets, broadcast
channel and ``get_qubit_state``, all talking to qlab-os.

:func:`install` puts them into ``netqasm.sdk.external`` once, explicitly, before app modules are imported
(apps do ``from netqasm.sdk.external import NetQASMConnection, Socket``). We never rely on the
``NETQASM_SIMULATOR`` variable to choose a backend: netqasm picks its backend classes from it at import
time, so :func:`install` sets it to netqasm's inert ``debug`` value for that import and leaves it there
unless the user had set it (netqasm's default, NETSQUID, would make netqasm's own helpers import the
proprietary netsquid). What apps see from ``get_simulator()`` inside a run is decided by
:mod:`qlab_os.cnpu.sim_compat`, not by the variable.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import numpy as np
import numpy.typing as npt
from netqasm.lang.subroutine import Subroutine
from netqasm.sdk.classical_communication.broadcast_channel import BroadcastChannel
from netqasm.sdk.classical_communication.message import StructuredMessage
from netqasm.sdk.classical_communication.socket import Socket
from netqasm.sdk.config import LogConfig
from netqasm.sdk.connection import BaseNetQASMConnection
from netqasm.sdk.network import NetworkInfo

from qlab_os.cnpu.context import AppError, current


class QlabNetworkInfo(NetworkInfo):  # type: ignore[misc]
    """Node names and ids of the running network, as the netqasm SDK asks for them."""

    @classmethod
    def _get_node_id(cls, node_name: str) -> int:
        return current()[0].node_id_of(node_name)

    @classmethod
    def _get_node_name(cls, node_id: int) -> str:
        return current()[0].node_name_of_id(node_id)

    @classmethod
    def get_node_id_for_app(cls, app_name: str) -> int:
        services = current()[0]
        return services.node_id_of(services.node_name_of_role(app_name))

    @classmethod
    def get_node_name_for_app(cls, app_name: str) -> str:
        return current()[0].node_name_of_role(app_name)


class QlabConnection(BaseNetQASMConnection):  # type: ignore[misc]
    """``NetQASMConnection`` of qlab-os: netqasm messages go to the node's QNPU."""

    def __init__(self, app_name: str, node_name: str | None = None, app_id: int | None = None,
                 max_qubits: int = 5, log_config: LogConfig | None = None, **kwargs: Any) -> None:
        self._qlab_services, self._qlab_role = current()
        if app_id is None:  # several apps on one node need distinct ids; the runtime hands them out
            app_id = self._qlab_services.new_app_id(self._qlab_role)
        # the app logger needs log_subroutines_dir; pickling every subroutine at close is opt-in
        if (log_config is not None and log_config.log_subroutines_dir is not None
                and not os.environ.get("QLAB_OS_LOG_SUBROUTINES")):
            log_config = dataclasses.replace(log_config, log_subroutines_dir=None)
        super().__init__(app_name=app_name, node_name=node_name, app_id=app_id, max_qubits=max_qubits,
                         log_config=log_config, **kwargs)

    def _get_network_info(self) -> type[NetworkInfo]:
        return QlabNetworkInfo

    def _commit_serialized_message(self, raw_msg: bytes, block: bool = True, callback: Any = None) -> None:
        self._qlab_services.to_qnpu(self._qlab_role, bytes(raw_msg))
        if callback is not None:
            callback()

    def commit_protosubroutine(self, protosubroutine: Any, block: bool = True, callback: Any = None) -> None:
        """netqasm 2.3's own steps (compile, instantiate for this app, commit, reset the builder), but its two
        debug lines format whole subroutines only when debug logging is on (about 4% of a teleport round)."""
        debug = self._logger.isEnabledFor(logging.DEBUG)
        if debug:
            self._logger.debug(f"Flushing protosubroutine:\n{protosubroutine}")
        subroutine = self._builder.subrt_compile_subroutine(protosubroutine)
        if debug:
            self._logger.debug(f"Flushing compiled subroutine:\n{subroutine}")
        subroutine.instantiate(self.app_id)
        self.commit_subroutine(subroutine, block, callback)
        self._builder._reset()

    def commit_subroutine(self, subroutine: Subroutine, block: bool = True, callback: Any = None) -> None:
        """In process, the compiled subroutine goes to the QNPU as it is: serialising it to netqasm's binary
        and decoding it again would only cost time (the binary path is the one ``qlab-os exec`` and the
        QNPU's message handler take)."""
        self._qlab_services.run_subroutine(self._qlab_role, subroutine)
        if callback is not None:
            callback()


class QlabSocket(Socket):  # type: ignore[misc]
    """A classical socket between two roles; latency and timeouts are in virtual time."""

    def __init__(self, app_name: str, remote_app_name: str, socket_id: int = 0, timeout: float | None = None,
                 use_callbacks: bool = False, log_config: LogConfig | None = None) -> None:
        self._services, role = current()
        if app_name != role:
            raise AppError(f"Socket({app_name!r}, ...) created by role {role!r}: a socket belongs to its own role")
        self.app_name, self.remote_app_name, self.socket_id = app_name, remote_app_name, socket_id
        self._services.node_name_of_role(remote_app_name)  # unknown peer: a clear error now, not a hang later
        self.use_callbacks = use_callbacks

    def send(self, msg: str) -> None:
        self._services.send(self.app_name, self.remote_app_name, self.socket_id, str(msg))

    def recv(self, block: bool = True, timeout: float | None = None, maxsize: int | None = None) -> str:
        msg = self._services.recv(self.app_name, self.remote_app_name, self.socket_id, block, timeout)
        if self.use_callbacks:
            self.recv_callback(msg)
        return msg

    def send_structured(self, msg: StructuredMessage) -> None:
        self._services.send(self.app_name, self.remote_app_name, self.socket_id, msg)

    def recv_structured(self, block: bool = True, timeout: float | None = None,
                        maxsize: int | None = None) -> StructuredMessage:
        return self._services.recv_structured(  # type: ignore[attr-defined]
            self.app_name, self.remote_app_name, self.socket_id, block, timeout)

    def send_silent(self, msg: str) -> None:
        self.send(msg)

    def recv_silent(self, block: bool = True, timeout: float | None = None, maxsize: int | None = None) -> str:
        return self.recv(block=block, timeout=timeout)


class QlabBroadcastChannel(BroadcastChannel):  # type: ignore[misc]
    """Messages to several roles at once, received from whichever sends first (in virtual time)."""

    def __init__(self, app_name: str, remote_app_names: list[str], **kwargs: Any) -> None:
        self._services, _ = current()
        self.app_name = app_name
        self._sockets = {peer: QlabSocket(app_name, peer, socket_id=_BROADCAST_SOCKET) for peer in remote_app_names}

    def send(self, msg: str) -> None:
        for sock in self._sockets.values():
            sock.send(msg)

    def recv(self, block: bool = True, timeout: float | None = None) -> tuple[str, str]:
        peers = list(self._sockets)
        return self._services.recv_any(self.app_name, peers, _BROADCAST_SOCKET, block, timeout)  # type: ignore[attr-defined, no-any-return]


_BROADCAST_SOCKET = -1
"""Broadcast traffic uses its own socket id, apart from the app's point-to-point sockets."""


def get_qubit_state(qubit: Any, reduced_dm: bool = True) -> npt.NDArray[np.complex128] | None:
    """The state of a qubit of the calling app, on simulated nodes (None on hardware), as in SquidASM: its
    reduced density matrix, or with ``reduced_dm=False`` the whole state it is part of (this qubit first)."""
    services, role = current()
    conn = qubit._conn
    return services.qubit_state(role, conn.app_id, qubit.qubit_id, reduced=reduced_dm)


def install() -> None:
    """Make ``netqasm.sdk.external`` hand out qlab-os classes. Call before importing app modules."""
    before = os.environ.get("NETQASM_SIMULATOR")
    os.environ["NETQASM_SIMULATOR"] = "debug"  # only so that the module imports; its names are replaced
    try:
        import netqasm.sdk.external as external
    finally:
        if before is not None:
            os.environ["NETQASM_SIMULATOR"] = before
    from qlab_os.cnpu import sim_compat

    sim_compat.install()

    external.NetQASMConnection = QlabConnection
    external.Socket = QlabSocket
    external.BroadcastChannel = QlabBroadcastChannel
    external.get_qubit_state = get_qubit_state
