"""Science chains driven by a model bundle: member 0 drives the MD, the ensemble watches it
(compute ennp/ensemble every N steps), and each result JSON says how far to trust it.

The numbers of the ``uncertainty`` block are recomputed here from the files the runs
leave (DP-GEN's model_devi.out, the per-atom deviation dump), read with numpy and plain
text parsing, not with ennp's readers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from chain_helpers import kill_when, make_bundle, write_config

from ennp.config import ConfigError
from ennp.md.config import load_md_config

ENNP = str(Path(sys.executable).with_name("ennp"))

MD = {
    "species": ["Au", "Ti", "O"],
    "structure": {"file": "crystal.data"},
    "pair": {"style": "ennp", "bundle": "bundle"},
    "monitor": {"every": 10},
    "md": {"steps": 600, "every_thermo": 50, "every_dump": 100, "every_restart": 100},
}
# a small particle on rutile, short: the chains' monitoring plumbing
INTERFACE = {"builder": "particle_on_slab",
             "args": {"diameter": 12, "substrate": "rutile110", "layers": 3, "fixed": 1, "cut": "hemisphere"}}


@pytest.fixture(scope="module")
def root(mix_model, mix_model_b, tmp_path_factory):
    """A folder with a 2-member bundle (bundle/) and a 256-atom Au/Ti/O crystal (crystal.data)."""
    import ase.io
    from conftest import ELEMENTS, mixed_crystal

    root = tmp_path_factory.mktemp("monitoring")
    make_bundle(root / "bundle", [mix_model["deployed"], mix_model_b["deployed"]],
                calibration={"generation": 4, "error_over_deviation": 2.5})
    ase.io.write(root / "crystal.data", mixed_crystal((4, 4, 4), rattle=0.05), format="lammps-data",
                 specorder=ELEMENTS, masses=True)
    return root


def ennp(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([ENNP, *map(str, args)], capture_output=True, text=True, **kwargs)


def model_devi(path: Path) -> np.ndarray:
    """(steps, max_devi_f) columns of a model_devi file."""
    data = np.loadtxt(path, ndmin=2)
    return data[:, 0].astype(int), data[:, 4]


def dump_frame(path: Path, step: int) -> dict:
    """id -> eps_i (column c_ennp_devi[1]) of the frame of ``step`` in a text dump."""
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line == "ITEM: TIMESTEP" and int(lines[i + 1]) == step]
    assert len(starts) == 1, f"step {step} is {len(starts)} times in {path}"
    i = starts[0]
    n = int(lines[i + 3])
    header = lines[i + 8].split()[2:]
    rows = [line.split() for line in lines[i + 9:i + 9 + n]]
    return {int(r[header.index("id")]): float(r[header.index("c_ennp_devi[1]")]) for r in rows}


def check_block(block: dict, files: list[Path], lo: float, hi: float, every: int, members: int = 2) -> None:
    """Every number of the block against the files."""
    series = [model_devi(f) for f in files]
    d = np.concatenate([s[1] for s in series])
    assert block["monitored"] is True and block["members"] == members and block["every"] == every
    assert block["frames"] == len(d)
    assert block["fraction_above_lo"] == pytest.approx(np.mean(d >= lo))
    assert block["fraction_above_hi"] == pytest.approx(np.mean(d >= hi))
    assert block["max_devi_f_max"] == pytest.approx(d.max())
    assert block["max_devi_f_p95"] == pytest.approx(np.percentile(d, 95))
    assert block["verdict"] == ("untrusted" if d.max() >= hi else "candidate" if d.max() >= lo else "trusted")
    k = int(np.argmax([s[1].max() for s in series]))
    step = int(series[k][0][np.argmax(series[k][1])])
    assert block["worst"]["step"] == step and block["worst"]["max_devi_f"] == pytest.approx(d.max())
    eps = dump_frame(files[k].with_name("devi.dump"), step)
    assert max(eps.values()) == pytest.approx(d.max(), rel=1e-5)    # the dump's eps_i and the file agree
    assert block["worst"]["atoms"] == sorted(eps, key=lambda i: -eps[i])[:10]
    assert [Path(f) for f in block["model_devi_files"]] == [f.resolve() for f in files]


def test_md_killed_after_a_checkpoint_and_resumed(root):
    """SIGKILL after the first checkpoint, then the same command: every monitored step is once in
    the model_devi file, the deviation dump has every monitored frame once, the block is right."""
    config = write_config(root / "md.yaml", MD)
    work = root / "md"
    seen = []

    def past_the_checkpoint():    # by 0.3 s: the killed run has written steps it will repeat
        if not seen and (work / "run" / "restart.100.bin").exists():
            seen.append(time.time())
        return bool(seen) and time.time() - seen[0] > 0.3

    kill_when([ENNP, "md", "run", str(config), "--out", str(work)], past_the_checkpoint,
              root / "md_killed.log", timeout=300)
    assert not (work / "md.json").exists(), "the run finished before it could be killed"
    steps_killed = model_devi(work / "run" / "model_devi.out")[0]
    assert steps_killed.max() > 100
    done = ennp("md", "run", config, "--out", work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "md segment 1" in done.stdout and "uncertainty: " in done.stdout
    steps, _ = model_devi(work / "run" / "model_devi.out")
    assert steps.tolist() == list(range(0, 601, 10))
    dumped = [int(b.split("\n")[1]) for b in (work / "run" / "devi.dump").read_text().split("ITEM: TIMESTEP")[1:]]
    assert dumped == list(range(0, 601, 10))
    block = json.loads((work / "md.json").read_text())["uncertainty"]
    check_block(block, [work / "run" / "model_devi.out"], 0.05, 0.15, 10)
    assert (work / "uncertainty.png").stat().st_size > 10_000
    # the bundle's calibration from active learning is passed on
    assert block["calibration"] == {"generation": 4, "error_over_deviation": 2.5}
    assert "in active learning its force error was 2.50 x its deviation" in done.stdout


def test_halt_names_step_deviation_and_atoms_and_the_run_resumes(root):
    """halt: true stops at the first monitored step above trust_hi; with halt off the same
    folder goes on from its last checkpoint and holds every monitored step once."""
    work = root / "halted"
    config = write_config(root / "halt.yaml", MD, {"monitor.trust_hi": 0.07, "monitor.halt": True})
    proc = ennp("md", "run", config, "--out", work)
    assert proc.returncode != 0
    steps, d = model_devi(work / "run" / "model_devi.out")
    first = int(steps[np.argmax(d > 0.07)])
    assert d.max() > 0.07 and steps[-1] == first    # stopped right there
    assert f"max_devi_f {d.max():.4g} eV/A exceeds 0.07 eV/A at step {first}; largest eps_i (eV/A) at " \
           f"atom ids " in proc.stderr
    named = re.findall(r" (\d+) \(([0-9.e-]+)\)", proc.stderr.split("atom ids")[1])
    assert len(named) == 10 and float(named[0][1]) == pytest.approx(d.max(), rel=2e-3)    # ten atoms, largest first
    config = write_config(root / "halt.yaml", MD, {"monitor.trust_hi": 0.07})
    proc = ennp("md", "run", config, "--out", work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert model_devi(work / "run" / "model_devi.out")[0].tolist() == list(range(0, 601, 10))
    assert json.loads((work / "md.json").read_text())["uncertainty"]["verdict"] == "untrusted"


HEAT = {
    "species": ["Ti", "O", "Au"], "structure": INTERFACE, "pair": {"style": "ennp", "bundle": "bundle"},
    "monitor": {"every": 20, "trust_lo": 0.04},
    # free_layers 0: the 3-layer slab (fixed, cold, surface) keeps the plumbing test small
    "nemd": {"methods": ["steady"], "T0": 100, "T_hot": 175, "seeds": [1], "parallel": 1, "min_steps": 0,
             "free_layers": 0, "steady": {"steps_eq": 0, "steps": 200}},
    "beam": {"conductance_from": "steady"}}


def test_heat_chain_with_a_bundle(root):
    """The NEMD runs are monitored over their measured part; steady.json gets the block."""
    config = write_config(root / "heat.yaml", HEAT)
    work = root / "heat"
    proc = ennp("heat", "run", config, "--out", work, "--until", "nemd")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    block = json.loads((work / "steady.json").read_text())["uncertainty"]
    files = [work / "steady" / "seed_1" / "model_devi.out"]
    assert model_devi(files[0])[0].tolist() == list(range(0, 201, 20))
    check_block(block, files, 0.04, 0.15, 20)
    assert f"uncertainty: {block['verdict']}" in proc.stdout and (work / "uncertainty.png").is_file()


def test_heat_chain_halts_with_the_message(root):
    config = write_config(root / "heat_halt.yaml", HEAT, {"monitor.trust_lo": 0.001, "monitor.trust_hi": 0.002,
                                                          "monitor.halt": True})
    proc = ennp("heat", "run", config, "--out", root / "heat_halt", "--until", "nemd")
    assert proc.returncode != 0 and not (root / "heat_halt" / "steady.json").exists()
    assert re.search(r"compute ennp/ensemble halt: max_devi_f [0-9.e-]+ eV/A exceeds 0.002 eV/A at step 0; "
                     r"largest eps_i \(eV/A\) at atom ids \d+", proc.stderr), proc.stderr[-2000:]


def test_vibrations_chain_with_a_bundle(root):
    """vib.json and tem.json (the frozen phonons are MD snapshots) carry the MD's block."""
    config = write_config(root / "vib.yaml", {
        "species": ["Ti", "O", "Au"], "structure": INTERFACE, "pair": {"style": "ennp", "bundle": "bundle"},
        "monitor": {"every": 20},
        "md": {"T": 100, "min_steps": 0, "steps_eq": 0, "steps": 200, "every": 20},
        "analysis": {"flake": ["Au"], "blocks": 2},
        "tem": {"snapshots": 2, "microscope": {"sampling_A": 0.2}}})
    work = root / "vib"
    proc = ennp("vibrations", "run", config, "--out", work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    block = json.loads((work / "vib.json").read_text())["uncertainty"]
    check_block(block, [work / "md" / "model_devi.out"], 0.05, 0.15, 20)
    assert json.loads((work / "tem" / "tem.json").read_text())["uncertainty"] == block
    assert json.loads((work / "vibrations.json").read_text())["uncertainty"] == block
    assert (work / "uncertainty.png").is_file()


def test_a_bundle_of_one_ensemble_package_monitors_as_its_member_files(root, ensemble_package, mix_model,
                                                                       mix_model_c):
    """A bundle whose one file is an ensemble package of two members: the package drives the MD
    with member 0, the compute takes member 0 from the pair, and every monitored step's
    deviations are those of a bundle of the same members as files."""
    short = {"md.steps": 100, "md.every_restart": 100, "md.every_dump": 50}
    make_bundle(root / "package", [ensemble_package["deployed"]])
    make_bundle(root / "files", [mix_model["deployed"], mix_model_c["deployed"]])
    blocks, devi = {}, {}
    for kind in ("package", "files"):
        config = write_config(root / f"{kind}.yaml", MD, {"pair.bundle": kind, **short})
        done = ennp("md", "run", config, "--out", root / f"md_{kind}")
        assert done.returncode == 0, done.stdout + done.stderr
        devi[kind] = np.loadtxt(root / f"md_{kind}" / "run" / "model_devi.out", ndmin=2)
        blocks[kind] = json.loads((root / f"md_{kind}" / "md.json").read_text())["uncertainty"]
    check_block(blocks["package"], [root / "md_package" / "run" / "model_devi.out"], 0.05, 0.15, 10, members=2)
    assert devi["package"][:, 0].tolist() == list(range(0, 101, 10))
    np.testing.assert_allclose(devi["package"], devi["files"], rtol=1e-9, atol=1e-12)
    assert devi["package"][:, 4].min() > 1e-4    # the members differ
    log = next((root / "md_package" / "run").glob("log*.lammps")).read_text()
    assert "member 0 of '" in log and "taken from pair_style ennp's evaluation" in log


def test_a_bundle_of_one_member_drives_without_monitoring(root, mix_model):
    folder = make_bundle(root / "single", [mix_model["deployed"]])
    config = write_config(root / "single.yaml", MD, {"pair.bundle": "single", "monitor": None})
    loaded = load_md_config(config)
    assert loaded.monitor is None and loaded.pair.model == str(folder / "m0.nequip.pt2")


@pytest.mark.parametrize("changes, message", [
    ({"pair": {"style": "ennp", "model": "bundle/m0.nequip.pt2"}}, r"md.yaml: monitor: needs pair.bundle"),
    ({"pair.model": "bundle/m0.nequip.pt2"}, r"md.yaml: pair: give 'model' or 'bundle', not both"),
    ({"pair.bundle": "nowhere"}, r"md.yaml: pair.bundle: no such folder .*nowhere"),
    ({"species": ["Au", "Ti", "O", "C"]}, r"pair.bundle: .* models \['Au', 'Ti', 'O'\]; \['C'\] of species"),
    ({"monitor.every": 30}, r"monitor.every \(30\) must divide md.every_restart \(100\)"),
    ({"monitor.trust_lo": 0.5}, r"md.yaml: monitor: need trust_lo < trust_hi, got 0.5 and 0.15"),
    ({"monitor.every": 0}, r"md.yaml: monitor: every must be >= 1"),
    ({"monitor.halt": "yes"}, r"md.yaml: monitor.halt: expected bool"),
    ({"pair": {"style": "classical", "bundle": "bundle"}}, r"md.yaml: pair: 'bundle' goes with style ennp"),
])
def test_bad_monitoring_configs(root, changes, message):
    config = write_config(root / "md.yaml", MD, changes)
    with pytest.raises(ConfigError, match=message):
        load_md_config(config)


@pytest.mark.parametrize("chain, bundle, species", [("heat", "au_tio2", ["Au", "Ti", "O"]),
                                                    ("vibrations", "mos2", ["Mo", "S", "C"])])
def test_the_production_examples_take_a_bundle(mix_model, mix_model_b, tmp_path, chain, bundle, species):
    """example_ennp.yaml, placed as in the checkout (python/ennp/CHAIN/), finds the bundle that
    `ennp al export` wrote to runs/bundles/ and monitors every 100 steps at 300 K."""
    import shutil

    import ennp
    from ennp.heat.config import load_heat_config
    from ennp.vibrations.config import load_vib_config

    folder = tmp_path / "python" / "ennp" / chain
    folder.mkdir(parents=True)
    shutil.copyfile(Path(ennp.__file__).parent / chain / "example_ennp.yaml", folder / "example_ennp.yaml")
    make_bundle(tmp_path / "runs" / "bundles" / bundle, [mix_model["deployed"], mix_model_b["deployed"]],
                species=species, trust={"lo": 0.04, "hi": 0.12})
    config = (load_heat_config if chain == "heat" else load_vib_config)(folder / "example_ennp.yaml")
    assert config.pair.bundle == str((tmp_path / "runs" / "bundles" / bundle).resolve())
    assert (config.monitor.every, config.monitor.trust_lo, config.monitor.trust_hi) == (100, 0.04, 0.12)
    assert (config.nemd.T0 if chain == "heat" else config.md.T) == 300
