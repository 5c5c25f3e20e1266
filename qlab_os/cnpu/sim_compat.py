"""netqasm's "simulation with state access" API, for apps written for SquidASM, on simulated qlab-os nodes.

netqasm apps check states only on a simulator that exposes them, and they test for one by asking
``netqasm.runtime.settings.get_simulator() == Simulator.NETSQUID`` (SquidASM's answer). In that branch they
call ``get_qubit_state`` and the helpers of ``netqasm.sdk.toolbox.sim_states`` (``qubit_from``, ``to_dm``,
``get_fidelity``), which need the proprietary ``netsquid`` package.

Inside a qlab-os run on simulated nodes (and only there: see :func:`state_access`), :func:`install` makes
``get_simulator()`` give that answer and replaces the three helpers with numpy versions that compute the same
quantities. Outside such a run ``get_simulator`` answers exactly as netqasm's does. Nothing here picks a
backend: ``netqasm.sdk.external`` already hands out qlab-os classes (:func:`qlab_os.cnpu.sdk.install`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

_local = threading.local()
_installed = False


def state_access(enabled: bool) -> None:
    """Declare whether the calling role's thread runs on simulated nodes with state access."""
    _local.enabled = enabled


def _enabled() -> bool:
    return bool(getattr(_local, "enabled", False))


def qubit_from(phi: float, theta: float) -> npt.NDArray[np.complex128]:
    """The state R_z(phi) R_y(theta) |0> (netqasm's ``qubit_from``), as a state vector."""
    ket = np.array([np.cos(theta / 2), np.sin(theta / 2)], dtype=complex)
    return np.array([np.exp(-1j * phi / 2) * ket[0], np.exp(1j * phi / 2) * ket[1]], dtype=complex)


def to_dm(q: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    v = np.asarray(q, dtype=complex).reshape(-1)
    return np.outer(v, v.conj())


def get_fidelity(q1: npt.NDArray[np.complex128], q2: npt.NDArray[np.complex128]) -> float:
    """Fidelity of the pure state ``q1`` with the density matrix ``q2``: <q1|q2|q1>."""
    v = np.asarray(q1, dtype=complex).reshape(-1)
    return float(np.real(v.conj() @ np.asarray(q2, dtype=complex) @ v))


def install() -> None:
    """Patch ``netqasm.runtime.settings.get_simulator`` and ``netqasm.sdk.toolbox.sim_states`` (idempotent).
    Call before importing app modules, which bind these names at import time."""
    global _installed
    if _installed:
        return
    import netqasm.runtime.settings as settings
    import netqasm.sdk.toolbox.sim_states as sim_states

    netqasm_get_simulator = settings.get_simulator

    def get_simulator() -> Any:
        if _enabled():
            return settings.Simulator.NETSQUID
        return netqasm_get_simulator()

    settings.get_simulator = get_simulator
    sim_states.get_simulator = get_simulator
    sim_states.qubit_from = qubit_from
    sim_states.to_dm = to_dm
    sim_states.get_fidelity = get_fidelity
    _installed = True
