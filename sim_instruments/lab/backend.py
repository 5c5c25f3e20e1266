"""A pyvisa backend on top of pyvisa-sim whose instruments answer from the simulated lab.

Why by hand: pyvisa-sim answers from static YAML, and no library lets a simulated instrument's replies depend on
another instrument's settings or on a quantum state. This class keeps pyvisa-sim's sessions, parser and device
semantics, and adds three things:

- devices come from :class:`~sim_instruments.lab.lab.SimulatedLab`, which binds some of them to physics models;
- a model sees each message before pyvisa-sim does, including binary blocks (AWG waveform uploads), which
  pyvisa-sim cannot decode;
- injected faults (:mod:`sim_instruments.lab.faults`) fail opens, writes and reads the way a real VISA library
  would, at once, without waiting on the wall clock.

Drivers are not patched: they talk pyvisa to ``visalib="<lab yaml>@qlab"``.
"""

from __future__ import annotations

from typing import Any, SupportsInt

from pyvisa import constants, errors
from pyvisa.typing import VISARMSession, VISASession
from pyvisa_sim.component import NoResponse
from pyvisa_sim.highlevel import SimVisaLibrary

from sim_instruments.lab.faults import GARBAGE_REPLY, WRONG_IDN_REPLY, Fault
from sim_instruments.lab.lab import SimulatedLab, get_lab, lab_at


class LabVisaLibrary(SimVisaLibrary):  # type: ignore[misc]
    """pyvisa library for ``<lab yaml>@qlab``; see the module docstring."""

    @staticmethod
    def get_library_paths() -> tuple[Any, ...]:
        return ()

    def _init(self) -> None:
        self.sessions: dict[int, Any] = {}
        spec = self.library_path
        lab_spec = "sim_instruments.lab:lab.yaml" if spec in ("", "unset") else str(spec)
        # Resolve once (it costs file-system calls); look the lab up on every message, so reset_lab takes effect.
        self._lab_path = get_lab(lab_spec).path  # also fails at ResourceManager creation if the lab YAML is wrong

    @property
    def lab(self) -> SimulatedLab:
        return lab_at(self._lab_path)

    @property
    def devices(self) -> Any:
        return self.lab.devices

    @devices.setter
    def devices(self, value: Any) -> None:  # pyvisa-sim's _init assigns it; ours reads through the lab
        pass

    def open(
        self,
        session: VISARMSession,
        resource_name: str,
        access_mode: constants.AccessModes = constants.AccessModes.no_lock,
        open_timeout: SupportsInt = constants.VI_TMO_IMMEDIATE,
    ) -> tuple[VISASession, constants.StatusCode]:
        lab = self.lab
        with lab.lock:
            result: tuple[VISASession, constants.StatusCode] = super().open(
                session, resource_name, access_mode, open_timeout
            )
            sess, status = result
            if status == constants.StatusCode.success:
                canonical = self.sessions[sess].device.resource_name
                if lab.faults.get(canonical) is Fault.DEAD:
                    del self.sessions[sess]
                    raise errors.VisaIOError(constants.StatusCode.error_resource_not_found)
            elif status == constants.StatusCode.error_resource_not_found:
                raise errors.VisaIOError(status)  # as pyvisa-py does, rather than a KeyError later
            return result

    def write(self, session: VISASession, data: bytes) -> tuple[int, constants.StatusCode]:
        lab = self.lab
        with lab.lock:
            sess = self.sessions.get(session)
            if sess is None:
                return 0, constants.StatusCode.error_invalid_object
            device = sess.device
            fault = lab.faults.get(device.resource_name)
            if fault is Fault.DEAD:
                raise errors.VisaIOError(constants.StatusCode.error_connection_lost)
            model = lab.model_of(device.resource_name)
            if model is not None and model.accepts_raw(data):
                model.write_raw(data)
                return len(data), constants.StatusCode.success
            if fault is Fault.WRONG_IDN and data.strip().upper() == b"*IDN?":
                device._output_buffers.append(bytearray(WRONG_IDN_REPLY + device._response_eom))
                return len(data), constants.StatusCode.success
            if model is not None:
                handled = _write_through_model(device, model, data)
                if handled is not None:
                    return handled
            result: tuple[int, constants.StatusCode] = super().write(session, data)
            return result

    def clear(self, session: VISASession) -> constants.StatusCode:
        """Device clear (viClear): the instrument drops its pending input and unread replies."""
        with self.lab.lock:
            sess = self.sessions.get(session)
            if sess is None:
                return constants.StatusCode.error_invalid_object
            if self.lab.faults.get(sess.device.resource_name) is Fault.DEAD:
                raise errors.VisaIOError(constants.StatusCode.error_connection_lost)
            sess.device._input_buffer = bytearray()
            sess.device._output_buffers.clear()
            return constants.StatusCode.success

    def flush(self, session: VISASession, mask: constants.BufferOperation) -> constants.StatusCode:
        """Serial buffers (viFlush): discarding them is what matters for a simulated port."""
        return self.clear(session)

    def read(self, session: VISASession, count: int) -> tuple[bytes, constants.StatusCode]:
        lab = self.lab
        with lab.lock:
            sess = self.sessions.get(session)
            if sess is None:
                return b"", constants.StatusCode.error_invalid_object
            fault = lab.faults.get(sess.device.resource_name)
            if fault is Fault.DEAD:
                raise errors.VisaIOError(constants.StatusCode.error_connection_lost)
            if fault is Fault.TIMEOUT or not sess.device._output_buffers:
                # Nothing will ever arrive: a simulated instrument answers at once or never. Fail now rather than
                # busy-wait for the session timeout as pyvisa-sim does.
                raise errors.VisaIOError(constants.StatusCode.error_timeout)
            if fault is Fault.GARBAGE:
                sess.device._output_buffers.clear()
                return GARBAGE_REPLY + sess.device._response_eom, constants.StatusCode.success
            return _read_message(sess, count)


def _write_through_model(device: Any, model: Any, data: bytes) -> tuple[int, constants.StatusCode] | None:
    """Offer each complete message to the model first; fall back to pyvisa-sim for the ones it leaves."""
    eom: bytes = device._query_eom
    buffer = bytes(device._input_buffer) + data
    if eom and not buffer.endswith(eom):
        device._input_buffer.extend(data)
        return len(data), constants.StatusCode.success
    device._input_buffer = bytearray()
    body = buffer[: -len(eom)] if eom else buffer
    for message in body.split(device.delimiter) if device.delimiter else [body]:
        reply = model.handle(message.strip())
        if reply is None:
            device.write(message + eom)
        elif reply is not NoResponse:
            device._output_buffers.append(bytearray(reply) + device._response_eom)
    return len(data), constants.StatusCode.success


def _read_message(sess: Any, count: int) -> tuple[bytes, constants.StatusCode]:
    """Read from a pyvisa-sim device by VISA's rules (VPP-4.3 6.1), without pyvisa-sim's per-byte polling.

    A read ends at the end of one reply (END), at the termination character when it is enabled, or at ``count``.
    """
    device = sess.device
    buffer = device._output_buffers[0]
    end = min(len(buffer), count)
    status = constants.StatusCode.success if end == len(buffer) else constants.StatusCode.success_max_count_read
    termchar_enabled, _ = sess.get_attribute(constants.ResourceAttribute.termchar_enabled)
    if termchar_enabled:
        termchar, _ = sess.get_attribute(constants.ResourceAttribute.termchar)
        at = buffer.find(bytes([termchar]), 0, end)
        if at >= 0 and at + 1 < len(buffer):
            end = at + 1
            status = constants.StatusCode.success_termination_character_read
    chunk = bytes(buffer[:end])
    del buffer[:end]
    if not buffer:
        device._output_buffers.popleft()
    return chunk, status
