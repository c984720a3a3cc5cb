"""``ennp vibrations``: build -> MD -> amplitude analysis -> HR-TEM, from one YAML.

Everything goes into one work folder; each step leaves a marker written last
(structure.json, md/done, vib.json, tem/tem.json), so the same command resumes
after an interruption and a step cut short is redone. Outputs: structure.data,
pair.in, monitor.in, md/trajectory.dump + log, vib.json/.png, tem/ (images,
tem.json/.png), vibrations.json (summary); with a model bundle md/model_devi.out,
md/devi.dump and uncertainty.png.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from .. import lammps_inputs
from ..chains import prepare_structure, start_chain
from ..files import write_json
from ..lammps.monitor import write_monitor_file
from ..lammps.run import run_lammps
from ..lammps.uncertainty import describe, plot_uncertainty, uncertainty
from .analysis import analyse, describe_edge, write_results
from .config import VibConfig
from .config import load_vib_config as load_config
from .potentials import write_vib_pair_file
from .tem import tem, write_tem
from .trajectory import read_trajectory

OUTPUTS = "vibrations.json, vib.json/.png, tem/ (tem.json/.png, images .npy), uncertainty.png (with a bundle)"    # what a finished run leaves in its work folder

def prepare(config: VibConfig, workdir: Path) -> dict:
    """The structure (once) and the pair file; returns the structure's metadata."""
    meta = prepare_structure(config.structure, config.species, workdir)
    write_vib_pair_file(config.pair.style, config.species, workdir / "pair.in", config.pair.model,
                        config.pair.file)
    write_monitor_file(workdir / "monitor.in", config.pair.bundle, config.monitor, config.species)
    return meta


def run_md(config: VibConfig, workdir: Path, meta: dict) -> Path:
    """The MD run (lammps_inputs/vib_md.in) in workdir/md, unless it finished before."""
    folder = workdir / "md"
    if (folder / "done").exists():
        return folder / "trajectory.dump"
    if folder.exists():
        shutil.rmtree(folder)    # cut short: start the run again
    m = config.md
    run_lammps(lammps_inputs() / "vib_md.in", folder, nprocs=m.nprocs, variables={
        "data": meta["data"], "pair_file": (workdir / "pair.in").resolve(),
        "species": " ".join(config.species), "z_fixed": meta["z_fixed_A"], "T": m.T, "dt": m.dt, "damp": m.damp,
        "sample_damp": m.sample_damp, "seed": m.seed, "min_steps": m.min_steps, "steps_eq": m.steps_eq,
        "steps": m.steps, "every": m.every, "monitor_file": (workdir / "monitor.in").resolve()})
    (folder / "done").touch()
    return folder / "trajectory.dump"


def run_chain(config_path: str | Path, workdir: str | Path, progress=print, until: str | None = None) -> dict:
    """Run (or resume) the chain; ``until``: stop after that step (md, analysis, tem)."""
    config = load_config(config_path)
    t_start = time.time()
    workdir, meta = start_chain(config_path, workdir, config, prepare, until)
    progress(f"structure: {meta['natoms']} atoms ({len(meta['fixed_ids'])} fixed) -> "
             f"{meta['data']}", flush=True)
    m = config.md
    progress(f"md: kept from an earlier run ({workdir / 'md'})" if (workdir / "md" / "done").exists() else
             f"md: {m.steps_eq} + {m.steps} steps at {m.T:g} K on {m.nprocs} rank(s); log "
             f"{workdir / 'md' / 'log.lammps'}", flush=True)
    dump = run_md(config, workdir, meta)
    trust = uncertainty([workdir / "md"], config.monitor, config.pair.bundle)
    plot_uncertainty([workdir / "md"], trust, m.dt, workdir / "uncertainty.png")
    if until == "md":
        return {"workdir": str(workdir), "trajectory": str(dump), "uncertainty": trust}

    a = config.analysis
    if not (workdir / "vib.json").exists():
        result = analyse(read_trajectory(dump), a.flake, a.rigid, a.blocks, a.bin, a.lattice_constant)
        result["inputs"] = {"structure": config.structure.builder, "builder_args": config.structure.args,
                            "pair": config.pair.style, "model": config.pair.model, "bundle": config.pair.bundle,
                            "md": vars(m)}
        result["uncertainty"] = trust
        write_results(result, workdir / "vib.json", workdir / "vib.png")
    vib = json.loads((workdir / "vib.json").read_text())
    progress(f"analysis: RMS amplitude {vib['rms_amplitude_A']:.4f} A (interior "
             f"{vib['interior_rms_amplitude_A']:.4f} A); {describe_edge(vib)}; {describe(trust)}", flush=True)
    summary = {"workdir": str(workdir), "atoms": meta["natoms"], "flake_atoms": vib["atoms"],
               **{k: vib[k] for k in ("msd_A2", "msd_err_A2", "rms_amplitude_A", "interior_rms_amplitude_A",
                                      "falloff_A", "falloff_lattice_constants", "decay_length_A", "decay_length_err_A",
                                      "decay_length_lattice_constants") if k in vib},
               "uncertainty": trust}
    if until == "analysis":
        return summary

    t = config.tem
    if t.enabled:
        if not (workdir / "tem" / "tem.json").exists():
            traj = read_trajectory(dump)
            fixed = np.zeros(len(traj.symbols), dtype=bool)
            fixed[np.asarray(meta["fixed_ids"], dtype=int) - 1] = True    # the dump is sorted by id
            result, images = tem(traj, a.flake, t.microscope, t.snapshots, t.seed, t.align,
                                 t.max_repetitions, a.bin, progress=progress, fixed=fixed)
            result["uncertainty"] = trust    # the frozen phonons are MD snapshots
            write_tem(result, images, workdir / "tem")
        image = json.loads((workdir / "tem" / "tem.json").read_text())
        summary["column_contrast"] = image["mean_column_contrast"]
        c = image["mean_column_contrast"]
        progress(f"tem: column contrast static {c['static']:.4f}, MD {c['md']:.4f}, "
                 f"Einstein {c['einstein']:.4f}", flush=True)
    summary["wall_s"] = time.time() - t_start
    write_json(workdir / "vibrations.json", summary)
    return summary
