"""Labelling: ennp's QE labeller against ASE's Espresso called directly; failures; config errors."""

import json

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from ennp.cli import main as cli
from ennp.config import ConfigError
from ennp.label.labelling import LabelConfig, label_structures, load_label_config
from ennp.label.pseudos import pseudodojo_dir, pseudopotentials
from ennp.label.qe import QESettings, command, input_data, kpoint_grid, label_qe

SETTINGS = QESettings(ecutwfc=30, kspacing=0.6, nprocs=2)


def diamond(shift=(0.05, -0.03, 0.02)):
    atoms = bulk("C", "diamond", a=3.57)
    atoms.positions[0] += shift
    return atoms


def test_qe_labeller_matches_ase_espresso(tmp_path):
    from ase.calculators.espresso import Espresso, EspressoProfile

    atoms = diamond()
    ours = label_qe(atoms, SETTINGS, tmp_path / "ennp")
    assert ours.ok and ours.attempts == 1
    ref = atoms.copy()
    kpts = kpoint_grid(atoms, SETTINGS.kspacing)
    ref.calc = Espresso(profile=EspressoProfile(command=command(SETTINGS, kpts), pseudo_dir=str(pseudodojo_dir())),
                        pseudopotentials={"C": "C.upf"}, kpts=kpts, input_data=input_data(SETTINGS, 0),
                        directory=str(tmp_path / "ase"))
    assert ours.atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(ours.atoms.get_forces(), ref.get_forces(), atol=1e-5)
    np.testing.assert_allclose(ours.atoms.get_stress(), ref.get_stress(), atol=1e-6)
    assert np.abs(ref.get_forces()).max() > 0.1
    assert ours.atoms.info["ennp_labeller"] == "qe" and ours.atoms.info["ennp_label_hash"]


def test_scf_failure_is_retried_then_recorded_not_added(tmp_path):
    frames = [diamond(), diamond(shift=(0.1, 0, 0))]
    config = LabelConfig(labeller="qe", qe=QESettings(ecutwfc=30, kspacing=0.6, nprocs=2,
                                                     electron_maxstep=1, retries=1))
    n, failed = label_structures(frames, config, tmp_path / "out.extxyz", progress=False)
    assert n == 0 and sorted(failed) == ["0", "1"]
    assert "attempt 1" in failed["0"] and "NOT achieved" in failed["0"]    # the retry ran
    assert (tmp_path / "out.extxyz.parts" / "work000000" / "attempt1" / "espresso.pwo").exists()
    assert "mixing_mode      = 'local-TF'" in (
        tmp_path / "out.extxyz.parts" / "work000000" / "attempt1" / "espresso.pwi").read_text()
    assert (tmp_path / "out.extxyz").read_text() == ""    # nothing labelled, nothing added
    assert json.loads((tmp_path / "out.extxyz.failed.json").read_text()) == failed


def test_label_cli_resumes_without_repeating(tmp_path, monkeypatch):
    frames = [bulk("Au", "fcc", a=4.08, cubic=True) for _ in range(3)]
    for k, a in enumerate(frames):
        a.rattle(0.05, seed=k)
    ase.io.write(tmp_path / "in.extxyz", frames)
    (tmp_path / "label.yaml").write_text("labeller: emt\n")
    calls = []
    import ennp.label.labelling as labelling
    real = labelling.label_one
    monkeypatch.setattr(labelling, "label_one", lambda *a: calls.append(1) or real(*a))
    assert cli(["label", str(tmp_path / "in.extxyz"), "--out", str(tmp_path / "out.extxyz"),
                "--config", str(tmp_path / "label.yaml")]) == 0
    assert len(calls) == 3
    # a run killed after structure 0: only that part survives; the rerun does 1 and 2 only
    parts = tmp_path / "out.extxyz.parts"
    for p in sorted(parts.glob("*.extxyz"))[1:]:
        p.unlink()
    calls.clear()
    assert cli(["label", str(tmp_path / "in.extxyz"), "--out", str(tmp_path / "out.extxyz"),
                "--config", str(tmp_path / "label.yaml")]) == 0
    assert len(calls) == 2
    out = ase.io.read(tmp_path / "out.extxyz", index=":")
    assert [a.info["ennp_source_index"] for a in out] == [0, 1, 2]
    assert all("stand-in" in a.info["ennp_labeller"] for a in out)
    assert np.abs(out[1].get_forces()).max() > 0


def test_bad_configs_name_file_and_field(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labeller: qe\nqe:\n  ecutwfc: forty\n")
    with pytest.raises(ConfigError, match=r"c.yaml: label.qe.ecutwfc: expected float"):
        load_label_config(cfg)
    cfg.write_text("labeller: qe\nqe:\n  ecut: 40\n")
    with pytest.raises(ConfigError, match=r"c.yaml: label.qe: unknown field\(s\) \['ecut'\]"):
        load_label_config(cfg)
    cfg.write_text("labeller: vasp\n")
    with pytest.raises(ConfigError, match="labeller must be one of"):
        load_label_config(cfg)
    cfg.write_text("labeller: qe\nqe:\n  mixing_beta: 1.5\n")
    with pytest.raises(ConfigError, match="mixing_beta must be in"):
        load_label_config(cfg)
    assert cli(["label", str(tmp_path / "x.xyz"), "--out", str(tmp_path / "o.xyz"), "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such configuration file" in capsys.readouterr().err


def test_missing_pseudopotential_is_named(tmp_path):
    (tmp_path / "Au.upf").write_text("")
    assert pseudopotentials(["Au"], tmp_path) == {"Au": "Au.upf"}
    with pytest.raises(FileNotFoundError, match=r"no pseudopotential for Ti in"):
        pseudopotentials(["Au", "Ti"], tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pseudopotentials(["Au"], tmp_path / "nope")
