"""Which EPR sockets of a run are open, and which were closed by an app that stopped.

An EPR socket is directed: ``(node, socket, remote node, remote socket, instance)``; the instance tag keeps the
sockets of concurrent app instances apart (they use the same socket ids). Apps open theirs through the netqasm
connection (``OpenEPRSocketMessage``). When the last
holder stops, the socket is closed: a request from the peer that targets it can never be matched, so the link layer
fails it at once with this reason instead of letting the peer wait for its timeout. Opening it again (a new app)
reopens it. A socket nobody has opened yet is not closed: the peer's app may simply not have started.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

SocketKey = tuple[int, int, int, int, str]
"""(node id, EPR socket id, remote node id, remote EPR socket id, instance tag of the app)."""


class EprSocketTable:
    def __init__(self) -> None:
        self._holders: Counter[SocketKey] = Counter()
        self._closed: set[SocketKey] = set()

    def opened(self, key: SocketKey) -> None:
        self._holders[key] += 1
        self._closed.discard(key)

    def released(self, keys: Iterable[SocketKey]) -> list[SocketKey]:
        """An app that held ``keys`` stopped; returns the sockets that are now closed (it was their last holder)."""
        closed = []
        for key in keys:
            if self._holders[key] <= 1:
                self._holders.pop(key, None)
                self._closed.add(key)
                closed.append(key)
            else:
                self._holders[key] -= 1
        return closed

    def is_closed(self, key: SocketKey) -> bool:
        return key in self._closed

    @staticmethod
    def target(key: SocketKey) -> SocketKey:
        """The remote end that a request on socket ``key`` needs."""
        node_id, socket_id, remote_node_id, remote_socket_id, instance = key
        return remote_node_id, remote_socket_id, node_id, socket_id, instance

    @staticmethod
    def closed_reason(key: SocketKey) -> str:
        node_id, socket_id, remote_node_id, _, _ = key
        return (f"the peer app on node {node_id} stopped and closed its EPR socket {socket_id} to node "
                f"{remote_node_id} before this request was matched")
