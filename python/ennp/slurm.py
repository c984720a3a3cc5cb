"""Submitting a whole ``ennp`` chain (``ennp heat``, ``ennp vibrations``) as one sbatch job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import job_templates
from .label.backends import render


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
