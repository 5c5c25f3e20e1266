"""QDevice specs: which qubits a device has, which are communication qubits, and its native instructions
with their durations and noise. Loaded from YAML and validated; errors name the file, the key and the reason.

YAML layout (see ``qdrivers/sim/specs/*.yaml`` and docs/configuration.md)::

    name: sim-nv
    qubits:                      # physical qubits, index = position in this list
      - {name: electron, communication: true, t1_ns: 3.6e+12, t2_ns: 1.46e+9}
      - {name: carbon1, t1_ns: 3.6e+13, t2_ns: 1.0e+9}
    readout: {p_flip_0: 0.05, p_flip_1: 0.005}   # P(read 1 | 0), P(read 0 | 1)
    native:
      - {op: rot, axes: [x, y, z], qubits: [0], duration_ns: 5, depolarising_prob: 0.0}
      - {op: crot, axes: [x, y], pairs: [[0, 1]], duration_ns: 5.0e+5, depolarising_prob: 0.02}
      - {op: rot, axes: [x, y], addressing: global, duration_ns: 1.0e+4}

``qubits`` on a one-qubit entry defaults to every qubit; ``pairs`` on a two-qubit entry to every ordered
pair. ``addressing: global`` means the instruction acts on all qubits of the device at once (a global beam).
A ``t1_ns``/``t2_ns`` of ``.inf`` or missing means no decay. Every qubit needs a native ``init``; ``meas``
is needed on at least one qubit (qubits without it, like NV carbons, are read out through one that has it).
PyYAML reads a float only with a dot and a signed exponent: write ``1.0e-3`` and ``3.6e+12``, not ``3.6e12``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from qlab_os.config_checks import float_hint, reject_unknown, require
from qlab_os.errors import ConfigError
from qlab_os.qdevice.instructions import Axis, PhysicalOp

_ONE_QUBIT_OPS = frozenset({PhysicalOp.INIT, PhysicalOp.ROT, PhysicalOp.MEAS, PhysicalOp.ENT})
_TWO_QUBIT_OPS = frozenset({PhysicalOp.CROT, PhysicalOp.CNOT, PhysicalOp.CZ, PhysicalOp.MS})
_AXIS_OPS = frozenset({PhysicalOp.ROT, PhysicalOp.CROT})


@dataclass(frozen=True)
class QubitSpec:
    index: int
    name: str
    communication: bool = False
    t1_ns: float = math.inf
    t2_ns: float = math.inf


@dataclass(frozen=True)
class NativeGateSpec:
    """One native instruction of the device: on which qubits, how long, how noisy."""

    op: PhysicalOp
    duration_ns: int
    depolarising_prob: float = 0.0
    axes: frozenset[Axis] = frozenset()
    qubits: frozenset[int] = frozenset()
    """One-qubit ops: the qubits it may address."""
    pairs: frozenset[tuple[int, int]] = frozenset()
    """Two-qubit ops: the ordered (control, target) pairs it may act on."""
    global_: bool = False
    """Acts on all qubits of the device at once."""


@dataclass(frozen=True)
class QDeviceSpec:
    name: str
    qubits: tuple[QubitSpec, ...]
    natives: tuple[NativeGateSpec, ...]
    readout_p_flip_0: float = 0.0
    """Probability of reading 1 when the qubit is in |0>."""
    readout_p_flip_1: float = 0.0
    """Probability of reading 0 when the qubit is in |1>."""
    description: str = ""
    _index: dict[tuple[PhysicalOp, Axis | None, tuple[int, ...]], NativeGateSpec] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    @property
    def communication_qubits(self) -> tuple[int, ...]:
        return tuple(q.index for q in self.qubits if q.communication)

    @property
    def memory_qubits(self) -> tuple[int, ...]:
        return tuple(q.index for q in self.qubits if not q.communication)

    def native(self, op: PhysicalOp, qubits: tuple[int, ...], axis: Axis | None = None) -> NativeGateSpec | None:
        """The native entry that can carry out ``op`` on exactly these qubits, or None."""
        key = (op, axis, qubits)
        hit = self._index.get(key)
        if hit is not None:
            return hit
        everything = tuple(range(self.num_qubits))
        for gate in self.natives:
            if gate.op is not op or (op in _AXIS_OPS and axis not in gate.axes):
                continue
            if gate.global_:
                ok = qubits == everything
            elif op is PhysicalOp.MS:
                ok = len(qubits) == 2 and (qubits in gate.pairs or qubits[::-1] in gate.pairs)
            elif op in _TWO_QUBIT_OPS:
                ok = len(qubits) == 2 and qubits in gate.pairs
            elif op is PhysicalOp.NONE:
                ok = True
            else:
                ok = len(qubits) == 1 and qubits[0] in gate.qubits
            if ok:
                self._index[key] = gate
                return gate
        return None

    def supports(self, op: PhysicalOp, qubits: tuple[int, ...], axis: Axis | None = None) -> bool:
        return self.native(op, qubits, axis) is not None

    def ideal(self) -> QDeviceSpec:
        """The same device with every noise source off (durations kept)."""
        return replace(
            self,
            name=f"{self.name} (ideal)",
            qubits=tuple(replace(q, t1_ns=math.inf, t2_ns=math.inf) for q in self.qubits),
            natives=tuple(replace(g, depolarising_prob=0.0) for g in self.natives),
            readout_p_flip_0=0.0,
            readout_p_flip_1=0.0,
            _index={},
        )


def load_spec(path: str | Path) -> QDeviceSpec:
    """Read and validate a device spec YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), "<file>", f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), "<file>", f"not valid YAML: {exc}") from exc
    return parse_spec(data, source=str(p))


def parse_spec(data: Any, source: str = "<spec>") -> QDeviceSpec:
    """Validate a spec given as already-parsed YAML (a mapping)."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<top>", f"expected a mapping, got {type(data).__name__}")
    reject_unknown(data, {"name", "description", "qubits", "readout", "native", "references"}, source, "")
    name = require(data, "name", str, source, "name")
    raw_qubits = require(data, "qubits", list, source, "qubits")
    if not raw_qubits:
        raise ConfigError(source, "qubits", "a device needs at least one qubit")
    qubits = tuple(_parse_qubit(i, q, source) for i, q in enumerate(raw_qubits))
    names = [q.name for q in qubits]
    if len(set(names)) != len(names):
        raise ConfigError(source, "qubits", f"qubit names must be unique, got {names}")
    n = len(qubits)
    readout = data.get("readout", {}) or {}
    if not isinstance(readout, Mapping):
        raise ConfigError(source, "readout", "expected a mapping with p_flip_0 and p_flip_1")
    reject_unknown(readout, {"p_flip_0", "p_flip_1"}, source, "readout.")
    p0 = _prob(readout.get("p_flip_0", 0.0), source, "readout.p_flip_0")
    p1 = _prob(readout.get("p_flip_1", 0.0), source, "readout.p_flip_1")
    raw_natives = require(data, "native", list, source, "native")
    natives = tuple(_parse_native(i, g, n, source) for i, g in enumerate(raw_natives))
    spec = QDeviceSpec(
        name=name, qubits=qubits, natives=natives, readout_p_flip_0=p0, readout_p_flip_1=p1,
        description=str(data.get("description", "")),
    )
    everything = tuple(range(n))
    for q in qubits:
        if not (spec.supports(PhysicalOp.INIT, (q.index,)) or spec.supports(PhysicalOp.INIT, everything)):
            raise ConfigError(source, "native", f"qubit {q.index} ({q.name}) has no native 'init'")
    # A qubit without its own MEAS (an NV carbon) is read out through one that has it (the translator swaps).
    if not (spec.supports(PhysicalOp.MEAS, everything)
            or any(spec.supports(PhysicalOp.MEAS, (q.index,)) for q in qubits)):
        raise ConfigError(source, "native", "the device has no native 'meas' on any qubit")
    return spec


def _parse_qubit(i: int, raw: Any, source: str) -> QubitSpec:
    key = f"qubits[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, "expected a mapping with at least 'name'")
    reject_unknown(raw, {"name", "communication", "t1_ns", "t2_ns"}, source, key + ".")
    t1 = _duration(raw.get("t1_ns", math.inf), source, key + ".t1_ns")
    t2 = _duration(raw.get("t2_ns", math.inf), source, key + ".t2_ns")
    if t2 > 2 * t1:
        raise ConfigError(source, key, f"T2 ({t2:g} ns) cannot exceed 2*T1 ({2 * t1:g} ns)")
    comm = raw.get("communication", False)
    if not isinstance(comm, bool):
        raise ConfigError(source, key + ".communication", f"expected true or false, got {comm!r}")
    return QubitSpec(index=i, name=require(raw, "name", str, source, key + ".name"), communication=comm,
                     t1_ns=t1, t2_ns=t2)


def _parse_native(i: int, raw: Any, n: int, source: str) -> NativeGateSpec:
    key = f"native[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, "expected a mapping with 'op' and 'duration_ns'")
    reject_unknown(raw, {"op", "axes", "qubits", "pairs", "addressing", "duration_ns", "depolarising_prob"},
                    source, key + ".")
    op_name = require(raw, "op", str, source, key + ".op")
    try:
        op = PhysicalOp(op_name)
    except ValueError:
        known = ", ".join(o.value for o in PhysicalOp)
        raise ConfigError(source, key + ".op", f"unknown op {op_name!r}; known: {known}") from None
    duration = _duration(require(raw, "duration_ns", (int, float), source, key + ".duration_ns"), source,
                         key + ".duration_ns")
    if math.isinf(duration):
        raise ConfigError(source, key + ".duration_ns", "must be finite")
    depol = _prob(raw.get("depolarising_prob", 0.0), source, key + ".depolarising_prob")
    axes: frozenset[Axis] = frozenset()
    if op in _AXIS_OPS:
        raw_axes = raw.get("axes")
        if not isinstance(raw_axes, list) or not raw_axes:
            raise ConfigError(source, key + ".axes", f"'{op.value}' needs a list of axes from x, y, z")
        try:
            axes = frozenset(Axis(str(a)) for a in raw_axes)
        except ValueError:
            raise ConfigError(source, key + ".axes", f"axes must be x, y or z, got {raw_axes}") from None
        if op is PhysicalOp.CROT and Axis.Z in axes:
            raise ConfigError(source, key + ".axes", "crot supports axes x and y only")
    elif "axes" in raw:
        raise ConfigError(source, key + ".axes", f"'{op.value}' takes no axes")
    addressing = raw.get("addressing", "individual")
    if addressing not in ("individual", "global"):
        raise ConfigError(source, key + ".addressing", f"expected individual or global, got {addressing!r}")
    qubits: frozenset[int] = frozenset()
    pairs: frozenset[tuple[int, int]] = frozenset()
    if op in _TWO_QUBIT_OPS:
        if "qubits" in raw:
            raise ConfigError(source, key + ".qubits", f"'{op.value}' is a two-qubit op: use 'pairs'")
        raw_pairs = raw.get("pairs")
        if raw_pairs is None:
            pairs = frozenset((a, b) for a in range(n) for b in range(n) if a != b)
        else:
            if not isinstance(raw_pairs, list):
                raise ConfigError(source, key + ".pairs", "expected a list of [control, target] pairs")
            checked = []
            for j, pr in enumerate(raw_pairs):
                if (not isinstance(pr, list) or len(pr) != 2 or not all(isinstance(x, int) for x in pr)
                        or pr[0] == pr[1] or not all(0 <= x < n for x in pr)):
                    raise ConfigError(source, f"{key}.pairs[{j}]",
                                      f"expected two different qubit indices in 0..{n - 1}, got {pr!r}")
                checked.append((pr[0], pr[1]))
            pairs = frozenset(checked)
    else:
        if "pairs" in raw:
            raise ConfigError(source, key + ".pairs", f"'{op.value}' is a one-qubit op: use 'qubits'")
        raw_q = raw.get("qubits")
        if raw_q is None:
            qubits = frozenset(range(n))
        else:
            if not isinstance(raw_q, list) or not all(isinstance(x, int) and 0 <= x < n for x in raw_q):
                raise ConfigError(source, key + ".qubits", f"expected a list of qubit indices in 0..{n - 1}")
            qubits = frozenset(raw_q)
    return NativeGateSpec(op=op, duration_ns=round(duration), depolarising_prob=depol, axes=axes,
                          qubits=qubits, pairs=pairs, global_=addressing == "global")




def _prob(value: Any, source: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, path, f"expected a probability in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(source, path, f"probability must be in [0, 1], got {value}")
    return float(value)


def _duration(value: Any, source: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, path, f"expected a number of nanoseconds, got {value!r}{float_hint(value)}")
    if math.isnan(value) or value < 0:
        raise ConfigError(source, path, f"must be >= 0, got {value}")
    return float(value)


