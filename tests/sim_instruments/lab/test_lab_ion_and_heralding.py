"""The ion node and a heralding station of the simulated lab, through the real drivers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from lab_helpers import VISALIB, outputs_on, upload_element
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from instruments.idq import ID1000
from instruments.srs import SR400
from instruments.toptica import DLCPro
from sim_instruments.lab.lab import SimulatedLab
from sim_instruments.physics.heralding import Click, SingleClickStation
from sim_instruments.physics.ion import debye_waller_factor

COOL = frozenset({"1.1"})
PUMP = frozenset({"2.2"})
DETECT = frozenset({"1.1", "2.1"})
GAP = frozenset[str]()
ADDRESS_0 = frozenset({"3.2"})  # the AOD points the 729 beam at ion 0, imaged onto SR400 counter A


def _ion_instruments() -> tuple[TektronixAWG5014, RohdeSchwarzSGS100A, SR400]:
    for number, wavelength in zip(range(21, 25), ("397", "866", "854", "729"), strict=True):
        DLCPro(f"laser_{wavelength}", f"TCPIP0::192.168.20.{number}::1998::SOCKET", visalib=VISALIB)
    awg = TektronixAWG5014("awg", "TCPIP0::192.168.20.12::inst0::INSTR", visalib=VISALIB, terminator="\n")
    aom = RohdeSchwarzSGS100A("aom_729", "TCPIP0::192.168.20.11::inst0::INSTR", visalib=VISALIB)
    pmt = SR400("pmt", "GPIB0::25::INSTR", visalib=VISALIB)
    return awg, aom, pmt


def test_729_pi_pulse_at_the_aom_resonance_makes_the_ion_dark(lab: SimulatedLab) -> None:
    """Resonance sits at AOM = (transition - laser) / 2; a pi pulse there turns bright counts into background."""
    node = lab.node("ion")
    awg, aom, pmt = _ion_instruments()
    aom.frequency((node.ion.transition_frequency_hz - node.number("laser_729_frequency_hz")) / 2)
    aom.power(node.number("reference_power_dbm"))
    aom.status(True)
    outputs_on(awg, amplitude_vpp=1.0)
    rabi_hz = node.number("rabi_frequency_hz_per_volt") * 0.5  # full-scale sample = 0.5 V
    pi_samples = round(1 / (2 * rabi_hz) * 1e9)  # 1 GS/s
    # Long windows are short elements looped, as on the bench: 1 us of cooling light x 1000, 1 us of detection x 2000.
    awg.sequence_length(9)
    for first, name in ((1, "bright"), (5, "pi")):
        upload_element(awg, first, f"{name}_cool", [(1000, 0.0, 0.0, COOL)], loops=1000)
        upload_element(awg, first + 1, f"{name}_pump", [(20_000, 0.0, 0.0, PUMP)], wait=False)
        if name == "pi":
            upload_element(awg, first + 2, "pi_pulse", [(pi_samples, 1.0, 0.0, ADDRESS_0)], wait=False)
        last = first + 2 + (name == "pi")
        upload_element(awg, last, f"{name}_detect", [(1000, 0.0, 0.0, DETECT)], loops=2000, wait=False)
        upload_element(awg, last + 1, f"{name}_gap", [(10, 0.0, 0.0, GAP)], wait=False)
    awg.run()
    pmt.start()
    shots = 300
    p = node.ion.params
    bright, dark = [], []
    for _ in range(shots):
        awg.force_trigger()
        bright.append(pmt.A.last_count())
        awg.force_trigger()
        dark.append(pmt.A.last_count())
    # Bright: S1/2 scatters for the whole 2 ms window (pumping errors leave a bright spectator too).
    expected_bright = 2e-3 * (p.background_rate_hz + p.detection_bright_rate_hz)
    assert np.mean(bright) == pytest.approx(expected_bright, abs=5 * np.std(bright) / math.sqrt(shots))
    # After the pi pulse most shots are dark: thermal dephasing and pumping errors leave a bright minority.
    # After the pi pulse: dark with probability f_pump * sum_n P_thermal(n) sin^2(pi/2 * DW(n)) (Debye-Waller
    # factor of the shot's phonon number; docs/physics.md). Poisson tails across the threshold are below 1e-6 here.
    threshold = 0.5 * (expected_bright + 2e-3 * p.background_rate_hz)
    n_bar = p.doppler_n_bar
    ns = np.arange(0, 400)
    thermal = (n_bar / (n_bar + 1)) ** ns / (n_bar + 1)
    flip = np.array([math.sin(math.pi / 2 * debye_waller_factor(int(n), p.lamb_dicke_eta)) ** 2 for n in ns])
    expected_dark = p.optical_pumping_fidelity * float(thermal @ flip)
    dark_fraction = float(np.mean(np.array(dark) < threshold))
    assert dark_fraction == pytest.approx(expected_dark, abs=5 * math.sqrt(expected_dark * (1 - expected_dark) / shots))
    assert np.mean(np.array(bright) < threshold) == 0.0


def test_heralds_come_from_the_joint_state_of_both_nodes(lab: SimulatedLab) -> None:
    """Both NV nodes excite their spins; the ID1000 counts attempts and heralds as the single-click model says."""
    awgs = []
    for octet, name in ((10, "a"), (11, "b")):
        address = f"TCPIP0::192.168.{octet}.12::inst0::INSTR"
        awg = TektronixAWG5014(f"awg_{name}", address, visalib=VISALIB, terminator="\n")
        outputs_on(awg)
        awg.sequence_length(1)
        # No green light on: the spins stay where the lab starts them (|0>, bright), so every attempt has the same
        # joint state, |00>, and the click probabilities are fixed.
        upload_element(awg, 1, f"ent_{name}", [(10, 0.0, 0.0, frozenset({"3.1"})), (10, 0.0, 0.0, GAP)], loops=1)
        awg.run()
        awgs.append(awg)
    tagger = ID1000("tagger", "TCPIP0::192.168.30.11::5555::SOCKET", visalib=VISALIB)
    tagger.reset_counters()
    tagger.start_recording()
    station = lab.stations["nv_link"]
    # physics.yaml's efficiencies (4e-4 per arm) give a few clicks in 10^4 attempts, too few to tell the detectors
    # apart; this test is about the instrument chain, so it gives the station a brighter (but valid) setting.
    bright = replace(station.physics.params, detection_efficiency_a=0.05, detection_efficiency_b=0.05)
    station.physics = SingleClickStation(bright, lab.world, lab.world.rng)
    qa = lab.node("nv_a").nv.electron_qubit_id
    qb = lab.node("nv_b").nv.electron_qubit_id
    probabilities = station.physics.probabilities(qa, qb)
    attempts = 10_000
    for _ in range(attempts):
        awgs[0].force_trigger()
        awgs[1].force_trigger()
        lab.world.reset(qa)  # the spins go back to |00> between attempts, as the lab starts them
        lab.world.reset(qb)
    counts = tagger.read_counts()
    assert station.attempts == attempts
    assert counts["input1"] == attempts
    for click, key in ((Click.DETECTOR_0, "input2"), (Click.DETECTOR_1, "input3")):
        p = probabilities[click]
        assert counts[key] == pytest.approx(attempts * p, abs=5 * math.sqrt(attempts * p * (1 - p)))
        assert attempts * p > 25 * (1 - p)  # the 5-sigma band excludes zero: a dead detector would fail
