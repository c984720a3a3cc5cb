"""Energy deposited by the beam, from an EELS low-loss spectrum.

Log-ratio method (Egerton, EELS in the Electron Microscope, 3rd ed., sec. 5.1):
t/lambda = ln(I_t / I_0), through exspy's ``estimate_thickness``. Mean energy
loss per inelastic event <E>: with Poisson plural scattering the mean loss per
transmitted electron is (t/lambda) <E>, so <E> = (sum E I(E) / I_t) / (t/lambda),
with the sums over the chosen loss range. Without a spectrum lambda is the total
inelastic mean free path (Iakoubovskii et al., Microsc. Res. Tech. 71, 626 (2008)):
heating counts every inelastic event, also those scattered outside a spectrometer's
aperture. The Malis formula (Malis, Cheng, Egerton, J. Electron Microsc. Tech. 8, 193
(1988)) gives lambda(beta), the events within the collection angle beta; it stays an option.
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
    """End of the zero-loss peak: the first minimum above the ZLP maximum of the spectrum smoothed
    over the ZLP's full width at half maximum, that is also the lowest point within one FWHM on
    either side. A noise wiggle on the ZLP's flank is neither, so the cut does not creep into the
    peak (which would put zero-loss counts into the losses and raise t/lambda)."""
    c = np.asarray(counts, float)
    i0 = int(np.argmax(c))
    if energy[i0] > 5.0:
        raise ValueError(f"the spectrum's maximum is at {energy[i0]:.1f} eV: not a low-loss spectrum "
                         "with a zero-loss peak")
    right = i0 + int(np.argmax(c[i0:] < c[i0] / 2))
    left = i0 - int(np.argmax(c[i0::-1] < c[i0] / 2))
    width = max(3, right - left)    # channels
    smooth = np.convolve(c, np.ones(width) / width, mode="same")
    for i in range(i0 + width // 2, len(c) - width):
        if smooth[i] <= smooth[max(i - width, 0):i + width + 1].min():
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


def power_law_tail(energy, counts, fit_from: float) -> dict:
    """The spectrum beyond its last channel, extrapolated as A E^-r fitted (log-log least
    squares) to the channels above ``fit_from`` eV, as Egerton fits backgrounds and tails
    (EELS in the Electron Microscope, 3rd ed., sec. 4.4): the missing counts and first moment,
    int_{E_end}^inf A E^-r dE and int E A E^-r dE, per channel width. The first moment is finite
    only for r > 2; otherwise the tail cannot be extrapolated and ValueError says so."""
    e, c = np.asarray(energy, float), np.asarray(counts, float)
    sel = (e >= fit_from) & (c > 0)
    if sel.sum() < 5:
        raise ValueError(f"fewer than five positive channels above {fit_from:.4g} eV to fit the tail")
    slope, intercept = np.polyfit(np.log(e[sel]), np.log(c[sel]), 1)
    r, end, de = -float(slope), float(e[-1]), float(e[1] - e[0])
    if r <= 2:
        raise ValueError(f"the spectrum's tail falls as E^-{r:.2f}, not faster than E^-2: its mean loss "
                         "beyond the last channel diverges; state the range (beam.range) instead")
    a = np.exp(intercept) / de    # counts per eV
    counts_beyond = a * end ** (1 - r) / (r - 1)
    moment_beyond = a * end ** (2 - r) / (r - 2)
    return {"exponent": r, "fit_from_eV": float(fit_from), "counts": float(counts_beyond),
            "first_moment": float(moment_beyond)}


def mean_energy_loss(energy, counts, t_lambda: float, low: float, high: float,
                     tail: dict | None = None) -> float:
    """<E> per inelastic scattering event (eV) from the losses in [low, high] eV, plus
    ``tail``'s (:func:`power_law_tail`) counts and first moment beyond the spectrum's end."""
    e, c = np.asarray(energy, float), np.asarray(counts, float)
    if not low < high:
        raise ValueError(f"energy range must have low < high, got {low}, {high}")
    if t_lambda <= 0:
        raise ValueError(f"t/lambda must be positive, got {t_lambda}")
    sel = (e >= low) & (e <= high)
    if sel.sum() < 2:
        raise ValueError(f"the range {low}-{high} eV holds fewer than two channels of the spectrum")
    beyond = tail or {"counts": 0.0, "first_moment": 0.0}
    return float(((e[sel] * c[sel]).sum() + beyond["first_moment"]) / (c.sum() + beyond["counts"]) / t_lambda)


TAILS = ("power_law", "none")


def analyse_spectrum(path, low: float | None = None, high: float | None = None, tail: str = "power_law",
                     tail_fit: float = 0.3) -> dict:
    """t/lambda and <E> of a low-loss spectrum. With ``tail`` power_law and no ``high``, the losses
    beyond the last channel are extrapolated (:func:`power_law_tail`, fitted to the last
    ``tail_fit`` of the loss range) into both t/lambda and <E>; otherwise <E> covers the stated
    range only. The JSON says which, and the extrapolated share of <E>."""
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {list(TAILS)}, not {tail!r}")
    energy, counts = load_spectrum(path)
    threshold = zlp_threshold(energy, counts)
    tl = t_over_lambda(energy, counts, threshold)
    low = threshold if low is None else low
    extrapolate = tail == "power_law" and high is None
    high = float(energy[-1]) if high is None else high
    out = {"spectrum": str(path), "zlp_threshold_eV": threshold, "range_eV": [low, high]}
    if not extrapolate:
        return {**out, "t_over_lambda": tl, "tail": "none",
                "mean_energy_loss_eV": mean_energy_loss(energy, counts, tl, low, high)}
    beyond = power_law_tail(energy, counts, high - tail_fit * (high - low))
    # log-ratio: ln(I_t / I_0); the tail adds to I_t
    tl += float(np.log1p(beyond["counts"] / np.asarray(counts, float).sum()))
    mean = mean_energy_loss(energy, counts, tl, low, high, beyond)
    cut = mean_energy_loss(energy, counts, tl, low, high)
    return {**out, "t_over_lambda": tl, "tail": "power_law", "tail_exponent": beyond["exponent"],
            "tail_fit_from_eV": beyond["fit_from_eV"], "tail_share_of_mean_loss": 1 - cut / mean,
            "mean_energy_loss_eV": mean}


MEAN_FREE_PATHS = ("total", "malis")


def total_mean_free_path(beam_energy_keV: float, density_g_cm3: float) -> float:
    """Total inelastic mean free path (A), all scattering angles: Iakoubovskii et al.,
    Microsc. Res. Tech. 71, 626 (2008), eq. 9, as exspy evaluates it. The energy a
    particle absorbs comes from every inelastic event, wherever the electron goes."""
    from exspy.utils.eels import iMFP_Iakoubovskii

    if beam_energy_keV <= 0 or density_g_cm3 <= 0:
        raise ValueError("beam energy and density must be positive")
    return 10.0 * float(iMFP_Iakoubovskii(density_g_cm3, beam_energy_keV))


def inelastic_mean_free_path(beam_energy_keV: float, method: str = "total", density_g_cm3: float = 19.32,
                             z_eff: float = 79.0, beta_mrad: float = 10.0) -> float:
    """The mean free path (A) for beam heating: ``total`` (:func:`total_mean_free_path`) or
    ``malis`` (lambda(beta), the events a spectrometer of collection angle beta records)."""
    if method not in MEAN_FREE_PATHS:
        raise ValueError(f"mean_free_path must be one of {list(MEAN_FREE_PATHS)}, not {method!r}")
    if method == "total":
        return total_mean_free_path(beam_energy_keV, density_g_cm3)
    return malis_mean_free_path(beam_energy_keV, z_eff, beta_mrad)


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
