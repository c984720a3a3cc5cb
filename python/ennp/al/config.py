"""The active-learning YAML file: one validated dataclass per section.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/al/example.yaml`` for a commented example (the main job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, build, load_yaml
from ..label.labelling import LabelConfig
from ..submit.plan import Resources
from ..train.nequip_config import ModelSettings


@dataclass(frozen=True)
class Structure:
    """One starting structure: an ennp builder with arguments, or a file (first frame)."""
    name: str
    builder: str = ""
    args: dict = field(default_factory=dict)
    file: str = ""

    def __post_init__(self):
        if bool(self.builder) == bool(self.file):
            raise ValueError(f"structure {self.name!r}: give exactly one of 'builder' or 'file'")


@dataclass(frozen=True)
class InitialData:
    """Generation-0 training frames and the held-out test frames: rattled and
    strained copies of every structure, labelled once."""
    copies: int = 6
    rattle: float = 0.05            # A, Gaussian displacement per Cartesian component
    strain: float = 0.02            # largest relative strain of the cell
    test_copies: int = 2
    test_rattle: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.copies < 1 or self.test_copies < 1:
            raise ValueError("copies and test_copies must be >= 1")
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
    template: str = ""              # nequip Hydra YAML; empty: generated from the fields below
    r_max: float = 4.5
    num_layers: int = 2
    l_max: int = 1
    num_features: int = 16
    model_dtype: str = "float32"
    max_epochs: int = 30
    batch_size: int = 4
    lr: float = 0.01
    val_fraction: float = 0.2
    warm_start: bool = True         # generation g > 0 starts from generation g-1's member

    def __post_init__(self):
        ModelSettings(type_names=(), r_max=self.r_max, num_layers=self.num_layers, l_max=self.l_max,
                      num_features=self.num_features, model_dtype=self.model_dtype)    # validates
        if self.max_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("max_epochs and batch_size must be >= 1 and lr > 0")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")


@dataclass(frozen=True)
class Exploration:
    structures: tuple = ()          # names of structures to run; empty: all
    temperatures: tuple = (300.0,)  # K
    steps: int = 1000
    every: int = 10                 # thermo, deviation and dump interval
    dt: float = 0.001               # ps
    nprocs: int = 1                 # MPI ranks per LAMMPS run
    threads: int = 1
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
    lo_min: float = 0.0

    def __post_init__(self):
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"need 0 <= trust lo < hi, got lo={self.lo}, hi={self.hi}")
        if not 0 <= self.lo_min <= self.lo:
            raise ValueError(f"need 0 <= lo_min <= lo, got lo_min={self.lo_min}")


@dataclass(frozen=True)
class Selection:
    max_frames: int = 10            # candidates labelled per generation
    descriptor_cutoff: float = 6.0  # A, pair-distance histogram for farthest-point sampling

    def __post_init__(self):
        if self.max_frames < 1 or self.descriptor_cutoff <= 0:
            raise ValueError("max_frames must be >= 1 and descriptor_cutoff > 0")


@dataclass(frozen=True)
class Convergence:
    accurate_fraction: float = 0.95
    generations: int = 1            # ... in this many consecutive generations
    max_generations: int = 5

    def __post_init__(self):
        if not 0 < self.accurate_fraction <= 1:
            raise ValueError(f"accurate_fraction must be in (0, 1], not {self.accurate_fraction}")
        if self.generations < 1 or self.max_generations < 1:
            raise ValueError("generations and max_generations must be >= 1")


@dataclass(frozen=True)
class Backend:
    kind: str = "local"             # local: this machine; slurm: label as an sbatch job array
    workers: int = 1                # parallel labelling processes (local) or array tasks (slurm)
    resources: Resources = field(default_factory=Resources)    # of each label array task (slurm)
    driver: Resources = field(default_factory=Resources)       # of the loop's job (ennp al run --submit)

    def __post_init__(self):
        if self.kind not in ("local", "slurm"):
            raise ValueError(f"kind must be local or slurm, not {self.kind!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, not {self.workers}")


@dataclass(frozen=True)
class ALConfig:
    species: tuple
    structures: tuple               # of Structure
    label: LabelConfig = field(default_factory=lambda: LabelConfig(labeller="sevennet"))
    initial: InitialData = field(default_factory=InitialData)
    ensemble: Ensemble = field(default_factory=Ensemble)
    training: Training = field(default_factory=Training)
    exploration: Exploration = field(default_factory=Exploration)
    trust: Trust = field(default_factory=Trust)
    selection: Selection = field(default_factory=Selection)
    convergence: Convergence = field(default_factory=Convergence)
    backend: Backend = field(default_factory=Backend)
    base_dir: str = "."             # relative paths in the YAML are relative to this folder

    def model_settings(self, seed: int) -> ModelSettings:
        t = self.training
        return ModelSettings(type_names=tuple(self.species), r_max=t.r_max, num_layers=t.num_layers,
                             l_max=t.l_max, num_features=t.num_features,
                             model_dtype=t.model_dtype, seed=seed)

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def load_al_config(path: str | Path, base_dir: str | Path | None = None) -> ALConfig:
    """Read and validate an active-learning YAML file; relative paths in it are
    relative to ``base_dir`` (default: the file's folder)."""
    from ase.data import chemical_symbols

    data = dict(load_yaml(path))
    where = str(path)
    species = data.pop("species", None)
    if not isinstance(species, list) or not species:
        raise ConfigError(f"{where}: species: expected a non-empty list of elements, e.g. [Au, Ti, O]")
    bad = [s for s in species if s not in chemical_symbols[1:]]
    if bad:
        raise ConfigError(f"{where}: species: unknown element(s) {bad}")
    if len(set(species)) != len(species):
        raise ConfigError(f"{where}: species: listed twice: {species}")
    raw = data.pop("structures", None)
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: structures: expected a non-empty list")
    structures = tuple(build(Structure, s, f"{where}: structures[{k}]") for k, s in enumerate(raw))
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: structures: names must differ, got {names}")
    label = build(LabelConfig, data.pop("label", {"labeller": "sevennet"}), f"{where}: label")
    sections = {name: data.pop(name) for name in list(data)
                if name in ("initial", "ensemble", "training", "exploration", "trust",
                            "selection", "convergence", "backend")}
    if data:
        raise ConfigError(f"{where}: unknown section(s) {sorted(data)}")
    hints = ALConfig.__dataclass_fields__
    parts = {name: build(hints[name].default_factory().__class__, value, f"{where}: {name}")
             for name, value in sections.items()}
    base = Path(base_dir) if base_dir is not None else Path(path).resolve().parent
    config = ALConfig(species=tuple(species), structures=structures, label=label, base_dir=str(base),
                      **parts)
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
            raise ConfigError(f"{where}: structures[{s.name}].file: no such file {s.file}")
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
