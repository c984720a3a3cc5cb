"""The documentation builds with warnings as errors, and its config tables are generated
from the dataclasses: every field the loader accepts is documented, a new field included."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))


def text(page: Path) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.parametrize("page, config", [
    ("chains/heat.html", "ennp.heat.config.HeatConfig"),
    ("chains/vibrations.html", "ennp.vibrations.config.VibConfig"),
    ("chains/md.html", "ennp.md.config.MdConfig"),
    ("chains/al.html", "ennp.al.config.ALConfig"),
    ("chains/submit.html", "ennp.submit.plan.Stage"),
    ("chains/al.html", "ennp.bundle.Bundle"),
])
def test_every_config_field_is_in_its_page(site, page, config):
    from ennp_docs import _import, sections

    body = text(site / page)
    for name, section in sections(_import(config)):
        assert f"({section.__name__})" in body, (page, name)
        for f in fields(section):
            assert f" {f.name} " in body, (page, name, f.name)


def test_the_lammps_pages_follow_the_lammps_layout(site):
    for page in ("lammps/pair_style_ennp.html", "lammps/compute_ennp_ensemble.html"):
        body = text(site / page)
        positions = [body.index(h) for h in ("Syntax", "Examples", "Description", "Restrictions", "Default")]
        assert positions == sorted(positions)


def test_cli_page_has_every_verb(site):
    from test_cli import verbs

    body = text(site / "cli.html")
    for words in verbs():
        assert f"usage: ennp {' '.join(words)}" in body


@dataclass(frozen=True)
class Inner:
    depth: int = 3                  # how deep, in layers


@dataclass(frozen=True)
class Settings:
    rate: float = 1e-3              # per step
    inner: Inner = field(default_factory=Inner)
    brand_new: str = "yes"          # added after the docs were written


def test_a_new_field_shows_up_with_its_comment_and_default():
    from ennp_docs import config_nodes

    rendered = " ".join(node.astext() for node in config_nodes(Settings))
    for expected in ("rate", "0.001", "per step", "brand_new", "'yes'", "added after the docs were written",
                     "inner  (Inner)", "depth", "how deep, in layers"):
        assert expected in rendered, expected


CONFIGS = ["ennp.heat.config.HeatConfig", "ennp.vibrations.config.VibConfig", "ennp.md.config.MdConfig",
           "ennp.al.config.ALConfig", "ennp.submit.plan.Stage", "ennp.label.labelling.LabelConfig"]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_field_says_what_it_means(config):
    from ennp_docs import _import, sections

    from ennp.config import field_table

    for name, section in sections(_import(config)):
        missing = [row["name"] for row in field_table(section) if not row["meaning"]]
        assert not missing, f"{section.__name__} ({name or 'top level'}): no comment beside {missing}"
