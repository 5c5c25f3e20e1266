"""Every calibration routine, run through `qlab-os calibrate NODE all` on the simulated lab, recovers the parameters
the physics was given (sim_instruments/lab/physics.yaml, lab.yaml wiring) within K fit errors.

The truth is computed here from the lab's YAML files (never copied); where a routine's estimate differs from the
raw constant in a known way (thermal Debye-Waller averaging with the operator's eta, spin-init spectators, Poisson
thresholds) the expected value models it. One fixed seed; the shot counts are the node setups' own.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from qcodes.dataset import initialise_or_create_database_at, load_by_id
from qcodes.instrument import Instrument
from scipy.stats import poisson

from qlab_os.cli import main
from qlab_os.lab.calibrate.node import find_node_file, load_node
from sim_instruments.lab.resolve import resolve_path
from sim_instruments.physics.ion import debye_waller_factor

K = 5.0
SEED = 20261124
LAB = resolve_path("sim_instruments.lab:lab.yaml")
PHYSICS = yaml.safe_load((LAB.parent / "physics.yaml").read_text())
WIRING = {name: node["wiring"] for name, node in yaml.safe_load(LAB.read_text())["lab"]["nodes"].items()}


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


def _run_all(node: str, tmp: Path) -> dict[str, Any]:
    calibration = tmp / f"{node}.yaml"
    status = main(["calibrate", node, "all", "--seed", str(SEED), "--calibration-file", str(calibration),
                   "--db", str(tmp / "cal.db"), "--plot-dir", str(tmp / "plots"), "--no-progress"])
    assert status == 0
    data = yaml.safe_load(calibration.read_text())
    assert data["node"] == node
    return dict(data["parameters"])


@pytest.fixture(scope="module")
def nv(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("nv")
    return _run_all("nv_a", tmp), tmp


@pytest.fixture(scope="module")
def ion(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("ion")
    return _run_all("ion", tmp), tmp


def _close(entry: dict[str, Any], expected: float, k: float = K) -> None:
    assert entry["error"] > 0, entry
    assert abs(entry["value"] - expected) <= k * entry["error"], (entry, expected)


def _power_factor(wiring: dict[str, Any], power_dbm: float) -> float:
    return math.sqrt(10 ** ((power_dbm - wiring["reference_power_dbm"]) / 10))


# -- NV -----------------------------------------------------------------------------------------------------------


def test_nv_recovers_the_physics(nv: tuple[dict[str, Any], Path]) -> None:
    p, _ = nv
    phys, wiring = PHYSICS["nv"], WIRING["nv_a"]
    timing = load_node(find_node_file("nv_a")).timing
    transition = phys["zero_field_splitting_hz"] - phys["gyromagnetic_ratio_hz_per_t"] * phys["magnetic_field_t"]
    _close(p["transition_frequency_hz"], transition)
    per_volt = wiring["rabi_frequency_hz_per_volt"] * _power_factor(wiring, p["mw_power_dbm"]["value"])
    _close(p["rabi_frequency_hz_per_volt"], per_volt)
    _close(p["t2_s"], phys["t2_s"])
    _close(p["t2_star_s"], phys["t2_star_s"])
    # Ramsey measures the transition against the source, which sits at the ODMR value.
    _close(p["ramsey_detuning_hz"], transition - p["transition_frequency_hz"]["value"])
    _close(p["nv_minus_probability"], phys["nv_minus_probability"])
    background = phys["background_rate_hz"]
    _close(p["cr_mean_counts"], (phys["cr_rate_hz"] + background) * timing["cr_check_s"])
    bright = (phys["readout_bright_rate_hz"] + background) * timing["readout_s"]
    dark = (phys["readout_dark_rate_hz"] + background) * timing["readout_s"]
    _close(p["readout_mean_counts_0"], bright)
    _close(p["readout_mean_counts_1"], dark)
    _close(p["spin_init_fidelity"], phys["spin_init_fidelity"])
    # Fidelities for the threshold the routine chose: ms=0 shots are bright unless pumped into the dark spectator.
    t = p["readout_threshold_counts"]["value"]
    eps = 1 - phys["spin_init_fidelity"]
    _close(p["readout_fidelity_0"], (1 - eps) * poisson.sf(t - 1, bright) + eps * poisson.sf(t - 1, dark))
    _close(p["readout_fidelity_1"], poisson.cdf(t - 1, dark))


def test_nv_pi_pulse_follows_from_the_rabi_frequency(nv: tuple[dict[str, Any], Path]) -> None:
    p, _ = nv
    expected = 1 / (2 * p["pi_pulse_duration_s"]["value"] * p["rabi_frequency_hz_per_volt"]["value"])
    assert p["pi_pulse_amplitude_v"]["value"] == pytest.approx(expected, rel=1e-12)


# -- ion ----------------------------------------------------------------------------------------------------------


def test_ion_recovers_the_physics(ion: tuple[dict[str, Any], Path]) -> None:
    p, _ = ion
    phys, wiring = PHYSICS["ion"], WIRING["ion"]
    timing = load_node(find_node_file("ion")).timing
    zeeman = ((phys["g_d52"] * phys["m_d52"] - phys["g_s12"] * phys["m_s12"]) * phys["bohr_magneton_hz_per_t"]
              * phys["magnetic_field_t"])
    aom = (phys["line_frequency_hz"] + zeeman - wiring["laser_729_frequency_hz"]) / 2
    _close(p["aom_729_resonance_hz"], aom)
    per_volt = wiring["rabi_frequency_hz_per_volt"] * _power_factor(wiring, p["aom_729_power_dbm"]["value"])
    _close(p["rabi_729_frequency_hz_per_volt"], per_volt)
    # The fit uses the operator's eta (trap geometry); the thermal dephasing fixes eta^2 n_bar.
    eta_fit = p["lamb_dicke_eta"]["value"]
    _close(p["motional_n_bar"], phys["doppler_n_bar"] * (phys["lamb_dicke_eta"] / eta_fit) ** 2)
    _close(p["t2_729_s"], phys["t2_s"])
    _close(p["t2_star_729_s"], phys["t2_star_s"])
    _close(p["ramsey_729_detuning_hz"], 2 * (aom - p["aom_729_resonance_hz"]["value"]))
    window = timing["detect_s"]
    bright = (phys["detection_bright_rate_hz"] + phys["background_rate_hz"]) * window
    tau = phys["t1_s"]
    dark = phys["background_rate_hz"] * window + phys["detection_bright_rate_hz"] * (
        window - tau * (1 - math.exp(-window / tau)))
    _close(p["detection_mean_counts_bright"], bright)
    _close(p["detection_mean_counts_dark"], dark)
    # A dark preparation fails when pumping leaves the spectator or the thermal pi pulse falls short.
    omega = per_volt * p["pi_pulse_729_amplitude_v"]["value"]
    n_bar = phys["doppler_n_bar"]
    n = np.arange(400)
    weights = (n_bar / (n_bar + 1)) ** n / (n_bar + 1)
    factors = np.array([debye_waller_factor(int(k), phys["lamb_dicke_eta"]) for k in n])
    flipped = float(np.sum(weights * np.sin(np.pi * omega * factors * timing["pi_pulse_s"]) ** 2))
    pumped = phys["optical_pumping_fidelity"]
    _close(p["dark_preparation_error"], 1 - pumped * flipped)
    t = p["detection_threshold_counts"]["value"]
    _close(p["detection_fidelity_bright"], poisson.sf(t - 1, bright))


def test_ion_chain_recovers_the_second_ion_and_the_ms_coupling(ion: tuple[dict[str, Any], Path]) -> None:
    """Ion 1's addressed Rabi frequency (the AOD factor at its position) and the MS sideband coupling per volt,
    eta / sqrt(2) (the COM mode of two ions) times each tone's Rabi frequency per volt at the calibrated power."""
    p, _ = ion
    phys, wiring = PHYSICS["ion"], WIRING["ion"]
    per_volt = wiring["rabi_frequency_hz_per_volt"] * _power_factor(wiring, p["aom_729_power_dbm"]["value"])
    _close(p["rabi_729_ion1_frequency_hz_per_volt"], per_volt * wiring["addressing_rabi_factors"][1])
    assert wiring["addressing_rabi_factors"][1] != wiring["addressing_rabi_factors"][0]  # a second calibration matters
    coupling = (phys["lamb_dicke_eta"] / math.sqrt(wiring["ions"]) * wiring["ms_rabi_frequency_hz_per_volt"]
                * _power_factor(wiring, p["aom_729_ms_power_dbm"]["value"]))
    _close(p["ms_sideband_rabi_hz_per_volt"], coupling)
    # The gate the driver plays: MS(pi/2) at one closed loop, 2 pi (g V / delta)^2 = pi / 2.
    delta = p["ms_detuning_hz"]["value"]
    assert p["ms_gate_duration_s"]["value"] == pytest.approx(1 / delta)
    _close(p["ms_gate_amplitude_v"], delta / (2 * coupling))
    assert p["ms_mode_frequency_hz"]["value"] == phys["axial_mode_frequency_hz"]


# -- records ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["nv", "ion"])
def test_datasets_plots_and_calibration_entries(which: str, request: pytest.FixtureRequest) -> None:
    params, tmp = request.getfixturevalue(which)
    node = "nv_a" if which == "nv" else "ion"
    setup = load_node(find_node_file(node))
    from qlab_os.lab.calibrate.routine import routines_for

    routines = [r.name for r in routines_for(setup.platform)]
    assert {e["routine"] for e in params.values()} == set(routines)
    initialise_or_create_database_at(str(tmp / "cal.db"))
    for routine in routines:
        assert (tmp / "plots" / f"{node}_{routine}.png").stat().st_size > 10_000
        entries = [e for e in params.values() if e["routine"] == routine]
        run_ids = {e["run_id"] for e in entries}
        assert len(run_ids) == 1
        dataset = load_by_id(run_ids.pop())
        assert dataset.name == f"{node} {routine}"
        assert "station" in dataset.snapshot  # the station snapshot is recorded with the data
        assert set(dataset.snapshot["station"]["instruments"]) >= {"awg"}
        counts = dataset.get_parameter_data("counts")["counts"]["counts"]
        assert len(counts) > 100 and np.all(counts >= 0)
        for entry in entries:
            assert set(entry) == {"value", "error", "unit", "routine", "run_id", "timestamp"}
    with sqlite3.connect(tmp / "cal.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] >= len(routines)
