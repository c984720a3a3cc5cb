"""``ennp md``: production MD of a large system, checkpointed, resumable, from one YAML.

The structure comes from a builder (written once, with its fixed layer) or from a
data file; the run is :func:`ennp.lammps.production.run_production` in W/run.
Running the same command again, by hand or by a requeued Slurm job, resumes from
the newest checkpoint. Outputs: structure.data (builder), pair.in, monitor.in, run/ (logs,
segment dumps, restart files, trajectory.dump joined; with a bundle model_devi.out and devi.dump),
md.json (summary, with its uncertainty block), uncertainty.png (with a bundle).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..chains import prepare_structure, start_chain
from ..files import write_json
from ..heat.potentials import classical_au_tio2
from ..lammps.outputs import read_loop_time, read_thermo
from ..lammps.monitor import write_monitor_file
from ..lammps.pair_file import write_pair_file
from ..lammps.production import run_production, segments
from ..lammps.uncertainty import describe, plot_uncertainty, uncertainty
from ..vibrations.potentials import classical_mos2_carbon
from .config import MdConfig
from .config import load_md_config as load_config


OUTPUTS = "md.json, run/trajectory.dump (all segments joined), run/log.*.lammps, uncertainty.png (with a bundle)"    # what a finished run leaves in its work folder

def classical(species) -> str:
    """The stand-in for the species: Au/TiO2 or MoS2/carbon."""
    return (classical_au_tio2 if "Au" in species else classical_mos2_carbon)(species)


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
    """The structure (once) and pair.in; returns {'data', 'natoms', 'z_fixed_A', ...}."""
    meta = prepare_structure(config.structure, config.species, workdir, config.z_fixed)
    write_pair_file(config.pair.style, config.species, workdir / "pair.in", config.pair.model, config.pair.file,
                    classical=classical)
    write_monitor_file(workdir / "monitor.in", config.pair.bundle, config.monitor, config.species)
    return meta


def run_chain(config_path: str | Path, workdir: str | Path, progress=print, until: str | None = None) -> dict:
    """Run (or resume) the production run (its one step: md)."""
    config = load_config(config_path)
    t_start = time.time()
    workdir, meta = start_chain(config_path, workdir, config, prepare, until)
    progress(f"structure: {meta['natoms']} atoms -> {meta['data']}", flush=True)
    result = run_production(workdir / "run", meta["data"], workdir / "pair.in", config.species, config.md,
                            meta["z_fixed_A"], progress=progress, monitor_file=workdir / "monitor.in")
    result["atom_steps_per_s"] = throughput(workdir / "run", meta["natoms"])
    result.update(atoms=meta["natoms"], wall_s_this_call=time.time() - t_start)
    result["uncertainty"] = uncertainty([workdir / "run"], config.monitor, config.pair.bundle)
    plot_uncertainty([workdir / "run"], result["uncertainty"], config.md.dt, workdir / "uncertainty.png")
    write_json(workdir / "md.json", result)
    progress(f"md: {result['steps']} steps in {result['segments']} segment(s); {result['frames']} frames -> "
             f"{result['trajectory']}", flush=True)
    progress(describe(result["uncertainty"]), flush=True)
    return result
