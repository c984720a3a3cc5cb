"""Harvest (ennp al harvest): pieces carved around doubtful atoms of large runs.

Geometry is checked against crystallography (fcc coordination shells) and ASE's own
minimum-image distances; the loss exclusion against nequip-train itself; the closed loop
(slow) runs ennp al, ennp md with the bundle, the harvest and the next generation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from ase.build import bulk, fcc111

from chain_helpers import kill_when
from ennp.al.carving import carve
from ennp.al.centres import pick_centres
from ennp.al.harvest import _carve_pieces, admissible_deviations, doubtful_frames, source_dumps

ENNP = str(Path(sys.executable).with_name("ennp"))
A_AU = 4.08
# fcc coordination shells: (distance / a, atoms), International Tables / any solid-state text
FCC_SHELLS = [(np.sqrt(2) / 2, 12), (1.0, 6), (np.sqrt(6) / 2, 24), (np.sqrt(2), 12), (np.sqrt(10) / 2, 24)]


def au_crystal(n: int = 8):
    return bulk("Au", "fcc", A_AU, cubic=True) * (n, n, n)


def shell_count(radius: float) -> int:
    return 1 + sum(k for r, k in FCC_SHELLS if r * A_AU <= radius)


@pytest.mark.parametrize("r_core, r_buffer", [(3.0, 3.0), (3.0, 3.5), (4.5, 1.5)])
def test_cluster_holds_the_fcc_shells_within_core_plus_buffer(r_core, r_buffer):
    atoms = au_crystal()
    piece = carve(atoms, 100, r_core, r_buffer, max_atoms=500, vacuum=5.0)
    assert len(piece.atoms) == shell_count(r_core + r_buffer)
    assert piece.core_atoms == shell_count(r_core) == piece.atoms.arrays["ennp_core"].sum()
    assert not piece.atoms.pbc.any() and piece.kept_periodic == (False, False, False)
    assert not piece.shrunk and piece.buffer_A == r_buffer
    # the core is exactly the atoms within r_core of the centre (ASE's distances in the piece)
    d = piece.atoms.get_distances(piece.centre, range(len(piece.atoms)))
    assert np.array_equal(piece.atoms.arrays["ennp_core"], d <= r_core)
    # every pair distance of the piece is a minimum-image distance of the crystal: nothing wrapped wrongly
    assert d.max() <= r_core + r_buffer + 1e-9
    span = piece.atoms.positions.max(axis=0) - piece.atoms.positions.min(axis=0)
    assert np.allclose(piece.atoms.cell.lengths(), span + 10.0)    # vacuum on both sides


def test_slab_spanning_its_cell_keeps_the_periodicity():
    slab = fcc111("Au", (3, 3, 4), a=A_AU, vacuum=8.0)    # in-plane widths 7.5 A
    slab.pbc = (True, True, False)
    piece = carve(slab, 20, 3.0, 6.0, max_atoms=500)
    assert piece.kept_periodic == (True, True, False)
    assert len(piece.atoms) == len(slab) and list(piece.atoms.pbc) == [True, True, False]
    assert np.allclose(piece.atoms.cell[:2], slab.cell[:2])
    # the kept periodicity gives the same neighbour counts as in the slab (ASE neighbour lists)
    from ase.neighborlist import neighbor_list

    n_slab = np.bincount(neighbor_list("i", slab, 3.0), minlength=len(slab))
    n_piece = np.bincount(neighbor_list("i", piece.atoms, 3.0), minlength=len(slab))
    assert np.array_equal(np.sort(n_slab), np.sort(n_piece)) and set(n_slab) == {9, 12}


def test_wide_slab_gives_a_cluster_with_the_minimum_image_atoms():
    slab = fcc111("Au", (9, 9, 4), a=A_AU, vacuum=8.0)    # in-plane widths 22.5 A > 2 x 6 A
    slab.pbc = (True, True, False)
    centre = 4    # next to the cell's edge: its sphere crosses the periodic boundary
    piece = carve(slab, centre, 3.0, 3.0, max_atoms=500)
    assert piece.kept_periodic == (False, False, False)
    assert len(piece.atoms) == int((slab.get_distances(centre, range(len(slab)), mic=True) <= 6.0).sum())


def test_max_atoms_shrinks_the_buffer_below_whole_shells():
    piece = carve(au_crystal(), 0, 3.0, 3.0, max_atoms=50)
    # 55 atoms within 6 A; the 12 at 5.77 A go out together: 43 atoms (shells up to 5.00 A)
    assert len(piece.atoms) == shell_count(5.0) == 43
    assert piece.shrunk and np.sqrt(6) / 2 * A_AU - 3.0 < piece.buffer_A < np.sqrt(2) * A_AU - 3.0


def test_a_core_larger_than_max_atoms_is_an_error_naming_the_numbers():
    with pytest.raises(ValueError, match=r"core of atom 0 holds 43 atoms within r_core 5 A, more than max_atoms 20"):
        carve(au_crystal(), 0, 5.0, 1.0, max_atoms=20)


def hot_spots(atoms, spots, width: float = 2.0, background: float = 0.01) -> np.ndarray:
    """eps_i: a background plus Gaussian bumps (peak eV/A) around the given atoms."""
    eps = np.full(len(atoms), background)
    for index, peak in spots:
        d = atoms.get_distances(index, range(len(atoms)), mic=True)
        eps += peak * np.exp(-0.5 * (d / width) ** 2)
    return eps


def test_two_hot_spots_give_centres_in_both():
    atoms = au_crystal()
    d = atoms.get_distances(0, range(len(atoms)), mic=True)
    far = int(np.argmax(d))    # the farthest atom from 0 (about 28 A away)
    eps = hot_spots(atoms, [(0, 0.5), (far, 0.2)])    # the first spot holds many more doubtful atoms
    assert (eps >= 0.1).sum() > 8
    centres = pick_centres([atoms], [eps], 0.1, 4, 4.5, ["Au"])
    assert centres[0] == (0, int(np.argmax(eps)))    # starts at the largest eps_i
    near = [min(atoms.get_distance(i, s, mic=True) for s in (0, far)) for _, i in centres]
    spot = [atoms.get_distance(i, 0, mic=True) < atoms.get_distance(i, far, mic=True) for _, i in centres]
    assert any(spot) and not all(spot), (centres, near)
    assert all(eps[i] >= 0.1 for _, i in centres)
    for a in range(len(centres)):
        for b in range(a):
            assert atoms.get_distance(centres[a][1], centres[b][1], mic=True) >= 4.5
    # allow_close lifts the spacing rule, and nothing below trust_lo is ever a centre
    doubtful = set(np.flatnonzero(eps >= 0.1).tolist())
    close = pick_centres([atoms], [eps], 0.1, len(doubtful) + 5, 4.5, ["Au"], allow_close=True)
    assert {i for _, i in close} == doubtful and len(close) == len(doubtful) > len(centres)
    assert pick_centres([atoms], [eps], 1.0, 4, 4.5, ["Au"]) == []


def test_failed_regions_are_not_harvested(tmp_path):
    """A spot the ensemble has given up on (eps_i above trust_hi) and a milder one: centres come
    from the milder spot only, none within core + buffer of a failed atom (checked against ASE's
    minimum-image distances); a run failed everywhere is an error that says why."""
    from ennp.al.config import Harvest

    atoms = au_crystal()
    d = atoms.get_distances(0, range(len(atoms)), mic=True)
    far = int(np.argmax(d))
    atoms.arrays["eps"] = hot_spots(atoms, [(0, 3.0), (far, 0.3)])
    eps = admissible_deviations(atoms, 0.1, 1.0, 9.0)
    failed = np.flatnonzero(atoms.arrays["eps"] >= 1.0)
    assert failed.size and not np.isfinite(eps[failed]).any()
    for i in np.flatnonzero(np.isfinite(eps)):
        assert atoms.get_distances(i, failed, mic=True).min() > 9.0 and 0.1 <= eps[i] < 1.0
    centres = pick_centres([atoms], [eps], 0.1, 4, 4.5, ["Au"])
    assert centres and all(atoms.get_distance(i, far, mic=True) < atoms.get_distance(i, 0, mic=True)
                           for _, i in centres)

    dump = write_dump(tmp_path / "failed.dump", atoms, {"c_ennp_devi[1]": np.full(len(atoms), 2.0)})
    with pytest.raises(ValueError, match=r"is at or within 9.0 A of one at eps_i >= trust_hi 1 eV/A .*"
                                         r"broken down there"):
        _carve_pieces([dump], ["Au"], None, Harvest(), 0.1, 1.0, 4.5, 4.5, lambda *a, **k: None)


def write_dump(path: Path, atoms, columns: dict, element: bool = True, step: int = 0) -> Path:
    """A LAMMPS text dump (orthogonal box, pp pp pp) written by hand."""
    names = ["id", "type"] + (["element"] if element else []) + ["xu", "yu", "zu"] + list(columns)
    lines = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(atoms)), "ITEM: BOX BOUNDS pp pp pp"]
    lines += [f"0 {length}" for length in atoms.cell.lengths()]
    lines.append("ITEM: ATOMS " + " ".join(names))
    for i, (s, x) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        row = [str(i + 1), "1"] + ([s] if element else []) + [f"{v:.6f}" for v in x]
        row += [f"{columns[c][i]:.6g}" for c in columns]
        lines.append(" ".join(row))
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_dump_frames_give_deviations_ids_and_periodicity(tmp_path):
    atoms = au_crystal(3)
    eps = hot_spots(atoms, [(5, 0.3)])
    dump = write_dump(tmp_path / "d.dump", atoms, {"c_ennp_devi[1]": eps})
    write_dump(dump, atoms, {"c_ennp_devi[1]": np.full(len(atoms), 0.01)}, step=10)    # nothing doubtful
    frames = doubtful_frames(dump, "c_ennp_devi[1]", ["Au"], None, 0.05)
    assert [f.info["step"] for f in frames] == [0]
    assert np.allclose(frames[0].arrays["eps"], eps, rtol=1e-5) and frames[0].pbc.all()
    assert frames[0].arrays["id"].tolist() == list(range(1, len(atoms) + 1))


def test_bad_sources_are_named(tmp_path):
    atoms = au_crystal(2)
    plain = write_dump(tmp_path / "plain.dump", atoms, {"c_other": np.zeros(len(atoms))})
    with pytest.raises(ValueError, match=r"plain.dump: no per-atom deviation column 'c_ennp_devi\[1\]' at step 0 "
                                         r"\(columns: id type element xu yu zu c_other\); name it with --column"):
        doubtful_frames(plain, "c_ennp_devi[1]", ["Au"], None, 0.05)
    gold = write_dump(tmp_path / "gold.dump", atoms, {"e": np.ones(len(atoms))})
    with pytest.raises(ValueError, match=r"gold.dump: element\(s\) \['Au'\] at step 0 are not in the run's species"):
        doubtful_frames(gold, "e", ["Ti", "O"], None, 0.05)
    untyped = write_dump(tmp_path / "untyped.dump", atoms, {"e": np.ones(len(atoms))}, element=False)
    with pytest.raises(ValueError, match="untyped.dump: the dump has no element column"):
        doubtful_frames(untyped, "e", ["Au"], None, 0.05)
    assert doubtful_frames(untyped, "e", ["Au"], ["Au"], 0.05)[0].get_chemical_symbols()[0] == "Au"
    with pytest.raises(ValueError, match="not a monitored run: no result JSON with an uncertainty block"):
        source_dumps(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere: no such run folder or dump"):
        source_dumps(tmp_path / "nowhere")


def test_a_run_folder_names_its_dumps_and_level_through_its_uncertainty_block(tmp_path):
    run = tmp_path / "md" / "run"
    run.mkdir(parents=True)
    (run / "model_devi.out").write_text("0 0 0 0 0.1 0 0 0\n")
    write_dump(run / "devi.dump", au_crystal(2), {"c_ennp_devi[1]": np.ones(32)})
    block = {"monitored": True, "trust_lo": 0.07, "trust_hi": 0.2, "model_devi_files": [str(run / "model_devi.out")]}
    (tmp_path / "md" / "md.json").write_text(json.dumps({"steps": 10, "uncertainty": block}))
    assert source_dumps(tmp_path / "md") == ([run / "devi.dump"], 0.07, 0.2)


def test_buffer_labels_do_not_enter_the_loss(tmp_path):
    """nequip-train on the same data and seed: perturbing the buffer atoms' forces and the pieces'
    energies leaves the trained weights identical; perturbing core forces changes them."""
    import torch
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    from ennp.train.masked_labels import masked_copy, with_masked_labels
    from ennp.train.nequip_config import ModelSettings, nequip_config, train

    def weights(perturb: str) -> list:
        frames = []
        for k in range(6):
            a = bulk("Au", "fcc", A_AU, cubic=True) * (2, 2, 2)
            a.rattle(0.05, seed=k)
            a.calc = EMT()
            e, f = a.get_potential_energy(), a.get_forces()
            if k >= 2:    # pieces: 8 core atoms
                core = np.arange(len(a)) < 8
                a.arrays["ennp_core"] = core
                if perturb == "buffer":
                    f, e = f + 5.0 * ~core[:, None], e + 3.0
                elif perturb == "core":
                    f = f + 0.5 * core[:, None]
            a.calc = SinglePointCalculator(a, energy=e, forces=f)
            frames.append(masked_copy(a))
        ase.io.write(tmp_path / f"{perturb}.extxyz", frames)
        config = nequip_config(tmp_path / f"{perturb}.extxyz", ModelSettings(type_names=("Au",), num_features=4),
                               max_epochs=2, batch_size=2)
        ckpt = train(with_masked_labels(config), tmp_path / perturb)
        state = torch.load(ckpt, weights_only=False)["state_dict"]
        values = [v.double() for v in state.values() if torch.is_tensor(v) and v.is_floating_point()]
        assert all(torch.isfinite(v).all() for v in values)
        return values

    base, buffer, core = weights("none"), weights("buffer"), weights("core")
    assert all(torch.equal(a, b) for a, b in zip(base, buffer))
    assert not all(torch.equal(a, b) for a, b in zip(base, core))


LOOP_RUN = """
species: [Au]
structures:
  - {name: au_bulk, builder: au_fcc, args: {repeat: [2, 2, 2]}}
label: {labeller: sevennet}
initial: {copies: 8, rattle: 0.05, strain: 0.02, test_copies: 2, test_rattle: 0.08, seed: 0}
ensemble: {size: 2, seed: 0}
training: {model: {num_features: 8}, max_epochs: 10, batch_size: 4, warm_start: true}
exploration: {temperatures: [600], steps: 60, every: 10, dt: 0.002}
trust: {lo: 0.05, hi: 1.0}
selection: {max_frames: 2}
convergence: {accurate_fraction: 0.99, max_generations: 1}
harvest: {max_pieces: 6, max_atoms: 60, test_fraction: 0.34}
"""

LARGE_MD = {"species": ["Au"], "structure": {"builder": "au_fcc", "args": {"repeat": [8, 8, 8]}},
            "pair": {"style": "ennp", "bundle": "bundle"}, "monitor": {"every": 10},
            "md": {"T": 900, "steps": 40, "every_thermo": 10, "every_dump": 20, "every_restart": 20}}


def run_ennp(*args, timeout=1500):
    proc = subprocess.run([ENNP, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def dump_eps(path: Path) -> np.ndarray:
    """Every eps_i of a deviation dump, read as plain text."""
    values, header = [], None
    for line in path.read_text().splitlines():
        if line.startswith("ITEM: ATOMS"):
            header = line.split()[2:]
        elif line.startswith("ITEM:"):
            header = None if not line.startswith("ITEM: ATOMS") else header
        elif header and len(line.split()) == len(header):
            values.append(float(line.split()[header.index("c_ennp_devi[1]")]))
    return np.array(values)


@pytest.mark.slow
def test_closed_loop_from_a_2048_atom_run_to_the_next_generation(tmp_path):
    """ennp al (one generation) -> export -> ennp md on 2048 atoms with the bundle -> harvest,
    killed while labelling and resumed -> ennp al run trains the next generation on the pieces."""
    (tmp_path / "al.yaml").write_text(LOOP_RUN)
    work = tmp_path / "al"
    run_ennp("al", "init", tmp_path / "al.yaml", work)
    run_ennp("al", "run", work)
    run_ennp("al", "export", work, tmp_path / "md" / "bundle")
    (tmp_path / "md" / "md.yaml").write_text(yaml.safe_dump(LARGE_MD))
    run_ennp("md", "run", tmp_path / "md" / "md.yaml", "--out", tmp_path / "md" / "out")
    eps = dump_eps(tmp_path / "md" / "out" / "run" / "devi.dump")
    assert len(eps) == 5 * 2048
    level = float(np.quantile(eps, 0.95))

    # killed while labelling the pieces, then resumed: no piece missing or labelled twice
    cmd = [ENNP, "al", "harvest", str(tmp_path / "md" / "out"), "--into", str(work), "--trust-lo", str(level)]
    kill_when(cmd, lambda: any(work.glob("gen_000/harvest/*/labelled.extxyz.parts/*.extxyz")),
              tmp_path / "harvest.log", timeout=600)
    parts = list(work.glob("gen_000/harvest/*/labelled.extxyz.parts/*.extxyz"))
    folder = next(work.glob("gen_000/harvest/*"))
    assert parts and not (folder / "harvest.json").exists(), "the harvest finished before it could be killed"
    carved = (tmp_path / "harvest.log").read_text()
    assert "buffer shrunk from 9.00 to" in carved and "to stay within 60 atoms" in carved
    assert all(p["buffer_A"] < 9.0 and p["atoms"] <= 60 for p in json.loads((folder / "carving.json").read_text()))
    run_ennp(*cmd[1:])
    record = json.loads((folder / "harvest.json").read_text())
    pieces = ase.io.read(folder / "pieces.extxyz", index=":")
    labelled = ase.io.read(folder / "labelled.extxyz", index=":")
    assert record["pieces"] == len(pieces) == 6 and record["labelled"] == len(labelled) == 6
    assert sorted(a.info["ennp_source_index"] for a in labelled) == list(range(6))
    assert record["trust_lo"] == pytest.approx(level) and (record["r_core_A"], record["r_buffer_A"]) == (4.5, 9.0)
    for a in labelled:
        assert len(a) <= 60 and a.info["ennp_origin"].startswith("harvest:") and ":step=" in a.info["ennp_origin"]
        assert a.info["ennp_max_devi_f"] >= level and a.arrays["ennp_core"][a.info["ennp_centre"]]
        d = a.get_distances(a.info["ennp_centre"], range(len(a)))
        assert np.array_equal(a.arrays["ennp_core"], d <= 4.5)
    assert record["held_out"] == 2 and np.isfinite(record["core_force_rmse_before"])
    assert "already harvested" in run_ennp(*cmd[1:]).stderr

    # the next generation trains on the pieces' core forces; the stop rule gives it its turn
    run_ennp("al", "run", work)
    state = json.loads((work / "state.json").read_text())
    gen0, gen1 = (g["done"] for g in state["generations"])
    assert gen1["train"]["frames"] == gen0["train"]["frames"] + gen0["label"]["labelled"] + 4
    assert gen1["train"]["test"]["harvest"]["pieces"] == 2
    assert np.isfinite(gen1["train"]["test"]["harvest"]["core_force_rmse"])
    assert state["finished"]["reason"] == "generation limit reached (2, 1 + harvests)"
    data = ase.io.read(work / "gen_001" / "train" / "data.extxyz", index=":")
    trained = [a for a in data if "ennp_core" in a.arrays]
    assert len(trained) == 4
    for a in trained:
        f = a.get_forces()
        assert np.isnan(f[~a.arrays["ennp_core"]]).all() and np.isfinite(f[a.arrays["ennp_core"]]).all()
        assert np.isnan(a.get_potential_energy())
    status = run_ennp("al", "status", work).stdout
    assert "harvested 6 pieces" in status and "core F RMSE on 2 held-out pieces" in status
    report = json.loads((work / "report" / "al_report.json").read_text())["generations"]
    assert report[0]["harvested"]["pieces"] == 6 and report[0]["harvested"]["held_out"] == 2
    assert report[1]["harvested"]["pieces"] == 0 and report[1]["test"]["harvest"]["pieces"] == 2
