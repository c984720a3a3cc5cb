"""``ennp al harvest SOURCE --into WORK``: DFT-sized pieces around the atoms the ensemble
doubts in a large monitored run, labelled and added to the active-learning run.

SOURCE is a monitored run folder (ennp md, heat or vibrations with a bundle:
the result JSONs' ``uncertainty.model_devi_files`` name the runs, each with a
``devi.dump`` of every atom's eps_i), or one LAMMPS text dump with a per-atom
deviation column. Centres: atoms with trust_lo <= eps_i < trust_hi (``--trust-lo``,
``--trust-hi``, else the run's monitoring levels, else the AL run's ``trust``), none
within core + buffer of an atom at eps_i >= trust_hi: as DP-GEN discards its failed
frames, a region the ensemble doubts that much is taken for unphysical (atoms thrown
together by a model that broke down) and not labelled. Chosen diverse
(:mod:`.centres`); pieces: :mod:`.carving`. They are labelled with the AL
run's labeller and backend, resumable like every label step; failures are
recorded in labelled.extxyz.failed.json and never added. A harvest is
identified by its sources and settings: running it again after it finished
does nothing, and after a kill it goes on where it stopped.

The pieces join generation G, the last trained one: generation G + 1 trains on
their core forces (:mod:`ennp.train.masked_labels`), and ``ennp al run WORK``
trains it even where the run had stopped (:func:`.loop._stop_reason`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..cache import content_key
from ..config import ConfigError
from ..files import write_frames, write_json
from ..lammps.monitor import DEVI_FILE
from ..lammps.outputs import dump_frames, frame_to_atoms
from ..lammps.uncertainty import DEVI_DUMP
from .carving import carve, minimum_image
from .centres import pick_centres
from .loop import label_frames, load_run
from .pieces import RECORD, SPLIT, read_split
from .state import State, exclusive, gen_dir
from .training import core_force_rmse, stderr_progress


def source_dumps(source: str | Path) -> tuple[list[Path], float | None, float | None]:
    """The dumps with eps_i of SOURCE and, for a run folder, its monitoring trust_lo and trust_hi."""
    source = Path(source)
    if source.is_file():
        return [source], None, None
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such run folder or dump")
    dumps, levels, highs = [], [], []
    for path in sorted(source.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for block in _uncertainty_blocks(data):
            levels.append(block["trust_lo"])
            if block.get("trust_hi") is not None:
                highs.append(block["trust_hi"])
            for devi in block.get("model_devi_files", []):
                dump = Path(devi).with_name(DEVI_DUMP)
                if dump.is_file() and dump not in dumps:
                    dumps.append(dump)
    if not dumps:    # a run folder moved since: the dumps next to its model_devi files
        dumps = sorted(p.with_name(DEVI_DUMP) for p in source.rglob(DEVI_FILE) if p.with_name(DEVI_DUMP).is_file())
    if not dumps:
        raise ValueError(f"{source}: not a monitored run: no result JSON with an uncertainty block, and no "
                         f"{DEVI_DUMP} next to a {DEVI_FILE} (run with a model bundle, or give a dump)")
    return dumps, (min(levels) if levels else None), (min(highs) if highs else None)


def _uncertainty_blocks(data):
    if isinstance(data, dict):
        block = data.get("uncertainty")
        if isinstance(block, dict) and block.get("monitored"):
            yield block
        for key, value in data.items():
            if key != "uncertainty":
                yield from _uncertainty_blocks(value)
    elif isinstance(data, list):
        for value in data:
            yield from _uncertainty_blocks(value)


def doubtful_frames(dump: Path, column: str, species, elements, trust_lo: float) -> list:
    """Frames of ``dump`` with at least one atom at eps_i >= trust_lo, as Atoms with
    arrays ``eps`` and ``id``; streamed, so a long dump of a large run fits in memory."""
    frames = []
    for frame in dump_frames(dump):
        if column not in frame:
            raise ValueError(f"{dump}: no per-atom deviation column {column!r} at step {frame['step']} "
                             f"(columns: {' '.join(k for k in frame if k not in ('step', 'cell', 'pbc'))}); "
                             "name it with --column")
        eps = np.asarray(frame[column], dtype=float)
        if not np.isfinite(eps).all():
            raise ValueError(f"{dump}: column {column!r} holds NaN or Inf at step {frame['step']}")
        if eps.max() < trust_lo:
            continue
        atoms = frame_to_atoms(dump, frame, elements, pbc=None)
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise ValueError(f"{dump}: element(s) {unknown} at step {frame['step']} are not in the "
                             f"run's species {list(species)}")
        atoms.arrays = {k: atoms.arrays[k] for k in ("numbers", "positions")}
        atoms.arrays["eps"] = eps
        atoms.arrays["id"] = np.asarray(frame["id"], dtype=int)
        atoms.info = {"step": int(frame["step"]), "file": str(dump)}
        frames.append(atoms)
    return frames


def last_trained(state: State) -> int:
    trained = [g for g in range(len(state.data["generations"])) if state.done(g, "train")]
    if not trained:
        raise RuntimeError(f"{state.path.parent}: no trained generation yet to harvest for; "
                           f"run `ennp al run {state.path.parent}` first")
    return trained[-1]


def harvest(source: str | Path, workdir: str | Path, *, overrides: dict | None = None,
            trust_lo: float | None = None, trust_hi: float | None = None, elements=None,
            progress=stderr_progress) -> dict:
    """Carve, label and add the pieces; returns the harvest's record (harvest.json)."""
    workdir = Path(workdir)
    State(workdir)
    with exclusive(workdir):
        state, config = load_run(workdir)
        try:
            settings = replace(config.harvest, **(overrides or {}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"ennp al harvest: {exc}") from None
        gen = last_trained(state)
        model = config.training.model
        r_core = settings.core if settings.core is not None else model.r_max
        r_buffer = settings.buffer if settings.buffer is not None else model.r_max * model.num_layers
        dumps, source_lo, source_hi = source_dumps(source)
        lo = trust_lo if trust_lo is not None else source_lo if source_lo is not None else config.trust.lo
        hi = trust_hi if trust_hi is not None else source_hi if source_hi is not None else config.trust.hi
        if not lo < hi:
            raise ConfigError(f"ennp al harvest: need trust_lo < trust_hi, got {lo:g} and {hi:g} eV/A "
                              "(--trust-lo, --trust-hi, else the run's monitoring levels)")
        key = content_key("harvest", [(str(d.resolve()), d.stat().st_size, d.stat().st_mtime_ns) for d in dumps],
                          asdict(settings), lo, hi, r_core, r_buffer, list(elements or []))
        folder = gen_dir(workdir, gen) / "harvest" / key[:12]
        if (folder / RECORD).is_file():
            progress(f"{source}: already harvested into {folder}")
            return json.loads((folder / RECORD).read_text())
        folder.mkdir(parents=True, exist_ok=True)
        pieces_file = folder / "pieces.extxyz"
        if not pieces_file.is_file():
            carved = _carve_pieces(dumps, config.species, elements, settings, lo, hi, r_core, r_buffer, progress)
            (folder / "carving.json").write_text(json.dumps(carved["log"], indent=1))
            write_json(folder / "screening.json", carved["screening"])
            write_frames(pieces_file, carved["pieces"])
        progress(f"harvest: labelling the pieces with {config.label.labeller}")
        t0 = time.monotonic()
        n, failed = label_frames(workdir, config, pieces_file, folder / "labelled.extxyz")
        held_out = read_split(folder / "labelled.extxyz", "test")
        models = [Path(m).parent / "out" / "last.ckpt" for m in state.done(gen, "train")["models"]]
        before = core_force_rmse(models, held_out) if held_out else float("nan")
        record = {"source": str(source), "dumps": [str(d) for d in dumps], "generation": gen,
                  "trust_lo": lo, "trust_hi": hi, **json.loads((folder / "screening.json").read_text()),
                  "r_core_A": r_core, "r_buffer_A": r_buffer, "settings": asdict(settings),
                  "pieces": len(json.loads((folder / "carving.json").read_text())), "labelled": n,
                  "failed": len(failed), "held_out": len(held_out), "core_force_rmse_before": before,
                  "label_seconds": time.monotonic() - t0}
        _reset_next_generation(workdir, state, gen)
        state.set(finished=None)
        write_json(folder / RECORD, record)    # last: marks the harvest finished
        progress(f"harvest: {n} pieces into {gen_dir(workdir, gen).name} ({len(failed)} failed, "
                 f"{len(held_out)} held out); `ennp al run {workdir}` trains generation {gen + 1} on them")
        return record


def admissible_deviations(frame, lo: float, hi: float, reach: float) -> np.ndarray:
    """eps_i of ``frame`` with -inf where an atom may not be a centre: at or above ``hi``, or
    within ``reach`` (core + buffer, A) of an atom at or above ``hi``, whose piece would carry it."""
    eps = np.asarray(frame.arrays["eps"], float)
    failed = np.flatnonzero(eps >= hi)
    ok = (eps >= lo) & (eps < hi)
    for i in np.flatnonzero(ok):
        if failed.size:
            gaps = np.linalg.norm(minimum_image(frame.positions[failed] - frame.positions[i], frame.cell[:],
                                                frame.pbc), axis=1)
            ok[i] = gaps.min() > reach
    return np.where(ok, eps, -np.inf)


def _carve_pieces(dumps, species, elements, settings, lo, hi, r_core, r_buffer, progress) -> dict:
    frames = []
    for dump in dumps:
        frames += doubtful_frames(dump, settings.column, species, elements, lo)
    if not frames:
        raise ValueError(f"no atom reaches eps_i >= trust_lo {lo:g} eV/A in {[str(d) for d in dumps]}: "
                         "nothing to harvest")
    eps = [admissible_deviations(f, lo, hi, r_core + r_buffer) for f in frames]
    screening = {"doubtful_atoms": int(sum((f.arrays["eps"] >= lo).sum() for f in frames)),
                 "failed_atoms": int(sum((f.arrays["eps"] >= hi).sum() for f in frames)),
                 "admissible_atoms": int(sum(np.isfinite(e).sum() for e in eps))}
    if not screening["admissible_atoms"]:
        raise ValueError(f"every atom at eps_i >= trust_lo {lo:g} eV/A in {[str(d) for d in dumps]} is at or "
                         f"within {r_core + r_buffer:.1f} A of one at eps_i >= trust_hi {hi:g} eV/A "
                         f"({screening['failed_atoms']} such atom-frames): the ensemble has broken down there "
                         "and the configurations are not worth labelling; train it on smaller systems of "
                         "that kind first (ennp al), or harvest an earlier, shorter or cooler run")
    progress(f"harvest: {screening['admissible_atoms']} of {screening['doubtful_atoms']} doubtful atom-frames "
             f"can be centres ({screening['failed_atoms']} at eps_i >= trust_hi {hi:g} eV/A, kept out with "
             f"their surroundings)")
    centres = pick_centres(frames, eps, lo, settings.max_pieces, r_core, list(species),
                           allow_close=settings.allow_close)
    rng = np.random.default_rng(settings.seed)
    n_test = int(round(settings.test_fraction * len(centres)))
    if settings.test_fraction > 0 and len(centres) >= 2:
        n_test = max(n_test, 1)
    test = set(rng.permutation(len(centres))[:n_test].tolist())
    pieces, log = [], []
    for k, (f, i) in enumerate(centres):
        frame = frames[f]
        try:
            piece = carve(frame, i, r_core, r_buffer, settings.max_atoms, settings.vacuum)
        except ValueError as exc:
            raise ValueError(f"{frame.info['file']}: step {frame.info['step']}, atom id "
                             f"{frame.arrays['id'][i]}: {exc}") from None
        atoms = piece.atoms
        origin = f"harvest:{frame.info['file']}:step={frame.info['step']}:atom={frame.arrays['id'][i]}"
        atoms.info.update(ennp_origin=origin, ennp_max_devi_f=float(frame.arrays["eps"][i]),
                          ennp_centre=piece.centre, ennp_buffer_A=piece.buffer_A,
                          **{SPLIT: "test" if k in test else "train"})
        pieces.append(atoms)
        entry = {"origin": origin, "eps": float(frame.arrays["eps"][i]), "atoms": len(atoms),
                 "core_atoms": piece.core_atoms, "buffer_A": piece.buffer_A,
                 "periodic": list(piece.kept_periodic), "split": atoms.info[SPLIT]}
        log.append(entry)
        note = (f", buffer shrunk from {piece.buffer_asked_A:.2f} to {piece.buffer_A:.2f} A to stay within "
                f"{settings.max_atoms} atoms" if piece.shrunk else "")
        progress(f"harvest: piece {k + 1}/{len(centres)} around atom {frame.arrays['id'][i]} at step "
                 f"{frame.info['step']} (eps {entry['eps']:.3f} eV/A): {len(atoms)} atoms, "
                 f"{piece.core_atoms} in the core{note}")
    return {"pieces": pieces, "log": log, "screening": screening}


def _reset_next_generation(workdir: Path, state: State, gen: int) -> None:
    """An unfinished training of generation gen + 1 started without the pieces: start it again."""
    nxt = gen_dir(workdir, gen + 1) / "train"
    if nxt.exists() and state.done(gen + 1, "train") is None:
        shutil.rmtree(nxt)
