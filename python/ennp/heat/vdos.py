"""Vibrational density of states from velocities (pure functions).

VDOS(f) ~ Fourier transform of the mass-weighted velocity autocorrelation,
computed per atom and direction with the Wiener-Khinchin theorem (|FFT(v)|^2)
and normalised to unit area. The overlap of two VDOS (e.g. Au and TiO2) is
integral of min(D1, D2) df, in [0, 1]: a measure of phonon mismatch.
"""

from __future__ import annotations

import numpy as np


def vdos(velocities, dt_ps: float, masses=None) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (THz) and the normalised VDOS of velocities shaped (frames, atoms, 3)."""
    v = np.asarray(velocities, dtype=float)
    if v.ndim != 3 or v.shape[2] != 3:
        raise ValueError(f"velocities must be shaped (frames, atoms, 3), got {v.shape}")
    if v.shape[0] < 8:
        raise ValueError(f"need at least 8 frames of velocities, got {v.shape[0]}")
    if dt_ps <= 0:
        raise ValueError(f"dt must be positive, got {dt_ps} ps")
    m = np.ones(v.shape[1]) if masses is None else np.asarray(masses, float)
    v = v - v.mean(axis=0)
    window = np.hanning(v.shape[0])[:, None, None]
    power = np.abs(np.fft.rfft(v * window, axis=0)) ** 2
    spectrum = (power * m[None, :, None]).sum(axis=(1, 2))
    freq = np.fft.rfftfreq(v.shape[0], dt_ps)    # 1/ps = THz
    area = np.trapezoid(spectrum, freq)
    if area <= 0:
        raise ValueError("velocities are all constant: no vibrations")
    return freq, spectrum / area


def overlap(freq, d1, d2) -> float:
    """Integral of min(D1, D2) over frequency (1 for identical normalised VDOS)."""
    return float(np.trapezoid(np.minimum(d1, d2), freq))


def plot_vdos(freq, curves: dict, path, title: str = "vibrational density of states") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, d in curves.items():
        ax.plot(freq, d, label=label)
    ax.set(xlabel="frequency (THz)", ylabel="VDOS (1/THz)", title=title, xlim=(0, freq[-1]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
