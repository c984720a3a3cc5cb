"""Selection of explored frames for labelling: DP-GEN classes and farthest-point sampling."""

import numpy as np
import pytest
from ase.build import bulk

from ennp.al.exploration import unexplored_frames
from ennp.lammps.uncertainty import classify
from ennp.al.selection import (class_counts, distance_histogram,
                               farthest_point_sampling, select)


def test_classes_follow_dp_gen_boundaries():
    classes = classify([0.01, 0.05, 0.10, 0.15, 0.3], trust_lo=0.05, trust_hi=0.15)
    assert list(classes) == ["accurate", "candidate", "candidate", "failed", "failed"]
    assert class_counts(classes) == {"accurate": 1, "candidate": 2, "failed": 2}
    with pytest.raises(ValueError, match="trust_lo < trust_hi"):
        classify([0.1], 0.2, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        classify([np.nan], 0.05, 0.15)


def test_farthest_point_sampling_takes_one_per_cluster():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    pts = np.concatenate([c + 0.1 * rng.normal(size=(25, 2)) for c in centres])
    picked = farthest_point_sampling(pts, 4, first=0)
    assert sorted({p // 25 for p in picked}) == [0, 1, 2, 3]
    assert farthest_point_sampling(np.zeros((5, 3)), 3) == [0]    # duplicates only
    assert farthest_point_sampling(pts, 0) == []


def test_descriptor_is_invariant_and_discriminates():
    atoms = bulk("Au", "fcc", a=4.08, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    d0 = distance_histogram(atoms, ["Au", "O"])
    moved = atoms.copy()
    moved.translate([0.3, -1.1, 2.0])
    moved.wrap()
    moved = moved[np.random.default_rng(2).permutation(len(moved))]
    moved.rotate(33, "z", rotate_cell=True)
    np.testing.assert_allclose(distance_histogram(moved, ["Au", "O"]), d0, atol=1e-12)
    hot = atoms.copy()
    hot.rattle(0.4, seed=3)
    assert np.linalg.norm(distance_histogram(hot, ["Au", "O"]) - d0) > 0.5


def test_select_caps_and_only_candidates():
    base = bulk("Au", "fcc", a=4.08, cubic=True).repeat((2, 2, 2))
    frames = []
    for k in range(10):
        a = base.copy()
        a.rattle(0.02 + 0.05 * (k % 5), seed=k)
        frames.append(a)
    devi = np.array([0.01, 0.06, 0.07, 0.08, 0.09, 0.2, 0.11, 0.12, 0.13, 0.5])
    picked, counts = select(frames, devi, 0.05, 0.15, 3, ["Au"])
    assert counts == {"accurate": 1, "candidate": 7, "failed": 2}
    assert len(picked) == 3 and len(set(picked)) == 3
    assert all(0.05 <= devi[p] < 0.15 for p in picked)
    assert picked[0] == 8    # the largest candidate deviation first
    assert select(frames, devi, 0.05, 0.15, 0, ["Au"])[0] == []


def test_select_skips_frames_already_in_the_training_data():
    """Every exploration starts from the same structure: its first frame, once labelled, is
    known. It is still counted, but never picked again; the next candidates take its place."""
    from ennp.al.dataset import frame_key

    base = bulk("Au", "fcc", a=4.08, cubic=True).repeat((2, 2, 2))
    frames = []
    for k in range(6):
        a = base.copy()
        a.rattle(0.02 + 0.04 * k, seed=k)
        frames.append(a)
    devi = np.array([0.14, 0.06, 0.07, 0.08, 0.09, 0.10])    # the start deviates most
    assert 0 in select(frames, devi, 0.05, 0.15, 3, ["Au"])[0]
    start_again = frames[0].copy()    # the same structure from another run or generation
    picked, counts = select(frames + [start_again], np.append(devi, 0.13), 0.05, 0.15, 3, ["Au"],
                            known={frame_key(frames[0])})
    assert counts["candidate"] == 7 and len(picked) == 3
    assert 0 not in picked and 6 not in picked and picked[0] == 5    # the largest new candidate first


def test_select_per_group_takes_candidates_of_each_structure():
    """A structure with two candidate frames next to one with eight: without groups the larger
    one can take every place; with groups each gets up to max_select."""
    base = bulk("Au", "fcc", a=4.08, cubic=True).repeat((2, 2, 2))
    frames = []
    for k, amplitude in enumerate([0.02 + 0.03 * k for k in range(8)] + [0.02, 0.025]):
        a = base.copy()
        a.rattle(amplitude, seed=k)
        frames.append(a)
    devi = np.array([0.14] * 8 + [0.06, 0.07])    # the bulk frames deviate most and differ most
    groups = ["bulk"] * 8 + ["interface"] * 2
    picked, _ = select(frames, devi, 0.05, 0.15, 2, ["Au"])
    assert len(picked) == 2 and all(p < 8 for p in picked)
    picked, counts = select(frames, devi, 0.05, 0.15, 2, ["Au"], groups=groups)
    assert sorted(picked)[2:] == [8, 9] and len(picked) == 4 and counts["candidate"] == 10
    with pytest.raises(ValueError, match="9 group labels for 10 frames"):
        select(frames, devi, 0.05, 0.15, 2, ["Au"], groups=groups[:9])


def test_unexplored_frames_of_halted_runs():
    runs = [{"structure": "bulk", "frames": 21}, {"structure": "slab", "frames": 3},
            {"structure": "slab", "frames": 21}, {"structure": "bulk", "frames": 1}]
    assert unexplored_frames(runs, steps=200, every=10) == {"bulk": 20, "slab": 18}
