"""Pure-Python pieces: drift fit, log/dump readers, cache, configs, deploy arguments."""

import os

import numpy as np
import pytest

from ennp.cache import cached_dir, content_key
from ennp.cli import main as cli
from ennp.demo import energy_drift
from ennp.lammps.outputs import read_dump, read_task_timing, read_thermo
from ennp.train.nequip_config import ModelSettings, nequip_config


def test_energy_drift_recovers_known_slope():
    t = np.linspace(0, 2.0, 101)
    e = -100.0 + 0.5 * 1e-3 * 10 * t + 1e-6 * np.sin(40 * t)    # 10 atoms, 0.5 meV/atom/ps
    d = energy_drift(t, e, natoms=10)
    assert d["drift_eV_per_atom_ps"] == pytest.approx(5e-4, rel=1e-2)
    assert d["max_deviation_eV_per_atom"] == pytest.approx(1e-3, rel=2e-2)
    with pytest.raises(ValueError):
        energy_drift(t[:1], e[:1], 10)


def test_read_thermo_and_dump(tmp_path):
    (tmp_path / "log").write_text(
        "junk\n   Step   Temp   PotEng\n  0  300  -1.5\n  10  290  -1.4\nLoop time of 1.0 on 1 procs\n"
        "   Step   Temp   PotEng\n  10  290  -1.4\n WARNING: x\n  20  280  -1.3\nLoop time of 1 on 1\n")
    runs = read_thermo(tmp_path / "log")
    assert len(runs) == 2 and list(runs[0]["Temp"]) == [300, 290] and list(runs[1]["Step"]) == [10, 20]
    (tmp_path / "dump").write_text(
        "ITEM: TIMESTEP\n5\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
        "ITEM: ATOMS id type fx\n2 1 0.5\n1 2 -0.5\n")
    (frame,) = read_dump(tmp_path / "dump")
    assert frame["step"] == 5 and list(frame["id"]) == [1, 2] and list(frame["fx"]) == [-0.5, 0.5]


def test_read_task_timing_takes_the_last_runs_row(tmp_path):
    # rows as LAMMPS prints them (section | min | avg | max | %varavg | %total)
    (tmp_path / "log").write_text(
        "Section |  min time  |  avg time  |  max time  |%varavg| %total\n"
        "Output  | 1.5        | 1.5        | 1.5        |   0.0 | 10.00\n"
        "Loop time of 15 on 1 procs for 40 steps with 4000 atoms\n"
        "Section |  min time  |  avg time  |  max time  |%varavg| %total\n"
        "Pair    | 9.9        | 9.95       | 10         |   0.1 | 81.70\n"
        "Output  | 2.2        | 2.2172     | 2.3        |   0.0 | 18.20\n"
        "Other   |            | 0.00116    |            |       |  0.01\n")
    assert read_task_timing(tmp_path / "log", "Output") == {"seconds": 2.2172, "percent": 18.2}
    assert read_task_timing(tmp_path / "log", "Other") == {"seconds": 0.00116, "percent": 0.01}
    with pytest.raises(RuntimeError, match="no 'Modify' row of the timing breakdown in .*log"):
        read_task_timing(tmp_path / "log", "Modify")


def test_cache_builds_once_and_never_keeps_half_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("ENNP_CACHE_DIR", str(tmp_path))
    calls = []

    def build(d):
        calls.append(d)
        (d / "x").write_text("1")

    key = content_key("a", 1)
    assert content_key("a", 1) == key != content_key("a", 2)
    first = cached_dir("t", key, build)
    again = cached_dir("t", key, build)
    assert first == again and len(calls) == 1 and (first / "x").read_text() == "1"

    def crash(d):
        (d / "partial").write_text("")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_dir("t", "other", crash)
    assert not (tmp_path / "t" / "other").exists()
    assert [p.name for p in (tmp_path / "t").iterdir() if p.suffix != ".lock"] == [key]


def test_processes_wanting_one_missing_entry_build_it_once(tmp_path):
    """Three processes at once: one builds (1 s), the others wait for it and use it."""
    import subprocess
    import sys

    code = ("import sys, time; from pathlib import Path; from ennp.cache import cached_dir\n"
            "def build(d):\n"
            "    with open(sys.argv[1], 'a') as f: f.write('built\\n')\n"
            "    time.sleep(1); (d / 'x').write_text('1')\n"
            "print((cached_dir('t', 'k', build) / 'x').read_text())\n")
    env = {**__import__("os").environ, "ENNP_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "builds")], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    assert [p.communicate()[0].strip() for p in procs] == ["1", "1", "1"]
    assert (tmp_path / "builds").read_text() == "built\n"


def test_model_settings_validation():
    with pytest.raises(ValueError, match="model_dtype"):
        ModelSettings(type_names=("Au",), model_dtype="float16")
    with pytest.raises(ValueError, match="r_max"):
        ModelSettings(type_names=("Au",), r_max=0)
    cfg = nequip_config("data.xyz", ModelSettings(type_names=("Au", "O"), num_layers=3))
    model = cfg["training_module"]["model"]
    assert model["num_layers"] == 3 and model["type_names"] == ["Au", "O"]
    assert os.path.isabs(cfg["data"]["split_dataset"]["dataset"]["file_path"])


def test_deploy_rejects_bad_arguments(tmp_path, capsys):
    assert cli(["deploy", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "m.nequip.pt2")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    (tmp_path / "c.ckpt").write_text("")
    assert cli(["deploy", str(tmp_path / "c.ckpt"), "--out", str(tmp_path / "m.pt2")]) == 2
    assert "must end with .nequip.pt2" in capsys.readouterr().err
    (tmp_path / "c.ckpt").write_text("not a checkpoint")
    assert cli(["deploy", str(tmp_path / "c.ckpt"), "--out", str(tmp_path / "m.nequip.pt2")]) == 2
    assert "c.ckpt is not a loadable nequip checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "m.nequip.pt2").exists()


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    for args in (["--np", "0"], ["--steps", "1"], ["--repeat", "1"]):
        assert cli(["demo", "--nve", "--out", str(tmp_path), *args]) == 2
        assert "need --np >= 1, --steps >= 2 and --repeat >= 2" in capsys.readouterr().err


def test_model_devi_and_dump_readers_name_the_problem(tmp_path):
    from ennp.lammps.outputs import dump_to_atoms, read_model_devi

    (tmp_path / "devi").write_text("# step a b\n0 1 2\n")
    with pytest.raises(ValueError, match="expected 8 columns"):
        read_model_devi(tmp_path / "devi")
    (tmp_path / "d").write_text(
        "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS xy xz yz pp pp pp\n"
        "0 5 0.5\n0 4 0\n0 3 0\nITEM: ATOMS id type xu yu zu c_dev[1]\n1 2 1 1 1 0.25\n")
    (atoms,) = dump_to_atoms(tmp_path / "d", ["Au", "O"])
    assert atoms.get_chemical_symbols() == ["O"] and atoms.arrays["c_dev[1]"][0] == 0.25
    np.testing.assert_allclose(atoms.cell[:], [[4.5, 0, 0], [0.5, 4, 0], [0, 0, 3]])
    with pytest.raises(ValueError, match="atom types 2..2 but 1 elements given"):
        dump_to_atoms(tmp_path / "d", ["Au"])


def test_performance_env_binds_threads_only_for_several_ranks():
    from ennp.lammps.run import performance_env

    base = {"PATH": "/bin"}
    one = performance_env(2, base)
    assert one["OMP_NUM_THREADS"] == "2" and "OMP_PROC_BIND" not in one
    assert performance_env(2, base, nprocs=4)["OMP_PROC_BIND"] == "true"
    assert "OMP_PROC_BIND" not in performance_env(1, base, nprocs=4)
    assert performance_env(2, {"OMP_PROC_BIND": "spread"}, nprocs=4)["OMP_PROC_BIND"] == "spread"


# a process like `ennp al run` training members: its main thread installs ennp's SIGTERM
# handler (2 s of grace), a worker thread starts children that ignore SIGTERM, one and, once
# it runs, two more 0.4 s apart: those two start while the handler waits on the first
CHILDREN_SCRIPT = """
import subprocess, sys, threading, time
import ennp.children as children
children.GRACE_S = 2.0
children.end_children_with_this_process()
marker, ready = sys.argv[1], sys.argv[2]
child = [sys.executable, "-c", "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "open(os.path.join(sys.argv[2], str(os.getpid())), 'w').close(); time.sleep(60)", marker, ready]
def start():
    subprocess.Popen(child)
    while not __import__("os").listdir(ready):    # the first child ignores SIGTERM now
        time.sleep(0.01)
    for _ in range(2):
        time.sleep(0.4)
        subprocess.Popen(child)
threading.Thread(target=start).start()
time.sleep(60)
"""


def test_sigterm_ends_children_started_while_ending_the_others(tmp_path):
    """A SIGTERM to ennp alone ends its descendants, also those a thread of ennp starts while
    the handler is ending the ones it found: none is left once ennp has died of the signal."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    marker = f"ennp-child-{os.getpid()}-{time.time()}"

    def leftovers():
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if marker in (p.info["cmdline"] or []):
                found.append(p)
        return found

    ready = tmp_path / "ready"
    ready.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", CHILDREN_SCRIPT, marker, str(ready)])
    try:
        deadline = time.time() + 60
        while not list(ready.iterdir()):    # the first child runs, ignoring SIGTERM
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
        time.sleep(0.5)
        assert len(list(ready.iterdir())) == 3    # all three started
        left = leftovers()
        assert not left, f"{len(left)} children left"
    finally:
        proc.kill()
        for p in leftovers():
            p.kill()
