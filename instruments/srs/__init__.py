"""Drivers for Stanford Research Systems instruments."""

from instruments.srs.sr400 import SR400, SR400ReplyError

__all__ = ["SR400", "SR400ReplyError"]
