"""YAML configuration files, validated with errors that name the file and the field."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import yaml


class ConfigError(ValueError):
    """A configuration problem: the message names the file and the field."""


@dataclass(frozen=True)
class StructureSpec:
    builder: str = ""               # a name in ennp.builders.BUILDERS
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PairSpec:
    style: str = "ennp"             # ennp (deployed model) | classical (built-in stand-in) | file
    model: str = ""                 # .nequip.pt2 for style ennp
    file: str = ""                  # LAMMPS include file for style file

    def __post_init__(self):
        if self.style not in ("ennp", "classical", "file"):
            raise ValueError(f"style must be ennp, classical or file, not {self.style!r}")
        if self.style == "ennp" and not self.model:
            raise ValueError("style ennp needs 'model' (a deployed .nequip.pt2)")
        if self.style == "file" and not self.file:
            raise ValueError("style file needs 'file' (a LAMMPS include with pair_style/pair_coeff)")


def check_species(species) -> None:
    """LAMMPS atom types 1, 2, ... of a config: distinct element symbols, at least one."""
    if not species or len(set(species)) != len(species):
        raise ValueError(f"species must be distinct element symbols, got {species}")


def resolve_file(config_path: str | Path, name: str, value: str) -> str:
    """A file named in field ``name`` of a config, relative to the config's folder; it must exist."""
    if not value:
        return value
    full = Path(config_path).resolve().parent / value
    if not full.is_file():
        raise ConfigError(f"{config_path}: {name}: no such file {full}")
    return str(full)


def resolve_pair(config_path: str | Path, pair: PairSpec) -> PairSpec:
    return replace(pair, model=resolve_file(config_path, "pair.model", pair.model),
                   file=resolve_file(config_path, "pair.file", pair.file))


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    return data


def build(cls, data: Any, where: str):
    """Instantiate dataclass ``cls`` from a mapping; unknown or mistyped fields raise ConfigError.

    ``where`` is "file: section" and prefixes every message. Dataclasses may
    validate further in ``__post_init__`` by raising ValueError; that message is
    prefixed the same way.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    hints = get_type_hints(cls)
    values = {}
    for name, value in data.items():
        values[name] = _check_type(value, hints[name], f"{where}.{name}")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_type(value, hint, where):
    origin = getattr(hint, "__origin__", None)
    if is_dataclass(hint):
        return build(hint, value, where)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected float, got {value!r}")
        return float(value)
    if hint in (int, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    if origin in (list, tuple) and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return tuple(value) if origin is tuple else value
