"""Several application instances on one in-process network: each sees only its own roles.

netqasm apps name their peers by role (``Socket("server", "client")``, ``EPRSocket("client")``), so two
instances of one app, or two apps that both have a role ``alice``, would mix up their messages. Inside the
network every role of instance ``k`` is keyed ``role#k`` (a single instance keeps the plain role names); an
:class:`InstanceView` is what the CNPU classes of an instance talk to, and it translates role names both
ways. Classical messages, EPR sockets and results therefore never cross instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from netqasm.lang.subroutine import Subroutine
from netqasm.sdk.classical_communication.message import StructuredMessage

if TYPE_CHECKING:
    from qlab_os.net.inprocess import InProcessNetwork


@dataclass
class AppInstance:
    """One application to run: its roles' ``main`` functions, their inputs and nodes."""

    name: str
    mains: dict[str, Any]
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_nodes: dict[str, str] = field(default_factory=dict)
    """role -> node; a role missing here runs on the node of its own name."""


def role_key(role: str, instance: int, qualified: bool) -> str:
    """The network's key of a role of instance ``instance``."""
    return f"{role}#{instance}" if qualified else role


def instance_of(key: str) -> str:
    """The instance tag (``"#k"``) of a network role key, ``""`` for a single instance's plain role name. EPR
    requests match only within one instance (:class:`~qlab_os.net.link_layer.InProcessLinkLayer`)."""
    _, sep, k = key.rpartition("#")
    return f"#{k}" if sep else ""


class InstanceView:
    """HostServices of one instance: role names as the app knows them, keys as the network knows them."""

    def __init__(self, network: InProcessNetwork, instance: int, roles: list[str]) -> None:
        self._net = network
        self._instance = instance
        self._keys = {role: role_key(role, instance, True) for role in roles}

    def _key(self, role: str) -> str:
        # a name that is no role of this instance (a node name) stays as it is: the network resolves it
        return self._keys.get(role, role)

    def node_name_of_role(self, role: str) -> str:
        return self._net.node_name_of_role(self._key(role))

    def node_id_of(self, node_name: str) -> int:
        return self._net.node_id_of(node_name)

    def node_name_of_id(self, node_id: int) -> str:
        return self._net.node_name_of_id(node_id)

    def new_app_id(self, role: str) -> int | None:
        return self._net.new_app_id(self._key(role))

    def to_qnpu(self, role: str, raw_msg: bytes) -> None:
        self._net.to_qnpu(self._key(role), raw_msg)

    def run_subroutine(self, role: str, subroutine: Subroutine) -> None:
        self._net.run_subroutine(self._key(role), subroutine)

    def send(self, role: str, peer: str, socket_id: int, msg: object) -> None:
        self._net.send(self._key(role), self._key(peer), socket_id, msg)

    def recv(self, role: str, peer: str, socket_id: int, block: bool, timeout_s: float | None) -> str:
        return self._net.recv(self._key(role), self._key(peer), socket_id, block, timeout_s)

    def recv_structured(self, role: str, peer: str, socket_id: int, block: bool,
                        timeout_s: float | None) -> StructuredMessage:
        return self._net.recv_structured(self._key(role), self._key(peer), socket_id, block, timeout_s)

    def recv_any(self, role: str, peers: list[str], socket_id: int, block: bool,
                 timeout_s: float | None) -> tuple[str, str]:
        back = {self._key(p): p for p in peers}
        peer, msg = self._net.recv_any(self._key(role), list(back), socket_id, block, timeout_s)
        return back[peer], msg

    def qubit_state(self, role: str, app_id: int, virtual: int,
                    reduced: bool = True) -> npt.NDArray[np.complex128] | None:
        return self._net.qubit_state(self._key(role), app_id, virtual, reduced)
