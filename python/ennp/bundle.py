"""Model bundles: an ensemble of deployed members and what is known of them, in one folder.

``DIR/bundle.yaml`` names the members (member 0 first: it drives the dynamics, all of
them monitor; an ensemble package from ``ennp deploy --ensemble`` counts as its
members), the species, the trust levels, the held-out test errors and the training
domain (the smallest distance of each element pair in the training data). ``ennp al
export`` writes one from an active-learning run; one written by hand, next to members
deployed with ``ennp deploy``, works the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, build, check_species, load_yaml
from .deploy.ensemble import ENSEMBLE_KEY, members_in

BUNDLE_FILE = "bundle.yaml"


@dataclass(frozen=True)
class TrustLevels:
    lo: float = 0.05                # eV/A: max_devi_f below is trusted
    hi: float = 0.15                # eV/A: at or above, untrusted

    def __post_init__(self):
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"need 0 <= lo < hi, got lo={self.lo}, hi={self.hi}")


@dataclass(frozen=True)
class TrainingDomain:
    min_distance_A: dict = field(default_factory=dict)    # "El1-El2": the smallest distance of the pair in the training data (A)
    frames: int = 0                 # training frames it was measured on


@dataclass(frozen=True)
class Bundle:
    species: list[str]              # element of each LAMMPS type, in order
    members: list[str]              # deployed .nequip.pt2 files (or an ensemble package), relative to the folder; member 0 first
    generation: int = -1            # the active-learning generation (-1: assembled by hand)
    r_max: float = 0.0              # A, of member 0 (0: not recorded)
    num_layers: int = 0             # message-passing layers of member 0 (0: not recorded)
    checkpoints: list[str] = field(default_factory=list)   # the members' checkpoints, to deploy again on another device
    test: dict = field(default_factory=dict)    # held-out test errors of each member and of the ensemble mean
    trust: TrustLevels = field(default_factory=TrustLevels)    # the levels monitoring uses by default
    labeller: dict = field(default_factory=dict)    # name and settings hash of the labels the members were trained on
    training_domain: TrainingDomain = field(default_factory=TrainingDomain)    # where the training data lies
    calibration: dict = field(default_factory=dict)    # the ensemble's true force error against its deviation on frames it flagged (ennp al)

    def __post_init__(self):
        check_species(self.species)
        if not self.members:
            raise ValueError("members: expected at least one deployed model file")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members: listed twice: {self.members}")


def load_bundle(folder: str | Path) -> tuple[Bundle, list[Path]]:
    """The bundle in ``folder`` and the absolute paths of its members (each must exist)."""
    folder = Path(folder)
    path = folder / BUNDLE_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: not a model bundle (no {BUNDLE_FILE})")
    data = load_yaml(path)
    for name in ("species", "members"):
        if not isinstance(data, dict) or name not in data:
            raise ConfigError(f"{path}: {name}: missing")
    bundle = build(Bundle, data, str(path))
    files = [folder / m for m in bundle.members]
    for i, f in enumerate(files):
        if not f.is_file():
            raise ConfigError(f"{path}: members[{i}]: no such file {f}")
    return bundle, files


def ensemble_size(files: list[Path]) -> int:
    """The members of the bundle's files: an ensemble package counts as its members."""
    return sum(members_in(f) for f in files)


def member_metadata(model: Path) -> dict:
    """The metadata of a deployed member (type names, r_max, layers, dtype)."""
    from .deploy.package import load_package

    return dict(load_package(model).get_metadata())


def check_bundle(folder: str | Path) -> list[dict]:
    """Load every member; they must all model the bundle's species. One summary per member."""
    bundle, files = load_bundle(folder)
    path = Path(folder) / BUNDLE_FILE
    rows = []
    for i, f in enumerate(files):
        try:
            meta = member_metadata(f)
        except Exception as exc:    # torch raises many kinds for a file that is no package
            raise ConfigError(f"{path}: members[{i}]: {f.name} does not load as a deployed model "
                              f"({type(exc).__name__}: {exc})") from exc
        types = meta.get("type_names", "").split()
        if sorted(types) != sorted(bundle.species):
            raise ConfigError(f"{path}: members[{i}]: {f.name} models {types}, "
                              f"the bundle's species are {bundle.species}")
        rows.append({"member": i, "file": f.name, "members": int(meta.get(ENSEMBLE_KEY, 1)),
                     "type_names": types, "r_max": float(meta["r_max"]),
                     "num_layers": int(meta.get("ennp_num_layers", 0)),
                     "model_dtype": meta.get("model_dtype", "")})
    return rows
