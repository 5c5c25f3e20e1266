"""The NV QDriver: physical instructions of a one-electron-spin NV node as actions on its QCoDeS station.

Built from three files: the node setup (``station_configs/nodes/<node>.yaml``: station file, instrument roles,
AWG wiring, timings), its station (a :class:`~qlab_os.lab.station.QlabStation`, real or on the simulated lab) and
its calibration file (``data/calibration/<node>.yaml``, written by ``qlab-os calibrate``). At start the pulse
library (:mod:`qdrivers.nv.pulses`) is uploaded to the AWG once; the microwave source is set to the calibrated
transition frequency and power; the counters are armed. Then:

- ``INIT``: the init block (green, charge-resonance check), repeated until the CR counts reach the calibrated
  threshold (at most :data:`MAX_CR_ATTEMPTS` times, else a QDriverError);
- ``ROT`` X/Y: jump to the rotation block and trigger it (amplitude-scaled for other angles, see pulses);
- ``ROT`` Z: a software frame update (virtual Z, the standard practice for microwave-driven spins): no pulse;
  the accumulated angle is subtracted from the drive phase of every later pulse (the microwave source's phase),
  and forgotten at INIT and MEAS (a Z rotation before a Z-basis measurement changes nothing);
- ``MEAS``: the readout block; the readout counter's counts >= the calibrated threshold read 0 (ms=0 is bright);
- ``NONE``: nothing to play; time passes;
- ``ENT``: heralded entanglement on the electron (the communication qubit) through a heralding station, with the
  link controller both ends share (:mod:`qdrivers.heralding.link_controller`, :mod:`qdrivers.nv.entangle`): the
  AWG runs the attempt loop itself (spin pumping, the alpha rotation, the optical excitation) until the herald,
  which the station wires to the AWG's event input. The response's duration is the lab time the whole took
  (attempts x element length on hardware), ``bell_index`` 1 (Psi+, detector 0) or 2 (Psi-, detector 1), or 0 after
  the Pauli correction when the link asks for it. The node setup's ``entanglement`` names the stations.

Anything else (two-qubit gates) raises UnsupportedInstructionError. A failure of an instrument
during an instruction puts the station in its safe state and raises a QDriverError naming the instrument.
Durations are those of the played elements; on the simulated lab they are measured on the lab's clock, which
follows the kernel's (:mod:`qdrivers.nv.lab_time`). The driver never advances the kernel's clock.

Multi-qubit NV nodes (carbon memories, CROT) add elements to the library, entries to the spec and
handlers to the table; nothing here assumes one qubit except the spec built from one qubit.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from qdrivers.heralding.link_controller import JoinedLinks
from qdrivers.nv.calibration import NVCalibration, load_calibration
from qdrivers.nv.entangle import NVLinkEnd
from qdrivers.nv.lab_time import LabTimeSync, lab_time_sync
from qdrivers.nv.pulses import PulseLibrary, RotationPlan
from qdrivers.nv.spec import build_spec
from qlab_os.clock import Clock
from qlab_os.errors import ConfigError, QDriverError, UnknownQDriverError, UnsupportedInstructionError
from qlab_os.lab.calibrate.node import NODES_DIR, NodeSetup, find_node_file, load_node, node_platforms
from qlab_os.lab.errors import InstrumentError, classify
from qlab_os.lab.station import QlabStation, connect_station
from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp, PhysicalResponse
from qlab_os.qdevice.spec import QDeviceSpec

__all__ = ["MAX_CR_ATTEMPTS", "NVQDriver"]

CALIBRATION_DIR = Path("data") / "calibration"
"""Where ``qlab-os calibrate`` writes ``<node>.yaml`` by default (relative to the working directory)."""
MAX_CR_ATTEMPTS = 100
"""INIT gives up after this many failed charge-resonance checks in a row (with an NV- probability of 0.5, the
chance of that happening by bad luck is 1e-30: it means the lasers or the charge state are wrong)."""
_ROLES = ("awg", "mw_source", "counter", "cr_counter")
_PHASE_TOLERANCE_DEG = 0.005  # the SGS100A takes phases to 0.01 degree


class _InstrumentFault(Exception):
    def __init__(self, error: InstrumentError) -> None:
        super().__init__(str(error))
        self.error = error


class NVQDriver(QDriver):
    """An NV node's electron spin behind a QCoDeS station (see the module docstring)."""

    name: ClassVar[str] = "nv"

    def __init__(self, setup: NodeSetup, calibration: NVCalibration, station: QlabStation, clock: Clock) -> None:
        self._closed = False
        self.setup = setup
        self.calibration = calibration
        self.station = station
        self._clock = clock
        self.library = PulseLibrary(setup, calibration)
        self._spec = build_spec(setup.node, self.library, calibration)
        self._names = {role: setup.instrument_name(role) for role in _ROLES}
        for role, name in self._names.items():
            if name not in station.components:
                raise ConfigError(str(setup.path), f"instruments.{role}",
                                  f"the station {setup.station_file} has no instrument {name!r}")
        self._lab_time: LabTimeSync | None = lab_time_sync(station.station_config, self._names["awg"], clock)
        self._frame_rad = 0.0
        self._position: int | None = None
        self._phase_deg: float | None = None
        self._amplitude_scale: float | None = None
        self._armed = False
        self.cr_attempts = 0
        """Charge-resonance checks of the last INIT."""
        self._links: JoinedLinks[NVLinkEnd] = JoinedLinks()
        self._run("uploading the pulse library", self._upload, arm_first=False)

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def device_names(cls) -> tuple[str, ...]:
        """Every node setup file in ``station_configs/nodes`` whose platform is ``nv``."""
        return tuple(node for node, platform in node_platforms().items() if platform == "nv")

    @classmethod
    def for_device(cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> NVQDriver:
        """The node ``device`` with its calibration file in ``data/calibration``. ``seed`` is not used: the
        randomness is the lab's (seed a simulated lab with ``qlab-os calibrate --seed`` or ``reset_lab``)."""
        known = cls.device_names()
        if device not in known:
            raise UnknownQDriverError(f"the nv driver has no device {device!r}; known devices (NV node setup files "
                                      f"in {NODES_DIR}): {', '.join(known) or 'none'}")
        return cls.from_files(find_node_file(device), clock=clock, ideal=ideal)

    @classmethod
    def from_files(cls, node_file: Path, *, clock: Clock, calibration_file: Path | None = None,
                   ideal: bool = False) -> NVQDriver:
        """Load the node setup, its calibration (default ``data/calibration/<node>.yaml``) and connect its station."""
        setup = load_node(node_file)
        if ideal:
            raise QDriverError(f"node {setup.node}: the nv driver drives real (or simulated) instruments and cannot "
                               "switch their noise off; use the sim driver's sim-nv device for an ideal NV")
        if setup.platform != "nv":
            raise ConfigError(str(setup.path), "platform", f"the nv driver needs platform nv, got {setup.platform!r}")
        calibration = load_calibration(calibration_file or CALIBRATION_DIR / f"{setup.node}.yaml", setup.node)
        station = connect_station(setup.station_file, default=False, node=setup.node)
        try:
            return cls(setup, calibration, station, clock)
        except BaseException:
            station.close()
            raise

    def close(self) -> None:
        """Safe state, then close the station's instruments (and the links' heralding stations). Idempotent; the
        driver refuses instructions after it."""
        if not self._closed:
            self._closed = True
            self._links.close()
            self.station.close()

    def connect_link(self, name: str, spec: LinkSpec, shared: dict[str, object]) -> None:
        """Join link ``name``'s controller (one per run, in ``shared``); the node setup must name a heralding
        station of the link in ``entanglement``."""
        if not self.library.attempts:
            raise UnsupportedInstructionError(f"node {self.setup.node}: link {name}: the node setup {self.setup.path}"
                                              " names no heralding station under entanglement")
        self._links.join(shared, name, spec, NVLinkEnd(self, name))

    # ---- the contract ----------------------------------------------------------------------------

    @property
    def spec(self) -> QDeviceSpec:
        return self._spec

    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        if self._closed:
            raise QDriverError(f"node {self.setup.node}: the driver was closed; build a new one")
        handler = self._HANDLERS.get(instruction.op)
        if handler is None or (instruction.op is not PhysicalOp.NONE
                               and not self._spec.supports(instruction.op, instruction.qubits, instruction.axis)):
            raise UnsupportedInstructionError(self._unsupported(instruction))
        if instruction.op is PhysicalOp.NONE and instruction.duration_ns < 0:
            raise UnsupportedInstructionError(f"'{instruction}' on node {self.setup.node}: negative idle time")
        if instruction.op is PhysicalOp.ENT:  # keeps the lab time itself: the other end's call may have run it
            return self._ent(instruction)
        start = self._lab_time.before_instruction() if self._lab_time is not None else 0
        response: PhysicalResponse = self._run(str(instruction), lambda: handler(self, instruction))
        if self._lab_time is not None:
            return PhysicalResponse(duration_ns=self._lab_time.elapsed_since(start), outcomes=response.outcomes)
        return response

    def reset(self) -> None:
        """Forget the frame and re-initialise the spin (INIT), re-arming the station after a safe state."""
        self._frame_rad = 0.0
        self._run("reset (INIT)", self._initialise)

    def safe_state(self) -> None:
        """The station's safe state (microwaves and lasers off, AWG stopped, counters idle). Never raises."""
        self._armed = False
        self._position = None
        with contextlib.suppress(Exception):  # QlabStation.safe_state reports rather than raises; be sure
            self.station.safe_state()

    # ---- station ---------------------------------------------------------------------------------

    def _instrument(self, role: str) -> Any:
        return self.station.components[self._names[role]]

    @contextlib.contextmanager
    def _talking_to(self, role: str) -> Iterator[Any]:
        """Yield the instrument of ``role``; any failure talking to it becomes an error naming it."""
        name = self._names[role]
        try:
            yield self.station.components[name]
        except (QDriverError, UnsupportedInstructionError, _InstrumentFault):
            raise
        except Exception as exc:
            address = self.station.station_config.instruments[name].address
            raise _InstrumentFault(classify(name, address, exc)) from exc

    def _run(self, what: str, action: Callable[[], Any], arm_first: bool = True) -> Any:
        """Run ``action`` (re-arming the station first after a safe state); on an instrument failure, safe state
        and a QDriverError naming the instrument."""
        try:
            if arm_first and not self._armed:
                self._arm()
            return action()
        except _InstrumentFault as fault:
            self.safe_state()
            report = self.station.last_safe_state
            state = "the station is in its safe state"
            if report is not None and report.failed:
                state = f"safe state applied except on {', '.join(report.failed)}"
            raise QDriverError(f"node {self.setup.node}: {what} failed: {fault.error}; {state}") from fault.error
        except BaseException:
            # Any other failure (INIT that never passes its charge check, a bad prepare setting, Ctrl-C) must not
            # leave microwaves on and the AWG running either.
            self.safe_state()
            raise

    def _upload(self) -> None:
        with self._talking_to("awg") as awg:
            awg.clock_freq(self.library.sample_rate_hz)
            self.library.sequence.upload(awg)
            self.library.configure_attempt_loops(awg)
        self._arm(awg_running=True)

    # ---- what the link end (qdrivers.nv.entangle) uses -------------------------------------------

    @property
    def lab_time(self) -> LabTimeSync | None:
        return self._lab_time

    def run_step(self, what: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` with the driver's fault handling (safe state and a QDriverError naming the instrument)."""
        return self._run(what, action)

    def talking_to(self, role: str) -> contextlib.AbstractContextManager[Any]:
        return self._talking_to(role)

    def idle_lab(self, duration_ns: int) -> None:
        """The node waits ``duration_ns`` (for the other end of a link): on the simulated lab its clock advances."""
        if self._lab_time is not None:
            self._lab_time.idle(duration_ns)

    def initialise_for_entanglement(self) -> int:
        return self._initialise().duration_ns

    def set_drive(self, plan: RotationPlan) -> None:
        self._set_drive(plan)

    def play(self, start: int) -> None:
        self._play(start)

    def rotate(self, instruction: PhysicalInstruction) -> int:
        return self._rot(instruction).duration_ns

    def _arm(self, awg_running: bool = False) -> None:
        """Prepare settings, microwave source at the calibrated transition, counters armed, AWG outputs on."""
        for dotted, value in self.setup.prepare.items():
            role, _, parameter = str(dotted).partition(".")
            with contextlib.ExitStack() as stack:
                target = stack.enter_context(self._talking_by_name(role))
                for part in parameter.split("."):
                    target = getattr(target, part)
                target(value)
        cal = self.calibration
        with self._talking_to("mw_source") as mw:
            mw.frequency(cal.transition_frequency_hz)
            mw.power(cal.mw_power_dbm)
            mw.IQ_state(True)
            mw.phase(0.0)
            mw.status(True)
        self._phase_deg = 0.0
        with self._talking_to("counter") as counter:
            counter.gate_source("EXT")
            counter.trigger_count(1)
            counter.sample_count(1)
        with self._talking_to("cr_counter") as cr:
            cr.reset()
            cr.start()
        if not awg_running:
            with self._talking_to("awg") as awg:
                channels = set(self.library.iq_channels)
                channels.update(int(m.split(".")[0]) for m in self.setup.awg.markers.values())
                for channel in sorted(channels):
                    getattr(awg, f"ch{channel}").state(1)
                awg.run()
        self._position = None
        self._amplitude_scale = 1.0
        self._armed = True

    @contextlib.contextmanager
    def _talking_by_name(self, name: str) -> Iterator[Any]:
        role = next((r for r, n in self._names.items() if n == name), None)
        if role is not None:
            with self._talking_to(role) as instrument:
                yield instrument
            return
        try:
            yield self.station.components[name]
        except (QDriverError, UnsupportedInstructionError, _InstrumentFault):
            raise
        except Exception as exc:
            cfg = self.station.station_config.instruments.get(name)
            raise _InstrumentFault(classify(name, cfg.address if cfg else None, exc)) from exc

    def _play(self, start: int) -> None:
        """Trigger the block that starts at element ``start`` (jumping there first if the AWG is elsewhere)."""
        with self._talking_to("awg") as awg:
            if self._position != start:
                awg.sequence_pos(start)
                self._position = start
            awg.force_trigger()

    # ---- handlers (one per PhysicalOp the device has) --------------------------------------------

    def _initialise(self) -> PhysicalResponse:
        threshold = self.calibration.cr_threshold_counts
        self._frame_rad = 0.0
        for attempt in range(1, MAX_CR_ATTEMPTS + 1):
            self._play(self.library.init.start)
            with self._talking_to("cr_counter") as cr:
                counts = int(cr.A.last_count())
            if counts < 0:
                raise _InstrumentFault(classify(self._names["cr_counter"], None, RuntimeError(
                    "no completed gate window after the charge-resonance check; check the AWG marker wiring")))
            if counts >= threshold:
                self.cr_attempts = attempt
                return PhysicalResponse(duration_ns=attempt * self.library.init_duration_ns)
        raise QDriverError(
            f"node {self.setup.node}: INIT: the charge-resonance check stayed below {threshold} counts in "
            f"{MAX_CR_ATTEMPTS} attempts; check the red readout and repump lasers, or run "
            f"`qlab-os calibrate {self.setup.node} charge_resonance` again"
        )

    def _init(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        return self._initialise()

    def _rot(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        assert instruction.axis is not None  # the spec lookup matched an axis
        if instruction.axis is Axis.Z:
            self._frame_rad = math.remainder(self._frame_rad + instruction.angle_rad, 2 * math.pi)
            return PhysicalResponse(duration_ns=0)
        plan = self.library.plan(instruction.axis, instruction.angle_rad)
        if plan is None:  # below the AWG's amplitude resolution: the identity within calibration error
            return PhysicalResponse(duration_ns=0)
        self._set_drive(plan)
        self._play(plan.element.block.start)
        return PhysicalResponse(duration_ns=plan.element.duration_ns)

    def _set_drive(self, plan: RotationPlan) -> None:
        """Drive phase = element phase + extra (negative angle) - software frame; I/Q amplitude scaled."""
        phase_deg = math.degrees(plan.extra_phase_rad - self._frame_rad) % 360.0
        if self._phase_deg is None or abs(phase_deg - self._phase_deg) > _PHASE_TOLERANCE_DEG:
            with self._talking_to("mw_source") as mw:
                mw.phase(phase_deg if phase_deg < 360.0 - _PHASE_TOLERANCE_DEG else 0.0)
            self._phase_deg = phase_deg
        if plan.amplitude_scale != self._amplitude_scale:
            with self._talking_to("awg") as awg:
                for channel in self.library.iq_channels:
                    getattr(awg, f"ch{channel}").amp(self.library.amplitude_vpp * plan.amplitude_scale)
            self._amplitude_scale = plan.amplitude_scale

    def _meas(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        with self._talking_to("counter") as counter:
            counter.initiate()
        self._play(self.library.readout.start)
        with self._talking_to("counter") as counter:
            counts = counter.fetch_counts()
        if len(counts) != 1:
            raise _InstrumentFault(classify(self._names["counter"], None, ValueError(
                f"expected one reading for the readout window, got {len(counts)}")))
        self._frame_rad = 0.0
        outcome = 0 if counts[0] >= self.calibration.readout_threshold_counts else 1
        return PhysicalResponse(duration_ns=self.library.readout_duration_ns, outcomes=(outcome,))

    def _ent(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        result = self._links.ent(instruction, f"node {self.setup.node}")
        self._frame_rad = 0.0
        return PhysicalResponse(duration_ns=result.duration_ns, heralded=result.heralded,
                                bell_index=result.bell_index)

    def _none(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        if self._lab_time is not None:
            self._lab_time.idle(instruction.duration_ns)
        return PhysicalResponse(duration_ns=instruction.duration_ns)

    _HANDLERS: ClassVar[dict[PhysicalOp, Callable[[NVQDriver, PhysicalInstruction], PhysicalResponse]]] = {
        PhysicalOp.INIT: _init,
        PhysicalOp.ROT: _rot,
        PhysicalOp.MEAS: _meas,
        PhysicalOp.NONE: _none,
        PhysicalOp.ENT: _ent,
    }

    def _unsupported(self, instruction: PhysicalInstruction) -> str:
        op = instruction.op
        natives = ", ".join(sorted({g.op.value + (f" ({','.join(sorted(a.value for a in g.axes))})" if g.axes else "")
                                    for g in self._spec.natives}))
        if op is PhysicalOp.ENT and not self.library.attempts:
            why = f"ENT needs a heralding station under entanglement in {self.setup.path}"
        elif op not in self._HANDLERS:
            why = f"{op.value} is not a native instruction of this NV node ({self._spec.num_qubits} qubit(s))"
        else:
            why = f"qubits {instruction.qubits} are not valid for {op.value} (qubit 0 is the electron spin)"
        return f"'{instruction}' on node {self.setup.node}: {why}; natives: {natives}"
