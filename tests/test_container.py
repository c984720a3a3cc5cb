"""The CPU image of docker/Dockerfile builds without a Docker engine (podman with vfs
storage and runc, as root) and runs ``lmp`` with ``pair_style ennp`` inside it, on 1 and 2
MPI ranks, with the numbers of nequip's own ASE calculator run here.

Slow (a few minutes: a Debian base from debootstrap, then apt and install.sh in the image),
so it is marked ``container``: the default ``pytest`` leaves it out and ``.ci/run`` runs it as
its own step (``pytest -m container``). No registry of images is needed: the base is made
with debootstrap from Debian's packages; torch is the wheel this machine's pip installs.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import mixed_crystal
from lammps_helpers import assert_matches_reference, read_single_point, reference, write_single_point

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
PODMAN = ["podman", "--storage-driver", "vfs", "--runtime", "runc"]
# runc on this kernel needs explicit limits (../shared/NOTES.md)
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=30000:30000"]
BASE = "localhost/ennp-base:bookworm"
IMAGE = "localhost/ennp:test"


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def debian_base(tmp: Path) -> None:
    """A minimal Debian bookworm image, imported once into podman's storage."""
    if subprocess.run(PODMAN + ["image", "exists", BASE]).returncode == 0:
        return
    rootfs = tmp / "rootfs"
    run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), "http://deb.debian.org/debian"])
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    run(PODMAN + ["import", "-", BASE], stdin=tar.stdout)
    assert tar.wait() == 0
    shutil.rmtree(rootfs)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image")
    debian_base(tmp)
    wheels = tmp / "wheels"    # the torch 2.13.0 this machine's pip takes (the CPU build here)
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "torch==2.13.0", "-d", str(wheels)])
    ca = os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")    # a TLS proxy's CA, if any
    # --isolation chroot: RUN steps use this machine's network (apt, PyPI)
    run(PODMAN + ["build", "--isolation", "chroot", *LIMITS, "-f", "docker/Dockerfile", "-t", IMAGE,
                  "--build-arg", f"BASE={BASE}", "--build-arg", "TORCH_INDEX=",
                  "--build-arg", "WHEELS=/wheels", "-v", f"{wheels}:/wheels:ro",
                  "--build-arg", "CA_BUNDLE=/ca.crt", "-v", f"{ca}:/ca.crt:ro", "."], cwd=ROOT)
    yield IMAGE
    subprocess.run(PODMAN + ["rmi", "-f", IMAGE], capture_output=True)


def test_lmp_with_pair_ennp_inside_the_image(image, mix_model, tmp_path):
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=1)
    model = Path(mix_model["deployed"])
    for ranks in ("np1", "np2"):
        write_single_point(atoms, tmp_path / ranks, f"ennp {model}", "* * Au Ti O", ["Au", "Ti", "O"])
    script = ("set -e; ennp --help > /dev/null; command -v pw.x; "
              "cd /job/np1 && lmp -in in.sp -log log.lammps -screen none; "
              "cd /job/np2 && mpiexec -n 2 lmp -in in.sp -log log.lammps -screen none")
    proc = run(PODMAN + ["run", "--rm", "--network", "none", *LIMITS, "-v", f"{tmp_path}:/job",
                         "-v", f"{model.parent}:{model.parent}:ro", image, "bash", "-c", script])
    assert "/usr/bin/pw.x" in proc.stdout    # Quantum ESPRESSO for labelling is in the image too
    ref = reference(atoms, mix_model["checkpoint"])
    for ranks, n in (("np1", 1), ("np2", 2)):
        got = read_single_point(tmp_path / ranks)
        assert f"on {n} procs" in got["log"] and "pair_style ennp" in got["log"]
        assert_matches_reference(got, ref, len(atoms))
