"""Shared constants and helpers of the station tests (the ``lab`` fixture is in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from sim_instruments.lab.lab import SimulatedLab
from sim_instruments.lab.models import AWGModel, PassiveModel

STATIONS = Path(__file__).resolve().parents[3] / "station_configs"
SIM_FILES = sorted(STATIONS.glob("*.sim.yaml"))
LAB_VISALIB = "sim_instruments.lab:lab.yaml@qlab"
LAB_SEED = 20261124


def outputs_on(lab: SimulatedLab, node: str) -> dict[str, bool]:
    """What emits in the lab now: each source's or laser's output, the AWG's run state and channel outputs."""
    state: dict[str, bool] = {}
    for role, model in lab.node(node).instruments.items():
        if isinstance(model, PassiveModel):
            state[role] = model.is_on()
        elif isinstance(model, AWGModel):
            state["awg.running"] = model.running
            for channel in range(1, 5):
                state[f"awg.ch{channel}"] = model.value(f"OUTPUT{channel}:STATE?").strip() == "1"
    return state
