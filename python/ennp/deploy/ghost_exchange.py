"""Ghost-atom feature exchange between message-passing layers (``ennp::ghost_exchange``).

With MPI each rank evaluates edges centred on its own atoms only. Before each
convolution after the first, the features of ghost atoms must equal those of
their owners on other ranks: the op ``ennp::ghost_exchange`` copies them there
(LAMMPS forward communication), and its gradient ``ennp::ghost_exchange_reverse``
sums the ghosts' feature gradients back onto the owners (reverse
communication). No ghost atom is computed twice, and ghosts reach one cutoff.

The LAMMPS plugin registers the real implementations (plugin/ennp_exchange.cpp)
under the same schemas. The Python ones below exist for tracing and for
nequip's check of the compiled model, where there is one process and no
ghost: the exchange is then the identity.
"""

from __future__ import annotations

import torch
from nequip.nn._ghost_exchange_base import GhostExchangeModule, NoOpGhostExchangeModule


@torch.library.custom_op("ennp::ghost_exchange", mutates_args=())
def ghost_exchange(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@torch.library.custom_op("ennp::ghost_exchange_reverse", mutates_args=())
def ghost_exchange_reverse(grad: torch.Tensor) -> torch.Tensor:
    return grad.clone()


@ghost_exchange.register_fake
def _(x):
    return torch.empty_like(x)


@ghost_exchange_reverse.register_fake
def _(grad):
    return torch.empty_like(grad)


def _backward(ctx, grad):
    return torch.ops.ennp.ghost_exchange_reverse(grad)


def _reverse_backward(ctx, grad):
    return torch.ops.ennp.ghost_exchange(grad)


ghost_exchange.register_autograd(_backward)
# the reverse exchange is the adjoint of the forward one (for double backward)
ghost_exchange_reverse.register_autograd(_reverse_backward)


class EnnpGhostExchange(GhostExchangeModule):
    """Replaces nequip's no-op exchange hook inside each interaction block."""

    def forward(self, data, ghost_included: bool = False):
        data[self.field] = torch.ops.ennp.ghost_exchange(data[self.field])
        return data


def use_ghost_exchange(model: torch.nn.Module) -> int:
    """Swap every nequip no-op exchange hook for ``EnnpGhostExchange``.

    Returns the width (values per atom) of the widest exchanged feature, which
    LAMMPS needs to size its communication buffers; 0 if the model has no hook.
    """
    width = 0
    for _, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NoOpGhostExchangeModule):
                new = EnnpGhostExchange(field=child.field, irreps_in=child.irreps_in)
                setattr(parent, name, new)
                width = max(width, child.irreps_in[child.field].dim)
    return width
