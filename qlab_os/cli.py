"""The ``qlab-os`` command line.

Errors a user can cause print one clear line on stderr and exit non-zero; never a raw traceback (set
``QLAB_OS_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from qlab_os import __version__
from qlab_os.errors import QlabOSError, SubroutineError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qlab-os", description="Operating system for quantum network nodes.")
    p.add_argument("--version", action="version", version=f"qlab-os {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("exec", help="run one NetQASM subroutine (text or binary) on one node")
    ex.add_argument("file", type=Path, help="NetQASM text (.nqasm) or binary subroutine")
    ex.add_argument("--device", default="sim-generic", help="device name (see 'qlab-os devices')")
    ex.add_argument("--seed", type=int, default=None, help="seed of the run's RNG (same seed, same output)")
    ex.add_argument("--shots", type=int, default=None, help="run N times and print a histogram")
    ex.add_argument("--json", action="store_true", help="machine-readable output")
    ex.add_argument("--ideal", action="store_true", help="switch every noise source of the device off")
    ex.add_argument("--flavour", default=None, choices=["vanilla", "nv", "trapped_ion"],
                    help="flavour of the subroutine (text: detected; binary: vanilla)")
    ex.add_argument("--max-qubits", type=int, default=None, help="size of the app's unit module (default: all)")
    ex.add_argument("--max-instructions", type=int, default=None,
                    help="instruction budget of the subroutine (stops endless loops)")

    run = sub.add_parser("run", help="run an unmodified netqasm application folder on an in-process network")
    run.add_argument("app_dir", type=Path, nargs="+",
                     help="folder(s) with app_<role>.py files (netqasm layout); several run at once")
    run.add_argument("--instances", type=int, default=1, help="run each app K times at once (default 1)")
    run.add_argument("--stats", action="store_true",
                     help="print per-node metrics (QDevice utilisation, waiting, latency, entanglement)")
    run.add_argument("--policy", default="network-first", choices=["network-first", "fcfs"],
                     help="QNPU scheduling policy (default network-first)")
    run.add_argument("--rounds", type=int, default=1)
    run.add_argument("--network", type=Path, default=None, help="network YAML (default: the app's, or ideal)")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--json", type=Path, default=None, dest="json_out", metavar="OUT",
                     help="write a JSON list, one entry per round: role -> what its main returned")
    run.add_argument("--ideal", action="store_true", help="switch off every noise source (devices and links)")
    run.add_argument("--timeout", type=float, default=60.0, help="virtual seconds a role may wait (default 60)")
    run.add_argument("--round-limit", type=float, default=3600.0,
                     help="virtual seconds one round may last (default 3600)")
    run.add_argument("--wall-timeout", type=float, default=60.0,
                     help="real seconds a role may run without handing back to qlab-os (default 60)")
    run.add_argument("--show-output", action="store_true", help="print what the apps print")
    run.add_argument("--log-dir", type=Path, default=None,
                     help="keep netqasm's app logs (get_new_app_logger) here, one folder per round")

    sub.add_parser("devices", help="list the devices of the installed QDrivers")

    demo = sub.add_parser("demo", help="the demonstrations: every simulated device, netqasm example apps on "
                                       "simulated networks, and the three-node network on the simulated lab")
    demo.add_argument("--shots", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=2025)
    demo.add_argument("--lab", action=argparse.BooleanOptionalAction, default=True,
                      help="run the three-node network on the simulated lab (calibrates the nodes into ./data)")
    demo.add_argument("--pairs", type=int, default=100, help="lab demo: NV-NV Bell pairs per basis and ion shots")

    from qlab_os.lab.cli import add_station_parser

    add_station_parser(sub)

    from qlab_os.lab.calibrate.cli import add_calibrate_parser

    add_calibrate_parser(sub)
    return p


def _configure_logging(debug: bool) -> None:
    """Node log records go to stderr as single lines (tracebacks only with QLAB_OS_DEBUG)."""
    class OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if not debug:
                record.exc_info, record.exc_text = None, None
            return super().format(record)

    handler = logging.StreamHandler()
    handler.setFormatter(OneLine("qlab-os: %(levelname)s: %(message)s"))
    root = logging.getLogger("qlab_os")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(bool(os.environ.get("QLAB_OS_DEBUG")))
    try:
        if args.command == "exec":
            return _exec(args)
        if args.command == "devices":
            return _devices()
        if args.command == "run":
            return _run(args)
        if args.command == "calibrate":
            return int(args.handler(args))
        if args.command == "station":
            from qlab_os.lab.cli import run_station

            return run_station(args)
        if args.command == "demo":
            from qlab_os.demo import run_demo

            print(run_demo(shots=args.shots, seed=args.seed), flush=True)
            if not args.lab:
                return 0
            from qlab_os.demo_lab import run_lab_demo

            print("\nthree nodes on the simulated lab (docs/demo.md): nv_a, nv_b (NV) and ion (two 40Ca+ ions)")
            report = run_lab_demo(seed=args.seed, pairs=args.pairs, rsp_shots=args.pairs)
            print(report.text())
            return 0 if report.ok else EXIT_ERROR
    except QlabOSError as exc:
        print(f"qlab-os: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, OSError) as exc:
        print(f"qlab-os: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qlab-os: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: no raw traceback for users
        if os.environ.get("QLAB_OS_DEBUG"):
            raise
        print(f"qlab-os: internal error: {type(exc).__name__}: {exc} (set QLAB_OS_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_USAGE


def _exec(args: argparse.Namespace) -> int:
    from qlab_os.exec_runner import format_histogram, format_single, run_shots
    from qlab_os.qnpu.decode import load_subroutine
    from qlab_os.qnpu.executor import DEFAULT_INSTRUCTION_BUDGET

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    for name in ("shots", "max_instructions"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    subroutine = load_subroutine(data, args.flavour)
    try:
        report = run_shots(
            subroutine, device=args.device, shots=args.shots or 1, seed=args.seed, ideal=args.ideal,
            flavour=args.flavour or "vanilla", max_qubits=args.max_qubits,
            instruction_budget=args.max_instructions or DEFAULT_INSTRUCTION_BUDGET,
        )
    except SubroutineError as exc:
        raise SubroutineError(_with_source_line(exc, args.file, data)) from exc
    if args.json:
        print(json.dumps(report.to_json(shots=args.shots is not None)))
    elif args.shots is None:
        print(format_single(report))
    else:
        print(format_histogram(report))
    return 0


def _run(args: argparse.Namespace) -> int:
    from qlab_os.net.app_folder import load_app
    from qlab_os.net.metrics import RunStats
    from qlab_os.net.run import run_apps
    from qlab_os.net.summary import summarise

    if args.json_out is not None and (args.json_out.is_dir() or not args.json_out.parent.is_dir()):
        raise ValueError(f"--json {args.json_out}: not a file in an existing folder")
    apps = [load_app(folder, network=args.network) for folder in args.app_dir]
    progress = _progress(args.rounds)
    stats = RunStats() if args.stats else None
    reports = run_apps(apps, instances=args.instances, rounds=args.rounds, seed=args.seed, ideal=args.ideal,
                       timeout_s=args.timeout, log_dir=args.log_dir, capture_output=not args.show_output,
                       on_round=progress, round_limit_s=args.round_limit, wall_timeout_s=args.wall_timeout,
                       policy=args.policy, stats=stats)
    if args.json_out is not None:
        single = len(reports) == 1 and stats is None
        doc: object = reports[0].rounds if single else {"apps": {r.app: r.rounds for r in reports}}
        if stats is not None:
            assert isinstance(doc, dict)
            doc["stats"] = stats.to_json()
        args.json_out.write_text(json.dumps(_jsonable(doc), indent=1, allow_nan=False) + "\n")
    specs = [app for app in apps for _ in range(args.instances)]
    print("\n".join(summarise(app, report) for app, report in zip(specs, reports, strict=True)))
    if stats is not None:
        print(stats.format())
    report = reports[0]
    errors = [(f"{r.app}: " if len(reports) > 1 else "", e) for r in reports for e in r.errors]
    for prefix, (round_index, role, error) in errors[:10]:
        print(f"qlab-os: error: {prefix}round {round_index}, role {role}: {error}", file=sys.stderr)
    if len(errors) > 10:
        print(f"qlab-os: ... and {len(errors) - 10} more failed roles", file=sys.stderr)
    if report.stopped:
        print(f"qlab-os: error: {report.stopped}", file=sys.stderr)
    if report.interrupted:
        print(f"qlab-os: interrupted after {len(report.rounds)} round(s)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_ERROR if errors or report.stopped else 0


def _progress(rounds: int) -> Callable[[int], None] | None:
    """A progress bar on stderr for many rounds (tqdm), nothing for a few."""
    if rounds < 20 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=rounds, unit="round", file=sys.stderr, leave=False)

    def tick(_round: int) -> None:
        bar.update(1)

    return tick


def _jsonable(value: object) -> object:
    """What an app's main returned, as strict JSON: keys become strings, numpy values Python values,
    complex numbers [re, im], NaN and infinities strings, anything else its str()."""
    import math

    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, complex):
        return [_jsonable(value.real), _jsonable(value.imag)]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _with_source_line(exc: SubroutineError, path: Path, data: bytes) -> str:
    """Prefix the file and the text line of the failing instruction, when the file is NetQASM text."""
    from qlab_os.qnpu.decode import source_lines

    try:
        lines = source_lines(data.decode("utf-8"))
    except UnicodeDecodeError:
        lines = None
    if exc.line is None or lines is None or exc.line >= len(lines):
        return str(exc)
    return f"{path}:{lines[exc.line]}: {exc}"


def _devices() -> int:
    from qlab_os.clock import VirtualClock
    from qlab_os.qdevice.registry import create_qdriver, device_names

    # Station-backed drivers connect to their station and read their spec from its calibration file; a device that
    # cannot be built is listed with the reason, and the others are still shown.
    for device, driver_name in sorted(device_names().items()):
        try:
            driver = create_qdriver(device, clock=VirtualClock())
        except QlabOSError as exc:
            print(f"{device:<14} driver {driver_name:<11} not ready: {exc}")
            continue
        try:
            spec = driver.spec
        finally:
            driver.close()
        comm = ",".join(map(str, spec.communication_qubits)) or "-"
        print(f"{device:<14} driver {driver_name:<11} {spec.num_qubits} qubits (communication: {comm})  "
              f"{spec.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
