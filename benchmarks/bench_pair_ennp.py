"""Benchmarks of pair_style ennp. Prints ratios measured side by side.

    .venv/bin/python benchmarks/bench_pair_ennp.py [--quick] [--only overhead,mpi,ase,large]

overhead : LAMMPS MD step time / raw deployed-model call (same structure, same threads),
           ~4k and ~32k atoms.                                      goal <= 1.10
mpi      : atom-steps/s with 2 MPI ranks / 1 rank (best thread setting of each),
           ~32k atoms, 2-layer and 3-layer models.                  goal >= 1.5
ase      : LAMMPS + ennp / ASE VelocityVerlet + NequIPCalculator (compiled ASE target).
large    : atom-steps/s and peak memory at ~100k atoms, tiny and production-size
           (3 layers, l_max 2, 32 features) models, one rank.
Models are trained on EMT-labelled Au and cached ($ENNP_CACHE_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


import ennp
from ennp.cache import cached_dir, content_key
from ennp.lammps.outputs import read_loop_time
from ennp.lammps.run import performance_env, run_lammps
from ennp.train.datasets import rattled_au
from ennp.train.nequip_config import ModelSettings
from ennp.train.tiny_model import tiny_model

A_AU = 4.08


def au_model(layers=2, l_max=1, features=16):
    s = ModelSettings(type_names=("Au",), r_max=4.5, num_layers=layers, l_max=l_max,
                      num_features=features, model_dtype="float32")
    name = f"au_L{layers}_l{l_max}_f{features}"
    return tiny_model(rattled_au(num_frames=50), s, max_epochs=10 if (layers, l_max, features) == (2, 1, 16) else 2,
                      name=name if (layers, l_max, features) != (2, 1, 16) else "au_tiny")


def lammps_md(model, n, steps, nprocs=1, threads=1, repeats=1):
    """atom-steps/s, loop time per step, pair time per step and peak RSS (GB) of an NVE run.

    With repeats > 1 the fastest run is kept (2 shared cores are noisy).
    """
    if repeats > 1:
        runs = [lammps_md(model, n, steps, nprocs, threads) for _ in range(repeats)]
        return min(runs, key=lambda r: r["step_s"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        run_lammps(ennp.lammps_inputs() / "nve_fcc.in", tmp, nprocs=nprocs, threads=threads,
                   variables={"model": model, "element": "Au", "a": A_AU, "mass": 196.967,
                              "n": n, "T": 300, "steps": steps, "thermo": steps})
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        log = (Path(tmp) / "log.lammps").read_text()
        loop = read_loop_time(Path(tmp) / "log.lammps")
    pair = float([l for l in log.splitlines() if l.startswith("Pair ")][-1].split("|")[2])
    natoms = 4 * n**3
    return {"natoms": natoms, "steps": steps, "ranks": nprocs, "threads": threads,
            "atom_steps_per_s": natoms * steps / loop, "step_s": loop / steps,
            "pair_step_s": pair / steps, "peak_rss_GB": max(rss, t0) / 1e6}


def raw_model_call(model, n, threads, repeats=7):
    """Median time of one call of the deployed model on the same periodic crystal (Python AOTI)."""
    code = f"""
import time, statistics, torch
import ennp.deploy.ghost_exchange  # the model's exchange ops (identity on one process)
from ase.build import bulk
from nequip.data import from_ase
from nequip.data.transforms import NeighborListTransform
torch.set_num_threads({threads})
atoms = bulk("Au", "fcc", a={A_AU}, cubic=True).repeat(({n},{n},{n}))
d = NeighborListTransform(r_max=4.5)(from_ase(atoms))
d = {{k: v.double() if v.is_floating_point() else v for k, v in d.items()}}  # as the plugin passes
N = len(atoms)
inputs = [d["pos"], d["edge_index"], torch.zeros(N, dtype=torch.int64), d["cell"].view(1,3,3),
          d["edge_cell_shift"], torch.tensor([N, 0])]
m = torch._inductor.aoti_load_package("{model}")
out = m(*inputs)
assert torch.isfinite(out[1]).all(), "raw call gave non-finite forces"
ts = []
for _ in range({repeats}):
    t = time.perf_counter(); m(*inputs); ts.append(time.perf_counter() - t)
print(statistics.median(ts))
"""
    env = performance_env(threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.split()[-1])


def bench_overhead(quick):
    model = au_model()["deployed"]
    rows = []
    for n, steps in ((10, 20), (20, 5)) if not quick else ((10, 10),):
        for threads in (1, 2):
            md = lammps_md(model, n, steps, threads=threads, repeats=3)
            raw = raw_model_call(model, n, threads)
            rows.append({**md, "raw_call_s": raw, "ratio_step_over_raw": md["step_s"] / raw})
            print(f"  overhead  {md['natoms']:>6} atoms {threads} thr: step {md['step_s']*1e3:8.1f} ms  "
                  f"raw call {raw*1e3:8.1f} ms  ratio {md['step_s']/raw:.3f}", flush=True)
    return rows


def bench_mpi(quick):
    rows = []
    n, steps = (20, 5) if not quick else (12, 5)
    for layers in (2, 3):
        model = au_model(layers=layers)["deployed"]
        one = max((lammps_md(model, n, steps, nprocs=1, threads=t, repeats=2) for t in (1, 2)),
                  key=lambda r: r["atom_steps_per_s"])
        two = lammps_md(model, n, steps, nprocs=2, threads=1, repeats=2)
        ratio = two["atom_steps_per_s"] / one["atom_steps_per_s"]
        rows.append({"layers": layers, "one_rank": one, "two_ranks": two, "ratio": ratio})
        print(f"  mpi       {layers} layers {two['natoms']} atoms: 1 rank ({one['threads']} thr) "
              f"{one['atom_steps_per_s']:8.0f}  2 ranks {two['atom_steps_per_s']:8.0f} atom-steps/s  "
              f"ratio {ratio:.2f}", flush=True)
    return rows


def ase_compiled(ckpt: Path) -> Path:
    def build(tmp):
        subprocess.run([str(Path(sys.executable).with_name("nequip-compile")), str(ckpt),
                        str(tmp / "ase.nequip.pt2"), "--mode", "aotinductor", "--device", "cpu",
                        "--target", "ase"], check=True, capture_output=True)
    return cached_dir("ase_models", content_key(Path(ckpt)), build) / "ase.nequip.pt2"


def bench_ase(quick):
    m = au_model()
    ase_model = ase_compiled(m["checkpoint"])
    rows = []
    for n in ((6,) if quick else (6, 10)):
        steps = 10
        code = f"""
import time, torch
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase import units
from nequip.integrations.ase import NequIPCalculator
torch.set_num_threads(2)
atoms = bulk("Au", "fcc", a={A_AU}, cubic=True).repeat(({n},{n},{n}))
atoms.calc = NequIPCalculator.from_compiled_model("{ase_model}", device="cpu")
MaxwellBoltzmannDistribution(atoms, temperature_K=300)
dyn = VelocityVerlet(atoms, 2 * units.fs)
dyn.run(1)
t = time.perf_counter(); dyn.run({steps}); print((time.perf_counter() - t) / {steps})
"""
        out = subprocess.run([sys.executable, "-c", code], env=performance_env(2),
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        ase_step = float(out.stdout.split()[-1])
        md = lammps_md(m["deployed"], n, steps, threads=2)
        rows.append({"natoms": 4 * n**3, "ase_step_s": ase_step, "lammps_step_s": md["step_s"],
                     "speedup_lammps_over_ase": ase_step / md["step_s"]})
        print(f"  ase       {4*n**3:>6} atoms, 2 thr: ASE {ase_step*1e3:8.1f} ms/step  LAMMPS "
              f"{md['step_s']*1e3:8.1f} ms/step  LAMMPS is {ase_step/md['step_s']:.2f}x faster", flush=True)
    return rows


def bench_large(quick):
    """~100k atoms, one rank. The production-size model is first measured at two
    smaller sizes; its memory is extrapolated linearly in atoms and the ~100k run
    is attempted only where that fits in 80% of this machine's memory."""
    rows = []
    n = 29 if not quick else 16    # 4 * 29^3 = 97,556 atoms
    tiny = au_model()["deployed"]
    md = lammps_md(tiny, n, 3, threads=2)
    rows.append({"model": "tiny", **md})
    print(f"  large           tiny {md['natoms']} atoms 1 rank 2 thr: {md['atom_steps_per_s']:8.0f} "
          f"atom-steps/s, peak RSS {md['peak_rss_GB']:.1f} GB", flush=True)
    prod = au_model(layers=3, l_max=2, features=32)["deployed"]
    small = [lammps_md(prod, m, 1, threads=2) for m in ((8, 12) if quick else (12, 16))]
    for r in small:
        rows.append({"model": "production", **r})
        print(f"  large     production {r['natoms']:>6} atoms 1 rank 2 thr: {r['atom_steps_per_s']:8.0f} "
              f"atom-steps/s, peak RSS {r['peak_rss_GB']:.1f} GB", flush=True)
    (a0, m0), (a1, m1) = [(r["natoms"], r["peak_rss_GB"]) for r in small]
    per_atom = (m1 - m0) / (a1 - a0)
    need = m1 + per_atom * (4 * n**3 - a1)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    row = {"model": "production", "natoms": 4 * n**3, "predicted_rss_GB": need,
           "memory_per_1000_atoms_GB": per_atom * 1000, "machine_memory_GB": total}
    if need < 0.8 * total:
        row.update(lammps_md(prod, n, 1, threads=2))
        print(f"  large     production {row['natoms']} atoms: {row['atom_steps_per_s']:8.0f} atom-steps/s, "
              f"peak RSS {row['peak_rss_GB']:.1f} GB", flush=True)
    else:
        print(f"  large     production {row['natoms']} atoms: not run, needs ~{need:.0f} GB "
              f"({per_atom*1e3:.2f} GB per 1000 atoms) of {total:.0f} GB here", flush=True)
    rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    p.add_argument("--only", default="overhead,mpi,ase,large")
    p.add_argument("--json", default="bench_pair_ennp.json")
    args = p.parse_args()
    results = {}
    for name in args.only.split(","):
        print(f"[{name}]", flush=True)
        results[name] = globals()[f"bench_{name}"](args.quick)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
