"""Benchmark of the vibration chain. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_vib.py [--quick] [--sizes 10000,100000] [--skip-md]

tem : wall time and peak memory (RSS of a fresh process) of one HR-TEM image
      (ennp.vibrations.tem.simulate) per snapshot, for MoS2 flakes on bilayer graphite of
      ~1e3 and ~1e4 atoms at pixel sizes 0.1 and 0.05 A (4 rattled snapshots averaged);
      ratios to the smallest case.
md  : atom-steps/s of lammps_inputs/vib_md.in (sampling part, positions dumped) with
      pair_style ennp, MoS2 flakes on bilayer graphite at ~1e4 and ~1e5 atoms, 1 and 2 MPI
      ranks; ratio 2 ranks / 1 rank.
The model: a tiny NequIP model (2 layers, l_max 1, 16 features, float32) for Mo, S, C, trained
on SevenNet-0-labelled rattled copies of a small flake on graphite, cached ($ENNP_CACHE_DIR).
Throughput does not depend on the weights; the MD runs are short (no minimisation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import ennp
from ennp.lammps.data_file import write_structure
from ennp.builders.mos2 import mos2_on_graphite
from ennp.lammps.outputs import read_loop_time
from ennp.lammps.run import run_lammps
from ennp.lammps.data_file import fixed_height
from ennp.vibrations.potentials import write_vib_pair_file

SPECIES = ("Mo", "S", "C")

# one image in a fresh interpreter: seconds and peak RSS (MiB) of the multislice alone
TEM_CHILD = """
import json, resource, sys, time
import ase.io, abtem
from ennp.vibrations.tem import Microscope, simulate
frames = ase.io.read(sys.argv[1], index=":")
mic = Microscope(sampling_A=float(sys.argv[2]))
simulate(frames[0], Microscope(sampling_A=1.0))     # imports and first-call set-up, not timed
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
simulate(abtem.AtomsEnsemble(frames), mic)
print(json.dumps({"s": time.perf_counter() - t, "peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "base_MiB": base}))
"""


def flake_on_graphite(target: int):
    """A triangular MoS2 flake on bilayer graphite with about ``target`` atoms in all."""
    low, high = 5.0, 1000.0
    for _ in range(30):
        size = (low + high) / 2
        atoms = mos2_on_graphite(size, layers=2, margin=max(10.0, 0.1 * size))
        low, high = (size, high) if len(atoms) < target else (low, size)
    return atoms


def mos2_carbon_model() -> Path:
    from ennp.al.dataset import perturbed_copies
    from ennp.label.universal import UniversalSettings, label_universal
    from ennp.train.nequip_config import ModelSettings
    from ennp.train.tiny_model import tiny_model

    small = mos2_on_graphite(10, layers=2, margin=3, vacuum=8, fixed=False)
    frames = perturbed_copies(small, "bench", 16, 0.05, 0.02, np.random.default_rng(0))
    frames = [label_universal(a, UniversalSettings()) for a in frames]
    s = ModelSettings(type_names=SPECIES, r_max=4.5, num_layers=2, l_max=1, num_features=16,
                      model_dtype="float32")
    return tiny_model(frames, s, max_epochs=5, name="mos2_c_tiny")["deployed"]


def tem_cost(atoms, sampling: float, folder: Path, snapshots: int = 4) -> dict:
    import ase.io

    rng = np.random.default_rng(1)
    frames = []
    for _ in range(snapshots):
        a = atoms.copy()
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        frames.append(a)
    ase.io.write(folder / "frames.extxyz", frames)
    out = subprocess.run([sys.executable, "-c", TEM_CHILD, str(folder / "frames.extxyz"), str(sampling)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"s_per_snapshot": r["s"] / snapshots, "peak_MiB": r["peak_MiB"], "base_MiB": r["base_MiB"]}


def md_rate(atoms, folder: Path, model: Path, nprocs: int, steps: int) -> float:
    write_structure(atoms, SPECIES, folder / "s.data")
    write_vib_pair_file("ennp", SPECIES, folder / "pair.in", model=str(model))
    run_lammps(ennp.lammps_inputs() / "vib_md.in", folder / f"np{nprocs}", nprocs=nprocs, variables={
        "data": folder / "s.data", "pair_file": folder / "pair.in", "species": " ".join(SPECIES),
        "z_fixed": fixed_height(atoms), "T": 300, "min_steps": 0, "steps_eq": 0, "steps": steps,
        "every": steps})
    return len(atoms) * steps / read_loop_time(folder / f"np{nprocs}" / "log.lammps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smallest TEM case and 1e4-atom MD only")
    parser.add_argument("--sizes", default="10000,100000", help="MD system sizes (atoms)")
    parser.add_argument("--skip-md", action="store_true")
    args = parser.parse_args()

    cases = [(1000, 0.1)] if args.quick else [(1000, 0.1), (1000, 0.05), (10000, 0.1), (10000, 0.05)]
    print("| atoms | pixel (A) | s per snapshot | peak RSS (MiB) | time / smallest | memory above start / smallest |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    first = None
    for target, sampling in cases:
        with tempfile.TemporaryDirectory() as tmp:
            atoms = flake_on_graphite(target)
            r = tem_cost(atoms, sampling, Path(tmp))
            first = first or r
            grow = (r["peak_MiB"] - r["base_MiB"]) / max(first["peak_MiB"] - first["base_MiB"], 1.0)
            print(f"| {len(atoms):,} | {sampling} | {r['s_per_snapshot']:.2f} | {r['peak_MiB']:.0f} | "
                  f"{r['s_per_snapshot'] / first['s_per_snapshot']:.1f} | {grow:.1f} |", flush=True)
    if args.skip_md:
        return
    model = mos2_carbon_model()
    sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    print("\n| atoms | 1 rank (atom-steps/s) | 2 ranks (atom-steps/s) | 2 ranks / 1 rank |")
    print("| ---: | ---: | ---: | ---: |")
    for target in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            atoms = flake_on_graphite(target)
            steps = 50 if len(atoms) < 50000 else 20
            one = md_rate(atoms, Path(tmp), model, 1, steps)
            two = md_rate(atoms, Path(tmp), model, 2, steps)
            print(f"| {len(atoms):,} | {one:,.0f} | {two:,.0f} | {two / one:.2f} |", flush=True)


if __name__ == "__main__":
    main()
