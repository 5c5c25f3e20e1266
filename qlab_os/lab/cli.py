"""``qlab-os station check FILE``: validate a station file, connect it, identify, snapshot, safe state.

:func:`add_station_parser` adds the ``station`` command to the ``qlab-os`` parser (qlab_os/cli.py) and
:func:`run_station` runs it. The check:

1. reads and checks the file (errors name the file, the key and the reason);
2. connects every instrument and applies its ``parameters`` (errors name the instrument and the reason);
3. prints each instrument's identity (``get_idn``) and takes a snapshot of every parameter;
4. applies the station's safe state and reports it per instrument.

Exit code 0 when every step passed, 1 otherwise (the error on stderr, or in the JSON with ``--json``).
Heavy imports (qcodes, pyvisa) happen only when the command runs, so ``qlab-os --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from qlab_os.errors import ConfigError, QlabOSError

EXIT_OK = 0
EXIT_FAILED = 1


def add_station_parser(subparsers: Any) -> None:
    """Add ``station check FILE [--json] [--snapshot OUT]`` to the ``qlab-os`` subcommands."""
    station = subparsers.add_parser("station", help="check QCoDeS station files (validate, connect, safe state)")
    commands = station.add_subparsers(dest="station_command", required=True)
    check = commands.add_parser(
        "check", help="validate a station file, connect its instruments, snapshot, then apply the safe state"
    )
    check.add_argument("file", type=Path, help="QCoDeS station YAML (e.g. station_configs/nv_node.sim.yaml)")
    check.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    check.add_argument(
        "--snapshot", type=Path, default=None, metavar="OUT", help="write the station snapshot (JSON) to OUT"
    )


def run_station(args: argparse.Namespace) -> int:
    """Run ``qlab-os station <command>``; returns the exit code."""
    if args.station_command != "check":
        raise ValueError(f"unknown station command {args.station_command!r}")
    result = check_station(args.file, snapshot_path=args.snapshot)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_check(result))
        if result["error"] is not None:
            print(f"qlab-os: error: {result['error']['message']}", file=sys.stderr)
    return EXIT_OK if result["ok"] else EXIT_FAILED


def check_station(path: Path, *, snapshot_path: Path | None = None) -> dict[str, Any]:
    """Check one station file (see the module docstring); the result is JSON-ready and never raises a QlabOSError."""
    from qlab_os.lab.errors import SafeStateError
    from qlab_os.lab.station import QlabStation
    from qlab_os.lab.station_config import load_station_config

    result: dict[str, Any] = {
        "file": str(path),
        "ok": False,
        "instruments": [],
        "snapshot": None,
        "safe_state": None,
        "error": None,
    }
    try:
        config = load_station_config(path)
    except ConfigError as exc:
        result["error"] = _error(exc)
        return result
    result["instruments"] = [
        {"name": c.name, "type": c.type_path, "address": c.address, "identity": None, "connected": False}
        for c in config.instruments.values()
    ]
    station = QlabStation(config, default=False)
    try:
        with _quiet_drivers():
            station.connect_all()
            rows = {row["name"]: row for row in result["instruments"]}
            for name, instrument in station.instruments.items():
                rows[name]["identity"] = instrument.get_idn()
            unreadable = station.read_parameters()
        snapshot = station.snapshot(update=False)
        result["snapshot"] = {
            "parameters": _count_parameters(snapshot),
            "unreadable": unreadable,
            "written_to": None,
        }
        if snapshot_path is not None:
            snapshot_path.write_text(json.dumps(snapshot, indent=1, default=str), encoding="utf-8")
            result["snapshot"]["written_to"] = str(snapshot_path)
    except QlabOSError as exc:
        result["error"] = _error(exc)
    finally:
        station.close()
        report = station.last_safe_state
        result["safe_state"] = report.as_dict() if report is not None else None
        connected = {*report.applied, *report.failed, *report.skipped} if report is not None else set()
        for row in result["instruments"]:
            row["connected"] = row["name"] in connected
    if result["error"] is None and report is not None and report.failed:
        result["error"] = _error(SafeStateError(report.failed))
    result["ok"] = result["error"] is None
    return result


def format_check(result: dict[str, Any]) -> str:
    """The human-readable report of :func:`check_station`."""
    lines = [f"{result['file']}: {len(result['instruments'])} instrument(s)"]
    width = max((len(row["name"]) for row in result["instruments"]), default=0)
    failed = (result["error"] or {}).get("instrument")
    for row in result["instruments"]:
        idn = row["identity"]
        if idn is not None:
            who = " ".join(str(idn.get(k)) for k in ("vendor", "model") if idn.get(k))
            extra = ", ".join(f"{k} {idn[k]}" for k in ("serial", "firmware") if idn.get(k))
            status = f"{who} ({extra})" if extra else who
        elif row["name"] == failed:
            status = f"FAILED: {result['error'].get('kind', 'error')}"
        elif row["connected"]:
            status = "connected, then put in safe state and closed"
        else:
            status = "not reached"
        lines.append(f"  {row['name']:<{width}}  {row['address'] or '-':<38} {status}")
    if result["snapshot"] is not None:
        written = result["snapshot"]["written_to"]
        lines.append(
            f"snapshot: {result['snapshot']['parameters']} parameters" + (f", written to {written}" if written else "")
        )
        lines.extend(f"  unreadable {name}: {reason}" for name, reason in result["snapshot"]["unreadable"].items())
    report = result["safe_state"]
    if report is not None:
        lines.append(f"safe state: applied to {len(report['applied'])}: {', '.join(report['applied']) or '-'}")
        lines.extend(f"  skipped {name}: {reason}" for name, reason in report["skipped"].items())
        lines.extend(f"  FAILED {name}: {reason}" for name, reason in report["failed"].items())
    lines.append("OK" if result["ok"] else "FAILED")
    return "\n".join(lines)


def _error(exc: QlabOSError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for attr in ("instrument", "address", "kind", "reason", "source", "key", "failures"):
        if hasattr(exc, attr):
            error[attr] = getattr(exc, attr)
    return error


def _count_parameters(node: Any) -> int:
    """Parameters in a snapshot: every entry of every ``parameters`` mapping, in instruments and submodules."""
    if not isinstance(node, dict):
        return 0
    own = len(node["parameters"]) if isinstance(node.get("parameters"), dict) else 0
    return own + sum(_count_parameters(v) for k, v in node.items() if k not in ("parameters", "config"))


@contextlib.contextmanager
def _quiet_drivers() -> Any:
    """Drivers print "Connected to: ..." and qcodes logs failed ``*IDN?`` reads with tracebacks; the check reports
    both itself. With QLAB_OS_DEBUG set, nothing is hidden."""
    if os.environ.get("QLAB_OS_DEBUG"):
        yield
        return
    qcodes_log = logging.getLogger("qcodes")
    handler = logging.NullHandler()
    qcodes_log.addHandler(handler)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        qcodes_log.removeHandler(handler)
