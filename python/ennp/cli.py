"""``ennp <verb>``: thin command line over the package's functions."""

from __future__ import annotations

import argparse
import sys


def _deploy(args) -> int:
    from .deploy.export import deploy

    out = deploy(args.model, args.out, device=args.device)
    print(f"deployed {args.model} -> {out} ({args.device})")
    return 0


def _demo(args) -> int:
    from .demo import run_al_demo, run_demo

    if args.nve:
        run_demo(args.workdir or "runs/demo-nve", nprocs=args.np, steps=args.steps, repeat=args.repeat)
    else:
        run_al_demo(args.workdir or "runs/demo")
    return 0


def _label(args) -> int:
    import ase.io

    from .label.labelling import label_structures, load_label_config

    config = load_label_config(args.config, args.section)
    frames = ase.io.read(args.inp, index=":")
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

    if args.al_verb == "init":
        loop.init_run(args.config, args.workdir)
        print(f"initialised {args.workdir} from {args.config}; next: ennp al run {args.workdir}")
    elif args.al_verb == "run" and args.submit:
        loop.submit(args.workdir)
        print(f"ennp submit --status {args.workdir}")
    elif args.al_verb == "run":
        finished = loop.run(args.workdir)
        paths = write_report(args.workdir)
        print(f"{args.workdir}: {finished['reason']} (generation {finished['generation']}); "
              f"report {paths['png']}, {paths['json']}")
    elif args.al_verb == "status":
        print(loop.status(args.workdir))
    elif args.al_verb == "report":
        paths = write_report(args.workdir, args.out)
        print(f"wrote {paths['png']} and {paths['json']}")
    return 0


def _beam(args) -> int:
    import json
    import math
    from pathlib import Path

    from .files import write_json
    from .heat import eels
    from .heat.report import heating_table, plot_heating, read_conductance

    if args.beam_verb == "eels":
        low, high = args.range if args.range else (None, None)
        result = eels.analyse_spectrum(args.spectrum, low, high)
        write_json(args.json, result)
        print(f"{args.spectrum}: t/lambda = {result['t_over_lambda']:.4f}, <E> = "
              f"{result['mean_energy_loss_eV']:.2f} eV over {result['range_eV'][0]:.1f}-"
              f"{result['range_eV'][1]:.1f} eV -> {args.json}")
        return 0
    if args.conductance:
        g, g_err = read_conductance(args.conductance)
    elif args.g is not None:
        g, g_err = args.g, args.g_err
    else:
        raise ValueError("give the conductance: --g VALUE or --conductance NEMD.json")
    cross, contact = args.cross_section, args.contact_area
    if args.structure:
        meta = json.loads(Path(args.structure).read_text())
        try:
            cross = cross or meta["ennp_cross_section_A2"]
            contact = contact or meta["ennp_contact_area_A2"]
        except KeyError as exc:
            raise ValueError(f"{args.structure}: no field {exc} (write it with a particle builder)") from None
    if args.eels:
        data = json.loads(Path(args.eels).read_text())
        if not {"t_over_lambda", "mean_energy_loss_eV"} <= set(data):
            raise ValueError(f"{args.eels}: needs t_over_lambda and mean_energy_loss_eV (from ennp beam eels)")
        tl, loss = data["t_over_lambda"], data["mean_energy_loss_eV"]
    else:
        if args.mean_loss is None:
            raise ValueError("give --eels EELS.json or --mean-loss (eV)")
        loss, tl = args.mean_loss, args.t_over_lambda
        if tl is None:
            if args.diameter is None:
                raise ValueError("give --t-over-lambda, or --diameter (A) to use the Malis mean free path")
            mfp = eels.malis_mean_free_path(args.beam_energy, args.z, args.beta)
            from .heat.beam import sphere_t_over_lambda

            tl = sphere_t_over_lambda(args.diameter, mfp)
            cross = cross or math.pi * args.diameter**2 / 4
    if not cross or not contact:
        raise ValueError("give --structure STRUCT.json or both --cross-section and --contact-area (A^2)")
    table = heating_table(g, g_err, loss, tl, cross, contact, args.dose_rates)
    write_json(args.json, table)
    png = Path(args.json).with_suffix(".png")
    label = "from EELS" if args.eels else \
        f"{args.beam_energy:g} keV (Malis)" if args.t_over_lambda is None else "given t/lambda"
    plot_heating({label: table}, png)
    for r, t in zip(table["dose_rate_e_A2s"], table["delta_T_K"]):
        print(f"dose rate {r:.3g} e/A^2/s: dT = {t:.3g} K")
    print(f"wrote {args.json} and {png}")
    return 0


def _chain(args, name: str, outputs: str) -> int:
    """``ennp heat|vibrations|md``: run the chain here (up to --until), or submit it to Slurm."""
    import importlib
    from pathlib import Path

    from .chains import submit_chain

    chain = importlib.import_module(f".{name}.chain", __package__)
    workdir = Path(args.workdir or Path("runs") / Path(args.config).stem)
    if args.submit:
        submit_chain(name, args.config, workdir, chain.load_config(args.config))
        print(f"results in {workdir}; ennp submit --status {workdir}")
        return 0
    chain.run_chain(args.config, workdir, until=args.until)
    print(f"results in {workdir}: {outputs}" if args.until is None else f"done up to {args.until} in {workdir}")
    return 0


def _submit(args) -> int:
    from .submit import jobs

    if args.status or args.resubmit:
        workdir = args.target
        if args.resubmit:
            jobs.resubmit_failed(workdir)
        for name, r in jobs.status(workdir).items():
            tasks = ", ".join(f"{k}:{v}" for k, v in r["tasks"].items()) if len(r["tasks"]) > 1 else \
                next(iter(r["tasks"].values()), "UNKNOWN")
            retries = f" (retries: {', '.join(r['retries'])})" if r["retries"] else ""
            print(f"{name:<16} job {r['job']:<8} {r['summary']:<10} {tasks}{retries}")
        return 0
    if not args.workdir:
        raise ValueError("give --workdir W: the plan's jobs run there and submit.json records them")
    jobs.submit_plan(args.target, args.workdir)
    print(f"state in {args.workdir}/submit.json; ennp submit --status {args.workdir}")
    return 0


def _vib(args) -> int:
    from pathlib import Path

    from .vibrations.analysis import analyse, write_results
    from .vibrations.trajectory import read_trajectory

    traj = read_trajectory(args.trajectory, args.species)
    result = analyse(traj, args.elements, args.rigid, args.blocks, args.bin, args.lattice_constant)
    png = Path(args.png or Path(args.json).with_suffix(".png"))
    write_results(result, Path(args.json), png)
    fall = result.get("falloff_A")
    print(f"{result['atoms']} atoms, {result['frames']} frames: <|u|^2> = {result['msd_A2']:.4g} A^2, "
          f"RMS amplitude {result['rms_amplitude_A']:.4g} A; falloff to the interior value "
          f"{'not reached' if fall is None else f'at {fall:.1f} A from the edge'}")
    print(f"wrote {args.json} and {png}")
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


def add_chain(sub, name: str, help: str, outputs: str) -> None:
    """A chain verb: CONFIG [--workdir W] [--until STEP] [--submit], run by :func:`_chain`."""
    p = sub.add_parser(name, help=help)
    p.add_argument("config", help=f"{name} YAML (see python/ennp/{name}/example.yaml)")
    p.add_argument("--workdir", help="default runs/<config name>")
    p.add_argument("--until", metavar="STEP", help="stop after this step (each --submit job runs one)")
    p.add_argument("--submit", action="store_true",
                   help="submit one Slurm job per step (resources from the config's slurm: section), "
                        "recorded for ennp submit --status/--resubmit W")
    p.set_defaults(func=lambda args: _chain(args, name, outputs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ennp", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("deploy", help="compile a nequip checkpoint/package for pair_style ennp")
    p.add_argument("model", help="nequip-train checkpoint (.ckpt) or nequip-package file (.nequip.zip)")
    p.add_argument("out", help="output file, ending in .nequip.pt2")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.set_defaults(func=_deploy)

    p = sub.add_parser("demo", help="main job: active learning on small Au/TiO2 (embedded labeller); "
                       "--nve: train, deploy, MPI LAMMPS NVE of Au")
    p.add_argument("--workdir", default=None, help="default runs/demo (runs/demo-nve with --nve); "
                   "an unfinished run there is resumed")
    p.add_argument("--nve", action="store_true", help="the MD demo instead of active learning")
    p.add_argument("--np", type=int, default=2, help="MPI ranks for LAMMPS")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=6, help="fcc Au supercell repeat (4 atoms each)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("label", help="label structures with energies, forces, stresses (QE or stand-in)")
    p.add_argument("inp", help="structures (any ASE-readable file, e.g. extxyz)")
    p.add_argument("out", help="labelled extxyz (resumable: finished structures are kept)")
    p.add_argument("--config", required=True, help="YAML with 'labeller' and 'qe' settings")
    p.add_argument("--section", default=None, help="read the settings from this top-level section")
    p.add_argument("--task", type=int, default=0, help="label structures i with i %% tasks == task "
                   "(Slurm array tasks, parallel workers)")
    p.add_argument("--tasks", type=int, default=1)
    p.set_defaults(func=_label)

    p = sub.add_parser("al", help="active learning: ensemble training, LAMMPS exploration, selection, labelling")
    al = p.add_subparsers(dest="al_verb", required=True)
    q = al.add_parser("init", help="validate a config and create the run directory")
    q.add_argument("config", help="active-learning YAML (see python/ennp/al/example.yaml)")
    q.add_argument("workdir")
    q = al.add_parser("run", help="run or resume the loop until it converges or hits the generation limit")
    q.add_argument("workdir")
    q.add_argument("--submit", action="store_true", help="run the loop as a Slurm job (backend.driver resources)")
    q = al.add_parser("status", help="what is done in each generation")
    q.add_argument("workdir")
    q = al.add_parser("report", help="plots (PNG) and summary (JSON) per generation")
    q.add_argument("workdir")
    q.add_argument("--out", default=None, help="output folder (default WORKDIR/report)")
    p.set_defaults(func=_al)

    p = sub.add_parser("beam", help="electron-beam heating: EELS analysis and temperature rise")
    beam = p.add_subparsers(dest="beam_verb", required=True)
    q = beam.add_parser("eels", help="t/lambda (log-ratio) and mean energy loss from a low-loss spectrum")
    q.add_argument("spectrum", help=".msa, .dm3/.dm4, .hspy (anything hyperspy/rosettasciio reads)")
    q.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="energy-loss range (eV) for the mean loss (default: ZLP end to spectrum end)")
    q.add_argument("--json", required=True)
    q = beam.add_parser("heat", help="steady-state temperature rise dT = P / (G A_contact) vs dose rate")
    q.add_argument("--dose-rates", nargs="+", type=float, required=True, help="e / A^2 / s")
    q.add_argument("--g", type=float, help="conductance (MW m^-2 K^-1)")
    q.add_argument("--g-err", type=float, default=0.0)
    q.add_argument("--conductance", help="NEMD result JSON with G_MW_m2K (and G_err_MW_m2K)")
    q.add_argument("--eels", help="JSON from `ennp beam eels`")
    q.add_argument("--mean-loss", type=float, help="mean energy loss per inelastic event (eV)")
    q.add_argument("--t-over-lambda", type=float)
    q.add_argument("--diameter", type=float, help="particle diameter (A): t/lambda from the Malis formula")
    q.add_argument("--beam-energy", type=float, default=300.0, help="keV (Malis)")
    q.add_argument("--beta", type=float, default=10.0, help="collection semi-angle, mrad (Malis)")
    q.add_argument("--z", type=float, default=79.0, help="(effective) atomic number (Malis)")
    q.add_argument("--structure", help="STRUCT.data.json from a particle builder (areas)")
    q.add_argument("--cross-section", type=float, help="A^2")
    q.add_argument("--contact-area", type=float, help="A^2")
    q.add_argument("--json", required=True)
    p.set_defaults(func=_beam)

    add_chain(sub, "heat", "Au particle on TiO2: build -> NEMD conductance G -> beam heating, "
              "from one YAML (resumable)",
              "heat.json, steady/transient .json/.png, vdos.png, beam.png")

    add_chain(sub, "md", "production MD in checkpointed segments from one YAML; resumes after "
              "a kill or a time limit (--submit: a Slurm job that requeues itself)",
              "md.json, run/trajectory.dump (all segments joined), run/log.*.lammps")

    p = sub.add_parser("submit", help="submit a plan of Slurm jobs with dependencies; --status; --resubmit "
                       "failed jobs and array tasks")
    p.add_argument("target", help="plan YAML (see python/ennp/submit/example.yaml), or the work folder with "
                   "--status/--resubmit")
    p.add_argument("--workdir", help="where the jobs run and submit.json records them")
    p.add_argument("--status", action="store_true", help="report every stage's jobs and tasks")
    p.add_argument("--resubmit", action="store_true", help="resubmit failed jobs (of arrays, the failed tasks), then report")
    p.set_defaults(func=_submit)

    p = sub.add_parser("vib", help="vibrations of supported flakes")
    vib = p.add_subparsers(dest="vib_verb", required=True)
    q = vib.add_parser("analyze", help="per-atom vibration amplitudes, edge profile and falloff of a trajectory")
    q.add_argument("trajectory", help="LAMMPS dump (id type [element] x y z or xu yu zu) or extxyz")
    q.add_argument("--json", required=True)
    q.add_argument("--png", help="plot (default: the JSON's name with .png)")
    q.add_argument("--species", nargs="+", help="elements of LAMMPS types 1, 2, ... (dumps without element)")
    q.add_argument("--elements", nargs="+", help="analyse only these elements (the flake), e.g. Mo S")
    q.add_argument("--rigid", default="full", choices=["full", "translation", "none"],
                   help="rigid-body motion removed per frame (default: translation + rotation)")
    q.add_argument("--blocks", type=int, default=5, help="time blocks for the error bars")
    q.add_argument("--bin", type=float, default=1.0, help="edge-distance bin (A)")
    q.add_argument("--lattice-constant", type=float, default=3.16, help="A: falloff also in lattice constants")
    p.set_defaults(func=_vib)

    add_chain(sub, "vibrations", "MoS2 flake on graphite: build -> MD -> amplitudes vs edge distance "
              "-> HR-TEM, from one YAML (resumable)",
              "vibrations.json, vib.json/.png, tem/ (tem.json/.png, images .npy)")

    p = sub.add_parser("tem", help="HR-TEM images (abTEM multislice) from MD snapshots, the Einstein model "
                       "and the static structure; MD - Einstein; column contrast vs edge distance")
    p.add_argument("trajectory", help="LAMMPS dump or extxyz (as for ennp vib analyze)")
    p.add_argument("--out", required=True, help="folder for tem.json, tem.png and the .npy images")
    p.add_argument("--species", nargs="+", help="elements of LAMMPS types 1, 2, ... (dumps without element)")
    p.add_argument("--flake", nargs="+", default=["Mo", "S"], help="elements of the flake (default Mo S)")
    p.add_argument("--snapshots", type=int, default=20, help="MD frames (evenly spread) = Einstein configurations")
    p.add_argument("--energy", type=float, default=80.0, help="beam energy (keV)")
    p.add_argument("--cs", type=float, default=-20.0, help="spherical aberration Cs (um)")
    p.add_argument("--defocus", default="scherzer", help="defocus (A, positive = underfocus) or scherzer")
    p.add_argument("--aperture", type=float, default=25.0, help="objective aperture semi-angle (mrad)")
    p.add_argument("--focal-spread", type=float, default=30.0, help="chromatic focal spread (A)")
    p.add_argument("--dose", type=float, default=0.0, help="e/A^2: also write Poisson-noise images")
    p.add_argument("--sampling", type=float, default=0.05, help="pixel size (A)")
    p.add_argument("--slice-thickness", type=float, default=1.0, help="multislice slice (A)")
    p.add_argument("--projection", default="infinite", choices=["infinite", "finite"])
    p.add_argument("--seed", type=int, default=1, help="Einstein displacements and noise")
    p.add_argument("--no-align", action="store_true", help="keep the flake's rigid motion in the snapshots")
    p.add_argument("--max-repetitions", type=int, default=5, help="to make a skewed cell orthogonal")
    p.set_defaults(func=_tem)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"ennp {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
