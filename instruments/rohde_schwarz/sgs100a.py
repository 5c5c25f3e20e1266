"""The Rohde & Schwarz SGS100A RF source: qcodes' driver plus a safe state and an identity check.

qcodes ships the driver (:class:`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A`); this subclass adds only
what a qlab-os station needs from every instrument:

- :meth:`RohdeSchwarzSGS100A.safe_state`: RF output off (``:OUTP:STAT 0``, SGS100A user manual, "OUTPut:STATe");
- an identity check at connection. qcodes' driver talks to whatever answers at the address, and ``get_idn`` swallows
  any failure; a swapped IP address would then drive the wrong instrument. The SGS100A answers ``*IDN?`` with
  ``Rohde&Schwarz,SGS100A,<part/serial>,<firmware>``; the check accepts any reply whose model field contains
  ``SGS100A`` (qcodes' own simulation answers ``SGS100A_simulated``).
"""

from __future__ import annotations

from typing import Unpack

from qcodes.instrument import VisaInstrumentKWArgs
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A as _QcodesSGS100A

__all__ = ["MODEL", "RohdeSchwarzSGS100A", "SGS100AIdentityError", "SGS100AReplyError"]

MODEL = "SGS100A"
"""What the model field (second field) of ``*IDN?`` must contain."""


class SGS100AReplyError(RuntimeError):
    """The instrument (named in the message) answered ``*IDN?`` with something that is not an identity string."""


class SGS100AIdentityError(RuntimeError):
    """The instrument at the address (named in the message) identifies as something other than an SGS100A."""


class RohdeSchwarzSGS100A(_QcodesSGS100A):
    """qcodes' SGS100A driver; refuses another instrument at the address and declares its safe state."""

    def __init__(self, name: str, address: str, **kwargs: Unpack[VisaInstrumentKWArgs]) -> None:
        super().__init__(name, address, **kwargs)
        try:
            _check_identity(self.name, address, self.ask("*IDN?"))
        except BaseException:
            self.close()  # release the VISA session: the instrument is not registered when __init__ fails
            raise

    def safe_state(self) -> None:
        """Safe state of an RF source: RF output off. Frequency, power and modulation settings are kept."""
        self.status.set(False)


def _check_identity(name: str, address: str, reply: str) -> None:
    fields = [field.strip() for field in reply.split(",")]
    if len(fields) != 4:
        raise SGS100AReplyError(
            f"instrument {name!r} at {address}: *IDN? answered {reply!r}, which is not an identity string "
            "(maker,model,serial,firmware)"
        )
    if MODEL not in fields[1].upper():
        raise SGS100AIdentityError(
            f"instrument {name!r} at {address}: expected a Rohde & Schwarz {MODEL}, but *IDN? answered {reply!r}. "
            "Check the address in the station config."
        )
