"""Active learning (ennp al): a two-generation run killed during labelling and
during training, resumed, and checked; bad configurations; the pieces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import psutil
import pytest
from ase.build import bulk

from chain_helpers import kill_when
from conftest import min_distances_by_hand
from ennp.al import loop
from ennp.al.config import load_al_config
from ennp.al.selection import adaptive_trust_lo
from ennp.al.state import State, exclusive
from ennp.al.training import member_config
from ennp.bundle import member_metadata
from ennp.cli import main as cli
from ennp.config import ConfigError
from ennp.cores import shared_cores_env
from ennp.deploy.ensemble import members_in
from ennp.label.backends import label_file
from ennp.label.labelling import LabelConfig, label_structures

ENNP = str(Path(sys.executable).with_name("ennp"))

SMALL_RUN = """
species: [Au, Ti, O]
structures:
  - {name: au_bulk, builder: au_fcc, args: {repeat: [2, 2, 2]}}
  - {name: au4_on_rutile, builder: au_on_rutile, args: {repeat: [1, 2], layers: 2}}
label: {labeller: sevennet}
initial: {copies: 6, rattle: 0.05, strain: 0.02, test_copies: 3, test_rattle: 0.08, seed: 0,
          relax_steps: 30, relax_fmax: 0.01}
ensemble: {size: 2, seed: 0}
# mix_model's architecture (conftest): its compiled template serves the members
training: {model: {r_max: 4.0, num_features: 8, model_dtype: float64}, max_epochs: 10, batch_size: 4, warm_start: true,
           parallel: 2}
exploration: {temperatures: [600], steps: 200, every: 10, dt: 0.002}
trust: {lo: 0.05, hi: 1.0}
selection: {max_frames: 6}
convergence: {accurate_fraction: 0.95, max_generations: 2}
"""


def _run_until(work: Path, condition, log: Path) -> None:
    """Start `ennp al run WORK`; SIGKILL its process group as soon as ``condition()``."""
    kill_when([ENNP, "al", "run", str(work)], condition, log)


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


@pytest.fixture(scope="module")
def al_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("al")
    (root / "al.yaml").write_text(SMALL_RUN)
    work = root / "run"
    assert cli(["al", "init", str(root / "al.yaml"), str(work)]) == 0
    log = root / "run.log"
    parts = work / "initial" / "train.extxyz.parts"

    # 0. killed while relaxing the second structure with the labeller
    relaxed = lambda: (State(work).data.get("relaxed") or {})    # noqa: E731
    _run_until(work, lambda: "au_bulk" in relaxed(), log)
    assert "au4_on_rutile" not in relaxed(), "the kill came after both relaxations"
    bulk_relaxed = _stamp(work / "structures" / "au_bulk.extxyz")

    # 1. killed while labelling the initial frames
    _run_until(work, lambda: len(list(parts.glob("*.extxyz"))) >= 3, log)
    assert not (work / "initial" / "train.extxyz").exists(), "the kill came after labelling had finished"
    labelled_before = {p.name: _stamp(p) for p in parts.glob("*.extxyz")}

    # 1b. SIGTERM to ennp alone (`kill PID`) while both members of generation 0 train: no
    #     nequip-train is left behind to race the resumed run in the members' folders
    logs = [work / "gen_000" / "train" / f"member_{k}" / "train.log" for k in (0, 1)]
    training = lambda: all(p.is_file() and p.stat().st_size > 0 for p in logs)    # noqa: E731
    status = kill_when([ENNP, "al", "run", str(work)], training, log, sig=signal.SIGTERM, group=False)
    left = [p for p in psutil.process_iter(["cmdline"]) if str(work) in " ".join(p.info["cmdline"] or ())]
    for p in left:
        p.kill()
    assert status == -signal.SIGTERM and not left, [p.info["cmdline"] for p in left]
    assert not any(work.glob("gen_000/train/member_*/model.nequip.pt2"))

    # 2. killed as soon as member 0 of generation 0 is deployed (the members train at once;
    #    member 1 is still training or waits for its deployment)
    model0 = work / "gen_000" / "train" / "member_0" / "model.nequip.pt2"
    _run_until(work, model0.exists, log)
    assert not (work / "gen_000" / "train" / "member_1" / "model.nequip.pt2").exists()
    assert State(work).done(0, "train") is None
    model0_before = _stamp(model0)

    # 3. killed while exploring with generation 0 (a run's model_devi.out half written)
    def exploring():
        for devi in work.glob("gen_000/explore/*/model_devi.out"):
            if not (devi.parent / "result.json").exists() and len(devi.read_text().splitlines()) >= 6:
                return True
        return False

    _run_until(work, exploring, log)
    killed_explore = [d.parent.name for d in work.glob("gen_000/explore/*/model_devi.out")
                      if not (d.parent / "result.json").exists()]

    # 4. resumed to the end
    with open(log, "a") as fh:
        proc = subprocess.run([ENNP, "al", "run", str(work)], stdout=fh, stderr=subprocess.STDOUT, timeout=1500)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return {"work": work, "log": log, "labelled_before": labelled_before, "parts": parts, "bulk_relaxed": bulk_relaxed,
            "model0": model0, "model0_before": model0_before, "killed_explore": killed_explore}


def test_killed_run_resumes_without_losing_or_repeating_work(al_run):
    work, parts = al_run["work"], al_run["parts"]
    # finished labels and the finished member were kept, not redone
    assert {p: _stamp(parts / p) for p in al_run["labelled_before"]} == al_run["labelled_before"]
    assert _stamp(al_run["model0"]) == al_run["model0_before"]
    initial = ase.io.read(work / "initial" / "train.extxyz", index=":")
    assert [a.info["ennp_source_index"] for a in initial] == list(range(12))    # none missing
    data = loop.dataset(work)
    assert loop.duplicates(data) == 0
    state = State(work)
    assert len(data) == 12 + state.done(0, "label")["labelled"]
    assert state.data["finished"]["reason"].startswith("generation limit")
    # the exploration killed half-way was run again: its model_devi file holds each step once
    assert al_run["killed_explore"]
    for devi in work.glob("gen_*/explore/*/model_devi.out"):
        steps = [int(line.split()[0]) for line in devi.read_text().splitlines() if not line.startswith("#")]
        assert steps == sorted(set(steps)) and steps[0] == 0, devi


def test_structures_are_relaxed_once_with_the_labeller(al_run):
    """The kill came between the two relaxations: au_bulk was not relaxed again, the interface
    was; the copies of generation 0 are drawn around the relaxed geometry."""
    work = al_run["work"]
    assert _stamp(work / "structures" / "au_bulk.extxyz") == al_run["bulk_relaxed"]
    records = State(work).data["relaxed"]
    assert set(records) == {"au_bulk", "au4_on_rutile"}
    r = records["au4_on_rutile"]
    assert 1 <= r["steps"] <= 30 and r["energy_after_eV"] < r["energy_before_eV"] - 0.1
    built = loop.read_structure(load_al_config(work / "al.yaml").structures[1], ["Au", "Ti", "O"])
    kept = ase.io.read(work / "structures" / "au4_on_rutile.built.extxyz")    # where a killed relaxation restarts
    np.testing.assert_allclose(kept.positions, built.positions, atol=1e-8)
    relaxed = ase.io.read(work / "structures" / "au4_on_rutile.extxyz")
    moved = np.linalg.norm(relaxed.positions - built.positions, axis=1)
    assert moved.max() > 0.01    # (held atoms are tested below)
    data = ase.io.read(work / "structures" / "au4_on_rutile.data", format="lammps-data", atom_style="atomic")
    np.testing.assert_allclose(data.positions, relaxed.positions, atol=1e-5)
    copies = [a for a in ase.io.read(work / "initial" / "train.extxyz", index=":")
              if a.info["ennp_origin"].startswith("initial:au4_on_rutile")]


    def rms_from(reference):    # strain and wrapping aside: scaled positions, nearest image
        d = [(a.get_scaled_positions() - reference.get_scaled_positions() + 0.5) % 1 - 0.5 for a in copies]
        return np.sqrt(np.mean([(x @ reference.cell.array) ** 2 for x in d]))

    assert rms_from(relaxed) < 0.7 * rms_from(built)


def test_relaxation_with_the_labeller_finds_the_lattice_sites(tmp_path):
    """One Au atom pushed 0.15 A off its fcc site, another held: EMT through the labeller
    calculator relaxes the crystal back onto its sites (the minimum, by symmetry)."""
    from ennp.al.relaxation import relax
    from ennp.label.calculator import LabellerCalculator

    perfect = bulk("Au", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    atoms = perfect.copy()
    atoms.positions[0] += [0.15, 0.05, -0.1]
    atoms.arrays["ennp_fixed"] = np.zeros(len(atoms), int)
    atoms.arrays["ennp_fixed"][5] = 1
    relaxed, record = relax(atoms, LabellerCalculator(LabelConfig(labeller="emt"), tmp_path), 1e-4, 500)
    assert record["converged"] and record["energy_after_eV"] < record["energy_before_eV"]
    np.testing.assert_allclose(relaxed.positions, perfect.positions, atol=2e-3)
    assert (relaxed.positions[5] == atoms.positions[5]).all()


def test_two_generations_grow_data_by_selection_and_reduce_test_error(al_run):
    state = State(al_run["work"])
    sel0, train0, train1 = state.done(0, "select"), state.done(0, "train"), state.done(1, "train")
    label0 = state.done(0, "label")
    assert sel0["selected"] > 0 and (label0["labelled"], label0["failed"]) == (sel0["selected"], 0)
    assert train1["frames"] == train0["frames"] + sel0["selected"]
    for frame in sel0["selected_frames"]:
        assert sel0["trust_lo_used"] <= frame["max_devi_f"] < sel0["trust_hi"]
    # a halted run's unreached frames count as failed: (steps / every + 1) per run in all
    runs = state.done(0, "explore")["runs"]
    assert sel0["unexplored"] == sum(200 // 10 + 1 - r["frames"] for r in runs)
    assert sum(sel0["counts"].values()) == sel0["frames"] + sel0["unexplored"] == 21 * len(runs)
    e0, e1 = train0["test"]["ensemble_force_rmse"], train1["test"]["ensemble_force_rmse"]
    assert 0 < e1 < e0, (e0, e1)
    assert state.done(1, "label") is None    # the last generation is not labelled


def test_frames_carry_provenance_and_report_is_written(al_run, capsys):
    work = al_run["work"]
    data = loop.dataset(work)
    for a in data:
        assert "stand-in for DFT" in a.info["ennp_labeller"] and a.info["ennp_label_hash"]
        assert a.info["ennp_origin"].split(":")[0] in ("initial", "explore")
        assert a.info["ennp_generation"] in (0, 1)
    explored = [a for a in data if a.info["ennp_origin"].startswith("explore:gen_000/")]
    assert len(explored) == State(work).done(0, "label")["labelled"]
    assert cli(["al", "report", str(work)]) == 0
    assert (work / "report" / "al_report.png").stat().st_size > 10000
    summary = json.loads((work / "report" / "al_report.json").read_text())
    assert [g["generation"] for g in summary["generations"]] == [0, 1]
    assert summary["generations"][0]["calibration"]["frames"] == State(work).done(0, "label")["labelled"]
    # where the time went; members of one architecture compile once, the others swap weights
    first, last = (g["seconds"] for g in summary["generations"])
    assert set(first) == {"train", "deploy", "explore", "label"} and set(last) == {"train", "deploy", "explore"}
    assert all(v > 0 for v in list(first.values()) + list(last.values()))
    log = al_run["log"].read_text()
    assert log.count("weights written into the compiled template") >= 3, log[-3000:]
    # training.parallel 2: generation 1's members trained at once, sharing the cores
    assert "2 at once with" in log
    gen1 = work / "gen_001" / "train"
    assert (gen1 / "member_1" / "config.yaml").stat().st_mtime < (gen1 / "member_0" / "out" / "last.ckpt").stat().st_mtime
    # the generation's train + deploy seconds are its wall time, not the members' summed
    own = [json.loads((gen1 / f"member_{k}" / "seconds.json").read_text()) for k in (0, 1)]
    # (from the first member's config to the last one's record of its times, written as its
    # deploy returned: the model file is older by the deploy's check of the model, seconds
    # on a loaded machine)
    wall = (max((gen1 / f"member_{k}" / "seconds.json").stat().st_mtime for k in (0, 1))
            - min((gen1 / f"member_{k}" / "config.yaml").stat().st_mtime for k in (0, 1)))
    assert last["train"] < sum(r["train"] for r in own)
    assert last["train"] + last["deploy"] == pytest.approx(wall, abs=1.0)
    assert "stand-in" in summary["labeller"]
    # per structure: accurate frames of its model_devi files over the frames its runs were to give
    for name, fraction in summary["generations"][0]["accurate_by_structure"].items():
        files = list(work.glob(f"gen_000/explore/{name}_T*/model_devi.out"))
        devi = np.concatenate([np.loadtxt(f, ndmin=2)[:, 4] for f in files])
        assert fraction == pytest.approx((devi < 0.05).sum() / (21 * len(files)))
    assert set(summary["generations"][0]["accurate_by_structure"]) == {"au_bulk", "au4_on_rutile"}
    capsys.readouterr()
    assert cli(["al", "status", str(work)]) == 0
    out = capsys.readouterr().out
    assert "seconds: train" in out and "least accurate " in out
    assert "relaxed au4_on_rutile with the labeller: " in out
    assert "gen_001: done train, explore, select" in out and "generation limit" in out


def test_labelled_frames_calibrate_the_deviation(al_run):
    """Generation 0's ensemble against the labels of the frames it flagged: the deviation
    recomputed from the checkpoints is the one LAMMPS's compute wrote for each frame."""
    work = al_run["work"]
    record = json.loads((work / "gen_000" / "label" / "calibration.json").read_text())
    frames = ase.io.read(work / "gen_000" / "label" / "labelled.extxyz", index=":")
    assert record["frames"] == len(frames) == State(work).done(0, "label")["labelled"] > 0
    assert record["members"] == 2 and record["atoms"] == sum(len(a) for a in frames)
    assert record["max_devi_f"] == pytest.approx([a.info["ennp_max_devi_f"] for a in frames], rel=1e-4)
    assert all(e >= 0 for e in record["max_error"]) and record["error_over_deviation"] > 0
    assert "x its deviation" in loop.status(work).split("gen_000")[1].split("gen_001")[0]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "al.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, message", [
    (("[Au, Ti, O]", "[Au, Ti, Xx]"), r"species: unknown element\(s\) \['Xx'\]"),
    (("hi: 1.0", "hi: 0.05"), r"trust: need 0 <= trust lo < hi, got lo=0.05, hi=0.05"),
    (("size: 2", "size: 1"), r"ensemble: size must be >= 2"),
    (("temperatures: [600]", "temperatures: [600], structures: [au_slab]"),
     r"exploration.structures: unknown structure\(s\) \['au_slab'\]"),
    (("max_frames: 6", "max_frame: 6"), r"selection: unknown field\(s\) \['max_frame'\]"),
    (("steps: 200", "steps: lots"), r"exploration.steps: expected int, got 'lots'"),
    (("model_dtype: float64}", "model_dtype: float16}"),
     r"training.model: model_dtype must be float32 or float64"),
    (("batch_size: 4,", "batch_size: 4, lr: 1e-2x,"), r"training.lr: expected float, got '1e-2x'"),
    (("builder: au_fcc,", "builder: au_bcc,"), None),
])
def test_bad_configs_name_file_and_field(tmp_path, change, message):
    path = _write(tmp_path, SMALL_RUN.replace(*change))
    if message is not None:
        with pytest.raises(ConfigError, match=rf"al.yaml: {message}"):
            load_al_config(path)
    with pytest.raises((ConfigError, ValueError), match=message or r"unknown builder 'au_bcc'"):
        loop.init_run(path, tmp_path / "run")


def test_missing_pseudopotential_and_foreign_elements_are_named(tmp_path, capsys):
    (tmp_path / "pp").mkdir()
    for el in ("Au", "O"):
        (tmp_path / "pp" / f"{el}.upf").write_text("")
    path = _write(tmp_path, SMALL_RUN.replace("label: {labeller: sevennet}",
                                              "label: {labeller: qe, qe: {pseudo_dir: pp}}"))
    with pytest.raises(ConfigError, match=r"al.yaml: label.qe.pseudo_dir: no pseudopotential for Ti"):
        load_al_config(path)
    path = _write(tmp_path, SMALL_RUN.replace("[Au, Ti, O]", "[Au, O]"))
    assert cli(["al", "init", str(path), str(tmp_path / "run")]) == 2
    assert "structures[au4_on_rutile]: element(s) ['Ti'] not in species" in capsys.readouterr().err
    assert cli(["al", "run", str(tmp_path / "nowhere")]) == 2
    assert "not an active-learning run" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["science_au_tio2", "science_mos2"])
def test_science_configs_build_their_structures_in_boxes(tmp_path, name):
    """The AL runs behind the science examples initialise: every structure is built, in a box
    LAMMPS can run, with the elements the config names."""
    path = Path(loop.__file__).parent / f"{name}.yaml"
    work = loop.init_run(path, tmp_path / "run")
    config = load_al_config(path)
    for s in config.structures:
        atoms = ase.io.read(work / "structures" / f"{s.name}.extxyz")
        assert atoms.cell.rank == 3 and atoms.pbc.all(), s.name
        assert set(atoms.get_chemical_symbols()) <= set(config.species)
        # no pair (images included) closer than the shortest bond here (C-C 1.42 A)
        assert min(atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]) > 1.4, s.name


def test_a_cluster_without_a_box_is_named(tmp_path, capsys):
    path = _write(tmp_path, SMALL_RUN.replace("[Au, Ti, O]", "[Au, Ti, O, Mo, S]").replace(
        "  - {name: au_bulk,", "  - {name: flake, builder: mos2_flake, args: {size: 10}}\n  - {name: au_bulk,"))
    assert cli(["al", "init", str(path), str(tmp_path / "run")]) == 2
    assert "al.yaml: structures[flake]: the structure has no full cell" in capsys.readouterr().err
    flake = loop.init_run(_write(tmp_path, SMALL_RUN.replace("[Au, Ti, O]", "[Au, Ti, O, Mo, S]").replace(
        "  - {name: au_bulk,", "  - {name: flake, builder: mos2_flake, args: {size: 10, vacuum: 5}}\n"
        "  - {name: au_bulk,")), tmp_path / "run2") / "structures" / "flake.extxyz"
    atoms = ase.io.read(flake)
    pos = atoms.get_scaled_positions() @ atoms.cell.array    # 5 A of vacuum on every side
    assert np.allclose(pos.min(axis=0), 5.0) and np.allclose(atoms.cell.lengths() - pos.max(axis=0), 5.0)


def test_second_run_on_same_directory_is_refused(tmp_path):
    path = _write(tmp_path, SMALL_RUN)
    work = loop.init_run(path, tmp_path / "run")
    with pytest.raises(RuntimeError, match="already holds an active-learning run"):
        loop.init_run(path, work)
    with exclusive(work):
        with pytest.raises(RuntimeError, match="another `ennp al run` is working"):
            loop.run(work)


def test_init_refuses_leftovers_of_another_run(tmp_path):
    # what a run moved away mid-generation leaves: a generation's labels, no state.json
    path = _write(tmp_path, SMALL_RUN)
    (tmp_path / "run" / "gen_004" / "label").mkdir(parents=True)
    with pytest.raises(RuntimeError, match=r"holds gen_004 of another active-learning run but no state.json"):
        loop.init_run(path, tmp_path / "run")
    assert not (tmp_path / "run" / "structures").exists()


def test_adaptive_trust_lo_lowers_to_get_enough_candidates():
    devi = [0.01, 0.02, 0.03, 0.04, 0.06, 0.5]
    assert adaptive_trust_lo(devi, 0.05, 0.4, 0.0, 1) == 0.05          # enough already
    assert adaptive_trust_lo(devi, 0.05, 0.4, 0.0, 3) == 0.03          # two more: 0.04, 0.03
    assert adaptive_trust_lo(devi, 0.05, 0.4, 0.035, 9) == 0.04        # not below lo_min


def test_member_config_sets_data_seeds_and_warm_start(tmp_path):
    from ennp.train.nequip_config import ModelSettings, nequip_config

    template = nequip_config("x.xyz", ModelSettings(type_names=("Au",)))
    cfg = member_config(template, tmp_path / "d.extxyz", 7, None)
    assert cfg["seed"] == cfg["data"]["seed"] == cfg["training_module"]["model"]["seed"] == 7
    assert cfg["data"]["split_dataset"]["dataset"]["file_path"] == str((tmp_path / "d.extxyz").resolve())
    warm = member_config(template, tmp_path / "d.extxyz", 8, tmp_path / "last.ckpt")
    assert warm["training_module"]["model"] == {"_target_": "nequip.model.ModelFromCheckpoint",
                                                "checkpoint_path": str((tmp_path / "last.ckpt").resolve())}
    assert template["training_module"]["model"]["seed"] == 1    # the template is not modified


@pytest.mark.parametrize("resample", [True, False])
def test_bootstrap_members_train_on_their_own_resample(tmp_path, monkeypatch, resample):
    """ensemble.bootstrap: each member trains (and records its domain) on its own resample of
    the generation's frames, the same one when it is trained again; without it, on them all."""
    import ennp.deploy.export as export
    import ennp.train.nequip_config as nequip_config
    import yaml
    from ase.calculators.singlepoint import SinglePointCalculator
    from ennp.al.training import train_members

    (tmp_path / "nequip_template.yaml").write_text(yaml.safe_dump(
        nequip_config.nequip_config("DATA.extxyz", nequip_config.ModelSettings(type_names=("Au",)))))
    frames = _au_frames(12)
    for k, a in enumerate(frames):
        a.calc = SinglePointCalculator(a, energy=-k, forces=np.zeros((len(a), 3)))
    trained, deployed = {}, {}

    def fake_train(config, workdir, **kw):
        trained[Path(workdir).name] = config
        (Path(workdir) / "out").mkdir(parents=True)
        (Path(workdir) / "out" / "last.ckpt").write_text("ckpt")
        return Path(workdir) / "out" / "last.ckpt"

    def fake_deploy(ckpt, out, training_data, progress):
        deployed[Path(out).parent.name] = Path(training_data)
        Path(out).write_text("model")

    monkeypatch.setattr(nequip_config, "train", fake_train)
    monkeypatch.setattr(export, "deploy", fake_deploy)
    gen = tmp_path / "gen_000"

    def member_frames():
        train_members(tmp_path, gen, frames, 3, 5, resample, None, parallel=2, progress=lambda m: None)
        files = {m: Path(c["data"]["split_dataset"]["dataset"]["file_path"]) for m, c in trained.items()}
        assert files == deployed
        assert all(c["seed"] == 5 + int(m[-1]) for m, c in trained.items())
        return {m: [a.get_potential_energy() for a in ase.io.read(f, ":")] for m, f in files.items()}

    first = member_frames()
    originals = [a.get_potential_energy() for a in frames]    # each frame's label names it
    for keys in first.values():
        assert len(keys) == len(frames) and set(keys) <= set(originals)
    if not resample:
        assert all(keys == originals for keys in first.values())
        return
    assert all(len(set(keys)) < len(frames) for keys in first.values())    # drawn with replacement
    assert len({tuple(keys) for keys in first.values()}) == 3               # each member its own
    (gen / "train" / "member_1" / "model.nequip.pt2").unlink()             # killed before its deploy
    trained.clear()
    deployed.clear()
    again = member_frames()
    assert list(trained) == ["member_1"] and again["member_1"] == first["member_1"]


def _au_frames(n):
    frames = [bulk("Au", "fcc", a=4.08, cubic=True) for _ in range(n)]
    for k, a in enumerate(frames):
        a.rattle(0.05, seed=k)
    return frames


def test_labelling_tasks_and_workers_give_the_serial_result(tmp_path, monkeypatch):
    import ennp.label.backends as backends

    started, real_popen = [], subprocess.Popen

    def popen(cmd, *args, **kw):
        if "label" in cmd:
            started.append(kw.get("env"))
        return real_popen(cmd, *args, **kw)

    monkeypatch.setattr(backends.subprocess, "Popen", popen)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    frames, config = _au_frames(5), LabelConfig(labeller="emt")
    serial, _ = label_structures(frames, config, tmp_path / "serial.extxyz", progress=False)
    # two array tasks: the first leaves the collection to whoever finishes last
    assert label_structures(frames, config, tmp_path / "t.extxyz", progress=False, task=0, tasks=2)[0] == 3
    assert not (tmp_path / "t.extxyz").exists()
    assert label_structures(frames, config, tmp_path / "t.extxyz", progress=False, task=1, tasks=2)[0] == 5
    ase.io.write(tmp_path / "in.extxyz", frames)
    (tmp_path / "label.yaml").write_text("label: {labeller: emt}\n")
    n, failed = label_file(tmp_path / "in.extxyz", tmp_path / "w.extxyz", config, tmp_path / "label.yaml",
                           "label", workers=2, progress=False)
    assert (serial, n, failed) == (5, 5, {})
    # the two workers share this process's cores instead of taking all of them each
    assert [e["OMP_NUM_THREADS"] for e in started] == [str(max(1, len(os.sched_getaffinity(0)) // 2))] * 2
    assert shared_cores_env(2, {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"    # the user's setting wins
    ref = ase.io.read(tmp_path / "serial.extxyz", index=":")
    for name, atol in (("t.extxyz", 1e-10), ("w.extxyz", 1e-6)):    # w: positions went through a file
        got = ase.io.read(tmp_path / name, index=":")
        assert [a.info["ennp_source_index"] for a in got] == [0, 1, 2, 3, 4]
        np.testing.assert_allclose([a.get_potential_energy() for a in got],
                                   [a.get_potential_energy() for a in ref], rtol=0, atol=atol)
    with pytest.raises(ValueError, match="holds labels of other structures"):
        label_structures(_au_frames(4), config, tmp_path / "serial.extxyz", progress=False)


def test_label_job_array_on_slurm_gives_the_serial_result(slurm, tmp_path, monkeypatch):
    """backend kind slurm on a real (loopback) Slurm: an array of 2 tasks rendered from
    jobs/stage.sbatch with the backend's resources; the same labels as one process."""
    from ennp.submit.plan import Resources

    monkeypatch.setenv("SLURM_CONF", slurm.env()["SLURM_CONF"])
    frames, config = _au_frames(5), LabelConfig(labeller="emt")
    label_structures(frames, config, tmp_path / "serial.extxyz", progress=False)
    ase.io.write(tmp_path / "in.extxyz", frames)
    (tmp_path / "label.yaml").write_text("label: {labeller: emt}\n")
    n, failed = label_file(tmp_path / "in.extxyz", tmp_path / "s.extxyz", config, tmp_path / "label.yaml", "label",
                           kind="slurm", workers=2, resources=Resources(time="00:05:00"), progress=False)
    assert (n, failed) == (5, {})
    script = (tmp_path / "label.sbatch").read_text()
    assert "#SBATCH --time=00:05:00" in script and "--task $SLURM_ARRAY_TASK_ID --tasks 2" in script
    assert len(list(tmp_path.glob("label_*_*.out"))) == 2    # one log per array task
    ref, got = (ase.io.read(tmp_path / f, index=":") for f in ("serial.extxyz", "s.extxyz"))
    np.testing.assert_allclose([a.get_potential_energy() for a in got], [a.get_potential_energy() for a in ref],
                               rtol=0, atol=1e-6)


def test_al_run_submit_records_the_loop_job(tmp_path):
    """ennp al run W --submit: the loop as one job with the resources of slurm.loop."""
    from chain_helpers import fake_sbatch

    env = fake_sbatch(tmp_path)
    path = _write(tmp_path, SMALL_RUN.replace(
        "label: {labeller: sevennet}",
        "label: {labeller: sevennet}\nbackend: {kind: slurm, workers: 4}\n"
        "slurm: {label: {time: '01:00:00'}, loop: {time: '48:00:00', gpus: 1, requeue_s: 600}}"))
    work = tmp_path / "run"
    assert cli(["al", "init", str(path), str(work)]) == 0
    proc = subprocess.run([ENNP, "al", "run", str(work), "--submit"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "al: submitted job 4242" in proc.stdout
    script = (work / "al.sbatch").read_text()
    for line in ("#SBATCH --time=48:00:00", "#SBATCH --gpus-per-node=1", "#SBATCH --signal=B:USR1@600",
                 f"al run {work.resolve()} &"):
        assert line in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert loop.load_run(work)[1].resources("label").time == "01:00:00"


def test_embedded_labeller_is_sevennet_and_survives_float64_default(tmp_path):
    """The labels are SevenNet-0's own, also when float64 is torch's default dtype
    (nequip sets it process-wide once it has loaded a model)."""
    import torch
    from sevenn.calculator import SevenNetCalculator

    from ennp.builders import au_on_rutile

    atoms = au_on_rutile()
    atoms.rattle(0.05, seed=3)
    ref = atoms.copy()
    before = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float32)
        ref.calc = SevenNetCalculator("7net-0", device="cpu")
        ref_f, ref_e = ref.get_forces(), ref.get_potential_energy()
        torch.set_default_dtype(torch.float64)
        label_structures([atoms], LabelConfig(labeller="sevennet"), tmp_path / "o.extxyz", progress=False)
        assert torch.get_default_dtype() == torch.float64    # left as it was
    finally:
        torch.set_default_dtype(before)
    (got,) = ase.io.read(tmp_path / "o.extxyz", index=":")
    np.testing.assert_allclose(got.get_forces(), ref_f, rtol=0, atol=1e-5)
    assert got.get_potential_energy() == pytest.approx(ref_e, abs=1e-5)
    assert got.info["ennp_labeller"] == "sevennet:7net-0 (stand-in for DFT)"


def test_each_generation_explores_with_its_members_as_one_package(al_run):
    """The loop joins a generation's deployed members into one ensemble package, the members'
    own compiled models; its member 0 drives the exploration MD and the compute takes it from
    the pair and evaluates member 1."""
    work = al_run["work"]
    state = State(work)
    for gen in (0, 1):
        train = state.done(gen, "train")
        package = Path(train["package"])
        assert package == loop.gen_dir(work, gen) / "train" / "ensemble.nequip.pt2"
        assert members_in(package) == 2
        assert package_models(package) == {name: files for k, m in enumerate(train["models"])
                                           for name, files in package_models(m, f"member{k}" if k else "model").items()}
        assert train["seconds"]["deploy"] > 0
        runs = state.done(gen, "explore")["runs"]
        assert runs
        for run in runs:
            log = (loop.gen_dir(work, gen) / "explore" / run["run"] / "log.lammps").read_text()
            loaded = [line for line in log.splitlines() if line.startswith("ennp: AOTInductor model")]
            assert loaded and all(f"model '{package}'" in line and "2 members" in line for line in loaded)
            assert f"member 0 of '{package}' taken from pair_style ennp's evaluation" in log


def package_models(path, rename=None) -> dict:
    """model name -> {file name: bytes} of the AOTInductor models in a package (a single
    model's under ``rename``), without the archive's root folder, the files' hash names and
    the metadata (member 0's gets the package's)."""
    import zipfile

    models = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if "/data/aotinductor/" in name and not name.endswith("_metadata.json"):
                model, file = name.split("/data/aotinductor/")[1].split("/", 1)
                models.setdefault(rename or model, {})[file.split(".", 1)[1]] = z.read(name)
    return models


def test_export_writes_a_bundle_that_says_what_the_run_knows(al_run, tmp_path, capsys):
    import yaml

    work = al_run["work"]
    state = State(work)
    assert cli(["al", "export", str(work), str(tmp_path / "b")]) == 0
    bundle = yaml.safe_load((tmp_path / "b" / "bundle.yaml").read_text())
    assert bundle["generation"] == 1 and bundle["species"] == ["Au", "Ti", "O"]
    assert bundle["test"] == state.done(1, "train")["test"]
    assert bundle["trust"] == {"lo": 0.05, "hi": 1.0}
    assert bundle["labeller"]["name"] == "sevennet" and len(bundle["labeller"]["settings_hash"]) > 8
    assert bundle["r_max"] > 0 and bundle["num_layers"] >= 1
    for k, (member, model) in enumerate(zip(bundle["members"], state.done(1, "train")["models"])):
        assert (tmp_path / "b" / member).read_bytes() == Path(model).read_bytes()
        assert (tmp_path / "b" / bundle["checkpoints"][k]).is_file()
    frames = loop.training_frames(work, 1)
    domain = bundle["training_domain"]
    assert domain["frames"] == len(frames) == state.done(1, "train")["frames"]
    by_hand = min_distances_by_hand(frames, ["Au", "Ti", "O"], bundle["r_max"])
    assert set(domain["min_distance_A"]) == set(by_hand)
    for pair, d in by_hand.items():
        assert domain["min_distance_A"][pair] == pytest.approx(d, abs=1e-9)
    # the members record the same domain (the loop deploys with their training data)
    record = member_metadata(tmp_path / "b" / bundle["members"][0])["ennp_min_distance"]
    assert {k: float(v) for k, v in (item.split(":") for item in record.split())} == \
        pytest.approx(domain["min_distance_A"], rel=1e-5)
    # generation 1 stopped before labelling: the calibration is generation 0's
    kept = json.loads((work / "gen_000" / "label" / "calibration.json").read_text())
    assert bundle["calibration"]["generation"] == 0
    assert bundle["calibration"]["error_over_deviation"] == kept["error_over_deviation"]
    capsys.readouterr()
    assert cli(["bundle", "check", str(tmp_path / "b")]) == 0
    assert "bundle OK" in capsys.readouterr().out
    # --ensemble: the same members as one package, each member's model the member's own file
    assert cli(["al", "export", str(work), str(tmp_path / "e"), "--ensemble"]) == 0
    one = yaml.safe_load((tmp_path / "e" / "bundle.yaml").read_text())
    assert one["members"] == ["ensemble.nequip.pt2"] and len(one["checkpoints"]) == 2
    assert {k: v for k, v in one.items() if k != "members"} == {k: v for k, v in bundle.items() if k != "members"}
    models = [Path(m) for m in state.done(1, "train")["models"]]
    assert package_models(tmp_path / "e" / "ensemble.nequip.pt2") == \
        {name: files for k, m in enumerate(models) for name, files in package_models(m, f"member{k}" if k else "model").items()}
    assert members_in(tmp_path / "e" / "ensemble.nequip.pt2") == 2
    capsys.readouterr()
    assert cli(["bundle", "check", str(tmp_path / "e")]) == 0
    assert "ensemble.nequip.pt2 (2 members) types" in capsys.readouterr().out
    # an earlier generation on request; one that did not train, or a folder that holds a bundle, is refused
    assert cli(["al", "export", str(work), str(tmp_path / "b0"), "--generation", "0"]) == 0
    assert yaml.safe_load((tmp_path / "b0" / "bundle.yaml").read_text())["generation"] == 0
    assert cli(["al", "export", str(work), str(tmp_path / "b5"), "--generation", "5"]) == 2
    assert "generation 5 has not finished training" in capsys.readouterr().err
    assert cli(["al", "export", str(work), str(tmp_path / "b")]) == 2
    assert "already holds a bundle" in capsys.readouterr().err
