"""``ennp md``: production MD of a large system, checkpointed, resumable, from one YAML.

The structure comes from a builder (written once, with its fixed layer) or from a
data file; the run is :func:`ennp.lammps.production.run_production` in W/run.
Running the same command again, by hand or by a requeued Slurm job, resumes from
the newest checkpoint. Outputs: structure.data (builder), pair.in, run/ (logs,
segment dumps, restart files, trajectory.dump joined), md.json (summary).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..builders import build_structure
from ..builders.interface import fixed_height, write_structure
from ..chains import start_chain
from ..files import write_json
from ..heat.potentials import classical_au_tio2
from ..lammps.outputs import read_loop_time, read_thermo
from ..lammps.pair_file import write_pair_file
from ..lammps.production import run_production, segments
from ..vibrations.potentials import classical_mos2_carbon
from .config import MdConfig
from .config import load_md_config as load_config


def classical(species) -> str:
    """The stand-in for the species: Au/TiO2 or MoS2/carbon."""
    return (classical_au_tio2 if "Au" in species else classical_mos2_carbon)(species)


def data_natoms(path: str) -> int:
    """The atom count in a LAMMPS data file's header."""
    with open(path, errors="replace") as f:
        for _, line in zip(range(50), f):
            words = line.split()
            if len(words) == 2 and words[1] == "atoms" and words[0].isdigit():
                return int(words[0])
    raise ValueError(f"{path}: no 'N atoms' line in the header; not a LAMMPS data file")


def throughput(folder: Path, natoms: int) -> float | None:
    """Atom-steps/s of the last segment that ran steps (from its log), or None."""
    for k in reversed(segments(folder)):
        log = folder / f"log.{k}.lammps"
        try:
            steps = np.ptp(read_thermo(log)[-1]["Step"])
            loop = read_loop_time(log)
        except (RuntimeError, IndexError, KeyError):
            continue
        if steps > 0 and loop > 0:
            return float(natoms * steps / loop)
    return None


def prepare(config: MdConfig, workdir: Path) -> dict:
    """The data file (built once) and pair.in; returns {'data', 'natoms', 'z_fixed_A'}."""
    meta_file = workdir / "structure.json"
    if not meta_file.exists():
        if config.structure.builder:
            atoms = build_structure(config.structure.builder, config.structure.args)
            meta = write_structure(atoms, config.species, workdir / "structure.data")
            meta.update(data=str((workdir / "structure.data").resolve()), z_fixed_A=fixed_height(atoms))
        else:
            meta = {"data": config.data, "natoms": data_natoms(config.data), "z_fixed_A": config.z_fixed}
        write_json(meta_file, meta)    # last: its presence means the structure is complete
    write_pair_file(config.pair.style, config.species, workdir / "pair.in", config.pair.model, config.pair.file,
                    classical=classical)
    return json.loads(meta_file.read_text())


def run_chain(config_path: str | Path, workdir: str | Path, progress=print, until: str | None = None) -> dict:
    """Run (or resume) the production run (its one step: md)."""
    config = load_config(config_path)
    t_start = time.time()
    workdir, meta = start_chain(config_path, workdir, config, prepare, until)
    progress(f"structure: {meta['natoms']} atoms -> {meta['data']}", flush=True)
    result = run_production(workdir / "run", meta["data"], workdir / "pair.in", config.species, config.md,
                            meta["z_fixed_A"], progress=progress)
    result["atom_steps_per_s"] = throughput(workdir / "run", meta["natoms"])
    result.update(atoms=meta["natoms"], wall_s_this_call=time.time() - t_start)
    write_json(workdir / "md.json", result)
    progress(f"md: {result['steps']} steps in {result['segments']} segment(s); {result['frames']} frames -> "
             f"{result['trajectory']}", flush=True)
    return result
