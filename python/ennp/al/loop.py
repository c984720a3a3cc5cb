"""``ennp al init|run|status``: the active-learning loop over generations.

WORK/
  al.yaml, nequip_template.yaml   the run's configuration (editable between runs)
  state.json                      finished steps and their results
  structures/NAME.{extxyz,data}   starting structures (ASE, LAMMPS)
  initial/{train,test}.extxyz     labelled generation-0 training frames and held-out test frames
  gen_NNN/train/member_K/         nequip-train run and deployed model of member K
  gen_NNN/train/ensemble.nequip.pt2  the members as one package (drives the exploration)
  gen_NNN/explore/RUN/            LAMMPS exploration (model_devi.out, traj.dump)
  gen_NNN/select.json             classes, trust levels, selected frames
  gen_NNN/label/                  candidates.extxyz -> labelled.extxyz, calibration.json

Each generation: train -> explore -> select -> (stop?) -> label. The stop
rule: the accurate fraction of the last ``convergence.generations``
generations is >= ``convergence.accurate_fraction``, or the generation limit.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import ase.io
import numpy as np
import yaml

from ..lammps.data_file import write_structure
from ..lammps.uncertainty import ACCURATE, CANDIDATE, FAILED, classify
from ..config import ConfigError
from ..chains import read_structure
from ..files import write_frames
from ..label.backends import label_file
from ..train.nequip_config import nequip_config
from .calibration import describe, generation_calibration
from .config import ALConfig, load_al_config
from .dataset import frame_key, perturbed_copies
from ..train.masked_labels import masked_copy, with_consistent_stress
from .exploration import explore, explored_frames, unexplored_frames
from .pieces import harvest_records, harvested_generations, harvested_pieces
from .selection import adaptive_trust_lo, class_counts, select
from .relaxation import relax_structures
from .state import State, exclusive, gen_dir, generation_seconds
from .training import (core_force_rmse, ensemble_package, member_seconds, stderr_progress, test_errors,
                       train_members)

CONFIG_NAME, TEMPLATE_NAME = "al.yaml", "nequip_template.yaml"


def init_run(config_path: str | Path, workdir: str | Path) -> Path:
    """Validate the config, build the structures and write the run's files."""
    config = load_al_config(config_path)
    workdir = Path(workdir)
    if (workdir / "state.json").exists():
        raise RuntimeError(f"{workdir} already holds an active-learning run; continue it with "
                           f"`ennp al run {workdir}` or choose another directory")
    # a run moved away while it was working can leave folders behind; a new run there would
    # meet their labels and models as its own
    leftovers = sorted(p.name for p in workdir.glob("gen_*")) + [n for n in ("initial",) if (workdir / n).exists()]
    if leftovers:
        raise RuntimeError(f"{workdir} holds {', '.join(leftovers)} of another active-learning run but no "
                           f"state.json; remove them or choose another directory")
    (workdir / "structures").mkdir(parents=True, exist_ok=True)
    for s in config.structures:
        where = f"{config_path}: structures[{s.name}]"
        try:
            atoms = read_structure(s, config.species, config.base_dir)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        extra = sorted(set(atoms.get_chemical_symbols()) - set(config.species))
        if extra:
            raise ConfigError(f"{where}: element(s) {extra} not in species")
        try:
            write_structure(atoms, config.species, workdir / "structures" / f"{s.name}.data")
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        ase.io.write(workdir / "structures" / f"{s.name}.extxyz", atoms, format="extxyz")
    t = config.training
    if t.template:
        shutil.copy(config.resolve(t.template), workdir / TEMPLATE_NAME)
    else:
        template = nequip_config("DATA.extxyz", config.model_settings(config.ensemble.seed),
                                 max_epochs=t.max_epochs, batch_size=t.batch_size,
                                 split=(1 - t.val_fraction, t.val_fraction), lr=t.lr)
        (workdir / TEMPLATE_NAME).write_text(
            "# nequip-train template of this run: edit freely; ennp sets the data file,\n"
            "# the seeds and (warm start) the model checkpoint for each member\n"
            + yaml.safe_dump(template, sort_keys=False))
    shutil.copy(config_path, workdir / CONFIG_NAME)
    State.create(workdir, base_dir=str(Path(config_path).resolve().parent))
    return workdir


def load_run(workdir: Path) -> tuple[State, ALConfig]:
    state = State(workdir)
    return state, load_al_config(workdir / CONFIG_NAME, base_dir=state.data["base_dir"])


def submit(workdir: str | Path) -> dict:
    """The loop as a Slurm job (``ennp submit`` with one stage, resources slurm.loop):
    it trains and explores in that job and, with backend kind slurm, labels through job
    arrays it submits itself. Recorded in W/submit.json (``ennp submit status W``)."""
    from ..submit.jobs import ennp_command, submit_plan
    from ..submit.plan import Plan, Stage

    workdir = Path(workdir).resolve()
    _, config = load_run(workdir)
    resources = config.resources("loop")
    stage = Stage(name="al", command=ennp_command(resources, "al", "run", workdir), resources=resources)
    return submit_plan(Plan([stage]), workdir, source=f"ennp al run {workdir}")


def run(workdir: str | Path, *, progress=stderr_progress) -> dict:
    """Run (or resume) the loop until it stops; returns the state's 'finished' record."""
    workdir = Path(workdir)
    State(workdir)    # a clear error where there is no run
    with exclusive(workdir):
        state, config = load_run(workdir)
        if state.data.get("initial") is None:    # relaxed structures are what the copies are drawn around
            relax_structures(workdir, state, config, progress)
        test_frames = _initial_data(workdir, state, config, progress)
        gen = 0
        while True:
            path = gen_dir(workdir, gen)
            models = _train(workdir, state, config, gen, test_frames, progress)
            _explore(workdir, state, config, gen, models, progress)
            selected = _select(workdir, state, config, gen)
            finished = _stop_reason(state, config, gen)
            if finished:
                state.set(finished={"reason": finished, "generation": gen})
                progress(f"stopped after {path.name}: {finished}")
                return state.data["finished"]
            state.set(finished=None)
            if state.done(gen, "label") is None:
                progress(f"{path.name}: labelling {selected} selected frames with {config.label.labeller}")
                t0 = time.monotonic()
                n, failed = label_frames(workdir, config, path / "label" / "candidates.extxyz",
                                         path / "label" / "labelled.extxyz")
                state.mark(gen, "label", {"labelled": n, "failed": len(failed),
                                          "seconds": time.monotonic() - t0})
                line = describe(generation_calibration(workdir, gen))
                if line:
                    progress(f"{path.name}: {line}")
            gen += 1


def _initial_data(workdir: Path, state: State, config: ALConfig, progress) -> list:
    """Label the initial training and test frames (once); return the test frames."""
    init = workdir / "initial"
    if state.data.get("initial") is None:
        init.mkdir(exist_ok=True)
        rng = np.random.default_rng(config.initial.seed)
        train, test = [], []
        for s in config.structures:
            atoms = ase.io.read(workdir / "structures" / f"{s.name}.extxyz")
            i = config.initial
            train += perturbed_copies(atoms, s.name, i.copies, i.rattle, i.strain, rng)
            test += perturbed_copies(atoms, s.name, i.test_copies, i.test_rattle, i.strain, rng, kind="test")
        counts = {}
        for name, frames in (("train", train), ("test", test)):
            unlabelled = init / f"{name}_structures.extxyz"
            if not unlabelled.exists():    # drawn once: a resumed run labels the same frames
                ase.io.write(unlabelled, frames, format="extxyz")
            progress(f"initial: labelling {len(frames)} {name} frames with {config.label.labeller}")
            n, failed = label_frames(workdir, config, unlabelled, init / f"{name}.extxyz")
            if n == 0:
                raise RuntimeError(f"no {name} frame could be labelled (see {init / name}.extxyz.failed.json)")
            counts[name] = {"labelled": n, "failed": len(failed)}
        state.set(initial=counts)
    return ase.io.read(init / "test.extxyz", index=":")


def label_frames(workdir: Path, config: ALConfig, inp: Path, out: Path):
    """Label ``inp`` into ``out`` on the configured backend (the settings: al.yaml's label section)."""
    return label_file(inp, out, config.label, workdir / CONFIG_NAME, "label", kind=config.backend.kind,
                      workers=config.backend.workers, resources=config.resources("label"))


def training_frames(workdir: Path, gen: int, config: ALConfig | None = None) -> list:
    """The frames generation ``gen`` trains on: the initial ones, all labelled before it and
    the training split of the pieces harvested before it. With ``config``, the pieces carry
    NaN labels where training leaves them out (buffer forces; energies unless harvest.energies)."""
    frames = (ase.io.read(Path(workdir) / "initial" / "train.extxyz", index=":")
              + _labelled_until(workdir, gen))
    pieces = harvested_pieces(workdir, gen)
    if config is None or not pieces:
        return frames + pieces
    return with_consistent_stress(frames + [masked_copy(a, config.harvest.energies) for a in pieces])


def _labelled_until(workdir: Path, gen: int) -> list:
    frames = []
    for g in range(gen):
        frames += ase.io.read(gen_dir(workdir, g) / "label" / "labelled.extxyz", index=":")
    return frames


def _train(workdir, state, config, gen, test_frames, progress) -> list[Path]:
    path = gen_dir(workdir, gen)
    done = state.done(gen, "train")
    if done is not None:
        return [Path(m) for m in done["models"]]
    frames = training_frames(workdir, gen, config)
    previous = gen_dir(workdir, gen - 1) / "train" if gen > 0 and config.training.warm_start else None
    models = train_members(workdir, path, frames, config.ensemble.size, config.ensemble.seed,
                           config.ensemble.bootstrap, previous, parallel=config.training.parallel,
                           progress=progress)
    checkpoints = [m.parent / "out" / "last.ckpt" for m in models]
    errors = test_errors(checkpoints, test_frames)
    progress(f"{path.name}: test force RMSE of the ensemble mean {errors['ensemble_force_rmse']:.4f} eV/A")
    held_out = harvested_pieces(workdir, gen, "test")
    if held_out:
        errors["harvest"] = {"pieces": len(held_out), "core_force_rmse": core_force_rmse(checkpoints, held_out)}
        progress(f"{path.name}: core-force RMSE on {len(held_out)} held-out harvested pieces "
                 f"{errors['harvest']['core_force_rmse']:.4f} eV/A")
    package, joining = ensemble_package(path, models, progress)
    seconds = member_seconds(models)
    seconds["deploy"] += joining
    state.mark(gen, "train", {"frames": len(frames), "models": [str(m) for m in models], "test": errors,
                              "package": str(package) if package else None, "seconds": seconds})
    return models


def _explore(workdir, state, config, gen, models, progress) -> None:
    if state.done(gen, "explore") is not None:
        return
    data_files = {s.name: workdir / "structures" / f"{s.name}.data" for s in config.structures}
    # the members' package drives the MD with member 0 and evaluates the others; the files
    # do the same where there is none (members that cannot share one, or an older run)
    package = state.done(gen, "train").get("package")
    t0 = time.monotonic()
    runs = explore(gen_dir(workdir, gen), data_files, config.species, [Path(package)] if package else models,
                   config.exploration, config.exploration.halt_factor * config.trust.hi,
                   seed=1000 * (gen + 1) + config.ensemble.seed, progress=progress)
    state.mark(gen, "explore", {"runs": runs, "seconds": time.monotonic() - t0})


HIST_BINS = 40


def _select(workdir, state, config, gen) -> int:
    """Classify the explored frames, pick candidates, write candidates.extxyz."""
    done = state.done(gen, "select")
    if done is not None:
        return done["selected"]
    path = gen_dir(workdir, gen)
    runs = state.done(gen, "explore")["runs"]
    frames, devi, structures = explored_frames(path, runs, config.species)
    trust, sel = config.trust, config.selection
    lo = (adaptive_trust_lo(devi, trust.lo, trust.hi, trust.lo_min, sel.max_frames)
          if trust.adaptive else trust.lo)
    known = {frame_key(a) for a in training_frames(workdir, gen)}    # never labelled twice
    picked, _ = select(frames, devi, lo, trust.hi, sel.max_frames, config.species, sel.descriptor_cutoff,
                       groups=structures if sel.per_structure else None, known=known)
    # convergence: the configured levels, a halted run's unreached frames counted as failed
    classes = classify(devi, trust.lo, trust.hi)
    unexplored = unexplored_frames(runs, config.exploration.steps, config.exploration.every)
    counts = class_counts(classes)
    counts[FAILED] += sum(unexplored.values())
    by_structure = {}
    for name, missing in unexplored.items():
        mine = np.asarray(structures) == name
        by_structure[name] = float((classes[mine] == ACCURATE).sum() / max(mine.sum() + missing, 1))
    candidates = [frames[i] for i in picked]
    for a in candidates:
        a.info["ennp_generation"] = gen
    write_frames(path / "label" / "candidates.extxyz", candidates)
    edges = np.linspace(0.0, 2 * trust.hi, HIST_BINS + 1)
    hist = np.histogram(np.minimum(devi, edges[-1] - 1e-12), bins=edges)[0]
    total = max(len(devi) + sum(unexplored.values()), 1)
    result = {"frames": int(len(devi)), "unexplored": sum(unexplored.values()), "counts": counts,
              "fractions": {c: counts[c] / total for c in (ACCURATE, CANDIDATE, FAILED)},
              "accurate_by_structure": by_structure,
              "trust_lo": trust.lo, "trust_lo_used": lo, "trust_hi": trust.hi,
              "selected": len(picked),
              "selected_frames": [{"origin": a.info["ennp_origin"], "max_devi_f": a.info["ennp_max_devi_f"]}
                                  for a in candidates],
              "max_devi_f_hist": {"edges": edges.tolist(), "counts": hist.tolist()},
              "max_devi_f_max": float(devi.max()) if len(devi) else 0.0}
    state.mark(gen, "select", result)
    return len(picked)


def _stop_reason(state: State, config: ALConfig, gen: int) -> str | None:
    """None to go on. A harvest into generation g adds generation g + 1 (trained on its pieces),
    whatever the rule says, and raises the generation limit by one."""
    conv = config.convergence
    harvested = harvested_generations(state.path.parent)
    if gen in harvested:
        return None
    fractions = [state.done(g, "select")["fractions"][ACCURATE] for g in range(gen + 1)]
    last = fractions[-conv.generations:]
    if len(last) == conv.generations and min(last) >= conv.accurate_fraction:
        return (f"converged: accurate fraction {last[-1]:.3f} >= {conv.accurate_fraction} "
                f"in the last {conv.generations} generation(s)")
    limit = conv.max_generations + sum(1 for g in harvested if g < gen)
    if gen + 1 >= limit:
        return f"generation limit reached ({limit}" + (f", {conv.max_generations} + harvests)" if harvested else ")")
    return None


def dataset(workdir: str | Path) -> list:
    """The run's training data so far (initial frames and every finished label step)."""
    workdir = Path(workdir)
    state = State(workdir)
    if not state.data.get("initial"):
        return []
    labelled = sum(1 for g in range(len(state.data["generations"])) if state.done(g, "label"))
    return (ase.io.read(workdir / "initial" / "train.extxyz", index=":") + _labelled_until(workdir, labelled)
            + harvested_pieces(workdir, len(state.data["generations"])))


def duplicates(frames) -> int:
    keys = [frame_key(a) for a in frames]
    return len(keys) - len(set(keys))


def status(workdir: str | Path) -> str:
    """A human-readable summary of a run."""
    state, config = load_run(Path(workdir))
    lines = [f"active-learning run {workdir}: species {' '.join(config.species)}, "
             f"K={config.ensemble.size}, labeller {config.label.labeller}"]
    for name, r in (state.data.get("relaxed") or {}).items():
        lines.append(f"  relaxed {name} with the labeller: {r['energy_before_eV'] - r['energy_after_eV']:.2f} eV "
                     f"lower in {r['steps']} steps, largest force {r['largest_force_eV_A']:.3f} eV/A")
    init = state.data.get("initial")
    lines.append(f"  initial data: {init['train']['labelled']} train, {init['test']['labelled']} test frames"
                 if init else "  initial data: not labelled yet")
    for g, gen in enumerate(state.data["generations"]):
        d = gen["done"]
        parts = [f"gen_{g:03d}: done {', '.join(d) or 'nothing'}"]
        if "train" in d:
            parts.append(f"{d['train']['frames']} frames, test F RMSE {d['train']['test']['ensemble_force_rmse']:.4f} eV/A")
        if "select" in d:
            f = d["select"]["fractions"]
            parts.append(f"accurate {f[ACCURATE]:.2f} candidate {f[CANDIDATE]:.2f} failed {f[FAILED]:.2f}, "
                         f"selected {d['select']['selected']}")
            worst = d["select"].get("accurate_by_structure")
            if worst:    # the structure that holds convergence back
                name = min(worst, key=worst.get)
                parts.append(f"least accurate {name} {worst[name]:.2f}")
        if "label" in d:
            parts.append(f"labelled {d['label']['labelled']} (failed {d['label']['failed']})")
            calibrated = describe(generation_calibration(workdir, g, compute=False))
            if calibrated:
                parts.append(calibrated)
        if "train" in d and "harvest" in d["train"]["test"]:
            h = d["train"]["test"]["harvest"]
            parts.append(f"core F RMSE on {h['pieces']} held-out pieces {h['core_force_rmse']:.4f} eV/A")
        for h in harvest_records(workdir, g):
            parts.append(f"harvested {h['labelled']} pieces from {h['source']} ({h['held_out']} held out, "
                         f"failed {h['failed']}; core F RMSE before {h['core_force_rmse_before']:.4f} eV/A)")
        spent = generation_seconds(gen)
        if spent:
            parts.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in spent.items()))
        lines.append("  " + "; ".join(parts))
    fin = state.data.get("finished")
    lines.append(f"  finished: {fin['reason']} (generation {fin['generation']})" if fin else "  running or resumable")
    return "\n".join(lines)
