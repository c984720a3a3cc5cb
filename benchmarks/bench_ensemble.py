"""Benchmarks of compute ennp/ensemble. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_ensemble.py

invocation : (step time with the compute invoked every step - step time without)
             / (K x step time without), ~4k atoms, K = 2 and 4.       goal <= 1.05
cost       : MD step time with the compute invoked every 100 steps / without, K = 4.
                                                                      goal <= 1.05
Members are copies of the tiny Au model (same cost as K different models of that size;
members with equal cutoffs share one neighbour list and graph).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ennp.demo import demo_model
from ennp.lammps.outputs import read_loop_time
from ennp.lammps.run import run_lammps

INPUT = """
units metal
atom_style atomic
lattice fcc 4.08
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 196.967
pair_style ennp {model}
pair_coeff * * Au
{compute}
velocity all create 300 1
fix nve all nve
timestep 0.002
thermo_style custom step pe {thermo_cols}
thermo {thermo}
run {steps}
"""


def step_time(model, n, steps, members=0, thermo=None):
    compute = f"compute dev all ennp/ensemble {' '.join([str(model)] * members)}" if members else ""
    cols = "c_dev[1] c_dev[8]" if members else ""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "in.b").write_text(INPUT.format(n=n, model=model, compute=compute, thermo_cols=cols,
                                                  thermo=thermo or steps, steps=steps))
        run_lammps(Path(tmp, "in.b"), tmp)
        return read_loop_time(Path(tmp, "log.lammps")) / steps


def best(fn, repeats=2):
    return min(fn() for _ in range(repeats))


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    model = demo_model()["deployed"]
    n = 10    # 4,000 atoms
    results = {"natoms": 4 * n**3}
    t_pair = best(lambda: step_time(model, n, 20))
    results["pair_step_s"] = t_pair
    print(f"pair_style ennp alone: {t_pair*1e3:.1f} ms/step ({4*n**3} atoms, 1 rank, 1 thread)")
    for k in (2, 4):
        t_k = best(lambda: step_time(model, n, 10, members=k, thermo=1))
        ratio = (t_k - t_pair) / (k * t_pair)
        results[f"K{k}_invocation_ratio"] = ratio
        print(f"K={k}: step with compute every step {t_k*1e3:.1f} ms -> one invocation = "
              f"{(t_k - t_pair)*1e3:.1f} ms = {ratio:.3f} x (K x pair evaluation)")
    t_100 = best(lambda: step_time(model, n, 300, members=4, thermo=100))
    t_base = best(lambda: step_time(model, n, 300))
    results["K4_every100_over_without"] = t_100 / t_base
    print(f"K=4, compute every 100 steps: {t_100*1e3:.1f} ms/step vs {t_base*1e3:.1f} without "
          f"-> ratio {t_100 / t_base:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
