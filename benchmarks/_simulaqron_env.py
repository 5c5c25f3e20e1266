"""The dedicated venv of SimulaQron 4.1.2, the peer of ``teleport_speed.py``: ``benchmarks/.simulaqron-venv``.

SimulaQron pins ``numpy<2``, while qlab-os runs on numpy 2, so it gets its own venv, created on first use with
``pip install netqasm==2.3.0 simulaqron==4.1.2`` (through pip's configured index; about 20 s on this machine)
and reused afterwards: a stamp file in the venv records the pins it was built with, and a venv whose stamp
differs is updated by the same ``pip install``. Nothing is ever installed into the project's own ``.venv``.

``ensure_venv()`` returns the venv's python, or raises :class:`SimulaQronUnavailable` with the reason (no
Python to build a venv from, pip failed, e.g. no access to the package index). Run as a script (``make bench``
runs it before ``teleport_speed.py``), it builds or checks the venv and prints what it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".simulaqron-venv"
REQUIREMENTS = ("netqasm==2.3.0", "simulaqron==4.1.2")
STAMP = VENV / ".qlab-os-requirements"
INSTALL_TIMEOUT_S = 900.0


class SimulaQronUnavailable(RuntimeError):
    """SimulaQron's venv cannot be built or does not work; the message says why."""


def venv_python() -> Path:
    return VENV / "bin" / "python"


def _stamp_text() -> str:
    return "\n".join(REQUIREMENTS) + "\n"


def _run(args: list[str], what: str, timeout_s: float) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimulaQronUnavailable(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join(line for line in (done.stderr or done.stdout).strip().splitlines()[-4:])
        raise SimulaQronUnavailable(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout


def _check() -> str:
    """The versions the venv's python imports, or SimulaQronUnavailable."""
    code = ("import importlib.metadata as m; "
            "import simulaqron, netqasm; "
            "print(' '.join(f'{p}=={m.version(p)}' for p in ('netqasm', 'simulaqron', 'numpy')))")
    return _run([str(venv_python()), "-c", code], "importing simulaqron in its venv", 120.0).strip()


def ensure_venv(log: bool = True) -> Path:
    """Build or update the venv if its stamp is not current; return its python."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        raise SimulaQronUnavailable("run from the project's venv, not from SimulaQron's own")
    if venv_python().exists() and STAMP.exists() and STAMP.read_text() == _stamp_text():
        return venv_python()
    start = time.perf_counter()
    if log:
        print(f"building SimulaQron's venv at {VENV} (pip install {' '.join(REQUIREMENTS)}); first time only",
              flush=True)
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind the project's venv
    _run([base, "-m", "venv", str(VENV)], f"creating a venv with {base}", 300.0)
    python = venv_python()  # pip runs as this venv's python, so it installs into this venv only
    env_note = os.environ.get("PIP_INDEX_URL", "pip's configured index")
    _run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
         f"pip install {' '.join(REQUIREMENTS)} from {env_note}", INSTALL_TIMEOUT_S)
    versions = _check()
    STAMP.write_text(_stamp_text())
    if log:
        print(f"SimulaQron venv ready in {time.perf_counter() - start:.0f} s: {versions}", flush=True)
    return python


def main() -> None:
    try:
        python = ensure_venv()
        print(f"SimulaQron venv {VENV}: {_check()} ({python})")
    except SimulaQronUnavailable as exc:
        print(f"SimulaQron unavailable: {exc}")


if __name__ == "__main__":
    main()
