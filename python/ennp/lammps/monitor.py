"""Monitoring a LAMMPS run with the ensemble of its model bundle.

The inputs in lammps_inputs/ ``include ${monitor_file}`` where the monitored part
of the run starts (after the last ``reset_timestep``). The include defines
``compute ennp_devi`` over all members of the bundle and a dump of every atom's
deviation eps_i every N steps: the compute is evaluated only on the steps the dump
asks for, and writes DP-GEN's ``model_devi.out`` for each of them, once.
"""

from __future__ import annotations

from pathlib import Path

from ..bundle import load_bundle
from ..config import MonitorSpec
from ..files import write_atomic

DEVI_FILE = "model_devi.out"    # the compute's file, in the run's folder
DEVI_COLUMNS = "c_ennp_devi[1] c_ennp_devi[2]"    # eps_i (eV/A), std of the per-atom energy (eV)


def monitor_text(bundle: str | Path, monitor: MonitorSpec, species) -> str:
    """The include for a run monitored by ``bundle``; the input names the dump in ``${devi_dump}``."""
    _, members = load_bundle(bundle)
    halt = f" halt {monitor.trust_hi}" if monitor.halt else ""
    return (f"# monitoring by the ensemble of {Path(bundle).resolve()} (written by ennp)\n"
            f"compute         ennp_devi all ennp/ensemble {' '.join(str(m) for m in members)} "
            f"file {DEVI_FILE}{halt}\n"
            f"dump            ennp_devi all custom {monitor.every} ${{devi_dump}} id type element xu yu zu "
            f"{DEVI_COLUMNS}\n"
            f"dump_modify     ennp_devi sort id element {' '.join(species)}\n")


def write_monitor_file(path: str | Path, bundle: str | Path, monitor: MonitorSpec | None, species) -> Path:
    """The include at ``path``: the monitoring, or a comment for an unmonitored run."""
    text = monitor_text(bundle, monitor, species) if monitor else "# not monitored: no model bundle\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))
