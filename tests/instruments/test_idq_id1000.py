"""The ID Quantique ID1000 Time Controller driver against its PyVISA-sim mock, and its ZeroMQ transport on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from qcodes.instrument import Instrument

from instruments.idq import COINCIDENCE_BLOCKS, ID1000, ID1000Error, ID1000IdentityError
from instruments.idq.transport import TransportError, ZmqTransport, sim_visalib

SIM = "sim_instruments.visa:idq_id1000.yaml"
ADDRESS = "TCPIP0::169.254.99.100::5555::SOCKET"
ID900_ADDRESS = "TCPIP0::169.254.99.101::5555::SOCKET"
FAULTY_ADDRESS = "TCPIP0::169.254.99.102::5555::SOCKET"


@pytest.fixture(autouse=True)
def _close_all_instruments() -> Iterator[None]:
    yield
    Instrument.close_all()


@pytest.fixture
def tagger() -> ID1000:
    return ID1000("herald", ADDRESS, pyvisa_sim_file=SIM)


def test_identity(tagger: ID1000) -> None:
    assert tagger.get_idn() == {"vendor": "ID Quantique", "model": "ID1000", "serial": "1000-0042", "firmware": "1.7.2"}


def test_submodules_cover_every_input_and_coincidence_condition(tagger: ID1000) -> None:
    assert sorted(tagger.inputs) == [1, 2, 3, 4]
    assert tagger.start.block == "STAR"
    assert set(tagger.coincidences) == set(COINCIDENCE_BLOCKS)
    assert tagger.coincidence(2, 1) is tagger.coincidence_1_2  # type: ignore[attr-defined]
    assert tagger.coincidence(1, 2).block == "TSCO6"
    with pytest.raises(KeyError, match=r"herald: no coincidence condition for inputs \(1, 5\)"):
        tagger.coincidence(1, 5)


@pytest.mark.parametrize("channel", ["start", "input1", "input2", "input3", "input4"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("enabled", True),
        ("enabled", False),
        ("threshold", -0.25),
        ("threshold", 1.5),
        ("edge", "FALLING"),
        ("edge", "RISING"),
        ("integration_time", 0.25),
        ("integration_time", 2.0),
    ],
)
def test_input_parameters_round_trip(tagger: ID1000, channel: str, name: str, value: Any) -> None:
    parameter = tagger.submodules[channel].parameters[name]
    parameter.set(value)
    parameter.cache.invalidate()
    got = parameter.get()
    assert got == pytest.approx(value) if isinstance(value, float) else got == value


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_input_delay_round_trips_in_whole_picoseconds(tagger: ID1000, number: int) -> None:
    delay = tagger.inputs[number].delay
    assert delay.unit == "s"
    delay.set(12.345e-9)
    delay.cache.invalidate()
    assert delay.get() == pytest.approx(12.345e-9, abs=0.5e-12)


def test_start_input_has_no_delay_block(tagger: ID1000) -> None:
    assert "delay" not in tagger.start.parameters


@pytest.mark.parametrize(
    ("owner", "name", "bad", "error"),
    [
        ("input1", "threshold", 2.5, ValueError),
        ("input2", "threshold", -3.0, ValueError),
        ("input3", "edge", "BOTH", ValueError),
        ("input4", "delay", 1.5, ValueError),
        ("input4", "delay", -1e-9, ValueError),
        ("start", "integration_time", 0.0, ValueError),
        ("start", "enabled", "ON", TypeError),
        ("coincidence_1_2", "window_end", 2.0, ValueError),
    ],
)
def test_validators_refuse_before_sending(tagger: ID1000, owner: str, name: str, bad: Any, error: type) -> None:
    parameter = tagger.submodules[owner].parameters[name]
    before = parameter.get()
    with pytest.raises(error):
        parameter.set(bad)
    parameter.cache.invalidate()
    assert parameter.get() == before


def test_configure_heralding_sets_inputs_windows_and_counters(tagger: ID1000) -> None:
    window_s = 2e-9
    tagger.configure_heralding(
        trigger_input=1, detector_inputs=(2, 3), threshold_v=0.4, window_s=window_s, integration_time_s=0.5
    )
    for number in (1, 2, 3):
        assert tagger.inputs[number].enabled() is True
        assert tagger.inputs[number].threshold() == pytest.approx(0.4)
        assert tagger.inputs[number].integration_time() == pytest.approx(0.5)
    assert tagger.input4.enabled() is False  # type: ignore[attr-defined]
    for combination, (_, begin, end) in COINCIDENCE_BLOCKS.items():
        coincidence = tagger.coincidences[combination]
        coincidence.window_begin.cache.invalidate()
        coincidence.window_end.cache.invalidate()
        assert coincidence.window_begin() == pytest.approx(begin * window_s, abs=0.5e-12)
        assert coincidence.window_end() == pytest.approx(end * window_s, abs=0.5e-12)
    # Second delays of INPUT 2-4 (DELA6-8): their input delay plus 1, 2, 3 windows.
    for number, block, windows in ((2, 6, 1), (3, 7, 2), (4, 8, 3)):
        input_delay_ps = round(tagger.inputs[number].delay() * 1e12)
        assert tagger.query(f"DELA{block}:VALU?") == f"{input_delay_ps + round(windows * window_s * 1e12)}TB"


def test_configure_heralding_refuses_overlapping_inputs(tagger: ID1000) -> None:
    with pytest.raises(ValueError, match=r"herald: trigger and detector inputs must be distinct inputs 1-4"):
        tagger.configure_heralding(1, (1, 2), threshold_v=0.4, window_s=1e-9, integration_time_s=1.0)
    with pytest.raises(ValueError, match="window_s"):
        tagger.set_coincidence_window(0.0)
    with pytest.raises(ValueError, match="integration_time_s"):
        tagger.configure_counters(1e-4)


def test_counts_per_input_and_coincidence(tagger: ID1000) -> None:
    counts = tagger.read_counts()
    assert counts["input2"] == 52311
    assert counts["coincidence_1_2"] == 2012  # trigger AND detector A: heralds in A
    assert counts["coincidence_1_3"] == 1967
    assert counts["coincidence_2_3"] == 3
    assert set(counts) == {"start", "input1", "input2", "input3", "input4"} | {
        "coincidence_" + "_".join(map(str, combination)) for combination in COINCIDENCE_BLOCKS
    }
    assert tagger.coincidence(1, 3).counts.unit == "counts"


def test_accumulation_mode_reset_and_recording(tagger: ID1000) -> None:
    tagger.configure_counters(None)
    tagger.reset_counters()
    tagger.start_recording()
    assert tagger.recording() is False  # the mock's record generator never plays
    tagger.safe_state()


def test_safe_state_stops_recording(tagger: ID1000, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    real_command = tagger.command

    def spy(command: str) -> None:
        sent.append(command)
        real_command(command)

    monkeypatch.setattr(tagger, "command", spy)
    tagger.safe_state()
    assert sent == ["REC:STOP"]


def test_wrong_model_names_the_instrument_and_frees_the_name() -> None:
    with pytest.raises(ID1000IdentityError, match=r"herald at TCPIP0::169\.254\.99\.101.*'ID Quantique,ID900"):
        ID1000("herald", ID900_ADDRESS, pyvisa_sim_file=SIM)
    assert not Instrument.exist("herald")


def test_garbled_reply_and_refused_command_name_the_instrument() -> None:
    tagger = ID1000("herald", FAULTY_ADDRESS, pyvisa_sim_file=SIM)
    with pytest.raises(ID1000Error, match=r"herald: 'INPU2:COUN\?' was answered 'overflow'"):
        tagger.input2.counts()  # type: ignore[attr-defined]
    with pytest.raises(ID1000Error, match=r"herald: 'DEVI:CONFI:LOAD COUNT' was refused: 'SCPI_ERR_LICENSE'"):
        tagger.load_counting_configuration()
    with pytest.raises(ID1000Error, match=r"herald: 'INPU1:COUN\?' was refused: 'SCPI_ERR_UNKNOWN_COMMAND'"):
        tagger.input1.counts()  # type: ignore[attr-defined]


def test_malformed_sim_file_is_refused() -> None:
    with pytest.raises(ValueError, match="pyvisa_sim_file must look like"):
        sim_visalib("idq_id1000.yaml")


def _serve_once_per_request(socket: zmq.Socket[bytes], replies: dict[str, str], requests: int) -> None:
    for _ in range(requests):
        command = socket.recv().decode()
        socket.send_string(replies.get(command, "SCPI_ERR_UNKNOWN_COMMAND"))


def test_zeromq_transport_talks_to_a_rep_socket() -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    server: zmq.Socket[bytes] = context.socket(zmq.REP)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    replies = {"*IDN?": "ID Quantique,ID1000,1000-0099,1.7.2", "INPU1:COUN?": "4242", "REC:STOP": ""}
    thread = threading.Thread(target=_serve_once_per_request, args=(server, replies, 4))
    thread.start()
    try:
        # connect_message reads get_idn (cached, no request): four requests in all.
        tagger = ID1000("herald_zmq", f"tcp://127.0.0.1:{port}", timeout_s=5.0)
        assert tagger.get_idn()["serial"] == "1000-0099"
        assert tagger.input1.counts() == 4242  # type: ignore[attr-defined]
        tagger.safe_state()
        with pytest.raises(ID1000Error, match=r"herald_zmq: 'INPU9:COUN\?' was refused"):
            tagger.query("INPU9:COUN?")
        tagger.close()
    finally:
        thread.join(timeout=5.0)
        server.close()
    assert not thread.is_alive()


def test_zeromq_timeout_is_an_error_and_the_socket_recovers() -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    server: zmq.Socket[bytes] = context.socket(zmq.REP)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    transport = ZmqTransport(f"tcp://127.0.0.1:{port}", timeout_s=0.05)
    try:
        with pytest.raises(TransportError, match=r"no reply from tcp://127\.0\.0\.1:\d+ within 50 ms to '\*IDN\?'"):
            transport.exchange("*IDN?")  # the server never answers
        assert server.recv() == b"*IDN?"
        server.send_string("late")  # the reply to the abandoned request goes to the replaced socket
        thread = threading.Thread(target=_serve_once_per_request, args=(server, {"REC:STAG?": "STOPPED"}, 1))
        thread.start()
        transport._timeout_ms = 5000
        transport._socket.setsockopt(zmq.RCVTIMEO, 5000)
        assert transport.exchange("REC:STAG?") == "STOPPED"
        thread.join(timeout=5.0)
    finally:
        transport.close()
        server.close()
