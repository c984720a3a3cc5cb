"""The command line: one grammar (ennp STAGE [SUBVERB], --out for outputs), --help and
--version for every verb, a one-line error naming the problem for bad input, and configs
whose floats are written in any YAML spelling loading in every chain."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

import ennp
from ennp.cli import main, parser


def verbs(p: argparse.ArgumentParser | None = None, prefix: tuple = ()) -> list[tuple]:
    """Every runnable verb of the parser, as its words: ('deploy',), ('heat', 'run'), ..."""
    p = p or parser()
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    return [v for name, q in subs[0].choices.items() for v in verbs(q, prefix + (name,))]


def test_the_grammar_has_the_documented_verbs():
    assert set(verbs()) == {
        ("deploy",), ("demo",), ("label",), ("al", "init"), ("al", "run"), ("al", "status"), ("al", "report"),
        ("al", "export"), ("al", "harvest"), ("bundle", "check"), ("heat", "run"), ("heat", "eels"), ("heat", "beam"),
        ("vibrations", "run"), ("vibrations", "analyze"), ("vibrations", "tem"), ("md", "run"),
        ("submit", "run"), ("submit", "status"), ("submit", "resubmit")}


@pytest.mark.parametrize("words", verbs(), ids=" ".join)
def test_every_verb_has_help(words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*words, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ennp {' '.join(words)}")


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"ennp {ennp.__version__}"


def test_help_defaults_come_from_the_config_dataclasses(capsys):
    from ennp.vibrations.config import AnalysisSettings
    from ennp.vibrations.tem import Microscope

    args = parser().parse_args(["vibrations", "tem", "t.dump", "--out", "o"])
    assert (args.energy, args.cs, args.sampling) == (Microscope.energy_keV, Microscope.Cs_um, Microscope.sampling_A)
    args = parser().parse_args(["vibrations", "analyze", "t.dump", "--out", "o.json"])
    assert (args.blocks, args.bin) == (AnalysisSettings.blocks, AnalysisSettings.bin)


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def bad_inputs(tmp: Path) -> dict[tuple, tuple[list, str]]:
    """One bad input per verb: the arguments after the verb, and what the error must say."""
    nowhere = str(tmp / "nowhere")
    bad_heat = write(tmp / "heat.yaml", "nemd: {dt: 2e-3, damp: -1e-1}\n")
    bad_vib = write(tmp / "vib.yaml", "md: {dt: 1e-3, steps: 10, every: 20}\n")
    bad_md = write(tmp / "md.yaml", "species: [Au]\nstructure: {builder: au_fcc}\npair: {style: classical}\n")
    bad_plan = write(tmp / "plan.yaml", "stages: [{name: a, command: 'true', after: [b]}]\n")
    bad_al = write(tmp / "al.yaml", "species: [Au]\nstructures: [{name: a, builder: au_fcc}]\ntrust: {lo: 5e-1, hi: 1e-1}\n")
    return {
        ("deploy",): ([str(tmp / "x.ckpt"), "--out", str(tmp / "m.nequip.pt2")], "no such checkpoint or package"),
        ("demo",): (["--nve", "--np", "0"], "need --np >= 1"),
        ("label",): ([str(tmp / "x.xyz"), "--out", str(tmp / "o.xyz"), "--config", str(tmp / "none.yaml")],
                     "none.yaml: no such configuration file"),
        ("al", "init"): ([str(bad_al), nowhere], "al.yaml: trust: need 0 <= trust lo < hi, got lo=0.5, hi=0.1"),
        ("al", "run"): ([nowhere], "is not an active-learning run"),
        ("al", "status"): ([nowhere], "is not an active-learning run"),
        ("al", "report"): ([nowhere], "is not an active-learning run"),
        ("al", "export"): ([nowhere, str(tmp / "bundle")], "is not an active-learning run"),
        ("al", "harvest"): ([nowhere, "--into", nowhere], "is not an active-learning run"),
        ("bundle", "check"): ([nowhere], "nowhere: not a model bundle (no bundle.yaml)"),
        ("heat", "run"): ([str(bad_heat), "--out", nowhere], "heat.yaml: nemd: dt, damp must be positive"),
        ("heat", "eels"): ([str(tmp / "none.msa"), "--out", str(tmp / "e.json")], "no such spectrum file"),
        ("heat", "beam"): (["--out", str(tmp / "b.json")], "give the conductance: --g VALUE or --conductance"),
        ("vibrations", "run"): ([str(bad_vib), "--out", nowhere], "vib.yaml: md: steps (10) must be at least every (20)"),
        ("vibrations", "analyze"): ([str(tmp / "t.dump"), "--out", str(tmp / "v.json")], "t.dump does not exist"),
        ("vibrations", "tem"): ([str(tmp / "t.dump"), "--out", str(tmp / "tem")], "t.dump does not exist"),
        ("md", "run"): ([str(bad_md), "--out", nowhere], "md.yaml: pair.style classical: stand-ins exist for"),
        ("submit", "run"): ([str(bad_plan), "--out", nowhere], "plan.yaml: stages[0].after: ['b'] are not earlier stages"),
        ("submit", "status"): ([nowhere], "no submit.json; submit a plan there first"),
        ("submit", "resubmit"): ([nowhere], "no submit.json; submit a plan there first"),
    }


def test_every_verb_has_a_bad_input_case(tmp_path):
    assert set(bad_inputs(tmp_path)) == set(verbs())


@pytest.mark.parametrize("words", verbs(), ids=" ".join)
def test_bad_input_gives_one_line_naming_the_problem(words, tmp_path, capsys):
    args, message = bad_inputs(tmp_path)[words]
    assert main([*words, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ennp {' '.join(words)}: error: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err


def test_floats_in_any_yaml_spelling_load_in_every_chain_and_in_active_learning(tmp_path):
    """PyYAML alone reads 1e-8 (no dot) as a string; ennp's loader reads it as YAML 1.2 does."""
    from ennp.al.config import load_al_config
    from ennp.heat.config import load_heat_config
    from ennp.label.labelling import load_label_config
    from ennp.md.config import load_md_config
    from ennp.vibrations.config import load_vib_config

    assert yaml.safe_load("x: 1e-8")["x"] == "1e-8"    # what plain PyYAML does
    heat = tmp_path / "heat.yaml"
    heat.write_text("nemd: {dt: 2e-3, damp: 1e-1, T0: 1e2, T_hot: 1.5E+2}\nbeam: {dose_rates: [1e5, 1e6], beta_mrad: 1e1}\n")
    h = load_heat_config(heat)
    assert (h.nemd.dt, h.nemd.damp, h.nemd.T0, h.nemd.T_hot) == (0.002, 0.1, 100.0, 150.0)
    assert h.beam.dose_rates == [1e5, 1e6] and h.beam.beta_mrad == 10.0
    vib = write(tmp_path / "vib.yaml", "md: {dt: 1e-3, damp: 5e-2}\ntem: {microscope: {sampling_A: 5e-2}}\n")
    v = load_vib_config(vib)
    assert (v.md.dt, v.md.damp, v.tem.microscope.sampling_A) == (0.001, 0.05, 0.05)
    md = write(tmp_path / "md.yaml", "species: [Mo, S, C]\nstructure: {builder: mos2_on_graphite}\n"
                                     "pair: {style: classical}\nmd: {dt: 1e-3, damp: 1e-1}\nz_fixed: -1e9\n")
    m = load_md_config(md)
    assert (m.md.dt, m.md.damp, m.z_fixed) == (0.001, 0.1, -1e9)
    al = write(tmp_path / "al.yaml", "species: [Au]\nstructures: [{name: a, builder: au_fcc}]\n"
                                     "trust: {lo: 5e-2, hi: 1.5e-1}\ntraining: {lr: 1e-2}\n"
                                     "label: {labeller: emt, qe: {conv_thr: 1e-8}}\n")
    a = load_al_config(al)
    assert (a.trust.lo, a.trust.hi, a.training.lr, a.label.qe.conv_thr) == (0.05, 0.15, 0.01, 1e-8)
    label = write(tmp_path / "label.yaml", "labeller: qe\nqe: {conv_thr: 1e-8, degauss: 2e-2}\n")
    q = load_label_config(label).qe
    assert (q.conv_thr, q.degauss) == (1e-8, 0.02)
