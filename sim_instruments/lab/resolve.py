"""Spell lab and device files as ``package.module:file.yaml`` (package data) or as paths.

pyvisa keys its library instances by the path string, so two spellings of one file would give two labs with separate
state. Every entry point therefore resolves to one absolute path first.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class LabConfigError(ValueError):
    """A lab YAML (or a file it names) is missing or malformed; the message names the file and the key."""


def resolve_path(spec: str, relative_to: Path | None = None) -> Path:
    """Absolute path of ``spec``: ``pkg.mod:file.yaml``, an absolute path, or a path relative to ``relative_to``."""
    if ":" in spec and not Path(spec).is_absolute() and not _looks_like_drive(spec):
        module, _, name = spec.partition(":")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise LabConfigError(f"{spec!r}: no package named {module!r}")
        path = Path(next(iter(found.submodule_search_locations))) / name
    else:
        path = Path(spec)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
    path = path.resolve()
    if not path.is_file():
        raise LabConfigError(f"{spec!r}: no such file ({path})")
    return path


def _looks_like_drive(spec: str) -> bool:
    return len(spec) > 1 and spec[1] == ":"
