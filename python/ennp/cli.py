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
    q = al.add_parser("status", help="what is done in each generation")
    q.add_argument("workdir")
    q = al.add_parser("report", help="plots (PNG) and summary (JSON) per generation")
    q.add_argument("workdir")
    q.add_argument("--out", default=None, help="output folder (default WORKDIR/report)")
    p.set_defaults(func=_al)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"ennp {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
