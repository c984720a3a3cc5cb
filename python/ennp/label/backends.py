"""Where labelling runs: in this process, in parallel local workers, or as a
Slurm job array. All three run :func:`~ennp.label.labelling.label_structures`
on shares of the same structures (``ennp label --task i --tasks N``), so they
resume the same way and give the same file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io

from .. import job_templates
from .labelling import LabelConfig, label_structures


def render(template: str, **values) -> str:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", str(value))
    if "{{" in template:
        raise ValueError(f"template placeholder left unfilled: {template[template.index('{{'):][:40]}")
    return template


def label_file(inp: Path, out: Path, config: LabelConfig, config_file: Path, section: str,
               *, kind: str = "local", workers: int = 1, sbatch_args=(), progress: bool = True):
    """Label structures of extxyz ``inp`` into ``out``; returns (number labelled, failures)."""
    frames = ase.io.read(inp, index=":")
    tasks = max(1, min(workers, len(frames)))
    ennp = str(Path(sys.executable).with_name("ennp"))
    cli = [ennp, "label", str(inp), str(out), "--config", str(config_file), "--section", section]
    if kind == "slurm":
        log_dir = out.parent / "slurm_logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        script = render((job_templates() / "label_array.sbatch").read_text(),
                        last_task=tasks - 1, log_dir=log_dir, ennp=ennp, inp=inp, out=out,
                        config=config_file, section=section, tasks=tasks,
                        sbatch_lines="\n".join(f"#SBATCH {a}" for a in sbatch_args))
        path = out.with_name(out.name + ".sbatch")
        path.write_text(script)
        # --wait: sbatch returns when every array task has ended
        proc = subprocess.run(["sbatch", "--wait", "--parsable", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"label job array {path} failed: {proc.stderr.strip() or proc.stdout.strip()}"
                               f" (task logs in {log_dir})")
    elif tasks > 1:
        procs = [subprocess.Popen(cli + ["--task", str(t), "--tasks", str(tasks)]) for t in range(tasks)]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise RuntimeError(f"labelling worker(s) failed (exit codes {codes}); see messages above")
    # in this process: labels what is left (everything, with one worker) and writes OUT
    return label_structures(frames, config, out, progress=progress)
