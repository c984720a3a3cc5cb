"""The installed package registers its plugin with LAMMPS: plain `lmp` knows pair_style ennp."""

import sys
from pathlib import Path

import ennp
from ennp.plugin import plugin_dir, plugin_path
from ennp.lammps.run import run_lammps


def test_lmp_loads_plugin_from_entry_point(mix_model, tmp_path):
    assert plugin_path().is_file()
    (tmp_path / "in.lmp").write_text(f"""
units metal
region b block 0 8 0 8 0 8
create_box 1 b
create_atoms 1 single 1 1 1
create_atoms 1 single 3.8 1 1
mass 1 196.97
pair_style ennp {mix_model['deployed']}
pair_coeff * * Au
run 0
""")
    run_lammps(tmp_path / "in.lmp", tmp_path)    # the input has no `plugin load`
    log = (tmp_path / "log.lammps").read_text()
    assert f"Loaded 1 plugins from {plugin_dir()}" in log
    assert Path(plugin_dir()).is_relative_to(Path(sys.prefix)), "plugin must live in the venv"
    # an editable install (install.sh): the package loads from the checkout, its templates too
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists() and Path(ennp.__file__).is_relative_to(checkout):
        assert ennp.lammps_inputs() == checkout / "lammps_inputs" and ennp.job_templates() == checkout / "jobs"
    else:
        assert Path(ennp.__file__).parent / "lib" == Path(plugin_dir())
