"""The null QDriver: every native instruction of a generic device, carried out as nothing.

Measurements always read 0; every instruction takes ``duration_ns`` (default 0). It exists so that the
kernel's own cost can be measured (benchmarks/physical_rate.py) and tested without physics.
"""

from __future__ import annotations

from qlab_os.clock import Clock
from qlab_os.errors import UnknownQDriverError
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.instructions import PhysicalInstruction, PhysicalOp, PhysicalResponse
from qlab_os.qdevice.spec import QDeviceSpec, parse_spec


def null_spec(num_qubits: int = 8, duration_ns: int = 0) -> QDeviceSpec:
    return parse_spec(
        {
            "name": "null",
            "description": "no physics, for kernel benchmarks: every instruction does nothing, measurements read 0",
            "qubits": [{"name": f"q{i}", "communication": i == 0} for i in range(num_qubits)],
            "native": [
                {"op": "init", "duration_ns": duration_ns},
                {"op": "rot", "axes": ["x", "y", "z"], "duration_ns": duration_ns},
                {"op": "cnot", "duration_ns": duration_ns},
                {"op": "cz", "duration_ns": duration_ns},
                {"op": "meas", "duration_ns": duration_ns},
            ],
        },
        source="<null device>",
    )


class NullQDriver(QDriver):
    name = "null"

    def __init__(self, spec: QDeviceSpec | None = None) -> None:
        self._spec = spec or null_spec()
        self.executed = 0
        # keyed by the op's string value: hashing a str is cheaper than hashing an Enum member
        self._responses = {op.value: PhysicalResponse(duration_ns=self._duration(op)) for op in PhysicalOp}

    def _duration(self, op: PhysicalOp) -> int:
        gates = [g for g in self._spec.natives if g.op is op]
        return gates[0].duration_ns if gates else 0

    @classmethod
    def device_names(cls) -> tuple[str, ...]:
        return ("null",)

    @classmethod
    def for_device(cls, device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> QDriver:
        if device != "null":
            raise UnknownQDriverError(f"the null driver provides only 'null', not {device!r}")
        return cls()

    @property
    def spec(self) -> QDeviceSpec:
        return self._spec

    def execute(self, instruction: PhysicalInstruction) -> PhysicalResponse:
        self.executed += 1
        op = instruction.op
        if op is PhysicalOp.MEAS:
            return PhysicalResponse(duration_ns=self._responses["meas"].duration_ns,
                                    outcomes=(0,) * len(instruction.qubits))
        return self._responses[op.value]

    def reset(self) -> None:
        self.executed = 0

    def safe_state(self) -> None:
        return None
