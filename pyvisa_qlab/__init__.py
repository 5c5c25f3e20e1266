"""The ``@qlab`` pyvisa backend: instruments that answer from the simulated lab.

pyvisa finds a backend named ``X`` by importing the module ``pyvisa_X`` and reading its ``WRAPPER_CLASS``, so a
QCoDeS station reaches the physics-backed lab with::

    visalib: "sim_instruments.lab:lab.yaml@qlab"

The library itself lives in :mod:`sim_instruments.lab.backend`; this package only names it for pyvisa.
"""

from sim_instruments.lab.backend import LabVisaLibrary

WRAPPER_CLASS = LabVisaLibrary

__all__ = ["WRAPPER_CLASS", "LabVisaLibrary"]
