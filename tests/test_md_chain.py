"""``ennp md run`` runs checkpointed production MD from one YAML (builder or
data file), resumes, runs as a Slurm job that requeues itself, and refuses bad configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chain_helpers import write_config as write_yaml

from ennp.config import ConfigError
from ennp.lammps.outputs import read_dump
from ennp.md.config import load_md_config

ENNP = str(Path(sys.executable).with_name("ennp"))

CONFIG = {
    "species": ["Mo", "S", "C"],
    "structure": {"builder": "mos2_on_graphite", "args": {"size": 10, "layers": 2, "margin": 6}},
    "pair": {"style": "classical"},
    "md": {"steps": 400, "every_thermo": 50, "every_dump": 100, "every_restart": 200},
}


def write_config(path: Path, changes: dict | None = None) -> Path:
    return write_yaml(path, CONFIG, changes)


def test_md_chain_runs_and_resumes(tmp_path):
    config = write_config(tmp_path / "md.yaml")
    work = tmp_path / "w"
    proc = subprocess.run([ENNP, "md", "run", str(config), "--out", str(work)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((work / "md.json").read_text())
    meta = json.loads((work / "structure.json").read_text())
    assert summary["frames"] == 5 and summary["segments"] == 1 and summary["atom_steps_per_s"] > 0
    frames = read_dump(work / "run" / "trajectory.dump")
    assert [f["step"] for f in frames] == [0, 100, 200, 300, 400]
    fixed = np.array(meta["fixed_ids"]) - 1
    pos = np.stack([np.column_stack([f["xu"], f["yu"], f["zu"]]) for f in frames])
    assert len(fixed) and np.ptp(pos[:, fixed], axis=0).max() < 1e-8 and np.ptp(pos, axis=0).max() > 0.01
    # more steps asked for later: the next segment continues from the last checkpoint
    config = write_config(tmp_path / "md.yaml", {"md.steps": 600})
    proc = subprocess.run([ENNP, "md", "run", str(config), "--out", str(work)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "md segment 1: steps 400 -> 600 (from restart.400.bin)" in proc.stdout
    assert [f["step"] for f in read_dump(work / "run" / "trajectory.dump")] == [0, 100, 200, 300, 400, 500, 600]


def test_md_from_a_data_file_with_a_pair_file(tmp_path):
    import ase.io
    from ase.build import bulk

    from ennp.lammps.pair_file import lammps_potentials_dir

    ase.io.write(tmp_path / "au.data", bulk("Au", cubic=True).repeat(3), format="lammps-data",
                 specorder=["Au"], masses=True, atom_style="atomic")
    (tmp_path / "pair.in").write_text(f"pair_style eam\npair_coeff 1 1 {lammps_potentials_dir() / 'Au_u3.eam'}\n")
    config = write_yaml(tmp_path / "au.yaml", {"species": ["Au"], "structure": {"file": "au.data"},
                                               "pair": {"style": "file", "file": "pair.in"},
                                               "md": {"ensemble": "langevin", "steps": 200, "every_dump": 100,
                                                      "every_restart": 100, "every_thermo": 100}})
    proc = subprocess.run([ENNP, "md", "run", str(config), "--out", str(tmp_path / "w")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "w" / "md.json").read_text())["atoms"] == 108


def test_submit_requeues_before_the_time_limit_and_resumes(slurm, tmp_path):
    """--submit on a real (loopback) Slurm: one job asking for USR1 300 s before its time
    limit, with --requeue. That signal is sent by hand mid-run (scancel --batch --signal=USR1,
    as slurmctld does): the job requeues itself, starts again from the newest checkpoint,
    and the joined trajectory has every frame once."""
    import time

    path = write_config(tmp_path / "md.yaml", {"md.steps": 6000, "md.every_dump": 200, "md.every_restart": 200,
                                               "md.every_thermo": 200, "md.nprocs": 2,
                                               "slurm": {"md": {"time": "00:20:00"}}})
    work = tmp_path / "w"
    proc = subprocess.run([ENNP, "md", "run", str(path), "--out", str(work), "--submit"],
                          capture_output=True, text=True, env=slurm.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = json.loads((work / "submit.json").read_text())["stages"]["md"]["job"]
    script = (work / "md.sbatch").read_text()
    for line in ("#SBATCH --ntasks=2", "#SBATCH --time=00:20:00", "#SBATCH --signal=B:USR1@300",
                 "#SBATCH --requeue", "scontrol requeue", f"md run {path.resolve()} --out {work} --until md &"):
        assert line in script
    deadline = time.time() + 300
    while not list((work / "run").glob("restart.*.bin")):    # the first checkpoint is written
        now = slurm.state(job)    # read once: it may change between two reads
        assert time.time() < deadline and now in ("PENDING", "RUNNING"), now
        time.sleep(0.2)
    slurm.run("scancel", "--batch", "--signal=USR1", job)
    while (now := slurm.state(job)) != "PENDING":    # requeued ...
        assert time.time() < deadline and now in ("RUNNING", "REQUEUED", "COMPLETING"), now
        time.sleep(0.2)
    # ... and held 120 s by Slurm (BeginTime) before it starts again: release it sooner, but
    # not in the same second: slurmd revoked the killed run's credential, and a relaunch whose
    # credential dates from that second is refused too ("Job credential revoked": FAILED)
    slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now+3")
    assert slurm.wait(job, timeout=600) == "COMPLETED"
    assert "Restarts=1" in slurm.run("scontrol", "show", "job", job).stdout
    out = (work / f"md_{job}.out").read_text()
    assert f"requeueing job {job}" in out and "md segment 1: steps" in out
    summary = json.loads((work / "md.json").read_text())
    assert summary["segments"] == 2 and summary["steps"] == 6000
    assert [f["step"] for f in read_dump(work / "run" / "trajectory.dump")] == list(range(0, 6001, 200))


@pytest.mark.parametrize("changes, message", [
    ({"structure": {"builder": "au_fcc", "file": "system.data"}}, "structure: give exactly one of 'builder' or 'file'"),
    ({"structure": {"file": "missing.data"}}, "structure.file: no such file"),
    ({"md.dt": "1e-3x"}, r"md.dt: expected float, got '1e-3x'"),
    ({"species": ["Au"]}, "stand-ins exist for Ti O Au and Mo S C"),
    ({"md.every_restart": 250}, "must be a multiple of every_dump"),
    ({"md.ensemble": "npt"}, "ensemble must be one of"),
    ({"slurm": {"mdd": {}}}, r"slurm: unknown step\(s\) \['mdd'\]; steps are all, md"),
    ({"slurm": {"md": 4}}, "slurm.md: expected a mapping of resources"),
    ({"slurm": {"all": {"ntasks": 0}}}, "slurm.md: ntasks must be >= 1"),
    ({"slurm": {"md": {"gpu": 1}}}, r"slurm.md: unknown field\(s\) \['gpu'\]"),
])
def test_bad_md_configs(tmp_path, changes, message):
    path = write_config(tmp_path / "bad.yaml", changes)
    with pytest.raises(ConfigError, match=message) as err:
        load_md_config(path)
    assert str(path) in str(err.value)
