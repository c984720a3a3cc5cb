"""Small labelled data sets that ennp makes itself (no download).

The demo and the tests need a data set to train a tiny NequIP model on.
Labels come from cheap classical calculators shipped with ASE: EMT for Au
(a realistic metal) and a Lennard-Jones stand-in for multi-element test
models, where only the plumbing (not the physics) is under test.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from ..label.results import label_with_calculator


def rattled_au(num_frames: int = 50, repeat=(2, 2, 2), rattle: float = 0.08,
               strain: float = 0.02, seed: int = 0) -> list[Atoms]:
    """fcc Au supercells, rattled and strained, labelled with ASE's EMT."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(num_frames):
        atoms = bulk("Au", "fcc", a=4.08, cubic=True).repeat(repeat)
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        frames.append(label_with_calculator(atoms, EMT()))
    return frames


def rattled_mixture(symbols=("Au", "Ti", "O"), num_frames: int = 20,
                    repeat=(2, 2, 2), a: float = 4.2, rattle: float = 0.1,
                    seed: int = 0) -> list[Atoms]:
    """fcc lattice decorated at random with several species, LJ-labelled.

    Only for plumbing tests of multi-element models: the labels are a
    Lennard-Jones stand-in, not chemistry.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(num_frames):
        atoms = bulk("Au", "fcc", a=a, cubic=True).repeat(repeat)
        atoms.set_chemical_symbols(list(rng.choice(symbols, len(atoms))))
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        frames.append(label_with_calculator(atoms, LennardJones(sigma=2.6, epsilon=0.05, rc=6.0)))
    return frames
