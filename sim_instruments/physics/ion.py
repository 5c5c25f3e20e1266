"""The 40Ca+ ion of a simulated trapped-ion node: the S1/2 - D5/2 optical qubit and its motion.

The qubit is ``|0> = S1/2(m=-1/2)``, ``|1> = D5/2(m=-5/2)``, held in the shared
:class:`~sim_instruments.physics.world.QuantumWorld` and driven through
:class:`~sim_instruments.physics.qubit_model.DrivenQubit` (frame of the 729 nm laser, exact 2x2 carrier pulses,
quasi-static T2* offset per shot, Markovian T2, and T1 = the D5/2 lifetime, which decays to S1/2(m=-1/2) only).
The line is ``line_frequency_hz + (g_d52 m_d52 - g_s12 m_s12) muB B / h``. What this module adds:

- ``doppler_cool``: draws the shot's motional quantum number ``n`` from the thermal distribution
  ``P(n) = n_bar^n / (n_bar + 1)^(n+1)`` and the shot's quasi-static offset. The electronic state is left to
  ``optical_pump`` and ``repump_854``.
- ``pulse_729``: a carrier pulse whose Rabi frequency is the given (free-ion) one times the Debye-Waller factor
  of the shot's ``n``: ``Omega_n = Omega e^(-eta^2/2) L_n(eta^2)``, so the ensemble shows thermally dephased
  flopping (closed form in docs/physics.md). Sideband transitions are not modelled one by one; the bichromatic
  Molmer-Sorensen interaction of a chain is, in closed form (:mod:`sim_instruments.physics.ion_chain`).
- ``optical_pump``: puts the ion in ``|0>``; with probability ``1 - optical_pumping_fidelity`` it is left in
  S1/2(m=+1/2) instead, a spectator that the 729 line does not drive and that detection sees bright.
- ``detect``: 397 + 866 nm. Projective; ``|0>`` scatters at ``detection_bright_rate_hz`` (+ background);
  ``|1>`` is dark (background only) unless the D5/2 level decays during the window (exponential with the
  lifetime), after which the ion is bright for the rest of the window and is left in ``|0>``.
- ``repump_854``: empties D5/2 into S1/2 (the qubit goes to ``|0>``).

Every call advances the clock by its duration after applying the free evolution since the last call. The
``*_now`` methods do the same work without touching the clock, for an :class:`~.ion_chain.IonChain` whose ions
share one clock and act at the same time.

Hand-written: no library models a trapped ion inside a shared density-matrix world under an injected clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim_instruments.physics.clock import LabClock, seconds_to_ns
from sim_instruments.physics.qubit_model import (
    KIND_NONNEGATIVE,
    KIND_POSITIVE,
    KIND_POSITIVE_OR_INF,
    KIND_PROBABILITY,
    KIND_REAL,
    DrivenSystem,
    PhysicsParamsError,
    check_drive,
    check_t1_t2,
    param,
    params_from_mapping,
)
from sim_instruments.physics.world import QuantumWorld

__all__ = ["CalciumIon", "IonParams", "debye_waller_factor"]


@dataclass(frozen=True)
class IonParams:
    """Physical parameters of one 40Ca+ ion (the ``ion:`` mapping of the physics YAML)."""

    line_frequency_hz: float = param(KIND_POSITIVE, "S1/2 - D5/2 line centre (no field), Hz")
    bohr_magneton_hz_per_t: float = param(KIND_POSITIVE, "Bohr magneton / h, Hz/T")
    g_s12: float = param(KIND_REAL, "Lande g factor of S1/2")
    g_d52: float = param(KIND_REAL, "Lande g factor of D5/2")
    m_s12: float = param(KIND_REAL, "magnetic quantum number of the qubit's S1/2 sublevel")
    m_d52: float = param(KIND_REAL, "magnetic quantum number of the qubit's D5/2 sublevel")
    magnetic_field_t: float = param(KIND_REAL, "quantisation field, T")
    t1_s: float = param(KIND_POSITIVE_OR_INF, "D5/2 lifetime (qubit T1), s")
    t2_s: float = param(KIND_POSITIVE_OR_INF, "Markovian coherence time T2, s")
    t2_star_s: float = param(KIND_POSITIVE_OR_INF, "quasi-static (Ramsey) dephasing time T2*, s")
    lamb_dicke_eta: float = param(KIND_NONNEGATIVE, "Lamb-Dicke parameter of the 729 nm beam on the mode")
    doppler_n_bar: float = param(KIND_NONNEGATIVE, "mean phonon number after Doppler cooling")
    optical_pumping_fidelity: float = param(KIND_PROBABILITY, "population of S1/2(m=-1/2) after pumping")
    detection_bright_rate_hz: float = param(KIND_NONNEGATIVE, "detected 397 nm rate of the bright ion, Hz")
    background_rate_hz: float = param(KIND_NONNEGATIVE, "background rate under detection, Hz")
    reference_rabi_frequency_hz: float = param(
        KIND_POSITIVE, "carrier Rabi frequency of the full-power 729 nm beam (for the lab wiring; the model takes "
        "the Rabi frequency per call), Hz"
    )
    axial_mode_frequency_hz: float = param(
        KIND_POSITIVE, "axial centre-of-mass mode frequency (single ion: its axial trap frequency), Hz"
    )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], where: str) -> IonParams:
        """Build and validate from the physics YAML's ``ion:`` mapping; errors name ``where`` and the key."""
        p = params_from_mapping(cls, mapping, where)
        check_t1_t2(p.t1_s, p.t2_s, where)
        if p.transition_frequency_hz <= 0.0:
            raise PhysicsParamsError(f"{where}.line_frequency_hz: the qubit line must stay above 0 Hz")
        return p

    @property
    def zeeman_shift_hz(self) -> float:
        """``(g_d52 m_d52 - g_s12 m_s12) muB B / h``: the qubit line's offset from the line centre."""
        return (self.g_d52 * self.m_d52 - self.g_s12 * self.m_s12) * self.bohr_magneton_hz_per_t * self.magnetic_field_t

    @property
    def transition_frequency_hz(self) -> float:
        return self.line_frequency_hz + self.zeeman_shift_hz


def debye_waller_factor(n: int, eta: float) -> float:
    """Carrier coupling of motional state ``n`` relative to an ion at rest: ``e^(-eta^2/2) L_n(eta^2)``."""
    x = eta * eta
    prev, cur = 1.0, 1.0 - x  # L_0, L_1
    if n == 0:
        return math.exp(-0.5 * x)
    for k in range(1, n):
        prev, cur = cur, ((2 * k + 1 - x) * cur - k * prev) / (k + 1)
    return math.exp(-0.5 * x) * cur


class CalciumIon(DrivenSystem):
    """One 40Ca+ ion's optical qubit in ``world`` (see the module docstring). Random draws come from ``rng``."""

    def __init__(self, params: IonParams, world: QuantumWorld, rng: np.random.Generator, clock: LabClock) -> None:
        super().__init__(params, world, rng, clock)
        self._params = params
        self._n = 0
        self._dw: list[float] = [debye_waller_factor(0, params.lamb_dicke_eta)]
        self._spectator = False

    # -- state --
    @property
    def params(self) -> IonParams:
        return self._params

    @property
    def qubit_id(self) -> int:
        return self._qubit.qubit_id

    @property
    def motional_quantum_number(self) -> int:
        """The shot's phonon number ``n`` (drawn by :meth:`doppler_cool`)."""
        return self._n

    @property
    def in_spectator_state(self) -> bool:
        """True while the ion sits in S1/2(m=+1/2) after imperfect pumping: bright and not driven."""
        return self._spectator

    def shot_rabi_factor(self) -> float:
        """The Debye-Waller factor of the shot's ``n``."""
        while len(self._dw) <= self._n:
            self._dw.append(debye_waller_factor(len(self._dw), self._params.lamb_dicke_eta))
        return self._dw[self._n]

    # -- operations --
    def doppler_cool(self, duration_s: float) -> None:
        """Doppler cooling: a new thermal ``n`` and a new quasi-static offset (starts a shot)."""
        seconds_to_ns(duration_s)
        self._qubit.sync()
        self.start_shot(self.draw_motional_quantum_number())
        self._qubit.advance_clock(duration_s)

    def optical_pump(self, duration_s: float) -> None:
        """Pump into ``|0>`` = S1/2(m=-1/2); imperfect pumping leaves the S1/2(m=+1/2) spectator."""
        seconds_to_ns(duration_s)
        self._qubit.sync()
        self.pump_now()
        self._qubit.advance_clock(duration_s)

    def pulse_729(self, frequency_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> None:
        """A 729 nm carrier pulse; ``rabi_frequency_hz`` is the free-ion Rabi frequency (Hz, not rad/s)."""
        check_drive(frequency_hz, rabi_frequency_hz, phase_rad, duration_s)
        self._qubit.sync()
        self.pulse_now(frequency_hz, rabi_frequency_hz, phase_rad, duration_s)
        self._qubit.advance_clock(duration_s)

    def detect(self, duration_s: float) -> int:
        """397 + 866 nm detection window: PMT counts from the projected state (see the module docstring)."""
        window_s = seconds_to_ns(duration_s) * 1.0e-9
        self._qubit.sync()
        counts = self.detect_now(window_s)
        self._qubit.advance_clock(duration_s)
        return counts

    def repump_854(self, duration_s: float) -> None:
        """854 nm: D5/2 -> P3/2 -> S1/2; the qubit ends in ``|0>``."""
        seconds_to_ns(duration_s)
        self._qubit.sync()
        self.repump_now()
        self._qubit.advance_clock(duration_s)

    # -- the same, without touching the clock (for a chain whose ions share one; see ion_chain.py) --
    def draw_motional_quantum_number(self) -> int:
        """A phonon number drawn from the thermal distribution of mean ``doppler_n_bar``."""
        n_bar = self._params.doppler_n_bar
        return int(self._rng.geometric(1.0 / (n_bar + 1.0))) - 1 if n_bar > 0.0 else 0

    def start_shot(self, motional_quantum_number: int) -> None:
        """Take the shot's phonon number (shared by a chain) and draw the shot's quasi-static offset."""
        if motional_quantum_number < 0:
            raise ValueError(f"motional_quantum_number must be >= 0, got {motional_quantum_number}")
        self._n = motional_quantum_number
        self._qubit.new_shot_offset()

    def pump_now(self) -> None:
        q = self._qubit
        q.world.reset(q.qubit_id)
        self._spectator = bool(self._rng.random() >= self._params.optical_pumping_fidelity)

    def pulse_now(self, frequency_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> None:
        q = self._qubit
        if self._spectator or rabi_frequency_hz == 0.0:
            q.evolve_freely_ns(seconds_to_ns(duration_s))
        else:
            q.rotate(frequency_hz, rabi_frequency_hz * self.shot_rabi_factor(), phase_rad, duration_s)

    def detect_now(self, window_s: float) -> int:
        q = self._qubit
        p = self._params
        bright_s = window_s
        if not self._spectator and q.world.measure(q.qubit_id) == 1:
            decay_s = float(self._rng.exponential(p.t1_s)) if math.isfinite(p.t1_s) else math.inf
            if decay_s < window_s:
                bright_s = window_s - decay_s
                q.world.reset(q.qubit_id)
            else:
                bright_s = 0.0
        return int(self._rng.poisson(p.background_rate_hz * window_s + p.detection_bright_rate_hz * bright_s))

    def repump_now(self) -> None:
        q = self._qubit
        q.world.reset(q.qubit_id)
