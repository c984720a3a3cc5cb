"""``ennp vibrations tem``: HR-TEM images of a supported flake by abTEM multislice.

Three images of the same cell, each through the same plane wave and CTF:

* ``md``: the mean over MD snapshots (``abtem.AtomsEnsemble``): frozen phonons with
  the real, correlated and edge-dependent displacements;
* ``einstein``: the time-averaged structure with independent Gaussian displacements
  (``abtem.FrozenPhonons``), one sigma per element from the flake's interior (and
  from all mobile atoms of each support element), sigma = sqrt(<|u|^2> / 3);
* ``static``: the time-averaged structure, no displacements.

The difference ``md - einstein`` shows where the vibrations are not those of the
interior (the edges). Column contrast is |I(column) / <I> - 1| at each projected
atomic column of the flake (bilinear), binned by distance from the flake's edge,
also relative to the static image column by column; thermal smearing lowers it. abTEM needs an orthogonal cell: a skewed one is
repeated (no strain) until it is orthogonal, else an error says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..files import write_json
from .amplitudes import amplitudes
from .edge import edge_distance, profile
from .trajectory import Trajectory

IMAGES = ("static", "md", "einstein")


@dataclass(frozen=True)
class Microscope:
    """Plane-wave HR-TEM settings (abTEM units: A, mrad, eV internally)."""
    energy_keV: float = 80.0          # below the ~90 keV knock-on threshold of S in MoS2
    Cs_um: float = -20.0              # spherical aberration (um); negative Cs imaging: bright atoms
    defocus_A: object = "scherzer"    # A (positive = underfocus, abTEM C10 = -defocus), or "scherzer"
    aperture_mrad: float = 25.0       # objective aperture semi-angle
    focal_spread_A: float = 30.0      # chromatic focal spread (1/e half-width)
    dose_e_A2: float = 0.0            # electrons per A^2 for Poisson noise; 0: noiseless only
    sampling_A: float = 0.05          # real-space pixel
    slice_thickness_A: float = 1.0  # multislice slice thickness
    projection: str = "infinite"      # abTEM potential projection: infinite (fast) or finite

    def __post_init__(self):
        for name in ("energy_keV", "aperture_mrad", "sampling_A", "slice_thickness_A"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("focal_spread_A", "dose_e_A2"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.projection not in ("infinite", "finite"):
            raise ValueError(f"projection must be infinite or finite, not {self.projection!r}")
        d = self.defocus_A
        if isinstance(d, bool) or not (d == "scherzer" or isinstance(d, (int, float))):
            raise ValueError(f"defocus_A must be a number (A) or 'scherzer', not {d!r}")
        if d == "scherzer" and self.Cs_um == 0:
            raise ValueError("defocus_A: scherzer needs a non-zero Cs_um")

    def defocus(self) -> float:
        """Defocus in A (Scherzer: sqrt(1.5 |Cs| lambda), with the sign of Cs)."""
        if self.defocus_A != "scherzer":
            return float(self.defocus_A)
        from abtem.transfer import scherzer_defocus

        return float(scherzer_defocus(self.Cs_um * 1e4, self.energy_keV * 1e3))

    def ctf(self):
        import abtem

        return abtem.CTF(energy=self.energy_keV * 1e3, semiangle_cutoff=self.aperture_mrad,
                         focal_spread=self.focal_spread_A,
                         aberration_coefficients={"C10": -self.defocus(), "C30": self.Cs_um * 1e4})


def orthogonal(atoms, max_repetitions: int = 5):
    """``atoms`` in an orthogonal cell: as it is, or repeated in-plane until it is (no strain)."""
    from abtem.atoms import is_cell_orthogonal, orthogonalize_cell

    cell = atoms.cell
    if cell.rank < 3:
        raise ValueError("the structure has no 3D cell; abTEM multislice needs a periodic cell")
    if is_cell_orthogonal(cell):
        return atoms.copy()
    if abs(cell[2, 0]) > 1e-6 or abs(cell[2, 1]) > 1e-6 or abs(cell[0, 2]) > 1e-6 or abs(cell[1, 2]) > 1e-6:
        raise ValueError(f"cell {np.round(cell[:], 3).tolist()} is tilted out of the xy plane; the beam "
                         "runs along z and abTEM needs c along z")
    out = orthogonalize_cell(atoms, max_repetitions=max_repetitions, allow_transform=False)
    if not is_cell_orthogonal(out.cell):
        lengths, angles = cell.cellpar()[:3], cell.cellpar()[3:]
        raise ValueError(f"the cell (lengths {np.round(lengths, 3).tolist()} A, angles "
                         f"{np.round(angles, 2).tolist()} deg) cannot be made orthogonal by repeating it up to "
                         f"{max_repetitions} times; abTEM needs an orthogonal cell: use a rectangular cell "
                         "(the ennp builders write one) or allow more repetitions")
    return out


def _atoms(traj: Trajectory, positions: np.ndarray):
    """An ASE frame of ``traj`` at ``positions``, wrapped into the cell in x and y."""
    from ase import Atoms

    atoms = Atoms(traj.symbols.tolist(), positions=positions, cell=traj.cell, pbc=True)
    frac = atoms.get_scaled_positions(wrap=False)
    frac[:, :2] %= 1.0
    if frac[:, 2].min() < 0 or frac[:, 2].max() >= 1:
        raise ValueError("atoms lie outside the cell along the beam (z); the multislice needs them inside "
                         "(add vacuum above and below)")
    atoms.set_scaled_positions(frac)
    return atoms


def aligned(traj: Trajectory, flake_elements) -> Trajectory:
    """The trajectory with the flake's rigid translation and rotation removed per frame
    (the support left as it is): a short MD run cannot sample the flake's slow sliding,
    and image series are aligned on the flake before they are compared."""
    from .amplitudes import superimpose

    flake = np.isin(traj.symbols, list(flake_elements))
    pos = traj.positions.copy()
    pos[:, flake] = superimpose(pos[:, flake], "full")
    return Trajectory(pos, traj.symbols, traj.cell, traj.pbc)


def snapshots(traj: Trajectory, n: int) -> list:
    """``n`` frames evenly spread over the trajectory (all if it has fewer)."""
    idx = np.unique(np.linspace(0, len(traj.positions) - 1, min(n, len(traj.positions))).round().astype(int))
    return [_atoms(traj, traj.positions[k]) for k in idx]


def fixed_atoms(traj: Trajectory, tol_A2: float = 1e-10) -> np.ndarray:
    """The atoms that never move in the trajectory: those the LAMMPS inputs hold in place."""
    return ((traj.positions - traj.positions[0]) ** 2).sum(axis=2).max(axis=0) < tol_A2


def einstein_sigmas(traj: Trajectory, flake_elements, interior_fraction: float = 0.6,
                    fixed=None) -> dict[str, list[float]]:
    """Per-element displacement sigmas (A) along x, y and z for the Einstein model.

    A flake on graphite vibrates mostly out of plane, and in plan view only the in-plane
    part blurs its columns, so each direction keeps its own sigma. Flake elements: atoms at
    least ``interior_fraction`` of the largest edge distance inside the flake, with the
    flake's rigid motion removed. Support elements: the mobile atoms only (``fixed``: the
    structure's held atoms; default: the atoms that never move), with their common
    translation per frame removed (the support's sliding); an element with no mobile atom
    gets zeros."""
    sigmas = {}
    flake = np.isin(traj.symbols, list(flake_elements))
    fixed = fixed_atoms(traj) if fixed is None else np.asarray(fixed, dtype=bool)
    if fixed.shape != flake.shape:
        raise ValueError(f"fixed mask of {fixed.shape[0]} atoms for a trajectory of {flake.shape[0]}")
    amp = amplitudes(traj.positions[:, flake], "full", blocks=2)
    dist = edge_distance(amp["mean_positions"][:, :2])
    interior = dist >= interior_fraction * dist.max()
    for el in sorted(set(traj.symbols[flake].tolist())):
        sel = interior & (traj.symbols[flake] == el)
        msd = amp["msd_xyz"][sel] if sel.any() else amp["msd_xyz"][traj.symbols[flake] == el]
        sigmas[el] = np.sqrt(msd.mean(axis=0)).tolist()
    mobile = ~flake & ~fixed
    support = amplitudes(traj.positions[:, mobile], "translation", blocks=2)["msd_xyz"] if mobile.sum() else None
    for el in sorted(set(traj.symbols[~flake].tolist())):
        sel = traj.symbols[mobile] == el
        sigmas[el] = np.sqrt(support[sel].mean(axis=0)).tolist() if support is not None and sel.any() \
            else [0.0, 0.0, 0.0]
    return sigmas


def columns(atoms, flake_elements, radius: float = 0.5) -> dict:
    """Projected atomic columns of the flake: atoms within ``radius`` A in xy form one
    column (the S pair above and below Mo). Positions, elements and edge distances."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    sel = np.isin(atoms.get_chemical_symbols(), list(flake_elements))
    xy, sym = atoms.positions[sel, :2], np.array(atoms.get_chemical_symbols())[sel]
    n, label = connected_components(cKDTree(xy).sparse_distance_matrix(cKDTree(xy), radius), directed=False)
    centre = np.array([xy[label == k].mean(axis=0) for k in range(n)])
    kind = ["".join(f"{el}{(sym[label == k] == el).sum()}" if (sym[label == k] == el).sum() > 1 else el
                    for el in sorted(set(sym[label == k]))) for k in range(n)]
    return {"xy_A": centre, "column": kind, "edge_distance_A": edge_distance(centre)}


def column_contrast(image: np.ndarray, sampling, xy: np.ndarray) -> np.ndarray:
    """|I / <I> - 1| at each column position (bilinear, periodic image)."""
    from scipy.ndimage import map_coordinates

    norm = image / image.mean()
    coords = [xy[:, 0] / sampling[0], xy[:, 1] / sampling[1]]
    return np.abs(map_coordinates(norm, coords, order=1, mode="grid-wrap") - 1.0)


def simulate(source, mic: Microscope):
    """Multislice image (abTEM ``Images``, intensity, ensemble-averaged) of atoms or an ensemble."""
    import abtem

    abtem.config.set({"device": "cpu", "fft": "numpy"})
    potential = abtem.Potential(source, sampling=mic.sampling_A, slice_thickness=mic.slice_thickness_A,
                                projection=mic.projection)
    images = abtem.PlaneWave(energy=mic.energy_keV * 1e3).multislice(potential).apply_ctf(mic.ctf()).intensity()
    if images.array.ndim > 2:
        images = images.mean(axis=tuple(range(images.array.ndim - 2)))
    return images.compute(progress_bar=False)


def tem(traj: Trajectory, flake_elements=("Mo", "S"), mic: Microscope = Microscope(), n_snapshots: int = 20,
        seed: int = 1, align: bool = True, max_repetitions: int = 5, bin_width: float = 1.0,
        progress=print, fixed=None) -> tuple[dict, dict]:
    """The three images, their difference, column contrasts and the metadata; ``align``:
    remove the flake's rigid motion from the snapshots first (see :func:`aligned`); ``fixed``:
    the structure's held atoms (default: those that never move)."""
    import abtem

    if len(traj.positions) < 2:
        raise ValueError(f"the trajectory has {len(traj.positions)} frame(s); frozen phonons need at least 2")
    flake = traj.mask(flake_elements, "the flake elements")
    centre = traj.positions[:, flake].mean(axis=1)
    drift = float(np.linalg.norm(centre - centre.mean(axis=0), axis=1).max())
    if align:
        traj = aligned(traj, flake_elements)
    frames = [orthogonal(a, max_repetitions) for a in snapshots(traj, n_snapshots)]
    mean = _atoms(traj, traj.positions.mean(axis=0))
    cols = columns(mean, flake_elements)    # in the given cell, where the flake is whole; the
    mean = orthogonal(mean, max_repetitions)    # repeated cell's image has the same periodicity
    sigmas = einstein_sigmas(traj, flake_elements, fixed=fixed)
    sources = {"static": mean, "md": abtem.AtomsEnsemble(frames),
               "einstein": abtem.FrozenPhonons(mean, num_configs=len(frames), seed=seed,
                                               sigmas={el: tuple(v) for el, v in sigmas.items()})}
    images = {}
    for k, name in enumerate(IMAGES):
        progress(f"tem: {name} image ({1 if name == 'static' else len(frames)} configuration(s), "
                 f"{len(mean)} atoms)", flush=True)
        measured = simulate(sources[name], mic)
        images[name] = np.asarray(measured.array)
        if mic.dose_e_A2 > 0:
            noise = measured.poisson_noise(dose_per_area=mic.dose_e_A2, seed=seed + k)
            images[f"{name}_noisy"] = np.asarray(noise.compute(progress_bar=False).array)
    sampling = tuple(float(s) for s in measured.sampling)
    images["md_minus_einstein"] = images["md"] - images["einstein"]
    contrast = {name: column_contrast(images[name], sampling, cols["xy_A"]) for name in IMAGES}
    result = {
        "microscope": {**asdict(mic), "defocus_used_A": mic.defocus()},
        "snapshots": len(frames), "trajectory_frames": len(traj.positions), "atoms": len(mean),
        "cell_A": np.round(mean.cell[:], 6).tolist(), "sampling_A": list(sampling),
        "shape": list(images["static"].shape), "einstein_sigmas_A": sigmas, "seed": seed,
        "flake_drift_A": drift, "aligned_on_flake": align,
        "rms_contrast": {name: float(images[name].std() / images[name].mean()) for name in IMAGES},
        "mean_column_contrast": {name: float(contrast[name].mean()) for name in IMAGES},
        "columns": {"xy_A": cols["xy_A"].round(4).tolist(), "column": cols["column"],
                    "edge_distance_A": cols["edge_distance_A"].round(4).tolist(),
                    **{f"contrast_{name}": contrast[name].round(6).tolist() for name in IMAGES}},
        "contrast_profile": {name: profile(cols["edge_distance_A"], contrast[name], None, bin_width)
                             for name in IMAGES},
        # per column relative to the static image: Mo and S2 columns differ in contrast,
        # their thermal loss is comparable
        "relative_contrast_profile": {name: profile(cols["edge_distance_A"], contrast[name] / contrast["static"],
                                                    None, bin_width) for name in ("md", "einstein")},
    }
    return result, images


def plot(result: dict, images: dict, path: Path) -> None:
    """The three images, MD - Einstein, and column contrast vs edge distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["static", "md", "einstein", "md_minus_einstein"]
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.4), layout="constrained")
    sx, sy = result["sampling_A"]
    nx, ny = result["shape"]
    extent = (0, nx * sx, 0, ny * sy)
    for ax, name in zip(axes, names):
        img = images[name]
        kw = {"cmap": "RdBu_r", "vmin": -abs(img).max(), "vmax": abs(img).max()} \
            if name == "md_minus_einstein" else {"cmap": "gray"}
        im = ax.imshow(img.T, origin="lower", extent=extent, **kw)
        ax.set(title=name.replace("_", " "), xlabel="x (A)", ylabel="y (A)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    for name in ("md", "einstein"):
        p = result["relative_contrast_profile"][name]
        axes[4].errorbar(p["distance_A"], p["value"], p["error"], fmt="o-", label=name)
    axes[4].axhline(1.0, color="grey", ls="--", label="static")
    axes[4].set(xlabel="distance from the edge (A)", ylabel="column contrast / static",
                title="atomic-column contrast |I/<I> - 1|")
    axes[4].legend(fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_tem(result: dict, images: dict, out: Path) -> dict:
    """Arrays as .npy (x index first, pixel ``sampling_A``), metadata JSON and a PNG."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result["images"] = {}
    for name, img in images.items():
        np.save(out / f"{name}.npy", img.astype(np.float32))
        result["images"][name] = f"{name}.npy"
    plot(result, images, out / "tem.png")
    write_json(out / "tem.json", result)    # last: its presence means the step is complete
    return {"json": out / "tem.json", "png": out / "tem.png"}
