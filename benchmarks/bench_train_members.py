"""Training K ensemble members at once, sharing the cores / one after another. Prints the ratio.

    .venv/bin/python benchmarks/bench_train_members.py [--members 2] [--epochs 30] [--out figures.json]

K members of the demo's tiny Au architecture (float32, 2 layers, l_max 1, 16 features),
seeds 1..K, on 40 rattled 32-atom Au frames labelled with EMT. Side by side in one run:
  serial   : nequip-train for each member in turn, torch's default threads (every core);
  parallel : all K at once, OMP_NUM_THREADS = cores / K each (`training.parallel` of ennp al).
Wall seconds include each nequip-train's start-up, as in an active-learning generation.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ennp.cores import shared_cores_env, usable_cores
from ennp.train.datasets import rattled_au
from ennp.train.nequip_config import ModelSettings, nequip_config, train


def configs(data: Path, k: int, epochs: int) -> list[dict]:
    return [nequip_config(data, ModelSettings(type_names=("Au",), r_max=4.5, num_layers=2, l_max=1,
                                              num_features=16, model_dtype="float32", seed=s),
                          max_epochs=epochs) for s in range(1, k + 1)]


def _without_thread_setting() -> dict:
    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


def serial(members: list[dict], root: Path) -> float:
    env = _without_thread_setting()
    t0 = time.monotonic()
    for i, config in enumerate(members):
        train(config, root / f"serial_{i}", env=env)
    return time.monotonic() - t0


def parallel(members: list[dict], root: Path) -> float:
    env = shared_cores_env(len(members), _without_thread_setting())
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(members)) as pool:
        list(pool.map(lambda i: train(members[i], root / f"parallel_{i}", env=env), range(len(members))))
    return time.monotonic() - t0


def main():
    import argparse

    import ase.io

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ase.io.write(root / "data.extxyz", rattled_au(num_frames=40), format="extxyz")
        members = configs(root / "data.extxyz", args.members, args.epochs)
        one_by_one = serial(members, root)
        at_once = parallel(members, root)
    results = {"members": args.members, "epochs": args.epochs, "cores": usable_cores(),
               "serial_s": one_by_one, "parallel_s": at_once, "ratio": one_by_one / at_once}
    print(f"{args.members} members, {args.epochs} epochs, {usable_cores()} cores: one after another "
          f"{one_by_one:.1f} s, at once {at_once:.1f} s -> {one_by_one / at_once:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
