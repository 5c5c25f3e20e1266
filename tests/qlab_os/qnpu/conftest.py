import pytest

from qdrivers.null.driver import NullQDriver, null_spec
from qlab_os.clock import VirtualClock
from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.process import SubroutineResult
from qlab_os.qnpu.qnpu import QNPU


class Node:
    """A QNPU on the null device, with helpers to run text subroutines."""

    def __init__(self, num_qubits: int = 4, budget: int = 100_000) -> None:
        self.clock = VirtualClock()
        self.driver = NullQDriver(null_spec(num_qubits, duration_ns=10))
        self.qnpu = QNPU(self.driver, self.clock, instruction_budget=budget)

    def run(self, body: str, app_id: int = 0, max_qubits: int = 4, start: bool = True) -> SubroutineResult:
        if start:
            self.qnpu.init_app(app_id, max_qubits)
        return self.qnpu.run_subroutine(parse_text(f"# NETQASM 1.0\n# APPID {app_id}\n{body}"))


@pytest.fixture
def node() -> Node:
    return Node()
