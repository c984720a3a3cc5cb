"""Interfacial thermal conductance G from NEMD data (pure functions).

Units: energies eV, times ps, areas A^2, temperatures K; G is returned in
MW m^-2 K^-1 (1 eV/(ps A^2 K) = 1.602e-19 / (1e-12 * 1e-20) W m^-2 K^-1).
"""

from __future__ import annotations

import numpy as np

EV = 1.602176634e-19            # J
KB_EV = 8.617333262e-5          # eV/K
G_UNIT_MW = EV / (1e-12 * 1e-20) / 1e6   # eV ps^-1 A^-2 K^-1 -> MW m^-2 K^-1


def statistical_inefficiency(x) -> float:
    """g = 1 + 2 sum_t (1 - t/N) C(t), C the normalised autocorrelation of ``x``, summed up to its
    first zero crossing (Chodera et al., J. Chem. Theory Comput. 3, 26 (2007)): N correlated samples
    carry N / g samples' worth of information. At least 1."""
    x = np.asarray(x, float) - np.mean(x)
    n = len(x)
    var = float(x @ x) / n
    if n < 4 or var == 0:
        return 1.0
    # autocorrelation by FFT, zero-padded against wrap-around
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / (var * np.arange(n, 0, -1))
    lags = np.arange(1, n - 1)
    stop = np.flatnonzero(acf[lags] <= 0)
    lags = lags[:stop[0]] if stop.size else lags
    return float(max(1.0 + 2 * np.sum(acf[lags] * (1 - lags / n)), 1.0))


def block_average(x, blocks: int = 5) -> tuple[float, float]:
    """Mean and its standard error: the larger of the error from ``blocks`` contiguous block
    means and the one from the statistical inefficiency, sqrt(g var / N). Few blocks of a
    strongly correlated series scatter by chance; g alone misses slow drifts."""
    x = np.asarray(x, dtype=float)
    if blocks < 2 or len(x) < blocks:
        raise ValueError(f"need at least {max(blocks, 2)} samples for {blocks} blocks, got {len(x)}")
    means = np.array([b.mean() for b in np.array_split(x, blocks)])
    by_blocks = float(means.std(ddof=1) / np.sqrt(blocks))
    by_g = float(np.sqrt(statistical_inefficiency(x) * x.var(ddof=1) / len(x)))
    return float(x.mean()), max(by_blocks, by_g)


def heat_current(time_ps, energy_eV) -> tuple[float, float]:
    """Slope (eV/ps) of an accumulated bath energy and its standard error: least squares, with
    the error scaled by sqrt(g) of the residuals (they are correlated in time)."""
    t, e = np.asarray(time_ps, float), np.asarray(energy_eV, float)
    if len(t) < 3:
        raise ValueError("need at least three samples of the bath energy")
    (slope, intercept), cov = np.polyfit(t, e, 1, cov=True)
    g = statistical_inefficiency(e - (slope * t + intercept))
    return float(slope), float(np.sqrt(cov[0, 0] * g))


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
    start = float(y[:max(3, len(y) // 20)].mean())    # the first sample alone is noisy for small particles
    if start <= 0:
        raise ValueError(f"the particle must start hotter than the substrate (dT(0) = {start:.3g} K)")
    t = t - t[0]
    positive = y > 0.2 * start
    tau0 = max(-np.polyfit(t[positive], np.log(y[positive]), 1)[0] ** -1, 1e-3) if positive.sum() > 2 \
        else t[-1]
    popt, pcov = curve_fit(lambda t, a, tau: a * np.exp(-t / tau), t, y, p0=(start, tau0), maxfev=20000,
                           bounds=([-np.inf, 1e-6], [np.inf, np.inf]))
    # the residuals are correlated in time: N samples count as N / g
    g = statistical_inefficiency(y - popt[0] * np.exp(-t / popt[1]))
    err = np.sqrt(np.diag(pcov) * g)
    return {"dT0": float(popt[0]), "tau_ps": float(popt[1]), "dT0_err": float(err[0]),
            "tau_err_ps": float(err[1]), "statistical_inefficiency": g}


def driven_decay(time_ps, T_substrate, T_particle0: float, rate_per_ps: float) -> np.ndarray:
    """T_particle(t) of C_p dT_p/dt = -G A (T_p - T_s(t)), rate = G A / C_p, with the measured
    T_s(t) taken piecewise linear between samples (exact per interval): u = T_p - T_s obeys
    du/dt = -k u - dT_s/dt, so u(t + h) = (u + m/k) e^{-kh} - m/k, m the interval's dT_s/dt."""
    t, ts = np.asarray(time_ps, float), np.asarray(T_substrate, float)
    h, k = np.diff(t), rate_per_ps
    a = np.exp(-k * h)
    m = np.diff(ts) / h
    u = np.empty_like(t)
    u[0] = T_particle0 - ts[0]
    for n in range(len(h)):    # a first-order recursion; a few thousand samples
        u[n + 1] = (u[n] + m[n] / k) * a[n] - m[n] / k
    return ts + u


def fit_two_reservoirs(time_ps, T_particle, T_substrate, stop_below_K: float | None = None) -> dict:
    """tau = C_p / (G A) from C_p dT_p/dt = -G A (T_p - T_s(t)) fitted to the particle's measured
    T_p(t) with the substrate's measured T_s(t): no constant substrate temperature assumed (a
    substrate that warms up slows the particle's cooling, and an exponential fit of T_p - T_s
    then reads a wrong tau). With ``stop_below_K``, the fit stops where T_p (smoothed) first
    falls below it (Nunez Valencia et al. 2024: from 600 K down to 420 K). Errors scaled by
    sqrt(g) of the residuals (they are correlated in time)."""
    from scipy.optimize import curve_fit

    t, tp, ts = (np.asarray(a, float) for a in (time_ps, T_particle, T_substrate))
    if not len(t) == len(tp) == len(ts) or len(t) < 4:
        raise ValueError("need at least four samples of the particle and substrate temperatures")
    t = t - t[0]
    if np.any(np.diff(t) <= 0):
        raise ValueError("the samples' times must increase")
    window = max(3, len(t) // 20)
    smooth = np.convolve(tp, np.ones(window) / window, mode="same")
    start = float(tp[:window].mean())    # the first sample alone is noisy for small particles
    if start <= float(ts[:window].mean()):
        raise ValueError(f"the particle must start hotter than the substrate (T_p(0) = {start:.4g} K, "
                         f"T_s(0) = {ts[:window].mean():.4g} K)")
    if stop_below_K is not None:
        if start <= stop_below_K:
            raise ValueError(f"the particle starts at {start:.4g} K, below where the fit would stop "
                             f"({stop_below_K:.4g} K): raise T_hot or lower fit_until")
        below = np.flatnonzero(smooth < stop_below_K)
        # the centred mean is biased (zero-padded) within half a window of either end
        below = below[(below >= window // 2) & (below < len(t) - window // 2)]
        stop = int(below[0]) if below.size else len(t)
        if stop < 8:
            raise ValueError(f"the particle cools below {stop_below_K:.4g} K within {stop} samples: "
                             "sample more often or fit further down (a lower fit_until)")
        t, tp, ts = t[:stop], tp[:stop], ts[:stop]
    excess = tp - ts
    positive = excess > 0.2 * (start - ts[0])
    rate0 = max(-np.polyfit(t[positive], np.log(excess[positive]), 1)[0], 1e-3 / max(t[-1], 1e-12)) \
        if positive.sum() > 2 else 1 / t[-1]
    popt, pcov = curve_fit(lambda t_, tp0, k: driven_decay(t_, ts, tp0, k), t, tp, p0=(start, rate0),
                           bounds=([-np.inf, 1e-9], [np.inf, np.inf]), maxfev=20000)
    g = statistical_inefficiency(tp - driven_decay(t, ts, *popt))
    err = np.sqrt(np.diag(pcov) * g)
    tau = 1 / popt[1]
    return {"T_particle0_K": float(popt[0]), "tau_ps": float(tau), "tau_err_ps": float(tau * err[1] / popt[1]),
            "fitted_until_ps": float(t[-1]), "fitted_samples": int(len(t)), "statistical_inefficiency": g}


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
