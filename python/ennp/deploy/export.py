"""``ennp deploy``: compile a nequip checkpoint/package for ``pair_style ennp``.

Writes an AOTInductor package (``.nequip.pt2``) with the inputs of nequip's
``pair_nequip`` target plus ``[nlocal, nghost]``, and the outputs per-atom
energy, forces and virial of the local energy (:mod:`.local_energy`); between
layers the model exchanges ghost features through LAMMPS
(:mod:`.ghost_exchange`). The metadata keys ``ennp_*`` tell the plugin how to
use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# keep in sync with plugin/ennp_model.cpp
ENNP_FORMAT = "2"    # 2: ghost features exchanged between layers
PT2_SUFFIX = ".nequip.pt2"


def _check_paths(model_path: Path, out: Path) -> None:
    if not str(out).endswith(PT2_SUFFIX):
        raise ValueError(f"output file must end with {PT2_SUFFIX}: {out}")
    if not model_path.is_file():
        raise FileNotFoundError(f"no such checkpoint or package: {model_path}")


def deploy(model_path: str | os.PathLike, out: str | os.PathLike, device: str = "cpu") -> Path:
    """Compile ``model_path`` (``.ckpt`` or ``.nequip.zip``) to ``out`` for ``device``."""
    model_path, out = Path(model_path), Path(out)
    _check_paths(model_path, out)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, not {device!r}")

    import torch
    from nequip.data import AtomicDataDict
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.model.utils import _EAGER_MODEL_KEY
    from nequip.scripts._compile_utils import LMP_OUTPUTS, PAIR_NEQUIP_INPUTS
    from nequip.scripts._workflow_utils import set_workflow_state
    from nequip.utils.aot import aot_export_model
    from nequip.utils.aoti_metadata import (NEQUIP_AOTI_INPUTS_KEY,
                                            NEQUIP_AOTI_OUTPUTS_KEY,
                                            embed_custom_ops_libs,
                                            serialize_aoti_keys)
    from nequip.utils.global_state import get_latest_global_state, set_global_state

    from .ghost_exchange import use_ghost_exchange
    from .local_energy import NLOCAL_KEY, message_passing_layers, use_local_energy

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but this torch has no usable CUDA device")

    set_workflow_state("compile")
    try:
        set_global_state(allow_tf32=False)
        try:
            model, data = load_saved_model(str(model_path), _EAGER_MODEL_KEY, return_data_dict=True)
        except Exception as exc:    # torch/lightning raise many kinds for a wrong file
            raise ValueError(f"{model_path} is not a loadable nequip checkpoint or .nequip.zip "
                             f"package: {type(exc).__name__}: {exc}") from exc
        layers = message_passing_layers(model)
        use_local_energy(model)
        width = use_ghost_exchange(model)

        metadata = dict(model.metadata)
        metadata.update(get_latest_global_state(only_metadata_related=True))
        metadata = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in metadata.items()}
        inputs = PAIR_NEQUIP_INPUTS + [NLOCAL_KEY]
        outputs = list(LMP_OUTPUTS)
        metadata[NEQUIP_AOTI_INPUTS_KEY] = serialize_aoti_keys(inputs)
        metadata[NEQUIP_AOTI_OUTPUTS_KEY] = serialize_aoti_keys(outputs)
        metadata["ennp_format"] = ENNP_FORMAT
        metadata["ennp_num_layers"] = str(layers)
        # ghost features are exchanged between layers: ghosts need one cutoff only
        metadata["ennp_exchange_width"] = str(width)
        metadata["ennp_device"] = device
        metadata["ennp_source"] = model_path.name

        # one frame, no batch; trace with some nodes marked ghost so that the
        # masked sum is exercised by nequip's own post-export check
        data = {k: v for k, v in data.items()
                if k not in (AtomicDataDict.BATCH_KEY, AtomicDataDict.NUM_NODES_KEY)}
        n = data[AtomicDataDict.POSITIONS_KEY].shape[0]
        data[NLOCAL_KEY] = torch.tensor([n - n // 4, n // 4], dtype=torch.int64)
        data = AtomicDataDict.to_(data, torch.device(device))

        batch_map = {
            "graph": torch.export.Dim.STATIC,
            "node": torch.export.Dim("num_nodes", min=2),
            "edge": torch.export.Dim("num_edges", min=2),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            part = Path(tmp) / out.name
            aot_export_model(model=model, device=device, input_fields=inputs,
                             output_fields=outputs, data=data, batch_map=batch_map,
                             output_path=str(part),
                             inductor_configs={"aot_inductor.metadata": metadata}, seed=1)
            # nequip's Python loaders import this module (the exchange ops) first
            embed_custom_ops_libs(str(part), {"ennp.deploy.ghost_exchange"})
            os.replace(part, out)  # never leave a half-written model under the real name
    finally:
        set_workflow_state(None)
    return out
