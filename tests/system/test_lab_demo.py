"""``qlab-os demo``'s lab part: the three lab nodes calibrated on a fresh lab, one program on all three through the
QDrivers and simulated instruments, and every statistic within 5 sigma of theory (the checks the demo prints)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from qlab_os.demo_lab import LAB_NODES, run_lab_demo


def test_lab_demo_matches_theory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Instrument.close_all()
    try:
        report = run_lab_demo(seed=11, pairs=60, rsp_shots=60, out=lambda _line: None)
    finally:
        Instrument.close_all()
    print(report.text())
    assert not report.errors, report.errors
    names = [c.name for c in report.checks]
    assert sum("Bell pairs" in n for n in names) == 3 and sum(n.startswith("ion") for n in names) == 2
    assert any("heralds per attempt" in n for n in names)
    for check in report.checks:
        assert check.n > 0 and check.ok, check.line()
    # every node's QDevice did something, and the NV nodes spent most of the run entangling
    assert set(report.utilisation) == set(LAB_NODES)
    assert all(u > 0 for u in report.utilisation.values())
    assert report.utilisation["nv_a"] > 0.5 and report.utilisation["nv_b"] > 0.5
    assert report.figure is not None and report.figure.read_bytes()[:4] == b"\x89PNG"
