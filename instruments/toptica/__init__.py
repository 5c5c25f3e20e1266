"""Drivers for TOPTICA Photonics laser controllers."""

from instruments.toptica.dlc_pro import DLCPro, DLCProError, DLCProIdentityError, DLCProLaser, DLCProReplyError

__all__ = ["DLCPro", "DLCProError", "DLCProIdentityError", "DLCProLaser", "DLCProReplyError"]
