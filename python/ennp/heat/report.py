"""``ennp heat beam``: the beam-heating estimate from a conductance, EELS and the particle's areas,
as JSON and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..builders.nanoparticle import contact_area_key
from .beam import beam_power, temperature_rise


def read_conductance(path: str | Path) -> tuple[float, float, str | None]:
    """G and its error (MW m^-2 K^-1) from an NEMD result JSON, and the contact-area convention
    it was measured with (None where the JSON does not say)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the conductance JSON ({exc})") from exc
    if "G_MW_m2K" not in data:
        raise ValueError(f"{path}: no field G_MW_m2K (write it with the NEMD step)")
    return float(data["G_MW_m2K"]), float(data.get("G_err_MW_m2K", 0.0)), data.get("contact_area")


def heating_table(g: float, g_err: float, mean_loss_eV: float, t_over_lambda: float,
                  cross_section_A2: float, contact_area_A2: float, dose_rates, contact_area: str = "hull") -> dict:
    """dT (and its error from G) for each dose rate (e A^-2 s^-1); ``contact_area``: the
    convention of the area and of G (ennp.builders.nanoparticle.CONTACT_AREAS)."""
    rates = [float(r) for r in dose_rates]
    if not rates or min(rates) < 0:
        raise ValueError(f"dose rates must be non-negative, got {rates}")
    power = [beam_power(r, mean_loss_eV, t_over_lambda, cross_section_A2) for r in rates]
    dT = [temperature_rise(p, g, contact_area_A2) for p in power]
    return {"dose_rate_e_A2s": rates, "power_W": power, "delta_T_K": dT,
            "delta_T_err_K": [t * g_err / g for t in dT],
            "inputs": {"G_MW_m2K": g, "G_err_MW_m2K": g_err, "mean_energy_loss_eV": mean_loss_eV,
                       "t_over_lambda": t_over_lambda, "cross_section_A2": cross_section_A2,
                       "contact_area_A2": contact_area_A2, "contact_area": contact_area}}


def beam_estimate(dose_rates, *, g: float | None = None, g_err: float = 0.0, conductance: str | None = None,
                  eels_json: str | None = None, mean_loss_eV: float | None = None,
                  t_over_lambda: float | None = None, diameter_A: float | None = None,
                  beam_energy_keV: float = 300.0, beta_mrad: float = 10.0, z_eff: float = 79.0,
                  mean_free_path: str = "total", density_g_cm3: float = 19.32,
                  structure: str | None = None, cross_section_A2: float | None = None,
                  contact_area_A2: float | None = None, contact_area: str | None = None) -> tuple[dict, str]:
    """:func:`heating_table` from what the user has: G given or from an NEMD JSON; <E> and t/lambda
    from an ``ennp heat eels`` JSON, given, or (with the particle's diameter) the mean free
    path; the areas given or from a particle builder's STRUCT.data.json. Returns (table, label)."""
    from . import eels
    from .beam import sphere_t_over_lambda

    if conductance:
        g, g_err, measured = read_conductance(conductance)
        if measured and contact_area and measured != contact_area:
            raise ValueError(f"{conductance}: G was measured per the {measured} contact area, not the "
                             f"{contact_area} one asked for; dT = P / (G A) needs A of G's convention")
        contact_area = contact_area or measured
    elif g is None:
        raise ValueError("give the conductance: --g VALUE or --conductance NEMD.json")
    contact_area = contact_area or "hull"
    cross, contact = cross_section_A2, contact_area_A2
    if structure:
        meta = json.loads(Path(structure).read_text())
        try:
            cross = cross or meta["ennp_cross_section_A2"]
            contact = contact or meta[contact_area_key(contact_area)]
        except KeyError as exc:
            raise ValueError(f"{structure}: no field {exc} (write it with a particle builder)") from None
    if eels_json:
        data = json.loads(Path(eels_json).read_text())
        if not {"t_over_lambda", "mean_energy_loss_eV"} <= set(data):
            raise ValueError(f"{eels_json}: needs t_over_lambda and mean_energy_loss_eV (from ennp heat eels)")
        tl, loss, label = data["t_over_lambda"], data["mean_energy_loss_eV"], "from EELS"
    else:
        if mean_loss_eV is None:
            raise ValueError("give --eels EELS.json or --mean-loss (eV)")
        loss, tl, label = mean_loss_eV, t_over_lambda, "given t/lambda"
        if tl is None:
            if diameter_A is None:
                raise ValueError("give --t-over-lambda, or --diameter (A) to use the mean free path")
            mfp = eels.inelastic_mean_free_path(beam_energy_keV, mean_free_path, density_g_cm3, z_eff, beta_mrad)
            tl = sphere_t_over_lambda(diameter_A, mfp)
            cross = cross or np.pi * diameter_A**2 / 4
            label = f"{beam_energy_keV:g} keV ({mean_free_path} mean free path {mfp:.0f} A)"
    if not cross or not contact:
        raise ValueError("give --structure STRUCT.json or both --cross-section and --contact-area (A^2)")
    return heating_table(g, g_err, loss, tl, cross, contact, dose_rates, contact_area), label


def plot_heating(tables: dict, path: Path) -> None:
    """dT vs dose rate, one curve per table (label -> :func:`heating_table` result)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, table in tables.items():
        r, t, e = (np.array(table[k]) for k in ("dose_rate_e_A2s", "delta_T_K", "delta_T_err_K"))
        ax.errorbar(r, t, yerr=e, fmt="o-", label=label)
    g = next(iter(tables.values()))["inputs"]["G_MW_m2K"]
    ax.set(xscale="log", yscale="log", xlabel="dose rate (e / A^2 / s)", ylabel="temperature rise (K)",
           title=f"beam heating, G = {g:.0f} MW/m^2/K")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
