"""How well an active-learning run's members fit the frames they trained on, against two ways
of spending more training: the run's members continued for more epochs, and a larger
architecture trained from scratch on the same data.

    .venv/bin/python benchmarks/al_members_fit.py WORK GEN [--atoms N] [--more-epochs 120]
        [--features 32] [--l-max 2] [--epochs 60] [--out fit.json]

The run's trust_lo says when a frame is accurate: max_devi_f, the largest per-atom force
deviation of the ensemble, below it. If the members disagree by more than that on frames they
were trained on, the run cannot converge at that level by labelling more frames: the models
underfit. The script scores three pairs of members (K = 2, members 0 and 1) on the training
frames of generation GEN with N atoms (default: the largest frames, e.g. an interface) and on
the run's held-out test frames:
- the run's own members of generation GEN;
- the same members trained --more-epochs further on the same frames (a warm start);
- members of the run's template with --features and --l-max, trained --epochs from scratch.
Each pair is scored by the median and largest max_devi_f per frame, the number of frames
below trust_lo, the force RMSE of the pair's mean and the median largest per-atom error.
Members train two at a time, one thread each, in WORK/fit_GEN/ (kept: a second call scores
without training again).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ase.io
import numpy as np


def score(checkpoints, frames, trust_lo: float) -> dict:
    from ennp.al.calibration import calibration
    from ennp.al.training import predictions

    forces, _ = predictions(checkpoints, frames)
    record = calibration(forces, np.concatenate([a.get_forces() for a in frames]), [len(a) for a in frames])
    max_devi = np.array(record["max_devi_f"])
    return {"frames": len(frames), "max_devi_f_median": float(np.median(max_devi)),
            "max_devi_f_max": float(max_devi.max()), "frames_below_trust_lo": int((max_devi < trust_lo).sum()),
            "force_rmse": record["force_rmse"], "max_error_median": float(np.median(record["max_error"]))}


def main():
    from ennp.al.config import load_al_config
    from ennp.config import ConfigError
    from ennp.al.loop import training_frames
    from ennp.al.state import gen_dir
    from ennp.al.training import load_template, member_config
    from ennp.cores import shared_cores_env
    from ennp.files import write_frames
    from ennp.train.nequip_config import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("gen", type=int)
    parser.add_argument("--atoms", type=int, help="score the training frames with this many atoms (default: the largest)")
    parser.add_argument("--more-epochs", type=int, default=120)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--l-max", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()

    work = args.work.resolve()
    try:
        trust_lo = load_al_config(work / "al.yaml").trust.lo
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    own = [gen_dir(work, args.gen) / "train" / f"member_{k}" / "out" / "last.ckpt" for k in (0, 1)]
    if not all(c.is_file() for c in own):
        raise SystemExit(f"{work}: generation {args.gen} has no trained members 0 and 1 ({own[0]})")
    frames = training_frames(work, args.gen)
    atoms = args.atoms or max(len(a) for a in frames)
    scored = [a for a in frames if len(a) == atoms]
    if not scored:
        raise SystemExit(f"no training frame of generation {args.gen} has {atoms} atoms")
    test = ase.io.read(work / "initial" / "test.extxyz", index=":")
    folder = work / f"fit_{args.gen:03d}"
    data = folder / "data.extxyz"
    if not data.exists():
        write_frames(data, frames)
    template = load_template(work / "nequip_template.yaml")
    jobs = {}
    for k in (0, 1):
        more = member_config(template, data, k, own[k])
        more["trainer"]["max_epochs"] = args.more_epochs
        jobs[f"more_epochs_{k}"] = more
        larger = copy.deepcopy(template)
        larger["trainer"]["max_epochs"] = args.epochs
        larger["training_module"]["model"].update(num_features=args.features, l_max=args.l_max)
        jobs[f"larger_{k}"] = member_config(larger, data, k, None)
    env = shared_cores_env(2)

    def one(name: str) -> tuple[str, float | None]:
        if (folder / name / "out" / "last.ckpt").is_file() and (folder / name / "done").is_file():
            return name, None
        t0 = time.time()
        train(jobs[name], folder / name, env=env)
        (folder / name / "done").write_text("")
        return name, time.time() - t0

    seconds = {}
    with ThreadPoolExecutor(2) as pool:
        for name, s in pool.map(one, list(jobs)):
            seconds[name] = s
            print(f"{name}: " + ("trained before" if s is None else f"trained in {s:.0f} s"), flush=True)
    pairs = {f"generation {args.gen} members 0, 1": own,
             f"the same + {args.more_epochs} epochs": [folder / f"more_epochs_{k}" / "out" / "last.ckpt" for k in (0, 1)],
             f"{args.features} features, l_max {args.l_max}, {args.epochs} epochs from scratch":
                 [folder / f"larger_{k}" / "out" / "last.ckpt" for k in (0, 1)]}
    results = {"work": str(work), "generation": args.gen, "training_frames": len(frames), "scored_atoms": atoms,
               "trust_lo": trust_lo, "seconds": seconds, "pairs": {}}
    print(f"{len(scored)} training frames of {atoms} atoms, {len(test)} test frames; trust_lo {trust_lo} eV/A")
    for name, checkpoints in pairs.items():
        results["pairs"][name] = {"training": score(checkpoints, scored, trust_lo), "test": score(checkpoints, test, trust_lo)}
        for where, r in results["pairs"][name].items():
            print(f"  {name:45s} {where:8s} max_devi_f median {r['max_devi_f_median']:.3f} "
                  f"(largest {r['max_devi_f_max']:.3f}), below trust_lo {r['frames_below_trust_lo']}/{r['frames']}, "
                  f"force RMSE {r['force_rmse']:.3f}, largest error median {r['max_error_median']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
