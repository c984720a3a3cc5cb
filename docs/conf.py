"""Sphinx configuration of the ennp documentation (build: sphinx-build -W docs docs/_build/html)."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("COLUMNS", "100")    # width of the generated --help texts

import ennp  # noqa: E402  (the package documented, as installed by install.sh)

project = "ennp"
author = "the ennp developers"
copyright = "2026, the ennp developers"
version = release = ennp.__version__

extensions = ["myst_parser", "ennp_docs"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "240px"}
html_static_path = []
