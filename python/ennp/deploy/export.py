"""``ennp deploy``: compile a nequip checkpoint/package for ``pair_style ennp``.

Writes an AOTInductor package (``.nequip.pt2``) with the inputs of nequip's
``pair_nequip`` target plus ``[nlocal, nghost]``, and the outputs per-atom
energy, forces and virial of the local energy (:mod:`.local_energy`); between
layers the model exchanges ghost features through LAMMPS
(:mod:`.ghost_exchange`). The metadata keys ``ennp_*`` tell the plugin how to
use it.

The compile takes about a minute on one core. A compiled package is kept in
the cache as the template of its architecture: a later member of the same
architecture gets its weights written into a copy (:mod:`.weights`), checked
against the eager model, in a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# keep in sync with plugin/ennp_model.cpp
ENNP_FORMAT = "2"    # 2: ghost features exchanged between layers
PT2_SUFFIX = ".nequip.pt2"
# - uniform tensors (a per-type scale equal for all types) would be folded into the
#   code as literals; kept as constants, a further member can swap them in.
# - Inductor generates the CPU kernels for the compiling process's thread count: with
#   several, OpenMP loops and aten's scatter_reduce for the message sums; with one,
#   serial loops that sum in place. On 2 cores the serial code ran the tiny model 1.6x
#   faster at 1 thread and 2.6x at 2 (docs/deploy_label.md), and it is what running model
#   files side by side, one thread each, needs. Matrix products still use all threads.
INDUCTOR_CONFIGS = {"joint_graph_constant_folding": False, "cpp.threads": 1}


def _check_paths(model_path: Path, out: Path) -> None:
    if not str(out).endswith(PT2_SUFFIX):
        raise ValueError(f"output file must end with {PT2_SUFFIX}: {out}")
    if not model_path.is_file():
        raise FileNotFoundError(f"no such checkpoint or package: {model_path}")


# metadata that differs between members of one architecture: not part of a template's key,
# written into each swapped package
PER_MEMBER_METADATA = ("ennp_source", "ennp_min_distance", "ennp_domain_frames")


def domain_metadata(data: str | os.PathLike, type_names: list[str], r_max: float) -> dict[str, str]:
    """``ennp_min_distance`` ("El1-El2:d ...", A) and ``ennp_domain_frames`` of a training data
    file (any format ASE reads): pair_style ennp warns where atoms come closer than that."""
    import ase.io

    from ..train.domain import min_pair_distances

    data = Path(data)
    if not data.is_file():
        raise ValueError(f"--data {data}: no such file")
    try:
        frames = ase.io.read(data, index=":")
    except Exception as exc:    # ASE raises many kinds for a file it cannot read
        raise ValueError(f"--data {data}: not a structure file ASE reads ({type(exc).__name__}: {exc})") from exc
    unknown = sorted({s for a in frames for s in a.get_chemical_symbols()} - set(type_names))
    if not frames or unknown:
        raise ValueError(f"--data {data}: " + (f"elements {unknown} are not in the model ({type_names})"
                                                if unknown else "no frames"))
    pairs = min_pair_distances(frames, list(type_names), r_max)
    return {"ennp_min_distance": " ".join(f"{k}:{v:.6g}" for k, v in pairs.items()),
            "ennp_domain_frames": str(len(frames))}


def module_structure(model) -> list:
    """The module tree and tensor shapes of a model: what members of one architecture share."""
    from .weights import module_tensors

    shapes = [(name, list(t.shape), str(t.dtype)) for name, t in module_tensors(model).items()]
    tree = [(name, type(m).__module__, type(m).__qualname__) for name, m in model.named_modules()]
    return [tree, shapes]


def architecture_key(model, metadata: dict, device: str) -> str:
    """Hash of the module tree, tensor shapes and metadata: not of the weights.

    Settings the tree does not show (a float baked into the code) are caught
    by the check of every swapped package against its eager model.
    """
    import nequip
    import torch
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    from ..cache import content_key

    fixed = {k: v for k, v in metadata.items() if k not in PER_MEMBER_METADATA}
    return content_key("deploy-template", ENNP_FORMAT, torch.__version__, nequip.__version__,
                       device, str(pick_vec_isa()), INDUCTOR_CONFIGS, fixed, *module_structure(model))


def _same_as_eager(package: Path, model, data: dict, inputs: list, outputs: list) -> None:
    """nequip's own check of a compiled model against the eager one (AssertionError if not)."""
    from nequip.nn.compile import DictInputOutputWrapper
    from nequip.utils.dtype import test_model_output_similarity_by_dtype

    from .package import load_package

    compiled = DictInputOutputWrapper(load_package(package), inputs, outputs)
    test_model_output_similarity_by_dtype(compiled, model, {k: data[k] for k in inputs},
                                          model.model_dtype, fields=outputs)


def _check_device(device: str) -> None:
    import torch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but this torch has no usable CUDA device")


@contextlib.contextmanager
def _compile_state():
    """nequip's global state for compiling (no TF32), and its workflow marker."""
    from nequip.scripts._workflow_utils import set_workflow_state
    from nequip.utils.global_state import set_global_state

    set_workflow_state("compile")
    try:
        set_global_state(allow_tf32=False)
        yield
    finally:
        set_workflow_state(None)


def _load(model_path: Path):
    """The eager model of a checkpoint or package and the data it was saved with."""
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.model.utils import _EAGER_MODEL_KEY

    try:
        return load_saved_model(str(model_path), _EAGER_MODEL_KEY, return_data_dict=True)
    except Exception as exc:    # torch/lightning raise many kinds for a wrong file
        raise ValueError(f"{model_path} is not a loadable nequip checkpoint or .nequip.zip "
                         f"package: {type(exc).__name__}: {exc}") from exc


def _metadata(model, model_path: Path, layers: int, width: int, device: str,
              training_data: str | os.PathLike | None) -> dict[str, str]:
    """What the plugin reads from a package (inputs, outputs, ennp_* keys) and nequip's own."""
    from nequip.scripts._compile_utils import LMP_OUTPUTS
    from nequip.utils.aoti_metadata import (NEQUIP_AOTI_INPUTS_KEY, NEQUIP_AOTI_OUTPUTS_KEY,
                                            serialize_aoti_keys)
    from nequip.utils.global_state import get_latest_global_state

    metadata = dict(model.metadata)
    metadata.update(get_latest_global_state(only_metadata_related=True))
    metadata = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in metadata.items()}
    metadata[NEQUIP_AOTI_INPUTS_KEY] = serialize_aoti_keys(package_inputs())
    metadata[NEQUIP_AOTI_OUTPUTS_KEY] = serialize_aoti_keys(list(LMP_OUTPUTS))
    metadata["ennp_format"] = ENNP_FORMAT
    metadata["ennp_num_layers"] = str(layers)
    # ghost features are exchanged between layers: ghosts need one cutoff only
    metadata["ennp_exchange_width"] = str(width)
    metadata["ennp_device"] = device
    metadata["ennp_source"] = model_path.name
    if training_data is not None:
        metadata.update(domain_metadata(training_data, metadata["type_names"].split(), float(metadata["r_max"])))
    return metadata


def package_inputs() -> list[str]:
    """The package's inputs: nequip's pair_nequip ones and [nlocal, nghost]."""
    from nequip.scripts._compile_utils import PAIR_NEQUIP_INPUTS

    from .local_energy import NLOCAL_KEY

    return PAIR_NEQUIP_INPUTS + [NLOCAL_KEY]


def _trace_data(data: dict, device: str) -> dict:
    """One frame, no batch; some nodes marked ghost so that the masked sum is exercised by
    nequip's own post-export check."""
    import torch
    from nequip.data import AtomicDataDict

    from .local_energy import NLOCAL_KEY

    data = {k: v for k, v in data.items()
            if k not in (AtomicDataDict.BATCH_KEY, AtomicDataDict.NUM_NODES_KEY)}
    n = data[AtomicDataDict.POSITIONS_KEY].shape[0]
    data[NLOCAL_KEY] = torch.tensor([n - n // 4, n // 4], dtype=torch.int64)
    return AtomicDataDict.to_(data, torch.device(device))


def _compile(model, data: dict, metadata: dict, out: Path, device: str) -> None:
    """AOTInductor-compile ``model`` to ``out`` (written under a temporary name first)."""
    import torch
    from nequip.scripts._compile_utils import LMP_OUTPUTS
    from nequip.utils.aot import aot_export_model
    from nequip.utils.aoti_metadata import embed_custom_ops_libs

    batch_map = {
        "graph": torch.export.Dim.STATIC,
        "node": torch.export.Dim("num_nodes", min=2),
        "edge": torch.export.Dim("num_edges", min=2),
    }
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        part = Path(tmp) / out.name
        aot_export_model(model=model, device=device, input_fields=package_inputs(),
                         output_fields=list(LMP_OUTPUTS), data=data, batch_map=batch_map,
                         output_path=str(part),
                         inductor_configs=INDUCTOR_CONFIGS | {"aot_inductor.metadata": metadata},
                         seed=1)
        # nequip's Python loaders import this module (the exchange ops) first
        embed_custom_ops_libs(str(part), {"ennp.deploy.ghost_exchange"})
        os.replace(part, out)  # never leave a half-written model under the real name


def _deploy_model(model, data: dict, metadata: dict, out: Path, device: str, reuse: bool,
                  progress, label: str) -> Path:
    """Write the prepared ``model`` to ``out``: from the cached template of its architecture
    when there is one (CPU), else compiled (and kept as the template).

    The template is a cache entry built under its lock: a deploy of the same architecture that
    starts while the first one compiles (AL members, the tests' background builds) waits for
    that compile and swaps its weights in, instead of compiling the same code a second time.
    """
    from nequip.scripts._compile_utils import LMP_OUTPUTS

    from ..cache import cached_dir
    from .weights import (WeightSwapError, load_template, module_tensors, save_template,
                          swap_weights)

    out.parent.mkdir(parents=True, exist_ok=True)

    def compile_out() -> None:
        progress(f"{label}: compiling with AOTInductor (about a minute per member on one core)")
        _compile(model, data, metadata, out, device)

    if not (reuse and device == "cpu"):
        compile_out()
        return out
    compiled_here = []

    def build_template(folder: Path) -> None:
        compile_out()
        compiled_here.append(out)
        save_template(out, module_tensors(model), folder)

    try:
        template = cached_dir("deploy_templates", architecture_key(model, metadata, device), build_template,
                              waiting=lambda: progress(f"{label}: waiting for another process that compiles "
                                                       f"this architecture"))
    except WeightSwapError as exc:    # compiled, but its constants could not be mapped
        progress(f"{label}: not kept as a template ({exc})")
        return out
    if compiled_here:
        return out
    try:
        package, names, fixed = load_template(template)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            part = swap_weights(package, names, fixed, module_tensors(model), Path(tmp) / out.name,
                                {k: metadata.get(k) for k in PER_MEMBER_METADATA})
            _same_as_eager(part, model, data, package_inputs(), list(LMP_OUTPUTS))
            os.replace(part, out)
        progress(f"{label}: weights written into the compiled template {template.name}")
    except (WeightSwapError, AssertionError, OSError, ValueError) as exc:
        # a template that does not fit or cannot be read costs a compile, never a wrong model
        progress(f"{label}: the template does not fit ({exc}); compiling")
        compile_out()
    return out


def _prepared(model_path: Path):
    """A member as the plugin runs it: energy of local atoms, ghost features exchanged;
    with its trace data, number of layers and exchange width."""
    from .ghost_exchange import use_ghost_exchange
    from .local_energy import message_passing_layers, use_local_energy

    model, data = _load(model_path)
    layers = message_passing_layers(model)
    use_local_energy(model)
    return model, data, layers, use_ghost_exchange(model)


def deploy(model_path: str | os.PathLike, out: str | os.PathLike, device: str = "cpu",
           reuse: bool = True, progress=None, training_data: str | os.PathLike | None = None) -> Path:
    """Compile ``model_path`` (``.ckpt`` or ``.nequip.zip``) to ``out`` for ``device``.

    With ``reuse`` (CPU only), a model whose architecture was compiled before
    gets the cached template with its own weights instead of a compile.
    ``training_data``: the training data file, whose per-pair minimum distances go into the metadata.
    """
    model_path, out = Path(model_path), Path(out)
    _check_paths(model_path, out)
    _check_device(device)
    with _compile_state():
        model, data, layers, width = _prepared(model_path)
        metadata = _metadata(model, model_path, layers, width, device, training_data)
        return _deploy_model(model, _trace_data(data, device), metadata, out, device, reuse,
                             progress or (lambda message: None), model_path.name)


def deploy_ensemble(model_paths: list, out: str | os.PathLike, device: str = "cpu", reuse: bool = True,
                    progress=None, training_data: str | os.PathLike | None = None) -> Path:
    """Deploy K members of one architecture into one package file (:mod:`.ensemble`): each
    member as ``deploy`` writes it (the first compiled or taken from the architecture's
    template, the others by weight swapping), member 0 first.

    Members that differ in type names, cutoffs, dtype, depth or structure are refused
    (:class:`.ensemble.EnsembleError`); they still work as separate files.
    ``training_data`` goes into member 0's metadata, the package's.
    """
    model_paths, out = [Path(p) for p in model_paths], Path(out)
    for path in model_paths:
        _check_paths(path, out)
    _check_device(device)
    progress = progress or (lambda message: None)

    from .ensemble import ENSEMBLE_KEY, check_members, join_members

    if len(model_paths) < 2:
        check_members([p.name for p in model_paths], [], [])
    with _compile_state():
        members, metadata, structures = [], [], []
        for path in model_paths:
            model, data, layers, width = _prepared(path)
            members.append((model.to(device), _trace_data(data, device)))
            metadata.append(_metadata(model, path, layers, width, device, None if metadata else training_data))
            structures.append(module_structure(model))
        check_members([p.name for p in model_paths], metadata, structures)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            files = []
            for k, ((model, data), meta) in enumerate(zip(members, metadata)):
                files.append(_deploy_model(model, data, meta, Path(tmp) / f"member{k}{PT2_SUFFIX}", device, reuse,
                                           progress, f"{out.name} member {k + 1}/{len(members)}"))
            join_members(files, out, {ENSEMBLE_KEY: str(len(members)),
                                      "ennp_source": " ".join(p.name for p in model_paths)})
    progress(f"{out.name}: {len(members)} members in one file")
    return out
