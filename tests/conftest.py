"""Shared fixtures: small deployed models (cached by content outside the checkout)."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from ennp.cache import cached_dir, content_key
from ennp.train.datasets import rattled_mixture
from ennp.train.nequip_config import ModelSettings
from ennp.train.tiny_model import tiny_model

ELEMENTS = ["Au", "Ti", "O"]


def _mix(changes: dict, epochs: int, name: str):
    settings = {"r_max": 4.0, "num_layers": 2, "l_max": 1, "num_features": 8, "model_dtype": "float64", **changes}
    return lambda: tiny_model(rattled_mixture(num_frames=16), ModelSettings(type_names=tuple(ELEMENTS), **settings),
                              max_epochs=epochs, name=name)


def _demo():
    from ennp.demo import demo_model

    return demo_model()


def _stock():
    """mix_model compiled by nequip itself (nequip-compile --target pair_nequip)."""
    import subprocess
    import sys

    ckpt = MODELS["mix_model"]()["checkpoint"]

    def build(tmp):
        subprocess.run([str(Path(sys.executable).with_name("nequip-compile")), str(ckpt),
                        str(tmp / "stock.nequip.pt2"), "--mode", "aotinductor", "--device", "cpu",
                        "--target", "pair_nequip"], check=True, capture_output=True)
    return cached_dir("stock_models", content_key("stock", ckpt), build) / "stock.nequip.pt2"


def _package():
    """mix_model and mix_model_c (one architecture, other seeds) in one ensemble package."""
    from ennp.deploy.export import ENNP_FORMAT, deploy_ensemble

    members = [MODELS["mix_model"](), MODELS["mix_model_c"]()]
    checkpoints = [m["checkpoint"] for m in members]
    key = content_key("ensemble-package", "members as models", ENNP_FORMAT,
                      *(m["deployed"].parent.name for m in members))
    folder = cached_dir("models", key, lambda tmp: deploy_ensemble(checkpoints, tmp / "ensemble.nequip.pt2"))
    return {"deployed": folder / "ensemble.nequip.pt2", "checkpoints": checkpoints}


# the session's deployed models, by fixture name (cached by content outside the checkout), in
# the order the background builds them: mix_model's compile is the template of the members of
# its architecture (mix_model_c, the ensemble package's, the AL test's), built first
MODELS = {
    "mix_model": _mix({}, 2, "mix64"),    # float64 Au/Ti/O, 2 layers: tight tolerances possible
    "mix_model_b": _mix({"r_max": 4.5, "seed": 2}, 1, "mix64_b"),    # another member: other seed, larger r_max
    "mix_model_c": _mix({"seed": 3}, 1, "mix64_c"),    # a member of mix_model's architecture: other seed
    "mix_model3": _mix({"num_layers": 3}, 1, "mix64_L3"),    # 3 layers: two ghost exchanges per evaluation
    "demo_model": _demo,
    "ensemble_package": _package,
    "stock_model": _stock,
}


def pytest_collection_finish(session):
    """Build the models the collected tests use, two at a time, in the background: each build
    (training, then a single-threaded compile) would otherwise leave a core idle. A fixture
    that wants one still being built waits for it (the cache's lock)."""
    import subprocess
    import sys

    used = {f for item in session.items for f in getattr(item, "fixturenames", ())}
    wanted = [name for name in MODELS if name in used]
    if len(wanted) > 1:
        subprocess.Popen([sys.executable, str(Path(__file__).with_name("prebuild_models.py")), *wanted],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _session_model(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture():
        return MODELS[name]()
    return fixture


# each of MODELS is a session fixture of its name
for _name in MODELS:
    globals()[_name] = _session_model(_name)


def mixed_crystal(repeat=(3, 3, 3), seed=1, a=4.2, rattle=0.15):
    """Random Au/Ti/O decoration of an fcc lattice, rattled."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Au", "fcc", a=a, cubic=True).repeat(repeat)
    atoms.set_chemical_symbols(list(rng.choice(ELEMENTS, len(atoms))))
    atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
    return atoms


def min_distances_by_hand(frames, species, cutoff):
    """Per element pair over i != j of a supercell at least 2 cutoffs wide (minimum image)."""
    found = {}
    for atoms in frames:
        reps = [int(np.ceil(2 * cutoff / np.linalg.norm(v))) + 1 if p else 1
                for v, p in zip(atoms.cell, atoms.pbc)]
        big = atoms.repeat(reps)
        d = big.get_all_distances(mic=True)
        sym = big.get_chemical_symbols()
        for i in range(len(big)):
            for j in range(i + 1, len(big)):
                if d[i, j] < cutoff:
                    a, b = sorted((sym[i], sym[j]), key=species.index)
                    found[f"{a}-{b}"] = min(found.get(f"{a}-{b}", np.inf), d[i, j])
    return found


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real one-node Slurm on loopback (tests/slurm_cluster.py), stopped afterwards."""
    from slurm_cluster import LoopbackSlurm

    cluster = LoopbackSlurm(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()
