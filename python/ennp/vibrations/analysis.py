"""``ennp vibrations analyze``: per-atom amplitudes, edge profile, its fitted decay length and
falloff of a trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import write_json
from .amplitudes import amplitudes
from .edge import decay_length, edge_distance, falloff_distance, profile
from .trajectory import Trajectory


def layers(z: np.ndarray, gap: float = 0.8) -> np.ndarray:
    """Index (0 = lowest) of the atomic layer of each atom: layers are separated by z gaps > ``gap`` A."""
    order = np.argsort(z)
    new_layer = np.concatenate([[0], np.diff(z[order]) > gap]).cumsum()
    out = np.empty(len(z), int)
    out[order] = new_layer
    return out


def analyse(traj: Trajectory, elements=None, rigid: str = "full", blocks: int = 5, bin_width: float = 1.0,
            lattice_constant: float | None = None, interior_from: float | None = None) -> dict:
    """Amplitudes of the atoms of ``elements`` (default: all) after removing their rigid
    motion, their edge distances (in the xy plane), the RMS-amplitude profile vs edge
    distance and where it falls back to the interior value (A and lattice constants)."""
    sel = traj.select(elements) if elements else traj
    if len(sel.positions) < blocks:
        raise ValueError(f"the trajectory has {len(sel.positions)} frames; need at least {blocks} (blocks)")
    amp = amplitudes(sel.positions, rigid, blocks)
    mean = amp["mean_positions"]
    dist = edge_distance(mean[:, :2])
    rms = np.sqrt(amp["msd"])
    rms_err = amp["msd_err"] / (2 * np.maximum(rms, 1e-12))
    prof = profile(dist, rms, rms_err, bin_width)
    interior_from = interior_from if interior_from is not None else 0.6 * dist.max()
    fall = falloff_distance(prof, interior_from)
    # unweighted: atoms differ physically, and five-block errors per atom are too noisy to weight by
    fit = decay_length(dist, rms)
    decay = {"decay_length_A": fit["decay_length_A"], "decay_length_err_A": fit["decay_length_err_A"],
             "edge_excess_rms_A": fit["edge_excess"], "edge_excess_rms_err_A": fit["edge_excess_err"],
             "fitted_interior_rms_A": fit["fitted_interior"], "decay_fit": fit["reason"]}
    if lattice_constant:
        fall["falloff_lattice_constants"] = None if fall["falloff_A"] is None else \
            fall["falloff_A"] / lattice_constant
        for key in ("decay_length", "decay_length_err"):
            decay[f"{key}_lattice_constants"] = None if decay[f"{key}_A"] is None else \
                decay[f"{key}_A"] / lattice_constant
    per_atom = {"element": sel.symbols.tolist(), "mean_position_A": mean.round(5).tolist(),
                "edge_distance_A": dist.round(4).tolist(), "layer": layers(mean[:, 2]).tolist(),
                **{f"{k}_A2": amp[k].tolist() for k in ("msd", "msd_err", "msd_inplane", "msd_out_of_plane")}}
    by_element = {el: {"msd_A2": float(amp["msd"][sel.symbols == el].mean()),
                       "msd_inplane_A2": float(amp["msd_inplane"][sel.symbols == el].mean()),
                       "msd_out_of_plane_A2": float(amp["msd_out_of_plane"][sel.symbols == el].mean())}
                  for el in sorted(set(sel.symbols.tolist()))}
    return {"msd_A2": amp["msd_A2"], "msd_err_A2": amp["msd_err_A2"], "rms_amplitude_A": amp["rms_amplitude_A"],
            "msd_inplane_A2": float(amp["msd_inplane"].mean()),
            "msd_out_of_plane_A2": float(amp["msd_out_of_plane"].mean()),
            "frames": len(sel.positions), "atoms": len(sel.symbols), "rigid": rigid, "by_element": by_element,
            "profile": {"edge_distance_A": prof["distance_A"], "rms_amplitude_A": prof["value"],
                        "rms_amplitude_err_A": prof["error"], "atoms": prof["atoms"]},
            "interior_rms_amplitude_A": fall["interior"], "interior_rms_amplitude_err_A": fall["interior_err"],
            "interior_from_A": interior_from, **{k: v for k, v in fall.items() if k.startswith("falloff")},
            **decay,
            "per_atom": per_atom}


def describe_edge(result: dict) -> str:
    """One line on the edge profile: the fitted decay length and the threshold falloff."""
    length, fall = result.get("decay_length_A"), result.get("falloff_A")
    decay = f"edge decay length {length:.2f} +- {result['decay_length_err_A']:.2f} A" if length is not None \
        else f"edge decay length not fitted ({result.get('decay_fit', 'no fit')})"
    return f"{decay}; falloff to the interior value {'not reached' if fall is None else f'at {fall:.1f} A'}"


def plot(result: dict, path: Path) -> None:
    """Amplitude vs edge distance, and colour maps of the RMS amplitude per atomic layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pa = result["per_atom"]
    pos, layer = np.array(pa["mean_position_A"]), np.array(pa["layer"])
    rms = np.sqrt(np.array(pa["msd_A2"]))
    n_layers = layer.max() + 1
    fig, axes = plt.subplots(1, 1 + n_layers, figsize=(4.2 * (1 + n_layers), 3.8), layout="constrained")
    prof = result["profile"]
    axes[0].errorbar(prof["edge_distance_A"], prof["rms_amplitude_A"], prof["rms_amplitude_err_A"], fmt="o-")
    axes[0].axhline(result["interior_rms_amplitude_A"], color="grey", ls="--", label="interior")
    if result.get("decay_length_A") is not None:
        d = np.linspace(0, max(prof["edge_distance_A"]), 200)
        d0 = min(pa["edge_distance_A"])
        fit = result["fitted_interior_rms_A"] + result["edge_excess_rms_A"] * np.exp(-(d - d0) / result["decay_length_A"])
        axes[0].plot(d, fit, color="C1", label=f"fit: L = {result['decay_length_A']:.2f} "
                                               f"+- {result['decay_length_err_A']:.2f} A")
    if result.get("falloff_A") is not None:
        axes[0].axvline(result["falloff_A"], color="C3", ls=":", label=f"falloff {result['falloff_A']:.1f} A")
    axes[0].set(xlabel="distance from the edge (A)", ylabel="RMS amplitude (A)", title="edge profile")
    axes[0].legend(fontsize=7)
    norm = matplotlib.colors.Normalize(rms.min(), rms.max())
    for k in range(n_layers):
        sel = layer == k
        sc = axes[k + 1].scatter(pos[sel, 0], pos[sel, 1], c=rms[sel], norm=norm, cmap="viridis", s=25)
        axes[k + 1].set(aspect="equal", xlabel="x (A)", ylabel="y (A)",
                        title=f"layer {k} ({'/'.join(sorted(set(np.array(pa['element'])[sel])))})")
    fig.colorbar(sc, ax=axes[1:], label="RMS amplitude (A)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(result: dict, json_path: Path, png_path: Path | None = None) -> None:
    if png_path:
        plot(result, png_path)
    write_json(json_path, result)    # last: its presence means the step is complete
