"""In-process round trip from the CNPU to the QNPU and back, for a one-instruction subroutine.

The subroutine is ``set R0 1`` (app 0), serialised as netqasm's SubroutineMessage (12 bytes). Timed, per
message, on one node (``sim-generic``) of an :class:`qlab_os.net.inprocess.InProcessNetwork`:

* ``to_qnpu`` (the RESULT): ``InProcessNetwork.to_qnpu(role, raw)`` called from inside a role's thread, exactly
  what ``QlabConnection._commit_serialized_message`` does when an app flushes: decode the message, run the
  subroutine on the QNPU, write the results into netqasm's shared memory for the app's futures, return. This is
  what a flush costs on top of the SDK's own compile cost.
* ``handle_message``: ``QNPU.handle_message(raw)`` on the same node, called directly, with the replies
  serialised to bytes as they would go on a wire (DONE here; RET_REG too for the second subroutine).

For the same two paths a second subroutine, ``set R0 1`` + ``ret_reg R0``, returns a value.

For context, the netqasm SDK's own cost of a tiny block (``Qubit(conn)``, ``H``, ``measure``): building,
compiling and serialising it into a netqasm's ``DebugConnection``, which only stores the bytes (no backend at
all), once per flush on a live connection and once as a whole ``with conn:`` block (construct, INIT_NEW_APP,
flush, STOP_APP); and the same flush on qlab-os (SDK + QNPU on the simulated device, and reading the result),
from a role, as an app sees it.

Each figure is the median over repeats of the mean time per call (``CALLS`` calls a repeat), with the fastest
and slowest repeat; the garbage collector is paused while the clock runs (see ``_common``).

Run: ``.venv/bin/python benchmarks/roundtrip.py``. Ends with ``RESULT roundtrip_us <us>``: the ``to_qnpu`` path.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Timing, print_table, time_repeats
from netqasm.backend.messages import InitNewAppMessage, MsgDoneMessage, StopAppMessage, SubroutineMessage
from netqasm.lang.parsing import parse_text_subroutine
from netqasm.sdk import Qubit
from netqasm.sdk.connection import DebugConnection
from netqasm.sdk.shared_memory import SharedMemoryManager

from qlab_os.cnpu import sdk
from qlab_os.net.config import default_network
from qlab_os.net.inprocess import InProcessNetwork

ROLE = "alice"
APP_ID = 0
REPEATS = 15
CALLS = 2_000
SDK_CALLS = 200
GOAL_US = 50.0

ONE_INSTRUCTION = f"# NETQASM 1.0\n# APPID {APP_ID}\nset R0 1\n"
WITH_RETURN = f"# NETQASM 1.0\n# APPID {APP_ID}\nset R0 1\nret_reg R0\n"
TEXTS = {"set R0 1": ONE_INSTRUCTION, "set R0 1; ret_reg R0": WITH_RETURN}


def message(text: str) -> bytes:
    return bytes(SubroutineMessage(parse_text_subroutine(text)))


def per_call(fn: Callable[[], Any], calls: int) -> Timing:
    """Timing of ``calls`` calls of ``fn`` per repeat, scaled to one call."""

    def run(state: None) -> None:
        for _ in range(calls):
            fn()

    timing, _ = time_repeats(run, lambda: None, REPEATS)
    return Timing(tuple(s / calls for s in timing.samples_s))


def us(t: Timing) -> list[str]:
    return [f"{t.median_s * 1e6:.2f}", f"{t.min_s * 1e6:.2f}..{t.max_s * 1e6:.2f}"]


def sdk_only() -> dict[str, Timing]:
    """netqasm's SDK into a DebugConnection (it only stores the serialised messages)."""
    DebugConnection.node_ids = {"bench": 0}

    conn = DebugConnection("bench", node_name="bench", app_id=APP_ID)

    def flush() -> None:
        q = Qubit(conn)
        q.H()
        q.measure()
        conn.flush()
        conn.storage.clear()

    def whole_block() -> None:
        with DebugConnection("bench", node_name="bench", app_id=APP_ID) as c:
            q = Qubit(c)
            q.H()
            q.measure()

    flush()  # the first flush of a connection also compiles its return-array declarations
    flushes = per_call(flush, SDK_CALLS)
    conn.close()  # frees its app id for the whole blocks
    return {"flush": flushes, "with": per_call(whole_block, SDK_CALLS)}


def in_role(net: InProcessNetwork, messages: dict[str, bytes]) -> dict[str, Timing]:
    """Runs as a role's ``main`` on the network's scheduler: the calls are made from the role's thread."""
    node = net.nodes[net.node_name_of_role(ROLE)]
    net.to_qnpu(ROLE, bytes(InitNewAppMessage(app_id=APP_ID, max_qubits=1)))
    out: dict[str, Timing] = {}
    for name, raw in messages.items():
        net.to_qnpu(ROLE, raw)
        memory = SharedMemoryManager.get_shared_memory(node.name, key=APP_ID)
        if "ret_reg" in name and memory.get_register("R0") != 1:
            raise AssertionError(f"{name}: R0 did not come back as 1 through shared memory")

        def send(raw: bytes = raw) -> None:
            net.to_qnpu(ROLE, raw)

        executed = node.qnpu.executor.stats.instructions
        out[f"to_qnpu {name}"] = per_call(send, CALLS)
        expected = (REPEATS + 1) * CALLS * len(parse_text_subroutine(TEXTS[name]).instructions)  # + warm-up
        if node.qnpu.executor.stats.instructions - executed != expected:
            raise AssertionError(f"{name}: the QNPU executed {node.qnpu.executor.stats.instructions - executed} "
                                 f"instructions, expected {expected}")

        def direct(raw: bytes = raw) -> None:
            for reply in node.qnpu.handle_message(raw):
                bytes(reply)

        replies = node.qnpu.handle_message(raw)
        if not isinstance(replies[-1], MsgDoneMessage):
            raise AssertionError(f"{name}: handle_message replied {replies}")
        out[f"handle_message {name}"] = per_call(direct, CALLS)
    net.to_qnpu(ROLE, bytes(StopAppMessage(app_id=APP_ID)))

    # a tiny block flushed by an app on qlab-os: SDK + to_qnpu + QNPU on the simulated device
    import netqasm.sdk.external as external  # only after sdk.install(), as apps import it


    with external.NetQASMConnection(ROLE, app_id=APP_ID + 1) as conn:
        def flush() -> None:
            q = Qubit(conn)
            q.H()
            m = q.measure()
            conn.flush()
            int(m)

        flush()
        out["qlab-os flush"] = per_call(flush, SDK_CALLS)
    return out


def main() -> None:
    logging.getLogger("netqasm").setLevel(logging.WARNING)
    sdk.install()  # qlab-os's classes in netqasm.sdk.external, as the runtime does before loading apps
    messages = {name: message(text) for name, text in TEXTS.items()}
    net = InProcessNetwork(default_network([ROLE]), seed=1)
    with tempfile.TemporaryDirectory(prefix="qlab-os-bench-") as logs:
        outcome = net.run_roles({ROLE: lambda app_config: in_role(net, messages)}, {}, Path(logs))[ROLE]
    if outcome.error is not None:
        raise SystemExit(f"the benchmark role failed: {outcome.error}")
    timings: dict[str, Timing] = outcome.result
    sdk_timings = sdk_only()

    print(f"in-process CNPU -> QNPU -> CNPU, per message: median of {REPEATS} repeats of {CALLS} calls "
          "(fastest..slowest repeat), microseconds")
    rows = []
    for name, raw in messages.items():
        rows.append([f"to_qnpu from a role thread: {name}", len(raw), *us(timings[f'to_qnpu {name}'])])
        rows.append([f"QNPU.handle_message + bytes(replies): {name}", len(raw),
                     *us(timings[f'handle_message {name}'])])
    print_table(["path: subroutine", "msg bytes", "median us", "spread us"], rows)

    print(f"\nfor context, a tiny block (Qubit, H, measure): median of {REPEATS} repeats of {SDK_CALLS}, "
          "microseconds")
    print_table(["what", "median us", "spread us"], [
        ["netqasm SDK only: build+compile+serialise, flush", *us(sdk_timings["flush"])],
        ["netqasm SDK only: whole `with conn:` block", *us(sdk_timings["with"])],
        ["qlab-os app flush (SDK + QNPU + sim device + int(m))", *us(timings["qlab-os flush"])],
    ])
    result = timings["to_qnpu set R0 1"].median_s * 1e6
    verdict = "meets" if result <= GOAL_US else "misses"
    print(f"\nRESULT is the to_qnpu path for `set R0 1`: {result:.2f} us ({verdict} the goal of <= {GOAL_US:.0f} us)")
    print(f"RESULT roundtrip_us {result:.2f}")


if __name__ == "__main__":
    main()
