"""Stability at 300 K of the science chains driven by model bundles from active learning.

    .venv/bin/python benchmarks/production_stability.py [--au-tio2 runs/bundles/au_tio2]
        [--mos2 runs/bundles/mos2] [--out runs/stability] [--scale 0.2] [--seeds 2]

Runs `ennp heat run python/ennp/heat/example_ennp.yaml` and `ennp vibrations run
python/ennp/vibrations/example_ennp.yaml` as shipped (300 K, monitoring every 100 steps), with
the bundle paths given here, every run length times --scale and the first --seeds NEMD seeds
(the examples' full lengths take hours on 2 cores), then reads what a user would look at to decide whether the run can be
trusted:
  - the uncertainty block of steady.json, transient.json and vib.json (verdict, max_devi_f);
  - the temperatures (steady state: particle and surface; vibrations: the thermo's mean and
    spread over the sampled part);
  - the training-domain warnings of pair_style ennp in every LAMMPS log, and LAMMPS errors;
  - the smallest interatomic distance over the dumped frames (the monitored frames' deviation
    dumps and the trajectories) next to the bundle's training minimum of that pair.
Prints a Markdown table and writes OUT/stability.json. A chain that fails is reported with the
end of its output.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENNP = str(Path(sys.executable).with_name("ennp"))
DOMAIN = re.compile(r"WARNING: pair_style ennp: atoms (\d+) \((\w+)\) and (\d+) \((\w+)\) are ([\d.]+) A apart "
                    r"at step (\d+)")


def scaled(config: dict, keys: list[str], scale: float, floor: int) -> None:
    """Multiply the run lengths at dotted ``keys`` by ``scale`` (not below ``floor``)."""
    for dotted in keys:
        *parents, key = dotted.split(".")
        node = config
        for p in parents:
            node = node[p]
        node[key] = max(floor, int(round(node[key] * scale / 100)) * 100)


def run_chain(chain: str, bundle: Path, out: Path, scale: float, seeds: int) -> dict:
    config = yaml.safe_load((ROOT / "python" / "ennp" / chain / "example_ennp.yaml").read_text())
    config["pair"]["bundle"] = str(bundle.resolve())
    if chain == "heat":
        scaled(config, ["nemd.steady.steps_eq", "nemd.steady.steps", "nemd.transient.steps_eq",
                        "nemd.transient.steps_heat", "nemd.transient.steps"], scale, 1000)
        config["nemd"]["seeds"] = config["nemd"]["seeds"][:seeds]
        config["nemd"]["min_steps"] = min(config["nemd"]["min_steps"], config["nemd"]["steady"]["steps"])
        config["nemd"]["transient"]["vel_frames"] = min(config["nemd"]["transient"]["vel_frames"],
                                                        config["nemd"]["transient"]["steps"] // 10)
    else:
        scaled(config, ["md.steps_eq", "md.steps"], scale, 1000)
        config["tem"]["snapshots"] = max(2, int(config["tem"]["snapshots"] * scale))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{chain}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    t0 = time.time()
    proc = subprocess.run([ENNP, chain, "run", str(path), "--out", str(out / chain)], capture_output=True, text=True)
    return {"config": str(path), "seconds": round(time.time() - t0), "returncode": proc.returncode,
            "output_tail": (proc.stdout + proc.stderr)[-3000:]}


def domain_warnings(folder: Path) -> list[dict]:
    found = []
    for log in sorted(folder.rglob("log*.lammps")):
        for m in DOMAIN.finditer(log.read_text(errors="replace")):
            found.append({"log": str(log.relative_to(folder)), "atoms": [int(m[1]), int(m[3])],
                          "pair": f"{m[2]}-{m[4]}", "distance_A": float(m[5]), "step": int(m[6])})
    return found


def closest_pairs(folder: Path, species: list[str], training_min: dict) -> dict:
    """Per element pair, the smallest distance over every dumped frame under ``folder`` (periodic
    images included), with the training minimum of that pair."""
    from ase.neighborlist import neighbor_list

    from ennp.lammps.outputs import dump_to_atoms

    smallest: dict[str, float] = {}
    for dump in sorted(folder.rglob("*.dump")):
        try:
            frames = dump_to_atoms(dump, species)
        except ValueError:    # a dump without positions (velocities)
            continue
        for atoms in frames:
            i, j, d = neighbor_list("ijd", atoms, 3.0)
            sym = np.array(atoms.get_chemical_symbols())
            for a, b, dist in zip(sym[i], sym[j], d):
                key = "-".join(sorted((a, b), key=species.index))
                smallest[key] = min(smallest.get(key, np.inf), float(dist))
    return {k: {"smallest_A": round(v, 3), "training_min_A": training_min.get(k)} for k, v in sorted(smallest.items())}


def heat_figures(work: Path) -> dict:
    out = {}
    for method in ("steady", "transient"):
        path = work / f"{method}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        u = r["uncertainty"]
        out[method] = {"G_MW_m2K": r["G_MW_m2K"], "G_err_MW_m2K": r["G_err_MW_m2K"],
                       "T_interface_K": r["T_interface_K"], "verdict": u.get("verdict"),
                       "max_devi_f_max": u.get("max_devi_f_max"), "max_devi_f_p95": u.get("max_devi_f_p95"),
                       "fraction_above_lo": u.get("fraction_above_lo"), "frames": u.get("frames")}
        if method == "steady":
            out[method]["T_particle_K"] = [s["T_particle_K"] for s in r["seeds"]]
            out[method]["T_surface_K"] = [s["T_surface_K"] for s in r["seeds"]]
    return out


def vib_figures(work: Path) -> dict:
    from ennp.lammps.outputs import read_thermo

    r = json.loads((work / "vib.json").read_text())
    u = r["uncertainty"]
    temps = [t["Temp"] for t in read_thermo(work / "md" / "log.lammps") if "Temp" in t][-1]    # the sampled run
    return {"verdict": u.get("verdict"), "max_devi_f_max": u.get("max_devi_f_max"),
            "max_devi_f_p95": u.get("max_devi_f_p95"), "fraction_above_lo": u.get("fraction_above_lo"),
            "frames": u.get("frames"), "T_mean_K": float(temps.mean()), "T_std_K": float(temps.std()),
            "decay_length_A": r.get("decay_length_A")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--au-tio2", type=Path, default=ROOT / "runs" / "bundles" / "au_tio2")
    p.add_argument("--mos2", type=Path, default=ROOT / "runs" / "bundles" / "mos2")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "stability")
    p.add_argument("--scale", type=float, default=0.2, help="run lengths times this (default 0.2)")
    p.add_argument("--seeds", type=int, default=2, help="NEMD seeds of the heat example to run (default 2)")
    p.add_argument("--only", choices=["heat", "vibrations"], help="one chain only")
    args = p.parse_args(argv)
    results = {"scale": args.scale}
    for chain, bundle in (("heat", args.au_tio2), ("vibrations", args.mos2)):
        if args.only and chain != args.only:
            continue
        meta = yaml.safe_load((bundle / "bundle.yaml").read_text())
        print(f"{chain}: bundle {bundle} (generation {meta.get('generation')}, "
              f"test force RMSE {meta.get('test', {}).get('ensemble_force_rmse')})", flush=True)
        r = run_chain(chain, bundle, args.out, args.scale, args.seeds)
        work = args.out / chain
        r["bundle"] = {"path": str(bundle), "generation": meta.get("generation"), "test": meta.get("test"),
                       "trust": meta.get("trust")}
        r["domain_warnings"] = domain_warnings(work)
        r["closest_pairs"] = closest_pairs(work, meta["species"], meta.get("training_domain", {}).get("min_distance_A", {}))
        if r["returncode"] == 0:
            r["figures"] = heat_figures(work) if chain == "heat" else vib_figures(work)
        results[chain] = r
        print(json.dumps({k: v for k, v in r.items() if k != "output_tail"}, indent=1), flush=True)
        if r["returncode"]:
            print(r["output_tail"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stability.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'stability.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
