"""An ensemble of K members of one architecture in one package file.

Each member is the model a single ``ennp deploy`` writes (energy of the local
atoms, ghost features exchanged between layers), compiled once per architecture
and the further members by weight swapping (:mod:`.weights`). The package is one
AOTInductor archive that holds each member as a model of its own: ``model`` is
member 0 (what a loader of a single model gets), ``member1`` ... ``member{K-1}``
the others, and member 0's metadata gives K (``ennp_ensemble_members``). The
plugin loads all of them; ``compute ennp/ensemble`` evaluates them on one graph,
several at a time on a rank's threads, and ``pair_style ennp`` drives with
member 0 alone or with the members' mean.

The members are kept as separate models, not one graph: one graph runs them one
after another inside one call, so it can neither run members side by side on
several threads nor let the pair evaluate member 0 alone. Batching them into
shared kernels does not pay on CPUs: vmapped over stacked weights, four members
were 1.6x slower than one after another on one thread (compiled with static
sizes: under nequip's symbolic ``make_fx`` tracing, vmap's batching rules read
concrete sizes and fix the number of nodes and edges), and sharing only their
edge geometry saves at most 8-12% (benchmarks/bench_ensemble_sharing.py).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .package import updated_metadata

# metadata of member 0 in an ensemble package: the number of members
# (keep in sync with plugin/ennp_model.cpp)
ENSEMBLE_KEY = "ennp_ensemble_members"
# metadata that must agree between members of one ensemble package, with the name
# the refusal uses
MUST_AGREE = {"type_names": "type names", "r_max": "r_max", "per_edge_type_cutoff": "per-type cutoffs",
              "model_dtype": "model dtype", "ennp_num_layers": "number of layers"}


class EnsembleError(ValueError):
    """Members that cannot share one ensemble package."""


def check_members(names: list[str], metadata: list[dict], structures: list[list]) -> None:
    """Refuse members that cannot share a graph and a code: one member, or any difference
    in type names, cutoffs, dtype, depth or module structure (names, types, tensor shapes)."""
    if len(names) < 2:
        raise EnsembleError(f"an ensemble package needs at least two members, got {len(names)}")
    for key, what in MUST_AGREE.items():
        values = [m.get(key, "") for m in metadata]
        if len(set(values)) > 1:
            listed = ", ".join(f"{n}: {v or '-'}" for n, v in zip(names, values))
            raise EnsembleError(f"members differ in {what} ({listed}); deploy them as separate "
                                f"files for compute ennp/ensemble")
    for name, structure in zip(names[1:], structures[1:]):
        if structure != structures[0]:
            raise EnsembleError(f"{name} differs from {names[0]} in its architecture (module "
                                f"tree or tensor shapes); deploy them as separate files")


MODEL_DIR = "data/aotinductor/model/"    # a single model's files in an AOTInductor package
ENSEMBLE_FILE = "ensemble.nequip.pt2"    # a generation's members as one package (ennp al)


def member_model(k: int) -> str:
    """The name of member k's model in the package (keep in sync with plugin/ennp_model.cpp)."""
    return "model" if k == 0 else f"member{k}"


def archive_metadata(path: str | Path) -> dict:
    """The metadata of a deployed file's model (member 0's in an ensemble package), read from
    the archive without loading the model."""
    try:
        with zipfile.ZipFile(path) as z:
            found = [n for n in z.namelist() if MODEL_DIR in n and n.endswith("_metadata.json")]
            return json.loads(z.read(found[0])) if found else {}
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"{path}: not a deployed model ({exc})") from exc


def members_in(path: str | Path) -> int:
    """How many members a deployed file holds: K for an ensemble package, else 1."""
    return int(archive_metadata(path).get(ENSEMBLE_KEY, 1))


def check_deployed(files: list[Path], names: list[str]) -> None:
    """Refuse (:class:`EnsembleError`) deployed files that cannot be joined into one package:
    files whose type names, cutoffs, dtype or depth differ, or that are ensemble packages
    themselves. Each member keeps its own compiled model, so their structures may differ."""
    metadata = [archive_metadata(f) for f in files]
    packages = [str(f) for f, m in zip(files, metadata) if int(m.get(ENSEMBLE_KEY, 1)) > 1]
    if packages:
        raise EnsembleError(f"{', '.join(packages)}: already an ensemble package; join single members")
    check_members(names, metadata, [[] for _ in files])


def join_deployed(files: list[Path], out: Path, names: list[str]) -> Path:
    """One ensemble package ``out`` of deployed single-member files (member 0 first, called
    ``names`` in its metadata), refused by :func:`check_deployed` before anything is written."""
    check_deployed(files, names)
    return join_members(files, out, {ENSEMBLE_KEY: str(len(files)), "ennp_source": " ".join(names)})


def join_members(files: list[Path], out: Path, metadata: dict[str, str]) -> Path:
    """Write the single-model packages ``files`` (member 0 first) as one package ``out``,
    with ``metadata`` added to member 0's (written under a temporary name first)."""
    part = out.with_name(f".{out.name}.part-{os.getpid()}")
    try:
        with zipfile.ZipFile(part, "w") as joined:
            root = None
            for k, path in enumerate(files):
                root = _add_member(joined, Path(path), k, root, metadata if k == 0 else None)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, out)
    return out


def _add_member(joined: zipfile.ZipFile, path: Path, k: int, root: str | None, metadata: dict | None) -> str:
    """Write the model of the single-model package ``path`` into ``joined`` as member k, under
    the archive root ``root`` (None: this package's); return the root."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        # the archive's root folder is named after the file it was written as
        prefix = next((i.filename.split(MODEL_DIR)[0] for i in infos if MODEL_DIR in i.filename), None)
        if prefix is None:
            raise EnsembleError(f"{path}: no AOTInductor model in the package")
        root = prefix if root is None else root
        for info in infos:
            name = root + info.filename[len(prefix):] if info.filename.startswith(prefix) else info.filename
            if MODEL_DIR not in name:    # the archive's records and the custom ops list: member 0's
                if k == 0:
                    joined.writestr(info, z.read(info.filename))
                continue
            data = z.read(info.filename)
            if metadata is not None and name.endswith("_metadata.json"):
                data = updated_metadata(data, metadata)
            renamed = zipfile.ZipInfo(name.replace(MODEL_DIR, f"data/aotinductor/{member_model(k)}/"), info.date_time)
            renamed.compress_type, renamed.external_attr = info.compress_type, info.external_attr
            joined.writestr(renamed, data)
    return root
