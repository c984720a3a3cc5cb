"""compute ennp/ensemble against a numpy computation from nequip's ASE calculator per member."""

import shutil

import numpy as np
import pytest
from ase.io.lammpsdata import write_lammps_data
from nequip.integrations.ase import NequIPCalculator

from conftest import ELEMENTS, mixed_crystal
from ennp.lammps.outputs import MODEL_DEVI_COLUMNS, dump_to_atoms, read_model_devi, read_thermo
from ennp.lammps.run import run_lammps
from lammps_helpers import ase_virial
from test_errors import lammps_fails

VECTOR = ["max_devi_f", "min_devi_f", "avg_devi_f", "devi_e", "max_devi_v", "min_devi_v",
          "avg_devi_v", "evaluations"]


def deviation_reference(atoms, checkpoints, group=None, relative=None):
    """DeePMD-kit/DP-GEN definitions, from each member's own ASE calculator."""
    f, e, E, W = [], [], [], []
    for ckpt in checkpoints:
        a = atoms.copy()
        a.calc = NequIPCalculator._from_saved_model(str(ckpt), device="cpu")
        f.append(a.get_forces())
        e.append(a.get_potential_energies())
        E.append(a.get_potential_energy())
        w = ase_virial(a)    # xx yy zz xy xz yz
        W.append([w[0], w[3], w[4], w[3], w[1], w[5], w[4], w[5], w[2]])
    f, e, E, W = map(np.array, (f, e, E, W))
    n = len(atoms)
    eps = np.sqrt(((f - f.mean(0)) ** 2).sum(-1).mean(0))
    if relative is not None:
        eps = eps / (np.linalg.norm(f.mean(0), axis=-1) + relative)
    g = eps if group is None else eps[group]
    dv = W.std(0) / n
    return {"eps": eps, "e_std": e.std(0), "max_devi_f": g.max(), "min_devi_f": g.min(),
            "avg_devi_f": g.mean(), "devi_e": (E / n).std(), "max_devi_v": dv.max(),
            "min_devi_v": dv.min(), "avg_devi_v": np.linalg.norm(dv) / 3}


def run_compute(tmp_path, atoms, models, *, nprocs=1, threads=1, extra_args="", pair=None, steps=0,
                group="all", pre="", post=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_lammps_data(tmp_path / "data.lmp", atoms, specorder=ELEMENTS, masses=True,
                      units="metal", atom_style="atomic")
    pair = pair or f"pair_style ennp {models[0]}\npair_coeff * * Au Ti O"
    vec = " ".join(f"c_dev[{k}]" for k in range(1, 9))
    (tmp_path / "in.dev").write_text(f"""
units metal
atom_style atomic
read_data data.lmp
{pre}
{pair}
compute dev {group} ennp/ensemble {' '.join(map(str, models))} {extra_args}
thermo_style custom step pe {vec}
thermo_modify format float %.17g
dump d all custom 1 dump.txt id type x y z c_dev[1] c_dev[2]
dump_modify d sort id format float %.17g
{post}
run {steps}
""")
    run_lammps(tmp_path / "in.dev", tmp_path, nprocs=nprocs, threads=threads)
    thermo = read_thermo(tmp_path / "log.lammps")[-1]
    got = {k: thermo[f"c_dev[{i + 1}]"] for i, k in enumerate(VECTOR)}
    dump = tmp_path / "dump.txt"
    return got, dump_to_atoms(dump, ELEMENTS) if dump.exists() else []


@pytest.fixture(scope="module")
def members(mix_model, mix_model_b, mix_model3):
    return [mix_model, mix_model_b, mix_model3]


@pytest.mark.parametrize("threads,bind", [(1, None), (2, None), (2, "true")])
def test_matches_numpy_from_ase_calculators(members, tmp_path, monkeypatch, threads, bind):
    if bind:
        monkeypatch.setenv("OMP_PROC_BIND", bind)
    else:
        monkeypatch.delenv("OMP_PROC_BIND", raising=False)
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=11, rattle=0.25)
    # the pair runs a copy of member 0, so that the compute evaluates all three itself
    pair_model = tmp_path / "pair.nequip.pt2"
    shutil.copy(members[0]["deployed"], pair_model)
    got, frames = run_compute(tmp_path, atoms, [m["deployed"] for m in members], threads=threads,
                              pair=f"pair_style ennp {pair_model}\npair_coeff * * Au Ti O",
                              extra_args=f"file {tmp_path / 'model_devi.out'}")
    # with two threads on one rank, two model files at a time, one thread each, then the
    # third on both threads; threads bound to cores would share one core: one after
    # another, and the log says why
    log = (tmp_path / "log.lammps").read_text()
    assert ("3 members evaluated 2 at a time, one thread each, the last one alone on all "
            "threads" in log) == (threads == 2 and not bind)
    assert ("OMP_PROC_BIND binds the threads to cores" in log) == bool(bind)
    ref = deviation_reference(atoms, [m["checkpoint"] for m in members])
    for key in VECTOR[:-1]:
        assert got[key][0] == pytest.approx(ref[key], rel=1e-8, abs=1e-12), key
    assert ref["max_devi_f"] > 1e-3 and ref["devi_e"] > 1e-5    # members really differ
    (frame,) = frames
    np.testing.assert_allclose(frame.arrays["c_dev[1]"], ref["eps"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(frame.arrays["c_dev[2]"], ref["e_std"], rtol=1e-8, atol=1e-12)
    frac = (frame.positions - atoms.positions) @ np.linalg.inv(atoms.cell[:])
    np.testing.assert_allclose(frac - np.round(frac), 0, atol=1e-10)    # same atoms, wrapped
    devi = read_model_devi(tmp_path / "model_devi.out")
    assert list(devi["step"]) == [0]
    for key in MODEL_DEVI_COLUMNS[1:]:
        assert devi[key][0] == pytest.approx(ref[key], rel=1e-6), key
    header = (tmp_path / "model_devi.out").read_text().splitlines()[0].split()
    assert header == ["#", *MODEL_DEVI_COLUMNS]


def test_group_relative_and_other_pair_style(members, tmp_path):
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=12, rattle=0.25)
    models = [members[0]["deployed"], members[1]["deployed"]]
    got, frames = run_compute(tmp_path, atoms, models, group="gold",
                              pre="group gold type 1",
                              pair="pair_style zero 5.0\npair_coeff * *",
                              extra_args="elements Au Ti O relative 0.5")
    gold = np.array([s == "Au" for s in atoms.get_chemical_symbols()])
    ref = deviation_reference(atoms, [members[0]["checkpoint"], members[1]["checkpoint"]],
                              group=gold, relative=0.5)
    for key in ("max_devi_f", "min_devi_f", "avg_devi_f", "devi_e"):
        assert got[key][0] == pytest.approx(ref[key], rel=1e-8), key
    np.testing.assert_allclose(frames[0].arrays["c_dev[1]"], ref["eps"], rtol=1e-8)


def test_identical_members_give_zero(mix_model, tmp_path):
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=13)
    got, frames = run_compute(tmp_path, atoms, [mix_model["deployed"]] * 3)
    for key in VECTOR[:-1]:
        assert abs(got[key][0]) < 1e-12, key
    assert np.abs(frames[0].arrays["c_dev[1]"]).max() < 1e-12


@pytest.mark.parametrize("nprocs", [2, 3])
def test_mpi_ranks_agree(members, tmp_path, nprocs):
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=14, rattle=0.2)
    models = [m["deployed"] for m in members]
    one, f1 = run_compute(tmp_path / "np1", atoms, models)
    many, fn = run_compute(tmp_path / f"np{nprocs}", atoms, models, nprocs=nprocs)
    for key in VECTOR:
        assert many[key][0] == pytest.approx(one[key][0], rel=1e-9, abs=1e-13), key
    np.testing.assert_allclose(fn[0].arrays["c_dev[1]"], f1[0].arrays["c_dev[1]"], rtol=1e-9, atol=1e-13)


def test_only_evaluated_when_asked_and_fix_halt(members, tmp_path):
    """thermo every 10 steps over 40: 5 evaluations; fix halt stops at the first step above."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=15, rattle=0.05)
    models = [members[0]["deployed"], members[1]["deployed"]]
    post = "velocity all create 3000 1\nfix nve all nve\ntimestep 0.001\nthermo 10\nundump d"
    got, _ = run_compute(tmp_path / "a", atoms, models, steps=40, post=post,
                         extra_args=f"file {tmp_path / 'a' / 'md.out'}")
    assert list(got["evaluations"]) == [1, 2, 3, 4, 5]
    devi = read_model_devi(tmp_path / "a" / "md.out")
    assert list(devi["step"]) == [0, 10, 20, 30, 40]
    # threshold between the values seen at steps 10 and 40: halt at the first crossing
    f = devi["max_devi_f"]
    crossing = next(k for k in range(1, 5) if f[k] > f[0] * 1.0000001) if f.max() > f[0] else None
    assert crossing is not None, "deviation never grew; pick a hotter start"
    threshold = 0.5 * (f[crossing] + max(f[:crossing]))
    post_halt = post + f"\nvariable d equal c_dev[1]\nfix stop all halt 10 v_d > {threshold} error continue"
    got_b, _ = run_compute(tmp_path / "b", atoms, models, steps=40, post=post_halt)
    assert got_b["evaluations"][-1] <= crossing + 1
    log = (tmp_path / "b" / "log.lammps").read_text()
    assert f"Fix halt condition for fix-id stop met on step {10 * crossing}" in log


def test_bad_inputs(mix_model, demo_model, tmp_path):
    m = mix_model["deployed"]
    def fails(args, pair=None, sub="x"):
        d = tmp_path / sub
        d.mkdir()
        return lammps_fails(d, f"ennp {m}", extra="", run=f"compute dev all ennp/ensemble {args}\n"
                            f"thermo_style custom step c_dev[1]\nrun 0")
    assert f"at least two models (files, or one ensemble package from ennp deploy --ensemble); '{m}' holds one" \
        in fails(f"{m}", sub="one")
    assert "cannot open model file" in fails(f"{m} {tmp_path / 'missing.nequip.pt2'}", sub="missing")
    assert "must have the same type names" in fails(f"{m} {demo_model['deployed']}", sub="types")
    assert "'elements' lists 2 names for 3 atom types" in fails(f"{m} {m} elements Au Ti", sub="count")
    assert "element 'Zr' (atom type 3) is not in the models" in fails(f"{m} {m} elements Au Ti Zr", sub="el")
    assert "'halt' must be > 0" in fails(f"{m} {m} halt 0", sub="halt")


def test_halt_names_the_atoms_of_largest_deviation_on_two_ranks(members, tmp_path):
    """halt H at step 0: the message names max_devi_f and the ten atoms of largest eps_i, found
    over both ranks, as nequip's own calculators give them."""
    import re

    atoms = mixed_crystal(repeat=(3, 3, 3), seed=19, rattle=0.2)
    ref = deviation_reference(atoms, [m["checkpoint"] for m in members[:2]])
    models = [members[0]["deployed"], members[1]["deployed"]]
    with pytest.raises(RuntimeError) as err:
        run_compute(tmp_path, atoms, models, nprocs=2, extra_args=f"halt {ref['max_devi_f'] / 2} file devi.out")
    message = str(err.value)
    assert f"max_devi_f {ref['max_devi_f']:.4g} eV/A exceeds {ref['max_devi_f'] / 2:.4g} eV/A at step 0" in message
    named = re.findall(r" (\d+) \(([0-9.e-]+)\)", message.split("atom ids")[1])
    assert [int(i) for i, _ in named] == list(np.argsort(-ref["eps"])[:10] + 1)
    np.testing.assert_allclose([float(e) for _, e in named], np.sort(ref["eps"])[::-1][:10], rtol=2e-3)
    assert read_model_devi(tmp_path / "devi.out")["step"].tolist() == [0]    # written before stopping


def test_other_pair_style_needs_elements(mix_model, tmp_path):
    m = mix_model["deployed"]
    msg = lammps_fails(tmp_path, "zero 5.0", coeff="* *",
                       run=f"compute dev all ennp/ensemble {m} {m}\nthermo_style custom step c_dev[1]\nrun 0")
    assert "give 'elements El1 El2 ...'" in msg


def test_explore_template(members, tmp_path):
    """lammps_inputs/explore.in runs, writes model_devi + dump, and halts above the limit."""
    import ennp

    atoms = mixed_crystal(repeat=(2, 2, 2), seed=16, rattle=0.05)
    write_lammps_data(tmp_path / "data.lmp", atoms, specorder=ELEMENTS, masses=True,
                      units="metal", atom_style="atomic")
    explore = ennp.lammps_inputs() / "explore.in"
    models = [str(m["deployed"]) for m in members]
    common = {"data": "data.lmp", "elements": "Au Ti O", "model0": models[0],
              "members": " ".join(models), "T": 300, "steps": 30, "every": 10}
    run_lammps(explore, tmp_path, variables={**common, "halt": 1e6}, nprocs=2)
    devi = read_model_devi(tmp_path / "model_devi.out")
    frames = dump_to_atoms(tmp_path / "traj.dump", ELEMENTS)
    assert list(devi["step"]) == [0, 10, 20, 30] and len(frames) == 4
    np.testing.assert_allclose([f.arrays["c_dev[1]"].max() for f in frames], devi["max_devi_f"], rtol=1e-5)
    assert frames[2].info["step"] == 20 and frames[2].get_chemical_symbols() == atoms.get_chemical_symbols()

    low = float(devi["max_devi_f"].min()) * 0.5    # exceeded at the first check (step 10)
    run_lammps(explore, tmp_path / "halt", variables={**common, "data": tmp_path / "data.lmp", "halt": low})
    assert list(read_model_devi(tmp_path / "halt" / "model_devi.out")["step"]) == [0, 10]
    assert "Fix halt condition for fix-id stop met on step 10" in (tmp_path / "halt" / "log.lammps").read_text()


def test_newton_off_gives_same_deviation(members, tmp_path):
    """The compute sums ghost forces itself (reverse communication), so newton pair is free."""
    atoms = mixed_crystal(repeat=(3, 3, 3), seed=17, rattle=0.2)
    models = [members[0]["deployed"], members[1]["deployed"]]
    kw = dict(pair="pair_style zero 5.0\npair_coeff * *", extra_args="elements Au Ti O", nprocs=2)
    on, f_on = run_compute(tmp_path / "on", atoms, models, pre="newton on on", **kw)
    off, f_off = run_compute(tmp_path / "off", atoms, models, pre="newton off on", **kw)
    for key in VECTOR:
        assert off[key][0] == pytest.approx(on[key][0], rel=1e-10, abs=1e-14), key
    np.testing.assert_allclose(f_off[0].arrays["c_dev[1]"], f_on[0].arrays["c_dev[1]"], rtol=1e-10)


def test_file_holds_every_step_once_across_restarts(members, tmp_path):
    """A run killed after its checkpoint at step 20 (its file reaches step 30) and continued
    from that checkpoint in the same folder, then a run started again from step 0: each
    step appears once, with the values of an uninterrupted run."""
    atoms = mixed_crystal(repeat=(2, 2, 2), seed=15, rattle=0.05)
    models = [members[0]["deployed"], members[1]["deployed"]]
    md = "velocity all create 600 1\nfix nve all nve\ntimestep 0.001\nthermo 10\nundump d"
    devi = tmp_path / "md.out"
    # uninterrupted reference, 40 steps, and the killed run: checkpoint at 20, file up to 30
    run_compute(tmp_path / "ref", atoms, models, steps=40, post=md,
                extra_args=f"file {tmp_path / 'ref' / 'md.out'}")
    ref = read_model_devi(tmp_path / "ref" / "md.out")
    run_compute(tmp_path, atoms, models, steps=10, post=md + "\nrun 20\nwrite_restart r.20",
                extra_args=f"file {devi}")
    assert list(read_model_devi(devi)["step"]) == [0, 10, 20, 30]
    (tmp_path / "in.resume").write_text(f"""
units metal
read_restart r.20
pair_style ennp {models[0]}
pair_coeff * * Au Ti O
compute dev all ennp/ensemble {' '.join(map(str, models))} file {devi}
fix nve all nve
timestep 0.001
thermo_style custom step pe c_dev[1]
thermo 10
run 20
""")
    run_lammps(tmp_path / "in.resume", tmp_path)
    got = read_model_devi(devi)
    assert list(got["step"]) == [0, 10, 20, 30, 40]
    for column in MODEL_DEVI_COLUMNS[1:]:
        np.testing.assert_allclose(got[column], ref[column], rtol=1e-5, atol=1e-12)
    assert (tmp_path / "md.out").read_text().count("#") == 1    # one header
    # started again from step 0 in the same folder: the old later lines go, none doubles
    run_compute(tmp_path, atoms, models, steps=20, post=md, extra_args=f"file {devi}")
    assert list(read_model_devi(devi)["step"]) == [0, 10, 20]
