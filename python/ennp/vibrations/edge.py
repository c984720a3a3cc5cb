"""Distance of each atom from the flake's edge and amplitude profiles along it (pure functions)."""

from __future__ import annotations

import numpy as np


def edge_distance(xy: np.ndarray) -> np.ndarray:
    """Distance (A) of each point inside the convex hull of ``xy`` (N, 2) to the hull's
    boundary: 0 for the outermost atoms. Flakes are convex (triangles, hexagons)."""
    from scipy.spatial import ConvexHull, QhullError

    xy = np.asarray(xy, float)
    try:
        hull = ConvexHull(xy)
    except QhullError as exc:
        raise ValueError("the atoms lie on a line: no flake outline to measure edge distances from") from exc
    # each facet: unit normal n and offset b with n.x + b <= 0 inside; distance = -(n.x + b)
    return np.clip(-(xy @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1), 0.0, None)


def profile(distance: np.ndarray, values: np.ndarray, errors: np.ndarray | None = None,
            bin_width: float = 1.0) -> dict:
    """Mean of per-atom ``values`` in bins of edge ``distance``; the error of a bin is the
    larger of the scatter of its atoms (standard error) and their propagated errors."""
    distance, values = np.asarray(distance, float), np.asarray(values, float)
    if bin_width <= 0:
        raise ValueError(f"bin_width must be positive, not {bin_width}")
    idx = np.floor(distance / bin_width + 1e-9).astype(int)
    centres, means, errs, counts = [], [], [], []
    for b in np.unique(idx):
        sel = idx == b
        n = int(sel.sum())
        scatter = values[sel].std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        prop = np.sqrt((np.asarray(errors)[sel] ** 2).sum()) / n if errors is not None else 0.0
        centres.append(float(distance[sel].mean()))
        means.append(float(values[sel].mean()))
        errs.append(float(max(scatter, prop)))
        counts.append(n)
    return {"distance_A": centres, "value": means, "error": errs, "atoms": counts}


def falloff_distance(prof: dict, interior_from: float, tolerance: float = 0.05) -> dict:
    """Interior value: mean of the bins at least ``interior_from`` A from the edge. Falloff:
    the edge distance beyond which every bin is within ``tolerance`` (relative) or two
    errors of it; None when even the innermost bins have not come down."""
    d, v, e = (np.asarray(prof[k], float) for k in ("distance_A", "value", "error"))
    inner = d >= interior_from
    if not inner.any():
        raise ValueError(f"no atoms {interior_from} A or more from the edge: the flake is too small "
                         "for an interior value")
    interior = float(v[inner].mean())
    interior_err = float(np.sqrt((e[inner] ** 2).sum()) / inner.sum())
    close = np.abs(v - interior) <= np.maximum(tolerance * interior, 2 * np.hypot(e, interior_err))
    falloff = None
    for k in range(len(d)):
        if close[k:].all():
            falloff = float(d[k])
            break
    return {"interior": interior, "interior_err": interior_err, "falloff_A": falloff}
