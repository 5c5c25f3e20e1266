"""Checks shared by every YAML loader of qlab-os (device specs, network files, app folders).

Every failure is a :class:`ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from qlab_os.errors import ConfigError

FLOAT_HINT: Final = " (write floats as 1.0e-3, not 1e-3: PyYAML reads the latter as a string)"


def float_hint(value: Any) -> str:
    """The float-spelling hint, when a number arrived as a string."""
    return FLOAT_HINT if isinstance(value, str) else ""


def require(data: Mapping[str, Any], key: str, typ: type | tuple[type, ...], source: str, path: str) -> Any:
    """``data[key]``, which must exist and be of ``typ`` (a bool is never accepted as a number)."""
    if key not in data:
        raise ConfigError(source, path, "missing")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, typ):
        want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise ConfigError(source, path, f"expected {want}, got {value!r}{float_hint(value)}")
    return value


def number(value: Any, source: str, path: str) -> float:
    """A real number (not NaN, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(source, path, f"expected a number, got {value!r}{float_hint(value)}")
    return float(value)


def reject_unknown(data: Mapping[Any, Any], allowed: Iterable[str], source: str, prefix: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise ConfigError(source, prefix + unknown[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")
