"""Au on TiO2: a particle (or a small cluster) on a rutile/anatase slab."""

from __future__ import annotations


import numpy as np

from .bulk import AU_A
from .nanoparticle import CONTACT_AREAS, au_particle, contact_area, contact_area_key, cross_section
from .slabs import ANATASE_101_SPACING, RUTILE_110_SPACING, anatase_101_slab, rutile_110_slab

SUBSTRATES = {"rutile110": rutile_110_slab, "anatase101": anatase_101_slab}
SURFACE_CELL = {"rutile110": (6.497, 2.959), "anatase101": (10.239, 3.785)}    # A
LAYER_SPACING = {"rutile110": RUTILE_110_SPACING, "anatase101": ANATASE_101_SPACING}



def particle_on_slab(diameter: float, substrate: str = "rutile110", layers: int = 4, fixed: int = 1,
                     lateral: float = 0.0, gap: float = 2.5, vacuum: float = 15.0,
                     shape: str = "truncated_octahedron", cut: str = "none"):
    """A Au particle of ``diameter`` A ``gap`` A above a TiO2 slab.

    The slab repeats its surface cell to at least ``lateral`` A (default: particle
    width + 10 A) in x and y. Atoms are ordered slab first, then particle;
    ``arrays['ennp_fixed']`` marks the fixed bottom layers, ``info`` holds the
    particle's atom count, its contact area and cross-section (A^2) and the
    slab's layering (what the NEMD set-up needs to place its baths).
    """
    if substrate not in SUBSTRATES:
        raise ValueError(f"substrate must be one of {sorted(SUBSTRATES)}, not {substrate!r}")
    if gap <= 0 or vacuum <= 0:
        raise ValueError("gap and vacuum must be positive")
    particle = au_particle(diameter, shape, cut)
    width = np.ptp(particle.positions[:, :2], axis=0).max()
    lateral = lateral or width + 10.0
    cx, cy = SURFACE_CELL[substrate]
    slab = SUBSTRATES[substrate](repeat=(int(np.ceil(lateral / cx)), int(np.ceil(lateral / cy))),
                                 layers=layers, vacuum=0.0, fixed=fixed)
    if min(slab.cell[0, 0], slab.cell[1, 1]) < width + 2 * AU_A:
        raise ValueError(f"lateral size {lateral} A leaves the particle ({width:.1f} A wide) "
                         "touching its periodic images")
    top = slab.positions[:, 2].max()
    shifted = particle.positions + [slab.cell[0, 0] / 2, slab.cell[1, 1] / 2, top + gap]
    particle.positions = shifted
    particle.arrays["ennp_fixed"] = np.zeros(len(particle), int)
    atoms = slab + particle
    z = atoms.positions[:, 2]
    atoms.positions[:, 2] += 2.0 - z.min()
    atoms.cell[2] = [0, 0, z.max() - z.min() + vacuum]
    atoms.pbc = True
    atoms.info.update({contact_area_key(c): contact_area(particle, c) for c in CONTACT_AREAS})
    atoms.info.update(ennp_particle_atoms=len(particle),
                      ennp_cross_section_A2=cross_section(particle), ennp_substrate=substrate,
                      ennp_slab_layers=layers, ennp_fixed_layers=fixed,
                      ennp_layer_spacing_A=float(LAYER_SPACING[substrate]))
    return atoms


def au_on_rutile(repeat=(1, 2), layers: int = 2, au_atoms: int = 4, gap: float = 2.5,
                 vacuum: float = 6.0):
    """A compact Au cluster (``au_atoms`` of an fcc tetrahedron) ``gap`` A above a
    rutile (110) slab (:func:`rutile_110_slab`): a small system for training data."""
    from ase import Atoms

    if not 1 <= au_atoms <= 4:
        raise ValueError(f"au_atoms must be 1..4, not {au_atoms}")
    slab = rutile_110_slab(repeat, layers, vacuum=0.0)
    d = AU_A / np.sqrt(2)    # Au nearest-neighbour distance
    tetra = np.array([[0, 0, 0], [d, 0, 0], [d / 2, d * np.sqrt(3) / 2, 0],
                      [d / 2, d * np.sqrt(3) / 6, d * np.sqrt(2.0 / 3.0)]])[:au_atoms]
    top = slab.positions[:, 2].max()
    centre = (slab.cell[0] + slab.cell[1]) / 2
    tetra = tetra - tetra.mean(axis=0) * [1, 1, 0] + [centre[0], centre[1], top + gap]
    atoms = slab + Atoms(f"Au{au_atoms}", positions=tetra)
    z = atoms.positions[:, 2]
    atoms.positions[:, 2] += vacuum / 2 - z.min()
    atoms.cell[2, 2] = z.max() - z.min() + vacuum
    atoms.pbc = True
    del atoms.arrays["ennp_fixed"]
    return atoms
