"""``ennp heat``: build -> NEMD (steady and/or transient) -> G -> VDOS -> beam heating.

Everything goes into one work folder; each step keeps what an earlier,
interrupted run finished (the structure, every seed with a ``done`` marker),
so the same command resumes. Outputs: structure.data(.json), pair.in, surface.in, monitor.in,
{steady,transient}.json/.png, vdos.json/.png, beam.json/.png, heat.json; with a model
bundle each seed's model_devi.out and devi.dump, and uncertainty.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..builders.bulk import AU_A
from ..chains import prepare_structure, start_chain
from ..files import write_json
from ..lammps.monitor import write_monitor_file
from ..lammps.uncertainty import describe, plot_uncertainty, uncertainty
from . import eels
from .config import HeatConfig
from .config import load_heat_config as load_config
from .nemd import layout, run_seeds, seed_dir, write_surface_group
from .nemd_analysis import analyse, last_run, plot_steady, plot_transient
from .potentials import write_nemd_pair_file
from .report import heating_table, plot_heating
from .vdos import overlap, plot_vdos, vdos

AU_VOLUME_A3 = AU_A**3 / 4    # per atom (fcc Au)


OUTPUTS = "heat.json, steady/transient .json/.png, vdos.png, beam.png, uncertainty.png (with a bundle)"    # what a finished run leaves in its work folder

def prepare(config: HeatConfig, workdir: Path) -> dict:
    """The structure (once) and the pair file; returns the NEMD regions."""
    s = config.nemd
    meta = prepare_structure(config.structure, config.species, workdir, describe=lambda atoms: {
        "regions": layout(atoms, s.cold_layers, s.hot_fraction, s.contact_area, s.free_layers, s.surface_cutoff)})
    regions = dict(meta["regions"])
    write_surface_group(workdir / "surface.in", regions.pop("siface_ids"))
    write_nemd_pair_file(config.pair.style, config.species, workdir / "pair.in", config.pair.model,
                         config.pair.file)
    write_monitor_file(workdir / "monitor.in", config.pair.bundle, config.monitor, config.species)
    return {**regions, "cross_section_A2": meta.get("ennp_cross_section_A2"), "natoms": meta["natoms"]}


def phonon_overlap(folder: Path, nsub: int, species, dt_ps: float, workdir: Path) -> dict:
    """VDOS of the particle and of the substrate surface from the velocity dump of
    a transient run's decay (both NVE there), and their overlap."""
    from ase.data import atomic_masses, atomic_numbers

    from ..lammps.outputs import read_dump

    frames = read_dump(folder / "velocities.dump")
    ids, types = frames[0]["id"].astype(int), frames[0]["type"].astype(int)
    v = np.stack([np.column_stack([f["vx"], f["vy"], f["vz"]]) for f in frames])
    masses = np.array([atomic_masses[atomic_numbers[species[t - 1]]] for t in types])
    every = (frames[1]["step"] - frames[0]["step"]) * dt_ps
    particle = ids > nsub
    freq, d_p = vdos(v[:, particle], every, masses[particle])
    _, d_s = vdos(v[:, ~particle], every, masses[~particle])
    result = {"overlap": overlap(freq, d_p, d_s), "frequency_THz": freq.tolist(),
              "vdos_particle": d_p.tolist(), "vdos_substrate": d_s.tolist(),
              "mean_frequency_particle_THz": float(np.trapezoid(freq * d_p, freq)),
              "mean_frequency_substrate_THz": float(np.trapezoid(freq * d_s, freq))}
    write_json(workdir / "vdos.json", result)
    plot_vdos(freq, {"particle": d_p, "substrate surface layer": d_s}, workdir / "vdos.png",
              title=f"phonon mismatch: VDOS overlap {result['overlap']:.2f}")
    return result


def beam_heating(config: HeatConfig, g: float, g_err: float, regions: dict, workdir: Path) -> dict:
    """dT vs dose rate for the measured spectrum, or for each beam energy (mean free path)."""
    b = config.beam
    cross, contact = regions["cross_section_A2"], regions["contact_area_A2"]
    thickness = regions["n_particle"] * AU_VOLUME_A3 / cross    # mean thickness seen by the beam
    tables = {}
    if b.spectrum:
        low, high = b.range or (None, None)
        spec = eels.analyse_spectrum(b.spectrum, low, high, b.tail)
        tables[f"spectrum {Path(b.spectrum).name}"] = table = heating_table(
            g, g_err, spec["mean_energy_loss_eV"], spec["t_over_lambda"], cross, contact, b.dose_rates,
            regions["contact_area"])
        table["inputs"]["eels"] = spec    # t/lambda, <E>, their range and tail
    else:
        for e0 in b.energies_keV:
            mfp = eels.inelastic_mean_free_path(e0, b.mean_free_path, b.density_g_cm3, b.z_eff, b.beta_mrad)
            table = heating_table(g, g_err, b.mean_energy_loss_eV, thickness / mfp, cross, contact,
                                  b.dose_rates, regions["contact_area"])
            table["inputs"].update(beam_energy_keV=e0, mean_free_path_A=mfp, mean_free_path=b.mean_free_path,
                                   thickness_A=thickness)
            tables[f"{e0:g} keV"] = table
    result = {"conductance_from": b.conductance_from, "contact_area": regions["contact_area"], "tables": tables}
    write_json(workdir / "beam.json", result)
    plot_heating(tables, workdir / "beam.png")
    return result


def run_chain(config_path: str | Path, workdir: str | Path, until: str | None = None) -> dict:
    """Run (or resume) the chain; ``until``: stop after that step (nemd: runs and G)."""
    config = load_config(config_path)
    t_start = time.time()
    workdir, regions = start_chain(config_path, workdir, config, prepare, until)
    print(f"structure: {regions['natoms']} atoms ({regions['n_particle']} in the particle), contact area "
          f"{regions['contact_area_A2']:.0f} A^2 -> {workdir / 'structure.data'}", flush=True)
    summary = {"workdir": str(workdir), "regions": regions}
    s = config.nemd
    monitored = []
    for method in s.methods:
        folders = run_seeds(method, workdir, s, regions, workdir / "structure.data", workdir / "pair.in",
                            workdir / "surface.in", workdir / "monitor.in")
        monitored += folders
        runs = [last_run(f) for f in folders]    # each log read once, for the analysis and the plot
        result = analyse(method, runs, s.seeds, regions, s.heat_capacity, folders[0] / "profile.dat",
                         s.transient.protocol, s.fit_stop_K)
        result["uncertainty"] = uncertainty(folders, config.monitor, config.pair.bundle)
        result["inputs"] = {"structure": config.structure.builder, "builder_args": config.structure.args,
                            "pair": config.pair.style, "model": config.pair.model, "bundle": config.pair.bundle,
                            "T0_K": s.T0,
                            "T_hot_K": s.T_hot, "dt_ps": s.dt, "damp_ps": s.damp, "seeds": s.seeds,
                            "contact_area": regions["contact_area"], "contact_area_A2": regions["contact_area_A2"],
                            "particle_atoms": regions["n_particle"],
                            "steps": vars(s.steady) if method == "steady" else vars(s.transient)}
        if method == "steady":
            result["inputs"]["hot_damp_ps"], result["inputs"]["cold_damp_ps"] = s.steady_damps
        write_json(workdir / f"{method}.json", result)
        (plot_steady if method == "steady" else plot_transient)(runs, result, workdir / f"{method}.png")
        print(f"{method}: G = {result['G_MW_m2K']:.1f} +- {result['G_err_MW_m2K']:.1f} MW m^-2 K^-1 "
              f"at T_interface {result['T_interface_K']:.0f} K; {describe(result['uncertainty'])}", flush=True)
        summary[method] = {k: result[k] for k in ("G_MW_m2K", "G_err_MW_m2K", "T_interface_K", "contact_area",
                                                  "contact_area_A2")}
    summary["uncertainty"] = uncertainty(monitored, config.monitor, config.pair.bundle)
    plot_uncertainty(monitored, summary["uncertainty"], s.dt, workdir / "uncertainty.png",
                     title=f"NEMD ({', '.join(s.methods)}): {summary['uncertainty'].get('verdict')}")
    if until == "nemd":
        return summary
    if "transient" in s.methods and s.transient.vel_every:
        ph = phonon_overlap(seed_dir(workdir, "transient", s.seeds[0]), regions["nsub"], config.species, s.dt, workdir)
        summary["vdos_overlap"] = ph["overlap"]
    g = summary[config.beam.conductance_from]
    beam = beam_heating(config, g["G_MW_m2K"], g["G_err_MW_m2K"], regions, workdir)
    for label, table in beam["tables"].items():
        print(f"beam {label}: dT = " + ", ".join(f"{t:.3g} K at {r:.0e} e/A^2/s" for r, t in
                                                   zip(table["dose_rate_e_A2s"], table["delta_T_K"])))
    summary["beam"] = {k: t["delta_T_K"] for k, t in beam["tables"].items()}
    summary["wall_s"] = time.time() - t_start
    write_json(workdir / "heat.json", summary)
    return summary
