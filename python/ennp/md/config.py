"""The ``ennp md`` YAML file: structure (builder or data file), potential, run settings.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/md/example.yaml`` for a commented example.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import ConfigError, PairSpec, StructureSpec, build, check_species, load_yaml, resolve_file, resolve_pair
from ..lammps.production import ProductionSettings
from ..submit.plan import step_resources


@dataclass(frozen=True)
class MdConfig:
    species: list                   # LAMMPS atom types 1, 2, ...
    structure: StructureSpec = field(default_factory=lambda: StructureSpec(""))    # a builder, or:
    data: str = ""                  # an existing LAMMPS data file (atom_style atomic)
    z_fixed: float = -1.0e9         # A, atoms below are held (with a builder: its fixed layer)
    pair: PairSpec = field(default_factory=PairSpec)
    md: ProductionSettings = field(default_factory=ProductionSettings)
    slurm: dict = field(default_factory=dict)    # --submit: resources per step or all (ennp.submit.plan.Resources)

    def __post_init__(self):
        check_species(self.species)
        if bool(self.structure.builder) == bool(self.data):
            raise ValueError("give either structure.builder or data (a LAMMPS data file), not both or none")

    def chain_steps(self) -> dict[str, dict]:
        """One step (one Slurm job with ``--submit``) on md.nprocs ranks that requeues itself
        5 minutes before its time limit and goes on from its newest checkpoint."""
        return {"md": {"ntasks": self.md.nprocs, "requeue_s": 300}}


def load_md_config(path: str | Path) -> MdConfig:
    """Read and validate; relative paths (data, pair model or file) are relative to the YAML's folder."""
    path = Path(path)
    config = build(MdConfig, load_yaml(path), str(path))
    if config.pair.style == "classical" and sorted(config.species) not in (["Au", "O", "Ti"], ["C", "Mo", "S"]):
        raise ConfigError(f"{path}: pair.style classical: stand-ins exist for Ti O Au and Mo S C, "
                          f"not {config.species}")
    step_resources(config.slurm, config.chain_steps(), f"{path}: slurm")
    return replace(config, data=resolve_file(path, "data", config.data), pair=resolve_pair(path, config.pair))
