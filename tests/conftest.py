"""Shared fixtures: small deployed models (cached by content outside the checkout)."""

import numpy as np
import pytest
from ase.build import bulk

from ennp.train.datasets import rattled_mixture
from ennp.train.nequip_config import ModelSettings
from ennp.train.tiny_model import tiny_model

ELEMENTS = ["Au", "Ti", "O"]


@pytest.fixture(scope="session")
def mix_model():
    """float64 Au/Ti/O model, 2 message-passing layers: tight tolerances possible."""
    settings = ModelSettings(type_names=tuple(ELEMENTS), r_max=4.0, num_layers=2, l_max=1,
                             num_features=8, model_dtype="float64")
    return tiny_model(rattled_mixture(num_frames=16), settings, max_epochs=2, name="mix64")


@pytest.fixture(scope="session")
def mix_model3():
    """As mix_model with 3 layers: two ghost exchanges per evaluation."""
    settings = ModelSettings(type_names=tuple(ELEMENTS), r_max=4.0, num_layers=3, l_max=1,
                             num_features=8, model_dtype="float64")
    return tiny_model(rattled_mixture(num_frames=16), settings, max_epochs=1, name="mix64_L3")


@pytest.fixture(scope="session")
def mix_model_b():
    """Another member: other seed and a larger r_max (4.5 A), 2 layers."""
    settings = ModelSettings(type_names=tuple(ELEMENTS), r_max=4.5, num_layers=2, l_max=1,
                             num_features=8, model_dtype="float64", seed=2)
    return tiny_model(rattled_mixture(num_frames=16), settings, max_epochs=1, name="mix64_b")


@pytest.fixture(scope="session")
def demo_model():
    from ennp.demo import demo_model

    return demo_model()


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
