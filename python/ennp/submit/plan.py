"""The ``ennp submit`` plan: stages (a command, an optional job array, resources, the
stages it waits for). Every problem is a ConfigError naming the file and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, build, load_yaml


@dataclass(frozen=True)
class Resources:
    partition: str = ""             # empty: the cluster's default
    nodes: int = 1                  # --nodes
    ntasks: int = 1                 # MPI ranks
    cpus_per_task: int = 1          # --cpus-per-task (OpenMP threads)
    gpus: int = 0                   # --gpus-per-node
    time: str = ""                  # e.g. 02:00:00; empty: the partition's default
    mem: str = ""                   # e.g. 8G; empty: DefMemPerCPU
    modules: list = field(default_factory=list)     # `module load` before the command
    container: str = ""             # an Apptainer image: the command runs inside it
    requeue_s: int = 0              # > 0: signalled this many seconds before the time limit, the
                                    # job requeues itself (for commands that resume, e.g. ennp md)
    extra: list = field(default_factory=list)       # more #SBATCH options

    def __post_init__(self):
        for name in ("nodes", "ntasks", "cpus_per_task"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.gpus < 0:
            raise ValueError("gpus must be >= 0")
        if self.requeue_s < 0:
            raise ValueError("requeue_s must be >= 0")

    def sbatch_lines(self) -> list[str]:
        lines = [f"--nodes={self.nodes}", f"--ntasks={self.ntasks}", f"--cpus-per-task={self.cpus_per_task}"]
        lines += [f"--partition={self.partition}"] if self.partition else []
        lines += [f"--gpus-per-node={self.gpus}"] if self.gpus else []
        lines += [f"--time={self.time}"] if self.time else []
        lines += [f"--mem={self.mem}"] if self.mem else []
        lines += [f"--signal=B:USR1@{self.requeue_s}", "--requeue", "--open-mode=append"] if self.requeue_s else []
        return [f"#SBATCH {line}" for line in lines + list(self.extra)]

    def wrap(self, command: str) -> tuple[str, str]:
        """(set-up lines, command): modules loaded, the command inside the container; with
        requeue_s, run in the background so that the USR1 trap (requeue) fires at once."""
        import shlex

        setup = "\n".join(f"module load {m}" for m in self.modules)
        if self.container:
            command = (f"apptainer exec {'--nv ' if self.gpus else ''}--bind \"$PWD\" {shlex.quote(self.container)} "
                       f"bash -c {shlex.quote(command)}")
        if self.requeue_s:
            setup += ("\ntrap 'echo \"ennp: time limit near, requeueing job $SLURM_JOB_ID\"; "
                      "scontrol requeue \"$SLURM_JOB_ID\"' USR1")
            command = f"{command} &\nwait $!"
        return setup.strip(), command


@dataclass(frozen=True)
class Stage:
    name: str                       # the stage's name (letters, digits, - and _)
    command: str                    # shell command; $SLURM_ARRAY_TASK_ID in array stages
    array: int = 0                  # > 0: a job array of this many tasks (0 .. array-1)
    after: list = field(default_factory=list)       # stages that must succeed first (afterok)
    resources: Resources = field(default_factory=Resources)    # the job's resources

    def __post_init__(self):
        if not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name {self.name!r}: letters, digits, - and _ only")
        if not self.command.strip():
            raise ValueError(f"stage {self.name}: command is empty")
        if self.array < 0:
            raise ValueError(f"stage {self.name}: array must be >= 0")


@dataclass(frozen=True)
class Plan:
    stages: list

    def __post_init__(self):
        if not self.stages:
            raise ValueError("stages: the plan has none")


def step_resources(slurm: dict, defaults: dict[str, dict], where: str) -> dict[str, Resources]:
    """Resources of each step of a chain (``--submit``): the chain's defaults for the step
    (e.g. ntasks = its MPI ranks), then the config's ``slurm.all``, then ``slurm.<step>``."""
    unknown = sorted(set(slurm) - set(defaults) - {"all"})
    if unknown:
        raise ConfigError(f"{where}: unknown step(s) {unknown}; steps are all, {', '.join(defaults)}")
    for name, value in slurm.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{name}: expected a mapping of resources, got {type(value).__name__}")
    return {step: build(Resources, {**d, **slurm.get("all", {}), **slurm.get(step, {})}, f"{where}.{step}")
            for step, d in defaults.items()}


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data.get("stages"), list):
        raise ConfigError(f"{path}: stages: expected a list of stages")
    stages = [build(Stage, s, f"{path}: stages[{k}]") for k, s in enumerate(data["stages"])]
    plan = build(Plan, {"stages": stages, **{k: v for k, v in data.items() if k != "stages"}}, str(path))
    seen = set()
    for k, s in enumerate(stages):
        if s.name in seen:
            raise ConfigError(f"{path}: stages[{k}].name: {s.name!r} is used twice")
        unknown = [a for a in s.after if a not in seen]
        if unknown:
            raise ConfigError(f"{path}: stages[{k}].after: {unknown} are not earlier stages")
        seen.add(s.name)
    return plan
