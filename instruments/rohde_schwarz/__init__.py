"""Drivers for Rohde & Schwarz instruments (qcodes' own, with what a qlab-os station adds)."""

from instruments.rohde_schwarz.sgs100a import RohdeSchwarzSGS100A, SGS100AIdentityError, SGS100AReplyError

__all__ = ["RohdeSchwarzSGS100A", "SGS100AIdentityError", "SGS100AReplyError"]
