"""The GPU check's measurements (run by benchmarks/gpu/check.sh): deploy the carried checkpoints
for the device and for the CPU, compare pair_style ennp and compute ennp/ensemble on the device
with the CPU, and measure throughput and GPU memory. Prints one JSON and writes it to --out.

    python benchmarks/gpu/check.py --device cuda --models .gpu --sizes 10000,100000,1000000 --out R.json

With --device cpu (check.sh --cpu, the dry run) the "device" packages are CPU packages too: the
comparisons then hold exactly and everything else runs as on the GPU machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ELEMENTS = ["Au", "Ti", "O"]
ENNP = str(Path(sys.executable).with_name("ennp"))


def deploy(jobs: list[tuple[Path, Path, str]], parallel: int) -> dict[str, float]:
    """``ennp deploy CKPT --out OUT --device D`` for each job, ``parallel`` at a time (each compile
    is single-threaded); seconds per output file."""
    def one(job):
        ckpt, out, device = job
        t0 = time.time()
        proc = subprocess.run([ENNP, "deploy", str(ckpt), "--out", str(out), "--device", device],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ennp deploy {ckpt} --device {device} failed:\n{proc.stderr[-3000:]}")
        return out.name, time.time() - t0

    with ThreadPoolExecutor(parallel) as pool:
        return dict(pool.map(one, jobs))


def crystal(n_target: int, seed: int = 1, rattle: float = 0.1, vacuum_x: bool = False):
    """A random Au/Ti/O decoration of fcc (a = 4.2 A) with about n_target atoms, rattled;
    ``vacuum_x``: the box twice as long in x with the atoms in its first half (on 2 ranks along
    x, rank 1 owns no atom)."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    k = max(2, round((n_target / 4) ** (1 / 3)))
    atoms = bulk("Au", "fcc", a=4.2, cubic=True).repeat((k, k, k))
    atoms.set_chemical_symbols(list(rng.choice(ELEMENTS, len(atoms))))
    atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
    atoms.wrap()
    if vacuum_x:
        atoms.cell[0] *= 2
    return atoms


def write_data(atoms, path: Path) -> None:
    from ase.io.lammpsdata import write_lammps_data

    write_lammps_data(path, atoms, specorder=ELEMENTS, masses=True, units="metal", atom_style="atomic")


def lammps(folder: Path, body: str, nprocs: int, timeout: float = 600) -> dict[str, float]:
    """Run ``body`` after the common set-up in ``folder`` (data.lmp there); the last thermo
    line and the last loop time."""
    from ennp.lammps.outputs import read_loop_time, read_thermo
    from ennp.lammps.run import run_lammps

    (folder / "in.lmp").write_text("units metal\natom_style atomic\natom_modify map array\n"
                                   "read_data data.lmp\n" + body)
    run_lammps(folder / "in.lmp", folder, nprocs=nprocs, timeout=timeout)
    table = read_thermo(folder / "log.lammps")[-1]
    return {**{k: float(v[-1]) for k, v in table.items()}, "loop_s": read_loop_time(folder / "log.lammps")}


def read_frame(path: Path) -> dict[str, np.ndarray]:
    from ennp.lammps.outputs import read_dump

    return read_dump(path)[-1]


FORCES = """pair_style ennp {model}
pair_coeff * * Au Ti O
compute pe all pe/atom
compute vir all pressure NULL virial
variable vxx equal c_vir[1]*vol
variable vyy equal c_vir[2]*vol
variable vzz equal c_vir[3]*vol
variable vxy equal c_vir[4]*vol
thermo_style custom step pe v_vxx v_vyy v_vzz v_vxy
thermo_modify format float %.17g
dump d all custom 1 dump.txt id fx fy fz c_pe
dump_modify d sort id format float %.17g
run 0
"""


def compare_forces(work: Path, ref_model: Path, dev_model: Path, atoms, nprocs: int, label: str) -> dict:
    """Energy, forces, per-atom energies and virial of the device package against the CPU one."""
    out = {}
    frames = {}
    for side, model in (("cpu", ref_model), ("device", dev_model)):
        folder = work / f"{label}_{side}"
        folder.mkdir(parents=True, exist_ok=True)
        write_data(atoms, folder / "data.lmp")
        thermo = lammps(folder, FORCES.format(model=model), nprocs)
        frames[side] = (read_frame(folder / "dump.txt"), thermo)
    (a, ta), (b, tb) = frames["cpu"], frames["device"]
    f_a = np.column_stack([a["fx"], a["fy"], a["fz"]])
    f_b = np.column_stack([b["fx"], b["fy"], b["fz"]])
    out["max_abs_force_diff_eV_A"] = float(np.abs(f_a - f_b).max())
    out["max_abs_atom_energy_diff_eV"] = float(np.abs(a["c_pe"] - b["c_pe"]).max())
    out["energy_diff_eV"] = abs(ta["PotEng"] - tb["PotEng"])
    out["max_abs_virial_diff_eV"] = max(abs(ta[k] - tb[k]) for k in ("v_vxx", "v_vyy", "v_vzz", "v_vxy"))
    out["atoms"], out["ranks"] = len(atoms), nprocs
    out["equal_to_1e-8"] = bool(max(out["max_abs_force_diff_eV_A"], out["max_abs_atom_energy_diff_eV"],
                                    out["energy_diff_eV"] / len(atoms), out["max_abs_virial_diff_eV"] / len(atoms))
                                < 1e-8)
    return out


ENSEMBLE = """pair_style ennp {m0}
pair_coeff * * Au Ti O
compute dev all ennp/ensemble {m0} {m1}
thermo_style custom step c_dev[1] c_dev[2] c_dev[3] c_dev[4] c_dev[5] c_dev[6] c_dev[7]
thermo_modify format float %.17g
dump d all custom 1 devi.txt id c_dev[1] c_dev[2]
dump_modify d sort id format float %.17g
run 0
"""


def compare_ensemble(work: Path, cpu: list[Path], dev: list[Path], atoms, nprocs: int) -> dict:
    results = {}
    for side, (m0, m1) in (("cpu", cpu), ("device", dev)):
        folder = work / f"ensemble_{side}_{nprocs}"
        folder.mkdir(parents=True, exist_ok=True)
        write_data(atoms, folder / "data.lmp")
        results[side] = (lammps(folder, ENSEMBLE.format(m0=m0, m1=m1), nprocs), read_frame(folder / "devi.txt"))
    (ta, a), (tb, b) = results["cpu"], results["device"]
    vector = max(abs(ta[f"c_dev[{k}]"] - tb[f"c_dev[{k}]"]) for k in range(1, 8))
    peratom = float(max(np.abs(a["c_dev[1]"] - b["c_dev[1]"]).max(), np.abs(a["c_dev[2]"] - b["c_dev[2]"]).max()))
    return {"ranks": nprocs, "max_abs_vector_diff": vector, "max_abs_peratom_diff": peratom,
            "max_devi_f": ta["c_dev[1]"], "equal_to_1e-8": bool(max(vector, peratom) < 1e-8)}


class GpuMemory:
    """Peak ``nvidia-smi`` memory.used (MiB) while the block runs; None without nvidia-smi."""

    def __enter__(self):
        self.peak, self.stop = None, threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()
        return self

    def poll(self):
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                used = max(float(v) for v in out.split())
                self.peak = used if self.peak is None else max(self.peak, used)
            except (OSError, ValueError, subprocess.SubprocessError):
                return
            self.stop.wait(0.2)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


THROUGHPUT = """pair_style ennp {model}
pair_coeff * * Au Ti O
velocity all create 300 1 mom yes rot no
fix nve all nve
thermo {steps}
run 0
run {steps}
"""


def throughput(work: Path, model: Path, n: int, label: str, nprocs: int) -> dict:
    folder = work / f"speed_{label}_{n}"
    folder.mkdir(parents=True, exist_ok=True)
    atoms = crystal(n, seed=3, rattle=0.05)
    write_data(atoms, folder / "data.lmp")
    steps = 50 if len(atoms) < 50_000 else 10
    t0 = time.time()
    with GpuMemory() as mem:
        try:
            loop = lammps(folder, THROUGHPUT.format(model=model, steps=steps), nprocs)["loop_s"]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return {"model": label, "atoms": len(atoms), "error": str(exc)[-600:]}
    return {"model": label, "atoms": len(atoms), "steps": steps, "ranks": nprocs, "loop_s": loop,
            "atom_steps_per_s": len(atoms) * steps / loop, "wall_s": time.time() - t0,
            "peak_gpu_memory_MiB": mem.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], required=True)
    parser.add_argument("--models", type=Path, required=True, help="folder of prepare_models.py")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--parallel", type=int, default=6, help="deploys at a time")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; throughput stops when spent")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    t_start = time.time()
    import torch

    import ennp

    work = args.out.parent / "gpu_check_work"
    work.mkdir(parents=True, exist_ok=True)
    report = {"device": args.device, "torch": torch.__version__, "ennp": ennp.__version__,
              "cuda_available": torch.cuda.is_available(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    manifest = json.loads((args.models / "models.json").read_text())
    ckpt = {name: args.models / m["checkpoint"] for name, m in manifest.items()}

    def pkg(name, device):
        return work / f"{name}.{device}.nequip.pt2"

    jobs = [(ckpt[n], pkg(n, "cpu"), "cpu") for n in ("tiny64_a", "tiny64_b")]
    if args.device == "cuda":
        jobs += [(ckpt[n], pkg(n, "cuda"), "cuda") for n in ("tiny64_a", "tiny64_b", "prod32")]
    else:
        jobs += [(ckpt["prod32"], pkg("prod32", "cpu"), "cpu")]
    report["deploy_s"] = deploy(jobs, args.parallel)
    dev = args.device
    print(f"deployed in {time.time() - t_start:.0f} s: {report['deploy_s']}", flush=True)

    atoms = crystal(108, seed=11, rattle=0.15)
    report["pair"] = [compare_forces(work, pkg("tiny64_a", "cpu"), pkg("tiny64_a", dev), atoms, 1, "r1"),
                      compare_forces(work, pkg("tiny64_a", "cpu"), pkg("tiny64_a", dev), atoms, 2, "r2")]
    report["pair_empty_rank"] = compare_forces(work, pkg("tiny64_a", "cpu"), pkg("tiny64_a", dev),
                                               crystal(108, seed=12, rattle=0.15, vacuum_x=True), 2, "empty")
    members = [pkg(n, "cpu") for n in ("tiny64_a", "tiny64_b")], [pkg(n, dev) for n in ("tiny64_a", "tiny64_b")]
    report["ensemble"] = [compare_ensemble(work, *members, atoms, 1), compare_ensemble(work, *members, atoms, 2)]
    # two ranks on one GPU: both must pick cuda:0 (local rank modulo the device count)
    report["two_ranks_one_gpu_ok"] = all(r["equal_to_1e-8"] for r in report["pair"][1:] + [report["pair_empty_rank"]])
    print(json.dumps({k: report[k] for k in ("pair", "pair_empty_rank", "ensemble")}), flush=True)

    report["throughput"] = []
    for n in (int(s) for s in args.sizes.split(",")):
        for label in ("tiny64_a", "prod32"):
            if time.time() - t_start > args.budget:
                report["throughput"].append({"model": label, "atoms": n, "skipped": "time budget spent"})
                continue
            if label == "prod32" and n > 150_000:    # ~0.62 GB per 1000 atoms: 1e6 atoms do not fit
                report["throughput"].append({"model": label, "atoms": n, "skipped": "does not fit in GPU memory"})
                continue
            row = throughput(work, pkg(label, dev), n, label, 1)
            report["throughput"].append(row)
            print(json.dumps(row), flush=True)
    report["wall_s"] = time.time() - t_start
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
