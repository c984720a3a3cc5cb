"""NEMD runs across a particle/substrate interface (lammps_inputs/nemd_*.in).

:func:`layout` turns a built structure into the regions the inputs need,
:func:`run_seeds` runs one method for several seeds (concurrently, each under
its own ``mpiexec``); a seed's folder with a ``done`` marker is kept on resume.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import lammps_inputs
from ..builders.nanoparticle import CONTACT_AREAS, contact_area_key
from ..builders.slabs import CUT_BELOW_LAYER
from ..files import write_atomic
from ..lammps.run import run_lammps

LAYOUT_INFO = ("ennp_particle_atoms", "ennp_layer_spacing_A", "ennp_slab_layers", "ennp_fixed_layers")


@dataclass(frozen=True)
class Steady:
    steps_eq: int = 15000           # to reach steady state (several particle relaxation times)
    steps: int = 30000              # measured
    dz: float = 2.0                 # A, temperature-profile bin
    hot_damp: float | None = None   # ps, the particle's bath; default nemd.damp (a small particle's G depends on it: docs, heat chain)
    cold_damp: float | None = None  # ps, the substrate's bath; default nemd.damp

    def __post_init__(self):
        if self.steps_eq < 0 or self.steps < 100 or self.steps % 10:
            raise ValueError("steps_eq must be >= 0 and steps a multiple of 10, >= 100")
        if self.dz <= 0:
            raise ValueError(f"dz must be positive, not {self.dz}")
        for name in ("hot_damp", "cold_damp"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive damping time (ps), not {getattr(self, name)}")


PROTOCOLS = ("local", "published")
# local: T_substrate is the surface layer under the particle; published (Nunez Valencia et al.,
# Nanoscale 16, 5750 (2024)): the whole mobile substrate, the fit stopped where the particle's
# excess over T0 has fallen to fit_until of T_hot - T0 (600 K -> 420 K over 300 K: 0.4)


@dataclass(frozen=True)
class Transient:
    steps_eq: int = 2500            # everything at T0
    steps_heat: int = 2500          # particle to T_hot, substrate at T0
    steps: int = 20000              # free decay
    vel_every: int = 5              # velocity dump interval for the VDOS (first seed); 0: none
    vel_frames: int = 400           # dumped over the decay's last vel_every * vel_frames steps
    protocol: str = "local"         # substrate temperature: local (surface under the particle) or published (whole substrate)
    fit_until: float | None = None  # fit while T_particle - T0 > fit_until (T_hot - T0); default 0 (local), 0.4 (published)

    def __post_init__(self):
        if min(self.steps_eq, self.steps_heat) < 0 or self.steps < 100:
            raise ValueError("steps_eq and steps_heat must be >= 0 and steps >= 100")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, not {self.protocol!r}")
        if self.fit_until is not None and not 0 <= self.fit_until < 1:
            raise ValueError(f"fit_until must be in [0, 1), not {self.fit_until}")
        if self.vel_every < 0 or self.vel_every * self.vel_frames > self.steps or \
                (self.vel_every and self.vel_frames < 8):
            raise ValueError("vel_every * vel_frames must fit in steps, with vel_frames >= 8 "
                             "(vel_every 0: no VDOS)")


@dataclass(frozen=True)
class NemdSettings:
    methods: list = field(default_factory=lambda: ["steady", "transient"])    # steady and/or transient NEMD
    T0: float = 300.0               # K, substrate bath
    T_hot: float = 400.0            # K, particle bath (steady) / initial particle temperature (transient); keep T_hot - T0 small next to T0
    dt: float = 0.002               # ps
    damp: float = 0.1               # ps, Langevin damping time
    seeds: list = field(default_factory=lambda: [1, 2, 3, 4])    # independent runs per method; G's error covers their scatter, and two seeds estimate it poorly
    every: int = 50                 # thermo interval (steps)
    min_steps: int = 2000           # FIRE relaxation of the as-built structure before the velocities (0: none)
    cold_layers: int = 1            # substrate layers of the cold bath (above the fixed base)
    free_layers: int = 1            # free substrate layers between the cold bath and the surface layer
    surface_cutoff: float = 6.0     # A: the surface temperature is the surface layer's within this of the particle's bottom-layer hull (about the potential's cutoff)
    hot_fraction: float = 0.5       # about this fraction of particle atoms (its top layers) form the hot bath
    heat_capacity: str = "simulation"    # or dulong_petit (3 N k_B)
    contact_area: str = "hull"      # G's area: hull (bottom layer's convex hull, as Nunez Valencia et al. 2024) or footprint (hull + half a spacing)
    nprocs: int = 1                 # MPI ranks per run
    parallel: int = 2               # runs at the same time
    steady: Steady = field(default_factory=Steady)    # the steady-state runs
    transient: Transient = field(default_factory=Transient)    # the transient runs

    @property
    def steady_damps(self) -> tuple[float, float]:
        """Damping times (ps) of the steady state's hot (particle) and cold (substrate) baths."""
        return self.steady.hot_damp or self.damp, self.steady.cold_damp or self.damp

    @property
    def fit_stop_K(self) -> float | None:
        """Where the transient fit stops: T0 + fit_until (T_hot - T0); None: the whole decay."""
        t = self.transient
        until = t.fit_until if t.fit_until is not None else (0.4 if t.protocol == "published" else 0.0)
        return self.T0 + until * (self.T_hot - self.T0) if until > 0 else None

    def __post_init__(self):
        unknown = sorted(set(self.methods) - {"steady", "transient"})
        if not self.methods or unknown:
            raise ValueError(f"methods must be a non-empty list of steady, transient; got {self.methods}")
        if not 0 < self.T0 < self.T_hot:
            raise ValueError(f"need 0 < T0 < T_hot, got T0={self.T0}, T_hot={self.T_hot}")
        if self.dt <= 0 or self.damp <= 0 or self.every < 1 or self.min_steps < 0:
            raise ValueError("dt, damp must be positive, every >= 1 and min_steps >= 0")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or \
                not all(isinstance(s, int) and s > 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct positive integers, got {self.seeds}")
        if self.cold_layers < 1 or self.free_layers < 0 or not 0 < self.hot_fraction < 1:
            raise ValueError("cold_layers must be >= 1, free_layers >= 0 and hot_fraction in (0, 1)")
        if self.surface_cutoff < 0:
            raise ValueError(f"surface_cutoff must be >= 0 A, not {self.surface_cutoff}")
        if self.heat_capacity not in ("simulation", "dulong_petit"):
            raise ValueError(f"heat_capacity must be simulation or dulong_petit, not {self.heat_capacity!r}")
        if self.nprocs < 1 or self.parallel < 1:
            raise ValueError("nprocs and parallel must be >= 1")
        if self.contact_area not in CONTACT_AREAS:
            raise ValueError(f"contact_area must be one of {list(CONTACT_AREAS)}, not {self.contact_area!r}")


def layout(atoms, cold_layers: int = 1, hot_fraction: float = 0.5, contact_area: str = "hull",
           free_layers: int = 1, surface_cutoff: float = 6.0) -> dict:
    """Atom counts, z planes (A) and the surface group of the NEMD regions of a particle-on-slab
    structure.

    Substrate atoms come first (ids 1..nsub). Fixed base: the builder's fixed layers; cold
    bath: the next ``cold_layers``; then ``free_layers`` free ones, so the bath does not sit
    right under the surface it is compared with; surface (``siface_ids``): the top layer's atoms
    within ``surface_cutoff`` of the particle's bottom-layer hull, those that exchange heat with
    the particle (the rest of the layer is colder in a steady state); hot bath: the particle's
    top layers holding about ``hot_fraction`` of its atoms; at least its bottom layer stays
    free: a bath at the interface itself would scatter phonons there and inflate G.
    """
    missing = [k for k in (*LAYOUT_INFO, contact_area_key(contact_area)) if k not in atoms.info]
    if missing:
        raise ValueError(f"structure lacks {missing}: build it with particle_on_slab")
    n_particle = int(atoms.info["ennp_particle_atoms"])
    nsub = len(atoms) - n_particle
    spacing, layers = atoms.info["ennp_layer_spacing_A"], atoms.info["ennp_slab_layers"]
    fixed = atoms.info["ennp_fixed_layers"]
    if fixed < 1:
        raise ValueError("NEMD needs a fixed base: build the slab with fixed >= 1")
    if fixed + cold_layers + free_layers + 1 > layers:
        raise ValueError(f"the slab has {layers} layers: need fixed ({fixed}) + cold_layers ({cold_layers}) "
                         f"+ free_layers ({free_layers}) + 1 surface layer")
    z = atoms.positions[:, 2]
    zs, zp = z[:nsub], np.sort(z[nsub:])[::-1]
    z_fixed = zs.min() + (fixed - CUT_BELOW_LAYER) * spacing    # as the builder marked them
    gaps = np.flatnonzero(zp[:-1] - zp[1:] > 0.5)    # cut after gaps[k]: atoms 0..gaps[k] are above
    if len(gaps) == 0:
        raise ValueError("the particle is a single atomic layer: no room for a hot bath and a free part")
    cut = gaps[np.argmin(np.abs(gaps + 1 - hot_fraction * n_particle))]
    z_iface = float(zs.max() - (1 - CUT_BELOW_LAYER) * spacing)
    surface = np.flatnonzero(zs >= z_iface)
    near = surface[near_footprint(atoms.positions[surface, :2], atoms.positions[nsub:], atoms.cell,
                                  surface_cutoff)]
    return {"nsub": nsub, "n_particle": n_particle, "contact_area": contact_area,
            "contact_area_A2": float(atoms.info[contact_area_key(contact_area)]),
            "z_fixed": float(z_fixed), "z_cold": float(z_fixed + cold_layers * spacing),
            "z_iface": z_iface, "z_hot": float((zp[cut] + zp[cut + 1]) / 2), "n_hot": int(cut + 1),
            "free_layers": free_layers, "surface_cutoff_A": surface_cutoff,
            "n_surface_layer": int(len(surface)), "n_siface": int(len(near)), "siface_ids": (near + 1).tolist()}


def near_footprint(xy, particle_positions, cell, cutoff: float) -> np.ndarray:
    """Which of the points ``xy`` lie within ``cutoff`` (A) of the convex hull of the particle's
    bottom layer (each hull edge moved out by the cutoff), laterally periodic in ``cell``."""
    from scipy.spatial import ConvexHull, QhullError

    from ..builders.nanoparticle import bottom_layer

    foot = particle_positions[bottom_layer(particle_positions), :2]
    centre = foot.mean(axis=0)
    lattice = np.asarray(cell)[:2, :2]
    # minimum image about the footprint's centre, so a particle across a boundary is whole
    frac = np.linalg.solve(lattice.T, (np.asarray(xy) - centre).T).T
    rel = (frac - np.round(frac)) @ lattice
    foot_frac = np.linalg.solve(lattice.T, (foot - centre).T).T
    foot_rel = (foot_frac - np.round(foot_frac)) @ lattice
    try:
        eq = ConvexHull(foot_rel).equations    # n.x + b <= 0 inside
        return (rel @ eq[:, :2].T + eq[:, 2]).max(axis=1) <= cutoff
    except (QhullError, ValueError):    # fewer than three bottom atoms, or on a line: their discs
        return np.linalg.norm(rel[:, None] - foot_rel[None], axis=2).min(axis=1) <= cutoff


def write_surface_group(path: Path, ids) -> Path:
    """The LAMMPS include that defines group ``siface`` (the surface under the particle) by atom id."""
    ids = list(ids)
    if not ids:
        raise ValueError("no substrate surface atom lies under the particle: check surface_cutoff")
    lines = [f"group           siface id {' '.join(map(str, ids[k:k + 20]))}" for k in range(0, len(ids), 20)]
    text = "# the substrate surface under the particle (ennp.heat.nemd.layout)\n" + "\n".join(lines) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def variables(method: str, settings: NemdSettings, regions: dict, seed: int, data: Path, pair_file: Path,
              surface_group: Path, velocities: bool = False, monitor_file: Path | None = None) -> dict:
    """``-var`` values of lammps_inputs/nemd_{method}.in (``surface_group``: the include of
    :func:`write_surface_group`; ``monitor_file``: the include of :mod:`ennp.lammps.monitor`,
    which watches the measured part)."""
    common = {"data": Path(data).resolve(), "pair_file": Path(pair_file).resolve(),
              "monitor_file": Path(monitor_file).resolve() if monitor_file else "none",
              "setup": lammps_inputs() / "nemd_setup.in", "surface_group": Path(surface_group).resolve(),
              **{k: regions[k] for k in ("nsub", "z_fixed", "z_cold", "z_hot")},
              "T0": settings.T0, "T_hot": settings.T_hot, "dt": settings.dt, "damp": settings.damp,
              "seed": seed, "every": settings.every, "min_steps": settings.min_steps}
    if method == "steady":
        s = settings.steady
        return {**common, "steps_eq": s.steps_eq, "steps": s.steps, "dz": s.dz,
                "damp_hot": settings.steady_damps[0], "damp_cold": settings.steady_damps[1]}
    t = settings.transient
    return {**common, "steps_eq": t.steps_eq, "steps_heat": t.steps_heat, "steps": t.steps,
            "vel_every": t.vel_every if velocities else 0, "vel_frames": t.vel_frames}


def seed_dir(workdir: Path, method: str, seed: int) -> Path:
    return Path(workdir) / method / f"seed_{seed}"


def run_seeds(method: str, workdir: Path, settings: NemdSettings, regions: dict, data: Path,
              pair_file: Path, surface_group: Path, monitor_file: Path | None = None) -> list[Path]:
    """Run ``method`` for every seed (``settings.parallel`` at a time); return the seed folders."""
    def one(k_seed):
        k, seed = k_seed
        folder = seed_dir(workdir, method, seed)
        if (folder / "done").exists():
            print(f"  {method} seed {seed}: kept from an earlier run", flush=True)
            return folder
        t0 = time.time()
        run_lammps(lammps_inputs() / f"nemd_{method}.in", folder, nprocs=settings.nprocs,
                   variables=variables(method, settings, regions, seed, data, pair_file, surface_group, velocities=k == 0,
                                       monitor_file=monitor_file))
        (folder / "done").write_text(f"{time.time() - t0:.1f} s\n")
        print(f"  {method} seed {seed}: {time.time() - t0:.0f} s", flush=True)
        return folder

    with ThreadPoolExecutor(max_workers=settings.parallel) as pool:
        return list(pool.map(one, enumerate(settings.seeds)))
