"""What batching K members into one model could save at most. Prints the bounds.

    .venv/bin/python benchmarks/bench_ensemble_sharing.py [--out figures.json]

Members of one architecture share the graph: edge vectors, their lengths, spherical harmonics,
radial basis and cutoff (the modules before the first message-passing layer that hold no
trained weights). Everything after that (the layers' tensor products, radial MLPs, linears,
scatters and their backward) depends on a member's weights and is done once per member,
batched or not. With s the shared share of one force evaluation, one batched invocation costs
at least (s + K (1 - s)) / K x (K x one evaluation): the lower bound on the per-call ratio of
bench_ensemble.py.

Separate forces per member need the geometry's backward once per member, unless the per-edge
Jacobians of its outputs with respect to the edge vectors are formed once and contracted with
each member's gradients. Forward-mode differentiation (torch.func.jvp) would form them, but
nequip's symbolic make_fx tracing of it fixes the number of edges (the script checks), so a
package would have to form them by double backward. The script times that too, and the edge
vectors' own backward to the positions, which each member still needs:
    batched >= (Jacobians + K (evaluation - shared + edge vectors)) / (K x evaluation).

Measured as the packages run: each function is unrolled into one flat graph, forward and
backward, by make_fx with nequip's decompositions (as nequip's AOTInductor export does), and
compiled by Inductor with the settings of `ennp deploy` (serial kernels). torch.compile of the
same Python code instead compiles a forward and a backward graph joined by autograd, and its
backward recomputes the geometry: that made the geometry 0.34 of an evaluation instead of 0.13.

The whole evaluation compiled that way takes longer than the member's deployed package (which
also sums local energies and exchanges ghost features), so the script divides by both.

Last, it batches whole members: members 1-4 vmapped over their stacked weights (torch.func:
every op of a layer runs once with a member axis; the geometry, which holds no weights, once
for all), against the same members one after another, both unrolled and compiled as above
with static sizes (under nequip's symbolic tracing vmap fixes the sizes: ennp.deploy.ensemble).
nequip's scatter adds in place into a fresh zero tensor, which vmap refuses; the script swaps
in its out-of-place equivalent for that measurement only.

Side by side in one run, 1 thread, 4,000 atoms of fcc Au, member 1 of bench_deploy.py (the
demo's tiny Au architecture, float32), best of 5 calls each.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import member_models    # noqa: E402

N = 10    # 4,000 atoms
A_AU = 4.08


def structure(type_names, r_max):
    from ase.build import bulk
    from nequip.data import from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    data = from_ase(bulk("Au", "fcc", a=A_AU, cubic=True).repeat((N, N, N)))
    return NeighborListTransform(r_max=r_max)(ChemicalSpeciesToAtomTypeMapper(type_names)(data))


def shared_modules(model) -> list:
    """The modules before the first message-passing layer that hold no trained weights."""
    from nequip.nn import ConvNetLayer

    shared = []
    for _, module in model.model.func.named_children():
        if isinstance(module, ConvNetLayer):
            return shared
        if not any(p.requires_grad for p in module.parameters()):
            shared.append(module)
    raise ValueError("the model has no message-passing layer")


def batched_bound(share: float, k: int) -> float:
    """One batched invocation of k members / (k evaluations) when a share of an evaluation is
    done once for all of them and nothing else costs more."""
    return (share + k * (1 - share)) / k


def best_of(fn, repeats=5) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def flat_compiled(fn, inputs):
    """``fn`` unrolled by make_fx with nequip's decompositions, compiled as the packages are."""
    from nequip.utils.fx import nequip_decomp_table
    from torch.fx.experimental.proxy_tensor import make_fx

    from ennp.deploy.export import INDUCTOR_CONFIGS

    return torch.compile(make_fx(fn, decomposition_table=nequip_decomp_table())(*inputs), options=INDUCTOR_CONFIGS)


def forward_mode_traces(geometry, inputs, keys) -> bool:
    """Whether nequip's make_fx (two symbolic traces of different sizes, compared) accepts
    per-edge Jacobians formed with torch.func.jvp."""
    from nequip.utils.fx import nequip_make_fx

    class Jacobians(torch.nn.Module):
        def forward(self, *xs):
            vectors = geometry.edge_vectors(dict(zip(keys, xs))).detach()
            columns = []
            for c in range(3):
                tangent = torch.zeros_like(vectors)
                tangent[:, c] = 1.0
                columns.append(torch.func.jvp(geometry.features, (vectors,), (tangent,))[1])
            return [torch.stack([col[i] for col in columns], -1) for i in range(len(columns[0]))]

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)    # nequip dumps both traces into the working directory when they differ
        try:
            nequip_make_fx(Jacobians(), dict(zip(keys, inputs)), keys)
            return True
        except RuntimeError as exc:
            if "do not agree" not in str(exc):
                raise
            return False
        finally:
            os.chdir(cwd)


@contextlib.contextmanager
def out_of_place_scatter():
    """nequip's scatter without its in-place add (which vmap refuses), for this block only."""
    import nequip.nn._tp_scatter_base as tp_scatter
    import nequip.nn.atomwise as atomwise
    from nequip.nn.utils import _broadcast

    def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
        assert out is None and dim_size is not None and reduce == "sum"
        size = list(src.size())
        size[dim] = dim_size
        zeros = torch.zeros(size, dtype=src.dtype, device=src.device)
        return zeros.scatter_add(dim, _broadcast(index, src, dim), src)

    saved = tp_scatter.scatter, atomwise.scatter
    tp_scatter.scatter = atomwise.scatter = scatter
    try:
        yield
    finally:
        tp_scatter.scatter, atomwise.scatter = saved


def vmapped_members(models, keys, inputs) -> dict:
    """Forces of K members one after another and vmapped over their stacked weights, each
    compiled flat: milliseconds per call of each, their ratio, and the largest difference."""
    from nequip.data import AtomicDataDict
    from torch.func import functional_call, grad, stack_module_state, vmap

    funcs = [m.model.func for m in models]    # energies; forces by differentiation below
    fixed = {k: x for k, x in zip(keys, inputs) if k != AtomicDataDict.POSITIONS_KEY}
    positions = inputs[keys.index(AtomicDataDict.POSITIONS_KEY)]

    def energy(func, weights, pos):
        out = functional_call(func, weights, ({**fixed, AtomicDataDict.POSITIONS_KEY: pos},))
        return out[AtomicDataDict.PER_ATOM_ENERGY_KEY].sum()

    own = [(dict(f.named_parameters()), dict(f.named_buffers())) for f in funcs]
    stacked = stack_module_state(funcs)

    def one_after_another(pos):
        return torch.stack([grad(lambda x, f=f, w=w: energy(f, w, x))(pos) for f, w in zip(funcs, own)])

    def batched(pos):
        member = lambda params, buffers, x: grad(lambda y: energy(funcs[0], (params, buffers), y))(x)    # noqa: E731
        return vmap(member, in_dims=(0, 0, None))(*stacked, pos)

    with out_of_place_scatter():
        compiled = {name: flat_compiled(fn, [positions]) for name, fn in
                    (("one_after_another", one_after_another), ("vmapped", batched))}
        forces = {name: fn(positions) for name, fn in compiled.items()}
        ms = {name: best_of(lambda fn=fn: fn(positions)) * 1e3 for name, fn in compiled.items()}
    return {"members": len(funcs), "ms": ms, "ratio": ms["vmapped"] / ms["one_after_another"],
            "max_force_difference": float((forces["vmapped"] - forces["one_after_another"]).detach().abs().max())}


def package_call(path, inputs):
    """One call of a deployed package on ``inputs``, all atoms local."""
    import ennp.deploy.ghost_exchange    # noqa: F401  (the package's exchange ops)
    from ennp.deploy.package import load_package

    run = load_package(path)
    positions, edge_index, types, cell, shifts = inputs
    args = [positions, edge_index, types.view(-1), cell, shifts, torch.tensor([len(positions), 0])]
    return lambda: run(args)


class Geometry:
    """The shared modules as functions of the flat inputs and of the edge vectors."""

    def __init__(self, modules):
        self.modules = modules

    @staticmethod
    def edge_vectors(data):
        from nequip.data import AtomicDataDict
        from nequip.nn.utils import with_edge_vectors_

        return with_edge_vectors_(data, with_lengths=False)[AtomicDataDict.EDGE_VECTORS_KEY]

    def outputs(self, data):
        from nequip.data import AtomicDataDict

        for module in self.modules:
            data = module(data)
        return [data[AtomicDataDict.EDGE_ATTRS_KEY], data[AtomicDataDict.EDGE_EMBEDDING_KEY]]

    def features(self, vectors):
        from nequip.data import AtomicDataDict
        from nequip.nn.utils import with_edge_vectors_

        # given the vectors, nequip adds their lengths
        return self.outputs(with_edge_vectors_({AtomicDataDict.EDGE_VECTORS_KEY: vectors}, with_lengths=True))


def main():
    import argparse

    from nequip.data import AtomicDataDict
    from nequip.utils.global_state import set_global_state

    from ennp.deploy.export import _load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    member = member_models(1)[0]
    checkpoint = member["checkpoint"]
    set_global_state(allow_tf32=False)
    model, _ = _load(checkpoint)
    model.eval()
    data = structure(model.metadata["type_names"].split(), float(model.metadata["r_max"]))
    keys = [AtomicDataDict.POSITIONS_KEY, AtomicDataDict.EDGE_INDEX_KEY, AtomicDataDict.ATOM_TYPE_KEY,
            AtomicDataDict.CELL_KEY, AtomicDataDict.EDGE_CELL_SHIFT_KEY]
    inputs = [data[k] for k in keys]
    geometry = Geometry(shared_modules(model))

    def with_positions(xs):
        d = dict(zip(keys, xs))
        d[AtomicDataDict.POSITIONS_KEY] = d[AtomicDataDict.POSITIONS_KEY].clone().requires_grad_()
        return d

    def whole(*xs):
        out = model(dict(zip(keys, xs)))
        return out[AtomicDataDict.PER_ATOM_ENERGY_KEY], out[AtomicDataDict.FORCE_KEY], out[AtomicDataDict.VIRIAL_KEY]

    def shared(*xs):
        d = with_positions(xs)
        total = sum(t.sum() for t in geometry.outputs(d))
        return torch.autograd.grad(total, d[AtomicDataDict.POSITIONS_KEY])

    def forward(*xs):
        return geometry.outputs(dict(zip(keys, xs)))

    def edges(*xs):
        d = with_positions(xs)
        vectors = geometry.edge_vectors(d)
        return torch.autograd.grad(vectors, d[AtomicDataDict.POSITIONS_KEY], torch.ones_like(vectors))

    def jacobians(*xs):
        # J^T u is linear in u: differentiating it with respect to u gives J's columns
        vectors = geometry.edge_vectors(dict(zip(keys, xs))).detach().requires_grad_()
        outputs = geometry.features(vectors)
        u = [torch.zeros_like(t, requires_grad=True) for t in outputs]
        jtu = torch.autograd.grad(outputs, vectors, u, create_graph=True)[0]
        return outputs, [torch.autograd.grad(jtu[:, c].sum(), u, retain_graph=True) for c in range(3)]

    names = [type(m).__name__ for m in geometry.modules]
    results = {"natoms": 4 * N**3, "edges": int(data[AtomicDataDict.EDGE_INDEX_KEY].shape[1]),
               "shared_modules": names, "threads": 1}
    print(f"{results['natoms']} atoms, {results['edges']} edges, 1 thread; shared: {', '.join(names)}", flush=True)
    times = {}
    for name, fn in (("evaluation", whole), ("shared", shared), ("forward", forward), ("edge_vectors", edges),
                     ("jacobians", jacobians)):
        compiled = flat_compiled(fn, inputs)
        times[name] = best_of(lambda: compiled(*inputs))
        print(f"  {name:12s} {times[name] * 1e3:7.2f} ms", flush=True)
    times["package"] = best_of(package_call(member["deployed"], inputs))
    print(f"  {'package':12s} {times['package'] * 1e3:7.2f} ms (the deployed member, as LAMMPS calls it)")
    results["ms"] = {k: v * 1e3 for k, v in times.items()}
    results["forward_mode_traces"] = forward_mode_traces(geometry, inputs, keys)
    print("one batched invocation / (K x one evaluation), at least (goal <= 0.75 at K=4):")
    # the flat evaluation and the deployed package differ in time: both as the evaluation
    for denominator in ("evaluation", "package"):
        w = times[denominator]
        share, forward_share = times["shared"] / w, times["forward"] / w
        bounds = results[f"per_{denominator}"] = {"shared_share": share, "forward_share": forward_share}
        for k in (2, 4):
            bounds[f"K{k}_bound"] = batched_bound(share, k)
            bounds[f"K{k}_bound_jacobians"] = (times["jacobians"] + k * (w - times["shared"] + times["edge_vectors"])) / (k * w)
            bounds[f"K{k}_bound_forward_only"] = batched_bound(forward_share, k)
        print(f" evaluation = {denominator}: shared part {share:.3f} of it (forward alone {forward_share:.3f})")
        for what, key in (("shared part free of cost", "bound"), ("Jacobians by double backward", "bound_jacobians"),
                          ("only the forward shared", "bound_forward_only")):
            print(f"  {what:30s} K=2 {bounds[f'K2_{key}']:.3f}   K=4 {bounds[f'K4_{key}']:.3f}")
    print("per-edge Jacobians by forward mode (torch.func.jvp) trace under nequip's make_fx: "
          f"{'yes' if results['forward_mode_traces'] else 'no (the number of edges is fixed)'}")
    members = [model] + [_load(m["checkpoint"])[0].eval() for m in member_models(4)[1:]]
    batched = results["whole_members_batched"] = vmapped_members(members, keys, inputs)
    print(f"{batched['members']} whole members, forces: one after another {batched['ms']['one_after_another']:.1f} ms, "
          f"vmapped over stacked weights {batched['ms']['vmapped']:.1f} ms, ratio {batched['ratio']:.3f} "
          f"(forces agree to {batched['max_force_difference']:.1e} eV/A)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
