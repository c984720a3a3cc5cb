"""``ennp submit`` on a real one-node Slurm (loopback): a label job array
and a dependent analysis job; a failed array task is found and resubmitted, the dependent
job follows the retry; the state survives a restart of the submitting process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import yaml
from ase.build import bulk

from ennp.config import ConfigError
from ennp.submit.plan import load_plan

ENNP = str(Path(sys.executable).with_name("ennp"))


def ennp(slurm, *args) -> subprocess.CompletedProcess:
    proc = subprocess.run([ENNP, *args], capture_output=True, text=True, env=slurm.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_label_array_then_analysis_with_a_failed_task(slurm, tmp_path):
    frames = [bulk("Au", cubic=True).repeat(2) for _ in range(3)]
    for k, a in enumerate(frames):
        a.rattle(0.05, seed=k)
    ase.io.write(tmp_path / "in.extxyz", frames)
    (tmp_path / "label.yaml").write_text("labeller: emt\n")
    # task 1 fails the first time it runs (as a node or code failure would)
    label = (f"if [ $SLURM_ARRAY_TASK_ID = 1 ] && [ ! -e failed_once ]; then touch failed_once; exit 3; fi; "
             f"{ENNP} label in.extxyz --out out.extxyz --config label.yaml --task $SLURM_ARRAY_TASK_ID --tasks 3")
    analysis = (f"{sys.executable} -c \"import ase.io, json; f = ase.io.read('out.extxyz', ':'); "
                f"json.dump([a.get_potential_energy() for a in f], open('energies.json', 'w'))\"")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"stages": [
        {"name": "label", "command": label, "array": 3, "resources": {"ntasks": 1, "time": "00:10:00"}},
        {"name": "analysis", "command": analysis, "after": ["label"]}]}))
    work = tmp_path
    ennp(slurm, "submit", "run", str(plan), "--out", str(work))
    state = json.loads((work / "submit.json").read_text())
    label_job, analysis_job = state["stages"]["label"]["job"], state["stages"]["analysis"]["job"]
    for k in range(3):
        slurm.wait(f"{label_job}_{k}")
    # a new process reads the recorded state: task 1 failed, the analysis waits for ever
    out = ennp(slurm, "submit", "status", str(work)).stdout
    assert "label" in out and "FAILED" in out and "1:FAILED" in out and "0:COMPLETED" in out
    assert slurm.state(analysis_job) == "PENDING"
    # submitting the plan again (a restarted submitter) submits nothing new
    again = ennp(slurm, "submit", "run", str(plan), "--out", str(work)).stdout
    assert "label: already submitted" in again and "analysis: already submitted" in again
    out = ennp(slurm, "submit", "resubmit", str(work)).stdout
    assert "label: tasks [1] resubmitted" in out and "analysis: now waits for" in out
    assert slurm.wait(analysis_job) == "COMPLETED"
    energies = json.loads((work / "energies.json").read_text())
    assert len(energies) == 3 and len(set(energies)) == 3
    final = ennp(slurm, "submit", "status", str(work)).stdout
    assert final.count("COMPLETED") >= 2 and "FAILED" not in final


def test_stage_resources_and_container_render(slurm, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"stages": [
        {"name": "train", "command": "echo train > train.txt",
         "resources": {"gpus": 0, "ntasks": 2, "time": "00:05:00", "modules": [], "extra": ["--comment=ennp"]}}]}))
    ennp(slurm, "submit", "run", str(plan), "--out", str(tmp_path))
    job = json.loads((tmp_path / "submit.json").read_text())["stages"]["train"]["job"]
    assert slurm.wait(job) == "COMPLETED" and (tmp_path / "train.txt").read_text() == "train\n"
    script = (tmp_path / "train.sbatch").read_text()
    assert "#SBATCH --ntasks=2" in script and "#SBATCH --time=00:05:00" in script and "#SBATCH --comment=ennp" in script
    from ennp.submit.plan import Resources

    setup, command = Resources(gpus=1, modules=["cuda/12"], container="/images/ennp.sif").wrap("ennp deploy a b")
    assert setup == "module load cuda/12" and command.startswith("apptainer exec --nv --bind")
    assert "'ennp deploy a b'" in command


@pytest.mark.parametrize("stages, message", [
    ([{"name": "a", "command": "true", "after": ["b"]}], "after: \\['b'\\] are not earlier stages"),
    ([{"name": "a", "command": "true"}, {"name": "a", "command": "true"}], "'a' is used twice"),
    ([{"name": "a", "command": ""}], "command is empty"),
    ([{"name": "a", "command": "true", "resources": {"ntasks": 0}}], "ntasks must be >= 1"),
    ([{"name": "a", "command": "true", "nodes": 2}], "unknown field"),
])
def test_bad_plans(tmp_path, stages, message):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"stages": stages}))
    with pytest.raises(ConfigError, match=message) as err:
        load_plan(plan)
    assert str(plan) in str(err.value)


def test_example_plan_is_valid():
    import ennp

    plan = load_plan(Path(ennp.__file__).parent / "submit" / "example.yaml")
    assert [s.name for s in plan.stages] == ["label", "train", "deploy", "md"]
    assert plan.stages[0].array == 8 and plan.stages[1].resources.gpus == 1


def test_render_refuses_unfilled_placeholders():
    from ennp.submit.jobs import render

    assert render("{{x}}-{{y}}", x=1, y="b") == "1-b"
    with pytest.raises(ValueError, match="placeholder left unfilled"):
        render("{{x}} {{y}}", x=1)
