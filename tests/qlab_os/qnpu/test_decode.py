"""Text and binary NetQASM through netqasm's parser/decoder, with clear errors."""

import pytest
from netqasm.lang.instr import nv, trapped_ion, vanilla

from qlab_os.errors import DecodeError
from qlab_os.qnpu.decode import decode_binary, load_subroutine, parse_text

TEXT = "# NETQASM 1.0\n# APPID 2\nset Q0 0\nqalloc Q0\ninit Q0\nh Q0\nmeas Q0 M0\nret_reg M0\n"


def test_text_and_binary_give_the_same_subroutine():
    sub = parse_text(TEXT)
    assert sub.app_id == 2
    again = decode_binary(bytes(sub))
    assert [str(i) for i in again.instructions] == [str(i) for i in sub.instructions]
    assert [str(i) for i in load_subroutine(bytes(sub)).instructions] == [str(i) for i in sub.instructions]
    assert [str(i) for i in load_subroutine(TEXT.encode()).instructions] == [str(i) for i in sub.instructions]


def test_flavour_is_detected_from_text():
    assert isinstance(parse_text("set Q0 0\nset Q1 1\ncnot Q0 Q1\n").instructions[-1], vanilla.CnotInstruction)
    assert isinstance(parse_text("set Q0 0\nset Q1 1\ncrot_x Q0 Q1 1 2\n").instructions[-1],
                      nv.ControlledRotXInstruction)
    assert isinstance(parse_text("bichromatic 1 1\n").instructions[-1], trapped_ion.BichromaticInstruction)


def test_binary_flavour_decides_instruction_ids():
    sub = parse_text("set Q0 0\nset Q1 1\ncrot_x Q0 Q1 1 2\n", flavour="nv")
    raw = bytes(sub)
    assert isinstance(decode_binary(raw, "nv").instructions[-1], nv.ControlledRotXInstruction)
    assert isinstance(decode_binary(raw, "vanilla").instructions[-1], vanilla.CnotInstruction)  # same id 30


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("set R0 1\nfoo R0\n", r"line 2: unknown instruction 'foo'"),
        ("set R0\n", r"line 1: cannot parse 'set R0'"),
        ("set R0 1\nset R99 2\n", r"instruction 1 \(set\): register R99 does not exist"),
    ],
)
def test_malformed_text_names_the_line(text, pattern):
    with pytest.raises(DecodeError, match=pattern):
        parse_text(text)


def test_unknown_flavour():
    with pytest.raises(DecodeError, match="unknown flavour 'rainbow'; known flavours: vanilla, nv, trapped_ion"):
        parse_text("set R0 1\n", flavour="rainbow")


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        (b"\x01\x00", r"shorter than its 4-byte header"),
        (b"\x01\x00\x00\x00" + b"\x04" * 9, r"not a multiple of 7"),
        (b"\x01\x00\x00\x00" + bytes([250]) + b"\x00" * 6, r"instruction 0: unknown instruction id 250"),
    ],
)
def test_malformed_binary(raw, pattern):
    with pytest.raises(DecodeError, match=pattern):
        decode_binary(raw)


def test_mixed_flavours_are_named():
    with pytest.raises(DecodeError, match=r"line 3: 'init_all' .* mixes instructions of vanilla \(line 2\)"):
        parse_text("set Q0 0\nh Q0\ninit_all\n")


def test_app_id_range():
    with pytest.raises(DecodeError, match=r"# APPID 70000 is out of range 0..65535"):
        parse_text("# NETQASM 1.0\n# APPID 70000\nset R0 1\n")


def test_source_lines_map_instructions_to_text_lines():
    from qlab_os.qnpu.decode import source_lines

    text = "# NETQASM 1.0\n# APPID 0\narray 3 @0\nL:\nstore 5 @0[1]\n// c\njmp L\n"
    sub = parse_text(text)
    lines = source_lines(text)
    assert len(lines) == len(sub.instructions)
    assert lines == [3, 3, 5, 5, 5, 7]
