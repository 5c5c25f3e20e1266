"""The digital twin of a calibrated QDevice: the state a circuit should leave on a device that is exactly its spec.

A lab driver (``nv``, ``trapped_ion``) declares a spec whose durations, gate errors, coherence times and readout
errors all come from the node's calibration file. The kernel's translator lowers a circuit to that spec's native
instructions; played on the ``sim`` driver built from the same spec (:func:`qlab_os.qdevice.registry.create_twin`)
they give the density matrix the calibrated error model predicts. The lab demo checks what the lab measured
against it: a prediction from calibration, not a number fitted to the run.

The state is read, not sampled, so the prediction is exact for the model. Two known differences from a kernel run:
the translator lowers gate by gate (the executor may merge adjacent rotations, which changes the gate count
slightly), and the twin does not include idle time the kernel spends waiting for the CNPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qlab_os.clock import VirtualClock
from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalOp
from qlab_os.qdevice.registry import create_twin
from qlab_os.qdevice.spec import QDeviceSpec
from qlab_os.qnpu.gates import Gate
from qlab_os.qnpu.translator import Translator

ComplexMatrix = npt.NDArray[np.complex128]


@dataclass(frozen=True)
class Step:
    """One step of a circuit: ``gate`` on ``qubits`` (``angle_rad`` for rotations and MS), or, with ``gate``
    None, INIT of ``qubits[0]``."""

    gate: Gate | None
    qubits: tuple[int, ...]
    angle_rad: float = 0.0


def init(qubit: int) -> Step:
    return Step(None, (qubit,))


def gate(g: Gate, *qubits: int, angle_rad: float = 0.0) -> Step:
    return Step(g, tuple(qubits), angle_rad)


def predicted_state(spec: QDeviceSpec, steps: Sequence[Step], measured: tuple[int, ...],
                    arrived: Mapping[int, ComplexMatrix] | None = None,
                    inert: frozenset[int] = frozenset()) -> ComplexMatrix:
    """The density matrix of ``measured`` after ``steps`` on a device that is ``spec``.

    ``arrived`` gives qubits that come in a state instead of being initialised (e.g. the half of an entangled
    pair, or the target of remote state preparation): their INIT step puts them in that state at that time,
    with no INIT error or duration. ``inert`` qubits are not qubits at all (e.g. an ion pumped out of the qubit
    levels): every native instruction that touches one only lets its duration pass (an MS gate with one active
    ion is a global phase).
    """
    clock = VirtualClock()
    twin = create_twin(spec, clock=clock, seed=0)
    translator = Translator.for_spec(spec)
    arrived = arrived or {}
    try:
        for step in steps:
            if step.gate is None and step.qubits[0] in arrived:
                twin.set_qubit_state(step.qubits[0], arrived[step.qubits[0]])
                continue
            instructions = (translator.init(step.qubits[0]) if step.gate is None
                            else translator.gate(step.gate, step.qubits, step.angle_rad))
            for instruction in instructions:
                if inert.intersection(instruction.qubits):
                    native = spec.native(instruction.op, instruction.qubits, instruction.axis)
                    instruction = PhysicalInstruction(PhysicalOp.NONE, duration_ns=native.duration_ns if native else 0)
                clock.advance_ns(twin.execute(instruction).duration_ns)
        state = twin.qubit_state(measured)
    finally:
        twin.close()
    if state is None:  # the twin driver always knows its state
        raise RuntimeError(f"the twin of {spec.name!r} did not report its state")
    return state
