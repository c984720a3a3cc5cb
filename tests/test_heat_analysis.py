"""Beam heating: conductance and fit extraction on synthetic data, EELS on a synthetic
spectrum with known answers, the beam model against a hand calculation, builders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from ennp.builders import anatase_101_slab, au_particle, particle_on_slab, rutile_110_slab
from ennp.lammps.data_file import write_structure
from ennp.builders.nanoparticle import equivalent_diameter, footprint_area, hull_area
from ennp.cli import main as cli
from ennp.heat import conductance as cd
from ennp.heat.eels import malis_mean_free_path, mean_energy_loss, t_over_lambda


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


def synthetic_spectrum(tau: float, de: float = 0.1):
    """Poisson plural scattering of a known single-scattering distribution, with a ZLP."""
    e = np.arange(-10, 600, de)
    ssd = np.where(e > 3, np.exp(-0.5 * ((e - 25) / 6) ** 2) + 0.05 * np.exp(-(e - 3) / 80.0), 0.0)
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


def test_malis_mean_free_path_at_the_spectrometer_angle():
    """lambda(beta = 10 mrad) for Au at 60/80/100/200/300 keV: 422/494/555/762/874 A
    (Malis et al. 1988, as evaluated independently in the review of the heating model)."""
    values = [malis_mean_free_path(e, 79, 10) for e in (60, 80, 100, 200, 300)]
    assert values == pytest.approx([422, 494, 555, 762, 874], abs=1.5)


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
