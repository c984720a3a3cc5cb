"""Content-addressed cache for slow artefacts (trained and compiled models).

Lives outside any checkout ($ENNP_CACHE_DIR, default ~/.cache/ennp). An entry
is a directory named by the hash of everything that determines it; it is
built in a temporary directory and renamed into place, so a run killed
half-way never leaves a broken entry behind. Processes that want the same
missing entry build it once: the others wait for it (a lock file beside it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    """Absolute, so cached paths stay valid from any working directory (an empty
    or unset ENNP_CACHE_DIR means the default)."""
    return Path(os.environ.get("ENNP_CACHE_DIR") or Path.home() / ".cache" / "ennp").expanduser().resolve()


def content_key(*parts) -> str:
    """sha256 of JSON-serialisable parts (paths are hashed by their content)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def cached_dir(kind: str, key: str, build: Callable[[Path], None],
               waiting: Callable[[], None] | None = None) -> Path:
    """Return cache_root()/kind/key, calling build(tmpdir) first if it is missing.

    ``waiting()`` is called before waiting for another process that is building the entry.
    """
    final = cache_root() / kind / key
    if (final / ".complete").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.with_name(f"{key}.lock"), "w") as lock:
        # released when the file closes, also if this process dies
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".complete").is_file():    # built by another process meanwhile
            return final
        tmp = final.with_name(f"{key}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
