"""The trapped-ion node of the simulated lab: a chain of 40Ca+ ions behind 397/866/854/729 nm lasers, an AWG, the
729 AOM sources and a two-channel PMT counter.

Per played segment, by the lights the AWG markers switch on (wiring ``markers``):

- 397 with 866 (``cool``) cools, or detects while the PMT counter is gated; ``pump`` pumps every ion optically to
  ``|0>``; 854 (``repump``) empties D5/2 on every ion;
- **addressed 729 beam.** I/Q on (AWG ``iq_channels``) with the 729 laser and its double-pass AOM source
  (``aom_729``) on drives the S1/2-D5/2 carrier at the laser frequency plus twice the AOM frequency, through an
  AOD that points the beam at ion ``k`` while marker ``address:k`` is high (AOD RF tone ``k`` on; no address
  marker, no light on the ions). Ion ``k`` sees ``addressing_rabi_factors[k]`` times the Rabi frequency (the AOD's
  efficiency at that position); its neighbours ``k +- 1`` see ``addressing_crosstalk`` times that amplitude, at
  the same phase (the beam's wing; wiring). With several address markers high the AOD's RF power is shared: each
  tone's amplitude is divided by ``sqrt(tones)``, and the wing of one tone on another addressed ion (at another
  AOD frequency, off resonance) is left out. The AOD's frequency shifts are taken as compensated by the optics.
- **global bichromatic beam (MS).** Marker ``ms`` opens the RF switch of a single-pass AOM in a second 729 path
  that lights every ion equally. Its RF is the ``aom_729_ms`` source (IQ-modulated by the same AWG I/Q channels)
  times the ``ms_sideband`` source in a double-balanced mixer: two tones at ``aom_729_ms +- ms_sideband``, so the
  light has two tones at ``laser + aom_729_ms +- ms_sideband`` (single pass: a double pass would also make the
  sum of the tones, a carrier at the centre). Each tone's Rabi frequency is ``ms_rabi_frequency_hz_per_volt``
  times the I/Q amplitude at ``reference_power_dbm`` of ``aom_729_ms``; the spin phase is the I/Q phase plus the
  source's phase. Addressed and bichromatic light in one segment is refused (not modelled).
- **detection.** Each ion is imaged onto its own PMT; ``pmt_channels[k]`` names the SR400 counter (``A`` or
  ``B``) that counts ion ``k``. Both count in the same gate window; the SR400 model here answers ``QA`` and ``QB``.

Wiring ``ions`` is the number of ions in the chain; the physics is :class:`~sim_instruments.physics.ion_chain.
IonChain`. ``node.ion`` is ion 0, the communication ion: an ``emit:<station>`` marker excites it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sim_instruments.lab.awg import Segment
from sim_instruments.lab.models import GatedCounterModel, Reply, rabi_frequency_hz, register_model
from sim_instruments.lab.platforms import LabNode
from sim_instruments.lab.resolve import LabConfigError
from sim_instruments.physics.clock import NodeClock
from sim_instruments.physics.ion import CalciumIon
from sim_instruments.physics.ion_chain import IonChain

CHANNELS = ("A", "B")


class TwoChannelGatedCounterModel(GatedCounterModel):
    """SRS SR400 in mode ``A,B FOR T PRESET``: counters A and B both count each gate window; ``QA``/``QB`` read
    the last completed one (-1 when none)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_b: int | None = None

    def gate_closed_channels(self, counts: Mapping[str, int]) -> None:
        if self.counting:
            self.last = counts.get("A", 0)
            self.last_b = counts.get("B", 0)

    def gate_closed(self, counts: int) -> None:
        self.gate_closed_channels({"A": counts})

    def handle(self, message: bytes) -> Reply:
        upper = message.decode(errors="replace").strip().upper()
        if upper == "QB":
            value, self.last_b = self.last_b, None
            return b"-1" if value is None else str(value).encode()
        if upper == "XB":
            return b"0"
        if upper == "CR":
            self.last_b = None
        return super().handle(message)


register_model("gated_counter_ab", TwoChannelGatedCounterModel)


class IonNode(LabNode):
    """A chain of 40Ca+ qubits behind 397/866/854/729 nm lasers, 729 AOM sources, an AWG and a PMT counter."""

    platform = "ion"
    required_numbers = (
        *LabNode.required_numbers, "laser_729_frequency_hz", "addressing_crosstalk", "ms_rabi_frequency_hz_per_volt"
    )

    def __init__(self, name: str, wiring: Mapping[str, Any], physics: CalciumIon, clock: NodeClock, where: str) -> None:
        super().__init__(name, wiring, clock, where)
        n_ions = self.wiring.get("ions", 1)
        if isinstance(n_ions, bool) or not isinstance(n_ions, int) or n_ions < 1:
            raise LabConfigError(f"{where}.wiring.ions: expected a whole number of ions >= 1, got {n_ions!r}")
        self.chain = IonChain(physics, n_ions)
        self.ion = physics
        self.rabi_factors = self._per_ion_numbers("addressing_rabi_factors", n_ions)
        crosstalk = self.number("addressing_crosstalk")
        if not 0.0 <= crosstalk < 1.0:
            raise LabConfigError(f"{where}.wiring.addressing_crosstalk: expected a number in [0, 1), got {crosstalk}")
        self.crosstalk = crosstalk
        channels = self.wiring.get("pmt_channels", ["A"])
        if not (isinstance(channels, list) and len(channels) == n_ions and all(c in CHANNELS for c in channels)
                and len(set(channels)) == n_ions):
            raise LabConfigError(
                f"{where}.wiring.pmt_channels: expected one SR400 counter of {', '.join(CHANNELS)} per ion "
                f"({n_ions}), all different, got {channels!r}"
            )
        self.pmt_channels: tuple[str, ...] = tuple(channels)
        for marker, function in self.marker_functions.items():
            if function.startswith("address:"):
                index = function.removeprefix("address:")
                if not (index.isdigit() and int(index) < n_ions):
                    raise LabConfigError(
                        f"{where}.wiring.markers.{marker}: {function!r} names no ion of the chain (ions 0 .. "
                        f"{n_ions - 1})"
                    )
        self._frame_hz: float | None = None
        self._windows: dict[str, list[int]] = {}

    def communication_system(self) -> CalciumIon:
        """Ion 0, the communication ion: the one ``emit:<station>`` excites (heralding stations' attempt loops)."""
        return self.ion

    def _per_ion_numbers(self, key: str, n_ions: int) -> tuple[float, ...]:
        values = self.wiring.get(key, [1.0] * n_ions)
        if not (isinstance(values, list) and len(values) == n_ions
                and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values)):
            raise LabConfigError(f"{self.where}.wiring.{key}: expected {n_ions} numbers >= 0 (one per ion), "
                                 f"got {values!r}")
        return tuple(float(v) for v in values)

    # -- playing --------------------------------------------------------------------------------------------
    def play(self, segments: list[Segment], live_channels: set[int]) -> None:
        """As :meth:`LabNode.play`, with one count per ion routed to the ion's PMT channel."""
        for seg in segments:
            functions = {self.marker_functions[m] for m in seg.markers if m in self.marker_functions}
            i_v = seg.volts[self.iq_channels[0] - 1] if self.iq_channels[0] in live_channels else 0.0
            q_v = seg.volts[self.iq_channels[1] - 1] if self.iq_channels[1] in live_channels else 0.0
            counts = self.ion_counts(seg.duration_s, functions, i_v, q_v)
            self._route(seg.markers, counts)
        self._route(frozenset(), [0] * len(self.chain))

    def segment(self, duration_s: float, functions: set[str], i_v: float, q_v: float) -> int:
        return sum(self.ion_counts(duration_s, functions, i_v, q_v))

    def _route(self, markers: frozenset[str], counts: list[int]) -> None:
        for marker in [m for m in self._windows if m not in markers]:
            window = self._windows.pop(marker)
            model = self.instrument(self.gates[marker])
            if isinstance(model, TwoChannelGatedCounterModel):
                model.gate_closed_channels(dict(zip(self.pmt_channels, window, strict=True)))
            elif hasattr(model, "gate_closed"):
                model.gate_closed(sum(window))
        for marker in markers:
            if marker in self.gates:
                window = self._windows.setdefault(marker, [0] * len(self.chain))
                for k, c in enumerate(counts):
                    window[k] += c

    def ion_counts(self, duration_s: float, functions: set[str], i_v: float, q_v: float) -> list[int]:
        """Apply one segment to the chain; the counts of each ion's fluorescence (zeros outside detection)."""
        none = [0] * len(self.chain)
        laser_hz = self.number("laser_729_frequency_hz")
        frame_hz = laser_hz + 2.0 * float(self.instrument("aom_729").value("SOUR:FREQ?"))
        if frame_hz != self._frame_hz:  # the addressed 729 light after the AOM is the phase reference of every pulse
            self.chain.set_frame_frequency(frame_hz)
            self._frame_hz = frame_hz
        if any(f.startswith("emit:") for f in functions):
            self.chain.sync()
            self.emit(functions, self.ion.qubit_id)
            self.chain.wait(duration_s)
            return none
        cooling_light = "cool" in functions and self.light_on("laser_397") and self.light_on("laser_866")
        if cooling_light and "counter_gate" in functions:
            return self.chain.detect(duration_s)
        if cooling_light:
            self.chain.doppler_cool(duration_s)
            return none
        if "pump" in functions and self.light_on("laser_397") and self.light_on("laser_866"):
            self.chain.optical_pump(duration_s)
            return none
        if "repump" in functions and self.light_on("laser_854"):
            self.chain.repump_854(duration_s)
            return none
        lit = self.light_on("laser_729")
        addressed = sorted(int(f.removeprefix("address:")) for f in functions if f.startswith("address:"))
        carrier = self._drive("aom_729", i_v, q_v) if lit and addressed else None
        bichromatic = self._bichromatic(i_v, q_v) if lit and "ms" in functions else None
        if carrier is not None and bichromatic is not None:
            raise LabConfigError(
                f"{self.where}: a segment lights the ions with the addressed and the bichromatic 729 beams at once; "
                "the simulated ion node models one at a time"
            )
        if carrier is not None:
            aom_hz, rabi_hz, phase_rad = carrier
            self.chain.pulse_729(laser_hz + 2.0 * aom_hz, self._addressed_rabi(addressed, rabi_hz), phase_rad,
                                 duration_s)
            return none
        if bichromatic is not None:
            centre_hz, offset_hz, rabi_hz, phase_rad = bichromatic
            self.chain.ms_pulse(laser_hz + centre_hz, offset_hz, rabi_hz, phase_rad, duration_s)
            return none
        self.chain.wait(duration_s)
        return none

    def _addressed_rabi(self, addressed: list[int], rabi_hz: float) -> list[float]:
        """Each ion's Rabi frequency with the AOD on the ``addressed`` positions (see the module docstring)."""
        share = rabi_hz / math.sqrt(len(addressed))
        out = []
        for j in range(len(self.chain)):
            if j in addressed:
                out.append(share * self.rabi_factors[j])
            else:
                out.append(sum(share * self.crosstalk * self.rabi_factors[k] for k in addressed if abs(k - j) == 1))
        return out

    def _bichromatic(self, i_v: float, q_v: float) -> tuple[float, float, float, float] | None:
        """(centre AOM frequency, tone offset, Rabi frequency per tone, spin phase) of the MS beam, or None."""
        amplitude_v = math.hypot(i_v, q_v)
        if amplitude_v == 0.0 or not self.light_on("aom_729_ms") or not self.light_on("ms_sideband"):
            return None
        source = self.instrument("aom_729_ms")
        rabi_hz = rabi_frequency_hz(amplitude_v, float(source.value("SOUR:POW?")),
                                    self.number("ms_rabi_frequency_hz_per_volt"), self.number("reference_power_dbm"))
        phase_rad = math.atan2(q_v, i_v) + math.radians(float(source.value("SOUR:PHAS?")))
        offset_hz = float(self.instrument("ms_sideband").value("SOUR:FREQ?"))
        return float(source.value("SOUR:FREQ?")), offset_hz, rabi_hz, phase_rad
