"""Errors of qlab-os stations: an instrument that fails, named, with the kind of failure and its reason.

Drivers and pyvisa raise many exception types for the same few situations (a VISA status code, a parser's
ValueError, a driver's own ``...ReplyError``). :func:`classify` turns any of them, raised while talking to one
instrument, into one of four specific errors that name the instrument and its address:

- :class:`InstrumentUnreachableError`: the instrument cannot be opened or the connection was lost;
- :class:`InstrumentTimeoutError`: a VISA read timed out (the instrument did not answer);
- :class:`InstrumentReplyError`: it answered something the driver cannot interpret;
- :class:`InstrumentIdentityError`: it identifies as another instrument than the driver expects.

The drivers of this project (and qlab-os' subclasses of qcodes drivers) name their errors by a convention that
:func:`classify` relies on: ``<Model>IdentityError`` for a wrong identity, ``<Model>ReplyError`` for an
uninterpretable reply (e.g. ``SR400ReplyError``, ``DLCProIdentityError``). qlab-os never imports the drivers, so it
matches the class name rather than the class.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyvisa import constants as visa_constants
from pyvisa import errors as visa_errors

from qlab_os.errors import QlabOSError

_CONTEXT_PREFIXES = ("asking ", "writing ", "getting ", "setting ")
"""qcodes appends where a failure happened to ``exc.args`` ("asking *IDN? to <...>"); kept in the reason."""


class InstrumentError(QlabOSError):
    """An instrument of a station failed. The message names the instrument, its address and the reason."""

    kind = "failed"

    def __init__(self, instrument: str, address: str | None, reason: str) -> None:
        self.instrument = instrument
        self.address = address
        self.reason = reason
        where = f"instrument {instrument!r}" + (f" at {address}" if address else "")
        super().__init__(f"{where}: {self.kind}: {reason}")


class InstrumentUnreachableError(InstrumentError):
    """The instrument cannot be reached: no such resource, connection refused or lost, instrument dead."""

    kind = "unreachable"


class InstrumentTimeoutError(InstrumentError):
    """The instrument did not answer within the VISA timeout."""

    kind = "VISA timeout"


class InstrumentReplyError(InstrumentError):
    """The instrument answered something its driver cannot interpret."""

    kind = "unexpected reply"


class InstrumentIdentityError(InstrumentError):
    """The instrument at the address identifies as another instrument than its driver expects."""

    kind = "wrong identity"


class SafeStateError(QlabOSError):
    """Safe state could not be applied to some instruments; ``failures`` maps each to its error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        lines = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        super().__init__(f"safe state failed on {len(failures)} instrument(s): {lines}")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, outermost first, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _message(exc: BaseException) -> str:
    """The exception's own message, with qcodes' "asking X to <instrument>" context in brackets."""
    if isinstance(exc, visa_errors.VisaIOError):
        core = f"{exc.abbreviation} ({exc.description.rstrip('.')})"
        extra = exc.args[1:]
    else:
        core = str(exc.args[0]) if exc.args else type(exc).__name__
        extra = exc.args[1:]
    context = [str(a).split(" to <", 1)[0] for a in extra if isinstance(a, str) and a.startswith(_CONTEXT_PREFIXES)]
    return f"{core} [{'; '.join(context)}]" if context else core


def classify(instrument: str, address: str | None, exc: BaseException) -> InstrumentError:
    """The specific :class:`InstrumentError` for ``exc``, raised while talking to ``instrument``."""
    error = _classify(instrument, address, exc)
    # Drivers often name the instrument themselves; say it once.
    for where in (f"instrument {instrument!r} at {address}: ", f"{instrument} at {address}: ", f"{instrument}: "):
        if error.reason.startswith(where):
            return type(error)(instrument, address, error.reason[len(where) :])
    return error


def _classify(instrument: str, address: str | None, exc: BaseException) -> InstrumentError:
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, InstrumentError):
            return e
    for e in chain:
        if isinstance(e, visa_errors.VisaIOError):
            if e.error_code == visa_constants.StatusCode.error_timeout:
                return InstrumentTimeoutError(instrument, address, _message(e))
            return InstrumentUnreachableError(instrument, address, _message(e))
        if isinstance(e, TimeoutError):
            return InstrumentTimeoutError(instrument, address, _message(e))
        if isinstance(e, OSError | visa_errors.Error):
            return InstrumentUnreachableError(instrument, address, f"{type(e).__name__}: {_message(e)}")
    for e in chain:
        if type(e).__name__.endswith("IdentityError"):
            return InstrumentIdentityError(instrument, address, _message(e))
    for e in chain:
        if type(e).__name__.endswith("ReplyError") or isinstance(e, ValueError | TypeError):
            return InstrumentReplyError(instrument, address, _message(e))
    return InstrumentError(instrument, address, f"{type(exc).__name__}: {_message(exc)}")
