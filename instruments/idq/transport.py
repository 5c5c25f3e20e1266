"""Request/reply transports for the ID Quantique Time Controller: ZeroMQ on the bench, VISA for simulated ones.

The Time Controller (ID1000, and the ID900 before it) takes each SCPI command as one ZeroMQ message on a REP socket
(TCP port 5555) and answers every command, query or not, with one message. That is not a VISA resource: pyvisa
cannot speak ZeroMQ's framing, so qcodes' VisaInstrument cannot reach the device. The driver therefore talks
through this small seam: :class:`ZmqTransport` (pyzmq REQ socket) for the real device, :class:`VisaTransport` for
PyVISA-sim mocks and the simulated lab's pyvisa backend, where each command is answered by one LF-terminated line
(an empty line for an accepted set command). pyzmq does the ZeroMQ work; nothing here re-implements it.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Protocol

import pyvisa
import zmq
from pyvisa.resources import MessageBasedResource

__all__ = ["Transport", "TransportError", "VisaTransport", "ZmqTransport", "sim_visalib"]


class TransportError(RuntimeError):
    """The transport could not deliver a command or receive its reply (timeout, closed connection)."""


class Transport(Protocol):
    """One command out, one reply back."""

    def exchange(self, command: str) -> str: ...

    def close(self) -> None: ...


class ZmqTransport:
    """A ZeroMQ REQ socket connected to the Time Controller's SCPI port (e.g. ``tcp://169.254.99.100:5555``).

    A REQ socket that timed out waiting for a reply cannot send again, so after a timeout the socket is replaced
    (the "lazy pirate" pattern of the ZeroMQ guide) and the error is raised.
    """

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self._endpoint = endpoint
        self._timeout_ms = round(timeout_s * 1000)
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._socket = self._connect()

    def _connect(self) -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] = self._context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, self._timeout_ms)
        socket.setsockopt(zmq.SNDTIMEO, self._timeout_ms)
        socket.connect(self._endpoint)
        return socket

    def exchange(self, command: str) -> str:
        try:
            self._socket.send_string(command)
            return self._socket.recv().decode("utf-8", "replace")
        except zmq.Again:
            self._socket.close()
            self._socket = self._connect()
            raise TransportError(
                f"no reply from {self._endpoint} within {self._timeout_ms} ms to {command!r}"
            ) from None

    def close(self) -> None:
        self._socket.close()


class VisaTransport:
    """A pyvisa message-based resource where each command is answered by one LF-terminated line."""

    def __init__(self, address: str, visalib: str | None, timeout_s: float) -> None:
        self._manager = pyvisa.ResourceManager(visalib) if visalib else pyvisa.ResourceManager()
        resource = self._manager.open_resource(address)
        if not isinstance(resource, MessageBasedResource):
            resource.close()
            raise TransportError(f"{address} is not a message-based VISA resource")
        resource.write_termination = "\n"
        resource.read_termination = "\n"
        resource.timeout = round(timeout_s * 1000)
        self._resource = resource

    def exchange(self, command: str) -> str:
        try:
            return self._resource.query(command)
        except pyvisa.errors.VisaIOError as error:
            raise TransportError(f"{error.description} ({command!r})") from None

    def close(self) -> None:
        self._resource.close()


def sim_visalib(pyvisa_sim_file: str) -> str:
    """The visalib string for a PyVISA-sim file given as ``"package.module:file.yaml"`` (as qcodes accepts it)."""
    module, separator, name = pyvisa_sim_file.partition(":")
    if not separator or not name:
        raise ValueError(f"pyvisa_sim_file must look like 'package.module:file.yaml', got {pyvisa_sim_file!r}")
    return f"{files(module) / name}@sim"
