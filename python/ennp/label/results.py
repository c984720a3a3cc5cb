"""Labelled copies of structures (energy, forces and, for periodic cells, stress) and the
outcome of one labelling, whichever labeller made it."""

from __future__ import annotations

from dataclasses import dataclass

from ase.calculators.singlepoint import SinglePointCalculator


@dataclass(frozen=True)
class LabelOutcome:
    atoms: object | None            # labelled copy, or None if the calculation failed
    attempts: int
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.atoms is not None


def with_labels(atoms, energy, forces, stress=None, **info):
    """A copy of ``atoms`` carrying the labels (and provenance ``info``)."""
    out = atoms.copy()
    results = {"energy": energy, "forces": forces}
    if stress is not None:
        results["stress"] = stress
    out.calc = SinglePointCalculator(out, **results)
    out.info.update(info)
    return out


def label_with_calculator(atoms, calc, **info):
    """Labels from an ASE calculator; stress only for cells periodic in all directions."""
    work = atoms.copy()
    work.calc = calc
    stress = work.get_stress(voigt=False) if work.pbc.all() else None
    return with_labels(atoms, work.get_potential_energy(), work.get_forces(), stress, **info)
