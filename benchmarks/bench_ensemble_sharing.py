"""What batching K members into one model could save at most. Prints the bound.

    .venv/bin/python benchmarks/bench_ensemble_sharing.py [--out figures.json]

Members of one architecture share the graph: edge vectors, their lengths, spherical harmonics,
radial basis and cutoff (the modules before the first message-passing layer that hold no
trained weights). Everything after that (the layers' tensor products, radial MLPs, linears,
scatters and their backward) depends on a member's weights and is done once per member,
batched or not. With s the shared share of one force evaluation, one batched invocation costs
at least (s + K (1 - s)) / K x (K x one evaluation): the lower bound on the per-call ratio of
bench_ensemble.py.

Measured side by side in one run, 1 thread, 4,000 atoms of fcc Au, member 1 of bench_deploy.py
(the demo's tiny Au architecture, float32): the shared part's forward and its backward to the
positions against the whole model's energy, forces and virial, eager and compiled with
torch.compile (Inductor, the compiler behind the deployed packages), best of 5 calls each;
also the shared part's forward alone, all a batch shares when each member's forces take the
geometry's backward of their own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import members    # noqa: E402

N = 10    # 4,000 atoms
A_AU = 4.08


def structure(type_names, r_max):
    from ase.build import bulk
    from nequip.data import AtomicDataDict, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    data = from_ase(bulk("Au", "fcc", a=A_AU, cubic=True).repeat((N, N, N)))
    data = NeighborListTransform(r_max=r_max)(ChemicalSpeciesToAtomTypeMapper(type_names)(data))
    return AtomicDataDict.with_batch_(data)


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


def main():
    import argparse

    from nequip.data import AtomicDataDict
    from nequip.utils.global_state import set_global_state

    from ennp.deploy.export import _load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = members(1)[0]
    set_global_state(allow_tf32=False)
    model, _ = _load(checkpoint)
    model.eval()
    data = structure(model.metadata["type_names"].split(), float(model.metadata["r_max"]))
    shared = shared_modules(model)
    pos_key = AtomicDataDict.POSITIONS_KEY

    def shared_part():
        x = dict(data)
        x[pos_key] = x[pos_key].clone().requires_grad_()
        for module in shared:
            x = module(x)
        edge_features = x[AtomicDataDict.EDGE_ATTRS_KEY].sum() + x[AtomicDataDict.EDGE_EMBEDDING_KEY].sum()
        return torch.autograd.grad(edge_features, x[pos_key])

    def shared_forward():
        x = dict(data)
        with torch.no_grad():
            for module in shared:
                x = module(x)
        return x[AtomicDataDict.EDGE_EMBEDDING_KEY]

    def whole_model():
        return model(dict(data))[AtomicDataDict.FORCE_KEY]

    names = [type(m).__name__ for m in shared]
    results = {"natoms": 4 * N**3, "edges": int(data[AtomicDataDict.EDGE_INDEX_KEY].shape[1]),
               "shared_modules": names}
    print(f"{results['natoms']} atoms, {results['edges']} edges, 1 thread; shared: {', '.join(names)}")
    for mode, wrap in (("eager", lambda f: f), ("compiled", torch.compile)):
        shared_s, whole_s = best_of(wrap(shared_part)), best_of(wrap(whole_model))
        share = shared_s / whole_s
        results[mode] = {"shared_s": shared_s, "whole_s": whole_s, "shared_share": share}
        bounds = []
        for k in (2, 4):
            bound = batched_bound(share, k)
            results[mode][f"K{k}_invocation_ratio_bound"] = bound
            bounds.append(f"K={k} >= {bound:.3f}")
        print(f"{mode:8s}: shared part {shared_s*1e3:.1f} ms of {whole_s*1e3:.1f} ms = {share:.3f}; "
              f"one batched invocation / (K x one evaluation): {', '.join(bounds)} (goal <= 0.75 at K=4)")
        # without per-edge Jacobians formed once, each member's forces need the geometry's
        # backward of its own: only the forward is shared
        forward_share = best_of(wrap(shared_forward)) / whole_s
        forward_bound = batched_bound(forward_share, 4)
        results[mode]["forward_share"] = forward_share
        results[mode]["K4_invocation_ratio_bound_forward_only"] = forward_bound
        print(f"{mode:8s}: its forward alone = {forward_share:.3f} of the evaluation; sharing only the "
              f"forward: K=4 >= {forward_bound:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
