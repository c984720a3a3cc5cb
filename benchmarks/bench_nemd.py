"""Benchmark of the NEMD input with pair_style ennp. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_nemd.py [--quick] [--sizes 10000,100000] [--chain]

nemd  : atom-steps/s of lammps_inputs/nemd_steady.in (baths, temperature computes and
        profile included) with pair_style ennp, Au hemisphere on rutile (110) at ~1e4 and
        ~1e5 atoms, 1 and 2 MPI ranks; ratio 2 ranks / 1 rank.
chain : wall time of `ennp heat` on python/ennp/heat/example.yaml (classical stand-in).
The model: a tiny NequIP model (2 layers, l_max 1, 16 features, float32) for Ti, O, Au,
trained on SevenNet-0-labelled rattled Au4 on rutile (110) frames, cached ($ENNP_CACHE_DIR).
Throughput does not depend on the weights; the runs are short (100 steps, no minimisation).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ennp
from ennp.builders.interface import particle_on_slab
from ennp.lammps.data_file import write_structure
from ennp.heat.nemd import NemdSettings, Steady, layout, variables
from ennp.lammps.pair_file import write_pair_file
from ennp.lammps.outputs import read_loop_time
from ennp.lammps.run import run_lammps

SPECIES = ("Ti", "O", "Au")


def au_tio2_model() -> Path:
    from ennp.al.dataset import perturbed_copies
    from ennp.builders.interface import au_on_rutile
    from ennp.label.universal import UniversalSettings, label_universal
    from ennp.train.nequip_config import ModelSettings
    from ennp.train.tiny_model import tiny_model

    frames = perturbed_copies(au_on_rutile(), "bench", 16, 0.05, 0.02, np.random.default_rng(0))
    frames = [label_universal(a, UniversalSettings()) for a in frames]
    s = ModelSettings(type_names=SPECIES, r_max=4.5, num_layers=2, l_max=1, num_features=16,
                      model_dtype="float32")
    return tiny_model(frames, s, max_epochs=5, name="au_tio2_tiny")["deployed"]


def structure(target: int, folder: Path):
    """A Au hemisphere on a 4-layer rutile (110) slab with about ``target`` atoms."""
    lateral = (target / (4 * 0.3125)) ** 0.5    # rutile (110): 0.3125 atoms/A^2 per trilayer
    atoms = particle_on_slab(min(60.0, lateral / 2), layers=4, fixed=1, cut="hemisphere", lateral=lateral)
    write_structure(atoms, SPECIES, folder / "s.data")
    return atoms


def nemd_rate(atoms, folder: Path, model: Path, nprocs: int, steps: int) -> float:
    settings = NemdSettings(dt=0.0005, steady=Steady(steps_eq=0, steps=steps))
    pair = write_pair_file("ennp", SPECIES, folder / "pair.in", model=str(model))
    v = variables("steady", settings, layout(atoms), 1, folder / "s.data", pair)
    run_lammps(ennp.lammps_inputs() / "nemd_steady.in", folder / f"np{nprocs}", nprocs=nprocs,
               variables={**v, "min_steps": 0, "every": steps})
    return len(atoms) * steps / read_loop_time(folder / f"np{nprocs}" / "log.lammps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1e4 atoms only, no chain")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--chain", action="store_true", help="also time the example chain")
    args = parser.parse_args()
    model = au_tio2_model()
    sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    print("| atoms | 1 rank (atom-steps/s) | 2 ranks (atom-steps/s) | 2 ranks / 1 rank |")
    print("| ---: | ---: | ---: | ---: |")
    for target in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            atoms = structure(target, Path(tmp))
            steps = 100    # the least the steady input takes (its profile averages steps/10 samples)
            one = nemd_rate(atoms, Path(tmp), model, 1, steps)
            two = nemd_rate(atoms, Path(tmp), model, 2, steps)
            print(f"| {len(atoms):,} | {one:,.0f} | {two:,.0f} | {two / one:.2f} |", flush=True)
    if args.chain and not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            subprocess.run([str(Path(sys.executable).with_name("ennp")), "heat", "run",
                            str(Path(ennp.__file__).parent / "heat" / "example.yaml"), "--out", tmp],
                           check=True, capture_output=True)
            print(f"ennp heat run example.yaml (classical stand-in, 718 atoms): {time.time() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
