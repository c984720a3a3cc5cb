"""``ennp al report``: per-generation plots (PNG) and a JSON summary of a run."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..files import write_json
from ..lammps.uncertainty import ACCURATE, CANDIDATE, FAILED
from .calibration import generation_calibration
from .config import load_al_config
from .pieces import harvest_records
from .state import State, generation_seconds


def summary(workdir: Path) -> dict:
    state = State(workdir)
    gens = []
    for g, gen in enumerate(state.data["generations"]):
        d = gen["done"]
        row = {"generation": g, "steps_done": list(d)}
        if "train" in d:
            row["train_frames"] = d["train"]["frames"]
            row["test"] = d["train"]["test"]
        if "explore" in d:
            row["explore_runs"] = d["explore"]["runs"]
        if "select" in d:
            row.update({k: d["select"][k] for k in ("frames", "counts", "fractions", "trust_lo",
                                                     "trust_lo_used", "trust_hi", "selected",
                                                     "max_devi_f_hist")})
            # runs selected before these records existed lack them
            row.update({k: d["select"][k] for k in ("unexplored", "accurate_by_structure") if k in d["select"]})
        if "label" in d:
            row["labelled"] = d["label"]
            row["calibration"] = generation_calibration(workdir, g)    # computed here if not yet
        harvests = harvest_records(workdir, g)
        row["harvested"] = {"harvests": len(harvests), "pieces": sum(h["labelled"] for h in harvests),
                            "held_out": sum(h["held_out"] for h in harvests),
                            "failed": sum(h["failed"] for h in harvests)}
        if harvests:
            row["harvested"]["core_force_rmse_before"] = [h["core_force_rmse_before"] for h in harvests]
        row["seconds"] = generation_seconds(gen)
        gens.append(row)
    return {"workdir": str(workdir), "initial": state.data.get("initial"),
            "finished": state.data.get("finished"), "generations": gens}


def write_report(workdir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    workdir = Path(workdir)
    out_dir = Path(out_dir) if out_dir else workdir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    data = summary(workdir)
    gens = data["generations"]
    convergence = _accurate_fraction_rule(workdir)
    fig, axes = plt.subplots(1, 5, figsize=(25, 4.2))
    ax = axes[0]
    for row in gens:
        if "max_devi_f_hist" in row:
            h = row["max_devi_f_hist"]
            edges = np.array(h["edges"])
            ax.stairs(h["counts"], edges, label=f"gen {row['generation']}")
    if gens and "trust_hi" in gens[-1]:
        for level, style in ((gens[-1]["trust_lo"], "--"), (gens[-1]["trust_hi"], ":")):
            ax.axvline(level, color="k", ls=style)
    ax.set(xlabel="max force deviation per frame (eV/A; last bin: beyond)", ylabel="frames",
           title="ensemble deviation of explored frames")
    ax.legend(fontsize=8)
    ax = axes[1]
    trained = [r for r in gens if "test" in r]
    g = [r["generation"] for r in trained]
    ax.plot(g, [r["test"]["ensemble_force_rmse"] for r in trained], "o-", label="ensemble mean")
    members = np.array([r["test"]["member_force_rmse"] for r in trained])
    if len(members):
        ax.errorbar(g, members.mean(axis=1), yerr=members.std(axis=1), fmt="s--", label="members (mean, std)")
    cores = [(r["generation"], r["test"]["harvest"]["core_force_rmse"]) for r in trained if "harvest" in r["test"]]
    if cores:
        ax.plot(*zip(*cores), "^-", label="core forces, held-out harvested pieces")
    ax.set(xlabel="generation", ylabel="force RMSE on held-out test set (eV/A)", title="test error")
    ax.legend(fontsize=8)
    ax = axes[2]
    sel = [r for r in gens if "fractions" in r]
    for cls, colour in ((ACCURATE, "tab:green"), (CANDIDATE, "tab:orange"), (FAILED, "tab:red")):
        ax.plot([r["generation"] for r in sel], [r["fractions"][cls] for r in sel], "o-",
                color=colour, label=cls)
    ax.set(xlabel="generation", ylabel="fraction of explored frames", ylim=(-0.02, 1.02),
           title="accurate / candidate / failed")
    ax.legend(fontsize=8)
    # what holds convergence back: each structure's accurate fraction against the rule's
    ax = axes[3]
    by_structure = [r for r in sel if "accurate_by_structure" in r]
    for name in dict.fromkeys(n for r in by_structure for n in r["accurate_by_structure"]):
        rows = [r for r in by_structure if name in r["accurate_by_structure"]]
        ax.plot([r["generation"] for r in rows], [r["accurate_by_structure"][name] for r in rows], "o-",
                label=name)
    if convergence is not None:
        ax.axhline(convergence, color="k", ls="--", lw=1, label="convergence")
    ax.set(xlabel="generation", ylabel="accurate fraction of the structure's frames", ylim=(-0.02, 1.02),
           title="accurate, by structure")
    if by_structure:
        ax.legend(fontsize=8)
    # how far the deviation stands for the error: each generation's labelled frames
    ax = axes[4]
    calibrated = [r for r in gens if (r.get("calibration") or {}).get("max_devi_f")]
    for r in calibrated:
        c = r["calibration"]
        ax.plot(c["max_devi_f"], c["max_error"], "o", ms=4, label=f"gen {r['generation']}")
    if calibrated:
        devi = np.concatenate([r["calibration"]["max_devi_f"] for r in calibrated])
        ratio = float(np.median(np.concatenate([r["calibration"]["max_error"] for r in calibrated]) / devi))
        top = float(devi.max())
        ax.plot([0, top], [0, top], "k-", lw=1, label="error = deviation")
        ax.plot([0, top], [0, ratio * top], "k--", lw=1, label=f"error = {ratio:.2f} x deviation (median)")
        ax.legend(fontsize=8)
    ax.set(xlabel="max_devi_f of the frame (eV/A)", ylabel="largest true force error of the mean (eV/A)",
           title="error against deviation, labelled frames")
    for ax in axes[1:4]:
        ax.xaxis.get_major_locator().set_params(integer=True)
    labeller = _labeller(workdir)
    fig.suptitle(f"ennp active learning: {workdir.name} (labels: {labeller})")
    fig.tight_layout()
    png = out_dir / "al_report.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    data["labeller"] = labeller
    path = out_dir / "al_report.json"
    write_json(path, data)
    return {"png": png, "json": path}


def _accurate_fraction_rule(workdir: Path) -> float | None:
    try:
        return load_al_config(workdir / "al.yaml").convergence.accurate_fraction
    except (OSError, ConfigError):
        return None


def _labeller(workdir: Path) -> str:
    import ase.io

    path = workdir / "initial" / "train.extxyz"
    if not path.exists():
        return "none yet"
    return str(ase.io.read(path, index=0).info.get("ennp_labeller", "unknown"))
