"""HR-TEM images (abTEM multislice) of vibrating flakes: MD snapshots, the
Einstein model and the static structure; orthogonal cells; bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from scipy.ndimage import gaussian_filter

from ennp.builders.mos2 import mos2_flake
from ennp.vibrations.tem import Microscope, einstein_sigmas, orthogonal, tem
from ennp.vibrations.trajectory import Trajectory

ENNP = str(Path(sys.executable).with_name("ennp"))
SIGMA = 0.1     # A per direction


def gaussian_trajectory(frames: int = 40, seed: int = 0) -> Trajectory:
    """A Mo-edge flake in vacuum whose atoms move independently with Gaussian
    displacements of SIGMA per direction about the ideal structure."""
    flake = mos2_flake(20, "triangle", "Mo")
    flake.center(vacuum=8.0)
    pos = flake.positions + np.random.default_rng(seed).normal(0, SIGMA, (frames, len(flake), 3))
    return Trajectory(pos, np.array(flake.get_chemical_symbols()), flake.cell[:])


def test_frozen_phonon_images_of_known_vibrations(tmp_path):
    """Einstein sigmas recover the known SIGMA; the MD-ensemble image equals the static
    image blurred by a Gaussian of SIGMA (linear imaging of a thin object: the ensemble
    mean of the potential is the potential convolved with the displacement distribution);
    both frozen-phonon images have lower column contrast than the static one. Through the
    CLI from an extxyz file, checking every output. Measured: sigmas 0.103/0.099 A;
    |md - blur| / |md - static| = 0.41 (RMS); contrast static 0.239, MD 0.230, Einstein 0.229."""
    traj = gaussian_trajectory()
    sigmas = einstein_sigmas(traj, ["Mo", "S"])
    assert set(sigmas) == {"Mo", "S"}
    for el in sigmas:    # per direction from few interior atoms and 40 frames: the mean is the tight check
        assert np.sqrt(np.mean(np.square(sigmas[el]))) == pytest.approx(SIGMA, rel=0.06)
        assert sigmas[el] == pytest.approx([SIGMA] * 3, rel=0.2)

    frames = [Atoms(traj.symbols.tolist(), positions=p, cell=traj.cell, pbc=True) for p in traj.positions]
    ase.io.write(tmp_path / "traj.extxyz", frames)
    out = tmp_path / "tem"
    proc = subprocess.run([ENNP, "vibrations", "tem", str(tmp_path / "traj.extxyz"), "--out", str(out), "--sampling", "0.1",
                           "--snapshots", "40", "--focal-spread", "0", "--dose", "2000"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "tem.json").read_text())
    images = {name: np.load(out / file) for name, file in result["images"].items()}
    assert set(images) == {"static", "md", "einstein", "md_minus_einstein", "static_noisy", "md_noisy",
                           "einstein_noisy"}
    assert (out / "tem.png").stat().st_size > 10_000
    assert result["snapshots"] == 40 and list(images["md"].shape) == result["shape"]
    static, md = images["static"], images["md"]
    blurred = gaussian_filter(static - static.mean(), SIGMA / result["sampling_A"][0], mode="wrap") + static.mean()
    assert np.sqrt(((md - blurred) ** 2).mean()) < 0.6 * np.sqrt(((md - static) ** 2).mean())
    c = result["mean_column_contrast"]
    assert c["md"] < 0.98 * c["static"] and c["einstein"] < 0.98 * c["static"]
    assert c["einstein"] == pytest.approx(c["md"], rel=0.03)
    kinds = result["columns"]["column"]    # projected columns: each Mo, and S pairs above/below
    n_mo, n_s = (traj.symbols == "Mo").sum(), (traj.symbols == "S").sum()
    assert (kinds.count("Mo"), kinds.count("S2"), len(kinds)) == (n_mo, n_s // 2, len(result["columns"]["contrast_md"]))
    # noisy images are electron counts per pixel: mean = dose x pixel area x <I>
    pixel = result["sampling_A"][0] * result["sampling_A"][1]
    assert images["static_noisy"].mean() == pytest.approx(2000 * pixel * static.mean(), rel=0.01)
    assert np.allclose(images["md_minus_einstein"], md - images["einstein"], atol=1e-5)


def test_einstein_sigmas_of_a_flake_on_a_support_with_a_fixed_layer():
    """Known motion, drawn here: flake atoms with Gaussian displacements of (0.04, 0.04, 0.10) A,
    the top graphene layer (0.07, 0.07, 0.07) A plus a common in-plane sliding of 0.3 A per
    frame, the bottom layer fixed. The sigmas recover each 3-vector, from the structure's
    fixed mask and from the atoms that never move alike. (Averaging the fixed layer in would
    give 0.07 / sqrt(2) for C, and the sliding would add to it.)"""
    from ennp.builders.mos2 import mos2_on_graphite

    a = mos2_on_graphite(30, layers=2, margin=3, vacuum=8)
    symbols = np.array(a.get_chemical_symbols())
    fixed, flake = a.arrays["ennp_fixed"].astype(bool), np.isin(symbols, ["Mo", "S"])
    top = ~flake & ~fixed
    rng = np.random.default_rng(1)
    frames = 200
    pos = np.repeat(a.positions[None], frames, axis=0)
    pos[:, flake] += rng.normal(0.0, 1.0, (frames, flake.sum(), 3)) * [0.04, 0.04, 0.10]
    pos[:, top] += rng.normal(0.0, 0.07, (frames, top.sum(), 3)) + rng.normal(0.0, 0.3, (frames, 1, 3)) * [1, 1, 0]
    traj = Trajectory(pos, symbols, a.cell[:])
    for mask in (fixed, None):
        sigmas = einstein_sigmas(traj, ["Mo", "S"], fixed=mask)
        assert sigmas["C"] == pytest.approx([0.07] * 3, rel=0.03)
        for el in ("Mo", "S"):
            assert sigmas[el] == pytest.approx([0.04, 0.04, 0.10], rel=0.05), (el, sigmas[el])
    with pytest.raises(ValueError, match="fixed mask of 3 atoms for a trajectory of"):
        einstein_sigmas(traj, ["Mo", "S"], fixed=[True, False, True])


def test_skewed_cells_are_repeated_to_orthogonal():
    """A hexagonal cell becomes orthogonal by repetition (no strain); one that no repetition
    squares, or one tilted out of the plane, is refused with the reason."""
    hexagonal = Atoms("Mo", positions=[[0, 0, 5]], cell=[[3.16, 0, 0], [-1.58, 2.7368, 0], [0, 0, 10]], pbc=True)
    ortho = orthogonal(hexagonal)
    assert len(ortho) == 2 and np.allclose(ortho.cell.cellpar()[3:], 90)
    assert ortho.cell.lengths()[:2] == pytest.approx([3.16, 2 * 2.7368], rel=1e-3)
    odd = Atoms("Mo", positions=[[0, 0, 5]], cell=[[3.0, 0, 0], [0.77, 4.1, 0], [0, 0, 10]], pbc=True)
    with pytest.raises(ValueError, match="cannot be made orthogonal by repeating it up to 5 times"):
        orthogonal(odd)
    tilted = Atoms("Mo", positions=[[0, 0, 5]], cell=[[3.0, 0, 0], [0, 3.0, 0], [1.0, 0, 10]], pbc=True)
    with pytest.raises(ValueError, match="tilted out of the xy plane"):
        orthogonal(tilted)
    with pytest.raises(ValueError, match="no 3D cell"):
        orthogonal(Atoms("Mo", positions=[[0, 0, 0]]))


def test_tem_bad_inputs(tmp_path):
    traj = gaussian_trajectory(frames=3)
    with pytest.raises(ValueError, match="no atoms of the flake elements \\['Au'\\]"):
        tem(traj, ["Au"])
    with pytest.raises(ValueError, match="1 frame\\(s\\); frozen phonons need at least 2"):
        tem(Trajectory(traj.positions[:1], traj.symbols, traj.cell), ["Mo", "S"])
    low = Trajectory(traj.positions - [0, 0, traj.positions[..., 2].min() + 1.0], traj.symbols, traj.cell)
    with pytest.raises(ValueError, match="outside the cell along the beam"):
        tem(low, ["Mo", "S"])
    for bad, message in [({"sampling_A": 0}, "sampling_A must be positive"),
                         ({"defocus_A": "far"}, "defocus_A must be a number"),
                         ({"projection": "exact"}, "projection must be infinite or finite"),
                         ({"dose_e_A2": -1}, "dose_e_A2 must be >= 0")]:
        with pytest.raises(ValueError, match=message):
            Microscope(**bad)
    proc = subprocess.run([ENNP, "vibrations", "tem", str(tmp_path / "missing.dump"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "missing.dump does not exist" in proc.stderr
