"""``ennp beam``: the EELS step and the beam-heating estimate, as JSON and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .beam import beam_power, temperature_rise


def read_conductance(path: str | Path) -> tuple[float, float]:
    """G and its error (MW m^-2 K^-1) from an NEMD result JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the conductance JSON ({exc})") from exc
    if "G_MW_m2K" not in data:
        raise ValueError(f"{path}: no field G_MW_m2K (write it with the NEMD step)")
    return float(data["G_MW_m2K"]), float(data.get("G_err_MW_m2K", 0.0))


def heating_table(g: float, g_err: float, mean_loss_eV: float, t_over_lambda: float,
                  cross_section_A2: float, contact_area_A2: float, dose_rates) -> dict:
    """dT (and its error from G) for each dose rate (e A^-2 s^-1)."""
    rates = [float(r) for r in dose_rates]
    if not rates or min(rates) < 0:
        raise ValueError(f"dose rates must be non-negative, got {rates}")
    power = [beam_power(r, mean_loss_eV, t_over_lambda, cross_section_A2) for r in rates]
    dT = [temperature_rise(p, g, contact_area_A2) for p in power]
    return {"dose_rate_e_A2s": rates, "power_W": power, "delta_T_K": dT,
            "delta_T_err_K": [t * g_err / g for t in dT],
            "inputs": {"G_MW_m2K": g, "G_err_MW_m2K": g_err, "mean_energy_loss_eV": mean_loss_eV,
                       "t_over_lambda": t_over_lambda, "cross_section_A2": cross_section_A2,
                       "contact_area_A2": contact_area_A2}}


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
