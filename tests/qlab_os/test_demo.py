"""``qlab-os demo`` (what ``make demo`` runs) prints every device, and its deterministic ideal rows hold."""

from qlab_os.demo import STATISTICS, run_demo


def test_demo_table():
    out = run_demo(shots=60, seed=5)
    ideal, rest = out.split("noise ON")
    noisy, network = rest.split("two nodes:")
    for device in ("sim-generic", "sim-nv", "sim-ion"):
        assert device in ideal and device in noisy
    for st in STATISTICS:
        if st.theory == 1.0:  # deterministic in theory: every ideal device must show exactly 1.000
            row = next(line for line in ideal.splitlines() if line.strip().startswith(st.name))
            assert row.count("1.000 +-0.000") == 3, row  # all three devices
    assert "link fidelity 1.00: teleport fidelity 1.000" in network
    assert network.count("0 errors") == 5
