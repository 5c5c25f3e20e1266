"""Subroutines in, netqasm objects out: text and binary NetQASM through the netqasm package's own parser and
decoder, with their bare exceptions (KeyError, AssertionError...) turned into errors that name the line.
"""

from __future__ import annotations

import re

from netqasm.lang.encoding import COMMAND_BYTES, METADATA_BYTES
from netqasm.lang.instr.flavour import Flavour, NVFlavour, TrappedIonFlavour, VanillaFlavour
from netqasm.lang.operand import Address, ArrayEntry, ArraySlice, Immediate, Register
from netqasm.lang.parsing import deserialize, parse_text_subroutine
from netqasm.lang.subroutine import Subroutine
from netqasm.lang.version import NETQASM_VERSION

from qlab_os.errors import DecodeError
from qlab_os.qnpu.process import REGISTERS_PER_GROUP

FLAVOURS: dict[str, Flavour] = {
    "vanilla": VanillaFlavour(),
    "nv": NVFlavour(),
    "trapped_ion": TrappedIonFlavour(),
}

_LABEL_DEF = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*$")


def flavour_by_name(name: str) -> Flavour:
    try:
        return FLAVOURS[name]
    except KeyError:
        raise DecodeError(f"unknown flavour {name!r}; known flavours: {', '.join(FLAVOURS)}") from None


def parse_text(text: str, flavour: str | None = None) -> Subroutine:
    """Parse NetQASM text. Without a flavour, the first of vanilla, nv, trapped_ion that accepts it wins
    (mnemonics that differ between flavours decide)."""
    names = [flavour] if flavour is not None else list(FLAVOURS)
    for name in names:
        fl = flavour_by_name(name)
        try:
            sub = parse_text_subroutine(text, flavour=fl)
        except Exception:  # netqasm raises KeyError/ValueError/AssertionError/IndexError on bad text
            continue
        if sub.app_id is None:
            sub.app_id = 0  # no '# APPID' line: the app the subroutine is run for decides
        if not 0 <= sub.app_id <= _APP_ID_MAX:
            raise DecodeError(f"# APPID {sub.app_id} is out of range 0..{_APP_ID_MAX} (16 bits in the binary header)")
        if sub.netqasm_version is None:  # no '# NETQASM' line; netqasm offers no setter
            sub = Subroutine(instructions=sub.instructions, netqasm_version=NETQASM_VERSION, app_id=sub.app_id)
        validate(sub)
        return sub
    raise DecodeError(_diagnose_text(text, names))


def validate(sub: Subroutine) -> None:
    """Checks netqasm's parser leaves out: register indices (0..15), array addresses, immediates (32-bit)."""
    for line, instr in enumerate(sub.instructions):
        for op in instr.operands:
            for reg in _registers_in(op):
                if not 0 <= reg.index < REGISTERS_PER_GROUP:
                    raise DecodeError(f"instruction {line} ({instr.mnemonic}): register {reg.name.name}{reg.index} "
                                      f"does not exist (indices 0..{REGISTERS_PER_GROUP - 1})")
            if isinstance(op, Immediate) and not _I32_MIN <= op.value <= _I32_MAX:
                raise DecodeError(f"instruction {line} ({instr.mnemonic}): immediate {op.value} does not fit "
                                  "in 32 bits")
            address = op.address if isinstance(op, (ArrayEntry, ArraySlice)) else op
            if isinstance(address, Address) and not (isinstance(address.address, int) and address.address >= 0):
                raise DecodeError(f"instruction {line} ({instr.mnemonic}): bad array address {address}")


_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_APP_ID_MAX = 2**16 - 1


def _registers_in(op: object) -> list[Register]:
    if isinstance(op, Register):
        return [op]
    if isinstance(op, ArrayEntry):
        return [op.index] if isinstance(op.index, Register) else []
    if isinstance(op, ArraySlice):
        return [b for b in (op.start, op.stop) if isinstance(b, Register)]
    return []


def _diagnose_text(text: str, flavours: list[str]) -> str:
    """Find the first line that no flavour can parse on its own, and say why."""
    lines = text.splitlines()
    labels = {m.group(1) for line in lines if (m := _LABEL_DEF.match(line.split("//")[0]))}
    common = set(flavours)  # flavours that know every mnemonic seen so far
    first_seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.split("//")[0].strip()
        if not line or line.startswith("#") or _LABEL_DEF.match(line):
            continue
        words = [("0" if w in labels else w) for w in line.split()]
        mnemonic = words[0]
        known = [f for f in flavours if mnemonic in FLAVOURS[f].name_map]
        if not known:
            return f"line {lineno}: unknown instruction {mnemonic!r} (not in flavour {', '.join(flavours)})"
        if len(known) < len(flavours):
            first_seen.setdefault("/".join(known), lineno)
        if not common & set(known):
            where = ", ".join(f"{fl} (line {n})" for fl, n in first_seen.items())
            return (f"line {lineno}: {mnemonic!r} is not in the same flavour as the lines before: the subroutine "
                    f"mixes instructions of {where}; one subroutine has one flavour")
        common &= set(known)
        errors = []
        for f in known:
            try:
                parse_text_subroutine(" ".join(words) + "\n", flavour=FLAVOURS[f])
                break
            except Exception as exc:
                errors.append(str(exc) or type(exc).__name__)
        else:
            detail = errors[0] if errors and errors[0] not in ("AssertionError", "") else "malformed operands"
            return f"line {lineno}: cannot parse {line!r}: {detail}"
    return "cannot parse the subroutine (check the preamble '# NETQASM 1.0' / '# APPID n' and the labels)"


def source_lines(text: str) -> list[int] | None:
    """For NetQASM text: the 1-based text line of each instruction of the assembled subroutine.

    netqasm's assembler turns one text line into several instructions (``array 3 @0`` becomes ``set R? 3`` and
    ``array R? @0``) and keeps no line numbers, so errors would name instruction indices a reader cannot find.
    Each line is assembled alone to count what it becomes; None if that is not possible (e.g. macros).
    """
    lines = text.splitlines()
    labels = {m.group(1) for line in lines if (m := _LABEL_DEF.match(line.split("//")[0]))}
    mapping: list[int] = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.split("//")[0].strip()
        if not line or line.startswith("#") or _LABEL_DEF.match(line):
            continue
        words = [("0" if w in labels else w) for w in line.split()]
        count = None
        for fl in FLAVOURS.values():
            try:
                count = len(parse_text_subroutine(" ".join(words) + "\n", flavour=fl).instructions)
                break
            except Exception:
                continue
        if count is None:
            return None
        mapping += [lineno] * count
    return mapping


def decode_binary(raw: bytes, flavour: str = "vanilla") -> Subroutine:
    """Decode a binary subroutine (4 metadata bytes, then 7-byte commands) in the given flavour."""
    if len(raw) < METADATA_BYTES:
        raise DecodeError(f"binary subroutine of {len(raw)} bytes is shorter than its {METADATA_BYTES}-byte header")
    body = len(raw) - METADATA_BYTES
    if body % COMMAND_BYTES:
        raise DecodeError(f"binary subroutine body is {body} bytes, not a multiple of {COMMAND_BYTES} "
                          f"(truncated or not NetQASM)")
    fl = flavour_by_name(flavour)
    ids = fl.id_map
    for i in range(body // COMMAND_BYTES):
        if raw[METADATA_BYTES + i * COMMAND_BYTES] not in ids:
            instr_id = raw[METADATA_BYTES + i * COMMAND_BYTES]
            raise DecodeError(f"instruction {i}: unknown instruction id {instr_id} in flavour {flavour!r}")
    try:
        sub = deserialize(raw, flavour=fl)
    except Exception:
        raise DecodeError(_diagnose_binary(raw, fl)) from None
    validate(sub)
    return sub


def _diagnose_binary(raw: bytes, fl: Flavour) -> str:
    """Which command of a binary subroutine netqasm could not decode (only run after a failure)."""
    for i in range((len(raw) - METADATA_BYTES) // COMMAND_BYTES):
        cmd = raw[METADATA_BYTES + i * COMMAND_BYTES: METADATA_BYTES + (i + 1) * COMMAND_BYTES]
        try:
            fl.id_map[cmd[0]].deserialize_from(cmd)
        except Exception as exc:
            return f"instruction {i} ({fl.id_map[cmd[0]].mnemonic}): malformed operands: {exc or type(exc).__name__}"
    return "cannot decode the binary subroutine (bad header?)"


def load_subroutine(data: bytes, flavour: str | None = None) -> Subroutine:
    """Text if it decodes as UTF-8 text that looks like NetQASM, else binary."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        text = None  # control bytes: binary NetQASM (its header and operands are full of NULs)
    if text is not None:
        return parse_text(text, flavour)
    return decode_binary(data, flavour or "vanilla")
