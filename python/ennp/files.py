"""Writing files atomically: a temporary file in the same folder, renamed into place.

A run killed half-way leaves either the old file or the new one, never a
truncated one; that is what lets every resumable step trust what it finds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` and rename ``tmp`` to ``path`` (parent folders are made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
    return path


def _plain(value):
    """numpy scalars and arrays (e.g. atoms.info read back from extxyz) as Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def write_json(path: str | Path, data) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=_plain) + "\n"))


def write_frames(path: str | Path, frames) -> Path:
    """ASE Atoms (one or a list) as extxyz."""
    import ase.io

    return write_atomic(path, lambda tmp: ase.io.write(tmp, frames, format="extxyz"))
