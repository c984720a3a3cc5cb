"""Energy deposited by the beam, from an EELS low-loss spectrum.

Log-ratio method (Egerton, EELS in the Electron Microscope, 3rd ed., sec. 5.1):
t/lambda = ln(I_t / I_0), through exspy's ``estimate_thickness``. Mean energy
loss per inelastic event <E>: with Poisson plural scattering the mean loss per
transmitted electron is (t/lambda) <E>, so <E> = (sum E I(E) / I_t) / (t/lambda),
with the sums over the chosen loss range. Without a spectrum lambda comes from
the Malis formula (Malis, Cheng, Egerton, J. Electron Microsc. Tech. 8, 193 (1988)).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np


def load_spectrum(path: str | Path):
    """An EELS spectrum (.msa, .dm3/.dm4, .hspy, ... anything rosettasciio reads) as
    (energy axis in eV, counts); ValueError names the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such spectrum file: {path}")
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import hyperspy.api as hs
        try:
            s = hs.load(str(path))
        except Exception as exc:    # rosettasciio raises many kinds for unreadable files
            raise ValueError(f"{path}: not a readable spectrum ({type(exc).__name__}: {exc})") from exc
    if isinstance(s, list) or s.axes_manager.signal_dimension != 1 or s.axes_manager.navigation_dimension:
        raise ValueError(f"{path}: expected one 1D spectrum, got {s}")
    axis = s.axes_manager.signal_axes[0]
    energy, counts = np.asarray(axis.axis, float), np.asarray(s.data, float)
    if not np.isfinite(counts).all() or counts.sum() <= 0:
        raise ValueError(f"{path}: spectrum has no positive, finite counts")
    return energy, counts


def zlp_threshold(energy, counts) -> float:
    """End of the zero-loss peak: the first minimum of the spectrum above the ZLP maximum."""
    i0 = int(np.argmax(counts))
    if energy[i0] > 5.0:
        raise ValueError(f"the spectrum's maximum is at {energy[i0]:.1f} eV: not a low-loss spectrum "
                         "with a zero-loss peak")
    smooth = np.convolve(counts, np.ones(5) / 5, mode="same")
    for i in range(i0 + 3, len(counts) - 3):
        if smooth[i] <= smooth[i - 1] and smooth[i] <= smooth[i + 1]:
            return float(energy[i])
    raise ValueError("no minimum after the zero-loss peak: cannot separate it")


def t_over_lambda(energy, counts, threshold: float | None = None) -> float:
    """Relative thickness by the log-ratio method (exspy), ZLP up to ``threshold`` eV."""
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import exspy

        s = exspy.signals.EELSSpectrum(np.asarray(counts, float))
        axis = s.axes_manager.signal_axes[0]
        axis.offset, axis.scale, axis.units = float(energy[0]), float(energy[1] - energy[0]), "eV"
        if threshold is None:
            threshold = zlp_threshold(energy, counts)
        return float(s.estimate_thickness(threshold=threshold).data.squeeze())


def mean_energy_loss(energy, counts, t_lambda: float, low: float, high: float) -> float:
    """<E> per inelastic scattering event (eV) from the losses in [low, high] eV."""
    e, c = np.asarray(energy, float), np.asarray(counts, float)
    if not low < high:
        raise ValueError(f"energy range must have low < high, got {low}, {high}")
    if t_lambda <= 0:
        raise ValueError(f"t/lambda must be positive, got {t_lambda}")
    sel = (e >= low) & (e <= high)
    if sel.sum() < 2:
        raise ValueError(f"the range {low}-{high} eV holds fewer than two channels of the spectrum")
    return float((e[sel] * c[sel]).sum() / c.sum() / t_lambda)


def analyse_spectrum(path, low: float | None = None, high: float | None = None) -> dict:
    energy, counts = load_spectrum(path)
    threshold = zlp_threshold(energy, counts)
    tl = t_over_lambda(energy, counts, threshold)
    low = threshold if low is None else low
    high = float(energy[-1]) if high is None else high
    return {"spectrum": str(path), "zlp_threshold_eV": threshold, "t_over_lambda": tl,
            "range_eV": [low, high], "mean_energy_loss_eV": mean_energy_loss(energy, counts, tl, low, high)}


def malis_mean_free_path(beam_energy_keV: float, z_eff: float, beta_mrad: float) -> float:
    """Inelastic mean free path (A) from the Malis formula:
    lambda = 106 F E0 / (Em ln(2 beta E0 / Em)) nm, Em = 7.6 Z^0.36 eV,
    F = (1 + E0/1022) / (1 + E0/511)^2, E0 in keV, beta in mrad."""
    if beam_energy_keV <= 0 or z_eff <= 0 or beta_mrad <= 0:
        raise ValueError("beam energy, Z and collection angle must be positive")
    em = 7.6 * z_eff**0.36
    f = (1 + beam_energy_keV / 1022) / (1 + beam_energy_keV / 511) ** 2
    arg = 2 * beta_mrad * beam_energy_keV / em
    if arg <= 1:
        raise ValueError(f"collection angle {beta_mrad} mrad too small for the Malis formula")
    return 10 * 106 * f * beam_energy_keV / (em * np.log(arg))
