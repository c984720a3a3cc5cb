"""Chain tests (ennp heat, vibrations, md): configs with changes, a stand-in sbatch."""

import json
import os
from pathlib import Path

import yaml


def write_config(path: Path, base: dict, changes: dict | None = None) -> Path:
    """``base`` with ``changes`` ({"a.b.c": value}) applied, as YAML at ``path``."""
    config = json.loads(json.dumps(base))
    for dotted, value in (changes or {}).items():
        *parents, key = dotted.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


def fake_sbatch(tmp_path: Path) -> dict:
    """Environment whose ``sbatch`` appends its arguments (a line per call) to
    tmp_path/sbatch_args and answers job id 4242 (the --parsable form)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"
    fake.write_text(f"#!/bin/bash\necho \"$@\" >> {tmp_path}/sbatch_args\necho 4242\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
