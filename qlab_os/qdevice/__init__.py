"""The QDriver contract: physical instructions, responses, QDevice specs and the driver registry.

This is the only thing the kernel knows about hardware (after the QDevice model of QNodeOS).
"""

from qlab_os.qdevice.driver import LinkSpec, QDriver
from qlab_os.qdevice.instructions import (
    Axis,
    EntMode,
    EntParams,
    PhysicalInstruction,
    PhysicalOp,
    PhysicalResponse,
)
from qlab_os.qdevice.spec import NativeGateSpec, QDeviceSpec, QubitSpec, load_spec, parse_spec

__all__ = [
    "Axis",
    "EntMode",
    "EntParams",
    "LinkSpec",
    "NativeGateSpec",
    "PhysicalInstruction",
    "PhysicalOp",
    "PhysicalResponse",
    "QDeviceSpec",
    "QDriver",
    "QubitSpec",
    "load_spec",
    "parse_spec",
]
