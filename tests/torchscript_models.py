"""TorchScript models with the interface of nequip's deployed .nequip.pth files.

torch 2.13 cannot make a real nequip TorchScript model (nequip refuses it on
torch >= 2.10), so the TorchScript loader is tested with a Morse pair
potential that speaks the same dictionary interface and metadata; LAMMPS's
own pair_style morse is the independent reference.
"""

from typing import Dict

import torch


class MorseDictModel(torch.nn.Module):
    """Morse energies on nequip's inputs; outputs atomic_energy, forces, virial."""

    def __init__(self, d0: float, alpha: float, r0: float, make_nan: bool = False):
        super().__init__()
        self.d0, self.alpha, self.r0 = d0, alpha, r0
        self.make_nan = make_nan

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pos, cell = data["pos"], data["cell"].view(3, 3)
        edges, shift = data["edge_index"], data["edge_cell_shift"]
        vec = pos[edges[1]] - pos[edges[0]] + shift @ cell
        if not vec.requires_grad:    # as nequip does: make the graph differentiable
            vec.requires_grad_(True)
        r = torch.linalg.norm(vec, dim=1)
        e_edge = self.d0 * ((1 - torch.exp(-self.alpha * (r - self.r0))) ** 2 - 1)
        if self.make_nan:
            e_edge = e_edge * float("nan")
        # full edge list: each pair appears twice, half to each centre
        atomic = torch.zeros(pos.shape[0], dtype=pos.dtype).index_add(0, edges[0], 0.5 * e_edge)
        grads = torch.autograd.grad([atomic.sum()], [vec], create_graph=self.training)
        g = grads[0]
        assert g is not None
        de_dpos = torch.zeros_like(pos).index_add(0, edges[1], g).index_add(0, edges[0], -g)
        out: Dict[str, torch.Tensor] = {}
        out["atomic_energy"] = atomic.unsqueeze(-1)
        out["total_energy"] = atomic.sum().view(1, 1)
        out["forces"] = -de_dpos
        out["virial"] = (-(vec.unsqueeze(2) * g.unsqueeze(1)).sum(0)).view(1, 3, 3)
        return out


def save_morse(path, type_names, d0=0.3, alpha=1.5, r0=2.9, r_max=5.0, make_nan=False,
               num_layers=1):
    module = torch.jit.script(MorseDictModel(d0, alpha, r0, make_nan))
    extra = {"r_max": str(r_max), "type_names": " ".join(type_names), "model_dtype": "float64"}
    if num_layers:    # a pair potential is exact with any declared depth >= 1
        extra["num_layers"] = str(num_layers)
    torch.jit.save(module, str(path), _extra_files=extra)
    return path
