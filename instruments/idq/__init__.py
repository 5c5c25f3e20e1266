"""Drivers for ID Quantique instruments."""

from instruments.idq.id1000 import (
    COINCIDENCE_BLOCKS,
    ID1000,
    ID1000Coincidence,
    ID1000Error,
    ID1000IdentityError,
    ID1000Input,
)

__all__ = ["COINCIDENCE_BLOCKS", "ID1000", "ID1000Coincidence", "ID1000Error", "ID1000IdentityError", "ID1000Input"]
