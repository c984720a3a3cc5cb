"""Long, checkpointed MD runs (``lammps_inputs/production.in``) that survive being killed.

A run is a folder of segments: segment k has ``log.<k>.lammps`` and
``trajectory.<k>.dump`` and starts from the data file (k = 0) or from the newest
``restart.<step>.bin``. A killed segment (time limit, node failure) leaves frames
after its last checkpoint; the next segment writes them again from the
checkpoint, so :func:`join_segments` keeps each segment's frames only up to the
first step of the next one: one trajectory, no gaps, no repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import lammps_inputs
from .data_file import NO_FIXED
from .outputs import dump_frame_texts
from ..files import write_atomic
from .run import lammps_error, run_lammps

ENSEMBLES = ("nvt", "langevin", "nve")


@dataclass(frozen=True)
class ProductionSettings:
    ensemble: str = "nvt"           # nvt (Nose-Hoover, exact on restart) | langevin | nve
    T: float = 300.0                # K
    dt: float = 0.001               # ps
    damp: float = 0.1               # ps
    seed: int = 4928                # initial velocities and Langevin noise
    steps: int = 100000             # in all, over every segment
    every_thermo: int = 1000        # thermo interval (steps)
    every_dump: int = 1000          # dump interval (steps)
    every_restart: int = 10000      # checkpoint interval; a multiple of every_dump
    keep_restarts: int = 2          # newest checkpoints kept (older ones deleted)
    nprocs: int = 1                 # MPI ranks

    def __post_init__(self):
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, not {self.ensemble!r}")
        for name in ("T", "dt", "damp"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("steps", "every_thermo", "every_dump", "every_restart", "keep_restarts", "nprocs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.every_restart % self.every_dump:
            raise ValueError(f"every_restart ({self.every_restart}) must be a multiple of every_dump "
                             f"({self.every_dump}): a resumed segment starts on a dumped step")


def _numbered(workdir: Path, pattern: str) -> list[tuple[int, Path]]:
    """Files named by ``pattern`` (a regex with one group of digits), by that number."""
    return sorted((int(m.group(1)), p) for p in Path(workdir).iterdir() if (m := re.fullmatch(pattern, p.name))) \
        if Path(workdir).is_dir() else []


def restarts(workdir: Path) -> list[tuple[int, Path]]:
    """Checkpoints ``restart.<step>.bin`` in the folder, oldest first."""
    return _numbered(workdir, r"restart\.(\d+)\.bin")


def segments(workdir: Path) -> list[int]:
    """Segment numbers k of the logs ``log.<k>.lammps``, in order."""
    return [k for k, _ in _numbered(workdir, r"log\.(\d+)\.lammps")]


def run_production(workdir: str | Path, data: str | Path, pair_file: str | Path, species, s: ProductionSettings,
                   z_fixed: float = NO_FIXED, progress=print, monitor_file: str | Path | None = None) -> dict:
    """Run or resume the production run in ``workdir`` until ``s.steps``; returns
    {'segments', 'steps', 'trajectory'} with the joined trajectory. ``monitor_file``: the
    include of :mod:`ennp.lammps.monitor` (its per-segment deviation dumps are joined too)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    while True:
        done = restarts(workdir)
        start = done[-1][0] if done else 0
        if start >= s.steps:
            break
        segment = (segments(workdir) or [-1])[-1] + 1
        progress(f"md segment {segment}: steps {start} -> {s.steps} "
                 f"({'from ' + done[-1][1].name if done else 'from the data file'}); log "
                 f"{workdir / f'log.{segment}.lammps'}", flush=True)
        proc = run_lammps(lammps_inputs() / "production.in", workdir, nprocs=s.nprocs, log=f"log.{segment}.lammps",
                          check=False, variables={
                              "data": Path(data).resolve(), "restart_file": done[-1][1].name if done else "none",
                              "pair_file": Path(pair_file).resolve(), "species": " ".join(species),
                              "segment": segment, "ensemble": s.ensemble, "T": s.T, "dt": s.dt, "damp": s.damp,
                              "seed": s.seed, "steps": s.steps, "every_thermo": s.every_thermo,
                              "every_dump": s.every_dump, "every_restart": s.every_restart, "z_fixed": z_fixed,
                              "monitor_file": Path(monitor_file).resolve() if monitor_file else "none"})
        if proc.returncode != 0:
            error = lammps_error(workdir / f"log.{segment}.lammps", proc)
            if done and "restart file" in error.lower():
                # the newest checkpoint was cut short when the run died: fall back to the one before
                progress(f"{done[-1][1].name} is unreadable ({error.strip()}); using the one before", flush=True)
                done[-1][1].rename(done[-1][1].with_suffix(".bin.broken"))
                continue
            raise RuntimeError(f"LAMMPS failed (exit {proc.returncode}) in {workdir}, segment {segment}:\n{error}")
    for _, path in restarts(workdir)[:-s.keep_restarts]:
        path.unlink()
    joined = join_segments(workdir, workdir / "trajectory.dump")
    if any(workdir.glob("devi.*.dump")):
        join_segments(workdir, workdir / "devi.dump", stem="devi")
    return {"segments": len(segments(workdir)), "steps": s.steps, "trajectory": str(joined["path"]),
            "frames": joined["frames"]}


def join_segments(workdir: Path, out: Path, stem: str = "trajectory") -> dict:
    """One dump of all segments' ``<stem>.<k>.dump``: each segment's frames before the next
    segment's first step; written atomically (a killed join leaves no half file)."""
    workdir = Path(workdir)
    files = [workdir / f"{stem}.{k}.dump" for k in segments(workdir)]
    files = [f for f in files if f.exists()]
    firsts = []
    for f in files:
        first = next(dump_frame_texts(f), None)
        firsts.append(first[0] if first else None)
    steps: list[int] = []

    def write(tmp: Path) -> None:
        with open(tmp, "w") as o:
            for k, f in enumerate(files):
                limit = next((s for s in firsts[k + 1:] if s is not None), None)
                for step, text in dump_frame_texts(f):
                    if limit is not None and step >= limit:
                        break
                    if steps and step <= steps[-1]:
                        continue
                    o.write(text)
                    steps.append(step)

    write_atomic(out, write)
    return {"path": Path(out), "frames": len(steps), "steps": steps}
