"""Drivers for Cobolt (HÜBNER Photonics) lasers."""

from instruments.cobolt.cobolt_06_01 import Cobolt0601, CoboltReplyError

__all__ = ["Cobolt0601", "CoboltReplyError"]
