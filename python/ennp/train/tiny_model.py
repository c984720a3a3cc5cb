"""Train and deploy a small NequIP model in one call, cached by content.

Used by the demo, the tests and the benchmarks: the same settings and
data give the same cached ``.nequip.pt2`` without retraining or recompiling.
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from pathlib import Path

import ase.io

from ..cache import cached_dir, content_key
from .nequip_config import ModelSettings, nequip_config, train


def tiny_model(frames, settings: ModelSettings, *, max_epochs: int = 3,
               name: str = "model") -> dict[str, Path]:
    """Return {'checkpoint', 'deployed', 'data'} paths for ``frames`` and ``settings``.

    The cache key covers the data, the model settings, the epochs and the
    versions of torch/nequip and the CPU (compiled code is tied to its ISA).
    """
    import nequip
    import torch

    from ..deploy.export import ENNP_FORMAT, INDUCTOR_CONFIGS, deploy

    xyz = "".join(f"{a.get_chemical_formula()} {a.positions.round(10).tolist()} "
                  f"{a.cell[:].round(10).tolist()} {a.get_potential_energy():.12f}\n" for a in frames)
    # the data set gets its own entry: checkpoints record its path, and nequip
    # reads it again when a checkpoint is compiled later (ennp deploy, nequip-compile)
    data_dir = cached_dir("datasets", content_key("data", xyz),
                          lambda tmp: ase.io.write(tmp / "data.xyz", list(frames), format="extxyz"))
    data = data_dir / "data.xyz"
    key = content_key("tiny_model-v3", ENNP_FORMAT, INDUCTOR_CONFIGS, asdict(settings), max_epochs, xyz,
                      torch.__version__, nequip.__version__, platform.machine(), _cpu_isa())

    def build(tmp: Path) -> None:
        ckpt = train(nequip_config(data, settings, max_epochs=max_epochs), tmp / "train")
        deploy(ckpt, tmp / f"{name}.nequip.pt2")

    d = cached_dir("models", key, build)
    return {"checkpoint": d / "train" / "out" / "last.ckpt",
            "deployed": d / f"{name}.nequip.pt2",
            "data": data}


def _cpu_isa() -> str:
    import torch._inductor.cpu_vec_isa as isa

    return str(isa.pick_vec_isa())
