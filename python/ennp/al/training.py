"""Train and deploy the K members of one generation, and score them on the test set.

Member k of generation g lives in ``gen_g/train/member_k``: nequip-train runs
there from the run's Hydra template (``WORK/nequip_template.yaml``, editable)
with its own seed and data file, then ``ennp deploy`` writes
``model.nequip.pt2`` (a compile for the first member of an architecture, a
weight swap for the others). Members train ``training.parallel`` at once,
sharing the cores (:mod:`ennp.cores`), and are deployed one at a time in
member order. A member whose deployed model exists is finished; a member
killed half-way is trained again from the start. Each member records its
training and deployment seconds in ``seconds.json``.

Members that can share one ensemble package (same type names, cutoffs, dtype and
depth: members of one run always can) are then joined into
``gen_g/train/ensemble.nequip.pt2`` (:mod:`ennp.deploy.ensemble`), which drives
the exploration MD and evaluates its ensemble; the member files stay for the
calibration, the harvest and ``ennp al export``.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from ..config import ConfigError
from ..cores import shared_cores_env, usable_cores
from ..files import write_frames, write_json
from ..train.masked_labels import CORE_ARRAY, has_nan_labels, with_masked_labels
from .dataset import bootstrap

MODEL_NAME = "model.nequip.pt2"
SECONDS_NAME = "seconds.json"


def load_template(path: Path) -> dict:
    try:
        config = yaml.safe_load(path.read_text())
        config["data"]["split_dataset"]["dataset"]["file_path"]
        config["training_module"]["model"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: a nequip-train template needs data.split_dataset.dataset.file_path "
                          f"and training_module.model ({type(exc).__name__}: {exc})") from exc
    return config


def member_config(template: dict, data_file: Path, seed: int, warm_start: Path | None) -> dict:
    """The template with this member's data, seeds and (optionally) starting checkpoint."""
    config = copy.deepcopy(template)
    config["data"]["split_dataset"]["dataset"]["file_path"] = str(data_file.resolve())
    config["seed"] = seed
    config["data"]["seed"] = seed
    model = config["training_module"]["model"]
    if warm_start is not None:
        config["training_module"]["model"] = {"_target_": "nequip.model.ModelFromCheckpoint",
                                              "checkpoint_path": str(warm_start.resolve())}
    elif "seed" in model:
        model["seed"] = seed
    return config


def train_members(workdir: Path, gen_path: Path, frames: list, size: int, seed: int,
                  bootstrap_data: bool, previous: Path | None, *, parallel: int = 1,
                  progress=print) -> list[Path]:
    """Train (or find finished) members, ``parallel`` at once (0: one per usable core) sharing
    the cores; deploy each in member order as its training ends. Return the deployed paths."""
    from ..deploy.export import deploy
    from ..train.nequip_config import train

    template = load_template(workdir / "nequip_template.yaml")
    if has_nan_labels(frames):    # harvested pieces: buffer forces (and energies) left out
        try:
            template = with_masked_labels(template)
        except ValueError as exc:
            raise ConfigError(f"{workdir / 'nequip_template.yaml'}: training_module.loss: {exc}") from None
    train_dir = gen_path / "train"
    data = train_dir / "data.extxyz"
    if not data.exists():
        write_frames(data, frames)
    models = [train_dir / f"member_{k}" / MODEL_NAME for k in range(size)]
    todo = [k for k in range(size) if not models[k].exists()]
    at_once = max(1, min(parallel or usable_cores(), len(todo)))
    env = shared_cores_env(at_once)

    def member_data(k: int) -> Path:
        return models[k].parent / "data.extxyz" if bootstrap_data else data

    def train_one(k: int) -> tuple[Path, float, float]:    # checkpoint, started, trained (epoch s)
        member = models[k].parent
        shutil.rmtree(member, ignore_errors=True)    # a member killed half-way starts again
        if bootstrap_data:
            write_frames(member_data(k), bootstrap(frames, seed + 1000 + k))
        start = previous / f"member_{k}" / "out" / "last.ckpt" if previous is not None else None
        progress(f"{gen_path.name}: training member {k + 1}/{size} on {len(frames)} frames"
                 + (" (warm start)" if start else "")
                 + (f", {at_once} at once with {env['OMP_NUM_THREADS']} thread(s) each" if at_once > 1 else ""))
        started = time.time()
        ckpt = train(member_config(template, member_data(k), seed + k, start), member, env=env)
        return ckpt, started, time.time()

    with ThreadPoolExecutor(at_once) as pool:
        running = {k: pool.submit(train_one, k) for k in todo}
        try:
            for k in todo:    # one deploy at a time: the first compiles the template the others reuse
                ckpt, started, trained = running[k].result()
                member, deploying = models[k].parent, time.time()
                progress(f"{gen_path.name}: deploying member {k + 1}/{size} "
                         f"({trained - started:.0f} s training)")
                deploy(ckpt, models[k], training_data=member_data(k),
                       progress=lambda m, k=k: progress(f"{gen_path.name}: member {k + 1}: {m}"))
                # after the model: a member killed in between has no record of its times
                deployed = time.time()
                write_json(member / SECONDS_NAME, {"train": trained - started, "deploy": deployed - deploying,
                                                   "started": started, "deployed": deployed})
        except BaseException:
            for future in running.values():    # members not started yet are not started
                future.cancel()
            raise
    return models


def ensemble_package(gen_path: Path, models: list[Path], progress=print) -> tuple[Path | None, float]:
    """Join the deployed members into one ensemble package; return it (None where they cannot
    share one, or for a single member: the files serve) and the seconds it took."""
    from ..deploy.ensemble import ENSEMBLE_FILE, EnsembleError, join_deployed

    if len(models) < 2:
        return None, 0.0
    t0 = time.time()
    try:
        package = join_deployed(models, gen_path / "train" / ENSEMBLE_FILE, [f"member_{k}" for k in range(len(models))])
    except EnsembleError as exc:
        progress(f"{gen_path.name}: the members stay separate files ({exc})")
        return None, 0.0
    progress(f"{gen_path.name}: {len(models)} members joined into {package.name}")
    return package, time.time() - t0


def member_seconds(models: list[Path]) -> dict[str, float]:
    """Where the wall time of training the members went: deploy, the members' deployments
    (one at a time); train, the rest of the time any member was training or deploying (members
    train at once, so their own training seconds overlap). Over the members that recorded
    their times; records without wall-clock times (older runs) add their seconds."""
    records = [json.loads(r.read_text()) for r in (m.parent / SECONDS_NAME for m in models) if r.is_file()]
    timed = [r for r in records if "started" in r]
    busy, end = 0.0, float("-inf")
    for a, b in sorted((r["started"], r["deployed"]) for r in timed):    # union of the spans
        busy += max(0.0, b - max(a, end))
        end = max(end, b)
    return {"train": busy - sum(r["deploy"] for r in timed) + sum(r["train"] for r in records if "started" not in r),
            "deploy": sum(r["deploy"] for r in records)}


def predictions(checkpoints: list[Path], frames: list) -> tuple[np.ndarray, np.ndarray]:
    """Forces (members x atoms of all frames x 3) and energies per atom (members x frames)
    of each checkpoint, by nequip's own ASE calculator."""
    from nequip.integrations.ase import NequIPCalculator

    pred_f, pred_e = [], []
    for ckpt in checkpoints:
        calc = NequIPCalculator._from_saved_model(str(ckpt), device="cpu",
                                                  chemical_species_to_atom_type_map=True)
        fs, es = [], []
        for a in frames:
            work = a.copy()
            work.calc = calc
            fs.append(work.get_forces())
            es.append(work.get_potential_energy() / len(a))
        pred_f.append(np.concatenate(fs))
        pred_e.append(np.array(es))
    return np.array(pred_f), np.array(pred_e)


def core_force_rmse(checkpoints: list[Path], pieces: list) -> float:
    """Force RMSE of the ensemble mean against the labels on the pieces' core atoms (eV/A)."""
    pred_f, _ = predictions(checkpoints, pieces)
    ref = np.concatenate([a.get_forces() for a in pieces])
    core = np.concatenate([np.asarray(a.arrays[CORE_ARRAY], dtype=bool) for a in pieces])
    return float(np.sqrt(np.mean((pred_f.mean(axis=0) - ref)[core] ** 2)))


def test_errors(checkpoints: list[Path], test_frames: list) -> dict:
    """Force and energy errors of each member and of the ensemble mean on the test set."""
    ref_f = np.concatenate([a.get_forces() for a in test_frames])
    ref_e = np.array([a.get_potential_energy() / len(a) for a in test_frames])
    pred_f, pred_e = predictions(checkpoints, test_frames)

    def rmse(x):
        return float(np.sqrt(np.mean(x**2)))

    return {
        "frames": len(test_frames),
        "member_force_rmse": [rmse(p - ref_f) for p in pred_f],
        "member_energy_mae_per_atom": [float(np.mean(np.abs(p - ref_e))) for p in pred_e],
        "ensemble_force_rmse": rmse(pred_f.mean(axis=0) - ref_f),
        "ensemble_force_mae": float(np.mean(np.abs(pred_f.mean(axis=0) - ref_f))),
        "ensemble_energy_mae_per_atom": float(np.mean(np.abs(pred_e.mean(axis=0) - ref_e))),
    }


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
