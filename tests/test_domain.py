"""The training domain in the model: ``ennp deploy --data`` records each element pair's smallest
distance in the training data; pair_style ennp warns once per run (``min_dist auto``: stops)
when two atoms come closer than that by more than the tolerance."""

from __future__ import annotations

import json
import zipfile

import ase.io
import pytest
from ase.io.lammpsdata import write_lammps_data

from conftest import ELEMENTS, min_distances_by_hand
from ennp.deploy.export import deploy
from ennp.lammps.run import lammps_error, run_lammps
from lammps_helpers import write_input
from test_errors import lammps_fails, with_metadata


def metadata(model) -> dict:
    with zipfile.ZipFile(model) as z:
        name = next(n for n in z.namelist() if n.endswith("_metadata.json"))
        return json.loads(z.read(name))


@pytest.fixture(scope="module")
def domain_model(mix_model, tmp_path_factory):
    """mix_model deployed again with its training data (a weight swap into the cached template)."""
    out = tmp_path_factory.mktemp("domain") / "mix_domain.nequip.pt2"
    deploy(mix_model["checkpoint"], out, training_data=mix_model["data"])
    return {"model": out, "frames": ase.io.read(mix_model["data"], index=":")}


def parse_record(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split(":") for item in text.split())}


def test_deploy_records_the_minimum_distance_of_each_pair(domain_model, mix_model):
    meta = metadata(domain_model["model"])
    record = parse_record(meta["ennp_min_distance"])
    reference = min_distances_by_hand(domain_model["frames"], ELEMENTS, float(meta["r_max"]))
    assert record.keys() == reference.keys() and len(record) == 6
    for pair, d in reference.items():
        assert record[pair] == pytest.approx(d, rel=1e-5), pair
    assert meta["ennp_domain_frames"] == str(len(domain_model["frames"]))
    assert "ennp_min_distance" not in metadata(mix_model["deployed"])    # without --data: no record


def close_pair(record, factor, a="Au", b="O", x0=8.0):
    """A 12 A periodic box: atom 1 (``a``) and atom 2 (``b``) at ``factor`` x their pair's
    training minimum, near x = x0 (the upper half: rank 1's on 2 ranks), and two more atoms
    beyond the cutoff of everything. Returns (atoms, (1, 2), the pair's name)."""
    from ase import Atoms

    pair = "-".join(sorted((a, b), key=ELEMENTS.index))
    d = factor * record[pair]
    atoms = Atoms([a, b, "Ti", "Au"], cell=[12, 12, 12], pbc=True,
                  positions=[[x0, 2, 2], [x0 + d, 2, 2], [2, 8, 8], [x0, 8, 8]])
    return atoms, (1, 2), pair


def run_md(tmp_path, atoms, model, pair_args="", nprocs=1, steps=5, check=True):
    """Two runs of ``steps`` steps without integration: the atoms stay where they are."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_lammps_data(tmp_path / "data.lmp", atoms, specorder=ELEMENTS, masses=True, units="metal",
                      atom_style="atomic")
    write_input(tmp_path / "in.md", "data.lmp", f"ennp {model} {pair_args}", "* * Au Ti O",
                run=f"thermo 1\nrun {steps}\nrun {steps}")
    proc = run_lammps(tmp_path / "in.md", tmp_path, nprocs=nprocs, check=check, timeout=300)
    return proc, (tmp_path / "log.lammps").read_text()


def test_silent_on_the_training_frames(domain_model, tmp_path):
    for k, atoms in enumerate(domain_model["frames"][:4]):
        _, log = run_md(tmp_path / f"f{k}", atoms, domain_model["model"], steps=0)
        assert "Step" in log
        assert "WARNING: pair_style ennp" not in log and "training domain" not in log


@pytest.mark.parametrize("nprocs", [1, 2])
def test_a_close_pair_is_named_once_per_run(domain_model, tmp_path, nprocs):
    """At 80% of the training minimum: one warning per run (two runs here), naming the step,
    both atoms and the pair; on 2 ranks the warning reaches rank 0's log."""
    record = parse_record(metadata(domain_model["model"])["ennp_min_distance"])
    atoms, (i, j), pair = close_pair(record, 0.8)
    _, log = run_md(tmp_path, atoms, domain_model["model"], nprocs=nprocs)
    warnings = [line for line in log.splitlines() if line.startswith("WARNING: pair_style ennp")]
    assert len(warnings) == 2, warnings
    el_i, el_j = atoms[i - 1].symbol, atoms[j - 1].symbol
    assert f"atoms {i} ({el_i}) and {j} ({el_j}) are " in warnings[0] or \
           f"atoms {j} ({el_j}) and {i} ({el_i}) are " in warnings[0]
    assert f"apart at step 0, closer than 90% of the smallest {pair} distance in the model's training data " \
           f"({record[pair]:.4g} A)" in warnings[0]


def test_tolerance_and_min_dist_auto(domain_model, mix_model, tmp_path):
    record = parse_record(metadata(domain_model["model"])["ennp_min_distance"])
    atoms, _, pair = close_pair(record, 0.95, "Ti", "O")
    _, log = run_md(tmp_path / "within", atoms, domain_model["model"])    # inside the 10% tolerance
    assert "training domain" not in log
    _, log = run_md(tmp_path / "tight", atoms, domain_model["model"], "domain_tol 0.01")
    assert "training domain" in log
    atoms, _, pair = close_pair(record, 0.8, "Au", "Au")
    proc, _ = run_md(tmp_path / "auto", atoms, domain_model["model"], "min_dist auto", check=False)
    message = lammps_error(tmp_path / "auto" / "log.lammps", proc)
    assert proc.returncode != 0 and f"smallest {pair} distance" in message and "(min_dist auto)" in message
    # models without the record run as before; 'min_dist auto' needs the record
    _, log = run_md(tmp_path / "plain", atoms, mix_model["deployed"])
    assert "training domain" not in log
    for sub in ("norecord", "tol"):
        (tmp_path / sub).mkdir()
    assert "'min_dist auto' needs a model that records its training domain" in \
        lammps_fails(tmp_path / "norecord", f"ennp {mix_model['deployed']} min_dist auto")
    assert "domain_tol must be in [0, 1)" in \
        lammps_fails(tmp_path / "tol", f"ennp {domain_model['model']} domain_tol 1.5")


def test_a_bad_record_is_named(domain_model, tmp_path):
    bad = with_metadata(domain_model["model"], tmp_path / "bad.nequip.pt2", ennp_min_distance="Au-Zr:2.0")
    assert "ennp_min_distance entry 'Au-Zr:2.0' is not El1-El2:distance" in lammps_fails(tmp_path, f"ennp {bad}")


def test_deploy_data_errors(mix_model, tmp_path):
    from ase import Atoms

    ase.io.write(tmp_path / "zr.extxyz", Atoms("Zr2", positions=[[0, 0, 0], [2, 0, 0]], cell=[5, 5, 5], pbc=True))
    with pytest.raises(ValueError, match=r"elements \['Zr'\] are not in the model"):
        deploy(mix_model["checkpoint"], tmp_path / "x.nequip.pt2", training_data=tmp_path / "zr.extxyz")
    with pytest.raises(ValueError, match="no such file"):
        deploy(mix_model["checkpoint"], tmp_path / "x.nequip.pt2", training_data=tmp_path / "none.extxyz")
