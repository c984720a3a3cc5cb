"""How far the ensemble's deviation stands for its error.

The frames a generation sends to the labeller were chosen by that generation's ensemble,
which never trained on them. Their labels therefore give the true force error of the
ensemble mean next to the deviation that flagged them, every generation, at no extra
labelling cost. Their ratio says how far max_devi_f, and with it the trust levels,
understate (ratio > calibrated) or overstate the error.

Musil et al., J. Chem. Theory Comput. 15, 906 (2019) calibrate a committee by one such
factor. If the truth behaved like one more member, the RMS error of the mean over the RMS
deviation (DP-GEN's per-atom deviation, a population standard deviation over K members)
would be sqrt((K + 1) / (K - 1)): 1.29 at K = 4. The frames are candidates (trust_lo <=
max_devi_f < trust_hi), the range where the levels decide.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import write_json
from .state import State, gen_dir

CALIBRATION_NAME = "calibration.json"
# the numbers of a record that say it in brief (a bundle's calibration)
CALIBRATION_SUMMARY = ("frames", "members", "error_over_deviation", "calibrated_ratio",
                       "max_error_over_max_devi_f_median", "force_rmse", "rms_error", "rms_deviation")


def calibrated_ratio(members: int) -> float:
    """RMS error of the mean / RMS deviation for a truth drawn like one more member."""
    return float(np.sqrt((members + 1) / (members - 1)))


def calibration(member_forces, reference_forces, atoms_per_frame) -> dict:
    """Error against deviation over frames. ``member_forces`` (K, atoms, 3) of all frames
    in a row, ``reference_forces`` (atoms, 3) the labels (atoms without a label, NaN, are
    left out), ``atoms_per_frame`` the frames' sizes."""
    f = np.asarray(member_forces, dtype=float)
    ref = np.asarray(reference_forces, dtype=float)
    sizes = [int(n) for n in atoms_per_frame]
    if f.ndim != 3 or f.shape[1:] != ref.shape or sum(sizes) != len(ref):
        raise ValueError(f"member forces {f.shape}, reference {ref.shape} and frame sizes "
                         f"(sum {sum(sizes)}) do not match")
    if len(f) < 2:
        raise ValueError("an ensemble needs at least 2 members")
    mean = f.mean(axis=0)
    devi2 = ((f - mean) ** 2).sum(axis=-1).mean(axis=0)    # per atom, as compute ennp/ensemble
    err2 = ((mean - ref) ** 2).sum(axis=-1)
    labelled = np.isfinite(err2)
    record = {"frames": len(sizes), "members": len(f), "calibrated_ratio": calibrated_ratio(len(f))}
    if not labelled.any():
        return record
    bounds = np.cumsum([0] + sizes)
    max_devi, max_err = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        mine = labelled[a:b]
        if mine.any():
            max_devi.append(float(np.sqrt(devi2[a:b][mine].max())))
            max_err.append(float(np.sqrt(err2[a:b][mine].max())))
    rms_devi = float(np.sqrt(devi2[labelled].mean()))
    rms_err = float(np.sqrt(err2[labelled].mean()))
    ratios = [e / d for e, d in zip(max_err, max_devi) if d > 0]
    record.update({
        "atoms": int(labelled.sum()),
        "force_rmse": float(rms_err / np.sqrt(3)),    # per component, as the test errors
        "rms_error": rms_err,                         # of the per-atom error vectors' lengths
        "rms_deviation": rms_devi,
        # None where the members agree exactly: no ratio to give
        "error_over_deviation": rms_err / rms_devi if rms_devi > 0 else None,
        "max_error_over_max_devi_f_median": float(np.median(ratios)) if ratios else None,
        "max_devi_f": max_devi,
        "max_error": max_err,
    })
    return record


def generation_calibration(workdir: str | Path, gen: int, *, compute: bool = True) -> dict | None:
    """The calibration of generation ``gen``'s ensemble on the frames it sent to the
    labeller (None before they are labelled, or with ``compute`` false before it was
    computed). Computed once, from the members' checkpoints with nequip's calculator, and
    kept in gen_NNN/label/calibration.json."""
    import ase.io

    from .training import predictions

    label = gen_dir(Path(workdir), gen) / "label"
    kept = label / CALIBRATION_NAME
    if kept.is_file():
        return json.loads(kept.read_text())
    labelled = label / "labelled.extxyz"
    if not labelled.is_file() or not compute:
        return None
    frames = ase.io.read(labelled, index=":") if labelled.stat().st_size else []
    trained = State(workdir).done(gen, "train") or {}
    members = [c for c in (Path(m).parent / "out" / "last.ckpt" for m in trained.get("models", [])) if c.is_file()]
    if frames and len(members) >= 2:
        forces, _ = predictions(members, frames)
        record = calibration(forces, np.concatenate([a.get_forces() for a in frames]),
                             [len(a) for a in frames])
    else:
        record = {"frames": len(frames), "members": len(members)}
    write_json(kept, record)
    return record


def describe(record: dict | None) -> str:
    """One line for the status and the log."""
    if not record or record.get("error_over_deviation") is None:
        return ""
    return (f"on the {record['frames']} frames it flagged: force RMSE {record['force_rmse']:.3f} eV/A, "
            f"{record['error_over_deviation']:.2f} x its deviation ({record['calibrated_ratio']:.2f} if "
            f"calibrated); largest error {record['max_error_over_max_devi_f_median']:.2f} x max_devi_f "
            f"(median of the frames)")
