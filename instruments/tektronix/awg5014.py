"""The Tektronix AWG5014 arbitrary waveform generator: qcodes' driver plus a safe state and an identity check.

qcodes ships the driver (:class:`qcodes.instrument_drivers.tektronix.TektronixAWG5014`); this subclass adds only
what a qlab-os station needs from every instrument:

- :meth:`TektronixAWG5014.safe_state`: sequencer stopped (``AWGControl:STOP``), then every channel output off
  (``OUTPut<n>:STATe 0``; the channel's marker outputs are switched with it). AWG5014 Programmer Manual,
  "AWGControl:STOP[:IMMediate]" and "OUTPut[n][:STATe]". Waveforms and the sequence stay in memory.
- an identity check at connection. qcodes' driver talks to whatever answers at the address, and ``get_idn`` swallows
  any failure. The AWG answers ``*IDN?`` with ``TEKTRONIX,AWG5014C,<serial>,<firmware>``; the check accepts any
  reply whose model field contains ``AWG5014`` (the B and C models, and qcodes' simulation).
"""

from __future__ import annotations

from typing import Unpack

from qcodes.instrument import VisaInstrumentKWArgs
from qcodes.instrument_drivers.tektronix import TektronixAWG5014 as _QcodesAWG5014

__all__ = ["MODEL", "AWG5014IdentityError", "AWG5014ReplyError", "TektronixAWG5014"]

MODEL = "AWG5014"
"""What the model field (second field) of ``*IDN?`` must contain."""


class AWG5014ReplyError(RuntimeError):
    """The instrument (named in the message) answered ``*IDN?`` with something that is not an identity string."""


class AWG5014IdentityError(RuntimeError):
    """The instrument at the address (named in the message) identifies as something other than an AWG5014."""


class TektronixAWG5014(_QcodesAWG5014):
    """qcodes' AWG5014 driver; refuses another instrument at the address and declares its safe state."""

    def __init__(
        self, name: str, address: str, *, num_channels: int = 4, **kwargs: Unpack[VisaInstrumentKWArgs]
    ) -> None:
        super().__init__(name, address, num_channels=num_channels, **kwargs)
        try:
            _check_identity(self.name, address, self.ask("*IDN?"))
        except BaseException:
            self.close()  # release the VISA session: the instrument is not registered when __init__ fails
            raise

    def safe_state(self) -> None:
        """Safe state of an AWG: sequencer stopped, then every channel output (and its markers) off."""
        self.stop()
        self.all_channels_off()


def _check_identity(name: str, address: str, reply: str) -> None:
    fields = [field.strip() for field in reply.split(",")]
    if len(fields) != 4:
        raise AWG5014ReplyError(
            f"instrument {name!r} at {address}: *IDN? answered {reply!r}, which is not an identity string "
            "(maker,model,serial,firmware)"
        )
    if MODEL not in fields[1].upper():
        raise AWG5014IdentityError(
            f"instrument {name!r} at {address}: expected a Tektronix {MODEL}, but *IDN? answered {reply!r}. "
            "Check the address in the station config."
        )
