"""install.sh's system-package step: what it installs, says, or names as missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

INSTALL = Path(__file__).resolve().parents[1] / "install.sh"
PACKAGES = ["g++", "make", "cmake", "quantum-espresso", "openmpi-bin", "slurm-wlm", "munge"]


def run(tmp_path: Path, uid: int, have=(), apt=True, *args, env=None):
    """install.sh --system-packages-only on a PATH holding only stand-ins: ``have`` commands,
    `id` answering ``uid``, and (``apt``) an apt-get that logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    scripts = {"id": f"echo {uid}", "dirname": 'echo "${1%/*}"'}
    scripts.update({name: "true" for name in have})
    if apt:
        scripts["apt-get"] = f'echo "$@" >> {tmp_path}/apt.log'
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    environ = {"PATH": str(bin_dir), "ENNP_SBIN": str(tmp_path / "nosbin"), **(env or {})}
    return subprocess.run(["/bin/bash", str(INSTALL), "--system-packages-only", *args],
                          capture_output=True, text=True, env=environ)


def test_root_with_apt_installs_what_is_missing_and_says_so_in_one_line(tmp_path):
    proc = run(tmp_path, 0, have=["g++", "make", "cmake", "mpirun"])
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.splitlines() if l.startswith("install.sh:")]
    assert lines == ["install.sh: installing system packages with apt-get: quantum-espresso slurm-wlm munge"]
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[0] == "update -qq"
    assert calls[1].split() == ["install", "-y", "-qq", "--no-install-recommends", "quantum-espresso",
                                "slurm-wlm", "munge"]


def test_nothing_to_do_when_all_are_there(tmp_path):
    proc = run(tmp_path, 0, have=["g++", "make", "cmake", "pw.x", "mpirun", "slurmctld", "munged"])
    assert proc.returncode == 0 and proc.stdout == "" and not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize("uid, apt", [(1000, True), (0, False)])
def test_without_root_or_apt_it_names_what_is_missing(tmp_path, uid, apt):
    proc = run(tmp_path, uid, apt=apt)
    assert proc.returncode == 0 and not (tmp_path / "apt.log").exists()
    assert "cannot install system packages here (needs root and apt-get)" in proc.stderr
    for pkg in PACKAGES:
        assert pkg in proc.stderr
    assert "quantum-espresso (DFT labels (labeller: qe) and their tests)" in proc.stderr
    assert "will not work until then" in proc.stderr


@pytest.mark.parametrize("how", ["env", "flag"])
def test_opt_out(tmp_path, how):
    proc = run(tmp_path, 0, (), True, *(["--no-system-packages"] if how == "flag" else []),
               env={"ENNP_SYSTEM_PACKAGES": "0"} if how == "env" else None)
    assert proc.returncode == 0 and not (tmp_path / "apt.log").exists()
    assert "skipping system packages; missing: g++ (the plugin build)" in proc.stderr


def test_unknown_option_is_named(tmp_path):
    proc = run(tmp_path, 0, (), True, "--fast")
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr
