"""The one simulation hook of the trapped-ion QDriver: the simulated lab's node clock follows the kernel's clock.

On hardware, time passes by itself. On the simulated lab (a station whose ``visalib`` is ``<lab yaml>@qlab``) the
ion's physics runs on the lab node's own virtual clock, which only the played AWG stretches advance. So that the ion
decoheres while the kernel idles (NONE, other processes, waiting for the network), the driver calls
:meth:`LabClockFollower.catch_up` before each instruction: the lab node's clock moves forward to the kernel's now
(plus the offset between the two clocks when the driver connected: calibrations may have run the lab clock ahead).
After the instruction, :meth:`LabClockFollower.elapsed_ns` is the lab time it took, which the driver reports as the
instruction's duration (the kernel then advances its own clock by it). The driver never advances the kernel's clock.

If the lab clock is found ahead of the kernel's (someone else played on the node), the offset is re-based: the lab
cannot go back in time, and the kernel's clock is not the driver's to move.

Used only when :func:`simulated_lab_spec` finds the station on the simulated lab; the lab package is imported only
then, so a hardware installation does not need it.
"""

from __future__ import annotations

import importlib
from typing import Any

from qlab_os.clock import Clock
from qlab_os.lab.station import QlabStation

SIMULATED_SUFFIX = "@qlab"


def simulated_lab_spec(station: QlabStation, instrument: str) -> str | None:
    """The lab YAML behind ``instrument`` of the station (``pkg:file.yaml``), or None when it is real hardware."""
    cfg = station.station_config.instruments.get(instrument)
    visalib = str(cfg.init.get("visalib", "")) if cfg is not None else ""
    if not visalib.endswith(SIMULATED_SUFFIX):
        return None
    return visalib[: -len(SIMULATED_SUFFIX)] or "sim_instruments.lab:lab.yaml"


class LabClockFollower:
    """Keeps the simulated lab node that owns ``address`` in step with the kernel's ``clock``."""

    def __init__(self, lab_spec: str, address: str, clock: Clock) -> None:
        lab_module: Any = importlib.import_module("sim_instruments.lab.lab")
        rname = importlib.import_module("pyvisa.rname")
        lab = lab_module.get_lab(lab_spec)
        model = lab.model_of(rname.to_canonical_name(address))
        if model is None or model.node is None:
            raise ValueError(f"the simulated lab {lab_spec} has no node instrument at {address}")
        self.node_name: str = model.node.name
        lab_clock: Clock = model.node.clock
        self._lab_clock = lab_clock
        self._clock = clock
        self._offset_ns: int = lab_clock.now_ns() - clock.now_ns()
        self._start_ns: int = lab_clock.now_ns()

    def catch_up(self) -> None:
        """Advance the lab node's clock to the kernel's now (plus the offset); mark the start of an instruction."""
        lab_now = self._lab_clock.now_ns()
        target = self._clock.now_ns() + self._offset_ns
        if target > lab_now:
            self._lab_clock.advance_ns(target - lab_now)
        elif target < lab_now:
            self._offset_ns += lab_now - target
        self._start_ns = self._lab_clock.now_ns()

    def idle(self, duration_ns: int) -> None:
        """The node waits ``duration_ns`` (for the other end of a link): the lab node's clock advances; the ions
        see the time when next touched."""
        self._lab_clock.advance_ns(duration_ns)

    def elapsed_ns(self) -> int:
        """Lab time since the last :meth:`catch_up`."""
        return self._lab_clock.now_ns() - self._start_ns
