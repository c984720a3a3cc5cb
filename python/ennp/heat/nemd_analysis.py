"""G from the NEMD runs: per seed, combined over seeds, as JSON and plots.

Reads what lammps_inputs/nemd_*.in write (thermo columns of the measured run,
profile.dat); the physics is in :mod:`ennp.heat.conductance`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..lammps.outputs import read_thermo
from .conductance import (block_average, driven_decay, dulong_petit, fit_exponential_decay, fit_two_reservoirs,
                          heat_current, statistical_inefficiency, steady_state_conductance, transient_conductance)


def last_run(folder: Path) -> dict:
    """Thermo columns of the last (measured) run of a seed's log."""
    runs = read_thermo(Path(folder) / "log.lammps")
    if not runs:
        raise RuntimeError(f"{folder}/log.lammps has no finished run")
    return runs[-1]


def steady_seed(th: dict, area_A2: float, blocks: int = 5) -> dict:
    """Heat in (hot bath) and out (cold bath), temperatures and G of one steady-state run.

    ``f_hotbath``/``f_coldbath`` are fix langevin's tallies: energy the bath
    took out of the system, so heat in = -slope(hot), heat out = slope(cold).
    """
    t = th["Time"]
    j_in, e_in = heat_current(t, -th["f_hotbath"])
    j_out, e_out = heat_current(t, th["f_coldbath"])
    j = (j_in + j_out) / 2
    # over a finite run in and out differ by the change of the system's energy: part of the error
    j_err = float(np.sqrt((e_in**2 + e_out**2) / 4 + ((j_in - j_out) / 2) ** 2))
    tp, tp_err = block_average(th["c_T_pfree"], blocks)
    ts, ts_err = block_average(th["c_T_siface"], blocks)
    g, g_err = steady_state_conductance(j, j_err, area_A2, tp - ts, float(np.hypot(tp_err, ts_err)))
    drift = float(np.polyfit(t, th["TotEng"], 1)[0])
    return {"heat_in_eV_ps": j_in, "heat_in_err_eV_ps": e_in, "heat_out_eV_ps": j_out,
            "heat_out_err_eV_ps": e_out, "imbalance": (j_in - j_out) / j, "energy_drift_eV_ps": drift,
            "T_particle_K": tp, "T_surface_K": ts, "T_interface_K": (tp + ts) / 2, "delta_T_K": tp - ts,
            "delta_T_err_K": float(np.hypot(tp_err, ts_err)), "G_MW_m2K": g, "G_err_MW_m2K": g_err}


def heat_capacity_from_run(temperature, energy, instrument, samples_per_block: int) -> tuple[float, float]:
    """dE/dT (eV/K) of a cooling particle and its error, by instrumental variables: C =
    cov(E, z) / cov(T, z), with z a smooth function of time that follows the true temperature
    (the fitted decay). Least squares of E on the measured T is biased low by the noise of T
    (errors in variables: the slope shrinks by var(T_true) / var(T_measured)); z is blind to that
    noise. On block means, so the error formula sees nearly independent residuals."""
    n = len(temperature) // samples_per_block * samples_per_block
    if n < 3 * samples_per_block:
        raise ValueError("too few samples to measure the heat capacity")
    tb, eb, zb = (np.asarray(a[:n], float).reshape(-1, samples_per_block).mean(axis=1)
                  for a in (temperature, energy, instrument))
    tc, ec, zc = tb - tb.mean(), eb - eb.mean(), zb - zb.mean()
    if abs(tc @ zc) < 1e-12 * np.sqrt((tc @ tc) * (zc @ zc)) or not np.any(zc):
        raise ValueError("the particle's temperature does not change: no heat capacity from this run")
    slope = float((ec @ zc) / (tc @ zc))
    resid = ec - slope * tc
    var = float(resid @ resid) / max(len(tb) - 2, 1)
    g = statistical_inefficiency(resid)
    return slope, float(np.sqrt(var * g * (zc @ zc)) / abs(tc @ zc))


SUBSTRATE_TEMPERATURE = {"local": "c_T_siface", "published": "c_T_substrate"}    # by Transient.protocol


def transient_seed(th: dict, area_A2: float, n_particle: int, heat_capacity: str = "simulation",
                   block_ps: float = 1.0, protocol: str = "local", stop_below_K: float | None = None) -> dict:
    """G = C / (A tau) for one transient run: tau from the particle's cooling against the measured
    substrate temperature (:func:`fit_two_reservoirs`, down to ``stop_below_K``; the surface under
    the particle, or with ``protocol`` published the whole mobile substrate), C from the run or
    3 N k_B. The exponential fit of T_p - T_s (constant substrate) is kept for comparison."""
    t = th["Time"] - th["Time"][0]
    tp, ts = th["c_T_particle"], th[SUBSTRATE_TEMPERATURE[protocol]]
    fit = fit_two_reservoirs(t, tp, ts, stop_below_K)
    expo = fit_exponential_decay(t, tp - ts)
    per_block = max(1, int(round(block_ps / (t[1] - t[0]))))
    fitted = slice(0, fit["fitted_samples"])
    # instrument: a smooth decay, blind to the noise of T_p and E (the two-reservoir model is not:
    # it follows the measured T_s, whose fluctuations trade energy with the particle)
    smooth = np.exp(-t[fitted] / expo["tau_ps"])
    c_sim, c_sim_err = heat_capacity_from_run(tp[fitted], th["v_E_particle"][fitted], smooth, per_block)
    c, c_err = (c_sim, c_sim_err) if heat_capacity == "simulation" else (dulong_petit(n_particle), 0.0)
    g, _ = transient_conductance(c, area_A2, fit["tau_ps"])
    g_err = g * float(np.hypot(fit["tau_err_ps"] / fit["tau_ps"], c_err / c))
    # G depends on temperature: heat crossed the interface at this mean temperature
    # (weighted by the heat flow, i.e. by dT), where the steady state's is (T_particle + T_surface) / 2
    delta_T = (tp - ts)[fitted]
    t_iface = float(np.sum(delta_T * (tp + ts)[fitted] / 2) / np.sum(delta_T))
    return {**fit, "protocol": protocol, "substrate_temperature": SUBSTRATE_TEMPERATURE[protocol],
            "exponential_dT0_K": expo["dT0"], "exponential_tau_ps": expo["tau_ps"],
            "exponential_tau_err_ps": expo["tau_err_ps"],
            "T_interface_K": t_iface, "C_eV_K": c, "C_err_eV_K": c_err, "C_simulation_eV_K": c_sim,
            "C_dulong_petit_eV_K": dulong_petit(n_particle), "G_MW_m2K": g, "G_err_MW_m2K": g_err}


def combine(values, errors) -> tuple[float, float]:
    """Mean over seeds; error: the larger of the propagated per-seed errors and the seed scatter."""
    v, e = np.asarray(values, float), np.asarray(errors, float)
    propagated = float(np.sqrt((e**2).sum()) / len(v))
    scatter = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), max(propagated, scatter)


def read_profile(path: str | Path) -> dict:
    """Last block of a fix ave/chunk file (chunk coord count temp ...): z (A), T (K), atoms."""
    rows, block = [], []
    for line in Path(path).read_text().splitlines():
        words = line.split()
        if not words or line.startswith("#"):
            continue
        if len(words) == 3:    # "timestep nchunks total" starts a block
            rows, block = block or rows, []
            continue
        block.append([float(w) for w in words])
    data = np.array(block or rows)
    if data.size == 0:
        raise ValueError(f"{path}: no profile data")
    full = data[:, 2] > 0
    return {"z_A": data[full, 1].tolist(), "T_K": data[full, 3].tolist(), "atoms": data[full, 2].tolist()}


def plot_steady(runs, result: dict, path: Path) -> None:
    """Temperatures, bath heat and the profile; ``runs``: the seeds' :func:`last_run` tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
    for th, seed in zip(runs, result["seeds"]):
        t = th["Time"]
        ax1.plot(t, th["c_T_pfree"], lw=0.7, label=f"particle (seed {seed['seed']})")
        ax1.plot(t, th["c_T_siface"], lw=0.7, label=f"substrate surface (seed {seed['seed']})")
        ax2.plot(t, -th["f_hotbath"], lw=0.7, label=f"in, hot bath ({seed['heat_in_eV_ps']:.3f} eV/ps)")
        ax2.plot(t, th["f_coldbath"], lw=0.7, label=f"out, cold bath ({seed['heat_out_eV_ps']:.3f} eV/ps)")
    prof = result["profile"]
    ax3.plot(prof["z_A"], prof["T_K"], "o-")
    ax1.set(xlabel="time (ps)", ylabel="T (K)", title="temperatures")
    ax2.set(xlabel="time (ps)", ylabel="energy (eV)", title="bath heat")
    ax3.set(xlabel="z (A)", ylabel="T (K)", title=f"profile, G = {result['G_MW_m2K']:.1f} "
            f"+- {result['G_err_MW_m2K']:.1f} MW/m^2/K")
    ax1.legend(fontsize=6)
    ax2.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_transient(runs, result: dict, path: Path) -> None:
    """Decays with their fits and E vs T of the particle; ``runs`` as for :func:`plot_steady`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for th, seed in zip(runs, result["seeds"]):
        t = th["Time"] - th["Time"][0]
        ts = th[seed["substrate_temperature"]]
        line, = ax1.plot(t, th["c_T_particle"], lw=0.6, alpha=0.7)
        ax1.plot(t, ts, lw=0.6, alpha=0.7, color=line.get_color(), ls=":")
        fitted = slice(0, seed["fitted_samples"])
        ax1.plot(t[fitted], driven_decay(t[fitted], ts[fitted], seed["T_particle0_K"], 1 / seed["tau_ps"]),
                 color=line.get_color(), lw=2, label=f"seed {seed['seed']}: tau = {seed['tau_ps']:.1f} ps")
        ax2.plot(th["c_T_particle"], th["v_E_particle"], ".", ms=2, color=line.get_color())
    ax1.set(xlabel="time (ps)", ylabel="T (K): particle, substrate (dotted), fit",
            title=f"G = {result['G_MW_m2K']:.1f} +- {result['G_err_MW_m2K']:.1f} MW/m^2/K")
    ax2.set(xlabel="T_particle (K)", ylabel="E_particle (eV)", title="heat capacity: slope")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def analyse(method: str, runs, seeds, regions: dict, heat_capacity: str = "simulation",
            profile_file: Path | None = None, protocol: str = "local", stop_below_K: float | None = None) -> dict:
    """G of ``method`` combined over the seeds' :func:`last_run` tables, with per-seed details
    (and, for the steady state, the temperature profile of ``profile_file``; for the transient,
    ``protocol`` and ``stop_below_K`` as :func:`transient_seed`)."""
    area = regions["contact_area_A2"]
    per_seed = []
    for th, seed in zip(runs, seeds):
        one = steady_seed(th, area) if method == "steady" else \
            transient_seed(th, area, regions["n_particle"], heat_capacity, protocol=protocol,
                           stop_below_K=stop_below_K)
        per_seed.append({"seed": seed, **one})
    g, g_err = combine([s["G_MW_m2K"] for s in per_seed], [s["G_err_MW_m2K"] for s in per_seed])
    out = {"method": method, "G_MW_m2K": g, "G_err_MW_m2K": g_err,
           "contact_area": regions.get("contact_area", "hull"), "contact_area_A2": area,
           "T_interface_K": float(np.mean([s["T_interface_K"] for s in per_seed])), "seeds": per_seed}
    if method == "steady":
        out["profile"] = read_profile(profile_file)
        out["imbalance"] = float(np.mean([s["imbalance"] for s in per_seed]))
    else:
        out.update(heat_capacity=heat_capacity, protocol=protocol, fitted_down_to_K=stop_below_K)
    return out
