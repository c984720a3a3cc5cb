"""Model bundles assembled by hand: bundle.yaml next to members deployed with `ennp deploy`."""

from __future__ import annotations

import pytest
from chain_helpers import make_bundle

from ennp.bundle import check_bundle, load_bundle
from ennp.config import ConfigError


def test_a_hand_made_bundle_checks(mix_model, mix_model_b, tmp_path):
    folder = make_bundle(tmp_path / "b", [mix_model["deployed"], mix_model_b["deployed"]])
    bundle, files = load_bundle(folder)
    assert bundle.generation == -1 and bundle.trust.lo == 0.05 and len(files) == 2
    rows = check_bundle(folder)
    assert [r["r_max"] for r in rows] == [4.0, 4.5] and rows[0]["type_names"] == ["Au", "Ti", "O"]


@pytest.mark.parametrize("fields, message", [
    ({"species": ["Au", "Ti"]}, "members[0]: m0.nequip.pt2 models ['Au', 'Ti', 'O'], the bundle's species are ['Au', 'Ti']"),
    ({"members": None}, "bundle.yaml: members: missing"),
    ({"members": []}, "members: expected at least one deployed model file"),
    ({"members": ["m0.nequip.pt2", "gone.nequip.pt2"]}, "bundle.yaml: members[1]: no such file"),
    ({"trust": {"lo": 2e-1, "hi": 1e-1}}, "bundle.yaml: trust: need 0 <= lo < hi"),
    ({"colour": "red"}, "unknown field(s) ['colour']"),
])
def test_bad_bundles_are_refused_naming_the_field(mix_model, tmp_path, fields, message):
    folder = make_bundle(tmp_path / "b", [mix_model["deployed"]], **fields)
    with pytest.raises(ConfigError) as err:
        check_bundle(folder)
    assert message in str(err.value) and str(folder / "bundle.yaml") in str(err.value)


def test_a_member_that_is_no_model_is_named(mix_model, tmp_path):
    folder = make_bundle(tmp_path / "b", [mix_model["deployed"]])
    (folder / "m0.nequip.pt2").write_text("not a package")
    with pytest.raises(ConfigError, match=r"members\[0\]: m0.nequip.pt2 does not load as a deployed model"):
        check_bundle(folder)
