"""EPR socket bookkeeping: a socket closes when its last holder stops, and reopens when an app opens it again."""

from qlab_os.net.epr_sockets import EprSocketTable

SOCKET = (1, 0, 0, 0, "#1")  # node 1, socket 0, to node 0's socket 0, in app instance 1
OTHER_INSTANCE = (1, 0, 0, 0, "#2")


def test_closed_only_when_the_last_holder_stops_and_reopened_by_a_new_app() -> None:
    table = EprSocketTable()
    assert not table.is_closed(SOCKET)  # never opened: the peer's app may not have started
    table.opened(SOCKET)
    table.opened(SOCKET)  # two processes of one app instance on node 1
    table.opened(OTHER_INSTANCE)
    assert table.released([SOCKET]) == [] and not table.is_closed(SOCKET)
    assert table.released([SOCKET]) == [SOCKET] and table.is_closed(SOCKET)
    assert not table.is_closed(OTHER_INSTANCE)  # the same socket ids of another instance stay open
    table.opened(SOCKET)
    assert not table.is_closed(SOCKET)


def test_a_request_targets_the_peer_end_of_its_socket() -> None:
    # node 0's request on its socket 0 to node 1's socket 0 needs node 1's socket 0 to node 0
    assert EprSocketTable.target((0, 0, 1, 0, "#1")) == SOCKET
    assert "node 1 stopped and closed its EPR socket 0 to node 0" in EprSocketTable.closed_reason(SOCKET)
