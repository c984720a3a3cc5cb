"""Benchmarks of compute ennp/ensemble. Prints ratios measured side by side in one run.

    .venv/bin/python benchmarks/bench_ensemble.py [--out figures.json]

~4k atoms of fcc Au, 1 rank, 1 and 2 threads (with 2, the compute runs two members at a time,
one thread each, files or a package's). Members: four of the demo's tiny Au
architecture (float32, r_max 4.5 A, 2 layers, l_max 1, 16 features; seeds 1-4, the members
of bench_deploy.py), each a file of its own, and the same members as ensemble packages
(ennp deploy --ensemble, K = 2 and 4). pair_style ennp runs a copy of member 0 under another
path unless said otherwise, so that the compute cannot take the pair's evaluation.

invocation  : (step time with the compute invoked every step - step time without)
              / (K x step time without), K = 2 and 4:
              files / package                                           goal <= 0.75 at K = 4
              also within one run: the compute's time (booked under Output) / (K x the
              pair's time), which the speed of a VM drifting between runs does not touch;
              and the package driving the pair too (pair_style ennp PACKAGE), so that the
              compute takes member 0 from the pair's evaluation of the step and evaluates
              the K - 1 others, as exploration and monitoring run it
exploration : MD step time with the compute every 10 steps, K = 4 / plain MD, 1 thread:
              files / files with the pair's model as member 0 (its evaluation reused) /
              package / the package driving the pair too (member 0 reused); and with 2
              threads, member 0 reused (files, package)                goal <= 1.25
              also within one run (member 0 reused, 1 and 2 threads, files and package):
              loop time / (loop time - the compute's time, booked under Output)
monitoring  : the same every 100 steps / plain MD (member 0 reused), also within one run
                                                                        goal <= 1.05
drive mean  : MD step time of pair_style ennp PACKAGE drive mean, K = 4 / (K x pair step),
              1 and 2 threads (with 2, two members at a time)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from ennp.lammps.outputs import read_loop_time, read_task_timing
from ennp.lammps.run import run_lammps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import members    # noqa: E402

INPUT = """
units metal
atom_style atomic
lattice fcc 4.08
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 196.967
pair_style ennp {pair}
pair_coeff * * Au
{compute}
velocity all create 300 1
fix nve all nve
timestep 0.002
thermo_style custom step pe {thermo_cols}
thermo {thermo}
run {steps}
"""
N = 10    # 4,000 atoms


def step_time(pair, steps, models=(), thermo=None, threads=1, in_run=False, per_call=False):
    """Seconds per MD step; with in_run, loop time / (loop time - Output): the compute is
    invoked for the thermo output, so LAMMPS books it under Output, and this ratio compares
    steps with and without it inside one run (2-thread step times vary between runs); with
    per_call, Output / Pair: the compute's time over the pair's, inside one run."""
    compute = f"compute dev all ennp/ensemble {' '.join(map(str, models))}" if models else ""
    cols = "c_dev[1] c_dev[8]" if models else ""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "in.b").write_text(INPUT.format(n=N, pair=pair, compute=compute, thermo_cols=cols,
                                                  thermo=thermo or steps, steps=steps))
        run_lammps(Path(tmp, "in.b"), tmp, threads=threads)
        log = Path(tmp, "log.lammps")
        loop = read_loop_time(log)
        output = read_task_timing(log, "Output")["seconds"]
        if per_call:
            return output / read_task_timing(log, "Pair")["seconds"]
        if not in_run:
            return loop / steps
        return loop / (loop - output)


def best(fn, repeats=2):
    return min(fn() for _ in range(repeats))


def deployed(folder: Path) -> dict:
    """The four members as files, a copy of member 0 for the pair, packages of 2 and 4."""
    from ennp.deploy.export import deploy, deploy_ensemble

    checkpoints = members(4)
    files = [deploy(c, folder / f"member{k}.nequip.pt2") for k, c in enumerate(checkpoints)]
    pair = shutil.copy(files[0], folder / "pair.nequip.pt2")
    packages = {k: deploy_ensemble(checkpoints[:k], folder / f"ensemble{k}.nequip.pt2",
                                   progress=lambda m: print(m, flush=True)) for k in (2, 4)}
    return {"files": files, "pair": pair, "packages": packages}


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    results = {"natoms": 4 * N**3}
    with tempfile.TemporaryDirectory() as tmp:
        m = deployed(Path(tmp))
        pair, files, packages = m["pair"], m["files"], m["packages"]
        for threads in (1, 2):
            t_pair = best(lambda: step_time(pair, 20, threads=threads))
            results[f"pair_step_s_{threads}t"] = t_pair
            print(f"{threads} thread(s): pair_style ennp alone {t_pair*1e3:.1f} ms/step ({4*N**3} atoms)")
            t_mean = best(lambda: step_time(f"{packages[4]} drive mean", 20, threads=threads))
            results[f"K4_drive_mean_over_K_pair_{threads}t"] = t_mean / (4 * t_pair)
            print(f"  K=4 package, drive mean: {t_mean*1e3:.1f} ms/step = {t_mean / (4 * t_pair):.3f} x "
                  f"(K x pair step)")
            for k in (2, 4):
                for kind, models in (("files", files[:k]), ("package", [packages[k]])):
                    t_k = best(lambda: step_time(pair, 10, models, thermo=1, threads=threads))
                    ratio = (t_k - t_pair) / (k * t_pair)
                    results[f"K{k}_{kind}_invocation_ratio_{threads}t"] = ratio
                    # best of 2 of the ratio itself: the compute's and the pair's times of one run
                    in_run = best(lambda: step_time(pair, 10, models, thermo=1, threads=threads, per_call=True)) / k
                    results[f"K{k}_{kind}_invocation_ratio_in_run_{threads}t"] = in_run
                    print(f"  K={k} {kind:7s}: one invocation {(t_k - t_pair)*1e3:.1f} ms = "
                          f"{ratio:.3f} x (K x pair evaluation); within one run {in_run:.3f}")
                # the package drives the pair: its own step time without the compute is the base
                t_own = best(lambda: step_time(packages[k], 20, threads=threads))
                t_k = best(lambda: step_time(packages[k], 10, [packages[k]], thermo=1, threads=threads))
                ratio = (t_k - t_own) / (k * t_own)
                results[f"K{k}_package_pair_reused_invocation_ratio_{threads}t"] = ratio
                in_run = best(lambda: step_time(packages[k], 10, [packages[k]], thermo=1, threads=threads,
                                                per_call=True)) / k
                results[f"K{k}_package_pair_reused_invocation_ratio_in_run_{threads}t"] = in_run
                print(f"  K={k} package driving the pair (member 0 reused): one invocation "
                      f"{(t_k - t_own)*1e3:.1f} ms = {ratio:.3f} x (K x pair evaluation); "
                      f"within one run {in_run:.3f}")
        t_base = best(lambda: step_time(pair, 300))
        reused = {"files_pair_reused": (files[0], files), "package_pair_reused": (packages[4], [packages[4]])}
        for kind, (p, models) in {"files": (pair, files), "package": (pair, [packages[4]]), **reused}.items():
            t = best(lambda: step_time(p, 300, models, thermo=10))
            results[f"K4_every10_{kind}_over_plain"] = t / t_base
            print(f"K=4 every 10 steps, {kind}: {t*1e3:.1f} ms/step vs {t_base*1e3:.1f} plain -> {t / t_base:.3f}")
        t_base2 = best(lambda: step_time(pair, 300, threads=2))
        for kind, (p, models) in reused.items():
            t2 = best(lambda: step_time(p, 300, models, thermo=10, threads=2))
            results[f"K4_every10_{kind}_over_plain_2t"] = t2 / t_base2
            print(f"K=4 every 10 steps, {kind}, 2 threads: {t2*1e3:.1f} ms/step vs "
                  f"{t_base2*1e3:.1f} plain -> {t2 / t_base2:.3f}")
        for threads in (1, 2):
            for kind, (p, models) in reused.items():
                r = best(lambda: step_time(p, 300, models, thermo=10, threads=threads, in_run=True))
                results[f"K4_every10_{kind}_in_run_{threads}t"] = r
                print(f"K=4 every 10 steps, {kind}, {threads} thread(s), within one run: "
                      f"loop / (loop - compute) = {r:.3f}")
        t_100 = best(lambda: step_time(files[0], 300, files, thermo=100))
        results["K4_every100_over_plain"] = t_100 / t_base
        r_100 = best(lambda: step_time(files[0], 300, files, thermo=100, in_run=True))
        results["K4_every100_in_run"] = r_100
        print(f"K=4 every 100 steps (member 0 reused): {t_100 / t_base:.3f}; within one run {r_100:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
