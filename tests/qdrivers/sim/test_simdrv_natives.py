"""The sim QDriver: devices load, every native does what instructions.py says, unsupported ones are refused,
the registry finds the devices."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import qutip
import yaml

from qdrivers.sim.driver import SimQDriver
from qlab_os.clock import VirtualClock
from qlab_os.errors import UnknownQDriverError, UnsupportedInstructionError
from qlab_os.qdevice.instructions import (
    Axis,
    EntMode,
    EntParams,
    PhysicalInstruction,
    PhysicalOp,
    PhysicalResponse,
)
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qdevice.spec import NativeGateSpec
from sim_instruments.physics import gates

DEVICES = ("sim-generic", "sim-nv", "sim-ion")
ANGLE = 0.7
TOL = 1e-10
SPEC_DIR = Path(__file__).resolve().parents[3] / "qdrivers" / "sim" / "specs"


def _driver(device: str, *, ideal: bool = True, seed: int = 1) -> SimQDriver:
    return SimQDriver.for_device(device, clock=VirtualClock(), seed=seed, ideal=ideal)


def _random_state(driver: SimQDriver, seed: int) -> np.ndarray:
    """Put the whole device in a random (entangled, mixed) state and return it."""
    n = driver.spec.num_qubits
    rho = np.asarray(qutip.rand_dm([2] * n, seed=seed).full())
    driver.world.set_state(driver.qubit_ids, rho)
    return rho


def _expected_unitary(rho: np.ndarray, u: np.ndarray, n: int, targets: tuple[int, ...]) -> np.ndarray:
    big = qutip.expand_operator(qutip.Qobj(u, dims=[[2] * len(targets)] * 2), dims=[2] * n, targets=list(targets))
    r = qutip.Qobj(rho, dims=[[2] * n] * 2)
    return np.asarray((big * r * big.dag()).full())


def _reference_gate(op: PhysicalOp, axis: Axis | None, angle: float, k: int) -> np.ndarray:
    """The unitary instructions.py fixes for each op, from gates.py."""
    name = axis.value if axis is not None else "x"
    if op is PhysicalOp.CROT:
        return gates.crot(name, angle)  # type: ignore[arg-type]
    if op is PhysicalOp.CNOT:
        return gates.CNOT
    if op is PhysicalOp.CZ:
        return gates.CZ
    if op is PhysicalOp.MS:
        return gates.ms(k, angle)
    raise AssertionError(op)


def _placements(g: NativeGateSpec, n: int) -> list[tuple[int, ...]]:
    if g.global_:
        return [tuple(range(n))]
    if g.pairs:
        return sorted(g.pairs)
    return [(q,) for q in sorted(g.qubits)]


def _cases() -> list[tuple[str, int, Axis | None, tuple[int, ...]]]:
    cases = []
    for device in DEVICES:
        spec = SimQDriver.load_device_spec(device)
        for index, g in enumerate(spec.natives):
            for axis in sorted(g.axes, key=lambda a: a.value) or [None]:
                for qubits in _placements(g, spec.num_qubits):
                    cases.append((device, index, axis, qubits))
    return cases


# ---- devices and registry ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_every_device_loads_with_a_communication_qubit(device: str) -> None:
    driver = _driver(device, ideal=False)
    assert driver.spec.name == device
    # NV and ion nodes have one communication qubit; the generic device lets every qubit hold a pair
    expected = tuple(range(driver.spec.num_qubits)) if device == "sim-generic" else (0,)
    assert driver.spec.communication_qubits == expected
    assert len(driver.qubit_ids) == driver.spec.num_qubits
    assert driver.spec.supports(PhysicalOp.MEAS, (0,))
    ideal = _driver(device, ideal=True).spec
    assert all(g.depolarising_prob == 0 for g in ideal.natives)
    assert all(math.isinf(q.t2_ns) for q in ideal.qubits)
    assert ideal.readout_p_flip_0 == 0.0


def test_device_names_are_exactly_the_shipped_specs() -> None:
    assert SimQDriver.device_names() == DEVICES
    assert sorted(p.stem for p in SPEC_DIR.glob("*.yaml")) == sorted(DEVICES)
    for path in SPEC_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert data["references"], path.name
        # PyYAML reads 1e-3 and 1.0e3 as strings: every number must have come out as a number
        assert not [s for s in _strings(data) if _looks_numeric(s)], path.name


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_device_facts_from_the_brief() -> None:
    nv = SimQDriver.load_device_spec("sim-nv")
    assert nv.num_qubits == 5
    assert nv.supports(PhysicalOp.MEAS, (0,)) and not nv.supports(PhysicalOp.MEAS, (1,))
    assert nv.supports(PhysicalOp.CROT, (0, 3), Axis.Y) and not nv.supports(PhysicalOp.CROT, (3, 0), Axis.Y)
    assert nv.native(PhysicalOp.INIT, (1,)).duration_ns > nv.native(PhysicalOp.INIT, (0,)).duration_ns
    assert nv.readout_p_flip_0 == 0.05 and nv.readout_p_flip_1 == 0.005
    ion = SimQDriver.load_device_spec("sim-ion")
    assert ion.num_qubits == 3
    assert ion.supports(PhysicalOp.ROT, (2,), Axis.Z) and not ion.supports(PhysicalOp.ROT, (2,), Axis.X)
    assert ion.native(PhysicalOp.ROT, (0, 1, 2), Axis.X).global_
    assert all(ion.supports(PhysicalOp.MS, p) for p in ((0, 1), (2, 0), (1, 2)))
    assert ion.native(PhysicalOp.INIT, (0, 1, 2)).global_
    assert ion.qubits[0].t1_ns == pytest.approx(1.168e9)


@pytest.mark.parametrize("device", DEVICES)
def test_registry_finds_the_sim_devices(device: str) -> None:
    driver = create_qdriver(device, clock=VirtualClock(), seed=3)
    assert isinstance(driver, SimQDriver)
    assert driver.spec.name == device


def test_unknown_device_lists_the_known_ones() -> None:
    with pytest.raises(UnknownQDriverError) as info:
        create_qdriver("sim-warp-core", clock=VirtualClock())
    for device in DEVICES:
        assert device in str(info.value)
    with pytest.raises(UnknownQDriverError, match="sim-generic, sim-nv, sim-ion"):
        SimQDriver.for_device("nope", clock=VirtualClock())


# ---- every native --------------------------------------------------------------------------------


@pytest.mark.parametrize(("device", "index", "axis", "qubits"), _cases(), ids=lambda v: getattr(v, "value", str(v)))
def test_every_native_has_the_contract_effect(
    device: str, index: int, axis: Axis | None, qubits: tuple[int, ...]
) -> None:
    driver = _driver(device)
    g = driver.spec.natives[index]
    n = driver.spec.num_qubits
    rho = _random_state(driver, seed=index + 10 * len(qubits))
    instr = PhysicalInstruction(g.op, qubits, axis, ANGLE, ent=EntParams("l") if g.op is PhysicalOp.ENT else None)
    if g.op is PhysicalOp.ENT:
        with pytest.raises(UnsupportedInstructionError, match="no entanglement link is attached"):
            driver.execute(instr)
        return
    response = driver.execute(instr)
    assert response.duration_ns == g.duration_ns
    after = driver.qubit_state(tuple(range(n)))
    assert after is not None
    if g.op is PhysicalOp.ROT:
        u = gates.r(axis.value, ANGLE)  # type: ignore[union-attr, arg-type]
        expected = rho
        for q in qubits:  # the same rotation on each addressed qubit
            expected = _expected_unitary(expected, u, n, (q,))
        assert np.allclose(after, expected, atol=TOL)
    elif g.op is PhysicalOp.INIT:
        rest = [q for q in range(n) if q not in qubits]
        for q in qubits:
            assert np.allclose(driver.qubit_state((q,)), np.diag([1, 0]), atol=TOL)
        if rest:
            expected_rest = qutip.Qobj(rho, dims=[[2] * n] * 2).ptrace(rest).full()
            assert np.allclose(driver.qubit_state(tuple(rest)), expected_rest, atol=TOL)
    elif g.op is PhysicalOp.MEAS:
        assert len(response.outcomes) == len(qubits)
        for q, m in zip(qubits, response.outcomes, strict=True):
            assert np.allclose(driver.qubit_state((q,)), np.diag([1 - m, m]), atol=TOL)
    else:
        u = _reference_gate(g.op, axis, ANGLE, len(qubits))
        assert np.allclose(after, _expected_unitary(rho, u, n, qubits), atol=TOL)


def test_every_op_has_a_handler() -> None:
    handled = set(SimQDriver._HANDLERS) | {PhysicalOp.NONE}
    assert handled == set(PhysicalOp)


def test_meas_reads_prepared_basis_states() -> None:
    driver = _driver("sim-generic")
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (2,), Axis.X, math.pi))
    response = driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (2,)))
    assert response.outcomes == (1,)
    assert driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (1,))).outcomes == (0,)


def test_global_meas_and_init_on_the_ion_crystal() -> None:
    driver = _driver("sim-ion")
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (0, 1, 2), Axis.X, math.pi))
    outcomes = [driver.execute(PhysicalInstruction(PhysicalOp.MEAS, (q,))).outcomes[0] for q in range(3)]
    assert outcomes == [1, 1, 1]
    driver.execute(PhysicalInstruction(PhysicalOp.INIT, (0, 1, 2)))
    assert np.allclose(driver.qubit_state((0, 1, 2)), np.diag([1] + [0] * 7), atol=TOL)


def test_none_only_reports_its_duration() -> None:
    driver = _driver("sim-nv", ideal=False)
    rho = _random_state(driver, seed=4)
    response = driver.execute(PhysicalInstruction(PhysicalOp.NONE, duration_ns=12_345))
    assert response == PhysicalResponse(duration_ns=12_345)
    assert np.allclose(driver.qubit_state(tuple(range(5))), rho, atol=TOL)  # the clock did not move
    with pytest.raises(UnsupportedInstructionError, match="negative"):
        driver.execute(PhysicalInstruction(PhysicalOp.NONE, duration_ns=-1))


# ---- unsupported ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "instr"),
    [
        ("sim-nv", PhysicalInstruction(PhysicalOp.MEAS, (1,))),  # carbons are read via the electron
        ("sim-nv", PhysicalInstruction(PhysicalOp.CROT, (1, 0), Axis.X, 1.0)),  # the electron controls
        ("sim-nv", PhysicalInstruction(PhysicalOp.CNOT, (0, 1))),
        ("sim-nv", PhysicalInstruction(PhysicalOp.ROT, (0, 1), Axis.X, 1.0)),
        ("sim-nv", PhysicalInstruction(PhysicalOp.ENT, (1,), ent=EntParams("l"))),
        ("sim-ion", PhysicalInstruction(PhysicalOp.ROT, (1,), Axis.X, 1.0)),  # x/y only as a global beam
        ("sim-ion", PhysicalInstruction(PhysicalOp.CNOT, (0, 1))),
        ("sim-ion", PhysicalInstruction(PhysicalOp.MS, (0, 1, 2, 3), angle_rad=1.0)),
        ("sim-generic", PhysicalInstruction(PhysicalOp.MS, (0, 1), angle_rad=1.0)),
        ("sim-generic", PhysicalInstruction(PhysicalOp.CROT, (0, 1), Axis.X, 1.0)),
        ("sim-generic", PhysicalInstruction(PhysicalOp.ROT, (0,))),  # no axis
        ("sim-generic", PhysicalInstruction(PhysicalOp.ROT, (5,), Axis.X, 1.0)),  # no such qubit
        ("sim-generic", PhysicalInstruction(PhysicalOp.CZ, (1, 1))),
    ],
    ids=str,
)
def test_unsupported_instructions_name_instruction_and_device(device: str, instr: PhysicalInstruction) -> None:
    driver = _driver(device)
    with pytest.raises(UnsupportedInstructionError) as info:
        driver.execute(instr)
    assert str(instr) in str(info.value)
    assert device in str(info.value)


# ---- ENT and links -------------------------------------------------------------------------------


class _FakeLink:
    def __init__(self) -> None:
        self.calls: list[tuple[int, EntParams, int]] = []

    def attempt(self, qubit_id: int, params: EntParams, start_ns: int) -> PhysicalResponse:
        self.calls.append((qubit_id, params, start_ns))
        return PhysicalResponse(duration_ns=777, heralded=True, bell_index=0)


def test_ent_goes_to_the_attached_link() -> None:
    clock = VirtualClock(1000)
    driver = SimQDriver.for_device("sim-nv", clock=clock, seed=2)
    params = EntParams("alice-bob", EntMode.KEEP)
    instr = PhysicalInstruction(PhysicalOp.ENT, (0,), ent=params)
    with pytest.raises(UnsupportedInstructionError, match="no entanglement link is attached"):
        driver.execute(instr)
    link = _FakeLink()
    driver.attach_link("alice-bob", link)
    response = driver.execute(instr)
    assert response.heralded and response.duration_ns == 777
    assert link.calls == [(driver.qubit_ids[0], params, 1000)]
    with pytest.raises(UnsupportedInstructionError, match="alice-bob"):
        driver.execute(PhysicalInstruction(PhysicalOp.ENT, (0,), ent=EntParams("other")))
    driver.detach_link("alice-bob")
    with pytest.raises(UnsupportedInstructionError):
        driver.execute(instr)


# ---- lifecycle -----------------------------------------------------------------------------------


def test_reset_and_safe_state() -> None:
    clock = VirtualClock()
    driver = SimQDriver.for_device("sim-ion", clock=clock, seed=5)
    driver.execute(PhysicalInstruction(PhysicalOp.ROT, (0, 1, 2), Axis.Y, 1.2))
    driver.execute(PhysicalInstruction(PhysicalOp.MS, (0, 2), angle_rad=math.pi / 2))
    clock.advance_ns(10**6)
    driver.reset()
    assert np.allclose(driver.qubit_state((0, 1, 2)), np.diag([1] + [0] * 7), atol=TOL)
    assert all(len(driver.world.block_of(q)) == 1 for q in driver.qubit_ids)
    driver.safe_state()
    assert clock.now_ns() == 10**6


def test_drivers_can_share_one_world() -> None:
    from sim_instruments.physics.rng import make_rng
    from sim_instruments.physics.world import QuantumWorld

    world = QuantumWorld(make_rng(1))
    clock = VirtualClock()
    alice = SimQDriver(SimQDriver.load_device_spec("sim-nv"), clock, world=world)
    bob = SimQDriver(SimQDriver.load_device_spec("sim-ion"), clock, world=world)
    assert set(alice.qubit_ids).isdisjoint(bob.qubit_ids)
    assert len(world.qubit_ids) == 8
    bell = np.array([1, 0, 0, 1]) / math.sqrt(2)
    world.set_state([alice.qubit_ids[0], bob.qubit_ids[0]], bell)
    m = alice.execute(PhysicalInstruction(PhysicalOp.MEAS, (0,))).outcomes[0]
    assert bob.qubit_state((0,))[m, m].real == pytest.approx(1.0)
    with pytest.raises(ValueError, match="seed"):
        SimQDriver(alice.spec, clock, world=world, seed=3)
    with pytest.raises(ValueError, match=r"qubits 0\.\.4"):
        alice.qubit_state((5,))
