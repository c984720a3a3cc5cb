"""The GPU of each rank (plugin/ennp_device.h), with fake device counts: the ranks of a node
share its GPUs round-robin, so 2 ranks and 1 GPU both use cuda:0."""

import subprocess
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugin"
PROGRAM = r"""
#include "ennp_device.h"
#include <cstdio>
int main(int argc, char **argv) {
  for (int ranks = 1; ranks <= 8; ranks++)
    for (int gpus = 0; gpus <= 4; gpus++)
      for (int r = 0; r < ranks; r++) {
        try {
          std::printf("%d %d %d %d\n", ranks, gpus, r, ennp::gpu_for_rank(r, gpus));
        } catch (const std::invalid_argument &e) {
          std::printf("%d %d %d error %s\n", ranks, gpus, r, e.what());
        }
      }
}
"""


@pytest.fixture(scope="module")
def choices(tmp_path_factory):
    d = tmp_path_factory.mktemp("device")
    (d / "choose.cpp").write_text(PROGRAM)
    subprocess.run(["g++", "-std=c++17", "-I", str(PLUGIN), str(d / "choose.cpp"), "-o", str(d / "choose")],
                   check=True)
    rows = [line.split(maxsplit=3) for line in subprocess.run([str(d / "choose")], capture_output=True,
                                                               text=True, check=True).stdout.splitlines()]
    return {(int(a), int(b), int(c)): v for a, b, c, v in rows}


def test_one_gpu_is_shared_by_every_rank(choices):
    assert {choices[(ranks, 1, r)] for ranks in range(1, 9) for r in range(ranks)} == {"0"}


def test_ranks_spread_over_the_gpus_and_each_gpu_is_used(choices):
    for gpus in (2, 3, 4):
        for ranks in range(gpus, 9):
            used = [int(choices[(ranks, gpus, r)]) for r in range(ranks)]
            assert set(used) == set(range(gpus))    # no idle GPU, no index past the last one
            assert max(used.count(g) for g in range(gpus)) - min(used.count(g) for g in range(gpus)) <= 1


def test_no_gpu_is_an_error(choices):
    assert choices[(2, 0, 1)].startswith("error no CUDA device visible")
