"""nequip-train (Hydra) configurations written from a few model settings.

One function builds the config dict; :func:`train` writes it next to the run
and calls the real ``nequip-train`` so that users get nequip's own checkpoints.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, asdict
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ModelSettings:
    """The knobs of a NequIP model that ennp exposes (nequip's names)."""

    type_names: tuple[str, ...] = ()    # the model's atom types (element symbols)
    r_max: float = 4.5              # A, cutoff of the edges
    num_layers: int = 2             # message-passing layers (the receptive field is num_layers x r_max)
    l_max: int = 1                  # highest rotation order of the features
    num_features: int = 16          # features per irrep
    model_dtype: str = "float32"    # float32 or float64
    seed: int = 1                   # nequip's seed (weights, data split)

    def __post_init__(self):
        if self.model_dtype not in ("float32", "float64"):
            raise ValueError(f"model_dtype must be float32 or float64, not {self.model_dtype!r}")
        if self.num_layers < 1 or self.l_max < 0 or self.num_features < 1:
            raise ValueError(f"invalid model settings: {asdict(self)}")
        if self.r_max <= 0:
            raise ValueError(f"r_max must be positive, not {self.r_max}")


def nequip_config(data_file: str | Path, model: ModelSettings, *, max_epochs: int = 3,
                  batch_size: int = 5, split=(0.8, 0.2), lr: float = 0.01) -> dict:
    """A complete nequip-train config for an extxyz data set with E, F (and stress)."""
    types = list(model.type_names)
    dataloader = {"_target_": "torch.utils.data.DataLoader", "batch_size": batch_size}
    metrics = {
        "_target_": "nequip.train.EnergyForceMetrics",
        "coeffs": {"total_energy_mae": 1.0, "forces_mae": 1.0},
    }
    return {
        "run": ["train"],
        "seed": model.seed,
        "data": {
            "_target_": "nequip.data.datamodule.NequIPDataModule",
            "seed": model.seed,
            "split_dataset": {
                "dataset": {
                    "_target_": "nequip.data.dataset.ASEDataset",
                    "file_path": str(Path(data_file).resolve()),
                    "transforms": [
                        {
                            "_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                            "model_type_names": types,
                            "chemical_species_to_atom_type_map": {t: t for t in types},
                        },
                        {"_target_": "nequip.data.transforms.NeighborListTransform",
                         "r_max": model.r_max},
                    ],
                },
                "train": split[0],
                "val": split[1],
            },
            "train_dataloader": dataloader,
            "val_dataloader": dataloader,
            "stats_manager": {
                "_target_": "nequip.data.CommonDataStatisticsManager",
                "type_names": types,
            },
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "max_epochs": max_epochs,
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 5,
            "enable_progress_bar": False,
            "logger": False,
            "callbacks": [{
                "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                "dirpath": "${hydra:runtime.output_dir}",
                "filename": "best",
                "save_last": True,
            }],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "loss": {
                "_target_": "nequip.train.EnergyForceLoss",
                "per_atom_energy": True,
                "coeffs": {"total_energy": 1.0, "forces": 1.0},
            },
            "val_metrics": metrics,
            "train_metrics": metrics,
            "optimizer": {"_target_": "torch.optim.Adam", "lr": lr},
            "model": {
                "_target_": "nequip.model.NequIPGNNModel",
                "seed": model.seed,
                "model_dtype": model.model_dtype,
                "type_names": types,
                "r_max": model.r_max,
                "l_max": model.l_max,
                "parity": True,
                "num_layers": model.num_layers,
                "num_features": model.num_features,
                "radial_mlp_depth": 1,
                "radial_mlp_width": max(8, model.num_features),
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
                "per_type_energy_scales": "${training_data_stats:forces_rms}",
            },
        },
    }


def train(config: dict, workdir: str | Path, *, quiet: bool = True, env: dict | None = None) -> Path:
    """Run nequip-train in ``workdir`` (in environment ``env``, default this process's);
    return the path of the last checkpoint."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(Path(sys.executable).with_name("nequip-train")), "-cp", str(workdir),
           "-cn", "config.yaml", f"hydra.run.dir={workdir / 'out'}"]
    log = workdir / "train.log"
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"nequip-train failed (exit {proc.returncode}); log {log}:\n{tail}")
    ckpt = workdir / "out" / "last.ckpt"
    if not ckpt.is_file():
        raise RuntimeError(f"nequip-train finished but wrote no {ckpt}")
    return ckpt
