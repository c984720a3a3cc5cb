"""Frames of an active-learning run, with provenance.

Every frame carries in ``atoms.info``: ``ennp_generation`` (the generation that
produced it), ``ennp_origin`` (``initial:<structure>:<copy>`` or
``explore:gen_NNN/<run>:step=<step>``), and from labelling ``ennp_labeller``
and ``ennp_label_hash`` (the settings that made its labels).
"""

from __future__ import annotations

import numpy as np


def perturbed_copies(atoms, name: str, copies: int, rattle: float, strain: float,
                     rng: np.random.Generator, kind: str = "initial") -> list:
    """``copies`` strained and rattled copies of ``atoms``, tagged with provenance."""
    out = []
    for k in range(copies):
        a = atoms.copy()
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = (eps + eps.T) / 2
        a.set_cell(a.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        a.positions += rng.normal(0.0, rattle, a.positions.shape)
        a.wrap()
        a.info.update(ennp_generation=0, ennp_origin=f"{kind}:{name}:{k}")
        out.append(a)
    return out


def frame_key(atoms) -> tuple:
    """Identity of a frame (species, rounded positions and cell), for duplicate checks."""
    return (tuple(atoms.get_chemical_symbols()), tuple(atoms.positions.round(6).ravel()),
            tuple(atoms.cell[:].round(6).ravel()))


def bootstrap(frames: list, seed: int) -> list:
    """A resample of ``frames`` with replacement (same size)."""
    rng = np.random.default_rng(seed)
    return [frames[i] for i in rng.integers(0, len(frames), len(frames))]
