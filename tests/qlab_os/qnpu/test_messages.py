"""The process manager speaks netqasm's messages."""

from netqasm.backend.messages import (
    ErrorCode,
    InitNewAppMessage,
    MsgDoneMessage,
    OpenEPRSocketMessage,
    ReturnArrayMessage,
    ReturnArrayMessageHeader,
    ReturnRegMessage,
    StopAppMessage,
    SubroutineMessage,
    deserialize_return_msg,
)
from netqasm.lang.encoding import OptionalInt

from qlab_os.qnpu.decode import parse_text
from qlab_os.qnpu.qnpu import ErrorReply


def _sub(body: str, app_id: int = 3) -> bytes:
    return bytes(SubroutineMessage(parse_text(f"# NETQASM 1.0\n# APPID {app_id}\n{body}")))


def test_full_app_lifecycle_over_messages(node):
    q = node.qnpu
    assert isinstance(q.handle_message(bytes(InitNewAppMessage(app_id=3, max_qubits=2)))[-1], MsgDoneMessage)
    q.handle_message(bytes(OpenEPRSocketMessage(app_id=3, epr_socket_id=0, remote_node_id=1)))
    assert q.processes[3].epr_sockets[(0, 1)].remote_node_id == 1
    replies = q.handle_message(_sub("set R0 11\nret_reg R0\narray 2 @0\nset R1 0\nstore R0 @0[R1]\nret_arr @0\n"))
    kinds = [type(r) for r in replies]
    assert kinds == [ReturnRegMessage, ReturnArrayMessage, MsgDoneMessage]
    # the bytes decode with netqasm's own deserializer to what was returned
    reg = deserialize_return_msg(bytes(replies[0]))
    assert reg.value == 11
    arr = deserialize_return_msg(bytes(replies[1]))
    assert (arr.address, arr.values[0]) == (0, 11)
    # netqasm's OptionalInt.value field shadows its method, so its decoder reads None as 0; the wire
    # itself carries the null flag, which is what a cross-process host must read
    raw = bytes(replies[1])
    header = 1 + ReturnArrayMessageHeader.len()
    entries = (OptionalInt * 2).from_buffer_copy(raw[header:])
    assert [e.type for e in entries] == [OptionalInt._INT_TYPE, OptionalInt._NULL_TYPE]
    q.handle_message(_sub("set Q0 0\nqalloc Q0\n"))
    assert q.qmm.free_count() == 3
    q.handle_message(bytes(StopAppMessage(app_id=3)))
    assert q.qmm.free_count() == 4 and 3 not in q.processes


def test_errors_become_err_replies_with_text_and_the_node_goes_on(node):
    q = node.qnpu
    q.handle_message(bytes(InitNewAppMessage(app_id=3, max_qubits=2)))
    q.handle_message(bytes(InitNewAppMessage(app_id=4, max_qubits=4)))
    (err,) = q.handle_message(_sub("set Q0 5\nqalloc Q0\n", app_id=3))
    assert isinstance(err, ErrorReply) and err.app_id == 3 and err.code is ErrorCode.GENERAL
    assert "line 1" in err.text and "unit module of 2 qubits" in err.text
    assert deserialize_return_msg(bytes(err)).err_code == ErrorCode.GENERAL.value
    (full,) = q.handle_message(_sub("".join(f"set Q0 {i}\nqalloc Q0\n" for i in range(4)) + "set Q0 0\n"
                                    "set Q1 1\n", app_id=4))[-1:]
    assert isinstance(full, MsgDoneMessage)
    q.handle_message(bytes(InitNewAppMessage(app_id=5, max_qubits=1)))
    (nq,) = q.handle_message(_sub("set Q0 0\nqalloc Q0\n", app_id=5))
    assert nq.code is ErrorCode.NO_QUBIT and "in use" in nq.text
    (unknown,) = q.handle_message(_sub("set R0 1\n", app_id=9))
    assert "no app 9" in unknown.text


def test_garbage_message_is_an_error_reply():
    from tests.qlab_os.qnpu.conftest import Node

    (err,) = Node().qnpu.handle_message(b"\xff\x00")
    assert isinstance(err, ErrorReply) and "cannot decode host message" in err.text


def test_duplicate_init_is_refused(node):
    node.qnpu.handle_message(bytes(InitNewAppMessage(app_id=1, max_qubits=1)))
    (err,) = node.qnpu.handle_message(bytes(InitNewAppMessage(app_id=1, max_qubits=1)))
    assert "already running" in err.text


def test_results_land_in_netqasm_shared_memory_where_sdk_futures_read_them():
    from netqasm.sdk.shared_memory import SharedMemoryManager

    from qdrivers.null.driver import NullQDriver
    from qlab_os.clock import VirtualClock
    from qlab_os.qnpu.qnpu import QNPU

    clock = VirtualClock()
    qnpu = QNPU(NullQDriver(), clock, node_name="alice-test", shared_memory=True)
    qnpu.handle_message(bytes(InitNewAppMessage(app_id=2, max_qubits=1)))
    qnpu.handle_message(_sub("set R3 17\nret_reg R3\narray 2 @4\nset R0 1\nstore R3 @4[R0]\nret_arr @4\n",
                             app_id=2))
    memory = SharedMemoryManager.get_shared_memory("alice-test", key=2)
    assert memory.get_register("R3") == 17
    assert memory.get_array_part(4, slice(0, 2)) == [None, 17]
    # a new app with the same id starts from an empty shared memory, in the same object (a netqasm connection
    # looks it up once, when it is constructed, which may be before INIT_NEW_APP)
    qnpu.handle_message(bytes(StopAppMessage(app_id=2)))
    qnpu.handle_message(bytes(InitNewAppMessage(app_id=2, max_qubits=1)))
    assert SharedMemoryManager.get_shared_memory("alice-test", key=2) is memory
    assert memory.get_register("R3") is None
