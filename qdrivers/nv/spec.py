"""The NV node's QDevice spec, from its calibration and pulse library (not from constants).

Qubit 0 is the electron spin, the communication qubit. T2 is the Hahn-echo T2; T1 is the calibration file's
``t1_s`` when present (no routine measures it yet; otherwise no T1 decay is declared). Readout flips are
``1 - F0`` and ``1 - F1`` of the readout calibration. Durations are the lengths of the library's elements:
INIT is one attempt of the init element (the CR check can repeat it), ROT X/Y the longest rotation element,
ROT Z zero (a software frame update), MEAS the readout window, ENT (when the node setup names a heralding
station) one attempt element. No gate error is declared: none is calibrated.
"""

from __future__ import annotations

import math

from qdrivers.nv.calibration import NVCalibration
from qdrivers.nv.pulses import PulseLibrary
from qlab_os.qdevice.spec import QDeviceSpec, parse_spec


def build_spec(node: str, library: PulseLibrary, calibration: NVCalibration) -> QDeviceSpec:
    t1_ns = calibration.t1_s * 1e9 if calibration.t1_s is not None else math.inf
    return parse_spec(
        {
            "name": node,
            "description": f"NV node {node}: electron spin, calibrated from {calibration.path}",
            "qubits": [{"name": "electron", "communication": True, "t1_ns": t1_ns,
                        "t2_ns": calibration.t2_s * 1e9}],
            "readout": {"p_flip_0": 1.0 - calibration.readout_fidelity_0,
                        "p_flip_1": 1.0 - calibration.readout_fidelity_1},
            "native": [
                {"op": "init", "qubits": [0], "duration_ns": library.init_duration_ns},
                {"op": "rot", "axes": ["x", "y"], "qubits": [0], "duration_ns": library.rotation_duration_ns},
                {"op": "rot", "axes": ["z"], "qubits": [0], "duration_ns": 0},
                {"op": "meas", "qubits": [0], "duration_ns": library.readout_duration_ns},
                *([{"op": "ent", "qubits": [0], "duration_ns": min(library.attempt_duration_ns(s)
                                                                    for s in library.attempts)}]
                  if library.attempts else []),
            ],
        },
        source=f"<nv node {node}, calibration {calibration.path}>",
    )
