"""The ``ennp submit`` plan: stages (a command, an optional job array, resources, the
stages it waits for). Every problem is a ConfigError naming the file and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, build, load_yaml


@dataclass(frozen=True)
class Resources:
    partition: str = ""
    nodes: int = 1
    ntasks: int = 1                 # MPI ranks
    cpus_per_task: int = 1
    gpus: int = 0                   # --gpus-per-node
    time: str = ""                  # e.g. 02:00:00; empty: the partition's default
    mem: str = ""                   # e.g. 8G; empty: DefMemPerCPU
    modules: list = field(default_factory=list)     # `module load` before the command
    container: str = ""             # an Apptainer image: the command runs inside it
    extra: list = field(default_factory=list)       # more #SBATCH options

    def __post_init__(self):
        for name in ("nodes", "ntasks", "cpus_per_task"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.gpus < 0:
            raise ValueError("gpus must be >= 0")

    def sbatch_lines(self) -> list[str]:
        lines = [f"--nodes={self.nodes}", f"--ntasks={self.ntasks}", f"--cpus-per-task={self.cpus_per_task}"]
        lines += [f"--partition={self.partition}"] if self.partition else []
        lines += [f"--gpus-per-node={self.gpus}"] if self.gpus else []
        lines += [f"--time={self.time}"] if self.time else []
        lines += [f"--mem={self.mem}"] if self.mem else []
        return [f"#SBATCH {line}" for line in lines + list(self.extra)]

    def wrap(self, command: str) -> tuple[str, str]:
        """(set-up lines, command): modules loaded, the command inside the container."""
        import shlex

        setup = "\n".join(f"module load {m}" for m in self.modules)
        if self.container:
            command = (f"apptainer exec {'--nv ' if self.gpus else ''}--bind \"$PWD\" {shlex.quote(self.container)} "
                       f"bash -c {shlex.quote(command)}")
        return setup, command


@dataclass(frozen=True)
class Stage:
    name: str
    command: str                    # shell command; $SLURM_ARRAY_TASK_ID in array stages
    array: int = 0                  # > 0: a job array of this many tasks (0 .. array-1)
    after: list = field(default_factory=list)       # stages that must succeed first (afterok)
    resources: Resources = field(default_factory=Resources)

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
