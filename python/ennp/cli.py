"""``ennp STAGE [SUBVERB]``: thin command line over the package's functions.

One grammar: a stage (deploy, demo, label, al, bundle, heat, vibrations, md, submit), for the stages
with several actions a sub-verb (``ennp heat run|eels|beam``), and ``--out`` naming every
output, file or folder. Option defaults come from the config dataclasses.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .children import end_children_with_this_process


def _deploy(args) -> int:
    from .deploy.export import deploy, deploy_ensemble

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    if args.ensemble:
        out = deploy_ensemble(args.model, args.out, device=args.device, reuse=not args.compile,
                              training_data=args.data, progress=progress)
        print(f"deployed {len(args.model)} members {' '.join(args.model)} -> {out} ({args.device}, one file)")
        return 0
    if len(args.model) > 1:
        raise ValueError(f"{len(args.model)} models given: deploy one at a time, or add --ensemble to "
                         f"put them into one package")
    out = deploy(args.model[0], args.out, device=args.device, reuse=not args.compile, training_data=args.data,
                 progress=progress)
    print(f"deployed {args.model[0]} -> {out} ({args.device})")
    return 0


def _demo(args) -> int:
    from .demo import run_al_demo, run_demo

    if args.nve:
        run_demo(args.out or "runs/demo-nve", nprocs=args.np, steps=args.steps, repeat=args.repeat)
    else:
        run_al_demo(args.out or "runs/demo")
    return 0


def _label(args) -> int:
    import ase.io

    from .label.labelling import label_structures, load_label_config

    config = load_label_config(args.config, args.section)
    frames = ase.io.read(args.structures, index=":")
    n, failed = label_structures(frames, config, args.out, task=args.task, tasks=args.tasks)
    if n + len(failed) < len(frames):    # other tasks of the array are still running
        print(f"task {args.task}/{args.tasks} done; {n + len(failed)} of {len(frames)} finished")
        return 0
    print(f"labelled {n} of {len(frames)} structures with {config.labeller} -> {args.out}"
          + (f"; {len(failed)} failed (see {args.out}.failed.json)" if failed else ""))
    return 0


def _al(args) -> int:
    from .al import loop
    from .al.report import write_report

    if args.subverb == "init":
        loop.init_run(args.config, args.workdir)
        print(f"initialised {args.workdir} from {args.config}; next: ennp al run {args.workdir}")
    elif args.subverb == "run" and args.submit:
        loop.submit(args.workdir)
        print(f"ennp submit status {args.workdir}")
    elif args.subverb == "run":
        finished = loop.run(args.workdir)
        paths = write_report(args.workdir)
        print(f"{args.workdir}: {finished['reason']} (generation {finished['generation']}); "
              f"report {paths['png']}, {paths['json']}")
    elif args.subverb == "status":
        print(loop.status(args.workdir))
    elif args.subverb == "export":
        from .al.export import export_bundle

        out = export_bundle(args.workdir, args.out, args.generation, ensemble=args.ensemble)
        print(f"wrote the bundle {out} (check it with: ennp bundle check {out})")
    elif args.subverb == "harvest":
        from .al.harvest import harvest

        names = {"max": "max_pieces", "max_atoms": "max_atoms", "core": "core", "buffer": "buffer",
                 "column": "column", "allow_close": "allow_close"}
        overrides = {field: getattr(args, arg) for arg, field in names.items() if getattr(args, arg) is not None}
        harvest(args.source, args.into, overrides=overrides, trust_lo=args.trust_lo, trust_hi=args.trust_hi,
                elements=args.elements)
    elif args.subverb == "report":
        paths = write_report(args.workdir, args.out)
        print(f"wrote {paths['png']} and {paths['json']}")
    return 0


def _bundle(args) -> int:
    from .bundle import check_bundle

    for row in check_bundle(args.folder):
        held = f" ({row['members']} members)" if row["members"] > 1 else ""
        print(f"member {row['member']}: {row['file']}{held} types {' '.join(row['type_names'])}, "
              f"r_max {row['r_max']} A, {row['num_layers']} layers, {row['model_dtype']}")
    print(f"{args.folder}: bundle OK")
    return 0


def _chain(args) -> int:
    """``ennp heat|vibrations|md run``: run the chain here (up to --until), or submit it to Slurm."""
    import importlib
    from pathlib import Path

    from .chains import submit_chain

    chain = importlib.import_module(f".{args.stage}.chain", __package__)
    workdir = Path(args.out or Path("runs") / Path(args.config).stem)
    if args.submit:
        submit_chain(args.stage, args.config, workdir, chain.load_config(args.config))
        print(f"results in {workdir}; ennp submit status {workdir}")
        return 0
    chain.run_chain(args.config, workdir, until=args.until)
    print(f"results in {workdir}: {chain.OUTPUTS}" if args.until is None else f"done up to {args.until} in {workdir}")
    return 0


def _eels(args) -> int:
    from .files import write_json
    from .heat.eels import analyse_spectrum

    low, high = args.range if args.range else (None, None)
    result = analyse_spectrum(args.spectrum, low, high, args.tail)
    write_json(args.out, result)
    tail = f" + a power-law tail E^-{result['tail_exponent']:.2f} beyond ({result['tail_share_of_mean_loss']:.1%} " \
        "of <E>)" if result["tail"] == "power_law" else ""
    print(f"{args.spectrum}: t/lambda = {result['t_over_lambda']:.4f}, <E> = "
          f"{result['mean_energy_loss_eV']:.2f} eV over {result['range_eV'][0]:.1f}-"
          f"{result['range_eV'][1]:.1f} eV{tail} -> {args.out}")
    return 0


def _beam(args) -> int:
    from pathlib import Path

    from .files import write_json
    from .heat.report import beam_estimate, plot_heating

    table, label = beam_estimate(
        args.dose_rates, g=args.g, g_err=args.g_err, conductance=args.conductance, eels_json=args.eels,
        mean_loss_eV=args.mean_loss, t_over_lambda=args.t_over_lambda, diameter_A=args.diameter,
        beam_energy_keV=args.beam_energy, beta_mrad=args.beta, z_eff=args.z, mean_free_path=args.mean_free_path,
        density_g_cm3=args.density, structure=args.structure,
        cross_section_A2=args.cross_section, contact_area_A2=args.contact_area, contact_area=args.area_convention)
    write_json(args.out, table)
    png = Path(args.out).with_suffix(".png")
    plot_heating({label: table}, png)
    for r, t in zip(table["dose_rate_e_A2s"], table["delta_T_K"]):
        print(f"dose rate {r:.3g} e/A^2/s: dT = {t:.3g} K")
    print(f"wrote {args.out} and {png}")
    return 0


def _analyze(args) -> int:
    from pathlib import Path

    from .vibrations.analysis import analyse, describe_edge, write_results
    from .vibrations.trajectory import read_trajectory

    traj = read_trajectory(args.trajectory, args.species)
    result = analyse(traj, args.elements, args.rigid, args.blocks, args.bin, args.lattice_constant)
    png = Path(args.out).with_suffix(".png")
    write_results(result, Path(args.out), png)
    print(f"{result['atoms']} atoms, {result['frames']} frames: <|u|^2> = {result['msd_A2']:.4g} A^2, "
          f"RMS amplitude {result['rms_amplitude_A']:.4g} A; {describe_edge(result)}")
    print(f"wrote {args.out} and {png}")
    return 0


def _tem(args) -> int:
    from .vibrations.tem import Microscope, tem, write_tem
    from .vibrations.trajectory import read_trajectory

    try:
        defocus = args.defocus if args.defocus == "scherzer" else float(args.defocus)
    except ValueError:
        raise ValueError(f"--defocus must be a number (A) or scherzer, not {args.defocus!r}") from None
    mic = Microscope(energy_keV=args.energy, Cs_um=args.cs, defocus_A=defocus, aperture_mrad=args.aperture,
                     focal_spread_A=args.focal_spread, dose_e_A2=args.dose, sampling_A=args.sampling,
                     slice_thickness_A=args.slice_thickness, projection=args.projection)
    traj = read_trajectory(args.trajectory, args.species)
    result, images = tem(traj, args.flake, mic, args.snapshots, args.seed, not args.no_align, args.max_repetitions)
    paths = write_tem(result, images, args.out)
    c = result["mean_column_contrast"]
    print(f"{result['snapshots']} snapshots, {result['atoms']} atoms, defocus {result['microscope']['defocus_used_A']:.1f} A: "
          f"column contrast static {c['static']:.4f}, MD {c['md']:.4f}, Einstein {c['einstein']:.4f}")
    print(f"wrote {paths['json']}, {paths['png']} and the images as .npy in {args.out}")
    return 0


def _submit(args) -> int:
    from .submit import jobs

    if args.subverb == "run":
        jobs.submit_plan(args.plan, args.out)
        print(f"state in {args.out}/submit.json; ennp submit status {args.out}")
        return 0
    if args.subverb == "resubmit":
        jobs.resubmit_failed(args.workdir)
    for name, r in jobs.status(args.workdir).items():
        tasks = ", ".join(f"{k}:{v}" for k, v in r["tasks"].items()) if len(r["tasks"]) > 1 else \
            next(iter(r["tasks"].values()), "UNKNOWN")
        retries = f" (retries: {', '.join(r['retries'])})" if r["retries"] else ""
        print(f"{name:<16} job {r['job']:<8} {r['summary']:<10} {tasks}{retries}")
    return 0


def _run_verb(sub, stage: str, help: str) -> None:
    """``ennp STAGE run CONFIG [--out W] [--until STEP] [--submit]`` of a chain."""
    p = sub.add_parser("run", help=help)
    p.add_argument("config", help=f"{stage} YAML (see python/ennp/{stage}/example.yaml)")
    p.add_argument("--out", help="work folder (default runs/<config name>); a run there is resumed")
    p.add_argument("--until", metavar="STEP", help="stop after this step (each --submit job runs one)")
    p.add_argument("--submit", action="store_true",
                   help="submit one Slurm job per step (resources from the config's slurm: section), "
                        "recorded for ennp submit status|resubmit W")
    p.set_defaults(func=_chain)


def _stage(sub, name: str, help: str):
    """A stage with sub-verbs: returns the sub-verbs' subparsers."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(stage=name)
    return p.add_subparsers(dest="subverb", required=True, metavar="SUBVERB")


def parser() -> argparse.ArgumentParser:
    from .al.config import Harvest
    from .builders.nanoparticle import CONTACT_AREAS
    from .config import default
    from .demo import run_demo
    from .heat.config import BeamSpec
    from .vibrations.config import AnalysisSettings, TemSettings
    from .vibrations.tem import Microscope

    def d(cls, name):
        return default(cls, name)

    top = argparse.ArgumentParser(prog="ennp", description=__doc__.split("\n\n")[0],
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    top.add_argument("--version", action="version", version=f"ennp {__version__}")
    sub = top.add_subparsers(dest="stage", required=True, metavar="STAGE")
    fmt = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}

    p = sub.add_parser("deploy", help="compile a nequip checkpoint/package for pair_style ennp", **fmt)
    p.add_argument("model", nargs="+",
                   help="nequip-train checkpoint (.ckpt) or nequip-package file (.nequip.zip); several with --ensemble")
    p.add_argument("--out", required=True, help="the deployed model, ending in .nequip.pt2")
    p.add_argument("--ensemble", action="store_true",
                   help="one package of all the models given (members of one architecture, member 0 first): "
                        "compute ennp/ensemble takes it for the member list, pair_style ennp drives with "
                        "member 0 or their mean")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--compile", action="store_true",
                   help="compile even where a compiled package of the same architecture is cached "
                        "(by default its weights are swapped for this model's, CPU only)")
    p.add_argument("--data", default=None,
                   help="the training data (extxyz or any file ASE reads): its smallest distance of each "
                        "element pair goes into the model, and pair_style ennp warns when atoms come closer")
    p.set_defaults(func=_deploy)

    p = sub.add_parser("demo", help="the demo: active learning on small Au/TiO2 (embedded labeller); "
                       "--nve: train, deploy, MPI LAMMPS NVE of Au", **fmt)
    p.add_argument("--out", default=None, help="work folder (default runs/demo, runs/demo-nve with --nve); "
                   "an unfinished run there is resumed")
    p.add_argument("--nve", action="store_true", help="the MD demo instead of active learning")
    p.add_argument("--np", type=int, default=d(run_demo, "nprocs"), help="MPI ranks for LAMMPS (--nve)")
    p.add_argument("--steps", type=int, default=d(run_demo, "steps"), help="NVE steps (--nve)")
    p.add_argument("--repeat", type=int, default=d(run_demo, "repeat"), help="fcc Au supercell repeat (--nve)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("label", help="label structures with energies, forces, stresses (QE or stand-in)", **fmt)
    p.add_argument("structures", help="structures (any ASE-readable file, e.g. extxyz)")
    p.add_argument("--out", required=True, help="labelled extxyz (resumable: finished structures are kept)")
    p.add_argument("--config", required=True, help="YAML with 'labeller' and 'qe' settings")
    p.add_argument("--section", default=None, help="read the settings from this top-level section")
    p.add_argument("--task", type=int, default=0, help="label structures i with i %% tasks == task "
                   "(Slurm array tasks, parallel workers)")
    p.add_argument("--tasks", type=int, default=1)
    p.set_defaults(func=_label)

    al = _stage(sub, "al", "active learning: ensemble training, LAMMPS exploration, selection, labelling")
    q = al.add_parser("init", help="validate a config and create the run directory", **fmt)
    q.add_argument("config", help="active-learning YAML (see python/ennp/al/example.yaml)")
    q.add_argument("workdir")
    q = al.add_parser("run", help="run or resume the loop until it converges or hits the generation limit", **fmt)
    q.add_argument("workdir")
    q.add_argument("--submit", action="store_true", help="run the loop as a Slurm job (resources: the config's slurm.loop)")
    q = al.add_parser("status", help="what is done in each generation", **fmt)
    q.add_argument("workdir")
    q = al.add_parser("report", help="plots (PNG) and summary (JSON) per generation", **fmt)
    q.add_argument("workdir")
    q.add_argument("--out", default=None, help="output folder (default WORKDIR/report)")
    q = al.add_parser("export", help="a generation's members as a model bundle (bundle.yaml)", **fmt)
    q.add_argument("workdir")
    q.add_argument("out", help="the bundle folder")
    q.add_argument("--generation", type=int, default=None, help="default: the last trained one")
    q.add_argument("--ensemble", action="store_true",
                   help="the members as one ensemble package (ensemble.nequip.pt2) instead of a file each")
    q = al.add_parser("harvest", help="pieces around the doubtful atoms of a large monitored run, labelled "
                      "and added to the next generation", **fmt)
    q.add_argument("source", help="a monitored run folder (ennp md/heat/vibrations with a bundle) or a LAMMPS dump "
                   "with a per-atom deviation column")
    q.add_argument("--into", required=True, metavar="WORK", help="the active-learning run that gets the pieces")
    q.add_argument("--max", type=int, default=None, help=f"pieces (default: harvest.max_pieces, {d(Harvest, 'max_pieces')})")
    q.add_argument("--max-atoms", type=int, default=None,
                   help=f"atoms per piece; the buffer shrinks first (default: harvest.max_atoms, {d(Harvest, 'max_atoms')})")
    q.add_argument("--core", type=float, default=None, help="core radius in A (default: the models' r_max)")
    q.add_argument("--buffer", type=float, default=None,
                   help="buffer width in A (default: r_max x num_layers, the receptive field)")
    q.add_argument("--trust-lo", type=float, default=None,
                   help="eps_i level of a centre in eV/A (default: the run's monitoring level, else the AL run's trust.lo)")
    q.add_argument("--trust-hi", type=float, default=None,
                   help="eps_i in eV/A from which an atom and its surroundings are not harvested (failed, as "
                        "DP-GEN discards; default: the run's monitoring level, else the AL run's trust.hi)")
    q.add_argument("--column", default=None, help=f"the dump's deviation column (default {d(Harvest, 'column')})")
    q.add_argument("--elements", nargs="+", default=None,
                   help="elements of LAMMPS types 1, 2, ... for a dump without an element column")
    q.add_argument("--allow-close", action="store_true", default=None,
                   help="allow centres closer than the core radius in one frame")
    for q in al.choices.values():
        q.set_defaults(func=_al)

    bundle = _stage(sub, "bundle", "model bundles: an ensemble of deployed members with bundle.yaml")
    q = bundle.add_parser("check", help="load every member and check that they agree with the bundle's species",
                          **fmt)
    q.add_argument("folder", help="the bundle folder (with bundle.yaml)")
    q.set_defaults(func=_bundle)

    heat = _stage(sub, "heat", "Au particle on TiO2: interfacial conductance G by NEMD, EELS, beam heating")
    _run_verb(heat, "heat", "the chain build -> NEMD conductance G -> beam heating, from one YAML (resumable)")
    q = heat.add_parser("eels", help="t/lambda (log-ratio) and mean energy loss from a low-loss spectrum", **fmt)
    q.add_argument("spectrum", help=".msa, .dm3/.dm4, .hspy (anything hyperspy/rosettasciio reads)")
    q.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="energy-loss range (eV) for the mean loss (default: ZLP end to spectrum end, "
                        "extrapolated beyond with --tail)")
    q.add_argument("--tail", default="power_law", choices=["power_law", "none"],
                   help="losses beyond the spectrum's end: a fitted power law A E^-r, or none (the range only)")
    q.add_argument("--out", required=True, help="result JSON")
    q.set_defaults(func=_eels)
    q = heat.add_parser("beam", help="steady-state temperature rise dT = P / (G A_contact) vs dose rate", **fmt)
    q.add_argument("--dose-rates", nargs="+", type=float, default=d(BeamSpec, "dose_rates"), help="e / A^2 / s")
    q.add_argument("--g", type=float, help="conductance (MW m^-2 K^-1)")
    q.add_argument("--g-err", type=float, default=0.0)
    q.add_argument("--conductance", help="NEMD result JSON with G_MW_m2K (and G_err_MW_m2K)")
    q.add_argument("--eels", help="JSON from `ennp heat eels`")
    q.add_argument("--mean-loss", type=float, help="mean energy loss per inelastic event (eV)")
    q.add_argument("--t-over-lambda", type=float)
    q.add_argument("--diameter", type=float, help="particle diameter (A): t/lambda from the mean free path")
    q.add_argument("--beam-energy", type=float, default=max(d(BeamSpec, "energies_keV")), help="keV (mean free path)")
    q.add_argument("--mean-free-path", choices=("total", "malis"), default=d(BeamSpec, "mean_free_path"),
                   help="with --diameter: total (all scattering angles, Iakoubovskii et al. 2008) or malis "
                        "(lambda at the collection angle --beta)")
    q.add_argument("--density", type=float, default=d(BeamSpec, "density_g_cm3"), help="g/cm^3 (total mean free path)")
    q.add_argument("--beta", type=float, default=d(BeamSpec, "beta_mrad"), help="collection semi-angle, mrad (malis)")
    q.add_argument("--z", type=float, default=d(BeamSpec, "z_eff"), help="(effective) atomic number (malis)")
    q.add_argument("--structure", help="STRUCT.data.json from a particle builder (areas)")
    q.add_argument("--cross-section", type=float, help="A^2")
    q.add_argument("--contact-area", type=float, help="A^2")
    q.add_argument("--area-convention", choices=CONTACT_AREAS, default=None,
                   help="the contact-area convention of G: hull (bottom layer's convex hull, as Nunez Valencia "
                        "et al. 2024) or footprint; default: the --conductance JSON's, else hull")
    q.add_argument("--out", required=True, help="result JSON (and the plot beside it, .png)")
    q.set_defaults(func=_beam)

    vib = _stage(sub, "vibrations", "MoS2 flake on graphite: vibration amplitudes vs edge distance, HR-TEM")
    _run_verb(vib, "vibrations", "the chain build -> MD -> amplitudes vs edge distance -> HR-TEM, "
              "from one YAML (resumable)")
    q = vib.add_parser("analyze", help="per-atom vibration amplitudes, edge profile and falloff of a trajectory", **fmt)
    q.add_argument("trajectory", help="LAMMPS dump (id type [element] x y z or xu yu zu) or extxyz")
    q.add_argument("--out", required=True, help="result JSON (and the plot beside it, .png)")
    q.add_argument("--species", nargs="+", help="elements of LAMMPS types 1, 2, ... (dumps without element)")
    q.add_argument("--elements", nargs="+", help="analyse only these elements (the flake), e.g. Mo S; default all")
    q.add_argument("--rigid", default=d(AnalysisSettings, "rigid"), choices=["full", "translation", "none"],
                   help="rigid-body motion removed per frame (full: translation + rotation)")
    q.add_argument("--blocks", type=int, default=d(AnalysisSettings, "blocks"), help="time blocks for the error bars")
    q.add_argument("--bin", type=float, default=d(AnalysisSettings, "bin"), help="edge-distance bin (A)")
    q.add_argument("--lattice-constant", type=float, default=d(AnalysisSettings, "lattice_constant"),
                   help="A: decay length and falloff also in lattice constants")
    q.set_defaults(func=_analyze)
    q = vib.add_parser("tem", help="HR-TEM images (abTEM multislice) from MD snapshots, the Einstein model "
                       "and the static structure; MD - Einstein; column contrast vs edge distance", **fmt)
    q.add_argument("trajectory", help="LAMMPS dump or extxyz (as for ennp vibrations analyze)")
    q.add_argument("--out", required=True, help="folder for tem.json, tem.png and the .npy images")
    q.add_argument("--species", nargs="+", help="elements of LAMMPS types 1, 2, ... (dumps without element)")
    q.add_argument("--flake", nargs="+", default=d(AnalysisSettings, "flake"), help="elements of the flake")
    q.add_argument("--snapshots", type=int, default=d(TemSettings, "snapshots"),
                   help="MD frames (evenly spread) = Einstein configurations")
    q.add_argument("--energy", type=float, default=d(Microscope, "energy_keV"), help="beam energy (keV)")
    q.add_argument("--cs", type=float, default=d(Microscope, "Cs_um"), help="spherical aberration Cs (um)")
    q.add_argument("--defocus", default=d(Microscope, "defocus_A"), help="defocus (A, positive = underfocus) or scherzer")
    q.add_argument("--aperture", type=float, default=d(Microscope, "aperture_mrad"), help="objective aperture semi-angle (mrad)")
    q.add_argument("--focal-spread", type=float, default=d(Microscope, "focal_spread_A"), help="chromatic focal spread (A)")
    q.add_argument("--dose", type=float, default=d(Microscope, "dose_e_A2"), help="e/A^2: also write Poisson-noise images")
    q.add_argument("--sampling", type=float, default=d(Microscope, "sampling_A"), help="pixel size (A)")
    q.add_argument("--slice-thickness", type=float, default=d(Microscope, "slice_thickness_A"), help="multislice slice (A)")
    q.add_argument("--projection", default=d(Microscope, "projection"), choices=["infinite", "finite"])
    q.add_argument("--seed", type=int, default=d(TemSettings, "seed"), help="Einstein displacements and noise")
    q.add_argument("--no-align", action="store_true", help="keep the flake's rigid motion in the snapshots")
    q.add_argument("--max-repetitions", type=int, default=d(TemSettings, "max_repetitions"),
                   help="to make a skewed cell orthogonal")
    q.set_defaults(func=_tem)

    md = _stage(sub, "md", "production MD in checkpointed segments")
    _run_verb(md, "md", "production MD from one YAML; resumes after a kill or a time limit "
              "(--submit: a Slurm job that requeues itself)")

    sb = _stage(sub, "submit", "plans of Slurm jobs with dependencies: submit, status, resubmit")
    q = sb.add_parser("run", help="submit a plan (again after a crash: submits only what is missing)", **fmt)
    q.add_argument("plan", help="plan YAML (see python/ennp/submit/example.yaml)")
    q.add_argument("--out", required=True, help="work folder: the jobs run there and submit.json records them")
    q = sb.add_parser("status", help="every stage's jobs and array tasks", **fmt)
    q.add_argument("workdir", help="the plan's work folder (holds submit.json)")
    q = sb.add_parser("resubmit", help="resubmit failed jobs (of arrays, the failed tasks), then report", **fmt)
    q.add_argument("workdir", help="the plan's work folder (holds submit.json)")
    for q in sb.choices.values():
        q.set_defaults(func=_submit)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    end_children_with_this_process()
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        verb = " ".join(filter(None, (args.stage, getattr(args, "subverb", None))))
        print(f"ennp {verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
