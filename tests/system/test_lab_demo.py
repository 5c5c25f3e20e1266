"""``qlab-os demo``'s lab part: the three lab nodes calibrated on a fresh lab, one program on all three through the
QDrivers and simulated instruments (NV-NV Bell pairs; the ion's q0 from nv_a by remote state preparation over the
NV-ion link), and every statistic within 5 sigma of theory (the checks the demo prints)."""

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
    assert sum("Bell pairs" in n for n in names) == 3
    assert sum(n.startswith("ion (q0 from nv_a by RSP), CNOT") for n in names) == 2  # the link switched RSP on
    assert {n for n in names if "heralds per attempt" in n} == {"ion--nv_a: heralds per attempt",
                                                                 "nv_a--nv_b: heralds per attempt"}
    assert len(report.outcomes["nv_a"]["rsp"]) == len(report.outcomes["ion"]["shots"]) == 60
    for check in report.checks:
        assert check.n > 0 and check.ok, check.line()
    # nv_a, the hub, spent the run entangling: first with nv_b, then with the ion, each busy in its own part
    u = report.utilisation
    assert set(u) == set(LAB_NODES)
    assert u["nv_a"] > 0.9 and u["nv_b"] > 0.2 and u["ion"] > 0.2
    assert u["nv_b"] + u["ion"] > 0.9
    assert report.figure is not None and report.figure.read_bytes()[:4] == b"\x89PNG"
