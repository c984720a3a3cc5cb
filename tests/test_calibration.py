"""The ensemble's deviation against its true error (ennp.al.calibration), on constructed
members whose answer is known."""

import numpy as np
import pytest

from ennp.al.calibration import calibration, describe


def test_error_twice_the_deviation_is_read_as_two():
    """Members at +-s along x and +-s along y of the truth's mean, the label 2 s off: the
    deviation of every atom is s, the error 2 s."""
    rng = np.random.default_rng(0)
    s = rng.uniform(0.05, 0.5, 30)
    centre = rng.normal(size=(30, 3))
    ex, ey = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    members = np.array([centre + sign * s[:, None] * axis for axis in (ex, ey) for sign in (1, -1)])
    record = calibration(members, centre + 2 * s[:, None] * ex, [10, 20])
    assert record["error_over_deviation"] == pytest.approx(2.0)
    assert record["force_rmse"] == pytest.approx(2 * np.sqrt(np.mean(s**2) / 3))    # |error| = 2 s along x
    assert record["max_error_over_max_devi_f_median"] == pytest.approx(2.0)
    assert record["max_devi_f"] == pytest.approx([s[:10].max(), s[10:].max()])
    assert record["max_error"] == pytest.approx([2 * s[:10].max(), 2 * s[10:].max()])
    assert "on the 2 frames it flagged: force RMSE" in describe(record)
    assert "2.00 x its deviation (1.29 if calibrated); largest error 2.00 x max_devi_f" in describe(record)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_truth_like_one_more_member_gives_the_calibrated_ratio(k):
    """Truth and members drawn from one distribution: RMS error of the mean over RMS
    deviation tends to sqrt((K+1)/(K-1)) (Monte Carlo, 200000 atoms)."""
    draws = np.random.default_rng(k).normal(size=(k + 1, 200_000, 3))
    record = calibration(draws[:k], draws[k], [100_000, 100_000])
    assert record["error_over_deviation"] == pytest.approx(np.sqrt((k + 1) / (k - 1)), rel=0.01)
    assert record["calibrated_ratio"] == pytest.approx(np.sqrt((k + 1) / (k - 1)))


def test_atoms_without_labels_are_left_out():
    rng = np.random.default_rng(1)
    members = rng.normal(size=(3, 8, 3))
    ref = rng.normal(size=(8, 3))
    masked = ref.copy()
    masked[4:] = np.nan    # a carved piece's buffer: no labels
    whole = calibration(members[:, :4], ref[:4], [4])
    part = calibration(members, masked, [8])
    assert part["atoms"] == 4
    assert part["error_over_deviation"] == pytest.approx(whole["error_over_deviation"])
    assert part["max_error"] == pytest.approx(whole["max_error"])


def test_mismatched_inputs_are_named():
    with pytest.raises(ValueError, match="do not match"):
        calibration(np.zeros((2, 5, 3)), np.zeros((5, 3)), [2, 2])
    with pytest.raises(ValueError, match="at least 2 members"):
        calibration(np.zeros((1, 4, 3)), np.zeros((4, 3)), [4])
