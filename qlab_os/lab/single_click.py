"""What single-click entanglement should deliver, in closed form: the theory the lab demo compares with.

Two nodes a and b each put their communication qubit in ``sqrt(alpha)|0> + sqrt(1 - alpha)|1>`` (|0> bright) and
excite it; one photon detected behind the beam splitter heralds the pair (Humphreys et al., Nature 558, 268
(2018); Hermans et al., Nature 605, 663 (2022), Methods). With detection efficiencies ``eta_a``, ``eta_b`` per
attempt, a dark-count probability ``p_dark`` per detector and window, and a coherence ``c`` of the two photons
(square root of the two-photon visibility times the optical phase noise factor ``exp(-sigma^2 / 2)``), the
unnormalised state after a click in detector k (sign ``s = +1`` for k = 0, ``-1`` for k = 1) is, in the basis
``|q_a q_b>``:

- a photon into k, and no dark count in the other detector, weight ``1 - p_dark``:
  ``|01>: a0 b1 eta_a / 2``, ``|10>: a1 b0 eta_b / 2``, ``|01><10|: s e^(-i phi) c sqrt(a0 b1 a1 b0 eta_a eta_b) / 2``
  and ``|00>: a0 b0 (1 - (1 - eta_a)(1 - eta_b)) / 2`` (both emitted; at least one photon detected);
- no photon but a dark count in k only, weight ``p_dark (1 - p_dark)``: the populations ``|11>: a1 b1``,
  ``|01>: a0 b1 (1 - eta_a)``, ``|10>: a1 b0 (1 - eta_b)``, ``|00>: a0 b0 (1 - eta_a)(1 - eta_b)``, no coherence;

with ``a0 = alpha_a``, ``a1 = 1 - alpha_a`` (and b alike). Its trace is the probability of that herald per
attempt. The link then applies the Pauli correction to Phi+ (X on one end for Psi+, X and Z for Psi-).

Measured outcomes then pass through each node's readout: P(read 0 | 0) = ``f0``, P(read 1 | 1) = ``f1``, from the
node's calibration.

**Attempt loops** (:class:`LoopLink`). Each end starts an attempt loop from one of several preparations
(:class:`Preparation`): the reset can fail, leaving a *spectator* (an NV in ms=+1: dark, |1>; an ion in
S1/2(m=+1/2): bright, it emits like |0>), which later pulses do not drive and which reads as that state; an ion's
alpha pulse rotates by an angle that depends on the loop's phonon number. The simulated lab draws these once per
loop, and every repetition of the loop then starts from the same state (docs/simulated-lab.md), so each pair of
preparations is a branch ``i`` of prior weight ``w_i`` with its own herald probability ``p_i``: a loop heralds
after a geometric number of attempts, heralds per attempt over many loops are ``1 / sum_i w_i / p_i``, and a
heralded pair (infinite loops) is branch ``i`` with probability ``w_i``. The Pauli correction is a pulse on one end,
the first here (X for detector 0, Y for detector 1), which a spectator ignores.

Hand-written: a closed form of a dozen terms; the simulated lab computes the same physics through Kraus operators
on its density-matrix world, and this module is the independent check of that path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ComplexMatrix = npt.NDArray[np.complex128]

_I2 = np.eye(2, dtype=np.complex128)
_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_Z = np.diag([1.0, -1.0]).astype(np.complex128)
_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2)
_SDG = np.diag([1.0, -1j]).astype(np.complex128)
BASIS_ROTATION = {"Z": _I2, "X": _H, "Y": _H @ _SDG}
"""The unitary that turns a measurement in this basis into one in Z (its +1 eigenstate to |0>)."""


def _kron(a: ComplexMatrix, b: ComplexMatrix) -> ComplexMatrix:
    return np.asarray(np.kron(a, b), dtype=np.complex128)


@dataclass(frozen=True)
class SingleClickLink:
    """The parameters of a single-click link (see the module docstring)."""

    alpha_a: float
    alpha_b: float
    eta_a: float
    eta_b: float
    p_dark: float
    coherence: float
    phase_rad: float = 0.0

    def herald(self, detector: int) -> ComplexMatrix:
        """The unnormalised two-qubit state after a click in ``detector`` (0 or 1); its trace is the
        probability of that click per attempt."""
        a0, a1, b0, b1 = self.alpha_a, 1 - self.alpha_a, self.alpha_b, 1 - self.alpha_b
        ea, eb, pd = self.eta_a, self.eta_b, self.p_dark
        sign = 1.0 if detector == 0 else -1.0
        rho = np.zeros((4, 4), dtype=np.complex128)
        photon = 1 - pd
        rho[1, 1] += photon * a0 * b1 * ea / 2
        rho[2, 2] += photon * a1 * b0 * eb / 2
        rho[0, 0] += photon * a0 * b0 * (1 - (1 - ea) * (1 - eb)) / 2
        coherence = photon * sign * self.coherence * math.sqrt(a0 * b1 * a1 * b0 * ea * eb) / 2
        rho[1, 2] += coherence * complex(math.cos(self.phase_rad), -math.sin(self.phase_rad))
        rho[2, 1] += np.conj(rho[1, 2])
        dark = pd * (1 - pd)
        rho[3, 3] += dark * a1 * b1
        rho[1, 1] += dark * a0 * b1 * (1 - ea)
        rho[2, 2] += dark * a1 * b0 * (1 - eb)
        rho[0, 0] += dark * a0 * b0 * (1 - ea) * (1 - eb)
        return rho

    @property
    def herald_probability(self) -> float:
        """The probability per attempt that exactly one detector clicks."""
        return float(np.real(np.trace(self.herald(0)) + np.trace(self.herald(1))))

    def delivered(self) -> ComplexMatrix:
        """The pair after the Pauli correction to Phi+, averaged over the two detectors (normalised)."""
        x_b = _kron(_I2, _X)
        zx_b = _kron(_I2, _Z @ _X)
        rho = x_b @ self.herald(0) @ x_b.conj().T + zx_b @ self.herald(1) @ zx_b.conj().T
        out: ComplexMatrix = rho / np.real(np.trace(rho))
        return out

    def fidelity(self) -> float:
        """Fidelity of the delivered pair with Phi+."""
        phi = np.array([1, 0, 0, 1], dtype=np.complex128) / math.sqrt(2)
        return float(np.real(phi.conj() @ self.delivered() @ phi))


@dataclass(frozen=True)
class Preparation:
    """One way an end starts an attempt loop (see the module docstring): its prior ``weight``, bright population
    ``alpha``, the coherence of its state as a fraction of a pure state's (``|rho_01| / sqrt(alpha (1 - alpha))``),
    and whether it is a spectator (``alpha`` 0 or 1: it emits and reads as that state, undriven by later pulses)."""

    weight: float
    alpha: float
    coherence: float = 1.0
    spectator: bool = False


@dataclass(frozen=True)
class Branch:
    """One pair of preparations: its prior weight, the single-click link it makes, which ends are spectators."""

    weight: float
    link: SingleClickLink
    spectators: tuple[bool, bool]


@dataclass(frozen=True)
class Heralded:
    """A heralded pair of one branch: its probability among heralded pairs, the normalised two-qubit state, which
    ends are spectators (their half is that Z state, not a qubit)."""

    weight: float
    state: ComplexMatrix
    spectators: tuple[bool, bool]


_CORRECTION = {0: _X, 1: np.array([[0, -1j], [1j, 0]], dtype=np.complex128)}
"""The first end's pulse after a click in detector k: X turns Psi+ into Phi+, Y turns Psi- into (i) Phi+."""


@dataclass(frozen=True)
class LoopLink:
    """A single-click link run as attempt loops whose preparations are drawn once per loop (see the module
    docstring). Build it with :meth:`from_preparations`."""

    branches: tuple[Branch, ...]

    @classmethod
    def from_preparations(cls, ends: tuple[Sequence[Preparation], Sequence[Preparation]], eta_a: float, eta_b: float,
                          p_dark: float, coherence: float, phase_rad: float = 0.0) -> LoopLink:
        """Every pair of the two ends' preparations; ``coherence`` is the photons' (indistinguishability and phase
        noise), multiplied by each preparation's own."""
        for side, preparations in zip("ab", ends, strict=True):
            total = sum(prep.weight for prep in preparations)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"the preparations' weights of end {side} must sum to 1, not {total}")
        branches = []
        for a in ends[0]:
            for b in ends[1]:
                link = SingleClickLink(a.alpha, b.alpha, eta_a, eta_b, p_dark, coherence * a.coherence * b.coherence,
                                       phase_rad)
                if a.weight * b.weight > 0 and link.herald_probability <= 0:
                    raise ValueError(f"a branch of weight {a.weight * b.weight} never heralds (alphas {a.alpha}, "
                                     f"{b.alpha}, no dark counts): its attempt loop would never end")
                branches.append(Branch(a.weight * b.weight, link, (a.spectator, b.spectator)))
        return cls(tuple(branches))

    @property
    def herald_probability(self) -> float:
        """Heralds per attempt over many loops that each run until their herald (no attempt limit):
        ``1 / sum_i w_i / p_i``."""
        return 1.0 / self._mean_attempts()

    def herald_rate_sigma(self, loops: int) -> float:
        """Standard error of heralds per attempt measured over ``loops`` loops run until their herald. Each loop
        takes a geometric number of attempts in its branch, drawn once per loop, so the total is wider than
        binomial; the delta method on loops / total attempts gives ``p sqrt(Var k / loops) / E k``."""
        mean = self._mean_attempts()
        second = sum(br.weight * (2 - br.link.herald_probability) / br.link.herald_probability ** 2
                     for br in self.branches if br.weight > 0)
        return math.sqrt((second - mean**2) / loops) / mean**2

    def _mean_attempts(self) -> float:
        return sum(br.weight / br.link.herald_probability for br in self.branches if br.weight > 0)

    def heralded(self, detector: int) -> list[Heralded]:
        """Heralded pairs of ``detector`` (uncorrected): each branch's weight is ``w_i P(detector | branch)``."""
        out = []
        for br in self.branches:
            rho = br.link.herald(detector)
            p = float(np.real(np.trace(rho)))
            if br.weight > 0 and p > 0:
                out.append(Heralded(br.weight * p / br.link.herald_probability, rho / p, br.spectators))
        return out

    def delivered(self) -> list[Heralded]:
        """Heralded pairs after the first end's Pauli correction to Phi+ (ignored by a spectator first end)."""
        out = []
        for detector in (0, 1):
            for h in self.heralded(detector):
                u = _kron(_I2 if h.spectators[0] else _CORRECTION[detector], _I2)
                out.append(Heralded(h.weight, u @ h.state @ u.conj().T, h.spectators))
        return out

    def fidelity(self) -> float:
        """Fidelity of the delivered pairs with Phi+ (a spectator's half counted as the Z state it reads as)."""
        phi = np.array([1, 0, 0, 1], dtype=np.complex128) / math.sqrt(2)
        return float(sum(h.weight * np.real(phi.conj() @ h.state @ phi) for h in self.delivered()))


def readout_matrix(f0: float, f1: float) -> npt.NDArray[np.float64]:
    """P(read r | state s) as a 2x2 matrix [r, s]."""
    return np.array([[f0, 1 - f1], [1 - f0, f1]], dtype=np.float64)


def outcome_probabilities(rho: ComplexMatrix, rotations: Sequence[ComplexMatrix],
                          readouts: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """P(read outcomes) of n qubits in state ``rho``, each rotated by its unitary, measured in Z and read through
    its readout matrix. Returns an array of shape (2,) * n indexed by the outcomes."""
    u: ComplexMatrix = np.array([[1.0]], dtype=np.complex128)
    for r in rotations:
        u = _kron(u, r)
    n = len(rotations)
    probs = np.real(np.diag(u @ rho @ u.conj().T)).reshape((2,) * n)
    for axis, m in enumerate(readouts):
        probs = np.moveaxis(np.tensordot(m, probs, axes=([1], [axis])), 0, axis)
    return np.asarray(probs, dtype=np.float64)


def agreement(rho: ComplexMatrix, basis: str, readout_a: npt.NDArray[np.float64],
              readout_b: npt.NDArray[np.float64], spectators: tuple[bool, bool] = (False, False)) -> float:
    """P(the two read outcomes agree) when both halves of ``rho`` are measured in ``basis`` (Z, X or Y); a
    spectator half is not rotated (its pulses do not drive it)."""
    rotations = tuple(_I2 if spectator else BASIS_ROTATION[basis] for spectator in spectators)
    p = outcome_probabilities(rho, rotations, (readout_a, readout_b))
    return float(p[0, 0] + p[1, 1])


def loop_agreement(link: LoopLink, basis: str, readout_a: npt.NDArray[np.float64],
                   readout_b: npt.NDArray[np.float64]) -> float:
    """:func:`agreement` of the delivered pairs of ``link``, over its branches."""
    return sum(h.weight * agreement(h.state, basis, readout_a, readout_b, h.spectators) for h in link.delivered())


def conditioned_half(pair: ComplexMatrix, basis: str, readout: npt.NDArray[np.float64], spectator: bool = False
                     ) -> list[tuple[float, ComplexMatrix]]:
    """The second half of ``pair`` once the first is measured in ``basis`` and read through ``readout``: for each
    read outcome m, its probability and the second half's state given m (remote state preparation). A spectator
    first half is not rotated before its reading."""
    rotation = _kron(_I2 if spectator else BASIS_ROTATION[basis], np.eye(2, dtype=np.complex128))
    rotated = rotation @ pair @ rotation.conj().T
    halves = []
    for m in (0, 1):
        rho = np.zeros((2, 2), dtype=np.complex128)
        for k in (0, 1):  # true outcome k, read as m with probability readout[m, k]
            block = rotated[2 * k:2 * k + 2, 2 * k:2 * k + 2]
            rho += readout[m, k] * block
        p = float(np.real(np.trace(rho)))
        halves.append((p, rho / p if p > 0 else rho))
    return halves
