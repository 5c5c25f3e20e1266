"""The ``trapped_ion`` QDriver: physical instructions become actions of a 40Ca+ node's QCoDeS station.

Built from three files: the node setup (``station_configs/nodes/<node>.yaml``: station, instrument roles, AWG
wiring, timings), its QCoDeS station, and the node's calibration file (``qlab-os calibrate <node> all``). At
connection the driver checks the calibration, connects the station, applies the node's ``prepare`` settings (lasers
on, AOM drive), tunes the 729 AOM source to the calibrated line at the calibrated power, arms the PMT counter and
uploads its pulse library (:mod:`qdrivers.trapped_ion.pulses`) to the AWG, once. Then:

- ``INIT``: the ``init`` block (Doppler cooling, optical pumping into S1/2 = ``|0>``); the software frame is reset;
- ``ROT`` x/y: a 729 pulse of the library, its length the angle's share of the calibrated pi time, the axis (and
  the software frame) set as the AOM source's RF phase, which is the phase of the 729 light;
- ``ROT`` z: a software frame update (standard for trapped ions and superconducting qubits: ``R_z(a)`` commutes
  with measurement in Z, so it is carried into the phase of every later x/y pulse, ``phi -> phi - a``); no light,
  no time;
- ``MEAS``: the ``meas`` block (detection window gated to the PMT counter, then 854 repump); counts below the
  calibrated ``detection_threshold_counts`` are dark, i.e. D5/2, outcome 1. The repump leaves the ion in ``|0>``
  whatever the outcome;
- ``NONE``: nothing is played; the time passes (on the simulated lab, the node's clock follows the kernel's);
- anything else (MS, CNOT, CZ, CROT, ENT, a qubit other than 0): :class:`UnsupportedInstructionError`. This node
  holds one ion; chains with addressed beams and the bichromatic MS gate, and ion-photon entanglement, come later.

Time: the driver never advances the kernel's clock; it reports each instruction's duration. On hardware that is the
played block's length; on the simulated lab it is the lab time the instruction took, read from the lab node's clock,
which :mod:`qdrivers.trapped_ion.simlab` (the one simulation hook) keeps in step with the kernel's.

Faults: any failure talking to an instrument becomes a :class:`QDriverError` that names the instrument (its kind
and reason from :func:`qlab_os.lab.errors.classify`), after the station has been put in its safe state. The driver
then refuses instructions until :meth:`TrappedIonQDriver.reset` sets the instruments up again.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from qdrivers.trapped_ion.calibration import IonCalibration, ion_spec, load_ion_calibration
from qdrivers.trapped_ion.pulses import PulseLibrary
from qdrivers.trapped_ion.simlab import LabClockFollower, simulated_lab_spec
from qlab_os.clock import Clock
from qlab_os.errors import ConfigError, QDriverError, UnknownQDriverError, UnsupportedInstructionError
from qlab_os.lab.calibrate.cli import DATA_DIR
from qlab_os.lab.calibrate.node import NODES_DIR, NodeSetup, find_node_file, load_node
from qlab_os.lab.errors import classify
from qlab_os.lab.station import QlabStation, connect_station
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp, PhysicalResponse
from qlab_os.qdevice.spec import QDeviceSpec

__all__ = ["TrappedIonQDriver", "default_calibration_file"]

_ROLES = ("awg", "aom_729", "pmt_counter")
_AXIS_PHASE_RAD = {Axis.X: 0.0, Axis.Y: math.pi / 2}
_NOT_YET = {
    PhysicalOp.MS: "the Molmer-Sorensen gate needs a chain of two or more ions and the bichromatic 729 beam",
    PhysicalOp.CNOT: "two-qubit gates need a chain of two or more ions (the native one is MS)",
    PhysicalOp.CZ: "two-qubit gates need a chain of two or more ions (the native one is MS)",
    PhysicalOp.CROT: "CROT is the NV electron-carbon gate; an ion chain's native two-qubit gate is MS",
    PhysicalOp.ENT: "ion-photon entanglement (the 393 nm excitation into the heralding link) is not built yet",
}


def default_calibration_file(node: str) -> Path:
    """Where ``qlab-os calibrate NODE`` writes by default: ``data/calibration/NODE.yaml``."""
    return DATA_DIR / "calibration" / f"{node}.yaml"


class TrappedIonQDriver(QDriver):
    """One trapped-ion node (see the module docstring). Build it with :meth:`connect` or :meth:`for_device`."""

    name: ClassVar[str] = "trapped_ion"

    def __init__(self, setup: NodeSetup, calibration: IonCalibration, station: QlabStation, clock: Clock,
                 *, ideal: bool = False) -> None:
        """Take over a connected ``station`` (closed on failure here, and by :meth:`close`)."""
        self._setup = setup
        self._calibration = calibration
        self._station = station
        self._clock = clock
        self._frame_rad = 0.0
        self._rf_phase_deg: float | None = None
        self._faulted = False
        try:
            self._instruments = {role: self._instrument(role) for role in _ROLES}
            self._library = PulseLibrary(setup, calibration)
            durations = {"init": self._library.duration_ns(self._library.init),
                         "rot": self._library.longest_rotation_ns,
                         "meas": self._library.duration_ns(self._library.meas)}
            self._spec = ion_spec(calibration, durations, ideal=ideal)
            lab = simulated_lab_spec(station, setup.instrument_name("awg"))
            awg_address = station.station_config.instruments[setup.instrument_name("awg")].address
            self._lab_clock = (LabClockFollower(lab, str(awg_address), clock) if lab is not None else None)
            self._set_up_instruments()
        except BaseException:
            station.close()
            raise

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def device_names(cls) -> tuple[str, ...]:
        """The ion node setup files in ``station_configs/nodes`` (``platform: ion``)."""
        names = []
        for path in sorted(NODES_DIR.glob("*.yaml")):
            try:
                if load_node(path).platform == "ion":
                    names.append(path.stem)
            except ConfigError:  # a broken setup file of another node does not hide the good ones
                continue
        return tuple(names)

    @classmethod
    def for_device(cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> TrappedIonQDriver:
        """The node ``device`` with its default calibration file (``data/calibration/<node>.yaml``).

        ``seed`` is not used: a simulated lab is seeded where it is reset (``qlab-os calibrate --seed``), and
        resetting it here would cut every other station on it. ``ideal`` makes the spec noiseless; the
        instruments stay what they are. ``shared`` is not used yet (links come with ENT).
        """
        known = cls.device_names()
        if device not in known:
            raise UnknownQDriverError(
                f"the trapped_ion driver has no device {device!r}; known devices (ion node setup files in "
                f"{NODES_DIR}): {', '.join(known) or 'none'}"
            )
        return cls.connect(device, clock=clock, ideal=ideal)

    @classmethod
    def connect(cls, node: str | Path, *, clock: Clock, calibration_file: Path | None = None,
                station_file: Path | None = None, ideal: bool = False) -> TrappedIonQDriver:
        """Load the node setup (a name in ``station_configs/nodes`` or a path), check its calibration file
        (before touching any instrument), connect the station and set the instruments up."""
        setup = load_node(find_node_file(str(node)))
        if setup.platform != "ion":
            raise QDriverError(f"{setup.path}: node {setup.node!r} is platform {setup.platform!r}, not 'ion'")
        path = calibration_file if calibration_file is not None else default_calibration_file(setup.node)
        calibration = load_ion_calibration(Path(path), setup.node)
        station = connect_station(station_file or setup.station_file, default=False, node=setup.node)
        return cls(setup, calibration, station, clock, ideal=ideal)

    # ---- the contract ----------------------------------------------------------------------------

    @property
    def spec(self) -> QDeviceSpec:
        return self._spec

    @property
    def station(self) -> QlabStation:
        return self._station

    @property
    def calibration(self) -> IonCalibration:
        return self._calibration

    @property
    def pulse_library(self) -> PulseLibrary:
        return self._library

    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        op = instruction.op
        if op is PhysicalOp.NONE:
            if instruction.duration_ns < 0:
                raise UnsupportedInstructionError(f"'{instruction}': cannot idle for a negative time")
            return PhysicalResponse(duration_ns=instruction.duration_ns)
        self._check_supported(instruction)
        if self._faulted:
            raise QDriverError(
                f"ion node {self._setup.node!r}: the station is in its safe state after a fault; reset() the driver "
                "to set the instruments up again"
            )
        if self._lab_clock is not None:
            self._lab_clock.catch_up()
        outcomes: tuple[int, ...] = ()
        if op is PhysicalOp.INIT:
            nominal_ns = self._init()
        elif op is PhysicalOp.ROT:
            nominal_ns = self._rot(instruction)
        else:
            nominal_ns, outcomes = self._meas()
        duration_ns = self._lab_clock.elapsed_ns() if self._lab_clock is not None else nominal_ns
        return PhysicalResponse(duration_ns=duration_ns, outcomes=outcomes)

    def reset(self) -> None:
        """Set the instruments up again if a fault put them in safe state, then initialise the ion (|0>)."""
        if self._faulted:
            self._set_up_instruments()
        if self._lab_clock is not None:
            self._lab_clock.catch_up()
        self._init()

    def safe_state(self) -> None:
        """The station's safe state (lasers and outputs off, AWG stopped, counter idle). Never raises."""
        with contextlib.suppress(Exception):  # QlabStation.safe_state reports per instrument; this guards it
            self._station.safe_state()

    def close(self) -> None:
        """Safe state, then close every instrument of the station."""
        self._station.close()

    # ---- instructions ----------------------------------------------------------------------------

    def _check_supported(self, instruction: PhysicalInstruction) -> None:
        op = instruction.op
        node = self._setup.node
        if op in _NOT_YET:
            raise UnsupportedInstructionError(
                f"'{instruction}' on ion node {node!r}: not supported: {_NOT_YET[op]}. This node traps one ion "
                f"(qubit 0); its natives are init, rot x/y/z and meas"
            )
        if instruction.qubits != (0,):
            raise UnsupportedInstructionError(
                f"'{instruction}' on ion node {node!r}: the node traps one ion, qubit 0; got qubits "
                f"{instruction.qubits}"
            )
        if op is PhysicalOp.ROT and instruction.axis is None:
            raise UnsupportedInstructionError(f"'{instruction}' on ion node {node!r}: a rotation needs an axis")

    def _init(self) -> int:
        self._play(self._library.init)
        self._frame_rad = 0.0
        return self._library.duration_ns(self._library.init)

    def _rot(self, instruction: PhysicalInstruction) -> int:
        assert instruction.axis is not None
        if instruction.axis is Axis.Z:
            self._frame_rad = (self._frame_rad + instruction.angle_rad) % (2.0 * math.pi)
            return 0
        pulse = self._library.rotation(_AXIS_PHASE_RAD[instruction.axis] - self._frame_rad, instruction.angle_rad)
        if pulse.samples == 0:
            return 0
        self._set_rf_phase(pulse.phase_rad)
        block = self._library.rotations[pulse.samples]
        self._play(block)
        return self._library.duration_ns(block)

    def _meas(self) -> tuple[int, tuple[int, ...]]:
        self._play(self._library.meas)
        with self._talking_to("pmt_counter"):
            counts = int(self._instruments["pmt_counter"].A.last_count())
        if counts < 0:
            self._fail("pmt_counter", "the PMT counter has no completed gate window after the detection block; "
                       "check that the AWG marker gating it is wired as the node setup says")
        self._frame_rad = 0.0
        outcome = 1 if counts < self._calibration.detection_threshold_counts else 0
        return self._library.duration_ns(self._library.meas), (outcome,)

    # ---- instruments -----------------------------------------------------------------------------

    def _set_up_instruments(self) -> None:
        """``prepare`` settings, the AOM on the calibrated line and power, the PMT counter armed, the library
        uploaded. Instrument failures are handled as in :meth:`execute`."""
        self._faulted = False
        self._rf_phase_deg = None
        self._apply_prepare()
        cal = self._calibration
        with self._talking_to("aom_729"):
            source = self._instruments["aom_729"]
            source.power(cal.aom_729_power_dbm)
            source.frequency(cal.aom_729_frequency_hz)
            source.IQ_state(True)
        self._set_rf_phase(0.0)
        with self._talking_to("aom_729"):
            self._instruments["aom_729"].status(True)
        with self._talking_to("pmt_counter"):
            counter = self._instruments["pmt_counter"]
            counter.reset()
            counter.start()
        with self._talking_to("awg"):
            self._library.upload(self._instruments["awg"])
        self._frame_rad = 0.0

    def _apply_prepare(self) -> None:
        for dotted, value in self._setup.prepare.items():
            instrument, *path = str(dotted).split(".")
            target: Any = self._station.components.get(instrument)
            for part in path:
                target = getattr(target, part, None)
            if not path or not callable(target):
                raise ConfigError(str(self._setup.path), f"prepare.{dotted}",
                                  "no such instrument parameter in the station")
            with self._talking_to_station_instrument(instrument):
                target(value)

    def _set_rf_phase(self, phase_rad: float) -> None:
        degrees = round(math.degrees(phase_rad % (2.0 * math.pi)), 2) % 360.0
        if degrees == self._rf_phase_deg:
            return
        with self._talking_to("aom_729"):
            self._instruments["aom_729"].phase(degrees)
        self._rf_phase_deg = degrees

    def _play(self, block: Any) -> None:
        with self._talking_to("awg"):
            self._library.sequence.play(self._instruments["awg"], block)

    def _instrument(self, role: str) -> Any:
        name = self._setup.instrument_name(role)
        if name not in self._station.components:
            raise QDriverError(
                f"{self._setup.path}: instruments.{role} names {name!r}, which the station "
                f"{self._setup.station_file} does not have"
            )
        return self._station.components[name]

    @contextmanager
    def _talking_to(self, role: str) -> Iterator[None]:
        with self._talking_to_station_instrument(self._setup.instrument_name(role)):
            yield

    @contextmanager
    def _talking_to_station_instrument(self, name: str) -> Iterator[None]:
        """Any failure inside becomes a QDriverError naming instrument ``name``, after the safe state."""
        try:
            yield
        except QDriverError:
            raise
        except Exception as exc:
            cfg = self._station.station_config.instruments.get(name)
            error = classify(name, cfg.address if cfg is not None else None, exc)
            self._fail(name, str(error), exc)

    def _fail(self, instrument: str, reason: str, cause: BaseException | None = None) -> None:
        self._faulted = True
        report = self._station.safe_state()
        if report.failed:
            safe = f"station put in safe state except {', '.join(sorted(report.failed))} (unreachable)"
        else:
            safe = "station put in safe state"
        message = reason if instrument in reason else f"instrument {instrument!r}: {reason}"
        raise QDriverError(f"ion node {self._setup.node!r}: {message}; {safe}") from cause
