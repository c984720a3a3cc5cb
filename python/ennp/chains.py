"""Shared pieces of the ``ennp heat|vibrations|md`` chains: starting the work folder,
preparing the structure, stopping after a step, and submitting the chain as an
``ennp submit`` plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from .config import ConfigError, StructureSpec
from .files import write_json
from .lammps.data_file import NO_FIXED, data_natoms, fixed_height, is_data_file, write_structure
from .submit.jobs import ennp_command, submit_plan
from .submit.plan import Plan, Stage, step_resources


def start_chain(config_path: str | Path, workdir: str | Path, config, prepare: Callable,
                until: str | None = None) -> tuple[Path, dict]:
    """Check ``until`` (a step of the chain, or None), create the work folder, keep a copy of
    the config there and run ``prepare(config, workdir)`` (build the structure once, write
    the pair file); a builder's ValueError names the config file and its structure section.
    Returns (workdir, prepared)."""
    if until is not None and until not in config.chain_steps():
        raise ValueError(f"--until {until}: not a step of this chain; steps are {', '.join(config.chain_steps())}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, workdir / "config.yaml")
    try:
        return workdir, prepare(config, workdir)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: structure: {exc}") from exc


def read_structure(spec: StructureSpec, species, base_dir: str | Path = "."):
    """The ASE Atoms of a structure spec: the builder's, or the file's first frame (a LAMMPS
    data file's types are species 1, 2, ...); a file is relative to ``base_dir``."""
    import ase.io

    from .builders import build_structure

    if spec.builder:
        return build_structure(spec.builder, spec.args)
    path = Path(base_dir) / spec.file
    if is_data_file(path):
        from ase.data import atomic_numbers

        return ase.io.read(path, format="lammps-data", atom_style="atomic",
                           Z_of_type={t + 1: atomic_numbers[el] for t, el in enumerate(species)})
    return ase.io.read(path, index=0)


def prepare_structure(spec: StructureSpec, species, workdir: Path, z_fixed: float = NO_FIXED,
                      describe: Callable | None = None) -> dict:
    """A chain's structure, prepared once: W/structure.json (written last) with data (the LAMMPS
    data file), natoms, z_fixed_A (atoms below are held), fixed_ids and what ``describe(atoms)``
    adds. A structure from a builder or a file is written as W/structure.data; a LAMMPS data file
    is used where it is, unless ``describe`` needs its atoms."""
    meta_file = workdir / "structure.json"
    if not meta_file.exists():
        if spec.file and is_data_file(spec.file) and describe is None:
            meta = {"data": spec.file, "natoms": data_natoms(spec.file), "z_fixed_A": z_fixed, "fixed_ids": []}
        else:
            atoms = read_structure(spec, species)
            meta = write_structure(atoms, species, workdir / "structure.data")
            meta.update(data=str((workdir / "structure.data").resolve()), z_fixed_A=fixed_height(atoms))
            meta.update(describe(atoms) if describe else {})
        write_json(meta_file, meta)    # last: its presence means the structure is complete
    return json.loads(meta_file.read_text())


def submit_chain(stage: str, config_path: str | Path, workdir: str | Path, config, progress=print) -> dict:
    """Submit the chain as an ``ennp submit`` plan: one job per step (``ennp STAGE run CONFIG
    --out W --until STEP``), each after the one before (afterok), with the step's resources from
    the config's ``slurm:`` section. Job ids go to W/submit.json (``ennp submit status W``).
    In a container the image's ``ennp`` runs; elsewhere this environment's."""
    resources = step_resources(config.slurm, config.chain_steps(), f"{config_path}: slurm")
    workdir, config_path = Path(workdir).resolve(), Path(config_path).resolve()
    stages, before = [], []
    for step, res in resources.items():
        command = ennp_command(res, stage, "run", config_path, "--out", workdir, "--until", step)
        stages.append(Stage(name=step, command=command, after=before, resources=res))
        before = [step]
    return submit_plan(Plan(stages), workdir, progress=progress, source=f"ennp {stage} run {config_path}")
