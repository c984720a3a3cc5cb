"""Every bad input to pair_style ennp stops LAMMPS with a message naming the problem."""

import json
import zipfile

import pytest

from ase import Atoms
from ase.io.lammpsdata import write_lammps_data

from conftest import ELEMENTS, mixed_crystal
from ennp.lammps.run import lammps_error, run_lammps
from lammps_helpers import write_input
from torchscript_models import save_morse


def lammps_fails(tmp_path, pair, coeff="* * Au Ti O", atoms=None, nprocs=1, **kw):
    atoms = atoms if atoms is not None else mixed_crystal(repeat=(2, 2, 2))
    write_lammps_data(tmp_path / "data.lmp", atoms, specorder=ELEMENTS, masses=True,
                      units="metal", atom_style="atomic")
    write_input(tmp_path / "in.bad", "data.lmp", pair, coeff, **kw)
    proc = run_lammps(tmp_path / "in.bad", tmp_path, nprocs=nprocs, check=False, timeout=120)
    assert proc.returncode != 0, "LAMMPS accepted bad input"
    assert "Segmentation" not in proc.stderr and "signal" not in proc.stderr.lower()
    return lammps_error(tmp_path / "log.lammps", proc)


def with_metadata(src, dst, **changes):
    """Copy of a .nequip.pt2 whose metadata JSON files carry ``changes``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("_metadata.json"):
                meta = json.loads(data)
                meta.update(changes)
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    return dst


def test_missing_model_file(tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {tmp_path / 'nope.nequip.pt2'}")
    assert "cannot open model file" in msg and "nope.nequip.pt2" in msg


def test_not_a_model_text_file(tmp_path):
    bad = tmp_path / "notes.nequip.pt2"
    bad.write_text("hello")
    assert "is not a deployed model" in lammps_fails(tmp_path, f"ennp {bad}")


def test_not_a_model_zip(tmp_path):
    bad = tmp_path / "other.nequip.pt2"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "not a model")
    msg = lammps_fails(tmp_path, f"ennp {bad}")
    assert "is not a deployed model" in msg


def test_model_for_cuda_on_cpu_machine(mix_model, tmp_path):
    fake = with_metadata(mix_model["deployed"], tmp_path / "gpu.nequip.pt2", AOTI_DEVICE_KEY="cuda")
    msg = lammps_fails(tmp_path, f"ennp {fake}")
    assert "deployed for CUDA" in msg and "ennp deploy --device cpu" in msg


def test_model_for_other_cpu_isa(mix_model, tmp_path):
    fake = with_metadata(mix_model["deployed"], tmp_path / "arm.nequip.pt2", AOTI_CPU_ISA="SVE256")
    msg = lammps_fails(tmp_path, f"ennp {fake}")
    assert "compiled for CPU instruction set 'SVE256'" in msg


def test_model_for_other_machine(mix_model, tmp_path):
    fake = with_metadata(mix_model["deployed"], tmp_path / "m.nequip.pt2", AOTI_MACHINE="aarch64")
    assert "compiled for aarch64" in lammps_fails(tmp_path, f"ennp {fake}")


def test_unknown_element(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}", coeff="* * Au Ti Zr")
    assert "element 'Zr' (atom type 3) is not in the model" in msg and "Au Ti O" in msg


def test_wrong_number_of_elements(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}", coeff="* * Au Ti")
    assert "3 element names (one per atom type), got 2" in msg


def test_units_other_than_metal(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}", units="real")
    assert "requires 'units metal'" in msg


def test_newton_pair_off(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}", newton="off")
    assert "requires newton pair on" in msg


def test_atoms_too_close(mix_model, tmp_path):
    atoms = Atoms("AuO", positions=[[5, 5, 5], [5.05, 5, 5]], cell=[10, 10, 10], pbc=True)
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}", atoms=atoms)
    assert "apart at step 0, closer than min_dist" in msg


def test_nan_output_reports_step(tmp_path):
    model = save_morse(tmp_path / "nan.nequip.pth", ELEMENTS, make_nan=True)
    msg = lammps_fails(tmp_path, f"ennp {model}")
    assert "at step 0" in msg and "NaN or Inf" in msg


def test_torchscript_without_layers_on_mpi(tmp_path):
    model = save_morse(tmp_path / "m.nequip.pth", ELEMENTS, num_layers=0)
    msg = lammps_fails(tmp_path, f"ennp {model}", nprocs=2)
    assert "add 'num_layers N' to pair_style" in msg


def test_unknown_pair_style_keyword(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']} cutoff 3")
    assert "unknown keyword 'cutoff'" in msg


@pytest.mark.parametrize("keywords, message", [
    ("min_dist", "keyword min_dist is missing its value"),
    ("num_layers 2 min_dist", "keyword min_dist is missing its value"),
    ("num_layers", "keyword num_layers is missing its value"),
    ("min_dist -0.5", "min_dist must be a distance >= 0 (A), got -0.5"),
    ("min_dist nan", "Expected floating point parameter instead of 'nan'"),
])
def test_pair_style_keyword_without_or_with_bad_value(mix_model, tmp_path, keywords, message):
    assert message in lammps_fails(tmp_path, f"ennp {mix_model['deployed']} {keywords}")


def test_per_atom_virial_is_refused(mix_model, tmp_path):
    msg = lammps_fails(tmp_path, f"ennp {mix_model['deployed']}",
                       extra="", run="compute s all stress/atom NULL\ndump s all custom 1 s.txt c_s[1]\nrun 0")
    assert "does not compute per-atom virials" in msg
