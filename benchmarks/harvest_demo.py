"""The closed loop of harvesting, demonstrated with the embedded labeller (SevenNet-0 as the
stand-in for DFT), through the CLI as a user runs it:

  1. ennp al: a 3-member ensemble trained only on bulk Au, bulk rutile and a clean rutile(110)
     slab (one generation; its exploration runs on those structures only);
  2. ennp md with that bundle: a 10,888-atom Au particle (5 nm, hemisphere) on rutile(110),
     300 K, monitored every 20 steps;
  3. ennp al harvest: <= 150-atom pieces (3 A core) around the atoms the ensemble doubts, labelled;
  4. ennp al run: the next generation trains on them (core forces only);
  5. ennp md again, same system, seed and steps, with the new bundle.

Printed and written to OUT/harvest_demo.json: per run the fraction of atoms with eps_i >=
trust_lo over all monitored frames, the largest max_devi_f, which atoms are flagged (interface
= Au within 3.5 A of an oxide atom, or Ti/O within 3.5 A of Au; particle surface = Au with
< 10 Au neighbours within 3.2 A), and the core-force RMSE of each generation's ensemble mean
on the held-out harvested pieces.

    .venv/bin/python benchmarks/harvest_demo.py [--out runs/harvest_demo] [--steps 200] [--nprocs 2]
        [--interface-cells]

Resumable: every step is an ennp command that resumes; rerun the same line after a kill.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ENNP = str(Path(sys.executable).with_name("ennp"))
TRUST = {"lo": 0.1, "hi": 0.5}

AL = {
    "species": ["Au", "Ti", "O"],
    "structures": [
        {"name": "au_bulk", "builder": "au_fcc", "args": {"repeat": [2, 2, 2]}},
        {"name": "rutile_bulk", "builder": "rutile", "args": {"repeat": [2, 2, 3]}},
        {"name": "rutile_slab", "builder": "rutile_110_slab", "args": {"repeat": [2, 3], "layers": 3}},
    ],
    "label": {"labeller": "sevennet"},
    "initial": {"copies": 8, "rattle": 0.05, "strain": 0.02, "test_copies": 2, "test_rattle": 0.08, "seed": 0},
    "ensemble": {"size": 3, "seed": 0},
    "training": {"model": {"r_max": 4.5, "num_layers": 2, "l_max": 1, "num_features": 16},
                 "max_epochs": 120, "batch_size": 4, "warm_start": True},
    "exploration": {"temperatures": [300], "steps": 200, "every": 20, "dt": 0.002},
    "trust": TRUST,
    "selection": {"max_frames": 2},
    "convergence": {"accurate_fraction": 0.99, "max_generations": 1},
    "harvest": {"max_pieces": 48, "max_atoms": 150, "core": 3.0, "test_fraction": 0.25},
    "backend": {"kind": "local", "workers": 2},
}
PARTICLE = {"builder": "particle_on_slab",
            "args": {"diameter": 50, "substrate": "rutile110", "layers": 4, "fixed": 1, "cut": "hemisphere",
                     "lateral": 80}}


def ennp(*args) -> None:
    t0 = time.monotonic()
    print("$ ennp " + " ".join(map(str, args)), flush=True)
    subprocess.run([ENNP, *map(str, args)], check=True)
    print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)


def md(out: Path, name: str, bundle: Path, steps: int, nprocs: int) -> Path:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    config = {"species": ["Au", "Ti", "O"], "structure": PARTICLE,
              "pair": {"style": "ennp", "bundle": str(bundle.resolve())},
              "monitor": {"every": 20},
              "md": {"T": 300, "dt": 0.001, "steps": steps, "every_thermo": 20, "every_dump": steps,
                     "every_restart": steps, "nprocs": nprocs}}
    (folder / "md.yaml").write_text(yaml.safe_dump(config))
    ennp("md", "run", folder / "md.yaml", "--out", folder / "out")
    return folder / "out"


def flagged(run: Path, trust_lo: float) -> dict:
    """Fractions of atoms at eps_i >= trust_lo over the monitored frames, by site."""
    from ase.neighborlist import neighbor_list

    from ennp.lammps.outputs import dump_frames, frame_to_atoms

    eps_all, sites_all, maxf = [], [], []
    for frame in dump_frames(run / "run" / "devi.dump"):
        atoms = frame_to_atoms(run, frame, None, pbc=None)
        eps = np.asarray(frame["c_ennp_devi[1]"])
        z = atoms.get_chemical_symbols()
        au = np.array([s == "Au" for s in z])
        i, j = neighbor_list("ij", atoms, 3.5)
        cross = au[i] != au[j]
        interface = np.zeros(len(atoms), bool)
        interface[i[cross]] = True
        i, j = neighbor_list("ij", atoms, 3.2)
        au_nb = np.bincount(i[au[i] & au[j]], minlength=len(atoms))
        surface = au & (au_nb < 10) & ~interface
        site = np.where(interface, "interface", np.where(surface, "particle surface",
                                                         np.where(au, "particle bulk", "oxide")))
        eps_all.append(eps)
        sites_all.append(site)
        maxf.append(eps.max())
    eps, site = np.concatenate(eps_all), np.concatenate(sites_all)
    doubtful = eps >= trust_lo
    return {"frames": len(maxf), "atoms": int(len(eps) / len(maxf)),
            "fraction_at_or_above_trust_lo": float(doubtful.mean()),
            "max_devi_f_max": float(max(maxf)), "max_devi_f_mean": float(np.mean(maxf)),
            "by_site": {s: {"atoms": int((site == s).sum() / len(maxf)),
                            "fraction_at_or_above_trust_lo": float(doubtful[site == s].mean())}
                        for s in ("interface", "particle surface", "particle bulk", "oxide")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/harvest_demo")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--nprocs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=AL["training"]["max_epochs"], help="training epochs per generation")
    ap.add_argument("--pieces", type=int, default=AL["harvest"]["max_pieces"], help="pieces per harvest")
    ap.add_argument("--core", type=float, default=AL["harvest"]["core"],
                    help="core radius (A) of a piece: 3 A (the first shell) leaves room for a buffer within 150 "
                         "atoms; the models' r_max (4.5 A) shrinks the buffer to ~3 A and its core labels feel "
                         "the piece's surface")
    ap.add_argument("--interface-cells", action="store_true",
                    help="generation 0 also trains on 28-atom Au4-on-rutile cells: without any interface the "
                         "ensemble breaks down on the particle (eps_i above trust_hi), and there is nothing "
                         "harvest may label")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "al"
    t0 = time.monotonic()
    if not (work / "state.json").exists():
        config = json.loads(json.dumps(AL))
        config["training"]["max_epochs"] = args.epochs
        config["harvest"]["max_pieces"] = args.pieces
        config["harvest"]["core"] = args.core
        if args.interface_cells:
            config["structures"].append({"name": "au4_on_rutile", "builder": "au_on_rutile",
                                         "args": {"repeat": [1, 2], "layers": 2}})
        (out / "al.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        ennp("al", "init", out / "al.yaml", work)
    ennp("al", "run", work)
    ennp("al", "export", work, out / "bundle_gen0", "--generation", 0)
    before = md(out, "md_gen0", out / "bundle_gen0", args.steps, args.nprocs)
    ennp("al", "harvest", before, "--into", work)
    ennp("al", "run", work)
    ennp("al", "export", work, out / "bundle_gen1", "--generation", 1)
    after = md(out, "md_gen1", out / "bundle_gen1", args.steps, args.nprocs)

    from ennp.al.pieces import harvest_records
    from ennp.al.state import State

    record = harvest_records(work, 0)[0]
    gen1 = State(work).done(1, "train")["test"]
    result = {"trust": TRUST, "steps": args.steps, "nprocs": args.nprocs,
              "harvest": {k: record[k] for k in ("pieces", "labelled", "failed", "held_out", "trust_lo",
                                                 "r_core_A", "r_buffer_A")},
              "core_force_rmse_held_out": {"gen0": record["core_force_rmse_before"],
                                           "gen1": gen1["harvest"]["core_force_rmse"]},
              "test_force_rmse": {"gen0": State(work).done(0, "train")["test"]["ensemble_force_rmse"],
                                  "gen1": gen1["ensemble_force_rmse"]},
              "before": flagged(before, TRUST["lo"]), "after": flagged(after, TRUST["lo"]),
              "seconds": time.monotonic() - t0}
    (out / "harvest_demo.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
