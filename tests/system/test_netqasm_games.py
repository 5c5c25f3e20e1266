"""netqasm's nonlocal games on qlab-os: chsh and magic_square (apps and qne_apps), ideal and over Werner links.

Helpers and the tolerance rules are in test_netqasm_apps.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qlab_os.net.run import RunReport
from tests.system.test_netqasm_apps import (
    K_SIGMA,
    app_copy,
    assert_rate,
    assert_uniform_bits,
    link_fidelity,
    run,
    werner_weight,
)

# --- chsh --------------------------------------------------------------------------------------------------------
# Alice measures Z (x=0) or X (x=1); Bob measures after R_y(-pi/4) (y=0) or R_y(+pi/4) (y=1), i.e. along the axis
# at angle +pi/4 or -pi/4 from Z in the XZ plane. The repeater swaps its two pairs and Bob corrects, so on ideal
# links Alice and Bob share |Phi+>, whose correlator for axes at angles a, b in the XZ plane is cos(a - b):
# E(0,0) = E(0,1) = E(1,0) = 1/sqrt2, E(1,1) = cos(pi/2 + pi/4) = -1/sqrt2, and
# S = E00 + E01 + E10 - E11 = 2 sqrt2. Werner pairs of weights w1, w2 swap into a Werner pair of weight w1 w2, which
# scales every correlator: S = 2 sqrt2 w1 w2. The game is won when a XOR b = x AND y, with probability (1 + |E|)/2.
# Each setting runs `n` rounds; an estimated correlator has variance (1 - E^2)/n, so
# SE(S) = sqrt(sum_xy (1 - E_xy^2) / n).

SETTINGS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def _chsh_runs(tmp_path: Path, app: str, rounds: int, seed: int, network: str | None) -> dict[tuple[int, int],
                                                                                                 RunReport]:
    reports = {}
    for x, y in SETTINGS:
        folder = app_copy(tmp_path / f"{x}{y}", app, {"alice": {"x": x}, "bob": {"y": y}})
        reports[(x, y)] = run(folder, rounds=rounds, seed=seed + 10 * x + y, network=network)
    return reports


def _check_chsh(reports: dict[tuple[int, int], RunReport], weight: float) -> float:
    """Check each correlator and S against theory for a shared Werner pair of the given weight; return S."""
    s_value = 0.0
    variance = 0.0
    for (x, y), report in reports.items():
        n = len(report.rounds)
        sign = -1 if x == y == 1 else 1
        expected_e = sign * weight / math.sqrt(2)
        equal = sum(r["alice"]["a"] == r["bob"]["b"] for r in report.rounds)
        e = (2 * equal - n) / n
        tol = K_SIGMA * math.sqrt((1 - expected_e**2) / n)
        assert abs(e - expected_e) <= tol, f"E({x},{y}) = {e:.3f}, theory {expected_e:.3f} +- {tol:.3f}"
        assert_uniform_bits([r["alice"]["a"] for r in report.rounds], f"chsh a at x={x}, y={y}")
        assert_uniform_bits([r["repeater"]["m1"] for r in report.rounds], f"chsh swap outcome m1 at {x}{y}")
        s_value += sign * e
        variance += (1 - expected_e**2) / n
    expected_s = 2 * math.sqrt(2) * weight
    tol = K_SIGMA * math.sqrt(variance)
    assert abs(s_value - expected_s) <= tol, f"S = {s_value:.3f}, theory {expected_s:.3f} +- {tol:.3f}"
    return s_value


def test_chsh_ideal_reaches_tsirelson(tmp_path):
    """apps/chsh on ideal links: S = 2 sqrt2 (theory); far above the classical bound 2."""
    # 500 rounds per setting: the standard error of S is about 0.08
    s_value = _check_chsh(_chsh_runs(tmp_path, "apps/chsh", rounds=500, seed=1000, network=None), weight=1.0)
    assert s_value > 2.5  # clearly above the classical bound 2


def test_chsh_over_two_werner_links(tmp_path):
    """apps/chsh with both links at Werner fidelity F: S = 2 sqrt2 w^2, w = (4F - 1)/3 (0.8 -> S = 1.52)."""
    network = "chsh_f080.yaml"
    w1 = werner_weight(link_fidelity(network, "alice", "repeater"))
    w2 = werner_weight(link_fidelity(network, "repeater", "bob"))
    s_value = _check_chsh(_chsh_runs(tmp_path, "apps/chsh", rounds=500, seed=1100, network=network),
                          weight=w1 * w2)
    assert 2 * math.sqrt(2) * w1 * w2 < 2 and s_value < 2  # two F=0.8 Werner links cannot violate CHSH


def _check_qne_game_reports(reports: dict[tuple[int, int], RunReport]) -> None:
    """qne_apps/chsh: Bob's report (bases, corrections, who won) agrees with the outcomes and the inputs."""
    bases = {0: "Z-basis rotated around Y by pi / 4", 1: "Z-basis rotated around Y by -pi / 4"}
    corrections = {(0, 0): "No corrections", (0, 1): "X", (1, 0): "Z", (1, 1): "X and Z"}
    for (x, y), report in reports.items():
        for r in report.rounds:
            alice, bob, repeater = r["alice"], r["bob"], r["repeater"]
            assert alice["basis"] == ("Z-basis" if x == 0 else "X-basis")
            assert bob["basis"] == bases[y]
            assert bob["corrections"] == corrections[(repeater["m1"], repeater["m2"])]
            won = (alice["a"] ^ bob["b"]) == (x & y)
            assert bob["game_won"].startswith("Alice and Bob won" if won else "Alice and Bob lost")


def test_qne_chsh_ideal_and_win_rate(tmp_path):
    """qne_apps/chsh on ideal links: S = 2 sqrt2, and the win rate over all settings is cos^2(pi/8) = 0.854."""
    reports = _chsh_runs(tmp_path, "qne_apps/chsh", rounds=150, seed=1200, network=None)
    _check_qne_game_reports(reports)
    _check_chsh(reports, weight=1.0)
    wins = sum(r["bob"]["game_won"].startswith("Alice and Bob won") for rep in reports.values() for r in rep.rounds)
    assert_rate(wins, sum(len(rep.rounds) for rep in reports.values()), math.cos(math.pi / 8) ** 2, "CHSH win rate")


def test_qne_chsh_with_one_noisy_link(tmp_path):
    """qne_apps/chsh with only alice-repeater noisy (Werner F = 0.75): S = 2 sqrt2 w = 1.89, w = (4F - 1)/3."""
    network = "chsh_alice_f075.yaml"
    assert link_fidelity(network, "repeater", "bob") == 1.0
    reports = _chsh_runs(tmp_path, "qne_apps/chsh", rounds=150, seed=1300, network=network)
    _check_qne_game_reports(reports)
    _check_chsh(reports, weight=werner_weight(link_fidelity(network, "alice", "repeater")))


# --- magic_square --------------------------------------------------------------------------------------------------
# Player 1 gets a row r, player 2 a column c of the Mermin-Peres square; each measures three commuting two-qubit
# Paulis on its halves of two |Phi+> pairs. The row operators multiply to +1 and the column operators to -1 as
# operator identities, so (bit 1 = eigenvalue -1) a row always has even parity and a column odd parity, whatever
# the state. The shared cell's two outcomes agree with certainty on |Phi+>^2 (the quantum strategy always wins).
# For Werner pairs of weight w the white-noise part averages every non-identity Pauli to 0, so the correlator of
# the shared cell's operator P (x) P is w^k, k = its number of non-identity factors: P(win) = (1 + w^k)/2.

ROW_OPS = [["XI", "XX", "IX"], ["-XZ", "YY", "-ZX"], ["IZ", "ZZ", "ZI"]]
"""Player 1's strategy (app_player1._get_default_strategy); player 2's column c is the transpose."""


def _pauli_weight(op: str) -> int:
    return sum(ch != "I" for ch in op.lstrip("-"))


def _magic_wins(report: RunReport, row: int, col: int) -> list[bool]:
    """Per round: parities must hold exactly (any state); returns whether the shared cell agreed."""
    wins = []
    for r in report.rounds:
        row_bits, col_bits = r["player1"]["row"], r["player2"]["col"]
        assert sum(row_bits) % 2 == 0, f"row {row} parity: {row_bits}"
        assert sum(col_bits) % 2 == 1, f"column {col} parity: {col_bits}"
        wins.append(row_bits[col] == col_bits[row])
    return wins


def _magic_runs(tmp_path: Path, app: str, cells: list[tuple[int, int]], rounds: int, seed: int,
                network: str | None) -> dict[tuple[int, int], RunReport]:
    reports = {}
    for row, col in cells:
        folder = app_copy(tmp_path / f"{row}{col}", app, {"player1": {"row": row}, "player2": {"col": col}})
        reports[(row, col)] = run(folder, rounds=rounds, seed=seed + 3 * row + col, network=network)
    return reports


ALL_CELLS = [(r, c) for r in range(3) for c in range(3)]


@pytest.mark.parametrize("app", ["apps/magic_square", "qne_apps/magic_square"])
def test_magic_square_ideal_always_wins(tmp_path, app):
    """Both magic_square apps on an ideal link: every round of every (row, column) is won; the cell bits that
    are not fixed by parity are uniform."""
    reports = _magic_runs(tmp_path, app, ALL_CELLS, rounds=3, seed=1400, network=None)
    for (row, col), report in reports.items():
        assert all(_magic_wins(report, row, col)), (row, col)
        if app.startswith("qne_apps"):
            for r in report.rounds:
                cell = r["player2"]["square"][row][col]
                assert cell == f"{r['player1']['row'][col]}/{r['player2']['col'][row]}"
    first_bits = [r["player1"]["row"][0] for rep in reports.values() for r in rep.rounds]
    assert_uniform_bits(first_bits, "magic square first row bit")


@pytest.mark.parametrize(("app", "cells"), [("apps/magic_square", [(0, 0), (1, 1)]),
                                            ("qne_apps/magic_square", [(1, 2)])])
def test_magic_square_over_werner_links(tmp_path, app, cells):
    """Over Werner pairs of fidelity F = 0.6 (w = 7/15) the parities still always hold and the win rate of cell
    (r, c) is (1 + w^k)/2: 0.733 for XI (k = 1), 0.609 for YY and -ZX (k = 2)."""
    network = "players_f060.yaml"
    w = werner_weight(link_fidelity(network, "player1", "player2"))
    reports = _magic_runs(tmp_path, app, cells, rounds=80, seed=1500, network=network)
    for (row, col), report in reports.items():
        wins = _magic_wins(report, row, col)
        k = _pauli_weight(ROW_OPS[row][col])
        assert_rate(sum(wins), len(wins), (1 + w**k) / 2, f"{app} win rate at cell ({row}, {col}), k={k}")
