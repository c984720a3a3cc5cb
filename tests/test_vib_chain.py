"""``ennp vibrations run`` runs build -> MD -> analysis -> HR-TEM from one YAML
(classical stand-in, small flake), resumes, runs as Slurm jobs, and refuses bad configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chain_helpers import write_config as write_yaml

from ennp.config import ConfigError
from ennp.vibrations.config import load_vib_config
from ennp.vibrations.trajectory import read_trajectory

ENNP = str(Path(sys.executable).with_name("ennp"))

CONFIG = {
    "species": ["Mo", "S", "C"],
    "structure": {"builder": "mos2_on_graphite", "args": {"size": 16, "layers": 2}},
    "pair": {"style": "classical"},
    "md": {"T": 300, "dt": 0.001, "min_steps": 100, "steps_eq": 500, "steps": 1500, "every": 30},
    "analysis": {"flake": ["Mo", "S"]},
    "tem": {"snapshots": 10, "microscope": {"sampling_A": 0.1}},
}


def write_config(path: Path, changes: dict | None = None) -> Path:
    return write_yaml(path, CONFIG, changes)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("vibrations")
    config = write_config(root / "vib.yaml")
    work = root / "work"
    proc = subprocess.run([ENNP, "vibrations", "run", str(config), "--out", str(work)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"config": config, "work": work, "stdout": proc.stdout}


def test_chain_writes_all_outputs(chain):
    """Every output is there and consistent; the bottom graphite layer (ennp_fixed) is held
    still by the height the chain derives; the flake's amplitude is thermal-sized and the
    frozen-phonon images have lower column contrast than the static one."""
    work = chain["work"]
    for name in ("structure.data", "structure.json", "pair.in", "md/trajectory.dump", "md/done", "vib.json",
                 "vib.png", "tem/tem.json", "tem/tem.png", "tem/static.npy", "tem/md.npy", "tem/einstein.npy",
                 "tem/md_minus_einstein.npy", "vibrations.json", "config.yaml"):
        assert (work / name).is_file(), name
    meta = json.loads((work / "structure.json").read_text())
    traj = read_trajectory(work / "md" / "trajectory.dump")
    assert len(traj.positions) == 1500 // 30 + 1
    fixed = np.array(meta["fixed_ids"]) - 1
    assert len(fixed) > 0 and np.ptp(traj.positions[:, fixed], axis=0).max() < 1e-6
    z = traj.positions[0, :, 2]
    assert z[fixed].max() < meta["z_fixed_A"] < np.delete(z, fixed).min()
    vib = json.loads((work / "vib.json").read_text())
    assert vib["atoms"] == meta["ennp_flake_atoms"] and 0.003 < vib["msd_A2"] < 0.1
    summary = json.loads((work / "vibrations.json").read_text())
    assert summary["msd_A2"] == vib["msd_A2"]
    tem = json.loads((work / "tem" / "tem.json").read_text())
    c = tem["mean_column_contrast"]
    assert c["md"] < c["static"] and c["einstein"] < c["static"]
    assert set(tem["einstein_sigmas_A"]) == {"Mo", "S", "C"}
    assert all(len(v) == 3 for v in tem["einstein_sigmas_A"].values())
    assert all(0.02 < s < 0.2 for s in tem["einstein_sigmas_A"]["Mo"])
    assert summary["column_contrast"] == c


def test_chain_resumes_and_redoes_only_what_is_missing(chain):
    work = chain["work"]
    dump = work / "md" / "trajectory.dump"
    before = dump.stat().st_mtime_ns
    (work / "tem" / "tem.json").unlink()      # as if killed while imaging
    proc = subprocess.run([ENNP, "vibrations", "run", str(chain["config"]), "--out", str(work)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert dump.stat().st_mtime_ns == before and "tem: static image" in proc.stdout
    assert (work / "tem" / "tem.json").is_file()


def test_submit_runs_a_job_per_step_on_slurm(chain, slurm, tmp_path):
    """--submit on a real (loopback) Slurm: md, analysis and tem as three jobs, each after the
    one before, in a copy of the finished work folder without its images: the first two find
    their outputs and the tem job makes the images again; ennp submit status reads it back."""
    import shutil

    work = tmp_path / "w"
    shutil.copytree(chain["work"], work, ignore=shutil.ignore_patterns("tem"))
    path = write_config(tmp_path / "vib.yaml", {"slurm": {"tem": {"time": "00:10:00", "extra": ["--comment=tem"]}}})
    proc = subprocess.run([ENNP, "vibrations", "run", str(path), "--out", str(work), "--submit"],
                          capture_output=True, text=True, env=slurm.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "analysis: submitted job" in proc.stdout and "after analysis" in proc.stdout
    state = json.loads((work / "submit.json").read_text())["stages"]
    assert [state[s]["after"] for s in ("md", "analysis", "tem")] == [[], ["md"], ["analysis"]]
    assert slurm.wait(state["tem"]["job"]) == "COMPLETED"
    assert "#SBATCH --time=00:10:00" in (work / "tem.sbatch").read_text()
    status = subprocess.run([ENNP, "submit", "status", str(work)], capture_output=True, text=True,
                            env=slurm.env()).stdout
    assert status.count("COMPLETED") >= 3 and "FAILED" not in status
    assert "md: kept from an earlier run" in (work / f"md_{state['md']['job']}.out").read_text()
    tem = json.loads((work / "tem" / "tem.json").read_text())
    assert tem["mean_column_contrast"] == json.loads((chain["work"] / "tem" / "tem.json").read_text())[
        "mean_column_contrast"]


@pytest.mark.parametrize("changes, message", [
    ({"md.stepz": 10}, "md: unknown field"),
    ({"md.T": -5}, "md: T must be positive"),
    ({"md.steps": 60}, "3 frames, fewer than analysis.blocks"),
    ({"analysis.flake": ["Mo", "Se"]}, "analysis.flake: \\['Se'\\] not in species"),
    ({"analysis.rigid": "partial"}, "rigid must be one of"),
    ({"tem.microscope.sampling_A": 0}, "tem.microscope: sampling_A must be positive"),
    ({"tem.microscope.defocus_A": "near"}, "defocus_A must be a number"),
    ({"tem.snapshots": 1}, "snapshots must be >= 2"),
    ({"pair": {"style": "ennp", "model": "missing.nequip.pt2"}}, "pair.model: no such file"),
    ({"structure.builder": "mos2_on_gold"}, None),
])
def test_bad_vibration_configs(tmp_path, changes, message):
    path = write_config(tmp_path / "bad.yaml", changes)
    if message is None:    # found when building: the chain names the file and section
        proc = subprocess.run([ENNP, "vibrations", "run", str(path), "--out", str(tmp_path / "w")],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and f"{path}: structure: unknown builder 'mos2_on_gold'" in proc.stderr
        return
    with pytest.raises(ConfigError, match=message) as err:
        load_vib_config(path)
    assert str(path) in str(err.value)
