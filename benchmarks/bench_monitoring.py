"""Benchmark of monitoring: production MD (lammps_inputs/production.in through
ennp.lammps.production.run_production, as `ennp md` runs it) with and without a K-member
bundle watching it. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_monitoring.py [--sizes 10000,100000] [--nprocs 2] [--members 4]

MoS2 flakes on bilayer graphite of ~1e4 and ~1e5 atoms, pair_style ennp with member 0 (tiny
Mo/S/C models of bench_vib.py's architecture, float32, seeds 0..K-1), on --nprocs ranks, each
case in a fresh process:
  bare     : the run without monitoring
  monitored: the same run with compute ennp/ensemble over the K members and the deviation
             dump every `every` steps (the include of ennp.lammps.monitor)
The monitored run evaluates the ensemble at step 0 and every `every` steps after; the dump asks
for it, so LAMMPS books its time under "Output" in the run's timing breakdown. One evaluation =
(that Output less the bare run's, the trajectory's own) / evaluations; one MD step = (loop -
Output) / steps of the same run; monitoring every 100 steps costs 1 + evaluation / (100 x step).
Taken within one run, this is immune to the speed drift of this VM between runs (up to ~10%
here); the ratio of the two runs' loop times is printed too, with that noise in it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def members(k: int) -> list[Path]:
    """K tiny Mo/S/C models that differ in their seed (one compile, the rest swapped)."""
    sys.path.insert(0, str(BENCH))
    import numpy as np
    from bench_vib import SPECIES

    from ennp.al.dataset import perturbed_copies
    from ennp.builders.mos2 import mos2_on_graphite
    from ennp.label.universal import UniversalSettings, label_universal
    from ennp.train.nequip_config import ModelSettings
    from ennp.train.tiny_model import tiny_model

    small = mos2_on_graphite(10, layers=2, margin=3, vacuum=8, fixed=False)
    frames = perturbed_copies(small, "bench", 16, 0.05, 0.02, np.random.default_rng(0))
    frames = [label_universal(a, UniversalSettings()) for a in frames]
    s = ModelSettings(type_names=SPECIES, r_max=4.5, num_layers=2, l_max=1, num_features=16,
                      model_dtype="float32")
    return [tiny_model(frames, dataclasses.replace(s, seed=s.seed + i), max_epochs=5,
                       name="mos2_c_tiny")["deployed"] for i in range(k)]


def case(target: int, nprocs: int, monitored: bool, steps: int, every: int, k: int) -> dict:
    """One run in this (fresh) process; returns its figures."""
    sys.path.insert(0, str(BENCH))
    import shutil

    import yaml
    from bench_vib import SPECIES, flake_on_graphite

    from ennp.config import MonitorSpec
    from ennp.lammps.data_file import fixed_height, write_structure
    from ennp.lammps.monitor import write_monitor_file
    from ennp.lammps.outputs import read_loop_time, read_model_devi, read_task_timing
    from ennp.lammps.production import ProductionSettings, run_production
    from ennp.vibrations.potentials import write_vib_pair_file

    models = members(k)
    atoms = flake_on_graphite(target)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = tmp / "bundle"
        bundle.mkdir()
        for i, m in enumerate(models):
            shutil.copyfile(m, bundle / f"m{i}.nequip.pt2")
        (bundle / "bundle.yaml").write_text(yaml.safe_dump(
            {"species": list(SPECIES), "members": [f"m{i}.nequip.pt2" for i in range(k)]}))
        write_structure(atoms, SPECIES, tmp / "s.data")
        write_vib_pair_file("ennp", SPECIES, tmp / "pair.in", model=str(bundle / "m0.nequip.pt2"))
        monitor = MonitorSpec(every=every, trust_lo=0.05, trust_hi=0.15) if monitored else None
        write_monitor_file(tmp / "monitor.in", bundle, monitor, SPECIES)
        s = ProductionSettings(steps=steps, every_thermo=steps, every_dump=steps, every_restart=steps,
                               nprocs=nprocs)
        run_production(tmp / "run", tmp / "s.data", tmp / "pair.in", SPECIES, s, fixed_height(atoms),
                       progress=lambda *a, **kw: None, monitor_file=tmp / "monitor.in")
        log = tmp / "run" / "log.0.lammps"
        evaluations = len(read_model_devi(tmp / "run" / "model_devi.out")["step"]) if monitored else 0
        return {"atoms": len(atoms), "loop_s": read_loop_time(log),
                "output_s": read_task_timing(log, "Output")["seconds"],
                "evaluations": evaluations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="system sizes (atoms)")
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--case", nargs=6, help=argparse.SUPPRESS)    # target nprocs monitored steps every k
    args = parser.parse_args()
    if args.case:
        target, nprocs, monitored, steps, every, k = args.case
        print(json.dumps(case(int(target), int(nprocs), monitored == "1", int(steps), int(every), int(k))))
        return
    members(args.members)    # train and deploy once, before any timing

    def run(target, monitored, steps, every):
        proc = subprocess.run([sys.executable, __file__, "--case", str(target), str(args.nprocs),
                               "1" if monitored else "0", str(steps), str(every), str(args.members)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"production.in with / without monitoring by K = {args.members} members (tiny Mo/S/C models), "
          f"{args.nprocs} MPI ranks")
    print("| atoms | steps | evaluations | MD step (s) | one ensemble evaluation (s) | evaluation / step | "
          "monitored every 100 / bare | loop monitored / bare (two runs) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for target in (int(s) for s in args.sizes.split(",")):
        steps, every = (200, 100) if target < 50000 else (20, 10)
        bare, mon = run(target, False, steps, every), run(target, True, steps, every)
        evaluation = (mon["output_s"] - bare["output_s"]) / mon["evaluations"]    # less the trajectory's own output
        step = (mon["loop_s"] - mon["output_s"]) / steps
        print(f"| {mon['atoms']:,} | {steps} | {mon['evaluations']} | {step:.4f} | {evaluation:.3f} | "
              f"{evaluation / step:.2f} | {1 + evaluation / (100 * step):.3f} | "
              f"{mon['loop_s'] / bare['loop_s']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
