"""``qlab-os calibrate NODE ROUTINE``: run calibration routines of a node and write its calibration file.

NODE names a node setup file (``station_configs/nodes/NODE.yaml``, or a path to one); ROUTINE is one of the
platform's routines or ``all`` (every routine, in the order that satisfies their prerequisites). The station is
connected from the setup file's station (or ``--station``), and put in its safe state when the run ends, however
it ends. With ``--seed``, a station on the simulated lab (``visalib: "...@qlab"``) starts from a fresh lab with that
seed, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from qlab_os.errors import ConfigError

DATA_DIR = Path("data")


def add_calibrate_parser(sub: Any) -> None:
    """Add the ``calibrate`` subcommand to ``sub`` (argparse subparsers) and bind it to :func:`calibrate_command`."""
    p = sub.add_parser("calibrate", help="run a calibration routine of a node (station script) and save its values")
    p.add_argument("node", help="node name (station_configs/nodes/NODE.yaml) or a node setup file")
    p.add_argument("routine", help="routine name, or 'all'; 'list' shows the node's routines")
    p.add_argument("--station", type=Path, default=None, help="station YAML (default: the node setup's)")
    p.add_argument("--calibration-file", type=Path, default=None,
                   help="calibration YAML to update (default: data/calibration/NODE.yaml)")
    p.add_argument("--db", type=Path, default=None, help="QCoDeS sqlite database (default: data/calibration.db)")
    p.add_argument("--plot-dir", type=Path, default=None, help="where PNG plots go (default: data/plots)")
    p.add_argument("--shots", type=int, default=None, help="shots per point (default: the node setup's)")
    p.add_argument("--seed", type=int, default=None, help="reset the simulated lab with this seed first")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: on a terminal)")
    p.set_defaults(handler=calibrate_command)


def calibrate_command(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run the routine(s) named in ``args``; print one line per routine; return the exit status."""
    from qlab_os.lab.calibrate.calfile import CalibrationFile
    from qlab_os.lab.calibrate.node import find_node_file, load_node
    from qlab_os.lab.calibrate.record import open_database
    from qlab_os.lab.calibrate.routine import Context, get_routine, routines_for, run_routine
    from qlab_os.lab.station import connect_station

    if args.shots is not None and args.shots < 2:
        raise ValueError(f"--shots must be >= 2, got {args.shots}")
    setup = load_node(find_node_file(args.node))
    if args.routine == "list":
        for r in routines_for(setup.platform):
            needs = f" (needs {', '.join(k for k, _ in r.needs)})" if r.needs else ""
            out(f"{r.name:<18} {r.description}{needs}")
        return 0
    routines = routines_for(setup.platform) if args.routine == "all" else [get_routine(setup.platform, args.routine)]
    station_file = args.station or setup.station_file
    calibration = CalibrationFile(args.calibration_file or DATA_DIR / "calibration" / f"{setup.node}.yaml",
                                  setup.node, setup.platform)
    if args.routine != "all":  # fail before touching instruments when a prerequisite is missing
        for key, produced_by in routines[0].needs:
            calibration.require(key, routines[0].name, produced_by)
    if args.seed is not None:
        reset_simulated_lab(Path(station_file), args.seed)
    open_database(args.db or DATA_DIR / "calibration.db")
    with connect_station(station_file, node=setup.node) as station:
        ctx = Context(setup, station, calibration, args.plot_dir or DATA_DIR / "plots", args.shots, args.progress)
        for routine in routines:
            result = run_routine(ctx, routine)
            out(f"{setup.node} {routine.name}: {result.summary}; run {result.run_id}; plot {result.plot}; "
                f"saved to {calibration.path}")
    return 0


def reset_simulated_lab(station_file: Path, seed: int) -> bool:
    """Reset the simulated lab behind ``station_file`` with ``seed``; False when the station is not simulated.

    A station is simulated when its instruments' ``visalib`` is ``<lab yaml>@qlab``. The lab package is imported
    only then, so a hardware installation does not need it.
    """
    try:
        raw = yaml.safe_load(station_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(station_file), "(file)", f"cannot read the station file: {exc}") from None
    labs = set()
    for entry in (raw or {}).get("instruments", {}).values():
        visalib = str(((entry or {}).get("init") or {}).get("visalib", ""))
        if visalib.endswith("@qlab"):
            labs.add(visalib[: -len("@qlab")] or "sim_instruments.lab:lab.yaml")
    if not labs:
        return False
    lab = importlib.import_module("sim_instruments.lab.lab")
    for spec in sorted(labs):
        lab.reset_lab(spec, seed)
    return True
