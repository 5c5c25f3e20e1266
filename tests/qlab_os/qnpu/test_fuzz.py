"""Fuzz tests of the QNPU's untrusted inputs: binary and text subroutines, subroutines that run, host messages.

Contracts checked:

* the decoder (``decode_binary``, ``load_subroutine``) and the text parser (``parse_text``) return a Subroutine
  or raise DecodeError, whatever the input;
* a well-formed but random subroutine either returns a SubroutineResult or raises a SubroutineError that names
  a line; it never raises anything else and never hangs (the instruction budget is small). Afterwards no
  physical qubit leaks, and other apps on the node, one already running and one started afresh, still run
  correctly;
* ``handle_message`` returns a list of replies that serialise, for any bytes and any sequence of (mutated)
  netqasm host messages; it never raises.

Hypothesis runs derandomized (fixed examples), so CI sees the same inputs every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from netqasm.backend.messages import (
    InitNewAppMessage,
    MsgDoneMessage,
    OpenEPRSocketMessage,
    ReturnArrayMessage,
    ReturnRegMessage,
    SignalMessage,
    StopAppMessage,
    SubroutineMessage,
)
from netqasm.lang.encoding import RegisterName
from netqasm.lang.instr import core, vanilla
from netqasm.lang.instr.base import NetQASMInstruction
from netqasm.lang.operand import Address, ArrayEntry, ArraySlice, Immediate, Register
from netqasm.lang.subroutine import Subroutine

from qdrivers.null.driver import NullQDriver, null_spec
from qlab_os.clock import VirtualClock
from qlab_os.errors import DecodeError, SubroutineError
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import FLAVOURS, decode_binary, load_subroutine, parse_text
from qlab_os.qnpu.process import SubroutineResult
from qlab_os.qnpu.qnpu import QNPU, ErrorReply

FUZZ = settings(derandomize=True, deadline=None, max_examples=250, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

NUM_QUBITS = 3
FUZZ_BUDGET = 40
"""Instructions per fuzzed subroutine. Small, so that loops end at once; and small enough that a loop of
``mul R0 R0 R0`` stops at once (registers are 32-bit; an overflow is an error)."""

FUZZED_APP, BYSTANDER_APP = 1, 7

# --- valid inputs to mutate --------------------------------------------------------------------------------
VALID_TEXTS = [
    """# NETQASM 1.0
# APPID 1
set R0 0
set R1 0
set R2 10
set R3 1
LOOP:
beq R0 R2 END
add R1 R1 R0
add R0 R0 R3
jmp LOOP
END:
ret_reg R1
""",
    """# NETQASM 1.0
# APPID 1
set R0 3
array R0 @0
set R1 0
set R2 42
store R2 @0[R1]
load R3 @0[R1]
lea R4 @0
undef @0[R1]
set R5 7
set R6 5
addm R7 R5 R6 R0
subm R8 R5 R6 R0
mul R9 R5 R6
div R10 R5 R6
rem R11 R5 R6
sub R12 R5 R6
bez R1 SKIP
bnz R1 SKIP
blt R5 R6 SKIP
bge R6 R5 SKIP
bne R5 R6 SKIP
SKIP:
ret_reg R3
ret_arr @0
""",
    """# NETQASM 1.0
# APPID 1
set Q0 0
set Q1 1
qalloc Q0
qalloc Q1
init Q0
init Q1
h Q0
x Q1
rot_z Q0 1 2
cnot Q0 Q1
meas Q0 M0
meas Q1 M1
qfree Q0
qfree Q1
ret_reg M0
ret_reg M1
""",
]
VALID_BINARIES = [bytes(parse_text(t, "vanilla")) for t in VALID_TEXTS]
TOKENS = ["set", "add", "beq", "jmp", "qalloc", "meas", "array", "store", "load", "ret_reg", "ret_arr", "rot_x",
          "R0", "R15", "R16", "Q0", "M1", "C3", "X9", "@0", "@0[R1]", "@0[R1:R2]", "@", "[", "]", "LOOP",
          "LOOP:", "END", "0", "-1", "255", "256", "2147483648", "99999999999999999999", "1.5", "//", "#",
          "# NETQASM 1.0", "# APPID 1", "# APPID x", ":", "", " ", "\t", "é", "\x00"]


def _flip_bit(data: bytearray, i: int) -> None:
    if data:
        data[i % len(data)] ^= 1 << (i % 8)


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid input with a few bit flips, overwritten bytes, truncations, deletions and garbage appended."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "append", "delete", "insert"]))
        pos = draw(st.integers(0, max(len(data), 1) * 8))
        if kind == "flip":
            _flip_bit(data, pos)
        elif kind == "byte" and data:
            data[pos % len(data)] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos % (len(data) + 1):]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            del data[pos % len(data)]
        elif kind == "insert":
            data[pos % (len(data) + 1):pos % (len(data) + 1)] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A valid text subroutine with lines dropped or duplicated and tokens replaced or inserted."""
    lines = [line.split() for line in draw(st.sampled_from(VALID_TEXTS)).splitlines()]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["drop", "dup", "token", "insert", "chars"]))
        i = draw(st.integers(0, len(lines)))
        if kind == "drop" and lines:
            del lines[i % len(lines)]
        elif kind == "dup" and lines:
            lines.insert(i % len(lines), list(lines[i % len(lines)]))
        elif kind == "token" and lines and lines[i % len(lines)]:
            words = lines[i % len(lines)]
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS))
        elif kind == "insert":
            lines.insert(i, draw(st.lists(st.sampled_from(TOKENS), max_size=5)))
        elif kind == "chars":
            lines.insert(i, [draw(st.text(max_size=12))])
    return "\n".join(" ".join(words) for words in lines) + "\n"


def _decodes_or_decode_error(decode: Callable[[], Subroutine]) -> None:
    try:
        result = decode()
    except DecodeError as exc:
        assert str(exc), "a DecodeError must say what is wrong"
    else:
        assert isinstance(result, Subroutine)


# --- the decoder and the text parser -----------------------------------------------------------------------
flavours = st.sampled_from(sorted(FLAVOURS))


@FUZZ
@given(data=st.binary(max_size=80), flavour=flavours)
def test_decode_binary_random_bytes(data: bytes, flavour: str) -> None:
    _decodes_or_decode_error(lambda: decode_binary(data, flavour))


HEADER = VALID_BINARIES[0][:4]
commands = st.tuples(st.one_of(st.sampled_from(sorted({i for f in FLAVOURS.values() for i in f.id_map})),
                               st.integers(0, 255)),
                     st.binary(min_size=6, max_size=6)).map(lambda c: bytes([c[0]]) + c[1])


@FUZZ
@given(data=st.lists(commands, max_size=4).map(lambda cs: HEADER + b"".join(cs)), flavour=flavours)
def test_decode_binary_random_commands_after_valid_header(data: bytes, flavour: str) -> None:
    """Commands whose instruction id is mostly a real one, so the operand decoding gets fuzzed too."""
    _decodes_or_decode_error(lambda: decode_binary(data, flavour))


@FUZZ
@given(data=mutated_bytes(VALID_BINARIES), flavour=flavours)
def test_decode_binary_mutated_subroutines(data: bytes, flavour: str) -> None:
    _decodes_or_decode_error(lambda: decode_binary(data, flavour))


@FUZZ
@given(data=st.one_of(st.binary(max_size=80), mutated_bytes(VALID_BINARIES + [t.encode() for t in VALID_TEXTS])),
       flavour=st.one_of(st.none(), flavours))
def test_load_subroutine_random_and_mutated(data: bytes, flavour: str | None) -> None:
    _decodes_or_decode_error(lambda: load_subroutine(data, flavour))


@FUZZ
@given(text=st.one_of(st.text(max_size=120), st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)),
       flavour=st.one_of(st.none(), flavours))
def test_parse_text_random(text: str, flavour: str | None) -> None:
    _decodes_or_decode_error(lambda: parse_text(text, flavour))


@FUZZ
@given(text=mutated_text(), flavour=st.one_of(st.none(), flavours))
def test_parse_text_mutated(text: str, flavour: str | None) -> None:
    _decodes_or_decode_error(lambda: parse_text(text, flavour))


def test_the_valid_seeds_are_valid() -> None:
    """The mutation fuzzers start from inputs that decode (else they would fuzz only the error paths)."""
    for text, raw in zip(VALID_TEXTS, VALID_BINARIES, strict=True):
        assert decode_binary(raw).instructions == parse_text(text).instructions
        assert load_subroutine(text.encode()).instructions == load_subroutine(raw).instructions


# --- random well-formed subroutines on the executor ---------------------------------------------------------
POOL = [Register(RegisterName.R, i) for i in range(4)] + [Register(RegisterName.Q, 0), Register(RegisterName.Q, 1),
                                                           Register(RegisterName.M, 0)]
registers = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL),
                      st.builds(Register, st.sampled_from(list(RegisterName)), st.integers(0, 15)))
values = st.one_of(st.integers(-2, 5), st.sampled_from([-(2**31), 2**31 - 1, 1 << 20, (1 << 20) + 1]))
addresses = st.one_of(st.integers(0, 2), st.just(2**31 - 1)).map(Address)
entries = st.builds(ArrayEntry, addresses, st.one_of(registers, st.integers(-1, 3)))
slices = st.builds(ArraySlice, addresses, st.one_of(registers, st.integers(-1, 3)),
                   st.one_of(registers, st.integers(-1, 3)))
angle_imms = st.integers(0, 255).map(Immediate)  # the binary encoding's range (one unsigned byte)

ARITHMETIC = [core.AddInstruction, core.SubInstruction, core.MulInstruction, core.DivInstruction,
              core.RemInstruction]
BINARY_BRANCHES = [core.BeqInstruction, core.BneInstruction, core.BltInstruction, core.BgeInstruction]
ONE_QUBIT = [vanilla.GateXInstruction, vanilla.GateHInstruction, core.InitInstruction, core.QAllocInstruction,
             core.QFreeInstruction]


def instructions(length: int) -> st.SearchStrategy[NetQASMInstruction]:
    # one target in ten outside the subroutine (0..length, its end included), so most programs get to run
    inside, outside = st.integers(0, length), st.sampled_from([-1, length + 1, 2**31 - 1])
    lines = st.sampled_from([inside] * 9 + [outside]).flatmap(lambda targets: targets).map(Immediate)
    reg = registers
    return st.one_of(
        st.builds(core.SetInstruction, reg=reg, imm=values.map(Immediate)),
        st.builds(core.SetInstruction, reg=reg, imm=values.map(Immediate)),
        st.sampled_from(ARITHMETIC).flatmap(lambda cls: st.builds(cls, reg0=reg, reg1=reg, reg2=reg)),
        st.sampled_from([core.AddmInstruction, core.SubmInstruction]).flatmap(
            lambda cls: st.builds(cls, reg0=reg, reg1=reg, reg2=reg, reg3=reg)),
        st.sampled_from(BINARY_BRANCHES).flatmap(lambda cls: st.builds(cls, reg0=reg, reg1=reg, imm=lines)),
        st.sampled_from([core.BezInstruction, core.BnzInstruction]).flatmap(
            lambda cls: st.builds(cls, reg=reg, imm=lines)),
        st.builds(core.JmpInstruction, imm=lines),
        st.builds(core.ArrayInstruction, reg=reg, address=addresses),
        st.builds(core.StoreInstruction, reg=reg, entry=entries),
        st.builds(core.LoadInstruction, reg=reg, entry=entries),
        st.builds(core.UndefInstruction, entry=entries),
        st.builds(core.LeaInstruction, reg=reg, address=addresses),
        st.builds(core.WaitSingleInstruction, entry=entries),
        st.builds(core.WaitAllInstruction, slice=slices),
        st.sampled_from(ONE_QUBIT).flatmap(lambda cls: st.builds(cls, reg=reg)),
        st.sampled_from(ONE_QUBIT).flatmap(lambda cls: st.builds(cls, reg=reg)),
        st.builds(vanilla.RotXInstruction, reg=reg, imm0=angle_imms, imm1=angle_imms),
        st.builds(vanilla.CnotInstruction, reg0=reg, reg1=reg),
        st.builds(core.MeasInstruction, reg0=reg, reg1=reg),
        st.builds(core.RetRegInstruction, reg=reg),
        st.builds(core.RetArrInstruction, address=addresses),
    )


@st.composite
def subroutines(draw: st.DrawFn) -> Subroutine:
    """A prologue that gives pool registers small values and may allocate qubits and an array (so that later
    instructions get somewhere), then random instructions."""
    prologue: list[NetQASMInstruction] = [
        core.SetInstruction(reg=r, imm=Immediate(draw(st.integers(0, 3))))
        for r in draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=len(POOL), unique=True))]
    for q in POOL[4:6]:
        if draw(st.booleans()):
            prologue += [core.SetInstruction(reg=q, imm=Immediate(draw(st.integers(0, 2)))),
                         core.QAllocInstruction(reg=q), core.InitInstruction(reg=q)]
    if draw(st.booleans()):
        size = draw(st.sampled_from(POOL[:4]))
        prologue += [core.SetInstruction(reg=size, imm=Immediate(draw(st.integers(0, 4)))),
                     core.ArrayInstruction(reg=size, address=Address(0))]
    length = draw(st.integers(1, 16))
    body = draw(st.lists(instructions(len(prologue) + length), min_size=length, max_size=length))
    return Subroutine(instructions=prologue + body, app_id=FUZZED_APP)


def _text(body: str, app_id: int) -> Subroutine:
    return parse_text(f"# NETQASM 1.0\n# APPID {app_id}\n{body}", "vanilla")


KNOWN_BODY = """set Q0 0
set Q1 1
set Q2 2
qalloc Q0
qalloc Q1
qalloc Q2
init Q0
init Q1
init Q2
cnot Q0 Q1
cnot Q1 Q2
meas Q2 M0
qfree Q0
qfree Q1
qfree Q2
set R0 0
set R1 0
set R2 2
set R3 1
LOOP:
beq R0 R2 END
add R1 R1 R0
add R0 R0 R3
jmp LOOP
END:
ret_reg R1
ret_reg M0
"""
KNOWN_RESULT = {"R1": 1, "M0": 0}  # |000> stays |000> (and the null device reads 0); 31 instructions, in budget


def _bucket(n: int) -> str:
    """Coarse instruction counts for hypothesis's statistics (pytest --hypothesis-show-statistics)."""
    return next(label for top, label in ((3, "1-3"), (7, "4-7"), (15, "8-15"), (10**9, "16+")) if n <= top)


def _node() -> QNPU:
    return QNPU(NullQDriver(null_spec(NUM_QUBITS)), VirtualClock(), instruction_budget=FUZZ_BUDGET)


@settings(FUZZ, max_examples=400)
@given(subroutine=subroutines(), max_qubits=st.one_of(st.just(2), st.integers(0, 4)))
def test_random_subroutines_finish_or_fail_cleanly(subroutine: Subroutine, max_qubits: int) -> None:
    # on an ideal physics-backed device, so that "not disturbed" is a statement about the quantum state
    qnpu = QNPU(create_qdriver("sim-generic", clock=(clock := VirtualClock()), seed=1, ideal=True), clock,
                instruction_budget=FUZZ_BUDGET)
    n = qnpu.spec.num_qubits
    # another app already holds a qubit in |1>: the fuzzed app must neither take nor disturb it
    qnpu.init_app(BYSTANDER_APP, 1)
    qnpu.run_subroutine(_text("set Q0 0\nqalloc Q0\ninit Q0\nx Q0\n", BYSTANDER_APP))
    bystander_qubits = qnpu.qmm.allocated(BYSTANDER_APP)
    bystander_ran = qnpu.executor.stats.instructions

    qnpu.init_app(FUZZED_APP, max_qubits)
    try:
        result = qnpu.run_subroutine(subroutine)
    except SubroutineError as exc:
        assert exc.line is not None and 0 <= exc.line < len(subroutine.instructions), str(exc)
        assert f"line {exc.line}" in str(exc)
        assert "internal error" not in str(exc)
        assert qnpu.qmm.allocated(FUZZED_APP) == {}, "a failed app's qubits are freed at once"
        ran = qnpu.executor.stats.instructions - bystander_ran
        event("rejected before running" if ran == 0 else "budget exhausted" if ran >= FUZZ_BUDGET
              else f"failed after {_bucket(ran)} instructions")
    else:
        assert isinstance(result, SubroutineResult)
        event(f"finished after {_bucket(qnpu.executor.stats.instructions - bystander_ran)} instructions")
    qnpu.stop_app(FUZZED_APP)

    assert qnpu.qmm.allocated(BYSTANDER_APP) == bystander_qubits
    assert qnpu.qmm.free_count() == n - 1
    follow_up = qnpu.run_subroutine(_text("set Q0 0\nmeas Q0 M0\nqfree Q0\nset R0 40\nset R1 2\n"
                                          "add R2 R0 R1\nret_reg R2\nret_reg M0\n", BYSTANDER_APP))
    assert follow_up.registers == {"R2": 42, "M0": 1}  # still |1>: nothing the fuzzed app did reached it
    qnpu.stop_app(BYSTANDER_APP)
    assert qnpu.qmm.free_count() == n

    # a new app (reusing the fuzzed app's id) gets every qubit and runs correctly
    qnpu.init_app(FUZZED_APP, n)
    assert qnpu.run_subroutine(_text(KNOWN_BODY, FUZZED_APP)).registers == KNOWN_RESULT
    qnpu.stop_app(FUZZED_APP)
    assert qnpu.qmm.free_count() == n


@settings(FUZZ, report_multiple_bugs=False)
@given(num=st.integers(-(2**31), 2**31 - 1), denom=st.integers(-4096, 4096))  # 2**(2**31) alone takes seconds
def test_rotation_angles_from_text_finish_or_fail_cleanly(num: int, denom: int) -> None:
    qnpu = _node()
    qnpu.init_app(FUZZED_APP, 1)
    try:
        qnpu.run_subroutine(_text(f"set Q0 0\nqalloc Q0\nrot_x Q0 {num} {denom}\n", FUZZED_APP))
    except SubroutineError as exc:
        assert exc.line is not None


def test_register_values_stay_in_netqasm_range() -> None:
    qnpu = _node()  # 3 squared 5 times overflows 32 bits long before the budget
    qnpu.init_app(FUZZED_APP, 0)
    try:
        result = qnpu.run_subroutine(_text("set R0 3\nLOOP:\nmul R0 R0 R0\nret_reg R0\njmp LOOP\n", FUZZED_APP))
    except SubroutineError as exc:  # an overflow error (or the budget) is fine, if the values stayed bounded
        result = SubroutineResult(registers={})
        assert "line" in str(exc)
    assert all(-(2**31) <= v < 2**31 for v in result.registers.values())
    assert all(-(2**31) <= (v or 0) < 2**31 for v in qnpu.processes[FUZZED_APP].registers)


# --- host messages ----------------------------------------------------------------------------------------
VALID_MESSAGES = [
    bytes(InitNewAppMessage(app_id=FUZZED_APP, max_qubits=2)),
    bytes(InitNewAppMessage(app_id=BYSTANDER_APP, max_qubits=1)),
    bytes(OpenEPRSocketMessage(app_id=FUZZED_APP, epr_socket_id=0, remote_node_id=1, remote_epr_socket_id=0)),
    *(bytes(SubroutineMessage(raw)) for raw in VALID_BINARIES),
    bytes(SubroutineMessage(bytes(_text("set Q0 0\nqalloc Q0\nset R0 3\nret_reg R0\n", BYSTANDER_APP)))),
    bytes(StopAppMessage(app_id=FUZZED_APP)),
    bytes(StopAppMessage(app_id=BYSTANDER_APP)),
    bytes(SignalMessage()),
]
REPLY_TYPES = (ReturnRegMessage, ReturnArrayMessage, MsgDoneMessage, ErrorReply)


def _check_replies(replies: Any) -> None:
    assert isinstance(replies, list) and replies
    for reply in replies:
        assert isinstance(reply, REPLY_TYPES)
        assert bytes(reply), "every reply goes on the wire"


@FUZZ
@given(raw=st.one_of(st.binary(max_size=64),
                     st.tuples(st.integers(0, 6), st.binary(max_size=40)).map(lambda t: bytes([t[0]]) + t[1])))
def test_handle_message_random_bytes(raw: bytes) -> None:
    _check_replies(_node().handle_message(raw))


@FUZZ
@given(messages=st.lists(st.one_of(st.sampled_from(VALID_MESSAGES), mutated_bytes(VALID_MESSAGES)),
                         min_size=1, max_size=8))
def test_handle_message_mutated_sequences(messages: list[bytes]) -> None:
    qnpu = _node()
    for raw in messages:
        _check_replies(qnpu.handle_message(raw))
    for app_id in list(qnpu.processes):
        _check_replies(qnpu.handle_message(bytes(StopAppMessage(app_id=app_id))))
    assert not qnpu.processes
    assert qnpu.qmm.free_count() == NUM_QUBITS
    # the node still works: a fresh app runs a known subroutine
    _check_replies(qnpu.handle_message(bytes(InitNewAppMessage(app_id=FUZZED_APP, max_qubits=NUM_QUBITS))))
    replies = qnpu.handle_message(bytes(SubroutineMessage(bytes(_text(KNOWN_BODY, FUZZED_APP)))))
    returned = {f"{RegisterName(r.register.register_name).name}{r.register.register_index}": r.value
                for r in replies if isinstance(r, ReturnRegMessage)}
    assert isinstance(replies[-1], MsgDoneMessage) and returned == KNOWN_RESULT
