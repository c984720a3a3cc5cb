"""How far to trust a monitored run: the ``uncertainty`` block of a chain's result JSON.

A run monitored by ``compute ennp/ensemble`` (:mod:`ennp.lammps.monitor`) leaves, in
its folder, DP-GEN's ``model_devi.out`` (max_devi_f of every monitored step) and a
dump of every atom's deviation at those steps. Frames are classed as in DP-GEN:
below trust_lo accurate, from trust_lo candidates, from trust_hi failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .monitor import DEVI_FILE
from .outputs import read_dump_frame, read_model_devi

ACCURATE, CANDIDATE, FAILED = "accurate", "candidate", "failed"
DEVI_DUMP = "devi.dump"    # per-atom deviations at the monitored steps, in the run's folder
WORST_ATOMS = 10


def classify(max_devi_f, trust_lo: float, trust_hi: float) -> np.ndarray:
    """DP-GEN's class of each frame from its max_devi_f (eV/A); NaN or Inf is refused."""
    if not 0 <= trust_lo < trust_hi:
        raise ValueError(f"need 0 <= trust_lo < trust_hi, got trust_lo={trust_lo}, trust_hi={trust_hi}")
    d = np.asarray(max_devi_f, dtype=float)
    if not np.isfinite(d).all():
        raise ValueError("max_devi_f contains NaN or Inf")
    return np.where(d < trust_lo, ACCURATE, np.where(d < trust_hi, CANDIDATE, FAILED))


def summary(max_devi_f, trust_lo: float, trust_hi: float) -> dict:
    """Fractions of frames at or above each level, the largest and 95th-percentile max_devi_f, and
    the verdict: trusted (no frame reaches trust_lo), candidate (some do, none reaches trust_hi)
    or untrusted."""
    d = np.asarray(max_devi_f, dtype=float)
    if d.size == 0:
        raise ValueError("no monitored frames")
    classes = classify(d, trust_lo, trust_hi)
    verdict = "untrusted" if (classes == FAILED).any() else "candidate" if (classes == CANDIDATE).any() \
        else "trusted"
    return {"frames": int(d.size), "fraction_above_lo": float((classes != ACCURATE).mean()),
            "fraction_above_hi": float((classes == FAILED).mean()), "max_devi_f_max": float(d.max()),
            "max_devi_f_p95": float(np.percentile(d, 95)), "verdict": verdict}


def worst_atoms(frame: dict, n: int = WORST_ATOMS) -> list[int]:
    """Ids of the ``n`` atoms of largest eps_i in a deviation-dump frame, largest first."""
    eps = frame["c_ennp_devi[1]"]
    order = np.argsort(-eps, kind="stable")[:n]
    return [int(i) for i in frame["id"][order]]


def uncertainty(runs: list[Path], monitor, bundle: str | Path | None) -> dict:
    """The block for the runs in the folders ``runs`` (each with model_devi.out and devi.dump),
    monitored by the model bundle in folder ``bundle``; ``{"monitored": false}`` when
    ``monitor`` is None. A bundle's calibration (how far its deviation understated the error
    in active learning) is passed on."""
    if monitor is None:
        return {"monitored": False}
    from ..bundle import ensemble_size, load_bundle

    spec, members = load_bundle(bundle)
    files = [(Path(r) / DEVI_FILE).resolve() for r in runs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"monitored run without its model_devi file: {missing}")
    devi = [read_model_devi(f) for f in files]
    maxf = np.concatenate([d["max_devi_f"] for d in devi])
    try:
        block = summary(maxf, monitor.trust_lo, monitor.trust_hi)
    except ValueError as exc:
        raise ValueError(f"{exc} in {[str(f) for f in files]}") from exc
    k = int(np.argmax([d["max_devi_f"].max() if len(d["max_devi_f"]) else -1.0 for d in devi]))
    i = int(np.argmax(devi[k]["max_devi_f"]))
    step = int(devi[k]["step"][i])
    frame = read_dump_frame(Path(runs[k]) / DEVI_DUMP, step) if (Path(runs[k]) / DEVI_DUMP).is_file() else None
    calibration = {"calibration": spec.calibration} if spec.calibration else {}
    return {"monitored": True, "members": ensemble_size(members), "every": monitor.every, **block,
            "trust_lo": monitor.trust_lo, "trust_hi": monitor.trust_hi,
            "worst": {"step": step, "max_devi_f": float(devi[k]["max_devi_f"][i]), "file": str(files[k]),
                      "atoms": worst_atoms(frame) if frame is not None else []},
            "model_devi_files": [str(f) for f in files], **calibration}


def describe(block: dict) -> str:
    """One line for the chains' output."""
    if not block.get("monitored"):
        return "uncertainty: not monitored (no model bundle)"
    ratio = block.get("calibration", {}).get("error_over_deviation")
    return (f"uncertainty: {block['verdict']} ({block['frames']} monitored frames, max_devi_f max "
            f"{block['max_devi_f_max']:.3g} eV/A, {100 * block['fraction_above_lo']:.0f}% >= trust_lo "
            f"{block['trust_lo']:g}, {100 * block['fraction_above_hi']:.0f}% >= trust_hi {block['trust_hi']:g}"
            + (f"; in active learning its force error was {ratio:.2f} x its deviation" if ratio else "") + ")")


def plot_uncertainty(runs: list[Path], block: dict, dt_ps: float, png: Path, title: str = "") -> None:
    """max_devi_f against time for each run, with both trust levels."""
    if not block.get("monitored"):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        d = read_model_devi(Path(run) / DEVI_FILE)
        ax.plot(d["step"] * dt_ps, d["max_devi_f"], ".-", ms=3, lw=0.8, label="/".join(Path(run).parts[-2:]))
    ax.axhline(block["trust_lo"], color="tab:orange", ls="--", label=f"trust_lo {block['trust_lo']:g}")
    ax.axhline(block["trust_hi"], color="tab:red", ls="--", label=f"trust_hi {block['trust_hi']:g}")
    ax.set_xlabel("time (ps, of the monitored part)")
    ax.set_ylabel("max_devi_f (eV/A)")
    ax.set_title(title or f"ensemble of {block['members']}: {block['verdict']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
