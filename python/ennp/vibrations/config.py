"""The ``ennp vibrations`` YAML file: structure, potential, MD, analysis and TEM sections.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/vibrations/example.yaml`` for a commented example.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import (ConfigError, MonitorSpec, PairSpec, StructureSpec, build, check_species, load_yaml, resolve_pair,
                      resolve_structure)
from ..submit.plan import step_resources
from .amplitudes import RIGID
from .tem import Microscope


@dataclass(frozen=True)
class MdSettings:
    T: float = 300.0                # K
    dt: float = 0.001               # ps
    damp: float = 0.1               # ps, Langevin while equilibrating
    sample_damp: float = 0.0        # ps, Langevin while sampling; 0: NVE
    seed: int = 8123                # velocities and Langevin noise
    min_steps: int = 200            # FIRE relaxation before the velocities
    steps_eq: int = 5000            # equilibration steps (Langevin)
    steps: int = 20000              # sampled steps
    every: int = 20                 # dump interval (steps)
    nprocs: int = 1                 # MPI ranks

    def __post_init__(self):
        for name in ("T", "dt", "damp"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("sample_damp", "min_steps", "steps_eq"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.every < 1 or self.nprocs < 1:
            raise ValueError("every and nprocs must be >= 1")
        if self.steps < self.every:
            raise ValueError(f"steps ({self.steps}) must be at least every ({self.every})")


@dataclass(frozen=True)
class AnalysisSettings:
    flake: list = field(default_factory=lambda: ["Mo", "S"])    # elements analysed (and imaged as columns)
    rigid: str = "full"             # rigid motion removed per frame: full | translation | none
    blocks: int = 5                 # time blocks for the error bars
    bin: float = 1.0                # A, edge-distance bins
    lattice_constant: float = 3.16  # A, the decay length and falloff are also given in lattice constants

    def __post_init__(self):
        if not self.flake:
            raise ValueError("flake must list the flake's elements")
        if self.rigid not in RIGID:
            raise ValueError(f"rigid must be one of {RIGID}, not {self.rigid!r}")
        if self.blocks < 2 or self.bin <= 0 or self.lattice_constant <= 0:
            raise ValueError("blocks must be >= 2, bin and lattice_constant positive")


@dataclass(frozen=True)
class TemSettings:
    enabled: bool = True            # make the HR-TEM images
    snapshots: int = 20             # MD frames (evenly spread) = Einstein configurations
    seed: int = 1                   # Einstein displacements and noise
    align: bool = True              # remove the flake's rigid motion from the snapshots
    max_repetitions: int = 5        # to make a skewed cell orthogonal
    microscope: Microscope = field(default_factory=Microscope)    # the HR-TEM settings

    def __post_init__(self):
        if self.snapshots < 2:
            raise ValueError(f"snapshots must be >= 2, got {self.snapshots}")


@dataclass(frozen=True)
class VibConfig:
    species: list = field(default_factory=lambda: ["Mo", "S", "C"])    # LAMMPS types 1, 2, ...
    structure: StructureSpec = field(default_factory=lambda: StructureSpec("mos2_on_graphite"))    # the flake on its support (a builder, or a file)
    pair: PairSpec = field(default_factory=lambda: PairSpec(style="classical"))    # the potential
    md: MdSettings = field(default_factory=MdSettings)    # the MD run
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)    # the amplitude analysis
    tem: TemSettings = field(default_factory=TemSettings)    # the HR-TEM images
    monitor: MonitorSpec | None = None    # the ensemble's watch over the run (with pair.bundle; on by default there)
    slurm: dict = field(default_factory=dict)    # --submit: resources per step or all (ennp.submit.plan.Resources)

    def __post_init__(self):
        check_species(self.species)

    def chain_steps(self) -> dict[str, dict]:
        """The chain's steps (``--until``, one Slurm job each with ``--submit``) and their
        default resources: MD on md.nprocs ranks, then amplitudes, then the HR-TEM images."""
        return {"md": {"ntasks": self.md.nprocs}, "analysis": {}, "tem": {}}


def load_vib_config(path: str | Path) -> VibConfig:
    """Read and validate; relative paths (pair model or file) are relative to the YAML's folder."""
    path = Path(path)
    config = build(VibConfig, load_yaml(path), str(path))
    pair, monitor = resolve_pair(path, config.pair, config.species, config.monitor)
    config = replace(config, pair=pair, monitor=monitor, structure=resolve_structure(path, config.structure))
    missing = sorted(set(config.analysis.flake) - set(config.species))
    if missing:
        raise ConfigError(f"{path}: analysis.flake: {missing} not in species {config.species}")
    frames = config.md.steps // config.md.every + 1
    if frames < max(config.analysis.blocks, 2):
        raise ConfigError(f"{path}: md: steps/every gives {frames} frames, fewer than analysis.blocks "
                          f"({config.analysis.blocks})")
    step_resources(config.slurm, config.chain_steps(), f"{path}: slurm")
    return config
