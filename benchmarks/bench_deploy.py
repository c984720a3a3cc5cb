"""Deployment time of K = 4 ensemble members / of one member. Prints the ratio.

    .venv/bin/python benchmarks/bench_deploy.py [--out figures.json]

Four members of the demo's tiny Au architecture (float32, 2 layers, l_max 1, 16 features),
trained with seeds 1-4 (1 epoch each; training is not timed). Side by side in one run,
each with an empty deploy-template cache and an empty inductor cache:
  one  : `ennp deploy` of member 1 (a compile);
  four : `ennp deploy` of members 1-4 in turn (one compile, three weight swaps);
  package : `ennp deploy` of members 1-4 --ensemble, one file (the same, in one process).
                                                            goal <= 1.5 (four and package)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ennp.train.datasets import rattled_au
from ennp.train.nequip_config import ModelSettings
from ennp.train.tiny_model import tiny_model

ENNP = str(Path(sys.executable).with_name("ennp"))


def member_models(k: int) -> list[dict]:
    """Members 1..k of the demo's tiny Au architecture: tiny_model's checkpoint and deployed paths."""
    frames = rattled_au(num_frames=20)
    return [tiny_model(frames, ModelSettings(type_names=("Au",), r_max=4.5, num_layers=2, l_max=1,
                                             num_features=16, model_dtype="float32", seed=s),
                       max_epochs=1, name=f"bench_deploy_{s}") for s in range(1, k + 1)]


def members(k: int) -> list[Path]:
    return [m["checkpoint"] for m in member_models(k)]


def deploy_all(checkpoints: list[Path], ensemble: bool = False) -> float:
    """Wall seconds of `ennp deploy` for each checkpoint in turn (with ``ensemble``, of one
    `ennp deploy --ensemble` of them all), from empty caches."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ENNP_CACHE_DIR=f"{tmp}/cache", TORCHINDUCTOR_CACHE_DIR=f"{tmp}/inductor")
        commands = ([[*map(str, checkpoints), "--out", f"{tmp}/e.nequip.pt2", "--ensemble"]] if ensemble else
                    [[str(ckpt), "--out", f"{tmp}/m{i}.nequip.pt2"] for i, ckpt in enumerate(checkpoints)])
        t0 = time.monotonic()
        for args in commands:
            subprocess.run([ENNP, "deploy", *args], env=env, check=True)
        return time.monotonic() - t0


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    checkpoints = members(4)
    one = deploy_all(checkpoints[:1])
    four = deploy_all(checkpoints)
    package = deploy_all(checkpoints, ensemble=True)
    results = {"one_member_s": one, "four_members_s": four, "ratio": four / one,
               "package_of_four_s": package, "package_ratio": package / one}
    print(f"deploy 1 member: {one:.1f} s; 4 members: {four:.1f} s -> ratio {four / one:.2f}; "
          f"a package of 4: {package:.1f} s -> ratio {package / one:.2f} "
          f"(goal <= 1.5; {os.cpu_count()} cores, empty caches)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
