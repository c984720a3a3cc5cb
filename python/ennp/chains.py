"""Shared pieces of the ``ennp heat|vibrations|md`` chains: starting the work folder,
and submitting a whole chain as one sbatch job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from . import job_templates
from .config import ConfigError
from .label.backends import render


def start_chain(config_path: str | Path, workdir: str | Path, config, prepare: Callable) -> tuple[Path, dict]:
    """Create the work folder, keep a copy of the config there and run ``prepare(config,
    workdir)`` (build the structure once, write the pair file); a builder's ValueError
    names the config file and its structure section. Returns (workdir, prepared)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, workdir / "config.yaml")
    try:
        return workdir, prepare(config, workdir)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: structure: {exc}") from exc


def submit_chain(template: str, config_path: str | Path, workdir: str | Path, ntasks: int,
                 sbatch_args=()) -> str:
    """Render ``jobs/<template>`` into the work folder and submit it; returns the job id.
    The template's placeholders: ntasks, workdir, ennp, config, sbatch_lines."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    script = render((job_templates() / template).read_text(), ntasks=ntasks, workdir=workdir,
                    ennp=Path(sys.executable).with_name("ennp"), config=Path(config_path).resolve(),
                    sbatch_lines="\n".join(f"#SBATCH {a}" for a in sbatch_args))
    path = workdir / template
    path.write_text(script)
    try:
        proc = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"sbatch not found: no Slurm on this machine ({path} is written; "
                           "run without --submit to run the chain here)") from None
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {path} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]
