"""What the NV and the ion models share: parameter mappings, and a driven qubit with a clock.

:func:`params_from_mapping` builds a frozen parameter dataclass from one mapping of the physics YAML, checking
every key: unknown and missing keys, non-numbers (PyYAML reads ``1e-3`` as a string) and out-of-range values are
refused with a :class:`PhysicsParamsError` that names the place (``where``) and the key.

:class:`DrivenQubit` is one qubit of the shared :class:`~sim_instruments.physics.world.QuantumWorld` driven by a
near-resonant field, as seen in a rotating frame:

- **Frame.** The state is kept in the frame of a phase-continuous reference oscillator at ``frame_frequency_hz``
  (the microwave source or the 729 nm laser). Between calls the qubit precesses at
  ``transition + offset - frame``, so a Ramsey experiment shows fringes at the detuning from the frame.
- **Drive.** ``H/h = (Delta/2) sz + (Omega/2)(cos(phase) sx + sin(phase) sy)`` with ``Delta = transition +
  offset - drive``, integrated exactly (a 2x2 closed form, no small-angle approximation). The drive's phase is
  referenced to the frame oscillator at the start of the pulse; a drive off the frame frequency (an AWG sideband)
  also advances the bookkeeping phase by ``2 pi (drive - frame) duration``.
- **Noise.** A quasi-static offset, drawn per shot from a Gaussian of standard deviation
  ``sqrt(2) / (2 pi T2*)`` Hz, gives the ensemble Ramsey decay ``exp(-(t/T2*)^2)``; on top, T1 relaxation to
  |0> and Markovian dephasing with ``exp(-t/T2)`` (the echo decay) come from
  :func:`~sim_instruments.physics.channels.idle_kraus` for every elapsed interval.
- **Time.** Each call first applies the free evolution since the model last looked at the clock (time that other
  parts of the lab let pass), then does its own work and advances the clock by its duration. Durations are exact
  in the physics; the integer-ns clock is advanced by the rounded duration, carrying the rounding remainder into
  the next call, so the clock never drifts more than half a nanosecond from the sum of the durations.

Hand-written because no library offers a qubit model that lives in a shared, lazily-updated density-matrix world
under an injected clock; the arithmetic is a few closed-form 2x2 and 4x4 matrices.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from sim_instruments.physics.channels import idle_kraus, superoperator
from sim_instruments.physics.clock import LabClock, seconds_to_ns
from sim_instruments.physics.gates import ComplexMatrix
from sim_instruments.physics.world import QuantumWorld

__all__ = ["DrivenQubit", "PhysicsParamsError", "drive_unitary", "params_from_mapping", "quasi_static_sigma_hz"]

_TWO_PI = 2.0 * math.pi
_IDLE_CACHE_SIZE = 4096


class PhysicsParamsError(ValueError):
    """A physics parameter mapping is malformed; the message names the place and the key."""


# ---- parameters ------------------------------------------------------------------------------------------

KIND_POSITIVE = "positive"
KIND_NONNEGATIVE = "nonnegative"
KIND_PROBABILITY = "probability"
KIND_REAL = "real"
KIND_POSITIVE_OR_INF = "positive_or_inf"


def param(kind: str, doc: str) -> Any:
    """A dataclass field of a parameter set: ``kind`` is its allowed range, ``doc`` its meaning and unit."""
    return dataclasses.field(metadata={"kind": kind, "doc": doc})


_KIND_TEXT = {
    KIND_POSITIVE: "a finite number > 0",
    KIND_NONNEGATIVE: "a finite number >= 0",
    KIND_PROBABILITY: "a number in [0, 1]",
    KIND_REAL: "a finite number",
    KIND_POSITIVE_OR_INF: "a number > 0 (.inf for none)",
}

P = TypeVar("P")


def params_from_mapping(cls: type[P], mapping: object, where: str) -> P:
    """An instance of the parameter dataclass ``cls`` from ``mapping``; errors name ``where`` and the key."""
    if not isinstance(mapping, Mapping):
        raise PhysicsParamsError(f"{where}: expected a mapping of parameters, got {type(mapping).__name__}")
    assert dataclasses.is_dataclass(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in mapping if k not in fields)
    if unknown:
        raise PhysicsParamsError(f"{where}.{unknown[0]}: unknown parameter; known: {', '.join(sorted(fields))}")
    values: dict[str, float] = {}
    for name, f in fields.items():
        if name not in mapping:
            raise PhysicsParamsError(f"{where}.{name}: missing ({f.metadata['doc']})")
        values[name] = _checked(mapping[name], f.metadata["kind"], f"{where}.{name}")
    return cls(**values)


def _checked(value: object, kind: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str):
            hint = " (write floats as 1.0e-3, not 1e-3: YAML reads the latter as a string)"
        raise PhysicsParamsError(f"{where}: must be {_KIND_TEXT[kind]}, got {value!r}{hint}")
    x = float(value)
    ok = {
        KIND_POSITIVE: math.isfinite(x) and x > 0.0,
        KIND_NONNEGATIVE: math.isfinite(x) and x >= 0.0,
        KIND_PROBABILITY: 0.0 <= x <= 1.0,
        KIND_REAL: math.isfinite(x),
        KIND_POSITIVE_OR_INF: x > 0.0,
    }[kind]
    if not ok:
        raise PhysicsParamsError(f"{where}: must be {_KIND_TEXT[kind]}, got {value!r}")
    return x


def check_t1_t2(t1_s: float, t2_s: float, where: str) -> None:
    """Markovian T2 cannot exceed 2 T1."""
    if t2_s > 2.0 * t1_s:
        raise PhysicsParamsError(f"{where}.t2_s: T2 ({t2_s:g} s) cannot exceed 2*T1 ({2.0 * t1_s:g} s, from t1_s)")


# ---- closed forms ----------------------------------------------------------------------------------------


def quasi_static_sigma_hz(t2_star_s: float) -> float:
    """Standard deviation of the Gaussian frequency offset whose ensemble Ramsey decay is ``exp(-(t/T2*)^2)``.

    ``<cos(2 pi d t)> = exp(-(2 pi sigma t)^2 / 2)``, so ``sigma = sqrt(2) / (2 pi T2*)``.
    """
    return math.sqrt(2.0) / (_TWO_PI * t2_star_s)


def drive_unitary(detuning_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> ComplexMatrix:
    """``exp(-i 2 pi T H/h)`` for ``H/h = (Delta/2) sz + (Omega/2)(cos(phase) sx + sin(phase) sy)``.

    ``= cos(pi W T) I - i sin(pi W T) (n . sigma)`` with ``W = sqrt(Omega^2 + Delta^2)`` and
    ``n = (Omega cos(phase), Omega sin(phase), Delta) / W``.
    """
    w = math.hypot(rabi_frequency_hz, detuning_hz)
    u = np.empty((2, 2), dtype=np.complex128)
    if w == 0.0:
        u[:] = ((1.0, 0.0), (0.0, 1.0))
        return u
    c = math.cos(math.pi * w * duration_s)
    s = math.sin(math.pi * w * duration_s) / w
    nx = rabi_frequency_hz * math.cos(phase_rad) * s
    ny = rabi_frequency_hz * math.sin(phase_rad) * s
    nz = detuning_hz * s
    u[0, 0] = complex(c, -nz)
    u[1, 1] = complex(c, nz)
    u[0, 1] = complex(-ny, -nx)
    u[1, 0] = complex(ny, -nx)
    return u


def _rz_superop_diagonal(angle_rad: float) -> ComplexMatrix:
    """Diagonal of the superoperator of ``R_z(angle) = diag(e^{-i a/2}, e^{i a/2})`` (row-major vec)."""
    phase = complex(math.cos(angle_rad), -math.sin(angle_rad))
    return np.array([1.0, phase, phase.conjugate(), 1.0], dtype=np.complex128)


# ---- the driven qubit ------------------------------------------------------------------------------------


class DrivenQubit:
    """One qubit of ``world`` with a transition frequency, a frame, a per-shot offset, T1/T2 and a clock.

    See the module docstring for the model. ``t1_s``/``t2_s`` may be ``inf`` (no such decay).
    """

    def __init__(
        self,
        world: QuantumWorld,
        rng: np.random.Generator,
        clock: LabClock,
        *,
        transition_frequency_hz: float,
        t1_s: float,
        t2_s: float,
        t2_star_s: float,
    ) -> None:
        self._world = world
        self._rng = rng
        self._clock = clock
        self._qid = world.new_qubit()
        self._transition_hz = transition_frequency_hz
        self._frame_hz = transition_frequency_hz
        self._offset_hz = 0.0
        self._sigma_hz = quasi_static_sigma_hz(t2_star_s)
        self._t1_ns = t1_s * 1.0e9
        self._t2_ns = t2_s * 1.0e9
        self._last_ns = clock.now_ns()
        self._carry_ns = 0.0
        self._idle_cache: dict[float, ComplexMatrix] = {}

    # -- read-only state --
    @property
    def qubit_id(self) -> int:
        return self._qid

    @property
    def transition_frequency_hz(self) -> float:
        """The qubit's transition frequency without the shot's quasi-static offset."""
        return self._transition_hz

    @property
    def frame_frequency_hz(self) -> float:
        return self._frame_hz

    @property
    def shot_offset_hz(self) -> float:
        """The quasi-static frequency offset of the current shot."""
        return self._offset_hz

    @property
    def world(self) -> QuantumWorld:
        return self._world

    @property
    def clock(self) -> LabClock:
        return self._clock

    # -- time --
    def set_frame_frequency(self, frequency_hz: float) -> None:
        """Make ``frequency_hz`` the phase-continuous reference oscillator (e.g. the source's frequency)."""
        self.sync()
        self._frame_hz = _finite(frequency_hz, "frequency_hz")

    def sync(self) -> None:
        """Apply the free evolution from the last look at the clock up to its present time."""
        now = self._clock.now_ns()
        elapsed = now - self._last_ns
        if elapsed < 0:
            raise ValueError(f"the clock went backwards: it reads {now} ns, the qubit last saw {self._last_ns} ns")
        if elapsed > 0:
            self.evolve_freely_ns(float(elapsed))
        self._last_ns = now

    def wait(self, duration_s: float) -> None:
        """Let the qubit evolve freely for ``duration_s`` and advance the clock by it."""
        self.sync()
        self.evolve_freely_ns(seconds_to_ns(duration_s))
        self.advance_clock(duration_s)

    def new_shot_offset(self) -> None:
        """Draw the quasi-static offset of a new shot."""
        self._offset_hz = float(self._rng.normal(0.0, self._sigma_hz)) if self._sigma_hz > 0.0 else 0.0

    def advance_clock(self, duration_s: float) -> None:
        """Advance the clock by ``duration_s`` (rounded, carrying the remainder) and mark the qubit up to date."""
        exact = seconds_to_ns(duration_s) + self._carry_ns
        step = round(exact)
        self._carry_ns = exact - step
        if step > 0:
            self._clock.advance_ns(step)
        self._last_ns = self._clock.now_ns()

    # -- evolution --
    def _idle_superop(self, elapsed_ns: float) -> ComplexMatrix:
        s = self._idle_cache.get(elapsed_ns)
        if s is None:
            if len(self._idle_cache) >= _IDLE_CACHE_SIZE:
                self._idle_cache.clear()
            s = superoperator(idle_kraus(elapsed_ns, self._t1_ns, self._t2_ns))
            self._idle_cache[elapsed_ns] = s
        return s

    def evolve_freely_ns(self, elapsed_ns: float) -> None:
        """Precession at ``transition + offset - frame`` and T1/T2 decay for ``elapsed_ns``."""
        if elapsed_ns <= 0.0:
            return
        detuning_hz = self._transition_hz + self._offset_hz - self._frame_hz
        angle = _TWO_PI * detuning_hz * elapsed_ns * 1.0e-9
        superop = self._idle_superop(elapsed_ns) * _rz_superop_diagonal(angle)[None, :]
        self._world.apply_superop(superop, [self._qid])

    def rotate(self, frequency_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> None:
        """The drive's exact evolution in the frame, plus T1/T2 decay for the pulse (applied after it)."""
        detuning_hz = self._transition_hz + self._offset_hz - frequency_hz
        u = drive_unitary(detuning_hz, rabi_frequency_hz, phase_rad, duration_s)
        if frequency_hz != self._frame_hz:
            frame_angle = _TWO_PI * (frequency_hz - self._frame_hz) * duration_s
            half = 0.5 * frame_angle
            u = np.array([[complex(math.cos(half), -math.sin(half))], [complex(math.cos(half), math.sin(half))]]) * u
        superop = self._idle_superop(seconds_to_ns(duration_s)) @ np.kron(u, u.conj())
        self._world.apply_superop(superop, [self._qid])


def check_drive(frequency_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> None:
    """Refuse non-finite drive settings and a negative Rabi frequency, naming the argument."""
    _finite(frequency_hz, "frequency_hz")
    _finite(phase_rad, "phase_rad")
    if _finite(rabi_frequency_hz, "rabi_frequency_hz") < 0.0:
        raise ValueError(f"rabi_frequency_hz must be >= 0, got {rabi_frequency_hz!r}")
    seconds_to_ns(duration_s)


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class QubitParams(Protocol):
    """What a platform's parameters give its driven qubit."""

    @property
    def transition_frequency_hz(self) -> float: ...
    @property
    def t1_s(self) -> float: ...
    @property
    def t2_s(self) -> float: ...
    @property
    def t2_star_s(self) -> float: ...


class DrivenSystem:
    """Base of a platform model (NV centre, ion) built on one :class:`DrivenQubit`: the shared frame, clock and
    free-evolution operations, so each platform only adds its own light-matter operations."""

    def __init__(self, params: QubitParams, world: QuantumWorld, rng: np.random.Generator, clock: LabClock) -> None:
        self._rng = rng
        self._qubit = DrivenQubit(
            world,
            rng,
            clock,
            transition_frequency_hz=params.transition_frequency_hz,
            t1_s=params.t1_s,
            t2_s=params.t2_s,
            t2_star_s=params.t2_star_s,
        )

    @property
    def qubit(self) -> DrivenQubit:
        """The driven qubit (transition and frame frequencies, shot offset)."""
        return self._qubit

    @property
    def transition_frequency_hz(self) -> float:
        return self._qubit.transition_frequency_hz

    def set_frame_frequency(self, frequency_hz: float) -> None:
        """The phase-continuous reference frequency (microwave source, 729 nm light); free precession runs at
        transition - frame."""
        self._qubit.set_frame_frequency(frequency_hz)

    def wait(self, duration_s: float) -> None:
        """Free evolution for ``duration_s``; advances the clock."""
        self._qubit.wait(duration_s)

    def sync(self) -> None:
        """Apply the free evolution up to the clock's present time (before another part touches the qubit)."""
        self._qubit.sync()
