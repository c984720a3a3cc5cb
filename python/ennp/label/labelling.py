"""Label many structures with the configured labeller; resumable, failures recorded.

Each finished structure is written to its own file under ``OUT.parts/`` by an
atomic rename, so a run killed at any point resumes where it stopped and never
repeats or loses a finished calculation. Structures whose SCF failed are listed
in ``OUT.failed.json`` and never get labels.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ase.io

from ..config import ConfigError, build, load_yaml
from .qe import LabelOutcome, QESettings, label_qe
from .results import label_with_calculator

LABELLERS = ("qe", "emt")


@dataclass(frozen=True)
class LabelConfig:
    labeller: str = "qe"    # qe: Quantum ESPRESSO; emt: ASE's EMT, a stand-in for DFT (tests, demos)
    qe: QESettings = field(default_factory=QESettings)

    def __post_init__(self):
        if self.labeller not in LABELLERS:
            raise ValueError(f"labeller must be one of {LABELLERS}, not {self.labeller!r}")


def load_label_config(path: str | Path, section: str | None = None) -> LabelConfig:
    data = load_yaml(path)
    if section is not None:
        data = data.get(section)
        if data is None:
            raise ConfigError(f"{path}: missing section '{section}'")
    return build(LabelConfig, data, f"{path}: {section or 'label'}")


def label_one(atoms, config: LabelConfig, workdir: Path) -> LabelOutcome:
    if config.labeller == "qe":
        return label_qe(atoms, config.qe, workdir)
    from ase.calculators.emt import EMT

    out = label_with_calculator(atoms, EMT(), ennp_labeller="emt (stand-in for DFT)",
                                ennp_label_attempts=1)
    return LabelOutcome(out, 1)


def label_structures(frames, config: LabelConfig, out: str | Path, *, progress: bool = True):
    """Label ``frames`` into extxyz ``out``; returns (number labelled, failures dict)."""
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    failed_path = out.with_name(out.name + ".failed.json")
    failed = json.loads(failed_path.read_text()) if failed_path.exists() else {}
    n = len(frames)
    for i, atoms in enumerate(frames):
        part = parts / f"{i:06d}.extxyz"
        if part.exists() or str(i) in failed:
            continue    # finished in an earlier run
        result = label_one(atoms, config, parts / f"work{i:06d}")
        if result.ok:
            result.atoms.info["ennp_source_index"] = i
            tmp = part.with_suffix(".tmp")
            ase.io.write(tmp, result.atoms, format="extxyz")
            os.replace(tmp, part)
        else:
            failed[str(i)] = result.message
            _write_json(failed_path, failed)
        if progress:
            done = sum(1 for _ in parts.glob("*.extxyz")) + len(failed)
            status = "ok" if result.ok else f"FAILED ({result.message})"
            print(f"label {done}/{n}: structure {i} {status}", file=sys.stderr, flush=True)
    labelled = [ase.io.read(p, format="extxyz") for p in sorted(parts.glob("*.extxyz"))]
    tmp = out.with_name(out.name + ".tmp")
    ase.io.write(tmp, labelled, format="extxyz")
    os.replace(tmp, out)
    return len(labelled), failed


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
