"""Beam heating: conductance and fit extraction on synthetic data, EELS on a synthetic
spectrum with known answers, the beam model against a hand calculation, builders."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from ennp.builders import anatase_101_slab, au_particle, particle_on_slab, rutile_110_slab
from ennp.lammps.data_file import write_structure
from ennp.builders.nanoparticle import equivalent_diameter, footprint_area, hull_area
from ennp.cli import main as cli
from ennp.heat import conductance as cd
from ennp.heat.eels import inelastic_mean_free_path, mean_energy_loss, t_over_lambda


def test_exponential_fit_and_transient_conductance_recover_known_values():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 60, 601)
    y = 80 * np.exp(-t / 12.5) + rng.normal(0, 1.0, t.size)
    fit = cd.fit_exponential_decay(t, y)
    assert fit["tau_ps"] == pytest.approx(12.5, rel=0.03) and fit["dT0"] == pytest.approx(80, rel=0.03)
    assert 0 < fit["tau_err_ps"] < 0.5
    # hand calculation: C = 0.1 eV/K, A = 200 A^2, tau = 10 ps -> 5e-5 eV/(ps A^2 K) = 801.1 MW/m^2/K
    g, err = cd.transient_conductance(0.1, 200.0, 10.0, 1.0)
    assert g == pytest.approx(0.1 / 2000 * 1.602176634e-19 / 1e-32 / 1e6) == pytest.approx(801.09, rel=1e-4)
    assert err == pytest.approx(0.1 * g)
    assert cd.dulong_petit(100) == pytest.approx(300 * 8.617333262e-5)
    with pytest.raises(ValueError, match="start hotter"):
        cd.fit_exponential_decay(t, -y)


def test_transient_seed_recovers_G_and_the_interface_temperature():
    """A noiseless decay T_p = T0 + dT0 exp(-t/tau) over a surface at T0 with E = C T_p:
    G = C / (A tau), and the heat-flow weighted interface temperature is T0 + dT0 / 4
    (int dT^2 / (2 int dT) over a full decay)."""
    from ennp.heat.nemd_analysis import transient_seed

    t = np.linspace(0, 300, 3001)    # 10 tau
    tp = 100 + 80 * np.exp(-t / 30.0)
    th = {"Time": t, "c_T_particle": tp, "c_T_siface": np.full_like(t, 100.0), "v_E_particle": 0.02 * tp}
    seed = transient_seed(th, 200.0, 70)
    assert seed["tau_ps"] == pytest.approx(30.0, rel=1e-6) and seed["C_eV_K"] == pytest.approx(0.02, rel=1e-9)
    assert seed["G_MW_m2K"] == pytest.approx(cd.transient_conductance(0.02, 200.0, 30.0)[0], rel=1e-6)
    assert seed["T_interface_K"] == pytest.approx(100 + 80 / 4, rel=2e-3)


def ar1(rng, n: int, phi: float, sigma: float = 1.0, shape=()) -> np.ndarray:
    """AR(1) noise x_t = phi x_(t-1) + e_t, stationary with standard deviation ``sigma``:
    its statistical inefficiency is (1 + phi) / (1 - phi)."""
    e = rng.normal(0, sigma * np.sqrt(1 - phi**2), (*shape, n))
    x = np.empty_like(e)
    x[..., 0] = rng.normal(0, sigma, shape)
    for k in range(1, n):
        x[..., k] = phi * x[..., k - 1] + e[..., k]
    return x


def test_errors_of_correlated_series_from_the_statistical_inefficiency():
    """AR(1) noise with phi = 0.8: g = 9 analytically. Means, bath-current slopes and decay times
    of such series get errors that cover the truth about 95% of the time; the independent-sample
    formulas (the old errors) cover it far less often."""
    rng = np.random.default_rng(7)
    assert cd.statistical_inefficiency(ar1(rng, 40000, 0.8)) == pytest.approx(9.0, rel=0.1)
    assert cd.statistical_inefficiency(rng.normal(size=5000)) == pytest.approx(1.0, abs=0.1)
    noise = ar1(rng, 1000, 0.8, shape=(300,))
    means = [cd.block_average(x) for x in noise]
    assert 0.9 <= np.mean([abs(m) < 2 * e for m, e in means]) <= 0.99
    assert np.mean([abs(x.mean()) < 2 * x.std() / np.sqrt(x.size) for x in noise]) < 0.7
    t = np.linspace(0, 100, 1000)
    slopes = [cd.heat_current(t, 0.25 * t + x) for x in noise[:150]]
    assert 0.88 <= np.mean([abs(j - 0.25) < 2 * e for j, e in slopes]) <= 1.0
    fits = [cd.fit_exponential_decay(t, 50 * np.exp(-t / 20) + 2 * x) for x in noise[150:]]
    covered = np.mean([abs(f["tau_ps"] - 20) < 2 * f["tau_err_ps"] for f in fits])
    naive = np.mean([abs(f["tau_ps"] - 20) < 2 * f["tau_err_ps"] / np.sqrt(f["statistical_inefficiency"])
                     for f in fits])
    assert 0.88 <= covered <= 1.0 and naive < 0.7


def test_heat_capacity_is_unbiased_at_the_noise_of_a_small_particle():
    """A 70-atom particle cooling from 400 to 300 K, sampled every 0.05 ps, with the thermal noise
    of its kinetic temperature (T sqrt(2 / 3N)) and energy: C = 3 N k_B is recovered without the
    ~4% low bias of least squares of block-mean E on block-mean T (errors in variables)."""
    from ennp.heat.nemd_analysis import heat_capacity_from_run

    rng = np.random.default_rng(0)
    n, kb = 70, 8.617333262e-5
    c_true = 3 * n * kb
    t = np.arange(400) * 0.05
    least_squares, ours, errors = [], [], []
    for _ in range(200):
        t_true = 300 + 100 * np.exp(-t / 8)
        kinetic = rng.normal(0, 1, t.size) * t_true * np.sqrt(2 / (3 * n))
        potential = rng.normal(0, 1, t.size) * t_true * np.sqrt(2 / (3 * n))
        temperature, energy = t_true + kinetic, c_true * t_true + 1.5 * n * kb * (kinetic + potential)
        least_squares.append(np.polyfit(temperature.reshape(-1, 20).mean(1), energy.reshape(-1, 20).mean(1), 1)[0])
        tau = cd.fit_exponential_decay(t, temperature - 300)["tau_ps"]
        c, err = heat_capacity_from_run(temperature, energy, np.exp(-t / tau), 20)
        ours.append(c)
        errors.append(err)
    ours, errors = np.array(ours), np.array(errors)
    assert np.mean(least_squares) / c_true - 1 < -0.025
    assert np.mean(ours) / c_true == pytest.approx(1.0, abs=0.012)
    assert 0.9 <= np.mean(np.abs(ours - c_true) < 2 * errors) <= 0.99
    with pytest.raises(ValueError, match="does not change"):
        heat_capacity_from_run(np.full(100, 300.0), np.full(100, 1.0), np.ones(100), 10)


def rising_substrate(t):
    """The substrate under a cooling particle warming from 300 K by 40 K (time constant 15 ps)."""
    return 300 + 40 * (1 - np.exp(-t / 15))


def test_two_reservoir_fit_with_a_rising_substrate_temperature():
    """A particle cooling from 600 K with tau = C / (G A) = 25 ps into a substrate that warms up:
    the two-reservoir fit with the measured T_s(t) recovers tau (solve_ivp of the ODE, correlated
    noise as of a small particle, errors covering the truth), where an exponential fit of
    T_p - T_s does not; the published window stops where T_p reaches 420 K."""
    from scipy.integrate import solve_ivp

    from ennp.heat.nemd_analysis import transient_seed

    t = np.arange(1500) * 0.1
    exact = solve_ivp(lambda t_, y: -(y - rising_substrate(t_)) / 25.0, (0, t[-1]), [600.0], t_eval=t,
                      rtol=1e-10, atol=1e-8, dense_output=True)
    rng = np.random.default_rng(3)
    fits, expos = [], []
    for _ in range(40):
        tp = exact.y[0] + ar1(rng, t.size, 0.5, 10.0)
        ts = rising_substrate(t) + ar1(rng, t.size, 0.5, 3.0)
        fits.append(cd.fit_two_reservoirs(t, tp, ts))
        expos.append(cd.fit_exponential_decay(t, tp - ts)["tau_ps"])
    taus = np.array([f["tau_ps"] for f in fits])
    assert np.mean(taus) == pytest.approx(25.0, rel=0.01)
    assert 0.85 <= np.mean([abs(f["tau_ps"] - 25) < 2 * f["tau_err_ps"] for f in fits]) <= 1.0
    assert abs(np.mean(expos) / 25 - 1) > 0.1    # constant-substrate assumption: wrong by more than 10%

    # the published window: T_p from 600 K down to 420 K over T0 = 300 K
    crossing = t[np.argmax(exact.y[0] < 420)]
    window = cd.fit_two_reservoirs(t, tp, ts, stop_below_K=420)
    assert window["fitted_until_ps"] == pytest.approx(crossing, abs=1.0)
    assert abs(window["tau_ps"] - 25) < 3 * window["tau_err_ps"]
    with pytest.raises(ValueError, match="starts at .* below where the fit would stop"):
        cd.fit_two_reservoirs(t, tp, ts, stop_below_K=700)

    # the protocol chooses the substrate's column: published reads the whole substrate
    th = {"Time": t, "c_T_particle": tp, "c_T_substrate": ts, "c_T_siface": np.full_like(t, 300.0),
          "v_E_particle": 0.02 * tp}
    seed = transient_seed(th, 200.0, 70, protocol="published", stop_below_K=420)
    assert seed["substrate_temperature"] == "c_T_substrate" and seed["tau_ps"] == pytest.approx(window["tau_ps"])
    assert seed["C_eV_K"] == pytest.approx(0.02, rel=0.02)


def test_steady_state_conductance_from_bath_energies():
    t = np.linspace(0, 100, 1001)    # ps
    rng = np.random.default_rng(1)
    energy = 0.25 * t + rng.normal(0, 0.5, t.size)    # eV: 0.25 eV/ps through the interface
    j, j_err = cd.heat_current(t, energy)
    assert j == pytest.approx(0.25, rel=0.01) and j_err < 0.005
    g, g_err = cd.steady_state_conductance(0.25, 0.0025, 500.0, 40.0, 0.4)
    assert g == pytest.approx(0.25 / (500 * 40) * 1.602176634e7, rel=1e-9)    # eV/(ps A^2 K) -> MW
    assert g_err == pytest.approx(g * np.hypot(0.01, 0.01))
    mean, sem = cd.block_average(np.r_[np.ones(50), 3 * np.ones(50)], blocks=2)
    assert (mean, sem) == (2.0, 1.0)
    with pytest.raises(ValueError, match="must be positive"):
        cd.steady_state_conductance(0.25, 0.0, 500.0, -1.0, 0.1)


def plasmon_ssd(e):
    """A plasmon at 25 eV over an exponential background."""
    return np.where(e > 3, np.exp(-0.5 * ((e - 25) / 6) ** 2) + 0.05 * np.exp(-(e - 3) / 80.0), 0.0)


def power_law_ssd(e):
    """A plasmon at 25 eV and a tail falling as E^-3 beyond 40 eV (as inner-shell and
    valence losses fall): an eighth of the first moment lies beyond 300 eV."""
    tail = 2.0 * (np.maximum(e, 40.0) / 40) ** -3.0
    return np.where(e > 3, np.exp(-0.5 * ((e - 25) / 6) ** 2), 0.0) + np.where(e > 40, tail, 0.0)


def synthetic_spectrum(tau: float, de: float = 0.1, ssd=plasmon_ssd, end: float = 600.0):
    """Poisson plural scattering of a known single-scattering distribution, with a ZLP."""
    e = np.arange(-10, end, de)
    ssd = ssd(e)
    ssd /= ssd.sum()
    i0 = int(round(10 / de))
    zlp = np.exp(-0.5 * (e / 0.5) ** 2)
    zlp /= zlp.sum()
    # sum_n e^-tau tau^n / n! S^(*n) = exp(tau (S - 1)) in Fourier space, convolved with the ZLP
    spec = np.fft.rfft(np.roll(ssd, -i0))
    counts = np.fft.irfft(np.exp(tau * (spec - 1)) * np.fft.rfft(np.roll(zlp, -i0)), len(e))
    return e, np.roll(counts, i0) * 1e6, float((e * ssd).sum())


@pytest.mark.parametrize("tau", [0.3, 0.9])
def test_eels_recovers_t_over_lambda_and_mean_loss(tau):
    e, counts, mean = synthetic_spectrum(tau)
    tl = t_over_lambda(e, counts)
    assert tl == pytest.approx(tau, rel=2e-3)
    assert mean_energy_loss(e, counts, tl, 2.5, e[-1]) == pytest.approx(mean, rel=5e-3)


def test_zlp_threshold_survives_counting_noise():
    """Poisson noise of a weak spectrum (ZLP maximum ~50 counts): the zero-loss peak (sigma 0.5 eV)
    is cut beyond 3.5 sigma, in the dip before the losses start at 3 eV, every time."""
    from ennp.heat.eels import zlp_threshold

    e, counts, _ = synthetic_spectrum(0.5)
    rng = np.random.default_rng(0)
    cuts = [zlp_threshold(e, rng.poisson(counts * 1e-3).astype(float)) for _ in range(20)]
    assert 1.75 <= min(cuts) and max(cuts) <= 3.2, cuts
    assert zlp_threshold(e, counts) == pytest.approx(2.5, abs=0.3)


def test_mean_loss_extrapolates_a_power_law_tail(tmp_path):
    """A spectrum measured to 300 eV of losses that go on as E^-3: the mean loss over the measured
    range is low by 12%; the fitted power-law tail brings it (and t/lambda) back to the full
    distribution's values, which come from the same scattering simulated to 6000 eV. (Cut at
    150 eV, inside the plural-scattering structure, the local exponent is 2.5 and the
    extrapolation overshoots: the JSON's tail share shows how much rests on it.)"""
    import hyperspy.api as hs

    from ennp.heat.eels import mean_energy_loss, power_law_tail

    e, counts, mean = synthetic_spectrum(0.5, de=0.5, ssd=power_law_ssd, end=6000.0)
    measured = e <= 300
    e_cut, c_cut = e[measured], counts[measured]
    tl = t_over_lambda(e_cut, c_cut)
    assert mean_energy_loss(e_cut, c_cut, tl, 2.5, 300) < 0.9 * mean
    tail = power_law_tail(e_cut, c_cut, 210.0)
    assert 2.8 < tail["exponent"] < 3.5    # E^-3, steepened a little by plural scattering
    s = hs.signals.Signal1D(c_cut)
    axis = s.axes_manager.signal_axes[0]
    axis.offset, axis.scale, axis.units = float(e[0]), 0.5, "eV"
    s.save(tmp_path / "cut.msa", overwrite=True)
    assert cli(["heat", "eels", str(tmp_path / "cut.msa"), "--out", str(tmp_path / "cut.json")]) == 0
    result = json.loads((tmp_path / "cut.json").read_text())
    assert result["tail"] == "power_law" and 0.08 < result["tail_share_of_mean_loss"] < 0.2
    assert result["mean_energy_loss_eV"] == pytest.approx(mean, rel=0.02)
    assert result["t_over_lambda"] == pytest.approx(0.5, rel=0.01)
    # a stated range instead: no extrapolation, said so
    assert cli(["heat", "eels", str(tmp_path / "cut.msa"), "--tail", "none", "--out", str(tmp_path / "n.json")]) == 0
    assert json.loads((tmp_path / "n.json").read_text())["tail"] == "none"
    with pytest.raises(ValueError, match="diverges"):
        power_law_tail(e_cut, np.where(e_cut > 40, np.maximum(e_cut, 40.0) ** -1.5, c_cut), 210.0)


def test_beam_eels_cli_reads_msa_and_hspy(tmp_path, capsys):
    import hyperspy.api as hs

    e, counts, mean = synthetic_spectrum(0.5)
    s = hs.signals.Signal1D(counts)
    axis = s.axes_manager.signal_axes[0]
    axis.offset, axis.scale, axis.units = float(e[0]), float(e[1] - e[0]), "eV"
    for name in ("spec.msa", "spec.hspy"):
        s.save(tmp_path / name, overwrite=True)
        out = tmp_path / f"{name}.json"
        assert cli(["heat", "eels", str(tmp_path / name), "--out", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["t_over_lambda"] == pytest.approx(0.5, rel=2e-3)
        assert result["mean_energy_loss_eV"] == pytest.approx(mean, rel=5e-3)
    (tmp_path / "bad.msa").write_text("not a spectrum\n")
    assert cli(["heat", "eels", str(tmp_path / "bad.msa"), "--out", str(tmp_path / "o.json")]) == 2
    assert "bad.msa: " in capsys.readouterr().err    # named, whichever way it is unusable
    assert cli(["heat", "eels", str(tmp_path / "none.msa"), "--out", str(tmp_path / "o.json")]) == 2
    assert "no such spectrum file" in capsys.readouterr().err


def test_beam_heating_reproduces_the_authors_notebook_case(tmp_path):
    """The published protocol's own numbers (Nunez Valencia et al., Nanoscale 16, 5750 (2024),
    the authors' notebook): G 81.7 MW m^-2 K^-1, <E> 44.3 eV, t/lambda = 142.9 / 370,
    A_cross 30997 A^2, A_contact 8682 A^2 -> dT 1.20 / 12.0 / 119.8 K at 1e5 / 1e6 / 1e7 e/A^2/s."""
    out = tmp_path / "heat.json"
    assert cli(["heat", "beam", "--dose-rates", "1e5", "1e6", "1e7", "--g", "81.7", "--g-err", "8.17",
                "--mean-loss", "44.3", "--t-over-lambda", str(142.9 / 370), "--cross-section", "30997",
                "--contact-area", "8682", "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["delta_T_K"] == pytest.approx([1.20, 12.0, 119.8], abs=0.05)
    assert table["delta_T_err_K"][1] == pytest.approx(0.1 * table["delta_T_K"][1])
    assert table["inputs"]["contact_area"] == "hull" and out.with_suffix(".png").exists()


def test_mean_free_paths_against_the_published_values(tmp_path):
    """Au at 60/80/100/200/300 keV. Nunez Valencia et al. (2024) used 340/370/489/747/1047 A.
    The total inelastic mean free path (Iakoubovskii et al. 2008) agrees at 300 keV (1%) and is
    18-43% longer below; Malis at the spectrometer's 10 mrad gives lambda(beta): 422/494/555/762/874 A
    (Malis, Cheng, Egerton 1988, as the review of the heating model evaluated it)."""
    energies = (60, 80, 100, 200, 300)
    published = np.array([340, 370, 489, 747, 1047])
    total = np.array([inelastic_mean_free_path(e, "total", 19.32) for e in energies])
    assert total[-1] == pytest.approx(published[-1], rel=0.015)
    assert np.all((total[:-1] / published[:-1] > 1.15) & (total[:-1] / published[:-1] < 1.45))
    malis = [inelastic_mean_free_path(e, "malis", z_eff=79, beta_mrad=10) for e in energies]
    assert malis == pytest.approx([422, 494, 555, 762, 874], abs=1.5)
    with pytest.raises(ValueError, match="mean_free_path must be one of"):
        inelastic_mean_free_path(300, "elastic")
    # the CLI's diameter path uses the total one by default: t/lambda = (2/3) d / lambda
    out = tmp_path / "b.json"
    assert cli(["heat", "beam", "--dose-rates", "1e6", "--g", "82", "--mean-loss", "44", "--diameter", "50",
                "--beam-energy", "300", "--contact-area", "600", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["inputs"]["t_over_lambda"] == pytest.approx(2 / 3 * 50 / total[-1])


def test_beam_takes_the_contact_area_convention_of_its_conductance(tmp_path, capsys):
    """G is per an area: the beam estimate uses the same convention, and refuses a mix."""
    system = particle_on_slab(20.0, "rutile110", layers=3, fixed=1)
    write_structure(system, ["Au", "Ti", "O"], tmp_path / "s.data")
    (tmp_path / "eels.json").write_text(json.dumps({"t_over_lambda": 0.1, "mean_energy_loss_eV": 44.0}))
    (tmp_path / "g.json").write_text(json.dumps({"G_MW_m2K": 82.0, "contact_area": "footprint"}))
    base = ["heat", "beam", "--dose-rates", "1e6", "--eels", str(tmp_path / "eels.json"),
            "--structure", str(tmp_path / "s.data.json"), "--out", str(tmp_path / "b.json")]
    assert cli(base + ["--conductance", str(tmp_path / "g.json")]) == 0
    table = json.loads((tmp_path / "b.json").read_text())
    assert table["inputs"]["contact_area"] == "footprint"
    assert table["inputs"]["contact_area_A2"] == system.info["ennp_contact_area_footprint_A2"]
    assert cli(base + ["--g", "82"]) == 0    # a bare G: the paper's convention
    table = json.loads((tmp_path / "b.json").read_text())
    assert table["inputs"]["contact_area_A2"] == system.info["ennp_contact_area_hull_A2"]
    capsys.readouterr()
    assert cli(base + ["--conductance", str(tmp_path / "g.json"), "--area-convention", "hull"]) == 2
    assert "g.json: G was measured per the footprint contact area, not the hull one asked for" in \
        capsys.readouterr().err


def test_beam_errors_are_named(tmp_path, capsys):
    (tmp_path / "eels.json").write_text(json.dumps({"t_over_lambda": 0.1, "mean_energy_loss_eV": 44.0}))
    out = tmp_path / "heat.json"
    base = ["heat", "beam", "--eels", str(tmp_path / "eels.json"), "--cross-section", "1000",
            "--contact-area", "500", "--out", str(out)]
    for extra, message in ((["--dose-rates", "-1", "--g", "80"], "dose rates must be non-negative"),
                           (["--dose-rates", "1e5"], "give the conductance"),
                           (["--dose-rates", "1e5", "--g", "0"], "the conductance G must be positive"),
                           (["--dose-rates", "1e5", "--conductance", str(tmp_path / "eels.json")],
                            "no field G_MW_m2K")):
        assert cli(base + extra) == 2
        assert message in capsys.readouterr().err


def test_tio2_slabs_are_stoichiometric_with_bulk_bonds():
    for slab, layers, per_layer in ((rutile_110_slab((2, 3), 4, fixed=1), 4, 36),
                                    (anatase_101_slab((2, 2), 3, fixed=1), 3, 48)):
        symbols = slab.get_chemical_symbols()
        assert len(slab) == layers * per_layer and symbols.count("O") == 2 * symbols.count("Ti")
        assert neighbor_list("d", slab, 2.5).min() > 1.93    # Ti-O 1.93-1.98 A in both bulks
        assert slab.arrays["ennp_fixed"].sum() == per_layer    # one whole layer fixed
        fixed_z = slab.positions[slab.arrays["ennp_fixed"] == 1, 2]
        assert fixed_z.max() < slab.positions[slab.arrays["ennp_fixed"] == 0, 2].min()


def test_particles_have_the_asked_size_and_measured_areas(tmp_path):
    p = au_particle(30.0)
    assert equivalent_diameter(len(p)) == pytest.approx(30.0, rel=0.05)
    assert p.positions[:, 2].min() == 0.0
    half = au_particle(30.0, cut="hemisphere")
    assert 0.4 < len(half) / len(p) < 0.65
    # a square grid of 10 x 10 atoms 2 A apart: hull 18 x 18; grown by 1 A: 324 + 72 + pi
    grid = np.array([(i * 2.0, j * 2.0) for i in range(10) for j in range(10)])
    assert hull_area(grid) == pytest.approx(324)
    assert footprint_area(grid, 2.0) == pytest.approx(324 + 72 + np.pi)
    system = particle_on_slab(20.0, "rutile110", layers=3, fixed=1)
    n = system.info["ennp_particle_atoms"]
    assert system.get_chemical_symbols()[-n:] == ["Au"] * n
    hull, footprint = system.info["ennp_contact_area_hull_A2"], system.info["ennp_contact_area_footprint_A2"]
    assert 50 < hull < footprint < system.info["ennp_cross_section_A2"]
    meta = write_structure(system, ["Au", "Ti", "O"], tmp_path / "s.data")
    assert meta["type_map"] == {"1": "Au", "2": "Ti", "3": "O"}
    assert len(meta["fixed_ids"]) == (len(system) - n) // 3    # one of three slab layers
    assert json.loads((tmp_path / "s.data.json").read_text())["ennp_particle_atoms"] == n
    ase.io.write(tmp_path / "s.extxyz", system)    # read back, its info holds numpy integers
    write_structure(ase.io.read(tmp_path / "s.extxyz"), ["Au", "Ti", "O"], tmp_path / "r.data")
    assert json.loads((tmp_path / "r.data.json").read_text())["ennp_particle_atoms"] == n
    with pytest.raises(ValueError, match=r"element\(s\) \['Au'\] of the structure are not in species"):
        write_structure(system, ["Ti", "O"], tmp_path / "t.data")
    with pytest.raises(ValueError, match="shape must be"):
        au_particle(20.0, shape="cube")


def test_vdos_peaks_at_the_oscillator_frequencies_and_overlap_measures_mismatch(tmp_path):
    from ennp.heat.vdos import overlap, plot_vdos, vdos

    dt, t = 0.005, np.arange(4000) * 0.005    # ps
    rng = np.random.default_rng(2)

    def oscillators(f_thz, n=20):
        phase = rng.uniform(0, 2 * np.pi, (n, 3))
        return np.cos(2 * np.pi * f_thz * t[:, None, None] + phase[None]) * 0.01

    f, slow = vdos(oscillators(2.0), dt)    # like Au (~2-4 THz)
    _, fast = vdos(oscillators(12.0), dt)   # like TiO2 optical modes
    assert f[np.argmax(slow)] == pytest.approx(2.0, abs=0.06)
    assert f[np.argmax(fast)] == pytest.approx(12.0, abs=0.06)
    assert np.trapezoid(slow, f) == pytest.approx(1.0)
    assert overlap(f, slow, slow) == pytest.approx(1.0) and overlap(f, slow, fast) < 0.05
    plot_vdos(f, {"Au": slow, "TiO2": fast}, tmp_path / "v.png")
    assert (tmp_path / "v.png").exists()
    with pytest.raises(ValueError, match="shaped"):
        vdos(np.zeros((10, 3)), dt)
