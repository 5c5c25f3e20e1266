"""netqasm's key-distribution and link-layer apps on qlab-os: bb84, qne qkd, link_layer_ck and link_layer_md,
on ideal and Werner links.

For a Werner pair w |Phi+><Phi+| + (1 - w) I/4 (fidelity F = (3w + 1)/4), two outcomes measured in the same
basis Z or X disagree with probability (1 - w)/2 = 2(1 - F)/3 (the QBER); for Y on both sides, whose correlator on
|Phi+> is <YY> = -1, they are EQUAL with that probability. Outcomes measured in different bases agree with
probability 1/2. Helpers and the tolerance rules are in test_netqasm_apps.py.
"""

from __future__ import annotations

import re
from typing import Any

from qlab_os.net.run import RunReport
from tests.system.test_netqasm_apps import (
    app_copy,
    assert_rate,
    assert_uniform_bits,
    link_fidelity,
    run,
)


def _qber_theory(fidelity: float) -> float:
    return 2 * (1 - fidelity) / 3


# --- bb84 and qkd --------------------------------------------------------------------------------------------------

def _bb84_inputs(num_bits: int) -> dict[str, dict[str, Any]]:
    return {"alice": {"num_bits": num_bits}, "bob": {"num_bits": num_bits}}


def _check_bb84(report: RunReport, num_bits: int, qber: float) -> None:
    """Both tables: Alice's and Bob's bases independent and uniform; same_basis as the bases say; matching-basis
    outcomes disagree at rate ``qber``, others agree at rate 1/2; both sides report the same counts; the apps'
    own QBER (on the test bits) follows ``qber`` too."""
    same_diff = same_n = other_equal = other_n = 0
    test_diff = test_n = 0
    bases: list[int] = []
    for r in report.rounds:
        alice, bob = r["alice"], r["bob"]
        for key in ("same_basis_count", "outcome_comparison_count", "diff_outcome_count", "qber"):
            assert alice[key] == bob[key], key
        assert len(alice["table"]) == len(bob["table"]) == num_bits
        rows = zip(alice["table"], bob["table"], strict=True)
        for (i, a_basis, a_same, a_out, a_check), (j, b_basis, b_same, b_out, b_check) in rows:
            assert i == j
            assert a_same == b_same == (a_basis == b_basis)
            assert a_check == b_check
            bases += [a_basis == "X", b_basis == "X"]
            if a_same:
                same_n += 1
                same_diff += a_out != b_out
                if a_check != "-":
                    assert a_check == (a_out == b_out)
            else:
                assert a_check == "-"
                other_n += 1
                other_equal += a_out == b_out
        assert alice["same_basis_count"] == sum(row[2] for row in alice["table"])
        assert alice["outcome_comparison_count"] == min(num_bits // 4, alice["same_basis_count"])
        test_n += alice["outcome_comparison_count"]
        test_diff += alice["diff_outcome_count"]
    assert_uniform_bits(bases, "bb84 basis choices (X = 1)")
    assert_rate(same_diff, same_n, qber, "QBER over all matching-basis pairs")
    assert_rate(test_diff, test_n, qber, "QBER the apps report (test bits)")
    assert_rate(other_equal, other_n, 0.5, "agreement in different bases")


def test_bb84_ideal_has_no_errors(tmp_path):
    """apps/bb84 on an ideal link: QBER exactly 0, key-rate potential 1, and the two raw keys (which include
    the pairs measured in different bases) agree wherever the bases matched."""
    num_bits = 100
    report = run(app_copy(tmp_path, "apps/bb84", _bb84_inputs(num_bits)), rounds=1, seed=2000)
    _check_bb84(report, num_bits, qber=0.0)
    alice, bob = report.rounds[0]["alice"], report.rounds[0]["bob"]
    assert alice["qber"] == 0 and alice["key_rate_potential"] == 1
    kept = [row[2] for row in alice["table"] if row[4] == "-"]
    assert len(alice["raw_key"]) == len(bob["raw_key"]) == len(kept)
    assert all(a == b for a, b, same in zip(alice["raw_key"], bob["raw_key"], kept, strict=True) if same)


def test_bb84_over_a_werner_link_has_qber_2_1_minus_f_over_3(tmp_path):
    """apps/bb84 over Werner pairs of fidelity F = 0.7: QBER 2(1 - F)/3 = 0.2 in both bases."""
    network, num_bits = "alice_bob_f070.yaml", 300
    report = run(app_copy(tmp_path, "apps/bb84", _bb84_inputs(num_bits)), rounds=2, seed=2100, network=network)
    _check_bb84(report, num_bits, qber=_qber_theory(link_fidelity(network, "alice", "bob")))


def test_qkd_ideal_gives_equal_keys(tmp_path):
    """qne_apps/qkd on an ideal link: QBER exactly 0 and Alice's and Bob's raw keys (matching bases, minus the
    test bits) are identical."""
    num_bits = 100
    report = run(app_copy(tmp_path, "qne_apps/qkd", _bb84_inputs(num_bits)), rounds=1, seed=2200)
    _check_bb84(report, num_bits, qber=0.0)
    alice, bob = report.rounds[0]["alice"], report.rounds[0]["bob"]
    assert alice["raw_key"] == bob["raw_key"]
    key = [row[3] for row in alice["table"] if row[2] and row[4] == "-"]
    assert alice["raw_key"] == str(key) and len(key) == alice["same_basis_count"] - num_bits // 4


def test_qkd_over_a_werner_link_has_qber_2_1_minus_f_over_3(tmp_path):
    """qne_apps/qkd over Werner pairs of fidelity F = 0.7: QBER 2(1 - F)/3 = 0.2."""
    network, num_bits = "alice_bob_f070.yaml", 300
    report = run(app_copy(tmp_path, "qne_apps/qkd", _bb84_inputs(num_bits)), rounds=2, seed=2300, network=network)
    _check_bb84(report, num_bits, qber=_qber_theory(link_fidelity(network, "alice", "bob")))


# --- link_layer_ck and link_layer_md (they print their outcomes and return None) -----------------------------------

NUM_PAIRS = 10
"""Both link-layer apps ask for 10 pairs."""


def _ck_outcomes(report: RunReport) -> list[tuple[str, str]]:
    lines = re.findall(rf"^([01]{{{NUM_PAIRS}}})$", report.output, flags=re.MULTILINE)
    assert len(lines) == 2 * len(report.rounds)
    return [(lines[2 * i], lines[2 * i + 1]) for i in range(len(report.rounds))]


def test_link_layer_ck_ideal_outcomes_are_equal(tmp_path):
    """apps/link_layer_ck: 10 kept pairs, each measured in Z by a sequential post-routine on both sides; on an
    ideal link both printed bit strings are identical, and the bits are uniform."""
    rounds = 20
    report = run(app_copy(tmp_path, "apps/link_layer_ck"), rounds=rounds, seed=2400)
    assert report.rounds == [{"client": None, "server": None}] * rounds
    assert report.pairs == NUM_PAIRS * rounds
    outcomes = _ck_outcomes(report)
    assert all(a == b for a, b in outcomes)
    assert_uniform_bits([int(bit) for a, _ in outcomes for bit in a], "link_layer_ck bits")


def test_link_layer_ck_over_a_werner_link(tmp_path):
    """apps/link_layer_ck over Werner pairs of fidelity F = 0.8 (heralded with p = 0.25 per attempt): the two
    sides' Z outcomes differ at rate 2(1 - F)/3 = 0.133."""
    network, rounds = "client_server_f080.yaml", 30
    report = run(app_copy(tmp_path, "apps/link_layer_ck"), rounds=rounds, seed=2500, network=network)
    assert report.pairs == NUM_PAIRS * rounds
    outcomes = _ck_outcomes(report)
    diff = sum(x != y for a, b in outcomes for x, y in zip(a, b, strict=True))
    assert_rate(diff, NUM_PAIRS * rounds, _qber_theory(link_fidelity(network, "client", "server")),
                "link_layer_ck disagreement")


def _md_outcomes(report: RunReport) -> list[tuple[int, int]]:
    client = [int(b) for b in re.findall(r"^Client: ([01])$", report.output, flags=re.MULTILINE)]
    server = [int(b) for b in re.findall(r"^Server: ([01])$", report.output, flags=re.MULTILINE)]
    assert len(client) == len(server) == NUM_PAIRS * len(report.rounds)
    return list(zip(client, server, strict=True))


def test_link_layer_md_ideal_y_outcomes_are_anticorrelated(tmp_path):
    """apps/link_layer_md: 10 measure-directly pairs, both sides in the Y basis. <Phi+|Y(x)Y|Phi+> = -1, so on an
    ideal link the two outcomes always differ; each side's bits are uniform."""
    rounds = 20
    report = run(app_copy(tmp_path, "apps/link_layer_md"), rounds=rounds, seed=2600)
    assert report.rounds == [{"client": None, "server": None}] * rounds
    assert report.pairs == NUM_PAIRS * rounds
    outcomes = _md_outcomes(report)
    assert all(c != s for c, s in outcomes)
    assert_uniform_bits([c for c, _ in outcomes], "link_layer_md client bits")


def test_link_layer_md_over_a_werner_link(tmp_path):
    """apps/link_layer_md over Werner pairs of fidelity F = 0.8: the Y outcomes are equal at rate
    (1 - w)/2 = 2(1 - F)/3 = 0.133."""
    network, rounds = "client_server_f080.yaml", 30
    report = run(app_copy(tmp_path, "apps/link_layer_md"), rounds=rounds, seed=2700, network=network)
    equal = sum(c == s for c, s in _md_outcomes(report))
    assert_rate(equal, NUM_PAIRS * rounds, _qber_theory(link_fidelity(network, "client", "server")),
                "link_layer_md equal Y outcomes")
