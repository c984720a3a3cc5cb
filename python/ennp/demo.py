"""The demo (active learning) and a smaller MD demo, on data ennp makes itself.

The demo (:func:`run_al_demo`, ``ennp demo``): the active-learning loop of
``ennp al`` with ``al/example.yaml`` (Au/TiO2, SevenNet-0 as stand-in for DFT),
ending with its report.

MD demo (:func:`run_demo`, ``ennp demo --nve``):
1. label rattled fcc Au cells with ASE's EMT (a stand-in for DFT);
2. train a tiny NequIP model with nequip-train and deploy it (cached);
3. run NVE MD in MPI-parallel LAMMPS with pair_style ennp;
4. report energy drift and speed as JSON and a plot.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import lammps_inputs
from .lammps.outputs import read_loop_time, read_thermo
from .lammps.run import run_lammps
from .train.datasets import rattled_au
from .train.nequip_config import ModelSettings
from .train.tiny_model import tiny_model


def run_al_demo(workdir: str | Path) -> dict:
    """``ennp al init`` (once) + ``ennp al run`` + ``ennp al report`` on the example config."""
    from .al import loop
    from .al.report import write_report

    workdir = Path(workdir)
    if not (workdir / "state.json").exists():
        loop.init_run(Path(__file__).parent / "al" / "example.yaml", workdir)
    t0 = time.time()
    finished = loop.run(workdir)
    paths = write_report(workdir)
    print(loop.status(workdir))
    print(f"{finished['reason']} after {time.time() - t0:.0f} s; report {paths['png']}, {paths['json']}")
    return finished


def energy_drift(time_ps: np.ndarray, etotal: np.ndarray, natoms: int) -> dict:
    """Linear drift (eV/atom/ps) and largest excursion (eV/atom) of the total energy."""
    if len(time_ps) < 2:
        raise ValueError("need at least two thermo rows to measure a drift")
    e = (etotal - etotal[0]) / natoms
    slope = float(np.polyfit(time_ps - time_ps[0], e, 1)[0])
    return {"drift_eV_per_atom_ps": slope, "max_deviation_eV_per_atom": float(np.abs(e).max())}


def demo_model() -> dict[str, Path]:
    """The tiny float32 Au model of the MD demo (EMT labels), cached."""
    settings = ModelSettings(type_names=("Au",), r_max=4.5, num_layers=2, l_max=1,
                             num_features=16, model_dtype="float32")
    return tiny_model(rattled_au(num_frames=50), settings, max_epochs=10, name="au_tiny")


def run_demo(workdir: str | Path = "runs/demo", *, nprocs: int = 2, steps: int = 1000,
             repeat: int = 6) -> dict:
    if nprocs < 1 or steps < 2 or repeat < 2:
        raise ValueError(f"need --np >= 1, --steps >= 2 and --repeat >= 2 "
                         f"(got {nprocs}, {steps}, {repeat})")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print("[1/3] training data + tiny NequIP model (cached after the first run) ...", flush=True)
    t0 = time.time()
    model = demo_model()
    t_model = time.time() - t0
    print(f"      model: {model['deployed']} ({t_model:.0f} s)", flush=True)

    natoms = 4 * repeat**3
    print(f"[2/3] NVE MD: {natoms} Au atoms, {steps} steps, {nprocs} MPI ranks ...", flush=True)
    t0 = time.time()
    run_lammps(lammps_inputs() / "nve_fcc.in", workdir, nprocs=nprocs, log="log.lammps",
               variables={"model": model["deployed"], "element": "Au", "a": 4.08,
                          "mass": 196.967, "n": repeat, "T": 600, "steps": steps,
                          "thermo": max(steps // 100, 1)})
    wall = time.time() - t0
    thermo = read_thermo(workdir / "log.lammps")[-1]
    drift = energy_drift(thermo["Time"], thermo["TotEng"], natoms)
    loop = read_loop_time(workdir / "log.lammps")
    result = {
        "natoms": natoms, "steps": steps, "mpi_ranks": nprocs,
        "model": str(model["deployed"]), "model_seconds": round(t_model, 1),
        "md_wall_seconds": round(wall, 2), "loop_seconds": loop,
        "atom_steps_per_s": natoms * steps / loop,
        "mean_temperature_K": float(thermo["Temp"][len(thermo["Temp"]) // 2:].mean()),
        **drift,
    }
    (workdir / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    _plot(thermo, natoms, workdir / "demo_energy.png")
    print("[3/3] results:", flush=True)
    print(f"      energy drift {drift['drift_eV_per_atom_ps']:+.2e} eV/atom/ps, "
          f"max |dE| {drift['max_deviation_eV_per_atom']:.2e} eV/atom, "
          f"<T> {result['mean_temperature_K']:.0f} K")
    print(f"      speed {result['atom_steps_per_s']:.0f} atom-steps/s on {nprocs} ranks")
    print(f"      wrote {workdir / 'demo.json'} and {workdir / 'demo_energy.png'}")
    return result


def _plot(thermo: dict, natoms: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    t = thermo["Time"]
    for col, label in (("TotEng", "total"), ("PotEng", "potential")):
        ax.plot(t, (thermo[col] - thermo[col][0]) / natoms * 1e3, label=label)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E - E(0) (meV/atom)")
    ax.set_title("NVE with pair_style ennp")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
