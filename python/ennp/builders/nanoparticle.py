"""Au nanoparticles: truncated octahedra and Wulff shapes of a given diameter,
a (111) facet facing down (the contact facet), optionally cut to a hemisphere.

Diameters are those of the sphere with the same number of atoms (fcc: 4 atoms
per a^3). Wulff surface energies: Au (111) 1.283, (100) 1.627 J/m^2 (Vitos et
al., Surf. Sci. 411, 186 (1998)).
"""

from __future__ import annotations

import numpy as np

from .bulk import AU_A

AU_SURFACE_ENERGIES = {(1, 1, 1): 1.283, (1, 0, 0): 1.627}


def atoms_for_diameter(diameter: float, a: float = AU_A) -> int:
    """Number of fcc atoms in a sphere of ``diameter`` A."""
    return max(1, int(round(np.pi / 6 * diameter**3 * 4 / a**3)))


def equivalent_diameter(natoms: int, a: float = AU_A) -> float:
    return float((6 * natoms * a**3 / (4 * np.pi)) ** (1 / 3))


def au_particle(diameter: float, shape: str = "truncated_octahedron", cut: str = "none"):
    """A Au particle of about ``diameter`` A, centred at the origin, (111) facet down.

    shape: truncated_octahedron (regular, ase.cluster.Octahedron with cutoff
    length/3) or wulff (ase.cluster.wulff_construction). cut: none, or
    hemisphere (atoms above the centre plane only: the particle sits on its cut).
    """
    from ase.cluster import Octahedron, wulff_construction

    if not diameter > 0:
        raise ValueError(f"diameter must be positive, got {diameter} A")
    target = atoms_for_diameter(diameter)    # before a hemisphere cut halves it
    if shape == "truncated_octahedron":
        # the atom count grows with L: stop at the first particle larger than the target
        sizes = []
        for L in range(2, 60):
            sizes.append(Octahedron("Au", L, cutoff=(L - 1) // 3, latticeconstant=AU_A))
            if len(sizes[-1]) > target:
                break
        particle = min(sizes, key=lambda p: abs(len(p) - target))
    elif shape == "wulff":
        particle = wulff_construction("Au", list(AU_SURFACE_ENERGIES), list(AU_SURFACE_ENERGIES.values()),
                                      target, "fcc", rounding="closest", latticeconstant=AU_A)
    else:
        raise ValueError(f"shape must be truncated_octahedron or wulff, not {shape!r}")
    if cut not in ("none", "hemisphere"):
        raise ValueError(f"cut must be none or hemisphere, not {cut!r}")
    particle = particle.copy()
    particle.set_cell(np.zeros((3, 3)))
    particle.pbc = False
    particle.positions -= particle.positions.mean(axis=0)
    particle.rotate((-1, -1, -1), (0, 0, -1), center=(0, 0, 0))    # a (111) facet faces -z
    if cut == "hemisphere":
        particle = particle[particle.positions[:, 2] > -0.5]    # whole (111) planes (2.35 A apart)
    particle.positions -= [0, 0, particle.positions[:, 2].min()]
    return particle


def bottom_layer(positions, tol: float = 0.8) -> np.ndarray:
    """Indices of the atoms within ``tol`` A of the lowest z."""
    z = np.asarray(positions)[:, 2]
    return np.flatnonzero(z < z.min() + tol)


def footprint_area(xy, spacing: float) -> float:
    """Area (A^2) covered by a layer of atoms at ``xy``: the convex hull grown by
    half the interatomic spacing (area + perimeter * s/2 + pi (s/2)^2)."""
    from scipy.spatial import ConvexHull, QhullError

    xy = np.asarray(xy, float)
    r = spacing / 2
    try:
        hull = ConvexHull(xy)
        area, perimeter = hull.volume, hull.area    # in 2D: volume is the area, area the perimeter
    except (QhullError, ValueError):    # fewer than 3 atoms or all on a line
        span = np.ptp(xy, axis=0).max() if len(xy) > 1 else 0.0
        area, perimeter = 0.0, 2 * span
    return float(area + perimeter * r + np.pi * r**2)


CONTACT_AREAS = ("hull", "footprint")
# hull: the convex hull of the bottom layer's atom centres, the convention of Nunez Valencia et
# al., Nanoscale 16, 5750 (2024), whose G (82 MW m^-2 K^-1) is per that area; footprint: the
# hull grown by half the Au-Au spacing, the area the layer covers (1.52x the hull for a 70-atom
# hemisphere, 1.12x at 8 nm). G x area is what NEMD measures, so G and dT = P / (G A) must use
# the same convention.


def hull_area(xy) -> float:
    """Area (A^2) of the convex hull of the points ``xy`` (0 for fewer than 3 or a line)."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(np.asarray(xy, float)).volume)    # in 2D the volume is the area
    except (QhullError, ValueError):
        return 0.0


def contact_area(particle, convention: str = "hull", spacing: float = AU_A / np.sqrt(2)) -> float:
    """Contact area (A^2) of a supported particle's bottom layer, by ``convention`` (CONTACT_AREAS)."""
    if convention not in CONTACT_AREAS:
        raise ValueError(f"contact_area must be one of {CONTACT_AREAS}, not {convention!r}")
    xy = particle.positions[bottom_layer(particle.positions), :2]
    return hull_area(xy) if convention == "hull" else footprint_area(xy, spacing)


def contact_area_key(convention: str) -> str:
    """The structure's info key of the contact area by ``convention``."""
    if convention not in CONTACT_AREAS:
        raise ValueError(f"contact_area must be one of {CONTACT_AREAS}, not {convention!r}")
    return f"ennp_contact_area_{convention}_A2"


def cross_section(particle, spacing: float = AU_A / np.sqrt(2)) -> float:
    """Area (A^2) the particle presents to a beam along z: footprint of all atoms."""
    return footprint_area(particle.positions[:, :2], spacing)
