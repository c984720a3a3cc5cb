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


def decay_length(distance: np.ndarray, values: np.ndarray, errors: np.ndarray | None = None) -> dict:
    """Fit a(d) = a_inf + a_edge exp(-d / L) to per-atom (or binned) amplitudes ``values`` against
    edge ``distance``: the decay length L of the edge excess, with standard errors from the fit's
    covariance scaled by its reduced chi^2. Unlike a threshold crossing, L does not shrink as the
    data get noisier. ``decay_length_A`` is None when the excess is not resolved (below twice its
    error) or the fit does not converge; ``reason`` says which."""
    from scipy.optimize import curve_fit

    d, v = np.asarray(distance, float), np.asarray(values, float)
    if len(d) != len(v) or len(d) < 4:
        raise ValueError(f"need at least four amplitudes with their edge distances, got {len(v)}")
    sigma = None if errors is None else np.maximum(np.asarray(errors, float), 1e-12)
    span = float(d.max() - d.min()) or 1.0
    inner = d >= d.min() + 0.6 * span
    a_inf0 = float(v[inner].mean()) if inner.any() else float(v.min())
    edge = d <= d.min() + 0.1 * span
    p0 = (a_inf0, max(float(v[edge].mean()) - a_inf0, 1e-6), span / 5)
    out = {"decay_length_A": None, "decay_length_err_A": None, "edge_excess": None, "edge_excess_err": None,
           "fitted_interior": None}
    try:
        popt, pcov = curve_fit(lambda x, a_inf, a_edge, length: a_inf + a_edge * np.exp(-(x - d.min()) / length),
                               d, v, p0=p0, sigma=sigma, absolute_sigma=False, maxfev=20000,
                               bounds=([-np.inf, -np.inf, 1e-3 * span], [np.inf, np.inf, 10 * span]))
    except (RuntimeError, ValueError) as exc:
        return {**out, "reason": f"the fit did not converge ({exc})"}
    err = np.sqrt(np.diag(pcov))
    out.update(fitted_interior=float(popt[0]), edge_excess=float(popt[1]), edge_excess_err=float(err[1]))
    if not np.isfinite(err).all() or popt[1] <= 2 * err[1]:
        return {**out, "reason": "no edge excess resolved (below twice its error)"}
    return {**out, "decay_length_A": float(popt[2]), "decay_length_err_A": float(err[2]), "reason": "fitted"}
