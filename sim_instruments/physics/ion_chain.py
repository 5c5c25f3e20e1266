"""A linear chain of N 40Ca+ ions sharing one axial mode: addressed carrier pulses and the bichromatic
Molmer-Sorensen (MS) interaction.

Each ion is a :class:`~sim_instruments.physics.ion.CalciumIon` (its own qubit in the shared world, its own
quasi-static offset and spectator state); the chain adds what they share:

- **Motion.** One Doppler-cooled axial centre-of-mass (COM) mode: one thermal phonon number ``n`` per shot for all
  ions. Carrier pulses keep the single-ion Lamb-Dicke parameter ``eta`` in their Debye-Waller factor (each ion's
  squared participations over the N axial modes sum to one, so ``eta^2`` is the total carrier dephasing; the modes'
  occupations are lumped into one draw). The MS interaction couples to the COM mode, where each ion's Lamb-Dicke
  parameter is ``eta / sqrt(N)`` (James, Appl. Phys. B 66, 181 (1998)).
- **Time.** Every operation acts on all ions at once and advances the shared clock once.
- **Carrier pulses per ion** (:meth:`IonChain.pulse_729`): each ion gets its own Rabi frequency (the lab's
  addressing optics decide them; 0 = not lit).
- **MS** (:meth:`IonChain.ms_pulse`): two tones at ``centre +- (nu + delta)``, each with carrier Rabi frequency
  ``Omega``, on every non-spectator ion. In the Lamb-Dicke regime and rotating-wave approximation
  (Sorensen & Molmer, PRA 62, 022311 (2000); Roos, NJP 10, 013002 (2008)) the propagator of a pulse of length ``t``
  starting with the tones' motional phase 0 is ``D(beta(t) S_phi) exp(-i Phi(t) S_phi^2)`` with
  ``S_phi = sum_j (cos phi sx_j + sin phi sy_j) / 2``,
  ``Phi(t) = (eta_c Omega)^2 / delta (t - sin(delta t) / delta)`` and
  ``|beta(t)|^2 = 4 (eta_c Omega / delta)^2 sin^2(delta t / 2)`` (angular frequencies; ``eta_c = eta / sqrt(N)``).
  Tracing out the thermal mode (mean ``doppler_n_bar``) multiplies the coherence between ``S_phi`` eigenstates
  ``M, M'`` by ``exp(-(n_bar + 1/2) |beta|^2 (M - M')^2)``; at closed loops ``t = 2 pi K / |delta|`` it is 1 and
  the pulse is exactly ``exp(-i Phi S_phi^2)``. This is applied as one superoperator on the ions' block of the
  world. ``MS(theta) = exp(-i theta/2 sum_{j<k} X_j X_k)`` is ``Phi = theta`` at ``phi = 0``.
  The ions' own detunings from the tones' centre (quasi-static offsets, the frame) and their T1/T2 decay act during
  the pulse; they are split symmetrically around the MS superoperator (half the free evolution before, half after,
  with the spin phase taken at mid-pulse), a second-order accurate splitting that is exact when the ions are on
  resonance with the centre.
  Left out: off-resonant carrier excitation by the tones (order ``(Omega / nu)^2``), higher orders in ``eta``
  (the MS gate's thermal sensitivity is of order ``eta_c^4 n_bar^2``, Sorensen & Molmer 2000), the stretch mode,
  and a carrier-level Debye-Waller factor on the MS coupling. A segment is a pulse of its own: the tones' motional
  phase starts at 0 with every segment.

Hand-written: no library gives the MS closed form as a channel on a shared, lazily-updated density-matrix world.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sim_instruments.physics.clock import seconds_to_ns
from sim_instruments.physics.gates import ComplexMatrix
from sim_instruments.physics.ion import CalciumIon
from sim_instruments.physics.qubit_model import check_drive
from sim_instruments.physics.rng import child_rng

__all__ = ["IonChain", "ms_displacement_squared", "ms_geometric_phase", "ms_superoperator"]

_TWO_PI = 2.0 * math.pi
_SMALL_PHASE = 1.0e-4


def ms_geometric_phase(coupling_hz: float, detuning_hz: float, duration_s: float) -> float:
    """``Phi(t) = (eta Omega)^2 / delta (t - sin(delta t) / delta)`` (rad) with ``coupling_hz = eta Omega / 2 pi``
    and ``detuning_hz = delta / 2 pi``; its sign is that of ``delta``."""
    g = _TWO_PI * coupling_hz
    d = _TWO_PI * detuning_hz
    x = d * duration_s
    if abs(x) < _SMALL_PHASE:  # t - sin(dt)/d = d^2 t^3 / 6 (1 - x^2 / 20 + ...)
        return g * g * d * duration_s**3 / 6.0 * (1.0 - x * x / 20.0)
    return g * g / d * (duration_s - math.sin(x) / d)


def ms_displacement_squared(coupling_hz: float, detuning_hz: float, duration_s: float) -> float:
    """``|beta(t)|^2 = 4 (eta Omega / delta)^2 sin^2(delta t / 2)``: the residual displacement per unit of
    ``S_phi`` (tends to ``(eta Omega t)^2`` as ``delta -> 0``)."""
    g = _TWO_PI * coupling_hz
    d = _TWO_PI * detuning_hz
    x = d * duration_s
    if abs(x) < _SMALL_PHASE:
        return (g * duration_s) ** 2
    return 4.0 * (g / d) ** 2 * math.sin(0.5 * x) ** 2


def ms_superoperator(n_ions: int, phase_rad: float, geometric_phase: float, damping: float) -> ComplexMatrix:
    """Superoperator (row-major vec, as :meth:`QuantumWorld.apply_superop`) of ``rho -> exp(-i Phi S^2) rho
    exp(i Phi S^2)`` with the coherence between ``S_phi`` eigenvalues ``M, M'`` multiplied by
    ``exp(-damping (M - M')^2)``. ``damping = (n_bar + 1/2) |beta|^2``."""
    if n_ions < 1:
        raise ValueError(f"an MS interaction needs at least one ion, got {n_ions}")
    if damping < 0.0:
        raise ValueError(f"damping must be >= 0, got {damping!r}")
    e = complex(math.cos(phase_rad), math.sin(phase_rad))
    single = np.array([[1.0, 1.0], [e, -e]], dtype=np.complex128) / math.sqrt(2.0)  # columns |+phi>, |-phi>
    v: ComplexMatrix = single
    for _ in range(n_ions - 1):
        v = np.asarray(np.kron(v, single), dtype=np.complex128)
    m = np.array([0.5 * (n_ions - 2 * bin(a).count("1")) for a in range(2**n_ions)])  # bit 1 = the -1/2 state
    diff = m[:, None] - m[None, :]
    factors = np.exp(-1j * geometric_phase * (m[:, None] ** 2 - m[None, :] ** 2) - damping * diff**2)
    to_basis = np.kron(v.conj().T, v.T)
    from_basis = np.kron(v, v.conj())
    return np.asarray(from_basis @ (factors.reshape(-1)[:, None] * to_basis), dtype=np.complex128)


class IonChain:
    """``n_ions`` ions in one trap: ``first`` (built by the lab) and ``n_ions - 1`` more with its parameters, in
    the same world and on the same clock. See the module docstring."""

    def __init__(self, first: CalciumIon, n_ions: int) -> None:
        if isinstance(n_ions, bool) or not isinstance(n_ions, int) or n_ions < 1:
            raise ValueError(f"an ion chain needs a whole number of ions >= 1, got {n_ions!r}")
        world = first.qubit.world
        clock = first.qubit.clock
        self._ions = [first] + [
            CalciumIon(first.params, world, child_rng(world.rng), clock) for _ in range(n_ions - 1)
        ]
        self._rng = child_rng(world.rng)
        self._params = first.params

    # -- state --
    @property
    def ions(self) -> tuple[CalciumIon, ...]:
        return tuple(self._ions)

    def __len__(self) -> int:
        return len(self._ions)

    @property
    def qubit_ids(self) -> tuple[int, ...]:
        return tuple(ion.qubit_id for ion in self._ions)

    @property
    def com_lamb_dicke_eta(self) -> float:
        """Each ion's Lamb-Dicke parameter on the axial COM mode: ``eta / sqrt(N)``."""
        return self._params.lamb_dicke_eta / math.sqrt(len(self._ions))

    @property
    def motional_quantum_number(self) -> int:
        return self._ions[0].motional_quantum_number

    # -- time --
    def sync(self) -> None:
        for ion in self._ions:
            ion.sync()

    def _advance(self, duration_s: float) -> None:
        """Advance the shared clock once and mark every ion up to date."""
        self._ions[0].qubit.advance_clock(duration_s)
        for ion in self._ions[1:]:
            ion.qubit.advance_clock(0.0)

    def set_frame_frequency(self, frequency_hz: float) -> None:
        for ion in self._ions:
            ion.set_frame_frequency(frequency_hz)

    def wait(self, duration_s: float) -> None:
        ns = seconds_to_ns(duration_s)
        self.sync()
        for ion in self._ions:
            ion.qubit.evolve_freely_ns(ns)
        self._advance(duration_s)

    # -- operations --
    def doppler_cool(self, duration_s: float) -> None:
        """One thermal ``n`` of the shared mode for the shot; each ion its quasi-static offset."""
        seconds_to_ns(duration_s)
        self.sync()
        n = self._ions[0].draw_motional_quantum_number()
        for ion in self._ions:
            ion.start_shot(n)
        self._advance(duration_s)

    def optical_pump(self, duration_s: float) -> None:
        seconds_to_ns(duration_s)
        self.sync()
        for ion in self._ions:
            ion.pump_now()
        self._advance(duration_s)

    def repump_854(self, duration_s: float) -> None:
        seconds_to_ns(duration_s)
        self.sync()
        for ion in self._ions:
            ion.repump_now()
        self._advance(duration_s)

    def detect(self, duration_s: float) -> list[int]:
        """One detection window on every ion; the counts of each ion's own fluorescence."""
        window_s = seconds_to_ns(duration_s) * 1.0e-9
        self.sync()
        counts = [ion.detect_now(window_s) for ion in self._ions]
        self._advance(duration_s)
        return counts

    def pulse_729(
        self, frequency_hz: float, rabi_frequencies_hz: Sequence[float], phase_rad: float, duration_s: float
    ) -> None:
        """A 729 nm carrier pulse with ion ``j`` driven at free-ion Rabi frequency ``rabi_frequencies_hz[j]``."""
        if len(rabi_frequencies_hz) != len(self._ions):
            raise ValueError(f"need one Rabi frequency per ion ({len(self._ions)}), got {len(rabi_frequencies_hz)}")
        for rabi_hz in rabi_frequencies_hz:
            check_drive(frequency_hz, rabi_hz, phase_rad, duration_s)
        self.sync()
        for ion, rabi_hz in zip(self._ions, rabi_frequencies_hz, strict=True):
            ion.pulse_now(frequency_hz, rabi_hz, phase_rad, duration_s)
        self._advance(duration_s)

    def ms_pulse(
        self,
        centre_frequency_hz: float,
        tone_offset_hz: float,
        rabi_frequency_hz: float,
        phase_rad: float,
        duration_s: float,
    ) -> None:
        """Bichromatic 729 light at ``centre +- tone_offset`` (each tone of free-ion Rabi frequency
        ``rabi_frequency_hz``, spin phase ``phase_rad`` referenced to the frame at the pulse start) on every ion;
        the gate detuning is ``delta = tone_offset - nu`` (see the module docstring)."""
        check_drive(centre_frequency_hz, rabi_frequency_hz, phase_rad, duration_s)
        check_drive(tone_offset_hz, 0.0, 0.0, duration_s)
        half_ns = 0.5 * seconds_to_ns(duration_s)
        self.sync()
        for ion in self._ions:
            ion.qubit.evolve_freely_ns(half_ns)
        active = [ion for ion in self._ions if not ion.in_spectator_state]
        if active and rabi_frequency_hz > 0.0:
            detuning_hz = tone_offset_hz - self._params.axial_mode_frequency_hz
            coupling_hz = self.com_lamb_dicke_eta * rabi_frequency_hz
            frame_hz = active[0].qubit.frame_frequency_hz
            mid_phase = phase_rad + math.pi * (centre_frequency_hz - frame_hz) * duration_s
            damping = (self._params.doppler_n_bar + 0.5) * ms_displacement_squared(
                coupling_hz, detuning_hz, duration_s
            )
            superop = ms_superoperator(
                len(active), mid_phase, ms_geometric_phase(coupling_hz, detuning_hz, duration_s), damping
            )
            active[0].qubit.world.apply_superop(superop, [ion.qubit_id for ion in active])
        for ion in self._ions:
            ion.qubit.evolve_freely_ns(half_ns)
        self._advance(duration_s)
