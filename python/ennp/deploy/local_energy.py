"""A NequIP model whose energy, forces and virial are those of local atoms only.

Under MPI each LAMMPS rank owns ``nlocal`` atoms and sees ghost atoms of its
neighbours. For a message-passing model the exact force on every atom is
F_j = -d(sum_ranks E_local)/dr_j, so each rank must differentiate the energy
of *its own* atoms with respect to local and ghost positions; LAMMPS then
sums the ghost forces onto their owners (reverse communication). nequip's
stock ``pair_nequip`` target differentiates the energy of all nodes, which
double counts ghosts. This module swaps nequip's total-energy sum for one
over the first ``nlocal`` nodes; nequip's ForceStressOutput then gives
exactly the local forces and the local virial.
"""

from __future__ import annotations

import torch
from nequip.data import AtomicDataDict, register_fields
from nequip.data._key_registry import get_field_type
from nequip.nn import AtomwiseReduce
from nequip.nn._graph_mixin import GraphModuleMixin

# [nlocal, nghost] (int64, shape (2,)): a key nequip already passes through
# GraphModel for LAMMPS ML-IAP. nequip's export tracer must know its kind;
# as a per-frame field its shape stays static.
NLOCAL_KEY = AtomicDataDict.NUM_LOCAL_GHOST_NODES_KEY
if get_field_type(NLOCAL_KEY, error_on_unregistered=False) is None:
    register_fields(graph_fields=[NLOCAL_KEY])


class LocalEnergySum(GraphModuleMixin, torch.nn.Module):
    """Sum ``field`` over nodes ``0 .. nlocal-1`` (ghosts come last)."""

    def __init__(self, field: str, out_field: str, irreps_in=None):
        super().__init__()
        self.field = field
        self.out_field = out_field
        irreps_in = dict(irreps_in or {})
        self._init_irreps(irreps_in=irreps_in,
                          irreps_out={out_field: irreps_in[field]})

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        energies = data[self.field]
        nlocal = data[NLOCAL_KEY][0]
        node = torch.arange(energies.shape[0], device=energies.device)
        mask = (node < nlocal).to(energies.dtype).unsqueeze(-1)
        data[self.out_field] = (energies * mask).sum(dim=0, keepdim=True)
        return data


def use_local_energy(model: torch.nn.Module) -> int:
    """Replace the total-energy AtomwiseReduce in ``model`` in place.

    Returns the number of replaced modules (1 for a NequIP model); raises if
    the model has no such reduction, since the result would then be wrong.
    """
    replaced = 0
    for _, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if (isinstance(child, AtomwiseReduce)
                    and child.field == AtomicDataDict.PER_ATOM_ENERGY_KEY
                    and child.out_field == AtomicDataDict.TOTAL_ENERGY_KEY
                    and child.reduce == "sum" and child.constant == 1.0):
                setattr(parent, child_name,
                        LocalEnergySum(child.field, child.out_field, child.irreps_in))
                replaced += 1
    if replaced == 0:
        raise ValueError(
            "model has no per-atom -> total energy sum (AtomwiseReduce "
            "atomic_energy -> total_energy); ennp cannot make it MPI-exact")
    return replaced


def message_passing_layers(model: torch.nn.Module) -> int:
    """Number of message-passing (convolution) layers; 1 for strictly local models.

    LAMMPS ghost atoms must reach ``layers * r_max`` for exact energies.
    """
    from nequip.nn import ConvNetLayer

    layers = sum(1 for m in model.modules() if isinstance(m, ConvNetLayer))
    return max(layers, 1)
