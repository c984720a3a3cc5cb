"""The ``ennp md`` YAML file: structure (builder or data file), potential, run settings.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/md/example.yaml`` for a commented example.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import (ConfigError, MonitorSpec, PairSpec, StructureSpec, build, check_species, load_yaml, resolve_pair,
                      resolve_structure)
from ..lammps.data_file import NO_FIXED
from ..lammps.production import ProductionSettings
from ..submit.plan import step_resources


@dataclass(frozen=True)
class MdConfig:
    species: list[str]              # elements of LAMMPS atom types 1, 2, ...
    structure: StructureSpec        # a builder, or a file (a LAMMPS data file is used where it is)
    pair: PairSpec                  # the potential: ennp + model, file, or classical (the stand-ins for Ti O Au and Mo S C)
    z_fixed: float = NO_FIXED       # A, atoms of a data file below this height are held (a builder's structure: its fixed layer)
    md: ProductionSettings = field(default_factory=ProductionSettings)    # the run
    monitor: MonitorSpec | None = None    # the ensemble's watch over the run (with pair.bundle; on by default there)
    slurm: dict = field(default_factory=dict)    # --submit: resources per step or all (ennp.submit.plan.Resources)

    def __post_init__(self):
        check_species(self.species)

    def chain_steps(self) -> dict[str, dict]:
        """One step (one Slurm job with ``--submit``) on md.nprocs ranks that requeues itself
        5 minutes before its time limit and goes on from its newest checkpoint."""
        return {"md": {"ntasks": self.md.nprocs, "requeue_s": 300}}


def load_md_config(path: str | Path) -> MdConfig:
    """Read and validate; relative paths (structure file, pair model or file) are relative to the YAML's folder."""
    path = Path(path)
    config = build(MdConfig, load_yaml(path), str(path))
    if config.pair.style == "classical" and sorted(config.species) not in (["Au", "O", "Ti"], ["C", "Mo", "S"]):
        raise ConfigError(f"{path}: pair.style classical: stand-ins exist for Ti O Au and Mo S C, "
                          f"not {config.species}")
    step_resources(config.slurm, config.chain_steps(), f"{path}: slurm")
    pair, monitor = resolve_pair(path, config.pair, config.species, config.monitor)
    if monitor and config.md.every_restart % monitor.every:
        raise ConfigError(f"{path}: monitor.every ({monitor.every}) must divide md.every_restart "
                          f"({config.md.every_restart}): a resumed run then monitors the same steps")
    return replace(config, structure=resolve_structure(path, config.structure), pair=pair, monitor=monitor)
