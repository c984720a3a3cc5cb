"""The embedded labeller: SevenNet-0, a universal potential trained on PBE(+U)
data of the Materials Project (MPtrj), whose weights ship inside the ``sevenn``
wheel (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)).

It stands in for DFT on laptops, in tests and in the demo; every frame it
labels says so in ``ennp_labeller``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from ..cache import content_key
from .results import label_with_calculator


@dataclass(frozen=True)
class UniversalSettings:
    model: str = "7net-0"     # a pretrained model name known to sevenn

    def physics_hash(self) -> str:
        import sevenn

        return content_key("sevennet", self.model, sevenn.__version__)


@contextmanager
def _float32_default():
    """sevenn builds and runs its model in torch's default dtype, which must be
    float32; nequip sets float64 process-wide once it has loaded a model."""
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@lru_cache(maxsize=2)
def _calculator(model: str):
    import warnings

    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return SevenNetCalculator(model, device="cpu")
        except Exception as exc:    # sevenn raises several kinds for an unknown name
            raise ValueError(f"sevennet model {model!r} cannot be loaded: {exc}") from exc


def label_universal(atoms, settings: UniversalSettings):
    """Energy, forces and stress of ``atoms`` from the universal potential."""
    with _float32_default():
        return label_with_calculator(
            atoms, _calculator(settings.model),
            ennp_labeller=f"sevennet:{settings.model} (stand-in for DFT)",
            ennp_label_hash=settings.physics_hash(), ennp_label_attempts=1)
