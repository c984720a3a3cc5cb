"""YAML configuration files, validated with errors that name the file and the field."""

from __future__ import annotations

import re
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A configuration problem: the message names the file and the field."""


@dataclass(frozen=True)
class StructureSpec:
    """A structure: an ennp builder with its arguments, or a file."""
    builder: str = ""               # a builder of ennp.builders (particle_on_slab, mos2_on_graphite, au_fcc, ...)
    args: dict = field(default_factory=dict)    # the builder's keyword arguments
    file: str = ""                  # instead of a builder: a LAMMPS data file (atom_style atomic) or any file ASE reads
    name: str = ""                  # active learning: names the structure's files and runs (required there)

    def __post_init__(self):
        if bool(self.builder) == bool(self.file):
            raise ValueError("give exactly one of 'builder' or 'file'")
        if self.args and not self.builder:
            raise ValueError("'args' go with a 'builder'")


@dataclass(frozen=True)
class PairSpec:
    """The potential of a chain's LAMMPS runs."""
    style: str = "ennp"             # ennp (deployed model or bundle) | classical (built-in stand-in) | file
    model: str = ""                 # .nequip.pt2 for style ennp: one model, not monitored
    bundle: str = ""                # style ennp: a model bundle folder (ennp al export); member 0 drives, all members monitor
    file: str = ""                  # LAMMPS include file (pair_style and pair_coeff) for style file

    def __post_init__(self):
        if self.style not in ("ennp", "classical", "file"):
            raise ValueError(f"style must be ennp, classical or file, not {self.style!r}")
        if self.style == "ennp" and not (self.model or self.bundle):
            raise ValueError("style ennp needs 'model' (a deployed .nequip.pt2) or 'bundle' (a model bundle folder)")
        if self.bundle and self.style != "ennp":
            raise ValueError(f"'bundle' goes with style ennp, not {self.style!r}")
        if self.style == "file" and not self.file:
            raise ValueError("style file needs 'file' (a LAMMPS include with pair_style/pair_coeff)")


@dataclass(frozen=True)
class MonitorSpec:
    """Watching a run with the ensemble of its model bundle (compute ennp/ensemble)."""
    every: int = 100                # steps between ensemble evaluations (the monitored steps)
    trust_lo: float | None = None   # eV/A: max_devi_f from here on makes a frame a candidate; default: the bundle's trust.lo
    trust_hi: float | None = None   # eV/A: from here on untrusted; default: the bundle's trust.hi
    halt: bool = False              # stop at the first monitored step with max_devi_f above trust_hi

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        for name in ("trust_lo", "trust_hi"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if None not in (self.trust_lo, self.trust_hi) and not self.trust_lo < self.trust_hi:
            raise ValueError(f"need trust_lo < trust_hi, got {self.trust_lo} and {self.trust_hi}")


def check_species(species) -> None:
    """LAMMPS atom types 1, 2, ... of a config: distinct element symbols, at least one."""
    from ase.data import chemical_symbols

    if not species:
        raise ValueError("species: expected a non-empty list of elements, e.g. [Au, Ti, O]")
    bad = [s for s in species if s not in chemical_symbols[1:]]
    if bad:
        raise ValueError(f"species: unknown element(s) {bad}")
    if len(set(species)) != len(species):
        raise ValueError(f"species: listed twice: {list(species)}")


def resolve_file(config_path: str | Path, name: str, value: str) -> str:
    """A file named in field ``name`` of a config, relative to the config's folder; it must exist."""
    if not value:
        return value
    full = Path(config_path).resolve().parent / value
    if not full.is_file():
        raise ConfigError(f"{config_path}: {name}: no such file {full}")
    return str(full)


def resolve_pair(config_path: str | Path, pair: PairSpec, species=None,
                 monitor: MonitorSpec | None = None) -> tuple[PairSpec, MonitorSpec | None]:
    """Files of the pair section relative to the config's folder. With a bundle: ``model``
    becomes its member 0 and the monitor section gets the bundle's trust levels where it gives
    none (a bundle of two or more members is monitored even without the section). Returns
    (pair, monitor); monitor is None for an unmonitored run."""
    where = f"{config_path}: pair"
    pair = replace(pair, model=resolve_file(config_path, "pair.model", pair.model),
                   file=resolve_file(config_path, "pair.file", pair.file))
    if not pair.bundle:
        if monitor is not None:
            raise ConfigError(f"{config_path}: monitor: needs pair.bundle (the ensemble that monitors)")
        return pair, None
    from .bundle import ensemble_size, load_bundle

    if pair.model:
        raise ConfigError(f"{where}: give 'model' or 'bundle', not both")
    folder = (Path(config_path).resolve().parent / pair.bundle).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{where}.bundle: no such folder {folder}")
    bundle, members = load_bundle(folder)
    missing = [el for el in species or [] if el not in bundle.species]
    if missing:
        raise ConfigError(f"{where}.bundle: {folder} models {bundle.species}; {missing} of species are not among them")
    pair = replace(pair, bundle=str(folder), model=str(members[0]))
    size = ensemble_size(members)
    if monitor is None and size < 2:
        return pair, None
    if size < 2:
        raise ConfigError(f"{config_path}: monitor: needs a bundle of two or more members; {folder} has one")
    monitor = monitor or MonitorSpec()
    try:
        monitor = replace(monitor, trust_lo=bundle.trust.lo if monitor.trust_lo is None else monitor.trust_lo,
                          trust_hi=bundle.trust.hi if monitor.trust_hi is None else monitor.trust_hi)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: monitor: {exc} (the bundle's levels are lo {bundle.trust.lo}, "
                          f"hi {bundle.trust.hi})") from exc
    return pair, monitor


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, except that 1e-8 and 5e5 (no dot) are floats, as in YAML 1.2."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def parse_yaml(text: str):
    """YAML text with the loader of every ennp config."""
    return yaml.load(text, Loader=_Loader)


def resolve_structure(config_path: str | Path, spec: StructureSpec, name: str = "structure") -> StructureSpec:
    return replace(spec, file=resolve_file(config_path, f"{name}.file", spec.file))


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    try:
        data = parse_yaml(path.read_text())
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
        values[name] = _check_type(value, hints[name], field_where(where, name))
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def field_where(where: str, name: str) -> str:
    """Where field ``name`` of the section at ``where`` is: "file: name" below the top level of
    a file, "file: section.name" below a section."""
    return f"{where}.{name}" if ": " in where else f"{where}: {name}"


def _check_type(value, hint, where):
    origin = getattr(hint, "__origin__", None)
    if get_origin(hint) in (Union, types.UnionType):    # X | None: None, or an X
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        if len(options) == 1:
            return _check_type(value, options[0], where)
        return value
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
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = next((a for a in getattr(hint, "__args__", ()) if a is not Ellipsis), None)
        if item is not None:
            value = [_check_type(v, item, f"{where}[{k}]") for k, v in enumerate(value)]
    return tuple(value) if origin is tuple else value


def default(cls, name: str):
    """The default of field ``name`` of dataclass ``cls``, or of parameter ``name`` of a
    function (for CLI options, so that their defaults and the code's cannot disagree)."""
    if not is_dataclass(cls):
        import inspect

        return inspect.signature(cls).parameters[name].default
    f = next(f for f in fields(cls) if f.name == name)
    return f.default_factory() if f.default_factory is not MISSING else f.default


def field_table(cls) -> list[dict]:
    """One row per field of a config dataclass: name, type, default and meaning. The meaning is
    the comment beside the field in the source, so docs generated from it follow the code."""
    import inspect

    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    hints = get_type_hints(cls)
    rows = []
    for f in fields(cls):
        hint = hints[f.name]
        type_name = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
        if f.default is MISSING and f.default_factory is MISSING:
            value = "required"
        elif is_dataclass(hint):
            value = "(section)"
        else:
            value = default(cls, f.name)
            value = repr(list(value) if isinstance(value, tuple) else value)
        rows.append({"name": f.name, "type": type_name, "default": value, "meaning": comments.get(f.name, "")})
    return rows
