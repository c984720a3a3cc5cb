"""The active-learning YAML file: one validated dataclass per section.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/al/example.yaml`` for a commented example (the demo's).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import ConfigError, StructureSpec, build, check_species, load_yaml
from ..label.labelling import LabelConfig
from ..submit.plan import Resources, step_resources
from ..train.nequip_config import ModelSettings


@dataclass(frozen=True)
class InitialData:
    """Generation-0 training frames and the held-out test frames: rattled and
    strained copies of every structure, labelled once."""
    copies: int = 6                 # rattled and strained copies of each structure for training
    rattle: float = 0.05            # A, Gaussian displacement per Cartesian component
    strain: float = 0.02            # largest relative strain of the cell
    test_copies: int = 2            # copies of each structure for the held-out test set
    test_rattle: float = 0.1        # A, displacement of the test copies
    seed: int = 0                   # rattles and strains
    relax_steps: int = 0            # first relax each structure with the labeller (FIRE, at most this many steps; 0: as built)
    relax_fmax: float = 0.05        # eV/A, the relaxation's force tolerance

    def __post_init__(self):
        if self.copies < 1 or self.test_copies < 1:
            raise ValueError("copies and test_copies must be >= 1")
        if self.relax_steps < 0 or self.relax_fmax <= 0:
            raise ValueError("relax_steps must be >= 0 and relax_fmax > 0")
        if self.rattle < 0 or self.test_rattle < 0 or not 0 <= self.strain < 0.2:
            raise ValueError("rattle, test_rattle must be >= 0 and strain in [0, 0.2)")


@dataclass(frozen=True)
class Ensemble:
    size: int = 4                   # K models; member 0 drives the exploration MD
    bootstrap: bool = False         # each member trains on a bootstrap resample
    seed: int = 0                   # member k gets seed + k

    def __post_init__(self):
        if self.size < 2:
            raise ValueError(f"size must be >= 2 (an ensemble), not {self.size}")


@dataclass(frozen=True)
class Training:
    template: str = ""              # nequip Hydra YAML; empty: generated from model and the fields below
    model: ModelSettings = field(default_factory=ModelSettings)    # the NequIP model (type_names and seed come from species and ensemble)
    max_epochs: int = 30            # nequip-train epochs per member and generation
    batch_size: int = 4             # frames per batch
    lr: float = 0.01                # learning rate
    val_fraction: float = 0.2       # of each member's training frames, for nequip's validation
    warm_start: bool = True         # generation g > 0 starts from generation g-1's member
    parallel: int = 0               # members trained at once, sharing the cores; 0: as many as there are cores

    def __post_init__(self):
        if self.model.type_names:
            raise ValueError("model.type_names: set by species, not here")
        if self.max_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("max_epochs and batch_size must be >= 1 and lr > 0")
        if self.parallel < 0:
            raise ValueError(f"parallel must be >= 0 (0: one member per core), not {self.parallel}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")


@dataclass(frozen=True)
class Exploration:
    structures: tuple = ()          # names of structures to run; empty: all
    temperatures: tuple = (300.0,)  # K
    steps: int = 1000               # MD steps per run
    every: int = 10                 # thermo, deviation and dump interval
    dt: float = 0.001               # ps
    nprocs: int = 1                 # MPI ranks per LAMMPS run
    threads: int = 1                # OpenMP threads per rank
    halt_factor: float = 2.0        # stop a run once max_devi_f > halt_factor * trust.hi

    def __post_init__(self):
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            raise ValueError("temperatures must be a non-empty list of positive values")
        if self.steps < 1 or self.every < 1 or self.every > self.steps:
            raise ValueError("need steps >= every >= 1")
        if self.dt <= 0 or self.nprocs < 1 or self.threads < 1 or self.halt_factor < 1:
            raise ValueError("need dt > 0, nprocs >= 1, threads >= 1, halt_factor >= 1")


@dataclass(frozen=True)
class Trust:
    lo: float = 0.05                # eV/A: below, a frame is accurate
    hi: float = 0.15                # eV/A: at or above, failed (unphysical)
    adaptive: bool = False          # lower lo (not below lo_min) to get selection.max_frames candidates
    lo_min: float = 0.0             # eV/A, the lowest that adaptive may lower lo to

    def __post_init__(self):
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"need 0 <= trust lo < hi, got lo={self.lo}, hi={self.hi}")
        if not 0 <= self.lo_min <= self.lo:
            raise ValueError(f"need 0 <= lo_min <= lo, got lo_min={self.lo_min}")


@dataclass(frozen=True)
class Selection:
    max_frames: int = 10            # candidates labelled per generation (per structure with per_structure)
    per_structure: bool = False     # max_frames from each structure's runs, as DP-GEN's fp_task_max per system
    descriptor_cutoff: float = 6.0  # A, pair-distance histogram for farthest-point sampling

    def __post_init__(self):
        if self.max_frames < 1 or self.descriptor_cutoff <= 0:
            raise ValueError("max_frames must be >= 1 and descriptor_cutoff > 0")


@dataclass(frozen=True)
class Convergence:
    accurate_fraction: float = 0.95    # stop when at least this fraction of explored frames is accurate ...
    generations: int = 1            # ... in this many consecutive generations
    max_generations: int = 5        # ... or after this many generations

    def __post_init__(self):
        if not 0 < self.accurate_fraction <= 1:
            raise ValueError(f"accurate_fraction must be in (0, 1], not {self.accurate_fraction}")
        if self.generations < 1 or self.max_generations < 1:
            raise ValueError("generations and max_generations must be >= 1")


@dataclass(frozen=True)
class Backend:
    kind: str = "local"             # local: this machine; slurm: label as an sbatch job array (resources: slurm.label)
    workers: int = 1                # parallel labelling processes (local) or array tasks (slurm)

    def __post_init__(self):
        if self.kind not in ("local", "slurm"):
            raise ValueError(f"kind must be local or slurm, not {self.kind!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, not {self.workers}")


@dataclass(frozen=True)
class Harvest:
    """Pieces carved around doubtful atoms of large monitored runs (ennp al harvest)."""

    max_pieces: int = 20            # pieces per harvest (--max)
    max_atoms: int = 200            # atoms per piece; the buffer shrinks first (--max-atoms)
    core: float | None = None       # A, core radius; None: the models' r_max (--core)
    buffer: float | None = None     # A, buffer width; None: r_max x num_layers, the receptive field (--buffer)
    vacuum: float = 6.0             # A, on each side of a piece in its non-periodic directions
    test_fraction: float = 0.2      # of the pieces, held out to measure the core-force error
    energies: bool = False          # train on piece energies too (they contain the artificial surface)
    column: str = "c_ennp_devi[1]"  # a dump's per-atom deviation column (--column)
    allow_close: bool = False       # allow centres closer than the core radius in one frame
    seed: int = 0                   # the held-out draw

    def __post_init__(self):
        if self.max_pieces < 1 or self.max_atoms < 1:
            raise ValueError(f"max_pieces and max_atoms must be >= 1, got {self.max_pieces}, {self.max_atoms}")
        if self.core is not None and self.core <= 0:
            raise ValueError(f"core must be positive, not {self.core}")
        if self.buffer is not None and self.buffer < 0:
            raise ValueError(f"buffer must be >= 0, not {self.buffer}")
        if self.vacuum < 0 or not 0 <= self.test_fraction < 1:
            raise ValueError(f"need vacuum >= 0 and 0 <= test_fraction < 1, got {self.vacuum}, {self.test_fraction}")


@dataclass(frozen=True)
class ALConfig:
    species: tuple[str, ...]        # elements; LAMMPS atom types 1, 2, ... and the models' type names
    structures: tuple[StructureSpec, ...]    # starting structures, each with a name
    label: LabelConfig = field(default_factory=lambda: LabelConfig(labeller="sevennet"))    # the labeller (as in ennp label)
    initial: InitialData = field(default_factory=InitialData)    # generation-0 training and test frames
    ensemble: Ensemble = field(default_factory=Ensemble)    # the K models
    training: Training = field(default_factory=Training)    # nequip-train of each member
    exploration: Exploration = field(default_factory=Exploration)    # LAMMPS exploration MD
    trust: Trust = field(default_factory=Trust)    # model-deviation levels (eV/A)
    selection: Selection = field(default_factory=Selection)    # which candidates are labelled
    convergence: Convergence = field(default_factory=Convergence)    # when the loop stops
    backend: Backend = field(default_factory=Backend)    # where labelling runs
    harvest: Harvest = field(default_factory=Harvest)    # pieces of large runs (ennp al harvest)
    slurm: dict = field(default_factory=dict)    # resources (ennp.submit.plan.Resources) of the steps loop (ennp al run --submit) and label (each array task), or all
    base_dir: str = "."             # relative paths in the YAML are relative to this folder (set by the loader)

    def __post_init__(self):
        check_species(self.species)
        if not self.structures:
            raise ValueError("structures: expected a non-empty list")
        names = [s.name for s in self.structures]
        if not all(names):
            raise ValueError("structures: every structure needs a name")
        if len(set(names)) != len(names):
            raise ValueError(f"structures: names must differ, got {names}")

    def chain_steps(self) -> dict[str, dict]:
        """The Slurm steps of a run and their default resources (``slurm:`` section)."""
        return {"loop": {}, "label": {}}

    def resources(self, step: str) -> Resources:
        return step_resources(self.slurm, self.chain_steps(), "slurm")[step]

    def model_settings(self, seed: int) -> ModelSettings:
        return replace(self.training.model, type_names=tuple(self.species), seed=seed)

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def load_al_config(path: str | Path, base_dir: str | Path | None = None) -> ALConfig:
    """Read and validate an active-learning YAML file; relative paths in it are
    relative to ``base_dir`` (default: the file's folder)."""
    data = load_yaml(path)
    where = str(path)
    if "base_dir" in data:
        raise ConfigError(f"{where}: base_dir: not a field of the file (paths are relative to its folder)")
    base = Path(base_dir) if base_dir is not None else Path(path).resolve().parent
    config = build(ALConfig, {**data, "base_dir": str(base)}, where)
    step_resources(config.slurm, config.chain_steps(), f"{where}: slurm")
    _check_cross_fields(config, where)
    return config


def _check_cross_fields(config: ALConfig, where: str) -> None:
    names = [s.name for s in config.structures]
    unknown = [s for s in config.exploration.structures if s not in names]
    if unknown:
        raise ConfigError(f"{where}: exploration.structures: unknown structure(s) {unknown}; "
                          f"defined: {names}")
    if config.training.template and not config.resolve(config.training.template).is_file():
        raise ConfigError(f"{where}: training.template: no such file {config.training.template}")
    for s in config.structures:
        if s.file and not config.resolve(s.file).is_file():
            raise ConfigError(f"{where}: structures[{s.name}].file: no such file {config.resolve(s.file)}")
    if config.label.labeller == "qe":
        from ..label.pseudos import pseudodojo_dir, pseudopotentials

        pseudo_dir = config.label.qe.pseudo_dir
        try:
            pseudopotentials(config.species, config.resolve(pseudo_dir) if pseudo_dir else pseudodojo_dir())
        except FileNotFoundError as exc:
            raise ConfigError(f"{where}: label.qe.pseudo_dir: {exc}") from exc
    if config.label.labeller == "emt":
        from ase.calculators.emt import parameters

        missing = [s for s in config.species if s not in parameters]
        if missing:
            raise ConfigError(f"{where}: label.labeller: emt has no parameters for {missing}")
