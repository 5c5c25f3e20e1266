"""Faults the simulated lab injects on demand, so tests can prove the errors a real lab would give.

A fault is bound to one VISA resource. The backend (:mod:`sim_instruments.lab.backend`) consults the table on every
open, write and read:

- ``DEAD``: the instrument is unreachable: opening it fails as a missing resource, and an open session loses its
  connection on the next write or read.
- ``TIMEOUT``: queries time out at once (``VI_ERROR_TMO``); nothing waits on the wall clock.
- ``GARBAGE``: every reply is replaced by bytes no driver accepts.
- ``WRONG_IDN``: ``*IDN?`` answers as a different instrument.
"""

from __future__ import annotations

import enum
import threading


class Fault(enum.Enum):
    """What goes wrong with an instrument."""

    DEAD = "dead"
    TIMEOUT = "timeout"
    GARBAGE = "garbage"
    WRONG_IDN = "wrong_idn"


GARBAGE_REPLY = b"\x15#?garbled"
WRONG_IDN_REPLY = b"Acme Instruments,Model 0,SN0000,0.0"


class FaultTable:
    """Faults per canonical resource name; thread safe, because apps run on pooled threads."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def inject(self, resource_name: str, fault: Fault) -> None:
        with self._lock:
            self._faults[resource_name] = fault

    def clear(self, resource_name: str | None = None) -> None:
        with self._lock:
            if resource_name is None:
                self._faults.clear()
            else:
                self._faults.pop(resource_name, None)

    def get(self, resource_name: str) -> Fault | None:
        with self._lock:
            return self._faults.get(resource_name)

    def active(self) -> dict[str, Fault]:
        with self._lock:
            return dict(self._faults)
