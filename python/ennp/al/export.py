"""``ennp al export``: a generation's members as a model bundle (:mod:`ennp.bundle`).

The folder gets the deployed members (one file each, or with ``ensemble`` one
ensemble package, :mod:`ennp.deploy.ensemble`), their checkpoints and
``bundle.yaml`` (written last: a folder without it is no bundle). The test errors
come from the state file, the training domain from the generation's training data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ..bundle import BUNDLE_FILE
from ..deploy.ensemble import ENSEMBLE_FILE, archive_metadata, check_deployed, join_deployed
from ..files import write_atomic
from ..train.domain import min_pair_distances
from .calibration import CALIBRATION_SUMMARY, generation_calibration
from .loop import load_run, training_frames


def export_bundle(workdir: str | Path, out: str | Path, generation: int | None = None,
                  ensemble: bool = False) -> Path:
    """Write generation ``generation`` (default: the last trained one) of the run to ``out``;
    with ``ensemble``, the members as one package."""
    workdir, out = Path(workdir), Path(out)
    state, config = load_run(workdir)
    trained = [g for g in range(len(state.data["generations"])) if state.done(g, "train")]
    if not trained:
        raise ValueError(f"{workdir}: no generation has finished training yet")
    gen = trained[-1] if generation is None else generation
    if gen not in trained:
        raise ValueError(f"{workdir}: generation {gen} has not finished training "
                         f"(trained: {trained})")
    if (out / BUNDLE_FILE).exists():
        raise FileExistsError(f"{out} already holds a bundle; choose another folder")
    train = state.done(gen, "train")
    models = [Path(m) for m in train["models"]]
    frames = training_frames(workdir, gen)
    if len(frames) != train["frames"]:
        raise RuntimeError(f"{workdir}: generation {gen} trained on {train['frames']} frames, "
                           f"the run's data files hold {len(frames)}")
    meta = archive_metadata(models[0])
    r_max = float(meta["r_max"])

    names = [f"member_{k}" for k in range(len(models))]
    if ensemble:    # members that cannot share a package are refused before anything is written
        check_deployed(models, names)
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    members, checkpoints = [], []
    for k, model in enumerate(models):
        checkpoints.append(f"checkpoints/member_{k}.ckpt")
        shutil.copyfile(model.parent / "out" / "last.ckpt", out / checkpoints[-1])
        if not ensemble:
            members.append(f"member_{k}.nequip.pt2")
            shutil.copyfile(model, out / members[-1])
    if ensemble:
        join_deployed(models, out / ENSEMBLE_FILE, names)
        members = [ENSEMBLE_FILE]
    bundle = {
        "species": list(config.species),
        "members": members,
        "generation": gen,
        "r_max": r_max,
        "num_layers": int(meta.get("ennp_num_layers", 0)),
        "checkpoints": checkpoints,
        "test": train["test"],
        "trust": {"lo": config.trust.lo, "hi": config.trust.hi},
        "labeller": {"name": config.label.labeller, "settings_hash": config.label.physics_hash()},
        "training_domain": {"min_distance_A": min_pair_distances(frames, list(config.species), r_max),
                            "frames": len(frames)},
    }
    # how far the deviation stood for the error: the latest generation up to this one whose
    # flagged frames were labelled (a converged run stops before labelling its last)
    for g in range(gen, -1, -1):
        record = generation_calibration(workdir, g)
        if record and record.get("error_over_deviation") is not None:
            bundle["calibration"] = {"generation": g, **{k: record[k] for k in CALIBRATION_SUMMARY}}
            break
    write_atomic(out / BUNDLE_FILE, lambda p: p.write_text(yaml.safe_dump(bundle, sort_keys=False)))
    return out
