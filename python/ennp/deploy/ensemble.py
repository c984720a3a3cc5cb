"""An ensemble of K members of one architecture as one model: one graph, one call.

Each member is the model a single ``ennp deploy`` compiles (energy of the local
atoms, ghost features exchanged between layers); the ensemble runs them one
after another on the same inputs and stacks their outputs on a leading member
axis: ``atomic_energy`` (K, N, 1), ``forces`` (K, N, 3), ``virial`` (K, 1, 3, 3).

The members are not batched into shared kernels: vmapping nequip's energy
model over stacked weights gives the same numbers eagerly, but under nequip's
symbolic ``make_fx`` tracing vmap's batching rules read concrete sizes and fix
the number of nodes and edges of the traced graph (its check of two traces
then fails), so a package could not take a second structure. Compiled with
static sizes, four vmapped members were 1.6x slower than the same members one
after another on one CPU thread (benchmarks/bench_ensemble_sharing.py).
"""

from __future__ import annotations

import torch
from nequip.data import AtomicDataDict

# metadata of a package that evaluates several members in one call: their number
# (keep in sync with plugin/ennp_model.cpp)
ENSEMBLE_KEY = "ennp_ensemble_members"
# metadata that must agree between members of one ensemble package, with the name
# the refusal uses
MUST_AGREE = {"type_names": "type names", "r_max": "r_max", "per_edge_type_cutoff": "per-type cutoffs",
              "model_dtype": "model dtype", "ennp_num_layers": "number of layers"}
OUTPUTS = (AtomicDataDict.PER_ATOM_ENERGY_KEY, AtomicDataDict.FORCE_KEY, AtomicDataDict.VIRIAL_KEY)


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


class EnsembleModel(torch.nn.Module):
    """K prepared members (local energy, ghost exchange) evaluated in one call."""

    def __init__(self, members: list[torch.nn.Module]):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.model_dtype = members[0].model_dtype
        self.metadata = dict(members[0].metadata)

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        results = [member(dict(data)) for member in self.members]
        out = dict(data)
        for key in OUTPUTS:
            out[key] = torch.stack([r[key] for r in results])
        return out
