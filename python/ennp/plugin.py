"""Location of the compiled LAMMPS plugin (``lammps.plugins`` entry point).

LAMMPS's ``lmp`` launcher calls :func:`plugin_dir` and adds the directory to
LAMMPS_PLUGIN_PATH; LAMMPS then loads every ``*plugin.so`` in it at start-up.
"""

from pathlib import Path

PLUGIN_NAME = "ennpplugin.so"


def plugin_dir() -> str:
    """Directory that holds ``ennpplugin.so`` inside the installed package."""
    return str(Path(__file__).resolve().parent / "lib")


def plugin_path() -> Path:
    path = Path(plugin_dir()) / PLUGIN_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: ennp was installed without its LAMMPS plugin "
            "(reinstall with `pip install .` from the checkout)"
        )
    return path
