"""Rounds per second of netqasm 2.3's unmodified teleport example on qlab-os and on SimulaQron 4.1.2, in one run.

The app is the folder shipped in the netqasm wheel (``netqasm/examples/apps/teleport``: ``app_sender.py`` and
``app_receiver.py``, nothing else), used as it is.

* **qlab-os**: ``run_app(load_app(dir), rounds=N, seed=1)`` in this process (all nodes in-process, virtual
  time, a fresh network each round). Every round is checked: no role failed and the teleported state arrived
  with fidelity 1.
* **SimulaQron 4.1.2** in its own venv (see ``_simulaqron_env.py``; built on first use, which adds about 20 s),
  run the way its users run netqasm apps: ``netqasm simulate --simulator=simulaqron --formalism=stab --num N``
  in a copy of the app folder, in a fresh process each time, with ``HOME`` pointed at a temporary folder
  (SimulaQron writes ``~/.simulaqron``), a ``simulaqron_network.json`` in the app folder that lists every role
  on 127.0.0.1 with free ports (with ``localhost`` every connect waits 30 s), and a ``simulaqron_settings.json``
  there with ``sim_backend: stabilizer`` (its default settings otherwise; ``--formalism stab`` only passes its
  backend check: the settings file chooses the engine). netqasm's ``network.yaml`` is removed from the copy if
  present (``netqasm simulate`` passes a parsed network.yaml where SimulaQron wants a file name). Each run is
  checked: exit status 0 and one "receiver got corrections" line per round. Every run starts in its own
  process group, which is killed at the end whatever happens.

Per-round cost is the MARGINAL cost of a round: (wall time of a long run - wall time of a short run) / (the
difference in rounds), computed per repeat (a short and a long run back to back); the table shows the median
over repeats and the fastest..slowest repeat. Start-up is reported on its own: the intercept (short-run time
minus its rounds at the marginal cost), and for qlab-os also the short (1-round) runs themselves and the first
run in the process (it imports the app's modules). The garbage collector stays on: it is part of what a round costs.

If SimulaQron cannot be set up or run, the script says why ("SimulaQron unavailable: ...") and prints
``RESULT teleport_speedup nan``. Otherwise the last line is ``RESULT teleport_speedup <x>``: SimulaQron's
marginal ms per round over qlab-os's.

Run: ``.venv/bin/python benchmarks/teleport_speed.py`` (about 1 minute; the first time also builds the venv).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import netqasm
from _common import print_table
from _simulaqron_env import SimulaQronUnavailable, ensure_venv

from qlab_os.net.app_folder import load_app
from qlab_os.net.run import run_app

APP_DIR = Path(netqasm.__file__).resolve().parent / "examples" / "apps" / "teleport"
SEED = 1
GOAL_SPEEDUP = 500.0

QLAB_SHORT, QLAB_LONG, QLAB_REPEATS = 1, 201, 7
SQ_SHORT, SQ_LONG, SQ_REPEATS = 1, 4, 3
SQ_BUDGET_S = 240.0
"""SimulaQron's whole measurement stops starting new runs after this (each run also has its own time limit)."""
SQ_RUN_TIMEOUT_S = 30.0 + 10.0 * SQ_LONG


@dataclass
class Measured:
    system: str
    marginal_s: list[float]
    """Per repeat: (long - short) / (long rounds - short rounds)."""
    intercept_s: list[float]
    note: str = ""

    @property
    def per_round_s(self) -> float:
        return statistics.median(self.marginal_s)

    @property
    def startup_s(self) -> float:
        return statistics.median(self.intercept_s)


def marginal(short: list[float], long: list[float], n_short: int, n_long: int) -> tuple[list[float], list[float]]:
    per_round = [(b - a) / (n_long - n_short) for a, b in zip(short, long, strict=True)]
    intercept = [a - n_short * m for a, m in zip(short, per_round, strict=True)]
    return per_round, intercept


# --- qlab-os -------------------------------------------------------------------------------------------------
def qlab_run(rounds: int) -> float:
    start = time.perf_counter()
    report = run_app(load_app(APP_DIR), rounds=rounds, seed=SEED)
    elapsed = time.perf_counter() - start
    if report.errors:
        raise SystemExit(f"qlab-os: teleport failed: {report.errors[:3]}")
    bad = [r for r in report.rounds if not math.isclose(r["receiver"]["fidelity"], 1.0, abs_tol=1e-9)]
    if len(report.rounds) != rounds or bad:
        raise SystemExit(f"qlab-os: {len(report.rounds)} rounds, {len(bad)} with fidelity != 1: {bad[:1]}")
    return elapsed


def measure_qlab() -> tuple[Measured, float, list[float]]:
    """Also returns the first run in the process (it imports the app's modules) and the short runs."""
    first = qlab_run(1)
    short, long = [], []
    for _ in range(QLAB_REPEATS):
        short.append(qlab_run(QLAB_SHORT))
        long.append(qlab_run(QLAB_LONG))
    per_round, intercept = marginal(short, long, QLAB_SHORT, QLAB_LONG)
    return Measured("qlab-os", per_round, intercept), first, short


# --- SimulaQron ------------------------------------------------------------------------------------------------
def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (held open together while picking, so all differ)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class SimulaQronBench:
    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.netqasm_cli = python.parent / "netqasm"
        self.home = workdir / "home"
        self.app = workdir / "teleport"
        self.home.mkdir()
        shutil.copytree(APP_DIR, self.app, ignore=shutil.ignore_patterns("__pycache__"))
        (self.app / "network.yaml").unlink(missing_ok=True)
        self.roles = sorted(p.stem.removeprefix("app_") for p in self.app.glob("app_*.py"))
        self.env = {**os.environ, "HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1"}
        self.env.pop("NETQASM_SIMULATOR", None)
        self.groups: list[int] = []
        self._write_settings()

    def _write_settings(self) -> None:
        ports = iter(free_ports(3 * len(self.roles)))
        nodes = [{role: {"app_socket": ["127.0.0.1", next(ports)], "qnodeos_socket": ["127.0.0.1", next(ports)],
                         "vnode_socket": ["127.0.0.1", next(ports)]}} for role in self.roles]
        (self.app / "simulaqron_network.json").write_text(
            json.dumps([{"name": "default", "nodes": nodes, "topology": None}], indent=2))
        # SimulaQron's own defaults, written by SimulaQron, with the stabilizer engine
        code = ("from simulaqron.settings.simulaqron_config import SimulaqronConfig, SimBackend\n"
                "c = SimulaqronConfig()\nc.sim_backend = SimBackend.STABILIZER\n"
                "c.write_to_file('simulaqron_settings.json')\n")
        done = subprocess.run([str(self.python), "-c", code], cwd=self.app, env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)
        settings = self.app / "simulaqron_settings.json"
        if done.returncode != 0 or json.loads(settings.read_text()).get("sim_backend") != "stabilizer":
            raise SimulaQronUnavailable(f"cannot write simulaqron_settings.json: {done.stderr.strip()[-300:]}")

    def run(self, rounds: int) -> float:
        """Wall time of one ``netqasm simulate`` run of ``rounds`` rounds, in its own process group."""
        args = [str(self.netqasm_cli), "simulate", "--simulator=simulaqron", "--formalism=stab", "--num", str(rounds)]
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=self.app, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        self.groups.append(proc.pid)
        try:
            out, _ = proc.communicate(timeout=SQ_RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill(proc.pid)
            proc.communicate()
            raise SimulaQronUnavailable(f"a {rounds}-round run did not end within {SQ_RUN_TIMEOUT_S:.0f} s") from None
        elapsed = time.perf_counter() - start
        delivered = out.count("`receiver` got corrections")
        if proc.returncode != 0 or delivered != rounds:
            tail = " | ".join(out.strip().splitlines()[-3:])
            raise SimulaQronUnavailable(f"`netqasm simulate` exited {proc.returncode} after {delivered} of {rounds} "
                                        f"rounds: {tail}")
        return elapsed

    @staticmethod
    def kill(pgid: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return

    def cleanup(self) -> None:
        """Kill every process group this benchmark started (SimulaQron's nodes live in the CLI's group)."""
        for pgid in self.groups:
            self.kill(pgid)


def measure_simulaqron() -> Measured:
    python = ensure_venv()
    deadline = time.perf_counter() + SQ_BUDGET_S
    with tempfile.TemporaryDirectory(prefix="qlab-os-simulaqron-") as tmp:
        bench = SimulaQronBench(python, Path(tmp))
        try:
            short: list[float] = []
            long: list[float] = []
            for _ in range(SQ_REPEATS):
                if short and time.perf_counter() + 2 * (short[-1] + long[-1]) > deadline:
                    break
                short.append(bench.run(SQ_SHORT))
                long.append(bench.run(SQ_LONG))
        finally:
            bench.cleanup()
    per_round, intercept = marginal(short, long, SQ_SHORT, SQ_LONG)
    average = statistics.median(b / SQ_LONG for b in long)
    return Measured("SimulaQron 4.1.2 (stabilizer)", per_round, intercept,
                    note=f"{len(short)} repeats; per-round average of the {SQ_LONG}-round runs "
                         f"(start-up included) {average * 1e3:.0f} ms")


def main() -> None:
    print(f"app: {APP_DIR} (unmodified)")
    qlab, first, short = measure_qlab()
    results = [qlab]
    sq_error = None
    try:
        results.append(measure_simulaqron())
    except SimulaQronUnavailable as exc:
        sq_error = str(exc)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:  # setting it up went wrong in another way
        sq_error = f"{type(exc).__name__}: {exc}"

    print(f"\nteleport, marginal wall time per round = (long run - short run) / rounds between them; median over "
          f"repeats (fastest..slowest repeat); qlab-os {QLAB_SHORT} vs {QLAB_LONG} rounds x {QLAB_REPEATS}, "
          f"SimulaQron {SQ_SHORT} vs {SQ_LONG} rounds")
    rows = []
    for m in results:
        lo, hi = min(m.marginal_s), max(m.marginal_s)
        rows.append([m.system, f"{m.per_round_s * 1e3:.3f}", f"{lo * 1e3:.3f}..{hi * 1e3:.3f}",
                     f"{1 / m.per_round_s:.1f}", f"{m.startup_s * 1e3:.1f}", len(m.marginal_s)])
    print_table(["system", "ms/round", "spread ms", "rounds/s", "start-up ms (intercept)", "repeats"], rows)
    print(f"qlab-os start-up: intercept {qlab.startup_s * 1e3:.1f} ms; a warm {QLAB_SHORT}-round run "
          f"{statistics.median(short) * 1e3:.1f} ms ({min(short) * 1e3:.1f}..{max(short) * 1e3:.1f}); "
          f"the first run in the process (imports the app's modules) {first * 1e3:.1f} ms")
    for m in results:
        if m.note:
            print(f"{m.system}: {m.note}")

    if sq_error is not None:
        print(f"SimulaQron unavailable: {sq_error}")
        print("RESULT teleport_speedup nan")
        return
    speedup = results[1].per_round_s / qlab.per_round_s
    verdict = "meets" if speedup >= GOAL_SPEEDUP else "misses"
    print(f"\nspeed-up per round: {speedup:.0f}x ({verdict} the goal of >= {GOAL_SPEEDUP:.0f}x, i.e. qlab-os under "
          f"{results[1].per_round_s / GOAL_SPEEDUP * 1e3:.1f} ms a round)")
    print(f"RESULT teleport_speedup {speedup:.1f}")


if __name__ == "__main__":
    main()
