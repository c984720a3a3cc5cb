"""Ensemble packages (ennp deploy --ensemble): K members in one file, against each member's own
nequip ASE calculator, on 1 and 2 MPI ranks; pair_style ennp drive first|mean; refusals."""

from pathlib import Path

import numpy as np
import pytest

from conftest import ELEMENTS, mixed_crystal
from ennp.deploy.ensemble import EnsembleError, check_members
from lammps_helpers import assert_matches_reference, reference, single_point
from test_ensemble import VECTOR, deviation_reference, run_compute
from test_errors import lammps_fails


@pytest.fixture(scope="module")
def package(ensemble_package):
    """Members 0 and 1 of mix_model's architecture (other seeds) in one package (conftest)."""
    return ensemble_package


def call_package(path, atoms):
    """Each member of the package (or the one model of a member file) called directly (one
    process, no ghosts): per-atom energies, forces and virials stacked on a member axis."""
    import torch
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    from ennp.deploy.ensemble import member_model, members_in
    from ennp.deploy.package import load_package

    # from_ase takes torch's default dtype, which is float32 unless an earlier test changed it
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = ChemicalSpeciesToAtomTypeMapper(ELEMENTS)(compute_neighborlist_(from_ase(atoms), r_max=4.0))
    finally:
        torch.set_default_dtype(default)
    inputs = [data[AtomicDataDict.POSITIONS_KEY].double(), data[AtomicDataDict.EDGE_INDEX_KEY],
              data[AtomicDataDict.ATOM_TYPE_KEY].view(-1), data[AtomicDataDict.CELL_KEY].double(),
              data[AtomicDataDict.EDGE_CELL_SHIFT_KEY].double(), torch.tensor([len(atoms), 0])]
    outputs = [load_package(path, member_model(k))(inputs) for k in range(members_in(path))]
    return [np.stack([out[i].detach().numpy() for out in outputs]) for i in range(3)]


def test_each_member_equals_its_own_calculator(package):
    """The package called directly: member k's per-atom energies, forces and virial are member
    k's nequip ASE calculator's (float64, 1e-8)."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=21, rattle=0.25)
    n = len(atoms)
    energies, forces, virials = call_package(package["deployed"], atoms)
    assert energies.shape == (2, n, 1) and forces.shape == (2, n, 3) and virials.shape == (2, 1, 3, 3)
    virials = virials[:, 0]
    for k, ckpt in enumerate(package["checkpoints"]):
        ref = reference(atoms, ckpt)
        np.testing.assert_allclose(energies[k, :, 0], ref["energies"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(forces[k], ref["forces"], rtol=0, atol=1e-8)
        w = -virials[k]    # nequip's virial sign, in LAMMPS order xx yy zz xy xz yz
        np.testing.assert_allclose(-np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]]),
                                   ref["virial"], rtol=1e-7, atol=1e-7)
    assert np.abs(forces[0] - forces[1]).max() > 1e-3    # the members really differ


def test_weights_swapped_into_the_compiled_package(package, tmp_path):
    """A package's members are single deploys (the architecture's template with their weights
    swapped in): member 0 equals its checkpoint deployed alone to 1e-10; the same members in
    the other order are swapped again (not compiled) and equal the first package member for
    member to 1e-10. (tests/test_deploy.py: a swap equals a compile from scratch.)"""
    from ennp.deploy.export import deploy, deploy_ensemble

    atoms = mixed_crystal(repeat=(2, 2, 2), seed=25, rattle=0.25)
    first = call_package(package["deployed"], atoms)
    alone = call_package(deploy(package["checkpoints"][0], tmp_path / "m0.nequip.pt2"), atoms)
    for a, b in zip(first, alone):
        np.testing.assert_allclose(a[:1], b, rtol=0, atol=1e-10)
    said = []
    swapped = deploy_ensemble(package["checkpoints"][::-1], tmp_path / "swapped.nequip.pt2", progress=said.append)
    assert sum("weights written into the compiled template" in m for m in said) == 2, said
    assert said[-1] == "swapped.nequip.pt2: 2 members in one file"
    for a, b in zip(first, call_package(swapped, atoms)):
        np.testing.assert_allclose(b[::-1], a, rtol=0, atol=1e-10)
        assert np.abs(a[0] - a[1]).max() > 1e-6    # the members differ


@pytest.mark.parametrize("nprocs,threads", [(1, 1), (2, 1), (1, 2)])
def test_compute_with_package_equals_member_files(package, mix_model, mix_model_c, tmp_path, nprocs, threads):
    """compute ennp/ensemble PACKAGE gives the member-list compute's numbers and the DP-GEN
    deviations of the members' own calculators; pair_style zero: nothing reused from the pair.
    With two threads on one rank the package's members run side by side, as files do."""
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=22, rattle=0.2)
    pair = "pair_style zero 5.0\npair_coeff * *"
    got, frames = run_compute(tmp_path / "package", atoms, [package["deployed"]], nprocs=nprocs,
                              threads=threads, pair=pair, extra_args="elements Au Ti O")
    log = (tmp_path / "package" / "log.lammps").read_text()
    assert ("2 members evaluated 2 at a time, one thread each" in log) == (threads == 2)
    files, frames_files = run_compute(tmp_path / "files", atoms, [mix_model["deployed"], mix_model_c["deployed"]],
                                      nprocs=nprocs, pair=pair, extra_args="elements Au Ti O")
    ref = deviation_reference(atoms, package["checkpoints"])
    for key in VECTOR[:-1]:
        assert got[key][0] == pytest.approx(files[key][0], rel=1e-9, abs=1e-13), key
        assert got[key][0] == pytest.approx(ref[key], rel=1e-7, abs=1e-12), key
    np.testing.assert_allclose(frames[0].arrays["c_dev[1]"], ref["eps"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(frames[0].arrays["c_dev[1]"], frames_files[0].arrays["c_dev[1]"],
                               rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("nprocs,threads", [(1, 1), (2, 1), (1, 2)])
def test_pair_drives_with_member_zero_or_the_mean(package, tmp_path, nprocs, threads):
    """drive first: member 0's numbers; drive mean: the members' mean, with two threads on one
    rank the members side by side."""
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=23, rattle=0.2)
    refs = [reference(atoms, ckpt) for ckpt in package["checkpoints"]]
    mean = {key: np.mean([r[key] for r in refs], axis=0) for key in refs[0]}
    first = single_point(atoms, tmp_path / "first", f"ennp {package['deployed']}", "* * Au Ti O",
                         ELEMENTS, nprocs=nprocs, threads=threads)
    assert "2 members, types" in first["log"]
    assert "at a time" not in first["log"]    # member 0 alone
    assert_matches_reference(first, refs[0], len(atoms))
    got = single_point(atoms, tmp_path / "mean", f"ennp {package['deployed']} drive mean", "* * Au Ti O",
                       ELEMENTS, nprocs=nprocs, threads=threads)
    assert ("pair_style ennp: 2 members evaluated 2 at a time, one thread each" in got["log"]) == (threads == 2)
    assert_matches_reference(got, mean, len(atoms))


@pytest.mark.parametrize("drive", ["first", "mean"])
def test_compute_reuses_the_pairs_package_and_monitors_a_run(package, tmp_path, drive):
    """pair and compute on one package: the compute takes what the pair evaluated (member 0
    alone when it drives with member 0, every member with 'drive mean') and evaluates only the
    rest; its deviations stay those of the members' calculators after MD steps."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=24, rattle=0.1)
    post = "velocity all create 600 1\nfix nve all nve\ntimestep 0.001\nthermo 5"
    got, frames = run_compute(tmp_path, atoms, [package["deployed"]], steps=10, post=post,
                              pair=f"pair_style ennp {package['deployed']} drive {drive}\npair_coeff * * Au Ti O")
    assert list(got["evaluations"]) == [1, 6, 11]    # the dump invokes it every step
    taken = "member 0 of '" if drive == "first" else "members 0-1 of '"
    assert taken in (tmp_path / "log.lammps").read_text()
    frame = frames[-1]
    moved = atoms.copy()
    moved.positions = frame.positions
    moved.cell = frame.cell
    ref = deviation_reference(moved, package["checkpoints"])
    np.testing.assert_allclose(frame.arrays["c_dev[1]"], ref["eps"], rtol=1e-6, atol=1e-10)


def test_refusals(mix_model, mix_model_b, tmp_path):
    from ennp.deploy.export import deploy_ensemble

    with pytest.raises(EnsembleError, match="members differ in r_max"):
        deploy_ensemble([mix_model["checkpoint"], mix_model_b["checkpoint"]], tmp_path / "e.nequip.pt2")
    with pytest.raises(EnsembleError, match="at least two members, got 1"):
        deploy_ensemble([mix_model["checkpoint"]], tmp_path / "e.nequip.pt2")
    meta = [{"type_names": "Au Ti O", "r_max": "4.0"}, {"type_names": "Au O", "r_max": "4.0"}]
    with pytest.raises(EnsembleError, match=r"members differ in type names \(a: Au Ti O, b: Au O\)"):
        check_members(["a", "b"], meta, [[], []])
    with pytest.raises(EnsembleError, match="b differs from a in its architecture"):
        check_members(["a", "b"], [meta[0], meta[0]], [[1], [2]])
    assert not (tmp_path / "e.nequip.pt2").exists()


def test_bad_lammps_input(package, mix_model, tmp_path):
    m = mix_model["deployed"]
    for sub in "abc":
        (tmp_path / sub).mkdir()
    assert "'drive mean' needs an ensemble package" in lammps_fails(tmp_path / "a", f"ennp {m} drive mean")
    assert "drive must be 'first' or 'mean', got 'all'" in lammps_fails(tmp_path / "b", f"ennp {package['deployed']} drive all")
    assert "keyword drive is missing its value" in lammps_fails(tmp_path / "c", f"ennp {m} drive")
    # a file that says it holds two members but has one model (an older ennp put all members
    # into one graph)
    from ennp.deploy.ensemble import ENSEMBLE_KEY, join_members

    (tmp_path / "d").mkdir()
    one = join_members([m], tmp_path / "one.nequip.pt2", {ENSEMBLE_KEY: "2"})
    assert "says it holds 2 members but has no model 'member1'" in lammps_fails(tmp_path / "d", f"ennp {one}")


def test_cli(mix_model, tmp_path, capsys):
    from ennp.cli import main

    ckpt, out = str(mix_model["checkpoint"]), str(tmp_path / "e.nequip.pt2")
    assert main(["deploy", ckpt, ckpt, "--out", out]) == 2
    assert "2 models given: deploy one at a time, or add --ensemble" in capsys.readouterr().err
    assert main(["deploy", ckpt, "--out", out, "--ensemble"]) == 2
    assert "an ensemble package needs at least two members, got 1" in capsys.readouterr().err


def test_join_members_renames_each_members_model_under_one_root(tmp_path):
    """Single-model archives whose root folders differ (each named after the file it was written
    as) join under member 0's root: member k's files under data/aotinductor/member{k}/, the
    archive records once, the package's metadata in member 0's only."""
    import json
    import zipfile

    from ennp.deploy.ensemble import ENSEMBLE_KEY, join_members, members_in

    files = []
    for k, root in enumerate(("a.nequip", "b.nequip")):
        files.append(tmp_path / f"{root}.pt2")
        with zipfile.ZipFile(files[-1], "w") as z:
            z.writestr(f"{root}/archive_format", "pt2")
            z.writestr(f"{root}/data/aotinductor/model/h{k}.wrapper.so", f"code {k}")
            z.writestr(f"{root}/data/aotinductor/model/h{k}.wrapper_metadata.json", json.dumps({"r_max": "4.0"}))
            z.writestr("nequip_custom_ops_libs.txt", "ennp.deploy.ghost_exchange")
    out = join_members(files, tmp_path / "e.nequip.pt2", {ENSEMBLE_KEY: "2"})
    with zipfile.ZipFile(out) as z:
        names = sorted(z.namelist())
        assert names == sorted(["a.nequip/archive_format", "nequip_custom_ops_libs.txt",
                                "a.nequip/data/aotinductor/model/h0.wrapper.so",
                                "a.nequip/data/aotinductor/model/h0.wrapper_metadata.json",
                                "a.nequip/data/aotinductor/member1/h1.wrapper.so",
                                "a.nequip/data/aotinductor/member1/h1.wrapper_metadata.json"])
        assert z.read("a.nequip/data/aotinductor/member1/h1.wrapper.so") == b"code 1"
        assert json.loads(z.read("a.nequip/data/aotinductor/model/h0.wrapper_metadata.json")) == \
            {"r_max": "4.0", ENSEMBLE_KEY: "2"}
        assert json.loads(z.read("a.nequip/data/aotinductor/member1/h1.wrapper_metadata.json")) == {"r_max": "4.0"}
    assert members_in(out) == 2 and members_in(files[1]) == 1
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(EnsembleError, match="empty.zip: no AOTInductor model in the package"):
        join_members([files[0], tmp_path / "empty.zip"], tmp_path / "f.nequip.pt2", {})
    assert not list(tmp_path.glob("*f.nequip.pt2*"))    # nothing left, not even a part
    (tmp_path / "text.nequip.pt2").write_text("not a package")
    with pytest.raises(ValueError, match="text.nequip.pt2: not a deployed model"):
        members_in(tmp_path / "text.nequip.pt2")


def _fake_member(path: Path, metadata: dict) -> Path:
    """A single-model archive as ``ennp deploy`` lays it out, with ``metadata`` and no code."""
    import json
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m.nequip/archive_format", "pt2")
        z.writestr("m.nequip/data/aotinductor/model/h.wrapper_metadata.json", json.dumps(metadata))
    return path


def test_deployed_members_join_only_where_they_can_share_a_package(tmp_path):
    """join_deployed (what ennp al and al export use) reads the members' metadata from their
    archives and refuses members that differ, or a package among them, writing nothing; the AL
    loop then keeps the member files and says why."""
    from ennp.al.training import ensemble_package
    from ennp.deploy.ensemble import ENSEMBLE_KEY, join_deployed, members_in

    meta = {"type_names": "Au", "r_max": "4.5", "model_dtype": "float32", "ennp_num_layers": "2"}
    a = _fake_member(tmp_path / "a.nequip.pt2", meta)
    b = _fake_member(tmp_path / "b.nequip.pt2", dict(meta, r_max="5.0"))
    with pytest.raises(EnsembleError, match=r"members differ in r_max \(member_0: 4.5, member_1: 5.0\)"):
        join_deployed([a, b], tmp_path / "e.nequip.pt2", ["member_0", "member_1"])
    packaged = _fake_member(tmp_path / "p.nequip.pt2", dict(meta, **{ENSEMBLE_KEY: "2"}))
    with pytest.raises(EnsembleError, match="p.nequip.pt2: already an ensemble package"):
        join_deployed([a, packaged], tmp_path / "e.nequip.pt2", ["member_0", "member_1"])
    assert not list(tmp_path.glob("*e.nequip.pt2*"))
    said = []
    (tmp_path / "gen_000" / "train").mkdir(parents=True)
    assert ensemble_package(tmp_path / "gen_000", [a, b], said.append) == (None, 0.0)
    assert said == ["gen_000: the members stay separate files (members differ in r_max (member_0: 4.5, "
                    "member_1: 5.0); deploy them as separate files for compute ennp/ensemble)"]
    assert ensemble_package(tmp_path / "gen_000", [a], said.append) == (None, 0.0)
    c = _fake_member(tmp_path / "c.nequip.pt2", meta)
    package, seconds = ensemble_package(tmp_path / "gen_000", [a, c], said.append)
    assert package == tmp_path / "gen_000" / "train" / "ensemble.nequip.pt2" and seconds >= 0
    assert members_in(package) == 2 and said[-1] == "gen_000: 2 members joined into ensemble.nequip.pt2"
