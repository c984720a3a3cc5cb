"""Checkpointed production MD (lammps_inputs/production.in) killed
half-way resumes from its restart files; the joined trajectory has no gaps or repeats
and ends where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from ennp.lammps.outputs import read_dump, read_thermo
from ennp.lammps.pair_file import lammps_potentials_dir
from ennp.lammps.production import ProductionSettings, join_segments, restarts, run_production

STEPS, EVERY_DUMP, EVERY_RESTART = 6000, 250, 500
SETTINGS = ProductionSettings(ensemble="nvt", T=600.0, steps=STEPS, every_thermo=250, every_dump=EVERY_DUMP,
                              every_restart=EVERY_RESTART, keep_restarts=2)
RUN = """
import sys
from ennp.lammps.production import ProductionSettings, run_production
run_production(sys.argv[1], sys.argv[2], sys.argv[3], ["Au"], ProductionSettings(**eval(sys.argv[4])))
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    root = tmp_path_factory.mktemp("production")
    atoms = bulk("Au", "fcc", a=4.08, cubic=True).repeat(6)    # 864 atoms, fcc Au EAM
    ase.io.write(root / "au.data", atoms, format="lammps-data", specorder=["Au"], masses=True, atom_style="atomic")
    (root / "pair.in").write_text(f"pair_style eam\npair_coeff 1 1 {lammps_potentials_dir() / 'Au_u3.eam'}\n")
    return root


def test_killed_run_resumes_without_gaps_or_repeats(system):
    reference = run_production(system / "uninterrupted", system / "au.data", system / "pair.in", ["Au"],
                               SETTINGS, progress=lambda *a, **k: None)
    work = system / "killed"
    args = {k: getattr(SETTINGS, k) for k in SETTINGS.__dataclass_fields__}
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(work), str(system / "au.data"), str(system / "pair.in"),
                             repr(args)], start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any(step >= 2000 for step, _ in restarts(work)) and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)    # ennp, mpiexec and lmp, as a node failure would
    proc.wait()
    killed_at = max(step for step, _ in restarts(work))
    assert killed_at < STEPS
    newest = restarts(work)[-1][1]            # as if it died while writing its last checkpoint
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])
    messages = []
    result = run_production(work, system / "au.data", system / "pair.in", ["Au"], SETTINGS,
                            progress=lambda m, **k: messages.append(m))
    assert result["segments"] == 3 and any("unreadable" in m for m in messages)    # 1 killed, 1 refused
    assert (work / f"restart.{STEPS}.bin").exists() and len(restarts(work)) == SETTINGS.keep_restarts
    frames = read_dump(work / "trajectory.dump")
    assert [f["step"] for f in frames] == list(range(0, STEPS + 1, EVERY_DUMP))    # no gaps, no repeats
    ref = read_dump(Path(reference["trajectory"]))
    assert len(ref) == len(frames)
    # NVT (Nose-Hoover state in the restart) continues as if never stopped
    for a, b in ((frames[-1], ref[-1]), (frames[len(frames) // 2], ref[len(ref) // 2])):
        pos_a = np.column_stack([a["xu"], a["yu"], a["zu"]])
        pos_b = np.column_stack([b["xu"], b["yu"], b["zu"]])
        assert np.abs(pos_a - pos_b).max() < 1e-5
    last = read_thermo(work / "log.2.lammps")[-1]
    assert last["Step"][-1] == STEPS and abs(last["c_T_mobile"][-50:].mean() - 600) < 100


def test_join_keeps_frames_before_the_next_segment(tmp_path):
    """Segment 0 wrote steps 0..700 (killed), segment 1 restarted at 500: 0-250 from 0, 500- from 1."""
    def frame(step):
        return (f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
                f"ITEM: ATOMS id type x y z\n1 1 {step / 1000} 0 0\n")
    for k, steps in ((0, [0, 250, 500, 750]), (1, [500, 750, 1000])):
        (tmp_path / f"log.{k}.lammps").write_text("")
        text = "".join(frame(s) for s in steps)
        if k == 0:
            text += "ITEM: TIMESTEP\n1000\nITEM: NUMBER OF ATOMS\n1\n"    # cut short by the kill
        (tmp_path / f"trajectory.{k}.dump").write_text(text)
    joined = join_segments(tmp_path, tmp_path / "trajectory.dump")
    assert joined["steps"] == [0, 250, 500, 750, 1000]
    assert [f["x"][0] for f in read_dump(tmp_path / "trajectory.dump")] == [0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("bad, message", [
    ({"ensemble": "npt"}, "ensemble must be one of"),
    ({"every_restart": 300, "every_dump": 200}, "must be a multiple of every_dump"),
    ({"steps": 0}, "steps must be >= 1"),
])
def test_bad_production_settings(bad, message):
    with pytest.raises(ValueError, match=message):
        ProductionSettings(**bad)
