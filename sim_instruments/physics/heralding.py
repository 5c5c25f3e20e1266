"""Single-click heralding between the communication qubits of two nodes (Humphreys et al., Nature 558, 268 (2018)).

Each node holds its qubit in ``sqrt(alpha)|0> + sqrt(1 - alpha)|1>``; the bright state ``|0>`` emits one photon on
optical excitation, the dark state ``|1>`` none. The photons meet on a beam splitter whose outputs go to detectors
0 and 1; one click heralds ``(|01> +- e^(i phi)|10>)/sqrt(2)``, with a ``|00>`` admixture of weight about
``alpha`` (both nodes emitted, one photon was lost), so the fidelity is about ``1 - alpha``.

The station acts on the joint state of the two qubits in the shared world through Kraus operators (basis
``|q_a q_b>``, big-endian, ``q_a`` first). With per-arm detection efficiencies ``eta_a``, ``eta_b``, optical phase
``phi``, coherence factor ``c = sqrt(M) exp(-sigma_phi^2 / 2)`` (``M``: two-photon indistinguishability, i.e.
HOM visibility; ``sigma_phi``: rms optical phase noise per attempt), photon outcomes are:

- one photon into detector k (sign ``s = +1`` for k = 0, ``-1`` for k = 1):
  ``sqrt(c) (sqrt(eta_a/2) |01><01| + s e^(i phi) sqrt(eta_b/2) |10><10|)``, plus the incoherent parts
  ``sqrt((1 - c) eta_a/2) |01><01|`` and ``sqrt((1 - c) eta_b/2) |10><10|``; and, from ``|00>`` (at least one of
  the two photons detected; the two-photon term bunches into one detector), ``sqrt(p2/2) |00><00|`` with
  ``p2 = 1 - (1 - eta_a)(1 - eta_b)``;
- no photon detected: ``|11><11|``, ``sqrt(1-eta_a) |01><01|``, ``sqrt(1-eta_b) |10><10|``,
  ``sqrt((1-eta_a)(1-eta_b)) |00><00|`` (separate operators: a lost photon leaves which-path information).

Threshold detectors each add a dark count with probability ``p_d`` per window. A herald is exactly one detector
clicking: ``DETECTOR_k`` is {photon into k, no dark count in the other} or {no photon, dark count in k only};
a double click (photon into one detector and a dark count in the other, or two dark counts) counts as
``NONE``, as do the no-click events. Every operator is diagonal in the computational basis, so the click
probabilities depend on the populations only; the coherence ``c`` sets the herald's fidelity.

Not modelled (documented simplifications): double optical excitation, photons from ``|00>`` splitting over the two
detectors when partially distinguishable, time-resolved phase of off-resonant emitters.

Hand-written: no library gives this instrument as Kraus operators on a shared density-matrix world.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim_instruments.physics.channels import superoperator
from sim_instruments.physics.gates import ComplexMatrix
from sim_instruments.physics.qubit_model import (
    KIND_NONNEGATIVE,
    KIND_PROBABILITY,
    KIND_REAL,
    param,
    params_from_mapping,
)
from sim_instruments.physics.world import QuantumWorld

__all__ = ["Click", "HeraldResult", "HeraldingParams", "SingleClickStation"]


class Click(enum.Enum):
    NONE = "none"
    DETECTOR_0 = "detector_0"
    DETECTOR_1 = "detector_1"


@dataclass(frozen=True)
class HeraldingParams:
    """Parameters of a single-click heralding station (the ``heralding:`` mapping of the physics YAML)."""

    detection_efficiency_a: float = param(KIND_PROBABILITY, "probability that a photon of node a is detected")
    detection_efficiency_b: float = param(KIND_PROBABILITY, "probability that a photon of node b is detected")
    dark_count_probability: float = param(KIND_PROBABILITY, "dark-count probability per detector per window")
    photon_indistinguishability: float = param(KIND_PROBABILITY, "two-photon (HOM) visibility M of the photons")
    optical_phase_rad: float = param(KIND_REAL, "mean optical phase between the two arms, rad")
    phase_noise_rad: float = param(KIND_NONNEGATIVE, "rms optical phase noise per attempt, rad")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], where: str) -> HeraldingParams:
        """Build and validate from the physics YAML's ``heralding:`` mapping; errors name ``where`` and the key."""
        return params_from_mapping(cls, mapping, where)

    @property
    def coherence(self) -> float:
        """``c = sqrt(M) exp(-sigma^2/2)``: the factor on the heralded state's ``|01><10|`` coherence."""
        return math.sqrt(self.photon_indistinguishability) * math.exp(-0.5 * self.phase_noise_rad**2)


@dataclass(frozen=True, slots=True)
class HeraldResult:
    """What :meth:`SingleClickStation.attempt_until_herald` reports: attempts made (the heralded one included)."""

    attempts: int
    click: Click


_CLICKS = (Click.NONE, Click.DETECTOR_0, Click.DETECTOR_1)


def _proj(index: int, amplitude: complex = 1.0) -> ComplexMatrix:
    m = np.zeros((4, 4), dtype=np.complex128)
    m[index, index] = amplitude
    return m


class SingleClickStation:
    """The beam splitter and two detectors between two nodes' communication qubits in ``world``."""

    def __init__(self, params: HeraldingParams, world: QuantumWorld, rng: np.random.Generator) -> None:
        self._params = params
        self._world = world
        self._rng = rng
        kraus = _instrument(params)
        self._superops = {click: superoperator(ops) for click, ops in kraus.items()}
        self._povm_diagonals = {
            click: np.real(np.diag(sum((k.conj().T @ k for k in ops), np.zeros((4, 4), dtype=np.complex128))))
            for click, ops in kraus.items()
        }

    @property
    def params(self) -> HeraldingParams:
        return self._params

    def probabilities(self, qubit_a: int, qubit_b: int) -> dict[Click, float]:
        """The probability of each outcome of one attempt on the present joint state of the two qubits."""
        populations = np.real(np.diag(self._world.density_matrix([qubit_a, qubit_b])))
        return {click: float(self._povm_diagonals[click] @ populations) for click in _CLICKS}

    def heralded_state(self, click: Click, qubit_a: int, qubit_b: int) -> ComplexMatrix:
        """The joint state of the two qubits that ``click`` would leave, from their present reduced state (nothing
        is applied; for checks and for closed-form comparisons)."""
        rho = self._world.density_matrix([qubit_a, qubit_b])
        probability = float(self._povm_diagonals[click] @ np.real(np.diag(rho)))
        if probability <= 0.0:
            raise ValueError(f"outcome {click.name} has probability 0 on this state")
        out: ComplexMatrix = (self._superops[click] @ rho.reshape(-1)).reshape(4, 4) / probability
        return out

    def attempt(self, qubit_a: int, qubit_b: int) -> Click:
        """One attempt: draw the outcome and leave the qubits (and whatever they are entangled with) in the
        post-measurement state of that outcome."""
        probs = self.probabilities(qubit_a, qubit_b)
        click = self._draw(probs, _CLICKS)
        self._collapse(click, probs[click], qubit_a, qubit_b)
        return click

    def attempt_until_herald(self, qubit_a: int, qubit_b: int, max_attempts: int) -> HeraldResult:
        """Attempts until a herald, drawn at once: valid when the nodes prepare the same joint state before every
        attempt (as the protocol does). The number of attempts is geometric in ``P(herald)``; after
        ``max_attempts`` failures the qubits are left in the no-herald state and the result is ``NONE``."""
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
        probs = self.probabilities(qubit_a, qubit_b)
        p_herald = probs[Click.DETECTOR_0] + probs[Click.DETECTOR_1]
        attempts = int(self._rng.geometric(p_herald)) if p_herald > 0.0 else max_attempts + 1
        if attempts > max_attempts:
            self._collapse(Click.NONE, probs[Click.NONE], qubit_a, qubit_b)
            return HeraldResult(max_attempts, Click.NONE)
        click = self._draw(probs, (Click.DETECTOR_0, Click.DETECTOR_1))
        self._collapse(click, probs[click], qubit_a, qubit_b)
        return HeraldResult(attempts, click)

    def _draw(self, probs: Mapping[Click, float], among: Sequence[Click]) -> Click:
        total = sum(probs[c] for c in among)
        r = self._rng.random() * total
        for click in among:
            r -= probs[click]
            if r < 0.0 and probs[click] > 0.0:
                return click
        return next(c for c in reversed(among) if probs[c] > 0.0)

    def _collapse(self, click: Click, probability: float, qubit_a: int, qubit_b: int) -> None:
        """Apply the outcome's operators, renormalised by its probability (acts on the qubits' whole block)."""
        self._world.apply_superop(self._superops[click] / probability, [qubit_a, qubit_b])


def _instrument(p: HeraldingParams) -> dict[Click, list[ComplexMatrix]]:
    """The Kraus operators of each outcome (see the module docstring)."""
    eta_a, eta_b, p_d, c = p.detection_efficiency_a, p.detection_efficiency_b, p.dark_count_probability, p.coherence
    i00, i01, i10, i11 = range(4)
    phase = complex(math.cos(p.optical_phase_rad), math.sin(p.optical_phase_rad))
    p2 = 1.0 - (1.0 - eta_a) * (1.0 - eta_b)

    def photon_into(sign: float) -> list[ComplexMatrix]:
        coherent = _proj(i01, math.sqrt(c * eta_a / 2)) + _proj(i10, sign * phase * math.sqrt(c * eta_b / 2))
        return [
            coherent,
            _proj(i01, math.sqrt((1.0 - c) * eta_a / 2)),
            _proj(i10, math.sqrt((1.0 - c) * eta_b / 2)),
            _proj(i00, math.sqrt(p2 / 2)),
        ]

    no_photon = [
        _proj(i11),
        _proj(i01, math.sqrt(1.0 - eta_a)),
        _proj(i10, math.sqrt(1.0 - eta_b)),
        _proj(i00, math.sqrt((1.0 - eta_a) * (1.0 - eta_b))),
    ]
    into_0, into_1 = photon_into(1.0), photon_into(-1.0)

    def scaled(ops: list[ComplexMatrix], weight: float) -> list[ComplexMatrix]:
        return [math.sqrt(weight) * k for k in ops] if weight > 0.0 else []

    kraus = {
        Click.DETECTOR_0: scaled(into_0, 1.0 - p_d) + scaled(no_photon, p_d * (1.0 - p_d)),
        Click.DETECTOR_1: scaled(into_1, 1.0 - p_d) + scaled(no_photon, p_d * (1.0 - p_d)),
        Click.NONE: scaled(no_photon, (1.0 - p_d) ** 2 + p_d**2) + scaled(into_0, p_d) + scaled(into_1, p_d),
    }
    for click, ops in kraus.items():  # keep every list non-empty (an outcome that never happens maps to zero)
        if not ops:
            kraus[click] = [np.zeros((4, 4), dtype=np.complex128)]
    return kraus
