"""One vanilla NetQASM program, unchanged, on the sim device, the NV node and the ion node of the simulated lab.

The NV and ion nodes run through their QDrivers, QCoDeS stations and the physics-backed instruments, with the
pulse libraries of a calibration made in this test (``qlab-os calibrate``). Each device's statistics are compared
with theory passed through the readout errors the device's own spec declares (from its calibration); the spec's
declared gate errors bound what else may differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qlab_os import exec_runner
from qlab_os.cli import main
from qlab_os.clock import VirtualClock
from qlab_os.qdevice.registry import create_qdriver
from qlab_os.qnpu.decode import parse_text
from sim_instruments.lab.lab import reset_lab

SHOTS = 600
# (vanilla body, P(1) in theory): X; H; Rx(pi/2); Rx(3pi/4); H Rz(pi/4) H, which needs the Z frame; and two
# sequences that tell the signs of the Y and Z axes apart.
PROGRAMS = [
    ("x Q0\n", 1.0),
    ("h Q0\n", 0.5),
    ("rot_x Q0 1 1\n", math.sin(math.pi / 4) ** 2),
    ("rot_x Q0 3 2\n", math.sin(3 * math.pi / 8) ** 2),
    ("h Q0\nrot_z Q0 1 2\nh Q0\n", math.sin(math.pi / 8) ** 2),
    # Signs of Y and Z: X90 Z90 Y90 ends in |1>, Y90 Z90 X90 in |0>; a flipped Y or Z axis swaps them.
    ("rot_x Q0 1 1\nrot_z Q0 1 1\nrot_y Q0 1 1\n", 1.0),
    ("rot_y Q0 1 1\nrot_z Q0 1 1\nrot_x Q0 1 1\n", 0.0),
]


@pytest.fixture(scope="module")
def calibrated_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Calibrate nv_a and the ion node of a fresh lab into a temporary data/ folder."""
    workdir = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        reset_lab(seed=20261124)
        assert main(["calibrate", "nv_a", "all"]) == 0
        assert main(["calibrate", "ion", "all"]) == 0
        Instrument.close_all()
        yield workdir


def _program(body: str) -> str:
    return f"# NETQASM 1.0\n# APPID 0\nset Q0 0\nqalloc Q0\ninit Q0\n{body}meas Q0 M0\nret_reg M0\n"


@pytest.mark.parametrize("device", ["sim-generic", "nv_a", "ion"])
def test_the_same_program_gives_theory_through_each_device_s_declared_errors(
    calibrated_lab: Path, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    monkeypatch.chdir(calibrated_lab)
    driver = create_qdriver(device, clock=VirtualClock(), seed=5)
    spec = driver.spec
    driver.close()
    worst_gate_error = max((g.depolarising_prob for g in spec.natives), default=0.0)
    for body, p1 in PROGRAMS:
        report = exec_runner.run_shots(parse_text(_program(body)), device=device, shots=SHOTS, seed=5)
        ones = sum(int(r.registers["M0"]) for r in report.results)
        expected = p1 * (1 - spec.readout_p_flip_1) + (1 - p1) * spec.readout_p_flip_0
        physical_per_shot = report.physical_instructions / SHOTS
        allowance = 5 * math.sqrt(max(expected * (1 - expected), 1 / SHOTS) / SHOTS)
        allowance += physical_per_shot * worst_gate_error
        assert ones / SHOTS == pytest.approx(expected, abs=allowance), (device, body, physical_per_shot)
