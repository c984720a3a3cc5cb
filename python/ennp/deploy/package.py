"""Loading a deployed ``.nequip.pt2`` package in Python, and its metadata.

nequip puts a file at the top level of its packages, which torch's newer loader refuses;
torch then loads the package the older way and logs "Loading outdated pt2 file. Please
regenerate your package." for every nequip package, fresh ones included. The load is
right, so that message is kept out of ennp's logs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path


def load_package(path: str | Path, model: str = "model"):
    """The AOTInductor model of a deployed package (nequip's custom ops loaded first);
    ``model``: a member of an ensemble package other than member 0
    (:func:`ennp.deploy.ensemble.member_model`)."""
    from nequip.utils.aoti_metadata import import_custom_ops_libs
    from torch._inductor.package import load_package as load_aoti

    import_custom_ops_libs(str(path))
    logger = logging.getLogger("torch._inductor.package.package")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return load_aoti(str(path), model_name=model)
    finally:
        logger.setLevel(level)


def updated_metadata(data: bytes, metadata: dict[str, str | None]) -> bytes:
    """A package's metadata JSON with ``metadata`` merged in (a key whose value is None removed)."""
    merged = {**json.loads(data), **metadata}
    return json.dumps({k: v for k, v in merged.items() if v is not None}).encode()
