"""The ``ennp heat`` YAML file: structure, potential, NEMD and beam sections.

Every problem is a :class:`~ennp.config.ConfigError` naming the file and the
field. See ``python/ennp/heat/example.yaml`` for a commented example.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import (ConfigError, MonitorSpec, PairSpec, StructureSpec, build, check_species, load_yaml, resolve_file, resolve_pair,
                      resolve_structure)
from ..submit.plan import step_resources
from .nemd import NemdSettings


@dataclass(frozen=True)
class BeamSpec:
    conductance_from: str = "transient"     # which NEMD method's G sets the temperature rise
    dose_rates: list[float] = field(default_factory=lambda: [1e5, 1e6, 1e7])    # e / A^2 / s
    spectrum: str = ""              # low-loss EELS file; empty: t/lambda from the particle's thickness and the mean free path
    range: list[float] = field(default_factory=list)    # eV, mean-loss window (spectrum only)
    tail: str = "power_law"         # spectrum without range: losses beyond its end from a fitted power law, or none
    mean_energy_loss_eV: float = 44.0       # without a spectrum (Au, Nunez Valencia et al. 2024)
    energies_keV: list[float] = field(default_factory=lambda: [80.0, 300.0])    # beam energies without a spectrum, one curve each
    mean_free_path: str = "total"   # without a spectrum: total (all angles, Iakoubovskii et al. 2008) or malis (lambda at beta)
    density_g_cm3: float = 19.32    # of the particle (total mean free path; Au)
    beta_mrad: float = 10.0         # collection semi-angle of the spectrometer (malis)
    z_eff: float = 79.0             # effective atomic number (malis)

    def __post_init__(self):
        if self.conductance_from not in ("steady", "transient"):
            raise ValueError(f"conductance_from must be steady or transient, not {self.conductance_from!r}")
        if not self.dose_rates or min(self.dose_rates) < 0:
            raise ValueError(f"dose_rates must be non-negative numbers, got {self.dose_rates}")
        if self.range and (len(self.range) != 2 or not self.range[0] < self.range[1]):
            raise ValueError(f"range must be [low, high] eV with low < high, got {self.range}")
        if not self.spectrum and (not self.energies_keV or min(self.energies_keV) <= 0):
            raise ValueError("without a spectrum, energies_keV must list positive beam energies")
        if self.mean_energy_loss_eV <= 0:
            raise ValueError("mean_energy_loss_eV must be positive")
        if self.tail not in ("power_law", "none"):
            raise ValueError(f"tail must be power_law or none, not {self.tail!r}")
        if self.mean_free_path not in ("total", "malis"):
            raise ValueError(f"mean_free_path must be total or malis, not {self.mean_free_path!r}")
        if self.density_g_cm3 <= 0:
            raise ValueError("density_g_cm3 must be positive")


@dataclass(frozen=True)
class HeatConfig:
    species: list = field(default_factory=lambda: ["Ti", "O", "Au"])    # elements of LAMMPS atom types 1, 2, ...
    structure: StructureSpec = field(default_factory=lambda: StructureSpec("particle_on_slab"))    # the particle on its slab (a builder that sets the NEMD layout)
    pair: PairSpec = field(default_factory=lambda: PairSpec(style="classical"))    # the potential
    nemd: NemdSettings = field(default_factory=NemdSettings)    # the NEMD runs
    beam: BeamSpec = field(default_factory=BeamSpec)    # the beam-heating estimate
    monitor: MonitorSpec | None = None    # the ensemble's watch over the run (with pair.bundle; on by default there)
    slurm: dict = field(default_factory=dict)    # --submit: resources per step or all (ennp.submit.plan.Resources)

    def __post_init__(self):
        check_species(self.species)

    def chain_steps(self) -> dict[str, dict]:
        """The chain's steps (``--until``, one Slurm job each with ``--submit``) and their
        default resources: the NEMD runs use nprocs x parallel ranks."""
        return {"nemd": {"ntasks": self.nemd.nprocs * self.nemd.parallel}, "report": {}}


def load_heat_config(path: str | Path) -> HeatConfig:
    """Read and validate; relative paths (model, file, spectrum) become relative to the YAML's folder."""
    path = Path(path)
    config = build(HeatConfig, load_yaml(path), str(path))
    pair, monitor = resolve_pair(path, config.pair, config.species, config.monitor)
    config = replace(config, pair=pair, monitor=monitor, structure=resolve_structure(path, config.structure),
                     beam=replace(config.beam, spectrum=resolve_file(path, "beam.spectrum", config.beam.spectrum)))
    if config.beam.conductance_from not in config.nemd.methods:
        raise ConfigError(f"{path}: beam.conductance_from is {config.beam.conductance_from!r} "
                          f"but nemd.methods only runs {config.nemd.methods}")
    step_resources(config.slurm, config.chain_steps(), f"{path}: slurm")
    return config
