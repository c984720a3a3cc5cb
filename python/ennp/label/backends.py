"""Where labelling runs: in this process, in parallel local workers, or as a
Slurm job array (jobs/stage.sbatch, rendered as ``ennp submit`` does). All three
run :func:`~ennp.label.labelling.label_structures` on shares of the same
structures (``ennp label IN --out OUT --task i --tasks N``), so they resume the same way and
give the same file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io

from ..cores import shared_cores_env
from ..submit.jobs import ennp_command, sbatch, write_stage_script
from ..submit.plan import Resources, Stage
from .labelling import LabelConfig, label_structures


def label_file(inp: Path, out: Path, config: LabelConfig, config_file: Path, section: str,
               *, kind: str = "local", workers: int = 1, resources: Resources | None = None,
               progress: bool = True):
    """Label structures of extxyz ``inp`` into ``out``; returns (number labelled, failures).
    kind slurm: a job array of ``workers`` tasks, each with ``resources``, rendered from
    jobs/stage.sbatch into out's folder; this call returns when every task has ended."""
    frames = ase.io.read(inp, index=":")
    tasks = max(1, min(workers, len(frames)))
    ennp = str(Path(sys.executable).with_name("ennp"))
    cli = [ennp, "label", str(inp), "--out", str(out), "--config", str(config_file), "--section", section]
    if kind == "slurm":
        resources = resources or Resources()
        stage = Stage(name="label", command=f"{ennp_command(resources, *cli[1:])} --task $SLURM_ARRAY_TASK_ID "
                                            f"--tasks {tasks}",
                      array=tasks, resources=resources)
        script = write_stage_script(stage, out.parent)
        try:
            sbatch(script, f"0-{tasks - 1}", wait=True)
        except RuntimeError as exc:
            raise RuntimeError(f"label job array {script}: {exc} (task logs: {out.parent}/label_*.out)") from None
    elif tasks > 1:
        env = shared_cores_env(tasks)
        procs = [subprocess.Popen(cli + ["--task", str(t), "--tasks", str(tasks)], env=env) for t in range(tasks)]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise RuntimeError(f"labelling worker(s) failed (exit codes {codes}); see messages above")
    # in this process: labels what is left (everything, with one worker) and writes OUT
    return label_structures(frames, config, out, progress=progress)
