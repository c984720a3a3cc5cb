"""Exploration MD of one generation: every structure at every temperature.

Each run uses lammps_inputs/explore.in (pair_style ennp with member 0, compute
ennp/ensemble with all members: the members' ensemble package for both, or the
member files) in ``gen_g/explore/<structure>_T<T>/``; a run is finished when
its ``result.json`` exists. Frames come back as ASE Atoms
with their deviation and provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import lammps_inputs
from ..deploy.ensemble import members_in
from ..files import write_json
from ..lammps.outputs import dump_to_atoms, read_model_devi
from ..lammps.run import run_lammps


def run_name(structure: str, temperature: float) -> str:
    return f"{structure}_T{temperature:g}"


def explore(gen_path: Path, data_files: dict[str, Path], species, models: list[Path],
            settings, halt: float, seed: int, *, progress=print) -> list[dict]:
    """Run (or find finished) exploration runs with the deployed ``models`` (member files, or
    one ensemble package); return one summary per run. Run k starts with velocities from
    seed + k."""
    size = sum(members_in(m) for m in models)
    names = list(settings.structures) or list(data_files)
    summaries = []
    for name in names:
        for temp in settings.temperatures:
            run = gen_path / "explore" / run_name(name, temp)
            result = run / "result.json"
            if not result.exists():
                progress(f"{gen_path.name}: exploring {run.name} ({settings.steps} steps, "
                         f"{size} members)")
                variables = {
                    "data": data_files[name].resolve(), "elements": " ".join(species),
                    "model0": models[0].resolve(),
                    "members": " ".join(str(m.resolve()) for m in models),
                    "T": temp, "steps": settings.steps, "every": settings.every, "dt": settings.dt,
                    "seed": seed + len(summaries), "halt": halt,
                }
                run_lammps(lammps_inputs() / "explore.in", run, nprocs=settings.nprocs,
                           threads=settings.threads, variables=variables)
                devi = read_model_devi(run / "model_devi.out")
                summary = {"run": run.name, "structure": name, "temperature": temp,
                           "frames": int(len(devi["step"])), "last_step": int(devi["step"][-1]),
                           "halted": bool(devi["step"][-1] < settings.steps),
                           "max_devi_f_max": float(devi["max_devi_f"].max())}
                write_json(result, summary)
            summaries.append(json.loads(result.read_text()))
    return summaries


def unexplored_frames(summaries: list[dict], steps: int, every: int) -> dict[str, int]:
    """Per structure, the frames its halted runs did not reach (a run that halts at step S of
    ``steps`` dumps S / every + 1 of its steps / every + 1 frames). They count as failed: a
    run that stops at its first steps has few frames, and would otherwise weigh as little in
    the accurate fraction as it tells about the potential."""
    expected = steps // every + 1
    out: dict[str, int] = {}
    for s in summaries:
        out[s["structure"]] = out.get(s["structure"], 0) + max(0, expected - s["frames"])
    return out


def explored_frames(gen_path: Path, summaries: list[dict], species) -> tuple[list, np.ndarray, list[str]]:
    """All dumped frames of the runs, their max_devi_f and the structure each was explored
    from, in run order."""
    frames, devis, structures = [], [], []
    for s in summaries:
        run = gen_path / "explore" / s["run"]
        devi = read_model_devi(run / "model_devi.out")
        by_step = dict(zip(devi["step"].tolist(), devi["max_devi_f"].tolist()))
        for atoms in dump_to_atoms(run / "traj.dump", list(species)):
            step = int(atoms.info.pop("step"))
            if step not in by_step:
                continue    # a dump line without a deviation (should not happen)
            for name in list(atoms.arrays):
                if name not in ("numbers", "positions"):
                    del atoms.arrays[name]
            atoms.info.update(ennp_origin=f"explore:{gen_path.name}/{s['run']}:step={step}",
                              ennp_max_devi_f=by_step[step])
            frames.append(atoms)
            devis.append(by_step[step])
            structures.append(s["structure"])
    return frames, np.array(devis), structures
