"""Where harvested pieces live in an active-learning run, and who trains on them.

A harvest into generation G (the last trained one when it ran) writes
``gen_G/harvest/KEY/``: pieces.extxyz (carved), labelled.extxyz (labelled,
resumable) and harvest.json, written last, which marks it finished. Generation
g > G trains on the labelled pieces whose ``ennp_harvest_split`` is ``train``;
the ``test`` ones are held out to measure the core-force error.
"""

from __future__ import annotations

import json
from pathlib import Path

import ase.io

from .state import gen_dir

RECORD = "harvest.json"
SPLIT = "ennp_harvest_split"


def harvest_dirs(workdir: str | Path, gen: int) -> list[Path]:
    """Finished harvests into generation ``gen``."""
    return sorted(p.parent for p in (gen_dir(Path(workdir), gen) / "harvest").glob(f"*/{RECORD}"))


def harvest_records(workdir: str | Path, gen: int) -> list[dict]:
    return [json.loads((d / RECORD).read_text()) for d in harvest_dirs(workdir, gen)]


def harvested_generations(workdir: str | Path) -> list[int]:
    """Generations that received a finished harvest."""
    gens = sorted(int(p.parent.parent.parent.name.split("_")[1])
                  for p in Path(workdir).glob(f"gen_*/harvest/*/{RECORD}"))
    return sorted(set(gens))


def harvested_pieces(workdir: str | Path, until: int, split: str = "train") -> list:
    """Labelled pieces of harvests into generations < ``until``, of one split."""
    return [a for g in range(until) for d in harvest_dirs(workdir, g)
            for a in read_split(d / "labelled.extxyz", split)]


def read_split(labelled: Path, split: str) -> list:
    """The pieces of one split in a labelled file (none when it is missing or empty)."""
    if not labelled.is_file() or not labelled.stat().st_size:
        return []
    return [a for a in ase.io.read(labelled, index=":") if a.info.get(SPLIT) == split]
