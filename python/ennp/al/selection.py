"""Choosing which explored configurations go to DFT.

Frames are classified as DP-GEN does by the largest per-atom force deviation
of the ensemble: accurate (< trust_lo), candidate (trust_lo <= d < trust_hi)
and failed (>= trust_hi, too far off to be physical). Among candidates, up to
N are chosen by farthest-point sampling on a structural descriptor, so that
the chosen frames differ from each other rather than being N near-copies of
one event (DP-GEN picks them at random).
"""

from __future__ import annotations

import numpy as np

# the frame classes are shared with the monitored chains (ennp.lammps.uncertainty)
from ..lammps.uncertainty import ACCURATE, CANDIDATE, FAILED, classify
from .dataset import frame_key


def class_counts(classes) -> dict[str, int]:
    classes = np.asarray(classes)
    return {c: int((classes == c).sum()) for c in (ACCURATE, CANDIDATE, FAILED)}


def farthest_point_sampling(features, k: int, first: int = 0) -> list[int]:
    """Greedy max-min selection of k rows of ``features``, starting at row ``first``."""
    x = np.asarray(features, dtype=float)
    n = len(x)
    if k <= 0 or n == 0:
        return []
    chosen = [first]
    dist = np.linalg.norm(x - x[first], axis=1)
    while len(chosen) < min(k, n):
        nxt = int(np.argmax(dist))
        if dist[nxt] == 0.0:    # only duplicates left
            break
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(x - x[nxt], axis=1))
    return chosen


def distance_histogram(atoms, species, r_cut: float = 6.0, bins: int = 24) -> np.ndarray:
    """Descriptor invariant to translation, rotation and permutation: for each
    species pair, a histogram of interatomic distances up to r_cut, per atom."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, r_cut)
    z = np.array([species.index(s) for s in atoms.get_chemical_symbols()])
    ns = len(species)
    edges = np.linspace(0.0, r_cut, bins + 1)
    out = np.zeros((ns, ns, bins))
    for a in range(ns):
        for b in range(ns):
            sel = (z[i] == a) & (z[j] == b)
            out[a, b] = np.histogram(d[sel], bins=edges)[0]
    return out.ravel() / max(len(atoms), 1)


def select(frames, max_devi_f, trust_lo: float, trust_hi: float, max_select: int,
           species, r_cut: float = 6.0, groups=None, known=()) -> tuple[list[int], dict[str, int]]:
    """Indices of up to ``max_select`` diverse candidate frames, and the class counts.

    Farthest-point sampling starts from the candidate with the largest deviation. With
    ``groups`` (a label per frame, e.g. the structure it was explored from), up to
    ``max_select`` are picked in each group, as DP-GEN's fp_task_max applies per system:
    a structure whose runs halt early, with few frames, still gets its candidates labelled.
    Frames whose :func:`~ennp.al.dataset.frame_key` is in ``known`` (the training data) are
    never picked: every exploration's first frame is its starting structure, the same in
    every generation, and would otherwise be labelled again and again.
    """
    classes = classify(max_devi_f, trust_lo, trust_hi)
    counts = class_counts(classes)
    labels = np.zeros(len(classes), int) if groups is None else np.asarray(groups)
    if len(labels) != len(classes):
        raise ValueError(f"{len(labels)} group labels for {len(classes)} frames")
    known = set(known)
    new = np.array([not known or frame_key(a) not in known for a in frames], dtype=bool)
    picked = []
    for label in dict.fromkeys(labels.tolist()):    # in order of first appearance
        candidates = np.flatnonzero((classes == CANDIDATE) & (labels == label) & new)
        if len(candidates) == 0 or max_select <= 0:
            continue
        feats = np.array([distance_histogram(frames[c], list(species), r_cut) for c in candidates])
        start = int(np.argmax(np.asarray(max_devi_f)[candidates]))
        picked += [int(candidates[p]) for p in farthest_point_sampling(feats, max_select, first=start)]
    return picked, counts


def adaptive_trust_lo(max_devi_f, trust_lo: float, trust_hi: float, lo_min: float,
                      wanted: int) -> float:
    """Lower trust_lo (not below lo_min) until at least ``wanted`` frames are
    candidates, as DP-GEN's adaptive trust level does; never raises it."""
    d = np.asarray(max_devi_f, dtype=float)
    missing = wanted - int(((d >= trust_lo) & (d < trust_hi)).sum())
    below = np.sort(d[(d < trust_lo) & (d >= lo_min)])[::-1]    # accurate frames, largest first
    if missing <= 0 or len(below) == 0:
        return trust_lo
    return float(below[min(missing, len(below)) - 1])
