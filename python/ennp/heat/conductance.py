"""Interfacial thermal conductance G from NEMD data (pure functions).

Units: energies eV, times ps, areas A^2, temperatures K; G is returned in
MW m^-2 K^-1 (1 eV/(ps A^2 K) = 1.602e-19 / (1e-12 * 1e-20) W m^-2 K^-1).
"""

from __future__ import annotations

import numpy as np

EV = 1.602176634e-19            # J
KB_EV = 8.617333262e-5          # eV/K
G_UNIT_MW = EV / (1e-12 * 1e-20) / 1e6   # eV ps^-1 A^-2 K^-1 -> MW m^-2 K^-1


def block_average(x, blocks: int = 5) -> tuple[float, float]:
    """Mean and its standard error from ``blocks`` contiguous block means."""
    x = np.asarray(x, dtype=float)
    if blocks < 2 or len(x) < blocks:
        raise ValueError(f"need at least {max(blocks, 2)} samples for {blocks} blocks, got {len(x)}")
    means = np.array([b.mean() for b in np.array_split(x, blocks)])
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(blocks))


def heat_current(time_ps, energy_eV) -> tuple[float, float]:
    """Slope (eV/ps) of an accumulated bath energy and its standard error (least squares)."""
    t, e = np.asarray(time_ps, float), np.asarray(energy_eV, float)
    if len(t) < 3:
        raise ValueError("need at least three samples of the bath energy")
    (slope, intercept), cov = np.polyfit(t, e, 1, cov=True)
    return float(slope), float(np.sqrt(cov[0, 0]))


def steady_state_conductance(current_eV_ps: float, current_err: float, area_A2: float,
                             delta_T: float, delta_T_err: float) -> tuple[float, float]:
    """G = J / (A dT) in MW m^-2 K^-1, with the propagated (independent) error."""
    if area_A2 <= 0:
        raise ValueError(f"contact area must be positive, got {area_A2} A^2")
    if delta_T <= 0:
        raise ValueError(f"temperature drop across the interface must be positive, got {delta_T} K")
    g = current_eV_ps / (area_A2 * delta_T) * G_UNIT_MW
    rel = np.hypot(current_err / current_eV_ps if current_eV_ps else 0.0, delta_T_err / delta_T)
    return float(g), float(abs(g) * rel)


def fit_exponential_decay(time_ps, delta_T) -> dict:
    """Fit dT(t) = dT0 exp(-t / tau); returns dT0, tau (ps) and their standard errors."""
    from scipy.optimize import curve_fit

    t, y = np.asarray(time_ps, float), np.asarray(delta_T, float)
    if len(t) < 4:
        raise ValueError("need at least four samples of the temperature difference")
    if y[0] <= 0:
        raise ValueError(f"the particle must start hotter than the substrate (dT(0) = {y[0]:.3g} K)")
    t = t - t[0]
    positive = y > 0.2 * y[0]
    tau0 = max(-np.polyfit(t[positive], np.log(y[positive]), 1)[0] ** -1, 1e-3) if positive.sum() > 2 \
        else t[-1]
    popt, pcov = curve_fit(lambda t, a, tau: a * np.exp(-t / tau), t, y, p0=(y[0], tau0), maxfev=20000)
    err = np.sqrt(np.diag(pcov))
    return {"dT0": float(popt[0]), "tau_ps": float(popt[1]), "dT0_err": float(err[0]),
            "tau_err_ps": float(err[1])}


def transient_conductance(heat_capacity_eV_K: float, area_A2: float, tau_ps: float,
                          tau_err_ps: float = 0.0) -> tuple[float, float]:
    """G = C / (A tau) (C: heat capacity of the particle, eV/K) in MW m^-2 K^-1."""
    if area_A2 <= 0 or tau_ps <= 0 or heat_capacity_eV_K <= 0:
        raise ValueError("heat capacity, contact area and decay time must be positive")
    g = heat_capacity_eV_K / (area_A2 * tau_ps) * G_UNIT_MW
    return float(g), float(g * tau_err_ps / tau_ps)


def dulong_petit(natoms: int) -> float:
    """Classical heat capacity 3 N k_B (eV/K): what classical MD gives for a harmonic solid."""
    return 3 * natoms * KB_EV
