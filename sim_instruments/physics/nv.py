"""The NV centre of a simulated NV node: electron spin qubit, charge state, optical readout.

The electron spin's ms=0 <-> ms=-1 transition is the qubit (ms=0 -> |0>, ms=-1 -> |1>), held in the shared
:class:`~sim_instruments.physics.world.QuantumWorld` and driven through
:class:`~sim_instruments.physics.qubit_model.DrivenQubit` (rotating frame, exact 2x2 drive, quasi-static T2*
offset per shot, Markovian T2 and T1 from elapsed time). What this module adds is the optics:

- ``green``: charge reset (NV- with probability ``nv_minus_probability``, else NV0) and spin pumping to ms=0
  with fidelity ``spin_init_fidelity``. The residual population is put in ms=+1: dark, and not driven by a field
  at the ms=0 <-> ms=-1 frequency (a "spectator" until the next green). Starts a shot (new quasi-static offset).
- ``readout``: resonant red readout. A projective spin measurement, then Poisson counts at
  ``(bright or dark rate + background) * duration``; NV0 gives background only. Spin flips during the readout
  window are not modelled (the rates are effective averages over the window); the spin is left in the
  measured state.
- ``charge_resonance_check``: both red lasers on; NV- fluoresces at ``cr_rate_hz`` (plus background), NV0 gives
  background only. The lasers also pump the spin to ms=0 (A1 repumps ms=+-1), as ``green``'s pumping does.

Every call advances the clock by its duration after applying the free evolution since the last call. The
closed forms a calibration fits are in docs/physics.md.

Hand-written: no library models an NV centre inside a shared density-matrix world under an injected clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim_instruments.physics.clock import LabClock, seconds_to_ns
from sim_instruments.physics.gates import X
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

__all__ = ["ChargeState", "NVCentre", "NVParams"]


class ChargeState(enum.Enum):
    NV_MINUS = "NV-"
    NV_ZERO = "NV0"


@dataclass(frozen=True)
class NVParams:
    """Physical parameters of one NV centre (the ``nv:`` mapping of the physics YAML)."""

    zero_field_splitting_hz: float = param(KIND_POSITIVE, "ground-state zero-field splitting D, Hz")
    gyromagnetic_ratio_hz_per_t: float = param(KIND_POSITIVE, "electron gyromagnetic ratio gamma_e, Hz/T")
    magnetic_field_t: float = param(KIND_REAL, "static field along the NV axis, T")
    t1_s: float = param(KIND_POSITIVE_OR_INF, "electron spin relaxation time T1, s")
    t2_s: float = param(KIND_POSITIVE_OR_INF, "Hahn-echo (Markovian) coherence time T2, s")
    t2_star_s: float = param(KIND_POSITIVE_OR_INF, "inhomogeneous (Ramsey) dephasing time T2*, s")
    nv_minus_probability: float = param(KIND_PROBABILITY, "probability of NV- after a green pulse")
    spin_init_fidelity: float = param(KIND_PROBABILITY, "population of ms=0 after spin pumping")
    readout_bright_rate_hz: float = param(KIND_NONNEGATIVE, "detected photon rate in ms=0 under readout, Hz")
    readout_dark_rate_hz: float = param(KIND_NONNEGATIVE, "detected photon rate in ms=+-1 under readout, Hz")
    background_rate_hz: float = param(KIND_NONNEGATIVE, "background (stray light, dark counts) rate, Hz")
    cr_rate_hz: float = param(KIND_NONNEGATIVE, "detected rate of NV- with both red lasers on resonance, Hz")
    reference_rabi_frequency_hz: float = param(
        KIND_POSITIVE, "Rabi frequency of the full-scale microwave drive (for the lab wiring; the model takes "
        "the Rabi frequency per call), Hz"
    )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], where: str) -> NVParams:
        """Build and validate from the physics YAML's ``nv:`` mapping; errors name ``where`` and the key."""
        p = params_from_mapping(cls, mapping, where)
        check_t1_t2(p.t1_s, p.t2_s, where)
        if p.transition_frequency_hz <= 0.0:
            raise PhysicsParamsError(
                f"{where}.magnetic_field_t: D - gamma_e*B = {p.transition_frequency_hz:g} Hz; the ms=0 <-> ms=-1 "
                "transition must stay above 0 Hz"
            )
        return p

    @property
    def transition_frequency_hz(self) -> float:
        """ms=0 <-> ms=-1: ``D - gamma_e * B``."""
        return self.zero_field_splitting_hz - self.gyromagnetic_ratio_hz_per_t * self.magnetic_field_t


class NVCentre(DrivenSystem):
    """One NV centre's electron spin in ``world`` (see the module docstring). Random draws come from ``rng``."""

    def __init__(self, params: NVParams, world: QuantumWorld, rng: np.random.Generator, clock: LabClock) -> None:
        super().__init__(params, world, rng, clock)
        self._params = params
        self._charge = ChargeState.NV_MINUS
        self._spectator = False

    # -- state --
    @property
    def params(self) -> NVParams:
        return self._params

    @property
    def electron_qubit_id(self) -> int:
        return self._qubit.qubit_id

    @property
    def charge_state(self) -> ChargeState:
        return self._charge

    @property
    def in_spectator_state(self) -> bool:
        """True while the spin sits in ms=+1 (left there by imperfect pumping): dark and not driven."""
        return self._spectator

    # -- operations --
    def green(self, duration_s: float) -> None:
        """Green pulse: charge reset, spin pumping to ms=0, and a new shot (quasi-static offset)."""
        seconds_to_ns(duration_s)
        q = self._qubit
        q.sync()
        minus = self._rng.random() < self._params.nv_minus_probability
        self._charge = ChargeState.NV_MINUS if minus else ChargeState.NV_ZERO
        self._pump_spin()
        q.new_shot_offset()
        q.advance_clock(duration_s)

    def drive(self, frequency_hz: float, rabi_frequency_hz: float, phase_rad: float, duration_s: float) -> None:
        """A microwave pulse at ``frequency_hz`` with Rabi frequency ``rabi_frequency_hz`` (Hz, not rad/s)."""
        check_drive(frequency_hz, rabi_frequency_hz, phase_rad, duration_s)
        q = self._qubit
        q.sync()
        if self._charge is ChargeState.NV_MINUS and not self._spectator:
            q.rotate(frequency_hz, rabi_frequency_hz, phase_rad, duration_s)
        else:  # NV0 or ms=+1: the field is off resonance; the qubit only evolves freely
            q.evolve_freely_ns(seconds_to_ns(duration_s))
        q.advance_clock(duration_s)

    def readout(self, duration_s: float) -> int:
        """Resonant red readout window: photon counts drawn from the projected spin state."""
        window_ns = seconds_to_ns(duration_s)
        q = self._qubit
        q.sync()
        p = self._params
        rate_hz = p.background_rate_hz
        if self._charge is ChargeState.NV_MINUS:
            outcome = q.world.measure(q.qubit_id)
            rate_hz += p.readout_bright_rate_hz if outcome == 0 else p.readout_dark_rate_hz
        q.advance_clock(duration_s)
        return int(self._rng.poisson(rate_hz * window_ns * 1.0e-9))

    def charge_resonance_check(self, duration_s: float) -> int:
        """Both red lasers on for ``duration_s``: counts high for NV- (on resonance), background for NV0."""
        window_ns = seconds_to_ns(duration_s)
        q = self._qubit
        q.sync()
        p = self._params
        rate_hz = p.background_rate_hz
        if self._charge is ChargeState.NV_MINUS:
            rate_hz += p.cr_rate_hz
            self._pump_spin()
        q.advance_clock(duration_s)
        return int(self._rng.poisson(rate_hz * window_ns * 1.0e-9))

    def _pump_spin(self) -> None:
        """Spin pumping: ms=0 with probability ``spin_init_fidelity``, else the ms=+1 spectator (|1>, dark)."""
        world, qid = self._qubit.world, self._qubit.qubit_id
        world.reset(qid)
        self._spectator = bool(self._rng.random() >= self._params.spin_init_fidelity)
        if self._spectator:
            world.apply_unitary(X, [qid])
