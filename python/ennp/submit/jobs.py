"""Submitting a plan to Slurm, recording its jobs, reporting and repairing them.

The run's state (``W/submit.json``, written atomically after every sbatch) holds
each stage's script and its job ids; a stage already recorded is not submitted
again, so a submitting process that dies half-way is simply run again. Status
comes from ``squeue`` while jobs are queued and ``scontrol show job`` after
(``sacct`` when the cluster keeps accounting). Failed array tasks are
resubmitted as a new array of just those indices, and the stages waiting on
them are pointed at the new job (``scontrol update ... Dependency=``).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from .. import job_templates
from ..files import write_json
from .plan import Plan, Resources, Stage, load_plan

FAILED = ("FAILED", "TIMEOUT", "NODE_FAIL", "CANCELLED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED")
ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")


def _slurm(*cmd: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"{cmd[0]} not found: no Slurm on this machine") from None


def sbatch(script: Path, array: str = "", dependency: str = "", wait: bool = False) -> str:
    """Submit; the job id. ``wait``: return when the job (every array task) has ended."""
    cmd = ["sbatch", "--parsable"] + (["--wait"] if wait else []) + ([f"--array={array}"] if array else []) + \
          ([f"--dependency={dependency}"] if dependency else []) + [str(script)]
    proc = _slurm(*cmd)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


def render(template: str, **values) -> str:
    """Fill a template's {{placeholders}}; one left unfilled is an error."""
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", str(value))
    if "{{" in template:
        raise ValueError(f"template placeholder left unfilled: {template[template.index('{{'):][:40]}")
    return template


def ennp_command(resources: Resources, *args) -> str:
    """An ``ennp`` command line for a job: this environment's ennp, or the image's inside a
    container."""
    ennp = "ennp" if resources.container else str(Path(sys.executable).with_name("ennp"))
    return " ".join(shlex.quote(str(a)) for a in (ennp, *args))


def write_stage_script(stage: Stage, workdir: Path) -> Path:
    """jobs/stage.sbatch rendered for ``stage`` as workdir/<name>.sbatch (run in workdir;
    its output in workdir/<name>_<job>[_<task>].out)."""
    setup, command = stage.resources.wrap(stage.command)
    script = Path(workdir) / f"{stage.name}.sbatch"
    script.write_text(render((job_templates() / "stage.sbatch").read_text(), job_name=f"ennp-{stage.name}",
                             workdir=Path(workdir).resolve(),
                             output=f"{stage.name}_%A_%a.out" if stage.array else f"{stage.name}_%j.out",
                             sbatch_lines="\n".join(stage.resources.sbatch_lines()), setup=setup, command=command))
    return script


def _state_path(workdir: Path) -> Path:
    return Path(workdir) / "submit.json"


def load_state(workdir: str | Path) -> dict:
    path = _state_path(Path(workdir))
    if not path.exists():
        raise ValueError(f"{workdir}: no submit.json; submit a plan there first (ennp submit run PLAN --out W)")
    return json.loads(path.read_text())


def submit_plan(plan: Plan | str | Path, workdir: str | Path, progress=print, source: str = "") -> dict:
    """Render and submit every stage not yet submitted, in order, each after the stages it
    names (afterok); record the job ids. ``plan``: a Plan (``source`` says where it came
    from) or a plan YAML. Returns the state."""
    if not isinstance(plan, Plan):
        plan, source = load_plan(plan), str(Path(plan).resolve())
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    state_path = _state_path(workdir)
    state = json.loads(state_path.read_text()) if state_path.exists() else {"plan": source, "stages": {}}
    for stage in plan.stages:
        if stage.name in state["stages"]:
            progress(f"{stage.name}: already submitted as job {state['stages'][stage.name]['job']}", flush=True)
            continue
        script = write_stage_script(stage, workdir)
        after = [state["stages"][a]["job"] for a in stage.after]
        job = sbatch(script, f"0-{stage.array - 1}" if stage.array else "",
                     "afterok:" + ":".join(after) if after else "")
        state["stages"][stage.name] = {"job": job, "script": str(script), "array": stage.array,
                                       "after": list(stage.after), "retries": []}
        write_json(state_path, state)    # after every sbatch: a restart never submits twice
        progress(f"{stage.name}: submitted job {job}" + (f" (array of {stage.array})" if stage.array else "")
                 + (f" after {', '.join(stage.after)}" if stage.after else ""), flush=True)
    return state


def job_states(job: str) -> dict[str, str]:
    """{'<task>' or '': state} of a job (array tasks by index) from squeue, scontrol or sacct."""
    states: dict[str, str] = {}
    out = _slurm("scontrol", "show", "job", "-o", job).stdout
    for line in out.splitlines():
        fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
        if "JobState" in fields:
            task = fields.get("ArrayTaskId", "")
            if task and not task.isdigit():    # pending tasks shown as a range, e.g. 2-3 or 0-2%1
                for part in task.split("%")[0].split(","):
                    lo, _, hi = part.partition("-")
                    for k in range(int(lo), int(hi or lo) + 1):
                        states[str(k)] = fields["JobState"]
            else:
                states[task] = fields["JobState"]
    if not states:    # gone from the controller's memory: accounting, if the cluster keeps it
        out = _slurm("sacct", "-n", "-X", "-P", "-j", job, "-o", "JobID,State").stdout
        for line in out.splitlines():
            jid, _, st = line.partition("|")
            task = jid.split("_", 1)[1] if "_" in jid else ""
            states[task] = st.split()[0] if st else "UNKNOWN"
    return states


def status(workdir: str | Path) -> dict:
    """Per stage: the state of every task (the newest attempt counts) and a summary word."""
    state = load_state(workdir)
    report = {}
    for name, s in state["stages"].items():
        tasks = job_states(s["job"])
        for retry in s["retries"]:
            tasks.update(job_states(retry["job"]))
        if s["array"]:
            tasks = {k: tasks.get(str(k), "UNKNOWN") for k in range(s["array"])}
        summary = ("FAILED" if any(t in FAILED for t in tasks.values()) else
                   "ACTIVE" if any(t in ACTIVE for t in tasks.values()) else
                   "COMPLETED" if tasks and all(t == "COMPLETED" for t in tasks.values()) else "UNKNOWN")
        report[name] = {"job": s["job"], "summary": summary, "tasks": {str(k): v for k, v in tasks.items()},
                        "retries": [r["job"] for r in s["retries"]]}
    return report


def resubmit_failed(workdir: str | Path, progress=print) -> dict:
    """Resubmit failed stages (of an array, just the failed tasks); stages waiting on them
    wait on the retry. A stage's command should resume what it finished (ennp's chain steps
    and ``ennp label --task`` do)."""
    workdir = Path(workdir).resolve()
    state = load_state(workdir)
    report = status(workdir)
    for name, s in state["stages"].items():
        failed = sorted(int(k or 0) for k, v in report[name]["tasks"].items() if v in FAILED)
        if not failed:
            continue
        job = sbatch(Path(s["script"]), ",".join(map(str, failed)) if s["array"] else "")
        s["retries"].append({"job": job, "tasks": failed if s["array"] else []})
        write_json(_state_path(workdir), state)
        progress(f"{name}: " + (f"tasks {failed}" if s["array"] else f"job {s['job']}") + f" resubmitted as job {job}",
                 flush=True)
        for other, o in state["stages"].items():
            if name in o["after"] and report[other]["summary"] in ("ACTIVE", "UNKNOWN"):
                waits = []
                for a in o["after"]:    # the newest attempt, and tasks of older ones still going
                    sa = state["stages"][a]
                    if not sa["retries"]:
                        waits.append(sa["job"])
                        continue
                    waits.append(sa["retries"][-1]["job"])
                    waits += [f"{sa['job']}_{k}" for k, v in report[a]["tasks"].items() if v in ACTIVE]
                proc = _slurm("scontrol", "update", f"JobId={o['job']}", f"Dependency=afterok:{':'.join(waits)}")
                if proc.returncode != 0:
                    raise RuntimeError(f"could not point {other} (job {o['job']}) at the retry: "
                                       f"{proc.stderr.strip()}")
                progress(f"{other}: now waits for job(s) {', '.join(waits)}", flush=True)
    return state
