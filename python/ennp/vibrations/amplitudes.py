"""Per-atom vibration amplitudes from a trajectory (pure functions).

The flake translates and turns on its support (MoS2 on graphite slides easily),
so each frame is first superimposed on the mean structure (Kabsch rotation +
translation, iterated: the mean is taken over the superimposed frames), then
u = r - <r> per atom. Removing the rigid motion also removes its share of the
vibrations (6 of the 3N degrees of freedom), which is small for a flake of a
few hundred atoms. For a periodic crystal use ``rigid="translation"``.
"""

from __future__ import annotations

import numpy as np

RIGID = ("full", "translation", "none")


def kabsch(moving: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with moving @ R.T + t closest to target (least squares)."""
    cm, ct = moving.mean(axis=0), target.mean(axis=0)
    h = (moving - cm).T @ (target - ct)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, ct - cm @ r.T


def superimpose(positions: np.ndarray, rigid: str = "full", iterations: int = 3) -> np.ndarray:
    """Frames (frames, atoms, 3) with the rigid-body motion removed, on their mean structure."""
    if rigid not in RIGID:
        raise ValueError(f"rigid must be one of {RIGID}, not {rigid!r}")
    pos = np.asarray(positions, float)
    if pos.ndim != 3 or pos.shape[0] < 2 or pos.shape[2] != 3:
        raise ValueError(f"need at least 2 frames of (atoms, 3) positions, got shape {pos.shape}")
    if rigid == "none":
        return pos.copy()
    if rigid == "translation":
        return pos - pos.mean(axis=1, keepdims=True) + pos.mean(axis=(0, 1))
    ref = pos[0]
    for _ in range(iterations):
        out = np.empty_like(pos)
        for k, frame in enumerate(pos):
            r, t = kabsch(frame, ref)
            out[k] = frame @ r.T + t
        ref = out.mean(axis=0)
    return out


def block_errors(per_frame: np.ndarray, blocks: int) -> np.ndarray:
    """Standard error of the time mean of ``per_frame`` (frames, ...) from block means."""
    if blocks < 2 or len(per_frame) < blocks:
        raise ValueError(f"need at least {max(blocks, 2)} frames for {blocks} blocks, got {len(per_frame)}")
    means = np.stack([b.mean(axis=0) for b in np.array_split(per_frame, blocks)])
    return means.std(axis=0, ddof=1) / np.sqrt(blocks)


def amplitudes(positions: np.ndarray, rigid: str = "full", blocks: int = 5) -> dict:
    """Mean positions and mean-square displacements per atom (A^2): total, in-plane (xy),
    out-of-plane (z), each with its block-average error, and per direction (``msd_xyz``,
    atoms x 3); and the means over atoms."""
    aligned = superimpose(positions, rigid)
    mean = aligned.mean(axis=0)
    u2 = (aligned - mean) ** 2                          # (frames, atoms, 3)
    per_frame = {"msd": u2.sum(axis=2), "msd_inplane": u2[..., :2].sum(axis=2), "msd_out_of_plane": u2[..., 2]}
    out = {"mean_positions": mean, "msd_xyz": u2.mean(axis=0)}    # per atom and Cartesian direction
    for k, v in per_frame.items():
        out[k] = v.mean(axis=0)
        out[k + "_err"] = block_errors(v, blocks)
    msd_all = per_frame["msd"].mean(axis=1)             # mean over atoms, per frame
    out["msd_A2"] = float(msd_all.mean())
    out["msd_err_A2"] = float(block_errors(msd_all, blocks))
    out["rms_amplitude_A"] = float(np.sqrt(out["msd_A2"]))
    return out
