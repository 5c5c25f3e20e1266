"""Classical NetQASM semantics of the executor, checked against values worked out by hand."""

import pytest

from qlab_os.errors import SubroutineError


def test_loop_sums_and_returns_register(node):
    r = node.run("""
set R0 0
set R1 0
set R2 101
set R3 1
LOOP:
beq R0 R2 END
add R1 R1 R0
add R0 R0 R3
jmp LOOP
END:
ret_reg R1
ret_reg R0
""")
    assert r.registers == {"R1": 5050, "R0": 101}


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [("add", 7, 5, 12), ("sub", 7, 5, 2), ("mul", 7, 5, 35), ("div", 7, 2, 3), ("rem", 7, 5, 2),
     ("sub", 5, 7, -2), ("div", -7, 2, -4)],
)
def test_arithmetic(node, op, a, b, expected):
    r = node.run(f"set R0 {a}\nset R1 {b}\n{op} R2 R0 R1\nret_reg R2\n")
    assert r.registers["R2"] == expected


@pytest.mark.parametrize(("op", "a", "b", "m", "expected"), [("addm", 7, 5, 5, 2), ("subm", 2, 5, 5, 2)])
def test_modular_arithmetic(node, op, a, b, m, expected):
    r = node.run(f"set R0 {a}\nset R1 {b}\nset R2 {m}\n{op} R3 R0 R1 R2\nret_reg R3\n")
    assert r.registers["R3"] == expected


@pytest.mark.parametrize(
    ("branch", "a", "b", "taken"),
    [("beq", 1, 1, True), ("beq", 1, 2, False), ("bne", 1, 2, True), ("bne", 2, 2, False),
     ("blt", 1, 2, True), ("blt", 2, 1, False), ("bge", 2, 2, True), ("bge", 1, 2, False)],
)
def test_binary_branches(node, branch, a, b, taken):
    r = node.run(f"set R0 {a}\nset R1 {b}\nset R5 0\n{branch} R0 R1 SKIP\nset R5 1\nSKIP:\nret_reg R5\n")
    assert r.registers["R5"] == (0 if taken else 1)


@pytest.mark.parametrize(("branch", "v", "taken"), [("bez", 0, True), ("bez", 3, False), ("bnz", 3, True),
                                                    ("bnz", 0, False)])
def test_unary_branches(node, branch, v, taken):
    r = node.run(f"set R0 {v}\nset R5 0\n{branch} R0 SKIP\nset R5 1\nSKIP:\nret_reg R5\n")
    assert r.registers["R5"] == (0 if taken else 1)


def test_arrays_store_load_undef_lea_and_return(node):
    r = node.run("""
array 4 @3
set R0 2
set R1 42
store R1 @3[R0]
load R2 @3[R0]
set R0 0
store R2 @3[R0]
set R0 2
undef @3[R0]
lea R4 @3
ret_reg R2
ret_reg R4
ret_arr @3
""")
    assert r.registers == {"R2": 42, "R4": 3}
    assert r.arrays == {3: [42, None, None, None]}


def test_registers_and_arrays_persist_across_subroutines_of_one_app(node):
    node.run("set R7 9\narray 2 @1\nset R0 0\nstore R7 @1[R0]\n")
    r = node.run("set R0 0\nload R1 @1[R0]\nret_reg R7\nret_reg R1\n", start=False)
    assert r.registers == {"R7": 9, "R1": 9}


def test_wait_all_on_defined_entries_passes(node):
    r = node.run("array 2 @0\nset R0 0\nset R1 5\nstore R1 @0[R0]\nset R0 1\nstore R1 @0[R0]\n"
                 "wait_all @0[0:2]\nwait_any @0[0:2]\nset R0 0\nwait_single @0[R0]\nret_reg R1\n")
    assert r.registers == {"R1": 5}


def test_wait_on_unset_entry_is_an_error_not_a_hang(node):
    with pytest.raises(SubroutineError, match=r"line 4.*wait_all.*nothing pending"):
        node.run("array 2 @0\nwait_all @0[0:2]\n")


@pytest.mark.parametrize(
    ("body", "line", "pattern"),
    [
        ("add R0 R1 R2\n", 0, r"register R1 has no value"),
        ("set R0 1\nset R1 0\ndiv R2 R0 R1\n", 2, r"division by zero"),
        # 'array 2 @0' assembles to 'set R? 2; array R? @0', so later lines shift by one
        ("array 2 @0\nset R0 5\nset R1 1\nstore R1 @0[R0]\n", 4, r"index 5 is out of range for array @0 of length 2"),
        ("array 2 @0\nset R0 -1\nset R1 1\nstore R1 @0[R0]\n", 4, r"index -1 is out of range"),
        ("set R0 0\nload R1 @7[R0]\n", 1, r"no array at address @7"),
        ("array 2 @0\nset R0 0\nload R1 @0[R0]\n", 3, r"array entry @0\[0\] has no value"),
        ("ret_reg R9\n", 0, r"register R9 has no value"),
        ("set R0 1\nset R1 2\nset R2 0\naddm R3 R0 R1 R2\n", 3, r"modulus R2 = 0 must be >= 1"),
        ("bez R4 0\n", 0, r"register R4 has no value"),
        ("set R0 -3\narray R0 @0\n", 1, r"array length -3 is out of range"),
    ],
)
def test_errors_name_line_instruction_and_reason(node, body, line, pattern):
    with pytest.raises(SubroutineError, match=pattern) as info:
        node.run(body)
    assert info.value.line == line
    assert info.value.instruction is not None
    assert f"line {line}" in str(info.value)


def test_endless_loop_is_stopped_by_the_instruction_budget(node):
    with pytest.raises(SubroutineError, match=r"budget 100000.*endless loop"):
        node.run("LOOP:\njmp LOOP\n")


def test_jump_target_outside_subroutine_is_rejected_before_running(node):
    from netqasm.lang.instr import core
    from netqasm.lang.operand import Immediate
    from netqasm.lang.subroutine import Subroutine

    node.qnpu.init_app(0, 1)
    sub = Subroutine(instructions=[core.JmpInstruction(imm=Immediate(99))], app_id=0)
    with pytest.raises(SubroutineError, match="jump target 99 is outside"):
        node.qnpu.run_subroutine(sub)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("set R0 2147483647\nset R1 1\nadd R2 R0 R1\n", r"result 2147483648 does not fit in 32-bit register R2"),
        ("set R0 65536\nmul R0 R0 R0\n", r"does not fit in 32-bit register R0"),
        ("set R0 -2147483648\nset R1 1\nsub R2 R0 R1\n", r"does not fit"),
    ],
)
def test_register_overflow_is_an_error(node, body, pattern):
    with pytest.raises(SubroutineError, match=pattern):
        node.run(body)


def test_squaring_loop_stops_at_overflow_not_after_minutes(node):
    with pytest.raises(SubroutineError, match="does not fit"):
        node.run("set R0 3\nLOOP:\nmul R0 R0 R0\njmp LOOP\n")


def test_register_that_is_read_and_written_is_named_when_unset(node):
    with pytest.raises(SubroutineError, match="register R1 has no value"):
        node.run("set Q0 1\nmul R1 R1 Q0\n")


@pytest.mark.parametrize("denom", [-1, 256, 2000])
def test_rotation_denominator_out_of_range(node, denom):
    with pytest.raises(SubroutineError, match=f"angle denominator exponent {denom} is out of range 0..255"):
        node.run(f"set Q0 0\nqalloc Q0\nrot_x Q0 1 {denom}\n")


def test_array_memory_of_one_app_is_capped(node):
    from qlab_os.qnpu.ops_classical import MAX_ARRAY_LENGTH, MAX_PROCESS_ARRAY_ENTRIES

    body = f"set R0 {MAX_ARRAY_LENGTH}\n" + "".join(f"array R0 @{i}\n" for i in range(5))
    assert 4 * MAX_ARRAY_LENGTH == MAX_PROCESS_ARRAY_ENTRIES
    with pytest.raises(SubroutineError, match=r"line 5.*would hold 5242880 entries; at most 4194304"):
        node.run(body)


def test_reallocating_a_huge_array_in_a_loop_is_stopped_early(node):
    with pytest.raises(SubroutineError, match=r"allocated .* array entries in all.*inside a loop"):
        node.run("set R0 1048576\nLOOP:\narray R0 @0\njmp LOOP\n")


def test_endless_gate_loop_on_a_slow_device_is_stopped_by_device_time():
    from qlab_os.clock import VirtualClock
    from qlab_os.qdevice.registry import create_qdriver
    from qlab_os.qnpu.decode import parse_text
    from qlab_os.qnpu.qnpu import QNPU

    clock = VirtualClock()
    qnpu = QNPU(create_qdriver("sim-nv", clock=clock, seed=1), clock, device_time_budget_ns=10**9)
    qnpu.init_app(0, 2)
    with pytest.raises(SubroutineError, match=r"more than 1 s of device time"):
        qnpu.run_subroutine(parse_text("set Q0 1\nqalloc Q0\ninit Q0\nLOOP:\nrot_x Q0 1 1\njmp LOOP\n"))
    assert 10**9 <= clock.now_ns() < 10**9 + 10**6  # stopped right after crossing the budget
    assert qnpu.qmm.free_count() == qnpu.spec.num_qubits
