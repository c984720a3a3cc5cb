"""Beam heating of a supported particle (Nunez Valencia et al., Nanoscale 16, 5750 (2024)).

Power deposited: P = J <E> (t/lambda) A_cross, with J the dose rate
(electrons A^-2 s^-1), <E> the mean energy loss per inelastic event, t/lambda the
thickness in inelastic mean free paths and A_cross the particle's cross-section
seen by the beam. Steady state: dT = P / (G A_contact).
"""

from __future__ import annotations

import numpy as np

from .conductance import EV


def beam_power(dose_rate: float, mean_loss_eV: float, t_over_lambda: float, area_cross_A2: float) -> float:
    """Deposited power (W)."""
    for name, value in (("dose rate", dose_rate), ("mean energy loss", mean_loss_eV),
                        ("t/lambda", t_over_lambda), ("cross-section", area_cross_A2)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value}")
    return dose_rate * area_cross_A2 * mean_loss_eV * t_over_lambda * EV


def temperature_rise(power_W: float, g_MW_m2K: float, area_contact_A2: float) -> float:
    """Steady-state dT (K) = P / (G A_contact)."""
    if not g_MW_m2K > 0:
        raise ValueError(f"the conductance G must be positive, got {g_MW_m2K} MW m^-2 K^-1")
    if not area_contact_A2 > 0:
        raise ValueError(f"the contact area must be positive, got {area_contact_A2} A^2")
    return power_W / (g_MW_m2K * 1e6 * area_contact_A2 * 1e-20)


def sphere_t_over_lambda(diameter_A: float, mfp_A: float) -> float:
    """Mean thickness of a sphere over its projected disc (2/3 d) in mean free paths."""
    return (2.0 / 3.0) * diameter_A / mfp_A
