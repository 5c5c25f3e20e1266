"""The ``trapped_ion`` QDriver: physical instructions become actions of a 40Ca+ node's QCoDeS station.

Built from three files: the node setup (``station_configs/nodes/<node>.yaml``: station, instrument roles, AWG
wiring, timings), its QCoDeS station, and the node's calibration file (``qlab-os calibrate <node> all``). At
connection the driver checks the calibration, connects the station, applies the node's ``prepare`` settings (lasers
on, AOM drive), tunes the 729 AOM source to the calibrated line at the calibrated power, arms the PMT counter and
uploads its pulse library (:mod:`qdrivers.trapped_ion.pulses`) to the AWG, once. Then:

The node traps a chain of two ions, qubits 0 (the communication ion) and 1:

- ``INIT`` of one ion: the ``init`` block, which acts on the whole chain (854 repump, Doppler cooling, optical
  pumping are global light). So that the other ion keeps its state, INIT is refused while the other ion holds a
  quantum state (touched by an x/y rotation or MS since its last INIT or MEAS); an ion in a known Z eigenstate
  (initialised, or measured as ``c``) is put back with an addressed pi pulse when ``c = 1``;
- ``ROT`` x/y on ion ``k``: a 729 pulse of the library on ion ``k`` (AOD marker), its length the angle's share of
  ion ``k``'s calibrated pi time, the axis (and ion ``k``'s software frame) set as the AOM source's RF phase, which
  is the phase of the 729 light. The beam's wing on the neighbour (crosstalk) is not compensated;
- ``ROT`` z: a per-ion software frame update (standard for trapped ions and superconducting qubits: ``R_z(a)``
  commutes with measurement in Z, so it is carried into the phase of every later x/y pulse on that ion,
  ``phi -> phi - a``); no light, no time;
- ``MS(theta)`` on (0, 1): the ``ms`` block (one closed loop of the bichromatic beam) with the angle set by the
  bichromatic RF power (``Phi ~ Omega^2 ~ P``: ``P = P_cal + 10 log10(theta / (pi/2))`` dB, at the SGS100A's
  0.01 dB steps; a negative angle is played as ``theta + 2 pi``, equal up to a global phase, as the sideband
  source cannot go below the mode to flip the sign of ``delta``), and the spin phase by the ``aom_729_ms`` RF
  phase. A global beam drives both ions with one phase, but the logical gate in the software
  frames ``f_0, f_1`` is ``exp(-i theta/2 s_(-f0) s_(-f1))``; when the frames differ the driver first makes the
  difference physical: ``R_z(f_1 - f_0)`` on ion 1 as two addressed pi pulses at phases ``0`` and
  ``(f_1 - f_0)/2 + pi`` (their product is ``R_z`` up to a global phase; the ``+ pi`` makes the crosstalk on ion 0
  cancel when the difference is small), then sets ``f_1 = f_0`` and plays the gate at spin phase ``-f_0``. Exact
  up to the pulses' own errors;
- ``MEAS`` of one or both ions: the ``meas`` block images both ions in one window (SR400 counters A and B). The
  outcomes of the requested ions are returned (counts below the calibrated threshold are dark, D5/2, outcome 1);
  the other ion, projected by the same light, keeps its outcome: a later ``MEAS`` of it, with nothing done to it
  in between, returns that outcome without a new window. No repump: each ion stays in its projected state;
- ``NONE``: nothing is played; the time passes (on the simulated lab, the node's clock follows the kernel's);
- ``ENT`` on ion 0 over a connected link: ion-photon entanglement through a heralding station, single click, with
  the link controller both ends share (:mod:`qdrivers.heralding.link_controller`, :mod:`qdrivers.heralding.attempts`,
  :mod:`qdrivers.trapped_ion.entangle`): the AWG runs the attempt loop itself (optical pumping of the chain, the
  alpha pulse on ion 0, the excitation) until the herald, which the station wires to the AWG's event input. The
  init before the loop and every repetition light the whole chain, so ENT is refused while another ion holds a
  quantum state, and leaves the other ions in ``|0>`` (their held outcomes stay readable). The response's
  duration is the lab time the whole took; ``bell_index`` as the NV driver's;
- anything else (CNOT, CZ, CROT, other qubits): :class:`UnsupportedInstructionError` (the translator lowers
  CNOT and CZ onto MS).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from qdrivers.heralding.link_controller import JoinedLinks
from qdrivers.trapped_ion.calibration import IonCalibration, ion_spec, load_ion_calibration
from qdrivers.trapped_ion.entangle import IonLinkEnd
from qdrivers.trapped_ion.pulses import PulseLibrary
from qdrivers.trapped_ion.simlab import LabClockFollower, simulated_lab_spec
from qlab_os.clock import Clock
from qlab_os.errors import (
    ConfigError,
    QDriverError,
    QlabOSError,
    UnknownQDriverError,
    UnsupportedInstructionError,
)
from qlab_os.lab.calibrate.cli import DATA_DIR
from qlab_os.lab.calibrate.node import NODES_DIR, NodeSetup, find_node_file, load_node, node_platforms
from qlab_os.lab.errors import classify
from qlab_os.lab.station import QlabStation, connect_station
from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.instructions import Axis, PhysicalInstruction, PhysicalOp, PhysicalResponse
from qlab_os.qdevice.spec import QDeviceSpec

__all__ = ["TrappedIonQDriver", "default_calibration_file"]

_ROLES = ("awg", "aom_729", "aom_729_ms", "ms_sideband", "pmt_counter")
_CHANNELS = ("A", "B")
"""SR400 counter of each ion's PMT."""
_POWER_STEP_DB = 0.01
_AXIS_PHASE_RAD = {Axis.X: 0.0, Axis.Y: math.pi / 2}
_NOT_YET = {
    PhysicalOp.CNOT: "the chain's native two-qubit gate is MS (the translator lowers CNOT onto it)",
    PhysicalOp.CZ: "the chain's native two-qubit gate is MS (the translator lowers CZ onto it)",
    PhysicalOp.CROT: "CROT is the NV electron-carbon gate; an ion chain's native two-qubit gate is MS",
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
        n = calibration.n_ions
        self._frames_rad = [0.0] * n
        self._basis: list[int | None] = [0] * n
        """Per ion: the Z eigenstate it is known to be in (0 or 1), or None while it holds a quantum state."""
        self._held: list[int | None] = [None] * n
        """Per ion: an outcome read in an earlier window that no MEAS of that ion has returned yet."""
        self._rf_phase_deg: float | None = None
        self._source_settings: dict[tuple[str, str], float] = {}
        self._faulted = False
        self._links: JoinedLinks[IonLinkEnd] = JoinedLinks()
        try:
            self._instruments = {role: self._instrument(role) for role in _ROLES}
            self._library = PulseLibrary(setup, calibration)
            durations = {"init": self._library.duration_ns(self._library.init),
                         "rot": self._library.longest_rotation_ns,
                         "meas": self._library.duration_ns(self._library.meas),
                         "ms": self._library.duration_ns(self._library.ms)}
            if self._library.attempts:
                durations["ent"] = min(self._library.attempt_duration_ns(s) for s in self._library.attempts)
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
        return tuple(node for node, platform in node_platforms().items() if platform == "ion")

    @classmethod
    def for_device(cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> TrappedIonQDriver:
        """The node ``device`` with its default calibration file (``data/calibration/<node>.yaml``).

        ``seed`` is not used: a simulated lab is seeded where it is reset (``qlab-os calibrate --seed``), and
        resetting it here would cut every other station on it. ``ideal`` makes the spec noiseless; the
        instruments stay what they are. ``shared`` is the run's dict where links keep their controller
        (:meth:`connect_link`).
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

    @property
    def node(self) -> str:
        return self._setup.node

    def connect_link(self, name: str, spec: LinkSpec, shared: dict[str, object]) -> None:
        """Join link ``name``'s controller (one per run, in ``shared``); the node setup must name a heralding
        station of the link under ``entanglement``."""
        if not self._library.attempts:
            raise UnsupportedInstructionError(f"ion node {self._setup.node!r}: link {name}: the node setup "
                                              f"{self._setup.path} names no heralding station under entanglement")
        self._links.join(shared, name, spec, IonLinkEnd(self, name))

    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        op = instruction.op
        if op is PhysicalOp.NONE:
            if instruction.duration_ns < 0:
                raise UnsupportedInstructionError(f"'{instruction}': cannot idle for a negative time")
            return PhysicalResponse(duration_ns=instruction.duration_ns)
        self._check_supported(instruction)
        self._refuse_if_faulted(f"ion node {self._setup.node!r}")
        if op is PhysicalOp.ENT:  # keeps the lab time itself: the other end's call may have run the attempts
            return self._ent(instruction)
        if self._lab_clock is not None:
            self._lab_clock.catch_up()
        outcomes: tuple[int, ...] = ()
        if op is PhysicalOp.INIT:
            nominal_ns = self._init(instruction.qubits)
        elif op is PhysicalOp.ROT:
            nominal_ns = self._rot(instruction)
        elif op is PhysicalOp.MS:
            nominal_ns = self._ms(instruction.angle_rad)
        else:
            nominal_ns, outcomes = self._meas(instruction.qubits)
        duration_ns = self._lab_clock.elapsed_ns() if self._lab_clock is not None else nominal_ns
        return PhysicalResponse(duration_ns=duration_ns, outcomes=outcomes)

    def reset(self) -> None:
        """Set the instruments up again if a fault put them in safe state, then initialise the ion (|0>)."""
        if self._faulted:
            self._set_up_instruments()
        if self._lab_clock is not None:
            self._lab_clock.catch_up()
        n = self._calibration.n_ions
        self._basis = [0] * n
        self._held = [None] * n
        self._init(tuple(range(n)))

    def safe_state(self) -> None:
        """The station's safe state (lasers and outputs off, AWG stopped, counter idle). Never raises. The driver
        then refuses instructions until :meth:`reset` sets the instruments up again."""
        self._faulted = True
        with contextlib.suppress(Exception):  # QlabStation.safe_state reports per instrument; this guards it
            self._station.safe_state()

    def close(self) -> None:
        """Safe state, then close every instrument of the station (and the links' heralding stations)."""
        self._links.close()
        self._station.close()

    # ---- instructions ----------------------------------------------------------------------------

    def _check_supported(self, instruction: PhysicalInstruction) -> None:
        op = instruction.op
        node = self._setup.node
        n = self._calibration.n_ions
        if op in _NOT_YET:
            raise UnsupportedInstructionError(
                f"'{instruction}' on ion node {node!r}: not supported: {_NOT_YET[op]}. This node traps {n} ions "
                f"(qubits 0 .. {n - 1}); its natives are init, rot x/y/z, ms and meas"
            )
        qubits = instruction.qubits
        if not qubits or len(set(qubits)) != len(qubits) or any(not 0 <= q < n for q in qubits):
            raise UnsupportedInstructionError(
                f"'{instruction}' on ion node {node!r}: the node traps {n} ions, qubits 0 .. {n - 1}; got qubits "
                f"{qubits}"
            )
        if op is PhysicalOp.MS and sorted(qubits) != list(range(n)):
            raise UnsupportedInstructionError(f"'{instruction}' on ion node {node!r}: MS acts on both ions, (0, 1)")
        if op in (PhysicalOp.ROT, PhysicalOp.INIT) and len(qubits) != 1:
            raise UnsupportedInstructionError(f"'{instruction}' on ion node {node!r}: {op.value} takes one ion")
        if op is PhysicalOp.ROT and instruction.axis is None:
            raise UnsupportedInstructionError(f"'{instruction}' on ion node {node!r}: a rotation needs an axis")
        if op is PhysicalOp.ENT and not self._spec.supports(op, qubits):
            why = ("ENT acts on ion 0, the communication ion" if self._library.attempts
                   else f"ENT needs a heralding station under entanglement in {self._setup.path}")
            raise UnsupportedInstructionError(f"'{instruction}' on ion node {node!r}: {why}")
        if op is PhysicalOp.INIT:
            (k,) = qubits
            self._refuse_while_others_hold_states(
                k, f"'{instruction}' on ion node {node!r}",
                "initialisation (854 repump, cooling, optical pumping) lights")

    def _refuse_if_faulted(self, where: str) -> None:
        if self._faulted:
            raise QDriverError(f"{where}: the station is in its safe state after a fault; reset() the driver to set "
                               "the instruments up again")

    def _refuse_while_others_hold_states(self, keep: int, where: str, light: str) -> None:
        """UnsupportedInstructionError while an ion other than ``keep`` holds a quantum state (touched by an x/y
        rotation or MS since its last INIT or MEAS): ``light`` (global) would destroy it."""
        busy = [j for j in range(self._calibration.n_ions) if j != keep and self._basis[j] is None]
        if busy:
            raise UnsupportedInstructionError(
                f"{where}: {light} the whole chain and would destroy the quantum state of ion(s) {busy}; measure or "
                "initialise them first"
            )

    def _init(self, qubits: tuple[int, ...]) -> int:
        self._play(self._library.init)
        total = self._library.duration_ns(self._library.init)
        for j in range(self._calibration.n_ions):
            if j in qubits:
                self._basis[j], self._held[j] = 0, None
            elif self._basis[j] == 1:  # the global init emptied D5/2: put the ion back in |1>
                total += self._play_rotation(j, 0.0, math.pi)
            self._frames_rad[j] = 0.0
        return total

    def _rot(self, instruction: PhysicalInstruction) -> int:
        assert instruction.axis is not None
        (k,) = instruction.qubits
        if instruction.axis is Axis.Z:
            self._frames_rad[k] = (self._frames_rad[k] + instruction.angle_rad) % (2.0 * math.pi)
            return 0
        self._basis[k], self._held[k] = None, None
        return self._play_rotation(k, _AXIS_PHASE_RAD[instruction.axis] - self._frames_rad[k], instruction.angle_rad)

    def _play_rotation(self, ion: int, phase_rad: float, angle_rad: float) -> int:
        pulse = self._library.rotation(phase_rad, angle_rad)
        if pulse.samples == 0:
            return 0
        self._set_rf_phase(pulse.phase_rad)
        block = self._library.rotations_of[ion][pulse.samples]
        self._play(block)
        return self._library.duration_ns(block)

    def _ms(self, angle_rad: float) -> int:
        theta = angle_rad % (2.0 * math.pi)  # MS(theta - 2 pi) = -MS(theta): a global phase
        if theta < 1e-12 or 2.0 * math.pi - theta < 1e-12:
            return 0
        total = 0
        f0, f1 = self._frames_rad
        difference = math.remainder(f1 - f0, 2.0 * math.pi)
        if abs(difference) > 1e-9:  # make the frames' difference physical: R_z(f1 - f0) on ion 1
            total += self._play_rotation(1, 0.0, math.pi)
            total += self._play_rotation(1, difference / 2.0 + math.pi, math.pi)
            self._frames_rad[1] = f0
        cal = self._calibration
        power = cal.aom_729_ms_power_dbm + 10.0 * math.log10(theta / (math.pi / 2.0))
        self._set_source("aom_729_ms", "power", round(power / _POWER_STEP_DB) * _POWER_STEP_DB)
        degrees = round(math.degrees((-f0) % (2.0 * math.pi)), 2) % 360.0
        self._set_source("aom_729_ms", "phase", degrees)
        self._play(self._library.ms)
        for j in range(cal.n_ions):
            self._basis[j], self._held[j] = None, None
        return total + self._library.duration_ns(self._library.ms)

    def _meas(self, qubits: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        if all(self._held[k] is not None for k in qubits):
            outcomes = tuple(int(self._held[k] or 0) for k in qubits)
            for k in qubits:
                self._held[k] = None
            return 0, outcomes
        self._play(self._library.meas)
        read = []
        with self._talking_to("pmt_counter"):
            counter = self._instruments["pmt_counter"]
            for channel in _CHANNELS[: self._calibration.n_ions]:
                read.append(int(getattr(counter, channel).last_count()))
        if min(read) < 0:
            self._fail("pmt_counter", "the PMT counter has no completed gate window after the detection block; "
                       "check that the AWG marker gating it is wired as the node setup says")
        threshold = self._calibration.detection_threshold_counts
        window = [1 if counts < threshold else 0 for counts in read]
        for j, outcome in enumerate(window):
            self._basis[j] = outcome
            self._held[j] = None if j in qubits else outcome
            self._frames_rad[j] = 0.0
        return self._library.duration_ns(self._library.meas), tuple(window[k] for k in qubits)

    def _ent(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        result = self._links.ent(instruction, f"ion node {self._setup.node!r}")
        # every repetition pumped the chain: ion 0 holds its half (or the no-herald state), the others are |0>
        for j in range(self._calibration.n_ions):
            self._basis[j] = None if j == 0 else 0
            self._frames_rad[j] = 0.0
        self._held[0] = None
        return PhysicalResponse(duration_ns=result.duration_ns, heralded=result.heralded,
                                bell_index=result.bell_index)

    # ---- what the link end (qdrivers.trapped_ion.entangle) uses ----------------------------------

    @property
    def lab_clock(self) -> LabClockFollower | None:
        return self._lab_clock

    def check_ready_for_attempts(self, what: str) -> None:
        """Refuse attempts while the station is in its safe state after a fault (QDriverError), or while an ion other
        than ion 0 holds a quantum state (UnsupportedInstructionError: the init and every attempt light the whole
        chain)."""
        where = f"ion node {self._setup.node!r}: {what}"
        self._refuse_if_faulted(where)
        self._refuse_while_others_hold_states(
            0, where, "the init before the attempts and the optical pumping of every attempt light")

    def run_step(self, what: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` (a step of ENT) with this driver's fault handling. An instrument failure already is a
        QDriverError naming the instrument, the station in its safe state (:meth:`_fail`): it gains ``what``. Any
        other exception puts the station in its safe state (the driver then refuses instructions until
        :meth:`reset`) and becomes a QDriverError naming the node and ``what``, chained to the cause; a qlab-os error
        (a refusal) and an interrupt are re-raised as they are, after the safe state."""
        try:
            return action()
        except QDriverError as exc:
            raise QDriverError(f"{exc} ({what})") from exc
        except QlabOSError:
            self.safe_state()
            raise
        except Exception as exc:
            self._faulted = True
            raise QDriverError(f"ion node {self._setup.node!r}: {what} failed outside any instrument call: "
                               f"{type(exc).__name__}: {exc}; {self._safe_state_report()}") from exc
        except BaseException:
            self.safe_state()
            raise

    def idle_lab(self, duration_ns: int) -> None:
        """The node waits ``duration_ns`` (for the other end of a link): on the simulated lab its clock advances; the
        ions see the time when next touched."""
        if self._lab_clock is not None:
            self._lab_clock.idle(duration_ns)

    def initialise_for_entanglement(self) -> int:
        """The init block (854 repump, cooling, pumping: the whole chain, every ion to |0>; an ion known to be in
        |1> is not put back, since the attempts' pumping would not keep it there either), frames reset, the 729 RF
        phase of the x axis for the alpha pulse; its nominal ns. Held outcomes stay readable."""
        self._play(self._library.init)
        for j in range(self._calibration.n_ions):
            self._basis[j], self._frames_rad[j] = 0, 0.0
        self._held[0] = None
        self._set_rf_phase(0.0)
        return self._library.duration_ns(self._library.init)

    def pi_pulse_on_communication_ion(self, axis: Axis) -> int:
        """A pi pulse about ``axis`` (x or y) on ion 0 in its software frame; its ns."""
        return self._play_rotation(0, _AXIS_PHASE_RAD[axis] - self._frames_rad[0], math.pi)

    def play(self, block: Any) -> None:
        self._play(block)

    @contextmanager
    def talking_to(self, role: str) -> Iterator[Any]:
        """The instrument of ``role``; a failure talking to it becomes a QDriverError naming it (safe state)."""
        with self._talking_to(role):
            yield self._instruments[role]

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
        self._source_settings = {}
        self._set_source("aom_729_ms", "frequency", cal.aom_729_ms_frequency_hz)
        self._set_source("aom_729_ms", "power", cal.aom_729_ms_power_dbm)
        self._set_source("ms_sideband", "frequency", cal.ms_mode_frequency_hz + cal.ms_detuning_hz)
        with self._talking_to("aom_729_ms"):
            self._instruments["aom_729_ms"].IQ_state(True)
            self._instruments["aom_729_ms"].status(True)
        with self._talking_to("ms_sideband"):
            self._instruments["ms_sideband"].status(True)
        with self._talking_to("pmt_counter"):
            counter = self._instruments["pmt_counter"]
            counter.reset()
            counter.start()
        with self._talking_to("awg"):
            self._library.upload(self._instruments["awg"])
        for end in self._links.ends():
            end.forget_loop_settings()
        self._frames_rad = [0.0] * self._calibration.n_ions

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

    def _set_source(self, role: str, parameter: str, value: float) -> None:
        """Set ``parameter`` of the source of ``role`` unless it holds ``value`` already (as this driver set it)."""
        if self._source_settings.get((role, parameter)) == value:
            return
        with self._talking_to(role):
            getattr(self._instruments[role], parameter)(value)
        self._source_settings[(role, parameter)] = value

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
        message = reason if instrument in reason else f"instrument {instrument!r}: {reason}"
        raise QDriverError(f"ion node {self._setup.node!r}: {message}; {self._safe_state_report()}") from cause

    def _safe_state_report(self) -> str:
        """Put the station in its safe state; say which instruments it could not reach."""
        report = self._station.safe_state()
        if report.failed:
            return f"station put in safe state except {', '.join(sorted(report.failed))} (unreachable)"
        return "station put in safe state"
