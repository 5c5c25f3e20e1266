import pytest

from qlab_os.clock import Clock, VirtualClock, WallClock


def test_virtual_clock_moves_only_when_told():
    c = VirtualClock()
    assert c.now_ns() == 0
    c.advance_ns(250)
    c.advance_to_ns(1000)
    assert c.now_ns() == 1000
    with pytest.raises(ValueError, match="backwards"):
        c.advance_ns(-1)
    with pytest.raises(ValueError, match="backwards"):
        c.advance_to_ns(10)


def test_both_clocks_satisfy_the_protocol():
    assert isinstance(VirtualClock(), Clock) and isinstance(WallClock(), Clock)
    w = WallClock()
    a = w.now_ns()
    w.advance_ns(10**12)  # ignored: real time passes by itself
    assert w.now_ns() - a < 10**12
