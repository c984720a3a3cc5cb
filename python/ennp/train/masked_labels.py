"""Training on frames whose labels are partly unknown (NaN).

A piece carved out of a large run (``ennp al harvest``) has trustworthy forces
only on its core atoms: the buffer atoms sit next to an artificial surface, and
so does the piece's energy. Their labels are set to NaN and left out of every
loss term, metric and data statistic with nequip's ``ignore_nan``.

nequip's mean metrics divide by the number of entries, which is 0 for a batch
whose energies are all NaN (a batch of pieces only); that would turn the loss
into NaN. :class:`NanSafeMeanSquaredError` and :class:`NanSafeMeanAbsoluteError`
give 0 there instead, so such a batch trains on its forces alone.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from nequip.train.metrics import MeanAbsoluteError, MeanSquaredError

CORE_ARRAY = "ennp_core"    # per-atom bool: the atom's force label is trusted


class NanSafeMeanSquaredError(MeanSquaredError):
    """Mean squared error that is 0, not NaN, over no entries."""

    def compute(self) -> torch.Tensor:
        return self.sum.div(self.count) if self.count > 0 else torch.zeros_like(self.sum, dtype=torch.float64)


class NanSafeMeanAbsoluteError(MeanAbsoluteError):
    """Mean absolute error that is 0, not NaN, over no entries."""

    def compute(self) -> torch.Tensor:
        return self.sum.div(self.count) if self.count > 0 else torch.zeros_like(self.sum, dtype=torch.float64)


def masked_copy(atoms, energies: bool = False):
    """``atoms`` with NaN force labels on atoms outside its core (``ennp_core``) and, unless
    ``energies``, a NaN energy; a frame without a core array is returned unchanged."""
    if CORE_ARRAY not in atoms.arrays:
        return atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    core = np.asarray(atoms.arrays[CORE_ARRAY], dtype=bool)
    forces = atoms.get_forces().copy()
    forces[~core] = np.nan
    energy = atoms.get_potential_energy() if energies else float("nan")
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces)
    return out


def _stress(atoms):
    calc = atoms.calc
    return None if calc is None else calc.results.get("stress")


def with_consistent_stress(frames) -> list:
    """nequip batches only frames with the same label keys: where some frames carry a stress,
    the others (pieces in vacuum have none) get a NaN stress, ignored like the other NaNs."""
    if not any(_stress(a) is not None for a in frames):
        return list(frames)
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for a in frames:
        if _stress(a) is None:
            results = dict(a.calc.results)
            a = a.copy()
            a.calc = SinglePointCalculator(a, **results, stress=np.full(6, np.nan))
        out.append(a)
    return out


def has_nan_labels(frames) -> bool:
    return any(CORE_ARRAY in a.arrays for a in frames)


_METRIC = "ennp.train.masked_labels.NanSafeMean{}Error"
_PER_ATOM_ENERGY = {"_target_": "nequip.data.PerAtomModifier", "field": "total_energy"}


def _entry(name: str, field, kind: str, coeff) -> dict:
    return {"name": name, "field": field, "coeff": coeff, "ignore_nan": True,
            "metric": {"_target_": _METRIC.format(kind)}}


def with_masked_labels(config: dict) -> dict:
    """A nequip-train config (ennp's template: EnergyForceLoss, EnergyForceMetrics and
    CommonDataStatisticsManager) rewritten so that NaN labels are ignored everywhere."""
    config = copy.deepcopy(config)
    module = config["training_module"]
    loss = module.get("loss", {})
    if loss.get("_target_") != "nequip.train.EnergyForceLoss":
        raise ValueError("training on harvested pieces needs the loss nequip.train.EnergyForceLoss in the "
                         f"nequip-train template (found {loss.get('_target_')!r}); its forces and energies "
                         "are then rewritten to ignore the buffer atoms' NaN labels")
    coeffs = loss.get("coeffs", {"total_energy": 1.0, "forces": 1.0})
    per_atom = loss.get("per_atom_energy", True)
    module["loss"] = {"_target_": "nequip.train.MetricsManager", "metrics": [
        _entry("per_atom_energy_mse" if per_atom else "total_energy_mse",
               _PER_ATOM_ENERGY if per_atom else "total_energy", "Squared", coeffs["total_energy"]),
        _entry("forces_mse", "forces", "Squared", coeffs["forces"])]}
    for key in ("train_metrics", "val_metrics", "test_metrics"):
        if key in module:
            module[key] = {"_target_": "nequip.train.MetricsManager", "metrics": [
                _entry("total_energy_mae", "total_energy", "Absolute", 1.0),
                _entry("forces_mae", "forces", "Absolute", 1.0)]}
    types = config["data"]["stats_manager"].get("type_names")
    config["data"]["stats_manager"] = {
        "_target_": "nequip.data.DataStatisticsManager", "type_names": types, "metrics": [
            {"name": "num_neighbors_mean", "field": {"_target_": "nequip.data.NumNeighbors"},
             "metric": {"_target_": "nequip.data.Mean"}},
            {"name": "per_atom_energy_mean", "field": _PER_ATOM_ENERGY, "ignore_nan": True,
             "metric": {"_target_": "nequip.data.Mean"}},
            {"name": "forces_rms", "field": "forces", "ignore_nan": True,
             "metric": {"_target_": "nequip.data.RootMeanSquare"}}]}
    return config
