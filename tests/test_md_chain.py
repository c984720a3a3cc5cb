"""Issue 7 (part): ``ennp md`` runs checkpointed production MD from one YAML (builder or
data file), resumes, submits a self-requeueing Slurm job, and refuses bad configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chain_helpers import fake_sbatch, write_config as write_yaml

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
    proc = subprocess.run([ENNP, "md", str(config), "--workdir", str(work)], capture_output=True, text=True)
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
    proc = subprocess.run([ENNP, "md", str(config), "--workdir", str(work)], capture_output=True, text=True)
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
    config = write_yaml(tmp_path / "au.yaml", {"species": ["Au"], "data": "au.data",
                                               "pair": {"style": "file", "file": "pair.in"},
                                               "md": {"ensemble": "langevin", "steps": 200, "every_dump": 100,
                                                      "every_restart": 100, "every_thermo": 100}})
    proc = subprocess.run([ENNP, "md", str(config), "--workdir", str(tmp_path / "w")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "w" / "md.json").read_text())["atoms"] == 108


def test_submit_renders_a_self_requeueing_job(tmp_path):
    env = fake_sbatch(tmp_path)
    path = write_config(tmp_path / "md.yaml", {"md.nprocs": 8, "sbatch_args": ["--time=24:00:00"]})
    proc = subprocess.run([ENNP, "md", str(path), "--workdir", str(tmp_path / "w"), "--submit"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    script = (tmp_path / "w" / "md.sbatch").read_text()
    for line in ("#SBATCH --ntasks=8", "#SBATCH --time=24:00:00", "#SBATCH --signal=B:USR1@300", "#SBATCH --requeue",
                 "scontrol requeue", f"md {path} --workdir {tmp_path / 'w'} &"):
        assert line in script
    assert subprocess.run(["bash", "-n", str(tmp_path / "w" / "md.sbatch")]).returncode == 0


@pytest.mark.parametrize("changes, message", [
    ({"data": "system.data"}, "either structure.builder or data"),
    ({"structure": {}, "data": "missing.data"}, "data: no such file"),
    ({"species": ["Au"]}, "stand-ins exist for Ti O Au and Mo S C"),
    ({"md.every_restart": 250}, "must be a multiple of every_dump"),
    ({"md.ensemble": "npt"}, "ensemble must be one of"),
])
def test_bad_md_configs(tmp_path, changes, message):
    path = write_config(tmp_path / "bad.yaml", changes)
    with pytest.raises(ConfigError, match=message) as err:
        load_md_config(path)
    assert str(path) in str(err.value)
