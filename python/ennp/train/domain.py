"""The training domain of a data set: how close each pair of elements came in it.

A model has not seen two atoms closer than its training data brought them; the
smallest distance of each element pair is the simplest record of that.
"""

from __future__ import annotations

import numpy as np


def min_pair_distances(frames, species: list[str], cutoff: float) -> dict[str, float]:
    """Smallest distance (A) of each element pair over ``frames``, periodic images included.

    Pairs never within ``cutoff`` of each other are left out.
    """
    from ase.neighborlist import neighbor_list

    n = len(species)
    best = np.full(n * n, np.inf)
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        t = np.array([species.index(s) for s in atoms.get_chemical_symbols()])
        lo, hi = np.minimum(t[i], t[j]), np.maximum(t[i], t[j])
        np.minimum.at(best, lo * n + hi, d)
    return {f"{species[k // n]}-{species[k % n]}": float(best[k])
            for k in range(n * n) if np.isfinite(best[k])}
