"""MoS2 flake builder, trajectory reading, rigid-body removal and
amplitudes (synthetic trajectories with known answers), the harmonic reference
(phonopy) against LAMMPS MD, and the classical MoS2/graphite stand-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from scipy.spatial.transform import Rotation

from ennp import lammps_inputs
from ennp.builders import build_structure
from ennp.lammps.data_file import write_structure
from ennp.builders.mos2 import GRAPHITE_SPACING, MOS2_A, mos2_flake
from ennp.lammps.pair_file import lammps_potentials_dir
from ennp.lammps.run import run_lammps
from ennp.vibrations.amplitudes import amplitudes
from ennp.vibrations.analysis import analyse
from ennp.lammps.data_file import fixed_height
from ennp.vibrations.edge import decay_length, edge_distance, falloff_distance, profile
from ennp.vibrations.harmonic import classical_msd, phonons
from ennp.vibrations.potentials import write_vib_pair_file
from ennp.vibrations.trajectory import read_trajectory

ENNP = str(Path(sys.executable).with_name("ennp"))


@pytest.mark.parametrize("shape, termination, edge_element, edge_cn", [
    ("triangle", "Mo", "Mo", 4),     # bare Mo edge: 4 S neighbours instead of 6
    ("triangle", "S", "S", 2),       # S edge: each outer S bonds to 2 Mo instead of 3
])
def test_flake_edges(shape, termination, edge_element, edge_cn):
    flake = mos2_flake(20, shape, termination)
    sym = np.array(flake.get_chemical_symbols())
    i = neighbor_list("i", flake, 2.6)            # Mo-S bonds (2.41 A), not Mo-Mo (3.16 A)
    cn = np.bincount(i, minlength=len(flake))
    d = edge_distance(flake.positions[:, :2])
    outer = d < 0.3
    assert (sym[outer] != edge_element).sum() <= 3    # the three corners may differ
    interior = d > 3.0
    assert set(cn[interior & (sym == "Mo")]) == {6} and set(cn[interior & (sym == "S")]) == {3}
    # the outer row without its corners has the edge coordination
    assert np.median(cn[outer]) == edge_cn
    assert flake.info["ennp_flake_edge_A"] == pytest.approx(6 * MOS2_A)


def test_flake_on_graphite_cell_and_layers():
    atoms = build_structure("mos2_on_graphite", {"size": 12, "layers": 3, "fixed": True})
    cell = atoms.cell[:]
    assert np.allclose(cell, np.diag(np.diag(cell)))    # orthogonal, as abTEM needs
    c = np.array(atoms.get_chemical_symbols()) == "C"
    zc = np.unique(atoms.positions[c, 2].round(3))
    assert np.allclose(np.diff(zc), GRAPHITE_SPACING)
    fixed = atoms.arrays["ennp_fixed"].astype(bool)
    assert fixed.sum() == c.sum() // 3 and np.allclose(atoms.positions[fixed, 2], zc[0])
    s_low = atoms.positions[~c, 2].min()
    assert s_low - zc[-1] == pytest.approx(3.4)
    # graphite: every C has three neighbours at 1.42 A across the periodic cell
    d = neighbor_list("d", atoms[c], 1.5)
    assert np.allclose(d, 2.46 / np.sqrt(3)) and len(d) == 3 * c.sum()
    with pytest.raises(ValueError, match="builder 'mos2_on_graphite': shape"):
        build_structure("mos2_on_graphite", {"shape": "square"})
    with pytest.raises(ValueError, match="fixed bottom layer needs layers >= 2"):
        build_structure("mos2_on_graphite", {"layers": 1})


def synthetic(n_frames=3000, seed=0):
    """Flake-like atoms with known per-atom amplitudes (in-plane sigma growing toward the
    edge, out-of-plane twice as large), turned and carried around rigidly."""
    rng = np.random.default_rng(seed)
    flake = mos2_flake(16, "triangle", "Mo")
    ref = flake.positions + [20, 20, 10]
    d = edge_distance(ref[:, :2])
    sig_xy = 0.05 + 0.05 * np.exp(-d / 2.0)
    sig_z = 2 * sig_xy
    u = rng.normal(size=(n_frames, len(ref), 3)) * np.column_stack([sig_xy, sig_xy, sig_z])
    angles = np.column_stack([np.cumsum(rng.normal(0, 0.02, n_frames)), rng.normal(0, 0.02, (n_frames, 2))])
    rot = Rotation.from_euler("zxy", angles).as_matrix()
    centre = ref.mean(axis=0)
    drift = np.linspace(0, 1, n_frames)[:, None] * [30.0, -12.0, 0.0]    # crosses the periodic cell
    pos = np.einsum("fij,faj->fai", rot, ref + u - centre) + centre + drift[:, None, :]
    true_msd = 2 * sig_xy**2 + sig_z**2
    return flake, pos, true_msd, 2 * sig_xy**2, sig_z**2


def write_wrapped_dump(path, pos, symbols, cell):
    types = {el: k + 1 for k, el in enumerate(sorted(set(symbols)))}
    with open(path, "w") as f:
        for k, frame in enumerate(pos):
            wrapped = frame % np.diag(cell)
            f.write(f"ITEM: TIMESTEP\n{k}\nITEM: NUMBER OF ATOMS\n{len(frame)}\nITEM: BOX BOUNDS pp pp pp\n")
            f.write("".join(f"0 {L}\n" for L in np.diag(cell)))
            f.write("ITEM: ATOMS id type x y z\n")
            f.write("".join(f"{i + 1} {types[s]} {x:.6f} {y:.6f} {z:.6f}\n"
                            for i, (s, (x, y, z)) in enumerate(zip(symbols, wrapped))))
    return sorted(types, key=types.get)


def test_amplitudes_recovered_through_rotation_drift_and_wrapping(tmp_path):
    flake, pos, true_msd, true_xy, true_z = synthetic()
    cell = np.diag([40.0, 40.0, 20.0])
    species = write_wrapped_dump(tmp_path / "t.dump", pos, flake.get_chemical_symbols(), cell)
    traj = read_trajectory(tmp_path / "t.dump", species)
    r = analyse(traj)
    # rigid-body removal takes 6 of the 3N degrees of freedom: allow for that share
    share = 1 - 6 / (3 * len(flake))
    assert r["msd_A2"] == pytest.approx(true_msd.mean() * share, rel=0.02)
    per_atom = np.array(r["per_atom"]["msd_A2"])
    assert np.abs(per_atom / true_msd - 1).max() < 0.15
    assert np.corrcoef(per_atom, true_msd)[0, 1] > 0.97
    assert r["msd_out_of_plane_A2"] / r["msd_inplane_A2"] == pytest.approx(true_z.mean() / true_xy.mean(), rel=0.05)
    # without removing the rotation the amplitudes would be far too large
    assert amplitudes(traj.positions, "translation")["msd_A2"] > 3 * true_msd.mean()
    # the edge profile falls to the interior within a few A
    assert r["profile"]["rms_amplitude_A"][0] > 1.3 * r["interior_rms_amplitude_A"]
    assert r["falloff_A"] is not None and 1.0 <= r["falloff_A"] <= 6.0
    # the RMS amplitude is sqrt(6) sigma_xy = sqrt(6) (0.05 + 0.05 exp(-d / 2 A)): decay length 2 A
    assert r["decay_fit"] == "fitted"
    assert r["decay_length_A"] == pytest.approx(2.0, abs=max(0.3, 3 * r["decay_length_err_A"]))
    assert r["edge_excess_rms_A"] == pytest.approx(np.sqrt(6) * 0.05, rel=0.2)


def test_extxyz_and_cli(tmp_path):
    flake, pos, true_msd, *_ = synthetic(n_frames=400, seed=1)
    frames = [Atoms(flake.get_chemical_symbols(), positions=p, cell=[60, 60, 30], pbc=True) for p in pos]
    for a in frames:
        a.wrap()
    ase.io.write(tmp_path / "t.extxyz", frames)
    out = tmp_path / "vib.json"
    proc = subprocess.run([ENNP, "vibrations", "analyze", str(tmp_path / "t.extxyz"), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import json

    r = json.loads(out.read_text())
    share = 1 - 6 / (3 * len(flake))    # rigid-body removal (400 frames: a few % noise)
    assert r["msd_A2"] == pytest.approx(true_msd.mean() * share, rel=0.05)
    assert r["rms_amplitude_A"] == pytest.approx(np.sqrt(r["msd_A2"]))
    assert len(r["per_atom"]["msd_A2"]) == len(flake) and out.with_suffix(".png").stat().st_size > 1000


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z\n1 1 0 0 0\n", "no frames"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type element x y z\n1 1 Qq 0 0 0\n", "unknown element"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z\n1 3 0 0 0\n", "atom types 3..3 but 2 elements given"),
])
def test_bad_trajectories(tmp_path, content, message):
    path = tmp_path / "bad.dump"
    path.write_text(content)
    proc = subprocess.run([ENNP, "vibrations", "analyze", str(path), "--out", str(tmp_path / "o.json"),
                           "--species", "Mo", "S"], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_edge_profile_and_falloff_by_hand():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [5, 5], [2, 5]], float)
    assert np.allclose(edge_distance(square), [0, 0, 0, 0, 5, 2])
    prof = profile(np.array([0.1, 0.2, 1.1, 2.1, 3.1, 3.2]), np.array([2.0, 2.2, 1.5, 1.02, 1.0, 1.0]))
    assert prof["distance_A"][0] == pytest.approx(0.15) and prof["value"][0] == pytest.approx(2.1)
    fall = falloff_distance(prof, interior_from=3.0)
    assert fall["interior"] == pytest.approx(1.0) and fall["falloff_A"] == pytest.approx(2.1)
    with pytest.raises(ValueError, match="too small"):
        falloff_distance(prof, interior_from=9.0)


def test_decay_length_is_fitted_and_does_not_shrink_with_noise():
    """Per-atom amplitudes 0.10 + 0.05 exp(-d / 3 A) with noise: the fitted length recovers 3 A at
    both noise levels, where the threshold falloff comes closer to the edge as the noise grows."""
    rng = np.random.default_rng(4)
    d = rng.uniform(0, 20, 1500)
    truth = 0.10 + 0.05 * np.exp(-d / 3.0)
    falloffs = []
    for noise in (0.002, 0.01):
        a = truth + rng.normal(0, noise, d.size)
        fit = decay_length(d, a)
        assert fit["reason"] == "fitted"
        assert fit["decay_length_A"] == pytest.approx(3.0, abs=3 * fit["decay_length_err_A"])
        assert fit["decay_length_err_A"] < 0.15 * 3.0
        assert fit["fitted_interior"] == pytest.approx(0.10, abs=3 * noise / np.sqrt(d.size) * 5)
        falloffs.append(falloff_distance(profile(d, a, bin_width=1.0), interior_from=12.0)["falloff_A"])
    assert falloffs[1] < falloffs[0]
    flat = decay_length(d, 0.1 + rng.normal(0, 0.01, d.size))
    assert flat["decay_length_A"] is None and "no edge excess" in flat["reason"]
    with pytest.raises(ValueError, match="at least four"):
        decay_length(d[:3], truth[:3])


def test_bulk_md_msd_matches_phonopy_harmonic(tmp_path):
    """Independent check: classical MD of fcc Au (Au_u3 EAM) at 20 K against the harmonic
    <u^2> from phonopy's force constants for the same potential and cell (q-points of the
    3x3x3 cell, its translation left out in both). Measured: MD/harmonic = 0.990 +- 0.006."""
    pair = f"pair_style eam\npair_coeff 1 1 {lammps_potentials_dir() / 'Au_u3.eam'}\n"
    (tmp_path / "pair.in").write_text(pair)
    unit = bulk("Au", "fcc", a=4.08, cubic=True)
    ase.io.write(tmp_path / "au.data", unit.repeat(3), format="lammps-data", specorder=["Au"], masses=True,
                 atom_style="atomic")
    harmonic = classical_msd(phonons(unit, (3, 3, 3), pair, ["Au"], tmp_path / "phonopy"), (3, 3, 3), 20.0)
    assert np.allclose(harmonic, harmonic[0, 0])    # cubic: all atoms and directions alike
    run_lammps(lammps_inputs() / "vib_md.in", tmp_path, variables={
        "data": "au.data", "pair_file": "pair.in", "species": "Au", "T": 20, "dt": 0.002, "damp": 0.1,
        "sample_damp": 1.0, "min_steps": 0, "steps_eq": 2500, "steps": 50000, "every": 25})
    md = amplitudes(read_trajectory(tmp_path / "trajectory.dump").positions, "translation")
    assert md["msd_A2"] == pytest.approx(harmonic.sum(axis=1).mean(), rel=0.03)
    assert md["msd_err_A2"] < 0.01 * md["msd_A2"]


def test_flake_md_with_classical_stand_in(tmp_path):
    """A small Mo-edge flake on bilayer graphite (REBOMoS + AIREBO + UFF LJ) at 300 K:
    the flake stays on the support, energy is conserved in the NVE sampling and its
    edge atoms vibrate more than the interior."""
    atoms = build_structure("mos2_on_graphite", {"size": 16, "layers": 2})
    species = ["Mo", "S", "C"]
    write_structure(atoms, species, tmp_path / "structure.data")
    write_vib_pair_file("classical", species, tmp_path / "pair.in")
    run_lammps(lammps_inputs() / "vib_md.in", tmp_path, variables={
        "data": "structure.data", "pair_file": "pair.in", "species": " ".join(species),
        "z_fixed": fixed_height(atoms), "T": 300, "dt": 0.001, "min_steps": 200,
        "steps_eq": 1000, "steps": 1500, "every": 20})
    from ennp.lammps.outputs import read_thermo

    sample = read_thermo(tmp_path / "log.lammps")[-1]
    assert np.ptp(sample["TotEng"]) < 2e-4 * abs(sample["TotEng"].mean())
    traj = read_trajectory(tmp_path / "trajectory.dump")
    r = analyse(traj, ["Mo", "S"])
    assert r["atoms"] == atoms.info["ennp_flake_atoms"] and r["frames"] == 76
    assert 0.003 < r["msd_A2"] < 0.1
    z = traj.select(["Mo", "S"]).positions[..., 2]
    assert z.min() > 2.0 + GRAPHITE_SPACING + 2.5    # still above the top graphite layer
    assert r["profile"]["rms_amplitude_A"][0] > r["interior_rms_amplitude_A"]
