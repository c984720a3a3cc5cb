"""Chain tests (ennp heat, vibrations, md): configs with changes, a stand-in sbatch, a run
killed part-way."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml


def write_config(path: Path, base: dict, changes: dict | None = None) -> Path:
    """``base`` with ``changes`` ({"a.b.c": value}) applied, as YAML at ``path``."""
    config = json.loads(json.dumps(base))
    for dotted, value in (changes or {}).items():
        *parents, key = dotted.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


def fake_sbatch(tmp_path: Path) -> dict:
    """Environment whose ``sbatch`` appends its arguments (a line per call) to
    tmp_path/sbatch_args and answers job id 4242 (the --parsable form)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"
    fake.write_text(f"#!/bin/bash\necho \"$@\" >> {tmp_path}/sbatch_args\necho 4242\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def make_bundle(folder: Path, models, species=("Au", "Ti", "O"), **fields) -> Path:
    """A bundle made by hand: copies of the deployed ``models`` (m0, m1, ...) and a bundle.yaml
    with ``species``, ``members`` and ``fields`` (a field given as None is left out)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k, model in enumerate(models):
        names.append(f"m{k}.nequip.pt2")
        shutil.copyfile(model, folder / names[-1])
    data = {"species": list(species), "members": names, **fields}
    (folder / "bundle.yaml").write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    return folder


def kill_when(command: list, condition, log: Path, timeout: float = 900, *,
              sig: int = signal.SIGKILL, group: bool = True) -> int:
    """Start ``command`` (its output appended to ``log``); as soon as ``condition()``, send
    ``sig`` to its process group (the command, mpiexec and lmp: SIGKILL as a node failure
    would) or, with ``group`` false, to the command alone (as ``kill PID`` would). Returns
    the command's exit status."""
    with open(log, "a") as fh:
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.time()
        while not condition():
            if proc.poll() is not None:
                pytest.fail(f"run ended (exit {proc.returncode}) before the kill point:\n{log.read_text()[-3000:]}")
            if time.time() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail("kill point not reached in time")
            time.sleep(0.01)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        return proc.wait()
