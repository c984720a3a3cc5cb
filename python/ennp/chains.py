"""Shared pieces of the ``ennp heat|vibrations|md`` chains: starting the work folder,
stopping after a step, and submitting the chain as an ``ennp submit`` plan."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from .config import ConfigError
from .submit.jobs import ennp_command, submit_plan
from .submit.plan import Plan, Stage, step_resources


def start_chain(config_path: str | Path, workdir: str | Path, config, prepare: Callable,
                until: str | None = None) -> tuple[Path, dict]:
    """Check ``until`` (a step of the chain, or None), create the work folder, keep a copy of
    the config there and run ``prepare(config, workdir)`` (build the structure once, write
    the pair file); a builder's ValueError names the config file and its structure section.
    Returns (workdir, prepared)."""
    if until is not None and until not in config.chain_steps():
        raise ValueError(f"--until {until}: not a step of this chain; steps are {', '.join(config.chain_steps())}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path, workdir / "config.yaml")
    try:
        return workdir, prepare(config, workdir)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: structure: {exc}") from exc


def submit_chain(verb: str, config_path: str | Path, workdir: str | Path, config, progress=print) -> dict:
    """Submit the chain as an ``ennp submit`` plan: one job per step (``ennp VERB CONFIG
    --until STEP``), each after the one before (afterok), with the step's resources from the
    config's ``slurm:`` section. Job ids go to W/submit.json (``ennp submit --status W``).
    In a container the image's ``ennp`` runs; elsewhere this environment's."""
    resources = step_resources(config.slurm, config.chain_steps(), f"{config_path}: slurm")
    workdir, config_path = Path(workdir).resolve(), Path(config_path).resolve()
    stages, before = [], []
    for step, res in resources.items():
        command = ennp_command(res, verb, config_path, "--workdir", workdir, "--until", step)
        stages.append(Stage(name=step, command=command, after=before, resources=res))
        before = [step]
    return submit_plan(Plan(stages), workdir, progress=progress, source=f"ennp {verb} {config_path}")
