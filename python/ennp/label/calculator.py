"""The configured labeller as an ASE calculator: energy and forces of each geometry from the
same path that labels training data (Quantum ESPRESSO with its retries, or a stand-in), so
an ASE optimiser can relax a structure with it."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator, all_changes

from .labelling import LabelConfig, label_one


class LabellerCalculator(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, config: LabelConfig, workdir: str | Path):
        super().__init__()
        self.config, self.workdir = config, Path(workdir)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.workdir.mkdir(parents=True, exist_ok=True)
        outcome = label_one(self.atoms, self.config, self.workdir)
        if not outcome.ok:
            raise RuntimeError(f"{self.config.labeller} failed on the geometry ({outcome.message})")
        self.results = {"energy": outcome.atoms.get_potential_energy(), "forces": outcome.atoms.get_forces()}
