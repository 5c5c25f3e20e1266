"""Drivers for Keysight (formerly Agilent) instruments that qcodes does not ship."""

from instruments.keysight.keysight_53230a import (
    Keysight53230A,
    Keysight53230AError,
    Keysight53230AIdentityError,
    Keysight53230AInput,
)

__all__ = ["Keysight53230A", "Keysight53230AError", "Keysight53230AIdentityError", "Keysight53230AInput"]
