"""Sharing this process's cores among the worker processes it starts.

Torch, and so every labeller and nequip-train on it, takes all cores in each process by
default: N workers on N cores then run N x N threads. Measured on 2 cores (2026-12-07):
two SevenNet-0 relaxations with two threads each ran ~3x slower than with one thread each,
and two members trained one after another with two threads took 1.46x as long as the two
trained at once with one thread each.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (a Slurm allocation or taskset, not the machine's;
    the machine's where the system does not say, as on macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def shared_cores_env(workers: int, base: dict | None = None) -> dict:
    """The environment of one of ``workers`` processes run at once: the usable cores shared
    out among them (OMP_NUM_THREADS), unless OMP_NUM_THREADS is set already."""
    env = dict(os.environ if base is None else base)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, usable_cores() // max(1, workers)))
    return env
