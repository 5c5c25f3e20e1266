"""An NV node of the simulated lab, driven through the real QCoDeS drivers over the @qlab pyvisa backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lab_helpers import VISALIB, outputs_on, upload_element
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from instruments.cobolt import Cobolt0601
from instruments.keysight import Keysight53230A
from instruments.srs import SR400
from instruments.toptica import DLCPro
from sim_instruments.lab.lab import SimulatedLab

GREEN = frozenset({"1.1"})
READOUT = frozenset({"1.2", "2.1"})
CR = frozenset({"2.2"})


class NV:
    def __init__(self) -> None:
        self.mw = RohdeSchwarzSGS100A("mw", "TCPIP0::192.168.10.11::inst0::INSTR", visalib=VISALIB)
        self.awg = TektronixAWG5014("awg", "TCPIP0::192.168.10.12::inst0::INSTR", visalib=VISALIB, terminator="\n")
        self.green = Cobolt0601("green", "ASRL1::INSTR", visalib=VISALIB)
        self.red = DLCPro("red", "TCPIP0::192.168.10.21::1998::SOCKET", visalib=VISALIB)
        self.repump = DLCPro("repump", "TCPIP0::192.168.10.22::1998::SOCKET", visalib=VISALIB)
        self.counter = Keysight53230A("counter", "TCPIP0::192.168.10.13::inst0::INSTR", visalib=VISALIB)
        self.cr = SR400("cr", "GPIB0::23::INSTR", visalib=VISALIB)

    def lights_on(self) -> None:
        self.green.laser_on(True)
        self.red.laser1.current_enabled(True)
        self.repump.laser1.current_enabled(True)


@pytest.fixture
def nv(lab: SimulatedLab) -> NV:
    return NV()


def _run(nv: NV, shots: int) -> np.ndarray:
    nv.counter.trigger_count(1)
    nv.counter.sample_count(shots)
    nv.counter.initiate()
    nv.awg.force_trigger()
    return np.array(nv.counter.fetch_counts())


def test_rabi_pulse_rotates_the_spin_by_amplitude_times_length(lab: SimulatedLab, nv: NV) -> None:
    """Mean readout counts follow cos^2(pi * Omega * t) with Omega from the wiring's volts-to-Rabi factor."""
    node = lab.node("nv_a")
    nv.lights_on()
    nv.mw.frequency(node.nv.transition_frequency_hz)
    nv.mw.power(node.number("reference_power_dbm"))
    nv.mw.status(True)
    outputs_on(nv.awg, amplitude_vpp=1.0)
    sample = 0.5  # normalised: 0.25 V on I
    rabi_hz = node.number("rabi_frequency_hz_per_volt") * 0.25
    lengths_ns = [0, 50, 100, 150]  # 0, pi/2, pi, 3pi/2 at 5 MHz
    nv.awg.sequence_length(len(lengths_ns))
    for index, t in enumerate(lengths_ns, start=1):
        pieces = [(3000, 0.0, 0.0, GREEN), (500, 0.0, 0.0, frozenset())]
        if t:
            pieces.append((t, sample, 0.0, frozenset()))
        pieces.append((10000, 0.0, 0.0, READOUT))
        upload_element(nv.awg, index, f"rabi{index}", pieces, loops=1500)
    nv.awg.run()
    p = node.nv.params
    window_s = 10e-6
    for t in lengths_ns:
        counts = _run(nv, 1500)
        p1 = math.sin(math.pi * rabi_hz * t * 1e-9) ** 2
        f = p.spin_init_fidelity
        spin_rate = f * ((1 - p1) * p.readout_bright_rate_hz + p1 * p.readout_dark_rate_hz) + (1 - f) * (
            p.readout_dark_rate_hz
        )
        expected = window_s * (p.background_rate_hz + p.nv_minus_probability * spin_rate)
        assert counts.mean() == pytest.approx(expected, abs=5 * counts.std() / math.sqrt(len(counts)))
    assert node.clock.now_ns() >= 4 * 1500 * 13_500  # every shot advanced the node's virtual clock


def test_charge_resonance_check_counts_on_the_sr400(lab: SimulatedLab, nv: NV) -> None:
    nv.lights_on()
    outputs_on(nv.awg)
    nv.awg.sequence_length(1)
    upload_element(nv.awg, 1, "cr", [(3000, 0.0, 0.0, GREEN), (50000, 0.0, 0.0, CR), (10, 0.0, 0.0, frozenset())])
    nv.awg.run()
    nv.cr.start()
    p = lab.node("nv_a").nv.params
    counts = []
    for _ in range(400):
        nv.awg.force_trigger()
        counts.append(nv.cr.A.last_count())
    mean = np.mean(counts)
    expected = 50e-6 * (p.background_rate_hz + p.nv_minus_probability * p.cr_rate_hz)
    assert mean == pytest.approx(expected, abs=5 * np.std(counts) / math.sqrt(len(counts)))


def test_lights_off_means_no_signal(lab: SimulatedLab, nv: NV) -> None:
    """With the red laser's current off, a readout window gives nothing: the counter has no photons to count."""
    nv.red.laser1.current_enabled(False)
    outputs_on(nv.awg)
    nv.awg.sequence_length(1)
    # The gap closes the gate between loops: a marker that stays high across loops would be one long gate.
    upload_element(nv.awg, 1, "dark", [(10000, 0.0, 0.0, READOUT), (10, 0.0, 0.0, frozenset())], loops=200)
    nv.awg.run()
    assert _run(nv, 200).sum() == 0


def test_counter_times_out_when_fewer_gates_came_than_asked(lab: SimulatedLab, nv: NV) -> None:
    outputs_on(nv.awg)
    nv.awg.sequence_length(1)
    upload_element(nv.awg, 1, "one", [(1000, 0.0, 0.0, READOUT), (10, 0.0, 0.0, frozenset())], loops=3)
    nv.awg.run()
    nv.counter.sample_count(5)
    nv.counter.initiate()
    nv.awg.force_trigger()
    with pytest.raises(Exception, match="VI_ERROR_TMO"):
        nv.counter.fetch_counts()


def test_awg_reports_memory_errors_in_its_error_queue(lab: SimulatedLab, nv: NV) -> None:
    nv.awg.sequence_length(1)
    nv.awg.set_sqel_waveform("nonexistent", 1, 1)
    reply = nv.awg.ask("SYST:ERR?")
    assert "no waveform named 'nonexistent'" in reply


def test_stopped_awg_ignores_triggers(lab: SimulatedLab, nv: NV) -> None:
    outputs_on(nv.awg)
    nv.awg.sequence_length(1)
    upload_element(nv.awg, 1, "idle", [(1000, 0.0, 0.0, frozenset())])
    before = lab.node("nv_a").clock.now_ns()
    nv.awg.force_trigger()
    assert lab.node("nv_a").clock.now_ns() == before
    nv.awg.run()
    nv.awg.force_trigger()
    assert lab.node("nv_a").clock.now_ns() == before + 1000  # 1000 samples at the AWG's 1 GS/s
