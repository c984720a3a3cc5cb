"""Label many structures with the configured labeller; resumable, failures recorded.

Each finished structure is written to its own file under ``OUT.parts/`` by an
atomic rename, so a run killed at any point resumes where it stopped and never
repeats or loses a finished calculation. A structure whose SCF failed gets a
``NNNNNN.failed`` note there and never gets labels. The work can be split into
tasks (``task`` of ``tasks``: structure i belongs to task i mod tasks), which
is how local workers and Slurm array tasks share one set of structures; the
task that finds every structure finished writes ``OUT`` and ``OUT.failed.json``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import ase.io

from ..cache import content_key
from ..config import ConfigError, build, load_yaml
from ..files import write_atomic, write_frames, write_json
from .qe import QESettings, label_qe
from .universal import UniversalSettings, label_universal
from .results import LabelOutcome, label_with_calculator

LABELLERS = ("qe", "sevennet", "emt")


@dataclass(frozen=True)
class LabelConfig:
    labeller: str = "qe"            # qe: Quantum ESPRESSO; sevennet (the embedded universal potential) or emt (ASE's EMT, Au, tests): stand-ins for DFT
    qe: QESettings = field(default_factory=QESettings)    # Quantum ESPRESSO settings
    sevennet: UniversalSettings = field(default_factory=UniversalSettings)    # the SevenNet-0 stand-in

    def __post_init__(self):
        if self.labeller not in LABELLERS:
            raise ValueError(f"labeller must be one of {LABELLERS}, not {self.labeller!r}")

    def physics_hash(self) -> str:
        """Hash of what determines the labels; recorded with each frame."""
        if self.labeller == "qe":
            return self.qe.physics_hash()
        if self.labeller == "sevennet":
            return self.sevennet.physics_hash()
        return content_key("emt")


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
    if config.labeller == "sevennet":
        return LabelOutcome(label_universal(atoms, config.sevennet), 1)
    from ase.calculators.emt import EMT

    out = label_with_calculator(atoms, EMT(), ennp_labeller="emt (stand-in for DFT)",
                                ennp_label_hash=config.physics_hash(), ennp_label_attempts=1)
    return LabelOutcome(out, 1)


def label_structures(frames, config: LabelConfig, out: str | Path, *, progress: bool = True,
                     task: int = 0, tasks: int = 1):
    """Label this task's share of ``frames`` into ``OUT.parts``; once all are
    finished, write extxyz ``out``. Returns (number labelled, failures dict)."""
    if not 0 <= task < tasks:
        raise ValueError(f"task must be in 0..{tasks - 1}, not {task}")
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    _check_manifest(parts, frames, config)
    n = len(frames)
    for i in range(task, n, tasks):
        part, note = parts / f"{i:06d}.extxyz", parts / f"{i:06d}.failed"
        if part.exists() or note.exists():
            continue    # finished in an earlier run
        result = label_one(frames[i], config, parts / f"work{i:06d}")
        if result.ok:
            result.atoms.info["ennp_source_index"] = i
            write_frames(part, result.atoms)
        else:
            write_atomic(note, lambda tmp: tmp.write_text(result.message))
        if progress:
            status = "ok" if result.ok else f"FAILED ({result.message})"
            print(f"label {_finished(parts)}/{n}: structure {i} {status}", file=sys.stderr, flush=True)
    failed = {str(int(p.stem)): p.read_text() for p in sorted(parts.glob("*.failed"))}
    done = sorted(parts.glob("*.extxyz"))
    if len(done) + len(failed) == n:    # everything finished (by any task): collect
        labelled = [ase.io.read(p, format="extxyz") for p in done]
        write_frames(out, labelled)
        write_json(out.with_name(out.name + ".failed.json"), failed)
    return len(done), failed


def _finished(parts: Path) -> int:
    return sum(1 for p in parts.iterdir() if p.suffix in (".extxyz", ".failed"))


def _check_manifest(parts: Path, frames, config: LabelConfig) -> None:
    """Refuse to resume into parts made from other structures or another labeller."""
    key = content_key("label", config.physics_hash(),
                      [(a.get_chemical_formula(), a.positions.round(8).tolist(),
                        a.cell[:].round(8).tolist()) for a in frames])
    manifest = parts / "manifest"
    parts.mkdir(parents=True, exist_ok=True)
    if manifest.exists():
        if manifest.read_text().strip() != key:
            raise ValueError(f"{parts} holds labels of other structures or another labeller; "
                             "remove it or choose another output name")
        return
    write_atomic(manifest, lambda tmp: tmp.write_text(key + "\n"))
