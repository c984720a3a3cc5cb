"""Benchmark of production MD: lammps_inputs/production.in through
ennp.lammps.production.run_production, as `ennp md` runs it. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_production.py [--sizes 10000,100000] [--nprocs 2]

For MoS2 flakes on bilayer graphite of ~1e4 and ~1e5 atoms with pair_style ennp (the tiny
Mo/S/C model of bench_vib.py, float32), on --nprocs MPI ranks, each case in a fresh process:
  checkpointed: a dump frame every steps/4 and a restart file every steps/2 (the outputs a
                long run writes, at a much higher rate than a real run would)
  bare        : the same run with its only dump frames and restart at the start and the end
and prints atom-steps/s of both and their ratio, the share of the checkpointed run's loop
spent writing output (LAMMPS's timing breakdown), the peak RSS of the largest rank, LAMMPS's
own per-rank memory, and the size of a restart file and of a dump frame.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def case(target: int, nprocs: int, checkpointed: bool, steps: int) -> dict:
    """One run in this (fresh) process; returns its figures."""
    sys.path.insert(0, str(BENCH))
    from bench_vib import SPECIES, flake_on_graphite, mos2_carbon_model

    from ennp.lammps.data_file import fixed_height, write_structure
    from ennp.lammps.outputs import read_loop_time, read_task_timing
    from ennp.lammps.production import ProductionSettings, run_production
    from ennp.vibrations.potentials import write_vib_pair_file

    model = mos2_carbon_model()
    atoms = flake_on_graphite(target)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_structure(atoms, SPECIES, tmp / "s.data")
        write_vib_pair_file("ennp", SPECIES, tmp / "pair.in", model=str(model))
        every_dump, every_restart = (steps // 4, steps // 2) if checkpointed else (steps, steps)
        s = ProductionSettings(steps=steps, every_thermo=steps // 4, every_dump=every_dump,
                               every_restart=every_restart, keep_restarts=10, nprocs=nprocs)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = run_production(tmp / "run", tmp / "s.data", tmp / "pair.in", SPECIES, s, fixed_height(atoms),
                                progress=lambda *a, **k: None)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        log_path = tmp / "run" / "log.0.lammps"
        lines = log_path.read_text().splitlines()
        mem = [line for line in lines if line.startswith("Per MPI rank memory")][-1]
        restart = max((tmp / "run").glob("restart.*.bin"), key=lambda p: p.stat().st_size)
        loop_s = read_loop_time(log_path)
        return {"atoms": len(atoms), "loop_s": loop_s, "rate": len(atoms) * steps / loop_s,
                "peak_rss_MiB": max(peak, before) / 1024, "lammps_MiB": float(mem.split()[-2]),
                "restart_MB": restart.stat().st_size / 1e6,
                "output_percent": read_task_timing(log_path, "Output")["percent"],
                "dump_MB_per_frame": Path(result["trajectory"]).stat().st_size / 1e6 / result["frames"],
                "frames": result["frames"], "restarts": len(list((tmp / "run").glob("restart.*.bin")))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="system sizes (atoms)")
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)    # target nprocs checkpointed steps
    args = parser.parse_args()
    if args.case:
        target, nprocs, checkpointed, steps = args.case
        print(json.dumps(case(int(target), int(nprocs), checkpointed == "1", int(steps))))
        return

    def run(target, checkpointed, steps):
        proc = subprocess.run([sys.executable, __file__, "--case", str(target), str(args.nprocs),
                               "1" if checkpointed else "0", str(steps)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"production.in, pair_style ennp (tiny Mo/S/C model), {args.nprocs} MPI ranks")
    print("| atoms | steps | bare (atom-steps/s) | checkpointed (atom-steps/s) | checkpointed / bare | "
          "output share (%) | peak RSS per rank (MiB) | LAMMPS per rank (MiB) | restart file (MB) | "
          "dump frame (MB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for target in (int(s) for s in args.sizes.split(",")):
        steps = 80 if target < 50000 else 20
        bare, ckpt = run(target, False, steps), run(target, True, steps)
        print(f"| {ckpt['atoms']:,} | {steps} | {bare['rate']:,.0f} | {ckpt['rate']:,.0f} | "
              f"{ckpt['rate'] / bare['rate']:.3f} | {ckpt['output_percent']:.2f} | {ckpt['peak_rss_MiB']:,.0f} | "
              f"{ckpt['lammps_MiB']:.1f} | {ckpt['restart_MB']:.2f} | {ckpt['dump_MB_per_frame']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
