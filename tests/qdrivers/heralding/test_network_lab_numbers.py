"""station_configs/network_lab.yaml's link numbers are the single-click model's (computed, not tuned): recomputed
from fresh calibrations they agree to the two digits the file gives them with."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlab_os.demo_lab import NETWORK_FILE
from qlab_os.demo_lab_theory import link_model
from qlab_os.errors import ConfigError
from qlab_os.lab.calibrate.calfile import CalibrationFile
from qlab_os.net.config import load_network


def test_lab_network_links_are_the_models(nv_calibrations: dict[str, Path], ion_calibration: Path) -> None:
    cal = {n: CalibrationFile(p, n, "nv") for n, p in nv_calibrations.items()}
    cal["ion"] = CalibrationFile(ion_calibration, "ion", "ion")
    network = load_network(NETWORK_FILE)
    for station, nodes in (("nv_link", ("nv_a", "nv_b")), ("nv_ion_link", ("nv_a", "ion"))):
        link = network.link(*nodes)
        assert link is not None, nodes
        model = link_model(station, nodes, cal)
        # two significant digits: within half a unit of the second digit
        assert abs(model.herald_probability - link.success_probability) <= 0.05e-5, (station, model.herald_probability)
        assert abs(model.fidelity() - link.fidelity) <= 0.005, (station, model.fidelity())


def test_a_station_the_lab_does_not_have_or_in_another_order_is_named(nv_calibrations: dict[str, Path]) -> None:
    cal = {n: CalibrationFile(p, n, "nv") for n, p in nv_calibrations.items()}
    with pytest.raises(ConfigError, match=r"lab\.heralding\.nv_link\.nodes: the theory takes the nodes in the order"):
        link_model("nv_link", ("nv_b", "nv_a"), cal)
    with pytest.raises(ConfigError, match=r"lab\.heralding\.far_link: no such heralding station"):
        link_model("far_link", ("nv_a", "nv_b"), cal)
