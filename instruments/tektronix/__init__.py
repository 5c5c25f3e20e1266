"""Drivers for Tektronix instruments (qcodes' own AWG5014, with what a qlab-os station adds)."""

from instruments.tektronix.awg5014 import AWG5014IdentityError, AWG5014ReplyError, TektronixAWG5014

__all__ = ["AWG5014IdentityError", "AWG5014ReplyError", "TektronixAWG5014"]
