"""Choosing the atoms to carve pieces around: doubtful and different from each other.

Candidates are atoms whose ensemble deviation eps_i reaches trust_lo, in any
monitored frame. Up to N of them are taken by farthest-point sampling, starting
at the largest eps_i, on a distance that adds two parts: how different the
atoms' local environments are (per-element histograms of neighbour distances),
and how far apart they are in space (minimum image, in units of the core
radius). Two hot spots in a frame therefore give centres in both, rather than
N neighbours of the hotter one. No two centres of one frame lie closer than the
core radius unless ``allow_close``.
"""

from __future__ import annotations

import numpy as np

from .carving import displacements, minimum_image

POOL_PER_CENTRE = 20    # candidates considered per centre asked for, largest eps_i first


def environment(atoms, index: int, species, r_cut: float = 6.0, bins: int = 12) -> np.ndarray:
    """Descriptor of atom ``index``: its element and, per element, a histogram of
    neighbour distances up to ``r_cut`` (A)."""
    d = np.linalg.norm(displacements(atoms, index), axis=1)
    symbols = np.asarray(atoms.get_chemical_symbols())
    edges = np.linspace(0.0, r_cut, bins + 1)
    near = (d > 0) & (d < r_cut)
    parts = [np.histogram(d[near & (symbols == s)], bins=edges)[0] for s in species]
    own = np.array([3.0 * (symbols[index] == s) for s in species])    # different elements stay apart
    return np.concatenate([own, *parts]).astype(float)


def pick_centres(frames, eps, trust_lo: float, max_centres: int, r_core: float, species,
                 r_cut: float = 6.0, allow_close: bool = False) -> list[tuple[int, int]]:
    """(frame, atom) pairs of up to ``max_centres`` centres; ``eps[k]`` holds eps_i of frame k."""
    pool = [(float(e), k, int(i)) for k, values in enumerate(eps)
            for i, e in zip(np.flatnonzero(np.asarray(values) >= trust_lo),
                            np.asarray(values)[np.asarray(values) >= trust_lo])]
    if not pool or max_centres <= 0:
        return []
    pool.sort(key=lambda c: (-c[0], c[1], c[2]))
    pool = pool[:max(POOL_PER_CENTRE * max_centres, 100)]
    env = np.array([environment(frames[k], i, species, r_cut) for _, k, i in pool])

    frame_of = np.array([k for _, k, _ in pool])
    position = np.array([frames[k].positions[i] for _, k, i in pool])

    def distance_to(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Descriptor distances, spatial gaps (in frame p's cell: frames of one run) and same-frame flags."""
        frame = frames[frame_of[p]]
        gaps = np.linalg.norm(minimum_image(position - position[p], frame.cell[:], frame.pbc), axis=1)
        return np.linalg.norm(env - env[p], axis=1), gaps, frame_of == frame_of[p]

    first = 0
    env_d, gaps, same = distance_to(first)
    scale = float(np.median(env_d[env_d > 0])) if (env_d > 0).any() else 1.0
    score = env_d / scale + gaps / r_core
    banned = np.zeros(len(pool), dtype=bool)
    banned[first] = True
    if not allow_close:
        banned |= same & (gaps < r_core)
    chosen = [first]
    while len(chosen) < max_centres:
        open_ = np.where(banned, -np.inf, score)
        nxt = int(np.argmax(open_))
        if not np.isfinite(open_[nxt]):
            break
        chosen.append(nxt)
        banned[nxt] = True
        env_d, gaps, same = distance_to(nxt)
        score = np.minimum(score, env_d / scale + gaps / r_core)
        if not allow_close:
            banned |= same & (gaps < r_core)
    return [(pool[p][1], pool[p][2]) for p in chosen]
