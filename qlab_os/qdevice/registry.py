"""Find QDrivers by name, through the ``qlab_os.qdrivers`` entry-point group.

The kernel and the CNPU never import ``qdrivers``: the outermost wiring (the CLI) asks this registry for a
device by name, and the registry loads whichever installed driver provides it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from qlab_os.clock import Clock
from qlab_os.errors import UnknownQDriverError
from qlab_os.qdevice.driver import QDriver
from qlab_os.qdevice.spec import QDeviceSpec

GROUP = "qlab_os.qdrivers"


@cache
def driver_classes() -> dict[str, type[QDriver]]:
    """Every installed QDriver class, by driver name."""
    found: dict[str, type[QDriver]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, QDriver)):
            raise UnknownQDriverError(f"entry point {ep.name} = {ep.value} is not a QDriver subclass")
        found[ep.name] = cls
    return found


def device_names() -> dict[str, str]:
    """Every device name any installed driver provides, mapped to its driver's name."""
    return {device: name for name, cls in driver_classes().items() for device in cls.device_names()}


def create_qdriver(device: str, *, clock: Clock, seed: int | None = None, ideal: bool = False,
                   shared: dict[str, object] | None = None) -> QDriver:
    """Build the QDriver for ``device`` (e.g. ``sim-nv``). An unknown name lists the known ones.

    Pass the same ``shared`` dict for every node of one run (see :meth:`QDriver.for_device`)."""
    devices = device_names()
    driver_name = devices.get(device)
    if driver_name is None:
        known = ", ".join(sorted(devices)) or "(none installed)"
        raise UnknownQDriverError(f"unknown device {device!r}; known devices: {known}")
    cls = driver_classes()[driver_name]
    if shared is None:
        return cls.for_device(device, clock=clock, seed=seed, ideal=ideal)
    return cls.for_device(device, clock=clock, seed=seed, ideal=ideal, shared=shared)


TWIN_DRIVER = "sim"
"""The driver that builds a device from a spec (:meth:`QDriver.from_spec`)."""


def create_twin(spec: QDeviceSpec, *, clock: Clock, seed: int | None = None) -> QDriver:
    """A simulated QDevice that follows ``spec`` exactly: the digital twin of a device whose spec came from its
    calibration (see :mod:`qlab_os.twin`)."""
    cls = driver_classes().get(TWIN_DRIVER)
    if cls is None:
        raise UnknownQDriverError(f"no {TWIN_DRIVER!r} QDriver is installed, and only it can simulate a spec")
    return cls.from_spec(spec, clock=clock, seed=seed)
