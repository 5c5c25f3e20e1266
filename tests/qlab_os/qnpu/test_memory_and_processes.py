"""Quantum memory manager and process isolation."""

import pytest

from qlab_os.errors import DeviceFullError, QubitAccessError, SubroutineError
from qlab_os.qnpu.memory import QuantumMemoryManager


def test_app_qubits_go_to_memory_qubits_first_keeping_communication_qubits_free():
    qmm = QuantumMemoryManager(3, communication_qubits=[0])
    qmm.register(1, 4)
    assert qmm.allocate(1, 0) == 1
    assert qmm.allocate(1, 1) == 2
    assert qmm.allocate(1, 2) == 0  # memory qubits full: falls back to the communication qubit


def test_device_full_and_unit_module_bounds():
    qmm = QuantumMemoryManager(2)
    qmm.register(1, 2)
    qmm.register(2, 5)
    qmm.allocate(1, 0)
    qmm.allocate(2, 3)
    with pytest.raises(DeviceFullError, match="all 2 physical qubits of the device are in use"):
        qmm.allocate(2, 4)
    with pytest.raises(QubitAccessError, match="outside the app's unit module of 2 qubits"):
        qmm.allocate(1, 2)
    with pytest.raises(QubitAccessError, match="already allocated"):
        qmm.allocate(1, 0)


def test_a_process_cannot_reach_another_process_qubit():
    qmm = QuantumMemoryManager(3)
    qmm.register(1, 3)
    qmm.register(2, 3)
    phys = qmm.allocate(1, 0)
    with pytest.raises(QubitAccessError):
        qmm.physical(2, 0)
    with pytest.raises(QubitAccessError):
        qmm.free(2, 0)
    assert qmm.physical(1, 0) == phys
    assert qmm.owner(phys) == 1


def test_unregister_frees_everything():
    qmm = QuantumMemoryManager(3)
    qmm.register(7, 3)
    qmm.allocate(7, 0)
    qmm.allocate(7, 2)
    assert qmm.free_count() == 1
    assert qmm.unregister(7) == [0, 1]
    assert qmm.free_count() == 3


def test_qalloc_beyond_device_is_a_clean_error_and_frees_what_the_app_held(node):
    with pytest.raises(SubroutineError, match=r"line 9.*all 4 physical qubits"):
        node.run("".join(f"set Q0 {i}\nqalloc Q0\n" for i in range(5)), max_qubits=8)
    assert node.qnpu.qmm.free_count() == 4
    # the node keeps serving: another app allocates every qubit
    r = node.run("set Q0 3\nqalloc Q0\ninit Q0\nmeas Q0 M0\nret_reg M0\n", app_id=1)
    assert r.registers == {"M0": 0}


def test_foreign_or_unallocated_qubit_is_rejected(node):
    node.run("set Q0 0\nqalloc Q0\n", app_id=1)
    with pytest.raises(SubroutineError, match=r"virtual qubit 0 \(in Q0\) is not allocated by this app"):
        node.run("set Q0 0\nh Q0\n", app_id=2)
    # app 1's qubit is untouched and still its own
    r = node.run("set Q0 0\nh Q0\nmeas Q0 M0\nqfree Q0\nret_reg M0\n", app_id=1, start=False)
    assert r.registers == {"M0": 0}


def test_failed_app_loses_its_qubits_and_later_subroutines_are_refused(node):
    with pytest.raises(SubroutineError):
        node.run("set Q0 0\nqalloc Q0\nset Q1 1\nqalloc Q1\nadd R0 R1 R2\n")
    assert node.qnpu.qmm.free_count() == 4
    with pytest.raises(SubroutineError, match="the app failed earlier"):
        node.run("set R0 1\n", start=False)
    assert node.qnpu.stop_app(0) == []
    assert 0 not in node.qnpu.processes


def test_stop_app_frees_qubits(node):
    node.run("set Q0 0\nqalloc Q0\nset Q0 1\nqalloc Q0\n")
    assert node.qnpu.qmm.free_count() == 2
    assert len(node.qnpu.stop_app(0)) == 2
    assert node.qnpu.qmm.free_count() == 4


def test_two_qubit_gate_on_one_qubit_is_rejected(node):
    with pytest.raises(SubroutineError, match="two different qubits"):
        node.run("set Q0 0\nqalloc Q0\ninit Q0\nset Q1 0\ncnot Q0 Q1\n")


def test_qfree_of_unallocated_qubit(node):
    with pytest.raises(SubroutineError, match="not allocated, so it cannot be freed"):
        node.run("set Q0 1\nqfree Q0\n")


# --- isolation of quantum state, on a physics-backed device ------------------------------------------------
def _sim_node(device: str = "sim-generic"):
    from qlab_os.clock import VirtualClock
    from qlab_os.qdevice.registry import create_qdriver
    from qlab_os.qnpu.qnpu import QNPU

    clock = VirtualClock()
    return QNPU(create_qdriver(device, clock=clock, seed=3, ideal=True), clock)


def _run(qnpu, app_id, body):
    from qlab_os.qnpu.decode import parse_text

    return qnpu.run_subroutine(parse_text(f"# APPID {app_id}\n{body}"))


@pytest.mark.parametrize("device", ["sim-generic", "sim-nv", "sim-ion"])
@pytest.mark.parametrize("how", ["qfree", "stop_app", "failure"])
def test_a_freed_qubit_carries_nothing_to_its_next_owner(device, how):
    """The next app to get a physical qubit finds |0>, never the last owner's state (even without init)."""
    qnpu = _sim_node(device)
    qnpu.init_app(1, 2)
    _run(qnpu, 1, "set Q0 0\nqalloc Q0\ninit Q0\nset Q1 1\nqalloc Q1\ninit Q1\nh Q0\ncnot Q0 Q1\n")
    victim = qnpu.qmm.physical(1, 1)
    if how == "qfree":
        _run(qnpu, 1, "set Q1 1\nqfree Q1\n")
    elif how == "stop_app":
        qnpu.stop_app(1)
    else:
        with pytest.raises(SubroutineError):
            _run(qnpu, 1, "set R0 1\nset R1 0\ndiv R2 R0 R1\n")
    state = qnpu.driver.qubit_state((victim,))
    assert state[0, 0].real == pytest.approx(1.0, abs=1e-12)  # scrubbed to |0>
    qnpu.init_app(2, 5)
    for shot in range(20):  # no init: what the new owner reads must be the scrubbed |0>, not a Bell half
        r = _run(qnpu, 2, f"set Q0 {shot % 5}\nqalloc Q0\nmeas Q0 M0\nqfree Q0\nret_reg M0\n")
        assert r.registers["M0"] == 0


@pytest.mark.parametrize("device", ["sim-generic", "sim-nv", "sim-ion"])
def test_another_app_working_leaves_a_bystander_state_untouched(device):
    import numpy as np

    qnpu = _sim_node(device)
    qnpu.init_app(7, 1)
    _run(qnpu, 7, "set Q0 0\nqalloc Q0\ninit Q0\nrot_y Q0 3 3\nrot_z Q0 5 3\n")
    mine = qnpu.qmm.physical(7, 0)
    before = qnpu.driver.qubit_state((mine,))
    qnpu.init_app(8, 2)
    _run(qnpu, 8, "set Q0 0\nqalloc Q0\nset Q1 1\nqalloc Q1\ninit Q0\ninit Q1\nh Q0\ncnot Q0 Q1\ncnot Q1 Q0\n"
                  "meas Q0 M0\nqfree Q0\nqfree Q1\n")
    qnpu.stop_app(8)
    assert np.allclose(qnpu.driver.qubit_state((mine,)), before, atol=1e-12)
